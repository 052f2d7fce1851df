//! The server side of sync, without I/O: what to do with one pushed document
//! ([`apply_push`]), what to send a device ([`update_for`]), and [`MemoryServer`], a complete
//! in-memory reference of the storage side for tests and benchmarks.
//!
//! The real server wraps [`apply_push`] in a database transaction: load the stored document,
//! call it, and on [`PushOutcome::Accepted`] insert `new_changes` ("on conflict do nothing"),
//! store the merged document's heads (and its snapshot from time to time), and bump the
//! grid's sequence counter under a row lock so cursors stay commit-ordered. [`MemoryServer::sync`] shows the whole exchange.
//!
//! # Merges that break a rule
//! Each phone validates its own edits, but two valid edits can merge into a record that breaks
//! a rule (one phone records a move-in date, another a move-out date before it). Refusing the
//! second push would block that phone's sync forever, since its edit is already made and can
//! only be added to. So when the merged record is invalid but the pushing device's own view of
//! the record (what the server had of it, plus the pushed changes) is valid, the push is
//! accepted and [`AcceptedPush::merged_invalid`] reports the problem for a supervisor
//! to resolve. A push is rejected as `invalid_record` only when the device's own view breaks a
//! rule.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use automerge::{Automerge, Change, ChangeHash, ReadDoc};

use crate::doc::{Document, device_of_actor};
use crate::ids::{DeviceId, DocId, GridId, UserId};
use crate::models::{AnyRecord, Case, HouseholdPrivate, household_private};
use crate::protocol::{
    ApplyError, Bytes, ChangeBytesError, DocPush, DocResult, DocStatus, DocUpdate, GridCursor,
    MAX_CHANGE_BYTES_PER_DOC, MAX_DOCS_PER_REQUEST, MAX_HEADS_PER_DOC, MAX_NEW_CHANGES_PER_DOC,
    MAX_UPDATES_PER_RESPONSE, PROTOCOL_VERSION, PushError, SyncRequest, SyncResponse,
    apply_checked, codes, split_changes,
};
use crate::record::{Place, RecordKind, RecordMeta, Role};
use crate::validate::{RecordInvalid, ValidationContext};

/// Who is syncing, as the access token says. The server never takes this from the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The signed-in user.
    pub user: UserId,
    /// The device the token was issued to.
    pub device: DeviceId,
    /// The user's role.
    pub role: Role,
}

/// The caller's scope over records. The real server implements it from the place hierarchy.
/// Whoever may write a record may also read it.
pub trait Access {
    /// May the caller read this record?
    fn may_read(&self, meta: &RecordMeta) -> bool;
    /// May the caller's phone hold this record (receive it by sync, or fetch it with an empty
    /// push)? Narrower than reading for roles whose phones must not hold personal data
    /// ([`Role::syncs`]).
    fn may_sync(&self, meta: &RecordMeta) -> bool {
        self.may_read(meta)
    }
    /// May the caller's phone hold a document whose history holds personal data (see
    /// [`Role::syncs`])? Asked besides [`Access::may_sync`] for such documents, which only the
    /// server knows (`docs.personal_history`).
    fn may_hold_personal_history(&self) -> bool {
        true
    }
    /// May the caller add changes to this record, or create it?
    fn may_write(&self, meta: &RecordMeta) -> bool;
    /// The caller's department, for department staff (their events must name it).
    fn department(&self) -> Option<&crate::ids::DepartmentId> {
        None
    }
    /// May the caller's changes edit the record's fields and create records? When not, a
    /// push may only append case events to an existing record (supervisors through sync:
    /// their field edits go through the review API, which uses an access that allows them).
    fn may_edit_fields(&self, _meta: &RecordMeta) -> bool {
        true
    }
}

/// A stored record as the server keeps it in memory: the document, the typed record read from
/// it (when readable) and its scope facts. Reading a record costs about as much as applying a
/// small push, so the server caches this rather than the bare document.
#[derive(Debug, Clone)]
pub struct StoredRecord {
    /// The merged document.
    pub doc: Document,
    /// The record's fields as JSON ([`Document::record_json`]): what the review API shows
    /// (masked) and the query indexes are computed from.
    pub json: serde_json::Value,
    /// The typed record, unless a merge left it unreadable (see the module docs).
    pub record: Option<AnyRecord>,
    /// Scope facts; `None` only when even the place cannot be read.
    pub meta: Option<RecordMeta>,
    /// Whether the document's history holds personal data (a household written before the
    /// private documents, or edited since by a phone of that layout): sticky, since deleting
    /// a value keeps it in the history. Such a document reaches only the phones of roles that
    /// hold personal data ([`Access::may_hold_personal_history`]).
    pub personal_history: bool,
}

