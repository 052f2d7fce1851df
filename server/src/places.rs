//! The place hierarchy as administrators manage it (`/v1/admin/places`, `PUT
//! /v1/admin/{streets,communities,grids}/{id}`): creating or renaming a place, checking its
//! parent, and auditing the change with its target (`grid:hp-dzk-01`).
//!
//! A grid that holds records keeps its community (409 `conflict`): its records name both. A
//! community with grids keeps its street (409 `conflict`): the grids' rows and their records'
//! are keyed by the street (the key the tables are distributed by).

use std::net::IpAddr;

use serde::Deserialize;
use serde_json::{Value, json};
use sync_core::ids::{CommunityId, DepartmentId, GridId, StreetId};

use crate::audit::{AuditAction, record_admin_action};
use crate::auth::AuthUser;
use crate::db::places::{self, CommunityRow, DepartmentRow, GridRow, Hierarchy, StreetRow};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Longest place name, in characters.
const MAX_PLACE_NAME_CHARS: usize = 100;

/// Every street, community and grid.
pub async fn hierarchy(app: &AppState) -> ApiResult<Hierarchy> {
    Ok(places::hierarchy(&app.db).await?)
}

/// The body of `PUT /v1/admin/streets/{id}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StreetBody {
    /// Display name (1 to 100 characters, trimmed).
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
}

/// The body of `PUT /v1/admin/communities/{id}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommunityBody {
    /// Display name (1 to 100 characters, trimmed).
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// The street's code.
    #[schema(schema_with = crate::openapi::values::code)]
    pub street: StreetId,
}

/// The body of `PUT /v1/admin/grids/{id}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GridBody {
    /// Display name (1 to 100 characters, trimmed).
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// The community's code.
    #[schema(schema_with = crate::openapi::values::code)]
    pub community: CommunityId,
}

/// `PUT /v1/admin/departments/{id}` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DepartmentBody {
    /// Display name, e.g. 和平派出所 (1 to 100 characters, trimmed).
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// The street's code.
    #[schema(schema_with = crate::openapi::values::code)]
    pub street: StreetId,
}

/// Creates or renames the department `id` of a street (站所), which cases can be dispatched
/// to; 422 `unknown_place` for an unknown street.
pub async fn save_department(
    app: &AppState,
    admin: &AuthUser,
    addr: Option<IpAddr>,
    id: &DepartmentId,
    body: &DepartmentBody,
) -> ApiResult<DepartmentRow> {
    let name = place_name(&body.name)?;
    if !places::street_exists(&app.db, &body.street).await? {
        return Err(ApiError::unprocessable("unknown_place", "no such street"));
    }
    places::upsert_department(&app.db, id, &body.street, &name).await?;
    let detail = json!({ "name": name, "street": body.street.to_string() });
    let row = DepartmentRow {
        id: id.to_string(),
        street: body.street.to_string(),
        name,
    };
    saved(app, admin, addr, format!("department:{id}"), detail, row).await
}

/// Audits the saving of the place `target` with its new `detail` by `admin`, and answers
/// `row`.
async fn saved<T>(
    app: &AppState,
    admin: &AuthUser,
    addr: Option<IpAddr>,
    target: String,
    detail: Value,
    row: T,
) -> ApiResult<T> {
    let action = AuditAction::PlaceSaved;
    record_admin_action(&app.db, admin, addr, action, &target, detail).await?;
    Ok(row)
}

/// A place's name, trimmed: 1 to 100 characters, else 422 `invalid_name`.
fn place_name(name: &str) -> ApiResult<String> {
    // Counted as sent (the documented limit); surrounding blanks are then dropped.
    let sent = name.chars().count();
    let name = name.trim();
    if name.is_empty() || sent > MAX_PLACE_NAME_CHARS {
        return Err(ApiError::unprocessable(
            "invalid_name",
            "the name must be 1 to 100 characters",
        ));
    }
    Ok(name.to_owned())
}

/// Creates or renames the street `id`.
pub async fn save_street(
    app: &AppState,
    admin: &AuthUser,
    addr: Option<IpAddr>,
    id: &StreetId,
    body: &StreetBody,
) -> ApiResult<StreetRow> {
    let name = place_name(&body.name)?;
    places::upsert_street(&app.db, id, &name).await?;
    let detail = json!({ "name": name });
    let row = StreetRow {
        id: id.to_string(),
        name,
    };
    saved(app, admin, addr, format!("street:{id}"), detail, row).await
}

/// Creates or changes the community `id`: its street must exist (else 422 `unknown_place`),
/// and a community with grids cannot move to another street (409 `conflict`).
pub async fn save_community(
    app: &AppState,
    admin: &AuthUser,
    addr: Option<IpAddr>,
    id: &CommunityId,
    body: &CommunityBody,
) -> ApiResult<CommunityRow> {
    let name = place_name(&body.name)?;
    if !places::street_exists(&app.db, &body.street).await? {
        return Err(ApiError::unprocessable("unknown_place", "no such street"));
    }
    let current = places::street_of_community(&app.db, id).await?;
    if current.is_some_and(|s| s != body.street) && places::community_has_grids(&app.db, id).await?
    {
        return Err(ApiError::conflict(
            "conflict",
            "the community has grids, whose records are kept by its street: it cannot move",
        ));
    }
    places::upsert_community(&app.db, id, &body.street, &name).await?;
    let detail = json!({ "name": name, "street": body.street.to_string() });
    let row = CommunityRow {
        id: id.to_string(),
        name,
        street: body.street.to_string(),
    };
    saved(app, admin, addr, format!("community:{id}"), detail, row).await
}

/// Creates or changes the grid `id`: its community must exist (else 422 `unknown_place`),
/// and a grid that holds records cannot move to another community (409 `conflict`).
pub async fn save_grid(
    app: &AppState,
    admin: &AuthUser,
    addr: Option<IpAddr>,
    id: &GridId,
    body: &GridBody,
) -> ApiResult<GridRow> {
    let name = place_name(&body.name)?;
    if places::street_of_community(&app.db, &body.community)
        .await?
        .is_none()
    {
        return Err(ApiError::unprocessable(
            "unknown_place",
            "no such community",
        ));
    }
    let current = places::community_of_grid(&app.db, id).await?;
    if current.is_some_and(|c| c != body.community) && places::grid_has_records(&app.db, id).await?
    {
        return Err(ApiError::conflict(
            "conflict",
            "the grid holds records, which name its community: it cannot move",
        ));
    }
    places::upsert_grid(&app.db, id, &body.community, &name).await?;
    let detail = json!({ "name": name, "community": body.community.to_string() });
    let row = GridRow {
        id: id.to_string(),
        name,
        community: body.community.to_string(),
    };
    saved(app, admin, addr, format!("grid:{id}"), detail, row).await
}
