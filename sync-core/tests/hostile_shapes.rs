//! Documents shaped to hurt whoever walks them: nested far deeper than any record, or very
//! wide. Pushed to the server's decision step and sent to a phone, each is refused with a
//! reason naming the limit, on a thread whose stack is as small as a server's blocking
//! worker's (2 MiB), and nothing is stored.

use automerge::transaction::Transactable;
use automerge::{ObjType, ROOT};
use sync_core::client::{DocOutcome, Replica};
use sync_core::doc::{Author, Document, actor_for_device};
use sync_core::ids::{DeviceId, GridId, UserId};
use sync_core::models::household::{Address, Household};
use sync_core::protocol::{
    Bytes, DocPush, DocStatus, DocUpdate, GridCursor, PROTOCOL_VERSION, SyncRequest, SyncResponse,
    codes,
};
use sync_core::record::{Place, Role};
use sync_core::server::{Caller, MemoryServer, apply_push};
use sync_core::shape::MAX_DEPTH;
use sync_core::time::Timestamp;
use sync_core::validate::ValidationContext;

const GRID: &str = "dzk-01";

fn place() -> Place {
    Place {
        community: "dzk".parse().unwrap(),
        grid: GRID.parse().unwrap(),
    }
}

fn household() -> Household {
    Household::new(
        place(),
        Address {
            compound: "乌江水岸".into(),
            building: "3".into(),
            unit: "1".into(),
            room: "402".into(),
        },
    )
}

/// Runs `f` on a thread with a 2 MiB stack, like tokio's blocking pool: a recursive walk of
/// a deep document overflows it (and aborts the test binary) long before 300 levels.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

/// A new household document by `device`, plus one more change that nests `levels` maps
/// under `key` (each level `width` keys wide at the top).
fn hostile_document(device: &DeviceId, key: &str, levels: usize, width: usize) -> Document {
    let author = Author::new(
        actor_for_device(device),
        Timestamp::from_millis(1_770_000_000_000),
    );
    let mut doc = Document::create(&household(), &author, &ValidationContext::default()).unwrap();
    let am = doc.automerge_mut();
    let mut tx = am.transaction();
    let mut obj = tx.put_object(ROOT, key, ObjType::Map).unwrap();
    for i in 0..width {
        tx.put(&obj, format!("k{i}"), i as i64).unwrap();
    }
    for _ in 1..levels {
        obj = tx.put_object(&obj, "x", ObjType::Map).unwrap();
    }
    tx.commit();
    doc
}

fn caller(device: &DeviceId, role: Role) -> Caller {
    Caller {
        user: UserId::new(),
        device: device.clone(),
        role,
    }
}

fn push_of(doc: &Document) -> DocPush {
    DocPush {
        id: doc.id().clone(),
        kind: doc.kind(),
        base_heads: Vec::new(),
        changes: Bytes(doc.automerge().save_after(&[])),
    }
}

#[test]
fn a_new_record_nested_300_deep_under_an_unknown_key_is_refused_naming_the_limit() {
    let result = on_small_stack(|| {
        let mut server = MemoryServer::default();
        let device = DeviceId::new();
        let caller = caller(&device, Role::GridWorker);
        server.add_user(
            caller.user.clone(),
            caller.role,
            [GRID.parse::<GridId>().unwrap()],
        );
        let doc = hostile_document(&device, "unknown", 300, 1);
        let request = SyncRequest::new(device, None, vec![push_of(&doc)]);
        let response = server.sync(&caller, &request).unwrap();
        let stored = server.document(doc.id()).is_some();
        (response.docs[0].clone(), stored)
    });
    let (result, stored) = result;
    assert_eq!(result.status, DocStatus::Rejected);
    let error = result.error.unwrap();
    assert_eq!(error.code, codes::INVALID_RECORD);
    let said = format!("{} {:?}", error.message, error.fields);
    assert!(said.contains(&format!("{MAX_DEPTH} levels")), "{said}");
    assert!(said.contains("unknown"), "{said}");
    assert!(!stored, "nothing of a refused push is stored");
}

#[test]
fn nesting_just_past_the_limit_is_refused_and_at_the_limit_is_judged_as_usual() {
    let device = DeviceId::new();
    for (levels, refused_for_depth) in [(MAX_DEPTH, false), (MAX_DEPTH + 1, true)] {
        let doc = hostile_document(&device, "extra", levels, 1);
        let outcome = apply_push(
            None,
            &push_of(&doc),
            &caller(&device, Role::GridWorker),
            &Everything,
            &ValidationContext::default(),
        );
        let result = outcome.result();
        assert_eq!(result.status, DocStatus::Rejected, "{levels} levels");
        let message = &result.error.as_ref().unwrap().message;
        let fields = format!("{:?}", result.error.as_ref().unwrap().fields);
        assert_eq!(
            fields.contains("levels deep"),
            refused_for_depth,
            "{levels} levels: {message} {fields}"
        );
    }
}