impl StoredRecord {
    /// Reads the record and its scope facts from a document.
    pub fn new(doc: Document) -> Self {
        let json = doc.record_json();
        let record = AnyRecord::from_json(&doc, &json).ok();
        Self::with_record(doc, json, record)
    }

    fn with_record(doc: Document, json: serde_json::Value, record: Option<AnyRecord>) -> Self {
        let meta = match &record {
            Some(r) => Some(r.meta()),
            None => record_meta(&doc),
        };
        Self {
            doc,
            json,
            record,
            meta,
            personal_history: false,
        }
    }

    /// The same record with its `personal_history` flag (as the server stores it).
    pub fn with_personal_history(mut self, personal_history: bool) -> Self {
        self.personal_history = personal_history;
        self
    }

    /// May a caller with `access` hold this document on their phone?
    pub fn may_sync(&self, access: &dyn Access) -> bool {
        self.meta.as_ref().is_some_and(|meta| access.may_sync(meta))
            && (!self.personal_history || access.may_hold_personal_history())
    }
}

/// What to do with one pushed document.
#[derive(Debug)]
pub enum PushOutcome {
    /// Persist the new changes (possibly none: a retry) and the document; answer the result.
    Accepted(Box<AcceptedPush>),
    /// Store nothing; answer `result` (rejected or need_full).
    Refused {
        /// The answer for the device.
        result: DocResult,
    },
}

/// An accepted push: what to persist and what to answer.
#[derive(Debug)]
pub struct AcceptedPush {
    /// The stored record merged with the push (document, typed record, scope facts).
    pub stored: StoredRecord,
    /// The pushed changes the store did not have, dependencies first. Empty on a retry.
    pub new_changes: Vec<Change>,
    /// Scope facts of the merged record.
    pub meta: RecordMeta,
    /// Set when the merged record breaks a rule that the device's own view does not (see the
    /// module docs); the record should be shown to a supervisor as a conflict.
    pub merged_invalid: Option<RecordInvalid>,
    /// The answer for the device (status ok).
    pub result: DocResult,
}

impl PushOutcome {
    /// The answer for the device.
    pub fn result(&self) -> &DocResult {
        match self {
            Self::Accepted(accepted) => &accepted.result,
            Self::Refused { result } => result,
        }
    }

    /// True when the store must be written.
    pub fn is_accepted(&self) -> bool {
        matches!(self, Self::Accepted(_))
    }
}

/// A refusal inside the decision steps (boxed: results are large).
type Refusal = Box<DocResult>;

/// Decides what to do with one pushed document. Pure: the caller loads `stored` and persists
/// the outcome. Applying the same push twice gives an accepted outcome without new changes
/// and the same result, so retries are idempotent.
///
/// Steps, in order (the first that fails decides):
/// 1. per-document limits (`too_large`: bytes, base heads, and at most
///    [`MAX_NEW_CHANGES_PER_DOC`] changes new to the server); split the change bytes
///    (`corrupt`);
/// 2. with a stored record: same kind (`wrong_kind`); the caller may write it when the push
///    brings new changes, or read it when not (`forbidden`);
/// 3. every base head is known (`need_full`);
/// 4. every new change was made by the caller's device (`foreign_change`);
/// 5. nothing new: answer from the stored document (a retry or a fetch);
/// 6. apply to a fork; no missing dependencies (`need_full`); a readable header of the pushed
///    id and kind;
/// 7. the merged record validates, keeps the update rules and speaks only for the caller —
///    or, failing that, the device's own view does (`invalid_record`, see the module docs);
/// 8. the caller may write the merged record (`forbidden`: a record can't leave one's scope);
/// 9. a caller who may not edit fields (a supervisor) only appended case events (`forbidden`).
pub fn apply_push(
    stored: Option<&StoredRecord>,
    push: &DocPush,
    caller: &Caller,
    access: &dyn Access,
    ctx: &ValidationContext,
) -> PushOutcome {
    match decide(stored, push, caller, access, ctx) {
        Ok(outcome) => outcome,
        Err(result) => PushOutcome::Refused { result: *result },
    }
}

/// `invalid_record` naming one field of the pushed document.
fn invalid_at(
    push: &DocPush,
    field: impl Into<String>,
    message: impl Into<String>,
) -> Box<DocResult> {
    Box::new(DocResult::rejected(
        push.id.clone(),
        PushError::invalid(&RecordInvalid::single(
            Some(push.id.clone()),
            Some(push.kind),
            field,
            message,
        )),
    ))
}

