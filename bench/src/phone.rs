//! A phone built on sync-core, syncing with the real server over real HTTP, as the phone
//! library does: the request JSON gzip-compressed, the answer gzip-compressed by the server.

use std::io::Write as _;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::{Value, json};
use sync_core::client::Replica;
use sync_core::ids::{DeviceId, DocId};
use sync_core::protocol::{self, SyncRequest};
use sync_core::validate::ValidationContext;

/// One device.
#[derive(Debug)]
pub struct Phone {
    /// For messages.
    pub name: String,
    token: String,
    /// The device's records.
    pub replica: Replica,
    /// Round trips made since the counter was last reset.
    pub round_trips: u32,
    /// Latency of each round trip since the last reset.
    pub latencies: Vec<Duration>,
}

/// What one round trip did.
#[derive(Debug, Clone, Copy)]
pub struct RoundTrip {
    /// The replica wants another round trip now (`more`, a full exchange, a full request).
    pub sync_again: bool,
}

impl Phone {
    /// Signs in as `login` on a new device.
    pub async fn sign_in(
        http: &reqwest::Client,
        base: &str,
        name: &str,
        login: &str,
        password: &str,
    ) -> anyhow::Result<Self> {
        let body: Value = http
            .post(format!("{base}/v1/auth/login"))
            .json(&json!({ "login": login, "password": password, "device_name": name }))
            .send()
            .await?
            .error_for_status()
            .with_context(|| format!("{name}: sign-in as {login}"))?
            .json()
            .await?;
        let token = body["access_token"]
            .as_str()
            .context("no access token")?
            .to_owned();
        let device: DeviceId = body["device_id"]
            .as_str()
            .context("no device id")?
            .parse()?;
        Ok(Self {
            name: name.to_owned(),
            token,
            replica: Replica::new(device, ValidationContext::default()),
            round_trips: 0,
            latencies: Vec::new(),
        })
    }

    /// One round trip: push what is pending, take what the server sends. With `wait_ms`, a
    /// long poll: the server holds an answer with nothing new until there is news.
    pub async fn round_trip(
        &mut self,
        http: &reqwest::Client,
        base: &str,
        wait_ms: Option<u32>,
    ) -> anyhow::Result<RoundTrip> {
        let mut request: SyncRequest = self.replica.build_request();
        request.wait_ms = wait_ms;
        let json = protocol::encode_request(&request);
        let mut gz = GzEncoder::new(Vec::with_capacity(json.len() / 3), Compression::default());
        gz.write_all(&json)?;
        let body = gz.finish()?;
        let started = Instant::now();
        let response = http
            .post(format!("{base}/v1/sync"))
            .bearer_auth(&self.token)
            .header("content-type", "application/json")
            .header("content-encoding", "gzip")
            .body(body)
            .timeout(Duration::from_secs(120))
            .send()
            .await
            .with_context(|| format!("{}: sync request", self.name))?;
        let status = response.status();
        let bytes = response.bytes().await?;
        self.latencies.push(started.elapsed());
        self.round_trips += 1;
        if !status.is_success() {
            bail!(
                "{}: sync answered {status}: {}",
                self.name,
                String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
            );
        }
        let response = protocol::decode_response(&bytes)
            .map_err(|e| anyhow::anyhow!("{}: unreadable answer: {e}", self.name))?;
        let report = self.replica.apply_response(&request, &response)?;
        Ok(RoundTrip {
            sync_again: report.sync_again,
        })
    }

    /// Round trips until nothing is pending and the server has nothing more to send.
    pub async fn sync(&mut self, http: &reqwest::Client, base: &str) -> anyhow::Result<()> {
        for _ in 0..1000 {
            let trip = self.round_trip(http, base, None).await?;
            if !trip.sync_again && self.replica.pending().is_empty() {
                return Ok(());
            }
            if let Some(refusal) = self
                .replica
                .pending()
                .iter()
                .find_map(|id| self.replica.rejection(id))
            {
                bail!(
                    "{}: push refused: {} {}",
                    self.name,
                    refusal.code,
                    refusal.message
                );
            }
        }
        bail!("{}: still not synced after 1000 round trips", self.name)
    }

    /// Whether the phone holds `doc` at exactly `heads` (sorted).
    pub fn holds(&self, doc: &DocId, heads: &[automerge::ChangeHash]) -> bool {
        self.replica.document(doc).is_some_and(|d| {
            let mut h = d.heads();
            h.sort_unstable();
            h == heads
        })
    }

    /// Forgets round-trip counts and latencies.
    pub fn reset_counters(&mut self) {
        self.round_trips = 0;
        self.latencies.clear();
    }
}

/// An HTTP client as phones use it: gzip answers accepted, no connection pool surprises.
pub fn http_client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .gzip(true)
        .pool_max_idle_per_host(4)
        .timeout(Duration::from_secs(300))
        .build()?)
}

/// Checks that `phone` holds every document of `expected` at its heads; the number held.
pub fn converged_pairs(phone: &Phone, expected: &[(DocId, Vec<automerge::ChangeHash>)]) -> usize {
    expected
        .iter()
        .filter(|(id, heads)| phone.holds(id, heads))
        .count()
}
