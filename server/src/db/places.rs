//! The place hierarchy: street → community → grid.

use sqlx::Row;
use sync_core::ids::{CommunityId, DepartmentId, GridId, StreetId};

use super::{Db, on_db, on_tx};

/// A place row, as listed for administrators and scope decisions.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PlaceRow {
    /// The place's code.
    pub id: String,
    /// Its parent's code (none for a street).
    pub parent: Option<String>,
    /// Display name (Chinese).
    pub name: String,
}

/// Creates or renames a street.
pub async fn upsert_street(db: &Db, id: &StreetId, name: &str) -> Result<(), sqlx::Error> {
    on_db!(db, pool => sqlx::query(
        "INSERT INTO streets (id, name) VALUES ($1, $2)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name",
    )
    .bind(id.as_str())
    .bind(name)
    .execute(pool)
    .await
    .map(|_| ()))
}

/// Creates or renames a community of a street.
pub async fn upsert_community(
    db: &Db,
    id: &CommunityId,
    street: &StreetId,
    name: &str,
) -> Result<(), sqlx::Error> {
    on_db!(db, pool => sqlx::query(
        "INSERT INTO communities (id, street_id, name) VALUES ($1, $2, $3)
         ON CONFLICT (id) DO UPDATE SET street_id = excluded.street_id, name = excluded.name",
    )
    .bind(id.as_str())
    .bind(street.as_str())
    .bind(name)
    .execute(pool)
    .await
    .map(|_| ()))
}

/// Creates or renames a grid of a community; the grid carries its community's street (the key
/// its rows are distributed by). A grid moved to a community of another street (only while it
/// holds no record, see `places::save_grid`) is written again under its new street with its
/// sequence counter, so no phone's cursor on it ever goes back.
pub async fn upsert_grid(
    db: &Db,
    id: &GridId,
    community: &CommunityId,
    name: &str,
) -> Result<(), sqlx::Error> {
    let mut tx = db.begin_write().await?;
    let street: Option<String> = on_tx!(&mut tx, conn => sqlx::query_scalar(
        "SELECT street_id FROM communities WHERE id = $1",
    )
    .bind(community.as_str())
    .fetch_optional(conn)
    .await)?;
    let street = street.ok_or(sqlx::Error::RowNotFound)?;
    let moved: Option<i64> = on_tx!(&mut tx, conn => sqlx::query_scalar(
        "DELETE FROM grids WHERE id = $1 AND street_id <> $2 RETURNING seq",
    )
    .bind(id.as_str())
    .bind(&street)
    .fetch_optional(conn)
    .await)?;
    on_tx!(&mut tx, conn => sqlx::query(
        "INSERT INTO grids (street_id, id, community_id, name, seq) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (street_id, id) DO UPDATE SET
             community_id = excluded.community_id, name = excluded.name",
    )
    .bind(&street)
    .bind(id.as_str())
    .bind(community.as_str())
    .bind(name)
    .bind(moved.unwrap_or(0))
    .execute(conn)
    .await
    .map(|_| ()))?;
    tx.commit().await
}

/// The street a grid belongs to.
pub async fn street_of_grid(db: &Db, grid: &GridId) -> Result<Option<StreetId>, sqlx::Error> {
    let row: Option<String> = on_db!(db, pool => sqlx::query_scalar(
        "SELECT street_id FROM grids WHERE id = $1",
    )
    .bind(grid.as_str())
    .fetch_optional(pool)
    .await)?;
    Ok(row.and_then(|s| s.parse().ok()))
}

/// Does this community have any grid? (A community with grids keeps its street: the grids'
/// rows are keyed by it.)
pub async fn community_has_grids(db: &Db, community: &CommunityId) -> Result<bool, sqlx::Error> {
    let row: Option<i64> = on_db!(db, pool => sqlx::query_scalar(
        "SELECT CAST(1 AS BIGINT) FROM grids WHERE community_id = $1 LIMIT 1",
    )
    .bind(community.as_str())
    .fetch_optional(pool)
    .await)?;
    Ok(row.is_some())
}

