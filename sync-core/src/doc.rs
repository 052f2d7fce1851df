//! [`Document`]: one record as one Automerge document, with a typed API over it.
//!
//! The document root holds `kind` (the [`RecordKind`]), `schema` (the record layout version),
//! and the record's own fields, starting with `id`. Callers read and edit records as plain Rust
//! values; [`Document::update`] diffs the edited value against the document (autosurgeon), so
//! a change carries only the fields that really changed and concurrent edits of different
//! fields merge cleanly.

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, Automerge, AutomergeError, ChangeHash, ROOT, ReadDoc};
use serde_json::Value;

use crate::ids::{DeviceId, DocId};
use crate::models::AnyRecord;
use crate::record::{Record, RecordKind, RecordMeta};
use crate::time::Timestamp;
use crate::validate::{RecordInvalid, ValidationContext, Violations};

/// The record layout version written at the root of every new document.
pub const SCHEMA_VERSION: u64 = 1;

/// Root keys that belong to the document header rather than to the typed record.
pub(crate) const HEADER_KEYS: [&str; 2] = ["kind", "schema"];

/// Who makes a change and when: the Automerge actor, the client time and a short message.
#[derive(Debug, Clone)]
pub struct Author {
    /// The actor id written into the change. Use [`actor_for_device`] so the server can map
    /// the change back to a device.
    pub actor: ActorId,
    /// The device's clock at the time of the edit.
    pub at: Timestamp,
    /// A short description of the edit ("add resident", "dispatch case").
    pub message: Option<String>,
}

impl Author {
    /// An author with no message.
    pub fn new(actor: ActorId, at: Timestamp) -> Self {
        Self {
            actor,
            at,
            message: None,
        }
    }

    /// The same author with a message.
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }

    pub(crate) fn commit_options(&self) -> CommitOptions {
        let opts = CommitOptions::default().with_time(self.at.millis());
        match &self.message {
            Some(m) => opts.with_message(m.clone()),
            None => opts,
        }
    }
}

/// A fresh actor id for one device: the device's 16 UUID bytes followed by 8 random bytes.
///
/// The device prefix lets the server attribute every change to a device and refuse changes
/// that claim another device. The random suffix makes every store incarnation a new actor,
/// so a phone restored from an old backup never reuses a sequence number it already spent.
pub fn actor_for_device(device: &DeviceId) -> ActorId {
    let mut bytes = Vec::with_capacity(24);
    bytes.extend_from_slice(device.uuid().as_bytes());
    bytes.extend_from_slice(&rand::random::<[u8; 8]>());
    ActorId::from(bytes)
}

/// The device an actor id was made for by [`actor_for_device`], if it was.
pub fn device_of_actor(actor: &ActorId) -> Option<DeviceId> {
    let bytes = actor.to_bytes();
    if bytes.len() != 24 {
        return None;
    }
    let uuid = uuid::Uuid::from_slice(&bytes[..16]).ok()?;
    Some(DeviceId::from_uuid(uuid))
}

/// A record's version as text: its heads' hex hashes, sorted, comma separated. The one
/// spelling of a version: the server stores heads so, and the phone library hands it to apps
/// (which pass it back with an edit made from that view).
pub fn version_text(heads: &[ChangeHash]) -> String {
    let mut hex: Vec<String> = heads.iter().map(ToString::to_string).collect();
    hex.sort_unstable();
    hex.join(",")
}

/// The heads of a [`version_text`]; `None` when a part is not a change hash.
pub fn parse_version_text(text: &str) -> Option<Vec<ChangeHash>> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(|h| h.parse::<ChangeHash>().ok())
        .collect()
}

