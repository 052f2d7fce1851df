//! The `signing_keys` table, where versions before the key file kept the JWT signing keys. At
//! start the server moves any keys it finds there into the key file and empties the table
//! (`crate::auth::keyfile`).

use super::{Db, on_db};
use crate::config::JwtKey;

/// Keys an older version kept in the database, newest first.
pub async fn stored_keys(db: &Db) -> Result<Vec<JwtKey>, sqlx::Error> {
    let rows: Vec<(String, Vec<u8>)> = on_db!(db, pool => sqlx::query_as(
        "SELECT kid, secret FROM signing_keys ORDER BY created_at DESC, kid",
    )
    .fetch_all(pool)
    .await)?;
    Ok(rows
        .into_iter()
        .map(|(kid, secret)| JwtKey { kid, secret })
        .collect())
}

/// Empties the table once its keys are in the key file.
pub async fn delete_stored_keys(db: &Db) -> Result<(), sqlx::Error> {
    on_db!(db, pool => sqlx::query("DELETE FROM signing_keys").execute(pool).await.map(|_| ()))
}
