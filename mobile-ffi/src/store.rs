//! The phone's durable local store: one SQLite file, encrypted with SQLCipher.
//!
//! * `meta`: the device id, the cursor, the server address and the signed-in session.
//! * `docs`: every record as its saved Automerge document with what the server last confirmed
//!   of it (base heads, need-full flag, last refusal), plus a small projection (kind, grid,
//!   title, search text, pending and conflict flags) for lists and search without loading
//!   documents.
//! * `requests`: sync requests built for apps that move the bytes themselves, so a response
//!   that arrives after the app was killed and relaunched can still be applied.
//! * `blobs` and `blob_chunks` (layout 2): the bytes of attached photos and files, by their
//!   SHA-256, with their upload progress and list thumbnails (see below).
//!
//! Attachments' bytes live INSIDE this encrypted file, not in a folder beside it: a folder of
//! plain files would leave residents' photos readable on a lost phone, and a second
//! encryption scheme for files would need its own key handling. `blobs` holds one row per
//! content hash (media type, size, whether the server confirmed it holds all bytes, how many
//! bytes it held at the last look, whether the full bytes are here, the thumbnail, when it was
//! last used); `blob_chunks` holds the full bytes in 256 KiB rows, so an upload reads and a
//! download writes one chunk at a time and SQLite never handles one huge value. Full-size
//! bytes that the server holds are evicted least recently used first beyond a quota;
//! bytes the server has not confirmed are never evicted. `blob_refs` lists which record names
//! which hash; a record that leaves the phone (archived, moved out of reach) takes along the
//! bytes and thumbnails only it named, unless the server has not confirmed them.
//!
//! Durability: WAL journal with `synchronous = FULL`, so a transaction that returned is on
//! disk; every local edit is one transaction, and each applied sync response (its documents and
//! the new cursor) is one transaction. A process killed at any point leaves the last committed
//! state, never a torn one.
//!
//! Encryption: SQLCipher (4.x defaults: AES-256, an HMAC per page) encrypts every page of the
//! file and of its WAL with the key the app gives at open (see [`Store::open`]). Without the
//! key the file is unreadable; SQLite's header is encrypted too.

#![deny(unsafe_code)]

use std::path::Path;
use std::sync::Once;
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OptionalExtension, params};
use sync_core::client::SavedDoc;
use sync_core::ids::DocId;
use sync_core::protocol::Cursor;

use crate::error::GridbookError;

/// The layout version this code writes (`PRAGMA user_version`): 1 records, session and
/// requests; 2 adds attachments' bytes (`blobs`, `blob_chunks`).
const SCHEMA_VERSION: i64 = 2;

/// Bytes per row of `blob_chunks`.
pub(crate) const BLOB_CHUNK: usize = 256 * 1024;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS docs (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    saved      TEXT NOT NULL,   -- the SavedDoc as JSON (document bytes base64)
    grid       TEXT,
    title      TEXT NOT NULL,
    search     TEXT NOT NULL,   -- lower-cased text that search matches
    pending    INTEGER NOT NULL,
    conflicts  INTEGER NOT NULL,
    rejected   INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS docs_kind_title ON docs (kind, title);
CREATE TABLE IF NOT EXISTS requests (
    id         TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL,
    body       BLOB NOT NULL
) STRICT;
";

/// Layout 2: attachments' bytes. Run on new stores and on stores of layout 1 alike.
const SCHEMA_BLOBS: &str = "
CREATE TABLE IF NOT EXISTS blobs (
    sha256         TEXT PRIMARY KEY,
    media_type     TEXT NOT NULL,
    size           INTEGER NOT NULL,
    uploaded       INTEGER NOT NULL,  -- the server confirmed it holds every byte
    uploaded_bytes INTEGER NOT NULL,  -- bytes the server held at the last look
    full           INTEGER NOT NULL,  -- the full bytes are in blob_chunks
    thumb          BLOB,              -- the list thumbnail (JPEG), if here
    last_used      INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS blobs_unsent ON blobs (uploaded, full);
CREATE TABLE IF NOT EXISTS blob_refs (  -- the attachments each record names
    doc_id     TEXT NOT NULL REFERENCES docs (id) ON DELETE CASCADE,
    sha256     TEXT NOT NULL,
    media_type TEXT NOT NULL,
    size       INTEGER NOT NULL,
    PRIMARY KEY (doc_id, sha256)
) STRICT;
CREATE INDEX IF NOT EXISTS blob_refs_sha256 ON blob_refs (sha256);
CREATE TABLE IF NOT EXISTS blob_chunks (
    sha256 TEXT NOT NULL REFERENCES blobs (sha256) ON DELETE CASCADE,
    seq    INTEGER NOT NULL,
    data   BLOB NOT NULL,
    PRIMARY KEY (sha256, seq)
) STRICT;
";

/// Starts SQLite and SQLCipher once per process, before any store is keyed.
///
/// SQLite marks itself initialised before it runs SQLCipher's start-up
/// (`SQLITE_EXTRA_INIT`), so a thread that opens and keys a connection while another thread is
/// still in that start-up finds SQLCipher not ready and its `PRAGMA key` fails. Opening one
/// in-memory connection under a `Once` completes the whole start-up on one thread while the
/// others wait.
fn start_sqlite() {
    static STARTED: Once = Once::new();
    STARTED.call_once(|| {
        // An error here shows again, with its reason, on the caller's own open.
        drop(Connection::open_in_memory());
    });
}

/// The longest key accepted, in bytes.
const MAX_KEY_BYTES: usize = 1024;

/// Requests kept for apps that move the bytes themselves; older ones are dropped (applying
/// a response to a newer request makes them useless anyway).
const KEPT_REQUESTS: i64 = 8;

/// What lists and search need of one record, computed when it is saved.
#[derive(Debug, Clone)]
pub(crate) struct Projection {
    pub grid: Option<String>,
    pub title: String,
    pub search: String,
    pub pending: bool,
    pub conflicts: bool,
    pub rejected: bool,
    /// The attachments the record names.
    pub blobs: Vec<BlobRef>,
}

/// An attachment as a record names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BlobRef {
    pub sha256: String,
    pub media_type: String,
    pub size: u64,
}

/// One row of a list.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub id: String,
    pub kind: String,
    pub grid: Option<String>,
    pub title: String,
    pub pending: bool,
    pub conflicts: bool,
    pub rejected: bool,
    pub updated_at: i64,
}

