//! Three server processes on one PostgreSQL database act as one:
//! - a phone long-polling node 3 is answered as soon as a colleague's write through node 1
//!   commits (PostgreSQL `NOTIFY`), not when its wait ends; also after node 3's listening
//!   connection was cut (it reconnects and wakes its waiters);
//! - node 2 SIGKILLed while phones sync through it loses nothing any answer confirmed: the
//!   phones carry on through nodes 1 and 3 and converge.
//!
//! Node 3's `/metrics` (with the metrics token) tells when the long poll is waiting and counts
//! the reconnection.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use gridbook_tests::Backend;
use gridbook_tests::process::load_small_demo;
use sync_core::protocol::{SyncRequest, SyncResponse};

use crate::crash::check_stored;
use crate::phones::{Phone, converge, four_phones, new_phone};
use crate::{node, on};

const METRICS_TOKEN: &str = "three-nodes-metrics-token-0123456789";
/// A long poll's wait: far longer than any answer this test accepts.
const WAIT_MS: u32 = 20_000;
const ROUNDS: usize = 8;

/// A sample of node `url`'s metrics.
async fn metric(http: &reqwest::Client, url: &str, series: &str) -> anyhow::Result<Option<f64>> {
    let text = http
        .get(format!("{url}/metrics"))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    Ok(text
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok()))
}

/// Sends `phone`'s long poll to `url` in the background: the request, and the answer with the
/// moment it arrived.
fn long_poll(
    http: &reqwest::Client,
    url: &str,
    phone: &Phone,
) -> (
    SyncRequest,
    tokio::task::JoinHandle<anyhow::Result<(SyncResponse, Instant)>>,
) {
    let mut request = phone.replica.build_request();
    request.wait_ms = Some(WAIT_MS);
    let sent = request.clone();
    let (http, url, token) = (http.clone(), url.to_owned(), phone.token.clone());
    let task = tokio::spawn(async move {
        let response: SyncResponse = http
            .post(format!("{url}/v1/sync"))
            .bearer_auth(token)
            .json(&sent)
            .timeout(Duration::from_secs(60))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok((response, Instant::now()))
    });
    (request, task)
}

