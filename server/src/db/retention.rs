//! Archiving households and erasing their private documents (migration 0011): the
//! `archived_households` register, the `removals` phones read by cursor, and the erasure.

use std::collections::BTreeSet;

use sync_core::ids::{DocId, GridId, StreetId};

use super::{Backend, Db, Tx, now_millis, on_db, on_tx};

/// One archived household in the register.
#[derive(Debug, Clone)]
pub struct Archived {
    /// The household.
    pub household_id: String,
    /// Its private document.
    pub private_id: String,
    /// Its grid.
    pub grid_id: String,
    /// The household document goes too (its history holds personal data).
    pub with_household: bool,
    /// The grid's street (the rows' key).
    pub street_id: String,
}

/// Registers the archive of `household` (in its writing transaction, after the grid's
/// sequence number `seq` was taken): the private document (and the household document too
/// when `with_household`) is marked archived (no longer sent or written) and a removal is
/// logged at `seq`, so every phone drops it at its next sync. False when the household was
/// archived already.
#[allow(clippy::too_many_arguments)]
pub async fn archive(
    tx: &mut Tx,
    street: &StreetId,
    household: &DocId,
    private: &DocId,
    grid: &GridId,
    seq: i64,
    by: &str,
    erase_after: i64,
    with_household: bool,
) -> Result<bool, sqlx::Error> {
    let inserted = on_tx!(tx, conn => sqlx::query(
        "INSERT INTO archived_households (household_id, private_id, grid_id, archived_at,
                                          archived_by, erase_after, with_household, street_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
    )
    .bind(household.as_str())
    .bind(private.as_str())
    .bind(grid.as_str())
    .bind(now_millis())
    .bind(by)
    .bind(erase_after)
    .bind(with_household)
    .bind(street.as_str())
    .execute(conn)
    .await
    .map(|r| r.rows_affected()))?;
    if inserted == 0 {
        return Ok(false);
    }
    let mut leaving = vec![private];
    if with_household {
        leaving.push(household);
    }
    for id in leaving {
        on_tx!(tx, conn => sqlx::query(
            "UPDATE docs SET archived = TRUE WHERE street_id = $2 AND id = $1",
        )
            .bind(id.as_str())
            .bind(street.as_str())
            .execute(conn)
            .await.map(|_| ()))?;
        on_tx!(tx, conn => sqlx::query(
            "INSERT INTO removals (street_id, grid_id, seq, doc_id) VALUES ($4, $1, $2, $3)",
        )
        .bind(grid.as_str())
        .bind(seq)
        .bind(id.as_str())
        .bind(street.as_str())
        .execute(conn)
        .await.map(|_| ()))?;
    }
    Ok(true)
}

/// The documents phones of `grid` must drop, logged after `after` up to `upto`.
pub async fn removals_in_grid(
    tx: &mut Tx,
    grid: &GridId,
    after: i64,
    upto: i64,
) -> Result<Vec<DocId>, sqlx::Error> {
    let ids: Vec<String> = on_tx!(tx, conn => sqlx::query_scalar(
        "SELECT doc_id FROM removals WHERE grid_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq",
    )
    .bind(grid.as_str())
    .bind(after)
    .bind(upto)
    .fetch_all(conn)
    .await)?;
    Ok(ids.into_iter().filter_map(|id| id.parse().ok()).collect())
}

/// Which of `ids` are archived documents (erased or not): private documents of archived
/// households, and archived households that left with them.
pub async fn archived_among(db: &Db, ids: &[DocId]) -> Result<BTreeSet<DocId>, sqlx::Error> {
    let mut out = BTreeSet::new();
    // Each id is bound twice; chunks keep a large push (an import) under both backends' limit
    // on bound parameters (SQLite 32,766, PostgreSQL 65,535).
    for chunk in ids.chunks(ARCHIVED_AMONG_CHUNK) {
        let found: Vec<String> = on_db!(db, pool => {
            let mut qb = sqlx::QueryBuilder::new(
                "SELECT private_id FROM archived_households WHERE private_id IN (",
            );
            let mut list = qb.separated(", ");
            for id in chunk {
                list.push_bind(id.as_str().to_owned());
            }
            qb.push(") UNION SELECT household_id FROM archived_households WHERE with_household AND household_id IN (");
            let mut list = qb.separated(", ");
            for id in chunk {
                list.push_bind(id.as_str().to_owned());
            }
            qb.push(")");
            qb.build_query_scalar::<String>().fetch_all(pool).await
        })?;
        out.extend(found.into_iter().filter_map(|id| id.parse().ok()));
    }
    Ok(out)
}

