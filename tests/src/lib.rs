//! End-to-end harness: the real Gridbook server, in process, on port 0, against a fresh
//! SQLite file or a fresh PostgreSQL database, driven over real HTTP.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use gridbook_tests::{Backend, TestApp};
//! let Some(app) = TestApp::spawn(Backend::Sqlite).await? else { return Ok(()) };
//! let worker = app.user("worker-1", sync_core::record::Role::GridWorker, app.grid_a()).await?;
//! let mut phone = app.phone(&worker).await?;
//! phone.sync(&app).await?;
//! # Ok(()) }
//! ```
//!
//! PostgreSQL tests run when `GRIDBOOK_TEST_POSTGRES_URL` names a server where the harness may
//! create and drop databases (CI sets it; `scripts/test` sets it when a local server answers);
//! otherwise [`TestApp::spawn`] prints that the test is skipped and returns `None`.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, bail};
use flate2::Compression;
use flate2::write::GzEncoder;
use gridbook_server::accounts::{self, NewUser};
use gridbook_server::app::{self, Running};
use gridbook_server::config::Settings;
use gridbook_server::db::{Db, docs, places};
use gridbook_server::state::AppState;
use serde::Deserialize;
use sync_core::client::{ApplyReport, Replica};
use sync_core::ids::{
    CommunityId, DeviceId, DocId, GridId, LiaisonGroupId, ResidentId, StreetId, UserId,
};
use sync_core::models::household::{Gender, Relation, Resident, ResidentStatus};
use sync_core::protocol::{SyncRequest, SyncResponse, encode_request};
use sync_core::record::{Place, Role};
use sync_core::validate::{ValidationContext, id_number_check_char};

/// The password of every user the harness creates.
pub const PASSWORD: &str = "correct horse battery";

/// Which database the server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A fresh SQLite file in a temporary folder.
    Sqlite,
    /// A fresh database on the PostgreSQL server of `GRIDBOOK_TEST_POSTGRES_URL`.
    Postgres,
}

/// A PostgreSQL database made for one test, dropped when the test ends (even by panic).
#[derive(Debug)]
struct PgDatabase {
    admin_url: String,
    name: String,
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop may run inside a runtime; do the async work on a thread with its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                use sqlx::Executor;
                let pool = sqlx::PgPool::connect(&admin_url).await?;
                let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                pool.execute(sqlx::AssertSqlSafe(sql)).await?;
                pool.close().await;
                Ok::<_, sqlx::Error>(())
            })
            .map_err(std::io::Error::other)
        })
        .join();
    }
}

/// A running server and its fresh database.
#[derive(Debug)]
pub struct TestApp {
    running: Option<Running>,
    settings: Settings,
    /// The backend.
    pub backend: Backend,
    /// An HTTP client (gzip responses understood).
    pub http: reqwest::Client,
    _sqlite_dir: Option<tempfile::TempDir>,
    _key_dir: Option<tempfile::TempDir>,
    _pg: Option<PgDatabase>,
}

static NEXT_DB: AtomicU64 = AtomicU64::new(0);

impl TestApp {
    /// Starts a server on a fresh database with a small place hierarchy: street `st`,
    /// communities `ca` (grids `ca-1`, `ca-2`) and `cb` (grid `cb-1`). `None` when the
    /// backend is PostgreSQL and no server is configured.
    pub async fn spawn(backend: Backend) -> anyhow::Result<Option<Self>> {
        Self::spawn_with(backend, |_| {}).await
    }

    /// Like [`TestApp::spawn`], adjusting the settings first.
    pub async fn spawn_with(
        backend: Backend,
        adjust: impl FnOnce(&mut Settings),
    ) -> anyhow::Result<Option<Self>> {
        Self::spawn_seeded(backend, adjust, false).await
    }

    /// Starts a server on a fresh database holding the small demo (4 grids of Heping Street,
    /// users of every role with [`gridbook_server::demo::DEMO_PASSWORD`]) instead of the test
    /// places.
    pub async fn spawn_demo(backend: Backend) -> anyhow::Result<Option<Self>> {
        Self::spawn_seeded(backend, |_| {}, true).await
    }

