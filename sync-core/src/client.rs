//! The device side of sync, without I/O: a [`Replica`] keeps a device's documents and what
//! the server last confirmed of each, builds the next [`SyncRequest`] and applies the
//! [`SyncResponse`]. The app moves the bytes (`encode_request`, HTTP, `decode_response`) and
//! persists the replica's state after each applied response.
//!
//! ```
//! use sync_core::client::Replica;
//! use sync_core::ids::{DeviceId, UserId};
//! use sync_core::models::household::{Address, Household};
//! use sync_core::record::{Place, Role};
//! use sync_core::server::{Caller, MemoryServer};
//! use sync_core::time::Timestamp;
//! use sync_core::validate::ValidationContext;
//!
//! let place = Place { community: "dzk".parse()?, grid: "dzk-01".parse()? };
//! let mut server = MemoryServer::default();
//! let caller = Caller { user: UserId::new(), device: DeviceId::new(), role: Role::GridWorker };
//! server.add_user(caller.user.clone(), caller.role, [place.grid.clone()]);
//!
//! let mut phone = Replica::new(caller.device.clone(), ValidationContext::default());
//! let address = Address {
//!     compound: "乌江水岸".into(), building: "3".into(), unit: "1".into(), room: "402".into(),
//! };
//! let id = phone.create(&Household::new(place, address), Timestamp::from_millis(0))?;
//!
//! let request = phone.build_request();
//! let response = server.sync(&caller, &request)?;
//! let report = phone.apply_response(&request, &response)?;
//! assert!(!report.sync_again);
//! assert!(phone.pending().is_empty());
//! assert_eq!(server.document(&id).unwrap().heads(), phone.document(&id).unwrap().heads());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;

use automerge::{ActorId, Automerge, ChangeHash, ReadDoc};

use crate::doc::{Author, Document, DocumentError, actor_for_device};
use crate::ids::{DeviceId, DocId};
use crate::models::HouseholdPrivate;
use crate::protocol::{
    Bytes, Cursor, DocPush, DocStatus, MAX_CHANGE_BYTES_PER_DOC, MAX_DOCS_PER_REQUEST,
    MAX_NEW_CHANGES_PER_DOC, PROTOCOL_VERSION, PushError, SyncRequest, SyncResponse, apply_checked,
    count_chunks, hash_list, split_changes,
};
pub use crate::protocol::{decode_response, encode_request};
use crate::record::{Place, Record, RecordKind};
use crate::time::Timestamp;
use crate::validate::ValidationContext;

/// A local edit could not be made.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// The replica has no such document (or only part of it, still being fetched).
    #[error("no document {0} on this device")]
    UnknownDoc(DocId),
    /// A document with this id exists already.
    #[error("document {0} exists already")]
    AlreadyExists(DocId),
    /// The record is invalid or of another kind.
    #[error(transparent)]
    Document(#[from] DocumentError),
}

/// A response that does not answer the request it is applied to. Nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The response's `protocol` is not [`PROTOCOL_VERSION`].
    #[error("unsupported protocol version {0}")]
    UnsupportedVersion(u32),
    /// The response's `docs` do not match the request's, one for one and in order.
    #[error("the response does not answer this request: {0}")]
    Mismatch(&'static str),
}

/// What happened to one document while applying a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocOutcome {
    /// The server took the push; the base heads advanced.
    Accepted,
    /// Changes made elsewhere were merged in.
    Updated,
    /// The document is sent whole (or fetched whole) in the next request.
    NeedFull,
    /// The server refused the push. The local edits stay and are offered again with every
    /// sync; show the error to the user.
    Rejected(PushError),
    /// What the server sent for this document could not be used (another kind, or a header
    /// that no longer reads); the local document is unchanged.
    Unusable(String),
}

/// The result of applying one response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyReport {
    /// One entry per pushed document (in request order), then one per update.
    pub docs: Vec<(DocId, DocOutcome)>,
    /// Another round trip is needed now: a document needs a full exchange, the server cut
    /// its updates short (`more`), pending documents did not fit in the request, or a
    /// document's backlog did not fit in one push (its first changes were sent).
    pub sync_again: bool,
    /// Documents the server said this device must no longer hold, dropped from the replica
    /// (with their unsent edits): the app deletes them from its store too.
    pub removed: Vec<DocId>,
}

