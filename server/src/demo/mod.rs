//! The demo data set: a street shaped like Heping Street (和平街道), Yanhe Tujia Autonomous
//! County, Guizhou, generated deterministically and loaded fast.
//!
//! [`load`] writes places, users (one per role and place, each with one device named
//! "demo import") and records. Every record is an Automerge document whose changes were made
//! by the actor of the device of the user who did the work (grid worker, community or street
//! supervisor), at client times spread over the twelve months before `now` (a few hazards were
//! found in the weeks before them), so history reads "who, which phone, when". Cases are built
//! event by event through the workflow's own legality check (`workflow::check_event` before
//! each event, `workflow::fold` with no illegal event at the end) and end in every state.
//! The Full street's figures of those twelve months are the ones of the article about it
//! (`story.rs`).
//!
//! A record is created with [`Document::create`]; each later edit is one change written by
//! reconciling only the part that changed (the event appended, the resident edited), which is
//! what [`Document::update`] writes for the same edit without reading and diffing the whole
//! record first. Every finished record is read back, compared with the value it should hold
//! and checked against every rule of its kind before it is stored.
//!
//! Records are stored exactly as the sync route stores them: for each grid, in one writing
//! transaction, the grid's sequence counter is bumped once and every change of every record of
//! the grid is logged under that number, with the record's row (snapshot, heads, version 1).
//! Phones that sync afterwards receive everything.
//!
//! Generation is CPU-bound and runs on all cores (`std::thread::scope`, one grid at a time per
//! thread) while the async side writes finished grids. Randomness comes from a seeded
//! splitmix64 stream per grid, so the same size and `now` give the same data; record, user,
//! device, resident and item ids are UUIDv7 built from that stream (timestamp part: when the
//! thing was made, in demo time). Only the 8 random bytes of each actor id
//! ([`actor_for_device`], one actor per user) and hence change hashes, and the password salt,
//! differ between loads.
//!
//! Map: [`load`] (here) runs it all. `plan.rs` makes places and users and decides how much of
//! everything each grid gets; `story.rs` holds the article's figures and which case ends how;
//! `rng.rs` is the seeded random source; `names.rs` and
//! `templates.rs` hold the words and case templates records are made of. `grid.rs` runs the
//! grids on all cores, one `GridGen` per grid, which calls one generator per record kind:
//! `household.rs`, `party.rs` (marks party members' homes before households are written),
//! `case.rs` (with `steps.rs`: the steps a case takes, as a table), `visit.rs`, `patrol.rs`,
//! `activity.rs`, `asset.rs`. `edit.rs` makes a record's later changes; `writer.rs` stores
//! places, users and finished grids; `summary.rs` and `progress.rs` are what [`load`] reports.
//!
//! [`Document::create`]: sync_core::doc::Document::create
//! [`Document::update`]: sync_core::doc::Document::update
//! [`actor_for_device`]: sync_core::doc::actor_for_device

mod activity;
mod asset;
mod case;
mod edit;
mod grid;
mod household;
mod names;
mod party;
mod patrol;
pub mod photos;
mod plan;
mod progress;
mod report;
mod rng;
mod steps;
mod story;
mod summary;
mod templates;
mod visit;
mod writer;

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use sync_core::deadline::DAY_MS;
use sync_core::record::RecordKind;
use sync_core::time::Timestamp;

pub use progress::DemoProgress;
pub use summary::{DemoLogin, DemoSummary};

use crate::db::{Db, bulk};
use grid::GridOut;
use plan::Plan;
pub use plan::StreetNo;
use summary::Stats;

/// The one password of every demo user.
pub const DEMO_PASSWORD: &str = "gridbook-demo";

/// The name of every demo user's device.
pub const DEMO_DEVICE_NAME: &str = "demo import";

const MINUTE: i64 = 60_000;
const HOUR: i64 = 3_600_000;
const YEAR: i64 = 365 * DAY_MS;

/// How much demo data to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DemoSize {
    /// Heping Street at scale: 6 communities, 68 grids, 17,000 households, 5,000 cases, 652
    /// household liaisons sharing every household, visits, patrols, activities and collective
    /// assets; over the twelve months before `now`, 121 disputes mediated, 26 hazards found and
    /// rectified, 360 service and 56 cultural activities and 2,682 party members registered,
    /// as the article about the street tells its year.
    Full,
    /// One street, 2 communities of 2 grids, 30 households per grid, 40 cases in every state
    /// and a handful of everything else: for tests in debug builds.
    Small,
}

