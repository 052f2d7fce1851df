//! `GET /v1/admin/audit`: the audit log, for administrators ([`crate::lists::audit`]).

use axum::extract::State;

use crate::auth::AuthUser;
use crate::error::ApiResult;
use crate::http::extract::{ApiJson, ApiQuery};
use crate::lists::ListPage;
use crate::lists::audit::{self, AuditParams};
use crate::state::AppState;

/// `GET /v1/admin/audit`.
#[utoipa::path(
    get,
    path = "/v1/admin/audit",
    tag = "admin",
    params(
        AuditParams,
    ),
    responses(
        (status = 200, description = "A page of the audit log", body = crate::openapi::ListPage),
        crate::error::responses::ReadErrors,
    ),
    security(("bearer" = [])),
)]
pub async fn list_audit(
    State(app): State<AppState>,
    caller: AuthUser,
    ApiQuery(params): ApiQuery<AuditParams>,
) -> ApiResult<ApiJson<ListPage>> {
    Ok(ApiJson(audit::page(&app, &caller, &params).await?))
}
