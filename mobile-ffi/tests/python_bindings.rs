//! The phone library through its generated Python bindings, against the real server.
//!
//! Cargo builds the library (cdylib) with this test; the test generates the Python bindings
//! from it with the workspace's `uniffi-bindgen`, starts a server on a fresh database, and runs
//! `tests/python/two_phones.py` (two grid workers' phones, a supervisor and a household liaison). On SQLite and,
//! when `GRIDBOOK_TEST_POSTGRES_URL` is set, on PostgreSQL.

mod common;

use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};
use gridbook_tests::{Backend, TestApp};

fn generate_python(out: &Path) -> anyhow::Result<()> {
    let library = common::library()?;
    let status = Command::new(env!("CARGO_BIN_EXE_uniffi-bindgen"))
        .args(["generate", "--library"])
        .arg(&library)
        .args(["--language", "python", "--out-dir"])
        .arg(out)
        .status()?;
    if !status.success() {
        bail!("uniffi-bindgen failed: {status}");
    }
    std::fs::copy(
        &library,
        out.join(library.file_name().context("a file name")?),
    )?;
    Ok(())
}

async fn run_on(backend: Backend) -> anyhow::Result<()> {
    let Some(app) = TestApp::spawn(backend).await? else {
        return Ok(());
    };
    common::scenario_users(&app).await?;

    let bindings = tempfile::tempdir()?;
    let stores = tempfile::tempdir()?;
    generate_python(bindings.path())?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/two_phones.py");
    let mut command = Command::new("python3");
    command.arg(script).env("PYTHONPATH", bindings.path());
    common::scenario_env(&mut command, &app, stores.path());
    common::run_scenario("two_phones.py", backend, command).await?;
    app.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_phones_converge_through_the_python_bindings_on_sqlite() -> anyhow::Result<()> {
    run_on(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_phones_converge_through_the_python_bindings_on_postgres() -> anyhow::Result<()> {
    run_on(Backend::Postgres).await
}
