//! [`TestApp`]: the real server in this process, on port 0, on a fresh database, with users
//! and signed-in devices made for the test.

use anyhow::bail;
use gridbook_server::accounts::{self, NewUser};
use gridbook_server::app::{self, Running};
use gridbook_server::config::Settings;
use gridbook_server::db::{Db, docs, places};
use gridbook_server::state::AppState;
use serde::Deserialize;
use sync_core::client::Replica;
use sync_core::ids::{CommunityId, DeviceId, DocId, GridId, LiaisonGroupId, StreetId, UserId};
use sync_core::protocol::{SyncRequest, encode_request};
use sync_core::record::{Place, Role};
use sync_core::validate::ValidationContext;

use crate::client::gzip;
use crate::db::{Backend, FreshDb};
use crate::phone::Phone;

/// The password of every user the harness creates.
pub const PASSWORD: &str = "correct horse battery";

/// A running server (in this process, on port 0) and its fresh database.
#[derive(Debug)]
pub struct TestApp {
    running: Option<Running>,
    settings: Settings,
    /// The backend.
    pub backend: Backend,
    /// An HTTP client (gzip responses understood).
    pub http: reqwest::Client,
    db: FreshDb,
}

/// What a fresh database holds before the server starts.
#[derive(Debug, Clone, Copy)]
enum Seed {
    /// Nothing: the database as it is.
    Nothing,
    /// The test places ([`TestApp::spawn`]).
    Places,
    /// The small demo loaded at the current time ([`TestApp::spawn_demo`]).
    Demo,
}

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
        Self::spawn_with_state(backend, adjust, |_| {}).await
    }

    /// Like [`TestApp::spawn_with`], also adjusting the server's state before it starts (what
    /// settings do not reach, such as the sign-in throttle's policy).
    pub async fn spawn_with_state(
        backend: Backend,
        adjust: impl FnOnce(&mut Settings),
        adjust_state: impl FnOnce(&mut AppState),
    ) -> anyhow::Result<Option<Self>> {
        let Some(db) = FreshDb::new(backend).await? else {
            return Ok(None);
        };
        Self::launch(db, adjust, adjust_state, Seed::Places)
            .await
            .map(Some)
    }

    /// Starts a server on a fresh database holding the small demo (4 grids of Heping Street,
    /// users of every role with [`gridbook_server::demo::DEMO_PASSWORD`]) instead of the test
    /// places.
    pub async fn spawn_demo(backend: Backend) -> anyhow::Result<Option<Self>> {
        let Some(db) = FreshDb::new(backend).await? else {
            return Ok(None);
        };
        Self::launch(db, |_| {}, |_| {}, Seed::Demo).await.map(Some)
    }

    /// Starts a server on `db` as it is (a test filled it itself), adjusting the settings
    /// first.
    pub async fn start_on(db: FreshDb, adjust: impl FnOnce(&mut Settings)) -> anyhow::Result<Self> {
        Self::launch(db, adjust, |_| {}, Seed::Nothing).await
    }

    async fn launch(
        db: FreshDb,
        adjust: impl FnOnce(&mut Settings),
        adjust_state: impl FnOnce(&mut AppState),
        seed: Seed,
    ) -> anyhow::Result<Self> {
        let mut settings = Settings::for_database(db.url());
        // The JWT key file: beside the SQLite file (the default), or (PostgreSQL) in the
        // test's folder rather than the working folder.
        if db.backend() == Backend::Postgres {
            settings.jwt_key_file = Some(db.dir().join("gridbook.jwt-keys"));
            settings.blob_dir = Some(db.dir().join("gridbook.blobs"));
        }
        adjust(&mut settings);
        let mut state = AppState::new(settings.clone()).await?;
        adjust_state(&mut state);
        match seed {
            Seed::Nothing => {}
            Seed::Places => seed_places(&state.db).await?,
            Seed::Demo => {
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
                gridbook_server::demo::photos::attach(&state, now).await?;
            }
        }
        let running = app::start(state).await?;
        Ok(Self {
            running: Some(running),
            settings,
            backend: db.backend(),
            http: reqwest::Client::builder().build()?,
            db,
        })
    }

    /// The test's temporary folder (the SQLite file and key file are in it).
    pub fn dir(&self) -> &std::path::Path {
        self.db.dir()
    }

    /// Where the server listens.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.running().addr
    }

    /// Where the separate metrics address listens (`Settings::metrics_listen`).
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        self.running().metrics_addr
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
    /// community supervisors its community, street supervisors and admins the street, the
    /// county office no place.
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
            Role::StreetSupervisor | Role::Admin | Role::Department => (Some(street), None, None),
            Role::County => (None, None, None),
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
                department: None,
            },
        )
        .await?;
        Ok(TestUser {
            id: user.id,
            login: login.to_owned(),
            role,
        })
    }

    /// Creates department `code` (named `name`) of the test street if needed, and a staff
    /// user of it with [`PASSWORD`].
    pub async fn department_user(
        &self,
        login: &str,
        code: &str,
        name: &str,
    ) -> anyhow::Result<TestUser> {
        let street: StreetId = "st".parse()?;
        let department: sync_core::ids::DepartmentId = code.parse()?;
        gridbook_server::db::places::upsert_department(self.db(), &department, &street, name)
            .await?;
        let user = accounts::create_user(
            self.db(),
            NewUser {
                login: login.to_owned(),
                display_name: format!("{name} {login}"),
                password: PASSWORD.to_owned(),
                role: Role::Department,
                street: None,
                community: None,
                grid: None,
                liaison_group: None,
                department: Some(department),
            },
        )
        .await?;
        Ok(TestUser {
            id: user.id,
            login: login.to_owned(),
            role: Role::Department,
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