/// Why a document could not be opened or edited.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    /// The bytes are not an Automerge document.
    #[error("not a valid Automerge document: {0}")]
    Corrupt(#[source] Box<AutomergeError>),
    /// The root lacks a readable `kind` or `id`.
    #[error("document header is invalid: {0}")]
    Header(&'static str),
    /// The document holds another kind of record than the one asked for.
    #[error("record {id} is a {found}, not a {expected}")]
    WrongKind {
        /// The record.
        id: DocId,
        /// The kind the caller asked for.
        expected: RecordKind,
        /// The kind the document holds.
        found: RecordKind,
    },
    /// The record breaks its schema.
    #[error(transparent)]
    Invalid(#[from] RecordInvalid),
    /// The version an edit was based on is not (or no longer) known to this document.
    #[error("record {0} has no such version")]
    UnknownVersion(DocId),
    /// Automerge refused an operation.
    #[error("automerge: {0}")]
    Automerge(#[source] Box<AutomergeError>),
}

impl From<AutomergeError> for DocumentError {
    fn from(e: AutomergeError) -> Self {
        Self::Automerge(Box::new(e))
    }
}

/// One record as one Automerge document.
#[derive(Debug, Clone)]
pub struct Document {
    am: Automerge,
    id: DocId,
    kind: RecordKind,
}

impl Document {
    /// Starts a new document holding `record`, as one change by `author`.
    ///
    /// The record is validated first; an invalid record creates nothing.
    pub fn create<R: Record>(
        record: &R,
        author: &Author,
        ctx: &ValidationContext,
    ) -> Result<Self, DocumentError> {
        check_record(record, ctx)?;
        let mut am = Automerge::new().with_actor(author.actor.clone());
        let mut tx = am.transaction();
        tx.put(ROOT, "kind", R::KIND.as_str())?;
        tx.put(ROOT, "schema", SCHEMA_VERSION)?;
        if let Err(e) = autosurgeon::reconcile(&mut tx, record) {
            tx.rollback();
            return Err(reconcile_failed(record.id(), R::KIND, e).into());
        }
        tx.commit_with(author.commit_options());
        Ok(Self {
            am,
            id: record.id().clone(),
            kind: R::KIND,
        })
    }

    /// Opens a document from the bytes of [`Document::save`] (or any Automerge save).
    pub fn load(bytes: &[u8]) -> Result<Self, DocumentError> {
        let am = Automerge::load(bytes).map_err(|e| DocumentError::Corrupt(Box::new(e)))?;
        Self::from_automerge(am)
    }

    /// Wraps an Automerge document, reading its header.
    pub fn from_automerge(am: Automerge) -> Result<Self, DocumentError> {
        let (id, kind) = read_header(&am)?;
        Ok(Self { am, id, kind })
    }

    /// The record's id.
    pub fn id(&self) -> &DocId {
        &self.id
    }

    /// The record's kind.
    pub fn kind(&self) -> RecordKind {
        self.kind
    }

    /// The current heads (hashes of the changes nothing else depends on yet).
    pub fn heads(&self) -> Vec<ChangeHash> {
        self.am.get_heads()
    }

    /// The underlying Automerge document.
    pub fn automerge(&self) -> &Automerge {
        &self.am
    }

    /// The underlying Automerge document, for merging changes from elsewhere. Callers that
    /// accept changes from others must re-validate ([`Document::validate`]).
    pub fn automerge_mut(&mut self) -> &mut Automerge {
        &mut self.am
    }

    /// Sets the actor used for the next local edits.
    pub fn set_actor(&mut self, actor: ActorId) {
        self.am.set_actor(actor);
    }

    /// The whole document in Automerge's compact form.
    pub fn save(&self) -> Vec<u8> {
        self.am.save()
    }

    /// The merged record as JSON, including the header (`kind`, `schema`). Where concurrent
    /// writes conflict, Automerge's deterministic winner is shown; see [`crate::conflicts`].
    pub fn json(&self) -> Value {
        crate::json::hydrated_to_json(&self.am.hydrate(None))
    }

    /// The typed record. Only type-level rules are applied; see [`Document::validate`].
    pub fn read<R: Record>(&self) -> Result<R, DocumentError> {
        if R::KIND != self.kind {
            return Err(DocumentError::WrongKind {
                id: self.id.clone(),
                expected: R::KIND,
                found: self.kind,
            });
        }
        Ok(self.read_unchecked_kind()?)
    }

    pub(crate) fn read_unchecked_kind<R: Record>(&self) -> Result<R, RecordInvalid> {
        self.record_from_json(&self.record_json())
    }

    /// The record's fields as JSON: [`Document::json`] without the header (`kind`, `schema`).
    /// The server's record view and query index rows are made from it.
    pub fn record_json(&self) -> Value {
        let mut json = self.json();
        if let Some(root) = json.as_object_mut() {
            for key in HEADER_KEYS {
                root.remove(key);
            }
        }
        json
    }

    /// The typed record from its JSON (as given by [`Document::record_json`], possibly kept up
    /// to date incrementally by the caller).
    pub(crate) fn record_from_json<R: Record>(&self, json: &Value) -> Result<R, RecordInvalid> {
        // Copied only for a document that still holds keys of an earlier layout (rare: the
        // server moves them), never on the common path.
        let stripped;
        let json = if R::HAS_LEGACY_SHAPE && R::has_legacy(json) {
            let mut copy = json.clone();
            R::strip_legacy(&mut copy);
            stripped = copy;
            &stripped
        } else {
            json
        };
        let record: R = serde_path_to_error::deserialize(json).map_err(|e| {
            let field = e.path().to_string();
            RecordInvalid::single(
                Some(self.id.clone()),
                Some(self.kind),
                if field == "." {
                    "(root)".to_owned()
                } else {
                    field
                },
                scrub_serde_message(&e.into_inner().to_string()),
            )
        })?;
        if record.id() != &self.id {
            return Err(RecordInvalid::single(
                Some(self.id.clone()),
                Some(self.kind),
                "id",
                "differs from the document's id",
            ));
        }
        Ok(record)
    }

    /// Edits the record: reads it, lets `edit` change the value, validates the result, and
    /// writes the difference as one change by `author`. Nothing is written if `edit` or the
    /// validation fails. Returns the new change's hash, or `None` when nothing changed.
    pub fn update<R, E, F>(
        &mut self,
        author: &Author,
        ctx: &ValidationContext,
        edit: F,
    ) -> Result<Option<ChangeHash>, E>
    where
        R: Record,
        E: From<DocumentError>,
        F: FnOnce(&mut R) -> Result<(), E>,
    {
        let before: R = self.read()?;
        let mut after = before.clone();
        edit(&mut after)?;
        check_record(&after, ctx).map_err(DocumentError::from)?;
        check_transition(&before, &after).map_err(DocumentError::from)?;
        self.am.set_actor(author.actor.clone());
        let mut tx = self.am.transaction();
        if let Err(e) = autosurgeon::reconcile(&mut tx, &after) {
            tx.rollback();
            return Err(DocumentError::from(reconcile_failed(&self.id, self.kind, e)).into());
        }
        let (hash, _) = tx.commit_with(author.commit_options());
        Ok(hash)
    }

    /// The typed record as it was at `heads` (a version this document holds).
    pub fn read_at<R: Record>(&self, heads: &[ChangeHash]) -> Result<R, DocumentError> {
        if R::KIND != self.kind {
            return Err(DocumentError::WrongKind {
                id: self.id.clone(),
                expected: R::KIND,
                found: self.kind,
            });
        }
        if !self.am.get_missing_deps(heads).is_empty() {
            return Err(DocumentError::UnknownVersion(self.id.clone()));
        }
        let mut json = crate::json::hydrated_to_json(&self.am.hydrate(Some(heads)));
        if let Some(root) = json.as_object_mut() {
            for key in HEADER_KEYS {
                root.remove(key);
            }
        }
        Ok(self.record_from_json(&json)?)
    }

    /// Writes `value` as the record's new state *as its editor saw it at `base`*: the
    /// difference between the record at `base` and `value` becomes one change that depends on
    /// `base`. Changes merged in since `base` (by a sync while a form was open) are kept
    /// wherever the editor left the field as it was; where both wrote, the field holds both
    /// values as a conflict. Validated like [`Document::update`]; returns `None` when `value`
    /// equals the record at `base`.
    pub fn replace_at<R: Record>(
        &mut self,
        author: &Author,
        ctx: &ValidationContext,
        base: &[ChangeHash],
        value: &R,
    ) -> Result<Option<ChangeHash>, DocumentError> {
        let before: R = self.read_at(base)?;
        check_record(value, ctx)?;
        check_transition(&before, value)?;
        self.am.set_actor(author.actor.clone());
        let mut tx = self
            .am
            .transaction_at(automerge::PatchLog::inactive(), base)
            .map_err(|_| DocumentError::UnknownVersion(self.id.clone()))?;
        if let Err(e) = autosurgeon::reconcile(&mut tx, value) {
            tx.rollback();
            return Err(reconcile_failed(&self.id, self.kind, e).into());
        }
        let (hash, _) = tx.commit_with(author.commit_options());
        Ok(hash)
    }

    /// Checks the merged record against every rule of its kind and returns its scope facts.
    pub fn validate(&self, ctx: &ValidationContext) -> Result<RecordMeta, RecordInvalid> {
        let record = AnyRecord::read(self)?;
        record.check(ctx)?;
        Ok(record.meta())
    }

    /// Checks that the change from `before` to `self` keeps the update rules of the kind
    /// (append-only logs, nobody deleted, same id and kind).
    pub fn validate_update(&self, before: &Document) -> Result<(), RecordInvalid> {
        if before.id != self.id || before.kind != self.kind {
            return Err(RecordInvalid::single(
                Some(before.id.clone()),
                Some(before.kind),
                "id",
                "a record's id and kind never change",
            ));
        }
        let old = AnyRecord::read(before)?;
        let new = AnyRecord::read(self)?;
        AnyRecord::check_update(&old, &new)
    }
}

/// Runs [`Record::check`] and turns its violations into an error.
pub(crate) fn check_record<R: Record>(
    record: &R,
    ctx: &ValidationContext,
) -> Result<(), RecordInvalid> {
    let mut v = Violations::default();
    record.check(ctx, &mut v);
    finish(record.id(), R::KIND, v)
}

/// Runs [`Record::check_update`] (and the id rule) and turns its violations into an error.
pub(crate) fn check_transition<R: Record>(before: &R, after: &R) -> Result<(), RecordInvalid> {
    let mut v = Violations::default();
    if before.id() != after.id() {
        v.push("id", "a record's id never changes");
    }
    R::check_update(before, after, &mut v);
    finish(before.id(), R::KIND, v)
}

fn finish(id: &DocId, kind: RecordKind, v: Violations) -> Result<(), RecordInvalid> {
    if v.is_empty() {
        Ok(())
    } else {
        Err(RecordInvalid {
            record: Some(id.clone()),
            kind: Some(kind),
            errors: v.into_vec(),
        })
    }
}

fn reconcile_failed(id: &DocId, kind: RecordKind, e: autosurgeon::ReconcileError) -> RecordInvalid {
    RecordInvalid::single(
        Some(id.clone()),
        Some(kind),
        "(root)",
        format!("could not be written: {e}"),
    )
}

fn read_header(am: &Automerge) -> Result<(DocId, RecordKind), DocumentError> {
    let text = |key: &str| -> Option<String> {
        match am.get(ROOT, key).ok().flatten()? {
            (automerge::Value::Scalar(s), _) => s.as_str().map(str::to_owned),
            _ => None,
        }
    };
    let kind = text("kind")
        .ok_or(DocumentError::Header("missing `kind`"))?
        .parse::<RecordKind>()
        .map_err(|_| DocumentError::Header("unknown `kind`"))?;
    let id = text("id")
        .ok_or(DocumentError::Header("missing `id`"))?
        .parse::<DocId>()
        .map_err(|_| {
            DocumentError::Header(
                "`id` is not a canonical record id (a lowercase, hyphenated UUID)",
            )
        })?;
    Ok((id, kind))
}

/// serde messages quote the offending value (`invalid type: string "13800001111"`), which may
/// be personal data. Quoted parts are replaced by `…`, except in messages that quote a field or
/// enum name rather than a value.
fn scrub_serde_message(message: &str) -> String {
    const KEEP: [&str; 4] = [
        "missing field",
        "unknown field",
        "unknown value",
        "unknown variant",
    ];
    if KEEP.iter().any(|k| message.starts_with(k)) {
        return message.to_owned();
    }
    let mut out = String::with_capacity(message.len());
    let mut open: Option<char> = None;
    for c in message.chars() {
        match open {
            None if c == '"' || c == '`' => {
                open = Some(c);
                out.push(c);
                out.push('…');
            }
            None => out.push(c),
            Some(quote) if c == quote => {
                open = None;
                out.push(c);
            }
            Some(_) => {}
        }
    }
    out
}