/// The open SQLite file.
#[derive(Debug)]
pub(crate) struct Store {
    conn: Connection,
}

impl Store {
    /// Opens (creating if needed) the store at `path`, encrypted with `key`.
    ///
    /// `key` is what the app keeps in the Android Keystore or the iOS Keychain: either 64
    /// hexadecimal characters, used as the raw 256-bit key (no key derivation: the fastest
    /// open, for a random key), or any other non-empty passphrase of at most 1024 bytes
    /// without NUL characters, from which SQLCipher derives the key (PBKDF2, slower to open;
    /// SQLCipher reads a passphrase written `x'…'` as its raw-key syntax).
    /// A store opens only with the key it was created with. An unusable key, or one that does
    /// not decrypt the file, is `WrongKey` and the file is not changed.
    pub fn open(path: &Path, key: &str) -> Result<Self, GridbookError> {
        let key = sqlcipher_key(key)?;
        start_sqlite();
        let conn = Connection::open(path)?;
        // The key before any other statement: SQLCipher reads nothing until it has one.
        conn.pragma_update(None, "key", &key)?;
        match conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
            r.get::<_, i64>(0)
        }) {
            Ok(_) => {}
            Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == ErrorCode::NotADatabase => {
                return Err(GridbookError::wrong_key(
                    "the key does not open this store (it was created with another key, or the \
                     file is not an encrypted Gridbook store)",
                ));
            }
            Err(e) => return Err(e.into()),
        }
        // Refuse to write personal data unencrypted if this build's SQLite is not SQLCipher.
        let cipher: Option<String> = conn
            .query_row("PRAGMA cipher_version", [], |r| r.get(0))
            .optional()?;
        if cipher.is_none() {
            return Err(GridbookError::storage(
                "this build of the library cannot encrypt its store (SQLite without SQLCipher)",
            ));
        }
        conn.busy_timeout(Duration::from_secs(5))?;
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(GridbookError::storage(format!(
                "the store cannot use write-ahead logging (journal mode {mode})"
            )));
        }
        conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(GridbookError::storage(format!(
                "the store was written by a newer app (layout {version}, this app knows {SCHEMA_VERSION})"
            )));
        }
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(SCHEMA)?;
        // Layout 1 to 2 (and new stores): attachments' bytes. The attachments of records
        // already here are listed at the next open of a `Phone` (it reads the documents).
        tx.execute_batch(SCHEMA_BLOBS)?;
        if version == 1 {
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('blob_refs_stale', '1')
                 ON CONFLICT (key) DO NOTHING",
                [],
            )?;
        }
        tx.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))?;
        tx.commit()?;
        Ok(Self { conn })
    }

    /// A value of `meta`.
    pub fn meta(&self, key: &str) -> Result<Option<String>, GridbookError> {
        Ok(self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    /// Sets (or, with `None`, removes) a value of `meta`.
    pub fn set_meta(&self, key: &str, value: Option<&str>) -> Result<(), GridbookError> {
        match value {
            Some(v) => self.conn.execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![key, v],
            )?,
            None => self
                .conn
                .execute("DELETE FROM meta WHERE key = ?1", [key])?,
        };
        Ok(())
    }

    /// Erases everything: every record, kept request, the cursor, the session, the owning
    /// user and the device id, with SQLite's `secure_delete` so the freed pages are zeroed,
    /// then checkpoints the journal and rebuilds the file so no old page survives in it.
    pub fn erase(&self) -> Result<(), GridbookError> {
        self.conn.execute_batch("PRAGMA secure_delete = ON;")?;
        let tx = self.conn.unchecked_transaction()?;
        tx.execute_batch(
            "DELETE FROM docs; DELETE FROM requests; DELETE FROM meta;
             DELETE FROM blob_refs; DELETE FROM blob_chunks; DELETE FROM blobs;",
        )?;
        tx.commit()?;
        self.conn.execute_batch(
            "PRAGMA wal_checkpoint(TRUNCATE); VACUUM; PRAGMA wal_checkpoint(TRUNCATE);",
        )?;
        Ok(())
    }

    /// Every saved document.
    pub fn load_docs(&self) -> Result<Vec<SavedDoc>, GridbookError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, saved FROM docs ORDER BY id")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut docs = Vec::new();
        for row in rows {
            let (id, saved) = row?;
            let doc: SavedDoc = serde_json::from_str(&saved).map_err(|e| {
                GridbookError::storage(format!("saved record {id} does not read: {e}"))
            })?;
            docs.push(doc);
        }
        Ok(docs)
    }

    /// Writes documents (and, when given, the new cursor) in one transaction.
    pub fn save_docs(
        &mut self,
        docs: &[(SavedDoc, Projection)],
        removed: &[DocId],
        cursor: Option<&Cursor>,
        now_ms: i64,
    ) -> Result<(), GridbookError> {
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached("DELETE FROM docs WHERE id = ?1")?;
            for id in removed {
                stmt.execute([id.as_str()])?;
            }
        }
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO docs (id, kind, saved, grid, title, search, pending, conflicts,
                                   rejected, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                 ON CONFLICT (id) DO UPDATE SET
                    kind = excluded.kind, saved = excluded.saved, grid = excluded.grid,
                    title = excluded.title, search = excluded.search,
                    pending = excluded.pending, conflicts = excluded.conflicts,
                    rejected = excluded.rejected, updated_at = excluded.updated_at",
            )?;
            for (doc, p) in docs {
                let saved = serde_json::to_string(doc)
                    .map_err(|e| GridbookError::storage(format!("cannot encode a record: {e}")))?;
                stmt.execute(params![
                    doc.id.as_str(),
                    doc.kind.as_str(),
                    saved,
                    p.grid,
                    p.title,
                    p.search,
                    p.pending,
                    p.conflicts,
                    p.rejected,
                    now_ms,
                ])?;
            }
            let mut clear = tx.prepare_cached("DELETE FROM blob_refs WHERE doc_id = ?1")?;
            let mut add = tx.prepare_cached(
                "INSERT INTO blob_refs (doc_id, sha256, media_type, size) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT DO NOTHING",
            )?;
            for (doc, p) in docs {
                clear.execute([doc.id.as_str()])?;
                for b in &p.blobs {
                    add.execute(params![
                        doc.id.as_str(),
                        b.sha256,
                        b.media_type,
                        to_i64(b.size)
                    ])?;
                }
            }
        }
        if !removed.is_empty() {
            // Records that left the phone take the photos only they named with them (their
            // refs went with their rows); bytes the server has not confirmed stay.
            tx.execute(
                "DELETE FROM blobs WHERE uploaded = 1
                    AND NOT EXISTS (SELECT 1 FROM blob_refs r WHERE r.sha256 = blobs.sha256)",
                [],
            )?;
        }
        if let Some(cursor) = cursor {
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('cursor', ?1)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [cursor.as_str()],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Lists records, optionally of one kind and matching `text` (lower-cased, any part).
    pub fn list(
        &self,
        kind: Option<&str>,
        text: Option<&str>,
        only_pending: bool,
        limit: u32,
        offset: u32,
    ) -> Result<Vec<Row>, GridbookError> {
        let pattern = text.map(|t| format!("%{}%", escape_like(&t.to_lowercase())));
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, kind, grid, title, pending, conflicts, rejected, updated_at FROM docs
             WHERE (?1 IS NULL OR kind = ?1)
               AND (?2 IS NULL OR search LIKE ?2 ESCAPE '\\')
               AND (?3 = 0 OR pending = 1)
             ORDER BY kind, title, id
             LIMIT ?4 OFFSET ?5",
        )?;
        let rows = stmt.query_map(params![kind, pattern, only_pending, limit, offset], |r| {
            Ok(Row {
                id: r.get(0)?,
                kind: r.get(1)?,
                grid: r.get(2)?,
                title: r.get(3)?,
                pending: r.get(4)?,
                conflicts: r.get(5)?,
                rejected: r.get(6)?,
                updated_at: r.get(7)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Keeps a built sync request until its response is applied.
    pub fn put_request(&self, id: &str, body: &[u8], now_ms: i64) -> Result<(), GridbookError> {
        self.conn.execute(
            "INSERT INTO requests (id, created_at, body) VALUES (?1, ?2, ?3)",
            params![id, now_ms, body],
        )?;
        self.conn.execute(
            "DELETE FROM requests WHERE id NOT IN
                (SELECT id FROM requests ORDER BY created_at DESC, id DESC LIMIT ?1)",
            [KEPT_REQUESTS],
        )?;
        Ok(())
    }

    /// A kept request's body.
    pub fn request(&self, id: &str) -> Result<Option<Vec<u8>>, GridbookError> {
        Ok(self
            .conn
            .query_row("SELECT body FROM requests WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// Forgets a kept request.
    pub fn drop_request(&self, id: &str) -> Result<(), GridbookError> {
        self.conn
            .execute("DELETE FROM requests WHERE id = ?1", [id])?;
        Ok(())
    }

    /// SQLite's own consistency check of the file (`ok` when sound).
    pub fn integrity_check(&self) -> Result<String, GridbookError> {
        Ok(self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))?)
    }
}

/// What the store knows of one blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BlobRow {
    pub sha256: String,
    pub media_type: String,
    pub size: u64,
    pub uploaded: bool,
    pub uploaded_bytes: u64,
    pub full: bool,
    pub has_thumb: bool,
}

fn blob_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<BlobRow> {
    Ok(BlobRow {
        sha256: r.get(0)?,
        media_type: r.get(1)?,
        size: u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
        uploaded: r.get(3)?,
        uploaded_bytes: u64::try_from(r.get::<_, i64>(4)?).unwrap_or(0),
        full: r.get(5)?,
        has_thumb: r.get(6)?,
    })
}

const BLOB_COLUMNS: &str =
    "sha256, media_type, size, uploaded, uploaded_bytes, full, thumb IS NOT NULL";

fn blob_ref(r: &rusqlite::Row<'_>) -> rusqlite::Result<BlobRef> {
    Ok(BlobRef {
        sha256: r.get(0)?,
        media_type: r.get(1)?,
        size: u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
    })
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Store {
    /// What the store knows of a blob.
    pub fn blob(&self, sha256: &str) -> Result<Option<BlobRow>, GridbookError> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {BLOB_COLUMNS} FROM blobs WHERE sha256 = ?1"),
                [sha256],
                blob_row,
            )
            .optional()?)
    }

    /// Stores a blob's full bytes (and its thumbnail) in one transaction. `uploaded`: the
    /// bytes came from the server. Bytes already held are kept (same hash, same bytes); a
    /// known blob without its full bytes gets them.
    pub fn put_blob(
        &mut self,
        sha256: &str,
        media_type: &str,
        bytes: &[u8],
        thumb: Option<&[u8]>,
        uploaded: bool,
        now_ms: i64,
    ) -> Result<(), GridbookError> {
        let tx = self.conn.transaction()?;
        let full: Option<bool> = tx
            .query_row("SELECT full FROM blobs WHERE sha256 = ?1", [sha256], |r| {
                r.get(0)
            })
            .optional()?;
        match full {
            None => {
                tx.execute(
                    "INSERT INTO blobs (sha256, media_type, size, uploaded, uploaded_bytes, full,
                                        thumb, last_used)
                     VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6, ?7)",
                    params![
                        sha256,
                        media_type,
                        to_i64(bytes.len() as u64),
                        uploaded,
                        if uploaded {
                            to_i64(bytes.len() as u64)
                        } else {
                            0
                        },
                        thumb,
                        now_ms
                    ],
                )?;
            }
            Some(_) => {
                tx.execute(
                    "UPDATE blobs SET uploaded = max(uploaded, ?2), last_used = ?3,
                        thumb = coalesce(thumb, ?4)
                     WHERE sha256 = ?1",
                    params![sha256, uploaded, now_ms, thumb],
                )?;
            }
        }
        if full != Some(true) {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO blob_chunks (sha256, seq, data) VALUES (?1, ?2, ?3)",
            )?;
            for (seq, chunk) in bytes.chunks(BLOB_CHUNK).enumerate() {
                stmt.execute(params![sha256, to_i64(seq as u64), chunk])?;
            }
            drop(stmt);
            tx.execute(
                "UPDATE blobs SET full = 1, size = ?2 WHERE sha256 = ?1",
                params![sha256, to_i64(bytes.len() as u64)],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Forgets a blob this phone attached and never sent (an edit that failed after it was
    /// stored), unless another record of this phone refers to it.
    pub fn drop_unsent_blob(&self, sha256: &str) -> Result<(), GridbookError> {
        self.conn.execute(
            "DELETE FROM blobs WHERE sha256 = ?1 AND uploaded = 0 AND uploaded_bytes = 0",
            [sha256],
        )?;
        Ok(())
    }

    /// Stores a thumbnail of a blob (known or not: a thumbnail of another phone's photo).
    /// `from_server`: the server made it, so it holds every byte of the blob.
    pub fn put_thumb(
        &self,
        sha256: &str,
        media_type: &str,
        size: u64,
        thumb: &[u8],
        from_server: bool,
        now_ms: i64,
    ) -> Result<(), GridbookError> {
        self.conn.execute(
            "INSERT INTO blobs (sha256, media_type, size, uploaded, uploaded_bytes, full, thumb,
                                last_used)
             VALUES (?1, ?2, ?3, ?6, CASE WHEN ?6 THEN ?3 ELSE 0 END, 0, ?4, ?5)
             ON CONFLICT (sha256) DO UPDATE SET thumb = excluded.thumb,
                                               last_used = excluded.last_used,
                                               uploaded = max(uploaded, excluded.uploaded),
                                               uploaded_bytes = CASE WHEN excluded.uploaded
                                                   THEN size ELSE uploaded_bytes END",
            params![sha256, media_type, to_i64(size), thumb, now_ms, from_server],
        )?;
        Ok(())
    }

    /// A blob's thumbnail, if here (marking the blob used).
    pub fn thumb(&self, sha256: &str, now_ms: i64) -> Result<Option<Vec<u8>>, GridbookError> {
        let thumb: Option<Option<Vec<u8>>> = self
            .conn
            .query_row("SELECT thumb FROM blobs WHERE sha256 = ?1", [sha256], |r| {
                r.get(0)
            })
            .optional()?;
        let thumb = thumb.flatten();
        if thumb.is_some() {
            self.touch(sha256, now_ms)?;
        }
        Ok(thumb)
    }

    fn touch(&self, sha256: &str, now_ms: i64) -> Result<(), GridbookError> {
        self.conn.execute(
            "UPDATE blobs SET last_used = ?2 WHERE sha256 = ?1",
            params![sha256, now_ms],
        )?;
        Ok(())
    }

    /// A blob's full bytes, if here (marking the blob used).
    pub fn blob_bytes(&self, sha256: &str, now_ms: i64) -> Result<Option<Vec<u8>>, GridbookError> {
        let Some(row) = self.blob(sha256)? else {
            return Ok(None);
        };
        if !row.full {
            return Ok(None);
        }
        let bytes = self.blob_range(sha256, 0, row.size)?;
        if bytes.len() as u64 != row.size {
            return Err(GridbookError::storage(format!(
                "the stored bytes of {sha256} are incomplete"
            )));
        }
        self.touch(sha256, now_ms)?;
        Ok(Some(bytes))
    }

    /// `len` bytes of a blob from `start` (fewer at its end), read from the chunks they lie in.
    pub fn blob_range(&self, sha256: &str, start: u64, len: u64) -> Result<Vec<u8>, GridbookError> {
        let chunk = BLOB_CHUNK as u64;
        let end = start.saturating_add(len);
        let (first, last) = (start / chunk, end.div_ceil(chunk));
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, data FROM blob_chunks WHERE sha256 = ?1 AND seq >= ?2 AND seq < ?3
             ORDER BY seq",
        )?;
        let rows = stmt.query_map(params![sha256, to_i64(first), to_i64(last)], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
        })?;
        let mut out = Vec::with_capacity(usize::try_from(len).unwrap_or(0).min(64 << 20));
        for row in rows {
            let (seq, data) = row?;
            let at = u64::try_from(seq).unwrap_or(0) * chunk;
            let from = start.saturating_sub(at).min(data.len() as u64);
            let to = end.saturating_sub(at).min(data.len() as u64);
            // Both bounds are within `data`'s length, so they fit a usize.
            out.extend_from_slice(&data[from as usize..to as usize]);
        }
        Ok(out)
    }

    /// An attachment as some record on this phone names it.
    pub fn blob_ref(&self, sha256: &str) -> Result<Option<BlobRef>, GridbookError> {
        Ok(self
            .conn
            .query_row(
                "SELECT sha256, media_type, size FROM blob_refs WHERE sha256 = ?1 LIMIT 1",
                [sha256],
                blob_ref,
            )
            .optional()?)
    }

    /// Pictures records on this phone name that have neither a thumbnail nor their full
    /// bytes here, at most `limit`.
    pub fn missing_thumbnails(&self, limit: usize) -> Result<Vec<BlobRef>, GridbookError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT r.sha256, min(r.media_type), min(r.size) FROM blob_refs r
             LEFT JOIN blobs b ON b.sha256 = r.sha256
             WHERE r.media_type LIKE 'image/%'
               AND (b.sha256 IS NULL OR (b.thumb IS NULL AND b.full = 0))
             GROUP BY r.sha256 ORDER BY r.sha256 LIMIT ?1",
        )?;
        let rows = stmt.query_map([to_i64(limit as u64)], blob_ref)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Whether the attachments of the records here must be listed again (a store from
    /// layout 1).
    pub fn blob_refs_stale(&self) -> Result<bool, GridbookError> {
        Ok(self.meta("blob_refs_stale")?.is_some())
    }

    /// The attachments of every record were listed again.
    pub fn blob_refs_rebuilt(&self) -> Result<(), GridbookError> {
        self.set_meta("blob_refs_stale", None)
    }

    /// Blobs attached here whose upload the server has not confirmed.
    pub fn unsent_blobs(&self) -> Result<Vec<BlobRow>, GridbookError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {BLOB_COLUMNS} FROM blobs WHERE uploaded = 0 AND full = 1 ORDER BY last_used"
        ))?;
        let rows = stmt.query_map([], blob_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Records how many bytes of a blob the server holds.
    pub fn set_uploaded_bytes(&self, sha256: &str, received: u64) -> Result<(), GridbookError> {
        self.conn.execute(
            "UPDATE blobs SET uploaded_bytes = ?2 WHERE sha256 = ?1",
            params![sha256, to_i64(received)],
        )?;
        Ok(())
    }

    /// The server confirmed it holds every byte of a blob.
    pub fn mark_uploaded(&self, sha256: &str) -> Result<(), GridbookError> {
        self.conn.execute(
            "UPDATE blobs SET uploaded = 1, uploaded_bytes = size WHERE sha256 = ?1",
            [sha256],
        )?;
        Ok(())
    }

    /// Bytes of full-size blobs held.
    pub fn full_bytes(&self) -> Result<u64, GridbookError> {
        let n: i64 = self.conn.query_row(
            "SELECT coalesce(sum(size), 0) FROM blobs WHERE full = 1",
            [],
            |r| r.get(0),
        )?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Evicts least-recently-used full-size bytes the server holds until the full-size bytes
    /// held are at most `full_quota`, and thumbnails of such blobs beyond `thumb_quota`.
    /// Bytes the server has not confirmed (`uploaded = 0`) are never evicted, whatever the
    /// quota. Returns the number of full-size blobs evicted.
    pub fn evict(&mut self, full_quota: u64, thumb_quota: u64) -> Result<u32, GridbookError> {
        let tx = self.conn.transaction()?;
        let mut evicted = 0u32;
        {
            let held: i64 = tx.query_row(
                "SELECT coalesce(sum(size), 0) FROM blobs WHERE full = 1",
                [],
                |r| r.get(0),
            )?;
            let mut held = u64::try_from(held).unwrap_or(0);
            let mut stmt = tx.prepare(
                "SELECT sha256, size FROM blobs WHERE full = 1 AND uploaded = 1
                 ORDER BY last_used, sha256",
            )?;
            let candidates = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            for (sha256, size) in candidates {
                if held <= full_quota {
                    break;
                }
                tx.execute("DELETE FROM blob_chunks WHERE sha256 = ?1", [&sha256])?;
                tx.execute("UPDATE blobs SET full = 0 WHERE sha256 = ?1", [&sha256])?;
                held = held.saturating_sub(u64::try_from(size).unwrap_or(0));
                evicted += 1;
            }
            let thumbs: i64 = tx.query_row(
                "SELECT coalesce(sum(length(thumb)), 0) FROM blobs",
                [],
                |r| r.get(0),
            )?;
            let mut thumbs = u64::try_from(thumbs).unwrap_or(0);
            let mut stmt = tx.prepare(
                "SELECT sha256, length(thumb) FROM blobs
                 WHERE thumb IS NOT NULL AND (uploaded = 1 OR full = 0)
                 ORDER BY last_used, sha256",
            )?;
            let candidates = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            for (sha256, len) in candidates {
                if thumbs <= thumb_quota {
                    break;
                }
                tx.execute("UPDATE blobs SET thumb = NULL WHERE sha256 = ?1", [&sha256])?;
                thumbs = thumbs.saturating_sub(u64::try_from(len).unwrap_or(0));
            }
        }
        tx.commit()?;
        Ok(evicted)
    }
}

/// The value of `PRAGMA key` for the app's key: `x'…'` (a raw key) for 64 hex characters,
/// the passphrase itself otherwise.
fn sqlcipher_key(key: &str) -> Result<String, GridbookError> {
    if key.is_empty() {
        return Err(GridbookError::wrong_key(
            "the store key is empty; the store is never opened unencrypted",
        ));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(GridbookError::wrong_key(format!(
            "the store key is longer than {MAX_KEY_BYTES} bytes"
        )));
    }
    if key.contains('\0') {
        return Err(GridbookError::wrong_key(
            "the store key holds a NUL character",
        ));
    }
    if key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(format!("x'{key}'"))
    } else {
        Ok(key.to_owned())
    }
}