    async fn spawn_seeded(
        backend: Backend,
        adjust: impl FnOnce(&mut Settings),
        demo: bool,
    ) -> anyhow::Result<Option<Self>> {
        let (url, sqlite_dir, pg) = match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir()?;
                let url = format!("sqlite://{}", dir.path().join("gridbook.db").display());
                (url, Some(dir), None)
            }
            Backend::Postgres => {
                let Ok(admin_url) = std::env::var("GRIDBOOK_TEST_POSTGRES_URL") else {
                    eprintln!("SKIPPED on PostgreSQL: GRIDBOOK_TEST_POSTGRES_URL is not set");
                    return Ok(None);
                };
                let name = format!(
                    "gridbook_test_{}_{}_{}",
                    std::process::id(),
                    NEXT_DB.fetch_add(1, Ordering::Relaxed),
                    uuid::Uuid::new_v4().simple()
                );
                let pool = sqlx::PgPool::connect(&admin_url)
                    .await
                    .context("connecting to GRIDBOOK_TEST_POSTGRES_URL")?;
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                    .execute(&pool)
                    .await?;
                pool.close().await;
                let url = match admin_url.rsplit_once('/') {
                    Some((base, _)) => format!("{base}/{name}"),
                    None => bail!("GRIDBOOK_TEST_POSTGRES_URL has no database part"),
                };
                (url, None, Some(PgDatabase { admin_url, name }))
            }
        };
        let mut settings = Settings::for_database(url);
        // The JWT key file: beside the SQLite file, or (PostgreSQL) in a folder of this test's
        // own rather than the working folder.
        let key_dir = match &sqlite_dir {
            Some(_) => None,
            None => Some(tempfile::tempdir()?),
        };
        if let Some(dir) = &key_dir {
            settings.jwt_key_file = Some(dir.path().join("gridbook.jwt-keys"));
        }
        adjust(&mut settings);
        let state = AppState::new(settings.clone()).await?;
        if demo {
            let millis = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_millis();
            let now = sync_core::time::Timestamp::from_millis(i64::try_from(millis)?);
            gridbook_server::demo::load(
                &state.db,
                gridbook_server::demo::DemoSize::Small,
                now,
                &mut |_| {},
            )
            .await?;
        } else {
            seed_places(&state.db).await?;
        }
        let running = app::start(state).await?;
        Ok(Some(Self {
            running: Some(running),
            settings,
            backend,
            http: reqwest::Client::builder().build()?,
            _sqlite_dir: sqlite_dir,
            _key_dir: key_dir,
            _pg: pg,
        }))
    }

    fn running(&self) -> &Running {
        // Present except during `restart`.
        self.running.as_ref().expect("server running")
    }

    /// The server's state (database, cache, keys).
    pub fn state(&self) -> &AppState {
        &self.running().state
    }

    /// The settings the server runs with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.state().db
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.running().addr, path)
    }

    /// Stops the server gracefully and starts a new process-equivalent (fresh state, cache and
    /// pool) on the same database.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        if let Some(running) = self.running.take() {
            running.stop().await?;
        }
        let state = AppState::new(self.settings.clone()).await?;
        self.running = Some(app::start(state).await?);
        Ok(())
    }

    /// Like [`TestApp::restart`], adjusting the settings first (e.g. other JWT keys); the
    /// adjusted settings stay for later restarts.
    pub async fn restart_with(&mut self, adjust: impl FnOnce(&mut Settings)) -> anyhow::Result<()> {
        adjust(&mut self.settings);
        self.restart().await
    }

    /// Grid `ca-1` of community `ca`.
    pub fn grid_a(&self) -> Place {
        place("ca", "ca-1")
    }

    /// Grid `ca-2` of community `ca`.
    pub fn grid_a2(&self) -> Place {
        place("ca", "ca-2")
    }

    /// Grid `cb-1` of community `cb`.
    pub fn grid_b(&self) -> Place {
        place("cb", "cb-1")
    }

    /// Creates a user with [`PASSWORD`]. Grid workers and liaisons get the place's grid,
    /// community supervisors its community, street supervisors and admins the street.
    pub async fn user(&self, login: &str, role: Role, at: Place) -> anyhow::Result<TestUser> {
        self.user_in_group(login, role, at, None).await
    }

    /// Like [`TestApp::user`], with a liaison group.
    pub async fn user_in_group(
        &self,
        login: &str,
        role: Role,
        at: Place,
        liaison_group: Option<LiaisonGroupId>,
    ) -> anyhow::Result<TestUser> {
        let street: StreetId = "st".parse()?;
        let (street, community, grid) = match role {
            Role::GridWorker | Role::Liaison => (None, None, Some(at.grid.clone())),
            Role::CommunitySupervisor => (None, Some(at.community.clone()), None),
            Role::StreetSupervisor | Role::Admin => (Some(street), None, None),
        };
        let user = accounts::create_user(
            self.db(),
            NewUser {
                login: login.to_owned(),
                display_name: format!("测试 {login}"),
                password: PASSWORD.to_owned(),
                role,
                street,
                community,
                grid,
                liaison_group,
            },
        )
        .await?;
        Ok(TestUser {
            id: user.id,
            login: login.to_owned(),
            role,
        })
    }

    /// Signs in over HTTP as a new device.
    pub async fn login(&self, user: &TestUser) -> anyhow::Result<Session> {
        let response = self
            .http
            .post(self.url("/v1/auth/login"))
            .json(&serde_json::json!({ "login": user.login, "password": PASSWORD, "device_name": "test phone" }))
            .send()
            .await?;
        if !response.status().is_success() {
            bail!(
                "login failed: {} {}",
                response.status(),
                response.text().await?
            );
        }
        let body: LoginResponse = response.json().await?;
        Ok(Session {
            access_token: body.access_token,
            refresh_token: body.refresh_token,
            device: body.device_id.parse()?,
            user: user.clone(),
        })
    }

    /// A phone of `user`: a fresh login (new device) and an empty replica.
    pub async fn phone(&self, user: &TestUser) -> anyhow::Result<Phone> {
        let session = self.login(user).await?;
        let replica = Replica::new(session.device.clone(), ValidationContext::default());
        Ok(Phone { session, replica })
    }

    /// Sends a sync request (gzip-compressed body) and returns the raw response.
    pub async fn post_sync(
        &self,
        token: &str,
        request: &SyncRequest,
    ) -> anyhow::Result<reqwest::Response> {
        self.post_raw(
            "/v1/sync",
            token,
            &gzip(&encode_request(request))?,
            Some("gzip"),
        )
        .await
    }

    /// Posts raw bytes as JSON with an optional `Content-Encoding`.
    pub async fn post_raw(
        &self,
        path: &str,
        token: &str,
        body: &[u8],
        encoding: Option<&str>,
    ) -> anyhow::Result<reqwest::Response> {
        let mut request = self
            .http
            .post(self.url(path))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .header("accept-encoding", "gzip")
            .body(body.to_vec());
        if let Some(encoding) = encoding {
            request = request.header("content-encoding", encoding);
        }
        Ok(request.send().await?)
    }

    /// `GET path` with a bearer token (if any): the status and the JSON body (`Null` when the
    /// body is not JSON).
    pub async fn get_json(
        &self,
        path: &str,
        token: Option<&str>,
    ) -> anyhow::Result<(u16, serde_json::Value)> {
        let mut request = self.http.get(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let body = response.bytes().await?;
        Ok((
            status,
            serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
        ))
    }

    /// The stored projection (record JSON) of a record, as the server has it.
    pub async fn projection(&self, id: &DocId) -> anyhow::Result<Option<serde_json::Value>> {
        Ok(docs::load(self.db(), id).await?.map(|d| d.record.json))
    }

    /// How many changes the server's log holds.
    pub async fn change_count(&self) -> anyhow::Result<i64> {
        Ok(docs::count_changes(self.db()).await?)
    }

    /// Stops the server (the database is dropped with the app).
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(running) = self.running.take() {
            running.stop().await?;
        }
        Ok(())
    }
}

