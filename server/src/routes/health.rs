//! Liveness and readiness.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// `GET /health`: the process answers.
#[utoipa::path(
    get,
    path = "/health",
    tag = "health",
    responses(
        (status = 200, description = "The process answers", body = crate::openapi::Status),
    ),
)]
pub async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /ready`: the database answers too.
#[utoipa::path(
    get,
    path = "/ready",
    tag = "health",
    responses(
        (status = 200, description = "The database answers too", body = crate::openapi::Status),
        crate::error::responses::Unavailable,
    ),
)]
pub async fn ready(State(app): State<AppState>) -> ApiResult<Json<Value>> {
    app.db.ping().await.map_err(ApiError::unavailable)?;
    Ok(Json(json!({ "status": "ready" })))
}
