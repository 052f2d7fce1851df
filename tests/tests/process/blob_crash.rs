//! The real server SIGKILLed again and again while a phone uploads photos in parts
//! (`PUT /v1/blobs/{sha256}` with `Content-Range`), on SQLite and PostgreSQL. After every
//! restart, every part a response acknowledged is still held (the upload continues from at
//! least there), every blob acknowledged complete is still stored; in the end every photo is
//! stored byte for byte.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, ensure};
use gridbook_tests::Backend;
use gridbook_tests::process::{Serve, load_small_demo};
use serde_json::{Value, json};
use sync_core::ids::BlobHash;
use sync_core::time::Timestamp;
use tokio::sync::Mutex;

use crate::on;
use crate::phones::{a_household, attach_photos, new_phone};

const KILLS: usize = 4;
const PHOTOS: usize = 6;
/// Bytes per part: small, so a kill lands between parts and inside them.
const PART: usize = 64 * 1024;

/// A photo-sized blob with a JPEG signature (the server reads the signature, not the pixels).
fn photo_bytes(seed: usize) -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0];
    let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ seed as u64;
    while bytes.len() < 1_500_000 + seed * 10_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    bytes
}

/// What responses acknowledged per blob: bytes held, or complete.
type Acknowledged = Arc<Mutex<BTreeMap<BlobHash, (u64, bool)>>>;

async fn status(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    hash: &BlobHash,
) -> anyhow::Result<(String, u64)> {
    let body: Value = http
        .post(format!("{url}/v1/blobs/status"))
        .bearer_auth(token)
        .json(&json!({ "hashes": [hash] }))
        .timeout(Duration::from_secs(10))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let entry = &body["blobs"][0];
    Ok((
        entry["state"].as_str().context("state")?.to_owned(),
        entry["received"].as_u64().context("received")?,
    ))
}

/// Uploads one blob part by part, continuing from what the server holds; retries through
/// outages until it is stored.
async fn upload(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    bytes: &[u8],
    acknowledged: &Acknowledged,
) -> anyhow::Result<()> {
    let hash = BlobHash::of(bytes);
    let total = bytes.len();
    loop {
        let Ok((state, held)) = status(http, url, token, &hash).await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        if state == "stored" {
            return Ok(());
        }
        let start = usize::try_from(held)?;
        if start >= total {
            // Every byte is there and the server is checking them (a part whose answer this
            // phone gave up waiting for): ask again.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        let end = (start + PART).min(total);
        let sent = http
            .put(format!("{url}/v1/blobs/{hash}"))
            .bearer_auth(token)
            .header("Content-Type", "image/jpeg")
            .header(
                "Content-Range",
                format!("bytes {start}-{}/{total}", end - 1),
            )
            .body(bytes[start..end].to_vec())
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        let Ok(response) = sent else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let code = response.status().as_u16();
        let Ok(body) = response.json::<Value>().await else {
            continue;
        };
        match code {
            200..=202 => {
                let received = body["received"].as_u64().context("received")?;
                let complete = body["complete"].as_bool() == Some(true);
                acknowledged
                    .lock()
                    .await
                    .insert(hash.clone(), (received, complete));
                if complete {
                    return Ok(());
                }
            }
            // Another attempt of ours still finishing, or a part the server no longer
            // expects: ask again.
            409 | 503 => tokio::time::sleep(Duration::from_millis(20)).await,
            _ => anyhow::bail!("upload answered {code}: {body}"),
        }
    }
}

async fn sigkill_while_photos_upload(database: String, dir: PathBuf) -> anyhow::Result<()> {
    load_small_demo(&dir, &database)?;
    let mut server = Serve::new(&dir)
        .database(&database)
        .ready_within(Duration::from_secs(30))
        .start()?;
    let http = reqwest::Client::builder().build()?;
    server.wait_ready().await?;
    let url = server.url.clone();

    // The worker attaches six photos to a household of the grid and syncs the record.
    let mut phone = new_phone(&http, &url, "a1", "dzk-01").await?;
    phone.sync(&http, &url, Duration::from_secs(30)).await?;
    let household = a_household(&phone)?;
    let photos: Vec<Vec<u8>> = (0..PHOTOS).map(photo_bytes).collect();
    let now = Timestamp::from_millis(i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis(),
    )?);
    attach_photos(&mut phone, &household, &photos, now)?;
    phone.sync(&http, &url, Duration::from_secs(30)).await?;
    let token = phone.token.clone();

    // Uploads run while the killer works.
    let acknowledged: Acknowledged = Arc::default();
    let uploader = {
        let (http, url, token, photos, acknowledged) = (
            http.clone(),
            url.clone(),
            token.clone(),
            photos.clone(),
            acknowledged.clone(),
        );
        tokio::spawn(async move {
            for bytes in &photos {
                upload(&http, &url, &token, bytes, &acknowledged).await?;
            }
            anyhow::Ok(())
        })
    };
    for kill in 0..KILLS {
        tokio::time::sleep(Duration::from_millis(rand::random_range(100..500))).await;
        server.kill()?;
        let seen = acknowledged.lock().await.clone();
        server.restart()?;
        server.wait_ready().await?;
        for (hash, (received, complete)) in &seen {
            let (state, held) = status(&http, &url, &token, hash).await?;
            if *complete {
                ensure!(
                    state == "stored",
                    "after kill {}: {hash} acknowledged complete is {state}",
                    kill + 1
                );
            } else {
                ensure!(
                    state == "stored" || held >= *received,
                    "after kill {}: {hash} acknowledged {received} bytes, holds {held} ({state})",
                    kill + 1
                );
            }
        }
    }
    tokio::time::timeout(Duration::from_secs(120), uploader)
        .await
        .context("the uploads finish")???;
    let acknowledged = acknowledged.lock().await.len();
    ensure!(
        acknowledged == PHOTOS,
        "every photo was acknowledged ({acknowledged})"
    );
    for bytes in &photos {
        let got = http
            .get(format!("{url}/v1/blobs/{}", BlobHash::of(bytes)))
            .bearer_auth(&token)
            .send()
            .await?
            .error_for_status()?
            .bytes()
            .await?;
        ensure!(got.as_ref() == bytes.as_slice(), "a stored photo differs");
    }
    server.kill()?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_while_photos_upload_loses_nothing_acknowledged_on_sqlite() -> anyhow::Result<()> {
    on(Backend::Sqlite, sigkill_while_photos_upload).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_while_photos_upload_loses_nothing_acknowledged_on_postgres() -> anyhow::Result<()>
{
    on(Backend::Postgres, sigkill_while_photos_upload).await
}