/// A saved replica could not be restored.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// A saved document does not load, or holds another record than saved.
    #[error("saved document {id} cannot be restored: {reason}")]
    Document {
        /// The document.
        id: DocId,
        /// Why.
        reason: String,
    },
    /// The saved actor id is empty or belongs to another device.
    #[error("the saved actor id is empty or belongs to another device")]
    Actor,
}

/// One document of a replica as the app stores it (see [`Replica::saved_doc`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SavedDoc {
    /// The record.
    pub id: DocId,
    /// Its kind.
    pub kind: RecordKind,
    /// The Automerge document (`save()` form).
    pub document: Bytes,
    /// False while the device knows the document only in part.
    pub complete: bool,
    /// The server heads last confirmed.
    #[serde(with = "hash_list")]
    pub base_heads: Vec<ChangeHash>,
    /// Due for a full exchange.
    pub need_full: bool,
    /// The server's last refusal.
    pub rejection: Option<PushError>,
}

/// Everything a replica holds, for the app to persist in one transaction after each applied
/// response (and each document after each local edit).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ReplicaSnapshot {
    /// The device.
    pub device: DeviceId,
    /// The actor id of the device's edits (bytes).
    pub actor: Bytes,
    /// The cursor of the last applied response.
    pub cursor: Option<Cursor>,
    /// Every document.
    pub docs: Vec<SavedDoc>,
}

#[derive(Debug, Clone)]
enum Content {
    /// A readable document.
    Open(Document),
    /// Changes received for a document whose header is not readable yet (its first changes
    /// are missing). It is fetched whole in the next request.
    Partial { kind: RecordKind, am: Automerge },
}

#[derive(Debug, Clone)]
struct LocalDoc {
    content: Content,
    /// The server heads last confirmed, sorted. Always contained in the local document.
    base_heads: Vec<ChangeHash>,
    /// The base heads cannot be trusted: send (or fetch) the whole document.
    need_full: bool,
    rejection: Option<PushError>,
}

impl LocalDoc {
    fn am(&self) -> &Automerge {
        match &self.content {
            Content::Open(doc) => doc.automerge(),
            Content::Partial { am, .. } => am,
        }
    }

    fn kind(&self) -> RecordKind {
        match &self.content {
            Content::Open(doc) => doc.kind(),
            Content::Partial { kind, .. } => *kind,
        }
    }

    fn contains(&self, heads: &[ChangeHash]) -> bool {
        self.am().get_missing_deps(heads).is_empty()
    }

    fn is_pending(&self) -> bool {
        match &self.content {
            Content::Open(doc) => self.need_full || doc.heads() != self.base_heads,
            Content::Partial { .. } => true,
        }
    }

    /// Loads changes from the server. On any failure the document is left as it was.
    fn load(&mut self, id: &DocId, bytes: &Bytes) -> Result<(), String> {
        if bytes.is_empty() {
            return Ok(());
        }
        let changes = split_changes(bytes.as_slice()).map_err(|e| e.to_string())?;
        let mut am = self.am().clone();
        apply_checked(&mut am, &changes).map_err(|e| e.to_string())?;
        let kind = self.kind();
        match Document::from_automerge(am.clone()) {
            Ok(doc) if doc.id() == id && doc.kind() == kind => {
                self.content = Content::Open(doc);
                Ok(())
            }
            Ok(_) => Err("the document now holds another record".to_owned()),
            Err(e) => match self.content {
                Content::Open(_) => Err(format!("the document no longer reads: {e}")),
                Content::Partial { .. } => {
                    self.content = Content::Partial { kind, am };
                    Ok(())
                }
            },
        }
    }

    /// Whether `push`, now accepted, carried only the first part of the document's backlog
    /// ([`changes_within_budget`]): it held as many changes as one push may, or what is still
    /// unconfirmed would not have fitted beside it. Edits made while the request was in flight
    /// are small and leave it false.
    fn was_cut_short(&self, push: &DocPush) -> bool {
        if !self.is_pending() {
            return false;
        }
        if count_chunks(push.changes.as_slice()).is_some_and(|n| n >= MAX_NEW_CHANGES_PER_DOC) {
            return true;
        }
        let rest = self.am().save_after(&self.base_heads);
        push.changes.len() + rest.len() > MAX_CHANGE_BYTES_PER_DOC
    }

