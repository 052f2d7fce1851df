//! `gridbook-bench`: sync speed, bytes and memory of Gridbook at street scale, beside the
//! automerge-repo sync server and samod, in one run. See `docs/BENCHMARKS.md` for the
//! workloads, the figures and how to read them; `scripts/bench` builds and runs it.
//!
//! * W1, a field day: one grid's households shared by 3 devices; each device makes offline
//!   edits on every household; all reconnect at once and sync until every device holds every
//!   change. A run counts only if every (device, document) pair reaches the merged heads.
//! * W2, nothing new: the same devices sync again.
//! * W3, first sync: a new phone pulls the whole grid.
//! * W4, a district: W1 with the full demo street (~70,000 records) in the database.
//! * W5, load: 50 and 200 phones, each on a grid of its own, pushing an edit per round trip
//!   for 60 s; latency p50/p99 and errors.
//! * W6, the city: the W4 template's streets stored, three server nodes on one database; a
//!   street supervisor's lists and figures (p50/p99 each), then 1,000 phones on grids of
//!   their own over 20 streets pushing an edit every 5 s for 60 s (p50/p99, errors, every
//!   node's memory). See [`city`].
//!
//! Every run starts a fresh server process (pinned to CPU 0; the phones and the counting
//! proxy run on CPU 1), on a fresh database with durable commits.

mod city;
mod fieldday;
mod ours;
mod peers;
mod phone;
mod procstat;
mod proxy;
mod report;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use serde_json::json;

use crate::ours::{Backend, Database};
use crate::peers::Peer;
use crate::report::{Row, Summary};

