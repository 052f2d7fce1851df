//! W6, the city: the W4 template's demo streets stored, and three `gridbook serve` nodes on
//! one database (on PostgreSQL the nodes wake each other's long polls through LISTEN/NOTIFY).
//!
//! 1. **Lists and figures.** A street supervisor of the last stored street asks for each of
//!    [`ASKS`] [`ASK_TIMES`] times, one request at a time, taking the nodes in turn:
//!    p50/p99 of each (issue 19's aim: a list's p50 ≤ 20 ms with the city stored); then the
//!    county office (demo login `county`) asks for every street's figures ([`COUNTY_ASKS`]).
//! 2. **Phones.** `phones` phones, each on a load grid of its own, the grids spread over many
//!    streets; phone `n` talks to node `n % 3`. Each pushes one edited household every
//!    `interval` (their phases spread evenly over it) for `secs`: round-trip p50/p99, errors,
//!    and every node's resident memory after set-up, at its highest during the phase (sampled
//!    each second) and at the end, which shows whether memory stays flat.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::ours::{Backend, Database, LoadLogin, Server, Settings, load_phones, push_one_edit};
use crate::phone;
use crate::procstat;
use crate::report::{self, Row};

/// How often each of [`ASKS`] is asked.
pub const ASK_TIMES: usize = 30;

/// One of the supervisor's requests.
pub struct Ask {
    /// The name in the table (`w6-<name>`).
    pub name: &'static str,
    /// The path.
    pub path: &'static str,
    /// The query's pairs.
    pub query: &'static [(&'static str, &'static str)],
}

const fn ask(
    name: &'static str,
    path: &'static str,
    query: &'static [(&'static str, &'static str)],
) -> Ask {
    Ask { name, path, query }
}

/// The supervisor's requests.
pub const ASKS: &[Ask] = &[
    ask("households", "/v1/households", &[]),
    ask("households-p100", "/v1/households", &[("page", "100")]),
    ask("households-search", "/v1/households", &[("q", "王")]),
    ask(
        "households-special",
        "/v1/households",
        &[("special_group", "elderly_alone")],
    ),
    ask("cases", "/v1/cases", &[]),
    ask(
        "cases-in-progress",
        "/v1/cases",
        &[("state", "in_progress")],
    ),
    ask("visits", "/v1/visits", &[]),
    ask("figures", "/v1/figures", &[]),
    ask("monthly-report", "/v1/reports/monthly", &[]),
];

/// The county office's requests: the figures of every street stored.
pub const COUNTY_ASKS: &[Ask] = &[ask("county-figures", "/v1/figures/streets", &[])];

/// The county office's demo login.
const COUNTY_LOGIN: &str = "county";

/// What W6 runs with.
#[derive(Debug, Clone)]
pub struct CityLoad {
    /// The street supervisor whose lists are asked for (a demo login).
    pub supervisor: String,
    /// Their password.
    pub password: String,
    /// The load phones' workers.
    pub logins: Vec<LoadLogin>,
    /// Households each phone records on its grid before the timed phase.
    pub households: usize,
    /// How often each phone pushes.
    pub interval: Duration,
    /// How long the phones push.
    pub secs: u64,
}

/// Nodes on one database.
const NODES: usize = 3;

/// One run of W6 on `db` (a copy of the city template with the load grids added).
pub async fn run(
    settings: &Settings,
    backend: Backend,
    db: &Database,
    run: usize,
    load: &CityLoad,
) -> anyhow::Result<Vec<Row>> {
    let mut nodes = Vec::with_capacity(NODES);
    for n in 1..=NODES {
        let log = settings
            .work
            .join(format!("gridbook-{}-w6-node{n}-{run}.log", backend.name()));
        nodes.push(Server::start(settings, db, &log, backend).await?);
    }
    let bases: Vec<String> = nodes.iter().map(|n| n.base.clone()).collect();
    let http = phone::http_client()?;

    let mut rows = lists(&http, &bases, load, backend, run).await?;
    rows.push(phones(&http, &nodes, load, backend, run).await?);
    for node in nodes {
        node.proc.stop()?;
    }
    Ok(rows)
}

async fn lists(
    http: &reqwest::Client,
    bases: &[String],
    load: &CityLoad,
    backend: Backend,
    run: usize,
) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::with_capacity(ASKS.len() + COUNTY_ASKS.len());
    let token = sign_in(http, &bases[0], &load.supervisor, &load.password).await?;
    for ask in ASKS {
        rows.push(time_ask(http, bases, &token, ask, backend, run).await?);
    }
    let token = sign_in(http, &bases[0], COUNTY_LOGIN, &load.password).await?;
    for ask in COUNTY_ASKS {
        rows.push(time_ask(http, bases, &token, ask, backend, run).await?);
    }
    Ok(rows)
}

/// Asks `ask` [`ASK_TIMES`] times with `token`, one request at a time, taking the nodes in
/// turn: the row with p50/p99.
async fn time_ask(
    http: &reqwest::Client,
    bases: &[String],
    token: &str,
    ask: &Ask,
    backend: Backend,
    run: usize,
) -> anyhow::Result<Row> {
    let Ask { name, path, query } = ask;
    let mut latencies = Vec::with_capacity(ASK_TIMES);
    let mut errors = 0u64;
    let mut note = String::new();
    for k in 0..ASK_TIMES {
        let base = &bases[k % bases.len()];
        let started = Instant::now();
        let url = reqwest::Url::parse_with_params(&format!("{base}{path}"), *query)?;
        let response = http.get(url).bearer_auth(token).send().await?;
        let status = response.status();
        let body = response.bytes().await?;
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
        if !status.is_success() {
            errors += 1;
            note = format!(
                "{status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(200)])
            );
        } else if note.is_empty() {
            note = summary_of(&body);
        }
    }
    latencies.sort_by(f64::total_cmp);
    Ok(Row {
        system: "gridbook".into(),
        backend: backend.name().into(),
        workload: format!("w6-{name}"),
        run,
        devices: 1,
        wall_ms: latencies.iter().sum(),
        errors,
        converged_pairs: usize::from(errors == 0),
        total_pairs: 1,
        requests: Some(ASK_TIMES as u64),
        p50_ms: Some(report::quantile(&latencies, 0.50)),
        p99_ms: Some(report::quantile(&latencies, 0.99)),
        note,
        ..Row::default()
    })
}

