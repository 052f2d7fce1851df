//! The supervisors' web console: a few static files compiled into the binary and served at
//! `/console/` (`/` redirects there). No build step: `server/console/` holds them as they are
//! served. The console talks to the review API like any client (bearer tokens in headers).
//!
//! Every answer carries a strict Content-Security-Policy (scripts, styles and requests from
//! this origin only, no inline script or style, no framing), so text from records, which the
//! console only ever inserts as text, cannot become script.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::error::ApiError;
use crate::state::AppState;

/// The console's files: name, content type, bytes.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_str!("../console/index.html"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../console/app.js"),
    ),
    (
        "i18n.js",
        "text/javascript; charset=utf-8",
        include_str!("../console/i18n.js"),
    ),
    (
        "chart.js",
        "text/javascript; charset=utf-8",
        include_str!("../console/chart.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../console/style.css"),
    ),
];

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// `/` (redirect), `/console/` and `/console/{file}`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/console/") }))
        .route("/console", get(|| async { Redirect::to("/console/") }))
        .route("/console/", get(|| async { asset("index.html") }))
        .route(
            "/console/{file}",
            get(|Path(file): Path<String>| async move { asset(&file) }),
        )
}

fn asset(name: &str) -> Response {
    let Some((_, content_type, body)) = ASSETS.iter().find(|(n, _, _)| *n == name) else {
        return ApiError::not_found(format!("no console file {name}")).into_response();
    };
    let mut response = (StatusCode::OK, *body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Revalidate every time: a new binary serves new files at the same names.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_the_page_loads_is_served() {
        let index = ASSETS[0].2;
        for (name, _, body) in ASSETS {
            assert!(!body.is_empty(), "{name} is empty");
            if name.ends_with(".js") && *name != "app.js" {
                let app = ASSETS.iter().find(|(n, _, _)| *n == "app.js").map(|a| a.2);
                assert!(
                    app.is_some_and(|a| a.contains(&format!("./{name}"))),
                    "app.js does not import {name}"
                );
            }
        }
        assert!(index.contains("/console/app.js") && index.contains("/console/style.css"));
        assert_eq!(asset("nope.js").status(), StatusCode::NOT_FOUND);
        assert_eq!(asset("app.js").status(), StatusCode::OK);
    }
}
