//! [`Phone`]: one installation's records, session and sync, as one UniFFI object.
//!
//! Every method is a thin delegate: editing, validation, merge, conflicts, history and the
//! sync protocol are sync-core's ([`Replica`]); this module adds only what a phone needs
//! around it: the durable store ([`crate::store`]), the session, and HTTP ([`crate::http`]).
//!
//! Locks: `state` guards the replica and the store and is held only for local work, never
//! across the network; `net` serialises network calls (sign-in, token refresh, sync), so a
//! second `sync()` waits for the first, and edits go on while a sync is on the wire (the
//! replica keeps edits made after a request was built pending).

#![deny(unsafe_code)]

mod blobs;

pub use blobs::{AttachOptions, AttachSource, AttachmentStatus, BlobState};

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, AtomicU64};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use automerge::ChangeHash;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sync_core::client::{DocOutcome, Replica, ReplicaSnapshot, SavedDoc};
use sync_core::conflicts;
use sync_core::deadline::{DeadlinePolicy, WorkCalendar};
use sync_core::doc::{Document, actor_for_device};
use sync_core::history;
use sync_core::ids::{
    CommunityId, DepartmentId, DeviceId, DocId, GridId, ItemId, LiaisonGroupId, UserId,
};
use sync_core::models::asset::{Asset, LedgerDirection, LedgerEntry};
use sync_core::models::case::{CaseAction, CaseKind, SupervisionLevel, Urgency};
use sync_core::models::report::{Triage, TriageDecision};
use sync_core::models::{
    Activity, AnyRecord, Case, Household, HouseholdPrivate, Patrol, Report, Visit,
    household_private,
};
use sync_core::protocol::{
    Bytes, Cursor, PushError, SyncRequest, decode_request, decode_response, encode_request,
};
use sync_core::record::{Place, Record, RecordKind, Role};
use sync_core::tasks;
use sync_core::time::{Date, Timestamp};
use sync_core::validate::ValidationContext;
use sync_core::workflow;

use crate::error::{FieldViolation, GridbookError};
use crate::http::{Answer, Http};
use crate::store::{Projection, Store};

/// Round trips one `sync()` makes at most before it returns with `more` set.
const MAX_ROUNDS: u32 = 32;
/// An access token this close to expiry is refreshed before use.
const REFRESH_MARGIN_MS: i64 = 60_000;
/// The sync endpoint.
const SYNC_PATH: &str = "/v1/sync";

/// The signed-in user, as the server described them at sign-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, uniffi::Record)]
pub struct Account {
    /// The user's id (case events and visits name it).
    pub user_id: UserId,
    /// Login name.
    pub login: String,
    /// Display name.
    pub display_name: String,
    /// Role.
    pub role: Role,
    /// Community, if the role has one.
    pub community: Option<CommunityId>,
    /// Grid, for a grid worker.
    pub grid: Option<GridId>,
    /// Liaison group, for a household liaison.
    pub liaison_group: Option<LiaisonGroupId>,
    /// Department (站所), for department staff.
    #[serde(default)]
    pub department: Option<DepartmentId>,
    /// The server signed in to.
    pub server: String,
    /// An administrator reset the password: until `change_password` succeeds, the server
    /// refuses everything else with `PasswordChangeRequired`.
    #[serde(default)]
    pub must_change_password: bool,
}

/// Tokens and account, kept in the store.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Session {
    account: Account,
    access_token: String,
    access_expires_at_ms: i64,
    refresh_token: String,
}

/// The server's answer to a sign-in or refresh (the parts the phone keeps).
#[derive(Debug, Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: u64,
    refresh_token: String,
    device_id: DeviceId,
    user: UserAnswer,
    #[serde(default)]
    must_change_password: bool,
}

#[derive(Debug, Deserialize)]
struct UserAnswer {
    id: UserId,
    login: String,
    display_name: String,
    role: Role,
    community: Option<CommunityId>,
    grid: Option<GridId>,
    liaison_group: Option<LiaisonGroupId>,
    #[serde(default)]
    department: Option<DepartmentId>,
}

/// One record in a list.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RecordSummary {
    /// Record id.
    pub id: DocId,
    /// Its kind.
    pub kind: RecordKind,
    /// Grid, when the record has one.
    pub grid: Option<GridId>,
    /// A one-line title (address, subject, summary, route, ...).
    pub title: String,
    /// Has edits the server has not confirmed yet.
    pub pending: bool,
    /// Holds concurrent values (or case events made illegal by a merge) to look at.
    pub has_conflicts: bool,
    /// The server refused this phone's last push of it (see [`Phone::record`]).
    pub rejected: bool,
    /// When the phone last saved it, ms since the epoch.
    pub saved_at_ms: i64,
}

/// A record of any kind with its version, JSON view and sync state.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RecordEntry {
    /// Record id.
    pub id: DocId,
    /// Its kind.
    pub kind: RecordKind,
    /// The version shown; pass it back with an edit made from this view.
    pub version: String,
    /// The merged record as JSON (personal data unmasked: this is the worker's own phone).
    pub json: String,
    /// Has edits the server has not confirmed yet.
    pub pending: bool,
    /// Number of fields holding concurrent values.
    pub conflicts: u32,
    /// The server's last refusal of this phone's edits, if any.
    pub rejection: Option<Rejection>,
}

/// The server refused a record's push: the local edits stay and are offered again.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Rejection {
    /// The record.
    pub id: DocId,
    /// Machine-readable code (`invalid_record`, `forbidden`, ...).
    pub code: String,
    /// Sentence for logs.
    pub message: String,
    /// For `invalid_record`: the broken rules.
    pub violations: Vec<FieldViolation>,
}

/// One competing value of a conflicted field.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ConflictedValue {
    /// The value as JSON.
    pub json: String,
    /// The device that wrote it, when known.
    pub device_id: Option<String>,
    /// The writing device's clock, ms since the epoch.
    pub at_ms: Option<i64>,
    /// The value shown until someone resolves the conflict.
    pub shown: bool,
}

/// A field holding more than one concurrently written value.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FieldConflict {
    /// The field, e.g. `residents[1].phone`.
    pub field: String,
    /// Every value, the shown one first.
    pub values: Vec<ConflictedValue>,
}

