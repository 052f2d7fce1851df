//! Connections and bodies that would hold the server (issue 14): connections past the cap,
//! headers sent slowly, kept-alive connections left idle, and a body past its route's limit,
//! declared or inflated. Long polls still outlast the idle timeout.

use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use gridbook_server::config::Settings;
use gridbook_tests::client::{Answer, answer, closed_within, fresh_client};
use gridbook_tests::{TestApp, gzip};
use reqwest::Method;
use sync_core::ids::DocId;
use sync_core::record::Role;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::support::on_both_backends_with;

on_both_backends_with!(
    eight_connections =>
    idle_connections_beyond_the_cap_do_not_stop_a_normal_request,
);

on_both_backends_with!(
    one_second_for_headers =>
    headers_sent_slowly_are_cut_off_after_the_header_read_timeout,
);

on_both_backends_with!(
    one_second_idle =>
    an_idle_kept_alive_connection_is_closed_after_the_idle_timeout,
    a_long_poll_outlasts_the_idle_timeout,
);

on_both_backends_with!(
    small_sync_bodies =>
    every_route_refuses_a_body_past_its_limit_declared_or_inflated,
);

/// The connection cap of [`eight_connections`].
const CAP: usize = 8;

/// Timeouts that the scenario does not test stay far away.
const FAR: Duration = Duration::from_secs(120);

fn eight_connections(settings: &mut Settings) {
    settings.max_connections = Some(CAP);
    settings.header_read_timeout = FAR;
    settings.idle_timeout = FAR;
}

fn one_second_for_headers(settings: &mut Settings) {
    settings.header_read_timeout = Duration::from_secs(1);
    settings.idle_timeout = FAR;
}

fn one_second_idle(settings: &mut Settings) {
    settings.header_read_timeout = FAR;
    settings.idle_timeout = Duration::from_secs(1);
}

/// The configured sync body limit of [`small_sync_bodies`].
const SYNC_LIMIT: usize = 256 * 1024;

fn small_sync_bodies(settings: &mut Settings) {
    settings.max_body_bytes = SYNC_LIMIT;
}

/// `host:port` of the server.
fn addr(app: &TestApp) -> String {
    app.url("").trim_start_matches("http://").to_owned()
}

/// Whether the server still holds the connection open after `wait` (nothing to read, no EOF).
async fn still_open(stream: &mut TcpStream, wait: Duration) -> bool {
    let mut buf = [0u8; 64];
    tokio::time::timeout(wait, stream.read(&mut buf))
        .await
        .is_err()
}

/// Sends a `GET /health` on a raw connection and reads the answer's status line.
async fn health_on(stream: &mut TcpStream) -> anyhow::Result<String> {
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: gridbook\r\n\r\n")
        .await?;
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await??;
    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
    Ok(text.lines().next().unwrap_or_default().to_owned())
}

async fn idle_connections_beyond_the_cap_do_not_stop_a_normal_request(
    app: TestApp,
) -> anyhow::Result<()> {
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    // Twenty connections that never send a byte, opened one after the other: the cap is 8.
    let mut idle = Vec::new();
    for _ in 0..20 {
        idle.push(TcpStream::connect(addr(&app)).await?);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A normal request on a new connection is answered, and so is a sign-in.
    let http = fresh_client(Duration::from_secs(20))?;
    let health = answer(http.get(app.url("/health")).send().await?).await?;
    assert_eq!(health.status, 200, "{}", health.text);
    let session = app.login(&li).await?;
    assert!(!session.access_token.is_empty());
    // To make room, the server closed the connections idle the longest (each newcomer past the
    // cap closed one), and holds no more than the cap.
    for (i, stream) in idle.iter_mut().take(20 - CAP).enumerate() {
        closed_within(stream, Duration::from_secs(10))
            .await
            .with_context(|| format!("idle connection {i}"))?;
    }
    let newest = idle.last_mut().context("twenty")?;
    assert!(
        still_open(newest, Duration::from_millis(300)).await,
        "the newest idle connection was closed too"
    );
    // The newest idle connection still works when it finally asks something.
    assert_eq!(health_on(newest).await?, "HTTP/1.1 200 OK");
    app.stop().await
}

async fn headers_sent_slowly_are_cut_off_after_the_header_read_timeout(
    app: TestApp,
) -> anyhow::Result<()> {
    // A client that sends its headers one byte every 200 ms is disconnected.
    let mut slow = TcpStream::connect(addr(&app)).await?;
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: gridbook\r\n")
        .await?;
    let started = Instant::now();
    let mut cut = false;
    while started.elapsed() < Duration::from_secs(15) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if slow.write_all(b"x").await.is_err() {
            cut = true;
            break;
        }
        let mut buf = [0u8; 256];
        if let Ok(Ok(0) | Err(_)) =
            tokio::time::timeout(Duration::from_millis(1), slow.read(&mut buf)).await
        {
            cut = true;
            break;
        }
    }
    ensure!(
        cut,
        "a client sending its headers slowly was still connected after {:?}",
        started.elapsed()
    );
    // A connection that has not sent anything yet is not cut by the header timeout (it is
    // idle, with its own timeout), and is answered when it asks.
    let mut quiet = TcpStream::connect(addr(&app)).await?;
    assert!(
        still_open(&mut quiet, Duration::from_secs(2)).await,
        "an idle connection was cut by the header-read timeout"
    );
    assert_eq!(health_on(&mut quiet).await?, "HTTP/1.1 200 OK");
    app.stop().await
}

