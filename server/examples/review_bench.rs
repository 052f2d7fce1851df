//! Times the supervisors' list/filter routes on the full demo street (17,000 households, 5,000
//! cases): loads the demo into a temporary SQLite file (and into a fresh PostgreSQL database
//! when `GRIDBOOK_TEST_POSTGRES_URL` is set), starts the server in process, signs in as
//! `street` and sends each query 50 times over HTTP, printing p50 and p95.
//!
//! ```text
//! cargo run --release -p gridbook-server --example review_bench
//! GRIDBOOK_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!     cargo run --release -p gridbook-server --example review_bench
//! ```

use std::time::{Duration, Instant};

use anyhow::Context;
use gridbook_server::app;
use gridbook_server::config::Settings;
use gridbook_server::demo::{self, DemoSize};
use gridbook_server::state::AppState;
use sync_core::time::Timestamp;

const RUNS: usize = 50;

const QUERIES: &[(&str, &str)] = &[
    (
        "households, one grid, q=compound",
        "/v1/households?grid={grid}&q={compound}",
    ),
    (
        "households, one grid, q=surname",
        "/v1/households?grid={grid}&q=%E7%8E%8B",
    ),
    (
        "households, street, q=surname",
        "/v1/households?q=%E7%8E%8B",
    ),
    (
        "households, street, special_group",
        "/v1/households?special_group=dibao",
    ),
    (
        "households, street, page 50",
        "/v1/households?page=50&per_page=50",
    ),
    ("cases, street, state=reported", "/v1/cases?state=reported"),
    ("cases, street, level=overdue", "/v1/cases?level=overdue"),
    (
        "cases, street, level=yellow by due",
        "/v1/cases?level=yellow&sort=due_at",
    ),
    (
        "cases, street, kind+dates",
        "/v1/cases?kind=dispute&opened_from={from}",
    ),
    (
        "cases, one community, in_progress",
        "/v1/cases?community={community}&state=in_progress",
    ),
    ("visits, street, last 30 days", "/v1/visits?from={from}"),
];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    run("SQLite", &url).await?;
    if let Ok(admin) = std::env::var("GRIDBOOK_TEST_POSTGRES_URL") {
        let name = format!("gridbook_bench_{}", std::process::id());
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

    // Pick a real grid, community and compound from the data.
    let first: serde_json::Value = http
        .get(format!("{base}/v1/households?per_page=1"))
        .bearer_auth(&token)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let item = &first["items"][0];
    let grid = item["grid"].as_str().context("grid")?.to_owned();
    let community = item["community"].as_str().context("community")?.to_owned();
    let compound: String = item["address"]["compound"]
        .as_str()
        .context("compound")?
        .chars()
        .take(2)
        .collect();
    let compound: String = compound.bytes().map(|b| format!("%{b:02X}")).collect();
    let from = Timestamp::from_millis(now.millis() - 30 * 86_400_000).to_string();

    println!(
        "{backend}: {RUNS} requests each, street supervisor (all 68 grids)\n  {:<38} {:>8} {:>8} {:>7}",
        "query", "p50 ms", "p95 ms", "total"
    );
    for (name, template) in QUERIES {
        let path = template
            .replace("{grid}", &grid)
            .replace("{community}", &community)
            .replace("{compound}", &compound)
            .replace("{from}", &from);
        let mut times: Vec<Duration> = Vec::with_capacity(RUNS);
        let mut total = 0;
        for _ in 0..RUNS {
            let t = Instant::now();
            let body: serde_json::Value = http
                .get(format!("{base}{path}"))
                .bearer_auth(&token)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            times.push(t.elapsed());
            total = body["total"].as_i64().unwrap_or(-1);
        }
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "  {name:<38} {:>8.1} {:>8.1} {total:>7}",
            ms(times[RUNS / 2]),
            ms(times[RUNS * 95 / 100])
        );
    }
    running.stop().await?;
    Ok(())
}