/// Everything in a record to look at after a merge.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ConflictList {
    /// Fields with concurrent values.
    pub fields: Vec<FieldConflict>,
    /// Case events kept in the log but not legal once merged (cases only), as sentences.
    pub illegal_events: Vec<String>,
}

/// One change of a record.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HistoryItem {
    /// The change's hash.
    pub change: String,
    /// The device that made it, when known.
    pub device_id: Option<String>,
    /// The device's clock, ms since the epoch.
    pub at_ms: Option<i64>,
    /// The author's message, if any.
    pub message: Option<String>,
    /// The fields it touched.
    pub fields: Vec<String>,
}

/// A case's state, folded from its event log.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CaseProgress {
    /// `draft`, `reported`, `accepted`, `in_progress`, `resolved`, `closed`, ...
    pub state: String,
    /// Who is to handle it.
    pub assignee: Option<UserId>,
    /// Raised to the street.
    pub escalated: bool,
    /// Number of events.
    pub events: u32,
}

/// A step of a case waiting for the signed-in user (待我处理), from [`Phone::my_tasks`].
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Task {
    /// The record: a case, or a liaison's report waiting for triage.
    pub record_id: DocId,
    /// `Case` or `Report`.
    pub kind: RecordKind,
    /// What the user is to do: for a case, pass it to `add_case_event`; for a report it is
    /// `Accept`: triage it with `triage_report` (accept it as a case or close it).
    pub action: CaseAction,
    /// Appeal, dispute or hazard (`None` for a report).
    pub case_kind: Option<CaseKind>,
    /// The case's subject, or what the report says.
    pub subject: String,
    /// The grid.
    pub grid: GridId,
    /// The case's state: `draft`, `reported`, `accepted`, `in_progress`, `resolved`,
    /// `verified`, `suspended` (`None` for a report).
    pub state: Option<String>,
    /// How urgent the case is.
    pub urgency: Urgency,
    /// The supervision (督办) the street set, if any: show it apart from the deadline.
    pub supervision: Option<SupervisionLevel>,
    /// The running step's deadline level: `on_time`, `yellow` (70 % of the time used) or
    /// `red` (overdue); `None` when no step runs (a draft, a verified case).
    pub deadline_level: Option<String>,
    /// When the running step is due.
    pub due_at: Option<Timestamp>,
    /// When the case was opened.
    pub opened_at: Timestamp,
}

/// What one `sync()` (or one applied response) did.
#[derive(Debug, Clone, Default, PartialEq, Eq, uniffi::Record)]
pub struct SyncSummary {
    /// HTTP round trips made.
    pub rounds: u32,
    /// Records whose edits the server took.
    pub accepted: u32,
    /// Records changed elsewhere and merged in.
    pub received: u32,
    /// Records the server refused, with the reasons.
    pub rejected: Vec<Rejection>,
    /// Another round trip is due now (the app that moves the bytes itself builds the next
    /// request; `sync()` sets it only when it stopped after its round limit).
    pub sync_again: bool,
    /// Records with unconfirmed edits after this sync.
    pub pending: u32,
    /// Attachments whose upload completed in this sync (`sync()` only).
    pub blobs_uploaded: u32,
    /// Attachments attached on this phone whose bytes the server does not hold completely
    /// yet (their record not synced yet, an interrupted upload, a refused file).
    pub blobs_pending: u32,
    /// Attachment bytes sent in this sync.
    pub blob_bytes_sent: u64,
    /// Thumbnails fetched for lists in this sync.
    pub thumbnails_fetched: u32,
    /// Why the attachments' part of the sync stopped early, if it did (the records' part
    /// succeeded all the same; the next sync goes on from there).
    pub blob_error: Option<String>,
}

/// A sync request for an app that moves the bytes itself.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PreparedSync {
    /// Pass it back to [`Phone::apply_sync_response`] with the response.
    pub request_id: String,
    /// POST the body to the server address followed by this path.
    pub path: String,
    /// The request body (JSON; send with `Content-Type: application/json`).
    pub body: Vec<u8>,
    /// Records pushed in it.
    pub records: u32,
}

struct State {
    store: Store,
    replica: Replica,
    session: Option<Session>,
}

/// One installation's local store, session and sync. Thread-safe; every method blocks
/// (call it off the UI thread).
#[derive(uniffi::Object)]
pub struct Phone {
    path: PathBuf,
    state: Mutex<State>,
    net: Mutex<Option<Http>>,
    /// Longest side of attached photos, in pixels.
    photo_max_side: AtomicU32,
    /// Quota of full-size attachment bytes kept on the phone.
    full_quota: AtomicU64,
}

impl std::fmt::Debug for Phone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Phone").field("path", &self.path).finish()
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn now() -> Timestamp {
    Timestamp::from_millis(now_ms())
}

fn ctx() -> ValidationContext {
    ValidationContext::default()
}

/// A version string ([`sync_core::doc::version_text`]).
fn version_of(heads: &[ChangeHash]) -> String {
    sync_core::doc::version_text(heads)
}

fn parse_version(version: &str) -> Result<Vec<ChangeHash>, GridbookError> {
    sync_core::doc::parse_version_text(version)
        .ok_or_else(|| GridbookError::conflict("the version is not one this library made"))
}

fn parse_id(id: &str) -> Result<DocId, GridbookError> {
    id.parse()
        .map_err(|_| GridbookError::not_found("not a record id"))
}

fn text_of(json: &Value, key: &str) -> String {
    json.get(key)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned()
}

/// The search text of a record: its title and the words of its JSON view people look for
/// (residents' names, tags and notes; a case's category, description and parties; an
/// activity's place), lowercase.
fn search_text(kind: RecordKind, json: &Value, title: &str) -> String {
    let mut words: Vec<String> = Vec::new();
    let list = |key: &str| {
        json.get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
    };
    match kind {
        RecordKind::Household => {
            words.extend(list("residents").map(|r| text_of(r, "name")));
            words.extend(list("tags").filter_map(Value::as_str).map(str::to_owned));
            words.push(text_of(json, "notes"));
        }
        RecordKind::Case => {
            words.push(text_of(json, "category"));
            words.push(text_of(json, "description"));
            words.extend(list("parties").map(|p| text_of(p, "name")));
        }
        RecordKind::Activity => words.push(text_of(json, "location")),
        RecordKind::Report => words.push(text_of(json, "location")),
        // A private document is found through its household, never by search.
        RecordKind::HouseholdPrivate => return String::new(),
        RecordKind::Visit
        | RecordKind::Patrol
        | RecordKind::PartyRegistration
        | RecordKind::Asset => {}
    }
    words.push(title.to_owned());
    words.join(" ").to_lowercase()
}

