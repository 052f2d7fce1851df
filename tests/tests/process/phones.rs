//! A phone of the demo street for the process tests: it signs in over HTTP, edits households,
//! and syncs through outages, keeping every (record, heads) a sync response confirmed.

use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use automerge::ChangeHash;
use gridbook_server::demo::DEMO_PASSWORD;
use serde_json::Value;
use sync_core::client::Replica;
use sync_core::ids::{BlobHash, DeviceId, DocId, ItemId};
use sync_core::models::household::Household;
use sync_core::models::{Attachment, AttachmentStage, MediaType};
use sync_core::protocol::{SyncRequest, SyncResponse};
use sync_core::record::RecordKind;
use sync_core::time::Timestamp;
use sync_core::validate::ValidationContext;

/// A phone of the demo street: a replica and a session, keeping what the server confirmed and
/// retrying through outages.
pub struct Phone {
    pub name: String,
    pub token: String,
    pub replica: Replica,
    /// Every (record, heads) a sync response confirmed to this phone.
    pub confirmed: Vec<(DocId, Vec<ChangeHash>)>,
    /// Why the last failed round trip failed.
    pub last_failure: String,
}

/// Signs the demo user `login` in: an access token and the new device.
async fn login(
    http: &reqwest::Client,
    url: &str,
    login: &str,
) -> anyhow::Result<(String, DeviceId)> {
    let body: Value = http
        .post(format!("{url}/v1/auth/login"))
        .json(&serde_json::json!({ "login": login, "password": DEMO_PASSWORD, "device_name": "crash test" }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok((
        body["access_token"].as_str().context("token")?.to_owned(),
        body["device_id"].as_str().context("device")?.parse()?,
    ))
}

impl Phone {
    /// One round trip. `Ok(false)` when the server was unreachable or failed (retry later).
    pub async fn round_trip(&mut self, http: &reqwest::Client, url: &str) -> anyhow::Result<bool> {
        let request: SyncRequest = self.replica.build_request();
        let sent = http
            .post(format!("{url}/v1/sync"))
            .bearer_auth(&self.token)
            .json(&request)
            .timeout(Duration::from_secs(30))
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(e) => {
                self.last_failure = e.to_string();
                return Ok(false);
            }
        };
        let status = response.status();
        if status.is_server_error() {
            self.last_failure = format!("{status}: {}", response.text().await.unwrap_or_default());
            return Ok(false);
        }
        ensure!(status.is_success(), "{}: sync answered {status}", self.name);
        let Ok(body) = response.bytes().await else {
            return Ok(false);
        };
        let response: SyncResponse = serde_json::from_slice(&body)?;
        let report = self.replica.apply_response(&request, &response)?;
        for (id, _) in &report.docs {
            if let Some(heads) = self.replica.base_heads(id)
                && !heads.is_empty()
            {
                self.confirmed.push((id.clone(), heads.to_vec()));
            }
        }
        Ok(true)
    }

    /// Syncs until nothing is due, retrying through outages (up to `patience`).
    pub async fn sync(
        &mut self,
        http: &reqwest::Client,
        url: &str,
        patience: Duration,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + patience;
        loop {
            if self.round_trip(http, url).await? {
                let pending = self.replica.pending();
                if pending.is_empty() {
                    return Ok(());
                }
                if let Some(refusal) = pending.iter().find_map(|id| self.replica.rejection(id)) {
                    self.last_failure = format!("refused: {} {}", refusal.code, refusal.message);
                }
            } else {
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
            ensure!(
                Instant::now() < deadline,
                "{}: no sync within {patience:?} (last failure: {})",
                self.name,
                self.last_failure
            );
        }
    }

    /// Tags one household.
    pub fn tag(&mut self, id: &DocId, tag: &str) -> anyhow::Result<()> {
        let tag = format!("{}-{tag}", self.name);
        let at = Timestamp::from_millis(1_790_000_000_000);
        self.replica
            .update(id, at, |h: &mut Household| h.tags.push(tag))?;
        Ok(())
    }

    /// Tags a random household of the grid (an edit every phone sees as a list insert).
    pub fn edit(&mut self, n: usize) -> anyhow::Result<()> {
        let ids: Vec<DocId> = self
            .replica
            .doc_ids()
            .into_iter()
            .filter(|id| {
                self.replica
                    .document(id)
                    .is_some_and(|d| d.kind() == RecordKind::Household)
            })
            .collect();
        ensure!(!ids.is_empty(), "{}: no households", self.name);
        let id = ids[rand::random_range(0..ids.len())].clone();
        let tag = format!("{}-{n}", self.name);
        let at = Timestamp::from_millis(1_780_000_000_000 + n as i64);
        self.replica
            .update(&id, at, |h: &mut Household| h.tags.push(tag))?;
        Ok(())
    }
}

/// A new phone named `name`, signed in as the demo user `login` (a grid worker's login is
/// their grid's code).
pub async fn new_phone(
    http: &reqwest::Client,
    url: &str,
    name: &str,
    login: &str,
) -> anyhow::Result<Phone> {
    let (token, device) = self::login(http, url, login).await?;
    Ok(Phone {
        name: name.to_owned(),
        token,
        replica: Replica::new(device, ValidationContext::default()),
        confirmed: Vec::new(),
        last_failure: String::new(),
    })
}

/// Every document of `a` is in `b` with the same heads, and the other way round.
pub fn same_records(a: &Phone, b: &Phone) -> anyhow::Result<()> {
    ensure!(
        a.replica.doc_ids() == b.replica.doc_ids(),
        "{} and {} hold other records",
        a.name,
        b.name
    );
    for id in a.replica.doc_ids() {
        let ha = a.replica.document(&id).map(|d| d.heads());
        let hb = b.replica.document(&id).map(|d| d.heads());
        ensure!(ha == hb, "{} and {} differ on {id}", a.name, b.name);
    }
    Ok(())
}

/// Two phones on each of the demo's grids `dzk-01` (`p1`, `p2`) and `dzk-02` (`q1`, `q2`),
/// signed in and synced through `url`.
pub async fn four_phones(http: &reqwest::Client, url: &str) -> anyhow::Result<Vec<Phone>> {
    let mut phones = Vec::new();
    for (name, grid) in [
        ("p1", "dzk-01"),
        ("p2", "dzk-01"),
        ("q1", "dzk-02"),
        ("q2", "dzk-02"),
    ] {
        let mut p = new_phone(http, url, name, grid).await?;
        p.sync(http, url, Duration::from_secs(30)).await?;
        phones.push(p);
    }
    Ok(phones)
}

/// [`four_phones`] after their work: each syncs twice, alternating between `urls`; then the
/// phones of a grid must hold the same records. Every (record, heads) they were confirmed.
pub async fn converge(
    http: &reqwest::Client,
    phones: &mut [Phone],
    urls: &[String],
) -> anyhow::Result<Vec<(DocId, Vec<ChangeHash>)>> {
    for round in 0..2 {
        for (i, p) in phones.iter_mut().enumerate() {
            p.sync(
                http,
                &urls[(i + round) % urls.len()],
                Duration::from_secs(60),
            )
            .await?;
        }
    }
    same_records(&phones[0], &phones[1])?;
    same_records(&phones[2], &phones[3])?;
    let confirmed: Vec<_> = phones
        .iter()
        .flat_map(|p| p.confirmed.iter().cloned())
        .collect();
    ensure!(!confirmed.is_empty(), "the phones synced");
    Ok(confirmed)
}

/// The first household `phone` holds.
pub fn a_household(phone: &Phone) -> anyhow::Result<DocId> {
    phone
        .replica
        .doc_ids()
        .into_iter()
        .find(|id| {
            phone
                .replica
                .document(id)
                .is_some_and(|d| d.kind() == RecordKind::Household)
        })
        .context("a household of the grid")
}

/// Attaches JPEG photos with `bytes` to household `id` on `phone` at `now`, offline.
pub fn attach_photos(
    phone: &mut Phone,
    id: &DocId,
    photos: &[Vec<u8>],
    now: Timestamp,
) -> anyhow::Result<()> {
    let device = phone.replica.device().clone();
    phone.replica.update(id, now, |h: &mut Household| {
        for bytes in photos {
            h.attachments.push(Attachment {
                id: ItemId::new(),
                sha256: BlobHash::of(bytes),
                media_type: MediaType::Jpeg,
                size: bytes.len() as u64,
                width: None,
                height: None,
                taken_at: now,
                device: device.clone(),
                caption: Some("门牌 door plate".into()),
                location: None,
                stage: Some(AttachmentStage::Situation),
                part: None,
            });
        }
    })?;
    Ok(())
}
