//! Loads the demo data set into a fresh database and prints how long it took.
//!
//! ```text
//! cargo run --release -p gridbook-server --example demo_load                # Full, temp SQLite file
//! cargo run --release -p gridbook-server --example demo_load -- small       # Small
//! cargo run --release -p gridbook-server --example demo_load -- full postgres://postgres@127.0.0.1:5432/postgres
//! ```
//!
//! With a PostgreSQL URL, a database with a random name is created on that server, loaded and
//! dropped afterwards. A `sqlite://FILE` URL loads into that file and keeps it.

use std::time::Instant;

use gridbook_server::db::Db;
use gridbook_server::demo::{self, DemoProgress, DemoSize};
use sync_core::time::Timestamp;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let size = match args.next().as_deref() {
        None | Some("full") => DemoSize::Full,
        Some("small") => DemoSize::Small,
        Some(other) => anyhow::bail!("unknown size {other:?} (full or small)"),
    };
    let postgres = args.next();
    let now = Timestamp::from_millis(chrono::Utc::now().timestamp_millis());

    let _dir;
    let mut pg_admin: Option<(String, String)> = None;
    let url = match &postgres {
        None => {
            let dir = tempfile::tempdir()?;
            let url = format!("sqlite://{}", dir.path().join("demo.db").display());
            _dir = Some(dir);
            url
        }
        Some(file) if file.starts_with("sqlite:") => {
            _dir = None;
            file.clone()
        }
        Some(admin_url) => {
            _dir = None;
            let name = format!("gridbook_demo_{}", uuid::Uuid::new_v4().simple());
            let pool = sqlx::PgPool::connect(admin_url).await?;
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                .execute(&pool)
                .await?;
            pool.close().await;
            pg_admin = Some((admin_url.clone(), name.clone()));
            let base = admin_url
                .rsplit_once('/')
                .map_or(admin_url.as_str(), |(b, _)| b);
            format!("{base}/{name}")
        }
    };

    let result = run(&url, size, now).await;

    if let Some((admin_url, name)) = pg_admin {
        let pool = sqlx::PgPool::connect(&admin_url).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
        )))
        .execute(&pool)
        .await?;
        pool.close().await;
        println!("dropped database {name}");
    }
    result
}

async fn run(url: &str, size: DemoSize, now: Timestamp) -> anyhow::Result<()> {
    let backend = if url.starts_with("sqlite:") {
        "SQLite"
    } else {
        "PostgreSQL"
    };
    let db = Db::connect(url).await?;
    db.migrate().await?;
    let started = Instant::now();
    let mut last_print = Instant::now();
    let summary = demo::load(&db, size, now, &mut |p| {
        let grid = matches!(p, DemoProgress::Grid { .. });
        if !grid || last_print.elapsed().as_millis() >= 500 {
            println!("[{:6.2} s] {p}", started.elapsed().as_secs_f64());
            last_print = Instant::now();
        }
    })
    .await?;
    let elapsed = started.elapsed();
    db.close().await;
    println!(
        "{size:?} demo loaded into {backend} in {:.2} s ({} cores)",
        elapsed.as_secs_f64(),
        std::thread::available_parallelism().map_or(1, usize::from)
    );
    println!("records: {:?}", summary.records);
    println!(
        "residents {} (moved out {}, special groups {}), changes {}",
        summary.residents, summary.residents_moved_out, summary.residents_special, summary.changes
    );
    let mut states: Vec<String> = Vec::new();
    for state in sync_core::workflow::CaseState::ALL {
        states.push(format!("{state} {}", summary.cases_in_state(*state)));
    }
    println!("cases by state: {}", states.join(", "));
    let mut kinds: Vec<String> = Vec::new();
    for kind in sync_core::models::case::CaseKind::ALL {
        kinds.push(format!("{kind} {}", summary.cases_of_kind(*kind)));
    }
    println!("cases by kind: {}", kinds.join(", "));
    println!(
        "overdue {}, escalated {}, supervised yellow {} / red {}, delay requests {}, quick {}, reopened {}, visits opening cases {}",
        summary.cases_overdue,
        summary.cases_escalated,
        summary.cases_supervised_yellow,
        summary.cases_supervised_red,
        summary.cases_with_delay_request,
        summary.cases_quick_resolved,
        summary.cases_reopened,
        summary.visits_opening_cases
    );
    println!("users: {:?}", summary.users);
    print!("{}", summary.login_help());
    Ok(())
}