/// The community a grid belongs to.
pub async fn community_of_grid(db: &Db, grid: &GridId) -> Result<Option<CommunityId>, sqlx::Error> {
    let row: Option<String> = on_db!(db, pool => sqlx::query_scalar(
        "SELECT community_id FROM grids WHERE id = $1",
    )
    .bind(grid.as_str())
    .fetch_optional(pool)
    .await)?;
    Ok(row.and_then(|s| s.parse().ok()))
}

/// The street a community belongs to.
pub async fn street_of_community(
    db: &Db,
    community: &CommunityId,
) -> Result<Option<StreetId>, sqlx::Error> {
    let row: Option<String> = on_db!(db, pool => sqlx::query_scalar(
        "SELECT street_id FROM communities WHERE id = $1",
    )
    .bind(community.as_str())
    .fetch_optional(pool)
    .await)?;
    Ok(row.and_then(|s| s.parse().ok()))
}

/// Every grid of a community.
pub async fn grids_of_community(
    db: &Db,
    community: &CommunityId,
) -> Result<Vec<GridId>, sqlx::Error> {
    let rows: Vec<String> = on_db!(db, pool => sqlx::query_scalar(
        "SELECT id FROM grids WHERE community_id = $1 ORDER BY id",
    )
    .bind(community.as_str())
    .fetch_all(pool)
    .await)?;
    Ok(rows.into_iter().filter_map(|s| s.parse().ok()).collect())
}

/// Every grid of a street.
pub async fn grids_of_street(db: &Db, street: &StreetId) -> Result<Vec<GridId>, sqlx::Error> {
    let rows: Vec<String> = on_db!(db, pool => sqlx::query_scalar(
        "SELECT id FROM grids WHERE street_id = $1 ORDER BY id",
    )
    .bind(street.as_str())
    .fetch_all(pool)
    .await)?;
    Ok(rows.into_iter().filter_map(|s| s.parse().ok()).collect())
}

/// How many grids exist (0 on a fresh database).
pub async fn count_grids(db: &Db) -> Result<i64, sqlx::Error> {
    on_db!(db, pool => sqlx::query_scalar("SELECT COUNT(*) FROM grids").fetch_one(pool).await)
}

/// The whole hierarchy: streets, communities and grids with their parents.
pub async fn list_places(db: &Db) -> Result<Vec<PlaceRow>, sqlx::Error> {
    let rows = on_db!(db, pool => sqlx::query(
        "SELECT id, NULL AS parent, name FROM streets
         UNION ALL SELECT id, street_id, name FROM communities
         UNION ALL SELECT id, community_id, name FROM grids",
    )
    .fetch_all(pool)
    .await
    .and_then(|rows| rows.iter().map(|r| Ok(PlaceRow {
        id: r.try_get("id")?,
        parent: r.try_get("parent")?,
        name: r.try_get("name")?,
    })).collect::<Result<Vec<_>, sqlx::Error>>()))?;
    Ok(rows)
}

/// The names of the communities and grids among `codes`, by code: what a list shows beside
/// its items' codes, read for one page's places only (not the whole city's hierarchy).
pub async fn names_of(
    db: &Db,
    codes: &[String],
) -> Result<std::collections::HashMap<String, String>, sqlx::Error> {
    let mut out = std::collections::HashMap::new();
    for chunk in codes.chunks(NAMES_PER_QUERY) {
        let rows: Vec<(String, String)> = on_db!(db, pool => {
            let mut qb = sqlx::QueryBuilder::new("SELECT id, name FROM communities WHERE id IN (");
            let mut list = qb.separated(", ");
            for code in chunk {
                list.push_bind(code.as_str());
            }
            qb.push(") UNION ALL SELECT id, name FROM grids WHERE id IN (");
            let mut list = qb.separated(", ");
            for code in chunk {
                list.push_bind(code.as_str());
            }
            qb.push(")");
            qb.build_query_as::<(String, String)>().fetch_all(pool).await
        })?;
        out.extend(rows);
    }
    Ok(out)
}

/// Codes per [`names_of`] query (each bound twice).
const NAMES_PER_QUERY: usize = 500;

