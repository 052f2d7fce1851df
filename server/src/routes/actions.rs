//! `POST /v1/cases/{id}/actions`: a supervisor's case action ([`crate::records::actions`]).

use axum::extract::State;
use serde_json::Value as Json;

use crate::auth::AuthUser;
use crate::error::ApiResult;
use crate::http::extract::{ApiJson, ApiPath, ClientAddr};
use crate::records::actions::{self, ActionRequest};
use crate::state::AppState;

/// `POST /v1/cases/{id}/actions`.
#[utoipa::path(
    post,
    path = "/v1/cases/{id}/actions",
    tag = "cases",
    params(
        ("id" = String, Path, description = "Case id: a lowercase, hyphenated UUID (anything else is 400 malformed)", format = "uuid", pattern = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"),
    ),
    request_body = ActionRequest,
    responses(
        (status = 200, description = "The action's result", body = serde_json::Value),
        crate::error::responses::RecordErrors,
        crate::error::responses::Conflicting,
        crate::error::responses::Invalid,
    ),
    security(("bearer" = [])),
)]
pub async fn case_action(
    State(app): State<AppState>,
    caller: AuthUser,
    ClientAddr(addr): ClientAddr,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<ActionRequest>,
) -> ApiResult<ApiJson<Json>> {
    Ok(ApiJson(actions::act(&app, &caller, addr, &id, &req).await?))
}
