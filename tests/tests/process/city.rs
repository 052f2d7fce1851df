//! `gridbook demo --streets N`: a city of demo streets shaped like Heping Street, loaded through
//! the command line. Street 0 keeps Heping Street's codes and logins; street K's begin
//! `sKKK-`; every street's people see their own street only, and a worker of street 2 syncs
//! exactly their grid.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, ensure};
use gridbook_tests::Backend;
use gridbook_tests::process::{Serve, gridbook, run_ok};
use serde_json::Value;

use crate::on;
use crate::phones::new_phone;

async fn sign_in(http: &reqwest::Client, url: &str, login: &str) -> anyhow::Result<String> {
    let body: Value = http
        .post(format!("{url}/v1/auth/login"))
        .json(&serde_json::json!({
            "login": login,
            "password": gridbook_server::demo::DEMO_PASSWORD,
        }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(body["access_token"].as_str().context("token")?.to_owned())
}

/// The households a user's list shows in all.
async fn households_listed(http: &reqwest::Client, url: &str, token: &str) -> anyhow::Result<u64> {
    let body: Value = http
        .get(format!("{url}/v1/households?per_page=1"))
        .bearer_auth(token)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    body["total"].as_u64().context("total")
}

async fn a_city_of_three_streets(database: String, dir: PathBuf) -> anyhow::Result<()> {
    let out = run_ok(gridbook(&dir)?.args([
        "demo",
        "--small",
        "--streets",
        "3",
        "--database-url",
        &database,
    ]))?;
    ensure!(out.contains("Loaded 3 streets"), "{out}");
    let mut server = Serve::new(&dir)
        .database(&database)
        .ready_within(Duration::from_secs(30))
        .start()?;
    server.wait_ready().await?;
    let url = server.url.clone();
    let http = reqwest::Client::new();

    // Each street supervisor sees their street's 4 grids of 30 households, no more.
    for login in ["street", "s001-street", "s002-street"] {
        let token = sign_in(&http, &url, login).await?;
        let listed = households_listed(&http, &url, &token).await?;
        ensure!(listed == 120, "{login} lists {listed} households");
    }
    // A worker of street 2 syncs exactly their grid, and it is not Heping Street's grid of the
    // same name.
    let mut far = new_phone(&http, &url, "far", "s002-dzk-01").await?;
    far.sync(&http, &url, Duration::from_secs(30)).await?;
    let mut near = new_phone(&http, &url, "near", "dzk-01").await?;
    near.sync(&http, &url, Duration::from_secs(30)).await?;
    let (far_ids, near_ids) = (far.replica.doc_ids(), near.replica.doc_ids());
    ensure!(
        !far_ids.is_empty() && far_ids.len() == near_ids.len(),
        "same shape"
    );
    ensure!(
        far_ids.iter().all(|id| !near_ids.contains(id)),
        "records of their own"
    );
    server.kill()?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_city_of_demo_streets_keeps_each_street_to_itself_on_sqlite() -> anyhow::Result<()> {
    on(Backend::Sqlite, a_city_of_three_streets).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_city_of_demo_streets_keeps_each_street_to_itself_on_postgres() -> anyhow::Result<()> {
    on(Backend::Postgres, a_city_of_three_streets).await
}
