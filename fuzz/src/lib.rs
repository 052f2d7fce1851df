//! The logic of sync-core's fuzz targets, shared by the libFuzzer binaries in
//! `fuzz_targets/` and by `tests/regressions.rs`, which replays every file of `corpus/` and
//! `regressions/` through the same functions without the fuzzer.
//!
//! A target panics only on a bug: sync-core must refuse hostile input, never panic on it, and
//! the few properties checked here (round trips, retries) are documented promises of its API.
//!
//! Targets and their input formats:
//! * [`decode_request`]: any bytes, as a sync request body (and as a response body).
//! * [`split_changes`]: any bytes, as the concatenated change chunks of a push.
//! * [`apply_push`]: a selector byte, then the push's changes (see [`PushInput`]).
//! * [`apply_response`]: a selector byte, then a response body (see [`ResponseInput`]).

use std::sync::OnceLock;

use automerge::{ActorId, ChangeHash};
use sha2::{Digest, Sha256};
use sync_core::client::{Replica, ReplicaSnapshot, SavedDoc};
use sync_core::doc::{Author, Document};
use sync_core::ids::{DeviceId, DocId, ItemId, ResidentId, UserId};
use sync_core::models::case::{Case, CaseAction, CaseKind, Urgency};
use sync_core::models::household::{
    Address, Gender, Household, Relation, Resident, ResidentStatus,
};
use sync_core::protocol::{
    self, Bytes, CHUNK_MAGIC, Cursor, DocPush, DocResult, DocStatus, DocUpdate, GridCursor,
    PROTOCOL_VERSION, PushError, SyncRequest, SyncResponse,
};
use sync_core::record::{Place, RecordKind, Role};
use sync_core::server::{self, Caller, GridScope, PushOutcome, StoredRecord};
use sync_core::time::{Date, Timestamp};
use sync_core::validate::ValidationContext;
use sync_core::workflow::{append_event, new_event};

/// A fuzz target's logic: panics only on a bug.
pub type Target = fn(&[u8]);

/// Every target by name (the name of its binary and of its `corpus/` and `regressions/`
/// folders).
pub const TARGETS: &[(&str, Target)] = &[
    ("decode_request", decode_request),
    ("split_changes", split_changes),
    ("apply_push", apply_push),
    ("apply_response", apply_response),
];

// ---------------------------------------------------------------------------------------------
// Running under libFuzzer
// ---------------------------------------------------------------------------------------------

