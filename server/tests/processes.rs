//! The real `gridbook` binary as child processes on the small demo street, with phones built on
//! sync-core syncing over HTTP:
//!
//! * **Crash**: the server is SIGKILLed again and again while four phones (two devices on each
//!   of two grids) edit and sync, on SQLite and on PostgreSQL. After every restart each change
//!   whose sync response reached a phone is still stored, the database is sound, and in the
//!   end all phones converge.
//! * **Two nodes**: two server processes on one PostgreSQL database, phones syncing through
//!   both at random. One node holds every writing transaction open after it took its sequence
//!   number, so a writer on the other node overlaps it; no phone's cursor may miss a change.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use automerge::{ChangeHash, ReadDoc};
use serde_json::Value;
use sync_core::client::Replica;
use sync_core::ids::{DeviceId, DocId};
use sync_core::models::household::Household;
use sync_core::protocol::{Bytes, DocPush, DocStatus, SyncRequest, SyncResponse};
use sync_core::record::RecordKind;
use sync_core::time::Timestamp;
use sync_core::validate::ValidationContext;
use tokio::sync::Mutex;

const PASSWORD: &str = "gridbook-demo";
const KILLS: usize = 6;

fn gridbook() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gridbook"))
}

/// The server process on a fixed port.
struct Server {
    url: String,
    listen: String,
    database: String,
    log: std::path::PathBuf,
    /// Extra `serve` arguments.
    extra: Vec<String>,
    child: Option<Child>,
}

impl Server {
    fn start(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        // In the test's folder: a PostgreSQL node's default key file (gridbook.jwt-keys in
        // the working folder) is made there, shared by the nodes of one test.
        let folder = self.log.parent().unwrap_or(std::path::Path::new("."));
        let child = gridbook()
            .current_dir(folder)
            .args([
                "serve",
                "--database-url",
                &self.database,
                "--listen",
                &self.listen,
            ])
            .args(&self.extra)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        self.child = Some(child);
        Ok(())
    }

    fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill()?; // SIGKILL
            child.wait()?;
        }
        Ok(())
    }

    async fn wait_ready(&self, http: &reqwest::Client) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(r) = http.get(format!("{}/ready", self.url)).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("the server did not become ready")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A phone: a replica and a session.
struct Phone {
    name: String,
    token: String,
    replica: Replica,
    /// Every (record, heads) a sync response confirmed to this phone.
    confirmed: Vec<(DocId, Vec<ChangeHash>)>,
    /// Why the last failed round trip failed.
    last_failure: String,
}

