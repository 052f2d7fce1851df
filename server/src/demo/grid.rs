//! Generation per grid: [`generate_all`] runs grids on all cores; [`GridGen`] holds one grid's
//! state, runs its generators in a fixed order and checks every finished record.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, bail};
use sync_core::deadline::{DAY_MS, DeadlinePolicy, WorkCalendar};
use sync_core::doc::{Author, Document, DocumentError};
use sync_core::ids::{DocId, GridId};
use sync_core::models::household::{HouseholdStatus, ResidentStatus};
use sync_core::models::{AnyRecord, HouseholdPrivate};
use sync_core::record::{Place, Record};
use sync_core::server::StoredRecord;
use sync_core::time::{Date, Timestamp};
use sync_core::validate::ValidationContext;

use super::household::HouseholdGen;
use super::plan::{CommunityPlan, DemoUser, GridPlan, Plan};
use super::rng::Rng;
use super::steps::Actor;
use super::summary::Stats;
use super::{HOUR, MINUTE, YEAR};
use crate::db::bulk::{ChangeRow, DocRow};
use crate::db::index as index_db;
use crate::index::{self, IndexRow};

/// Runs the generation of every grid on all cores; sends each grid as it is done.
pub(super) fn generate_all(
    plan: &Plan,
    sender: &tokio::sync::mpsc::Sender<anyhow::Result<GridOut>>,
) {
    let next = AtomicUsize::new(0);
    let workers = std::thread::available_parallelism()
        .map_or(2, usize::from)
        .clamp(1, plan.grids.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let g = next.fetch_add(1, Ordering::Relaxed);
                    if g >= plan.grids.len() {
                        break;
                    }
                    let out = GridGen::new(plan, g).run();
                    let failed = out.is_err();
                    if sender.blocking_send(out).is_err() || failed {
                        // The writer stopped (or this grid failed): stop handing out work.
                        next.store(plan.grids.len(), Ordering::Relaxed);
                        break;
                    }
                }
            });
        }
    });
}

/// One grid's records, ready to write.
pub(super) struct GridOut {
    pub(super) grid: GridId,
    pub(super) docs: Vec<DocRow>,
    /// Query-index rows of the same records.
    pub(super) index: Vec<IndexRow>,
    /// Conflict inbox rows (none for records generated legally by one author; kept so the
    /// loader writes every index the sync route writes).
    pub(super) conflicts: Vec<index_db::ConflictRow>,
    pub(super) changes: Vec<ChangeRow>,
    pub(super) stats: Stats,
}

/// One grid's generator: the grid's plan, its random stream and the records made so far.
/// Each record kind's methods are in that kind's file (`household.rs`, `case.rs`, …).
pub(super) struct GridGen<'a> {
    pub(super) plan: &'a Plan,
    pub(super) grid: &'a GridPlan,
    pub(super) community: &'a CommunityPlan,
    pub(super) place: Place,
    pub(super) rng: Rng,
    pub(super) ctx: ValidationContext,
    pub(super) policy: DeadlinePolicy,
    pub(super) calendar: WorkCalendar,
    pub(super) now: Timestamp,
    pub(super) start: Timestamp,
    pub(super) today: Date,
    pub(super) households: Vec<HouseholdGen>,
    /// Resident ID numbers used per (birth date, gender) in this grid.
    pub(super) id_slots: HashMap<(Date, bool), u32>,
    /// Visits that opened cases: household index, case, time.
    pub(super) case_visits: Vec<(usize, DocId, Timestamp)>,
    /// Patrol findings that opened cases.
    pub(super) case_patrols: Vec<(DocId, Timestamp, String)>,
    pub(super) out: GridOut,
}

impl<'a> GridGen<'a> {
    /// The generator of grid `g`, with its own random stream.
    fn new(plan: &'a Plan, g: usize) -> Self {
        let grid = &plan.grids[g];
        let community = &plan.communities[grid.community];
        let calendar = WorkCalendar::china();
        Self {
            plan,
            grid,
            community,
            place: Place {
                community: community.id.clone(),
                grid: grid.id.clone(),
            },
            rng: Rng::derive(plan.number.seed(), 1000 + g as u64),
            ctx: ValidationContext::default(),
            policy: DeadlinePolicy::default(),
            today: calendar.local_date(plan.now),
            calendar,
            now: plan.now,
            start: plan.now.plus_millis(-YEAR),
            households: Vec::new(),
            id_slots: HashMap::new(),
            case_visits: Vec::new(),
            case_patrols: Vec::new(),
            out: GridOut {
                grid: grid.id.clone(),
                docs: Vec::new(),
                index: Vec::new(),
                conflicts: Vec::new(),
                changes: Vec::new(),
                stats: Stats::default(),
            },
        }
    }

    /// Makes the grid's records kind by kind. The order is part of the data: every generator
    /// draws from the same random stream.
    fn run(mut self) -> anyhow::Result<GridOut> {
        self.make_households();
        self.pick_party_members();
        for h in 0..self.households.len() {
            self.write_household(h)
                .with_context(|| format!("household {h} of grid {}", self.grid.id))?;
        }
        for i in 0..self.grid.cases {
            self.write_case(self.grid.first_case + i)
                .with_context(|| format!("case {i} of grid {}", self.grid.id))?;
        }
        self.write_visits().context("visits")?;
        self.write_patrols().context("patrols")?;
        self.write_activities().context("activities")?;
        self.write_party().context("party registrations")?;
        if self.grid.assets {
            self.write_assets().context("assets")?;
        }
        self.write_reports().context("liaisons' reports")?;
        Ok(self.out)
    }