/// What an answer held, for the row's note: a list's total, or the answer's size.
fn summary_of(body: &[u8]) -> String {
    match serde_json::from_slice::<Value>(body) {
        Ok(v) if v.get("total").is_some() => format!("{} items in all", v["total"]),
        Ok(v) if v.get("streets").is_some() => format!(
            "{} streets, {} households",
            v["streets"].as_array().map_or(0, Vec::len),
            v["totals"]["households"]
        ),
        _ => format!("{} bytes", body.len()),
    }
}

async fn sign_in(
    http: &reqwest::Client,
    base: &str,
    login: &str,
    password: &str,
) -> anyhow::Result<String> {
    let body: Value = http
        .post(format!("{base}/v1/auth/login"))
        .json(&json!({ "login": login, "password": password, "device_name": "bench console" }))
        .send()
        .await?
        .error_for_status()
        .with_context(|| format!("sign-in as {login}"))?
        .json()
        .await?;
    match body["access_token"].as_str() {
        Some(t) => Ok(t.to_owned()),
        None => bail!("no access token for {login}"),
    }
}

async fn phones(
    http: &reqwest::Client,
    nodes: &[Server],
    load: &CityLoad,
    backend: Backend,
    run: usize,
) -> anyhow::Result<Row> {
    let bases: Vec<String> = nodes.iter().map(|n| n.base.clone()).collect();
    let setup = Instant::now();
    let phones = load_phones(http, &bases, &load.logins, load.households).await?;
    eprintln!(
        "  W6: {} phones signed in and synced their grids in {:.0} s",
        phones.len(),
        setup.elapsed().as_secs_f64()
    );
    let pids: Vec<u32> = nodes.iter().map(|n| n.proc.pid()).collect();
    let after_setup: Vec<u64> = pids.iter().map(|&p| procstat::rss(p)).collect();
    let phones_n = phones.len();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(load.secs);

    // Every node's highest RSS during the phase, sampled each second.
    let sampler = {
        let pids = pids.clone();
        tokio::spawn(async move {
            let mut highest = vec![0u64; pids.len()];
            while Instant::now() < deadline {
                for (h, &p) in highest.iter_mut().zip(&pids) {
                    *h = (*h).max(procstat::rss(p));
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            highest
        })
    };

    let interval = load.interval;
    let mut tasks = Vec::with_capacity(phones_n);
    for (n, (mut p, ids)) in phones.into_iter().enumerate() {
        let http = http.clone();
        let base = bases[n % bases.len()].clone();
        let phase = interval.mul_f64(n as f64 / phones_n as f64);
        tasks.push(tokio::spawn(async move {
            let mut errors = 0u64;
            let mut next = tokio::time::Instant::from_std(started) + phase;
            let mut k = 0usize;
            loop {
                tokio::time::sleep_until(next).await;
                if Instant::now() >= deadline {
                    break;
                }
                next += interval;
                if !push_one_edit(&mut p, &ids, n, k, &http, &base).await {
                    errors += 1;
                }
                k += 1;
            }
            let pending = p.replica.pending().len();
            (p.latencies, errors, pending)
        }));
    }
    let mut row = Row {
        system: "gridbook".into(),
        backend: backend.name().into(),
        workload: format!("w6-phones-{phones_n}"),
        run,
        devices: phones_n,
        total_pairs: phones_n,
        ..Row::default()
    };
    let mut latencies: Vec<f64> = Vec::new();
    for t in tasks {
        let (l, errors, pending) = t.await?;
        row.errors += errors;
        row.converged_pairs += usize::from(pending == 0);
        latencies.extend(l.iter().map(|d| d.as_secs_f64() * 1000.0));
    }
    row.wall_ms = started.elapsed().as_secs_f64() * 1000.0;
    let highest = sampler.await?;
    let at_end: Vec<u64> = pids.iter().map(|&p| procstat::rss(p)).collect();
    row.peak_rss = pids
        .iter()
        .map(|&p| procstat::peak_rss(p))
        .max()
        .unwrap_or(0);
    latencies.sort_by(f64::total_cmp);
    row.requests = Some(latencies.len() as u64);
    row.p50_ms = Some(report::quantile(&latencies, 0.50));
    row.p99_ms = Some(report::quantile(&latencies, 0.99));
    let mib = |b: u64| b as f64 / 1_048_576.0;
    let per_node: Vec<String> = (0..pids.len())
        .map(|i| {
            format!(
                "node {}: {:.0} → {:.0} (highest) → {:.0} MiB",
                i + 1,
                mib(after_setup[i]),
                mib(highest[i]),
                mib(at_end[i])
            )
        })
        .collect();
    row.note = format!(
        "{:.0} pushes/s over {} nodes; RSS after set-up → highest → end: {}",
        latencies.len() as f64 / (row.wall_ms / 1000.0),
        pids.len(),
        per_node.join("; ")
    );
    Ok(row)
}
