//! SIGTERM to the real `gridbook serve` with unfinished requests: idle sockets, headers sent
//! halfway, a body sent halfway, a kept-alive connection and an open long poll. The process
//! exits within the grace period plus a margin, with a zero exit, the long poll gets its
//! answer, and every socket is closed.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use gridbook_tests::Backend;
use gridbook_tests::client::{closed_within, fresh_client};
use gridbook_tests::process::add_street_and_supervisor;
use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::{PASSWORD, on, serve, sign_in};

/// The grace period the test sets, and the margin allowed on top (start-up of the shutdown,
/// closing the database, a loaded machine).
const GRACE_SECS: u64 = 2;
const MARGIN_SECS: u64 = 8;

async fn sigterm_with_unfinished_requests(database: String, dir: PathBuf) -> anyhow::Result<()> {
    add_street_and_supervisor(&dir, &database, PASSWORD)?;
    let grace = GRACE_SECS.to_string();
    let mut server = serve(&dir, &database)
        .env("GRIDBOOK_SHUTDOWN_GRACE_SECS", &grace)
        .start()?;
    server.wait_ready().await?;
    let http = fresh_client(Duration::from_secs(15))?;
    let (status, session) = sign_in(&http, &server.url, false).await?;
    assert_eq!(status, 200, "{session}");
    let token = session["access_token"]
        .as_str()
        .context("token")?
        .to_owned();
    let device = session["device_id"].as_str().context("device")?.to_owned();

    // Idle sockets that never sent a byte.
    let mut idle = Vec::new();
    for _ in 0..20 {
        idle.push(TcpStream::connect(&server.addr).await?);
    }
    // Headers sent halfway.
    let mut slow_headers = TcpStream::connect(&server.addr).await?;
    slow_headers
        .write_all(b"GET /health HTTP/1.1\r\nHost: gridbook\r\nX-Slow: ")
        .await?;
    // A sign-in whose body stops halfway.
    let mut half_body = TcpStream::connect(&server.addr).await?;
    half_body
        .write_all(
            b"POST /v1/auth/login HTTP/1.1\r\nHost: gridbook\r\n\
              Content-Type: application/json\r\nContent-Length: 200\r\n\r\n{\"login\": \"wa",
        )
        .await?;
    // A kept-alive connection after one answered request.
    let mut kept = TcpStream::connect(&server.addr).await?;
    kept.write_all(b"GET /health HTTP/1.1\r\nHost: gridbook\r\n\r\n")
        .await?;
    let mut buf = [0u8; 1024];
    let n = kept.read(&mut buf).await?;
    ensure!(
        buf[..n].starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    // A long poll with nothing to wait for but its 25 s.
    let poll = {
        let (http, url) = (http.clone(), format!("{}/v1/sync", server.url));
        let body = json!({"protocol": 1, "device": device, "cursor": null, "docs": [],
                          "wait_ms": 25_000});
        tokio::spawn(async move {
            let response = http
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .timeout(Duration::from_secs(60))
                .send()
                .await?;
            let status = response.status().as_u16();
            anyhow::Ok((status, response.text().await?))
        })
    };
    tokio::time::sleep(Duration::from_millis(800)).await;
    ensure!(!poll.is_finished(), "the long poll ended before the stop");

    let stopping = Instant::now();
    let bound = Duration::from_secs(GRACE_SECS + MARGIN_SECS);
    let status = server.terminate(bound).await?;
    let took = stopping.elapsed();
    assert!(
        status.success(),
        "exit status {status}\n{}",
        server.log_text()
    );
    // The long poll got its (empty) answer rather than a cut connection.
    let (status, text) = tokio::time::timeout(Duration::from_secs(5), poll).await???;
    assert_eq!(status, 200, "{text}");
    // Every socket the clients held was closed by the server.
    for stream in idle
        .iter_mut()
        .chain([&mut slow_headers, &mut half_body, &mut kept])
    {
        closed_within(stream, Duration::from_secs(5)).await?;
    }
    println!("SIGTERM to exit: {took:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_unfinished_requests_exits_within_the_grace_period_on_sqlite()
-> anyhow::Result<()> {
    on(Backend::Sqlite, sigterm_with_unfinished_requests).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_unfinished_requests_exits_within_the_grace_period_on_postgres()
-> anyhow::Result<()> {
    on(Backend::Postgres, sigterm_with_unfinished_requests).await
}
