//! Liveness and readiness.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::app::AppState;
use crate::error::{ApiError, ApiResult};

/// `GET /health`: the process answers.
pub async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /ready`: the database answers too.
pub async fn ready(State(app): State<AppState>) -> ApiResult<Json<Value>> {
    app.db.ping().await.map_err(ApiError::unavailable)?;
    Ok(Json(json!({ "status": "ready" })))
}
