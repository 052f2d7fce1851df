//! Criterion benchmarks of a record with a very long history (issue 14, item 4): a household
//! with 24,000 tiny changes from one phone (each sets `notes`; 24,001 changes with the
//! creation, 2.9 MB of change bytes, the report's "24,000 changes in one push").
//!
//! * `page_100_newest`: one page of 100 changes, newest first (`history::history_page`), what
//!   `GET /v1/records/{id}/history?per_page=100` computes.
//! * `page_100_middle`: the page of 100 from the middle of the history.
//! * `full_history`: every change (`history::history`), what the phone's local history shows.
//! * `apply_push_budget`: the server deciding one push of `MAX_NEW_CHANGES_PER_DOC` (1000) new
//!   changes on top of the other 23,001 (`server::apply_push`): what the per-record change
//!   budget lets one push cost.
//!
//! Run with `cargo bench -p gridbook-sync-core --bench history`; figures in
//! docs/BENCHMARKS.md. (Before the history was read from the changes themselves, one full
//! history of this record took 73 s: `examples/history_cost.rs` measures both ends.)

use std::hint::black_box;

use automerge::ROOT;
use automerge::transaction::{CommitOptions, Transactable};
use criterion::{Criterion, criterion_group, criterion_main};
use sync_core::doc::{Author, Document, actor_for_device};
use sync_core::history::{self, Order};
use sync_core::ids::{DeviceId, UserId};
use sync_core::models::household::{Address, Household};
use sync_core::protocol::{Bytes, DocPush, MAX_NEW_CHANGES_PER_DOC};
use sync_core::record::{Place, Role};
use sync_core::server::{Caller, GridScope, StoredRecord, apply_push};
use sync_core::time::Timestamp;
use sync_core::validate::ValidationContext;

const EDITS: usize = 24_000;

fn place() -> Place {
    Place {
        community: "dzk".parse().expect("code"),
        grid: "dzk-01".parse().expect("code"),
    }
}

/// The household and its 24,000 edits, made on `device`.
fn big_household(device: &DeviceId) -> Document {
    let household = Household::new(
        place(),
        Address {
            compound: "乌江水岸".into(),
            building: "3".into(),
            unit: "1".into(),
            room: "402".into(),
        },
    );
    let t0 = Timestamp::from_millis(1_772_000_000_000);
    let author = Author::new(actor_for_device(device), t0);
    let mut doc =
        Document::create(&household, &author, &ValidationContext::default()).expect("valid");
    let am = doc.automerge_mut();
    for i in 0..EDITS {
        let mut tx = am.transaction();
        tx.put(ROOT, "notes", format!("n{i}")).expect("put");
        tx.commit_with(CommitOptions::default().with_time(t0.millis() + i as i64 * 1000));
    }
    doc
}

fn benches(c: &mut Criterion) {
    let device = DeviceId::new();
    let doc = big_household(&device);
    let never = || false;

    let mut group = c.benchmark_group("history_24001_changes");
    group.sample_size(20);
    group.bench_function("page_100_newest", |b| {
        b.iter(|| {
            let page = history::history_page(&doc, Order::NewestFirst, 0, 100, &never)
                .expect("not cancelled");
            assert_eq!(page.decoded, 100);
            black_box(page)
        });
    });
    group.bench_function("page_100_middle", |b| {
        b.iter(|| {
            black_box(history::history_page(
                &doc,
                Order::NewestFirst,
                EDITS / 2,
                100,
                &never,
            ))
        });
    });
    group.sample_size(10);
    group.bench_function("full_history", |b| {
        b.iter(|| {
            let all = history::history(&doc);
            assert_eq!(all.len(), EDITS + 1);
            black_box(all)
        });
    });

    // The server deciding the last push of the backlog: 1000 new changes on 23,001 stored.
    let changes = doc.automerge().get_changes(&[]);
    let split = changes.len() - MAX_NEW_CHANGES_PER_DOC;
    let mut stored_am = automerge::Automerge::new();
    stored_am
        .apply_changes(changes[..split].iter().cloned())
        .expect("applies");
    let stored = StoredRecord::new(Document::from_automerge(stored_am).expect("header"));
    let push = DocPush {
        id: doc.id().clone(),
        kind: doc.kind(),
        base_heads: stored.doc.heads(),
        changes: Bytes::from_changes(&changes[split..]),
    };
    let caller = Caller {
        user: UserId::new(),
        device,
        role: Role::GridWorker,
    };
    let scope = GridScope {
        role: Role::GridWorker,
        grids: [place().grid].into(),
    };
    let ctx = ValidationContext::default();
    group.bench_function("apply_push_budget", |b| {
        b.iter(|| {
            let outcome = apply_push(Some(&stored), &push, &caller, &scope, &ctx);
            assert!(outcome.is_accepted());
            black_box(outcome)
        });
    });
    group.finish();
}

criterion_group!(history_benches, benches);
criterion_main!(history_benches);
