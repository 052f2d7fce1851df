//! The sync protocol's wire types: one JSON request, one JSON response.
//!
//! This module is a compatibility boundary: `docs/sync-protocol.md` is its contract, and
//! every type here is what goes over the wire, field for field. Binary fields are standard
//! base64 with padding ([`Bytes`]); change hashes are 64-character lowercase hex
//! ([`hash_list`]). Every message carries `"protocol": 1`.
//!
//! A device sends a [`SyncRequest`] with the changes it made since the server last confirmed
//! each document ([`DocPush`]); the server answers with a [`SyncResponse`]: one [`DocResult`]
//! per pushed document, in the same order, and the [`DocUpdate`]s of documents in the caller's
//! scope that changed elsewhere since the request's [`Cursor`].

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;

use automerge::{Automerge, Change, ChangeHash};
use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ids::{DeviceId, DocId, GridId};
use crate::record::RecordKind;
use crate::validate::RecordInvalid;

/// The protocol version this crate speaks. Every message carries it; others are refused.
pub const PROTOCOL_VERSION: u32 = 1;

/// Most documents one request may push. A device with more pending documents sends them over
/// several requests.
pub const MAX_DOCS_PER_REQUEST: usize = 1000;

/// Most bytes of changes one [`DocPush`] may carry (after base64 decoding). Records are small;
/// a push above this is refused with [`codes::TOO_LARGE`].
pub const MAX_CHANGE_BYTES_PER_DOC: usize = 4 * 1024 * 1024;

/// Most changes new to the server that one [`DocPush`] may add to a record (the per-record
/// change budget of one push). An honest phone rarely makes more than a few dozen edits of one
/// record between syncs; a push above this is refused with [`codes::TOO_LARGE`] and stores
/// nothing. [`crate::client::Replica::build_request`] never exceeds it: a larger backlog goes
/// over successive requests, the first changes (in dependency order) first. Changes the server
/// already has (a retry, a full push after `need_full`) do not count.
pub const MAX_NEW_CHANGES_PER_DOC: usize = 1000;

/// Most `base_heads` one [`DocPush`] may name. A document rarely has more than a handful of
/// heads (one per concurrent branch).
pub const MAX_HEADS_PER_DOC: usize = 256;

/// Longest cursor text a server accepts.
pub const MAX_CURSOR_LEN: usize = 64 * 1024;

/// Default for the most documents one response carries in `updates` before it sets `more`.
pub const MAX_UPDATES_PER_RESPONSE: usize = 5000;

/// The magic bytes that open every Automerge storage chunk.
pub const CHUNK_MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];

/// Chunk type byte of an uncompressed change.
const CHUNK_TYPE_CHANGE: u8 = 1;

/// The error codes of [`PushError::code`]. Clients must treat a code they do not know like
/// any other rejection.
pub mod codes {
    /// The record is outside the caller's scope (or the push would move it out).
    pub const FORBIDDEN: &str = "forbidden";
    /// The record breaks its schema; `fields` names what is wrong.
    pub const INVALID_RECORD: &str = "invalid_record";
    /// A change new to the server was not made by the calling device.
    pub const FOREIGN_CHANGE: &str = "foreign_change";
    /// The `changes` bytes are not a sequence of valid Automerge change chunks.
    pub const CORRUPT: &str = "corrupt";
    /// The pushed kind differs from the stored record's kind.
    pub const WRONG_KIND: &str = "wrong_kind";
    /// The push exceeds a per-document limit.
    pub const TOO_LARGE: &str = "too_large";
    /// The server has no such record and the push carries no changes to create it.
    pub const NOT_FOUND: &str = "not_found";
    /// The server lacks changes the push depends on (status `need_full`, not `rejected`).
    pub const MISSING_DEPENDENCIES: &str = "missing_dependencies";
    /// The record was archived (an archived household's private document): nothing more is
    /// written to it; the same response lists it under `removed`.
    pub const ARCHIVED: &str = "archived";
}

// ---------------------------------------------------------------------------------------------
// Scalars: bytes, hashes, cursors
// ---------------------------------------------------------------------------------------------

/// Binary data, on the wire as standard base64 with padding.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Bytes(pub Vec<u8>);

impl Bytes {
    /// The raw bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }

    /// Number of raw bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The raw change chunks of `changes`, concatenated in order.
    pub fn from_changes<'a>(changes: impl IntoIterator<Item = &'a Change>) -> Self {
        let mut out = Vec::new();
        for change in changes {
            out.extend_from_slice(change.raw_bytes());
        }
        Self(out)
    }
}

