//! The supervisors' web console: a few static files compiled into the binary and served at
//! `/console/` (`/` redirects there). No build step: `server/console/` holds them as they are
//! served. The console talks to the review API like any client (bearer tokens in headers).
//!
//! Every answer carries a strict Content-Security-Policy (scripts, styles and requests from
//! this origin only, no inline script or style, no framing), so text from records, which the
//! console only ever inserts as text, cannot become script. Images may also come from `blob:`
//! URLs: photos need the bearer token, so the console fetches them and shows object URLs.

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

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
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

    /// The `key: "text"` pairs of one language's table in `i18n.js` (`const zh = {…}`).
    fn interface_texts(language: &str) -> Vec<(String, String)> {
        let i18n = ASSETS
            .iter()
            .find(|(n, _, _)| *n == "i18n.js")
            .map_or("", |a| a.2);
        let start = i18n
            .find(&format!("const {language} = {{"))
            .unwrap_or_else(|| panic!("no {language} table in i18n.js"));
        let table = &i18n[start..];
        let table = &table[..table.find("\n};").unwrap_or(table.len())];
        let mut pairs = Vec::new();
        let mut rest = table;
        while let Some(colon) = rest.find(": \"") {
            let key: String = rest[..colon]
                .chars()
                .rev()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            let after = &rest[colon + 3..];
            let end = after.find('"').unwrap_or(after.len());
            pairs.push((key, after[..end].to_owned()));
            rest = &after[end..];
        }
        pairs
    }

    /// One name per code: an interface text whose key is a code of the vocabulary says what
    /// the vocabulary says for it, so the console never names one code in two ways (codes
    /// themselves are shown through the vocabulary, `code(value, group)`).
    #[test]
    fn interface_texts_never_rename_a_code_of_the_vocabulary() {
        let groups = sync_core::vocab::groups();
        for (language, label) in [
            ("zh", (|e: &sync_core::vocab::Entry| e.zh) as fn(&_) -> &str),
            ("en", |e| e.en),
        ] {
            let texts = interface_texts(language);
            assert!(texts.len() > 100, "{language}: {} texts read", texts.len());
            for (key, text) in texts {
                for group in &groups {
                    if let Some(entry) = group.get(&key) {
                        assert!(
                            label(entry).eq_ignore_ascii_case(&text),
                            "{language}: the interface calls `{key}` {text:?}, the vocabulary \
                             ({}) calls it {:?}",
                            group.name,
                            label(entry)
                        );
                    }
                }
            }
        }
    }
}