fn rejected(push: &DocPush, code: &str, message: impl Into<String>) -> Refusal {
    Box::new(DocResult::rejected(
        push.id.clone(),
        PushError::new(code, message),
    ))
}

fn need_full(push: &DocPush, stored: Option<&StoredRecord>, known: &[ChangeHash]) -> Refusal {
    let stored = stored.map(|s| &s.doc);
    Box::new(DocResult {
        id: push.id.clone(),
        status: DocStatus::NeedFull,
        heads: stored.map(Document::heads).unwrap_or_default(),
        changes: stored
            .map(|doc| changes_since(doc, known))
            .unwrap_or_default(),
        error: Some(PushError::new(
            codes::MISSING_DEPENDENCIES,
            "the server lacks changes this push depends on; send the whole document",
        )),
    })
}

fn decide(
    stored_record: Option<&StoredRecord>,
    push: &DocPush,
    caller: &Caller,
    access: &dyn Access,
    ctx: &ValidationContext,
) -> Result<PushOutcome, Refusal> {
    // 1. Limits and parsing.
    if push.changes.len() > MAX_CHANGE_BYTES_PER_DOC {
        return Err(rejected(
            push,
            codes::TOO_LARGE,
            format!("changes exceed {MAX_CHANGE_BYTES_PER_DOC} bytes"),
        ));
    }
    if push.base_heads.len() > MAX_HEADS_PER_DOC {
        return Err(rejected(
            push,
            codes::TOO_LARGE,
            format!("more than {MAX_HEADS_PER_DOC} base heads"),
        ));
    }
    let pushed = split_changes(push.changes.as_slice())
        .map_err(|e: ChangeBytesError| rejected(push, codes::CORRUPT, e.to_string()))?;
    let pushed_hashes: Vec<ChangeHash> = pushed.iter().map(Change::hash).collect();
    let stored = stored_record.map(|s| &s.doc);

    // 2. Kind and scope of the stored record.
    let mut seen_new = HashSet::new();
    let new_changes: Vec<Change> = pushed
        .iter()
        .filter(|c| {
            stored.is_none_or(|doc| !contains(doc.automerge(), &[c.hash()]))
                && seen_new.insert(c.hash())
        })
        .cloned()
        .collect();
    if new_changes.len() > MAX_NEW_CHANGES_PER_DOC {
        return Err(rejected(
            push,
            codes::TOO_LARGE,
            format!(
                "{} changes new to the server; one push may add at most {MAX_NEW_CHANGES_PER_DOC} \
                 (MAX_NEW_CHANGES_PER_DOC): send the first ones, then the rest in later requests",
                new_changes.len()
            ),
        ));
    }
    if let Some(record) = stored_record {
        if record.doc.kind() != push.kind {
            return Err(rejected(
                push,
                codes::WRONG_KIND,
                format!("the record is a {}, not a {}", record.doc.kind(), push.kind),
            ));
        }
        let allowed = match &record.meta {
            Some(_) if new_changes.is_empty() => record.may_sync(access),
            Some(meta) => access.may_write(meta),
            None => false,
        };
        if !allowed {
            return Err(rejected(
                push,
                codes::FORBIDDEN,
                "the record is outside your scope",
            ));
        }
    }

    // 3. Base heads.
    let base_known = match stored {
        Some(doc) => contains(doc.automerge(), &push.base_heads),
        None => push.base_heads.is_empty(),
    };
    let known: Vec<ChangeHash> = push
        .base_heads
        .iter()
        .chain(&pushed_hashes)
        .filter(|h| stored.is_some_and(|doc| contains(doc.automerge(), &[**h])))
        .copied()
        .collect();
    if !base_known {
        return Err(need_full(push, stored_record, &known));
    }

    // 4. Authorship of new changes.
    // The canonical first change of a household's private document names no device: anyone
    // may bring it, and only it (see `HouseholdPrivate::genesis`).
    if new_changes.iter().any(|c| {
        device_of_actor(c.actor_id()).as_ref() != Some(&caller.device)
            && !(push.kind == RecordKind::HouseholdPrivate
                && HouseholdPrivate::is_genesis(c, &push.id))
    }) {
        return Err(rejected(
            push,
            codes::FOREIGN_CHANGE,
            "a change new to the server was not made by this device",
        ));
    }

    // 5. Nothing new: a retry, or a fetch.
    match stored_record {
        Some(record) if new_changes.is_empty() => {
            let meta = record.meta.clone().ok_or_else(|| {
                rejected(push, codes::FORBIDDEN, "the record is outside your scope")
            })?;
            Ok(PushOutcome::Accepted(Box::new(AcceptedPush {
                stored: record.clone(),
                new_changes: Vec::new(),
                meta,
                merged_invalid: None,
                result: ok_result(push, &record.doc, &push.base_heads, &pushed_hashes),
            })))
        }
        _ => merge_and_check(
            stored_record,
            push,
            pushed,
            new_changes,
            &known,
            caller,
            access,
            ctx,
        ),
    }
}

