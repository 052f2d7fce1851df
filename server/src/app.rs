//! Putting the server together: state, middleware, listening, graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use sync_core::validate::ValidationContext;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::decompression::RequestDecompressionLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::auth::{self, jwt::Keys};
use crate::cache::DocCache;
use crate::config::Settings;
use crate::db::Db;
use crate::error::ApiError;
use crate::routes;

/// Everything a request handler needs. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The database.
    pub db: Db,
    /// Settings.
    pub settings: Arc<Settings>,
    /// JWT keys.
    pub keys: Arc<Keys>,
    /// Cache of stored records.
    pub cache: Arc<DocCache>,
    /// Record validation configuration.
    pub validation: Arc<ValidationContext>,
}

impl AppState {
    /// Connects, migrates and loads the keys.
    pub async fn new(settings: Settings) -> anyhow::Result<Self> {
        let db = Db::connect(&settings.database_url).await?;
        db.migrate().await?;
        let keys = auth::load_keys(&db, &settings).await?;
        Ok(Self {
            cache: Arc::new(DocCache::new(settings.doc_cache)),
            db,
            keys: Arc::new(keys),
            settings: Arc::new(settings),
            validation: Arc::new(ValidationContext::default()),
        })
    }
}

/// The router with its middleware.
pub fn router(state: AppState) -> Router {
    let limit = state.settings.max_body_bytes;
    routes::router()
        .fallback(not_found)
        .with_state(state)
        .layer(DefaultBodyLimit::max(limit))
        .layer(RequestDecompressionLayer::new())
        .layer(CompressionLayer::new())
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(120),
        ))
        .layer(TraceLayer::new_for_http())
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::internal("a request handler panicked").into_response()
        }))
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}

/// A server running in this process.
#[derive(Debug)]
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Cancel to shut down gracefully (in-flight requests finish).
    pub shutdown: CancellationToken,
    /// The state it serves with.
    pub state: AppState,
    /// Ends when the server has stopped.
    pub task: JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Shuts down gracefully and waits, then closes the database pool.
    pub async fn stop(self) -> std::io::Result<()> {
        self.shutdown.cancel();
        let result = self
            .task
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)));
        self.state.db.close().await;
        result
    }
}

/// Binds `settings.listen` (port 0 picks a free port) and serves until `shutdown` is cancelled.
pub async fn start(state: AppState) -> anyhow::Result<Running> {
    let listener = TcpListener::bind(state.settings.listen).await?;
    let addr = listener.local_addr()?;
    let shutdown = CancellationToken::new();
    let app = router(state.clone());
    let token = shutdown.clone();
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { token.cancelled().await })
            .await
    });
    tracing::info!(%addr, backend = ?state.db.backend(), "listening");
    Ok(Running {
        addr,
        shutdown,
        state,
        task,
    })
}