thread_local! {
    static LAST_PANIC: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// Runs `target` on one fuzz input (the body of every `fuzz_targets/*.rs`).
///
/// libfuzzer-sys aborts on every panic, even one that is caught. sync-core catches Automerge's
/// panics on hostile changes on purpose (`protocol::guard`) and refuses the push, so here only
/// a panic that escapes the target is a crash: it is replayed with the default panic hook (so
/// its backtrace is printed) and the process aborts, which libFuzzer reports and saves. With
/// `GRIDBOOK_FUZZ_STRICT=1` every panic, caught or not, is a crash (to hunt Automerge's).
pub fn fuzz(target: Target, data: &[u8]) {
    static QUIET: OnceLock<bool> = OnceLock::new();
    let quiet = *QUIET.get_or_init(|| {
        let strict = std::env::var_os("GRIDBOOK_FUZZ_STRICT").is_some_and(|v| v == "1");
        if !strict {
            std::panic::set_hook(Box::new(|info| {
                LAST_PANIC.with(|last| *last.borrow_mut() = info.to_string());
            }));
        }
        !strict
    });
    if !quiet {
        target(data);
        return;
    }
    if std::panic::catch_unwind(|| target(data)).is_ok() {
        return;
    }
    let message = LAST_PANIC.with(|last| last.borrow().clone());
    drop(std::panic::take_hook()); // back to the default hook, which prints backtraces
    eprintln!("a panic escaped the fuzz target ({message}); replaying it:");
    if std::panic::catch_unwind(|| target(data)).is_ok() {
        eprintln!("the replay did not panic");
    }
    std::process::abort();
}

// ---------------------------------------------------------------------------------------------
// decode_request, split_changes
// ---------------------------------------------------------------------------------------------

/// Decodes `data` as a request and as a response. What decodes must encode and decode again
/// to the same message; a decodable cursor must survive its own encoding; the change bytes
/// of every push are split as the server would.
pub fn decode_request(data: &[u8]) {
    if let Ok(request) = protocol::decode_request(data) {
        let again = protocol::decode_request(&protocol::encode_request(&request))
            .expect("a decoded request, encoded again, decodes");
        assert_eq!(again, request, "request round trip");
        if let Some(cursor) = &request.cursor
            && let Ok(grid_cursor) = GridCursor::decode(cursor)
        {
            assert_eq!(
                GridCursor::decode(&grid_cursor.encode()),
                Ok(grid_cursor),
                "cursor round trip"
            );
        }
        for push in &request.docs {
            let _ = protocol::split_changes(push.changes.as_slice());
        }
    }
    if let Ok(response) = protocol::decode_response(data) {
        let again = protocol::decode_response(&protocol::encode_response(&response))
            .expect("a decoded response, encoded again, decodes");
        assert_eq!(again, response, "response round trip");
    }
}

/// Splits `data` into changes. What splits must be exactly the chunks it was made of.
pub fn split_changes(data: &[u8]) {
    if let Ok(changes) = protocol::split_changes(data) {
        let joined: Vec<u8> = changes
            .iter()
            .flat_map(|c| c.raw_bytes().iter().copied())
            .collect();
        assert!(joined == data, "split changes do not join to the input");
    }
}

// ---------------------------------------------------------------------------------------------
// Change chunk framing
// ---------------------------------------------------------------------------------------------

/// A change body framed as an Automerge change chunk: magic bytes, checksum (the first 4
/// bytes of the SHA-256 of type, length and body), type 1, uLEB128 length, body. Lets the
/// fuzzer mutate bodies without being stopped by the checksum.
pub fn frame(body: &[u8]) -> Vec<u8> {
    let mut header = vec![1u8];
    let mut len = body.len() as u64;
    loop {
        let byte = (len & 0x7f) as u8;
        len >>= 7;
        if len == 0 {
            header.push(byte);
            break;
        }
        header.push(byte | 0x80);
    }
    let hash = Sha256::new()
        .chain_update(&header)
        .chain_update(body)
        .finalize();
    let mut out = Vec::with_capacity(8 + header.len() + body.len());
    out.extend_from_slice(&CHUNK_MAGIC);
    out.extend_from_slice(&hash[..4]);
    out.extend_from_slice(&header);
    out.extend_from_slice(body);
    out
}

/// The bodies of valid concatenated change chunks (inverse of [`frame`]).
pub fn bodies(chunks: &[u8]) -> Vec<Vec<u8>> {
    protocol::split_changes(chunks)
        .expect("valid change chunks")
        .iter()
        .map(|c| {
            let raw = c.raw_bytes();
            let mut i = 9;
            while raw[i] & 0x80 != 0 {
                i += 1;
            }
            raw[i + 1..].to_vec()
        })
        .collect()
}

/// Bodies in the fuzz input's framed form: each as a little-endian `u16` length and the body.
pub fn encode_bodies(bodies: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for body in bodies {
        let len = u16::try_from(body.len()).expect("small body");
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(body);
    }
    out
}

/// Reads the framed form of [`encode_bodies`] (a body cut short takes what is left) and
/// frames every body as a valid chunk.
pub fn decode_bodies(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while data.len() >= 2 {
        let len = usize::from(u16::from_le_bytes([data[0], data[1]]));
        let body = &data[2..(2 + len).min(data.len())];
        out.extend_from_slice(&frame(body));
        data = &data[2 + body.len()..];
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

/// Fixed records, edits and callers, made once per process. Everything is deterministic
/// (fixed ids, actors and times), so change hashes are the same in every run and the seeds in
/// `corpus/` stay valid.
#[derive(Debug)]
pub struct Fixtures {
    /// Default validation.
    pub ctx: ValidationContext,
    /// A grid worker of grid `dzk-01`, on the device that made every record and worker edit.
    pub worker: Caller,
    /// A community supervisor of `dzk-01`, on their own device.
    pub supervisor: Caller,
    /// The worker's scope.
    pub worker_scope: GridScope,
    /// The supervisor's scope.
    pub supervisor_scope: GridScope,
    /// A stored household (one creation change).
    pub household: StoredRecord,
    /// A stored case, submitted (creation, then a submit event).
    pub case: StoredRecord,
    /// The worker's two edits of the household (notes and tags, a new resident), as chunks.
    pub household_edit: Vec<u8>,
    /// The household with those edits.
    pub household_edited: Document,
    /// The worker's comment on the case, as one chunk.
    pub case_comment: Vec<u8>,
    /// The supervisor's acceptance of the case, as one chunk.
    pub case_accept: Vec<u8>,
    /// The case with the acceptance.
    pub case_accepted: Document,
    /// A household the server does not have: its whole document as chunks.
    pub new_household: Document,
    /// The worker's phone: the household edited and pending, the case as stored.
    pub replica: Replica,
}

fn uuid(n: u128) -> uuid::Uuid {
    uuid::Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 | n)
}

fn actor(device: &DeviceId) -> ActorId {
    let mut bytes = device.uuid().as_bytes().to_vec();
    bytes.extend_from_slice(&[0x5a; 8]);
    ActorId::from(bytes)
}

fn at(minutes: i64) -> Timestamp {
    Timestamp::from_millis(1_772_000_000_000 + minutes * 60_000)
}

fn resident(n: u128, name: &str, relation: Relation) -> Resident {
    Resident {
        id: ResidentId::from_uuid(uuid(n)),
        name: name.into(),
        gender: Gender::Female,
        relation,
        status: ResidentStatus::Present,
        moved_in: Date::from_ymd(2010, 5, 1),
        moved_out: None,
    }
}

fn household(id: u128, room: &str, place: &Place) -> Household {
    let mut h = Household::new(
        place.clone(),
        Address {
            compound: "乌江水岸".into(),
            building: "3".into(),
            unit: "1".into(),
            room: room.into(),
        },
    );
    h.id = DocId::from_uuid(uuid(id));
    h.residents = vec![resident(id + 1, "王秀英", Relation::Head)];
    h
}

fn make_fixtures() -> Fixtures {
    let ctx = ValidationContext::default();
    let place = Place {
        community: "dzk".parse().expect("code"),
        grid: "dzk-01".parse().expect("code"),
    };
    let worker = Caller {
        user: UserId::from_uuid(uuid(1)),
        device: DeviceId::from_uuid(uuid(2)),
        role: Role::GridWorker,
    };
    let supervisor = Caller {
        user: UserId::from_uuid(uuid(3)),
        device: DeviceId::from_uuid(uuid(4)),
        role: Role::CommunitySupervisor,
    };
    let worker_scope = GridScope {
        role: worker.role,
        grids: [place.grid.clone()].into(),
    };
    let supervisor_scope = GridScope {
        role: supervisor.role,
        grids: [place.grid.clone()].into(),
    };
    let by_worker = |minutes| Author::new(actor(&worker.device), at(minutes));
    let by_supervisor = |minutes| Author::new(actor(&supervisor.device), at(minutes));

    let household_doc = Document::create(&household(100, "402", &place), &by_worker(0), &ctx)
        .expect("valid household");
    let mut household_edited = household_doc.clone();
    household_edited
        .update(&by_worker(1), &ctx, |h: &mut Household| {
            h.notes = "独居老人，需关注用电安全".into();
            h.tags.push("rental".into());
            Ok::<_, sync_core::doc::DocumentError>(())
        })
        .expect("valid edit");
    household_edited
        .update(&by_worker(2), &ctx, |h: &mut Household| {
            h.residents.push(resident(110, "李强", Relation::Child));
            Ok::<_, sync_core::doc::DocumentError>(())
        })
        .expect("valid edit");
    let household_edit = household_edited
        .automerge()
        .save_after(&household_doc.heads());

    let case = Case {
        id: DocId::from_uuid(uuid(200)),
        case_kind: CaseKind::Appeal,
        category: "neighbour_noise".into(),
        subject: "楼上噪音".into(),
        description: "夜间噪音影响休息".into(),
        place: place.clone(),
        location: Some("3栋1单元".into()),
        household: Some(household_doc.id().clone()),
        parties: Vec::new(),
        urgency: Urgency::Normal,
        confidential: false,
        opened_by: worker.user.clone(),
        opened_at: at(0),
        events: Vec::new(),
        mediation: Vec::new(),
        rectification: None,
        attachments: Vec::new(),
    };
    let mut case_doc = Document::create(&case, &by_worker(0), &ctx).expect("valid case");
    let event = |n, who: &Caller, action, minutes| {
        new_event(who.user.clone(), who.role, action, at(minutes))
            .with_id(ItemId::from_uuid(uuid(n)))
            .with_device(who.device.clone())
    };
    append_event(
        &mut case_doc,
        &by_worker(1),
        &ctx,
        event(201, &worker, CaseAction::Submit, 1),
    )
    .expect("submit");
    let mut commented = case_doc.clone();
    append_event(
        &mut commented,
        &by_worker(2),
        &ctx,
        event(202, &worker, CaseAction::Comment, 2).with_note("已电话联系楼上住户"),
    )
    .expect("comment");
    let case_comment = commented.automerge().save_after(&case_doc.heads());
    let mut case_accepted = case_doc.clone();
    append_event(
        &mut case_accepted,
        &by_supervisor(3),
        &ctx,
        event(203, &supervisor, CaseAction::Accept, 3),
    )
    .expect("accept");
    let case_accept = case_accepted.automerge().save_after(&case_doc.heads());

    let new_household = Document::create(&household(300, "501", &place), &by_worker(5), &ctx)
        .expect("valid household");

    let saved = |doc: &Document, base_heads: Vec<ChangeHash>| SavedDoc {
        id: doc.id().clone(),
        kind: doc.kind(),
        document: Bytes(doc.save()),
        complete: true,
        base_heads,
        need_full: false,
        rejection: None,
    };
    let replica = Replica::restore(
        ReplicaSnapshot {
            device: worker.device.clone(),
            actor: Bytes(actor(&worker.device).to_bytes().to_vec()),
            cursor: Some(Cursor::new("v1:dzk-01=2")),
            docs: vec![
                saved(&household_edited, household_doc.heads()),
                saved(&case_doc, case_doc.heads()),
            ],
        },
        ctx.clone(),
    )
    .expect("valid snapshot");

    Fixtures {
        ctx,
        worker,
        supervisor,
        worker_scope,
        supervisor_scope,
        household: StoredRecord::new(household_doc),
        case: StoredRecord::new(case_doc),
        household_edit,
        household_edited,
        case_comment,
        case_accept,
        case_accepted,
        new_household,
        replica,
    }
}

/// The fixtures, made on first use.
pub fn fixtures() -> &'static Fixtures {
    static FIXTURES: OnceLock<Fixtures> = OnceLock::new();
    FIXTURES.get_or_init(make_fixtures)
}

// ---------------------------------------------------------------------------------------------
// apply_push
// ---------------------------------------------------------------------------------------------

/// Who pushes what to which stored record (bits 0-1 of the selector byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// The worker pushes to the stored household.
    Household = 0,
    /// The worker pushes to the stored case.
    Case = 1,
    /// The supervisor pushes to the stored case (may only append events).
    CaseBySupervisor = 2,
    /// The worker pushes a record the server does not have (the new household's id).
    New = 3,
}

