//! Data migrations: record rewrites the server runs at start after the schema migrations
//! (e.g. [`crate::records::legacy::migrate_all`]), each marked once done.

use sync_core::ids::DocId;
use sync_core::record::RecordKind;

use super::{Db, now_millis, on_db};

/// Has the data migration `name` finished?
pub async fn data_migration_done(db: &Db, name: &str) -> Result<bool, sqlx::Error> {
    let found: Option<String> = on_db!(db, pool => sqlx::query_scalar(
        "SELECT name FROM data_migrations WHERE name = $1",
    )
    .bind(name)
    .fetch_optional(pool)
    .await)?;
    Ok(found.is_some())
}

/// Marks the data migration `name` finished.
pub async fn mark_data_migration(db: &Db, name: &str) -> Result<(), sqlx::Error> {
    on_db!(db, pool => sqlx::query(
        "INSERT INTO data_migrations (name, done_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
    )
    .bind(name)
    .bind(now_millis())
    .execute(pool)
    .await
    .map(|_| ()))
}

/// The ids of every stored record of `kind`.
pub async fn ids_of_kind(db: &Db, kind: RecordKind) -> Result<Vec<DocId>, sqlx::Error> {
    let ids: Vec<String> = on_db!(db, pool => sqlx::query_scalar(
        "SELECT id FROM docs WHERE kind = $1 ORDER BY id",
    )
    .bind(kind.as_str())
    .fetch_all(pool)
    .await)?;
    Ok(ids.into_iter().filter_map(|id| id.parse().ok()).collect())
}
