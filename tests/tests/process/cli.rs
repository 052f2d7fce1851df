//! The `gridbook` command line as an operator uses it on a fresh machine: no configuration, a
//! working folder of its own. `migrate` and `serve` create the SQLite file there; `street add`
//! and `user add` set up a deployment without the demo; `user disable` locks a user out of a
//! running server; bad input fails with a message and a non-zero exit; `serve --help` never
//! shows a password taken from the environment; SIGTERM stops the server gracefully.

use std::process::Command;
use std::time::Duration;

use anyhow::Context;
use gridbook_tests::client::sign_in;
use gridbook_tests::process::{Serve, gridbook, run_fails, run_ok};
use serde_json::{Value, json};

use crate::PASSWORD;

#[tokio::test]
async fn an_operator_sets_up_a_deployment_from_the_command_line() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let dir = dir.path();

    // No configuration: the SQLite file is made in the working folder.
    let out = run_ok(gridbook(dir)?.arg("migrate"))?;
    assert!(out.contains("database is up to date"), "{out}");
    assert!(dir.join("gridbook.db").is_file());
    run_ok(gridbook(dir)?.arg("migrate"))?; // again: nothing to do, no error

    // A deployment without the demo: its street, then its first admin and a supervisor.
    let out = run_ok(gridbook(dir)?.args(["street", "add", "--code", "hp", "--name", "和平街道"]))?;
    assert!(out.contains("street hp (和平街道) is stored"), "{out}");
    let err =
        run_fails(gridbook(dir)?.args(["street", "add", "--code", "bad code", "--name", "x"]))?;
    assert!(err.contains("invalid street code"), "{err}");
    let add = |login: &str, role: &str, password: &str| -> anyhow::Result<Command> {
        let mut command = gridbook(dir)?;
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
        Ok(command)
    };
    let out = run_ok(&mut add("boss", "admin", PASSWORD)?)?;
    assert!(out.contains("added user boss (admin)"), "{out}");
    run_ok(&mut add("wang", "street_supervisor", PASSWORD)?)?;
    let err = run_fails(&mut add("short", "admin", "abc")?)?;
    assert!(
        err.contains("password must be 8 to 1024 characters"),
        "{err}"
    );
    assert!(!err.contains("abc\n"), "{err}");
    let err = run_fails(&mut add("boss", "admin", PASSWORD)?)?;
    assert!(err.contains("the login is taken"), "{err}");
    let err = run_fails(gridbook(dir)?.args(["user", "disable", "--login", "nobody"]))?;
    assert!(err.contains("no user has the login nobody"), "{err}");

    // `serve --help` shows where settings come from but not a password from the environment.
    let help = run_ok(
        gridbook(dir)?
            .args(["serve", "--help"])
            .env(
                "GRIDBOOK_DATABASE_URL",
                "postgres://gb:s3cret-pw@db/gridbook",
            )
            .env("GRIDBOOK_JWT_KEYS", "k1=0123456789abcdef0123456789abcdef"),
    )?;
    assert!(help.contains("GRIDBOOK_DATABASE_URL"), "{help}");
    assert!(
        !help.contains("s3cret-pw") && !help.contains("0123456789abcdef"),
        "{help}"
    );

    // Serve with no database setting: the same file, the users just added.
    let mut server = Serve::new(dir).start()?;
    server.wait_ready().await?;
    let (http, url) = (reqwest::Client::new(), server.url.clone());
    let a = sign_in(&server, "wang", PASSWORD).await?;
    assert_eq!(a.status, 200, "{}", a.text);
    let a = sign_in(&server, "boss", PASSWORD).await?;
    assert_eq!(a.status, 200, "{}", a.text);
    let token = a.str("access_token")?.to_owned();
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
    run_ok(gridbook(dir)?.args(["user", "disable", "--login", "wang"]))?;
    let a = sign_in(&server, "wang", PASSWORD).await?;
    assert!(
        a.status == 401 || a.status == 403,
        "{} {}",
        a.status,
        a.text
    );
    assert!(a.body["error"]["code"].is_string(), "{}", a.text);
    run_ok(gridbook(dir)?.args(["user", "enable", "--login", "wang"]))?;
    assert_eq!(sign_in(&server, "wang", PASSWORD).await?.status, 200);

    // A password reset from the command line: a temporary password printed once, to be
    // changed at the next sign-in; the reset is audited with the command line as the actor.
    let out = run_ok(gridbook(dir)?.args(["user", "reset-password", "--login", "wang"]))?;
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
    let err = run_fails(
        gridbook(dir)?
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
    let status = server.terminate(Duration::from_secs(30)).await?;
    assert!(status.success(), "{status}");
    let log = server.log_text();
    assert!(log.contains("finishing in-flight requests"), "{log}");
    assert!(!log.contains("a-long-password"), "{log}");
    Ok(())
}