#[test]
fn a_wide_document_is_refused_without_harm() {
    let device = DeviceId::new();
    let doc = hostile_document(&device, "wide", 1, 50_000);
    let push = push_of(&doc);
    assert!(push.changes.len() < 4 * 1024 * 1024);
    let outcome = on_small_stack(move || {
        apply_push(
            None,
            &push,
            &caller(&device, Role::GridWorker),
            &Everything,
            &ValidationContext::default(),
        )
        .result()
        .clone()
    });
    assert_eq!(outcome.status, DocStatus::Rejected);
    assert_eq!(outcome.error.unwrap().code, codes::INVALID_RECORD);
}

#[test]
fn a_phone_refuses_an_update_nested_too_deep_and_keeps_working() {
    let report = on_small_stack(|| {
        let device = DeviceId::new();
        let mut phone = Replica::new(device, ValidationContext::default());
        let hostile = hostile_document(&DeviceId::new(), "unknown", 300, 1);
        let request = phone.build_request();
        let response = SyncResponse {
            protocol: PROTOCOL_VERSION,
            cursor: GridCursor::default().encode(),
            docs: Vec::new(),
            updates: vec![DocUpdate {
                id: hostile.id().clone(),
                kind: hostile.kind(),
                heads: hostile.heads(),
                changes: Bytes(hostile.automerge().save_after(&[])),
            }],
            more: false,
            removed: Vec::new(),
        };
        let report = phone.apply_response(&request, &response).unwrap();
        // The phone still edits and builds requests afterwards.
        phone
            .create(&household(), Timestamp::from_millis(1_770_000_000_000))
            .unwrap();
        let pending = phone.build_request().docs.len();
        (report, hostile.id().clone(), pending)
    });
    let (report, id, pending) = report;
    let outcome = report.docs.iter().find(|(d, _)| *d == id).map(|(_, o)| o);
    match outcome {
        Some(DocOutcome::Unusable(reason)) => {
            assert!(reason.contains("levels deep"), "{reason}");
        }
        other => panic!("expected the deep update to be unusable, got {other:?}"),
    }
    assert!(pending >= 1);
}

/// An access that allows everything: these tests are about shape, not scope.
struct Everything;

impl sync_core::server::Access for Everything {
    fn may_read(&self, _: &sync_core::record::RecordMeta) -> bool {
        true
    }
    fn may_write(&self, _: &sync_core::record::RecordMeta) -> bool {
        true
    }
}

/// A text field written as an Automerge `Text` object (what Automerge JavaScript makes of a
/// plain string) reads like a string in the JSON view, but records hold string scalars: the
/// push is refused naming the field, nothing is stored, and the same record written with a
/// scalar is accepted.
#[test]
fn a_text_field_written_as_a_text_object_is_refused_naming_the_field() {
    let mut server = MemoryServer::default();
    let device = DeviceId::new();
    let caller = caller(&device, Role::GridWorker);
    server.add_user(
        caller.user.clone(),
        caller.role,
        [GRID.parse::<GridId>().unwrap()],
    );
    let author = Author::new(
        actor_for_device(&device),
        Timestamp::from_millis(1_770_000_000_000),
    );
    let mut doc = Document::create(&household(), &author, &ValidationContext::default()).unwrap();
    let am = doc.automerge_mut();
    let mut tx = am.transaction();
    let notes = tx.put_object(ROOT, "notes", ObjType::Text).unwrap();
    tx.splice_text(&notes, 0, 0, "三楼漏水").unwrap();
    tx.commit();
    assert_eq!(
        doc.json()["notes"],
        "三楼漏水",
        "the JSON view hides the difference"
    );

    let request = SyncRequest::new(device.clone(), None, vec![push_of(&doc)]);
    let response = server.sync(&caller, &request).unwrap();
    let result = &response.docs[0];
    assert_eq!(result.status, DocStatus::Rejected);
    let error = result.error.as_ref().unwrap();
    assert_eq!(error.code, codes::INVALID_RECORD);
    assert_eq!(error.fields[0].field, "notes", "{error:?}");
    assert!(
        error.fields[0].message.contains("ImmutableString"),
        "{error:?}"
    );
    assert!(server.document(doc.id()).is_none(), "nothing stored");

    // The same text as a scalar is an ordinary record.
    let mut fine = Document::create(&household(), &author, &ValidationContext::default()).unwrap();
    let mut tx = fine.automerge_mut().transaction();
    tx.put(ROOT, "notes", "三楼漏水").unwrap();
    tx.commit();
    let request = SyncRequest::new(device, None, vec![push_of(&fine)]);
    let response = server.sync(&caller, &request).unwrap();
    assert_eq!(response.docs[0].status, DocStatus::Ok);
}