impl From<Vec<u8>> for Bytes {
    fn from(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }
}

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Bytes({} bytes)", self.0.len())
    }
}

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&base64::engine::general_purpose::STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        base64::engine::general_purpose::STANDARD
            .decode(text.as_bytes())
            .map(Bytes)
            .map_err(|_| serde::de::Error::custom("not standard base64 with padding"))
    }
}

/// A change hash that is not 64 lowercase hex characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a change hash must be 64 lowercase hex characters")]
pub struct InvalidHash;

/// Parses a change hash in its wire form: exactly 64 lowercase hex characters.
pub fn parse_hash(text: &str) -> Result<ChangeHash, InvalidHash> {
    if text.len() != 64
        || !text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(InvalidHash);
    }
    text.parse().map_err(|_| InvalidHash)
}

/// Serde for `Vec<ChangeHash>` as a JSON array of 64-character lowercase hex strings. Use
/// with `#[serde(with = "sync_core::protocol::hash_list")]`.
pub mod hash_list {
    use automerge::ChangeHash;
    use serde::de::{SeqAccess, Visitor};
    use serde::ser::SerializeSeq;
    use serde::{Deserializer, Serializer};

    /// Writes the hashes as hex strings.
    pub fn serialize<S: Serializer>(
        hashes: &[ChangeHash],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(hashes.len()))?;
        for hash in hashes {
            seq.serialize_element(&hash.to_string())?;
        }
        seq.end()
    }

    /// Reads hex strings, refusing anything but 64 lowercase hex characters.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<ChangeHash>, D::Error> {
        struct HashesVisitor;
        impl<'de> Visitor<'de> for HashesVisitor {
            type Value = Vec<ChangeHash>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an array of 64-character lowercase hex change hashes")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                // The capacity hint comes from the sender; cap it.
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
                while let Some(text) = seq.next_element::<std::borrow::Cow<'de, str>>()? {
                    out.push(super::parse_hash(&text).map_err(serde::de::Error::custom)?);
                }
                Ok(out)
            }
        }
        deserializer.deserialize_seq(HashesVisitor)
    }
}

/// Where a device is in the stream of changes of its scope. Opaque to clients: store the one
/// the last response gave, send it back, never build or read one.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Cursor(String);

impl Cursor {
    /// Wraps cursor text (as received from a server).
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    /// The cursor's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cursor({})", self.0)
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The server's reading of a [`Cursor`]: for each grid in scope, the last per-grid sequence
/// number the device has seen. Text form: `v1:` then `grid=seq` pairs sorted by grid and
/// separated by commas, e.g. `v1:dzk-01=42,dzk-02=7` (`v1:` alone when empty).
///
/// The server must hand out sequence numbers in commit order: a reader must never see seq 10
/// committed while seq 9 is still to come. The real server bumps a per-grid counter under a
/// row lock inside each writing transaction; a bare database sequence is not enough.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GridCursor(pub BTreeMap<GridId, u64>);

/// Cursor text a server cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CursorError {
    /// The text is longer than [`MAX_CURSOR_LEN`].
    #[error("cursor is longer than {MAX_CURSOR_LEN} characters")]
    TooLong,
    /// The text does not start with a known version prefix (`v1:`).
    #[error("cursor has an unknown version; drop it and sync without a cursor")]
    UnknownVersion,
    /// One `grid=seq` entry is malformed.
    #[error("cursor entry {index} is malformed: {reason}")]
    BadEntry {
        /// Position of the entry, from 0.
        index: usize,
        /// What is wrong.
        reason: &'static str,
    },
}

impl GridCursor {
    /// The last sequence number seen for `grid` (0 when never seen).
    pub fn get(&self, grid: &GridId) -> u64 {
        self.0.get(grid).copied().unwrap_or(0)
    }

    /// The compact text form.
    pub fn encode(&self) -> Cursor {
        let mut text = String::from("v1:");
        for (i, (grid, seq)) in self.0.iter().enumerate() {
            if i > 0 {
                text.push(',');
            }
            text.push_str(grid.as_str());
            text.push('=');
            text.push_str(&seq.to_string());
        }
        Cursor(text)
    }

