//! `POST /v1/households/{id}/archive`: a household that moved away archived by a supervisor
//! ([`crate::records::retention`]).

use axum::extract::State;

use crate::auth::AuthUser;
use crate::error::ApiResult;
use crate::http::extract::{ApiJson, ApiPath, ClientAddr};
use crate::records::retention::{self, ArchiveRequest, ArchiveResponse};
use crate::state::AppState;

/// `POST /v1/households/{id}/archive`: archives a household that moved away (status
/// `moved_out` or `merged`; community and street supervisors, with a reason). Its private
/// document (residents' ID numbers, phones, special groups) leaves every phone at its next
/// sync and is erased from the server after the retention period; the household stays.
#[utoipa::path(
    post,
    path = "/v1/households/{id}/archive",
    tag = "records",
    params(
        ("id" = String, Path, description = "Household id: a lowercase, hyphenated UUID (anything else is 400 malformed)", format = "uuid", pattern = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"),
    ),
    request_body = ArchiveRequest,
    responses(
        (status = 200, description = "Archived", body = ArchiveResponse),
        crate::error::responses::RecordErrors,
        crate::error::responses::Invalid,
        crate::error::responses::Conflicting,
    ),
    security(("bearer" = [])),
)]
pub async fn archive(
    State(app): State<AppState>,
    caller: AuthUser,
    ClientAddr(address): ClientAddr,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<ArchiveRequest>,
) -> ApiResult<ApiJson<ArchiveResponse>> {
    Ok(ApiJson(
        retention::archive(&app, &caller, address, &id, &req).await?,
    ))
}
