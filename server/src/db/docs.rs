//! Records: the append-only change log and compacted snapshots (a record's JSON is rendered
//! from its document when it is loaded, and kept in the cache with it).

use std::collections::BTreeMap;

use automerge::{Change, ChangeHash};
use sqlx::Row;
use sync_core::doc::{Document, device_of_actor};
use sync_core::ids::{DocId, GridId, StreetId};
use sync_core::record::RecordMeta;
use sync_core::server::StoredRecord;
use sync_core::validate::RecordInvalid;

use super::{Backend, Db, Tx, now_millis, on_db, on_tx};

/// A record loaded from the database.
#[derive(Debug, Clone)]
pub struct LoadedDoc {
    /// Document, its JSON view, typed record, scope facts.
    pub record: StoredRecord,
    /// Write counter, for optimistic concurrency between server nodes.
    pub version: i64,
    /// Grid sequence number of the last write.
    pub seq: i64,
    /// Changes logged since the stored snapshot was last rewritten (see [`SNAPSHOT_AFTER`]).
    pub pending: i64,
    /// The street of its grid (`docs.street_id`, the key its rows are distributed by).
    pub street: String,
}

/// A record's snapshot is rewritten once more than this many changes were logged since it was
/// last written. Until then a write only appends to the log and updates the row's heads, and a
/// load applies the logged changes to the older snapshot. Saving and deflating a whole
/// document on every write was a tenth of the server's CPU on a field day (docs/BENCHMARKS.md).
pub const SNAPSHOT_AFTER: i64 = 64;

/// The stored snapshot could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Database failure.
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
    /// The snapshot is not a readable document (storage corruption).
    #[error("stored snapshot of {id} is unreadable: {reason}")]
    Corrupt {
        /// The record.
        id: DocId,
        /// Why.
        reason: String,
    },
}

/// The columns of a `docs` row that loading a record needs.
struct DocRowRead {
    snapshot: Vec<u8>,
    heads: String,
    version: i64,
    seq: i64,
    snapshot_version: i64,
    pending: i64,
    personal_history: bool,
    street: String,
}

/// The logged changes of record `$1` after its snapshot (`$2` = the row's `snapshot_version`)
/// in street `$3` (the record's).
pub(crate) const PENDING_SQL: &str =
    "SELECT bytes FROM changes WHERE street_id = $3 AND doc_id = $1 AND doc_version > $2";

/// Opens the snapshot, applies the changes logged after it and checks that the result has the
/// heads the row says the record has (a change missing from the log would show here).
pub fn open_record(
    id: &DocId,
    snapshot: &[u8],
    pending: &[Vec<u8>],
    heads: &str,
) -> Result<Document, LoadError> {
    let corrupt = |reason: String| LoadError::Corrupt {
        id: id.clone(),
        reason,
    };
    let mut doc = Document::load(snapshot).map_err(|e| corrupt(e.to_string()))?;
    for bytes in pending {
        doc.automerge_mut()
            .load_incremental(bytes)
            .map_err(|e| corrupt(format!("logged change: {e}")))?;
    }
    let found = heads_text(&doc.heads());
    if found != heads {
        return Err(corrupt(format!(
            "snapshot and log give heads {found}, the row says {heads}"
        )));
    }
    Ok(doc)
}

/// Loads a record outside any writing transaction (in a reading one, so the row and the log
/// agree).
pub async fn load(db: &Db, id: &DocId) -> Result<Option<LoadedDoc>, LoadError> {
    let mut tx = db.begin_read().await?;
    let loaded = load_in(&mut tx, id, false).await?;
    tx.commit().await?;
    Ok(loaded)
}

/// Loads a record inside a writing transaction, locking its row on PostgreSQL.
pub async fn load_for_update(tx: &mut Tx, id: &DocId) -> Result<Option<LoadedDoc>, LoadError> {
    load_in(tx, id, true).await
}

