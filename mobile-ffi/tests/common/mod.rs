//! What the bindings' end-to-end tests share (`python_bindings.rs`, `kotlin_bindings.rs`):
//! the cdylib cargo built, the scenario's users on the server, the environment the scenario
//! scripts read, and running a script and checking that it passed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use gridbook_tests::{Backend, PASSWORD, TestApp};
use sync_core::record::Role;

/// The cdylib cargo built beside the test's binaries.
pub fn library() -> anyhow::Result<PathBuf> {
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

/// The two-phone scenario's users: two grid workers, a community supervisor and a household
/// liaison of group `ca-1-g1`, all in grid `ca-1`.
pub async fn scenario_users(app: &TestApp) -> anyhow::Result<()> {
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
    Ok(())
}

/// Gives `command` what the scenario scripts read: the server, the users, the stores' folder.
pub fn scenario_env(command: &mut Command, app: &TestApp, stores: &Path) {
    command
        .env("GRIDBOOK_URL", app.url(""))
        .env("GRIDBOOK_PASSWORD", PASSWORD)
        .env("GRIDBOOK_WORKER_A", "worker-a")
        .env("GRIDBOOK_WORKER_B", "worker-b")
        .env("GRIDBOOK_SUPERVISOR", "supervisor")
        .env("GRIDBOOK_LIAISON", "liaison")
        .env("GRIDBOOK_LIAISON_GROUP", "ca-1-g1")
        .env("GRIDBOOK_STORE_DIR", stores);
}

/// Runs the scenario `name` (on a blocking thread: the server runs on this runtime) and
/// fails unless it exited successfully having printed "all checks passed".
pub async fn run_scenario(
    name: &str,
    backend: Backend,
    mut command: Command,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let output = tokio::task::spawn_blocking(move || command.output()).await??;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    println!(
        "{name} ran on {backend:?} in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    if !output.status.success() {
        bail!(
            "{name} failed on {backend:?}: {}\n{stdout}\n{stderr}",
            output.status
        );
    }
    assert!(stdout.contains("all checks passed"), "{stdout}");
    Ok(())
}
