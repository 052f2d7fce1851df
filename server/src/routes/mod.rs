//! HTTP routes. Handlers are thin: they authenticate, decode, call sync-core or the store, and
//! map errors through [`crate::error::ApiError`].

pub mod health;
pub mod sync;

use axum::Router;
use axum::routing::{get, post};

use crate::app::AppState;

/// Every route of the API.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .route("/v1/sync", post(sync::sync))
}
