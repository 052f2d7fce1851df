//! Accounts end to end: sign-in, refresh-token rotation and reuse, logout, devices, expired and
//! foreign tokens, throttling, administration, malformed bodies. On SQLite (one scenario also
//! on PostgreSQL), with a fixed JWT key.

use std::sync::Arc;
use std::time::Duration;

use gridbook_server::auth::jwt::Keys;
use gridbook_server::auth::throttle::{LoginThrottle, ThrottlePolicy};
use gridbook_server::config::{JwtKey, Settings};
use gridbook_server::db::users;
use gridbook_tests::client::{
    anon, get, json_answer, post, put, refresh, refresh_from, sign_in, signed_in,
};
use gridbook_tests::{Backend, PASSWORD, TestApp};
use serde_json::{Value, json};
use sync_core::ids::DeviceId;
use sync_core::record::Role;

/// The places of the harness's grid `ca-1`.
const STREET: &str = "st";
const COMMUNITY: &str = "ca";
const GRID: &str = "ca-1";
const JWT_SECRET: &str = "0123456789abcdef0123456789abcdef";

/// The server signs with [`JWT_SECRET`] under the key id `test`.
fn fixed_key(settings: &mut Settings) {
    settings.jwt_keys = vec![JwtKey {
        kid: "test".into(),
        secret: JWT_SECRET.as_bytes().to_vec(),
    }];
}

/// A server on a fresh SQLite file with the fixed key.
async fn spawn() -> anyhow::Result<TestApp> {
    spawn_throttled(ThrottlePolicy::default()).await
}

/// Like [`spawn`], with a sign-in throttle of `policy`.
async fn spawn_throttled(policy: ThrottlePolicy) -> anyhow::Result<TestApp> {
    let throttle = |state: &mut gridbook_server::state::AppState| {
        state.throttle = Arc::new(LoginThrottle::new(policy));
    };
    TestApp::spawn_with_state(Backend::Sqlite, fixed_key, throttle)
        .await?
        .ok_or_else(|| anyhow::anyhow!("SQLite is always there"))
}

fn access(tokens: &Value) -> &str {
    tokens["access_token"].as_str().expect("access token")
}

fn refresh_token(tokens: &Value) -> &str {
    tokens["refresh_token"].as_str().expect("refresh token")
}

fn device_of(tokens: &Value) -> &str {
    tokens["device_id"].as_str().expect("device id")
}

#[tokio::test]
async fn login_returns_tokens_user_and_a_new_device() -> anyhow::Result<()> {
    let app = spawn().await?;
    let id = app.user("wang", Role::GridWorker, app.grid_a()).await?.id;
    let tokens = signed_in(&app, "wang").await?;
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 900);
    assert_eq!(tokens["refresh_token"].as_str().unwrap().len(), 43);
    let device: DeviceId = tokens["device_id"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        tokens["user"],
        json!({
            "id": id.as_str(), "login": "wang", "display_name": "测试 wang",
            "role": "grid_worker", "street": STREET, "community": COMMUNITY, "grid": GRID,
            "liaison_group": null, "department": null,
        })
    );
    let me = get(&app, access(&tokens), "/v1/auth/me").await?;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.body["device_id"], device.as_str());
    assert_eq!(me.body["login"], "wang");

    // Signing in again with the same device keeps it; a device the client names is created.
    let again = anon(
        &app,
        "/v1/auth/login",
        &json!({ "login": "wang", "password": PASSWORD, "device_id": device.as_str() }),
    )
    .await?;
    assert_eq!(
        (again.status, &again.body["device_id"]),
        (200, &tokens["device_id"])
    );
    let chosen = DeviceId::new();
    let named = anon(
        &app,
        "/v1/auth/login",
        &json!({ "login": "wang", "password": PASSWORD, "device_id": chosen.as_str(),
                 "device_name": "王的手机" }),
    )
    .await?;
    assert_eq!(named.status, 200, "{}", named.text);
    assert_eq!(named.body["device_id"], chosen.as_str());
    let stored = users::get_device(app.db(), &chosen).await.unwrap().unwrap();
    assert_eq!((stored.user, stored.name.as_str()), (id, "王的手机"));
    app.stop().await
}

#[tokio::test]
async fn wrong_password_and_unknown_login_give_identical_401s() -> anyhow::Result<()> {
    let app = spawn().await?;
    app.user("wang", Role::GridWorker, app.grid_a()).await?;
    let wrong_password = sign_in(&app, "wang", "not the password").await?;
    let unknown_login = sign_in(&app, "nobody", PASSWORD).await?;
    assert_eq!((wrong_password.status, unknown_login.status), (401, 401));
    assert_eq!(wrong_password.code(), "invalid_credentials");
    assert_eq!(wrong_password.body, unknown_login.body);
    app.stop().await
}

