//! Times figures and exports on the full demo street (17,000 households, 5,000 cases): loads
//! the demo into a temporary SQLite file (and into a fresh PostgreSQL database when
//! `GRIDBOOK_TEST_POSTGRES_URL` is set), starts the server in process, signs in as `street`,
//! then measures `GET /v1/figures` (p50 / p95 of 50) and the street-wide household exports
//! (time, size, and the process's peak RSS while exporting: the peak is reset through
//! `/proc/self/clear_refs` first, and the client reads the body chunk by chunk).
//!
//! ```text
//! cargo run --release -p gridbook-server --example figures_bench
//! ```

use std::time::{Duration, Instant};

use anyhow::Context;
use gridbook_server::app;
use gridbook_server::config::Settings;
use gridbook_server::demo::{self, DemoSize};
use gridbook_server::state::AppState;
use sync_core::time::Timestamp;

const RUNS: usize = 50;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    run("SQLite", &url).await?;
    if let Ok(admin) = std::env::var("GRIDBOOK_TEST_POSTGRES_URL") {
        let name = format!("gridbook_fbench_{}", std::process::id());
        let pool = sqlx::PgPool::connect(&admin).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&pool)
            .await?;
        let (base, _) = admin.rsplit_once('/').context("URL without database")?;
        let result = run("PostgreSQL", &format!("{base}/{name}")).await;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
        )))
        .execute(&pool)
        .await?;
        pool.close().await;
        result?;
    }
    Ok(())
}

/// `VmHWM` and `VmRSS` of this process, in MiB.
fn memory() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(f64::NAN, |kb| kb / 1024.0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// Resets the peak RSS to the current RSS (Linux).
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

async fn run(backend: &str, url: &str) -> anyhow::Result<()> {
    let state = AppState::new(Settings::for_database(url)).await?;
    let now = Timestamp::from_millis(chrono::Utc::now().timestamp_millis());
    let started = Instant::now();
    demo::load(&state.db, DemoSize::Full, now, &mut |_| {}).await?;
    println!(
        "{backend}: demo loaded in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let running = app::start(state).await?;
    let base = format!("http://{}", running.addr);
    let http = reqwest::Client::builder().build()?;
    let login: serde_json::Value = http
        .post(format!("{base}/v1/auth/login"))
        .json(&serde_json::json!({
            "login": "street", "password": demo::DEMO_PASSWORD, "device_name": "bench",
        }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let token = login["access_token"]
        .as_str()
        .context("no access token")?
        .to_owned();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;

    for (name, path) in [
        ("figures, street, last 12 months", "/v1/figures"),
        ("figures, street, one month", "/v1/figures?from={month}"),
    ] {
        let month = Timestamp::from_millis(now.millis() - 30 * 86_400_000).to_string();
        let path = path.replace("{month}", &month);
        let mut times = Vec::with_capacity(RUNS);
        let mut body = serde_json::Value::Null;
        for _ in 0..RUNS {
            let t = Instant::now();
            body = http
                .get(format!("{base}{path}"))
                .bearer_auth(&token)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            times.push(t.elapsed());
        }
        times.sort();
        let totals = &body["totals"];
        println!(
            "  {name:<34} p50 {:>6.1} ms  p95 {:>6.1} ms  (households {}, visited {}, visits {}, disputes {}, overdue {}, grids {})",
            ms(times[RUNS / 2]),
            ms(times[RUNS * 95 / 100]),
            totals["households"],
            totals["households_visited"],
            totals["visits"],
            totals["disputes_mediated"],
            totals["overdue_cases"],
            body["grids"].as_array().map_or(0, Vec::len),
        );
    }

    for path in [
        "/v1/exports/households.xlsx",
        "/v1/exports/households.csv",
        "/v1/exports/cases.xlsx",
        "/v1/exports/households.xlsx",
    ] {
        reset_peak();
        let (_, rss_before) = memory();
        let t = Instant::now();
        let mut response = http
            .get(format!("{base}{path}"))
            .bearer_auth(&token)
            .send()
            .await?
            .error_for_status()?;
        let mut bytes = 0usize;
        while let Some(chunk) = response.chunk().await? {
            bytes += chunk.len();
        }
        let elapsed = t.elapsed();
        let (peak, rss_after) = memory();
        println!(
            "  {path:<34} {:>7.0} ms  {:>6.2} MiB  RSS before {rss_before:.0} MiB, peak during {peak:.0} MiB (+{:.1}), after {rss_after:.0} MiB",
            ms(elapsed),
            bytes as f64 / 1_048_576.0,
            peak - rss_before,
        );
    }
    running.stop().await?;
    Ok(())
}