/// Loads the demo data set into an empty database.
///
/// Refuses (error) when the database already has places. `now` is the instant the data is
/// generated for: every time lies in the twelve months before it, but for the few hazards found
/// in the four weeks before them (still open, or given up). `progress` is called after
/// each phase and after every grid.
pub async fn load(
    db: &Db,
    size: DemoSize,
    now: Timestamp,
    progress: &mut dyn FnMut(DemoProgress),
) -> anyhow::Result<DemoSummary> {
    refuse_unless_empty(db).await?;
    let summary = load_street(db, size, now, StreetNo::default(), progress).await?;
    bulk::after_bulk_load(db).await?;
    Ok(summary)
}

/// Loads a city of `streets` demo streets shaped like Heping Street (`gridbook demo --streets
/// N`): street 0 is Heping Street itself, street `k` has every code and login prefixed `sKKK-`
/// (`s001-street`, `s001-dzk-01`, ...) and records of its own. 120 full streets are about
/// 2 million households and 8,000 grid workers. Refuses a database that has places.
pub async fn load_city(
    db: &Db,
    size: DemoSize,
    streets: usize,
    now: Timestamp,
    progress: &mut dyn FnMut(usize, DemoProgress),
) -> anyhow::Result<Vec<DemoSummary>> {
    refuse_unless_empty(db).await?;
    let mut summaries = Vec::with_capacity(streets);
    for k in 0..streets {
        summaries.push(load_street(db, size, now, StreetNo(k), &mut |p| progress(k, p)).await?);
    }
    bulk::after_bulk_load(db).await?;
    Ok(summaries)
}

async fn refuse_unless_empty(db: &Db) -> anyhow::Result<()> {
    if bulk::count_places(db).await? > 0 {
        bail!(
            "the database already has places; the demo loads only into an empty database \
             (数据库中已有地点数据，演示数据只能导入空数据库)"
        );
    }
    Ok(())
}

/// Loads one street of the demo.
async fn load_street(
    db: &Db,
    size: DemoSize,
    now: Timestamp,
    number: StreetNo,
    progress: &mut dyn FnMut(DemoProgress),
) -> anyhow::Result<DemoSummary> {
    let started = Instant::now();
    let plan = Arc::new(Plan::of_street(size, now, number));
    // Hashing takes a noticeable moment (argon2id is slow on purpose): do it once, meanwhile.
    let hashing = tokio::task::spawn_blocking(writer::hash_password);

    writer::write_places(db, &plan).await?;
    progress(DemoProgress::Places {
        communities: plan.communities.len(),
        grids: plan.grids.len(),
    });

    let password_hash = hashing.await.context("hashing the demo password")??;
    writer::write_users(db, &plan, &password_hash).await?;
    progress(DemoProgress::Users {
        users: plan.users.len(),
    });

    // Generate on worker threads, write here, grid by grid.
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<anyhow::Result<GridOut>>(2);
    let generator_plan = plan.clone();
    let generator = std::thread::Builder::new()
        .name("demo-generate".into())
        .spawn(move || grid::generate_all(&generator_plan, &sender))
        .context("starting the demo generator")?;
    let households_total: usize = plan.grids.iter().map(|g| g.households).sum();
    let cases_total: usize = plan.grids.iter().map(|g| g.cases).sum();
    let mut totals = Stats::default();
    let mut grids_done = 0;
    let mut outcome: anyhow::Result<()> = Ok(());
    while let Some(out) = receiver.recv().await {
        let out = match out {
            Ok(out) => out,
            Err(e) => {
                outcome = Err(e);
                break;
            }
        };
        if let Err(e) = writer::write_grid(db, &out).await {
            outcome = Err(e);
            break;
        }
        grids_done += 1;
        totals.add(&out.stats);
        progress(DemoProgress::Grid {
            grid: out.grid.clone(),
            grids_done,
            grids_total: plan.grids.len(),
            households_done: totals.records_of(RecordKind::Household),
            households_total,
            cases_done: totals.records_of(RecordKind::Case),
            cases_total,
            records_done: totals.records.values().sum(),
        });
    }
    // Closing the channel stops the workers after their current grid.
    drop(receiver);
    let joined = tokio::task::spawn_blocking(move || generator.join())
        .await
        .context("joining the demo generator")?;
    if joined.is_err() {
        bail!("the demo generator panicked");
    }
    outcome?;
    if grids_done != plan.grids.len() {
        bail!(
            "the demo generator stopped after {grids_done} of {} grids",
            plan.grids.len()
        );
    }

    let summary = plan.summary(totals);
    progress(DemoProgress::Done {
        records: summary.total_records(),
        elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    });
    Ok(summary)
}