#[tokio::test]
async fn disabled_user_can_neither_sign_in_nor_refresh() -> anyhow::Result<()> {
    let app = spawn().await?;
    app.user("wang", Role::GridWorker, app.grid_a()).await?;
    let tokens = signed_in(&app, "wang").await?;
    let wrong = sign_in(&app, "wang", "not the password").await?;
    assert!(users::set_disabled(app.db(), "wang", true).await.unwrap());

    let a = sign_in(&app, "wang", PASSWORD).await?;
    assert_eq!(a.status, 401);
    assert_eq!(
        a.body, wrong.body,
        "a disabled user looks like wrong credentials"
    );
    assert_eq!(refresh(&app, refresh_token(&tokens)).await?.status, 401);
    assert_eq!(get(&app, access(&tokens), "/v1/auth/me").await?.status, 401);

    // Enabled again, the old session stays over: only a new sign-in works.
    assert!(users::set_disabled(app.db(), "wang", false).await.unwrap());
    assert_eq!(refresh(&app, refresh_token(&tokens)).await?.status, 401);
    assert_eq!(get(&app, access(&tokens), "/v1/auth/me").await?.status, 401);
    signed_in(&app, "wang").await?;
    app.stop().await
}

#[tokio::test]
async fn refresh_rotates_both_tokens() -> anyhow::Result<()> {
    let app = spawn().await?;
    app.user("wang", Role::GridWorker, app.grid_a()).await?;
    let first = signed_in(&app, "wang").await?;
    let a = refresh(&app, refresh_token(&first)).await?;
    assert_eq!(a.status, 200, "{}", a.text);
    let second = a.body;
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    assert_eq!(second["device_id"], first["device_id"]);
    assert_eq!(second["user"], first["user"]);
    assert_eq!(second["token_type"], "Bearer");
    assert_eq!(get(&app, access(&second), "/v1/auth/me").await?.status, 200);
    let third = refresh(&app, refresh_token(&second)).await?;
    assert_eq!(third.status, 200, "{}", third.text);

    let a = refresh(&app, "no-such-token").await?;
    assert_eq!((a.status, a.code()), (401, "unauthorized"));
    app.stop().await
}

#[tokio::test]
async fn reusing_a_rotated_refresh_token_revokes_its_family() -> anyhow::Result<()> {
    let app = spawn().await?;
    app.user("wang", Role::GridWorker, app.grid_a()).await?;
    let first = signed_in(&app, "wang").await?;
    let other_session = signed_in(&app, "wang").await?;
    let second = refresh(&app, refresh_token(&first)).await?.body;
    // The holder of `second` uses it: from now on `first` can only be a stolen copy.
    let third = refresh(&app, refresh_token(&second)).await?;
    assert_eq!(third.status, 200);

    let a = refresh(&app, refresh_token(&first)).await?;
    assert_eq!(a.status, 401, "reuse is refused");
    let a = refresh(&app, refresh_token(&third.body)).await?;
    assert_eq!(a.status, 401, "the newest token died too");
    // Another sign-in is another family.
    let a = refresh(&app, refresh_token(&other_session)).await?;
    assert_eq!(a.status, 200);
    app.stop().await
}

#[tokio::test]
async fn a_refresh_retried_after_a_lost_response_gets_the_same_token_again() -> anyhow::Result<()> {
    let app = spawn().await?;
    app.user("wang", Role::GridWorker, app.grid_a()).await?;
    let first = signed_in(&app, "wang").await?;
    let device = device_of(&first);
    // The phone's refresh reached the server but the answer was lost on the way back.
    let lost = refresh_from(&app, refresh_token(&first), device).await?;
    assert_eq!(lost.status, 200);
    // It retries with the token it still holds, within the leeway, from its own device: the
    // same successor again (never a second live token).
    let retried = refresh_from(&app, refresh_token(&first), device).await?;
    assert_eq!(retried.status, 200, "{}", retried.text);
    assert_eq!(retried.body["refresh_token"], lost.body["refresh_token"]);
    let a = refresh_from(&app, refresh_token(&lost.body), device).await?;
    assert_eq!(a.status, 200, "the phone stays signed in");
    app.stop().await
}