#[allow(clippy::too_many_arguments)]
fn merge_and_check(
    stored_record: Option<&StoredRecord>,
    push: &DocPush,
    pushed: Vec<Change>,
    new_changes: Vec<Change>,
    known: &[ChangeHash],
    caller: &Caller,
    access: &dyn Access,
    ctx: &ValidationContext,
) -> Result<PushOutcome, Refusal> {
    if stored_record.is_none() && new_changes.is_empty() {
        return Err(rejected(
            push,
            codes::NOT_FOUND,
            "the server has no such record and the push carries no changes",
        ));
    }
    let pushed_hashes: Vec<ChangeHash> = pushed.iter().map(Change::hash).collect();
    let stored = stored_record.map(|s| &s.doc);

    // 6. Merge on a fork; the store is untouched until the caller persists.
    let mut merged_am = match stored {
        Some(doc) => doc.automerge().fork(),
        None => Automerge::new(),
    };
    apply_checked(&mut merged_am, &new_changes).map_err(|e| match e {
        ApplyError::Corrupt(reason) => rejected(push, codes::CORRUPT, reason),
        ApplyError::Shape(shape) => invalid_at(push, "(root)", shape.to_string()),
    })?;
    if !merged_am.get_missing_deps(&[]).is_empty() {
        return Err(need_full(push, stored_record, known));
    }
    match crate::shape::text_object_field(&merged_am, &new_changes) {
        Ok(None) => {}
        Ok(Some(field)) => {
            return Err(invalid_at(
                push,
                field,
                "is an Automerge Text object; text fields are string scalars \
                 (in Automerge JavaScript, write them as ImmutableString)",
            ));
        }
        Err(shape) => return Err(invalid_at(push, "(root)", shape.to_string())),
    }
    // Automerge must be able to send what it just took: a document whose new changes it
    // cannot collect again (found by fuzzing: a change graph missing a dependency that
    // `get_missing_deps` did not report) could never be synced to anyone afterwards.
    let stored_heads = stored.map(Document::heads).unwrap_or_default();
    let readable = crate::protocol::guard(|| merged_am.get_changes(&stored_heads).len());
    if readable.is_none_or(|n| n < new_changes.len()) {
        return Err(rejected(
            push,
            codes::CORRUPT,
            "the changes leave the document in a state Automerge cannot send again",
        ));
    }
    // The record's JSON is rendered from the merged document itself. (Bringing the stored
    // JSON up to date with the merge's patches was tried: it saved ~0.07 ms per record, but
    // a hostile change whose op overwrites an op of another key changes the document without
    // a patch for that key, and the JSON then validated was not the document's.)
    let merged = open_as(merged_am, push)?;
    let json = merged.record_json();

    // 7. Validation: the merged record, or failing that the device's own view.
    let before = stored_record.and_then(|s| s.record.as_ref());
    let (meta, record, merged_invalid) = match check_view(before, &merged, &json, caller, ctx) {
        Ok((meta, record)) => (meta, Some(record), None),
        Err(merged_problem) => {
            let own = stored
                .ok_or_else(|| merged_problem.clone())
                .and_then(|doc| device_view_check(doc, push, &pushed, &new_changes, caller, ctx));
            match own {
                Ok((own_meta, _)) => {
                    let record = AnyRecord::from_json(&merged, &json).ok();
                    let meta = match &record {
                        Some(r) => r.meta(),
                        None => record_meta(&merged).unwrap_or(own_meta),
                    };
                    (meta, record, Some(merged_problem))
                }
                Err(own_problem) => {
                    return Err(Box::new(DocResult::rejected(
                        push.id.clone(),
                        PushError::invalid(&own_problem),
                    )));
                }
            }
        }
    };

    // 8. Scope of the result.
    if !access.may_write(&meta) {
        return Err(rejected(
            push,
            codes::FORBIDDEN,
            "the record would be outside your scope",
        ));
    }

    // 9. Callers who may only append case events.
    if !access.may_edit_fields(&meta) {
        let only_events = match (before, record.as_ref()) {
            (Some(before), Some(after)) => AnyRecord::only_events_added(before, after),
            _ => false,
        };
        if !only_events {
            return Err(rejected(
                push,
                codes::FORBIDDEN,
                "you may only add case events to this record",
            ));
        }
    }

    let result = ok_result(push, &merged, &push.base_heads, &pushed_hashes);
    let personal_history = stored_record.is_some_and(|s| s.personal_history)
        || (push.kind == RecordKind::Household
            && new_changes.iter().any(household_private::names_legacy_key));
    Ok(PushOutcome::Accepted(Box::new(AcceptedPush {
        stored: StoredRecord::with_record(merged, json, record)
            .with_personal_history(personal_history),
        new_changes,
        meta,
        merged_invalid,
        result,
    })))
}

