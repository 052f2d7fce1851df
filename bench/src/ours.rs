//! Gridbook's runs: a fresh database and a fresh `gridbook serve` process per run, phones on
//! sync-core over real HTTP through the counting proxy.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::future::join_all;
use gridbook_server::accounts::{NewUser, create_user};
use gridbook_server::db::{Db, places};
use gridbook_server::demo::{self, DemoSize};
use sync_core::ids::{CommunityId, DocId, GridId, StreetId};
use sync_core::models::household::Household;
use sync_core::record::{Place, Role};
use sync_core::time::Timestamp;

use crate::fieldday::{self, FieldDoc};
use crate::phone::{self, Phone};
use crate::procstat::{self, Proc, Sample};
use crate::proxy::Proxy;
use crate::report::Row;

/// The bench grid's worker's password.
pub const PASSWORD: &str = "gridbook-bench";
/// The bench grid.
pub const GRID: &str = "bench-01";

/// Which database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in a temporary folder.
    Sqlite,
    /// A new PostgreSQL database on the given server.
    Postgres,
}

impl Backend {
    /// For tables.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// Shared settings of the runs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The `gridbook` binary.
    pub gridbook: PathBuf,
    /// PostgreSQL URL of a database to connect to for creating and dropping bench databases.
    pub postgres_admin: String,
    /// Households of the grid.
    pub docs: usize,
    /// Devices of the grid.
    pub devices: usize,
    /// Offline edits per device and document.
    pub edits: usize,
    /// Long-poll wait of a device waiting for the others' changes, ms.
    pub wait_ms: u32,
    /// Give up a run after this long.
    pub timeout: Duration,
    /// Pin the server to CPU 0 and the client to CPU 1.
    pub pin: bool,
    /// Where logs and temporary files go.
    pub work: PathBuf,
}

/// A database for one run; dropped (PostgreSQL) or deleted (SQLite) at the end.
#[derive(Debug)]
pub struct Database {
    /// Its URL.
    pub url: String,
    backend: Backend,
    admin: String,
    name: String,
    _dir: Option<tempfile::TempDir>,
}

impl Database {
    /// Creates an empty database, or a copy of `template` (a database of the same backend).
    pub async fn create(
        backend: Backend,
        settings: &Settings,
        label: &str,
        template: Option<&Database>,
    ) -> anyhow::Result<Self> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir_in(&settings.work)?;
                let path = dir.path().join("gridbook.db");
                if let Some(t) = template {
                    let from = t.url.trim_start_matches("sqlite://");
                    std::fs::copy(from, &path).context("copying the seeded database")?;
                }
                Ok(Self {
                    url: format!("sqlite://{}", path.display()),
                    backend,
                    admin: String::new(),
                    name: String::new(),
                    _dir: Some(dir),
                })
            }
            Backend::Postgres => {
                let name = format!("gridbook_bench_{}_{label}", std::process::id());
                let (base, _) = settings
                    .postgres_admin
                    .rsplit_once('/')
                    .context("PostgreSQL URL without a database")?;
                let pool = sqlx::PgPool::connect(&settings.postgres_admin).await?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                )))
                .execute(&pool)
                .await?;
                let create = match template {
                    Some(t) => format!("CREATE DATABASE \"{name}\" TEMPLATE \"{}\"", t.name),
                    None => format!("CREATE DATABASE \"{name}\""),
                };
                sqlx::query(sqlx::AssertSqlSafe(create))
                    .execute(&pool)
                    .await?;
                pool.close().await;
                Ok(Self {
                    url: format!("{base}/{name}"),
                    backend,
                    admin: settings.postgres_admin.clone(),
                    name,
                    _dir: None,
                })
            }
        }
    }

    /// The database's size on disk: PostgreSQL's `pg_database_size`, or the SQLite file with
    /// its write-ahead log.
    pub async fn size_bytes(&self) -> anyhow::Result<u64> {
        match self.backend {
            Backend::Postgres => {
                let pool = sqlx::PgPool::connect(&self.admin).await?;
                let size: i64 = sqlx::query_scalar("SELECT pg_database_size($1)")
                    .bind(&self.name)
                    .fetch_one(&pool)
                    .await?;
                pool.close().await;
                Ok(u64::try_from(size)?)
            }
            Backend::Sqlite => {
                let file = self.url.trim_start_matches("sqlite://");
                let mut total = std::fs::metadata(file)?.len();
                if let Ok(wal) = std::fs::metadata(format!("{file}-wal")) {
                    total += wal.len();
                }
                Ok(total)
            }
        }
    }

    /// Drops a PostgreSQL database (a SQLite folder goes with `self`).
    pub async fn drop_now(self) -> anyhow::Result<()> {
        if self.backend == Backend::Postgres {
            let pool = sqlx::PgPool::connect(&self.admin).await?;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            )))
            .execute(&pool)
            .await?;
            pool.close().await;
        }
        Ok(())
    }
}

