//! HTTP routes, one module per resource family, and the one table of them ([`router`]).
//!
//! Handlers are thin: they read the request (with [`crate::http`]'s extractors and parameter
//! toolkit), call one function of a service ([`crate::records`], [`crate::lists`],
//! [`crate::exports`], [`crate::figures`], [`crate::places`], [`crate::accounts`],
//! [`crate::auth::sessions`]) and answer; errors are
//! [`crate::error::ApiError`]. A route module never imports another route module
//! (`server/tests/architecture.rs` checks it).

pub mod actions;
pub mod admin;
pub mod assets;
pub mod audit;
pub mod auth;
pub mod blobs;
pub mod conflicts;
pub mod exports;
pub mod figures;
pub mod health;
pub mod households;
pub mod imports;
pub mod record_detail;
pub mod records;
pub mod reports;
pub mod schemas;
pub mod sync;
pub mod vocabulary;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{MethodRouter, get, post, put};

use crate::error::ApiError;
use crate::state::AppState;

/// How much request body a route takes, counted after decompression.
///
/// Every route of the table has one. It is enforced twice: a `Content-Length` past it is
/// refused before anything is read, and the body extractors (`Bytes`, [`crate::http::extract::ApiJson`]) stop
/// reading, and inflating, once it is passed ([`DefaultBodyLimit`] set on the route, which
/// wraps the decompressed stream in `http_body_util::Limited`), so no more than the limit is
/// ever buffered. Both answer `413 payload_too_large`. Handlers read bodies only through
/// those extractors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyLimit {
    /// Routes that read no body (GET, and POSTs whose path says it all):
    /// [`NO_BODY_BYTES`].
    NoBody,
    /// Sign-in, refresh and logout, open to anyone: [`AUTH_BODY_BYTES`].
    Auth,
    /// Small JSON commands (administration, case actions, reveal): [`SMALL_BODY_BYTES`].
    Small,
    /// A conflict resolution, which carries a field's value: [`VALUE_BODY_BYTES`].
    Value,
    /// A file uploaded whole (a household roster): [`UPLOAD_BODY_BYTES`].
    Upload,
    /// `POST /v1/sync`: the configured `max_body_bytes`.
    Configured,
    /// A photo or file (`PUT /v1/blobs/{sha256}`): [`sync_core::models::attachment::MAX_BLOB_BYTES`];
    /// the configured, smaller limit is checked against the upload's declared size, and the
    /// body is streamed to disk, never buffered.
    Blob,
}

/// The body a route that reads none still tolerates (a client sending `{}` with a GET).
pub const NO_BODY_BYTES: usize = 1024;
/// Sign-in, refresh, logout and password-change bodies: a login, a password of up to 1,024
/// characters, a device name, or a refresh token; or an old and a new password. A character
/// outside the Basic Multilingual Plane, JSON-escaped, is 12 bytes (`\ud83d\ude00`): two
/// passwords of 1,024 such characters are 24 KiB. (It was 8 KiB, which refused a valid
/// password change of long non-ASCII passwords with 413; schemathesis found it.)
pub const AUTH_BODY_BYTES: usize = 32 * 1024;
/// Administration, case actions and reveal: a few short fields (a note is at most 2,000
/// characters).
pub const SMALL_BODY_BYTES: usize = 64 * 1024;
/// A conflict resolution: one field's value, which may be a list (a household's residents).
pub const VALUE_BODY_BYTES: usize = 1024 * 1024;
/// A household roster upload: a street's roster of 20,000 households is a 3 MB workbook and a
/// 6 MB CSV, so 20 MB leaves room without letting anyone buffer more.
pub const UPLOAD_BODY_BYTES: usize = 20 * 1024 * 1024;

impl BodyLimit {
    /// The limit in bytes, given the configured `max_body_bytes` of `POST /v1/sync`.
    pub fn bytes(self, max_body_bytes: usize) -> usize {
        match self {
            Self::NoBody => NO_BODY_BYTES,
            Self::Auth => AUTH_BODY_BYTES,
            Self::Small => SMALL_BODY_BYTES,
            Self::Value => VALUE_BODY_BYTES,
            Self::Upload => UPLOAD_BODY_BYTES,
            Self::Configured => max_body_bytes,
            Self::Blob => {
                usize::try_from(sync_core::models::attachment::MAX_BLOB_BYTES).unwrap_or(usize::MAX)
            }
        }
    }
}