/// Wraps the merged Automerge document and checks it holds the pushed id and kind.
fn open_as(am: Automerge, push: &DocPush) -> Result<Document, Refusal> {
    let doc = Document::from_automerge(am).map_err(|e| {
        Box::new(DocResult::rejected(
            push.id.clone(),
            PushError {
                code: codes::INVALID_RECORD.to_owned(),
                message: "the document header is invalid".to_owned(),
                fields: vec![crate::protocol::FieldError {
                    field: "(root)".to_owned(),
                    message: e.to_string(),
                }],
            },
        ))
    })?;
    if doc.kind() != push.kind {
        return Err(rejected(
            push,
            codes::WRONG_KIND,
            format!("the document holds a {}, not a {}", doc.kind(), push.kind),
        ));
    }
    if doc.id() != &push.id {
        return Err(Box::new(DocResult::rejected(
            push.id.clone(),
            PushError {
                code: codes::INVALID_RECORD.to_owned(),
                message: "the document holds another record id".to_owned(),
                fields: vec![crate::protocol::FieldError {
                    field: "id".to_owned(),
                    message: "differs from the pushed id".to_owned(),
                }],
            },
        )));
    }
    Ok(doc)
}

/// Every rule for `after` as a successor of `before`: the kind's rules, the update rules and
/// the authorship of new case events.
fn check_view(
    before: Option<&AnyRecord>,
    after: &Document,
    after_json: &serde_json::Value,
    caller: &Caller,
    ctx: &ValidationContext,
) -> Result<(RecordMeta, AnyRecord), RecordInvalid> {
    let after_rec = AnyRecord::from_json(after, after_json)?;
    after_rec.check(ctx)?;
    if let Some(before_rec) = before {
        AnyRecord::check_update(before_rec, &after_rec)?;
    }
    AnyRecord::check_authorship(
        before,
        &after_rec,
        &caller.user,
        caller.role,
        &caller.device,
    )?;
    if let AnyRecord::Case(case) = &after_rec {
        let before = match before {
            Some(AnyRecord::Case(b)) => Some(b),
            _ => None,
        };
        Case::check_evidence(before, case, ctx)?;
    }
    Ok((after_rec.meta(), after_rec))
}

/// Checks the device's own view: the part of the stored document the device built on (every
/// stored ancestor of its base heads and pushed changes), then the new pushed changes on top.
fn device_view_check(
    stored: &Document,
    push: &DocPush,
    pushed: &[Change],
    new_changes: &[Change],
    caller: &Caller,
    ctx: &ValidationContext,
) -> Result<(RecordMeta, AnyRecord), RecordInvalid> {
    let am = stored.automerge();
    let mut seen = HashSet::new();
    let tips: Vec<ChangeHash> = push
        .base_heads
        .iter()
        .copied()
        .chain(
            pushed
                .iter()
                .flat_map(|c| std::iter::once(c.hash()).chain(c.deps().iter().copied())),
        )
        .filter(|h| seen.insert(*h) && contains(am, &[*h]))
        .collect();
    let unreadable = |what: &str| {
        RecordInvalid::single(
            Some(push.id.clone()),
            Some(push.kind),
            "(root)",
            format!("the device's {what} could not be rebuilt"),
        )
    };
    let base_am = if tips.is_empty() {
        None
    } else {
        Some(am.fork_at(&tips).map_err(|_| unreadable("base"))?)
    };
    let mut own_am = base_am.clone().unwrap_or_default();
    apply_checked(&mut own_am, new_changes).map_err(|_| unreadable("view"))?;
    let own = Document::from_automerge(own_am).map_err(|_| unreadable("view"))?;
    let base = base_am
        .and_then(|am| Document::from_automerge(am).ok())
        .and_then(|doc| AnyRecord::read(&doc).ok());
    check_view(base.as_ref(), &own, &own.record_json(), caller, ctx)
}

fn ok_result(
    push: &DocPush,
    doc: &Document,
    base_heads: &[ChangeHash],
    pushed: &[ChangeHash],
) -> DocResult {
    let have: Vec<ChangeHash> = base_heads.iter().chain(pushed).copied().collect();
    DocResult {
        id: push.id.clone(),
        status: DocStatus::Ok,
        heads: doc.heads(),
        changes: changes_since(doc, &have),
        error: None,
    }
}