    /// Reads the text form, refusing anything [`GridCursor::encode`] would not write.
    pub fn decode(cursor: &Cursor) -> Result<Self, CursorError> {
        let text = cursor.as_str();
        if text.len() > MAX_CURSOR_LEN {
            return Err(CursorError::TooLong);
        }
        let body = text
            .strip_prefix("v1:")
            .ok_or(CursorError::UnknownVersion)?;
        let mut map = BTreeMap::new();
        if body.is_empty() {
            return Ok(Self(map));
        }
        for (index, entry) in body.split(',').enumerate() {
            let bad = |reason| CursorError::BadEntry { index, reason };
            let (grid, seq) = entry.split_once('=').ok_or(bad("expected grid=seq"))?;
            let grid: GridId = grid.parse().map_err(|_| bad("not a grid code"))?;
            if seq.is_empty() || !seq.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad("sequence is not a decimal number"));
            }
            let seq: u64 = seq.parse().map_err(|_| bad("sequence is too large"))?;
            if map.insert(grid, seq).is_some() {
                return Err(bad("grid appears twice"));
            }
        }
        Ok(Self(map))
    }
}

impl FromStr for GridCursor {
    type Err = CursorError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::decode(&Cursor::new(s))
    }
}

// ---------------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------------

/// What a device sends: its pending documents and where it is in its scope's stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncRequest {
    /// Always [`PROTOCOL_VERSION`].
    #[serde(deserialize_with = "whole_number_de")]
    pub protocol: u32,
    /// The sending device; must match the device of the access token.
    pub device: DeviceId,
    /// The cursor of the last response applied; `null` (or absent) on the first sync.
    #[serde(default)]
    pub cursor: Option<Cursor>,
    /// At most [`MAX_DOCS_PER_REQUEST`] documents, each at most once.
    #[serde(default)]
    pub docs: Vec<DocPush>,
    /// Long poll: when the answer would carry nothing new for the device, the server may
    /// hold it up to this many milliseconds (at most [`MAX_WAIT_MS`]) until something in the
    /// device's scope changes, and answers once writes to its grids in progress at the server
    /// have finished. Absent or 0: answer at once.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "whole_number_opt"
    )]
    pub wait_ms: Option<u32>,
}

/// A whole number of a JSON request, also when written with a zero fraction (`406.0`): JSON
/// has one number type, and JSON Schema's `integer` (so the server's OpenAPI document)
/// includes `406.0`, which clients (JavaScript among them) may send. `None` for a fraction or
/// a number outside `T`'s range. The one reading of such numbers, for the sync request here
/// and for the server's other JSON bodies (`#[serde(deserialize_with = ...)]` through
/// [`whole_number_opt`]).
pub fn whole_number<T: TryFrom<i64>>(number: &serde_json::Number) -> Option<T> {
    /// Floats are exact integers up to 2^53.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    let whole = match (number.as_i64(), number.as_f64()) {
        (Some(n), _) => n,
        // Checked to be whole and within the exact range, so the cast loses nothing.
        #[allow(clippy::cast_possible_truncation)]
        (None, Some(f)) if f.fract() == 0.0 && f.abs() <= EXACT => f as i64,
        _ => return None,
    };
    T::try_from(whole).ok()
}

/// Deserialises a [`whole_number`].
fn whole_number_de<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64>,
{
    let number = serde_json::Number::deserialize(deserializer)?;
    whole_number(&number).ok_or_else(|| {
        serde::de::Error::custom(format!("expected a whole number in range, not {number}"))
    })
}

/// Deserialises an optional [`whole_number`] (absent with `#[serde(default)]`, or `null`).
pub fn whole_number_opt<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64>,
{
    match Option::<serde_json::Number>::deserialize(deserializer)? {
        None => Ok(None),
        Some(number) => whole_number(&number).map(Some).ok_or_else(|| {
            serde::de::Error::custom(format!("expected a whole number in range, not {number}"))
        }),
    }
}

/// The longest a server holds a long-poll answer (`SyncRequest::wait_ms`).
pub const MAX_WAIT_MS: u32 = 25_000;

/// One document's changes the server may lack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocPush {
    /// The record.
    pub id: DocId,
    /// Its kind.
    pub kind: RecordKind,
    /// The server heads the device last had confirmed for this document; `[]` if never
    /// confirmed (or when sending the whole document after `need_full`).
    #[serde(with = "hash_list")]
    pub base_heads: Vec<ChangeHash>,
    /// Concatenated raw Automerge change chunks: every change not an ancestor of
    /// `base_heads` (Automerge's `save_after(base_heads)`).
    pub changes: Bytes,
}