/// One route: method, path (axum's and OpenAPI's `{param}` syntax alike), body limit and
/// handler.
type Route = (Method, &'static str, BodyLimit, MethodRouter<AppState>);

/// The one table of routes: [`router`] serves it, [`route_list`] lists it, and the OpenAPI
/// document ([`crate::openapi`]) is checked against it by `tests/openapi.rs`.
fn table() -> Vec<Route> {
    vec![
        (
            Method::GET,
            "/health",
            BodyLimit::NoBody,
            get(health::health),
        ),
        (Method::GET, "/ready", BodyLimit::NoBody, get(health::ready)),
        (
            Method::GET,
            "/v1/vocabulary",
            BodyLimit::NoBody,
            get(vocabulary::get_vocabulary),
        ),
        (
            Method::GET,
            "/v1/schemas",
            BodyLimit::NoBody,
            get(schemas::list_schemas),
        ),
        (
            Method::GET,
            "/v1/schemas/{file}",
            BodyLimit::NoBody,
            get(schemas::get_schema),
        ),
        (
            Method::GET,
            "/v1/openapi.json",
            BodyLimit::NoBody,
            get(crate::openapi::openapi_json),
        ),
        (
            Method::POST,
            "/v1/sync",
            BodyLimit::Configured,
            post(sync::sync),
        ),
        (
            Method::GET,
            "/v1/households",
            BodyLimit::NoBody,
            get(records::list_households),
        ),
        (
            Method::GET,
            "/v1/cases",
            BodyLimit::NoBody,
            get(records::list_cases),
        ),
        (
            Method::GET,
            "/v1/tasks",
            BodyLimit::NoBody,
            get(records::list_tasks),
        ),
        (
            Method::GET,
            "/v1/visits",
            BodyLimit::NoBody,
            get(records::list_visits),
        ),
        (
            Method::GET,
            "/v1/patrols",
            BodyLimit::NoBody,
            get(records::list_patrols),
        ),
        (
            Method::GET,
            "/v1/activities",
            BodyLimit::NoBody,
            get(records::list_activities),
        ),
        (
            Method::GET,
            "/v1/party-registrations",
            BodyLimit::NoBody,
            get(records::list_party_registrations),
        ),
        (
            Method::GET,
            "/v1/assets",
            BodyLimit::NoBody,
            get(records::list_assets),
        ),
        (
            Method::GET,
            "/v1/assets/accounts",
            BodyLimit::NoBody,
            get(assets::get_accounts),
        ),
        (
            Method::GET,
            "/v1/assets/{id}/account",
            BodyLimit::NoBody,
            get(assets::get_account),
        ),
        (
            Method::GET,
            "/v1/assets/{id}/account.xlsx",
            BodyLimit::NoBody,
            get(assets::get_account_xlsx),
        ),
        (
            Method::POST,
            "/v1/imports/households",
            BodyLimit::Upload,
            post(imports::start_household_import),
        ),
        (
            Method::GET,
            "/v1/imports/{id}",
            BodyLimit::NoBody,
            get(imports::get_import),
        ),
        (
            Method::GET,
            "/v1/imports/{id}/report.xlsx",
            BodyLimit::NoBody,
            get(imports::get_import_report),
        ),
        (
            Method::POST,
            "/v1/blobs/status",
            BodyLimit::Small,
            post(blobs::post_status),
        ),
        (
            Method::PUT,
            "/v1/blobs/{sha256}",
            BodyLimit::Blob,
            put(blobs::put_blob),
        ),
        (
            Method::GET,
            "/v1/blobs/{sha256}",
            BodyLimit::NoBody,
            get(blobs::get_blob),
        ),
        (
            Method::GET,
            "/v1/figures",
            BodyLimit::NoBody,
            get(figures::get_figures),
        ),
        (
            Method::GET,
            "/v1/figures/timeline",
            BodyLimit::NoBody,
            get(figures::get_timeline),
        ),
        (
            Method::GET,
            "/v1/figures/streets",
            BodyLimit::NoBody,
            get(figures::get_streets),
        ),
        (
            Method::GET,
            "/v1/reports/monthly",
            BodyLimit::NoBody,
            get(reports::get_monthly),
        ),
        (
            Method::GET,
            "/v1/reports/monthly.xlsx",
            BodyLimit::NoBody,
            get(reports::get_monthly_xlsx),
        ),
        (
            Method::GET,
            "/v1/reports/monthly.pdf",
            BodyLimit::NoBody,
            get(reports::get_monthly_pdf),
        ),
        (
            Method::GET,
            "/v1/exports/{file}",
            BodyLimit::NoBody,
            get(exports::export),
        ),
        (
            Method::POST,
            "/v1/auth/login",
            BodyLimit::Auth,
            post(auth::sign_in),
        ),
        (
            Method::POST,
            "/v1/auth/refresh",
            BodyLimit::Auth,
            post(auth::refresh_tokens),
        ),
        (
            Method::POST,
            "/v1/auth/logout",
            BodyLimit::Auth,
            post(auth::sign_out),
        ),
        (
            Method::GET,
            "/v1/auth/me",
            BodyLimit::NoBody,
            get(auth::get_me),
        ),
        (
            Method::POST,
            "/v1/auth/password",
            BodyLimit::Auth,
            post(auth::change_password),
        ),
        (
            Method::POST,
            "/v1/auth/devices/{device_id}/revoke",
            BodyLimit::NoBody,
            post(auth::revoke_device),
        ),
        (
            Method::GET,
            "/v1/admin/places",
            BodyLimit::NoBody,
            get(admin::list_places),
        ),
        (
            Method::PUT,
            "/v1/admin/streets/{id}",
            BodyLimit::Small,
            put(admin::put_street),
        ),
        (
            Method::PUT,
            "/v1/admin/communities/{id}",
            BodyLimit::Small,
            put(admin::put_community),
        ),
        (
            Method::PUT,
            "/v1/admin/grids/{id}",
            BodyLimit::Small,
            put(admin::put_grid),
        ),
        (
            Method::PUT,
            "/v1/admin/departments/{id}",
            BodyLimit::Small,
            put(admin::put_department),
        ),
        (
            Method::POST,
            "/v1/admin/users",
            BodyLimit::Small,
            post(admin::create_user),
        ),
        (
            Method::POST,
            "/v1/admin/users/{login}/disable",
            BodyLimit::NoBody,
            post(admin::disable_user),
        ),
        (
            Method::POST,
            "/v1/admin/users/{login}/enable",
            BodyLimit::NoBody,
            post(admin::enable_user),
        ),
        (
            Method::POST,
            "/v1/admin/users/{login}/reset-password",
            BodyLimit::Small,
            post(admin::reset_password),
        ),
        (
            Method::GET,
            "/v1/records/{id}",
            BodyLimit::NoBody,
            get(record_detail::get_record),
        ),
        (
            Method::POST,
            "/v1/records/{id}/reveal",
            BodyLimit::Small,
            post(record_detail::reveal),
        ),
        (
            Method::POST,
            "/v1/households/{id}/archive",
            BodyLimit::Small,
            post(households::archive),
        ),
        (
            Method::GET,
            "/v1/records/{id}/history",
            BodyLimit::NoBody,
            get(record_detail::get_history),
        ),
        (
            Method::GET,
            "/v1/admin/audit",
            BodyLimit::NoBody,
            get(audit::list_audit),
        ),
        (
            Method::POST,
            "/v1/cases/{id}/actions",
            BodyLimit::Small,
            post(actions::case_action),
        ),
        (
            Method::GET,
            "/v1/conflicts",
            BodyLimit::NoBody,
            get(conflicts::list_conflicts),
        ),
        (
            Method::GET,
            "/v1/conflicts/{id}",
            BodyLimit::NoBody,
            get(conflicts::get_conflict),
        ),
        (
            Method::POST,
            "/v1/conflicts/{id}/resolve",
            BodyLimit::Value,
            post(conflicts::resolve),
        ),
    ]
}

/// Every route of the API, each with its body limit (`max_body_bytes` is the configured limit
/// of `POST /v1/sync`).
pub fn router(max_body_bytes: usize) -> Router<AppState> {
    table()
        .into_iter()
        .fold(Router::new(), |router, (_, path, limit, handler)| {
            let bytes = limit.bytes(max_body_bytes);
            router.route(
                path,
                handler
                    .layer(DefaultBodyLimit::max(bytes))
                    .layer(axum::middleware::from_fn_with_state(bytes, declared_size)),
            )
        })
}

/// Refuses a request whose declared `Content-Length` is past the route's limit before any of
/// it is read. (A compressed body has no `Content-Length` any more once the decompression
/// layer took it; its inflated size is limited while it is read.)
async fn declared_size(
    State(limit): State<usize>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if let Some(declared) = declared
        && declared > u64::try_from(limit).unwrap_or(u64::MAX)
    {
        return Err(ApiError::too_large(
            "payload_too_large",
            format!("the request body is {declared} bytes; this route takes at most {limit}"),
        ));
    }
    Ok(next.run(request).await)
}

/// Every (method, path) the router serves, in table order.
pub fn route_list() -> Vec<(Method, &'static str)> {
    table()
        .into_iter()
        .map(|(method, path, _, _)| (method, path))
        .collect()
}

/// Every (method, path, body limit) the router serves, in table order.
pub fn route_body_limits() -> Vec<(Method, &'static str, BodyLimit)> {
    table()
        .into_iter()
        .map(|(method, path, limit, _)| (method, path, limit))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_has_a_body_limit_that_fits_what_it_reads() {
        let routes = route_body_limits();
        assert_eq!(routes.len(), route_list().len());
        let configured = crate::config::DEFAULT_MAX_BODY_BYTES;
        for (method, path, limit) in routes {
            let bytes = limit.bytes(configured);
            // Nothing buffers more than the configured maximum; only sync takes that much. A
            // blob upload is streamed to disk, never buffered, and bounded by its own limit.
            assert!(
                bytes <= configured || limit == BodyLimit::Blob,
                "{method} {path}"
            );
            assert_eq!(
                limit == BodyLimit::Blob,
                method == Method::PUT && path == "/v1/blobs/{sha256}",
                "{method} {path}"
            );
            assert_eq!(
                limit == BodyLimit::Configured,
                path == "/v1/sync",
                "{method} {path}"
            );
            // Routes without a body (every GET) take next to nothing.
            if method == Method::GET {
                assert_eq!(limit, BodyLimit::NoBody, "{method} {path}");
            }
            // What anyone may send before signing in is a few KiB.
            if path.starts_with("/v1/auth/") {
                assert!(bytes <= AUTH_BODY_BYTES, "{method} {path}");
            }
        }
    }
}