/// The grids among `ids`, with their names and communities: what an answer about a few grids
/// shows beside their codes, read for those grids only (not the whole city's hierarchy).
pub async fn grids_by_id(db: &Db, ids: &[String]) -> Result<Vec<GridRow>, sqlx::Error> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(NAMES_PER_QUERY) {
        let rows: Vec<(String, String, String)> = on_db!(db, pool => {
            let mut qb =
                sqlx::QueryBuilder::new("SELECT id, name, community_id FROM grids WHERE id IN (");
            let mut list = qb.separated(", ");
            for id in chunk {
                list.push_bind(id.as_str());
            }
            qb.push(")");
            qb.build_query_as::<(String, String, String)>().fetch_all(pool).await
        })?;
        out.extend(rows.into_iter().map(|(id, name, community)| GridRow {
            id,
            name,
            community,
        }));
    }
    Ok(out)
}

/// The communities among `ids`, with their names and streets (see [`grids_by_id`]).
pub async fn communities_by_id(db: &Db, ids: &[String]) -> Result<Vec<CommunityRow>, sqlx::Error> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(NAMES_PER_QUERY) {
        let rows: Vec<(String, String, String)> = on_db!(db, pool => {
            let mut qb = sqlx::QueryBuilder::new(
                "SELECT id, name, street_id FROM communities WHERE id IN (",
            );
            let mut list = qb.separated(", ");
            for id in chunk {
                list.push_bind(id.as_str());
            }
            qb.push(")");
            qb.build_query_as::<(String, String, String)>().fetch_all(pool).await
        })?;
        out.extend(
            rows.into_iter()
                .map(|(id, name, street)| CommunityRow { id, name, street }),
        );
    }
    Ok(out)
}

/// The grids an answer shows and their communities (read by code, not the whole city's
/// hierarchy, which grows with the city: 8,000 grids with 120 streets).
#[derive(Debug, Clone, Default)]
pub struct Shown {
    /// The grids found among the codes asked for.
    pub grids: Vec<GridRow>,
    /// Their communities.
    pub communities: Vec<CommunityRow>,
}

impl Shown {
    /// Each grid's name and community, by code.
    pub fn grid_info(&self) -> std::collections::HashMap<&str, (&str, &str)> {
        self.grids
            .iter()
            .map(|g| (g.id.as_str(), (g.name.as_str(), g.community.as_str())))
            .collect()
    }
}

/// The grids among `grid_ids` and their communities.
pub async fn shown(db: &Db, grid_ids: &[String]) -> Result<Shown, sqlx::Error> {
    let grids = grids_by_id(db, grid_ids).await?;
    let community_ids: Vec<String> = grids
        .iter()
        .map(|g| g.community.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let communities = communities_by_id(db, &community_ids).await?;
    Ok(Shown { grids, communities })
}

/// A table whose names [`names_in`] reads.
#[derive(Debug, Clone, Copy)]
pub enum Named {
    /// `streets`.
    Streets,
    /// `departments`.
    Departments,
}

/// The names of the streets or departments among `ids`, by code.
pub async fn names_in(
    db: &Db,
    table: Named,
    ids: &[String],
) -> Result<std::collections::HashMap<String, String>, sqlx::Error> {
    let select = match table {
        Named::Streets => "SELECT id, name FROM streets WHERE id IN (",
        Named::Departments => "SELECT id, name FROM departments WHERE id IN (",
    };
    let mut out = std::collections::HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(NAMES_PER_QUERY) {
        let rows: Vec<(String, String)> = on_db!(db, pool => {
            let mut qb = sqlx::QueryBuilder::new(select);
            let mut list = qb.separated(", ");
            for id in chunk {
                list.push_bind(id.as_str());
            }
            qb.push(")");
            qb.build_query_as::<(String, String)>().fetch_all(pool).await
        })?;
        out.extend(rows);
    }
    Ok(out)
}

/// Does this street exist?
pub async fn street_exists(db: &Db, street: &StreetId) -> Result<bool, sqlx::Error> {
    let row: Option<i64> = on_db!(db, pool => sqlx::query_scalar(
        "SELECT CAST(1 AS BIGINT) FROM streets WHERE id = $1",
    )
    .bind(street.as_str())
    .fetch_optional(pool)
    .await)?;
    Ok(row.is_some())
}

/// Has any record been stored in this grid? (A grid with records keeps its community: the
/// records name both.)
pub async fn grid_has_records(db: &Db, grid: &GridId) -> Result<bool, sqlx::Error> {
    let row: Option<i64> = on_db!(db, pool => sqlx::query_scalar(
        "SELECT CAST(1 AS BIGINT) FROM docs WHERE grid_id = $1 LIMIT 1",
    )
    .bind(grid.as_str())
    .fetch_optional(pool)
    .await)?;
    Ok(row.is_some())
}

/// A street as listed for administrators.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct StreetRow {
    /// Code.
    pub id: String,
    /// Display name.
    pub name: String,
}