impl State {
    fn account(&self) -> Result<&Account, GridbookError> {
        self.session
            .as_ref()
            .map(|s| &s.account)
            .ok_or_else(|| GridbookError::unauthorized("not signed in"))
    }

    fn projection(&self, saved: &SavedDoc) -> Projection {
        let Some(doc) = self.replica.document(&saved.id) else {
            return Projection {
                grid: None,
                title: String::new(),
                search: String::new(),
                pending: true,
                conflicts: false,
                rejected: saved.rejection.is_some(),
                blobs: Vec::new(),
            };
        };
        let json = doc.record_json();
        let title = AnyRecord::from_json(doc, &json)
            .map(|r| r.title())
            .unwrap_or_default();
        let search = search_text(saved.kind, &json, &title);
        let mut heads = doc.heads();
        heads.sort_unstable();
        Projection {
            grid: json
                .pointer("/place/grid")
                .and_then(Value::as_str)
                .map(str::to_owned),
            title,
            search,
            pending: saved.need_full || heads != saved.base_heads,
            conflicts: !conflicts::report(doc).is_empty(),
            rejected: saved.rejection.is_some(),
            blobs: blobs::attachments_of(&json),
        }
    }

    /// Writes the named documents (and the cursor) in one transaction. On failure the
    /// in-memory replica is reloaded from the store, so memory never holds what disk lost.
    fn persist(&mut self, ids: &[DocId], with_cursor: bool) -> Result<(), GridbookError> {
        self.persist_removing(ids, &[], with_cursor)
    }

    /// Saves these documents and deletes `removed` ones (that the server said this phone must
    /// no longer hold) in one transaction.
    fn persist_removing(
        &mut self,
        ids: &[DocId],
        removed: &[DocId],
        with_cursor: bool,
    ) -> Result<(), GridbookError> {
        let rows: Vec<_> = ids
            .iter()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .filter_map(|id| self.replica.saved_doc(id))
            .map(|saved| {
                let p = self.projection(&saved);
                (saved, p)
            })
            .collect();
        let cursor = if with_cursor {
            self.replica.cursor().cloned()
        } else {
            None
        };
        let result = self
            .store
            .save_docs(&rows, removed, cursor.as_ref(), now_ms());
        if result.is_err() {
            match load_replica(&self.store) {
                Ok(replica) => self.replica = replica,
                Err(e) => return Err(e),
            }
        }
        result
    }

    fn document(&self, id: &DocId) -> Result<&Document, GridbookError> {
        self.replica
            .document(id)
            .ok_or_else(|| GridbookError::not_found(format!("no record {id} on this phone")))
    }

    fn create<R: Record>(&mut self, record: &R) -> Result<(), GridbookError> {
        let id = self.replica.create(record, now())?;
        self.persist(&[id], false)
    }

    fn replace<R: Record>(
        &mut self,
        record: &R,
        version: Option<String>,
    ) -> Result<bool, GridbookError> {
        let base = version.as_deref().map(parse_version).transpose()?;
        // The kind is checked before anything is written.
        self.document(record.id())?.read::<R>()?;
        let changed = self.replica.replace(record, base.as_deref(), now())?;
        if changed.is_some() {
            self.persist(&[record.id().clone()], false)?;
        }
        Ok(changed.is_some())
    }

    fn read<R: Record>(&self, id: &str) -> Result<R, GridbookError> {
        Ok(self.document(&parse_id(id)?)?.read::<R>()?)
    }

    fn private_of(&self, household_id: &str) -> Result<Option<HouseholdPrivate>, GridbookError> {
        let household_id = parse_id(household_id)?;
        if let Some(doc) = self
            .replica
            .document(&HouseholdPrivate::id_for(&household_id))
        {
            return Ok(Some(doc.read::<HouseholdPrivate>()?));
        }
        let Some(doc) = self.replica.document(&household_id) else {
            return Ok(None);
        };
        let household = doc.read::<Household>()?;
        let legacy = household_private::legacy_identities(&doc.record_json());
        Ok((!legacy.is_empty()).then(|| {
            let mut private = HouseholdPrivate::empty(&household.id, household.place);
            private.residents = legacy;
            private
        }))
    }

    fn save_private(
        &mut self,
        private: &HouseholdPrivate,
        version: Option<String>,
    ) -> Result<bool, GridbookError> {
        if self.replica.document(&private.id).is_none() {
            let household = self.document(&private.household)?.read::<Household>()?;
            self.replica.start_private(&household.id, household.place)?;
        }
        self.replace(private, version)
    }

    fn apply(&mut self, request: &SyncRequest, body: &[u8]) -> Result<SyncSummary, GridbookError> {
        let response = decode_response(body)
            .map_err(|e| GridbookError::protocol(format!("unreadable sync response: {e}")))?;
        let report = self.replica.apply_response(request, &response)?;
        let ids: Vec<DocId> = report.docs.iter().map(|(id, _)| id.clone()).collect();
        self.persist_removing(&ids, &report.removed, true)?;
        let mut summary = SyncSummary {
            rounds: 1,
            sync_again: report.sync_again,
            ..SyncSummary::default()
        };
        for (id, outcome) in report.docs {
            match outcome {
                DocOutcome::Accepted => summary.accepted += 1,
                DocOutcome::Updated => summary.received += 1,
                DocOutcome::Rejected(e) => summary.rejected.push(rejection(id, e)),
                DocOutcome::NeedFull | DocOutcome::Unusable(_) => {}
            }
        }
        summary.pending = count(self.replica.pending().len());
        Ok(summary)
    }

    /// Erases the store and starts afresh as a new device, as after the server said this
    /// device was revoked: nothing of the records, unsent edits included, stays on the phone.
    fn erase(&mut self) -> Result<(), GridbookError> {
        self.store.erase()?;
        self.session = None;
        self.replica = load_replica(&self.store)?;
        Ok(())
    }

    fn save_session(&mut self, session: Option<Session>) -> Result<(), GridbookError> {
        let text = session
            .as_ref()
            .map(|s| serde_json::to_string(s).map_err(|e| GridbookError::storage(e.to_string())))
            .transpose()?;
        self.store.set_meta("session", text.as_deref())?;
        self.session = session;
        Ok(())
    }
}

