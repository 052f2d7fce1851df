//! PostgreSQL failover without loss: a primary and a synchronous standby (two clusters of this
//! machine's PostgreSQL on two ports, streaming replication, `synchronous_commit = on` with the
//! standby named in `synchronous_standby_names`), two Gridbook nodes given both servers
//! (`postgres://…@127.0.0.1:P1,127.0.0.1:P2/gridbook?target_session_attrs=read-write`), and
//! phones syncing through both nodes. The primary's postmaster is SIGKILLed at a random moment,
//! the standby promoted, and the nodes must follow it: every change any answer confirmed is
//! on the new primary and the phones converge.
//!
//! `GRIDBOOK_FAILOVER_KILLS` failovers (1 in `.ci/run`; `scripts/failover` runs more): after
//! each, the lost server is rebuilt from the new primary with `pg_basebackup` as its
//! synchronous standby, so the next kill is as safe as the first.
//!
//! Needs the PostgreSQL server binaries (`/usr/lib/postgresql/*/bin`) and root (the clusters
//! run as `postgres` through `runuser`); without them the test says it skips, and fails under
//! `CI=true`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use gridbook_tests::process::{Serve, Serving, free_port, load_small_demo};
use tokio::sync::Mutex;

use crate::crash::check_stored;
use crate::phones::{Phone, converge, four_phones};

/// The standby's name in `synchronous_standby_names` (written out in one SQL literal too).
const STANDBY: &str = "standby1";

/// Two PostgreSQL clusters in a temporary folder: `servers[primary]` is the primary.
struct Pair {
    bin: PathBuf,
    dir: tempfile::TempDir,
    ports: [u16; 2],
    primary: usize,
    /// How many times each server's data folder was built (a rebuild uses a new folder:
    /// PostgreSQL keys its shared memory by the folder's inode).
    builds: [usize; 2],
}

/// The newest PostgreSQL server binaries on this machine.
fn postgres_bin() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("pg_ctl").is_file() && bin.join("pg_basebackup").is_file())
        .collect();
    found.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    found.pop()
}