/// True when `am` holds every change in `hashes` (applied, not merely queued).
fn contains(am: &Automerge, hashes: &[ChangeHash]) -> bool {
    am.get_missing_deps(hashes).is_empty()
}

/// Every change of `doc` that is not an ancestor of `known`, as concatenated raw chunks.
/// Hashes in `known` that the document lacks are ignored.
pub fn changes_since(doc: &Document, known: &[ChangeHash]) -> Bytes {
    // The common answer: the device already has everything (its heads cover ours).
    if doc.heads().iter().all(|h| known.contains(h)) {
        return Bytes::default();
    }
    let known: Vec<ChangeHash> = known
        .iter()
        .filter(|h| contains(doc.automerge(), &[**h]))
        .copied()
        .collect();
    Bytes::from_changes(&doc.automerge().get_changes(&known))
}

/// The update for a device that has `known_heads` of `doc` (`[]` for a device that has none of
/// it): the server's heads and every change the device lacks.
pub fn update_for(doc: &Document, known_heads: &[ChangeHash]) -> DocUpdate {
    DocUpdate {
        id: doc.id().clone(),
        kind: doc.kind(),
        heads: doc.heads(),
        changes: changes_since(doc, known_heads),
    }
}

/// Scope facts of a stored document, even when a merge left it breaking a rule: falls back to
/// reading `place`, `liaison_group` and `confidential` directly. `None` when even the place
/// cannot be read (then nobody but an administrator tool should touch it).
pub fn record_meta(doc: &Document) -> Option<RecordMeta> {
    if let Ok(record) = AnyRecord::read(doc) {
        return Some(record.meta());
    }
    let json = doc.json();
    let place: Place = serde_json::from_value(json.get("place")?.clone()).ok()?;
    let liaison_group = json
        .get("liaison_group")
        .and_then(serde_json::Value::as_str)
        .and_then(|s| s.parse().ok());
    // When unreadable, assume a case is confidential: hiding too much is the safe mistake.
    let confidential = match json.get("confidential") {
        Some(serde_json::Value::Bool(b)) => *b,
        _ => doc.kind() == RecordKind::Case,
    };
    Some(RecordMeta {
        id: doc.id().clone(),
        kind: doc.kind(),
        place,
        liaison_group,
        confidential,
        // Unreadable: no department is let in (hiding too much is the safe mistake).
        departments: Vec::new(),
    })
}

// ---------------------------------------------------------------------------------------------
// MemoryServer
// ---------------------------------------------------------------------------------------------

/// A whole request refused: nothing was applied. The real server answers these with an HTTP
/// error status (see `docs/sync-protocol.md`); per-document problems are [`DocResult`]s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    /// The request's `protocol` is not [`PROTOCOL_VERSION`].
    #[error("unsupported protocol version {0}")]
    UnsupportedVersion(u32),
    /// More than [`MAX_DOCS_PER_REQUEST`] documents.
    #[error("{0} documents in one request; at most {MAX_DOCS_PER_REQUEST} are allowed")]
    TooManyDocs(usize),
    /// The same document twice in one request.
    #[error("document {0} appears twice in the request")]
    DuplicateDoc(DocId),
    /// The body names another device than the token.
    #[error("the request's device differs from the signed-in device")]
    DeviceMismatch,
    /// The user is unknown or their role differs from the token's.
    #[error("the caller is not a known user with this role")]
    NotAuthorized,
    /// The cursor is not one this server gave out.
    #[error("bad cursor: {0}")]
    BadCursor(#[from] crate::protocol::CursorError),
}

impl SyncError {
    /// The `error.code` of the HTTP error body.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnsupportedVersion(_) => "unsupported_protocol",
            Self::TooManyDocs(_) => "too_many_docs",
            Self::DuplicateDoc(_) => "duplicate_doc",
            Self::DeviceMismatch => "device_mismatch",
            Self::NotAuthorized => "forbidden",
            Self::BadCursor(_) => "bad_cursor",
        }
    }
}

/// The scope [`MemoryServer`] gives a user: the grids they work in, and what their role may do
/// there.
///
/// What the role may do is [`Role::reads`], [`Role::syncs`] and [`Role::writes`] (the real server narrows
/// liaisons further, to their group).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GridScope {
    /// The user's role.
    pub role: Role,
    /// The grids the user works in.
    pub grids: BTreeSet<GridId>,
}