/// Escapes `%`, `_` and `\` for a LIKE pattern with `ESCAPE '\'`.
fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_metacharacters_are_escaped() {
        assert_eq!(escape_like(r"50%_a\b"), r"50\%\_a\\b");
    }

    #[test]
    fn a_store_from_a_newer_app_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("phone.db");
        drop(Store::open(&path, KEY).unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "key", KEY).unwrap();
        conn.execute_batch("PRAGMA user_version = 99").unwrap();
        drop(conn);
        let err = Store::open(&path, KEY).unwrap_err();
        assert!(matches!(err, GridbookError::Storage { .. }), "{err}");
    }

    const KEY: &str = "a passphrase from the keychain";

    #[test]
    fn a_layout_1_store_gains_the_attachment_tables() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("phone.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.pragma_update(None, "key", KEY).unwrap();
            conn.execute_batch(SCHEMA).unwrap();
            conn.execute_batch(
                "PRAGMA user_version = 1;
                 INSERT INTO meta (key, value) VALUES ('device', 'kept');",
            )
            .unwrap();
        }
        let mut store = Store::open(&path, KEY).unwrap();
        assert_eq!(store.meta("device").unwrap().as_deref(), Some("kept"));
        let version: i64 = store
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        store
            .put_blob(&"a".repeat(64), "image/jpeg", b"bytes", None, false, 1)
            .unwrap();
        assert_eq!(store.full_bytes().unwrap(), 5);
    }

    /// `n` bytes that differ at every offset (a chunk's bytes never repeat another's).
    fn pattern(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i % 251) as u8 ^ (i / 251) as u8).collect()
    }

    #[test]
    fn blob_ranges_cross_chunk_boundaries() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("phone.db"), KEY).unwrap();
        let bytes = pattern(2 * BLOB_CHUNK + 1000);
        let sha = "b".repeat(64);
        store
            .put_blob(&sha, "application/pdf", &bytes, None, false, 1)
            .unwrap();
        let n: i64 = store
            .conn
            .query_row("SELECT count(*) FROM blob_chunks", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 3);
        for (start, len) in [
            (0, 10),
            (BLOB_CHUNK - 5, 10),
            (BLOB_CHUNK, BLOB_CHUNK),
            (100, 2 * BLOB_CHUNK),
            (2 * BLOB_CHUNK + 990, 100),
        ] {
            let got = store.blob_range(&sha, start as u64, len as u64).unwrap();
            let end = (start + len).min(bytes.len());
            assert_eq!(got, bytes[start..end], "{start}+{len}");
        }
        assert_eq!(store.blob_bytes(&sha, 2).unwrap(), Some(bytes));
    }

    fn saved(id: &DocId) -> SavedDoc {
        SavedDoc {
            id: id.clone(),
            kind: sync_core::record::RecordKind::Household,
            document: sync_core::protocol::Bytes(Vec::new()),
            complete: true,
            base_heads: Vec::new(),
            need_full: false,
            rejection: None,
        }
    }

    fn projection(blobs: &[&str]) -> Projection {
        Projection {
            grid: None,
            title: String::new(),
            search: String::new(),
            pending: false,
            conflicts: false,
            rejected: false,
            blobs: blobs
                .iter()
                .map(|sha| BlobRef {
                    sha256: (*sha).to_owned(),
                    media_type: "image/jpeg".into(),
                    size: 10,
                })
                .collect(),
        }
    }

    #[test]
    fn a_record_leaving_the_phone_takes_its_uploaded_photos_along() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("phone.db"), KEY).unwrap();
        let (gone, kept) = (DocId::new(), DocId::new());
        let (only_gone, shared, unsent) = ("4".repeat(64), "5".repeat(64), "6".repeat(64));
        for sha in [&only_gone, &shared, &unsent] {
            store
                .put_blob(
                    sha,
                    "image/jpeg",
                    &pattern(10),
                    Some(b"t"),
                    sha != &unsent,
                    1,
                )
                .unwrap();
        }
        store
            .save_docs(
                &[
                    (saved(&gone), projection(&[&only_gone, &shared, &unsent])),
                    (saved(&kept), projection(&[&shared])),
                ],
                &[],
                None,
                1,
            )
            .unwrap();
        assert_eq!(store.blob_ref(&only_gone).unwrap().unwrap().size, 10);
        store.save_docs(&[], &[gone], None, 2).unwrap();
        assert_eq!(store.blob(&only_gone).unwrap(), None);
        assert_eq!(
            store.blob_range(&only_gone, 0, 10).unwrap(),
            Vec::<u8>::new()
        );
        assert!(store.blob(&shared).unwrap().unwrap().full);
        assert!(
            store.blob(&unsent).unwrap().unwrap().full,
            "unsent bytes stay"
        );
        assert_eq!(store.blob_ref(&only_gone).unwrap(), None);
    }

    #[test]
    fn eviction_drops_only_uploaded_bytes_least_recently_used_first() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("phone.db"), KEY).unwrap();
        let (unsent, old, recent) = ("1".repeat(64), "2".repeat(64), "3".repeat(64));
        store
            .put_blob(&unsent, "image/jpeg", &pattern(1000), Some(b"t"), false, 1)
            .unwrap();
        store
            .put_blob(&old, "image/jpeg", &pattern(1000), Some(b"t"), true, 2)
            .unwrap();
        store
            .put_blob(&recent, "image/jpeg", &pattern(1000), Some(b"t"), false, 3)
            .unwrap();
        store.mark_uploaded(&recent).unwrap();
        // Room for two: the least recently used uploaded one goes.
        assert_eq!(store.evict(2000, u64::MAX).unwrap(), 1);
        assert!(!store.blob(&old).unwrap().unwrap().full);
        assert!(store.blob(&recent).unwrap().unwrap().full);
        // No room at all: every uploaded one goes, the unsent one stays, thumbnails too.
        assert_eq!(store.evict(0, u64::MAX).unwrap(), 1);
        let kept = store.blob(&unsent).unwrap().unwrap();
        assert!(kept.full && kept.has_thumb);
        assert_eq!(store.full_bytes().unwrap(), 1000);
        assert!(store.blob(&recent).unwrap().unwrap().has_thumb);
        // Thumbnails beyond their quota go too, except the unsent one's.
        store.evict(0, 0).unwrap();
        assert!(!store.blob(&recent).unwrap().unwrap().has_thumb);
        assert!(store.blob(&unsent).unwrap().unwrap().has_thumb);
        assert_eq!(store.blob_bytes(&old, 4).unwrap(), None);
    }

    #[test]
    fn hex_keys_are_raw_keys_and_other_keys_passphrases() {
        let hex = "0123456789abcdefABCDEF0123456789abcdef0123456789abcdef0123456789";
        assert_eq!(sqlcipher_key(hex).unwrap(), format!("x'{hex}'"));
        assert_eq!(sqlcipher_key(&hex[1..]).unwrap(), &hex[1..]);
        assert_eq!(sqlcipher_key("it's mine").unwrap(), "it's mine");
        for bad in ["", "a\0b", &"k".repeat(MAX_KEY_BYTES + 1)] {
            let err = sqlcipher_key(bad).unwrap_err();
            assert!(matches!(err, GridbookError::WrongKey { .. }), "{err}");
        }
    }

    #[test]
    fn a_raw_key_and_a_passphrase_each_open_only_their_store() {
        let dir = tempfile::tempdir().unwrap();
        let hex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
        let raw = dir.path().join("raw.db");
        let pass = dir.path().join("pass.db");
        Store::open(&raw, hex)
            .unwrap()
            .set_meta("k", Some("raw"))
            .unwrap();
        Store::open(&pass, "it's a 'quoted' key")
            .unwrap()
            .set_meta("k", Some("pass"))
            .unwrap();
        let reopened = Store::open(&raw, hex).unwrap();
        assert_eq!(reopened.meta("k").unwrap().as_deref(), Some("raw"));
        let reopened = Store::open(&pass, "it's a 'quoted' key").unwrap();
        assert_eq!(reopened.meta("k").unwrap().as_deref(), Some("pass"));
        let err = Store::open(&raw, "it's a 'quoted' key").unwrap_err();
        assert!(matches!(err, GridbookError::WrongKey { .. }), "{err}");
        let err = Store::open(&pass, hex).unwrap_err();
        assert!(matches!(err, GridbookError::WrongKey { .. }), "{err}");
    }
}