impl Pair {
    /// Initialises the primary, starts it, clones the synchronous standby and waits until it
    /// is in sync.
    fn start(bin: PathBuf) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        // The clusters run as postgres and live in this folder.
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o777),
        )?;
        let mut pair = Self {
            bin,
            ports: [free_port()?, free_port()?],
            dir,
            primary: 0,
            builds: [0, 0],
        };
        let data = pair.data(0);
        pair.pg(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
            ],
        )?;
        pair.configure_primary(0)?;
        pair.pg_ctl_start(0)?;
        pair.clone_standby(1)?;
        Ok(pair)
    }

    fn data(&self, i: usize) -> String {
        self.dir
            .path()
            .join(format!("n{i}.{}", self.builds[i]))
            .display()
            .to_string()
    }

    /// A database URL for server `i` alone.
    fn url(&self, i: usize, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.ports[i])
    }

    /// Runs a PostgreSQL program as `postgres`.
    fn pg(&self, program: &str, args: &[&str]) -> anyhow::Result<String> {
        let out = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join(program))
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running {program}"))?;
        ensure!(
            out.status.success(),
            "{program} {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn append_conf(&self, i: usize, file: &str, lines: &str) -> anyhow::Result<()> {
        use std::io::Write;
        let path = Path::new(&self.data(i)).join(file);
        let mut f = std::fs::OpenOptions::new().append(true).open(&path)?;
        writeln!(f, "{lines}")?;
        Ok(())
    }

    fn configure_primary(&self, i: usize) -> anyhow::Result<()> {
        self.append_conf(
            i,
            "postgresql.conf",
            &format!(
                "port = {}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n\
                 wal_level = replica\nmax_wal_senders = 10\nsynchronous_commit = on\n\
                 synchronous_standby_names = '{STANDBY}'\nshared_buffers = 32MB\n\
                 max_connections = 100\nwal_keep_size = 256MB",
                self.ports[i],
                self.dir.path().display()
            ),
        )
    }

    fn pg_ctl_start(&self, i: usize) -> anyhow::Result<()> {
        let log = self
            .dir
            .path()
            .join(format!("n{i}.log"))
            .display()
            .to_string();
        self.pg(
            "pg_ctl",
            &["-D", &self.data(i), "-l", &log, "-w", "-t", "60", "start"],
        )
        .with_context(|| {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let mut tail: Vec<&str> = text.lines().rev().take(20).collect();
            tail.reverse();
            format!("server {i}'s log ends:\n{}", tail.join("\n"))
        })?;
        Ok(())
    }

    /// (Re)builds server `i` as the synchronous standby of the primary, starts it and waits
    /// until the primary reports it in sync.
    fn clone_standby(&mut self, i: usize) -> anyhow::Result<()> {
        if Path::new(&self.data(i)).exists() {
            self.builds[i] += 1;
        }
        let data = self.data(i);
        let primary_port = self.ports[self.primary].to_string();
        self.pg(
            "pg_basebackup",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &primary_port,
                "-U",
                "postgres",
                "-D",
                &data,
                "-X",
                "stream",
                "-R",
                "-c",
                "fast",
            ],
        )?;
        self.append_conf(
            i,
            "postgresql.auto.conf",
            &format!(
                "primary_conninfo = 'host=127.0.0.1 port={primary_port} user=postgres application_name={STANDBY}'\nport = {}",
                self.ports[i]
            ),
        )?;
        self.pg_ctl_start(i)?;
        Ok(())
    }

    /// Waits until the primary reports its standby in sync (every commit waits for it).
    async fn wait_in_sync(&self) -> anyhow::Result<()> {
        let pool = sqlx::PgPool::connect(&self.url(self.primary, "postgres")).await?;
        // Commits wait for the standby again (after a failover the new primary wrote alone).
        sqlx::query("ALTER SYSTEM SET synchronous_standby_names = 'standby1'")
            .execute(&pool)
            .await?;
        sqlx::query("SELECT pg_reload_conf()")
            .execute(&pool)
            .await?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let state: Option<String> = sqlx::query_scalar(
                "SELECT sync_state FROM pg_stat_replication WHERE application_name = $1",
            )
            .bind(STANDBY)
            .fetch_optional(&pool)
            .await?;
            if state.as_deref() == Some("sync") {
                pool.close().await;
                return Ok(());
            }
            ensure!(
                Instant::now() < deadline,
                "the standby never came in sync ({state:?})"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGKILLs the primary's postmaster (its backends die with it) and promotes the standby.
    /// How long the promotion took.
    fn kill_primary_and_promote(&mut self) -> anyhow::Result<Duration> {
        let old = self.primary;
        let pid_file = Path::new(&self.data(old)).join("postmaster.pid");
        let pid: i32 = std::fs::read_to_string(&pid_file)?
            .lines()
            .next()
            .context("postmaster.pid")?
            .trim()
            .parse()?;
        let children: Vec<String> = String::from_utf8_lossy(
            &Command::new("pgrep")
                .args(["-P", &pid.to_string()])
                .output()?
                .stdout,
        )
        .split_whitespace()
        .map(str::to_owned)
        .collect();
        let status = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()?;
        ensure!(status.success(), "kill -KILL {pid}");
        // Its backends notice the postmaster's death and exit (on a lost machine they die with
        // it); stragglers after 10 s are killed too. The port is free once the postmaster is
        // gone.
        let deadline = Instant::now() + Duration::from_secs(10);
        while children
            .iter()
            .any(|c| Path::new(&format!("/proc/{c}")).exists())
        {
            if Instant::now() > deadline {
                let _ = Command::new("kill").arg("-KILL").args(&children).status();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.ports[old])).is_ok() {
            ensure!(
                Instant::now() < deadline,
                "the killed primary still answers"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let started = Instant::now();
        let new = 1 - old;
        self.pg(
            "pg_ctl",
            &["-D", &self.data(new), "-w", "-t", "60", "promote"],
        )?;
        self.primary = new;
        Ok(started.elapsed())
    }

    /// Stops both servers at once.
    fn stop(&self) {
        for i in 0..2 {
            let _ = self.pg("pg_ctl", &["-D", &self.data(i), "-m", "immediate", "stop"]);
        }
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether this machine can run the pair; says why not (an error under `CI=true`).
fn can_run() -> anyhow::Result<Option<PathBuf>> {
    let ci = std::env::var("CI").as_deref() == Ok("true");
    let why = match postgres_bin() {
        None => "the PostgreSQL server binaries are not installed",
        Some(_) if !nix_is_root() => {
            "the clusters run as postgres through runuser, which needs root"
        }
        Some(bin) => return Ok(Some(bin)),
    };
    if ci {
        bail!("{why}; the failover test is required under CI=true");
    }
    eprintln!("note: {why}; the failover test skips");
    Ok(None)
}

fn nix_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

async fn start_node(dir: &Path, url: &str) -> anyhow::Result<Serving> {
    let mut server = Serve::new(dir)
        .database(url)
        .ready_within(Duration::from_secs(60))
        .start()?;
    server.wait_ready().await?;
    Ok(server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_primary_loses_nothing_confirmed_and_the_nodes_follow_the_standby()
-> anyhow::Result<()> {
    let Some(bin) = can_run()? else {
        return Ok(());
    };
    let kills: usize = std::env::var("GRIDBOOK_FAILOVER_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1);
    let mut pair = tokio::task::spawn_blocking(move || Pair::start(bin)).await??;
    pair.wait_in_sync().await?;
    {
        let admin = sqlx::PgPool::connect(&pair.url(0, "postgres")).await?;
        sqlx::query("CREATE DATABASE gridbook")
            .execute(&admin)
            .await?;
        admin.close().await;
    }
    let work = tempfile::tempdir()?;
    load_small_demo(work.path(), &pair.url(0, "gridbook"))?;
    let both = format!(
        "postgres://postgres@127.0.0.1:{},127.0.0.1:{}/gridbook?target_session_attrs=read-write",
        pair.ports[0], pair.ports[1]
    );
    let nodes = [
        start_node(work.path(), &both).await?,
        start_node(work.path(), &both).await?,
    ];
    let urls = [nodes[0].url.clone(), nodes[1].url.clone()];
    let http = reqwest::Client::builder().build()?;

    let phones: Vec<Arc<Mutex<Phone>>> = four_phones(&http, &urls[0])
        .await?
        .into_iter()
        .map(|p| Arc::new(Mutex::new(p)))
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let successes = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for phone in &phones {
        let (phone, stop, successes, http, urls) = (
            phone.clone(),
            stop.clone(),
            successes.clone(),
            http.clone(),
            urls.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let mut p = phone.lock().await;
                p.edit(n)?;
                n += 1;
                let url = &urls[rand::random_range(0..2)];
                if p.round_trip(&http, url).await? {
                    successes.fetch_add(1, Ordering::Relaxed);
                } else {
                    drop(p);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            anyhow::Ok(n)
        }));
    }

    let mut outages = Vec::new();
    for kill in 0..kills {
        tokio::time::sleep(Duration::from_millis(rand::random_range(800..2500))).await;
        let killed_at = Instant::now();
        let (moved, promoted) = tokio::task::spawn_blocking(move || {
            let took = pair.kill_primary_and_promote();
            (pair, took)
        })
        .await?;
        pair = moved;
        let promotion = promoted?;
        let promoted_at = Instant::now();
        // The new primary writes alone until its new standby is in sync.
        {
            let admin = sqlx::PgPool::connect(&pair.url(pair.primary, "postgres")).await?;
            sqlx::query("ALTER SYSTEM SET synchronous_standby_names = ''")
                .execute(&admin)
                .await?;
            sqlx::query("SELECT pg_reload_conf()")
                .execute(&admin)
                .await?;
            admin.close().await;
        }
        // Writes go through again: some round trip succeeds after the promotion.
        let before = successes.load(Ordering::Relaxed);
        let deadline = Instant::now() + Duration::from_secs(60);
        while successes.load(Ordering::Relaxed) <= before + 4 {
            ensure!(
                Instant::now() < deadline,
                "failover {}: no sync succeeded within 60 s of the promotion",
                kill + 1
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        outages.push(promoted_at.elapsed());
        eprintln!(
            "failover {}: the primary's processes gone {:?} after the kill; promoted in {promotion:?}; \
             phones syncing again {:?} after the promotion",
            kill + 1,
            promoted_at
                .duration_since(killed_at)
                .saturating_sub(promotion),
            promoted_at.elapsed()
        );
        if kill + 1 < kills {
            let lost = 1 - pair.primary;
            pair = tokio::task::spawn_blocking(move || {
                let mut pair = pair;
                pair.clone_standby(lost).map(|()| pair)
            })
            .await??;
            pair.wait_in_sync().await?;
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let mut edits = 0;
    for task in tasks {
        edits += task.await??;
    }
    let mut phones: Vec<Phone> = phones
        .into_iter()
        .map(|p| Arc::try_unwrap(p).map(Mutex::into_inner))
        .collect::<Result<_, _>>()
        .map_err(|_| anyhow::anyhow!("a phone is still shared"))?;
    let confirmed = converge(&http, &mut phones, &urls).await?;
    // A new phone per grid, reading the new primary through a node, holds every confirmed
    // (record, heads).
    check_stored(&http, &urls[0], &confirmed).await?;
    eprintln!(
        "failover: {kills} kills, {edits} edits, {} confirmed (record, heads) checked on the new primary, \
         syncing again after each promotion within {outages:?}",
        confirmed.len()
    );
    Ok(())
}
