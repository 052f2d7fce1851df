//! Photos and files (migration 0014): `blobs` (the complete, checked blobs) and `blob_refs`
//! (which record references which blob), for [`crate::blobs`].

use sqlx::Row;
use sync_core::ids::{BlobHash, DocId, GridId, StreetId};
use sync_core::record::Place;

use super::{Db, Tx, on_db, on_tx};
use crate::index::BlobRef;

/// A referencing record, as [`references`] reads it.
#[derive(Debug, Clone)]
pub struct Referrer {
    /// The record.
    pub doc_id: String,
    /// The media type it claims.
    pub media_type: String,
    /// The size it claims.
    pub size: i64,
}

/// A stored blob.
#[derive(Debug, Clone)]
pub struct StoredBlob {
    /// Its media type, as its bytes show.
    pub media_type: String,
    /// Its size.
    pub size: i64,
}

/// Replaces the blob references of record `doc` (in its writing transaction).
pub async fn replace_refs(
    tx: &mut Tx,
    street: &StreetId,
    doc: &DocId,
    place: &Place,
    refs: &[BlobRef],
) -> Result<(), sqlx::Error> {
    let (community, grid) = (place.community.as_str(), place.grid.as_str());
    on_tx!(tx, conn => {
        sqlx::query("DELETE FROM blob_refs WHERE street_id = $2 AND doc_id = $1")
            .bind(doc.as_str())
            .bind(street.as_str())
            .execute(&mut *conn)
            .await?;
        if refs.is_empty() {
            return Ok(());
        }
        let mut qb = sqlx::QueryBuilder::new(
            "INSERT INTO blob_refs (street_id, doc_id, sha256, media_type, size, stage,
                community_id, grid_id) ",
        );
        qb.push_values(refs, |mut b, r| {
            b.push_bind(street.as_str())
                .push_bind(doc.as_str())
                .push_bind(r.sha256.clone())
                .push_bind(r.media_type.clone())
                .push_bind(r.size)
                .push_bind(r.stage.clone())
                .push_bind(community)
                .push_bind(grid);
        });
        qb.push(" ON CONFLICT DO NOTHING");
        qb.build().execute(&mut *conn).await?;
        Ok::<(), sqlx::Error>(())
    })
}

/// The records that reference `sha256` (at most `limit`), with what each claims.
pub async fn references(
    db: &Db,
    sha256: &BlobHash,
    limit: i64,
) -> Result<Vec<Referrer>, sqlx::Error> {
    let rows: Vec<(String, String, i64)> = on_db!(db, pool => sqlx::query_as(
        "SELECT doc_id, media_type, size FROM blob_refs WHERE sha256 = $1
         ORDER BY doc_id LIMIT $2",
    )
    .bind(sha256.as_str())
    .bind(limit)
    .fetch_all(pool)
    .await)?;
    Ok(rows
        .into_iter()
        .map(|(doc_id, media_type, size)| Referrer {
            doc_id,
            media_type,
            size,
        })
        .collect())
}

/// The stored blob `sha256`, if its bytes are complete.
pub async fn stored(db: &Db, sha256: &BlobHash) -> Result<Option<StoredBlob>, sqlx::Error> {
    let row: Option<(String, i64)> = on_db!(db, pool => sqlx::query_as(
        "SELECT media_type, size FROM blobs WHERE sha256 = $1",
    )
    .bind(sha256.as_str())
    .fetch_optional(pool)
    .await)?;
    Ok(row.map(|(media_type, size)| StoredBlob { media_type, size }))
}

/// Which of `hashes` are stored.
pub async fn stored_among(db: &Db, hashes: &[&BlobHash]) -> Result<Vec<String>, sqlx::Error> {
    if hashes.is_empty() {
        return Ok(Vec::new());
    }
    on_db!(db, pool => {
        let mut qb = sqlx::QueryBuilder::new("SELECT sha256 FROM blobs WHERE sha256 IN (");
        let mut list = qb.separated(", ");
        for h in hashes {
            list.push_bind(h.as_str());
        }
        qb.push(")");
        let rows = qb.build().fetch_all(pool).await?;
        rows.iter().map(|r| r.try_get("sha256")).collect()
    })
}