/// Writes the bench grid and its worker into `url` (migrating first). With
/// `district_streets` ≥ 1, that many full demo streets (17,000 households and ~70,000 records
/// each) are loaded first and the bench grid is added beside them.
pub async fn seed(url: &str, district_streets: usize) -> anyhow::Result<()> {
    let db = Db::connect(url).await?;
    db.migrate().await?;
    let now = Timestamp::from_millis(1_794_000_000_000);
    match district_streets {
        0 => {}
        1 => {
            demo::load(&db, DemoSize::Full, now, &mut |_| {}).await?;
        }
        n => {
            let started = std::time::Instant::now();
            demo::load_city(&db, DemoSize::Full, n, now, &mut |street, progress| {
                if matches!(progress, demo::DemoProgress::Done { .. }) {
                    eprintln!(
                        "  street {}/{n} loaded ({:.0} s so far)",
                        street + 1,
                        started.elapsed().as_secs_f64()
                    );
                }
            })
            .await?;
        }
    }
    let street: StreetId = "bench".parse()?;
    let community: CommunityId = "bench".parse()?;
    let grid: GridId = GRID.parse()?;
    places::upsert_street(&db, &street, "基准街道").await?;
    places::upsert_community(&db, &community, &street, "基准社区").await?;
    places::upsert_grid(&db, &grid, &community, "基准一网格").await?;
    create_user(
        &db,
        NewUser {
            login: "bench-worker".into(),
            display_name: "基准网格员".into(),
            password: PASSWORD.into(),
            role: Role::GridWorker,
            street: None,
            community: None,
            grid: Some(grid),
            liaison_group: None,
            department: None,
        },
    )
    .await?;
    db.close().await;
    Ok(())
}

/// A running `gridbook serve`, behind the counting proxy.
#[derive(Debug)]
pub struct Server {
    /// The process.
    pub proc: Proc,
    /// The proxy clients use.
    pub proxy: Proxy,
    /// `http://127.0.0.1:<proxy port>`.
    pub base: String,
    backend: Backend,
}

impl Server {
    /// Starts the server on `db` (pinned to CPU 0) and the proxy in front of it.
    pub async fn start(
        settings: &Settings,
        db: &Database,
        log: &Path,
        backend: Backend,
    ) -> anyhow::Result<Self> {
        let port = procstat::free_port()?;
        let args: Vec<String> = [
            "serve",
            "--database-url",
            &db.url,
            "--listen",
            &format!("127.0.0.1:{port}"),
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let mut proc = Proc::spawn(
            "gridbook",
            settings.pin.then_some(0),
            &settings.gridbook,
            &args,
            &[("RUST_LOG", "warn")],
            log,
        )?;
        procstat::wait_port(&mut proc, port, Duration::from_secs(120)).await?;
        let proxy = Proxy::start(port).await?;
        let base = format!("http://127.0.0.1:{}", proxy.port);
        Ok(Self {
            proc,
            proxy,
            base,
            backend,
        })
    }

    /// Server (and PostgreSQL) CPU and writes now.
    pub fn sample(&self) -> (Sample, Sample) {
        let db = if self.backend == Backend::Postgres {
            procstat::sample_all("postgres")
        } else {
            Sample::default()
        };
        (procstat::sample(self.proc.pid()), db)
    }
}

/// Measures a timed phase: server and database samples and proxy counts before and after.
#[derive(Debug)]
struct Phase {
    started: Instant,
    server: Sample,
    db: Sample,
    up: u64,
    down: u64,
}

impl Phase {
    fn start(server: &Server) -> Self {
        let (s, d) = server.sample();
        let (up, down) = server.proxy.counters.read();
        Self {
            started: Instant::now(),
            server: s,
            db: d,
            up,
            down,
        }
    }