fn rejection(id: DocId, e: PushError) -> Rejection {
    Rejection {
        id,
        code: e.code,
        message: e.message,
        violations: e.fields.into_iter().map(FieldViolation::from).collect(),
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Builds the replica from the store.
fn load_replica(store: &Store) -> Result<Replica, GridbookError> {
    let device: DeviceId = match store.meta("device")? {
        Some(text) => text
            .parse()
            .map_err(|_| GridbookError::storage("the stored device id does not read"))?,
        None => {
            let device = DeviceId::new();
            store.set_meta("device", Some(device.as_str()))?;
            device
        }
    };
    let snapshot = ReplicaSnapshot {
        actor: Bytes(actor_for_device(&device).to_bytes().to_vec()),
        device,
        cursor: store.meta("cursor")?.map(Cursor::new),
        docs: store.load_docs()?,
    };
    Ok(Replica::restore(snapshot, ctx())?)
}

impl Phone {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the replica as it was before the panicking
        // call's commit at worst; the store is the truth, so carry on.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_net(&self) -> MutexGuard<'_, Option<Http>> {
        self.net.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The client for the signed-in server.
    fn http<'a>(
        &self,
        net: &'a mut MutexGuard<'_, Option<Http>>,
    ) -> Result<&'a Http, GridbookError> {
        let server = self.lock().account()?.server.clone();
        if net.as_ref().map(Http::base) != Some(server.as_str()) {
            **net = Some(Http::new(&server)?);
        }
        Ok(net.as_ref().expect("set just above"))
    }

    /// Rotates the tokens; the new ones are stored before they are used. A refused refresh
    /// ends the session.
    fn refresh_with(&self, http: &Http) -> Result<(), GridbookError> {
        let refresh_token = {
            let st = self.lock();
            st.session
                .as_ref()
                .map(|s| s.refresh_token.clone())
                .ok_or_else(|| GridbookError::unauthorized("not signed in"))?
        };
        // Naming the device lets the server answer a retry after a lost response with the
        // same token; without it such a retry counts as reuse and ends the session.
        let device = self.device_id();
        let body = json!({ "refresh_token": refresh_token, "device_id": device }).to_string();
        let answer = http.post_json("/v1/auth/refresh", None, body.as_bytes())?;
        if answer.device_revoked() {
            return Err(self.erase_revoked(&answer));
        }
        if answer.status == 401 {
            self.lock().save_session(None)?;
            return Err(answer.error());
        }
        if !answer.ok() {
            return Err(answer.error());
        }
        let tokens: TokenAnswer = serde_json::from_slice(&answer.body)
            .map_err(|e| GridbookError::protocol(format!("unreadable token answer: {e}")))?;
        let mut st = self.lock();
        let account = st.account()?.clone();
        st.save_session(Some(session_from(tokens, account.server)))
    }

    /// The server said this device was revoked (reported lost): erase the store and answer
    /// `Unauthorized` saying so. Failing to erase is `Storage`, so the app can tell the user.
    fn erase_revoked(&self, answer: &Answer) -> GridbookError {
        match self.lock().erase() {
            Ok(()) => GridbookError::unauthorized(format!(
                "{}; the records on this phone were erased",
                answer.error()
            )),
            Err(e) => e,
        }
    }

    /// A valid access token, refreshed first when it is about to expire.
    fn token_with(&self, http: &Http) -> Result<String, GridbookError> {
        let expiring = {
            let st = self.lock();
            let s = st
                .session
                .as_ref()
                .ok_or_else(|| GridbookError::unauthorized("not signed in"))?;
            s.access_expires_at_ms - REFRESH_MARGIN_MS <= now_ms()
        };
        if expiring {
            self.refresh_with(http)?;
        }
        let st = self.lock();
        st.session
            .as_ref()
            .map(|s| s.access_token.clone())
            .ok_or_else(|| GridbookError::unauthorized("not signed in"))
    }

    /// POSTs with the access token; on 401 refreshes once and retries.
    fn authorized_post(
        &self,
        http: &Http,
        path: &str,
        body: &[u8],
    ) -> Result<Answer, GridbookError> {
        self.authorized(http, |token| http.post_json(path, Some(token), body))
    }

    /// Makes a request with the access token; on 401 refreshes once and retries.
    fn authorized(
        &self,
        http: &Http,
        call: impl Fn(&str) -> Result<Answer, GridbookError>,
    ) -> Result<Answer, GridbookError> {
        let token = self.token_with(http)?;
        let answer = call(&token)?;
        if answer.device_revoked() {
            return Err(self.erase_revoked(&answer));
        }
        if answer.status != 401 {
            return Ok(answer);
        }
        self.refresh_with(http)?;
        let token = self.token_with(http)?;
        call(&token)
    }
}

fn session_from(tokens: TokenAnswer, server: String) -> Session {
    let u = tokens.user;
    Session {
        account: Account {
            user_id: u.id,
            login: u.login,
            display_name: u.display_name,
            role: u.role,
            community: u.community,
            grid: u.grid,
            liaison_group: u.liaison_group,
            department: u.department,
            server,
            must_change_password: tokens.must_change_password,
        },
        access_token: tokens.access_token,
        access_expires_at_ms: now_ms()
            .saturating_add(i64::try_from(tokens.expires_in).unwrap_or(i64::MAX / 2) * 1000),
        refresh_token: tokens.refresh_token,
    }
}

#[uniffi::export]
impl Phone {
    /// Opens (creating if needed) the store at `path`: a SQLite file the app owns, e.g. in
    /// its private files folder, encrypted with SQLCipher under `key`. Safe after the app
    /// was killed at any point.
    ///
    /// `key` comes from the Android Keystore or the iOS Keychain and is never stored by this
    /// library: 64 hexadecimal characters are a raw 256-bit key (recommended: random bytes,
    /// fastest open); any other non-empty string of at most 1024 bytes is a passphrase.
    /// An empty or wrong key is `WrongKey` and leaves the file as it was. A lost key makes
    /// the store unreadable: delete it, sign in and sync again (unsent edits are lost).
    #[uniffi::constructor]
    pub fn open(path: String, key: String) -> Result<Arc<Self>, GridbookError> {
        let path = PathBuf::from(path);
        let store = Store::open(&path, &key)?;
        let replica = load_replica(&store)?;
        let session = store
            .meta("session")?
            .map(|text| serde_json::from_str::<Session>(&text))
            .transpose()
            .map_err(|e| {
                GridbookError::storage(format!("the stored session does not read: {e}"))
            })?;
        let mut state = State {
            store,
            replica,
            session,
        };
        if state.store.blob_refs_stale()? {
            // A store from before attachments: list the attachments of every record once.
            let ids = state.replica.doc_ids();
            state.persist(&ids, false)?;
            state.store.blob_refs_rebuilt()?;
        }
        Ok(Arc::new(Self {
            path,
            state: Mutex::new(state),
            net: Mutex::new(None),
            photo_max_side: AtomicU32::new(crate::media::DEFAULT_MAX_SIDE),
            full_quota: AtomicU64::new(blobs::DEFAULT_FULL_QUOTA),
        }))
    }

