//! The operators' view: `GET /metrics` in the Prometheus text format (version 0.0.4).
//!
//! What a node counts ([`Metrics`], one per [`AppState`], no global registry):
//! - `gridbook_http_requests_total{method,route,status}` and
//!   `gridbook_http_request_duration_seconds{method,route}`: every request, by its route's
//!   pattern (`/v1/records/{id}`, never the path itself, so the number of series is bounded;
//!   a path no route matches is `unmatched`);
//! - `gridbook_sync_documents_total`, `gridbook_sync_changes_applied_total` and
//!   `gridbook_sync_refusals_total{reason}`: pushed documents accepted, new changes written,
//!   and documents refused by their error code;
//! - `gridbook_long_polls_waiting`: syncs waiting for news ([`crate::live`]);
//!   `gridbook_remote_wakes_total` and `gridbook_listener_reconnects_total`: wake-ups heard from
//!   other nodes, and lost listening connections;
//! - `gridbook_record_cache_{hits,misses,stale}_total`, `gridbook_record_cache_records` and
//!   `gridbook_record_cache_bytes`: the record cache (its records' estimated heap), and the
//!   writes that found their cached copy stale (another node wrote first) and decided again;
//! - `gridbook_db_pool_connections{state}`: the database pool's open and idle connections,
//!   and `gridbook_db_pool_max_connections`;
//! - `gridbook_blob_bytes_received_total` and `gridbook_blob_bytes_stored_total`.
//!
//! Who may read it: a request bearing the metrics token on the main address
//! (`GRIDBOOK_METRICS_TOKEN`), or anyone reaching the separate metrics address
//! (`GRIDBOOK_METRICS_LISTEN`). Without a token the route does not exist on the main
//! address (404). The figures hold no personal data: no user, device, grid or record.

use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use sha2::Digest;

use crate::db::Db;
use crate::error::ApiError;
use crate::state::AppState;

/// A request's labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: String,
    status: u16,
}

/// A route's labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    route: String,
}

/// A refusal's labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: String,
}

/// A pool gauge's labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    state: &'static str,
}