#[derive(Parser, Debug)]
#[command(
    name = "gridbook-bench",
    about = "Gridbook's sync benchmark (docs/BENCHMARKS.md)"
)]
struct Args {
    /// Workloads: w1 (field day), w2 (nothing new), w3 (first sync), w4 (district), w5 (load),
    /// w6 (the city: lists and figures, then many phones on three nodes).
    #[arg(long, value_delimiter = ',', default_value = "w1,w2,w3")]
    workloads: Vec<String>,
    /// Gridbook's backends.
    #[arg(long, value_delimiter = ',', default_value = "sqlite,postgres")]
    backends: Vec<String>,
    /// Systems: gridbook, automerge-repo, samod.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "gridbook,automerge-repo,samod"
    )]
    systems: Vec<String>,
    /// Runs of each workload, each on a fresh server.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Households of the grid.
    #[arg(long, default_value_t = 300)]
    docs: usize,
    /// Devices of the grid.
    #[arg(long, default_value_t = 3)]
    devices: usize,
    /// Offline edits per device and household.
    #[arg(long, default_value_t = 10)]
    edits: usize,
    /// Long-poll wait of a Gridbook device waiting for the others' changes, ms (0: poll).
    #[arg(long, default_value_t = 10_000)]
    wait_ms: u32,
    /// Give up a run after this many seconds (it then counts as not converged).
    #[arg(long, default_value_t = 120)]
    timeout_s: u64,
    /// PostgreSQL server for the postgres backend (bench databases are created and dropped).
    #[arg(
        long,
        env = "GRIDBOOK_BENCH_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    postgres_url: String,
    /// Results as JSON.
    #[arg(long, default_value = "target/bench/results.json")]
    out: PathBuf,
    /// W5: how many phones, one run each (each on a grid of its own).
    #[arg(long, value_delimiter = ',', default_value = "50,200")]
    load_phones: Vec<usize>,
    /// W5: seconds of syncing.
    #[arg(long, default_value_t = 60)]
    load_secs: u64,
    /// W5: households per phone's grid.
    #[arg(long, default_value_t = 30)]
    load_households: usize,
    /// W4: demo streets stored beside the field day's grid (1: Heping Street; 120: a city of
    /// about 2 million households).
    #[arg(long, default_value_t = 1)]
    district_streets: usize,
    /// W6: phones on three nodes, each on a load grid of its own.
    #[arg(long, default_value_t = 1_000)]
    city_phones: usize,
    /// W6: streets the phones' grids are spread over.
    #[arg(long, default_value_t = 20)]
    city_phone_streets: usize,
    /// W6: households each phone records on its grid first.
    #[arg(long, default_value_t = 10)]
    city_households: usize,
    /// W6: each phone pushes an edit this often, ms.
    #[arg(long, default_value_t = 5_000)]
    city_interval_ms: u64,
    /// W6: seconds the phones push.
    #[arg(long, default_value_t = 60)]
    city_secs: u64,
    /// Do not pin the server and the client to different CPUs.
    #[arg(long)]
    no_pin: bool,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // Read before pinning: pinned, this process sees one core.
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let pin = !args.no_pin && procstat::has_taskset();
    if pin {
        procstat::pin_self("1");
    }
    let work = args
        .out
        .parent()
        .map_or_else(|| PathBuf::from("target/bench"), PathBuf::from);
    std::fs::create_dir_all(&work)?;
    let work = work.canonicalize()?;
    let gridbook = std::env::current_exe()?
        .parent()
        .context("the bench binary's folder")?
        .join("gridbook");
    ours::check_binary(&gridbook)?;

    let backends: Vec<Backend> = args
        .backends
        .iter()
        .map(|b| match b.as_str() {
            "sqlite" => Ok(Backend::Sqlite),
            "postgres" => Ok(Backend::Postgres),
            other => bail!("unknown backend {other} (sqlite, postgres)"),
        })
        .collect::<anyhow::Result<_>>()?;
    let mut run_ours = false;
    let mut peer_systems = Vec::new();
    for s in &args.systems {
        match s.as_str() {
            "gridbook" => run_ours = true,
            "automerge-repo" => peer_systems.push(Peer::AutomergeRepo),
            "samod" => peer_systems.push(Peer::Samod),
            other => bail!("unknown system {other} (gridbook, automerge-repo, samod)"),
        }
    }
    if !peer_systems.is_empty() {
        peers::check_installed()?;
    }
    let wants = |w: &str| args.workloads.iter().any(|x| x == w);
    let field_day_follow_up = wants("w2") || wants("w3");
    let settings = ours::Settings {
        gridbook,
        postgres_admin: args.postgres_url.clone(),
        docs: args.docs,
        devices: args.devices,
        edits: args.edits,
        wait_ms: args.wait_ms,
        timeout: Duration::from_secs(args.timeout_s),
        pin,
        work: work.clone(),
    };
    eprintln!(
        "gridbook-bench: {} households x {} devices x {} edits; workloads {}; {} runs; server on CPU 0, client on CPU 1: {pin}",
        args.docs,
        args.devices,
        args.edits,
        args.workloads.join(","),
        args.runs
    );

    let mut rows: Vec<Row> = Vec::new();
    let mut floors = Vec::new();

    // W4 databases: the demo street loaded once per backend, copied for every run.
    let mut district = Vec::new();
    if (wants("w4") || wants("w6")) && run_ours {
        for &backend in &backends {
            eprintln!(
                "seeding the district template on {}: {} demo streets ...",
                backend.name(),
                args.district_streets
            );
            let started = std::time::Instant::now();
            let db = Database::create(backend, &settings, "district_template", None).await?;
            // Loading is the only work of its moment: the demo generator gets every core
            // (pinned, the threads it starts would all share CPU 1: the generator ran at one
            // CPU's 97 % beside PostgreSQL's 41 %, and at 131 % beside 62 % unpinned).
            if pin {
                procstat::pin_self(&format!("0-{}", cores.max(1) - 1));
            }
            let seeded = ours::seed(&db.url, args.district_streets.max(1)).await;
            if pin {
                procstat::pin_self("1");
            }
            seeded?;
            let bytes = db.size_bytes().await?;
            eprintln!(
                "  loaded in {:.0} s; {:.1} GB on disk",
                started.elapsed().as_secs_f64(),
                bytes as f64 / 1e9
            );
            floors.push(json!({
                "district_template": backend.name(),
                "streets": args.district_streets.max(1),
                "load_s": started.elapsed().as_secs_f64(),
                "bytes": bytes,
            }));
            district.push((backend, db));
        }
    }

    for run in 1..=args.runs {
        let mut day = None;
        if wants("w1") || field_day_follow_up || !peer_systems.is_empty() {
            for &backend in &backends {
                if !run_ours && day.is_some() {
                    break;
                }
                let db = Database::create(backend, &settings, &format!("w1_{run}"), None).await?;
                ours::seed(&db.url, 0).await?;
                let outcome =
                    ours::field_day(&settings, backend, &db, run, "w1", field_day_follow_up)
                        .await
                        .with_context(|| format!("gridbook {} run {run}", backend.name()))?;
                db.drop_now().await?;
                if run_ours {
                    for r in &outcome.rows {
                        progress(r);
                    }
                    rows.extend(outcome.rows);
                }
                day.get_or_insert(outcome.day);
            }
        }
        if let Some(day) = &day {
            let floor = fieldday::bare_merge(day, 3)?;
            let deflated = fieldday::deflated_floor(day)?;
            eprintln!(
                "  floor: Automerge merging the same changes in-process {:.3} s; deflated changes {} bytes",
                floor.as_secs_f64(),
                deflated
            );
            floors.push(json!({ "run": run, "bare_merge_s": floor.as_secs_f64(), "deflated_bytes": deflated }));
            if !peer_systems.is_empty() {
                let fixture = work.join(format!("fixture-{run}"));
                let _ = std::fs::remove_dir_all(&fixture);
                fieldday::write_fixture(day, &fixture)?;
                let peer_workloads: Vec<&str> = ["w1", "w2", "w3"]
                    .into_iter()
                    .filter(|w| *w == "w1" || wants(w))
                    .collect();
                for &peer in &peer_systems {
                    match peers::run(
                        peer,
                        &fixture,
                        &peer_workloads,
                        run,
                        &work,
                        pin,
                        settings.timeout,
                    )
                    .await
                    {
                        Ok(peer_rows) => {
                            for r in &peer_rows {
                                progress(r);
                            }
                            rows.extend(peer_rows);
                        }
                        Err(e) => {
                            eprintln!("  {} run {run} failed: {e:#}", peer.name());
                            rows.push(Row {
                                system: peer.name().into(),
                                backend: "files".into(),
                                workload: "w1".into(),
                                run,
                                errors: 1,
                                total_pairs: args.docs * args.devices,
                                note: format!("{e:#}"),
                                ..Row::default()
                            });
                        }
                    }
                }
                let _ = std::fs::remove_dir_all(&fixture);
            }
        }
        if wants("w5") && run_ours {
            for &backend in &backends {
                for &phones in &args.load_phones {
                    let db =
                        Database::create(backend, &settings, &format!("w5_{phones}_{run}"), None)
                            .await?;
                    let logins = ours::seed_load(&db.url, phones, 1).await?;
                    let row = ours::load(
                        &settings,
                        backend,
                        &db,
                        run,
                        &logins,
                        args.load_households,
                        args.load_secs,
                    )
                    .await
                    .with_context(|| {
                        format!("gridbook {} W5 {phones} run {run}", backend.name())
                    })?;
                    db.drop_now().await?;
                    progress(&row);
                    rows.push(row);
                }
            }
        }
        // With one run and no W4, W6 is the template's only user: it runs on the template
        // itself, because a copy of a 120-street city would need a second ~37 GB on disk.
        let w6_in_place = args.runs == 1 && !wants("w4");
        for (backend, template) in district.iter().filter(|_| wants("w6")) {
            let copy = if w6_in_place {
                None
            } else {
                Some(
                    Database::create(*backend, &settings, &format!("w6_{run}"), Some(template))
                        .await?,
                )
            };
            let db = copy.as_ref().unwrap_or(template);
            let logins =
                ours::seed_load(&db.url, args.city_phones, args.city_phone_streets).await?;
            let load = city::CityLoad {
                supervisor: match args.district_streets {
                    0 | 1 => "street".to_owned(),
                    n => format!("s{:03}-street", n - 1),
                },
                password: gridbook_server::demo::DEMO_PASSWORD.to_owned(),
                logins,
                households: args.city_households,
                interval: Duration::from_millis(args.city_interval_ms.max(1)),
                secs: args.city_secs,
            };
            let city_rows = city::run(&settings, *backend, db, run, &load)
                .await
                .with_context(|| format!("gridbook {} W6 run {run}", backend.name()))?;
            if let Some(copy) = copy {
                copy.drop_now().await?;
            }
            for r in &city_rows {
                progress(r);
            }
            rows.extend(city_rows);
        }
        for (backend, template) in district.iter().filter(|_| wants("w4")) {
            let db =
                Database::create(*backend, &settings, &format!("w4_{run}"), Some(template)).await?;
            let outcome = ours::field_day(&settings, *backend, &db, run, "w4", true)
                .await
                .with_context(|| format!("gridbook {} W4 run {run}", backend.name()))?;
            db.drop_now().await?;
            for r in &outcome.rows {
                progress(r);
            }
            rows.extend(outcome.rows);
        }
    }
    for (_, db) in district {
        db.drop_now().await?;
    }

    let summaries = report::summarize(&rows);
    let mut floor_s: Vec<f64> = floors
        .iter()
        .filter_map(|f| f["bare_merge_s"].as_f64())
        .collect();
    let floor_s = report::median(&mut floor_s);
    let mut deflated: Vec<f64> = floors
        .iter()
        .filter_map(|f| f["deflated_bytes"].as_f64())
        .collect();
    let deflated = report::median(&mut deflated);
    println!("\n{}", report::table(&summaries));
    let ratios = ratios(&summaries, floor_s, deflated);
    println!(
        "floor (median): Automerge merging the same changes in-process {floor_s:.3} s; deflated per device and direction {:.2} MB\n",
        deflated / 1e6
    );
    for line in &ratios {
        println!("{line}");
    }
    let result = json!({
        "conditions": {
            "docs": args.docs, "devices": args.devices, "edits": args.edits,
            "runs": args.runs, "wait_ms": args.wait_ms, "pinned": pin,
            "cpu": cpu_model(), "cores": cores,
        },
        "rows": rows,
        "summaries": summaries,
        "floors": floors,
        "floor_bare_merge_s": floor_s,
        "floor_deflated_bytes": deflated,
        "ratios": ratios,
    });
    std::fs::write(&args.out, serde_json::to_vec_pretty(&result)?)?;
    eprintln!("results written to {}", args.out.display());
    Ok(())
}

