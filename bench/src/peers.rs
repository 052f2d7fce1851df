//! The systems a user would otherwise pick, run beside Gridbook on the same documents and
//! edits: the automerge-repo sync server (Node.js) and samod (Rust), both driven by real
//! automerge-repo clients (`bench/peer/client.mjs`). `bench/peer/install` installs them.
//!
//! The client prints `[wN] T0` on stderr when a timed phase starts and `[wN] {result}` when
//! it ends; the server's CPU, writes and the proxy's counts are sampled at those lines, so
//! set-up is not counted. Its own result (wall time, converged pairs) comes as JSON.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::procstat::{self, Proc, Sample};
use crate::proxy::Proxy;
use crate::report::Row;

/// A peer system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// `@automerge/automerge-repo`'s sync server on Node.js.
    AutomergeRepo,
    /// `samod`, a Rust automerge-repo server.
    Samod,
}

impl Peer {
    /// For tables and the client's `--system`.
    pub fn name(self) -> &'static str {
        match self {
            Self::AutomergeRepo => "automerge-repo",
            Self::Samod => "samod",
        }
    }
}

/// Where the peer harness lives (`bench/peer/`).
pub fn harness_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("peer")
}

/// Fails unless `bench/peer/install` has run.
pub fn check_installed() -> anyhow::Result<()> {
    let dir = harness_dir();
    for needed in [
        dir.join("node_modules/@automerge/automerge-repo"),
        samod_binary(),
    ] {
        if !needed.exists() {
            bail!(
                "{} is missing: run bench/peer/install first (or leave the peers out with --systems gridbook)",
                needed.display()
            );
        }
    }
    Ok(())
}

fn samod_binary() -> PathBuf {
    harness_dir().join("samod-peer/target/release/samod-peer")
}

/// One run of the peer on the fixture: `workloads` in order (w1 first) on one fresh server.
pub async fn run(
    peer: Peer,
    fixture: &Path,
    workloads: &[&str],
    run: usize,
    work: &Path,
    pin: bool,
    timeout: Duration,
) -> anyhow::Result<Vec<Row>> {
    let dir = harness_dir();
    let storage = tempfile::tempdir_in(work)?;
    let port = procstat::free_port()?;
    let log = work.join(format!("{}-{run}.log", peer.name()));
    let args = vec![
        "--port".to_owned(),
        port.to_string(),
        "--dir".to_owned(),
        storage.path().display().to_string(),
    ];
    let (program, args) = match peer {
        Peer::AutomergeRepo => (
            PathBuf::from("node"),
            [vec![dir.join("server.mjs").display().to_string()], args].concat(),
        ),
        Peer::Samod => (samod_binary(), args),
    };
    let program = which(&program)?;
    let mut server = Proc::spawn(peer.name(), pin.then_some(0), &program, &args, &[], &log)?;
    procstat::wait_port(&mut server, port, Duration::from_secs(60)).await?;
    let proxy = Proxy::start(port).await?;

    let out = work.join(format!("{}-{run}.json", peer.name()));
    let _ = std::fs::remove_file(&out);
    let mut client = tokio::process::Command::new("node");
    client
        .arg(dir.join("client.mjs"))
        .args(["--url", &format!("ws://127.0.0.1:{}", proxy.port)])
        .arg("--fixture")
        .arg(fixture)
        .args(["--workload", &workloads.join(",")])
        .args(["--system", peer.name()])
        .args(["--timeout-s", &timeout.as_secs().to_string()])
        .arg("--out")
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = client.spawn().context("starting node client.mjs")?;
    let stderr = child.stderr.take().context("client stderr")?;
    let mut lines = BufReader::new(stderr).lines();

    let mut measured: Vec<(String, Measure)> = Vec::new();
    let mut open: Option<(String, Measure)> = None;
    while let Some(line) = lines.next_line().await? {
        let marker = line
            .strip_prefix('[')
            .and_then(|l| l.split_once("] "))
            .filter(|(w, _)| w.starts_with('w'));
        match marker {
            Some((workload, "T0")) => {
                open = Some((workload.to_owned(), Measure::take(&server, &proxy)));
            }
            Some((workload, rest)) if rest.starts_with('{') => {
                let now = Measure::take(&server, &proxy);
                if let Some((w, start)) = open.take()
                    && w == workload
                {
                    measured.push((w, now.minus(&start)));
                }
            }
            // Once-a-second progress lines stay quiet.
            Some(_) => {}
            None => eprintln!("    {}: {line}", peer.name()),
        }
    }
    let status = child.wait().await?;
    let peak_rss = procstat::peak_rss(server.pid());
    server.stop()?;
    if !out.exists() {
        bail!(
            "{} client failed ({status}) without results; see above",
            peer.name()
        );
    }

    let results: Value = serde_json::from_slice(&std::fs::read(&out)?)?;
    let results = match results {
        Value::Array(a) => a,
        one => vec![one],
    };
    let mut rows = Vec::new();
    for r in results {
        let workload = r["workload"].as_str().unwrap_or("?").to_owned();
        let Some((_, m)) = measured.iter().find(|(w, _)| *w == workload) else {
            continue;
        };
        let num = |k: &str| r[k].as_f64().unwrap_or(0.0);
        rows.push(Row {
            system: peer.name().into(),
            backend: "files".into(),
            workload,
            run,
            wall_ms: num("wall_ms"),
            server_cpu_s: m.server.cpu_s,
            bytes_up: m.up,
            bytes_down: m.down,
            devices: num("devices").max(1.0) as usize,
            peak_rss,
            disk_write_bytes: m.server.write_bytes,
            errors: num("errors") as u64,
            converged_pairs: num("converged_pairs") as usize,
            total_pairs: num("total_pairs") as usize,
            ..Row::default()
        });
    }
    Ok(rows)
}

/// Server CPU and writes and the proxy's counts at one moment (or between two).
#[derive(Debug, Clone, Copy)]
struct Measure {
    server: Sample,
    up: u64,
    down: u64,
}

impl Measure {
    fn take(server: &Proc, proxy: &Proxy) -> Self {
        let (up, down) = proxy.counters.read();
        Self {
            server: procstat::sample(server.pid()),
            up,
            down,
        }
    }

    fn minus(&self, before: &Self) -> Self {
        Self {
            server: self.server.since(before.server),
            up: self.up - before.up,
            down: self.down - before.down,
        }
    }
}

/// `program` as a path: itself when it has a slash, else looked up on `PATH`.
fn which(program: &Path) -> anyhow::Result<PathBuf> {
    if program.components().count() > 1 {
        return Ok(program.to_owned());
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .with_context(|| format!("{} is not on PATH", program.display()))
}