/// Which base heads the push names (bits 3-4 of the selector byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base {
    /// The stored heads (none for [`Scenario::New`]).
    Heads = 0,
    /// None.
    Empty = 1,
    /// The stored record's first change (an older version).
    Root = 2,
    /// The stored heads and a hash the server does not know.
    Unknown = 3,
}

/// The input of [`apply_push`]: a selector byte, then the changes.
///
/// Selector bits: 0-1 [`Scenario`]; 2 set: the rest is bodies in the form of
/// [`encode_bodies`], framed into valid chunks by the target, else the rest is the raw
/// `changes`; 3-4 [`Base`]; 5 set: the push names the other kind (case for household and the
/// reverse).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PushInput {
    /// Who pushes where.
    pub scenario: Scenario,
    /// Whether the rest is framed bodies.
    pub framed: bool,
    /// The base heads.
    pub base: Base,
    /// Whether the push names the other kind.
    pub other_kind: bool,
}

impl PushInput {
    /// The selector byte.
    pub fn byte(self) -> u8 {
        self.scenario as u8
            | u8::from(self.framed) << 2
            | (self.base as u8) << 3
            | u8::from(self.other_kind) << 5
    }

    /// Reads a selector byte (bits 6-7 are ignored).
    pub fn from_byte(b: u8) -> Self {
        Self {
            scenario: [
                Scenario::Household,
                Scenario::Case,
                Scenario::CaseBySupervisor,
                Scenario::New,
            ][usize::from(b & 3)],
            framed: b & 4 != 0,
            base: [Base::Heads, Base::Empty, Base::Root, Base::Unknown][usize::from((b >> 3) & 3)],
            other_kind: b & 32 != 0,
        }
    }