    fn finish(self, server: &Server, row: &mut Row) {
        row.wall_ms = self.started.elapsed().as_secs_f64() * 1000.0;
        let (s, d) = server.sample();
        let (up, down) = server.proxy.counters.read();
        let s = s.since(self.server);
        let d = d.since(self.db);
        row.server_cpu_s = s.cpu_s;
        row.db_cpu_s = d.cpu_s;
        row.disk_write_bytes = s.write_bytes + d.write_bytes;
        row.bytes_up = up - self.up;
        row.bytes_down = down - self.down;
        row.peak_rss = procstat::peak_rss(server.proc.pid());
    }
}

/// What a field-day run produced besides its rows: the day's data for the peers.
#[derive(Debug)]
pub struct FieldDayOutcome {
    /// W1, W2, W3 rows (W2 and W3 only when W1 converged).
    pub rows: Vec<Row>,
    /// The day's documents and edits.
    pub day: Vec<FieldDoc>,
}

/// One run of W1 (then W2 and W3 on the same server) on a fresh server over `db`.
/// `workload` names W1's row (`w1`, or `w4` for the district run).
pub async fn field_day(
    settings: &Settings,
    backend: Backend,
    db: &Database,
    run: usize,
    workload: &str,
    follow_up: bool,
) -> anyhow::Result<FieldDayOutcome> {
    let log = settings
        .work
        .join(format!("gridbook-{}-{workload}-{run}.log", backend.name()));
    let server = Server::start(settings, db, &log, backend).await?;
    let http = phone::http_client()?;
    let base = server.base.clone();

    // Set-up (not timed): device 1 records the grid and syncs; the others pull it.
    let mut phones = Vec::with_capacity(settings.devices);
    for d in 0..settings.devices {
        phones.push(
            Phone::sign_in(
                &http,
                &base,
                &format!("device-{d}"),
                "bench-worker",
                PASSWORD,
            )
            .await?,
        );
    }
    let place = Place {
        community: "bench".parse()?,
        grid: GRID.parse()?,
    };
    let created = Timestamp::from_millis(1_794_000_000_000);
    let mut ids: Vec<DocId> = Vec::with_capacity(settings.docs);
    for i in 0..settings.docs {
        ids.push(
            phones[0]
                .replica
                .create(&fieldday::household(&place, i), created)?,
        );
    }
    for p in phones.iter_mut() {
        p.sync(&http, &base).await?;
    }
    let initial: Vec<(DocId, Vec<u8>, Vec<automerge::ChangeHash>)> = ids
        .iter()
        .map(|id| {
            let doc = phones[1].replica.document(id).context("pulled")?;
            Ok((id.clone(), doc.save(), doc.heads()))
        })
        .collect::<anyhow::Result<_>>()?;
    for p in &phones[1..] {
        anyhow::ensure!(p.replica.doc_ids().len() >= settings.docs, "set-up pull");
    }

    // The day offline.
    for (d, p) in phones.iter_mut().enumerate() {
        for (i, id) in ids.iter().enumerate() {
            for e in 0..settings.edits {
                let note = fieldday::visit_note(d, e, i);
                p.replica
                    .update(id, fieldday::edit_time(d, e, i), |h: &mut Household| {
                        h.notes = note;
                    })?;
            }
        }
    }
    let day = fieldday::collect(&phones, &initial)?;
    let expected: Vec<(DocId, Vec<automerge::ChangeHash>)> = day
        .iter()
        .map(|d| (d.id.clone(), d.merged_heads.clone()))
        .collect();

    // W1: everyone reconnects at once.
    for p in phones.iter_mut() {
        p.reset_counters();
    }
    let mut row = Row {
        system: "gridbook".into(),
        backend: backend.name().into(),
        workload: workload.into(),
        run,
        devices: settings.devices,
        total_pairs: settings.devices * settings.docs,
        ..Row::default()
    };
    let phase = Phase::start(&server);
    let deadline = Instant::now() + settings.timeout;
    let mut tasks = Vec::with_capacity(phones.len());
    for mut p in phones {
        let http = http.clone();
        let base = base.clone();
        let expected = expected.clone();
        let wait_ms = settings.wait_ms;
        tasks.push(tokio::spawn(async move {
            // The first round trip pushes the day's edits; while the others' changes are
            // still missing the device waits for them with long polls.
            let mut errors = 0u64;
            let mut wait = None;
            loop {
                match p.round_trip(&http, &base, wait).await {
                    Ok(trip) if trip.sync_again => continue,
                    Ok(_) => {}
                    Err(e) => {
                        errors += 1;
                        eprintln!("  {e:#}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
                if phone::converged_pairs(&p, &expected) == expected.len()
                    || Instant::now() > deadline
                {
                    break;
                }
                wait = Some(wait_ms);
            }
            (p, errors)
        }));
    }
    let mut phones = Vec::with_capacity(tasks.len());
    for t in tasks {
        let (p, errors) = t.await?;
        row.errors += errors;
        phones.push(p);
    }
    phase.finish(&server, &mut row);
    let mut trips: Vec<f64> = phones.iter().map(|p| f64::from(p.round_trips)).collect();
    row.round_trips_max = phones.iter().map(|p| p.round_trips).max().unwrap_or(0);
    row.round_trips_median = crate::report::median(&mut trips);
    row.converged_pairs = phones
        .iter()
        .map(|p| phone::converged_pairs(p, &expected))
        .sum();
    let converged = row.converged();
    let mut rows = vec![row];

    if follow_up && converged {
        // W2 and W3 after W1; after W4 (the city stored) as `w4-w2` and `w4-w3`.
        let label = |w: &str| {
            if workload == "w1" {
                w.to_owned()
            } else {
                format!("{workload}-{w}")
            }
        };
        let mut again = nothing_new(&server, &http, &mut phones, backend, run, &expected).await?;
        again.workload = label("w2");
        rows.push(again);
        let mut first = first_sync(&server, &http, backend, run, &expected).await?;
        first.workload = label("w3");
        rows.push(first);
    }
    server.proc.stop()?;
    Ok(FieldDayOutcome { rows, day })
}

/// W2: every device syncs again with nothing changed.
async fn nothing_new(
    server: &Server,
    http: &reqwest::Client,
    phones: &mut [Phone],
    backend: Backend,
    run: usize,
    expected: &[(DocId, Vec<automerge::ChangeHash>)],
) -> anyhow::Result<Row> {
    for p in phones.iter_mut() {
        p.reset_counters();
    }
    let mut row = Row {
        system: "gridbook".into(),
        backend: backend.name().into(),
        workload: "w2".into(),
        run,
        devices: phones.len(),
        total_pairs: phones.len() * expected.len(),
        ..Row::default()
    };
    let phase = Phase::start(server);
    let results = join_all(phones.iter_mut().map(|p| p.sync(http, &server.base))).await;
    phase.finish(server, &mut row);
    row.errors = results.iter().filter(|r| r.is_err()).count() as u64;
    row.round_trips_max = phones.iter().map(|p| p.round_trips).max().unwrap_or(0);
    row.converged_pairs = phones
        .iter()
        .map(|p| phone::converged_pairs(p, expected))
        .sum();
    Ok(row)
}

/// W3: a new phone pulls the whole grid.
async fn first_sync(
    server: &Server,
    http: &reqwest::Client,
    backend: Backend,
    run: usize,
    expected: &[(DocId, Vec<automerge::ChangeHash>)],
) -> anyhow::Result<Row> {
    let mut p = Phone::sign_in(http, &server.base, "new-phone", "bench-worker", PASSWORD).await?;
    let mut row = Row {
        system: "gridbook".into(),
        backend: backend.name().into(),
        workload: "w3".into(),
        run,
        devices: 1,
        total_pairs: expected.len(),
        ..Row::default()
    };
    let phase = Phase::start(server);
    let result = p.sync(http, &server.base).await;
    phase.finish(server, &mut row);
    if let Err(e) = result {
        row.errors += 1;
        row.note = format!("{e:#}");
    }
    row.round_trips_max = p.round_trips;
    row.converged_pairs = phone::converged_pairs(&p, expected);
    Ok(row)
}

/// Fails when `gridbook` is missing, with how to build it.
pub fn check_binary(path: &Path) -> anyhow::Result<()> {
    if !path.exists() {
        bail!(
            "{} is missing: build it with `cargo build --release -p gridbook-server -p gridbook-bench` (scripts/bench does)",
            path.display()
        );
    }
    Ok(())
}

/// A load phone's worker: their login (= their grid's code) and their grid's community.
#[derive(Debug, Clone)]
pub struct LoadLogin {
    /// The login, also the grid's code.
    pub login: String,
    /// The grid's community.
    pub community: CommunityId,
}

/// Writes `grids` load grids (`load-0001`, ...) with one grid worker each (login = grid code,
/// password [`PASSWORD`], hashed once), spread over `streets` streets of one community each
/// (street and community `load` when there is one, `load-01`, ... otherwise).
pub async fn seed_load(url: &str, grids: usize, streets: usize) -> anyhow::Result<Vec<LoadLogin>> {
    let db = Db::connect(url).await?;
    db.migrate().await?;
    let streets = streets.clamp(1, grids.max(1));
    let mut communities = Vec::with_capacity(streets);
    for s in 1..=streets {
        let code = if streets == 1 {
            "load".to_owned()
        } else {
            format!("load-{s:02}")
        };
        let street: StreetId = code.parse()?;
        let community: CommunityId = code.parse()?;
        places::upsert_street(&db, &street, &format!("负载{s}街道")).await?;
        places::upsert_community(&db, &community, &street, &format!("负载{s}社区")).await?;
        communities.push(community);
    }
    let hash =
        tokio::task::spawn_blocking(|| gridbook_server::accounts::hash_password(PASSWORD)).await?;
    let mut logins = Vec::with_capacity(grids);
    for n in 1..=grids {
        let code = format!("load-{n:04}");
        let grid: GridId = code.parse()?;
        let community = communities[(n - 1) % streets].clone();
        places::upsert_grid(&db, &grid, &community, &format!("负载第{n}网格")).await?;
        gridbook_server::accounts::create_user_with_hash(
            &db,
            NewUser {
                login: code.clone(),
                display_name: format!("负载网格员{n}"),
                password: String::new(),
                role: Role::GridWorker,
                street: None,
                community: None,
                grid: Some(grid),
                liaison_group: None,
                department: None,
            },
            &hash,
        )
        .await?;
        logins.push(LoadLogin {
            login: code,
            community,
        });
    }
    db.close().await;
    Ok(logins)
}

/// Load phones' set-up: phone `n` signs in as `logins[n]` through `bases[n % bases.len()]`
/// (one after another: sign-ins in flight from one address count against its failure budget
/// until they succeed), then records `households` households of its grid and syncs them.
/// The phones with their households' ids, their counters reset.
pub async fn load_phones(
    http: &reqwest::Client,
    bases: &[String],
    logins: &[LoadLogin],
    households: usize,
) -> anyhow::Result<Vec<(Phone, Vec<DocId>)>> {
    let mut signed_in = Vec::with_capacity(logins.len());
    for (n, l) in logins.iter().enumerate() {
        let base = &bases[n % bases.len()];
        signed_in.push((
            Phone::sign_in(http, base, &l.login, &l.login, PASSWORD).await?,
            l.clone(),
            base.clone(),
        ));
    }
    let mut setup = Vec::with_capacity(logins.len());
    for (mut p, l, base) in signed_in {
        let http = http.clone();
        setup.push(tokio::spawn(async move {
            let place = Place {
                community: l.community,
                grid: l.login.parse()?,
            };
            let created = Timestamp::from_millis(1_794_000_000_000);
            let mut ids = Vec::with_capacity(households);
            for i in 0..households {
                ids.push(p.replica.create(&fieldday::household(&place, i), created)?);
            }
            p.sync(&http, &base).await?;
            p.reset_counters();
            anyhow::Ok((p, ids))
        }));
    }
    let mut phones = Vec::with_capacity(setup.len());
    for t in setup {
        phones.push(t.await??);
    }
    Ok(phones)
}

/// A load phone's `k`-th push: phone `n` edits one of its households (`ids`) and syncs with
/// `base`. Whether it went through (an error is printed).
pub async fn push_one_edit(
    p: &mut Phone,
    ids: &[DocId],
    n: usize,
    k: usize,
    http: &reqwest::Client,
    base: &str,
) -> bool {
    let i = (n * 7 + k) % ids.len();
    let note = fieldday::visit_note(n % 3, k, i);
    let at = fieldday::edit_time(0, k, i);
    if p.replica
        .update(&ids[i], at, |h: &mut Household| h.notes = note)
        .is_err()
    {
        return false;
    }
    match p.round_trip(http, base, None).await {
        Ok(_) => true,
        Err(e) => {
            eprintln!("  {e:#}");
            false
        }
    }
}

/// W5: `phones` phones, each on a grid of its own with `households` households, sync for
/// `secs`: each round trip pushes one edited household. Latency p50/p99 over all round trips.
pub async fn load(
    settings: &Settings,
    backend: Backend,
    db: &Database,
    run: usize,
    logins: &[LoadLogin],
    households: usize,
    secs: u64,
) -> anyhow::Result<Row> {
    let phones_n = logins.len();
    let log = settings.work.join(format!(
        "gridbook-{}-w5-{phones_n}-{run}.log",
        backend.name()
    ));
    let server = Server::start(settings, db, &log, backend).await?;
    let http = phone::http_client()?;
    let base = server.base.clone();

    let phones = load_phones(&http, std::slice::from_ref(&base), logins, households).await?;

    let mut row = Row {
        system: "gridbook".into(),
        backend: backend.name().into(),
        workload: format!("w5-{phones_n}"),
        run,
        devices: phones_n,
        ..Row::default()
    };
    let phase = Phase::start(&server);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::with_capacity(phones_n);
    for (n, (mut p, ids)) in phones.into_iter().enumerate() {
        let http = http.clone();
        let base = base.clone();
        tasks.push(tokio::spawn(async move {
            let mut errors = 0u64;
            let mut k = 0usize;
            while Instant::now() < deadline {
                if !push_one_edit(&mut p, &ids, n, k, &http, &base).await {
                    errors += 1;
                }
                k += 1;
            }
            let pending = p.replica.pending().len();
            (p.latencies, errors, pending)
        }));
    }
    let mut latencies: Vec<f64> = Vec::new();
    for t in tasks {
        let (l, errors, pending) = t.await?;
        row.errors += errors;
        row.converged_pairs += usize::from(pending == 0);
        latencies.extend(l.iter().map(|d| d.as_secs_f64() * 1000.0));
    }
    row.total_pairs = phones_n;
    phase.finish(&server, &mut row);
    latencies.sort_by(f64::total_cmp);
    row.requests = Some(latencies.len() as u64);
    row.p50_ms = Some(crate::report::quantile(&latencies, 0.50));
    row.p99_ms = Some(crate::report::quantile(&latencies, 0.99));
    server.proc.stop()?;
    Ok(row)
}
