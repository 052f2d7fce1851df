//! The real `gridbook` binary as a child process: its command line ([`gridbook`],
//! [`run_ok`], [`run_fails`]), databases set up through it ([`add_street_and_supervisor`],
//! [`load_small_demo`]) and `gridbook serve` on a free port ([`Serve`], [`Serving`], killed
//! when dropped).
//!
//! The binary is this package's `gridbook-under-test`: the server's own `src/main.rs`, built
//! by cargo before this package's integration tests, with the same features as they are (a
//! nested `cargo build -p gridbook-server` resolves other features and rebuilds the server).
//! It runs with `argv[0]` = `gridbook`, so it names itself as the shipped binary does.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};

use crate::client::Target;

/// The name of the binary target in `tests/Cargo.toml`.
const BINARY: &str = "gridbook-under-test";

/// The server binary: beside the test executable's `deps/` folder
/// (`target/<profile>/gridbook-under-test`).
pub fn binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let profile_dir = exe
        .parent()
        .filter(|deps| deps.ends_with("deps"))
        .and_then(Path::parent)
        .with_context(|| format!("{} is not in a cargo target folder", exe.display()))?;
    let path = profile_dir.join(format!("{BINARY}{}", std::env::consts::EXE_SUFFIX));
    ensure!(
        path.is_file(),
        "{} is missing: run the tests with `cargo test -p gridbook-tests`, which builds it",
        path.display()
    );
    Ok(path)
}

/// The binary as `gridbook`, run in `dir` with none of the operator's `GRIDBOOK_*` settings
/// and without backtraces.
pub fn gridbook(dir: &Path) -> anyhow::Result<Command> {
    let mut command = Command::new(binary()?);
    command.arg0("gridbook").current_dir(dir);
    for (name, _) in std::env::vars() {
        if name.starts_with("GRIDBOOK_") {
            command.env_remove(name);
        }
    }
    command.env("RUST_BACKTRACE", "0");
    Ok(command)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `command` (no input) and requires success; its standard output.
pub fn run_ok(command: &mut Command) -> anyhow::Result<String> {
    let out = command.stdin(Stdio::null()).output()?;
    ensure!(
        out.status.success(),
        "{command:?} failed: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    Ok(text(&out.stdout))
}

/// Runs `command` (no input) and requires failure; its standard error.
pub fn run_fails(command: &mut Command) -> anyhow::Result<String> {
    let out = command.stdin(Stdio::null()).output()?;
    ensure!(!out.status.success(), "{command:?} succeeded");
    Ok(text(&out.stderr))
}

/// A TCP port nobody listens on right now.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Through the command line: street `hp` (和平街道) and its street supervisor `wang` with
/// `password`.
pub fn add_street_and_supervisor(dir: &Path, database: &str, password: &str) -> anyhow::Result<()> {
    run_ok(
        gridbook(dir)?
            .args(["street", "add", "--code", "hp", "--name", "和平街道"])
            .args(["--database-url", database]),
    )?;
    run_ok(
        gridbook(dir)?
            .args(["user", "add", "--login", "wang", "--name", "王主任"])
            .args(["--role", "street_supervisor", "--street", "hp"])
            .args(["--database-url", database])
            .env("GRIDBOOK_PASSWORD", password),
    )?;
    Ok(())
}

/// Through the command line: the small demo street (`gridbook demo --small`).
pub fn load_small_demo(dir: &Path, database: &str) -> anyhow::Result<()> {
    run_ok(gridbook(dir)?.args(["demo", "--small", "--database-url", database]))
        .context("loading the small demo failed")?;
    Ok(())
}

/// How to run `gridbook serve`: in a folder, on a database, with extra arguments and
/// environment. [`Serve::start`] starts it.
#[derive(Debug, Clone)]
pub struct Serve {
    dir: PathBuf,
    database: Option<String>,
    shell: Option<String>,
    env: Vec<(String, String)>,
    args: Vec<String>,
    ready_within: Duration,
}

impl Serve {
    /// `gridbook serve` in `dir` (its working folder: the default SQLite file and key file are
    /// made there, and the log is written there).
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
            database: None,
            shell: None,
            env: Vec::new(),
            args: Vec::new(),
            ready_within: Duration::from_secs(60),
        }
    }

    /// `--database-url`; without it the server uses `gridbook.db` in its folder.
    pub fn database(mut self, url: &str) -> Self {
        self.database = Some(url.to_owned());
        self
    }

    /// A shell command run first in the same process (e.g. `ulimit -n 256`), which then
    /// becomes the server.
    pub fn shell(mut self, command: &str) -> Self {
        self.shell = Some(command.to_owned());
        self
    }

    /// An environment variable of the server.
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Extra `serve` arguments.
    pub fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|a| (*a).to_owned()));
        self
    }

    /// How long [`Serving::wait_ready`] waits (60 s unless set).
    pub fn ready_within(mut self, patience: Duration) -> Self {
        self.ready_within = patience;
        self
    }

    /// Starts the server on a free port; it logs (standard output and error) to
    /// `serve-PORT.log` in its folder.
    pub fn start(self) -> anyhow::Result<Serving> {
        let port = free_port()?;
        let addr = format!("127.0.0.1:{port}");
        let mut serving = Serving {
            child: None,
            url: format!("http://{addr}"),
            log: self.dir.join(format!("serve-{port}.log")),
            addr,
            http: reqwest::Client::new(),
            serve: self,
        };
        serving.restart()?;
        Ok(serving)
    }
}

