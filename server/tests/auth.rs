//! Accounts end to end: the real server on port 0 over a temporary SQLite file (and a fresh
//! PostgreSQL database when `GRIDBOOK_TEST_POSTGRES_URL` is set), driven over HTTP.

use std::sync::Arc;
use std::time::Duration;

use gridbook_server::accounts::{self, NewUser};
use gridbook_server::app::{Running, start};
use gridbook_server::auth::jwt::Keys;
use gridbook_server::auth::throttle::{LoginThrottle, ThrottlePolicy};
use gridbook_server::config::{JwtKey, Settings};
use gridbook_server::db::{Db, places, users};
use gridbook_server::state::AppState;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sync_core::ids::{DeviceId, UserId};
use sync_core::record::Role;

const PASSWORD: &str = "correct horse battery";
const STREET: &str = "hp";
const COMMUNITY: &str = "hp-dzk";
const GRID: &str = "hp-dzk-01";
const JWT_SECRET: &str = "0123456789abcdef0123456789abcdef";

/// A running server, its client, and what to clean up.
struct TestApp {
    running: Running,
    http: reqwest::Client,
    base: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestApp {
    /// A server over a fresh SQLite file, with the default throttling policy.
    async fn spawn() -> Self {
        Self::spawn_with(ThrottlePolicy::default()).await
    }

    async fn spawn_with(policy: ThrottlePolicy) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let mut app = Self::spawn_on(&url, policy).await;
        app._dir = Some(dir);
        app
    }

    async fn spawn_on(url: &str, policy: ThrottlePolicy) -> Self {
        let mut settings = Settings::for_database(url);
        settings.jwt_keys = vec![JwtKey {
            kid: "test".into(),
            secret: JWT_SECRET.as_bytes().to_vec(),
        }];
        let mut state = AppState::new(settings).await.expect("state");
        state.throttle = Arc::new(LoginThrottle::new(policy));
        seed_places(&state.db).await;
        let running = start(state).await.expect("server starts");
        Self {
            base: format!("http://{}", running.addr),
            running,
            http: reqwest::Client::new(),
            _dir: None,
        }
    }

    fn db(&self) -> &Db {
        &self.running.state.db
    }

    async fn stop(self) {
        self.running.stop().await.expect("clean shutdown");
    }

    async fn add_user(&self, login: &str, role: Role) -> UserId {
        let (street, community, grid) = match role {
            Role::GridWorker | Role::Liaison => (None, None, Some(GRID.parse().unwrap())),
            Role::CommunitySupervisor => (None, Some(COMMUNITY.parse().unwrap()), None),
            Role::StreetSupervisor | Role::Admin => (Some(STREET.parse().unwrap()), None, None),
        };
        let new = NewUser {
            login: login.into(),
            display_name: format!("{login} 同志"),
            password: PASSWORD.into(),
            role,
            street,
            community,
            grid,
            liaison_group: (role == Role::Liaison).then(|| "lg-1".parse().unwrap()),
        };
        accounts::create_user(self.db(), new)
            .await
            .expect("user created")
            .id
    }

    async fn post(&self, path: &str, body: Value, bearer: Option<&str>) -> (StatusCode, Value) {
        let mut req = self.http.post(format!("{}{path}", self.base)).json(&body);
        if let Some(token) = bearer {
            req = req.bearer_auth(token);
        }
        answer(req.send().await.expect("request sent")).await
    }

    async fn put(&self, path: &str, body: Value, bearer: &str) -> (StatusCode, Value) {
        let req = self.http.put(format!("{}{path}", self.base)).json(&body);
        answer(req.bearer_auth(bearer).send().await.expect("request sent")).await
    }

    async fn get(&self, path: &str, bearer: &str) -> (StatusCode, Value) {
        let req = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(bearer);
        answer(req.send().await.expect("request sent")).await
    }

    async fn login(&self, login: &str, password: &str) -> (StatusCode, Value) {
        self.post(
            "/v1/auth/login",
            json!({ "login": login, "password": password }),
            None,
        )
        .await
    }

