//! Loads the demo data set into a fresh SQLite file and prints everything it wrote that does
//! not depend on chance, so two loads (or a load before and after a change to `demo`) can be
//! compared with `diff`.
//!
//! ```text
//! cargo run -p gridbook-server --example demo_dump -- small > /tmp/demo-small.txt
//! cargo run --release -p gridbook-server --example demo_dump -- full > /tmp/demo-full.txt
//! ```
//!
//! Every table is printed row by row, ordered by its printed columns (blobs aside). Left out, because they
//! differ between loads: wall-clock times (`created_at`, `updated_at`, `received_at`), the
//! password hash (random salt), and everything made of actor ids (heads, change hashes). A
//! record's snapshot is printed as its JSON; a change as its decoded operations, with each
//! actor id cut to its device part and each dependency shown as `record#position`.

use std::collections::HashMap;
use std::io::Write;

use automerge::Change;
use gridbook_server::db::Db;
use gridbook_server::demo::{self, DemoSize};
use sqlx::{Row, SqlitePool};
use sync_core::doc::Document;
use sync_core::time::Timestamp;

/// Columns left out: wall-clock times and values made from random bytes.
const SKIPPED: &[&str] = &[
    "created_at",
    "updated_at",
    "received_at",
    "password_hash",
    "heads",
    "hash",
];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let size = match std::env::args().nth(1).as_deref() {
        Some("small") | None => DemoSize::Small,
        Some("full") => DemoSize::Full,
        Some(other) => anyhow::bail!("unknown size {other:?} (small or full)"),
    };
    // The same fixed "now" as the demo tests: 2026-03-04 18:12 in China.
    let now: Timestamp = "2026-03-04T10:12:00Z".parse()?;
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("demo.db").display());
    let db = Db::connect(&url).await?;
    db.migrate().await?;
    let summary = demo::load(&db, size, now, &mut |_| {}).await?;
    db.close().await;

    let out = std::io::stdout();
    let mut out = std::io::BufWriter::new(out.lock());
    writeln!(out, "{summary:#?}")?;
    let pool = SqlitePool::connect(&url).await?;
    let hashes: HashMap<String, String> = sqlx::query("SELECT hash, doc_id, idx FROM changes")
        .fetch_all(&pool)
        .await?
        .into_iter()
        .map(|r| {
            let (hash, doc, idx): (String, String, i64) = (r.get(0), r.get(1), r.get(2));
            (hash, format!("{doc}#{idx}"))
        })
        .collect();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table'
           AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx_%' ORDER BY name",
    )
    .fetch_all(&pool)
    .await?;
    for table in tables {
        let columns: Vec<String> = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT name FROM pragma_table_info('{table}') ORDER BY cid"
        )))
        .fetch_all(&pool)
        .await?
        .into_iter()
        .map(|r| r.get::<String, _>(0))
        .filter(|c| !SKIPPED.contains(&c.as_str()))
        .collect();
        let shown: Vec<String> = columns.iter().map(|c| format!("quote({c})")).collect();
        // Blobs hold actor ids: ordered by the other columns.
        let order: Vec<&str> = columns
            .iter()
            .map(String::as_str)
            .filter(|c| !["snapshot", "bytes"].contains(c))
            .collect();
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM {table} ORDER BY {}",
            shown.join(", "),
            order.join(", ")
        )))
        .fetch_all(&pool)
        .await?;
        writeln!(
            out,
            "== {table} ({} rows): {}",
            rows.len(),
            columns.join(" | ")
        )?;
        for row in rows {
            let mut cells = Vec::with_capacity(columns.len());
            for (i, column) in columns.iter().enumerate() {
                let cell: Option<String> = row.get(i);
                let cell = cell.unwrap_or_default();
                cells.push(match (table.as_str(), column.as_str()) {
                    ("docs", "snapshot") => record_json(&cell)?,
                    ("changes", "bytes") => change_text(&cell, &hashes)?,
                    _ => cell,
                });
            }
            writeln!(out, "{}", cells.join(" | "))?;
        }
    }
    out.flush()?;
    pool.close().await;
    Ok(())
}

/// The bytes of an SQL blob literal as `quote()` prints it (`X'0A1B…'`).
fn blob(literal: &str) -> anyhow::Result<Vec<u8>> {
    let hex = literal
        .strip_prefix("X'")
        .and_then(|s| s.strip_suffix('\''))
        .ok_or_else(|| anyhow::anyhow!("not a blob literal"))?;
    Ok(hex::decode(hex)?)
}

/// A record's snapshot as the record's JSON.
fn record_json(literal: &str) -> anyhow::Result<String> {
    let doc = Document::load(&blob(literal)?)?;
    Ok(serde_json::to_string(&doc.json())?)
}

/// A change's operations and header with actor ids cut to their device part and dependencies
/// named by record and position (sorted: the stored order follows the hashes).
fn change_text(literal: &str, hashes: &HashMap<String, String>) -> anyhow::Result<String> {
    let change = Change::from_bytes(blob(literal)?)?;
    let mut expanded = change.decode();
    expanded.hash = None;
    let mut deps: Vec<String> = change
        .deps()
        .iter()
        .map(|h| {
            let h = h.to_string();
            hashes.get(&h).cloned().unwrap_or(h)
        })
        .collect();
    deps.sort();
    expanded.deps = Vec::new();
    let mut text = serde_json::to_string(&expanded)?;
    let mut actors = vec![change.actor_id().clone()];
    actors.extend(change.other_actor_ids().iter().cloned());
    for actor in actors {
        let hex = actor.to_hex_string();
        text = text.replace(&hex, &hex[..hex.len().min(32)]);
    }
    Ok(format!("deps {deps:?} {text}"))
}