async fn login(
    http: &reqwest::Client,
    url: &str,
    login: &str,
) -> anyhow::Result<(String, DeviceId)> {
    let body: Value = http
        .post(format!("{url}/v1/auth/login"))
        .json(&serde_json::json!({ "login": login, "password": PASSWORD, "device_name": "crash test" }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok((
        body["access_token"].as_str().context("token")?.to_owned(),
        body["device_id"].as_str().context("device")?.parse()?,
    ))
}

impl Phone {
    /// One round trip. `Ok(false)` when the server was unreachable or failed (retry later).
    async fn round_trip(&mut self, http: &reqwest::Client, url: &str) -> anyhow::Result<bool> {
        let request: SyncRequest = self.replica.build_request();
        let sent = http
            .post(format!("{url}/v1/sync"))
            .bearer_auth(&self.token)
            .json(&request)
            .timeout(Duration::from_secs(30))
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(e) => {
                self.last_failure = e.to_string();
                return Ok(false);
            }
        };
        let status = response.status();
        if status.is_server_error() {
            self.last_failure = format!("{status}: {}", response.text().await.unwrap_or_default());
            return Ok(false);
        }
        ensure!(status.is_success(), "{}: sync answered {status}", self.name);
        let Ok(body) = response.bytes().await else {
            return Ok(false);
        };
        let response: SyncResponse = serde_json::from_slice(&body)?;
        let report = self.replica.apply_response(&request, &response)?;
        for (id, _) in &report.docs {
            if let Some(heads) = self.replica.base_heads(id)
                && !heads.is_empty()
            {
                self.confirmed.push((id.clone(), heads.to_vec()));
            }
        }
        Ok(true)
    }

    /// Syncs until nothing is due, retrying through outages (up to `patience`).
    async fn sync(
        &mut self,
        http: &reqwest::Client,
        url: &str,
        patience: Duration,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + patience;
        loop {
            if self.round_trip(http, url).await? {
                let pending = self.replica.pending();
                if pending.is_empty() {
                    return Ok(());
                }
                if let Some(refusal) = pending.iter().find_map(|id| self.replica.rejection(id)) {
                    self.last_failure = format!("refused: {} {}", refusal.code, refusal.message);
                }
            } else {
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
            ensure!(
                Instant::now() < deadline,
                "{}: no sync within {patience:?} (last failure: {})",
                self.name,
                self.last_failure
            );
        }
    }

    /// Tags one household.
    fn tag(&mut self, id: &DocId, tag: &str) -> anyhow::Result<()> {
        let tag = format!("{}-{tag}", self.name);
        let at = Timestamp::from_millis(1_790_000_000_000);
        self.replica
            .update(id, at, |h: &mut Household| h.tags.push(tag))?;
        Ok(())
    }

    /// Tags a random household of the grid (an edit every phone sees as a list insert).
    fn edit(&mut self, n: usize) -> anyhow::Result<()> {
        let ids: Vec<DocId> = self
            .replica
            .doc_ids()
            .into_iter()
            .filter(|id| {
                self.replica
                    .document(id)
                    .is_some_and(|d| d.kind() == RecordKind::Household)
            })
            .collect();
        ensure!(!ids.is_empty(), "{}: no households", self.name);
        let id = ids[rand::random_range(0..ids.len())].clone();
        let tag = format!("{}-{n}", self.name);
        let at = Timestamp::from_millis(1_780_000_000_000 + n as i64);
        self.replica
            .update(&id, at, |h: &mut Household| h.tags.push(tag))?;
        Ok(())
    }
}

async fn run(database: String, dir: &Path) -> anyhow::Result<()> {
    let status = gridbook()
        .args(["demo", "--small", "--database-url", &database])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    ensure!(status.success(), "loading the small demo failed");
    let port = free_port()?;
    let mut server = Server {
        url: format!("http://127.0.0.1:{port}"),
        listen: format!("127.0.0.1:{port}"),
        database: database.clone(),
        log: dir.join("server.log"),
        extra: Vec::new(),
        child: None,
    };
    server.start()?;
    let http = reqwest::Client::builder().build()?;
    server.wait_ready(&http).await?;
    let url = server.url.clone();

    let mut phones = Vec::new();
    for (name, grid) in [
        ("a1", "dzk-01"),
        ("a2", "dzk-01"),
        ("b1", "dzk-02"),
        ("b2", "dzk-02"),
    ] {
        let (token, device) = login(&http, &url, grid).await?;
        let mut phone = Phone {
            name: name.to_owned(),
            token,
            replica: Replica::new(device, ValidationContext::default()),
            confirmed: Vec::new(),
            last_failure: String::new(),
        };
        phone.sync(&http, &url, Duration::from_secs(30)).await?;
        phones.push(Arc::new(Mutex::new(phone)));
    }

    // Phones edit and sync until the killer is done.
    let stop = Arc::new(AtomicBool::new(false));
    let round_trips = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for phone in &phones {
        let (phone, stop, http, url, trips) = (
            phone.clone(),
            stop.clone(),
            http.clone(),
            url.clone(),
            round_trips.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let mut p = phone.lock().await;
                for _ in 0..3 {
                    p.edit(n)?;
                    n += 1;
                }
                if p.round_trip(&http, &url).await? {
                    trips.fetch_add(1, Ordering::Relaxed);
                } else {
                    drop(p);
                    tokio::time::sleep(Duration::from_millis(30)).await;
                }
            }
            anyhow::Ok(n)
        }));
    }

    // The killer: SIGKILL at random moments, restart, and check after each restart that what
    // the phones were told is stored is stored.
    for kill in 0..KILLS {
        let wait = rand::random_range(150..600);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        server.kill()?;
        if database.starts_with("sqlite:") {
            check_sqlite_integrity(&database).await?;
        }
        server.start()?;
        server.wait_ready(&http).await?;
        let confirmed: Vec<(DocId, Vec<ChangeHash>)> = {
            let mut all = Vec::new();
            for phone in &phones {
                all.extend(phone.lock().await.confirmed.iter().cloned());
            }
            all
        };
        check_stored(&http, &url, &confirmed)
            .await
            .with_context(|| format!("after kill {}", kill + 1))?;
    }
    stop.store(true, Ordering::Relaxed);
    let mut edits = 0;
    for task in tasks {
        edits += task.await??;
    }
    ensure!(
        round_trips.load(Ordering::Relaxed) >= KILLS,
        "the phones hardly synced"
    );

    // Everyone syncs until quiet; phones of one grid hold the same heads.
    for _ in 0..2 {
        for phone in &phones {
            phone
                .lock()
                .await
                .sync(&http, &url, Duration::from_secs(30))
                .await?;
        }
    }
    for pair in phones.chunks(2) {
        let (a, b) = (pair[0].lock().await, pair[1].lock().await);
        ensure!(
            a.replica.doc_ids() == b.replica.doc_ids(),
            "{} and {} hold other records",
            a.name,
            b.name
        );
        for id in a.replica.doc_ids() {
            let ha = a.replica.document(&id).map(|d| d.heads());
            let hb = b.replica.document(&id).map(|d| d.heads());
            ensure!(ha == hb, "{} and {} differ on {id}", a.name, b.name);
        }
    }
    server.kill()?;

    // The log never shows personal data: no ID number or phone of any resident the phones hold.
    let log = std::fs::read_to_string(&server.log)?;
    let mut secrets = Vec::new();
    for phone in &phones {
        let p = phone.lock().await;
        for id in p.replica.doc_ids() {
            if let Some(Ok(h)) = p.replica.document(&id).map(|d| d.read::<Household>()) {
                for r in h.residents {
                    secrets.extend(r.id_number);
                    secrets.extend(r.phone);
                }
            }
        }
    }
    ensure!(
        secrets.len() > 20,
        "the demo grids hold residents with ID numbers"
    );
    for secret in &secrets {
        ensure!(
            !log.contains(secret.as_str()),
            "the server log shows personal data"
        );
    }
    println!(
        "{edits} edits, {} round trips, {KILLS} kills",
        round_trips.load(Ordering::Relaxed)
    );
    Ok(())
}

