//! Accounts hardened (issue 14, items 5 to 8): strangers cannot lock an owner out; sign-out,
//! disabling and a password change end sessions at once; a refresh token replayed in the
//! grace window yields no second live token; common passwords are refused; an administrator's
//! reset forces a change; every administrator's action is audited. Both backends, real HTTP.

use std::net::IpAddr;

use anyhow::Context;
use gridbook_tests::client::{anon, answer, get, post, post_from};
use gridbook_tests::{PASSWORD, TestApp};
use serde_json::{Value, json};
use sync_core::ids::DeviceId;
use sync_core::record::Role;

use crate::support::on_both_backends;

on_both_backends!(
    strangers_guessing_from_many_addresses_do_not_lock_the_owners_known_device_out,
    signing_out_ends_the_access_token_at_once,
    disabling_a_user_ends_their_sessions_for_good,
    a_refresh_token_replayed_in_the_grace_window_yields_no_second_live_token,
    common_passwords_and_the_login_are_refused_as_new_passwords,
    changing_ones_password_ends_the_other_sessions,
    an_administrators_reset_forces_a_password_change_before_anything_else,
    administrators_actions_are_audited_with_actor_target_and_address,
);

async fn strangers_guessing_from_many_addresses_do_not_lock_the_owners_known_device_out(
    app: TestApp,
) -> anyhow::Result<()> {
    app.user("wang", Role::GridWorker, app.grid_a()).await?;
    // The owner's phone has signed in before.
    let first = anon(
        &app,
        "/v1/auth/login",
        &json!({ "login": "wang", "password": PASSWORD }),
    )
    .await?;
    assert_eq!(first.status, 200, "{}", first.text);
    let phone = first.str("device_id")?.to_owned();

    // Five wrong guesses from five networks.
    for n in 1..=5u8 {
        let from = IpAddr::from([127, n, 0, 1]);
        let a = post_from(
            &app,
            Some(from),
            "/v1/auth/login",
            &json!({ "login": "wang", "password": format!("guess {n}") }),
        )
        .await?;
        assert_eq!(
            (a.status, a.code()),
            (401, "invalid_credentials"),
            "{}",
            a.text
        );
    }
    let owner_at = Some(IpAddr::from([127, 9, 0, 1]));
    // A new device is slowed down, even with the right password...
    let a = post_from(
        &app,
        owner_at,
        "/v1/auth/login",
        &json!({ "login": "wang", "password": PASSWORD }),
    )
    .await?;
    assert_eq!((a.status, a.code()), (429, "rate_limited"), "{}", a.text);
    // ...but the owner's phone, naming the device it signed in on, gets in.
    let a = post_from(
        &app,
        owner_at,
        "/v1/auth/login",
        &json!({ "login": "wang", "password": PASSWORD, "device_id": phone }),
    )
    .await?;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.str("device_id")?.to_owned(), phone);
    // A device id the server never registered for wang is no way in.
    let a = post_from(
        &app,
        owner_at,
        "/v1/auth/login",
        &json!({ "login": "wang", "password": PASSWORD,
                 "device_id": DeviceId::new().as_str() }),
    )
    .await?;
    assert_eq!(a.status, 429, "{}", a.text);
    app.stop().await
}

async fn signing_out_ends_the_access_token_at_once(app: TestApp) -> anyhow::Result<()> {
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let session = app.login(&li).await?;
    let other = app.login(&li).await?;
    assert_eq!(
        get(&app, &session.access_token, "/v1/auth/me")
            .await?
            .status,
        200
    );
    let a = anon(
        &app,
        "/v1/auth/logout",
        &json!({ "refresh_token": session.refresh_token }),
    )
    .await?;
    assert_eq!(a.status, 204, "{}", a.text);
    for path in ["/v1/auth/me", "/v1/households"] {
        let a = get(&app, &session.access_token, path).await?;
        assert_eq!(
            (a.status, a.code()),
            (401, "unauthorized"),
            "{path}: {}",
            a.text
        );
    }
    // The other sign-in of the same user is untouched.
    assert_eq!(
        get(&app, &other.access_token, "/v1/households")
            .await?
            .status,
        200
    );
    app.stop().await
}

