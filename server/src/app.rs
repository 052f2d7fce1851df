//! Putting the server together: middleware, listening, graceful shutdown (the state the
//! handlers share is [`crate::state::AppState`]).

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::decompression::RequestDecompressionLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::error::ApiError;
use crate::net;
use crate::routes;
use crate::state::AppState;

/// The router with its middleware.
pub fn router(state: AppState) -> Router {
    let limit = state.settings.max_body_bytes;
    let counted = state.clone();
    routes::router(limit)
        .merge(crate::console::router())
        .merge(crate::metrics::router())
        .fallback(not_found)
        .with_state(state)
        .layer(DefaultBodyLimit::max(limit))
        .layer(RequestDecompressionLayer::new())
        .layer(CompressionLayer::new())
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(120),
        ))
        .layer(axum::middleware::from_fn(limit_headers))
        .layer(TraceLayer::new_for_http())
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::internal("a request handler panicked").into_response()
        }))
        .layer(axum::middleware::map_response(json_errors))
        .layer(axum::middleware::from_fn_with_state(
            counted,
            crate::metrics::track,
        ))
}

/// The most bytes of request headers (names and values) the server reads. An access token
/// is under 1 KiB; far larger headers are a mistake or an attack. (Hyper itself refuses headers
/// over about 400 KiB with a bare 431 before any of this code runs.)
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// Refuses requests whose headers exceed [`MAX_HEADER_BYTES`] with 431 in the JSON error shape.
async fn limit_headers(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Result<Response, ApiError> {
    let size: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if size > MAX_HEADER_BYTES {
        return Err(ApiError::headers_too_large(format!(
            "the request headers are {size} bytes; at most {MAX_HEADER_BYTES} are read"
        )));
    }
    Ok(next.run(request).await)
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}

/// Gives every error response the JSON error shape, including those made by layers and the
/// router itself (405, 408, 413, 415): clients never have to parse plain text.
async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (code, message) = match status {
        StatusCode::BAD_REQUEST => ("malformed", "the request is malformed"),
        StatusCode::UNAUTHORIZED => ("unauthorized", "authentication required"),
        StatusCode::FORBIDDEN => ("forbidden", "not allowed"),
        StatusCode::NOT_FOUND => ("not_found", "no such resource"),
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "method not allowed here"),
        StatusCode::REQUEST_TIMEOUT => ("timeout", "the request took too long"),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "the request body is too large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "unsupported_media_type",
            "unsupported content type or content encoding (use application/json, gzip or zstd)",
        ),
        StatusCode::TOO_MANY_REQUESTS => ("rate_limited", "too many requests"),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => {
            ("headers_too_large", "the request headers are too large")
        }
        StatusCode::SERVICE_UNAVAILABLE => (
            "unavailable",
            "the request took too long or the server is not ready; retry later",
        ),
        s if s.is_server_error() => ("internal", "internal server error"),
        _ => ("error", "the request failed"),
    };
    let mut fixed = (
        status,
        axum::Json(serde_json::json!({ "error": { "code": code, "message": message } })),
    )
        .into_response();
    // Headers that tell the client what to do next survive the rewrite.
    for name in [header::RETRY_AFTER, header::ALLOW, header::WWW_AUTHENTICATE] {
        if let Some(value) = response.headers().get(&name) {
            fixed.headers_mut().insert(name, value.clone());
        }
    }
    fixed
}

/// A server running in this process.
#[derive(Debug)]
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Where the separate metrics address listens, if configured.
    pub metrics_addr: Option<SocketAddr>,
    /// Cancel to shut down gracefully (requests in progress finish, within the grace period).
    pub shutdown: CancellationToken,
    /// The state it serves with.
    pub state: AppState,
    /// Ends when the server has stopped.
    pub task: JoinHandle<std::io::Result<()>>,
    /// Erases archived private documents once their retention period has passed.
    eraser: JoinHandle<()>,
    /// Deletes blobs no record refers to any more, after the grace period.
    collector: JoinHandle<()>,
    /// On PostgreSQL, hears other nodes' writes and wakes this node's long polls.
    listener: Option<JoinHandle<()>>,
    /// Serves the separate metrics address.
    metrics_server: Option<JoinHandle<std::io::Result<()>>>,
}