type Histograms = Family<RouteLabels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 1 ms to about 33 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// What this node counts; see the module docs.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Histograms,
    /// Pushed documents accepted.
    pub sync_documents: Counter,
    /// New changes written by pushes.
    pub changes_applied: Counter,
    refusals: Family<ReasonLabels, Counter>,
    /// Records found in the cache.
    pub cache_hits: Counter,
    /// Records loaded from the database.
    pub cache_misses: Counter,
    /// Writes that found the cached copy stale and decided again on a fresh one.
    pub cache_stale: Counter,
    /// Blob bytes received by uploads.
    pub blob_bytes_received: Counter,
    /// Blob bytes checked and stored.
    pub blob_bytes_stored: Counter,
    long_polls: Gauge,
    remote_wakes: Counter,
    listener_reconnects: Counter,
    cache_records: Gauge,
    cache_bytes: Gauge,
    pool: Family<PoolLabels, Gauge>,
    pool_max: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every metric, registered, at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("gridbook");
        let this = Self {
            requests: Family::default(),
            latency: Histograms::new_with_constructor(latency_histogram),
            sync_documents: Counter::default(),
            changes_applied: Counter::default(),
            refusals: Family::default(),
            cache_hits: Counter::default(),
            cache_misses: Counter::default(),
            cache_stale: Counter::default(),
            blob_bytes_received: Counter::default(),
            blob_bytes_stored: Counter::default(),
            long_polls: Gauge::default(),
            remote_wakes: Counter::default(),
            listener_reconnects: Counter::default(),
            cache_records: Gauge::default(),
            cache_bytes: Gauge::default(),
            pool: Family::default(),
            pool_max: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register(
            "http_requests",
            "HTTP requests answered, by route pattern and status",
            this.requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time from a request's arrival to its answer's headers, by route pattern",
            this.latency.clone(),
        );
        registry.register(
            "sync_documents",
            "Pushed documents accepted",
            this.sync_documents.clone(),
        );
        registry.register(
            "sync_changes_applied",
            "New changes written by pushes",
            this.changes_applied.clone(),
        );
        registry.register(
            "sync_refusals",
            "Pushed documents refused, by error code",
            this.refusals.clone(),
        );
        registry.register(
            "long_polls_waiting",
            "Syncs waiting for news",
            this.long_polls.clone(),
        );
        registry.register(
            "remote_wakes",
            "Grid writes heard from other nodes (and this one) through PostgreSQL",
            this.remote_wakes.clone(),
        );
        registry.register(
            "listener_reconnects",
            "Times the connection listening for other nodes' writes was lost",
            this.listener_reconnects.clone(),
        );
        registry.register(
            "record_cache_hits",
            "Records found in the cache",
            this.cache_hits.clone(),
        );
        registry.register(
            "record_cache_misses",
            "Records loaded from the database",
            this.cache_misses.clone(),
        );
        registry.register(
            "record_cache_stale",
            "Writes that found their cached copy stale (another writer was first) and decided again",
            this.cache_stale.clone(),
        );
        registry.register(
            "record_cache_records",
            "Records in the cache",
            this.cache_records.clone(),
        );
        registry.register(
            "record_cache_bytes",
            "Estimated heap of the records in the cache, in bytes (bounded by GRIDBOOK_DOC_CACHE_MIB)",
            this.cache_bytes.clone(),
        );
        registry.register(
            "db_pool_connections",
            "Database pool connections, open and idle",
            this.pool.clone(),
        );
        registry.register(
            "db_pool_max_connections",
            "The database pool's most connections",
            this.pool_max.clone(),
        );
        registry.register(
            "blob_bytes_received",
            "Bytes of photos and files received by uploads",
            this.blob_bytes_received.clone(),
        );
        registry.register(
            "blob_bytes_stored",
            "Bytes of photos and files checked and stored",
            this.blob_bytes_stored.clone(),
        );
        Self { registry, ..this }
    }

    /// Counts a refused document.
    pub fn refused(&self, reason: &str) {
        self.refusals
            .get_or_create(&ReasonLabels {
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// The figures now, in the Prometheus text format.
    pub fn render(&self, app: &AppState) -> String {
        self.long_polls
            .set(i64::try_from(app.live.waiting()).unwrap_or(i64::MAX));
        let counters = app.live.counters();
        set_counter(
            &self.remote_wakes,
            counters.remote_wakes.load(Ordering::Relaxed),
        );
        set_counter(
            &self.listener_reconnects,
            counters.listener_reconnects.load(Ordering::Relaxed),
        );
        self.cache_records
            .set(i64::try_from(app.cache.len()).unwrap_or(i64::MAX));
        self.cache_bytes
            .set(i64::try_from(app.cache.bytes()).unwrap_or(i64::MAX));
        let (size, idle, max) = pool_use(&app.db);
        self.pool
            .get_or_create(&PoolLabels { state: "open" })
            .set(i64::from(size));
        self.pool
            .get_or_create(&PoolLabels { state: "idle" })
            .set(i64::try_from(idle).unwrap_or(i64::MAX));
        self.pool_max.set(i64::from(max));
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry);
        text
    }
}

/// Raises a counter mirroring another count to that count.
fn set_counter(counter: &Counter, to: u64) {
    let now = counter.get();
    if to > now {
        counter.inc_by(to - now);
    }
}

/// The pool's open connections, idle ones and most.
fn pool_use(db: &Db) -> (u32, usize, u32) {
    match db {
        Db::Sqlite(pool) => (
            pool.size(),
            pool.num_idle(),
            pool.options().get_max_connections(),
        ),
        Db::Postgres(pool) => (
            pool.size(),
            pool.num_idle(),
            pool.options().get_max_connections(),
        ),
    }
}

/// Counts every request by its route's pattern, status and time (the outermost layer).
pub async fn track(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let method = method_label(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    let metrics = &app.metrics;
    metrics
        .requests
        .get_or_create(&RequestLabels {
            method,
            route: route.clone(),
            status: response.status().as_u16(),
        })
        .inc();
    metrics
        .latency
        .get_or_create(&RouteLabels { method, route })
        .observe(started.elapsed().as_secs_f64());
    response
}

/// A request method as a label: the standard ones by name, any other as `other`. Any token is
/// a valid method, so naming each would let a client add series without bound.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// `GET /metrics` on the main address: for the metrics token's bearer only.
pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(with_token))
}

/// `GET /metrics` on the separate metrics address: open (the address is what is protected).
pub fn open_router(app: AppState) -> Router {
    Router::new().route("/metrics", get(open)).with_state(app)
}

async fn with_token(State(app): State<AppState>, headers: HeaderMap) -> Response {
    let Some(token) = &app.settings.metrics_token else {
        return ApiError::not_found("no such route").into_response();
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    // Compared as digests, so the comparison's time says nothing about the token.
    let matches = presented.is_some_and(|p| {
        sha2::Sha256::digest(p.as_bytes()) == sha2::Sha256::digest(token.as_bytes())
    });
    if !matches {
        return ApiError::unauthorized("the metrics token is missing or wrong").into_response();
    }
    open(State(app)).await
}

async fn open(State(app): State<AppState>) -> Response {
    let mut response = app.metrics.render(&app).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(prometheus_client::encoding::prometheus_text::CONTENT_TYPE),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_render_by_reason_in_the_prometheus_text_format() {
        let m = Metrics::new();
        m.refused("foreign_change");
        m.refused("foreign_change");
        m.sync_documents.inc_by(3);
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &m.registry)
            .expect("encoded");
        assert!(
            text.contains("gridbook_sync_refusals_total{reason=\"foreign_change\"} 2"),
            "{text}"
        );
        assert!(text.contains("gridbook_sync_documents_total 3"), "{text}");
        assert!(
            text.contains("# TYPE gridbook_sync_refusals_total counter"),
            "{text}"
        );
    }
}
