//! `gridbook backup FILE` on the SQLite default, taken while phones sync through the running
//! server; the server is then killed and a new one started on the backup (the restore drill
//! of `docs/DEPLOYMENT.md`): every change confirmed before the backup began is there, the
//! photo is there byte for byte, and the phones sign in again and sync on. The command refuses
//! to overwrite a file and names PostgreSQL's tools for PostgreSQL.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, ensure};
use gridbook_tests::Backend;
use gridbook_tests::process::{Serve, gridbook, load_small_demo, run_fails, run_ok};
use sync_core::ids::BlobHash;
use sync_core::time::Timestamp;
use tokio::sync::Mutex;

use crate::crash::check_stored;
use crate::on;
use crate::phones::{Phone, a_household, attach_photos, new_phone};

/// A photo-sized blob with a JPEG signature.
fn photo() -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0];
    bytes.extend((0..200_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8));
    bytes
}

/// Attaches `bytes` to a household of `phone`'s grid, syncs it and uploads the bytes.
async fn attach_and_upload(
    http: &reqwest::Client,
    url: &str,
    phone: &mut Phone,
    bytes: &[u8],
) -> anyhow::Result<BlobHash> {
    let household = a_household(phone)?;
    let hash = BlobHash::of(bytes);
    attach_photos(
        phone,
        &household,
        &[bytes.to_vec()],
        Timestamp::from_millis(1_790_000_000_000),
    )?;
    phone.sync(http, url, Duration::from_secs(30)).await?;
    let status = http
        .put(format!("{url}/v1/blobs/{hash}"))
        .bearer_auth(&phone.token)
        .header("Content-Type", "image/jpeg")
        .body(bytes.to_vec())
        .send()
        .await?
        .status();
    ensure!(status.as_u16() == 201, "the upload answered {status}");
    Ok(hash)
}

async fn backup_while_syncing_then_restore(database: String, dir: PathBuf) -> anyhow::Result<()> {
    load_small_demo(&dir, &database)?;
    let mut server = Serve::new(&dir)
        .database(&database)
        .ready_within(Duration::from_secs(30))
        .start()?;
    server.wait_ready().await?;
    let url = server.url.clone();
    let http = reqwest::Client::builder().build()?;

    let mut first = new_phone(&http, &url, "p1", "dzk-01").await?;
    first.sync(&http, &url, Duration::from_secs(30)).await?;
    let bytes = photo();
    let hash = attach_and_upload(&http, &url, &mut first, &bytes).await?;
    let mut second = new_phone(&http, &url, "q1", "dzk-02").await?;
    second.sync(&http, &url, Duration::from_secs(30)).await?;

    // Both phones edit and sync without pause while the backup is taken.
    let phones = [Arc::new(Mutex::new(first)), Arc::new(Mutex::new(second))];
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for phone in &phones {
        let (phone, stop, http, url) = (phone.clone(), stop.clone(), http.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let mut p = phone.lock().await;
                p.edit(n)?;
                n += 1;
                ensure!(p.round_trip(&http, &url).await?, "a round trip failed");
            }
            anyhow::Ok(n)
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut confirmed_before = Vec::new();
    for phone in &phones {
        confirmed_before.extend(phone.lock().await.confirmed.iter().cloned());
    }
    let out = {
        let dir = dir.clone();
        let database = database.clone();
        tokio::task::spawn_blocking(move || {
            run_ok(gridbook(&dir)?.args(["backup", "--database-url", &database, "backup.db"]))
        })
        .await??
    };
    ensure!(out.contains("1 photos and files"), "{out}");
    // Residents' personal data: the copy is its owner's alone.
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &str| -> anyhow::Result<u32> {
            Ok(std::fs::metadata(dir.join(p))?.permissions().mode() & 0o777)
        };
        ensure!(
            mode("backup.db")? == 0o600,
            "backup.db is {:o}",
            mode("backup.db")?
        );
        ensure!(
            mode("backup.blobs")? == 0o700,
            "backup.blobs is {:o}",
            mode("backup.blobs")?
        );
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let mut edits = 0;
    for task in tasks {
        edits += task.await??;
    }
    ensure!(edits >= 10, "the phones hardly synced ({edits} edits)");

    // No overwriting, and PostgreSQL is pointed to its own tools.
    let refused =
        run_fails(gridbook(&dir)?.args(["backup", "--database-url", &database, "backup.db"]))?;
    ensure!(refused.contains("exists already"), "{refused}");
    let refused = run_fails(gridbook(&dir)?.args([
        "backup",
        "--database-url",
        "postgres://postgres@127.0.0.1:1/none",
        "pg.db",
    ]))?;
    ensure!(refused.contains("pg_basebackup"), "{refused}");

    // The restore drill: the server is lost; a new one starts on the backup.
    server.kill()?;
    let restored_db = format!("sqlite://{}", dir.join("backup.db").display());
    let mut restored = Serve::new(&dir)
        .database(&restored_db)
        .ready_within(Duration::from_secs(30))
        .start()?;
    restored.wait_ready().await?;
    let url = restored.url.clone();
    check_stored(&http, &url, &confirmed_before)
        .await
        .context("on the restored server")?;
    let mut reader = new_phone(&http, &url, "reader", "dzk-01").await?;
    reader.sync(&http, &url, Duration::from_secs(30)).await?;
    let got = http
        .get(format!("{url}/v1/blobs/{hash}"))
        .bearer_auth(&reader.token)
        .send()
        .await?
        .error_for_status()?
        .bytes()
        .await?;
    ensure!(
        got.as_ref() == bytes.as_slice(),
        "the restored photo differs"
    );

    // The key file stayed behind, so the phones' tokens are void: they sign in again, as the
    // same devices, and sync on.
    for phone in &phones {
        let mut p = phone.lock().await;
        let stale = http
            .post(format!("{url}/v1/sync"))
            .bearer_auth(&p.token)
            .json(&p.replica.build_request())
            .send()
            .await?
            .status();
        ensure!(stale.as_u16() == 401, "an old token answered {stale}");
        let login = if p.name == "p1" { "dzk-01" } else { "dzk-02" };
        let body: serde_json::Value = http
            .post(format!("{url}/v1/auth/login"))
            .json(&serde_json::json!({
                "login": login,
                "password": gridbook_server::demo::DEMO_PASSWORD,
                "device_id": p.replica.device(),
            }))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        p.token = body["access_token"].as_str().context("token")?.to_owned();
        p.edit(10_000)?;
        p.sync(&http, &url, Duration::from_secs(30)).await?;
    }
    restored.kill()?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_online_backup_restores_and_phones_sync_from_it() -> anyhow::Result<()> {
    on(Backend::Sqlite, backup_while_syncing_then_restore).await
}