    /// Takes `heads` as the confirmed server state if the local document holds them all.
    fn confirm(&mut self, heads: &[ChangeHash]) -> bool {
        if matches!(self.content, Content::Open(_)) && self.contains(heads) {
            let mut heads = heads.to_vec();
            heads.sort_unstable();
            self.base_heads = heads;
            self.need_full = false;
            true
        } else {
            self.need_full = true;
            false
        }
    }
}

/// The changes of `am` that are not ancestors of `base`, as a push carries them: all of them
/// when they fit in one push, else the first ones in dependency order (a prefix, so every
/// change sent has its dependencies in `base` or before it) up to [`MAX_NEW_CHANGES_PER_DOC`]
/// changes and [`MAX_CHANGE_BYTES_PER_DOC`] bytes (at least one change, which the server
/// refuses only if it alone is larger than the byte limit).
fn changes_within_budget(am: &Automerge, base: &[ChangeHash]) -> Vec<u8> {
    let all = am.save_after(base);
    let fits = all.len() <= MAX_CHANGE_BYTES_PER_DOC
        && count_chunks(&all).is_some_and(|n| n <= MAX_NEW_CHANGES_PER_DOC);
    if fits {
        return all;
    }
    let mut out = Vec::new();
    for (n, change) in am.get_changes(base).iter().enumerate() {
        let bytes = change.raw_bytes();
        if n == MAX_NEW_CHANGES_PER_DOC
            || (n > 0 && out.len() + bytes.len() > MAX_CHANGE_BYTES_PER_DOC)
        {
            break;
        }
        out.extend_from_slice(bytes);
    }
    out
}

/// One device's local state: its documents, what the server confirmed of each, and the
/// cursor. Persist all of it together after every applied response.
#[derive(Debug, Clone)]
pub struct Replica {
    device: DeviceId,
    actor: ActorId,
    ctx: ValidationContext,
    docs: BTreeMap<DocId, LocalDoc>,
    cursor: Option<Cursor>,
}

impl Replica {
    /// An empty replica for `device`, with a fresh actor id for its edits.
    pub fn new(device: DeviceId, ctx: ValidationContext) -> Self {
        let actor = actor_for_device(&device);
        Self {
            device,
            actor,
            ctx,
            docs: BTreeMap::new(),
            cursor: None,
        }
    }

    /// The device.
    pub fn device(&self) -> &DeviceId {
        &self.device
    }

    /// The actor id of this replica's edits.
    pub fn actor(&self) -> &ActorId {
        &self.actor
    }

    /// The cursor of the last applied response.
    pub fn cursor(&self) -> Option<&Cursor> {
        self.cursor.as_ref()
    }

    /// Creates a record as a new document, validated first.
    pub fn create<R: Record>(&mut self, record: &R, at: Timestamp) -> Result<DocId, EditError> {
        let id = record.id().clone();
        if self.docs.contains_key(&id) {
            return Err(EditError::AlreadyExists(id));
        }
        let mut record = record.clone();
        record.sign_new_items(None, &self.device);
        let doc = Document::create(&record, &Author::new(self.actor.clone(), at), &self.ctx)?;
        self.insert_new(id.clone(), doc);
        Ok(id)
    }

    /// Holds a document made on this device, not yet sent.
    fn insert_new(&mut self, id: DocId, doc: Document) {
        self.docs.insert(
            id,
            LocalDoc {
                content: Content::Open(doc),
                base_heads: Vec::new(),
                need_full: false,
                rejection: None,
            },
        );
    }

    /// Starts the private document of `household` at `place` with its canonical first change
    /// ([`HouseholdPrivate::genesis`]), unless this replica holds it already. Every device
    /// that starts it makes the same change, so it merges with the server's copy if there is
    /// one. Returns its id.
    pub fn start_private(&mut self, household: &DocId, place: Place) -> Result<DocId, EditError> {
        let id = HouseholdPrivate::id_for(household);
        if self.docs.contains_key(&id) {
            return Ok(id);
        }
        let doc = HouseholdPrivate::genesis(household, place)?;
        self.insert_new(id.clone(), doc);
        Ok(id)
    }