/// What the server answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncResponse {
    /// Always [`PROTOCOL_VERSION`].
    pub protocol: u32,
    /// Store it and send it with the next request, after applying this response.
    pub cursor: Cursor,
    /// One result per pushed document, in the request's order.
    pub docs: Vec<DocResult>,
    /// Documents in the caller's scope changed since the request's cursor, other than those
    /// pushed and accepted in this request.
    #[serde(default)]
    pub updates: Vec<DocUpdate>,
    /// `updates` were cut short: sync again (with the new cursor) for the rest.
    #[serde(default)]
    pub more: bool,
    /// Documents the device must no longer hold (an archived household's private document):
    /// drop them, with any unsent edits of them. Absent when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<DocId>,
}

/// How the server took one pushed document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocStatus {
    /// Stored (or already stored: a retry). `heads` are the server's heads.
    Ok,
    /// Refused; `error` says why. Nothing was stored.
    Rejected,
    /// The server lacks changes the push depends on: send the whole document
    /// (`base_heads: []`, every change) in the next request.
    NeedFull,
}

impl DocStatus {
    /// The wire text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Rejected => "rejected",
            Self::NeedFull => "need_full",
        }
    }
}

/// One broken rule of a record, as sent to the device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// Path of the field (`residents[1].id_number`).
    pub field: String,
    /// What is wrong, without the field's value.
    pub message: String,
}

/// Why a push was not accepted. Never contains field values (they may be personal data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushError {
    /// A machine-readable code from [`codes`].
    pub code: String,
    /// A sentence for logs and support staff.
    pub message: String,
    /// For `invalid_record`: every broken rule.
    #[serde(default)]
    pub fields: Vec<FieldError>,
}

impl PushError {
    /// An error without field details.
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Self {
            code: code.to_owned(),
            message: message.into(),
            fields: Vec::new(),
        }
    }

    /// An `invalid_record` error listing the broken rules.
    pub fn invalid(invalid: &RecordInvalid) -> Self {
        Self {
            code: codes::INVALID_RECORD.to_owned(),
            message: "the record breaks its schema".to_owned(),
            fields: invalid
                .errors
                .iter()
                .map(|e| FieldError {
                    field: e.field.clone(),
                    message: e.message.clone(),
                })
                .collect(),
        }
    }
}

/// The server's answer for one pushed document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocResult {
    /// The record.
    pub id: DocId,
    /// Accepted, rejected or need_full.
    pub status: DocStatus,
    /// The server's heads after the push; empty when rejected.
    #[serde(with = "hash_list")]
    pub heads: Vec<ChangeHash>,
    /// Changes the device lacks: every server change not an ancestor of the push's base heads
    /// and pushed changes. Empty when rejected.
    pub changes: Bytes,
    /// Why, when not ok.
    #[serde(default)]
    pub error: Option<PushError>,
}

impl DocResult {
    /// A rejection: no heads, no changes.
    pub fn rejected(id: DocId, error: PushError) -> Self {
        Self {
            id,
            status: DocStatus::Rejected,
            heads: Vec::new(),
            changes: Bytes::default(),
            error: Some(error),
        }
    }
}

/// A document that changed elsewhere.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocUpdate {
    /// The record.
    pub id: DocId,
    /// Its kind.
    pub kind: RecordKind,
    /// The server's heads.
    #[serde(with = "hash_list")]
    pub heads: Vec<ChangeHash>,
    /// Changes the device lacks (those it could not have had at its cursor).
    pub changes: Bytes,
}

// ---------------------------------------------------------------------------------------------
// Change chunks
// ---------------------------------------------------------------------------------------------

/// Bytes that are not a sequence of Automerge change chunks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeBytesError {
    /// The bytes end inside a chunk.
    #[error("change bytes end inside the chunk at offset {offset}")]
    Truncated {
        /// Where the chunk starts.
        offset: usize,
    },
    /// A chunk does not start with the Automerge magic bytes.
    #[error("no Automerge chunk at offset {offset}")]
    BadMagic {
        /// Where the chunk should start.
        offset: usize,
    },
    /// A chunk is not an uncompressed change (documents, compressed changes and bundles are
    /// not accepted).
    #[error(
        "chunk at offset {offset} has type {chunk_type}; only raw change chunks (type 1) are accepted"
    )]
    NotAChange {
        /// Where the chunk starts.
        offset: usize,
        /// The chunk type byte.
        chunk_type: u8,
    },
    /// The chunk's length field is not a valid uLEB128 number.
    #[error("chunk at offset {offset} has a malformed length")]
    BadLength {
        /// Where the chunk starts.
        offset: usize,
    },
    /// Automerge refused the chunk (bad checksum, bad columns, ...).
    #[error("chunk at offset {offset} is not a valid change: {reason}")]
    Invalid {
        /// Where the chunk starts.
        offset: usize,
        /// Automerge's reason.
        reason: String,
    },
}