    /// This installation's device id (sent at sign-in; the server binds tokens to it).
    pub fn device_id(&self) -> String {
        self.lock().replica.device().to_string()
    }

    /// Signs in and keeps the session in the store. The store belongs to the first user who
    /// signs in on it; another user gets `Forbidden` (open another store for them).
    pub fn login(
        &self,
        server: String,
        login: String,
        password: String,
        device_name: Option<String>,
    ) -> Result<Account, GridbookError> {
        let mut net = self.lock_net();
        let http = Http::new(&server)?;
        let device = self.device_id();
        let body = json!({
            "login": login,
            "password": password,
            "device_id": device,
            "device_name": device_name,
        })
        .to_string();
        let answer = http.post_json("/v1/auth/login", None, body.as_bytes())?;
        if !answer.ok() {
            return Err(answer.error());
        }
        let tokens: TokenAnswer = serde_json::from_slice(&answer.body)
            .map_err(|e| GridbookError::protocol(format!("unreadable token answer: {e}")))?;
        if tokens.device_id.as_str() != device {
            return Err(GridbookError::protocol(
                "the server bound the session to another device",
            ));
        }
        let session = session_from(tokens, http.base().to_owned());
        let account = session.account.clone();
        {
            let mut st = self.lock();
            match st.store.meta("user")? {
                Some(owner) if owner != account.user_id.as_str() => {
                    drop(st);
                    let body = json!({ "refresh_token": session.refresh_token }).to_string();
                    // Best effort: the tokens just issued are not kept either way.
                    let _ = http.post_json("/v1/auth/logout", None, body.as_bytes());
                    return Err(GridbookError::forbidden(
                        "this phone's records belong to another user; open another store",
                    ));
                }
                Some(_) => {}
                None => st.store.set_meta("user", Some(account.user_id.as_str()))?,
            }
            st.save_session(Some(session))?;
        }
        *net = Some(http);
        Ok(account)
    }

    /// The signed-in account, kept across restarts; `None` when signed out.
    pub fn account(&self) -> Option<Account> {
        self.lock().session.as_ref().map(|s| s.account.clone())
    }

    /// Renews the access token now (sync does it by itself when needed).
    pub fn refresh(&self) -> Result<(), GridbookError> {
        let mut net = self.lock_net();
        let http = self.http(&mut net)?;
        self.refresh_with(http)
    }

    /// A valid access token for apps that move sync bytes themselves (refreshed over the
    /// network first if it is about to expire).
    pub fn access_token(&self) -> Result<String, GridbookError> {
        let mut net = self.lock_net();
        let http = self.http(&mut net)?;
        self.token_with(http)
    }

    /// Changes the signed-in user's password (after an administrator's reset: the temporary
    /// one is the old password). The server ends the user's sessions on other devices; this
    /// one goes on. A wrong old password is `Forbidden`; a new password the server refuses
    /// (too short, the login, a common password, unchanged) is `Protocol` with the server's
    /// reason.
    pub fn change_password(
        &self,
        old_password: String,
        new_password: String,
    ) -> Result<(), GridbookError> {
        let mut net = self.lock_net();
        let http = self.http(&mut net)?;
        let body =
            json!({ "old_password": old_password, "new_password": new_password }).to_string();
        let answer = self.authorized_post(http, "/v1/auth/password", body.as_bytes())?;
        if !answer.ok() {
            return Err(answer.error());
        }
        let mut st = self.lock();
        if let Some(mut session) = st.session.clone() {
            session.account.must_change_password = false;
            st.save_session(Some(session))?;
        }
        Ok(())
    }

    /// Signs out: forgets the tokens (records stay) and asks the server to revoke them.
    /// Returns whether the server confirmed; offline, the tokens simply expire.
    pub fn logout(&self) -> Result<bool, GridbookError> {
        let mut net = self.lock_net();
        let Ok(http) = self.http(&mut net) else {
            return Ok(false);
        };
        let refresh_token = self
            .lock()
            .session
            .as_ref()
            .map(|s| s.refresh_token.clone());
        self.lock().save_session(None)?;
        let Some(refresh_token) = refresh_token else {
            return Ok(false);
        };
        let body = json!({ "refresh_token": refresh_token }).to_string();
        Ok(http
            .post_json("/v1/auth/logout", None, body.as_bytes())
            .is_ok_and(|a| a.ok()))
    }

    // ---- records -----------------------------------------------------------------------

    /// The place of the signed-in grid worker (for new records).
    pub fn my_place(&self) -> Result<Place, GridbookError> {
        let st = self.lock();
        let account = st.account()?;
        match (&account.community, &account.grid) {
            (Some(community), Some(grid)) => Ok(Place {
                community: community.clone(),
                grid: grid.clone(),
            }),
            _ => Err(GridbookError::forbidden("the signed-in user has no grid")),
        }
    }

    /// A household liaison's report (随手报) of what they noticed, offline like any edit: it
    /// reaches the grid worker's task list at the next sync. `households` must be households
    /// of the liaison's own group (the server refuses others). Returns the report's id.
    pub fn report(
        &self,
        what: String,
        location: Option<String>,
        households: Vec<DocId>,
    ) -> Result<DocId, GridbookError> {
        let mut st = self.lock();
        let account = st.account()?.clone();
        let (Some(community), Some(grid), Some(group)) =
            (account.community, account.grid, account.liaison_group)
        else {
            return Err(GridbookError::forbidden(
                "only a household liaison with a liaison group reports",
            ));
        };
        let report = Report {
            id: DocId::new(),
            place: Place { community, grid },
            liaison_group: group,
            reporter: account.user_id,
            what,
            location,
            households,
            noticed_at: now(),
            triage: None,
        };
        st.create(&report)?;
        Ok(report.id)
    }