    /// Edits a record: `edit` changes the value, the result is validated and written as one
    /// change. Returns the change's hash, or `None` when nothing changed.
    pub fn update<R: Record, F: FnOnce(&mut R)>(
        &mut self,
        id: &DocId,
        at: Timestamp,
        edit: F,
    ) -> Result<Option<ChangeHash>, EditError> {
        let author = Author::new(self.actor.clone(), at);
        let Some(LocalDoc {
            content: Content::Open(doc),
            ..
        }) = self.docs.get_mut(id)
        else {
            return Err(EditError::UnknownDoc(id.clone()));
        };
        let device = &self.device;
        Ok(doc.update(&author, &self.ctx, |r: &mut R| {
            let before = r.clone();
            edit(r);
            r.sign_new_items(Some(&before), device);
            Ok::<_, DocumentError>(())
        })?)
    }

    /// Writes `value` as the record's new state as its editor saw it at `base` (see
    /// [`Document::replace_at`]); `None` for `base` means the current version. Returns the
    /// change's hash, or `None` when nothing changed.
    pub fn replace<R: Record>(
        &mut self,
        value: &R,
        base: Option<&[ChangeHash]>,
        at: Timestamp,
    ) -> Result<Option<ChangeHash>, EditError> {
        let author = Author::new(self.actor.clone(), at);
        let id = value.id();
        let Some(LocalDoc {
            content: Content::Open(doc),
            ..
        }) = self.docs.get_mut(id)
        else {
            return Err(EditError::UnknownDoc(id.clone()));
        };
        let heads;
        let base = match base {
            Some(base) => base,
            None => {
                heads = doc.heads();
                &heads
            }
        };
        let mut value = value.clone();
        let before: Option<R> = doc.read().ok();
        value.sign_new_items(before.as_ref(), &self.device);
        Ok(doc.replace_at(&author, &self.ctx, base, &value)?)
    }

    /// A document, if this device has it whole.
    pub fn document(&self, id: &DocId) -> Option<&Document> {
        match &self.docs.get(id)?.content {
            Content::Open(doc) => Some(doc),
            Content::Partial { .. } => None,
        }
    }

    /// Every document id the replica knows, including those still being fetched.
    pub fn doc_ids(&self) -> Vec<DocId> {
        self.docs.keys().cloned().collect()
    }

    /// The server heads last confirmed for a document.
    pub fn base_heads(&self, id: &DocId) -> Option<&[ChangeHash]> {
        self.docs.get(id).map(|d| d.base_heads.as_slice())
    }

    /// Whether a document is due for a full exchange.
    pub fn needs_full(&self, id: &DocId) -> bool {
        self.docs.get(id).is_some_and(|d| d.need_full)
    }

    /// One document as the app stores it: persist it after each local edit of it, and every
    /// document an [`ApplyReport`] names after applying a response.
    pub fn saved_doc(&self, id: &DocId) -> Option<SavedDoc> {
        let d = self.docs.get(id)?;
        Some(SavedDoc {
            id: id.clone(),
            kind: d.kind(),
            document: Bytes(d.am().save()),
            complete: matches!(d.content, Content::Open(_)),
            base_heads: d.base_heads.clone(),
            need_full: d.need_full,
            rejection: d.rejection.clone(),
        })
    }

    /// The whole state, to persist.
    pub fn snapshot(&self) -> ReplicaSnapshot {
        ReplicaSnapshot {
            device: self.device.clone(),
            actor: Bytes(self.actor.to_bytes().to_vec()),
            cursor: self.cursor.clone(),
            docs: self
                .docs
                .keys()
                .filter_map(|id| self.saved_doc(id))
                .collect(),
        }
    }