async fn load_in(tx: &mut Tx, id: &DocId, lock: bool) -> Result<Option<LoadedDoc>, LoadError> {
    let sql = if lock && tx.backend() == Backend::Postgres {
        "SELECT snapshot, heads, version, seq, snapshot_version, pending_changes,
                personal_history, street_id
         FROM docs WHERE id = $1 FOR UPDATE"
    } else {
        "SELECT snapshot, heads, version, seq, snapshot_version, pending_changes,
                personal_history, street_id
         FROM docs WHERE id = $1"
    };
    let row = on_tx!(tx, conn => sqlx::query(sql)
        .bind(id.as_str())
        .fetch_optional(conn)
        .await?
        .map(|r| Ok::<_, sqlx::Error>(DocRowRead {
            snapshot: r.try_get("snapshot")?,
            heads: r.try_get("heads")?,
            version: r.try_get("version")?,
            seq: r.try_get("seq")?,
            snapshot_version: r.try_get("snapshot_version")?,
            pending: r.try_get("pending_changes")?,
            personal_history: r.try_get("personal_history")?,
            street: r.try_get("street_id")?,
        }))
        .transpose())?;
    let Some(row) = row else {
        return Ok(None);
    };
    let pending: Vec<Vec<u8>> = if row.pending > 0 {
        on_tx!(tx, conn => sqlx::query_scalar(PENDING_SQL)
            .bind(id.as_str())
            .bind(row.snapshot_version)
            .bind(&row.street)
            .fetch_all(conn)
            .await)?
    } else {
        Vec::new()
    };
    let doc = open_record(id, &row.snapshot, &pending, &row.heads)?;
    Ok(Some(LoadedDoc {
        record: StoredRecord::new(doc).with_personal_history(row.personal_history),
        version: row.version,
        seq: row.seq,
        pending: row.pending,
        street: row.street,
    }))
}

/// The current write counter of a record (`None` if absent), locking its row on PostgreSQL.
pub async fn version_for_update(tx: &mut Tx, id: &DocId) -> Result<Option<i64>, sqlx::Error> {
    let sql = match tx.backend() {
        Backend::Sqlite => "SELECT version FROM docs WHERE id = $1",
        Backend::Postgres => "SELECT version FROM docs WHERE id = $1 FOR UPDATE",
    };
    on_tx!(tx, conn => sqlx::query_scalar(sql).bind(id.as_str()).fetch_optional(conn).await)
}

/// Bumps a grid's sequence counter and returns the new value. On PostgreSQL the grid's row
/// stays locked until the transaction ends, so writers of one grid commit in sequence order and
/// a cursor never skips a change; and the grid is announced on [`super::notify::CHANNEL`], which
/// PostgreSQL delivers to every listening node when (and only if) the transaction commits.
/// Returns the grid's street too: every row the transaction writes is keyed by it.
/// `None` when the grid does not exist.
pub async fn bump_grid_seq(tx: &mut Tx, grid: &GridId) -> Result<Option<GridWrite>, sqlx::Error> {
    let row: Option<(i64, String)> = match tx {
        Tx::Sqlite(tx) => {
            sqlx::query_as("UPDATE grids SET seq = seq + 1 WHERE id = $1 RETURNING seq, street_id")
                .bind(grid.as_str())
                .fetch_optional(&mut **tx)
                .await?
        }
        Tx::Postgres(tx) => {
            sqlx::query_as(
                "WITH bumped AS (UPDATE grids SET seq = seq + 1 WHERE id = $1
                                 RETURNING seq, street_id)
                 SELECT seq, street_id, pg_notify($2, $1) FROM bumped",
            )
            .bind(grid.as_str())
            .bind(super::notify::CHANNEL)
            .fetch_optional(&mut **tx)
            .await?
        }
    };
    row.map(|(seq, street)| {
        let street = street.parse().map_err(|e| {
            sqlx::Error::Decode(format!("grid {grid} has an unreadable street: {e}").into())
        })?;
        Ok(GridWrite { seq, street })
    })
    .transpose()
}

