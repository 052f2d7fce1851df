//! Bulk writes for loading many records at once (the demo loader): multi-row `INSERT`s with
//! the same columns and the same semantics as [`super::docs::insert_changes`] and
//! [`super::docs::upsert`], plus devices.
//!
//! The rows are plain values ([`ChangeRow`], [`DocRow`]) so that callers can compute them
//! (snapshot, heads) on worker threads and only write here.

use automerge::Change;
use sync_core::doc::device_of_actor;
use sync_core::ids::{DeviceId, DocId, GridId, UserId};
use sync_core::record::RecordMeta;
use sync_core::server::StoredRecord;

use super::docs::{GridWrite, heads_text};
use super::{Db, Tx, now_millis, on_tx};

/// Rows per `INSERT` into `changes` (7 bound parameters each: well under SQLite's 32,766).
const CHANGES_PER_INSERT: usize = 2000;
/// Rows per `INSERT` into `docs` (11 bound parameters each).
const DOCS_PER_INSERT: usize = 1000;
/// Rows per `INSERT` into `devices` (3 bound parameters each).
const DEVICES_PER_INSERT: usize = 2000;

/// One change of the log, as [`super::docs::insert_changes`] writes it.
#[derive(Debug, Clone)]
pub struct ChangeRow {
    /// The record.
    pub doc_id: String,
    /// The change's hash (lowercase hex).
    pub hash: String,
    /// The raw change chunk.
    pub bytes: Vec<u8>,
    /// The device whose actor made the change, if it was made by one.
    pub device_id: Option<String>,
    /// Position within the write (dependencies first).
    pub idx: i64,
}

impl ChangeRow {
    /// The row of `change`, the `idx`-th change of `doc` in this write.
    pub fn of(doc: &DocId, change: &Change, idx: usize) -> Self {
        Self {
            doc_id: doc.to_string(),
            hash: change.hash().to_string(),
            bytes: change.raw_bytes().to_vec(),
            device_id: device_of_actor(change.actor_id()).map(|d| d.to_string()),
            idx: i64::try_from(idx).unwrap_or(i64::MAX),
        }
    }
}

/// One record's row, as [`super::docs::upsert`] writes it (without version and seq, which
/// [`upsert_docs`] takes per write).
#[derive(Debug, Clone)]
pub struct DocRow {
    /// The record id.
    pub id: String,
    /// Its kind.
    pub kind: &'static str,
    /// Community.
    pub community_id: String,
    /// Grid.
    pub grid_id: String,
    /// Liaison group of a household.
    pub liaison_group: Option<String>,
    /// Confidential case.
    pub confidential: bool,
    /// Departments a case was dispatched to ([`super::docs::departments_text`]).
    pub departments: String,
    /// Heads as [`heads_text`].
    pub heads: String,
    /// `Document::save`.
    pub snapshot: Vec<u8>,
    /// Number of changes in the document.
    pub change_count: i64,
}

impl DocRow {
    /// The row of a stored record and the rows of all its changes (in dependency order, as a
    /// first write of the whole document logs them).
    pub fn with_changes(record: &StoredRecord, meta: &RecordMeta) -> (Self, Vec<ChangeRow>) {
        let doc = &record.doc;
        let changes = doc.automerge().get_changes(&[]);
        let change_rows = changes
            .iter()
            .enumerate()
            .map(|(idx, c)| ChangeRow::of(doc.id(), c, idx))
            .collect::<Vec<_>>();
        let row = Self {
            id: doc.id().to_string(),
            kind: doc.kind().as_str(),
            community_id: meta.place.community.to_string(),
            grid_id: meta.place.grid.to_string(),
            liaison_group: meta.liaison_group.as_ref().map(ToString::to_string),
            confidential: meta.confidential,
            departments: super::docs::departments_text(&meta.departments),
            heads: heads_text(&doc.heads()),
            snapshot: doc.save(),
            change_count: i64::try_from(changes.len()).unwrap_or(i64::MAX),
        };
        (row, change_rows)
    }
}

/// Appends changes to the log in a few statements ("insert if absent", like
/// [`super::docs::insert_changes`]), all in the write of `grid` numbered `seq`.
pub async fn insert_changes(
    tx: &mut Tx,
    write: &GridWrite,
    rows: &[ChangeRow],
    grid: &GridId,
) -> Result<(), sqlx::Error> {
    let (street, seq) = (write.street.as_str(), write.seq);
    let now = now_millis();
    for chunk in rows.chunks(CHANGES_PER_INSERT) {
        on_tx!(tx, conn => {
            let mut qb = sqlx::QueryBuilder::new(
                "INSERT INTO changes (street_id, doc_id, hash, bytes, device_id, grid_id, seq, idx,
                    received_at) ",
            );
            qb.push_values(chunk, |mut b, r| {
                b.push_bind(street)
                    .push_bind(r.doc_id.clone())
                    .push_bind(r.hash.clone())
                    .push_bind(r.bytes.clone())
                    .push_bind(r.device_id.clone())
                    .push_bind(grid.to_string())
                    .push(seq)
                    .push_bind(r.idx)
                    .push(now);
            });
            qb.push(" ON CONFLICT DO NOTHING");
            qb.build().execute(conn).await.map(|_| ())
        })?;
    }
    Ok(())
}