#[tokio::test]
async fn logout_revokes_the_family_and_is_idempotent() -> anyhow::Result<()> {
    let app = spawn().await?;
    app.user("wang", Role::GridWorker, app.grid_a()).await?;
    let first = signed_in(&app, "wang").await?;
    let second = refresh(&app, refresh_token(&first)).await?.body;
    let body = json!({ "refresh_token": second["refresh_token"] });
    let empty = anon(&app, "/v1/auth/logout", &body).await?;
    assert_eq!((empty.status, empty.body), (204, Value::Null));
    assert_eq!(refresh(&app, refresh_token(&second)).await?.status, 401);
    assert_eq!(anon(&app, "/v1/auth/logout", &body).await?.status, 204);
    let unknown = json!({ "refresh_token": "never-issued" });
    assert_eq!(anon(&app, "/v1/auth/logout", &unknown).await?.status, 204);
    app.stop().await
}

#[tokio::test]
async fn revoked_device_cannot_refresh_and_its_access_token_is_refused() -> anyhow::Result<()> {
    let app = spawn().await?;
    app.user("wang", Role::GridWorker, app.grid_a()).await?;
    app.user("li", Role::GridWorker, app.grid_a()).await?;
    app.user("admin", Role::Admin, app.grid_a()).await?;
    let phone = signed_in(&app, "wang").await?;
    let tablet = signed_in(&app, "wang").await?;
    let li = signed_in(&app, "li").await?;
    let admin = signed_in(&app, "admin").await?;
    let revoke = |tokens: &Value| format!("/v1/auth/devices/{}/revoke", device_of(tokens));

    let a = post(&app, access(&li), &revoke(&phone), &json!({})).await?;
    assert_eq!((a.status, a.code()), (403, "forbidden"));
    let unknown = format!("/v1/auth/devices/{}/revoke", DeviceId::new());
    let a = post(&app, access(&li), &unknown, &json!({})).await?;
    assert_eq!(a.status, 404);
    // A device id that is not a canonical (lowercase, hyphenated) UUID is malformed.
    let a = post(
        &app,
        access(&li),
        "/v1/auth/devices/garbage/revoke",
        &json!({}),
    )
    .await?;
    assert_eq!((a.status, a.code()), (400, "malformed"));

    // From the tablet, wang revokes his lost phone.
    let a = post(&app, access(&tablet), &revoke(&phone), &json!({})).await?;
    assert_eq!(a.status, 204);
    assert_eq!(refresh(&app, refresh_token(&phone)).await?.status, 401);
    let a = get(&app, access(&phone), "/v1/auth/me").await?;
    assert_eq!(a.status, 401);
    // Signing in again on the revoked device is refused; the tablet is unaffected.
    let a = anon(
        &app,
        "/v1/auth/login",
        &json!({ "login": "wang", "password": PASSWORD, "device_id": phone["device_id"] }),
    )
    .await?;
    assert_eq!(a.status, 401);
    let a = get(&app, access(&tablet), "/v1/auth/me").await?;
    assert_eq!(a.status, 200);

    // An administrator may revoke anyone's device.
    let a = post(&app, access(&admin), &revoke(&li), &json!({})).await?;
    assert_eq!(a.status, 204);
    let a = get(&app, access(&li), "/v1/auth/me").await?;
    assert_eq!(a.status, 401);
    app.stop().await
}

#[tokio::test]
async fn a_device_of_another_user_is_forbidden() -> anyhow::Result<()> {
    let app = spawn().await?;
    app.user("wang", Role::GridWorker, app.grid_a()).await?;
    app.user("li", Role::GridWorker, app.grid_a()).await?;
    let wang = signed_in(&app, "wang").await?;
    let a = anon(
        &app,
        "/v1/auth/login",
        &json!({ "login": "li", "password": PASSWORD, "device_id": wang["device_id"] }),
    )
    .await?;
    assert_eq!((a.status, a.code()), (403, "forbidden"));
    app.stop().await
}

#[tokio::test]
async fn expired_and_foreign_access_tokens_are_refused() -> anyhow::Result<()> {
    let app = spawn().await?;
    let user = app.user("wang", Role::GridWorker, app.grid_a()).await?.id;
    let tokens = signed_in(&app, "wang").await?;
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
    let a = get(&app, &expired, "/v1/auth/me").await?;
    assert_eq!(a.status, 401, "{}", a.text);

    // Same claims, same key id, another secret.
    let stranger = Keys::new(&[JwtKey {
        kid: "test".into(),
        secret: b"another secret, 32 bytes or more!".to_vec(),
    }])
    .unwrap();
    let forged = stranger
        .issue(&user, &device, "a-session", Duration::from_secs(600))
        .unwrap();
    assert_eq!(get(&app, &forged, "/v1/auth/me").await?.status, 401);
    assert_eq!(get(&app, "not.a.jwt", "/v1/auth/me").await?.status, 401);
    app.stop().await
}