async fn disabling_a_user_ends_their_sessions_for_good(app: TestApp) -> anyhow::Result<()> {
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let root = app.user("root", Role::Admin, app.grid_a()).await?;
    let admin = app.login(&root).await?;
    let session = app.login(&li).await?;
    for action in ["disable", "enable"] {
        let path = format!("/v1/admin/users/li/{action}");
        let a = post(&app, &admin.access_token, &path, &json!({})).await?;
        assert_eq!(a.status, 204, "{}", a.text);
    }
    // Enabled again, but the sessions from before are over.
    let a = anon(
        &app,
        "/v1/auth/refresh",
        &json!({ "refresh_token": session.refresh_token }),
    )
    .await?;
    assert_eq!(a.status, 401, "refresh after re-enabling: {}", a.text);
    let a = get(&app, &session.access_token, "/v1/households").await?;
    assert_eq!(a.status, 401, "access after re-enabling: {}", a.text);
    // A fresh sign-in works.
    let fresh = app.login(&li).await?;
    assert_eq!(
        get(&app, &fresh.access_token, "/v1/households")
            .await?
            .status,
        200
    );
    app.stop().await
}

async fn a_refresh_token_replayed_in_the_grace_window_yields_no_second_live_token(
    app: TestApp,
) -> anyhow::Result<()> {
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let refresh = |token: &str, device: Option<&str>| {
        let mut body = json!({ "refresh_token": token });
        if let Some(d) = device {
            body["device_id"] = json!(d);
        }
        body
    };

    // The phone's refresh response is lost; it retries from its own device within the window
    // and gets the very same successor, which works.
    let phone = app.login(&li).await?;
    let device = phone.device.to_string();
    let lost = anon(
        &app,
        "/v1/auth/refresh",
        &refresh(&phone.refresh_token, Some(&device)),
    )
    .await?;
    assert_eq!(lost.status, 200, "{}", lost.text);
    let retried = anon(
        &app,
        "/v1/auth/refresh",
        &refresh(&phone.refresh_token, Some(&device)),
    )
    .await?;
    assert_eq!(retried.status, 200, "{}", retried.text);
    assert_eq!(
        retried.str("refresh_token")?.to_owned(),
        lost.str("refresh_token")?.to_owned(),
        "a retry gets the same successor, not a second one"
    );
    let next = anon(
        &app,
        "/v1/auth/refresh",
        &refresh(retried.str("refresh_token")?, Some(&device)),
    )
    .await?;
    assert_eq!(next.status, 200, "{}", next.text);

    // Someone else replays a rotated token within the window (without the device, or naming
    // another one): refused, and the whole family (and its access tokens) ends.
    for thief_device in [None, Some(DeviceId::new().to_string())] {
        let victim = app.login(&li).await?;
        let own = victim.device.to_string();
        let b = anon(
            &app,
            "/v1/auth/refresh",
            &refresh(&victim.refresh_token, Some(&own)),
        )
        .await?;
        assert_eq!(b.status, 200, "{}", b.text);
        let stolen = anon(
            &app,
            "/v1/auth/refresh",
            &refresh(&victim.refresh_token, thief_device.as_deref()),
        )
        .await?;
        assert_eq!(stolen.status, 401, "{thief_device:?}: {}", stolen.text);
        let b_token = b.str("refresh_token")?.to_owned();
        let after = anon(&app, "/v1/auth/refresh", &refresh(&b_token, Some(&own))).await?;
        assert_eq!(after.status, 401, "the family is revoked: {}", after.text);
        let access = b.str("access_token")?.to_owned();
        assert_eq!(get(&app, &access, "/v1/households").await?.status, 401);
    }
    app.stop().await
}

async fn common_passwords_and_the_login_are_refused_as_new_passwords(
    app: TestApp,
) -> anyhow::Result<()> {
    let root = app.user("root", Role::Admin, app.grid_a()).await?;
    let admin = app.login(&root).await?;
    for (login, password, code) in [
        ("zhou", "password1", "common_password"),
        ("zhou", "Qwertyuiop", "common_password"),
        ("zhou", "iloveyou", "common_password"),
        ("zhou.wei", "ZHOU.WEI", "password_is_login"),
        ("zhou", "short", "weak_password"),
    ] {
        let user = json!({ "login": login, "display_name": "周伟", "password": password,
                           "role": "grid_worker", "grid": "ca-1" });
        let a = post(&app, &admin.access_token, "/v1/admin/users", &user).await?;
        assert_eq!((a.status, a.code()), (422, code), "{password}: {}", a.text);
        assert!(!a.text.contains(password), "{}", a.text);
    }
    let user = json!({ "login": "zhou", "display_name": "周伟", "password": "quiet river lantern",
                       "role": "grid_worker", "grid": "ca-1" });
    let a = post(&app, &admin.access_token, "/v1/admin/users", &user).await?;
    assert_eq!(a.status, 201, "{}", a.text);
    app.stop().await
}

