//! The real `gridbook serve` against hostile clients (issue 14), as an outside tester attacked
//! the release build:
//!
//! * **Idle connections past the open-files limit**: under `ulimit -n 256`, 1,100 idle
//!   connections must not stop the server from accepting and answering a normal request.
//! * **The open-files limit**: started with a soft limit below the hard one, the server raises
//!   its soft limit to the hard limit (read back from `/proc/<pid>/limits`).
//! * **SIGTERM with unfinished requests**: idle sockets, headers sent halfway, a body sent
//!   halfway, a kept-alive connection and an open long poll; the process exits within the
//!   grace period plus a margin, with a zero exit, and the long poll gets its answer.
//! * **Gzip and zstd bombs before sign-in**: many small bodies that inflate to 31 MiB each,
//!   sent at once to `POST /v1/auth/login` and `/refresh`, get `413 payload_too_large` and the
//!   process's peak memory (VmHWM) stays within a few MiB of what it was; a normal gzip
//!   sign-in still works.
//!
//! Each runs on SQLite and, with `GRIDBOOK_TEST_POSTGRES_URL`, on PostgreSQL (the open-files
//! test only on SQLite: it has nothing to store).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

const PASSWORD: &str = "a-long-password";

/// The binary, run in `dir` with none of the operator's `GRIDBOOK_*` settings.
fn gridbook(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gridbook"));
    command.current_dir(dir);
    for (name, _) in std::env::vars() {
        if name.starts_with("GRIDBOOK_") {
            command.env_remove(name);
        }
    }
    command.env("RUST_BACKTRACE", "0");
    command
}

/// Runs a command to success.
fn ok(command: &mut Command) -> anyhow::Result<()> {
    let out = command.stdin(Stdio::null()).output()?;
    ensure!(
        out.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A database with street `hp` and the street supervisor `wang`.
fn seed(dir: &Path, database: &str) -> anyhow::Result<()> {
    ok(gridbook(dir).args([
        "street",
        "add",
        "--code",
        "hp",
        "--name",
        "和平街道",
        "--database-url",
        database,
    ]))?;
    ok(gridbook(dir)
        .args(["user", "add", "--login", "wang", "--name", "王主任"])
        .args(["--role", "street_supervisor", "--street", "hp"])
        .args(["--database-url", database])
        .env("GRIDBOOK_PASSWORD", PASSWORD))
}

/// `gridbook serve` as a child process, killed when dropped.
struct Serving {
    child: Child,
    addr: String,
    url: String,
    log: PathBuf,
}

impl Serving {
    /// Starts `serve` on a free port; `shell` runs first in the same process (e.g. `ulimit`),
    /// which then becomes the server.
    fn start(
        dir: &Path,
        database: &str,
        shell: Option<&str>,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let port = free_port()?;
        let addr = format!("127.0.0.1:{port}");
        let log = dir.join(format!("serve-{port}.log"));
        let args = ["serve", "--database-url", database, "--listen", &addr];
        let mut command = match shell {
            None => {
                let mut command = gridbook(dir);
                command.args(args);
                command
            }
            Some(shell) => {
                let mut command = Command::new("bash");
                command
                    .current_dir(dir)
                    .arg("-c")
                    .arg(format!("{shell} && exec \"$0\" \"$@\""))
                    .arg(env!("CARGO_BIN_EXE_gridbook"))
                    .args(args);
                for (name, _) in std::env::vars() {
                    if name.starts_with("GRIDBOOK_") {
                        command.env_remove(name);
                    }
                }
                command
            }
        };
        let file = std::fs::File::create(&log)?;
        let child = command
            .envs(env.iter().copied())
            .env("GRIDBOOK_LOG", "info")
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()?;
        Ok(Self {
            child,
            url: format!("http://{addr}"),
            addr,
            log,
        })
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                bail!("the server exited with {status}: {}", self.log_text());
            }
            if let Ok(r) = http.get(format!("{}/ready", self.url)).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("the server did not become ready: {}", self.log_text())
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A field of `/proc/<pid>/status` in KiB (`VmHWM`, `VmRSS`).
    fn status_kib(&self, field: &str) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .with_context(|| format!("no {field} in /proc/{}/status", self.pid()))
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client that opens a new connection for each request, with a generous timeout.
fn fresh_client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(15))
        .build()?)
}