#[tokio::test]
async fn an_access_token_expires_after_its_ttl() -> anyhow::Result<()> {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| s.access_ttl = Duration::from_secs(1))
        .await?
        .ok_or_else(|| anyhow::anyhow!("SQLite is always there"))?;
    app.user("wang", Role::GridWorker, app.grid_a()).await?;
    let tokens = signed_in(&app, "wang").await?;
    assert_eq!(tokens["expires_in"], 1);
    let a = get(&app, access(&tokens), "/v1/auth/me").await?;
    assert_eq!(a.status, 200);
    // The verifier allows 5 s of clock skew.
    tokio::time::sleep(Duration::from_millis(7_000)).await;
    let a = get(&app, access(&tokens), "/v1/auth/me").await?;
    assert_eq!(a.status, 401);
    assert!(
        a.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
    app.stop().await
}

#[tokio::test]
async fn repeated_failed_sign_ins_are_throttled() -> anyhow::Result<()> {
    let app = spawn_throttled(ThrottlePolicy {
        max_login_failures: 3,
        max_addr_failures: 6,
        ..ThrottlePolicy::default()
    })
    .await?;
    app.user("wang", Role::GridWorker, app.grid_a()).await?;
    for _ in 0..3 {
        assert_eq!(sign_in(&app, "wang", "guess").await?.status, 401);
    }
    // Locked: even the right password is refused, with a Retry-After.
    let response = app
        .http
        .post(app.url("/v1/auth/login"))
        .json(&json!({ "login": "wang", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(retry, 1);
    let a = json_answer(response).await?;
    assert_eq!(a.code(), "rate_limited");

    // After the lockout the right password works and clears the login's count.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    signed_in(&app, "wang").await?;
    assert_eq!(sign_in(&app, "wang", "guess").await?.status, 401);

    // The address has 4 failures now; two more over other logins lock it for everyone.
    for login in ["a", "b"] {
        assert_eq!(sign_in(&app, login, "guess").await?.status, 401);
    }
    let a = sign_in(&app, "wang", PASSWORD).await?;
    assert_eq!((a.status, a.code()), (429, "rate_limited"));
    app.stop().await
}

#[tokio::test]
async fn admin_routes_are_for_admins_only() -> anyhow::Result<()> {
    let app = spawn().await?;
    app.user("wang", Role::GridWorker, app.grid_a()).await?;
    app.user("boss", Role::StreetSupervisor, app.grid_a())
        .await?;
    for login in ["wang", "boss"] {
        let tokens = signed_in(&app, login).await?;
        let token = access(&tokens);
        assert_eq!(get(&app, token, "/v1/admin/places").await?.status, 403);
        let a = put(&app, token, "/v1/admin/streets/x", &json!({"name": "X"})).await?;
        assert_eq!(a.status, 403);
        let user = json!({ "login": "new", "display_name": "N", "password": PASSWORD,
                           "role": "grid_worker", "grid": GRID });
        let a = post(&app, token, "/v1/admin/users", &user).await?;
        assert_eq!((a.status, a.code()), (403, "forbidden"));
        let a = post(&app, token, "/v1/admin/users/wang/disable", &json!({})).await?;
        assert_eq!(a.status, 403);
    }
    let response = app
        .http
        .get(app.url("/v1/admin/places"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    app.stop().await
}

#[tokio::test]
async fn admins_manage_places_and_users() -> anyhow::Result<()> {
    let app = spawn().await?;
    app.user("admin", Role::Admin, app.grid_a()).await?;
    let tokens = signed_in(&app, "admin").await?;
    let token = access(&tokens);

    let a = put(
        &app,
        token,
        "/v1/admin/communities/hp-xy",
        &json!({"name": "新苑社区", "street": STREET}),
    )
    .await?;
    assert_eq!(a.status, 200, "{}", a.text);
    let a = put(
        &app,
        token,
        "/v1/admin/grids/hp-xy-01",
        &json!({"name": "新苑一格", "community": "hp-xy"}),
    )
    .await?;
    assert_eq!((a.status, &a.body["community"]), (200, &json!("hp-xy")));
    let a = put(
        &app,
        token,
        "/v1/admin/grids/hp-xy-02",
        &json!({"name": "x", "community": "nowhere"}),
    )
    .await?;
    assert_eq!((a.status, a.code()), (422, "unknown_place"));
    let a = put(&app, token, "/v1/admin/streets/BAD", &json!({"name": "x"})).await?;
    assert_eq!((a.status, a.code()), (400, "malformed"));
    let a = put(
        &app,
        token,
        &format!("/v1/admin/streets/{STREET}"),
        &json!({"name": "和平街道办事处"}),
    )
    .await?;
    assert_eq!(a.status, 200);
    let all = get(&app, token, "/v1/admin/places").await?;
    assert_eq!(all.status, 200);
    let all = all.body;
    assert_eq!(
        all["streets"],
        json!([{ "id": STREET, "name": "和平街道办事处" }])
    );
    // The harness's communities `ca` and `cb`, and `hp-xy`; its grids `ca-1`, `ca-2` and
    // `cb-1` come before `hp-xy-01`.
    assert_eq!(all["communities"].as_array().unwrap().len(), 3);
    assert_eq!(
        all["grids"][3],
        json!({ "id": "hp-xy-01", "name": "新苑一格", "community": "hp-xy" })
    );

    let liaison = json!({ "login": "zhao", "display_name": "赵联户长", "password": PASSWORD,
                          "role": "liaison", "grid": "hp-xy-01", "liaison_group": "lg-7" });
    let created = post(&app, token, "/v1/admin/users", &liaison).await?;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.body["community"], "hp-xy");
    assert_eq!(created.body["street"], STREET);
    assert_eq!(created.body["liaison_group"], "lg-7");
    let a = post(&app, token, "/v1/admin/users", &liaison).await?;
    assert_eq!((a.status, a.code()), (409, "conflict"));
    signed_in(&app, "zhao").await?;

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
        let a = post(&app, token, "/v1/admin/users", &user).await?;
        assert_eq!((a.status, a.code()), (422, expected), "{}", a.text);
    }

    let a = post(&app, token, "/v1/admin/users/zhao/disable", &json!({})).await?;
    assert_eq!(a.status, 204);
    assert_eq!(sign_in(&app, "zhao", PASSWORD).await?.status, 401);
    let a = post(&app, token, "/v1/admin/users/zhao/enable", &json!({})).await?;
    assert_eq!(a.status, 204);
    signed_in(&app, "zhao").await?;
    let a = post(&app, token, "/v1/admin/users/nobody/disable", &json!({})).await?;
    assert_eq!(a.status, 404);
    app.stop().await
}

#[tokio::test]
async fn malformed_bodies_get_a_400_json_error() -> anyhow::Result<()> {
    let app = spawn().await?;
    let url = app.url("/v1/auth/login");
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
        let a = json_answer(send(body, content_type).await.unwrap()).await?;
        assert_eq!((a.status, a.code()), (400, "malformed"), "{body}");
    }
    let refresh = app.url("/v1/auth/refresh");
    let response = app.http.post(&refresh).body("[]").send().await.unwrap();
    let a = json_answer(response).await?;
    assert_eq!((a.status, a.code()), (400, "malformed"));
    app.stop().await
}

/// Login and refresh against a fresh PostgreSQL database (skipped without one).
#[tokio::test]
async fn login_and_refresh_work_on_postgres() -> anyhow::Result<()> {
    let Some(app) = TestApp::spawn_with(Backend::Postgres, fixed_key).await? else {
        return Ok(());
    };
    app.user("wang", Role::GridWorker, app.grid_a()).await?;
    let first = signed_in(&app, "wang").await?;
    assert_eq!(first["user"]["community"], COMMUNITY);
    let device = device_of(&first);
    let second = refresh_from(&app, refresh_token(&first), device).await?;
    assert_eq!(second.status, 200, "{}", second.text);
    // A retry right after a lost response gets the same successor...
    let retried = refresh_from(&app, refresh_token(&first), device).await?;
    assert_eq!(retried.status, 200, "{}", retried.text);
    assert_eq!(retried.body["refresh_token"], second.body["refresh_token"]);
    // ...but once its successor has been used, reuse revokes the family.
    let third = refresh_from(&app, refresh_token(&retried.body), device).await?;
    assert_eq!(third.status, 200, "{}", third.text);
    assert_eq!(refresh(&app, refresh_token(&first)).await?.status, 401);
    assert_eq!(refresh(&app, refresh_token(&third.body)).await?.status, 401);
    let a = sign_in(&app, "wang", "wrong password").await?;
    assert_eq!((a.status, a.code()), (401, "invalid_credentials"));
    app.stop().await
}