/// Writes records' rows in a few statements, each with `version` and grid sequence number
/// `seq` (insert, or update as [`super::docs::upsert`] does).
pub async fn upsert_docs(
    tx: &mut Tx,
    write: &GridWrite,
    rows: &[DocRow],
    version: i64,
) -> Result<(), sqlx::Error> {
    let (street, seq) = (write.street.as_str(), write.seq);
    let now = now_millis();
    for chunk in rows.chunks(DOCS_PER_INSERT) {
        on_tx!(tx, conn => {
            let mut qb = sqlx::QueryBuilder::new(
                "INSERT INTO docs (id, kind, community_id, grid_id, liaison_group, confidential,
                                   heads, snapshot, version, seq, change_count,
                                   merged_invalid, created_at, updated_at, snapshot_version,
                                   pending_changes, departments, street_id) ",
            );
            qb.push_values(chunk, |mut b, r| {
                b.push_bind(r.id.clone())
                    .push_bind(r.kind)
                    .push_bind(r.community_id.clone())
                    .push_bind(r.grid_id.clone())
                    .push_bind(r.liaison_group.clone())
                    .push_bind(r.confidential)
                    .push_bind(r.heads.clone())
                    .push_bind(r.snapshot.clone())
                    .push(version)
                    .push(seq)
                    .push_bind(r.change_count)
                    .push("NULL")
                    .push(now)
                    .push(now)
                    .push(version)
                    .push("0")
                    .push_bind(r.departments.clone())
                    .push_bind(street);
            });
            qb.push(
                " ON CONFLICT (street_id, id) DO UPDATE SET
                     community_id = excluded.community_id, grid_id = excluded.grid_id,
                     liaison_group = excluded.liaison_group, confidential = excluded.confidential,
                     heads = excluded.heads, snapshot = excluded.snapshot,
                     version = excluded.version,
                     seq = excluded.seq, change_count = excluded.change_count,
                     merged_invalid = excluded.merged_invalid, updated_at = excluded.updated_at,
                     snapshot_version = excluded.snapshot_version, pending_changes = 0,
                     departments = excluded.departments",
            );
            qb.build().execute(conn).await.map(|_| ())
        })?;
    }
    Ok(())
}

/// A device to register.
#[derive(Debug, Clone)]
pub struct DeviceRow {
    /// The device.
    pub id: DeviceId,
    /// Its user.
    pub user: UserId,
    /// Name shown to people ("demo import").
    pub name: String,
}

/// Inserts devices (never seen, not revoked), in one transaction.
pub async fn insert_devices(db: &Db, rows: &[DeviceRow]) -> Result<(), sqlx::Error> {
    let now = now_millis();
    let mut tx = db.begin_write().await?;
    for chunk in rows.chunks(DEVICES_PER_INSERT) {
        on_tx!(&mut tx, conn => {
            let mut qb = sqlx::QueryBuilder::new(
                "INSERT INTO devices (id, user_id, name, created_at, last_seen_at, revoked_at) ",
            );
            qb.push_values(chunk, |mut b, r| {
                b.push_bind(r.id.to_string())
                    .push_bind(r.user.to_string())
                    .push_bind(r.name.clone())
                    .push(now)
                    .push("NULL")
                    .push("NULL");
            });
            qb.build().execute(conn).await.map(|_| ())
        })?;
    }
    tx.commit().await
}

/// How many streets, communities and grids exist (0 on a fresh database).
pub async fn count_places(db: &Db) -> Result<i64, sqlx::Error> {
    super::on_db!(db, pool => sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM streets) + (SELECT COUNT(*) FROM communities)
              + (SELECT COUNT(*) FROM grids)",
    )
    .fetch_one(pool)
    .await)
}

/// Readies the database for reading after a bulk load: gathers the query planner's statistics
/// of every table (`ANALYZE`, on both backends), and on PostgreSQL also vacuums the query-index
/// tables first.
///
/// Without the statistics the planner took the freshly loaded indexes for empty: the street's
/// visit figures joined 40,000 visits to their households one by one (350 ms; 160 ms once
/// analysed), and PostgreSQL's autovacuum gathers them only some time later. Without the
/// vacuum PostgreSQL cannot answer from an index alone (its visibility map is not yet set, so
/// a street's household count read the table: a bitmap heap scan of 20 ms), and the first
/// readers of every page write its hint bits. The big tables (`docs`, `changes`) are left to
/// autovacuum: they are read by key, and vacuuming gigabytes of snapshots would double the
/// load.
pub async fn after_bulk_load(db: &Db) -> Result<(), sqlx::Error> {
    match db {
        Db::Sqlite(pool) => sqlx::query("ANALYZE").execute(pool).await.map(|_| ()),
        Db::Postgres(pool) => {
            // The query-index tables that the lists and figures read, several from an index
            // alone (`household_index_street_status`).
            sqlx::query(
                "VACUUM household_index, household_private_index, case_index, activity_index,
                        record_items, conflict_index",
            )
            .execute(pool)
            .await?;
            sqlx::query("ANALYZE").execute(pool).await.map(|_| ())
        }
    }
}