/// Splits concatenated raw change chunks (the format of Automerge's `save_after`) into
/// changes, in order. A chunk is 4 magic bytes (`85 6f 4a 83`), a 4-byte checksum (the first
/// bytes of the SHA-256 change hash), a type byte (1 = change), a uLEB128 length and that many
/// bytes. Every chunk's checksum is verified. Never panics on hostile input.
pub fn split_changes(bytes: &[u8]) -> Result<Vec<Change>, ChangeBytesError> {
    let mut changes = Vec::new();
    let mut offset = 0;
    while offset < bytes.len() {
        let rest = &bytes[offset..];
        if rest.len() < 9 {
            return Err(if rest.len() >= 4 && rest[..4] != CHUNK_MAGIC {
                ChangeBytesError::BadMagic { offset }
            } else {
                ChangeBytesError::Truncated { offset }
            });
        }
        if rest[..4] != CHUNK_MAGIC {
            return Err(ChangeBytesError::BadMagic { offset });
        }
        let chunk_type = rest[8];
        if chunk_type != CHUNK_TYPE_CHANGE {
            return Err(ChangeBytesError::NotAChange { offset, chunk_type });
        }
        let (len, len_bytes) = read_uleb128(&rest[9..]).ok_or(if rest.len() < 19 {
            ChangeBytesError::Truncated { offset }
        } else {
            ChangeBytesError::BadLength { offset }
        })?;
        let total = usize::try_from(len)
            .ok()
            .and_then(|len| len.checked_add(9 + len_bytes))
            .ok_or(ChangeBytesError::Truncated { offset })?;
        if total > rest.len() {
            return Err(ChangeBytesError::Truncated { offset });
        }
        let chunk = rest[..total].to_vec();
        let parsed = guard(|| Change::from_bytes(chunk).map_err(|e| e.to_string()))
            .unwrap_or_else(|| Err("the parser failed".to_owned()));
        match parsed {
            // Automerge's change parser does not check the checksum; it is the first four
            // bytes of the change hash, which covers the type, length and contents.
            Ok(change) if change.hash().0[..4] != rest[4..8] => {
                return Err(ChangeBytesError::Invalid {
                    offset,
                    reason: "checksum mismatch".to_owned(),
                });
            }
            Ok(change) if !is_canonical(&change) => {
                return Err(ChangeBytesError::Invalid {
                    offset,
                    reason: "not in Automerge's canonical encoding".to_owned(),
                });
            }
            Ok(change) => changes.push(change),
            Err(reason) => return Err(ChangeBytesError::Invalid { offset, reason }),
        }
        offset += total;
    }
    Ok(changes)
}

/// How many change chunks concatenated chunk bytes hold, read from the chunk headers alone
/// (nothing is parsed or checked; `None` when the bytes are not a sequence of chunk headers
/// and lengths). Cheap enough to ask of every outgoing push.
pub fn count_chunks(bytes: &[u8]) -> Option<usize> {
    let mut offset = 0;
    let mut count = 0;
    while offset < bytes.len() {
        let rest = &bytes[offset..];
        if rest.len() < 9 || rest[..4] != CHUNK_MAGIC {
            return None;
        }
        let (len, len_bytes) = read_uleb128(&rest[9..])?;
        let total = usize::try_from(len).ok()?.checked_add(9 + len_bytes)?;
        if total > rest.len() {
            return None;
        }
        offset += total;
        count += 1;
    }
    Some(count)
}

/// Whether Automerge, encoding the change's operations again, reproduces its hash.
///
/// Automerge does not keep the bytes of the changes it applies: it rebuilds them from its
/// operation set whenever it saves or sends them. A change whose bytes parse and pass the
/// checksum but are not the canonical encoding of what they contain (found by fuzzing:
/// mangled columns that decode to the same operations, or to ones that encode differently)
/// would be applied under one hash and rebuilt under another. The document would then no
/// longer load from its own save and would break every peer's sync, so such a change is
/// refused before it is applied. Every change Automerge itself makes passes.
fn is_canonical(change: &Change) -> bool {
    guard(|| Change::from(change.decode()).hash() == change.hash()).unwrap_or(false)
}

