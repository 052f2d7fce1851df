//! Data migrations: record rewrites the server runs at start after the schema migrations
//! (e.g. [`crate::records::legacy::migrate_all`]), each marked once done.

use sync_core::ids::DocId;
use sync_core::record::RecordKind;

use super::{Db, now_millis, on_db};

/// Moving residents' personal data out of stored households into their private documents
/// ([`crate::records::legacy::migrate_all`]).
pub const HOUSEHOLD_PRIVATE_SPLIT: &str = "0010_household_private_split";

/// Every data migration, in the order they were added.
pub const DATA_MIGRATIONS: &[&str] = &[HOUSEHOLD_PRIVATE_SPLIT];

/// Marks every data migration done when no record is stored: a new database has nothing to
/// rewrite, and whatever is written from now on is written by this server's rules. Without
/// this, the first start after `gridbook demo` read every stored household once (22 s a demo
/// street). True when it marked them.
pub async fn mark_all_done_if_empty(db: &Db) -> Result<bool, sqlx::Error> {
    let any: bool = on_db!(db, pool => sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM docs)",
    )
    .fetch_one(pool)
    .await)?;
    if any {
        return Ok(false);
    }
    for name in DATA_MIGRATIONS {
        mark_data_migration(db, name).await?;
    }
    Ok(true)
}

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
