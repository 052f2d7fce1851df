//! The `gridbook` command line as an operator uses it on a fresh machine: no configuration, a
//! working folder of its own. `migrate` and `serve` create the SQLite file there; `street add`
//! and `user add` set up a deployment without the demo; `user disable` locks a user out of a
//! running server; bad input fails with a message and a non-zero exit; `serve --help` never
//! shows a password taken from the environment; SIGTERM stops the server gracefully.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use serde_json::{Value, json};

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

fn run(command: &mut Command) -> anyhow::Result<Output> {
    Ok(command.stdin(Stdio::null()).output()?)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs and requires success; returns stdout.
fn ok(command: &mut Command) -> anyhow::Result<String> {
    let out = run(command)?;
    ensure!(
        out.status.success(),
        "{command:?} failed: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    Ok(text(&out.stdout))
}

/// Runs and requires failure; returns stderr.
fn fails(command: &mut Command) -> anyhow::Result<String> {
    let out = run(command)?;
    ensure!(!out.status.success(), "{command:?} succeeded");
    Ok(text(&out.stderr))
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

struct Serving(Child);

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn wait_ready(http: &reqwest::Client, url: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(r) = http.get(format!("{url}/ready")).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("the server did not become ready")
}

async fn login(http: &reqwest::Client, url: &str, login: &str) -> anyhow::Result<(u16, Value)> {
    let response = http
        .post(format!("{url}/v1/auth/login"))
        .json(&json!({"login": login, "password": "a-long-password", "device_name": "cli test"}))
        .send()
        .await?;
    let status = response.status().as_u16();
    Ok((status, response.json().await?))
}

#[tokio::test]
async fn an_operator_sets_up_a_deployment_from_the_command_line() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let dir = dir.path();

    // No configuration: the SQLite file is made in the working folder.
    let out = ok(gridbook(dir).arg("migrate"))?;
    assert!(out.contains("database is up to date"), "{out}");
    assert!(dir.join("gridbook.db").is_file());
    ok(gridbook(dir).arg("migrate"))?; // again: nothing to do, no error

    // A deployment without the demo: its street, then its first admin and a supervisor.
    let out = ok(gridbook(dir).args(["street", "add", "--code", "hp", "--name", "和平街道"]))?;
    assert!(out.contains("street hp (和平街道) is stored"), "{out}");
    let err = fails(gridbook(dir).args(["street", "add", "--code", "bad code", "--name", "x"]))?;
    assert!(err.contains("invalid street code"), "{err}");
    let add = |login: &str, role: &str, password: &str| {
        let mut command = gridbook(dir);
        command
            .args([
                "user",
                "add",
                "--login",
                login,
                "--name",
                "王主任",
                "--role",
                role,
            ])
            .args(["--street", "hp"])
            .env("GRIDBOOK_PASSWORD", password);
        command
    };
    let out = ok(&mut add("boss", "admin", "a-long-password"))?;
    assert!(out.contains("added user boss (admin)"), "{out}");
    ok(&mut add("wang", "street_supervisor", "a-long-password"))?;
    let err = fails(&mut add("short", "admin", "abc"))?;
    assert!(
        err.contains("password must be 8 to 1024 characters"),
        "{err}"
    );
    assert!(!err.contains("abc\n"), "{err}");
    let err = fails(&mut add("boss", "admin", "a-long-password"))?;
    assert!(err.contains("the login is taken"), "{err}");
    let err = fails(gridbook(dir).args(["user", "disable", "--login", "nobody"]))?;
    assert!(err.contains("no user has the login nobody"), "{err}");

    // `serve --help` shows where settings come from but not a password from the environment.
    let help = ok(gridbook(dir)
        .args(["serve", "--help"])
        .env(
            "GRIDBOOK_DATABASE_URL",
            "postgres://gb:s3cret-pw@db/gridbook",
        )
        .env("GRIDBOOK_JWT_KEYS", "k1=0123456789abcdef0123456789abcdef"))?;
    assert!(help.contains("GRIDBOOK_DATABASE_URL"), "{help}");
    assert!(
        !help.contains("s3cret-pw") && !help.contains("0123456789abcdef"),
        "{help}"
    );

    // Serve with no database setting: the same file, the users just added.
    let port = free_port()?;
    let url = format!("http://127.0.0.1:{port}");
    let log = dir.join("serve.log");
    let child = gridbook(dir)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(std::fs::File::create(&log)?)
        .stderr(std::fs::File::create(dir.join("serve.err"))?)
        .spawn()?;
    let mut server = Serving(child);
    let http = reqwest::Client::new();
    wait_ready(&http, &url).await?;
    let (status, body) = login(&http, &url, "wang").await?;
    assert_eq!(status, 200, "{body}");
    let (status, body) = login(&http, &url, "boss").await?;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().context("token")?.to_owned();
    // The admin adds a community and a grid under the street through the API.
    for (path, body) in [
        (
            "/v1/admin/communities/dzk",
            json!({"street": "hp", "name": "丁字口社区"}),
        ),
        (
            "/v1/admin/grids/dzk-01",
            json!({"community": "dzk", "name": "丁字口第一网格"}),
        ),
    ] {
        let r = http
            .put(format!("{url}{path}"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await?;
        let status = r.status().as_u16();
        assert!(
            (200..300).contains(&status),
            "{path}: {status} {}",
            r.text().await?
        );
    }

    // Disabled from the command line while the server runs: no more sign-in.
    ok(gridbook(dir).args(["user", "disable", "--login", "wang"]))?;
    let (status, body) = login(&http, &url, "wang").await?;
    assert!(status == 401 || status == 403, "{status} {body}");
    assert!(body["error"]["code"].is_string(), "{body}");
    ok(gridbook(dir).args(["user", "enable", "--login", "wang"]))?;
    assert_eq!(login(&http, &url, "wang").await?.0, 200);

    // A password reset from the command line: a temporary password printed once, to be
    // changed at the next sign-in; the reset is audited with the command line as the actor.
    let out = ok(gridbook(dir).args(["user", "reset-password", "--login", "wang"]))?;
    let temporary = out
        .lines()
        .find_map(|l| l.strip_prefix("temporary password (shown once): "))
        .context("the temporary password")?
        .to_owned();
    let response = http
        .post(format!("{url}/v1/auth/login"))
        .json(&json!({"login": "wang", "password": temporary}))
        .send()
        .await?;
    let body: Value = response.json().await?;
    assert_eq!(body["must_change_password"], true, "{body}");
    let err = fails(
        gridbook(dir)
            .args(["user", "reset-password", "--login", "wang"])
            .env("GRIDBOOK_PASSWORD", "password123"),
    )?;
    assert!(err.contains("most common passwords"), "{err}");
    let audit: Value = http
        .get(format!("{url}/v1/admin/audit?per_page=100"))
        .bearer_auth(&token)
        .send()
        .await?
        .json()
        .await?;
    for (action, target) in [
        ("place_saved", "street:hp"),
        ("user_created", "user:boss"),
        ("user_disabled", "user:wang"),
        ("user_enabled", "user:wang"),
        ("password_reset", "user:wang"),
    ] {
        let row = audit["items"]
            .as_array()
            .context("items")?
            .iter()
            .find(|i| i["action"] == action && i["detail"]["target"] == target)
            .with_context(|| format!("no {action} of {target}: {audit}"))?;
        assert!(
            row["actor_login"]
                .as_str()
                .is_some_and(|a| a.starts_with("cli (")),
            "{row}"
        );
        assert!(row["actor_id"].is_null(), "{row}");
    }
    assert!(!audit.to_string().contains(&temporary), "{audit}");

    // The signing key is in a private file beside the database, not in it.
    let key_file = dir.join("gridbook.jwt-keys");
    assert!(key_file.is_file());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file)?.permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    // SIGTERM: a graceful stop with a zero exit.
    let pid = server.0.id().to_string();
    ok(Command::new("kill").args(["-TERM", &pid]))?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = server.0.try_wait()? {
            break status;
        }
        ensure!(
            Instant::now() < deadline,
            "the server did not stop on SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status}");
    let log = std::fs::read_to_string(&log)?;
    assert!(log.contains("finishing in-flight requests"), "{log}");
    assert!(!log.contains("a-long-password"), "{log}");
    Ok(())
}