/// Checks that every change numbers its operations after those of its dependencies, as every
/// change Automerge makes does (a new change starts at the document's highest op counter + 1).
///
/// Automerge applies a change that starts lower (found by fuzzing: an empty change starting
/// at op 1 on top of a record), or an empty change that starts after a gap, but the document
/// then saves in a form that no longer loads (`InvalidMaxOp`, `MissingOps`). Dependencies neither in `changes` nor in `am` are skipped: such a change
/// waits in Automerge's queue and is checked when it comes again with its dependencies.
pub(crate) fn check_op_counters(am: &Automerge, changes: &[Change]) -> Result<(), String> {
    let in_batch: HashMap<ChangeHash, u64> =
        changes.iter().map(|c| (c.hash(), c.max_op())).collect();
    for change in changes {
        let mut floor = 0;
        for dep in change.deps() {
            let dep_max = match in_batch.get(dep) {
                Some(max) => Some(*max),
                None => guard(|| am.get_change_meta_by_hash(dep).map(|m| m.max_op)).flatten(),
            };
            floor = floor.max(dep_max.unwrap_or(0));
        }
        let start = change.start_op().get();
        if start <= floor {
            return Err(format!(
                "change {} starts at op {start} although its dependencies reach op {floor}",
                change.hash(),
            ));
        }
        // An empty change claims the counters from its start to its end: a gap would be
        // operations it does not have. (A change with operations may start after a gap: an
        // edit made on an older version starts above everything its document had seen.)
        if change.is_empty() && start != floor + 1 {
            return Err(format!(
                "empty change {} starts at op {start}, not right after its dependencies' op {floor}",
                change.hash(),
            ));
        }
    }
    Ok(())
}

/// Why changes from elsewhere could not be applied to a document.
#[derive(Debug)]
pub(crate) enum ApplyError {
    /// Automerge could not have made them, or refused them.
    Corrupt(String),
    /// They nest objects too deep ([`crate::shape`]).
    Shape(crate::shape::ShapeError),
}

impl std::fmt::Display for ApplyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Corrupt(reason) => f.write_str(reason),
            Self::Shape(e) => e.fmt(f),
        }
    }
}

/// The one way changes from elsewhere enter a document, on the server and on the phone:
/// op counters checked, applied without panicking, and the objects they create checked for
/// depth before anything walks the document recursively. On error `am` may hold some of the
/// changes: callers apply to a scratch copy and throw it away.
pub(crate) fn apply_checked(am: &mut Automerge, changes: &[Change]) -> Result<(), ApplyError> {
    check_op_counters(am, changes).map_err(ApplyError::Corrupt)?;
    guard(|| {
        am.apply_changes(changes.iter().cloned())
            .map_err(|e| e.to_string())
    })
    .unwrap_or_else(|| Err("the changes could not be applied".to_owned()))
    .map_err(ApplyError::Corrupt)?;
    crate::shape::check_new_objects(am, changes).map_err(ApplyError::Shape)
}

/// Reads an unsigned LEB128 number of at most 64 bits; returns it and its length in bytes.
/// `None` when the bytes end first or the number overflows.
fn read_uleb128(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value: u64 = 0;
    for (i, &b) in bytes.iter().enumerate().take(10) {
        let low = u64::from(b & 0x7f);
        let shift = 7 * i as u32;
        if shift == 63 && low > 1 {
            return None;
        }
        value |= low << shift;
        if b & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

/// Runs `f`, turning a panic into `None`. Automerge's parser and change application are
/// fuzzed but have had crashing inputs; one hostile push must not take down whoever runs
/// this code. Anything `f` touched is thrown away by the callers on failure.
pub(crate) fn guard<T>(f: impl FnOnce() -> T) -> Option<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).ok()
}

// ---------------------------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------------------------

/// A message that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Not JSON of the expected shape.
    #[error("malformed message at {path}: {message}")]
    Json {
        /// Where in the message (`docs[3].base_heads[0]`).
        path: String,
        /// What serde found wrong.
        message: String,
    },
    /// The `protocol` field names a version this side does not speak.
    #[error("unsupported protocol version {0} (this side speaks {PROTOCOL_VERSION})")]
    UnsupportedVersion(u32),
    /// More documents than [`MAX_DOCS_PER_REQUEST`].
    #[error("{count} documents in one request; at most {MAX_DOCS_PER_REQUEST} are allowed")]
    TooManyDocs {
        /// How many were sent.
        count: usize,
    },
}

fn from_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| DecodeError::Json {
        path: e.path().to_string(),
        message: e.inner().to_string(),
    })?;
    de.end().map_err(|e| DecodeError::Json {
        path: ".".to_owned(),
        message: e.to_string(),
    })?;
    Ok(value)
}

fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    // Serializing these types cannot fail: every map key is a string and every value has a
    // JSON form.
    serde_json::to_vec(value).unwrap_or_default()
}

/// The request as JSON bytes.
pub fn encode_request(request: &SyncRequest) -> Vec<u8> {
    to_json(request)
}

/// Reads a request: JSON shape, protocol version and [`MAX_DOCS_PER_REQUEST`].
pub fn decode_request(bytes: &[u8]) -> Result<SyncRequest, DecodeError> {
    let request: SyncRequest = from_json(bytes)?;
    request.check()?;
    Ok(request)
}

/// The response as JSON bytes.
pub fn encode_response(response: &SyncResponse) -> Vec<u8> {
    to_json(response)
}

/// Reads a response: JSON shape and protocol version. Unknown fields are ignored, so servers
/// may add fields within a version.
pub fn decode_response(bytes: &[u8]) -> Result<SyncResponse, DecodeError> {
    let response: SyncResponse = from_json(bytes)?;
    if response.protocol != PROTOCOL_VERSION {
        return Err(DecodeError::UnsupportedVersion(response.protocol));
    }
    Ok(response)
}

impl SyncRequest {
    /// A request of this crate's protocol version.
    pub fn new(device: DeviceId, cursor: Option<Cursor>, docs: Vec<DocPush>) -> Self {
        Self {
            protocol: PROTOCOL_VERSION,
            device,
            cursor,
            docs,
            wait_ms: None,
        }
    }