    /// A liaison's report with its triage, if made (the liaison's phone shows the outcome).
    pub fn get_report(&self, id: String) -> Result<Report, GridbookError> {
        self.lock().read(&id)
    }

    /// The grid worker accepts a liaison's report as a case: a draft case of `case_kind` and
    /// `category` is opened from it (subject and description from what the liaison wrote,
    /// the first household named), which the worker then submits or solves on the spot, and
    /// the report's triage names it. Returns the new case's id.
    pub fn accept_report(
        &self,
        report_id: String,
        case_kind: CaseKind,
        category: String,
    ) -> Result<DocId, GridbookError> {
        let mut st = self.lock();
        let account = st.account()?.clone();
        let mut report: Report = st.read(&report_id)?;
        if report.triage.is_some() {
            return Err(GridbookError::conflict("the report was already triaged"));
        }
        let at = now();
        let case = Case {
            attachments: Vec::new(),
            id: DocId::new(),
            case_kind,
            category,
            subject: sync_core::models::title_of(&report.what)
                .chars()
                .take(60)
                .collect(),
            description: format!("联户长随手报：{}", report.what),
            place: report.place.clone(),
            location: report.location.clone(),
            household: report.households.first().cloned(),
            parties: Vec::new(),
            urgency: Urgency::Normal,
            confidential: false,
            opened_by: account.user_id.clone(),
            opened_at: at,
            events: Vec::new(),
            mediation: Vec::new(),
            rectification: None,
        };
        report.triage = Some(Triage {
            decision: TriageDecision::Accepted,
            case: Some(case.id.clone()),
            reason: None,
            by: account.user_id,
            at,
        });
        st.create(&case)?;
        st.replace(&report, None)?;
        Ok(case.id)
    }

    /// The grid worker closes a liaison's report without a case, with a reason the liaison
    /// reads (already handled, not a problem, a duplicate of another report).
    pub fn close_report(&self, report_id: String, reason: String) -> Result<(), GridbookError> {
        let mut st = self.lock();
        let account = st.account()?.clone();
        let mut report: Report = st.read(&report_id)?;
        if report.triage.is_some() {
            return Err(GridbookError::conflict("the report was already triaged"));
        }
        report.triage = Some(Triage {
            decision: TriageDecision::Closed,
            case: None,
            reason: Some(reason),
            by: account.user_id,
            at: now(),
        });
        st.replace(&report, None)?;
        Ok(())
    }

    /// Creates a household (validated; nothing is written if invalid).
    pub fn create_household(&self, household: Household) -> Result<(), GridbookError> {
        self.lock().create(&household)
    }

    /// Creates a case.
    pub fn create_case(&self, case: Case) -> Result<(), GridbookError> {
        self.lock().create(&case)
    }

    /// Creates a visit.
    pub fn create_visit(&self, visit: Visit) -> Result<(), GridbookError> {
        self.lock().create(&visit)
    }

    /// Creates a patrol.
    pub fn create_patrol(&self, patrol: Patrol) -> Result<(), GridbookError> {
        self.lock().create(&patrol)
    }

    /// Creates an activity.
    pub fn create_activity(&self, activity: Activity) -> Result<(), GridbookError> {
        self.lock().create(&activity)
    }

    /// Saves an edited household. `version` is the one shown when the edit began (from
    /// [`Phone::record`] or [`Phone::version`]): changes merged in since are kept where this
    /// edit did not touch them. `None` edits the current version. Returns whether anything
    /// changed.
    pub fn update_household(
        &self,
        household: Household,
        version: Option<String>,
    ) -> Result<bool, GridbookError> {
        self.lock().replace(&household, version)
    }

    /// Saves an edited case (see [`Phone::update_household`]). New events go through
    /// [`Phone::add_case_event`].
    pub fn update_case(&self, case: Case, version: Option<String>) -> Result<bool, GridbookError> {
        self.lock().replace(&case, version)
    }

    /// Saves an edited visit (see [`Phone::update_household`]).
    pub fn update_visit(
        &self,
        visit: Visit,
        version: Option<String>,
    ) -> Result<bool, GridbookError> {
        self.lock().replace(&visit, version)
    }

    /// Saves an edited patrol (see [`Phone::update_household`]).
    pub fn update_patrol(
        &self,
        patrol: Patrol,
        version: Option<String>,
    ) -> Result<bool, GridbookError> {
        self.lock().replace(&patrol, version)
    }

    /// Saves an edited activity (see [`Phone::update_household`]).
    pub fn update_activity(
        &self,
        activity: Activity,
        version: Option<String>,
    ) -> Result<bool, GridbookError> {
        self.lock().replace(&activity, version)
    }

    /// A household.
    pub fn household(&self, id: String) -> Result<Household, GridbookError> {
        self.lock().read(&id)
    }

    /// The private document of household `household_id` (its residents' ID numbers, phones,
    /// birth dates, special groups and sensitive notes), or `None` when this phone holds none:
    /// only grid workers' phones receive them. A household still in the layout before the
    /// private documents (a store from an older app, not synced since) shows the values it
    /// carries until the next sync moves them.
    pub fn household_private(
        &self,
        household_id: String,
    ) -> Result<Option<HouseholdPrivate>, GridbookError> {
        self.lock().private_of(&household_id)
    }

    /// Saves the private document of a household, creating it when this phone has none yet
    /// (its id is [`Phone::household_private`]'s, derived from the household's: start from
    /// `household_private()` or from an empty one with `id` = the household's private id).
    /// `version` as for [`Phone::update_household`]. Returns whether anything changed.
    pub fn save_household_private(
        &self,
        private: HouseholdPrivate,
        version: Option<String>,
    ) -> Result<bool, GridbookError> {
        self.lock().save_private(&private, version)
    }

    /// The id of the private document of household `household_id`.
    pub fn household_private_id(&self, household_id: String) -> Result<String, GridbookError> {
        Ok(HouseholdPrivate::id_for(&parse_id(&household_id)?).to_string())
    }

    /// A case.
    pub fn case(&self, id: String) -> Result<Case, GridbookError> {
        self.lock().read(&id)
    }

