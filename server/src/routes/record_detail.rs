//! One record for supervisors ([`crate::records::detail`]): `GET /v1/records/{id}` (masked),
//! `POST /v1/records/{id}/reveal` (one field in clear, with a reason, audited) and
//! `GET /v1/records/{id}/history` (a page of its changes).

use axum::extract::State;
use serde_json::Value as Json;

use crate::auth::AuthUser;
use crate::error::ApiResult;
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, ClientAddr};
use crate::records::detail::{self, HistoryParams, RevealRequest, RevealResponse};
use crate::state::AppState;

/// `GET /v1/records/{id}`.
#[utoipa::path(
    get,
    path = "/v1/records/{id}",
    tag = "records",
    params(
        ("id" = String, Path, description = "Record id: a lowercase, hyphenated UUID (anything else is 400 malformed)", format = "uuid", pattern = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"),
    ),
    responses(
        (status = 200, description = "The record, masked, with heads and conflict report", body = serde_json::Value),
        crate::error::responses::RecordErrors,
    ),
    security(("bearer" = [])),
)]
pub async fn get_record(
    State(app): State<AppState>,
    caller: AuthUser,
    ClientAddr(address): ClientAddr,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<ApiJson<Json>> {
    Ok(ApiJson(detail::view(&app, &caller, address, &id).await?))
}

/// `POST /v1/records/{id}/reveal`.
#[utoipa::path(
    post,
    path = "/v1/records/{id}/reveal",
    tag = "records",
    params(
        ("id" = String, Path, description = "Record id: a lowercase, hyphenated UUID (anything else is 400 malformed)", format = "uuid", pattern = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"),
    ),
    request_body = RevealRequest,
    responses(
        (status = 200, description = "The value in clear", body = RevealResponse),
        crate::error::responses::RecordErrors,
        crate::error::responses::Invalid,
    ),
    security(("bearer" = [])),
)]
pub async fn reveal(
    State(app): State<AppState>,
    caller: AuthUser,
    ClientAddr(addr): ClientAddr,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<RevealRequest>,
) -> ApiResult<ApiJson<RevealResponse>> {
    Ok(ApiJson(
        detail::reveal(&app, &caller, addr, &id, &req).await?,
    ))
}

/// `GET /v1/records/{id}/history?page=&per_page=&order=`: one page of the record's changes.
///
/// Only the page's changes are read (sync-core's `history_page`), on a blocking thread that
/// stops once this request is gone (the client left, or the server's timeout dropped it).
#[utoipa::path(
    get,
    path = "/v1/records/{id}/history",
    tag = "records",
    params(
        ("id" = String, Path, description = "Record id: a lowercase, hyphenated UUID (anything else is 400 malformed)", format = "uuid", pattern = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"),
        HistoryParams,
    ),
    responses(
        (status = 200, description = "A page of the record's changes, attributed: `{id, kind, entries, page, per_page, total, order}`; each entry lists at most 50 edits, `more_edits` counts the rest", body = serde_json::Value),
        crate::error::responses::RecordErrors,
    ),
    security(("bearer" = [])),
)]
pub async fn get_history(
    State(app): State<AppState>,
    caller: AuthUser,
    ApiPath(id): ApiPath<String>,
    ApiQuery(params): ApiQuery<HistoryParams>,
) -> ApiResult<ApiJson<Json>> {
    Ok(ApiJson(detail::history(&app, &caller, &id, &params).await?))
}