async fn an_idle_kept_alive_connection_is_closed_after_the_idle_timeout(
    app: TestApp,
) -> anyhow::Result<()> {
    // After a request the connection is kept alive, then closed once idle for a second.
    let mut kept = TcpStream::connect(addr(&app)).await?;
    assert_eq!(health_on(&mut kept).await?, "HTTP/1.1 200 OK");
    assert_eq!(health_on(&mut kept).await?, "HTTP/1.1 200 OK");
    closed_within(&mut kept, Duration::from_secs(10)).await?;
    // A connection that never sends anything is closed too.
    let mut silent = TcpStream::connect(addr(&app)).await?;
    closed_within(&mut silent, Duration::from_secs(10)).await?;
    app.stop().await
}

async fn a_long_poll_outlasts_the_idle_timeout(app: TestApp) -> anyhow::Result<()> {
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let mut phone = app.phone(&li).await?;
    phone.sync(&app).await?;
    // A request in progress is not idle: a 2.5 s long poll ends with its answer.
    let mut request = phone.replica.build_request();
    request.wait_ms = Some(2500);
    let started = Instant::now();
    let response = fresh_client(Duration::from_secs(20))?
        .post(app.url("/v1/sync"))
        .bearer_auth(&phone.session.access_token)
        .json(&request)
        .send()
        .await?;
    let a = answer(response).await?;
    assert_eq!(a.status, 200, "{}", a.text);
    ensure!(
        started.elapsed() >= Duration::from_millis(2400),
        "the long poll ended early"
    );
    app.stop().await
}

/// What each route takes at most, after decompression, and whether it reads a body at all (the
/// test's own copy of the policy: a route added without a limit here fails the test).
fn expected_limit(method: &Method, path: &str) -> anyhow::Result<(usize, bool)> {
    const KIB: usize = 1024;
    Ok(match (method.as_str(), path) {
        ("GET", _)
        | (
            "POST",
            "/v1/auth/devices/{device_id}/revoke"
            | "/v1/admin/users/{login}/disable"
            | "/v1/admin/users/{login}/enable",
        ) => (KIB, false),
        ("POST", "/v1/sync") => (SYNC_LIMIT, true),
        // Two passwords of 1,024 characters, JSON-escaped outside the BMP (12 bytes each).
        ("POST", p) if p.starts_with("/v1/auth/") => (32 * KIB, true),
        ("POST", "/v1/conflicts/{id}/resolve") => (1024 * KIB, true),
        ("POST", "/v1/imports/households") => (20 * 1024 * KIB, true),
        ("POST", "/v1/blobs/status") => (64 * KIB, true),
        // A photo is streamed to disk part by part, never buffered; what a part may hold is
        // its Content-Range (tests/e2e/blobs.rs), so only the declared size is checked here.
        ("PUT", "/v1/blobs/{sha256}") => (50 * 1024 * KIB, false),
        ("POST" | "PUT", p)
            if p.starts_with("/v1/admin/")
                || p == "/v1/cases/{id}/actions"
                || p == "/v1/records/{id}/reveal"
                || p == "/v1/households/{id}/archive" =>
        {
            (64 * KIB, true)
        }
        _ => bail!("no expected body limit for {method} {path}"),
    })
}

/// The route's path with its parameters filled in with values that parse.
fn concrete(path: &str) -> String {
    let id = DocId::new().to_string();
    if path.starts_with("/v1/admin/") {
        path.replace("{id}", "zz-9").replace("{login}", "nobody")
    } else {
        path.replace("{id}", &id)
            .replace("{device_id}", &id)
            .replace("{file}", "households.csv")
            .replace("{sha256}", &"ab".repeat(32))
    }
}

async fn send(
    app: &TestApp,
    token: &str,
    method: &Method,
    path: &str,
    body: Vec<u8>,
    encoding: Option<&str>,
) -> anyhow::Result<Answer> {
    let mut request = fresh_client(Duration::from_secs(20))?
        .request(method.clone(), app.url(path))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body);
    if let Some(encoding) = encoding {
        request = request.header("content-encoding", encoding);
    }
    answer(request.send().await?).await
}

async fn every_route_refuses_a_body_past_its_limit_declared_or_inflated(
    app: TestApp,
) -> anyhow::Result<()> {
    // An administrator's token passes every route's sign-in check, so the body is what
    // decides.
    let root = app.user("root", Role::Admin, app.grid_a()).await?;
    let token = app.login(&root).await?.access_token;
    let routes = gridbook_server::routes::route_list();
    assert!(routes.len() > 30);
    for (method, template) in routes {
        let (limit, reads_body) = expected_limit(&method, template)?;
        let path = concrete(template);
        let what = format!("{method} {template}");
        // Declared: a Content-Length past the limit is refused before anything is read.
        let a = send(&app, &token, &method, &path, vec![b' '; limit + 1], None).await?;
        assert_eq!(
            (a.status, a.code()),
            (413, "payload_too_large"),
            "{what}, {} bytes: {}",
            limit + 1,
            a.text
        );
        if !reads_body {
            continue;
        }
        // Inflated: a small gzip body that inflates past the limit.
        let bomb = gzip(&vec![b' '; limit + 1])?;
        let a = send(&app, &token, &method, &path, bomb, Some("gzip")).await?;
        assert_eq!(
            (a.status, a.code()),
            (413, "payload_too_large"),
            "{what}, gzip inflating to {} bytes: {}",
            limit + 1,
            a.text
        );
        // At the limit, the body is read (and refused for what it says, not its size).
        let full = gzip(&vec![b' '; limit])?;
        let a = send(&app, &token, &method, &path, full, Some("gzip")).await?;
        assert_ne!(a.status, 413, "{what}, {limit} bytes: {}", a.text);
        assert!((400..500).contains(&a.status), "{what}: {}", a.text);
    }
    app.stop().await
}