async fn changing_ones_password_ends_the_other_sessions(app: TestApp) -> anyhow::Result<()> {
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let here = app.login(&li).await?;
    let elsewhere = app.login(&li).await?;
    let change = |old: &str, new: &str| json!({ "old_password": old, "new_password": new });
    let path = "/v1/auth/password";
    let a = post(
        &app,
        &here.access_token,
        path,
        &change("wrong guess", "quiet river lantern"),
    )
    .await?;
    assert_eq!((a.status, a.code()), (403, "wrong_password"), "{}", a.text);
    let a = post(
        &app,
        &here.access_token,
        path,
        &change(PASSWORD, "password123"),
    )
    .await?;
    assert_eq!((a.status, a.code()), (422, "common_password"), "{}", a.text);
    let a = post(
        &app,
        &here.access_token,
        path,
        &change(PASSWORD, "quiet river lantern"),
    )
    .await?;
    assert_eq!(a.status, 204, "{}", a.text);

    // This session goes on; the other one has ended, access and refresh alike.
    assert_eq!(
        get(&app, &here.access_token, "/v1/households")
            .await?
            .status,
        200
    );
    let a = anon(
        &app,
        "/v1/auth/refresh",
        &json!({ "refresh_token": here.refresh_token }),
    )
    .await?;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(
        get(&app, &elsewhere.access_token, "/v1/households")
            .await?
            .status,
        401
    );
    let a = anon(
        &app,
        "/v1/auth/refresh",
        &json!({ "refresh_token": elsewhere.refresh_token }),
    )
    .await?;
    assert_eq!(a.status, 401, "{}", a.text);
    // The old password no longer signs in; the new one does.
    let a = anon(
        &app,
        "/v1/auth/login",
        &json!({ "login": "li", "password": PASSWORD }),
    )
    .await?;
    assert_eq!(a.status, 401, "{}", a.text);
    let a = anon(
        &app,
        "/v1/auth/login",
        &json!({ "login": "li", "password": "quiet river lantern" }),
    )
    .await?;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["must_change_password"], false, "{}", a.text);
    app.stop().await
}

async fn an_administrators_reset_forces_a_password_change_before_anything_else(
    app: TestApp,
) -> anyhow::Result<()> {
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let root = app.user("root", Role::Admin, app.grid_a()).await?;
    let admin = app.login(&root).await?;
    let before = app.login(&li).await?;
    // A body that is not a JSON object is refused and resets nothing (serde had read `[]` as
    // a request with every field defaulted: found by schemathesis).
    for body in [
        json!([]),
        json!(["a temporary password"]),
        json!("x"),
        json!(null),
    ] {
        let a = post(
            &app,
            &admin.access_token,
            "/v1/admin/users/li/reset-password",
            &body,
        )
        .await?;
        assert_eq!(a.status, 400, "{body}: {}", a.text);
        assert_eq!(a.body["error"]["code"], "malformed", "{}", a.text);
    }
    assert_eq!(
        get(&app, &before.access_token, "/v1/households")
            .await?
            .status,
        200,
        "a refused reset ends no session"
    );
    let a = post(
        &app,
        &admin.access_token,
        "/v1/admin/users/li/reset-password",
        &json!({}),
    )
    .await?;
    assert_eq!(a.status, 200, "{}", a.text);
    let temporary = a.str("temporary_password")?.to_owned();
    assert!(temporary.len() >= 12, "{}", a.text);
    // Every session of li ended with the reset.
    assert_eq!(
        get(&app, &before.access_token, "/v1/households")
            .await?
            .status,
        401
    );
    let a = post(
        &app,
        &admin.access_token,
        "/v1/admin/users/nobody/reset-password",
        &json!({}),
    )
    .await?;
    assert_eq!(a.status, 404, "{}", a.text);

    let signed = anon(
        &app,
        "/v1/auth/login",
        &json!({ "login": "li", "password": temporary }),
    )
    .await?;
    assert_eq!(signed.status, 200, "{}", signed.text);
    assert_eq!(signed.body["must_change_password"], true, "{}", signed.text);
    let token = signed.str("access_token")?.to_owned();
    for path in ["/v1/households", "/v1/cases"] {
        let a = get(&app, &token, path).await?;
        assert_eq!(
            (a.status, a.code()),
            (403, "password_change_required"),
            "{}",
            a.text
        );
    }
    let a = get(&app, &token, "/v1/auth/me").await?;
    assert_eq!(
        (a.status, &a.body["must_change_password"]),
        (200, &json!(true)),
        "{}",
        a.text
    );
    let change = json!({ "old_password": temporary, "new_password": temporary });
    let a = post(&app, &token, "/v1/auth/password", &change).await?;
    assert_eq!(
        (a.status, a.code()),
        (422, "password_unchanged"),
        "{}",
        a.text
    );
    let change = json!({ "old_password": temporary, "new_password": "quiet river lantern" });
    let a = post(&app, &token, "/v1/auth/password", &change).await?;
    assert_eq!(a.status, 204, "{}", a.text);
    assert_eq!(get(&app, &token, "/v1/households").await?.status, 200);
    app.stop().await
}

