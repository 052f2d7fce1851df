//! The phone library through its generated Python bindings, against the real server.
//!
//! Cargo builds the library (cdylib) with this test; the test generates the Python bindings
//! from it with the workspace's `uniffi-bindgen`, starts a server on a fresh database, and runs
//! `tests/python/two_phones.py` (two grid workers' phones, a supervisor and a household liaison). On SQLite and,
//! when `GRIDBOOK_TEST_POSTGRES_URL` is set, on PostgreSQL.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use gridbook_tests::{Backend, PASSWORD, TestApp};
use sync_core::record::Role;

/// The cdylib cargo built beside this test's binaries.
fn library() -> anyhow::Result<PathBuf> {
    let bindgen = PathBuf::from(env!("CARGO_BIN_EXE_uniffi-bindgen"));
    let dir = bindgen.parent().context("bindgen has a folder")?;
    let name = if cfg!(target_os = "macos") {
        "libgridbook_mobile.dylib"
    } else {
        "libgridbook_mobile.so"
    };
    // `cargo test` leaves the cdylib in deps/; `cargo build` also copies it one level up.
    let candidates = [dir.join("deps").join(name), dir.join(name)];
    candidates
        .iter()
        .filter(|p| p.exists())
        .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok())
        .cloned()
        .context("the phone library was not built")
}

fn generate_python(out: &Path) -> anyhow::Result<()> {
    let library = library()?;
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
    app.user("worker-a", Role::GridWorker, app.grid_a()).await?;
    app.user("worker-b", Role::GridWorker, app.grid_a()).await?;
    app.user("supervisor", Role::CommunitySupervisor, app.grid_a())
        .await?;
    app.user_in_group(
        "liaison",
        Role::Liaison,
        app.grid_a(),
        Some("ca-1-g1".parse()?),
    )
    .await?;

    let bindings = tempfile::tempdir()?;
    let stores = tempfile::tempdir()?;
    generate_python(bindings.path())?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/two_phones.py");
    let mut command = Command::new("python3");
    command
        .arg(script)
        .env("PYTHONPATH", bindings.path())
        .env("GRIDBOOK_URL", app.url(""))
        .env("GRIDBOOK_PASSWORD", PASSWORD)
        .env("GRIDBOOK_WORKER_A", "worker-a")
        .env("GRIDBOOK_WORKER_B", "worker-b")
        .env("GRIDBOOK_SUPERVISOR", "supervisor")
        .env("GRIDBOOK_LIAISON", "liaison")
        .env("GRIDBOOK_LIAISON_GROUP", "ca-1-g1")
        .env("GRIDBOOK_STORE_DIR", stores.path());
    // The server runs on this runtime; wait for Python on a blocking thread.
    let output = tokio::task::spawn_blocking(move || command.output()).await??;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    if !output.status.success() {
        bail!(
            "two_phones.py failed on {backend:?}: {}\n{stderr}",
            output.status
        );
    }
    assert!(stdout.contains("all checks passed"), "{stdout}");
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
