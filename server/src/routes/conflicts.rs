//! The conflict inbox's routes: the list ([`crate::lists::conflicts`]), one record's report
//! and a resolution ([`crate::records::resolve`]).

use axum::extract::State;
use serde_json::Value as Json;

use crate::auth::AuthUser;
use crate::error::ApiResult;
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, ClientAddr};
use crate::lists::ListPage;
use crate::lists::conflicts::{self, ConflictQuery};
use crate::records::resolve::{self, ResolveRequest};
use crate::state::AppState;

/// `GET /v1/conflicts`.
#[utoipa::path(
    get,
    path = "/v1/conflicts",
    tag = "conflicts",
    params(
        ConflictQuery,
    ),
    responses(
        (status = 200, description = "A page of records in conflict", body = crate::openapi::ListPage),
        crate::error::responses::ReadErrors,
    ),
    security(("bearer" = [])),
)]
pub async fn list_conflicts(
    State(app): State<AppState>,
    caller: AuthUser,
    ApiQuery(q): ApiQuery<ConflictQuery>,
) -> ApiResult<ApiJson<ListPage>> {
    Ok(ApiJson(conflicts::page(&app, &caller, &q).await?))
}

/// `GET /v1/conflicts/{id}`.
#[utoipa::path(
    get,
    path = "/v1/conflicts/{id}",
    tag = "conflicts",
    params(
        ("id" = String, Path, description = "Record id: a lowercase, hyphenated UUID (anything else is 400 malformed)", format = "uuid", pattern = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"),
    ),
    responses(
        (status = 200, description = "The record's conflict report", body = serde_json::Value),
        crate::error::responses::RecordErrors,
    ),
    security(("bearer" = [])),
)]
pub async fn get_conflict(
    State(app): State<AppState>,
    caller: AuthUser,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<ApiJson<Json>> {
    Ok(ApiJson(resolve::report(&app, &caller, &id).await?))
}

/// `POST /v1/conflicts/{id}/resolve`.
#[utoipa::path(
    post,
    path = "/v1/conflicts/{id}/resolve",
    tag = "conflicts",
    params(
        ("id" = String, Path, description = "Record id: a lowercase, hyphenated UUID (anything else is 400 malformed)", format = "uuid", pattern = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"),
    ),
    request_body = ResolveRequest,
    responses(
        (status = 200, description = "The resolution's result", body = serde_json::Value),
        crate::error::responses::RecordErrors,
        crate::error::responses::Conflicting,
        crate::error::responses::Invalid,
    ),
    security(("bearer" = [])),
)]
pub async fn resolve(
    State(app): State<AppState>,
    caller: AuthUser,
    ClientAddr(addr): ClientAddr,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<ResolveRequest>,
) -> ApiResult<ApiJson<Json>> {
    Ok(ApiJson(
        resolve::resolve(&app, &caller, addr, &id, &req).await?,
    ))
}