/// Signs `wang` in; the status and the body.
async fn sign_in(http: &reqwest::Client, url: &str, gzip: bool) -> anyhow::Result<(u16, Value)> {
    let body = json!({"login": "wang", "password": PASSWORD, "device_name": "hardening test"})
        .to_string()
        .into_bytes();
    let mut request = http
        .post(format!("{url}/v1/auth/login"))
        .header("content-type", "application/json");
    request = if gzip {
        request
            .header("content-encoding", "gzip")
            .body(gzip_bytes(&body)?)
    } else {
        request.body(body)
    };
    let response = request.send().await?;
    let status = response.status().as_u16();
    let text = response.text().await?;
    Ok((
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    ))
}

fn gzip_bytes(bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes)?;
    Ok(encoder.finish()?)
}

/// A zstd frame of RLE blocks that inflates to `size` spaces, declaring a 128 MiB window
/// (what the decoder may allocate for it); about 4 bytes per 128 KiB.
fn zstd_bomb(size: usize) -> Vec<u8> {
    const BLOCK: usize = 128 * 1024;
    let mut frame = vec![0x28, 0xb5, 0x2f, 0xfd];
    // Frame header descriptor: no content size, not single-segment, no checksum, no
    // dictionary; window descriptor: exponent 17 (2^27 bytes), mantissa 0.
    frame.extend([0x00, 17 << 3]);
    let mut left = size;
    while left > 0 {
        let n = left.min(BLOCK);
        left -= n;
        let last = u32::from(left == 0);
        // Block header: last-block bit, type 1 (RLE), size = repetitions of the one byte.
        let header = last | (1 << 1) | ((n as u32) << 3);
        frame.extend(&header.to_le_bytes()[..3]);
        frame.push(b' ');
    }
    frame
}

/// Reads until the server closes the connection (EOF or reset) or `bound` passes; how long it
/// took.
async fn until_closed(stream: &mut TcpStream, bound: Duration) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        let left = bound.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => bail!("the connection was still open after {bound:?}"),
            Ok(Ok(0) | Err(_)) => return Ok(started.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

/// Runs `test` on a fresh PostgreSQL database (dropped afterwards); skips when
/// `GRIDBOOK_TEST_POSTGRES_URL` is not set.
async fn on_fresh_postgres<Fut>(
    prefix: &str,
    test: impl FnOnce(String, PathBuf) -> Fut,
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
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
    )))
    .execute(&pool)
    .await?;
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

/// Runs `test` on a fresh SQLite file in a temporary folder.
async fn on_sqlite<Fut>(test: impl FnOnce(String, PathBuf) -> Fut) -> anyhow::Result<()>
where
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let dir = tempfile::tempdir()?;
    let database = format!("sqlite://{}", dir.path().join("gridbook.db").display());
    test(database, dir.path().to_owned()).await
}

// --- idle connections past the open-files limit ----------------------------------------------

