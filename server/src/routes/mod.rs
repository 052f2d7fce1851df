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
use axum::http::Method;
use axum::routing::{MethodRouter, get, post, put};

use crate::app::AppState;

/// One route: method, path (axum's and OpenAPI's `{param}` syntax alike) and handler.
type Route = (Method, &'static str, MethodRouter<AppState>);

/// The one table of routes: [`router`] serves it, [`route_list`] lists it, and the OpenAPI
/// document ([`crate::openapi`]) is checked against it by `tests/openapi.rs`.
fn table() -> Vec<Route> {
    vec![
        (Method::GET, "/health", get(health::health)),
        (Method::GET, "/ready", get(health::ready)),
        (
            Method::GET,
            "/v1/openapi.json",
            get(crate::openapi::openapi_json),
        ),
        (Method::POST, "/v1/sync", post(sync::sync)),
        (Method::GET, "/v1/households", get(records::list_households)),
        (Method::GET, "/v1/cases", get(records::list_cases)),
        (Method::GET, "/v1/visits", get(records::list_visits)),
        (Method::GET, "/v1/patrols", get(records::list_patrols)),
        (Method::GET, "/v1/activities", get(records::list_activities)),
        (
            Method::GET,
            "/v1/party-registrations",
            get(records::list_party_registrations),
        ),
        (Method::GET, "/v1/assets", get(records::list_assets)),
        (Method::GET, "/v1/figures", get(figures::get_figures)),
        (
            Method::GET,
            "/v1/figures/timeline",
            get(figures::get_timeline),
        ),
        (Method::GET, "/v1/exports/{file}", get(exports::export)),
        (Method::POST, "/v1/auth/login", post(auth::sign_in)),
        (Method::POST, "/v1/auth/refresh", post(auth::refresh_tokens)),
        (Method::POST, "/v1/auth/logout", post(auth::sign_out)),
        (Method::GET, "/v1/auth/me", get(auth::get_me)),
        (
            Method::POST,
            "/v1/auth/password",
            post(auth::change_password),
        ),
        (
            Method::POST,
            "/v1/auth/devices/{device_id}/revoke",
            post(auth::revoke_device),
        ),
        (Method::GET, "/v1/admin/places", get(admin::list_places)),
        (
            Method::PUT,
            "/v1/admin/streets/{id}",
            put(admin::put_street),
        ),
        (
            Method::PUT,
            "/v1/admin/communities/{id}",
            put(admin::put_community),
        ),
        (Method::PUT, "/v1/admin/grids/{id}", put(admin::put_grid)),
        (Method::POST, "/v1/admin/users", post(admin::create_user)),
        (
            Method::POST,
            "/v1/admin/users/{login}/disable",
            post(admin::disable_user),
        ),
        (
            Method::POST,
            "/v1/admin/users/{login}/enable",
            post(admin::enable_user),
        ),
        (
            Method::POST,
            "/v1/admin/users/{login}/reset-password",
            post(admin::reset_password),
        ),
        (
            Method::GET,
            "/v1/records/{id}",
            get(record_detail::get_record),
        ),
        (
            Method::POST,
            "/v1/records/{id}/reveal",
            post(record_detail::reveal),
        ),
        (
            Method::GET,
            "/v1/records/{id}/history",
            get(record_detail::get_history),
        ),
        (
            Method::GET,
            "/v1/admin/audit",
            get(record_detail::list_audit),
        ),
        (
            Method::POST,
            "/v1/cases/{id}/actions",
            post(actions::case_action),
        ),
        (Method::GET, "/v1/conflicts", get(conflicts::list_conflicts)),
        (
            Method::GET,
            "/v1/conflicts/{id}",
            get(conflicts::get_conflict),
        ),
        (
            Method::POST,
            "/v1/conflicts/{id}/resolve",
            post(conflicts::resolve),
        ),
    ]
}

/// Every route of the API.
pub fn router() -> Router<AppState> {
    table()
        .into_iter()
        .fold(Router::new(), |router, (_, path, handler)| {
            router.route(path, handler)
        })
}

/// Every (method, path) the router serves, in table order.
pub fn route_list() -> Vec<(Method, &'static str)> {
    table()
        .into_iter()
        .map(|(method, path, _)| (method, path))
        .collect()
}
