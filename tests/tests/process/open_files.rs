//! The open-files limit of the real `gridbook serve`: under `ulimit -n 256`, 1,100 idle
//! connections must not stop the server from accepting and answering a normal request; started
//! with a soft limit below the hard one, the server raises its soft limit to the hard limit
//! (read back from `/proc/<pid>/limits`).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use gridbook_tests::Backend;
use gridbook_tests::client::fresh_client;
use gridbook_tests::process::add_street_and_supervisor;
use tokio::net::TcpStream;

use crate::{PASSWORD, on, serve, sign_in};

async fn idle_connections_past_the_open_files_limit(
    database: String,
    dir: PathBuf,
) -> anyhow::Result<()> {
    add_street_and_supervisor(&dir, &database, PASSWORD)?;
    // Soft and hard limit 256: the server cannot raise it.
    let mut server = serve(&dir, &database).shell("ulimit -n 256").start()?;
    server.wait_ready().await?;
    let http = fresh_client(Duration::from_secs(15))?;
    assert_eq!(sign_in(&http, &server.url, false).await?.0, 200);

    // 1,100 connections that never send a byte, as fast as they open: far more than the
    // process may have files open.
    let mut idle = Vec::new();
    for _ in 0..1100 {
        idle.push(TcpStream::connect(&server.addr).await?);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    // A normal request on a new connection is still accepted and answered.
    let health = http.get(format!("{}/health", server.url)).send().await;
    let health = health.map(|r| r.status().as_u16());
    ensure!(
        matches!(health, Ok(200)),
        "GET /health with 1,100 idle connections: {health:?}\n{}",
        server.log_text()
    );
    let (status, body) = sign_in(&http, &server.url, false).await?;
    assert_eq!(status, 200, "{body}");
    drop(idle);
    let log = server.log_text();
    assert!(
        !log.contains("Too many open files"),
        "the server ran out of files:\n{log}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_past_the_open_files_limit_leave_the_server_answering_on_sqlite()
-> anyhow::Result<()> {
    on(Backend::Sqlite, idle_connections_past_the_open_files_limit).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_past_the_open_files_limit_leave_the_server_answering_on_postgres()
-> anyhow::Result<()> {
    on(
        Backend::Postgres,
        idle_connections_past_the_open_files_limit,
    )
    .await
}

/// The soft and hard `Max open files` of a process.
fn open_files_limits(pid: u32) -> anyhow::Result<(u64, u64)> {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits"))?;
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .context("no Max open files line")?;
    let mut numbers = line
        .trim_start_matches("Max open files")
        .split_whitespace()
        .map(|n| n.parse::<u64>());
    match (numbers.next(), numbers.next()) {
        (Some(Ok(soft)), Some(Ok(hard))) => Ok((soft, hard)),
        _ => bail!("unreadable: {line}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_raises_its_soft_open_files_limit_to_the_hard_limit() -> anyhow::Result<()> {
    let (_, hard) = open_files_limits(std::process::id())?;
    if hard <= 512 {
        eprintln!("SKIPPED: the hard open-files limit here is {hard}, nothing to raise");
        return Ok(());
    }
    on(Backend::Sqlite, |database, dir| async move {
        let mut server = serve(&dir, &database).shell("ulimit -S -n 512").start()?;
        server.wait_ready().await?;
        let (soft, child_hard) = open_files_limits(server.pid()?)?;
        assert_eq!(child_hard, hard, "the hard limit is inherited");
        assert_eq!(
            soft, hard,
            "the soft limit was not raised to the hard limit"
        );
        let log = server.log_text();
        assert!(
            log.contains("open-files limit")
                && log.contains("512")
                && log.contains(&hard.to_string()),
            "the log does not tell the limits:\n{log}"
        );
        Ok(())
    })
    .await
}
