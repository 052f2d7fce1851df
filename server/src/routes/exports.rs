//! `GET /v1/exports/{list}.{csv|xlsx}`: a list as a file ([`crate::exports`]).

use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::Response;

use crate::auth::AuthUser;
use crate::error::ApiResult;
use crate::exports;
use crate::http::extract::{ApiPath, ClientAddr};
use crate::state::AppState;

/// `GET /v1/exports/{list}.{csv|xlsx}?<the list's filters>`
#[utoipa::path(
    get,
    path = "/v1/exports/{file}",
    tag = "exports",
    description = "Takes the list route's filters and sort as query parameters, without page or per_page.",
    params(
        ("file" = String, Path, description = "`{list}.csv` or `{list}.xlsx`; list is households, cases, visits, patrols, activities, party-registrations, assets, conflicts (supervisors) or audit (administrators)", pattern = "^(households|cases|visits|patrols|activities|party-registrations|assets|conflicts|audit)\\.(csv|xlsx)$"),
    ),
    responses(
        (status = 200, description = "The list as a file (streamed)", content((String = "text/csv"), (crate::openapi::BinaryFile = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))),
        crate::error::responses::RecordErrors,
    ),
    security(("bearer" = [])),
)]
pub async fn export(
    State(app): State<AppState>,
    caller: AuthUser,
    ClientAddr(addr): ClientAddr,
    ApiPath(file): ApiPath<String>,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult<Response> {
    exports::export(&app, &caller, addr, &file, &uri, &headers).await
}