#[derive(Deserialize)]
struct LoginResponse {
    access_token: String,
    refresh_token: String,
    device_id: String,
}

fn place(community: &str, grid: &str) -> Place {
    Place {
        community: community
            .parse()
            .unwrap_or_else(|_| unreachable!("valid code")),
        grid: grid.parse().unwrap_or_else(|_| unreachable!("valid code")),
    }
}

async fn seed_places(db: &Db) -> anyhow::Result<()> {
    let street: StreetId = "st".parse()?;
    places::upsert_street(db, &street, "测试街道").await?;
    for (community, name, grids) in [
        ("ca", "甲社区", &["ca-1", "ca-2"][..]),
        ("cb", "乙社区", &["cb-1"][..]),
    ] {
        let community: CommunityId = community.parse()?;
        places::upsert_community(db, &community, &street, name).await?;
        for grid in grids {
            let grid: GridId = grid.parse()?;
            places::upsert_grid(db, &grid, &community, &format!("网格 {grid}")).await?;
        }
    }
    Ok(())
}

/// Gzip-compresses a body.
pub fn gzip(bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes)?;
    Ok(encoder.finish()?)
}

/// A resident (female, head of household, phone 13800001111) born on `born` (`YYYYMMDD`) with
/// a valid ID number (GB 11643 check character), and that ID number.
pub fn resident_with_id_number(name: &str, born: &str) -> (Resident, String) {
    let first17 = format!("520627{born}001");
    let check = id_number_check_char(&first17).expect("17 digits");
    let id_number = format!("{first17}{check}");
    let resident = Resident {
        id: ResidentId::new(),
        name: name.into(),
        gender: Gender::Female,
        birth_date: Some(
            format!("{}-{}-{}", &born[..4], &born[4..6], &born[6..])
                .parse()
                .expect("date"),
        ),
        relation: Relation::Head,
        id_number: Some(id_number.clone()),
        phone: Some("13800001111".into()),
        status: ResidentStatus::Present,
        moved_in: None,
        moved_out: None,
        special_groups: Vec::new(),
    };
    (resident, id_number)
}

