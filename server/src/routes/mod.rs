//! HTTP routes. Handlers are thin: they authenticate, decode, call sync-core or the store, and
//! map errors through [`crate::error::ApiError`].

pub mod actions;
pub mod admin;
pub mod auth;
pub mod conflicts;
pub mod exports;
pub mod figures;
pub mod health;
pub mod json;
pub mod record_detail;
pub mod records;
pub mod sync;

use axum::Router;
use axum::routing::{get, post, put};

use crate::app::AppState;

/// Every route of the API.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .route("/v1/sync", post(sync::sync))
        .route("/v1/households", get(records::list_households))
        .route("/v1/cases", get(records::list_cases))
        .route("/v1/visits", get(records::list_visits))
        .route("/v1/patrols", get(records::list_patrols))
        .route("/v1/activities", get(records::list_activities))
        .route(
            "/v1/party-registrations",
            get(records::list_party_registrations),
        )
        .route("/v1/assets", get(records::list_assets))
        .route("/v1/figures", get(figures::get_figures))
        .route("/v1/exports/{file}", get(exports::export))
        .route("/v1/auth/login", post(auth::sign_in))
        .route("/v1/auth/refresh", post(auth::refresh_tokens))
        .route("/v1/auth/logout", post(auth::sign_out))
        .route("/v1/auth/me", get(auth::get_me))
        .route(
            "/v1/auth/devices/{device_id}/revoke",
            post(auth::revoke_device),
        )
        .route("/v1/admin/places", get(admin::list_places))
        .route("/v1/admin/streets/{id}", put(admin::put_street))
        .route("/v1/admin/communities/{id}", put(admin::put_community))
        .route("/v1/admin/grids/{id}", put(admin::put_grid))
        .route("/v1/admin/users", post(admin::create_user))
        .route("/v1/admin/users/{login}/disable", post(admin::disable_user))
        .route("/v1/admin/users/{login}/enable", post(admin::enable_user))
        .route("/v1/records/{id}", get(record_detail::get_record))
        .route("/v1/records/{id}/reveal", post(record_detail::reveal))
        .route("/v1/records/{id}/history", get(record_detail::get_history))
        .route("/v1/admin/audit", get(record_detail::list_audit))
        .route("/v1/cases/{id}/actions", post(actions::case_action))
        .route("/v1/conflicts", get(conflicts::list_conflicts))
        .route("/v1/conflicts/{id}", get(conflicts::get_conflict))
        .route("/v1/conflicts/{id}/resolve", post(conflicts::resolve))
}