    /// A visit.
    pub fn visit(&self, id: String) -> Result<Visit, GridbookError> {
        self.lock().read(&id)
    }

    /// A patrol.
    pub fn patrol(&self, id: String) -> Result<Patrol, GridbookError> {
        self.lock().read(&id)
    }

    /// An activity.
    pub fn activity(&self, id: String) -> Result<Activity, GridbookError> {
        self.lock().read(&id)
    }

    /// Creates a collective asset (三资) record: a fund, a fixed asset or a resource of the
    /// grid, with its leases and ledger.
    pub fn create_asset(&self, asset: Asset) -> Result<(), GridbookError> {
        self.lock().create(&asset)
    }

    /// Saves an edited asset (see [`Phone::update_household`]).
    pub fn update_asset(
        &self,
        asset: Asset,
        version: Option<String>,
    ) -> Result<bool, GridbookError> {
        self.lock().replace(&asset, version)
    }

    /// An asset with its leases and ledger.
    pub fn asset(&self, id: String) -> Result<Asset, GridbookError> {
        self.lock().read(&id)
    }

    /// Records an entry in an asset's ledger (台账) as the signed-in user, offline like any
    /// edit: it is appended to the ledger list, so entries two phones record before they sync
    /// are both kept. The entry is validated with the asset (a positive amount, a note)
    /// before anything is written. Returns the entry.
    pub fn add_ledger_entry(
        &self,
        asset_id: String,
        on: Date,
        direction: LedgerDirection,
        amount_fen: i64,
        note: String,
    ) -> Result<LedgerEntry, GridbookError> {
        let mut st = self.lock();
        let recorded_by = st.account()?.user_id.clone();
        let mut asset: Asset = st.read(&asset_id)?;
        let entry = LedgerEntry {
            id: ItemId::new(),
            on,
            direction,
            amount_fen,
            note,
            recorded_by,
        };
        asset.ledger.push(entry.clone());
        st.replace(&asset, None)?;
        Ok(entry)
    }

    /// Appends an event to a case's log as the signed-in user, if the workflow allows it in
    /// the case's state for the user's role (otherwise `Conflict`, naming state, role and
    /// action). Returns the case's state after the event.
    pub fn add_case_event(
        &self,
        case_id: String,
        action: CaseAction,
        note: Option<String>,
        assignee: Option<UserId>,
        delay_days: Option<u32>,
    ) -> Result<CaseProgress, GridbookError> {
        let mut st = self.lock();
        let account = st.account()?.clone();
        let id = parse_id(&case_id)?;
        let case: Case = st.document(&id)?.read()?;
        let mut event = workflow::new_event(account.user_id, account.role, action, now())
            .with_device(st.replica.device().clone());
        // Department staff's events name their department (the server checks it).
        event.department = account
            .department
            .filter(|_| account.role == Role::Department);
        event.note = note;
        event.assignee = assignee;
        event.delay_days = delay_days;
        workflow::check_event(&case, &event)
            .map_err(|illegal| GridbookError::conflict(illegal.to_string()))?;
        let mut after = case;
        after.events.push(event);
        st.replace(&after, None)?;
        Ok(progress(&after))
    }

    /// What waits for the signed-in user among the cases on this phone, most urgent first:
    /// red deadlines, then yellow, then on time; within a level the street's supervision,
    /// the case's urgency, the earliest due time. Works offline; after a sync that brought a
    /// dispatch the list holds it (see `sync_core::tasks` for which steps count).
    pub fn my_tasks(&self) -> Result<Vec<Task>, GridbookError> {
        let st = self.lock();
        let account = st.account()?;
        let (mut cases, mut reports) = (Vec::new(), Vec::new());
        for id in st.replica.doc_ids() {
            let Some(doc) = st.replica.document(&id) else {
                continue;
            };
            match doc.kind() {
                RecordKind::Case => cases.push(doc.read::<Case>()?),
                RecordKind::Report => reports.push(doc.read::<Report>()?),
                _ => {}
            }
        }
        let tasks = tasks::tasks_for(
            tasks::Person {
                user: &account.user_id,
                role: account.role,
                department: account.department.as_ref(),
            },
            &cases,
            &reports,
            &DeadlinePolicy::default(),
            &WorkCalendar::china(),
            now(),
        );
        Ok(tasks
            .into_iter()
            .map(|t| Task {
                record_id: t.record,
                kind: t.kind,
                action: t.action,
                case_kind: t.case_kind,
                subject: t.subject,
                grid: t.place.grid,
                state: t.state.map(|s| s.as_str().to_owned()),
                urgency: t.urgency,
                supervision: t.supervision,
                deadline_level: t.level.map(|l| l.as_str().to_owned()),
                due_at: t.due_at,
                opened_at: t.opened_at,
            })
            .collect())
    }

    /// A case's state, folded from its event log.
    pub fn case_progress(&self, case_id: String) -> Result<CaseProgress, GridbookError> {
        let case: Case = self.lock().read(&case_id)?;
        Ok(progress(&case))
    }

    /// Any record: JSON view, version, sync state.
    pub fn record(&self, id: String) -> Result<RecordEntry, GridbookError> {
        let st = self.lock();
        let id = parse_id(&id)?;
        let doc = st.document(&id)?;
        let mut heads = doc.heads();
        heads.sort_unstable();
        let pending = st.replica.needs_full(&id) || st.replica.base_heads(&id) != Some(&heads);
        Ok(RecordEntry {
            id: id.clone(),
            kind: doc.kind(),
            version: version_of(&heads),
            json: doc.record_json().to_string(),
            pending,
            conflicts: count(conflicts::conflicts(doc).len()),
            rejection: st.replica.rejection(&id).cloned().map(|e| rejection(id, e)),
        })
    }

    /// The current version of a record (to pass back with an edit).
    pub fn version(&self, id: String) -> Result<String, GridbookError> {
        let st = self.lock();
        Ok(version_of(&st.document(&parse_id(&id)?)?.heads()))
    }