impl Access for GridScope {
    fn may_read(&self, meta: &RecordMeta) -> bool {
        self.grids.contains(&meta.place.grid) && self.role.reads(meta.kind, meta.confidential)
    }

    fn may_sync(&self, meta: &RecordMeta) -> bool {
        self.may_read(meta) && self.role.syncs(meta.kind, meta.confidential)
    }

    fn may_hold_personal_history(&self) -> bool {
        self.role.holds_personal_history()
    }

    fn may_write(&self, meta: &RecordMeta) -> bool {
        self.grids.contains(&meta.place.grid) && self.role.writes(meta.kind)
    }

    fn may_edit_fields(&self, _meta: &RecordMeta) -> bool {
        self.role.edits_fields()
    }
}

#[derive(Debug, Clone)]
struct StoredDoc {
    record: StoredRecord,
    meta: RecordMeta,
    merged_invalid: Option<RecordInvalid>,
}

#[derive(Debug, Clone)]
struct LogEntry {
    seq: u64,
    doc: DocId,
    hashes: Vec<ChangeHash>,
}

#[derive(Debug, Clone, Default)]
struct GridLog {
    seq: u64,
    entries: Vec<LogEntry>,
}

/// A reference server that keeps everything in memory: documents, an append-only change log
/// with per-grid sequence numbers, and users with their [`GridScope`]. Single-threaded
/// (`&mut self`), so its sequence numbers are trivially commit-ordered. `Clone` takes a
/// snapshot, which tests use to simulate restoring a backup.
#[derive(Debug, Clone)]
pub struct MemoryServer {
    ctx: ValidationContext,
    users: BTreeMap<UserId, GridScope>,
    docs: BTreeMap<DocId, StoredDoc>,
    grids: BTreeMap<GridId, GridLog>,
    change_count: usize,
    max_updates: usize,
}

impl Default for MemoryServer {
    fn default() -> Self {
        Self::new(ValidationContext::default())
    }
}

impl MemoryServer {
    /// An empty server validating with `ctx`.
    pub fn new(ctx: ValidationContext) -> Self {
        Self {
            ctx,
            users: BTreeMap::new(),
            docs: BTreeMap::new(),
            grids: BTreeMap::new(),
            change_count: 0,
            max_updates: MAX_UPDATES_PER_RESPONSE,
        }
    }

    /// Registers (or replaces) a user with their role and grids.
    pub fn add_user(&mut self, user: UserId, role: Role, grids: impl IntoIterator<Item = GridId>) {
        let grids = grids.into_iter().collect();
        self.users.insert(user, GridScope { role, grids });
    }

    /// Caps the documents per response's `updates` (default [`MAX_UPDATES_PER_RESPONSE`]).
    pub fn set_max_updates(&mut self, max: usize) {
        self.max_updates = max.max(1);
    }

    /// A stored document.
    pub fn document(&self, id: &DocId) -> Option<&Document> {
        self.docs.get(id).map(|s| &s.record.doc)
    }

    /// Every stored document's id.
    pub fn doc_ids(&self) -> Vec<DocId> {
        self.docs.keys().cloned().collect()
    }

    /// How many changes are stored, over all documents.
    pub fn change_count(&self) -> usize {
        self.change_count
    }

    /// The last sequence number handed out in `grid` (0 if none).
    pub fn grid_seq(&self, grid: &GridId) -> u64 {
        self.grids.get(grid).map_or(0, |g| g.seq)
    }

    /// The problem of a document whose merged state breaks a rule (see [`PushOutcome`]).
    pub fn merged_invalid(&self, id: &DocId) -> Option<&RecordInvalid> {
        self.docs.get(id)?.merged_invalid.as_ref()
    }