    /// Signs in and returns the token answer, asserting success.
    async fn sign_in(&self, login: &str) -> Value {
        let (status, body) = self.login(login, PASSWORD).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    async fn refresh_from(&self, refresh_token: &Value, device: &Value) -> (StatusCode, Value) {
        self.post(
            "/v1/auth/refresh",
            json!({ "refresh_token": refresh_token, "device_id": device }),
            None,
        )
        .await
    }

    async fn refresh(&self, refresh_token: &Value) -> (StatusCode, Value) {
        self.post(
            "/v1/auth/refresh",
            json!({ "refresh_token": refresh_token }),
            None,
        )
        .await
    }
}

async fn answer(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.expect("body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"))
    };
    (status, body)
}

async fn seed_places(db: &Db) {
    places::upsert_street(db, &STREET.parse().unwrap(), "和平街道")
        .await
        .unwrap();
    places::upsert_community(
        db,
        &COMMUNITY.parse().unwrap(),
        &STREET.parse().unwrap(),
        "大庄科社区",
    )
    .await
    .unwrap();
    places::upsert_grid(
        db,
        &GRID.parse().unwrap(),
        &COMMUNITY.parse().unwrap(),
        "第一网格",
    )
    .await
    .unwrap();
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<no code>")
}

fn access(tokens: &Value) -> &str {
    tokens["access_token"].as_str().expect("access token")
}

#[tokio::test]
async fn login_returns_tokens_user_and_a_new_device() {
    let app = TestApp::spawn().await;
    let id = app.add_user("wang", Role::GridWorker).await;
    let tokens = app.sign_in("wang").await;
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 900);
    assert_eq!(tokens["refresh_token"].as_str().unwrap().len(), 43);
    let device: DeviceId = tokens["device_id"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        tokens["user"],
        json!({
            "id": id.as_str(), "login": "wang", "display_name": "wang 同志",
            "role": "grid_worker", "street": STREET, "community": COMMUNITY, "grid": GRID,
            "liaison_group": null,
        })
    );
    let (status, me) = app.get("/v1/auth/me", access(&tokens)).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["device_id"], device.as_str());
    assert_eq!(me["login"], "wang");

    // Signing in again with the same device keeps it; a device the client names is created.
    let (status, again) = app
        .post(
            "/v1/auth/login",
            json!({ "login": "wang", "password": PASSWORD, "device_id": device.as_str() }),
            None,
        )
        .await;
    assert_eq!(
        (status, &again["device_id"]),
        (StatusCode::OK, &tokens["device_id"])
    );
    let chosen = DeviceId::new();
    let (status, named) = app
        .post(
            "/v1/auth/login",
            json!({ "login": "wang", "password": PASSWORD, "device_id": chosen.as_str(),
                    "device_name": "王的手机" }),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{named}");
    assert_eq!(named["device_id"], chosen.as_str());
    let stored = users::get_device(app.db(), &chosen).await.unwrap().unwrap();
    assert_eq!((stored.user, stored.name.as_str()), (id, "王的手机"));
    app.stop().await;
}

#[tokio::test]
async fn wrong_password_and_unknown_login_give_identical_401s() {
    let app = TestApp::spawn().await;
    app.add_user("wang", Role::GridWorker).await;
    let (s1, wrong_password) = app.login("wang", "not the password").await;
    let (s2, unknown_login) = app.login("nobody", PASSWORD).await;
    assert_eq!(
        (s1, s2),
        (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED)
    );
    assert_eq!(code(&wrong_password), "invalid_credentials");
    assert_eq!(wrong_password, unknown_login);
    app.stop().await;
}

