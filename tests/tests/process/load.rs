//! Load: 200 phones (`GRIDBOOK_LOAD_PHONES`) on the small demo street sync against one server
//! process for two halves of `GRIDBOOK_LOAD_SECS` (16 s by default) without an error, the
//! server's memory stays flat from the first half to the second, and all phones converge.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::ensure;
use gridbook_tests::Backend;
use gridbook_tests::process::load_small_demo;

use crate::phones::{Phone, new_phone, same_records};
use crate::{node, on};

/// What the load phones saw.
#[derive(Debug, Default)]
struct LoadCount {
    round_trips: usize,
    errors: Vec<String>,
}

/// `phones` phones (spread over the demo's grids) edit now and then and sync every ~0.5 s
/// for `secs` seconds. Returns the counts.
async fn load_burst(
    http: &reqwest::Client,
    url: &str,
    phones: Vec<Phone>,
    secs: u64,
) -> anyhow::Result<(Vec<Phone>, LoadCount)> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for mut p in phones {
        let (http, url) = (http.clone(), url.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut count = LoadCount::default();
            let mut n = 0;
            // Spread the phones' first requests over half a second.
            tokio::time::sleep(Duration::from_millis(rand::random_range(0..500))).await;
            while Instant::now() < deadline {
                if rand::random_range(0..10) < 3 {
                    p.edit(n)?;
                    n += 1;
                }
                match p.round_trip(&http, &url).await {
                    Ok(true) => count.round_trips += 1,
                    Ok(false) => count.errors.push(p.last_failure.clone()),
                    Err(e) => count.errors.push(e.to_string()),
                }
                tokio::time::sleep(Duration::from_millis(rand::random_range(300..700))).await;
            }
            anyhow::Ok((p, count))
        }));
    }
    let mut total = LoadCount::default();
    let mut phones = Vec::new();
    for t in tasks {
        let (p, c) = t.await??;
        total.round_trips += c.round_trips;
        total.errors.extend(c.errors);
        phones.push(p);
    }
    Ok((phones, total))
}

async fn load(database: String, dir: PathBuf, label: &str) -> anyhow::Result<()> {
    load_small_demo(&dir, &database)?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;
    let server = node(&dir, &database, &[]).await?;
    let phones_n: usize = std::env::var("GRIDBOOK_LOAD_PHONES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    // Seconds per half; CI runs two short halves, `GRIDBOOK_LOAD_SECS=60` the full minute.
    let secs: u64 = std::env::var("GRIDBOOK_LOAD_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16)
        / 2;
    let grids = ["dzk-01", "dzk-02", "lq-01", "lq-02"];
    // Sign in one after the other (concurrent sign-ins of one login are throttled), then
    // pull the grid, all phones at once.
    let mut setup = Vec::new();
    for i in 0..phones_n {
        let grid = grids[i % grids.len()];
        let mut p = new_phone(&http, &server.url, &format!("load-{i}"), grid).await?;
        let (http, url) = (http.clone(), server.url.clone());
        setup.push(tokio::spawn(async move {
            p.sync(&http, &url, Duration::from_secs(120)).await?;
            anyhow::Ok(p)
        }));
    }
    let mut phones = Vec::new();
    for t in setup {
        phones.push(t.await??);
    }
    let rss_kib = || server.status_kib("VmRSS");
    let before = rss_kib()?;
    let (phones, first) = load_burst(&http, &server.url, phones, secs).await?;
    let after_first = rss_kib()?;
    let (phones, second) = load_burst(&http, &server.url, phones, secs).await?;
    let after_second = rss_kib()?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = rss_kib()?;
    let errors: Vec<_> = first.errors.iter().chain(&second.errors).collect();
    println!(
        "{label}: {phones_n} phones, {} s: {} round trips, {} errors; server RSS {} MiB before, {} after half 1, {} after half 2, {} idle",
        secs * 2,
        first.round_trips + second.round_trips,
        errors.len(),
        before / 1024,
        after_first / 1024,
        after_second / 1024,
        idle / 1024
    );
    ensure!(
        errors.is_empty(),
        "{} errors, first: {:?}",
        errors.len(),
        errors.first()
    );
    ensure!(
        first.round_trips >= phones_n && second.round_trips >= phones_n,
        "the phones hardly synced"
    );
    // Flat memory: the second half of the same load does not grow the server much past the
    // first (caches are bounded; a leak grows with every request).
    ensure!(
        after_second <= after_first + after_first / 4 + 32 * 1024,
        "server memory grew from {after_first} KiB to {after_second} KiB under the same load"
    );
    // Everyone converges after the load (16 phones at a time, then once more in turn).
    let permits = Arc::new(tokio::sync::Semaphore::new(16));
    let mut tasks = Vec::new();
    for mut p in phones {
        let (http, url, permits) = (http.clone(), server.url.clone(), permits.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = permits.acquire().await?;
            p.sync(&http, &url, Duration::from_secs(120)).await?;
            anyhow::Ok(p)
        }));
    }
    let mut phones = Vec::new();
    for t in tasks {
        phones.push(t.await??);
    }
    for p in &mut phones {
        p.sync(&http, &server.url, Duration::from_secs(60)).await?;
    }
    for p in phones.iter().skip(grids.len()) {
        let i: usize = p.name.trim_start_matches("load-").parse()?;
        same_records(&phones[i % grids.len()], p)?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_phones_load_sqlite_without_errors_and_memory_stays_flat() -> anyhow::Result<()>
{
    on(Backend::Sqlite, |database, dir| {
        load(database, dir, "SQLite")
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_phones_load_postgres_without_errors_and_memory_stays_flat()
-> anyhow::Result<()> {
    on(Backend::Postgres, |database, dir| {
        load(database, dir, "PostgreSQL")
    })
    .await
}