/// A community as listed for administrators.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct CommunityRow {
    /// Code.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The street's code.
    pub street: String,
}

/// A grid as listed for administrators.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct GridRow {
    /// Code.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The community's code.
    pub community: String,
}

/// The whole hierarchy, each level ordered by code.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Hierarchy {
    /// Streets.
    pub streets: Vec<StreetRow>,
    /// Communities.
    pub communities: Vec<CommunityRow>,
    /// Grids.
    pub grids: Vec<GridRow>,
}

/// Every street, community and grid.
pub async fn hierarchy(db: &Db) -> Result<Hierarchy, sqlx::Error> {
    let streets: Vec<(String, String)> = on_db!(db, pool => sqlx::query_as(
        "SELECT id, name FROM streets ORDER BY id",
    )
    .fetch_all(pool)
    .await)?;
    let communities: Vec<(String, String, String)> = on_db!(db, pool => sqlx::query_as(
        "SELECT id, name, street_id FROM communities ORDER BY id",
    )
    .fetch_all(pool)
    .await)?;
    let grids: Vec<(String, String, String)> = on_db!(db, pool => sqlx::query_as(
        "SELECT id, name, community_id FROM grids ORDER BY id",
    )
    .fetch_all(pool)
    .await)?;
    Ok(Hierarchy {
        streets: streets
            .into_iter()
            .map(|(id, name)| StreetRow { id, name })
            .collect(),
        communities: communities
            .into_iter()
            .map(|(id, name, street)| CommunityRow { id, name, street })
            .collect(),
        grids: grids
            .into_iter()
            .map(|(id, name, community)| GridRow {
                id,
                name,
                community,
            })
            .collect(),
    })
}

/// A department of a street (站所), as listed for dispatch and figures.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct DepartmentRow {
    /// The department's code.
    pub id: String,
    /// Its street.
    pub street: String,
    /// Display name (Chinese), e.g. 派出所.
    pub name: String,
}

/// Creates or renames a department of a street.
pub async fn upsert_department(
    db: &Db,
    id: &DepartmentId,
    street: &StreetId,
    name: &str,
) -> Result<(), sqlx::Error> {
    on_db!(db, pool => sqlx::query(
        "INSERT INTO departments (id, street_id, name) VALUES ($1, $2, $3)
         ON CONFLICT (id) DO UPDATE SET street_id = excluded.street_id, name = excluded.name",
    )
    .bind(id.as_str())
    .bind(street.as_str())
    .bind(name)
    .execute(pool)
    .await
    .map(|_| ()))
}

/// The street a department belongs to (`None`: no such department).
pub async fn street_of_department(
    db: &Db,
    department: &DepartmentId,
) -> Result<Option<StreetId>, sqlx::Error> {
    let row: Option<String> = on_db!(db, pool => sqlx::query_scalar(
        "SELECT street_id FROM departments WHERE id = $1",
    )
    .bind(department.as_str())
    .fetch_optional(pool)
    .await)?;
    Ok(row.and_then(|s| s.parse().ok()))
}

/// Every department, by code (a few per street).
pub async fn departments(db: &Db) -> Result<Vec<DepartmentRow>, sqlx::Error> {
    on_db!(db, pool => sqlx::query(
        "SELECT id, street_id, name FROM departments ORDER BY id",
    )
    .fetch_all(pool)
    .await
    .and_then(|rows| rows.iter().map(|r| Ok(DepartmentRow {
        id: r.try_get("id")?,
        street: r.try_get("street_id")?,
        name: r.try_get("name")?,
    })).collect::<Result<Vec<_>, sqlx::Error>>()))
}