/// SQLite's own check of the file the killed server left.
async fn check_sqlite_integrity(database: &str) -> anyhow::Result<()> {
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(database).await?;
    let (verdict,): (String,) = sqlx::query_as("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await?;
    conn.close().await?;
    ensure!(verdict == "ok", "integrity_check: {verdict}");
    Ok(())
}

/// A fresh phone per grid pulls everything; every confirmed (record, heads) must be held.
async fn check_stored(
    http: &reqwest::Client,
    url: &str,
    confirmed: &[(DocId, Vec<ChangeHash>)],
) -> anyhow::Result<()> {
    let mut pulled: BTreeMap<DocId, automerge::Automerge> = BTreeMap::new();
    for grid in ["dzk-01", "dzk-02"] {
        let (token, device) = login(http, url, grid).await?;
        let mut fresh = Phone {
            name: format!("check-{grid}"),
            token,
            replica: Replica::new(device, ValidationContext::default()),
            confirmed: Vec::new(),
            last_failure: String::new(),
        };
        fresh.sync(http, url, Duration::from_secs(30)).await?;
        for id in fresh.replica.doc_ids() {
            if let Some(doc) = fresh.replica.document(&id) {
                pulled.insert(id, doc.automerge().clone());
            }
        }
    }
    for (id, heads) in confirmed {
        let doc = pulled
            .get(id)
            .with_context(|| format!("record {id} was confirmed but is gone"))?;
        ensure!(
            doc.get_missing_deps(heads).is_empty(),
            "record {id}: a confirmed change is gone"
        );
        let _ = doc.get_heads();
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_while_phones_sync_loses_nothing_on_sqlite() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let database = format!("sqlite://{}", dir.path().join("gridbook.db").display());
    run(database, dir.path()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_while_phones_sync_loses_nothing_on_postgres() -> anyhow::Result<()> {
    on_fresh_postgres("crash", |url, dir| async move { run(url, &dir).await }).await
}

/// Loads the small demo into `database` and starts a server on a free port.
async fn node(
    database: &str,
    log: std::path::PathBuf,
    extra: &[&str],
    http: &reqwest::Client,
) -> anyhow::Result<Server> {
    let port = free_port()?;
    let mut server = Server {
        url: format!("http://127.0.0.1:{port}"),
        listen: format!("127.0.0.1:{port}"),
        database: database.to_owned(),
        log,
        extra: extra.iter().map(|s| (*s).to_owned()).collect(),
        child: None,
    };
    server.start()?;
    server.wait_ready(http).await?;
    Ok(server)
}

async fn new_phone(
    http: &reqwest::Client,
    url: &str,
    name: &str,
    grid: &str,
) -> anyhow::Result<Phone> {
    let (token, device) = login(http, url, grid).await?;
    Ok(Phone {
        name: name.to_owned(),
        token,
        replica: Replica::new(device, ValidationContext::default()),
        confirmed: Vec::new(),
        last_failure: String::new(),
    })
}

/// Every document of `a` is in `b` with the same heads, and the other way round.
fn same_records(a: &Phone, b: &Phone) -> anyhow::Result<()> {
    ensure!(
        a.replica.doc_ids() == b.replica.doc_ids(),
        "{} and {} hold other records",
        a.name,
        b.name
    );
    for id in a.replica.doc_ids() {
        let ha = a.replica.document(&id).map(|d| d.heads());
        let hb = b.replica.document(&id).map(|d| d.heads());
        ensure!(ha == hb, "{} and {} differ on {id}", a.name, b.name);
    }
    Ok(())
}

async fn two_nodes(database: String, dir: &Path) -> anyhow::Result<()> {
    let status = gridbook()
        .args(["demo", "--small", "--database-url", &database])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    ensure!(status.success(), "loading the small demo failed");
    let http = reqwest::Client::builder().build()?;
    // Node 1 holds each writing transaction 800 ms after taking its sequence numbers.
    let slow = node(
        &database,
        dir.join("node1.log"),
        &["--fault-hold-write-ms", "800"],
        &http,
    )
    .await?;
    let fast = node(&database, dir.join("node2.log"), &[], &http).await?;
    let urls = [slow.url.clone(), fast.url.clone()];

    // The forced overlap: A writes through the slow node and holds sequence number N; C writes
    // the same grid through the fast node meanwhile; B reads through the fast node while A
    // still holds N. If C could commit N+1 before A commits N, B's cursor would pass N and
    // B would never receive A's change.
    let mut a = new_phone(&http, &urls[0], "a", "dzk-01").await?;
    let mut b = new_phone(&http, &urls[1], "b", "dzk-01").await?;
    let mut c = new_phone(&http, &urls[1], "c", "dzk-01").await?;
    for p in [&mut a, &mut b, &mut c] {
        p.sync(&http, &urls[1], Duration::from_secs(30)).await?;
    }
    let mut overlapped = false;
    for round in 0..3 {
        a.edit(1000 + round)?;
        c.edit(2000 + round)?;
        let (ha, hc) = (http.clone(), http.clone());
        let (ua, uc) = (urls[0].clone(), urls[1].clone());
        let writer_a = tokio::spawn(async move {
            let ok = a.round_trip(&ha, &ua).await?;
            anyhow::Ok((a, ok))
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        let writer_c = tokio::spawn(async move {
            let started = Instant::now();
            let ok = c.round_trip(&hc, &uc).await?;
            anyhow::Ok((c, ok, started.elapsed()))
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        ensure!(b.round_trip(&http, &urls[1]).await?, "b's read failed");
        let (a2, ok_a) = writer_a.await??;
        let (c2, ok_c, waited) = writer_c.await??;
        overlapped |= waited >= Duration::from_millis(300);
        ensure!(ok_a && ok_c, "a writer failed");
        a = a2;
        c = c2;
        // B reads on: everything A and C wrote must arrive.
        b.sync(&http, &urls[round % 2], Duration::from_secs(30))
            .await?;
        a.sync(&http, &urls[1], Duration::from_secs(30)).await?;
        c.sync(&http, &urls[1], Duration::from_secs(30)).await?;
        b.sync(&http, &urls[1], Duration::from_secs(30)).await?;
        same_records(&a, &b).with_context(|| format!("overlap round {round}"))?;
        same_records(&c, &b).with_context(|| format!("overlap round {round}"))?;
    }

    // A stale cache must not refuse a phone. Node 1 caches a household (A writes it there);
    // node 2 changes it (C); B pulls that change through node 2 and then pushes the whole
    // document (as after `need_full` or a restore) through node 1, whose cached copy lacks
    // C's change: the server must look again at the database, not call it a foreign change.
    let target = a
        .replica
        .doc_ids()
        .into_iter()
        .find(|id| {
            a.replica
                .document(id)
                .is_some_and(|d| d.kind() == RecordKind::Household)
        })
        .context("a household")?;
    a.tag(&target, "cached-on-node-1")?;
    ensure!(a.round_trip(&http, &urls[0]).await?, "a's write failed");
    c.sync(&http, &urls[1], Duration::from_secs(30)).await?;
    c.tag(&target, "written-on-node-2")?;
    c.sync(&http, &urls[1], Duration::from_secs(30)).await?;
    b.sync(&http, &urls[1], Duration::from_secs(30)).await?;
    let doc = b.replica.document(&target).context("b holds it")?;
    let full = SyncRequest::new(
        b.replica.device().clone(),
        b.replica.cursor().cloned(),
        vec![DocPush {
            id: target.clone(),
            kind: RecordKind::Household,
            base_heads: Vec::new(),
            changes: Bytes(doc.automerge().save_after(&[])),
        }],
    );
    let answer: SyncResponse = http
        .post(format!("{}/v1/sync", urls[0]))
        .bearer_auth(&b.token)
        .json(&full)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    ensure!(
        answer.docs[0].status == DocStatus::Ok,
        "a whole-document push through the node with the stale cache: {:?}",
        answer.docs[0]
    );

    // C's write really waited for A's open transaction at least once (a lower bound: the
    // lock cannot make it faster), so the overlap this test is about did happen.
    ensure!(overlapped, "the writers never overlapped");

    // Then four phones on two grids, each round trip through a random node, for a while.
    let mut phones = Vec::new();
    for (name, grid) in [
        ("p1", "dzk-01"),
        ("p2", "dzk-01"),
        ("q1", "dzk-02"),
        ("q2", "dzk-02"),
    ] {
        let mut p = new_phone(&http, &urls[1], name, grid).await?;
        p.sync(&http, &urls[1], Duration::from_secs(30)).await?;
        phones.push(p);
    }
    let deadline = Instant::now() + Duration::from_secs(8);
    let mut tasks = Vec::new();
    for mut p in phones {
        let (http, urls) = (http.clone(), urls.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0;
            while Instant::now() < deadline {
                p.edit(n)?;
                n += 1;
                let url = &urls[rand::random_range(0..2)];
                ensure!(
                    p.round_trip(&http, url).await?,
                    "{}: a round trip failed",
                    p.name
                );
            }
            anyhow::Ok(p)
        }));
    }
    let mut phones = Vec::new();
    for t in tasks {
        phones.push(t.await??);
    }
    for _ in 0..2 {
        for p in &mut phones {
            let url = &urls[rand::random_range(0..2)];
            p.sync(&http, url, Duration::from_secs(30)).await?;
        }
    }
    same_records(&phones[0], &phones[1])?;
    same_records(&phones[2], &phones[3])?;
    // A new phone per grid agrees with them: nothing stored is missing from their copies.
    let mut fresh = new_phone(&http, &urls[0], "fresh-1", "dzk-01").await?;
    fresh.sync(&http, &urls[0], Duration::from_secs(30)).await?;
    same_records(&fresh, &phones[0])?;
    // B, idle since the overlap rounds, catches up through the slow node.
    b.sync(&http, &urls[0], Duration::from_secs(30)).await?;
    same_records(&fresh, &b)?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_one_postgres_database_never_let_a_cursor_miss_a_change() -> anyhow::Result<()>
{
    on_fresh_postgres(
        "nodes",
        |url, dir| async move { two_nodes(url, &dir).await },
    )
    .await
}

/// Resident memory of a process, in KiB (Linux).
fn rss_kib(child: &Child) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id()))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS")
}

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

async fn load(database: String, dir: &Path, label: &str) -> anyhow::Result<()> {
    let status = gridbook()
        .args(["demo", "--small", "--database-url", &database])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    ensure!(status.success(), "loading the small demo failed");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;
    let server = node(&database, dir.join("load.log"), &[], &http).await?;
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
    let child = server.child.as_ref().context("server running")?;
    let before = rss_kib(child)?;
    let (phones, first) = load_burst(&http, &server.url, phones, secs).await?;
    let after_first = rss_kib(child)?;
    let (phones, second) = load_burst(&http, &server.url, phones, secs).await?;
    let after_second = rss_kib(child)?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = rss_kib(child)?;
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
    let dir = tempfile::tempdir()?;
    let database = format!("sqlite://{}", dir.path().join("gridbook.db").display());
    load(database, dir.path(), "SQLite").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_phones_load_postgres_without_errors_and_memory_stays_flat()
-> anyhow::Result<()> {
    on_fresh_postgres("load", |url, dir| async move {
        load(url, &dir, "PostgreSQL").await
    })
    .await
}

/// Runs `test` on a fresh PostgreSQL database (dropped afterwards) and a temporary folder;
/// skips when `GRIDBOOK_TEST_POSTGRES_URL` is not set.
async fn on_fresh_postgres<Fut>(
    prefix: &str,
    test: impl FnOnce(String, std::path::PathBuf) -> Fut,
) -> anyhow::Result<()>
where
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let Ok(admin) = std::env::var("GRIDBOOK_TEST_POSTGRES_URL") else {
        eprintln!("SKIPPED on PostgreSQL: GRIDBOOK_TEST_POSTGRES_URL is not set");
        return Ok(());
    };
    let name = format!("gridbook_{prefix}_{}", std::process::id());
    let (base, _) = admin.rsplit_once('/').context("URL without database")?;
    let pool = sqlx::PgPool::connect(&admin).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&pool)
        .await?;
    let dir = tempfile::tempdir()?;
    let result = test(format!("{base}/{name}"), dir.path().to_owned()).await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
    )))
    .execute(&pool)
    .await?;
    pool.close().await;
    result
}