#[tokio::test]
async fn disabled_user_can_neither_sign_in_nor_refresh() {
    let app = TestApp::spawn().await;
    app.add_user("wang", Role::GridWorker).await;
    let tokens = app.sign_in("wang").await;
    let (_, wrong) = app.login("wang", "not the password").await;
    assert!(users::set_disabled(app.db(), "wang", true).await.unwrap());

    let (status, body) = app.login("wang", PASSWORD).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body, wrong, "a disabled user looks like wrong credentials");
    let (status, _) = app.refresh(&tokens["refresh_token"]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app.get("/v1/auth/me", access(&tokens)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Enabled again, the old session stays over: only a new sign-in works.
    assert!(users::set_disabled(app.db(), "wang", false).await.unwrap());
    let (status, _) = app.refresh(&tokens["refresh_token"]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app.get("/v1/auth/me", access(&tokens)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    app.sign_in("wang").await;
    app.stop().await;
}

#[tokio::test]
async fn refresh_rotates_both_tokens() {
    let app = TestApp::spawn().await;
    app.add_user("wang", Role::GridWorker).await;
    let first = app.sign_in("wang").await;
    let (status, second) = app.refresh(&first["refresh_token"]).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    assert_eq!(second["device_id"], first["device_id"]);
    assert_eq!(second["user"], first["user"]);
    assert_eq!(second["token_type"], "Bearer");
    let (status, _) = app.get("/v1/auth/me", access(&second)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, third) = app.refresh(&second["refresh_token"]).await;
    assert_eq!(status, StatusCode::OK, "{third}");

    let (status, body) = app.refresh(&json!("no-such-token")).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "unauthorized")
    );
    app.stop().await;
}

#[tokio::test]
async fn reusing_a_rotated_refresh_token_revokes_its_family() {
    let app = TestApp::spawn().await;
    app.add_user("wang", Role::GridWorker).await;
    let first = app.sign_in("wang").await;
    let other_session = app.sign_in("wang").await;
    let (_, second) = app.refresh(&first["refresh_token"]).await;
    // The holder of `second` uses it: from now on `first` can only be a stolen copy.
    let (status, third) = app.refresh(&second["refresh_token"]).await;
    assert_eq!(status, StatusCode::OK);

    let (status, _) = app.refresh(&first["refresh_token"]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "reuse is refused");
    let (status, _) = app.refresh(&third["refresh_token"]).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the newest token died too"
    );
    // Another sign-in is another family.
    let (status, _) = app.refresh(&other_session["refresh_token"]).await;
    assert_eq!(status, StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn a_refresh_retried_after_a_lost_response_gets_the_same_token_again() {
    let app = TestApp::spawn().await;
    app.add_user("wang", Role::GridWorker).await;
    let first = app.sign_in("wang").await;
    let device = &first["device_id"];
    // The phone's refresh reached the server but the answer was lost on the way back.
    let (status, lost) = app.refresh_from(&first["refresh_token"], device).await;
    assert_eq!(status, StatusCode::OK);
    // It retries with the token it still holds, within the leeway, from its own device: the
    // same successor again (never a second live token).
    let (status, retried) = app.refresh_from(&first["refresh_token"], device).await;
    assert_eq!(status, StatusCode::OK, "{retried}");
    assert_eq!(retried["refresh_token"], lost["refresh_token"]);
    let (status, _) = app.refresh_from(&lost["refresh_token"], device).await;
    assert_eq!(status, StatusCode::OK, "the phone stays signed in");
    app.stop().await;
}

#[tokio::test]
async fn logout_revokes_the_family_and_is_idempotent() {
    let app = TestApp::spawn().await;
    app.add_user("wang", Role::GridWorker).await;
    let first = app.sign_in("wang").await;
    let (_, second) = app.refresh(&first["refresh_token"]).await;
    let body = json!({ "refresh_token": second["refresh_token"] });
    let (status, empty) = app.post("/v1/auth/logout", body.clone(), None).await;
    assert_eq!((status, empty), (StatusCode::NO_CONTENT, Value::Null));
    let (status, _) = app.refresh(&second["refresh_token"]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app.post("/v1/auth/logout", body, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let unknown = json!({ "refresh_token": "never-issued" });
    let (status, _) = app.post("/v1/auth/logout", unknown, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    app.stop().await;
}

#[tokio::test]
async fn revoked_device_cannot_refresh_and_its_access_token_is_refused() {
    let app = TestApp::spawn().await;
    app.add_user("wang", Role::GridWorker).await;
    app.add_user("li", Role::GridWorker).await;
    app.add_user("admin", Role::Admin).await;
    let phone = app.sign_in("wang").await;
    let tablet = app.sign_in("wang").await;
    let li = app.sign_in("li").await;
    let admin = app.sign_in("admin").await;
    let revoke = |tokens: &Value| {
        format!(
            "/v1/auth/devices/{}/revoke",
            tokens["device_id"].as_str().unwrap()
        )
    };

    let (status, body) = app
        .post(&revoke(&phone), json!({}), Some(access(&li)))
        .await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"));
    let unknown = format!("/v1/auth/devices/{}/revoke", DeviceId::new());
    let (status, _) = app.post(&unknown, json!({}), Some(access(&li))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A device id that is not a canonical (lowercase, hyphenated) UUID is malformed.
    let (status, body) = app
        .post(
            "/v1/auth/devices/garbage/revoke",
            json!({}),
            Some(access(&li)),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "malformed")
    );

    // From the tablet, wang revokes his lost phone.
    let (status, _) = app
        .post(&revoke(&phone), json!({}), Some(access(&tablet)))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.refresh(&phone["refresh_token"]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app.get("/v1/auth/me", access(&phone)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Signing in again on the revoked device is refused; the tablet is unaffected.
    let (status, _) = app
        .post(
            "/v1/auth/login",
            json!({ "login": "wang", "password": PASSWORD, "device_id": phone["device_id"] }),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app.get("/v1/auth/me", access(&tablet)).await;
    assert_eq!(status, StatusCode::OK);

    // An administrator may revoke anyone's device.
    let (status, _) = app
        .post(&revoke(&li), json!({}), Some(access(&admin)))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.get("/v1/auth/me", access(&li)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    app.stop().await;
}

#[tokio::test]
async fn a_device_of_another_user_is_forbidden() {
    let app = TestApp::spawn().await;
    app.add_user("wang", Role::GridWorker).await;
    app.add_user("li", Role::GridWorker).await;
    let wang = app.sign_in("wang").await;
    let (status, body) = app
        .post(
            "/v1/auth/login",
            json!({ "login": "li", "password": PASSWORD, "device_id": wang["device_id"] }),
            None,
        )
        .await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"));
    app.stop().await;
}

#[tokio::test]
async fn expired_and_foreign_access_tokens_are_refused() {
    let app = TestApp::spawn().await;
    let user = app.add_user("wang", Role::GridWorker).await;
    let tokens = app.sign_in("wang").await;
    let device: DeviceId = tokens["device_id"].as_str().unwrap().parse().unwrap();

    // Signed with the server's key, but expired a minute ago (past the 5 s leeway).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let claims = json!({
        "sub": user.as_str(), "dev": device.as_str(), "iss": "gridbook",
        "iat": now - 120, "exp": now - 60,
    });
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some("test".into());
    let key = jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes());
    let expired = jsonwebtoken::encode(&header, &claims, &key).unwrap();
    let (status, body) = app.get("/v1/auth/me", &expired).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    // Same claims, same key id, another secret.
    let stranger = Keys::new(&[JwtKey {
        kid: "test".into(),
        secret: b"another secret, 32 bytes or more!".to_vec(),
    }])
    .unwrap();
    let forged = stranger
        .issue(&user, &device, "a-session", Duration::from_secs(600))
        .unwrap();
    let (status, _) = app.get("/v1/auth/me", &forged).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app.get("/v1/auth/me", "not.a.jwt").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    app.stop().await;
}

#[tokio::test]
async fn an_access_token_expires_after_its_ttl() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings =
        Settings::for_database(format!("sqlite://{}", dir.path().join("t.db").display()));
    settings.access_ttl = Duration::from_secs(1);
    let state = AppState::new(settings).await.unwrap();
    seed_places(&state.db).await;
    let running = start(state).await.unwrap();
    let app = TestApp {
        base: format!("http://{}", running.addr),
        running,
        http: reqwest::Client::new(),
        _dir: Some(dir),
    };
    app.add_user("wang", Role::GridWorker).await;
    let tokens = app.sign_in("wang").await;
    assert_eq!(tokens["expires_in"], 1);
    let (status, _) = app.get("/v1/auth/me", access(&tokens)).await;
    assert_eq!(status, StatusCode::OK);
    // The verifier allows 5 s of clock skew.
    tokio::time::sleep(Duration::from_millis(7_000)).await;
    let (status, body) = app.get("/v1/auth/me", access(&tokens)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
    app.stop().await;
}

#[tokio::test]
async fn repeated_failed_sign_ins_are_throttled() {
    let app = TestApp::spawn_with(ThrottlePolicy {
        max_login_failures: 3,
        max_addr_failures: 6,
        ..ThrottlePolicy::default()
    })
    .await;
    app.add_user("wang", Role::GridWorker).await;
    for _ in 0..3 {
        let (status, _) = app.login("wang", "guess").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // Locked: even the right password is refused, with a Retry-After.
    let response = app
        .http
        .post(format!("{}/v1/auth/login", app.base))
        .json(&json!({ "login": "wang", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(retry, 1);
    let body: Value = response.json().await.unwrap();
    assert_eq!(code(&body), "rate_limited");

    // After the lockout the right password works and clears the login's count.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    app.sign_in("wang").await;
    let (status, _) = app.login("wang", "guess").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // The address has 4 failures now; two more over other logins lock it for everyone.
    for login in ["a", "b"] {
        let (status, _) = app.login(login, "guess").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, body) = app.login("wang", PASSWORD).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    );
    app.stop().await;
}

#[tokio::test]
async fn admin_routes_are_for_admins_only() {
    let app = TestApp::spawn().await;
    app.add_user("wang", Role::GridWorker).await;
    app.add_user("boss", Role::StreetSupervisor).await;
    for login in ["wang", "boss"] {
        let tokens = app.sign_in(login).await;
        let token = access(&tokens);
        let (status, _) = app.get("/v1/admin/places", token).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = app
            .put("/v1/admin/streets/x", json!({"name": "X"}), token)
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let user = json!({ "login": "new", "display_name": "N", "password": PASSWORD,
                           "role": "grid_worker", "grid": GRID });
        let (status, body) = app.post("/v1/admin/users", user, Some(token)).await;
        assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"));
        let (status, _) = app
            .post("/v1/admin/users/wang/disable", json!({}), Some(token))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    let response = app
        .http
        .get(format!("{}/v1/admin/places", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    app.stop().await;
}

#[tokio::test]
async fn admins_manage_places_and_users() {
    let app = TestApp::spawn().await;
    app.add_user("admin", Role::Admin).await;
    let tokens = app.sign_in("admin").await;
    let token = access(&tokens);

    let (status, body) = app
        .put(
            "/v1/admin/communities/hp-xy",
            json!({"name": "新苑社区", "street": STREET}),
            token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .put(
            "/v1/admin/grids/hp-xy-01",
            json!({"name": "新苑一格", "community": "hp-xy"}),
            token,
        )
        .await;
    assert_eq!(
        (status, &body["community"]),
        (StatusCode::OK, &json!("hp-xy"))
    );
    let (status, body) = app
        .put(
            "/v1/admin/grids/hp-xy-02",
            json!({"name": "x", "community": "nowhere"}),
            token,
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "unknown_place")
    );
    let (status, body) = app
        .put("/v1/admin/streets/BAD", json!({"name": "x"}), token)
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "malformed")
    );
    let (status, _) = app
        .put(
            "/v1/admin/streets/hp",
            json!({"name": "和平街道办事处"}),
            token,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, all) = app.get("/v1/admin/places", token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        all["streets"],
        json!([{ "id": "hp", "name": "和平街道办事处" }])
    );
    assert_eq!(all["communities"].as_array().unwrap().len(), 2);
    assert_eq!(
        all["grids"][1],
        json!({ "id": "hp-xy-01", "name": "新苑一格", "community": "hp-xy" })
    );

    let liaison = json!({ "login": "zhao", "display_name": "赵联户长", "password": PASSWORD,
                          "role": "liaison", "grid": "hp-xy-01", "liaison_group": "lg-7" });
    let (status, created) = app
        .post("/v1/admin/users", liaison.clone(), Some(token))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["community"], "hp-xy");
    assert_eq!(created["street"], STREET);
    assert_eq!(created["liaison_group"], "lg-7");
    let (status, body) = app.post("/v1/admin/users", liaison, Some(token)).await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "conflict"));
    app.sign_in("zhao").await;

    for (user, expected) in [
        (
            json!({"login": "a1", "display_name": "A", "password": PASSWORD, "role": "grid_worker"}),
            "missing_place",
        ),
        (
            json!({"login": "a2", "display_name": "A", "password": PASSWORD, "role": "liaison",
                "grid": GRID}),
            "missing_place",
        ),
        (
            json!({"login": "a3", "display_name": "A", "password": "short", "role": "admin",
                "street": STREET}),
            "weak_password",
        ),
        (
            json!({"login": "a4", "display_name": "A", "password": PASSWORD, "role": "grid_worker",
                "grid": "no-such-grid"}),
            "unknown_place",
        ),
        (
            json!({"login": "a5", "display_name": "A", "password": PASSWORD,
                "role": "community_supervisor", "community": COMMUNITY, "street": "other"}),
            "place_mismatch",
        ),
        (
            json!({"login": "a6", "display_name": "A", "password": PASSWORD,
                "role": "street_supervisor", "street": STREET, "grid": GRID}),
            "unexpected_place",
        ),
    ] {
        let (status, body) = app.post("/v1/admin/users", user, Some(token)).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::UNPROCESSABLE_ENTITY, expected),
            "{body}"
        );
    }

    let (status, _) = app
        .post("/v1/admin/users/zhao/disable", json!({}), Some(token))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.login("zhao", PASSWORD).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app
        .post("/v1/admin/users/zhao/enable", json!({}), Some(token))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    app.sign_in("zhao").await;
    let (status, _) = app
        .post("/v1/admin/users/nobody/disable", json!({}), Some(token))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test]
async fn malformed_bodies_get_a_400_json_error() {
    let app = TestApp::spawn().await;
    let url = format!("{}/v1/auth/login", app.base);
    let send = |body: &'static str, content_type: &'static str| {
        app.http
            .post(&url)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    for (body, content_type) in [
        ("{not json", "application/json"),
        (r#"{"login": "wang"}"#, "application/json"),
        (
            r#"{"login": "wang", "password": "x", "admin": true}"#,
            "application/json",
        ),
        (
            r#"{"login": "wang", "password": "x", "device_id": "not-a-uuid"}"#,
            "application/json",
        ),
        (r#"{"login": "wang", "password": "x"}"#, "text/plain"),
    ] {
        let (status, json) = answer(send(body, content_type).await.unwrap()).await;
        assert_eq!(
            (status, code(&json)),
            (StatusCode::BAD_REQUEST, "malformed"),
            "{body}"
        );
    }
    let refresh = format!("{}/v1/auth/refresh", app.base);
    let response = app.http.post(&refresh).body("[]").send().await.unwrap();
    let (status, json) = answer(response).await;
    assert_eq!(
        (status, code(&json)),
        (StatusCode::BAD_REQUEST, "malformed")
    );
    app.stop().await;
}

/// Login and refresh against a fresh PostgreSQL database, created and dropped here.
#[tokio::test]
async fn login_and_refresh_work_on_postgres() {
    let Ok(admin_url) = std::env::var("GRIDBOOK_TEST_POSTGRES_URL") else {
        eprintln!("skipped: GRIDBOOK_TEST_POSTGRES_URL is not set");
        return;
    };
    let name = format!("gridbook_auth_{}", uuid_simple());
    let admin = sqlx::PgPool::connect(&admin_url)
        .await
        .expect("admin connection");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .expect("create database");
    let (base, query) = match admin_url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (admin_url.as_str(), String::new()),
    };
    let url = format!(
        "{}/{name}{query}",
        base.rsplit_once('/').expect("a URL with a path").0
    );

    // Run the scenario on its own task so the database is dropped even when it fails.
    let scenario = tokio::spawn(async move {
        let app = TestApp::spawn_on(&url, ThrottlePolicy::default()).await;
        app.add_user("wang", Role::GridWorker).await;
        let first = app.sign_in("wang").await;
        assert_eq!(first["user"]["community"], COMMUNITY);
        let device = &first["device_id"];
        let (status, second) = app.refresh_from(&first["refresh_token"], device).await;
        assert_eq!(status, StatusCode::OK, "{second}");
        // A retry right after a lost response gets the same successor...
        let (status, retried) = app.refresh_from(&first["refresh_token"], device).await;
        assert_eq!(status, StatusCode::OK, "{retried}");
        assert_eq!(retried["refresh_token"], second["refresh_token"]);
        // ...but once its successor has been used, reuse revokes the family.
        let (status, third) = app.refresh_from(&retried["refresh_token"], device).await;
        assert_eq!(status, StatusCode::OK, "{third}");
        let (status, _) = app.refresh(&first["refresh_token"]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, _) = app.refresh(&third["refresh_token"]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, body) = app.login("wang", "wrong password").await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::UNAUTHORIZED, "invalid_credentials")
        );
        app.stop().await;
    })
    .await;

    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE {name} WITH (FORCE)"
    )))
    .execute(&admin)
    .await
    .expect("drop database");
    admin.close().await;
    if let Err(panic) = scenario {
        std::panic::resume_unwind(panic.into_panic());
    }
}

fn uuid_simple() -> String {
    UserId::new().as_str().replace('-', "")
}