async fn administrators_actions_are_audited_with_actor_target_and_address(
    app: TestApp,
) -> anyhow::Result<()> {
    let root = app.user("root", Role::Admin, app.grid_a()).await?;
    let admin = app.login(&root).await?;
    let t = &admin.access_token;
    let user = json!({ "login": "zhou", "display_name": "周伟", "password": "quiet river lantern",
                       "role": "grid_worker", "grid": "ca-1" });
    let steps: Vec<(&str, String, Value)> = vec![
        ("POST", "/v1/admin/users".into(), user),
        ("POST", "/v1/admin/users/zhou/disable".into(), json!({})),
        ("POST", "/v1/admin/users/zhou/enable".into(), json!({})),
        (
            "POST",
            "/v1/admin/users/zhou/reset-password".into(),
            json!({}),
        ),
        (
            "PUT",
            "/v1/admin/streets/st".into(),
            json!({ "name": "新街道" }),
        ),
        (
            "PUT",
            "/v1/admin/communities/cc".into(),
            json!({ "name": "丙社区", "street": "st" }),
        ),
        (
            "PUT",
            "/v1/admin/grids/cc-1".into(),
            json!({ "name": "丙一格", "community": "cc" }),
        ),
    ];
    for (method, path, body) in &steps {
        let request = match *method {
            "PUT" => app.http.put(app.url(path)),
            _ => app.http.post(app.url(path)),
        };
        let a = answer(request.bearer_auth(t).json(body).send().await?).await?;
        assert!((200..300).contains(&a.status), "{path}: {}", a.text);
    }
    let a = get(&app, t, "/v1/admin/audit?per_page=100").await?;
    assert_eq!(a.status, 200, "{}", a.text);
    let items = a.body["items"].as_array().context("items")?;
    for (action, target) in [
        ("user_created", "user:zhou"),
        ("user_disabled", "user:zhou"),
        ("user_enabled", "user:zhou"),
        ("password_reset", "user:zhou"),
        ("place_saved", "street:st"),
        ("place_saved", "community:cc"),
        ("place_saved", "grid:cc-1"),
    ] {
        let row = items
            .iter()
            .find(|i| i["action"] == action && i["detail"]["target"] == target)
            .with_context(|| format!("no {action} of {target} in {}", a.text))?;
        assert_eq!(row["actor_login"], "root", "{row}");
        assert_eq!(row["actor_id"], root.id.to_string(), "{row}");
        assert_eq!(row["address"], "127.0.0.1", "{row}");
        assert!(row["at"].as_i64().is_some_and(|at| at > 0), "{row}");
    }
    // The temporary password is nowhere in the log.
    assert!(!a.text.contains("temporary_password"), "{}", a.text);
    let filtered = get(&app, t, "/v1/admin/audit?action=password_reset").await?;
    assert_eq!(filtered.body["total"], 1, "{}", filtered.text);
    // The export holds them too.
    let response = app
        .http
        .get(app.url("/v1/exports/audit.csv"))
        .bearer_auth(t)
        .send()
        .await?;
    assert_eq!(response.status(), 200);
    let csv = response.text().await?;
    for needle in ["user:zhou", "grid:cc-1", "重置密码"] {
        assert!(csv.contains(needle), "{needle} not in {csv}");
    }
    app.stop().await
}