    /// Checks the whole-request rules: version and document count.
    pub fn check(&self) -> Result<(), DecodeError> {
        if self.protocol != PROTOCOL_VERSION {
            return Err(DecodeError::UnsupportedVersion(self.protocol));
        }
        if self.docs.len() > MAX_DOCS_PER_REQUEST {
            return Err(DecodeError::TooManyDocs {
                count: self.docs.len(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_numbers_may_be_written_with_a_zero_fraction() {
        let device = DeviceId::new();
        let request = |rest: &str| {
            decode_request(format!(r#"{{"device": "{device}", {rest}}}"#).as_bytes())
                .map(|r| (r.protocol, r.wait_ms))
        };
        // schemathesis sent `"wait_ms": 406.0`, a JSON Schema integer: it was refused.
        assert_eq!(
            request(r#""protocol": 1.0, "wait_ms": 406.0"#).ok(),
            Some((1, Some(406)))
        );
        assert_eq!(
            request(r#""protocol": 1, "wait_ms": null"#).ok(),
            Some((1, None))
        );
        assert_eq!(request(r#""protocol": 1"#).ok(), Some((1, None)));
        for bad in [
            r#""protocol": 1, "wait_ms": 406.5"#,
            r#""protocol": 1, "wait_ms": -1"#,
            r#""protocol": 1, "wait_ms": 5e9"#,
            r#""protocol": 1.5"#,
            r#""protocol": "1""#,
        ] {
            assert!(
                matches!(request(bad), Err(DecodeError::Json { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn uleb128_reads_and_refuses_overflow() {
        assert_eq!(read_uleb128(&[0x05]), Some((5, 1)));
        assert_eq!(read_uleb128(&[0xe5, 0x8e, 0x26]), Some((624_485, 3)));
        assert_eq!(read_uleb128(&[0x80]), None);
        let max = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(read_uleb128(&max), Some((u64::MAX, 10)));
        let over = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert_eq!(read_uleb128(&over), None);
    }

    #[test]
    fn chunks_are_counted_from_their_headers() {
        use automerge::transaction::Transactable as _;
        let mut am = Automerge::new();
        for i in 0..3 {
            let mut tx = am.transaction();
            tx.put(automerge::ROOT, "notes", format!("n{i}"))
                .expect("put");
            tx.commit();
        }
        let bytes = am.save_after(&[]);
        assert_eq!(count_chunks(&bytes), Some(3));
        assert_eq!(count_chunks(&[]), Some(0));
        assert_eq!(count_chunks(&bytes[..bytes.len() - 1]), None);
        assert_eq!(count_chunks(b"not a chunk at all"), None);
    }

    #[test]
    fn hashes_must_be_lowercase_hex() {
        let lower = "a".repeat(64);
        assert!(parse_hash(&lower).is_ok());
        assert!(parse_hash(&"A".repeat(64)).is_err());
        assert!(parse_hash(&"a".repeat(63)).is_err());
        assert!(parse_hash(&"g".repeat(64)).is_err());
    }

    #[test]
    fn hostile_chunk_headers_are_errors() {
        let mut bytes = CHUNK_MAGIC.to_vec();
        bytes.extend([0, 0, 0, 0, 1]);
        bytes.extend([0xff; 10]);
        assert!(split_changes(&bytes).is_err());
        let mut huge = CHUNK_MAGIC.to_vec();
        huge.extend([0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert_eq!(
            split_changes(&huge),
            Err(ChangeBytesError::Truncated { offset: 0 })
        );
        assert_eq!(split_changes(&[]), Ok(Vec::new()));
    }

    /// Changes found by fuzzing (`fuzz/regressions/*/automerge-reencoded-change-*`): they
    /// parse and pass the checksum, but Automerge rebuilds them under another hash, which
    /// poisoned the record they were applied to (its save no longer loaded; Automerge's debug
    /// builds panicked sending it). They must be refused before anything applies them.
    #[test]
    fn changes_that_reencode_under_another_hash_are_refused() {
        let fixtures: [(&str, &[u8]); 4] = [
            (
                "poisons-record",
                include_bytes!("../tests/fixtures/noncanonical/poisons-record.chunk"),
            ),
            (
                "worker-case",
                include_bytes!("../tests/fixtures/noncanonical/worker-case.chunk"),
            ),
            (
                "build-request-panic",
                include_bytes!("../tests/fixtures/noncanonical/build-request-panic.chunk"),
            ),
            (
                "build-request-panic-2",
                include_bytes!("../tests/fixtures/noncanonical/build-request-panic-2.chunk"),
            ),
        ];
        for (name, bytes) in fixtures {
            let change = Change::from_bytes(bytes.to_vec()).expect(name);
            assert_eq!(change.hash().0[..4], bytes[4..8], "{name}: checksum");
            assert_ne!(
                Change::from(change.decode()).hash(),
                change.hash(),
                "{name}: re-encodes under its own hash"
            );
            match split_changes(bytes) {
                Err(ChangeBytesError::Invalid { offset: 0, reason }) => {
                    assert!(reason.contains("canonical"), "{name}: {reason}");
                }
                other => panic!("{name}: {other:?}"),
            }
        }
    }

    /// Found by fuzzing (`fuzz/regressions/apply_push/empty-change-*`): an empty change
    /// starting at op 1 on top of a document with operations, or after a gap. Automerge
    /// applies it, but the document's save no longer loads.
    #[test]
    fn changes_numbered_below_their_dependencies_are_refused() {
        use automerge::transaction::Transactable as _;

        let mut am = Automerge::new();
        let mut tx = am.transaction();
        tx.put(
            automerge::ROOT,
            "notes",
            "三楼漏水 leaking on the third floor",
        )
        .expect("put");
        tx.commit();
        let low = Change::from(automerge::ExpandedChange {
            operations: Vec::new(),
            actor_id: automerge::ActorId::from([7u8; 16]),
            hash: None,
            seq: 1,
            start_op: std::num::NonZeroU64::MIN,
            time: 0,
            message: None,
            deps: am.get_heads(),
            extra_bytes: Vec::new(),
            author: None,
        });
        let reason = check_op_counters(&am, std::slice::from_ref(&low)).expect_err("refused");
        assert!(reason.contains("starts at op 1"), "{reason}");
        // The same, empty, two ops too high (`empty-change-after-a-gap`).
        let mut gap = low.decode();
        gap.start_op = std::num::NonZeroU64::new(3).expect("non-zero");
        let gap = Change::from(gap);
        let reason = check_op_counters(&am, std::slice::from_ref(&gap)).expect_err("refused");
        assert!(reason.contains("empty change"), "{reason}");

        // Why: Automerge takes them, and the result no longer loads.
        for change in [low, gap] {
            let mut poisoned = am.clone();
            poisoned
                .apply_changes([change])
                .expect("Automerge applies it");
            assert!(Automerge::load(&poisoned.save()).is_err());
        }

        // A change Automerge makes itself passes, in a batch and on its own.
        let mut next = am.fork();
        next.transaction()
            .put(automerge::ROOT, "notes", "已修好 fixed")
            .expect("put");
        let ours = next.get_changes(&am.get_heads());
        assert_eq!(check_op_counters(&am, &ours), Ok(()));
        assert_eq!(
            check_op_counters(&Automerge::new(), &next.get_changes(&[])),
            Ok(())
        );
    }
}