/// A write's place in its grid's sequence, from [`bump_grid_seq`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GridWrite {
    /// The grid's sequence number of this write.
    pub seq: i64,
    /// The grid's street: the key of every row the write adds.
    pub street: StreetId,
}

/// Appends changes to the log ("insert if absent": a retried push inserts nothing), several
/// rows per statement, marked with the record's write counter after this write
/// (`doc_version`). Returns how many were new.
pub async fn insert_changes(
    tx: &mut Tx,
    street: &StreetId,
    doc: &DocId,
    changes: &[Change],
    grid: &GridId,
    seq: i64,
    doc_version: i64,
) -> Result<u64, sqlx::Error> {
    let now = now_millis();
    let mut inserted = 0;
    for (chunk_no, chunk) in changes.chunks(CHANGES_PER_INSERT).enumerate() {
        let rows: Vec<(usize, &Change)> = chunk
            .iter()
            .enumerate()
            .map(|(i, c)| (chunk_no * CHANGES_PER_INSERT + i, c))
            .collect();
        inserted += on_tx!(tx, conn => {
            let mut qb = sqlx::QueryBuilder::new(
                "INSERT INTO changes (street_id, doc_id, hash, bytes, device_id, grid_id, seq, idx,
                    received_at, doc_version) ",
            );
            qb.push_values(&rows, |mut b, (idx, change)| {
                b.push_bind(street.as_str())
                    .push_bind(doc.as_str())
                    .push_bind(change.hash().to_string())
                    .push_bind(change.raw_bytes())
                    .push_bind(device_of_actor(change.actor_id()).map(|d| d.to_string()))
                    .push_bind(grid.as_str())
                    .push_bind(seq)
                    .push_bind(*idx as i64)
                    .push_bind(now)
                    .push_bind(doc_version);
            });
            qb.push(" ON CONFLICT DO NOTHING");
            qb.build().execute(conn).await?.rows_affected()
        });
    }
    Ok(inserted)
}

/// Change rows per `INSERT` (10 parameters each, well under SQLite's 32,766).
const CHANGES_PER_INSERT: usize = 500;

/// Moves every change of a record to another grid's log at `seq`: devices of the new grid have
/// none of its history, so it is announced there whole. Both grids are of the record's street.
pub async fn retag_changes(
    tx: &mut Tx,
    street: &StreetId,
    doc: &DocId,
    grid: &GridId,
    seq: i64,
) -> Result<(), sqlx::Error> {
    on_tx!(tx, conn => sqlx::query(
        "UPDATE changes SET grid_id = $1, seq = $2 WHERE street_id = $4 AND doc_id = $3",
    )
        .bind(grid.as_str())
        .bind(seq)
        .bind(doc.as_str())
        .bind(street.as_str())
        .execute(conn)
        .await
        .map(|_| ()))
}

