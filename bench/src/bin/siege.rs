//! `gridbook-siege`: issue 14's outside tester, replayed. Starts the real `gridbook serve --demo`
//! (release build, SQLite by default) and runs, one after another:
//!
//! 1. a record nested 300 (and 5,000) levels deep, pushed by a grid worker's device;
//! 2. 2,000 idle TCP connections held open;
//! 3. 160 parallel gzip bodies of ~31 KB to `POST /v1/auth/login`, each inflating to ~31 MiB;
//! 4. a record given 24,000 tiny changes, then its history read by a supervisor;
//! 5. SIGTERM while idle clients, a half-sent request and a long poll are connected.
//!
//! After each, a grid worker's phone makes a normal sync (something new to push, then
//! nothing new) and must be answered within 1 s; the server's peak memory is read from
//! `/proc`. `scripts/siege` builds and runs it; the figures go to `docs/RELIABILITY.md`.

#[path = "../phone.rs"]
#[allow(dead_code)]
mod phone;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use automerge::transaction::Transactable;
use automerge::{ObjType, ROOT};
use clap::Parser;
use serde_json::{Value, json};
use sync_core::doc::{Author, Document, actor_for_device};
use sync_core::models::household::{Address, Household};
use sync_core::protocol::{self, Bytes, DocPush, DocStatus, SyncRequest};
use sync_core::record::Place;
use sync_core::time::Timestamp;
use sync_core::validate::ValidationContext;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::phone::{Phone, http_client};

const PASSWORD: &str = "gridbook-demo";
const WORKER: &str = "dzk-01";
const SUPERVISOR: &str = "dzk-sup";

#[derive(Parser, Debug)]
#[command(
    name = "gridbook-siege",
    about = "Issue 14's attacks against the real server"
)]
struct Args {
    /// The `gridbook` binary.
    #[arg(long, default_value = "target/release/gridbook")]
    gridbook: PathBuf,
    /// Folder for the database and the server's log (kept, so a second run skips the demo load).
    #[arg(long, default_value = "target/siege")]
    workdir: PathBuf,
    /// Database URL (default: a SQLite file in the work folder).
    #[arg(long)]
    database_url: Option<String>,
    /// Port to listen on.
    #[arg(long, default_value_t = 18_480)]
    port: u16,
    /// Idle connections to hold.
    #[arg(long, default_value_t = 2_000)]
    idle: usize,
    /// Parallel gzip bodies to the login route.
    #[arg(long, default_value_t = 160)]
    bombs: usize,
    /// Tiny changes given to one record before its history is read.
    #[arg(long, default_value_t = 24_000)]
    changes: usize,
}

struct Server {
    child: Option<Child>,
    base: String,
    args: Vec<String>,
    gridbook: PathBuf,
    log: PathBuf,
}