impl Running {
    /// Shuts down gracefully and waits, then closes the database pool.
    pub async fn stop(self) -> std::io::Result<()> {
        self.shutdown.cancel();
        self.eraser.abort();
        self.collector.abort();
        if let Some(listener) = &self.listener {
            listener.abort();
        }
        if let Some(server) = self.metrics_server {
            // Stops with the same token.
            let _ = server.await;
        }
        let result = self
            .task
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)));
        self.state.db.close().await;
        result
    }
}

/// Binds `settings.listen` (port 0 picks a free port) and serves until `shutdown` is cancelled
/// (then stops within `settings.shutdown_grace`; see [`crate::net`]).
pub async fn start(state: AppState) -> anyhow::Result<Running> {
    let listener = TcpListener::bind(state.settings.listen).await?;
    let addr = listener.local_addr()?;
    let shutdown = CancellationToken::new();
    let app = router(state.clone());
    let settings = &state.settings;
    let open_files = net::open_files_limit();
    let limits = net::Limits {
        header_read_timeout: settings.header_read_timeout,
        idle_timeout: settings.idle_timeout,
        max_connections: settings.connection_cap(open_files),
        shutdown_grace: settings.shutdown_grace,
    };
    let token = shutdown.clone();
    let live = state.live.clone();
    let task = tokio::spawn(async move {
        net::serve(listener, app, limits, token, move || live.close()).await
    });
    tracing::info!(
        %addr,
        backend = ?state.db.backend(),
        max_connections = limits.max_connections,
        open_files = ?open_files,
        header_read_timeout = ?limits.header_read_timeout,
        idle_timeout = ?limits.idle_timeout,
        shutdown_grace = ?limits.shutdown_grace,
        "listening"
    );
    let eraser = tokio::spawn(crate::records::retention::erase_periodically(state.clone()));
    let collector = tokio::spawn(crate::blobs::collect_periodically(state.clone()));
    let listener = match &state.db {
        crate::db::Db::Postgres(pool) => Some(tokio::spawn(crate::db::notify::listen(
            state.live.clone(),
            pool.clone(),
        ))),
        crate::db::Db::Sqlite(_) => None,
    };
    let (metrics_addr, metrics_server) = match state.settings.metrics_listen {
        Some(at) => {
            let listener = TcpListener::bind(at).await?;
            let bound = listener.local_addr()?;
            let router = crate::metrics::open_router(state.clone());
            let stop = shutdown.clone();
            tracing::info!(addr = %bound, "metrics listening");
            let server = tokio::spawn(async move {
                axum::serve(listener, router)
                    .with_graceful_shutdown(stop.cancelled_owned())
                    .await
            });
            (Some(bound), Some(server))
        }
        None => (None, None),
    };
    Ok(Running {
        addr,
        metrics_addr,
        shutdown,
        state,
        task,
        eraser,
        collector,
        listener,
        metrics_server,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::{Body, to_bytes};

    async fn rewritten(
        response: Response,
    ) -> (StatusCode, axum::http::HeaderMap, serde_json::Value) {
        let fixed = json_errors(response).await;
        let (parts, body) = fixed.into_parts();
        let bytes = to_bytes(body, 4096).await.unwrap_or_default();
        let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        (parts.status, parts.headers, json)
    }

    #[tokio::test]
    async fn plain_error_responses_get_the_json_shape_and_keep_their_guiding_headers() {
        let plain = Response::builder()
            .status(StatusCode::METHOD_NOT_ALLOWED)
            .header(header::ALLOW, "GET,HEAD")
            .body(Body::empty())
            .unwrap_or_default();
        let (status, headers, json) = rewritten(plain).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(json["error"]["code"], "method_not_allowed");
        assert_eq!(
            headers.get(header::ALLOW).map(|v| v.as_bytes()),
            Some(&b"GET,HEAD"[..])
        );

        // What the timeout layer answers.
        let timed_out = Response::builder()
            .status(StatusCode::SERVICE_UNAVAILABLE)
            .body(Body::empty())
            .unwrap_or_default();
        let (status, _, json) = rewritten(timed_out).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(json["error"]["code"], "unavailable");

        let other = Response::builder()
            .status(StatusCode::BAD_GATEWAY)
            .body(Body::from("upstream said: secret stack trace"))
            .unwrap_or_default();
        let (_, _, json) = rewritten(other).await;
        assert_eq!(json["error"]["code"], "internal");
        assert!(!json.to_string().contains("secret"));
    }
}
