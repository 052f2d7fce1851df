//! Measures what a record's history costs as its number of changes grows (issue 14, item 4).
//!
//! A household gets `N` tiny changes from one phone (each sets `notes`), as one offline
//! backlog would; the example then times [`sync_core::history::history`] (every change) for
//! several `N`, each the median of a few runs, and one page of 100 changes
//! ([`sync_core::history::history_page`], newest first, and from the middle), as the server's
//! `GET /v1/records/{id}/history` reads it. A linear history doubles its time when `N`
//! doubles; a quadratic one quadruples it.
//!
//! ```sh
//! cargo run --release -p gridbook-sync-core --example history_cost            # 3k..24k
//! cargo run --release -p gridbook-sync-core --example history_cost -- 1000 2000
//! ```

use std::time::{Duration, Instant};

use automerge::ROOT;
use automerge::transaction::{CommitOptions, Transactable};
use sync_core::doc::{Author, Document, actor_for_device};
use sync_core::history::{self, Order};
use sync_core::ids::DeviceId;
use sync_core::models::household::{Address, Household};
use sync_core::record::Place;
use sync_core::time::Timestamp;
use sync_core::validate::ValidationContext;

/// A household with `n` more changes, each setting `notes`, made by one phone.
fn record_with_changes(n: usize) -> Document {
    let place = Place {
        community: "dzk".parse().expect("code"),
        grid: "dzk-01".parse().expect("code"),
    };
    let household = Household::new(
        place,
        Address {
            compound: "乌江水岸".into(),
            building: "3".into(),
            unit: "1".into(),
            room: "402".into(),
        },
    );
    let actor = actor_for_device(&DeviceId::new());
    let t0 = Timestamp::from_millis(1_772_000_000_000);
    let mut doc = Document::create(
        &household,
        &Author::new(actor, t0),
        &ValidationContext::default(),
    )
    .expect("valid household");
    let am = doc.automerge_mut();
    for i in 0..n {
        let mut tx = am.transaction();
        tx.put(ROOT, "notes", format!("n{i}")).expect("put");
        tx.commit_with(CommitOptions::default().with_time(t0.millis() + i as i64 * 1000));
    }
    doc
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort_unstable();
    runs[runs.len() / 2]
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![3_000, 6_000, 12_000, 24_000]
    } else {
        sizes
    };
    println!(
        "changes  push bytes  full history (median)  per change  page of 100 newest  page of 100 from the middle"
    );
    for n in sizes {
        let doc = record_with_changes(n);
        let bytes = doc.automerge().save_after(&[]).len();
        let runs = 3;
        let times: Vec<Duration> = (0..runs)
            .map(|_| {
                let started = Instant::now();
                let entries = history::history(&doc);
                let took = started.elapsed();
                assert_eq!(entries.len(), n + 1);
                took
            })
            .collect();
        let t = median(times);
        let page = |offset: usize| {
            median(
                (0..5)
                    .map(|_| {
                        let started = Instant::now();
                        let page =
                            history::history_page(&doc, Order::NewestFirst, offset, 100, &|| false)
                                .expect("not cancelled");
                        let took = started.elapsed();
                        assert_eq!((page.entries.len(), page.decoded), (100, 100));
                        took
                    })
                    .collect(),
            )
        };
        println!(
            "{:>7}  {:>10}  {:>21.3?}  {:>10.3?}  {:>18.3?}  {:>27.3?}",
            n + 1,
            bytes,
            t,
            t / (n as u32 + 1),
            page(0),
            page(n / 2),
        );
    }
}
