//! Criterion benchmarks of sync-core's sync logic on one phone's grid sync:
//! 300 household documents, 20 offline edits each (6,000 changes): notes, residents' names,
//! tags, residents moving in, the room. (Residents' ID numbers, phones and special groups are
//! in the households' private documents since the split, and are not part of this workload.)
//!
//! * `server_apply_grid_sync`: the server side (`apply_push`) for every document of the
//!   request: parse and check the changes, merge on a fork, validate the merged record, check
//!   scope and authorship, and compute each document's answer.
//! * `bare_automerge_apply`: the floor, Automerge alone applying the same change bytes to
//!   copies of the same stored documents (copies made outside the timing).
//! * `bare_automerge_fork_and_apply`: the same with the fork inside the timing, since the
//!   server must merge on a copy to be able to refuse a push.
//! * `client_build_and_encode_request`: the phone building the request and encoding it as JSON.
//! * `part_*`: parts of `server_apply_grid_sync` on their own (parsing the 6,000 changes,
//!   re-encoding each to check it is canonical, rendering the 300 merged records as JSON), to
//!   show where the time above the floor goes.
//!
//! Run with `cargo bench -p gridbook-sync-core --bench sync`; figures in docs/BENCHMARKS.md.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use sync_core::client::Replica;
use sync_core::ids::{DeviceId, DocId, ResidentId, UserId};
use sync_core::models::household::{
    Address, Gender, Household, Relation, Resident, ResidentStatus,
};
use sync_core::protocol::{SyncRequest, encode_request};
use sync_core::record::{Place, Role};
use sync_core::server::{Caller, GridScope, MemoryServer, StoredRecord, apply_push};
use sync_core::time::{Date, Timestamp};
use sync_core::validate::ValidationContext;

const DOCS: usize = 300;
const EDITS_PER_DOC: usize = 20;

struct Fixture {
    caller: Caller,
    scope: GridScope,
    server: MemoryServer,
    phone: Replica,
    request: SyncRequest,
}

fn resident(i: usize, j: usize) -> Resident {
    Resident {
        id: ResidentId::new(),
        name: format!("居民{i}-{j}"),
        gender: if j.is_multiple_of(2) {
            Gender::Female
        } else {
            Gender::Male
        },
        relation: if j == 0 {
            Relation::Head
        } else {
            Relation::Child
        },
        status: ResidentStatus::Present,
        moved_in: Some(Date::from_ymd(2010, 5, 1).expect("date")),
        moved_out: None,
    }
}

fn fixture() -> Fixture {
    let ctx = ValidationContext::default();
    let place = Place {
        community: "dzk".parse().expect("code"),
        grid: "dzk-01".parse().expect("code"),
    };
    let user = UserId::new();
    let device = DeviceId::new();
    let caller = Caller {
        user: user.clone(),
        device: device.clone(),
        role: Role::GridWorker,
    };
    let scope = GridScope {
        role: Role::GridWorker,
        grids: [place.grid.clone()].into(),
    };
    let mut server = MemoryServer::new(ctx.clone());
    server.add_user(user, Role::GridWorker, [place.grid.clone()]);
    let mut phone = Replica::new(device, ctx);
    let t0 = Timestamp::from_millis(1_772_000_000_000);

    let mut ids: Vec<DocId> = Vec::with_capacity(DOCS);
    for i in 0..DOCS {
        let mut h = Household::new(
            place.clone(),
            Address {
                compound: "乌江水岸".into(),
                building: format!("{}", 1 + i / 40),
                unit: format!("{}", 1 + (i / 10) % 4),
                room: format!("{}0{}", 1 + (i % 10) / 2, 1 + i % 2),
            },
        );
        h.residents = (0..3).map(|j| resident(i, j)).collect();
        ids.push(phone.create(&h, t0).expect("valid household"));
    }
    let first = phone.build_request();
    let response = server.sync(&caller, &first).expect("first sync");
    phone.apply_response(&first, &response).expect("apply");
    assert!(phone.pending().is_empty());

    // A field day offline: 20 edits on every household.
    for (i, id) in ids.iter().enumerate() {
        for e in 0..EDITS_PER_DOC {
            let at = t0.plus_millis(((i * EDITS_PER_DOC + e) as i64 + 1) * 60_000);
            phone
                .update(id, at, |h: &mut Household| match e % 5 {
                    0 => h.notes = format!("第{e}次走访：老人身体状况良好，需关注用电安全"),
                    1 => h.residents[e % 3].name = format!("居民{i}-{}（{e}）", e % 3),
                    2 => h.tags.push(format!("tag-{e}")),
                    3 => h.residents.push(resident(i, 3 + e)),
                    _ => h.address.room = format!("{e}{:02}", i % 100),
                })
                .expect("valid edit");
        }
    }
    let request = phone.build_request();
    assert_eq!(request.docs.len(), DOCS);
    Fixture {
        caller,
        scope,
        server,
        phone,
        request,
    }
}

