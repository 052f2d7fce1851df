//! The phone library through its generated Kotlin bindings, compiled and run on the JVM,
//! against the real server.
//!
//! Cargo builds the library (cdylib) with this test; the test generates the Kotlin bindings
//! from it with the workspace's `uniffi-bindgen`, compiles them together with
//! `tests/kotlin/TwoPhones.kt` in one `kotlinc` run (JNA on the classpath), starts a server on
//! a fresh database and runs the scenario with `java` (two grid workers' phones, a supervisor
//! and a household liaison, as in the Python test). On SQLite and, when
//! `GRIDBOOK_TEST_POSTGRES_URL` is set, on PostgreSQL; both share one compile, and the
//! compiled classes are kept under the target folder, keyed by a hash of the sources, so
//! a rerun with unchanged bindings and scenario skips `kotlinc`.
//!
//! Tools: `kotlinc` (the npm package `kotlin-compiler`, or `KOTLINC=/path/to/kotlinc`), its
//! `kotlin-stdlib.jar`, JNA (Debian's `libjna-java`, or `JNA_JAR=/path/to/jna.jar`) and
//! `java` 11 or later. `scripts/test` installs the first two when missing. Without them the
//! test says that it skips, except under `CI=true`, where it fails.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{Context, bail};
use gridbook_tests::{Backend, TestApp};
use sha2::{Digest, Sha256};

/// The Kotlin and Java tools this test needs.
#[derive(Debug, Clone)]
struct Tools {
    kotlinc: PathBuf,
    stdlib: PathBuf,
    jna: PathBuf,
}

/// `kotlinc` from `KOTLINC`, the `PATH`, or npm's global `kotlin-compiler` package (which puts
/// only `kotlinc-js` on the `PATH`).
fn find_kotlinc() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("KOTLINC") {
        return Some(PathBuf::from(path));
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|dir| dir.join("kotlinc"))
        .find(|p| p.is_file());
    if on_path.is_some() {
        return on_path;
    }
    let mut roots = vec![
        PathBuf::from("/usr/lib/node_modules"),
        PathBuf::from("/usr/local/lib/node_modules"),
    ];
    if let Ok(out) = Command::new("npm").args(["root", "-g"]).output()
        && out.status.success()
    {
        roots.insert(
            0,
            PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()),
        );
    }
    roots
        .into_iter()
        .map(|root| root.join("kotlin-compiler/bin/kotlinc"))
        .find(|p| p.is_file())
}

fn find_tools() -> Result<Tools, String> {
    let kotlinc = find_kotlinc()
        .ok_or("kotlinc not found (npm install -g kotlin-compiler, or set KOTLINC)".to_owned())?;
    // bin/kotlinc -> lib/kotlin-stdlib.jar, following a symlinked kotlinc to its distribution.
    let home = kotlinc
        .canonicalize()
        .ok()
        .and_then(|p| Some(p.parent()?.parent()?.to_path_buf()))
        .ok_or(format!("no distribution around {}", kotlinc.display()))?;
    let stdlib = home.join("lib/kotlin-stdlib.jar");
    if !stdlib.is_file() {
        return Err(format!("{} not found", stdlib.display()));
    }
    let jna = std::env::var_os("JNA_JAR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/share/java/jna.jar"));
    if !jna.is_file() {
        return Err(format!(
            "{} not found (apt-get install libjna-java, or set JNA_JAR)",
            jna.display()
        ));
    }
    let java_runs = Command::new("java")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !java_runs {
        return Err("java not found".to_owned());
    }
    Ok(Tools {
        kotlinc,
        stdlib,
        jna,
    })
}

