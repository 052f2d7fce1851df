//! The real server SIGKILLed again and again while four phones (two devices on each of two
//! grids of the small demo street) edit and sync, on SQLite and on PostgreSQL. After every
//! restart each change whose sync response reached a phone is still stored, the database is
//! sound (SQLite's own check), in the end all phones converge, and the log shows no resident's
//! personal data.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, ensure};
use automerge::{ChangeHash, ReadDoc};
use gridbook_tests::Backend;
use gridbook_tests::process::{Serve, load_small_demo};
use sync_core::ids::DocId;
use sync_core::models::HouseholdPrivate;
use tokio::sync::Mutex;

use crate::on;
use crate::phones::{new_phone, same_records};

const KILLS: usize = 6;

async fn sigkill_while_phones_sync(database: String, dir: PathBuf) -> anyhow::Result<()> {
    load_small_demo(&dir, &database)?;
    let mut server = Serve::new(&dir)
        .database(&database)
        .ready_within(Duration::from_secs(30))
        .start()?;
    let http = reqwest::Client::builder().build()?;
    server.wait_ready().await?;
    let url = server.url.clone();

    let mut phones = Vec::new();
    for (name, grid) in [
        ("a1", "dzk-01"),
        ("a2", "dzk-01"),
        ("b1", "dzk-02"),
        ("b2", "dzk-02"),
    ] {
        let mut phone = new_phone(&http, &url, name, grid).await?;
        phone.sync(&http, &url, Duration::from_secs(30)).await?;
        phones.push(Arc::new(Mutex::new(phone)));
    }

    // Phones edit and sync until the killer is done.
    let stop = Arc::new(AtomicBool::new(false));
    let round_trips = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for phone in &phones {
        let (phone, stop, http, url, trips) = (
            phone.clone(),
            stop.clone(),
            http.clone(),
            url.clone(),
            round_trips.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let mut p = phone.lock().await;
                for _ in 0..3 {
                    p.edit(n)?;
                    n += 1;
                }
                if p.round_trip(&http, &url).await? {
                    trips.fetch_add(1, Ordering::Relaxed);
                } else {
                    drop(p);
                    tokio::time::sleep(Duration::from_millis(30)).await;
                }
            }
            anyhow::Ok(n)
        }));
    }

    // The killer: SIGKILL at random moments, restart, and check after each restart that what
    // the phones were told is stored is stored.
    for kill in 0..KILLS {
        let wait = rand::random_range(150..600);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        server.kill()?;
        if database.starts_with("sqlite:") {
            check_sqlite_integrity(&database).await?;
        }
        server.restart()?;
        server.wait_ready().await?;
        let confirmed: Vec<(DocId, Vec<ChangeHash>)> = {
            let mut all = Vec::new();
            for phone in &phones {
                all.extend(phone.lock().await.confirmed.iter().cloned());
            }
            all
        };
        check_stored(&http, &url, &confirmed)
            .await
            .with_context(|| format!("after kill {}", kill + 1))?;
    }
    stop.store(true, Ordering::Relaxed);
    let mut edits = 0;
    for task in tasks {
        edits += task.await??;
    }
    ensure!(
        round_trips.load(Ordering::Relaxed) >= KILLS,
        "the phones hardly synced"
    );

    // Everyone syncs until quiet; phones of one grid hold the same heads.
    for _ in 0..2 {
        for phone in &phones {
            phone
                .lock()
                .await
                .sync(&http, &url, Duration::from_secs(30))
                .await?;
        }
    }
    for pair in phones.chunks(2) {
        let (a, b) = (pair[0].lock().await, pair[1].lock().await);
        same_records(&a, &b)?;
    }
    server.kill()?;

    // The log never shows personal data: no ID number or phone of any resident the phones hold.
    let log = std::fs::read_to_string(&server.log)?;
    let mut secrets = Vec::new();
    for phone in &phones {
        let p = phone.lock().await;
        for id in p.replica.doc_ids() {
            if let Some(Ok(h)) = p
                .replica
                .document(&id)
                .map(|d| d.read::<HouseholdPrivate>())
            {
                for r in h.residents {
                    secrets.extend(r.id_number);
                    secrets.extend(r.phone);
                }
            }
        }
    }
    ensure!(
        secrets.len() > 20,
        "the demo grids hold residents with ID numbers"
    );
    for secret in &secrets {
        ensure!(
            !log.contains(secret.as_str()),
            "the server log shows personal data"
        );
    }
    println!(
        "{edits} edits, {} round trips, {KILLS} kills",
        round_trips.load(Ordering::Relaxed)
    );
    Ok(())
}

/// SQLite's own check of the file the killed server left.
async fn check_sqlite_integrity(database: &str) -> anyhow::Result<()> {
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(database).await?;
    let (verdict,): (String,) = sqlx::query_as("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await?;
    conn.close().await?;
    ensure!(verdict == "ok", "integrity_check: {verdict}");
    Ok(())
}

/// A fresh phone per grid pulls everything; every confirmed (record, heads) must be held.
pub(crate) async fn check_stored(
    http: &reqwest::Client,
    url: &str,
    confirmed: &[(DocId, Vec<ChangeHash>)],
) -> anyhow::Result<()> {
    let mut pulled: BTreeMap<DocId, automerge::Automerge> = BTreeMap::new();
    for grid in ["dzk-01", "dzk-02"] {
        let mut fresh = new_phone(http, url, &format!("check-{grid}"), grid).await?;
        fresh.sync(http, url, Duration::from_secs(30)).await?;
        for id in fresh.replica.doc_ids() {
            if let Some(doc) = fresh.replica.document(&id) {
                pulled.insert(id, doc.automerge().clone());
            }
        }
    }
    for (id, heads) in confirmed {
        let doc = pulled
            .get(id)
            .with_context(|| format!("record {id} was confirmed but is gone"))?;
        ensure!(
            doc.get_missing_deps(heads).is_empty(),
            "record {id}: a confirmed change is gone"
        );
        let _ = doc.get_heads();
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_while_phones_sync_loses_nothing_on_sqlite() -> anyhow::Result<()> {
    on(Backend::Sqlite, sigkill_while_phones_sync).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_while_phones_sync_loses_nothing_on_postgres() -> anyhow::Result<()> {
    on(Backend::Postgres, sigkill_while_phones_sync).await
}
