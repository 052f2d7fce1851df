//! The invariants of `docs/ARCHITECTURE.md` that the source itself can show, checked by reading
//! it: each fails with the file and line that broke it.

use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Every `.rs` file under `dir`, with its text.
fn sources(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(here) = stack.pop() {
        for entry in std::fs::read_dir(&here).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                out.push((path, text));
            }
        }
    }
    out.sort();
    out
}

/// The code of a file without its `#[cfg(test)]` module (tests may do what code may not).
fn without_tests(text: &str) -> &str {
    text.find("#[cfg(test)]\nmod tests")
        .map_or(text, |i| &text[..i])
}

/// Lines of `files` (code outside tests) containing any of `needles`, as `file:line: text`.
fn offending(files: &[(PathBuf, String)], needles: &[&str]) -> Vec<String> {
    let root = workspace();
    let mut found = Vec::new();
    for (path, text) in files {
        for (n, line) in without_tests(text).lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            if needles.iter().any(|needle| line.contains(needle)) {
                let shown = path.strip_prefix(&root).unwrap_or(path);
                found.push(format!("{}:{}: {}", shown.display(), n + 1, line.trim()));
            }
        }
    }
    found
}

#[test]
fn no_route_module_imports_another_route_module() {
    let routes = workspace().join("server/src/routes");
    let files: Vec<_> = sources(&routes)
        .into_iter()
        .filter(|(path, _)| !path.ends_with("mod.rs"))
        .collect();
    assert!(files.len() >= 10, "the route modules were not found");
    let found = offending(&files, &["crate::routes", "super::"]);
    assert!(
        found.is_empty(),
        "route modules import each other (move the shared part to a service): {found:#?}"
    );
}

#[test]
fn sql_is_written_only_under_db() {
    let files: Vec<_> = sources(&workspace().join("server/src"))
        .into_iter()
        .filter(|(path, _)| !path.components().any(|c| c.as_os_str() == "db"))
        .collect();
    let found = offending(
        &files,
        &[
            "sqlx::query",
            "query_scalar(",
            "query_as(",
            "QueryBuilder",
            "on_db!",
            "on_tx!",
        ],
    );
    assert!(found.is_empty(), "SQL outside server/src/db/: {found:#?}");
}

#[test]
fn records_are_written_only_through_the_push_pipeline() {
    // Every change a record receives (a phone's sync, a case action, a conflict resolution)
    // is decided by `apply_push` and persisted by `records::push`; the demo writes through
    // `db::bulk` in one transaction per grid. Nothing else may append changes, take a grid's
    // sequence number (an archive, which logs documents leaving the phones in the grid's
    // sequence, takes it there too) or write a record's row or index rows.
    let files: Vec<_> = sources(&workspace().join("server/src"))
        .into_iter()
        .filter(|(path, _)| {
            let exempt = ["db", "demo", "demo.rs"];
            !path
                .components()
                .any(|c| exempt.iter().any(|e| c.as_os_str() == *e))
                && !path.ends_with("records/push.rs")
        })
        .collect();
    let found = offending(
        &files,
        &[
            "docs::insert_changes",
            "docs::upsert",
            "docs::bump_grid_seq",
            "docs::retag_changes",
            "index::upsert(",
            "index::upsert_conflicts(",
        ],
    );
    assert!(
        found.is_empty(),
        "records written outside server/src/records/push.rs: {found:#?}"
    );
}

#[test]
fn the_environment_is_read_only_in_config() {
    let files: Vec<_> = sources(&workspace().join("server/src"))
        .into_iter()
        .filter(|(path, _)| !path.ends_with("config.rs"))
        .collect();
    let found = offending(&files, &["env::var", "from_env", "env = \"", "env!("]);
    assert!(
        found.is_empty(),
        "the environment read outside server/src/config.rs: {found:#?}"
    );
}

#[test]
fn sync_core_does_no_io_and_reads_the_clock_and_randomness_in_two_places_only() {
    let manifest =
        std::fs::read_to_string(workspace().join("sync-core/Cargo.toml")).unwrap_or_default();
    let dependencies = manifest
        .split("[dependencies]")
        .nth(1)
        .and_then(|rest| rest.split("\n[").next())
        .unwrap_or_default();
    for io in [
        "tokio", "sqlx", "axum", "hyper", "reqwest", "ureq", "uniffi", "rusqlite",
    ] {
        assert!(
            !dependencies.lines().any(|l| l.trim_start().starts_with(io)),
            "sync-core depends on {io}"
        );
    }
    let files = sources(&workspace().join("sync-core/src"));
    let clock = offending(
        &files,
        &[
            "SystemTime",
            "Instant::now",
            "Utc::now",
            "Local::now",
            "now_v7",
            "rand::",
            "std::fs",
            "std::net",
            "std::env",
        ],
    );
    // New ids are UUIDv7 (time-ordered, made on the device), and a new actor id ends in random
    // bytes: the only two reads of the clock or of randomness. Everything else takes "now".
    let allowed = |line: &str| {
        (line.starts_with("sync-core/src/ids.rs") && line.contains("now_v7"))
            || (line.starts_with("sync-core/src/doc.rs") && line.contains("rand::random"))
    };
    let unexpected: Vec<&String> = clock.iter().filter(|l| !allowed(l)).collect();
    assert!(
        unexpected.is_empty(),
        "sync-core reads the clock, randomness or the system: {unexpected:#?}"
    );
    assert_eq!(clock.len(), 2, "{clock:#?}");
}

#[test]
fn only_the_phone_library_knows_uniffi() {
    for krate in ["sync-core", "server", "tests", "bench"] {
        let manifest =
            std::fs::read_to_string(workspace().join(krate).join("Cargo.toml")).unwrap_or_default();
        assert!(!manifest.contains("uniffi"), "{krate} depends on uniffi");
    }
}