/// A user the harness made.
#[derive(Debug, Clone)]
pub struct TestUser {
    /// Id.
    pub id: UserId,
    /// Login name.
    pub login: String,
    /// Role.
    pub role: Role,
}

/// A signed-in device.
#[derive(Debug, Clone)]
pub struct Session {
    /// Access JWT.
    pub access_token: String,
    /// Refresh token.
    pub refresh_token: String,
    /// The device.
    pub device: DeviceId,
    /// Who.
    pub user: TestUser,
}

/// A phone: a session and a sync-core replica.
#[derive(Debug)]
pub struct Phone {
    /// The session.
    pub session: Session,
    /// Local records.
    pub replica: Replica,
}

/// What one round trip did.
#[derive(Debug)]
pub struct RoundTrip {
    /// The request sent.
    pub request: SyncRequest,
    /// The response received.
    pub response: SyncResponse,
    /// What applying it did.
    pub report: ApplyReport,
}

impl Phone {
    /// One round trip: build, send, apply.
    pub async fn round_trip(&mut self, app: &TestApp) -> anyhow::Result<RoundTrip> {
        let request = self.replica.build_request();
        let response = app.post_sync(&self.session.access_token, &request).await?;
        let status = response.status();
        if !status.is_success() {
            bail!("sync failed: {status} {}", response.text().await?);
        }
        let response: SyncResponse = response.json().await?;
        let report = self.replica.apply_response(&request, &response)?;
        Ok(RoundTrip {
            request,
            response,
            report,
        })
    }

    /// Syncs until the replica needs no further round trip (at most 5); returns how many.
    pub async fn sync(&mut self, app: &TestApp) -> anyhow::Result<usize> {
        for n in 1..=5 {
            let trip = self.round_trip(app).await?;
            if !trip.report.sync_again {
                return Ok(n);
            }
        }
        bail!("still not in sync after 5 round trips")
    }
}