/// Generates the bindings and compiles them with the scenario: the folder of classes.
fn compile(tools: &Tools) -> anyhow::Result<PathBuf> {
    let library = common::library()?;
    let generated = tempfile::tempdir()?;
    let status = Command::new(env!("CARGO_BIN_EXE_uniffi-bindgen"))
        .args(["generate", "--no-format", "--library"])
        .arg(&library)
        .args(["--language", "kotlin", "--out-dir"])
        .arg(generated.path())
        .status()?;
    if !status.success() {
        bail!("uniffi-bindgen failed: {status}");
    }
    let bindings = generated.path().join("org/gridbook/mobile/gridbook.kt");
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/kotlin/TwoPhones.kt");

    let mut hash = Sha256::new();
    for file in [&bindings, &scenario] {
        hash.update(std::fs::read(file).with_context(|| format!("reading {}", file.display()))?);
    }
    hash.update(tools.kotlinc.to_string_lossy().as_bytes());
    let key: String = hash
        .finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect();
    // Beside the test's binaries (target/debug/), which `cargo clean` removes.
    let target = Path::new(env!("CARGO_BIN_EXE_uniffi-bindgen"))
        .parent()
        .context("bindgen has a folder")?
        .join("kotlin-two-phones");
    let classes = target.join(&key);
    if classes.join("TwoPhonesKt.class").is_file() {
        println!("kotlinc: unchanged sources, reusing {}", classes.display());
        return Ok(classes);
    }
    // Earlier compiles are stale now.
    let _ = std::fs::remove_dir_all(&target);
    let partial = target.join(format!("{key}.partial"));
    std::fs::create_dir_all(&partial)?;

    let started = Instant::now();
    let output = Command::new(&tools.kotlinc)
        // The generated code has unused parameters and such: its warnings are not ours.
        .arg("-nowarn")
        // kotlinc is a short-lived JVM program: its quick JIT tier alone halves the compile
        // here (about 26 s instead of 55 s for the ~10,000 generated lines on two busy cores).
        .args(["-J-XX:TieredStopAtLevel=1", "-J-XX:+UseSerialGC"])
        .args(["-jvm-target", "11", "-cp"])
        .arg(&tools.jna)
        .arg("-d")
        .arg(&partial)
        .arg(&bindings)
        .arg(&scenario)
        .output()
        .with_context(|| format!("running {}", tools.kotlinc.display()))?;
    if !output.status.success() {
        bail!(
            "kotlinc failed: {}\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    std::fs::rename(&partial, &classes)?;
    println!(
        "kotlinc: compiled the bindings and TwoPhones.kt in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(classes)
}

/// One compile for both tests of this binary (they run in parallel): the tools and classes,
/// `None` when the tools are missing outside CI.
fn compiled() -> anyhow::Result<Option<(Tools, PathBuf)>> {
    static COMPILED: Mutex<Option<(Tools, PathBuf)>> = Mutex::new(None);
    let mut slot = COMPILED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(done) = slot.as_ref() {
        return Ok(Some(done.clone()));
    }
    let tools = match find_tools() {
        Ok(tools) => tools,
        Err(missing) if std::env::var("CI").as_deref() == Ok("true") => {
            bail!("the Kotlin bindings test needs its tools in CI: {missing}")
        }
        Err(missing) => {
            eprintln!("skipping the Kotlin bindings test: {missing}");
            return Ok(None);
        }
    };
    let classes = compile(&tools)?;
    *slot = Some((tools.clone(), classes.clone()));
    Ok(Some((tools, classes)))
}

async fn run_on(backend: Backend) -> anyhow::Result<()> {
    let Some(app) = TestApp::spawn(backend).await? else {
        return Ok(());
    };
    let Some((tools, classes)) = tokio::task::spawn_blocking(compiled).await?? else {
        return Ok(());
    };
    common::scenario_users(&app).await?;

    let stores = tempfile::tempdir()?;
    let classpath = std::env::join_paths([&classes, &tools.stdlib, &tools.jna])?;
    let mut command = Command::new("java");
    command
        // The library this test was built with, by path (the bindings' own override).
        .arg(format!(
            "-Duniffi.component.gridbook.libraryOverride={}",
            common::library()?.display()
        ))
        // A short-lived program: the quick JIT tier is enough.
        .arg("-XX:TieredStopAtLevel=1")
        .arg("-cp")
        .arg(classpath)
        .arg("TwoPhonesKt");
    common::scenario_env(&mut command, &app, stores.path());
    common::run_scenario("TwoPhones.kt", backend, command).await?;
    app.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_phones_converge_through_the_kotlin_bindings_on_sqlite() -> anyhow::Result<()> {
    run_on(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_phones_converge_through_the_kotlin_bindings_on_postgres() -> anyhow::Result<()> {
    run_on(Backend::Postgres).await
}
