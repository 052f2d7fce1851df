//! The phone's durable local store: one SQLite file, encrypted with SQLCipher.
//!
//! * `meta`: the device id, the cursor, the server address and the signed-in session.
//! * `docs`: every record as its saved Automerge document with what the server last confirmed
//!   of it (base heads, need-full flag, last refusal), plus a small projection (kind, grid,
//!   title, search text, pending and conflict flags) for lists and search without loading
//!   documents.
//! * `requests`: sync requests built for apps that move the bytes themselves, so a response
//!   that arrives after the app was killed and relaunched can still be applied.
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

/// The layout version this code writes (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 1;

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
        tx.execute_batch("DELETE FROM docs; DELETE FROM requests; DELETE FROM meta;")?;
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