    /// A whole fuzz input: the selector byte and `rest`.
    pub fn input(self, rest: &[u8]) -> Vec<u8> {
        let mut out = vec![self.byte()];
        out.extend_from_slice(rest);
        out
    }
}

/// Applies a push built from `data` (see [`PushInput`]) to a fixed stored record, as the
/// server does. It must refuse or accept, never panic. An accepted push must leave the
/// record's JSON equal to the document's; a device fetching the merged record must be able to
/// rebuild it from the answer; it must save and load again; and applying the push again to
/// it must be an accepted retry with no new changes and the same heads.
pub fn apply_push(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let input = PushInput::from_byte(selector);
    let f = fixtures();
    let (stored, caller, scope): (Option<&StoredRecord>, &Caller, &GridScope) = match input.scenario
    {
        Scenario::Household => (Some(&f.household), &f.worker, &f.worker_scope),
        Scenario::Case => (Some(&f.case), &f.worker, &f.worker_scope),
        Scenario::CaseBySupervisor => (Some(&f.case), &f.supervisor, &f.supervisor_scope),
        Scenario::New => (None, &f.worker, &f.worker_scope),
    };
    let (id, kind) = match stored {
        Some(s) => (s.doc.id().clone(), s.doc.kind()),
        None => (f.new_household.id().clone(), f.new_household.kind()),
    };
    let kind = match (input.other_kind, kind) {
        (false, kind) => kind,
        (true, RecordKind::Household) => RecordKind::Case,
        (true, _) => RecordKind::Household,
    };
    let heads = stored.map(|s| s.doc.heads()).unwrap_or_default();
    let root = |doc: &Document| doc.automerge().get_changes(&[])[0].hash();
    let base_heads = match input.base {
        Base::Heads => heads,
        Base::Empty => Vec::new(),
        Base::Root => vec![root(stored.map_or(&f.new_household, |s| &s.doc))],
        Base::Unknown => {
            let mut heads = heads;
            heads.push(ChangeHash([0xab; 32]));
            heads
        }
    };
    let changes = if input.framed {
        decode_bodies(rest)
    } else {
        rest.to_vec()
    };
    let push = DocPush {
        id,
        kind,
        base_heads,
        changes: Bytes(changes),
    };

    let outcome = server::apply_push(stored, &push, caller, scope, &f.ctx);
    let PushOutcome::Accepted(accepted) = outcome else {
        return;
    };
    assert_eq!(accepted.result.status, DocStatus::Ok);
    assert_eq!(
        accepted.stored.json,
        accepted.stored.doc.record_json(),
        "the stored JSON differs from the merged document"
    );
    // What the server does with every stored record: send it whole to a device that lacks it
    // (here the worker fetching it: an empty push without base heads), which must be able to
    // rebuild it from the answer, and persist it.
    let doc = &accepted.stored.doc;
    let sorted = |mut heads: Vec<ChangeHash>| {
        heads.sort_unstable();
        heads
    };
    let heads = sorted(doc.heads());
    let fetch = DocPush {
        id: doc.id().clone(),
        kind: doc.kind(),
        base_heads: Vec::new(),
        changes: Bytes::default(),
    };
    let fetched = server::apply_push(
        Some(&accepted.stored),
        &fetch,
        &f.worker,
        &f.worker_scope,
        &f.ctx,
    );
    let _ = server::update_for(doc, &[]);
    if let PushOutcome::Accepted(fetched) = fetched {
        let changes = protocol::split_changes(fetched.result.changes.as_slice())
            .expect("the changes the server sends split again");
        let rebuilt = std::panic::catch_unwind(move || {
            let mut am = automerge::Automerge::new();
            am.apply_changes(changes).map(|()| sorted(am.get_heads()))
        });
        assert!(
            matches!(rebuilt, Ok(Ok(ref h)) if *h == heads),
            "a device that fetches the accepted record cannot rebuild it from the answer"
        );
    }
    assert!(
        json_depth(&accepted.stored.json) <= sync_core::shape::MAX_DEPTH + 1,
        "an accepted record nests deeper than the limit"
    );
    let reloaded = Document::load(&doc.save()).expect("the accepted record, saved, loads again");
    assert_eq!(
        sorted(reloaded.heads()),
        heads,
        "the accepted record reloads with other heads"
    );

    let retry = server::apply_push(Some(&accepted.stored), &push, caller, scope, &f.ctx);
    match retry {
        PushOutcome::Accepted(again) => {
            assert!(again.new_changes.is_empty(), "a retry brought new changes");
            assert_eq!(
                again.result.heads, accepted.result.heads,
                "a retry moved heads"
            );
        }
        PushOutcome::Refused { result } => {
            panic!("an accepted push, retried, was refused: {result:?}")
        }
    }
}