async fn idle_connections_past_the_open_files_limit(
    database: String,
    dir: PathBuf,
) -> anyhow::Result<()> {
    seed(&dir, &database)?;
    // Soft and hard limit 256: the server cannot raise it.
    let mut server = Serving::start(&dir, &database, Some("ulimit -n 256"), &[])?;
    server.wait_ready().await?;
    let http = fresh_client()?;
    assert_eq!(sign_in(&http, &server.url, false).await?.0, 200);

    // 1,100 connections that never send a byte, as fast as they open: far more than the
    // process may have files open.
    let mut idle = Vec::new();
    for _ in 0..1100 {
        idle.push(TcpStream::connect(&server.addr).await?);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    // A normal request on a new connection is still accepted and answered.
    let health = http.get(format!("{}/health", server.url)).send().await;
    let health = health.map(|r| r.status().as_u16());
    ensure!(
        matches!(health, Ok(200)),
        "GET /health with 1,100 idle connections: {health:?}\n{}",
        server.log_text()
    );
    let (status, body) = sign_in(&http, &server.url, false).await?;
    assert_eq!(status, 200, "{body}");
    drop(idle);
    let log = server.log_text();
    assert!(
        !log.contains("Too many open files"),
        "the server ran out of files:\n{log}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_past_the_open_files_limit_leave_the_server_answering_on_sqlite()
-> anyhow::Result<()> {
    on_sqlite(idle_connections_past_the_open_files_limit).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_past_the_open_files_limit_leave_the_server_answering_on_postgres()
-> anyhow::Result<()> {
    on_fresh_postgres("idle", idle_connections_past_the_open_files_limit).await
}

// --- the open-files limit --------------------------------------------------------------------

/// The soft and hard `Max open files` of a process.
fn open_files_limits(pid: u32) -> anyhow::Result<(u64, u64)> {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits"))?;
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .context("no Max open files line")?;
    let mut numbers = line
        .trim_start_matches("Max open files")
        .split_whitespace()
        .map(|n| n.parse::<u64>());
    match (numbers.next(), numbers.next()) {
        (Some(Ok(soft)), Some(Ok(hard))) => Ok((soft, hard)),
        _ => bail!("unreadable: {line}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_raises_its_soft_open_files_limit_to_the_hard_limit() -> anyhow::Result<()> {
    let (_, hard) = open_files_limits(std::process::id())?;
    if hard <= 512 {
        eprintln!("SKIPPED: the hard open-files limit here is {hard}, nothing to raise");
        return Ok(());
    }
    on_sqlite(|database, dir| async move {
        let mut server = Serving::start(&dir, &database, Some("ulimit -S -n 512"), &[])?;
        server.wait_ready().await?;
        let (soft, child_hard) = open_files_limits(server.pid())?;
        assert_eq!(child_hard, hard, "the hard limit is inherited");
        assert_eq!(
            soft, hard,
            "the soft limit was not raised to the hard limit"
        );
        let log = server.log_text();
        assert!(
            log.contains("open-files limit")
                && log.contains("512")
                && log.contains(&hard.to_string()),
            "the log does not tell the limits:\n{log}"
        );
        Ok(())
    })
    .await
}

// --- SIGTERM with unfinished requests --------------------------------------------------------

/// The grace period the test sets, and the margin allowed on top (start-up of the shutdown,
/// closing the database, a loaded machine).
const GRACE_SECS: u64 = 2;
const MARGIN_SECS: u64 = 8;

async fn sigterm_with_unfinished_requests(database: String, dir: PathBuf) -> anyhow::Result<()> {
    seed(&dir, &database)?;
    let grace = GRACE_SECS.to_string();
    let mut server = Serving::start(
        &dir,
        &database,
        None,
        &[("GRIDBOOK_SHUTDOWN_GRACE_SECS", grace.as_str())],
    )?;
    server.wait_ready().await?;
    let http = fresh_client()?;
    let (status, session) = sign_in(&http, &server.url, false).await?;
    assert_eq!(status, 200, "{session}");
    let token = session["access_token"]
        .as_str()
        .context("token")?
        .to_owned();
    let device = session["device_id"].as_str().context("device")?.to_owned();

    // Idle sockets that never sent a byte.
    let mut idle = Vec::new();
    for _ in 0..20 {
        idle.push(TcpStream::connect(&server.addr).await?);
    }
    // Headers sent halfway.
    let mut slow_headers = TcpStream::connect(&server.addr).await?;
    slow_headers
        .write_all(b"GET /health HTTP/1.1\r\nHost: gridbook\r\nX-Slow: ")
        .await?;
    // A sign-in whose body stops halfway.
    let mut half_body = TcpStream::connect(&server.addr).await?;
    half_body
        .write_all(
            b"POST /v1/auth/login HTTP/1.1\r\nHost: gridbook\r\n\
              Content-Type: application/json\r\nContent-Length: 200\r\n\r\n{\"login\": \"wa",
        )
        .await?;
    // A kept-alive connection after one answered request.
    let mut kept = TcpStream::connect(&server.addr).await?;
    kept.write_all(b"GET /health HTTP/1.1\r\nHost: gridbook\r\n\r\n")
        .await?;
    let mut buf = [0u8; 1024];
    let n = kept.read(&mut buf).await?;
    ensure!(
        buf[..n].starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    // A long poll with nothing to wait for but its 25 s.
    let poll = {
        let (http, url) = (http.clone(), format!("{}/v1/sync", server.url));
        let body = json!({"protocol": 1, "device": device, "cursor": null, "docs": [],
                          "wait_ms": 25_000});
        tokio::spawn(async move {
            let response = http
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .timeout(Duration::from_secs(60))
                .send()
                .await?;
            let status = response.status().as_u16();
            anyhow::Ok((status, response.text().await?))
        })
    };
    tokio::time::sleep(Duration::from_millis(800)).await;
    ensure!(!poll.is_finished(), "the long poll ended before the stop");

    let stopping = Instant::now();
    ok(Command::new("kill").args(["-TERM", &server.pid().to_string()]))?;
    let bound = Duration::from_secs(GRACE_SECS + MARGIN_SECS);
    let status = loop {
        if let Some(status) = server.child.try_wait()? {
            break status;
        }
        ensure!(
            stopping.elapsed() < bound,
            "the server did not exit within {bound:?} of SIGTERM\n{}",
            server.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let took = stopping.elapsed();
    assert!(
        status.success(),
        "exit status {status}\n{}",
        server.log_text()
    );
    // The long poll got its (empty) answer rather than a cut connection.
    let (status, text) = tokio::time::timeout(Duration::from_secs(5), poll).await???;
    assert_eq!(status, 200, "{text}");
    // Every socket the clients held was closed by the server.
    for stream in idle
        .iter_mut()
        .chain([&mut slow_headers, &mut half_body, &mut kept])
    {
        until_closed(stream, Duration::from_secs(5)).await?;
    }
    println!("SIGTERM to exit: {took:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_unfinished_requests_exits_within_the_grace_period_on_sqlite()
-> anyhow::Result<()> {
    on_sqlite(sigterm_with_unfinished_requests).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_unfinished_requests_exits_within_the_grace_period_on_postgres()
-> anyhow::Result<()> {
    on_fresh_postgres("sigterm", sigterm_with_unfinished_requests).await
}

// --- bombs before sign-in ----------------------------------------------------------------------

/// Bombs sent at once, and what each inflates to.
const BOMBS: usize = 32;
const INFLATED: usize = 31 * 1024 * 1024;
/// How far the server's peak memory may rise under all the bombs.
const PEAK_GROWTH_KIB: u64 = 48 * 1024;

async fn bombs_before_sign_in(database: String, dir: PathBuf) -> anyhow::Result<()> {
    seed(&dir, &database)?;
    let mut server = Serving::start(&dir, &database, None, &[])?;
    server.wait_ready().await?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    // Warm up: a plain and a gzip sign-in (argon2 takes its memory once).
    let (status, body) = sign_in(&http, &server.url, false).await?;
    assert_eq!(status, 200, "{body}");
    let (status, body) = sign_in(&http, &server.url, true).await?;
    assert_eq!(status, 200, "gzip sign-in: {body}");
    let before = server.status_kib("VmHWM")?;

    let gzip = gzip_bytes(&vec![b' '; INFLATED])?;
    let zstd = zstd_bomb(INFLATED);
    ensure!(gzip.len() < 64 * 1024 && zstd.len() < 4096);
    let mut bombs = Vec::new();
    for i in 0..BOMBS {
        let (path, encoding, body) = match i % 3 {
            0 | 1 => ("/v1/auth/login", "gzip", gzip.clone()),
            _ => ("/v1/auth/refresh", "zstd", zstd.clone()),
        };
        let request = http
            .post(format!("{}{path}", server.url))
            .header("content-type", "application/json")
            .header("content-encoding", encoding)
            .body(body);
        bombs.push(tokio::spawn(async move {
            let response = request.send().await?;
            let status = response.status().as_u16();
            let text = response.text().await?;
            anyhow::Ok((status, text))
        }));
    }
    let mut answers = Vec::new();
    for bomb in bombs {
        answers.push(bomb.await??);
    }
    let peak = server.status_kib("VmHWM")?;
    println!(
        "{BOMBS} bombs of {} MiB inflated: peak memory {} → {} MiB",
        INFLATED >> 20,
        before / 1024,
        peak / 1024
    );
    assert!(
        peak <= before + PEAK_GROWTH_KIB,
        "peak memory grew from {before} KiB to {peak} KiB under the bombs"
    );
    for (status, text) in &answers {
        let body: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        assert_eq!(*status, 413, "{text}");
        assert_eq!(body["error"]["code"], "payload_too_large", "{text}");
    }
    // The server still signs people in, gzip or not.
    let (status, body) = sign_in(&http, &server.url, true).await?;
    assert_eq!(status, 200, "gzip sign-in after the bombs: {body}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bombs_before_sign_in_get_413_and_memory_stays_bounded_on_sqlite() -> anyhow::Result<()> {
    on_sqlite(bombs_before_sign_in).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bombs_before_sign_in_get_413_and_memory_stays_bounded_on_postgres() -> anyhow::Result<()> {
    on_fresh_postgres("bombs", bombs_before_sign_in).await
}
