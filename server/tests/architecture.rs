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

/// The text of every string literal of `code` (SQL is written in them), in order; escapes are
/// kept as written (SQL needs none of them).
fn string_literals(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = code.chars().peekable();
    let mut in_comment = false;
    while let Some(c) = chars.next() {
        if in_comment {
            in_comment = c != '\n';
            continue;
        }
        match c {
            '/' if chars.peek() == Some(&'/') => in_comment = true,
            '\'' => {
                // A char literal ('"', '\'') or a lifetime: skip what a char literal can hold.
                let ahead: String = chars.clone().take(3).collect();
                if ahead.starts_with("\\") {
                    chars.nth(2);
                } else if ahead.chars().nth(1) == Some('\'') {
                    chars.nth(1);
                }
            }
            '"' => {
                let mut text = String::new();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some(next) = chars.next() {
                                text.push('\\');
                                text.push(next);
                            }
                        }
                        '"' => break,
                        _ => text.push(c),
                    }
                }
                out.push(text);
            }
            _ => {}
        }
    }
    out
}

/// The words of `sql` (split at blanks, parentheses and commas).
fn words(sql: &str) -> Vec<&str> {
    sql.split(|c: char| c.is_whitespace() || c == '(' || c == ')' || c == ',')
        .filter(|w| !w.is_empty())
        .collect()
}

#[test]
fn every_join_between_tables_distributed_by_street_matches_the_street() {
    // Shard-ready (docs/ARCHITECTURE.md "Beyond one database server"): two tables distributed
    // by street are joined only on their street (a join that stays on one shard), and a table
    // kept on the coordinator is never joined with a distributed one, except by the blob
    // collector (a maintenance job that reads every street's references).
    use gridbook_server::db::{DISTRIBUTED_BY_STREET, SHARED_TABLES, Shared};
    let coordinator: Vec<&str> = SHARED_TABLES
        .iter()
        .filter(|(_, kind, _)| *kind == Shared::Coordinator)
        .map(|(name, _, _)| *name)
        .collect();
    let allowed = [
        "from blob_refs r where r.sha256 = blobs.sha256",
        "from blob_refs r where r.sha256 = $1",
    ];
    let root = workspace();
    let mut found = Vec::new();
    let mut joins_checked = 0;
    for (path, text) in sources(&workspace().join("server/src/db")) {
        for literal in string_literals(without_tests(&text)) {
            let sql = literal
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .to_lowercase();
            let w = words(&sql);
            // The tables a statement reads or writes, and those it joins (or reads in a
            // subquery): `FROM t`, `UPDATE t`, `INTO t`, `JOIN t`.
            let mut tables = Vec::new();
            for pair in w.windows(2) {
                if matches!(pair[0], "from" | "join" | "update" | "into") {
                    tables.push(pair[1]);
                }
            }
            let distributed: Vec<&str> = tables
                .iter()
                .copied()
                .filter(|t| DISTRIBUTED_BY_STREET.contains(t))
                .collect();
            let local: Vec<&str> = tables
                .iter()
                .copied()
                .filter(|t| coordinator.contains(t))
                .collect();
            let shown = path
                .strip_prefix(&root)
                .unwrap_or(&path)
                .display()
                .to_string();
            if !distributed.is_empty()
                && !local.is_empty()
                && !allowed.iter().any(|a| sql.contains(a))
            {
                found.push(format!(
                    "{shown}: joins {local:?} kept on the coordinator with {distributed:?}: {sql}"
                ));
            }
            // Each `JOIN t a ON cond` or `EXISTS (SELECT .. FROM t a WHERE cond)` between two
            // distributed tables names `street_id` in its condition.
            for (i, word) in w.iter().enumerate() {
                let joined = match *word {
                    "join" => w.get(i + 1),
                    "exists" if w.get(i + 1) == Some(&"select") => w[i..]
                        .iter()
                        .position(|x| *x == "from")
                        .and_then(|p| w.get(i + p + 1)),
                    _ => None,
                };
                let Some(joined) = joined else { continue };
                if !DISTRIBUTED_BY_STREET.contains(joined) || distributed.len() < 2 {
                    continue;
                }
                joins_checked += 1;
                let cond: Vec<&str> = w[i + 2..]
                    .iter()
                    .skip_while(|x| !matches!(**x, "on" | "where"))
                    .skip(1)
                    .take_while(|x| {
                        !matches!(**x, "join" | "left" | "where" | "group" | "order" | "limit")
                    })
                    .copied()
                    .collect();
                if !cond.iter().any(|x| x.contains("street_id")) {
                    found.push(format!(
                        "{shown}: joins {joined} without matching the street: {sql}"
                    ));
                }
            }
        }
    }
    assert!(
        joins_checked >= 3,
        "the check found the joins it guards ({joins_checked})"
    );
    assert!(found.is_empty(), "joins that cross streets: {found:#?}");
}