/// Writes a record's row: heads, scope columns and, every so often, the snapshot.
///
/// `new_changes` is how many changes this write added to the log (the row keeps a running
/// count; counting the document's changes would rebuild every one of them). `pending_before`
/// is the row's [`LoadedDoc::pending`] as read under the write lock, `None` for a new record.
/// The snapshot is rewritten for a new record and once more than [`SNAPSHOT_AFTER`] changes
/// wait in the log; otherwise the old snapshot stays and the changes are counted as pending.
/// Returns the row's pending count after the write.
#[allow(clippy::too_many_arguments)]
pub async fn upsert(
    tx: &mut Tx,
    street: &StreetId,
    record: &StoredRecord,
    meta: &RecordMeta,
    version: i64,
    seq: i64,
    merged_invalid: Option<&RecordInvalid>,
    new_changes: u64,
    pending_before: Option<i64>,
) -> Result<i64, sqlx::Error> {
    let doc = &record.doc;
    let heads = heads_text(&doc.heads());
    let change_count = i64::try_from(new_changes).unwrap_or(i64::MAX);
    let invalid = merged_invalid.map(|e| e.to_string());
    let now = now_millis();
    if let Some(pending) = pending_before
        .map(|p| p.saturating_add(change_count))
        .filter(|&p| p <= SNAPSHOT_AFTER)
    {
        on_tx!(tx, conn => sqlx::query(
            "UPDATE docs SET
                 community_id = $2, grid_id = $3, liaison_group = $4, confidential = $5,
                 heads = $6, version = $7, seq = $8,
                 change_count = change_count + $9, pending_changes = $10,
                 merged_invalid = $11, updated_at = $12,
                 personal_history = personal_history OR $13, departments = $14
             WHERE street_id = $15 AND id = $1",
        )
        .bind(doc.id().as_str())
        .bind(meta.place.community.as_str())
        .bind(meta.place.grid.as_str())
        .bind(meta.liaison_group.as_ref().map(|g| g.as_str()))
        .bind(meta.confidential)
        .bind(heads)
        .bind(version)
        .bind(seq)
        .bind(change_count)
        .bind(pending)
        .bind(invalid)
        .bind(now)
        .bind(record.personal_history)
        .bind(departments_text(&meta.departments))
        .bind(street.as_str())
        .execute(conn)
        .await
        .map(|_| ()))?;
        return Ok(pending);
    }
    let snapshot = doc.save();
    on_tx!(tx, conn => sqlx::query(
        "INSERT INTO docs (id, kind, community_id, grid_id, liaison_group, confidential, heads,
                           snapshot, version, seq, change_count, merged_invalid,
                           created_at, updated_at, snapshot_version, pending_changes,
                           personal_history, departments, street_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $9, 0, $14, $15,
                 $16)
         ON CONFLICT (street_id, id) DO UPDATE SET
             community_id = excluded.community_id, grid_id = excluded.grid_id,
             liaison_group = excluded.liaison_group, confidential = excluded.confidential,
             heads = excluded.heads, snapshot = excluded.snapshot,
             version = excluded.version, seq = excluded.seq,
             change_count = docs.change_count + excluded.change_count,
             merged_invalid = excluded.merged_invalid,
             updated_at = excluded.updated_at,
             snapshot_version = excluded.snapshot_version, pending_changes = 0,
             personal_history = docs.personal_history OR excluded.personal_history,
             departments = excluded.departments",
    )
    .bind(doc.id().as_str())
    .bind(doc.kind().as_str())
    .bind(meta.place.community.as_str())
    .bind(meta.place.grid.as_str())
    .bind(meta.liaison_group.as_ref().map(|g| g.as_str()))
    .bind(meta.confidential)
    .bind(heads)
    .bind(snapshot)
    .bind(version)
    .bind(seq)
    .bind(change_count)
    .bind(invalid)
    .bind(now)
    .bind(record.personal_history)
    .bind(departments_text(&meta.departments))
    .bind(street.as_str())
    .execute(conn)
    .await
    .map(|_| ()))?;
    Ok(0)
}

/// Heads as stored: a record's version text ([`sync_core::doc::version_text`]).
pub fn heads_text(heads: &[ChangeHash]) -> String {
    sync_core::doc::version_text(heads)
}

/// Parses [`heads_text`] (a stored row: anything unreadable is skipped).
pub fn parse_heads(text: &str) -> Vec<ChangeHash> {
    sync_core::doc::parse_version_text(text).unwrap_or_default()
}

/// The current sequence numbers of some grids (0 for a grid never written).
pub async fn grid_seqs(
    tx: &mut Tx,
    grids: &[GridId],
) -> Result<BTreeMap<GridId, i64>, sqlx::Error> {
    let mut seqs = BTreeMap::new();
    for grid in grids {
        let seq: Option<i64> = on_tx!(tx, conn => sqlx::query_scalar("SELECT seq FROM grids WHERE id = $1")
            .bind(grid.as_str())
            .fetch_optional(conn)
            .await)?;
        seqs.insert(grid.clone(), seq.unwrap_or(0));
    }
    Ok(seqs)
}