// ---------------------------------------------------------------------------------------------
// apply_response
// ---------------------------------------------------------------------------------------------

/// The input of [`apply_response`]: a selector byte, then a response body.
///
/// Selector bits: 0 set: the request is made to match the response (one push per result,
/// same ids), so the fuzzer gets past the match check; 1 set: the body ends at its first NUL
/// byte, and what follows is bodies in the form of [`encode_bodies`], framed into valid
/// chunks that replace the `changes` of the first update (or of the first result).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseInput {
    /// Make the request match the response.
    pub match_request: bool,
    /// Splice framed changes in.
    pub framed: bool,
}

impl ResponseInput {
    /// A whole fuzz input: the selector byte, the response body, and (when `framed`) a NUL
    /// and the bodies.
    pub fn input(self, response: &SyncResponse, bodies: &[Vec<u8>]) -> Vec<u8> {
        let mut out = vec![u8::from(self.match_request) | u8::from(self.framed) << 1];
        out.extend_from_slice(&protocol::encode_response(response));
        if self.framed {
            out.push(0);
            out.extend_from_slice(&encode_bodies(bodies));
        }
        out
    }
}

/// Applies a response built from `data` (see [`ResponseInput`]) to the fixed phone, as the
/// app does. It must refuse or apply, never panic; after applying, the phone's next request
/// must encode and decode, and its snapshot must restore.
pub fn apply_response(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let match_request = selector & 1 != 0;
    let framed = selector & 2 != 0;
    let (body, spliced) = match (framed, rest.iter().position(|&b| b == 0)) {
        (true, Some(nul)) => (&rest[..nul], Some(decode_bodies(&rest[nul + 1..]))),
        _ => (rest, None),
    };
    let Ok(mut response) = protocol::decode_response(body) else {
        return;
    };
    if let Some(changes) = spliced {
        if let Some(update) = response.updates.first_mut() {
            update.changes = Bytes(changes);
        } else if let Some(result) = response.docs.first_mut() {
            result.changes = Bytes(changes);
        }
    }
    let f = fixtures();
    let mut replica = f.replica.clone();
    let mut request = replica.build_request();
    if match_request {
        request.docs = response
            .docs
            .iter()
            .map(|result| DocPush {
                id: result.id.clone(),
                kind: replica
                    .document(&result.id)
                    .map_or(RecordKind::Household, Document::kind),
                base_heads: Vec::new(),
                changes: Bytes::default(),
            })
            .collect();
    }
    if replica.apply_response(&request, &response).is_err() {
        return;
    }
    let next = replica.build_request();
    assert_eq!(
        protocol::decode_request(&protocol::encode_request(&next)).ok(),
        Some(next),
        "the next request does not survive encoding"
    );
    if let Err(e) = Replica::restore(replica.snapshot(), f.ctx.clone()) {
        panic!("the phone's snapshot does not restore: {e}");
    }
}