    /// A replica from its persisted state, with a fresh actor id for its next edits.
    ///
    /// Every restore is a new incarnation of the store: the snapshot may be an old backup
    /// whose actor already made changes after it was taken, and reusing that actor would
    /// reuse sequence numbers the server already holds. The saved actor is only checked for
    /// belonging to this device.
    pub fn restore(
        snapshot: ReplicaSnapshot,
        ctx: ValidationContext,
    ) -> Result<Self, RestoreError> {
        if snapshot.actor.is_empty() {
            return Err(RestoreError::Actor);
        }
        let saved_actor = ActorId::from(snapshot.actor.0);
        if crate::doc::device_of_actor(&saved_actor).as_ref() != Some(&snapshot.device) {
            return Err(RestoreError::Actor);
        }
        let actor = actor_for_device(&snapshot.device);
        let mut docs = BTreeMap::new();
        for saved in snapshot.docs {
            let failed = |reason: String| RestoreError::Document {
                id: saved.id.clone(),
                reason,
            };
            let am = Automerge::load(saved.document.as_slice())
                .map_err(|e| failed(e.to_string()))?
                .with_actor(actor.clone());
            let content = if saved.complete {
                let doc = Document::from_automerge(am).map_err(|e| failed(e.to_string()))?;
                if doc.id() != &saved.id || doc.kind() != saved.kind {
                    return Err(failed("it holds another record".to_owned()));
                }
                Content::Open(doc)
            } else {
                Content::Partial {
                    kind: saved.kind,
                    am,
                }
            };
            let mut base_heads = saved.base_heads;
            base_heads.sort_unstable();
            let mut entry = LocalDoc {
                content,
                base_heads,
                need_full: saved.need_full,
                rejection: saved.rejection,
            };
            // Keep the invariant that the base heads are held locally.
            if !entry.contains(&entry.base_heads) {
                entry.base_heads.clear();
                entry.need_full = true;
            }
            docs.insert(saved.id, entry);
        }
        Ok(Self {
            device: snapshot.device,
            actor,
            ctx,
            docs,
            cursor: snapshot.cursor,
        })
    }

    /// The server's last refusal of a document's push, until a push is accepted.
    pub fn rejection(&self, id: &DocId) -> Option<&PushError> {
        self.docs.get(id)?.rejection.as_ref()
    }