/// One logged change with the scope facts of its record.
#[derive(Debug)]
pub struct LoggedChange {
    /// The record.
    pub doc: DocId,
    /// Its kind, as stored.
    pub kind: String,
    /// The record's current heads (as of the reading transaction).
    pub heads: String,
    /// Liaison group of a household.
    pub liaison_group: Option<String>,
    /// Departments a case was dispatched to (`,a,b,`; empty for none).
    pub departments: String,
    /// Confidential case.
    pub confidential: bool,
    /// The document's history holds personal data (see `StoredRecord::personal_history`).
    pub personal_history: bool,
    /// Grid sequence number of the write that brought the change.
    pub seq: i64,
    /// The raw change chunk.
    pub bytes: Vec<u8>,
}

/// Departments as stored in `docs.departments` and `case_index.co_departments`: `,a,b,`
/// (so that `LIKE '%,a,%'` finds one), empty for none.
pub fn departments_text(departments: &[sync_core::ids::DepartmentId]) -> String {
    if departments.is_empty() {
        return String::new();
    }
    let mut text = String::from(",");
    for d in departments {
        text.push_str(d.as_str());
        text.push(',');
    }
    text
}

/// The departments of a `departments_text`.
pub fn parse_departments(text: &str) -> Vec<sync_core::ids::DepartmentId> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .filter_map(|s| s.parse().ok())
        .collect()
}

/// The changes logged in `grid` after `after` up to `upto`, in write order.
pub async fn changes_in_grid(
    tx: &mut Tx,
    grid: &GridId,
    after: i64,
    upto: i64,
) -> Result<Vec<LoggedChange>, sqlx::Error> {
    let rows = on_tx!(tx, conn => sqlx::query(
        "SELECT c.doc_id, c.seq, c.bytes, d.kind, d.heads, d.liaison_group, d.confidential,
                d.personal_history, d.departments
         FROM changes c JOIN docs d ON d.street_id = c.street_id AND d.id = c.doc_id
         WHERE c.grid_id = $1 AND c.seq > $2 AND c.seq <= $3 AND NOT d.archived
         ORDER BY c.seq, c.doc_id, c.idx",
    )
    .bind(grid.as_str())
    .bind(after)
    .bind(upto)
    .fetch_all(conn)
    .await
    .and_then(|rows| rows.iter().map(|r| Ok((
        r.try_get::<String, _>("doc_id")?,
        r.try_get::<i64, _>("seq")?,
        r.try_get::<Vec<u8>, _>("bytes")?,
        r.try_get::<String, _>("kind")?,
        r.try_get::<String, _>("heads")?,
        r.try_get::<Option<String>, _>("liaison_group")?,
        r.try_get::<bool, _>("confidential")?,
        r.try_get::<bool, _>("personal_history")?,
        r.try_get::<String, _>("departments")?,
    ))).collect::<Result<Vec<_>, sqlx::Error>>()))?;
    Ok(rows
        .into_iter()
        .filter_map(
            |(
                doc,
                seq,
                bytes,
                kind,
                heads,
                liaison_group,
                confidential,
                personal_history,
                departments,
            )| {
                Some(LoggedChange {
                    doc: doc.parse().ok()?,
                    kind,
                    heads,
                    liaison_group,
                    departments,
                    confidential,
                    personal_history,
                    seq,
                    bytes,
                })
            },
        )
        .collect())
}

/// How many records are stored (all kinds).
pub async fn count(db: &Db) -> Result<i64, sqlx::Error> {
    on_db!(db, pool => sqlx::query_scalar("SELECT COUNT(*) FROM docs").fetch_one(pool).await)
}

/// How many changes the log holds (all records).
pub async fn count_changes(db: &Db) -> Result<i64, sqlx::Error> {
    on_db!(db, pool => sqlx::query_scalar("SELECT COUNT(*) FROM changes").fetch_one(pool).await)
}