// ---------------------------------------------------------------------------------------------
// Seeds
// ---------------------------------------------------------------------------------------------

/// How deep a JSON value nests (a scalar: 0; an object of scalars: 1), counted without
/// recursion.
fn json_depth(value: &serde_json::Value) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(value, 0)];
    while let Some((value, depth)) = stack.pop() {
        deepest = deepest.max(depth);
        match value {
            serde_json::Value::Object(map) => stack.extend(map.values().map(|v| (v, depth + 1))),
            serde_json::Value::Array(items) => stack.extend(items.iter().map(|v| (v, depth + 1))),
            _ => {}
        }
    }
    deepest
}

/// Every change of `doc` plus one by `device` that nests `levels` maps under the key
/// `unknown` (the first of them `width` keys wide).
fn hostile_shape(doc: &Document, device: &DeviceId, levels: usize, width: usize) -> Vec<u8> {
    use automerge::transaction::Transactable;
    let mut am = doc.automerge().fork().with_actor(actor(device));
    let mut tx = am.transaction();
    if let Ok(mut obj) = tx.put_object(automerge::ROOT, "unknown", automerge::ObjType::Map) {
        for i in 0..width {
            let _ = tx.put(&obj, format!("k{i}"), i as i64);
        }
        for _ in 1..levels {
            match tx.put_object(&obj, "x", automerge::ObjType::Map) {
                Ok(inner) => obj = inner,
                Err(_) => break,
            }
        }
    }
    tx.commit();
    am.save_after(&[])
}