/// Records a blob whose bytes are complete and checked (a second upload of the same bytes
/// only tells the garbage collector it is wanted again). The file is in place before this runs, so a stored row always has
/// its bytes.
pub async fn insert(
    db: &Db,
    sha256: &BlobHash,
    media_type: &str,
    size: i64,
    now: i64,
) -> Result<(), sqlx::Error> {
    on_db!(db, pool => sqlx::query(
        "INSERT INTO blobs (sha256, media_type, size, stored_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (sha256) DO UPDATE SET orphan_since = NULL",
    )
    .bind(sha256.as_str())
    .bind(media_type)
    .bind(size)
    .bind(now)
    .execute(pool)
    .await
    .map(|_| ()))
}

/// The garbage collector's bookkeeping: blobs no record references get `orphan_since = now`
/// (if not set yet), referenced ones lose it. Returns the blobs orphaned since before
/// `collect_before`, which may now be deleted.
pub async fn mark_orphans(
    db: &Db,
    now: i64,
    collect_before: i64,
) -> Result<Vec<String>, sqlx::Error> {
    on_db!(db, pool => {
        sqlx::query(
            "UPDATE blobs SET orphan_since = $1 WHERE orphan_since IS NULL
               AND NOT EXISTS (SELECT 1 FROM blob_refs r WHERE r.sha256 = blobs.sha256)",
        )
        .bind(now)
        .execute(pool)
        .await?;
        sqlx::query(
            "UPDATE blobs SET orphan_since = NULL WHERE orphan_since IS NOT NULL
               AND EXISTS (SELECT 1 FROM blob_refs r WHERE r.sha256 = blobs.sha256)",
        )
        .execute(pool)
        .await?;
        let rows = sqlx::query(
            "SELECT sha256 FROM blobs WHERE orphan_since IS NOT NULL AND orphan_since < $1
             ORDER BY sha256 LIMIT 10000",
        )
        .bind(collect_before)
        .fetch_all(pool)
        .await?;
        rows.iter().map(|r| r.try_get("sha256")).collect()
    })
}

/// Deletes the row of a collected blob, unless a record references it again. True when it
/// was deleted (its files may then go).
pub async fn delete_orphan(db: &Db, sha256: &str) -> Result<bool, sqlx::Error> {
    on_db!(db, pool => sqlx::query(
        "DELETE FROM blobs WHERE sha256 = $1 AND orphan_since IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM blob_refs r WHERE r.sha256 = $1)",
    )
    .bind(sha256)
    .execute(pool)
    .await
    .map(|r| r.rows_affected() > 0))
}

/// Hazards whose rectification was verified or closed, by grid (the demo photographs some).
pub async fn rectified_hazards(db: &Db) -> Result<Vec<(DocId, GridId)>, sqlx::Error> {
    let rows: Vec<(String, String)> = on_db!(db, pool => sqlx::query_as(
        "SELECT id, grid_id FROM case_index
         WHERE case_kind = 'hazard' AND state IN ('verified', 'closed')
         ORDER BY grid_id, id",
    )
    .fetch_all(pool)
    .await)?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, grid)| Some((id.parse().ok()?, grid.parse().ok()?)))
        .collect())
}

/// How many photos and files each of the records `ids` refers to (distinct references of
/// `blob_refs`), by record id; records without any are absent. The lists' 照片 column.
pub async fn attachment_counts(
    db: &Db,
    ids: &[String],
) -> Result<std::collections::HashMap<String, i64>, sqlx::Error> {
    let mut out = std::collections::HashMap::new();
    for chunk in ids.chunks(500) {
        let rows: Vec<(String, i64)> = on_db!(db, pool => {
            let mut qb = sqlx::QueryBuilder::new(
                "SELECT doc_id, COUNT(*) AS n FROM blob_refs WHERE doc_id IN (",
            );
            let mut list = qb.separated(", ");
            for id in chunk {
                list.push_bind(id.as_str());
            }
            qb.push(") GROUP BY doc_id");
            let rows = qb.build().fetch_all(pool).await?;
            rows.iter()
                .map(|r| Ok((r.try_get("doc_id")?, r.try_get("n")?)))
                .collect::<Result<Vec<_>, sqlx::Error>>()
        })?;
        out.extend(rows);
    }
    Ok(out)
}