    /// The user who acts as `actor` in this grid.
    pub(super) fn user(&self, actor: Actor) -> &'a DemoUser {
        let i = match actor {
            Actor::Worker => self.grid.worker,
            Actor::Community => self.community.supervisor,
            Actor::Street => self.plan.street_supervisor,
            Actor::Department(i) => self.plan.departments[i].2,
        };
        &self.plan.users[i]
    }

    /// The grid's worker.
    pub(super) fn worker(&self) -> &'a DemoUser {
        self.user(Actor::Worker)
    }

    /// Starts a record: its first change, by `user`'s device at `at`. Later edits are
    /// [`commit`](super::edit::commit)ted; the finished record goes to [`GridGen::finish`].
    pub(super) fn create<R: Record>(
        &self,
        record: &R,
        user: &DemoUser,
        at: Timestamp,
        message: &str,
    ) -> anyhow::Result<Document> {
        let author = Author::new(user.actor.clone(), at).with_message(message);
        Ok(Document::create(record, &author, &self.ctx)?)
    }

    /// The private document of a household, by `user`'s device at `at`: the canonical first
    /// change, then the identities as one change.
    pub(super) fn create_private(
        &self,
        private: &HouseholdPrivate,
        user: &DemoUser,
        at: Timestamp,
    ) -> anyhow::Result<Document> {
        let mut doc = HouseholdPrivate::genesis(&private.household, private.place.clone())?;
        let author = Author::new(user.actor.clone(), at).with_message("create household archive");
        doc.update(&author, &self.ctx, |p: &mut HouseholdPrivate| {
            p.residents.clone_from(&private.residents);
            p.notes.clone_from(&private.notes);
            Ok::<_, DocumentError>(())
        })?;
        Ok(doc)
    }

    /// The China date of `at`.
    pub(super) fn date(&self, at: Timestamp) -> Date {
        self.calendar.local_date(at)
    }

    /// A day between `lo` and `hi` days before the window starts.
    pub(super) fn days_before_start(&mut self, lo: i64, hi: i64) -> Date {
        let days = self.rng.range(lo, hi);
        self.date(self.start.plus_millis(-days * DAY_MS))
    }

    /// A time between `from` and `to` (inclusive bounds clamped to the window).
    pub(super) fn between(&mut self, from: Timestamp, to: Timestamp) -> Timestamp {
        let from = from.max(self.start);
        let to = to.min(self.now.plus_millis(-MINUTE)).max(from);
        Timestamp::from_millis(self.rng.range(from.millis(), to.millis()))
    }

    /// A daytime moment (08:30-18:30 China time) on the day of `at`.
    pub(super) fn daytime(&mut self, at: Timestamp) -> Timestamp {
        let local_day = (at.millis() + 8 * HOUR).div_euclid(DAY_MS);
        let t = local_day * DAY_MS - 8 * HOUR
            + 8 * HOUR
            + 30 * MINUTE
            + self.rng.range(0, 10 * 60) * MINUTE;
        Timestamp::from_millis(t.min(self.now.plus_millis(-MINUTE).millis()))
    }

    /// Validates the record (every rule of its kind) and adds its row and changes.
    pub(super) fn finish(&mut self, doc: Document, expected: AnyRecord) -> anyhow::Result<()> {
        let stored = StoredRecord::new(doc);
        let record = stored
            .record
            .as_ref()
            .context("a generated record does not read back")?;
        record.check(&self.ctx)?;
        if *record != expected {
            bail!(
                "a generated {} reads back differently than it was written",
                stored.doc.kind()
            );
        }
        let meta = stored
            .meta
            .clone()
            .context("a generated record has no place")?;
        let (row, changes) = DocRow::with_changes(&stored, &meta);
        if let Some(index_row) = index::row_of(&stored, self.now) {
            self.out.index.push(index_row);
        }
        if let Some(conflict_row) = index_db::ConflictRow::of(&stored, &meta, false) {
            self.out.conflicts.push(conflict_row);
        }
        *self.out.stats.records.entry(meta.kind).or_insert(0) += 1;
        self.out.stats.changes += changes.len();
        self.out.docs.push(row);
        self.out.changes.extend(changes);
        Ok(())
    }

    /// An adult present in a household still active: (household, resident); after 20 misses
    /// any household, with no resident.
    pub(super) fn pick_resident(&mut self) -> (usize, Option<usize>) {
        let n = self.households.len();
        for _ in 0..20 {
            let h = self.rng.index(n);
            let hh = &self.households[h];
            if hh.household.status != HouseholdStatus::Active {
                continue;
            }
            let adults: Vec<usize> = (0..hh.household.residents.len())
                .filter(|k| {
                    hh.ages.get(*k).is_some_and(|a| *a >= 18)
                        && hh.household.residents[*k].status == ResidentStatus::Present
                })
                .collect();
            if !adults.is_empty() {
                let k = adults[self.rng.index(adults.len())];
                return (h, Some(k));
            }
        }
        (self.rng.index(n), None)
    }
}