/// How many ids [`archived_among`] asks about in one query.
const ARCHIVED_AMONG_CHUNK: usize = 1000;

/// Archived households whose private document is due for erasure at `now`.
pub async fn due(db: &Db, now: i64) -> Result<Vec<Archived>, sqlx::Error> {
    let rows: Vec<(String, String, String, bool, String)> = on_db!(db, pool => sqlx::query_as(
        "SELECT household_id, private_id, grid_id, with_household, street_id
         FROM archived_households
         WHERE erased_at IS NULL AND erase_after <= $1 ORDER BY erase_after",
    )
    .bind(now)
    .fetch_all(pool)
    .await)?;
    Ok(rows
        .into_iter()
        .map(
            |(household_id, private_id, grid_id, with_household, street_id)| Archived {
                household_id,
                private_id,
                grid_id,
                with_household,
                street_id,
            },
        )
        .collect())
}

/// Erases an archived private document: its row, its change log, its index and conflict rows,
/// in one writing transaction; the register keeps the ids and the time. On SQLite the freed
/// pages are overwritten (`secure_delete`) so the values do not linger in the file.
pub async fn erase(tx: &mut Tx, archived: &Archived) -> Result<(), sqlx::Error> {
    if tx.backend() == Backend::Sqlite {
        on_tx!(tx, conn => sqlx::query("PRAGMA secure_delete = ON").execute(conn).await.map(|_| ()))?;
    }
    let mut erasing = vec![&archived.private_id];
    if archived.with_household {
        erasing.push(&archived.household_id);
    }
    for id in erasing {
        for sql in [
            "DELETE FROM changes WHERE street_id = $2 AND doc_id = $1",
            "DELETE FROM docs WHERE street_id = $2 AND id = $1",
            "DELETE FROM conflict_index WHERE street_id = $2 AND id = $1",
            "DELETE FROM household_index WHERE street_id = $2 AND id = $1",
        ] {
            on_tx!(tx, conn => sqlx::query(sql)
                .bind(id)
                .bind(&archived.street_id)
                .execute(conn)
                .await.map(|_| ()))?;
        }
    }
    on_tx!(tx, conn => sqlx::query(
        "DELETE FROM household_private_index WHERE street_id = $2 AND household_id = $1",
    )
        .bind(&archived.household_id)
        .bind(&archived.street_id)
        .execute(conn)
        .await.map(|_| ()))?;
    on_tx!(tx, conn => sqlx::query(
        "UPDATE household_index SET special_groups = '' WHERE street_id = $2 AND id = $1",
    )
        .bind(&archived.household_id)
        .bind(&archived.street_id)
        .execute(conn)
        .await.map(|_| ()))?;
    on_tx!(tx, conn => sqlx::query(
        "UPDATE archived_households SET erased_at = $2 WHERE household_id = $1",
    )
    .bind(&archived.household_id)
    .bind(now_millis())
    .execute(conn)
    .await.map(|_| ()))?;
    if tx.backend() == Backend::Sqlite {
        on_tx!(tx, conn => sqlx::query("PRAGMA secure_delete = OFF").execute(conn).await.map(|_| ()))?;
    }
    Ok(())
}

/// After erasures on SQLite: moves the write-ahead log into the database file and truncates
/// it, so no earlier page of an erased record stays in the log.
pub async fn checkpoint(db: &Db) -> Result<(), sqlx::Error> {
    if db.backend() == Backend::Sqlite {
        on_db!(db, pool => sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(pool).await.map(|_| ()))?;
    }
    Ok(())
}