/// `gridbook serve` as a child process, killed (SIGKILL) when dropped.
#[derive(Debug)]
pub struct Serving {
    child: Option<Child>,
    serve: Serve,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The log file (standard output and error, appended to by every start).
    pub log: PathBuf,
    http: reqwest::Client,
}

impl Serving {
    /// Starts the server again on the same port, after [`Serving::kill`] (or its exit).
    pub fn restart(&mut self) -> anyhow::Result<()> {
        ensure!(self.child.is_none(), "the server is running");
        let serve = &self.serve;
        let mut args = vec!["serve".to_owned()];
        if let Some(database) = &serve.database {
            args.extend(["--database-url".to_owned(), database.clone()]);
        }
        args.extend(["--listen".to_owned(), self.addr.clone()]);
        args.extend(serve.args.iter().cloned());
        let mut command = match &serve.shell {
            None => gridbook(&serve.dir)?,
            Some(shell) => {
                let mut command = Command::new("bash");
                command
                    .current_dir(&serve.dir)
                    .arg("-c")
                    .arg(format!("{shell} && exec -a gridbook \"$0\" \"$@\""))
                    .arg(binary()?);
                for (name, _) in std::env::vars() {
                    if name.starts_with("GRIDBOOK_") {
                        command.env_remove(name);
                    }
                }
                command
            }
        };
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let child = command
            .args(&args)
            .envs(serve.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()?;
        self.child = Some(child);
        Ok(())
    }

    /// The running child.
    pub fn child(&mut self) -> anyhow::Result<&mut Child> {
        self.child.as_mut().context("the server is not running")
    }

    /// Its process id.
    pub fn pid(&self) -> anyhow::Result<u32> {
        Ok(self
            .child
            .as_ref()
            .context("the server is not running")?
            .id())
    }

    /// Waits until `GET /ready` answers 200; fails early when the process exits.
    pub async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + self.serve.ready_within;
        while Instant::now() < deadline {
            if let Some(status) = self.child()?.try_wait()? {
                bail!("the server exited with {status}: {}", self.log_text());
            }
            if let Ok(r) = self.http.get(format!("{}/ready", self.url)).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("the server did not become ready: {}", self.log_text())
    }

    /// SIGKILL, and waits for the process to go.
    pub fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// SIGTERM, and waits up to `bound` for the process to exit; its exit status.
    pub async fn terminate(&mut self, bound: Duration) -> anyhow::Result<ExitStatus> {
        let stopping = Instant::now();
        run_ok(Command::new("kill").args(["-TERM", &self.pid()?.to_string()]))?;
        loop {
            if let Some(status) = self.child()?.try_wait()? {
                self.child = None;
                return Ok(status);
            }
            ensure!(
                stopping.elapsed() < bound,
                "the server did not exit within {bound:?} of SIGTERM\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// What the server logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A field of `/proc/<pid>/status` in KiB (`VmHWM`, `VmRSS`).
    pub fn status_kib(&self, field: &str) -> anyhow::Result<u64> {
        let pid = self.pid()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .with_context(|| format!("no {field} in /proc/{pid}/status"))
    }
}

impl Target for Serving {
    fn http(&self) -> &reqwest::Client {
        &self.http
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}