    /// Documents to send: edited since the server's last confirmation, due for a full
    /// exchange, or still being fetched.
    pub fn pending(&self) -> Vec<DocId> {
        self.docs
            .iter()
            .filter(|(_, d)| d.is_pending())
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// The next request: one push per pending document (at most [`MAX_DOCS_PER_REQUEST`]),
    /// and the cursor. Building it changes nothing; edits may go on until the response comes.
    ///
    /// A document's push carries at most [`MAX_NEW_CHANGES_PER_DOC`] changes and
    /// [`MAX_CHANGE_BYTES_PER_DOC`] bytes: a larger backlog (a phone that made many edits
    /// offline) sends its first changes in dependency order; once the server confirmed them the
    /// document is still pending and the next request sends the next ones
    /// ([`ApplyReport::sync_again`] says so).
    pub fn build_request(&self) -> SyncRequest {
        let docs = self
            .docs
            .iter()
            .filter(|(_, d)| d.is_pending())
            .take(MAX_DOCS_PER_REQUEST)
            .map(|(id, d)| {
                let (base_heads, changes) = match &d.content {
                    Content::Open(doc) if d.need_full => {
                        (Vec::new(), changes_within_budget(doc.automerge(), &[]))
                    }
                    Content::Open(doc) => (
                        d.base_heads.clone(),
                        changes_within_budget(doc.automerge(), &d.base_heads),
                    ),
                    // Asks for the whole document: nothing to add, nothing known.
                    Content::Partial { .. } => (Vec::new(), Vec::new()),
                };
                DocPush {
                    id: id.clone(),
                    kind: d.kind(),
                    base_heads,
                    changes: Bytes(changes),
                }
            })
            .collect();
        SyncRequest::new(self.device.clone(), self.cursor.clone(), docs)
    }

    /// Applies the server's answer to `request`: merges every change it carries, advances
    /// base heads to the server's heads where the local document holds them (otherwise marks
    /// the document for a full exchange), remembers refusals, and stores the new cursor.
    ///
    /// Applying the same response twice, or an older response after a newer one, is harmless:
    /// changes are idempotent, and an older cursor or base only causes data to be sent again.
    /// Edits made since `request` was built are kept and stay pending.
    pub fn apply_response(
        &mut self,
        request: &SyncRequest,
        response: &SyncResponse,
    ) -> Result<ApplyReport, ClientError> {
        if response.protocol != PROTOCOL_VERSION {
            return Err(ClientError::UnsupportedVersion(response.protocol));
        }
        if response.docs.len() != request.docs.len() {
            return Err(ClientError::Mismatch("not one result per pushed document"));
        }
        if request
            .docs
            .iter()
            .zip(&response.docs)
            .any(|(push, result)| push.id != result.id)
        {
            return Err(ClientError::Mismatch("results are not in request order"));
        }

        let mut report = Vec::with_capacity(response.docs.len() + response.updates.len());
        for result in &response.docs {
            let Some(entry) = self.docs.get_mut(&result.id) else {
                report.push((
                    result.id.clone(),
                    DocOutcome::Unusable("not on this device".to_owned()),
                ));
                continue;
            };
            let loaded = entry.load(&result.id, &result.changes);
            let outcome = match result.status {
                DocStatus::Ok => {
                    if loaded.is_ok() && entry.confirm(&result.heads) {
                        entry.rejection = None;
                        DocOutcome::Accepted
                    } else {
                        entry.need_full = true;
                        DocOutcome::NeedFull
                    }
                }
                DocStatus::NeedFull => {
                    entry.need_full = true;
                    DocOutcome::NeedFull
                }
                DocStatus::Rejected => {
                    let error = result
                        .error
                        .clone()
                        .unwrap_or_else(|| PushError::new("rejected", "the server gave no reason"));
                    entry.rejection = Some(error.clone());
                    DocOutcome::Rejected(error)
                }
            };
            report.push((result.id.clone(), outcome));
        }

        for update in &response.updates {
            let entry = self
                .docs
                .entry(update.id.clone())
                .or_insert_with(|| LocalDoc {
                    content: Content::Partial {
                        kind: update.kind,
                        am: Automerge::new().with_actor(self.actor.clone()),
                    },
                    base_heads: Vec::new(),
                    need_full: false,
                    rejection: None,
                });
            let outcome = if entry.kind() != update.kind {
                DocOutcome::Unusable(format!(
                    "sent as a {}, held as a {}",
                    update.kind,
                    entry.kind()
                ))
            } else {
                match entry.load(&update.id, &update.changes) {
                    Err(reason) => {
                        entry.need_full = true;
                        DocOutcome::Unusable(reason)
                    }
                    Ok(()) if entry.confirm(&update.heads) => DocOutcome::Updated,
                    Ok(()) => DocOutcome::NeedFull,
                }
            };
            report.push((update.id.clone(), outcome));
        }

        let mut removed = Vec::new();
        for id in &response.removed {
            if self.docs.remove(id).is_some() {
                removed.push(id.clone());
            }
        }

        self.cursor = Some(response.cursor.clone());
        let full = self.docs.values().any(|d| {
            (d.need_full && d.rejection.is_none()) || matches!(d.content, Content::Partial { .. })
        });
        let left_out = self.docs.values().filter(|d| d.is_pending()).count() > MAX_DOCS_PER_REQUEST
            && request.docs.len() == MAX_DOCS_PER_REQUEST;
        // A document told `need_full` may have been confirmed by an update since, but its
        // own changes still wait for the next round trip.
        let told_full = report
            .iter()
            .any(|(_, outcome)| *outcome == DocOutcome::NeedFull);
        // A document whose push carried only the first part of its backlog: the rest goes now.
        // (Edits made while the request was in flight wait for the next sync, as always.)
        let backlog = request
            .docs
            .iter()
            .zip(&report)
            .any(|(push, (id, outcome))| {
                *outcome == DocOutcome::Accepted
                    && self.docs.get(id).is_some_and(|d| d.was_cut_short(push))
            });
        Ok(ApplyReport {
            docs: report,
            sync_again: response.more || full || told_full || left_out || backlog,
            removed,
        })
    }
}