impl Server {
    fn start(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        // With the soft open-files limit most machines start processes with (1,024), as
        // the tester had it: the server must raise its own.
        let child = Command::new("sh")
            .arg("-c")
            .arg("ulimit -Sn 1024 && exec \"$0\" \"$@\"")
            .arg(&self.gridbook)
            .args(&self.args)
            .stdout(log.try_clone()?)
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", self.gridbook.display()))?;
        self.child = Some(child);
        Ok(())
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    async fn wait_ready(&mut self, http: &reqwest::Client) -> anyhow::Result<()> {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(600) {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                bail!("the server exited ({status}); see {}", self.log.display());
            }
            if let Ok(r) = http.get(format!("{}/ready", self.base)).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        bail!("the server did not become ready")
    }

    /// Peak and current resident memory, MiB.
    fn memory(&self) -> (f64, f64) {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
                .map_or(0.0, |kb| kb / 1024.0)
        };
        (field("VmHWM:"), field("VmRSS:"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// One line of the report.
struct Line {
    attack: String,
    outcome: String,
    after_ms: f64,
    peak_mib: f64,
}

/// A normal sync of the worker's phone: one edit pushed, then a nothing-new round trip. The
/// slower of the two, in milliseconds.
async fn normal_sync(
    phone: &mut Phone,
    http: &reqwest::Client,
    base: &str,
    household: &sync_core::ids::DocId,
    n: usize,
) -> anyhow::Result<f64> {
    phone
        .replica
        .update::<Household, _>(household, now(), |h| {
            h.notes = format!("siege check {n}");
        })?;
    let mut slowest = 0.0_f64;
    for _ in 0..2 {
        let started = Instant::now();
        tokio::time::timeout(Duration::from_secs(30), phone.round_trip(http, base, None))
            .await
            .context("a normal sync got no answer within 30 s")??;
        slowest = slowest.max(started.elapsed().as_secs_f64() * 1000.0);
    }
    ensure!(
        phone.replica.pending().is_empty(),
        "the normal sync left edits pending"
    );
    Ok(slowest)
}

fn now() -> Timestamp {
    Timestamp::from_millis(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
    )
}

async fn sign_in(
    http: &reqwest::Client,
    base: &str,
    login: &str,
) -> anyhow::Result<(String, sync_core::ids::DeviceId, Value)> {
    let body: Value = http
        .post(format!("{base}/v1/auth/login"))
        .json(&json!({ "login": login, "password": PASSWORD, "device_name": "siege" }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let token = body["access_token"].as_str().context("token")?.to_owned();
    let device = body["device_id"].as_str().context("device")?.parse()?;
    Ok((token, device, body))
}

fn gzip(bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(bytes)?;
    Ok(gz.finish()?)
}

async fn post_sync(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    request: &SyncRequest,
) -> anyhow::Result<protocol::SyncResponse> {
    let response = http
        .post(format!("{base}/v1/sync"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(gzip(&protocol::encode_request(request))?)
        .send()
        .await?;
    let status = response.status();
    let bytes = response.bytes().await?;
    ensure!(
        status.is_success(),
        "sync answered {status}: {}",
        String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
    );
    protocol::decode_response(&bytes).map_err(|e| anyhow::anyhow!("{e}"))
}

/// Attack 1: records nested 300 and 5,000 levels deep.
async fn deep_documents(
    http: &reqwest::Client,
    base: &str,
    place: &Place,
) -> anyhow::Result<String> {
    let (token, device, _) = sign_in(http, base, WORKER).await?;
    let mut said = Vec::new();
    for levels in [300, 5_000] {
        let author = Author::new(actor_for_device(&device), now());
        let mut doc = Document::create(
            &Household::new(place.clone(), address("深层", "1")),
            &author,
            &ValidationContext::default(),
        )?;
        let am = doc.automerge_mut();
        let mut tx = am.transaction();
        let mut obj = ROOT;
        for _ in 0..levels {
            obj = tx.put_object(&obj, "unknown", ObjType::Map)?;
        }
        tx.commit();
        let changes = doc.automerge().save_after(&[]);
        let request = SyncRequest::new(
            device.clone(),
            None,
            vec![DocPush {
                id: doc.id().clone(),
                kind: doc.kind(),
                base_heads: Vec::new(),
                changes: Bytes(changes.clone()),
            }],
        );
        let response = post_sync(http, base, &token, &request).await?;
        let result = &response.docs[0];
        ensure!(
            result.status == DocStatus::Rejected,
            "{levels} levels were not refused"
        );
        let code = result.error.as_ref().map_or("", |e| e.code.as_str());
        said.push(format!("{levels} levels ({} B): {code}", changes.len()));
    }
    Ok(said.join("; "))
}

/// Attack 2: `n` idle connections, held while the phone syncs; they are closed afterwards.
async fn idle_connections(addr: &str, n: usize) -> anyhow::Result<(Vec<TcpStream>, usize)> {
    let mut held = Vec::with_capacity(n);
    let mut refused = 0;
    for _ in 0..n {
        match TcpStream::connect(addr).await {
            Ok(stream) => held.push(stream),
            Err(_) => refused += 1,
        }
    }
    Ok((held, refused))
}

/// Attack 3: gzip bodies to the login route, all at once. Statuses seen.
async fn gzip_logins(http: &reqwest::Client, base: &str, n: usize) -> anyhow::Result<String> {
    // 31 MiB of one repeated byte inside a JSON string: ~31 KB gzipped.
    let mut body = br#"{"login":"dzk-01","password":""#.to_vec();
    body.resize(body.len() + 31 * 1024 * 1024, b'a');
    body.extend_from_slice(br#""}"#);
    let bomb = gzip(&body)?;
    let size = bomb.len();
    let sends = (0..n).map(|_| {
        let http = http.clone();
        let bomb = bomb.clone();
        let url = format!("{base}/v1/auth/login");
        tokio::spawn(async move {
            http.post(url)
                .header("content-type", "application/json")
                .header("content-encoding", "gzip")
                .body(bomb)
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        })
    });
    let mut statuses = std::collections::BTreeMap::new();
    for send in futures_util::future::join_all(sends).await {
        *statuses.entry(send.unwrap_or(0)).or_insert(0) += 1;
    }
    Ok(format!("{n} × {size} B gzip: statuses {statuses:?}"))
}

/// Attack 4: one record given `n` tiny changes (pushed as the protocol allows), then its
/// history read by the community supervisor.
async fn many_changes(
    http: &reqwest::Client,
    base: &str,
    place: &Place,
    n: usize,
) -> anyhow::Result<String> {
    let mut phone = Phone::sign_in(http, base, "siege-many", WORKER, PASSWORD).await?;
    let id = phone
        .replica
        .create(&Household::new(place.clone(), address("变更", "1")), now())?;
    for i in 0..n {
        phone.replica.update::<Household, _>(&id, now(), |h| {
            h.notes = format!("{i}");
        })?;
    }
    let started = Instant::now();
    phone.sync(http, base).await?;
    let pushed_ms = started.elapsed().as_secs_f64() * 1000.0;
    let (token, _, _) = sign_in(http, base, SUPERVISOR).await?;
    let started = Instant::now();
    let response = http
        .get(format!("{base}/v1/records/{id}/history"))
        .bearer_auth(&token)
        .send()
        .await?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let history_ms = started.elapsed().as_secs_f64() * 1000.0;
    ensure!(status.is_success(), "history answered {status}: {body}");
    let total = body["total"].as_u64().unwrap_or(0);
    let shown = body["entries"].as_array().map_or(0, Vec::len);
    Ok(format!(
        "{n} changes synced in {} round trips ({pushed_ms:.0} ms); history: a page of {shown} of {total} changes in {history_ms:.0} ms",
        phone.round_trips
    ))
}

/// Attack 5: SIGTERM with idle clients, a half-sent request and a long poll connected.
async fn sigterm(
    server: &mut Server,
    addr: &str,
    http: &reqwest::Client,
    token: &str,
    device: &sync_core::ids::DeviceId,
) -> anyhow::Result<String> {
    let (idle, _) = idle_connections(addr, 50).await?;
    let mut half = TcpStream::connect(addr).await?;
    half.write_all(
        b"POST /v1/sync HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n{\"protocol\":1,",
    )
    .await?;
    let mut poll = SyncRequest::new(device.clone(), None, Vec::new());
    poll.wait_ms = Some(25_000);
    let long_poll = {
        let http = http.clone();
        let url = format!("{}/v1/sync", server.base);
        let token = token.to_owned();
        let body = protocol::encode_request(&poll);
        tokio::spawn(async move {
            http.post(url)
                .bearer_auth(token)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .map(|r| r.status().as_u16())
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pid = server.pid();
    let started = Instant::now();
    let killed = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()?;
    ensure!(killed.success(), "kill -TERM failed");
    let child = server.child.as_mut().context("running")?;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() > Duration::from_secs(60) {
            bail!("the server had not exited 60 s after SIGTERM");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let exit_s = started.elapsed().as_secs_f64();
    server.child = None;
    let poll_status = long_poll.await.ok().and_then(Result::ok);
    drop((idle, half));
    Ok(format!(
        "exited ({status}) {exit_s:.1} s after SIGTERM; the long poll got {poll_status:?}"
    ))
}

fn address(compound: &str, room: &str) -> Address {
    Address {
        compound: compound.into(),
        building: "1".into(),
        unit: "1".into(),
        room: room.into(),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    std::fs::create_dir_all(&args.workdir)?;
    let database = args.database_url.clone().unwrap_or_else(|| {
        format!(
            "sqlite://{}",
            args.workdir.join("gridbook.db").to_string_lossy()
        )
    });
    let listen = format!("127.0.0.1:{}", args.port);
    let mut server = Server {
        child: None,
        base: format!("http://{listen}"),
        args: vec![
            "serve".into(),
            "--demo".into(),
            "--database-url".into(),
            database,
            "--listen".into(),
            listen.clone(),
        ],
        gridbook: args.gridbook.clone(),
        log: args.workdir.join("server.log"),
    };
    let http = http_client()?;
    server.start()?;
    server.wait_ready(&http).await?;
    let base = server.base.clone();

    // The phone whose normal sync is timed after each attack.
    let mut phone = Phone::sign_in(&http, &base, "siege-phone", WORKER, PASSWORD).await?;
    let started = Instant::now();
    phone.sync(&http, &base).await?;
    println!(
        "first sync of {WORKER}: {} records in {:.0} ms",
        phone.replica.doc_ids().len(),
        started.elapsed().as_secs_f64() * 1000.0
    );
    let (_, _, me) = sign_in(&http, &base, WORKER).await?;
    let place = Place {
        community: me["user"]["community"].as_str().unwrap_or("dzk").parse()?,
        grid: me["user"]["grid"]
            .as_str()
            .context("the worker's grid")?
            .parse()?,
    };
    let household = phone
        .replica
        .create(&Household::new(place.clone(), address("围攻", "1")), now())?;
    let mut lines = Vec::new();
    let mut check = |attack: &str, outcome: String, after_ms: f64, server: &Server| {
        let (peak, _) = server.memory();
        println!(
            "{attack}: {outcome}; normal sync after: {after_ms:.0} ms; peak RSS {peak:.0} MiB"
        );
        lines.push(Line {
            attack: attack.to_owned(),
            outcome,
            after_ms,
            peak_mib: peak,
        });
    };

    let after = normal_sync(&mut phone, &http, &base, &household, 0).await?;
    check("baseline", "-".into(), after, &server);

    let outcome = deep_documents(&http, &base, &place).await?;
    let after = normal_sync(&mut phone, &http, &base, &household, 1).await?;
    check("deep documents", outcome, after, &server);

    let (held, refused) = idle_connections(&listen, args.idle).await?;
    let during = normal_sync(&mut phone, &http, &base, &household, 2).await?;
    drop(held);
    check(
        "idle connections",
        format!(
            "{} held open ({refused} refused at connect); normal sync while held: {during:.0} ms",
            args.idle - refused
        ),
        normal_sync(&mut phone, &http, &base, &household, 3).await?,
        &server,
    );

    let (_, rss_before) = server.memory();
    let outcome = gzip_logins(&http, &base, args.bombs).await?;
    let (peak, _) = server.memory();
    let after = normal_sync(&mut phone, &http, &base, &household, 4).await?;
    check(
        "gzip login storm",
        format!("{outcome}; RSS {rss_before:.0} MiB before, peak {peak:.0} MiB"),
        after,
        &server,
    );

    let outcome = many_changes(&http, &base, &place, args.changes).await?;
    let after = normal_sync(&mut phone, &http, &base, &household, 5).await?;
    check("many changes + history", outcome, after, &server);

    let (token, device, _) = sign_in(&http, &base, WORKER).await?;
    let outcome = sigterm(&mut server, &listen, &http, &token, &device).await?;
    server.start()?;
    server.wait_ready(&http).await?;
    let after = normal_sync(&mut phone, &http, &base, &household, 6).await?;
    check("SIGTERM with clients", outcome, after, &server);

    println!();
    println!("| attack | what happened | normal sync after | server peak RSS |");
    println!("|---|---|---|---|");
    for line in &lines {
        println!(
            "| {} | {} | {:.0} ms | {:.0} MiB |",
            line.attack, line.outcome, line.after_ms, line.peak_mib
        );
    }
    let slow: Vec<&Line> = lines.iter().filter(|l| l.after_ms > 1000.0).collect();
    if !slow.is_empty() {
        bail!(
            "a normal sync took over 1 s after: {}",
            slow.iter()
                .map(|l| l.attack.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    println!("\nthe server survived every attack and answered a normal sync within 1 s after each");
    Ok(())
}