/// `gridbook import households`: a roster checked by a dry run, refused for a bad row (exit
/// status 1, the row and its reason printed, the report written, nothing stored), imported
/// with `--partial`, and imported again without any change.
#[tokio::test]
async fn an_operator_imports_a_household_roster() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let dir = dir.path();
    let database = format!("sqlite://{}", dir.join("gridbook.db").display());
    gridbook_tests::process::load_small_demo(dir, &database)?;
    let id = |born: &str, seq: &str| {
        let first17 = format!("522228{born}{seq}");
        let check = sync_core::validate::id_number_check_char(&first17).expect("17 digits");
        format!("{first17}{check}")
    };
    let roster = dir.join("花名册.csv");
    std::fs::write(
        &roster,
        format!(
            "户主,姓名,性别,与户主关系,公民身份号码,联系电话,地址\n\
             冉德明,冉德明,男,户主,{},13907851234,乌江水岸新区9栋1单元101室\n\
             冉德明,田春梅,女,妻,{},,乌江水岸新区9栋1单元101室\n\
             杨永福,杨永福,男,户主,{},0856-2221234,乌江水岸新区9栋2单元202室\n\
             杨永福,杨小红,女,女儿,52222819900101002,,乌江水岸新区9栋2单元202室\n",
            id("19560301", "011"),
            id("19600512", "022"),
            id("19700707", "033"),
        ),
    )?;
    let import = |extra: &[&str]| -> anyhow::Result<Command> {
        let mut command = gridbook(dir)?;
        command
            .args(["import", "households"])
            .arg(&roster)
            .args(["--grid", "dzk-01", "--database-url", &database])
            .args(extra);
        Ok(command)
    };

    let out = run_ok(&mut import(&["--dry-run", "--partial"])?)?;
    assert!(out.contains("rows 4 (valid 3, invalid 1)"), "{out}");
    assert!(out.contains("households: 2 created"), "{out}");
    assert!(out.contains("dry run: nothing was written"), "{out}");

    let report = dir.join("report.xlsx");
    let mut refused = import(&["--report", report.to_str().context("a path")?])?;
    let out = refused.stdin(std::process::Stdio::null()).output()?;
    assert!(!out.status.success(), "a file with a bad row is refused");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.contains("row 5 [公民身份号码]: 身份证号格式错误"),
        "{stdout}"
    );
    assert!(stderr.contains("1 of 4 rows are invalid"), "{stderr}");
    assert!(
        std::fs::read(&report)?.starts_with(b"PK"),
        "the report is a workbook"
    );

    let out = run_ok(&mut import(&["--partial"])?)?;
    assert!(out.contains("households: 2 created"), "{out}");
    assert!(out.contains("residents: 3 created"), "{out}");
    assert!(out.contains("written"), "{out}");

    let out = run_ok(&mut import(&["--partial"])?)?;
    assert!(
        out.contains("households: 0 created, 0 updated, 2 unchanged"),
        "{out}"
    );
    Ok(())
}
