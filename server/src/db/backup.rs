//! The SQL of `gridbook backup` ([`crate::backup`]): SQLite's `VACUUM INTO` on a read-only
//! connection, and the blobs a copy records.

use std::path::Path;
use std::time::Duration;

use sqlx::ConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;
use sync_core::ids::BlobHash;

/// Writes one consistent snapshot of the SQLite file `source` to the new file `target`,
/// through a read-only connection (the live database is never written).
pub async fn vacuum_into(source: &Path, target: &Path) -> Result<(), sqlx::Error> {
    let mut conn = SqliteConnectOptions::new()
        .filename(source)
        .read_only(true)
        .busy_timeout(Duration::from_secs(30))
        .connect()
        .await?;
    sqlx::query("VACUUM INTO $1")
        .bind(target.to_string_lossy().into_owned())
        .execute(&mut conn)
        .await?;
    Ok(())
}

/// The blobs the SQLite file `file` records, in hash order.
pub async fn blob_hashes(file: &Path) -> Result<Vec<BlobHash>, sqlx::Error> {
    let mut conn = SqliteConnectOptions::new()
        .filename(file)
        .read_only(true)
        .connect()
        .await?;
    let rows: Vec<String> = sqlx::query_scalar("SELECT sha256 FROM blobs ORDER BY sha256")
        .fetch_all(&mut conn)
        .await?;
    Ok(rows.into_iter().filter_map(|h| h.parse().ok()).collect())
}