fn progress(r: &Row) {
    if let (Some(requests), Some(p50), Some(p99)) = (r.requests, r.p50_ms, r.p99_ms) {
        eprintln!(
            "  {} {} {} run {}: {requests} round trips in {:.0} ms, p50 {p50:.1} ms, p99 {p99:.1} ms, server CPU {:.2} s, peak RSS {:.0} MiB, {} errors, {}/{} phones with nothing pending",
            r.workload,
            r.system,
            r.backend,
            r.run,
            r.wall_ms,
            r.server_cpu_s,
            r.peak_rss as f64 / 1_048_576.0,
            r.errors,
            r.converged_pairs,
            r.total_pairs
        );
        return;
    }
    eprintln!(
        "  {} {} {} run {}: {}/{} converged, {:.0} ms, server CPU {:.2} s, {} round trips max, {} B up, {} B down, peak RSS {:.0} MiB, {} errors",
        r.workload,
        r.system,
        r.backend,
        r.run,
        r.converged_pairs,
        r.total_pairs,
        r.wall_ms,
        r.server_cpu_s,
        r.round_trips_max,
        r.bytes_up,
        r.bytes_down,
        r.peak_rss as f64 / 1_048_576.0,
        r.errors
    );
}

/// The W1 ratios the aims are stated in.
fn ratios(summaries: &[Summary], floor_s: f64, deflated: f64) -> Vec<String> {
    let find = |system: &str, backend: Option<&str>| {
        summaries.iter().find(|s| {
            s.workload == "w1" && s.system == system && backend.is_none_or(|b| s.backend == b)
        })
    };
    let mut out = Vec::new();
    for backend in ["sqlite", "postgres"] {
        let Some(ours) = find("gridbook", Some(backend)) else {
            continue;
        };
        if floor_s > 0.0 {
            out.push(format!(
                "W1 {backend}: server CPU {:.2}x the bare Automerge merge; wire bytes {:.2}x the deflated changes",
                ours.server_cpu_s / floor_s,
                ours.bytes / deflated.max(1.0)
            ));
        }
        for peer in ["automerge-repo", "samod"] {
            let Some(p) = find(peer, None) else {
                continue;
            };
            out.push(format!(
                "W1 {backend} vs {peer}: server CPU {:.3}x, wall time {:.2}x faster, wire bytes {:.3}x, peak RSS {:.2}x",
                ours.server_cpu_s / p.server_cpu_s.max(1e-9),
                p.wall_ms / ours.wall_ms.max(1e-9),
                ours.bytes / p.bytes.max(1.0),
                ours.peak_rss / p.peak_rss.max(1.0),
            ));
        }
    }
    out
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_default()
}