    /// One whole sync exchange: applies every push, stores what is new, and returns the
    /// results with the updates the caller lacks and the new cursor.
    pub fn sync(
        &mut self,
        caller: &Caller,
        request: &SyncRequest,
    ) -> Result<SyncResponse, SyncError> {
        if request.protocol != PROTOCOL_VERSION {
            return Err(SyncError::UnsupportedVersion(request.protocol));
        }
        if request.docs.len() > MAX_DOCS_PER_REQUEST {
            return Err(SyncError::TooManyDocs(request.docs.len()));
        }
        if request.device != caller.device {
            return Err(SyncError::DeviceMismatch);
        }
        let scope = match self.users.get(&caller.user) {
            Some(scope) if scope.role == caller.role => scope.clone(),
            _ => return Err(SyncError::NotAuthorized),
        };
        let cursor = match &request.cursor {
            Some(c) => GridCursor::decode(c)?,
            None => GridCursor::default(),
        };
        let mut seen = BTreeSet::new();
        for push in &request.docs {
            if !seen.insert(&push.id) {
                return Err(SyncError::DuplicateDoc(push.id.clone()));
            }
        }

        let mut results = Vec::with_capacity(request.docs.len());
        let mut accepted = BTreeSet::new();
        for push in &request.docs {
            let stored = self.docs.get(&push.id).map(|s| &s.record);
            let outcome = apply_push(stored, push, caller, &scope, &self.ctx);
            match outcome {
                PushOutcome::Accepted(a) => {
                    let AcceptedPush {
                        stored: document,
                        new_changes,
                        meta,
                        merged_invalid,
                        result,
                    } = *a;
                    accepted.insert(push.id.clone());
                    self.store(document, new_changes, meta, merged_invalid);
                    results.push(result);
                }
                PushOutcome::Refused { result } => results.push(result),
            }
        }

        let (updates, new_cursor, more) = self.updates_since(&scope, &cursor, &accepted);
        Ok(SyncResponse {
            protocol: PROTOCOL_VERSION,
            cursor: new_cursor.encode(),
            docs: results,
            updates,
            more,
            removed: Vec::new(),
        })
    }

    fn store(
        &mut self,
        record: StoredRecord,
        new_changes: Vec<Change>,
        meta: RecordMeta,
        merged_invalid: Option<RecordInvalid>,
    ) {
        if new_changes.is_empty() {
            return;
        }
        let id = record.doc.id().clone();
        let moved = self
            .docs
            .get(&id)
            .is_some_and(|s| s.meta.place.grid != meta.place.grid);
        // A record that enters a grid is announced there whole: devices of that grid have
        // none of its earlier changes, which were logged under the old grid.
        let hashes = if moved {
            record
                .doc
                .automerge()
                .get_changes(&[])
                .iter()
                .map(Change::hash)
                .collect()
        } else {
            new_changes.iter().map(Change::hash).collect()
        };
        self.change_count += new_changes.len();
        let log = self.grids.entry(meta.place.grid.clone()).or_default();
        log.seq += 1;
        log.entries.push(LogEntry {
            seq: log.seq,
            doc: id.clone(),
            hashes,
        });
        self.docs.insert(
            id,
            StoredDoc {
                record,
                meta,
                merged_invalid,
            },
        );
    }

    /// The updates for a caller at `cursor`: per grid in scope, every logged change after the
    /// cursor's sequence number, grouped by document, skipping documents accepted in this
    /// request (their results carry what the device lacks).
    fn updates_since(
        &self,
        scope: &GridScope,
        cursor: &GridCursor,
        accepted: &BTreeSet<DocId>,
    ) -> (Vec<DocUpdate>, GridCursor, bool) {
        let mut updates = Vec::new();
        let mut next = GridCursor::default();
        let mut more = false;
        for grid in &scope.grids {
            let Some(log) = self.grids.get(grid) else {
                next.0.insert(grid.clone(), 0);
                continue;
            };
            let mut from = cursor.get(grid);
            if from > log.seq {
                // A cursor from the future: the server was restored from a backup. Send the
                // whole grid rather than miss what the backup lacks.
                from = 0;
            }
            if more {
                next.0.insert(grid.clone(), from);
                continue;
            }
            let start = log.entries.partition_point(|e| e.seq <= from);
            let mut order: Vec<&DocId> = Vec::new();
            let mut hashes: BTreeMap<&DocId, Vec<ChangeHash>> = BTreeMap::new();
            let mut last = from;
            for entry in &log.entries[start..] {
                if !accepted.contains(&entry.doc) {
                    if !hashes.contains_key(&entry.doc) {
                        if updates.len() + order.len() >= self.max_updates {
                            more = true;
                            break;
                        }
                        order.push(&entry.doc);
                    }
                    hashes
                        .entry(&entry.doc)
                        .or_default()
                        .extend(entry.hashes.iter().copied());
                }
                last = entry.seq;
            }
            next.0.insert(grid.clone(), last);
            for id in order {
                let Some(stored) = self.docs.get(id) else {
                    continue;
                };
                if &stored.meta.place.grid != grid || !stored.record.may_sync(scope) {
                    continue;
                }
                let mut seen = HashSet::new();
                let changes: Vec<Change> = hashes[id]
                    .iter()
                    .filter(|h| seen.insert(**h))
                    .filter_map(|h| stored.record.doc.automerge().get_change_by_hash(h))
                    .collect();
                updates.push(DocUpdate {
                    id: id.clone(),
                    kind: stored.record.doc.kind(),
                    heads: stored.record.doc.heads(),
                    changes: Bytes::from_changes(&changes),
                });
            }
        }
        (updates, next, more)
    }
}