/// Valid inputs for every target, by target name and file name: the seeds in `corpus/`
/// (written by `cargo run --example write_seeds`).
pub fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let f = fixtures();
    let mut out = Vec::new();
    let mut add = |target: &'static str, name: &str, data: Vec<u8>| {
        out.push((target, name.to_owned(), data));
    };
    let all_new = Bytes(f.new_household.automerge().save_after(&[]));

    // Pushes: one per scenario, raw and framed, and a few refusals.
    let pushes = [
        ("household_edit", Scenario::Household, &f.household_edit),
        ("case_comment", Scenario::Case, &f.case_comment),
        ("case_accept", Scenario::CaseBySupervisor, &f.case_accept),
        ("new_household", Scenario::New, &all_new.0),
    ];
    let push_input = |scenario, framed, base| PushInput {
        scenario,
        framed,
        base,
        other_kind: false,
    };
    for (name, scenario, changes) in pushes {
        let raw = push_input(scenario, false, Base::Heads).input(changes);
        let framed =
            push_input(scenario, true, Base::Heads).input(&encode_bodies(&bodies(changes)));
        add("apply_push", &format!("{name}_raw"), raw);
        add("apply_push", &format!("{name}_framed"), framed);
    }
    add(
        "apply_push",
        "household_edit_unknown_base",
        push_input(Scenario::Household, false, Base::Unknown).input(&f.household_edit),
    );
    // Hostile shapes: a new household with maps nested 300 deep, or 500 keys wide, under a
    // key no record has (refused before anything walks them: sync_core::shape).
    for (name, levels, width) in [
        ("new_household_deep", 300, 0),
        ("new_household_wide", 1, 500),
    ] {
        let changes = hostile_shape(&f.new_household, &f.worker.device, levels, width);
        add(
            "apply_push",
            &format!("{name}_raw"),
            push_input(Scenario::New, false, Base::Heads).input(&changes),
        );
        add(
            "apply_push",
            &format!("{name}_framed"),
            push_input(Scenario::New, true, Base::Heads).input(&encode_bodies(&bodies(&changes))),
        );
    }
    add(
        "apply_push",
        "household_fetch",
        push_input(Scenario::Household, false, Base::Empty).input(&[]),
    );
    add(
        "apply_push",
        "case_comment_by_supervisor",
        push_input(Scenario::CaseBySupervisor, true, Base::Root)
            .input(&encode_bodies(&bodies(&f.case_comment))),
    );

    // Requests: the phone's request, a whole-document push and a bare one.
    let request = f.replica.build_request();
    add(
        "decode_request",
        "phone_request",
        protocol::encode_request(&request),
    );
    let full = SyncRequest::new(
        f.worker.device.clone(),
        Some(Cursor::new("v1:dzk-01=7,dzk-02=0")),
        vec![
            DocPush {
                id: f.new_household.id().clone(),
                kind: RecordKind::Household,
                base_heads: Vec::new(),
                changes: all_new.clone(),
            },
            DocPush {
                id: f.case.doc.id().clone(),
                kind: RecordKind::Case,
                base_heads: f.case.doc.heads(),
                changes: Bytes(f.case_comment.clone()),
            },
        ],
    );
    add(
        "decode_request",
        "two_docs",
        protocol::encode_request(&full),
    );
    add(
        "decode_request",
        "first_sync",
        protocol::encode_request(&SyncRequest::new(f.worker.device.clone(), None, Vec::new())),
    );

    // Change chunks.
    add("split_changes", "household_edit", f.household_edit.clone());
    add("split_changes", "case_accept", f.case_accept.clone());
    add("split_changes", "new_household", all_new.0.clone());

    // Responses to the phone's request: accepted with an update, need_full with a new record,
    // rejected.
    let household_id = f.household.doc.id().clone();
    let accepted = SyncResponse {
        protocol: PROTOCOL_VERSION,
        cursor: Cursor::new("v1:dzk-01=4"),
        docs: vec![DocResult {
            id: household_id.clone(),
            status: DocStatus::Ok,
            heads: f.household_edited.heads(),
            changes: Bytes::default(),
            error: None,
        }],
        updates: vec![DocUpdate {
            id: f.case.doc.id().clone(),
            kind: RecordKind::Case,
            heads: f.case_accepted.heads(),
            changes: Bytes(f.case_accept.clone()),
        }],
        more: false,
        removed: Vec::new(),
    };
    let need_full = SyncResponse {
        protocol: PROTOCOL_VERSION,
        cursor: Cursor::new("v1:dzk-01=5"),
        docs: vec![DocResult {
            id: household_id.clone(),
            status: DocStatus::NeedFull,
            heads: f.household.doc.heads(),
            changes: Bytes::default(),
            error: Some(PushError::new(
                protocol::codes::MISSING_DEPENDENCIES,
                "send the whole document",
            )),
        }],
        updates: vec![server::update_for(&f.new_household, &[])],
        more: true,
        removed: Vec::new(),
    };
    let rejected = SyncResponse {
        protocol: PROTOCOL_VERSION,
        cursor: Cursor::new("v1:dzk-01=4"),
        docs: vec![DocResult::rejected(
            household_id,
            PushError::new(protocol::codes::FORBIDDEN, "outside your scope"),
        )],
        updates: Vec::new(),
        more: false,
        removed: Vec::new(),
    };
    let plain = ResponseInput {
        match_request: false,
        framed: false,
    };
    let deep = hostile_shape(&f.new_household, &f.supervisor.device, 300, 0);
    let deep_update = SyncResponse {
        protocol: PROTOCOL_VERSION,
        cursor: Cursor::new("v1:dzk-01=6"),
        docs: Vec::new(),
        updates: vec![DocUpdate {
            id: f.new_household.id().clone(),
            kind: RecordKind::Household,
            heads: Vec::new(),
            changes: Bytes(deep),
        }],
        more: false,
        removed: Vec::new(),
    };
    add(
        "apply_response",
        "deep_update",
        plain.input(&deep_update, &[]),
    );
    add("apply_response", "accepted", plain.input(&accepted, &[]));
    add("apply_response", "need_full", plain.input(&need_full, &[]));
    add("apply_response", "rejected", plain.input(&rejected, &[]));
    add(
        "apply_response",
        "accepted_framed",
        ResponseInput {
            match_request: true,
            framed: true,
        }
        .input(&accepted, &bodies(&f.case_accept)),
    );
    for (name, response) in [("accepted", &accepted), ("need_full", &need_full)] {
        add(
            "decode_request",
            &format!("response_{name}"),
            protocol::encode_response(response),
        );
    }
    out
}