/// Waits until node `url` has `n` long polls waiting.
async fn until_waiting(http: &reqwest::Client, url: &str, n: f64) -> anyhow::Result<()> {
    for _ in 0..200 {
        if metric(http, url, "gridbook_long_polls_waiting").await? == Some(n) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    anyhow::bail!("node {url} never had {n} long polls waiting")
}

/// One round: `watcher` long-polls `poll_url`, `writer` writes through `write_url`; how long
/// after the write's answer the long poll's answer came (zero when it came first).
async fn woken_after_write(
    http: &reqwest::Client,
    watcher: &mut Phone,
    writer: &mut Phone,
    poll_url: &str,
    write_url: &str,
    n: usize,
) -> anyhow::Result<Duration> {
    let (request, poll) = long_poll(http, poll_url, watcher);
    until_waiting(http, poll_url, 1.0).await?;
    writer.edit(n)?;
    ensure!(
        writer.round_trip(http, write_url).await?,
        "the write failed"
    );
    let written = Instant::now();
    let (response, answered) = tokio::time::timeout(Duration::from_secs(10), poll)
        .await
        .context("the long poll was not answered within 10 s of the write")???;
    ensure!(
        !response.updates.is_empty(),
        "the long poll was answered without the write"
    );
    watcher.replica.apply_response(&request, &response)?;
    Ok(answered.saturating_duration_since(written))
}

async fn three_nodes(database: String, dir: PathBuf) -> anyhow::Result<()> {
    load_small_demo(&dir, &database)?;
    let http = reqwest::Client::builder().build()?;
    let token = ["--metrics-token", METRICS_TOKEN];
    let node1 = node(&dir, &database, &token).await?;
    let mut node2 = node(&dir, &database, &token).await?;
    let node3 = node(&dir, &database, &token).await?;
    let urls = [node1.url.clone(), node2.url.clone(), node3.url.clone()];

    // A worker writes through node 1; a colleague of the grid long-polls node 3.
    let mut writer = new_phone(&http, &urls[0], "writer", "dzk-01").await?;
    let mut watcher = new_phone(&http, &urls[2], "watcher", "dzk-01").await?;
    writer
        .sync(&http, &urls[0], Duration::from_secs(30))
        .await?;
    watcher
        .sync(&http, &urls[2], Duration::from_secs(30))
        .await?;
    let mut delays = Vec::new();
    for n in 0..ROUNDS {
        delays.push(
            woken_after_write(&http, &mut watcher, &mut writer, &urls[2], &urls[0], n).await?,
        );
    }
    delays.sort();
    let median = delays[delays.len() / 2];
    eprintln!("long poll on node 3 answered after a write on node 1: {delays:?}");
    ensure!(
        median <= Duration::from_millis(100),
        "the median long poll was answered {median:?} after the write ({delays:?})"
    );

    // Node 3 loses its listening connection: it reconnects, and a write after that still
    // wakes its long poll at once.
    let cut: i64 = {
        let admin = sqlx::PgPool::connect(&database).await?;
        let cut = sqlx::query_scalar(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE datname = current_database() AND query ILIKE 'LISTEN%'",
        )
        .fetch_one(&admin)
        .await?;
        admin.close().await;
        cut
    };
    ensure!(
        cut == 3,
        "three nodes listen ({cut} listening connections cut)"
    );
    let mut reconnected = false;
    for _ in 0..100 {
        if metric(&http, &urls[2], "gridbook_listener_reconnects_total").await? >= Some(1.0) {
            reconnected = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    ensure!(
        reconnected,
        "node 3 noticed its listening connection was cut"
    );
    let after_cut =
        woken_after_write(&http, &mut watcher, &mut writer, &urls[2], &urls[0], ROUNDS).await?;
    ensure!(
        after_cut < Duration::from_secs(2),
        "after reconnecting, node 3's long poll was answered {after_cut:?} after the write"
    );

    // Four phones on two grids sync through every node; node 2 is killed while they do.
    let phones = four_phones(&http, &urls[1]).await?;
    let stop_at = Instant::now() + Duration::from_secs(6);
    let mut tasks = Vec::new();
    for (i, mut p) in phones.into_iter().enumerate() {
        let (http, urls) = (http.clone(), urls.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0;
            while Instant::now() < stop_at {
                p.edit(n)?;
                n += 1;
                // Half the round trips through node 2 (until it is gone), the rest spread.
                let url = &urls[if n % 2 == 0 { 1 } else { (i + n) % 3 }];
                if !p.round_trip(&http, url).await? {
                    // Node 2 is gone: carry on through another node.
                    p.round_trip(&http, &urls[if i % 2 == 0 { 0 } else { 2 }])
                        .await?;
                }
            }
            anyhow::Ok(p)
        }));
    }
    tokio::time::sleep(Duration::from_millis(rand::random_range(1500..3500))).await;
    node2.kill()?;
    let mut phones = Vec::new();
    for t in tasks {
        phones.push(t.await??);
    }
    let confirmed = converge(&http, &mut phones, &[urls[0].clone(), urls[2].clone()]).await?;
    check_stored(&http, &urls[0], &confirmed).await?;
    // The record caches stay correct across nodes by checking each write against the
    // database; how often they serve a read, and how often a write found its copy stale.
    for url in [&urls[0], &urls[2]] {
        let hits = metric(&http, url, "gridbook_record_cache_hits_total")
            .await?
            .unwrap_or(0.0);
        let misses = metric(&http, url, "gridbook_record_cache_misses_total")
            .await?
            .unwrap_or(0.0);
        let stale = metric(&http, url, "gridbook_record_cache_stale_total")
            .await?
            .unwrap_or(0.0);
        eprintln!(
            "node {url}: record cache hit rate {:.1}% ({hits} hits, {misses} misses), {stale} writes decided again on a fresh copy",
            100.0 * hits / (hits + misses).max(1.0)
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_wake_each_others_long_polls_and_survive_losing_one() -> anyhow::Result<()> {
    on(Backend::Postgres, three_nodes).await
}