fn benches(c: &mut Criterion) {
    let f = fixture();
    let ctx = ValidationContext::default();
    let stored: Vec<_> = f
        .request
        .docs
        .iter()
        .map(|push| StoredRecord::new(f.server.document(&push.id).expect("stored").clone()))
        .collect();
    let changes: usize = f
        .request
        .docs
        .iter()
        .map(|p| {
            sync_core::protocol::split_changes(p.changes.as_slice())
                .expect("valid")
                .len()
        })
        .sum();
    assert_eq!(changes, DOCS * EDITS_PER_DOC);

    let mut group = c.benchmark_group("grid_sync_300x20");
    group.sample_size(20);

    group.bench_function("server_apply_grid_sync", |b| {
        b.iter(|| {
            for (push, doc) in f.request.docs.iter().zip(&stored) {
                let outcome = apply_push(Some(doc), push, &f.caller, &f.scope, &ctx);
                assert!(outcome.is_accepted());
                black_box(outcome);
            }
        });
    });

    group.bench_function("bare_automerge_apply", |b| {
        b.iter_batched(
            || {
                stored
                    .iter()
                    .map(|d| d.doc.automerge().clone())
                    .collect::<Vec<_>>()
            },
            |mut docs| {
                for (push, am) in f.request.docs.iter().zip(docs.iter_mut()) {
                    am.load_incremental(push.changes.as_slice())
                        .expect("applies");
                }
                docs
            },
            BatchSize::PerIteration,
        );
    });

    group.bench_function("bare_automerge_fork_and_apply", |b| {
        b.iter(|| {
            for (push, doc) in f.request.docs.iter().zip(&stored) {
                let mut am = doc.doc.automerge().fork();
                am.load_incremental(push.changes.as_slice())
                    .expect("applies");
                black_box(am);
            }
        });
    });

    // Where the server's time above the floor goes: each part of `apply_push` on its own.
    let all_changes: Vec<automerge::Change> = f
        .request
        .docs
        .iter()
        .flat_map(|p| sync_core::protocol::split_changes(p.changes.as_slice()).expect("valid"))
        .collect();
    group.bench_function("part_parse_changes", |b| {
        b.iter(|| {
            for c in &all_changes {
                black_box(automerge::Change::from_bytes(c.raw_bytes().to_vec()).expect("parses"));
            }
        });
    });
    group.bench_function("part_canonical_reencode", |b| {
        b.iter(|| {
            for c in &all_changes {
                black_box(automerge::Change::from(c.decode()).hash());
            }
        });
    });
    let merged: Vec<automerge::Automerge> = f
        .request
        .docs
        .iter()
        .zip(&stored)
        .map(|(push, doc)| {
            let mut am = doc.doc.automerge().fork();
            am.load_incremental(push.changes.as_slice())
                .expect("applies");
            am
        })
        .collect();
    group.bench_function("part_render_merged_json", |b| {
        b.iter(|| {
            for am in &merged {
                black_box(sync_core::json::hydrated_to_json(&am.hydrate(None)));
            }
        });
    });

    group.bench_function("client_build_and_encode_request", |b| {
        b.iter(|| {
            let request = f.phone.build_request();
            black_box(encode_request(&request))
        });
    });
    group.finish();
}

criterion_group!(sync_benches, benches);
criterion_main!(sync_benches);
