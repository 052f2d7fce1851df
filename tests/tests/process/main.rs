//! The real `gridbook` binary as child processes (`gridbook_tests::process`): its command line,
//! `serve` killed, stopped, limited and loaded, with phones built on sync-core syncing over
//! HTTP. Each scenario on a database of its own, on SQLite and, when configured, PostgreSQL.

use std::future::Future;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use gridbook_tests::process::{Serve, Serving};
use gridbook_tests::{Backend, FreshDb};
use serde_json::{Value, json};

mod backup;
mod blob_crash;
mod bombs;
mod city;
mod cli;
mod crash;
mod failover;
mod load;
mod open_files;
mod phones;
mod shutdown;
mod three_nodes;
mod two_nodes;

/// The password of the users the command line adds.
const PASSWORD: &str = "a-long-password";

/// Runs `scenario(database URL, folder)` on a fresh database of `backend` and its temporary
/// folder; skips PostgreSQL when it is not configured.
async fn on<F, Fut>(backend: Backend, scenario: F) -> anyhow::Result<()>
where
    F: FnOnce(String, PathBuf) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let Some(db) = FreshDb::new(backend).await? else {
        return Ok(());
    };
    scenario(db.url().to_owned(), db.dir().to_owned()).await
}

/// `gridbook serve` on `database`, logging at `info`.
fn serve(dir: &Path, database: &str) -> Serve {
    Serve::new(dir)
        .database(database)
        .env("GRIDBOOK_LOG", "info")
}

/// A server node on `database` with extra `serve` arguments, ready within 30 s.
async fn node(dir: &Path, database: &str, extra: &[&str]) -> anyhow::Result<Serving> {
    let mut server = Serve::new(dir)
        .database(database)
        .args(extra)
        .ready_within(Duration::from_secs(30))
        .start()?;
    server.wait_ready().await?;
    Ok(server)
}

/// Signs `wang` in (gzip-compressed or not); the status and the body (a JSON string when the
/// body is not JSON).
async fn sign_in(http: &reqwest::Client, url: &str, gzip: bool) -> anyhow::Result<(u16, Value)> {
    let body = json!({"login": "wang", "password": PASSWORD, "device_name": "hardening test"})
        .to_string()
        .into_bytes();
    let mut request = http
        .post(format!("{url}/v1/auth/login"))
        .header("content-type", "application/json");
    request = if gzip {
        request
            .header("content-encoding", "gzip")
            .body(gzip_best(&body)?)
    } else {
        request.body(body)
    };
    let response = request.send().await?;
    let status = response.status().as_u16();
    let text = response.text().await?;
    Ok((
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    ))
}

/// Gzip at the best compression (the bombs are as small as gzip makes them).
fn gzip_best(bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes)?;
    Ok(encoder.finish()?)
}
