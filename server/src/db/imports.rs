//! What the household roster import ([`crate::imports`]) reads of a grid: its households'
//! ids, natural address keys and statuses, archived ones left out.

use super::{Db, on_db};

/// A stored household of a grid as the index holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GridHousehold {
    /// Record id.
    pub id: String,
    /// `Address::sort_key` of its address.
    pub address_key: String,
    /// Status code.
    pub status: String,
}

/// Every household of `grid` that is not archived, in address order.
pub async fn households_of_grid(db: &Db, grid: &str) -> Result<Vec<GridHousehold>, sqlx::Error> {
    let rows: Vec<(String, String, String)> = on_db!(db, pool => sqlx::query_as(
        "SELECT h.id, h.address_key, h.status FROM household_index h
         JOIN docs d ON d.street_id = h.street_id AND d.id = h.id
         WHERE h.grid_id = $1 AND NOT d.archived
         ORDER BY h.address_key, h.id",
    )
    .bind(grid)
    .fetch_all(pool)
    .await)?;
    Ok(rows
        .into_iter()
        .map(|(id, address_key, status)| GridHousehold {
            id,
            address_key,
            status,
        })
        .collect())
}

/// Whether grid `grid` exists.
pub async fn grid_exists(db: &Db, grid: &str) -> Result<bool, sqlx::Error> {
    let found: Option<String> = on_db!(db, pool => sqlx::query_scalar(
        "SELECT id FROM grids WHERE id = $1",
    )
    .bind(grid)
    .fetch_optional(pool)
    .await)?;
    Ok(found.is_some())
}