    /// Records on this phone, optionally of one kind, matching `text` (address, names,
    /// subject, ...; case-insensitive), only those with unsynced edits, paged.
    pub fn list(
        &self,
        kind: Option<RecordKind>,
        text: Option<String>,
        only_pending: bool,
        limit: u32,
        offset: u32,
    ) -> Result<Vec<RecordSummary>, GridbookError> {
        let st = self.lock();
        let rows = st.store.list(
            kind.map(RecordKind::as_str),
            text.as_deref().filter(|t| !t.trim().is_empty()),
            only_pending,
            limit.min(1000),
            offset,
        )?;
        rows.into_iter()
            .map(|r| {
                Ok(RecordSummary {
                    id: parse_id(&r.id)?,
                    kind: r.kind.parse().map_err(|_| {
                        GridbookError::storage("a stored record has an unknown kind")
                    })?,
                    grid: r.grid.and_then(|g| g.parse().ok()),
                    title: r.title,
                    pending: r.pending,
                    has_conflicts: r.conflicts,
                    rejected: r.rejected,
                    saved_at_ms: r.updated_at,
                })
            })
            .collect()
    }

    /// Concurrent values and illegal-after-merge case events of a record.
    pub fn conflicts(&self, id: String) -> Result<ConflictList, GridbookError> {
        let st = self.lock();
        let report = conflicts::report(st.document(&parse_id(&id)?)?);
        Ok(ConflictList {
            fields: report
                .fields
                .into_iter()
                .map(|c| FieldConflict {
                    field: c.field,
                    values: c
                        .values
                        .into_iter()
                        .map(|v| ConflictedValue {
                            json: v.value.to_string(),
                            device_id: v.written_by.device.map(|d| d.to_string()),
                            at_ms: v.written_by.at.map(Timestamp::millis),
                            shown: v.shown,
                        })
                        .collect(),
                })
                .collect(),
            illegal_events: report
                .illegal_events
                .into_iter()
                .map(|e| e.reason)
                .collect(),
        })
    }

    /// A record's changes, oldest first, with device, time and fields.
    pub fn history(&self, id: String) -> Result<Vec<HistoryItem>, GridbookError> {
        let st = self.lock();
        let doc = st.document(&parse_id(&id)?)?;
        Ok(history::history(doc)
            .into_iter()
            .map(|h| HistoryItem {
                change: h.change,
                device_id: h.by.device.map(|d| d.to_string()),
                at_ms: h.by.at.map(Timestamp::millis),
                message: h.message,
                fields: h.edits.into_iter().map(|e| e.field).collect(),
            })
            .collect())
    }

    /// Number of records with edits the server has not confirmed yet.
    pub fn pending_count(&self) -> u32 {
        count(self.lock().replica.pending().len())
    }

    // ---- sync ----------------------------------------------------------------------------

    /// Syncs with the server until nothing is due (or a round limit): sends every pending
    /// edit, merges what changed elsewhere, stores the result. Then uploads the bytes of
    /// attachments made on this phone (resuming interrupted uploads where the server stopped)
    /// and fetches missing list thumbnails; a failure there is reported in the summary
    /// (`blob_error`), not returned. Refreshes the access token when needed. Safe to retry
    /// after any failure or interruption.
    ///
    /// If the server says this device was revoked (its owner reported it lost), the store is
    /// erased (records, unsent edits, session, device id) and `Unauthorized` is returned
    /// saying so; signing in again makes it a new device that receives what the server has.
    pub fn sync(&self) -> Result<SyncSummary, GridbookError> {
        let mut net = self.lock_net();
        let http = self.http(&mut net)?;
        let mut total = SyncSummary::default();
        for _ in 0..MAX_ROUNDS {
            let request = self.lock().replica.build_request();
            let body = encode_request(&request);
            let answer = self.authorized_post(http, SYNC_PATH, &body)?;
            if !answer.ok() {
                return Err(answer.error());
            }
            let round = self.lock().apply(&request, &answer.body)?;
            total.rounds += 1;
            total.accepted += round.accepted;
            total.received += round.received;
            total.rejected = round.rejected;
            total.pending = round.pending;
            total.sync_again = round.sync_again;
            if !round.sync_again {
                break;
            }
        }
        // The server takes only bytes that a record it holds refers to: after the push.
        let blobs = self.sync_blobs(http)?;
        total.blobs_uploaded = blobs.uploaded;
        total.blobs_pending = blobs.pending;
        total.blob_bytes_sent = blobs.bytes_sent;
        total.thumbnails_fetched = blobs.thumbnails;
        total.blob_error = blobs.error;
        Ok(total)
    }

    /// Builds the next sync request for an app that moves the bytes itself (e.g. an iOS
    /// background transfer). The request is kept in the store, so its response can be
    /// applied even after the app was relaunched. Edits may go on meanwhile.
    pub fn build_sync_request(&self) -> Result<PreparedSync, GridbookError> {
        let st = self.lock();
        let request = st.replica.build_request();
        let body = encode_request(&request);
        let request_id = DocId::new().to_string();
        st.store.put_request(&request_id, &body, now_ms())?;
        Ok(PreparedSync {
            request_id,
            path: SYNC_PATH.to_owned(),
            body,
            records: count(request.docs.len()),
        })
    }

    /// Applies the server's answer (`status` and body) to a request from
    /// [`Phone::build_sync_request`]. A non-2xx status is returned as its error and changes
    /// nothing. When the summary says `sync_again`, build and send the next request.
    pub fn apply_sync_response(
        &self,
        request_id: String,
        status: u16,
        body: Vec<u8>,
    ) -> Result<SyncSummary, GridbookError> {
        let answer = Answer { status, body };
        if answer.device_revoked() {
            return Err(self.erase_revoked(&answer));
        }
        if !answer.ok() {
            return Err(answer.error());
        }
        let mut st = self.lock();
        let kept = st.store.request(&request_id)?.ok_or_else(|| {
            GridbookError::not_found("no such sync request on this phone (too old?)")
        })?;
        let request = decode_request(&kept)
            .map_err(|e| GridbookError::storage(format!("a kept request does not read: {e}")))?;
        let summary = st.apply(&request, &answer.body)?;
        st.store.drop_request(&request_id)?;
        Ok(summary)
    }

    /// SQLite's consistency check of the store (`ok` when sound), for diagnostics.
    pub fn check_store(&self) -> Result<String, GridbookError> {
        self.lock().store.integrity_check()
    }
}

fn progress(case: &Case) -> CaseProgress {
    let status = workflow::fold(case);
    CaseProgress {
        state: status.state.as_str().to_owned(),
        assignee: status.assignee,
        escalated: status.escalated,
        events: count(case.events.len()),
    }
}
