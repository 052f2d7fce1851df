//! Attacks, each refused: forged, expired, foreign-key, unsigned and stale tokens; refresh-token
//! reuse; reading or writing outside one's grid, role or liaison group; password guessing; SQL
//! metacharacters in every query parameter; personal data in error messages. Every attack runs
//! against the real server on both backends, and each checks that nothing stored changed.

use std::time::{Duration, Instant};

use anyhow::Context;
use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ROOT, ReadDoc};
use gridbook_server::auth::jwt::Keys;
use gridbook_server::config::JwtKey;
use gridbook_tests::client::{Answer, answer, download, get, post, refresh, refresh_from, sign_in};
use gridbook_tests::{PASSWORD, Phone, Session, TestApp};
use serde_json::{Value, json};
use sync_core::doc::{Author, Document, DocumentError, actor_for_device};
use sync_core::ids::{DeviceId, DocId, UserId};
use sync_core::models::HouseholdPrivate;
use sync_core::models::case::{Case, CaseAction};
use sync_core::models::household::Household;
use sync_core::models::visit::{Visit, VisitMethod};
use sync_core::protocol::{Bytes, Cursor, DocPush, DocStatus, SyncRequest, SyncResponse, codes};
use sync_core::record::{Record, RecordKind, Role};
use sync_core::validate::ValidationContext;

use crate::support::{
    at, case, create_household, event, household, household_and_identities, on_both_backends,
};

on_both_backends!(
    forged_tokens_are_refused,
    tokens_of_disabled_users_and_revoked_devices_are_refused,
    reusing_a_rotated_refresh_token_revokes_the_family,
    a_worker_cannot_read_or_write_another_grids_record_by_id,
    a_supervisor_cannot_write_records_other_than_case_events,
    a_supervisor_cannot_rewrite_a_case_through_sync,
    a_liaison_reads_only_their_group,
    password_guessing_is_slowed,
    sql_metacharacters_in_every_query_parameter_are_harmless,
    error_messages_carry_no_personal_data,
);

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Base64url without padding (JWT segments).
fn b64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

/// Every byte percent-encoded: safe in a query value or a path segment.
fn enc(text: &str) -> String {
    text.bytes().map(|b| format!("%{b:02X}")).collect()
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The server's own signing key (the harness configures none, so it made one in its key file).
async fn server_secret(app: &TestApp) -> anyhow::Result<Vec<u8>> {
    let kid = app.state().keys.signing_kid().to_owned();
    let path = gridbook_server::auth::keyfile::path_for(app.settings());
    let keys = gridbook_server::auth::keyfile::read(&path)?.context("the key file")?;
    Ok(keys
        .into_iter()
        .find(|k| k.kid == kid)
        .context("the signing key in the key file")?
        .secret)
}

/// A JWT signed with `secret` using `alg`, with `kid` and `claims` as given.
fn jwt(alg: jsonwebtoken::Algorithm, kid: Option<&str>, claims: &Value, secret: &[u8]) -> String {
    let mut header = jsonwebtoken::Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(
        &header,
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret),
    )
    .expect("a JWT encodes")
}

fn claims_of(user: &UserId, device: &DeviceId, session: &str) -> Value {
    let now = now_secs();
    json!({ "sub": user.as_str(), "dev": device.as_str(), "sid": session, "iss": "gridbook",
            "iat": now, "exp": now + 600 })
}

/// `POST /v1/sync` as raw text and status.
async fn sync_raw(app: &TestApp, token: &str, request: &SyncRequest) -> anyhow::Result<Answer> {
    answer(app.post_sync(token, request).await?).await
}

/// `POST /v1/sync`, expecting 200.
async fn sync_ok(
    app: &TestApp,
    token: &str,
    request: &SyncRequest,
) -> anyhow::Result<(SyncResponse, String)> {
    let a = sync_raw(app, token, request).await?;
    anyhow::ensure!(a.status == 200, "sync: {} {}", a.status, a.text);
    Ok((serde_json::from_str(&a.text)?, a.text))
}

/// A whole document pushed as new changes.
fn push_whole(doc: &Document) -> DocPush {
    DocPush {
        id: doc.id().clone(),
        kind: doc.kind(),
        base_heads: Vec::new(),
        changes: Bytes(doc.automerge().save_after(&[])),
    }
}

/// A copy of `original`'s document edited as `phone`'s device.
fn edited_copy<R: Record>(
    original: &Phone,
    id: &DocId,
    phone: &Phone,
    minutes: i64,
    edit: impl FnOnce(&mut R),
) -> anyhow::Result<Document> {
    let mut copy = original.replica.document(id).context("held")?.clone();
    copy.set_actor(actor_for_device(&phone.session.device));
    copy.update(
        &Author::new(phone.replica.actor().clone(), at(minutes)),
        &ValidationContext::default(),
        |r: &mut R| {
            edit(r);
            Ok::<_, DocumentError>(())
        },
    )?;
    Ok(copy)
}

fn assert_refused_401(a: &Answer, what: &str) {
    assert_eq!(a.status, 401, "{what}: {}", a.text);
    assert_eq!(a.code(), "unauthorized", "{what}: {}", a.text);
}

fn assert_absent(text: &str, secrets: &[&str], what: &str) {
    for secret in secrets {
        assert!(
            !text.contains(secret),
            "{what}: {secret:?} leaked in {text}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------------------------

async fn forged_tokens_are_refused(app: TestApp) -> anyhow::Result<()> {
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let boss = app
        .user("boss", Role::CommunitySupervisor, app.grid_a())
        .await?;
    let mut phone = app.phone(&li).await?;
    let mut stored = household(&app.grid_a(), "1");
    stored.address.compound = "保密花园".into();
    let hid = phone.replica.create(&stored, at(0))?;
    phone.sync(&app).await?;
    let sup = app.login(&boss).await?;
    // The attacker's payload: a new household pushed with each bad token.
    let pushed = phone
        .replica
        .create(&household(&app.grid_a(), "2"), at(1))?;
    let request = phone.replica.build_request();
    let before = app.change_count().await?;

    let (li_id, dev) = (&li.id, &phone.session.device);
    let kid = app.state().keys.signing_kid().to_owned();
    let secret = server_secret(&app).await?;
    let real = phone.session.access_token.clone();
    // The live sessions of the worker's phone and the supervisor: forged tokens name them, so
    // each is refused for its own defect.
    let session = app.state().keys.verify(&real)?.session;
    let sup_session = app.state().keys.verify(&sup.access_token)?.session;
    let [header, _, signature] = real.split('.').collect::<Vec<_>>()[..] else {
        anyhow::bail!("a JWT has three parts: {real}");
    };
    let mut as_admin = claims_of(li_id, dev, &session);
    as_admin["role"] = json!("admin");
    let mut as_boss = claims_of(&boss.id, &sup.device, &sup_session);
    as_boss["role"] = json!("community_supervisor");
    let mut wrong_issuer = claims_of(li_id, dev, &session);
    wrong_issuer["iss"] = json!("evil");
    let mut no_exp = claims_of(li_id, dev, &session);
    no_exp.as_object_mut().context("claims")?.remove("exp");
    let claims = b64url(claims_of(li_id, dev, &session).to_string().as_bytes());
    let none = |header: Value| format!("{}.{claims}.", b64url(header.to_string().as_bytes()));
    let other_secret = |kid: &str| -> anyhow::Result<String> {
        Ok(Keys::new(&[JwtKey {
            kid: kid.to_owned(),
            secret: vec![9; 32],
        }])
        .context("one key")?
        .issue(li_id, dev, &session, Duration::from_secs(600))?)
    };
    use jsonwebtoken::Algorithm::{HS256, HS384, HS512};
    let keys = &app.state().keys;
    let tokens: Vec<(&str, String)> = vec![
        (
            "payload tampered to claim the admin role",
            format!(
                "{header}.{}.{signature}",
                b64url(as_admin.to_string().as_bytes())
            ),
        ),
        (
            "payload tampered to name the supervisor",
            format!(
                "{header}.{}.{signature}",
                b64url(as_boss.to_string().as_bytes())
            ),
        ),
        ("signed with another secret, same kid", other_secret(&kid)?),
        ("signed with another key and kid", other_secret("stranger")?),
        (
            "the server's secret under an unknown kid",
            jwt(
                HS256,
                Some("unknown"),
                &claims_of(li_id, dev, &session),
                &secret,
            ),
        ),
        (
            "the server's secret without a kid",
            jwt(HS256, None, &claims_of(li_id, dev, &session), &secret),
        ),
        (
            "HS512 with the server's key",
            jwt(HS512, Some(&kid), &claims_of(li_id, dev, &session), &secret),
        ),
        (
            "HS384 with the server's key",
            jwt(HS384, Some(&kid), &claims_of(li_id, dev, &session), &secret),
        ),
        ("alg none", none(json!({"alg": "none", "typ": "JWT"}))),
        (
            "alg none with the kid",
            none(json!({"alg": "none", "typ": "JWT", "kid": kid})),
        ),
        (
            "alg none keeping the signature",
            format!(
                "{}.{claims}.{signature}",
                b64url(br#"{"alg":"none","typ":"JWT"}"#)
            ),
        ),
        (
            "expired an hour ago",
            keys.issue_at(li_id, dev, &session, -3600, 60)?,
        ),
        (
            "wrong issuer",
            jwt(HS256, Some(&kid), &wrong_issuer, &secret),
        ),
        ("no expiry", jwt(HS256, Some(&kid), &no_exp, &secret)),
        (
            "a user that does not exist",
            keys.issue(
                &UserId::new(),
                &DeviceId::new(),
                &session,
                Duration::from_secs(600),
            )?,
        ),
        (
            "the worker with the supervisor's device",
            keys.issue(li_id, &sup.device, &session, Duration::from_secs(600))?,
        ),
        ("garbage", "not-a-jwt".to_owned()),
        ("three garbage parts", "a.b.c".to_owned()),
        ("empty bearer", String::new()),
    ];
    let record = format!("/v1/records/{hid}");
    for (what, token) in &tokens {
        let a = sync_raw(&app, token, &request).await?;
        assert_refused_401(&a, &format!("sync, {what}"));
        for path in ["/v1/households", record.as_str(), "/v1/auth/me"] {
            let a = get(&app, token, path).await?;
            assert_refused_401(&a, &format!("{path}, {what}"));
            assert_absent(&a.text, &["保密花园", "王秀英"], what);
        }
    }
    // No Authorization header, or another scheme with the real token.
    for (what, header) in [
        ("no header", None),
        ("basic scheme", Some(format!("Basic {real}"))),
        ("token without scheme", Some(real.clone())),
    ] {
        let mut request = app.http.get(app.url(&record));
        if let Some(header) = header {
            request = request.header("authorization", header);
        }
        assert_refused_401(&answer(request.send().await?).await?, what);
    }
    assert_eq!(app.change_count().await?, before, "nothing stored");
    assert!(app.projection(&pushed).await?.is_none());

    // The very same request with the real token goes through.
    let (response, _) = sync_ok(&app, &real, &request).await?;
    assert_eq!(response.docs[0].status, DocStatus::Ok);
    assert!(app.projection(&pushed).await?.is_some());
    app.stop().await
}

async fn tokens_of_disabled_users_and_revoked_devices_are_refused(
    app: TestApp,
) -> anyhow::Result<()> {
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let zhao = app.user("zhao", Role::GridWorker, app.grid_a()).await?;
    let root = app.user("root", Role::Admin, app.grid_a()).await?;
    let mut lost = app.phone(&li).await?;
    let tablet = app.login(&li).await?;
    let mut z = app.phone(&zhao).await?;
    let hid = lost.replica.create(&household(&app.grid_a(), "1"), at(0))?;
    lost.sync(&app).await?;
    z.sync(&app).await?;
    let admin = app.login(&root).await?;

    // Each pending edit is what a stolen token would try to push.
    lost.replica.update(&hid, at(1), |h: &mut Household| {
        h.notes = "from the lost phone".into()
    })?;
    z.replica.update(&hid, at(2), |h: &mut Household| {
        h.notes = "from a disabled user".into()
    })?;
    let before = app.change_count().await?;

    // Another user may not revoke Li's device; Li does, from her tablet.
    let revoke = format!("/v1/auth/devices/{}/revoke", lost.session.device);
    let a = post(&app, &z.session.access_token, &revoke, &json!({})).await?;
    assert_eq!((a.status, a.code()), (403, "forbidden"), "{}", a.text);
    let a = post(&app, &tablet.access_token, &revoke, &json!({})).await?;
    assert_eq!(a.status, 204, "{}", a.text);
    // An administrator disables Zhao.
    let a = post(
        &app,
        &admin.access_token,
        "/v1/admin/users/zhao/disable",
        &json!({}),
    )
    .await?;
    assert_eq!(a.status, 204, "{}", a.text);

    let record = format!("/v1/records/{hid}");
    // The access tokens have not expired, yet every use is refused. A revoked device is told
    // so (`device_revoked`: its phone erases its records); a disabled user is not told why.
    for (what, phone, code) in [
        ("revoked device", &lost, "device_revoked"),
        ("disabled user", &z, "unauthorized"),
    ] {
        let token = &phone.session.access_token;
        let request = phone.replica.build_request();
        let refused = |a: &Answer, where_: &str| {
            assert_eq!(
                (a.status, a.code()),
                (401, code),
                "{what} {where_}: {}",
                a.text
            );
        };
        refused(&sync_raw(&app, token, &request).await?, "sync");
        for path in ["/v1/households", record.as_str(), "/v1/auth/me"] {
            refused(&get(&app, token, path).await?, path);
        }
        refused(
            &refresh(&app, &phone.session.refresh_token).await?,
            "refresh",
        );
    }
    let a = sign_in(&app, "zhao", PASSWORD).await?;
    assert_eq!(
        (a.status, a.code()),
        (401, "invalid_credentials"),
        "{}",
        a.text
    );
    // Signing in again on the revoked device is refused too.
    let a = answer(
        app.http
            .post(app.url("/v1/auth/login"))
            .json(&json!({ "login": "li", "password": PASSWORD,
                           "device_id": lost.session.device.as_str() }))
            .send()
            .await?,
    )
    .await?;
    assert_eq!(a.status, 401, "{}", a.text);

    assert_eq!(app.change_count().await?, before, "nothing stored");
    assert_eq!(app.projection(&hid).await?.context("stored")?["notes"], "");
    // Li's other device is unaffected.
    let (status, _) = app
        .get_json("/v1/households", Some(&tablet.access_token))
        .await?;
    assert_eq!(status, 200);
    assert_eq!(refresh(&app, &tablet.refresh_token).await?.status, 200);
    app.stop().await
}

async fn reusing_a_rotated_refresh_token_revokes_the_family(app: TestApp) -> anyhow::Result<()> {
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let session = app.login(&li).await?;
    let other = app.login(&li).await?;
    let token = |a: &Answer| a.body["refresh_token"].as_str().unwrap_or("").to_owned();

    // A → B → C: the holder of B used it, so A in anyone's hands now is a stolen copy (the
    // lost-response allowance covers a retry only while B is unused).
    let a = session.refresh_token.clone();
    let b_answer = refresh(&app, &a).await?;
    assert_eq!(b_answer.status, 200, "{}", b_answer.text);
    let b = token(&b_answer);
    let c_answer = refresh(&app, &b).await?;
    assert_eq!(c_answer.status, 200, "{}", c_answer.text);
    let c = token(&c_answer);
    assert_refused_401(&refresh(&app, &a).await?, "A reused");
    assert_refused_401(&refresh(&app, &c).await?, "C after the reuse");
    assert_refused_401(&refresh(&app, &b).await?, "B reused");

    // A retry after a lost response, from the token's own device, gets the same successor (as
    // often as it retries while the successor is unused); without naming the device it is
    // reuse, and the family dies.
    let first = other.refresh_token.clone();
    let own = other.device.to_string();
    let lost = refresh_from(&app, &first, &own).await?;
    assert_eq!(lost.status, 200, "{}", lost.text);
    for _ in 0..2 {
        let retried = refresh_from(&app, &first, &own).await?;
        assert_eq!(retried.status, 200, "{}", retried.text);
        assert_eq!(token(&retried), token(&lost), "the same successor");
    }
    assert_refused_401(&refresh(&app, &first).await?, "a retry naming no device");
    assert_refused_401(
        &refresh_from(&app, &token(&lost), &own).await?,
        "the successor after the reuse",
    );

    // Made-up tokens are refused alike.
    for fake in ["", "x", &"A".repeat(43), "' OR '1'='1"] {
        let a = refresh(&app, fake).await?;
        assert!(
            a.status == 401 || a.status == 400,
            "{fake:?}: {} {}",
            a.status,
            a.text
        );
        assert!(!a.code().is_empty(), "{}", a.text);
    }
    // A new sign-in is a new family.
    let fresh = app.login(&li).await?;
    assert_eq!(refresh(&app, &fresh.refresh_token).await?.status, 200);
    app.stop().await
}

// ---------------------------------------------------------------------------------------------
// Scope
// ---------------------------------------------------------------------------------------------

async fn a_worker_cannot_read_or_write_another_grids_record_by_id(
    app: TestApp,
) -> anyhow::Result<()> {
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let zhao = app.user("zhao", Role::GridWorker, app.grid_b()).await?;
    let mut theirs = app.phone(&zhao).await?;
    let mut secret_home = household(&app.grid_b(), "9");
    secret_home.address.compound = "机密小区".into();
    secret_home.notes = "仅限本网格".into();
    let foreign = theirs.replica.create(&secret_home, at(0))?;
    let foreign_case = theirs
        .replica
        .create(&case(&app.grid_b(), &zhao.id), at(1))?;
    theirs.sync(&app).await?;
    let leaks = ["机密小区", "仅限本网格", "王秀英", "13800001111", "520627"];
    let original = app.projection(&foreign).await?.context("stored")?;

    let mut mine = app.phone(&li).await?;
    mine.sync(&app).await?;
    let token = mine.session.access_token.clone();

    // Reading it by id, in every way the API offers.
    for path in [
        format!("/v1/records/{foreign}"),
        format!("/v1/records/{foreign}/history"),
        format!("/v1/records/{foreign_case}"),
        format!("/v1/conflicts/{foreign}"),
    ] {
        let a = get(&app, &token, &path).await?;
        assert!(
            a.status == 403 || a.status == 404,
            "{path}: {} {}",
            a.status,
            a.text
        );
        assert!(!a.code().is_empty(), "{path}: {}", a.text);
        assert_absent(&a.text, &leaks, &path);
    }
    for (path, body) in [
        (
            format!("/v1/records/{foreign}/reveal"),
            json!({"field": "residents[0].phone", "reason": "核实联系方式"}),
        ),
        (
            format!("/v1/cases/{foreign_case}/actions"),
            json!({"action": "accept"}),
        ),
        (
            format!("/v1/conflicts/{foreign}/resolve"),
            json!({"field": "notes", "value": "hijacked"}),
        ),
    ] {
        let a = post(&app, &token, &path, &body).await?;
        assert!(
            a.status == 403 || a.status == 404,
            "{path}: {} {}",
            a.status,
            a.text
        );
        assert_absent(&a.text, &leaks, &path);
    }
    // Fetching it through sync by naming its id, with no changes or with its real heads.
    let stored_heads = theirs.replica.document(&foreign).context("held")?.heads();
    for base_heads in [Vec::new(), stored_heads] {
        let fetch = DocPush {
            id: foreign.clone(),
            kind: RecordKind::Household,
            base_heads,
            changes: Bytes(Vec::new()),
        };
        let request = SyncRequest::new(mine.session.device.clone(), None, vec![fetch]);
        let (response, text) = sync_ok(&app, &token, &request).await?;
        assert_eq!(response.docs[0].status, DocStatus::Rejected, "{text}");
        assert!(response.docs[0].changes.0.is_empty());
        assert!(response.updates.iter().all(|u| u.id != foreign));
        assert_absent(&text, &leaks, "sync fetch");
    }
    // Writing it: an edit of a copy, a copy moved into Li's grid, and a new document that
    // reuses its id.
    let before = app.change_count().await?;
    let edited = edited_copy(&theirs, &foreign, &mine, 5, |h: &mut Household| {
        h.notes = "not mine".into();
    })?;
    let moved = edited_copy(&theirs, &foreign, &mine, 6, |h: &mut Household| {
        h.place = app.grid_a();
    })?;
    let mut impostor = household(&app.grid_a(), "9");
    impostor.id = foreign.clone();
    let impostor = Document::create(
        &impostor,
        &Author::new(mine.replica.actor().clone(), at(7)),
        &ValidationContext::default(),
    )?;
    for (what, doc) in [
        ("edited copy", &edited),
        ("moved copy", &moved),
        ("impostor", &impostor),
    ] {
        let request = SyncRequest::new(mine.session.device.clone(), None, vec![push_whole(doc)]);
        let (response, text) = sync_ok(&app, &token, &request).await?;
        assert_eq!(
            response.docs[0].status,
            DocStatus::Rejected,
            "{what}: {text}"
        );
        let error = response.docs[0].error.as_ref().context("an error")?;
        assert_eq!(error.code, codes::FORBIDDEN, "{what}: {text}");
        assert!(response.docs[0].changes.0.is_empty(), "{what}");
        assert_absent(&text, &leaks, what);
    }
    assert_eq!(app.change_count().await?, before, "nothing stored");
    assert_eq!(app.projection(&foreign).await?, Some(original));

    // Zhao keeps editing; Li's syncs never carry the record, even with a cursor naming cb-1.
    theirs
        .replica
        .update(&foreign, at(8), |h: &mut Household| {
            h.tags.push("rental".into())
        })?;
    theirs.sync(&app).await?;
    let trip = mine.round_trip(&app).await?;
    assert!(trip.response.updates.iter().all(|u| u.id != foreign));
    assert!(mine.replica.document(&foreign).is_none());
    for cursor in ["v1:cb-1=0", "v1:ca-1=0,cb-1=0", "v1:"] {
        let request = SyncRequest::new(
            mine.session.device.clone(),
            Some(Cursor::new(cursor)),
            Vec::new(),
        );
        let a = sync_raw(&app, &token, &request).await?;
        assert!(a.status == 200 || a.status == 400, "{cursor}: {}", a.text);
        assert!(
            !a.text.contains(&foreign.to_string()),
            "{cursor}: {}",
            a.text
        );
        assert!(!a.text.contains(&foreign_case.to_string()), "{cursor}");
    }
    app.stop().await
}

async fn a_supervisor_cannot_write_records_other_than_case_events(
    app: TestApp,
) -> anyhow::Result<()> {
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let zhao = app.user("zhao", Role::GridWorker, app.grid_b()).await?;
    let boss = app
        .user("boss", Role::CommunitySupervisor, app.grid_a())
        .await?;
    let street = app
        .user("street", Role::StreetSupervisor, app.grid_a())
        .await?;
    let mut w = app.phone(&li).await?;
    let hid = create_household(&mut w, &app.grid_a(), "1", at(0))?;
    let pid = HouseholdPrivate::id_for(&hid);
    let cid = w.replica.create(&case(&app.grid_a(), &li.id), at(1))?;
    w.sync(&app).await?;
    let mut other = app.phone(&zhao).await?;
    let foreign_case = other
        .replica
        .create(&case(&app.grid_b(), &zhao.id), at(2))?;
    other.sync(&app).await?;

    for (n, user) in [&boss, &street].into_iter().enumerate() {
        let t = 10 * (n as i64 + 1);
        let mut sup = app.phone(user).await?;
        sup.sync(&app).await?;
        let before = app.change_count().await?;
        let household_before = app.projection(&hid).await?;
        let private_before = app.projection(&pid).await?;
        let case_before = app.projection(&cid).await?;

        // Writes beyond cases, all in one request.
        let mut attempts: Vec<(&str, DocId)> = Vec::new();
        // A supervisor's phone holds the household, to read: an edit of it is refused.
        assert!(sup.replica.document(&hid).is_some(), "{}", user.login);
        sup.replica.update(&hid, at(t), |h: &mut Household| {
            h.notes = "edited by a supervisor".into();
        })?;
        attempts.push(("household edit", hid.clone()));
        // It does not hold the household's private document (personal data, issue 15): a
        // copy edited as its device and pushed anyway is refused.
        assert!(sup.replica.document(&pid).is_none(), "{}", user.login);
        let private_edit = edited_copy(&w, &pid, &sup, t, |p: &mut HouseholdPrivate| {
            p.residents[0].phone = Some("13900009999".into());
        })?;
        attempts.push(("private document edit", pid.clone()));
        let new_home = sup
            .replica
            .create(&household(&app.grid_a(), "77"), at(t + 1))?;
        attempts.push(("new household", new_home.clone()));
        let visit = Visit {
            attachments: Vec::new(),
            id: DocId::new(),
            place: app.grid_a(),
            household: hid.clone(),
            worker: user.id.clone(),
            at: at(t + 2),
            method: VisitMethod::DoorToDoor,
            summary: "a visit written by a supervisor".into(),
            opened_cases: Vec::new(),
        };
        let vid = sup.replica.create(&visit, at(t + 2))?;
        attempts.push(("new visit", vid));
        let mut request = sup.replica.build_request();
        request.docs.push(push_whole(&private_edit));
        let (response, text) = sync_ok(&app, &sup.session.access_token, &request).await?;
        for (what, id) in &attempts {
            let result = response
                .docs
                .iter()
                .find(|d| &d.id == id)
                .context("a result per push")?;
            assert_eq!(
                result.status,
                DocStatus::Rejected,
                "{}: {what}: {text}",
                user.login
            );
        }
        assert_eq!(app.change_count().await?, before, "{}", user.login);
        assert_eq!(app.projection(&hid).await?, household_before);
        assert_eq!(app.projection(&pid).await?, private_before);
        assert_eq!(app.projection(&cid).await?, case_before);
        assert!(app.projection(&new_home).await?.is_none());
        assert!(
            !text.contains("13900009999") && !text.contains("13800001111"),
            "{text}"
        );

        // An event in the worker's name is refused; one in their own name is theirs to add.
        let mut forged = app.phone(user).await?;
        forged.sync(&app).await?;
        forged.replica.update(&cid, at(t + 4), |k: &mut Case| {
            k.events.push(event(
                &li.id,
                Role::GridWorker,
                CaseAction::Comment,
                at(t + 4),
            ));
        })?;
        let request = forged.replica.build_request();
        let (response, text) = sync_ok(&app, &forged.session.access_token, &request).await?;
        assert_eq!(response.docs[0].status, DocStatus::Rejected, "{text}");
        assert_eq!(app.projection(&cid).await?, case_before);
        let mut honest = app.phone(user).await?;
        honest.sync(&app).await?;
        honest.replica.update(&cid, at(t + 5), |k: &mut Case| {
            k.events
                .push(event(&user.id, user.role, CaseAction::Comment, at(t + 5)));
        })?;
        let request = honest.replica.build_request();
        let (response, text) = sync_ok(&app, &honest.session.access_token, &request).await?;
        assert_eq!(response.docs[0].status, DocStatus::Ok, "{text}");
    }

    // Another community's case, through the review API.
    let s = app.login(&boss).await?;
    let before = app.projection(&foreign_case).await?;
    let a = post(
        &app,
        &s.access_token,
        &format!("/v1/cases/{foreign_case}/actions"),
        &json!({"action": "accept"}),
    )
    .await?;
    assert_eq!((a.status, a.code()), (403, "forbidden"), "{}", a.text);
    assert_eq!(app.projection(&foreign_case).await?, before);
    app.stop().await
}

/// Supervisors write cases only by appending their own workflow events: the case's own fields
/// (subject, description, ...) are the reporting worker's.
async fn a_supervisor_cannot_rewrite_a_case_through_sync(app: TestApp) -> anyhow::Result<()> {
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let boss = app
        .user("boss", Role::CommunitySupervisor, app.grid_a())
        .await?;
    let mut w = app.phone(&li).await?;
    let cid = w.replica.create(&case(&app.grid_a(), &li.id), at(0))?;
    w.sync(&app).await?;
    let before = app.projection(&cid).await?;
    let mut sup = app.phone(&boss).await?;
    sup.sync(&app).await?;
    sup.replica.update(&cid, at(5), |k: &mut Case| {
        k.subject = "rewritten by a supervisor".into();
        k.description = "rewritten".into();
    })?;
    let trip = sup.round_trip(&app).await?;
    assert_eq!(
        trip.response.docs[0].status,
        DocStatus::Rejected,
        "a supervisor rewrote a case's subject and description through sync"
    );
    assert_eq!(app.projection(&cid).await?, before);
    app.stop().await
}

async fn a_liaison_reads_only_their_group(app: TestApp) -> anyhow::Result<()> {
    let g1: sync_core::ids::LiaisonGroupId = "ca-1-g1".parse()?;
    let g2: sync_core::ids::LiaisonGroupId = "ca-1-g2".parse()?;
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let zhao = app.user("zhao", Role::GridWorker, app.grid_b()).await?;
    let lian = app
        .user_in_group("lian", Role::Liaison, app.grid_a(), Some(g1.clone()))
        .await?;
    let mut w = app.phone(&li).await?;
    // Their group's household has a private document (ID number, phone): not theirs.
    let (mut in_group, identities) = household_and_identities(&app.grid_a(), "1");
    in_group.liaison_group = Some(g1.clone());
    let mut other_group = household(&app.grid_a(), "2");
    other_group.liaison_group = Some(g2.clone());
    other_group.address.compound = "别组小区".into();
    w.create_household(&in_group, identities, at(0))?;
    let mine = in_group.id.clone();
    let mine_private = HouseholdPrivate::id_for(&mine);
    let theirs = w.replica.create(&other_group, at(1))?;
    let ungrouped = w.replica.create(&household(&app.grid_a(), "3"), at(2))?;
    let kase = w.replica.create(&case(&app.grid_a(), &li.id), at(3))?;
    w.sync(&app).await?;
    // The same group code in another grid is not theirs either.
    let mut z = app.phone(&zhao).await?;
    let mut elsewhere = household(&app.grid_b(), "4");
    elsewhere.liaison_group = Some(g1.clone());
    let far = z.replica.create(&elsewhere, at(4))?;
    z.sync(&app).await?;

    let mut phone = app.phone(&lian).await?;
    let token = phone.session.access_token.clone();
    // Lists, with and without filters that try to widen them.
    for path in [
        "/v1/households".to_owned(),
        "/v1/households?liaison_group=ca-1-g2".to_owned(),
        "/v1/households?grid=ca-1".to_owned(),
        format!("/v1/households?q={}", enc("别组")),
    ] {
        let a = get(&app, &token, &path).await?;
        if a.status == 200 {
            let ids: Vec<&str> = a.body["items"]
                .as_array()
                .context("items")?
                .iter()
                .filter_map(|i| i["id"].as_str())
                .collect();
            assert!(
                ids.iter().all(|id| *id == mine.to_string()),
                "{path}: {}",
                a.text
            );
            assert!(a.body["total"].as_i64() <= Some(1), "{path}: {}", a.text);
        } else {
            assert_eq!(
                (a.status, a.code()),
                (403, "forbidden"),
                "{path}: {}",
                a.text
            );
        }
    }
    let list = get(&app, &token, "/v1/households").await?;
    assert_eq!(list.body["total"], 1, "{}", list.text);
    assert_eq!(list.body["items"][0]["id"], mine.to_string());
    for path in ["/v1/households?grid=cb-1", "/v1/cases", "/v1/figures"] {
        let a = get(&app, &token, path).await?;
        assert_eq!(
            (a.status, a.code()),
            (403, "forbidden"),
            "{path}: {}",
            a.text
        );
    }
    // By id.
    let a = get(&app, &token, &format!("/v1/records/{mine}")).await?;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_absent(
        &a.text,
        &["13800001111", "520627"],
        "their group's household",
    );
    for id in [&mine_private, &theirs, &ungrouped, &kase, &far] {
        for path in [
            format!("/v1/records/{id}"),
            format!("/v1/records/{id}/history"),
        ] {
            let a = get(&app, &token, &path).await?;
            assert_eq!(
                (a.status, a.code()),
                (403, "forbidden"),
                "{path}: {}",
                a.text
            );
            assert_absent(&a.text, &["别组小区"], &path);
        }
    }
    // Through sync: only their group's household arrives, and naming another id fetches
    // nothing.
    phone.sync(&app).await?;
    assert_eq!(phone.replica.doc_ids(), std::slice::from_ref(&mine));
    let fetch = DocPush {
        id: theirs.clone(),
        kind: RecordKind::Household,
        base_heads: Vec::new(),
        changes: Bytes(Vec::new()),
    };
    let request = SyncRequest::new(phone.session.device.clone(), None, vec![fetch]);
    let (response, text) = sync_ok(&app, &token, &request).await?;
    assert_eq!(response.docs[0].status, DocStatus::Rejected, "{text}");
    assert_absent(&text, &["别组小区"], "sync fetch");
    let fetch = DocPush {
        id: mine_private.clone(),
        kind: RecordKind::HouseholdPrivate,
        base_heads: Vec::new(),
        changes: Bytes(Vec::new()),
    };
    let request = SyncRequest::new(phone.session.device.clone(), None, vec![fetch]);
    let (response, text) = sync_ok(&app, &token, &request).await?;
    assert_eq!(response.docs[0].status, DocStatus::Rejected, "{text}");
    assert!(response.docs[0].changes.is_empty(), "{text}");
    // And a liaison writes nothing, not even their own group's household.
    let before = app.projection(&mine).await?;
    phone.replica.update(&mine, at(9), |h: &mut Household| {
        h.notes = "by the liaison".into()
    })?;
    let trip = phone.round_trip(&app).await?;
    assert_eq!(trip.response.docs[0].status, DocStatus::Rejected);
    assert_eq!(app.projection(&mine).await?, before);
    app.stop().await
}

// ---------------------------------------------------------------------------------------------
// Passwords, SQL, personal data
// ---------------------------------------------------------------------------------------------

async fn password_guessing_is_slowed(app: TestApp) -> anyhow::Result<()> {
    // The default policy: 5 failures in a row lock a login for 1 s, doubling after.
    let wang = app.user("wang", Role::GridWorker, app.grid_a()).await?;
    app.user("zhang", Role::GridWorker, app.grid_a()).await?;
    for n in 0..5 {
        let a = sign_in(&app, "wang", &format!("guess {n}")).await?;
        assert_eq!(
            (a.status, a.code()),
            (401, "invalid_credentials"),
            "{}",
            a.text
        );
    }
    // Locked: the next guess and even the right password are refused without a check.
    for password in ["guess 5", PASSWORD] {
        let response = app
            .http
            .post(app.url("/v1/auth/login"))
            .json(&json!({ "login": "wang", "password": password }))
            .send()
            .await?;
        assert_eq!(response.status(), 429);
        let retry: u64 = response
            .headers()
            .get("retry-after")
            .context("Retry-After")?
            .to_str()?
            .parse()?;
        assert!((1..=2).contains(&retry), "Retry-After {retry}");
        let a = answer(response).await?;
        assert_eq!(a.code(), "rate_limited", "{}", a.text);
    }
    let locked_at = Instant::now();

    // A burst of parallel guesses at another login gets no more than the limit checked.
    let burst: Vec<_> = (0..12)
        .map(|n| {
            let request = app
                .http
                .post(app.url("/v1/auth/login"))
                .json(&json!({ "login": "zhang", "password": format!("burst {n}") }));
            tokio::spawn(request.send())
        })
        .collect();
    let mut statuses = Vec::new();
    for handle in burst {
        statuses.push(handle.await??.status().as_u16());
    }
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let slowed = statuses.iter().filter(|s| **s == 429).count();
    assert!(checked <= 5, "{statuses:?}");
    assert_eq!(checked + slowed, 12, "{statuses:?}");

    // Once the lockout has passed, the right password works.
    let wait = Duration::from_millis(1_150).saturating_sub(locked_at.elapsed());
    tokio::time::sleep(wait).await;
    let session = app.login(&wang).await?;
    assert!(!session.access_token.is_empty());
    app.stop().await
}

/// Values that would change a query built by string concatenation.
const SQL_VALUES: &[&str] = &[
    "' OR '1'='1",
    "\"; DROP TABLE docs; --",
    "%",
    "_",
    "\\",
    "%' --",
    "1; SELECT pg_sleep(5)",
    "') OR 1=1 --",
    "' UNION SELECT login, password_hash FROM users --",
];

/// What a probe may answer: 200 with the baseline's rows or none, or a JSON 4xx.
fn check_probe(a: &Answer, path: &str, baseline: Option<i64>) {
    assert!(
        matches!(a.status, 200 | 400 | 403 | 404 | 422),
        "{path}: {} {}",
        a.status,
        a.text
    );
    if a.status == 200 {
        if let Some(baseline) = baseline {
            let total = a.body["total"].as_i64();
            assert!(
                total == Some(baseline) || total == Some(0),
                "{path}: total {total:?}, baseline {baseline}"
            );
        }
    } else {
        assert!(!a.code().is_empty(), "{path}: not a JSON error: {}", a.text);
    }
}

async fn sql_metacharacters_in_every_query_parameter_are_harmless(
    app: TestApp,
) -> anyhow::Result<()> {
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let zhao = app.user("zhao", Role::GridWorker, app.grid_b()).await?;
    let boss = app
        .user("boss", Role::CommunitySupervisor, app.grid_a())
        .await?;
    let root = app.user("root", Role::Admin, app.grid_a()).await?;
    // Community ca sees two households and a case; cb's are out of its scope.
    let mut w = app.phone(&li).await?;
    w.replica.create(&household(&app.grid_a(), "1"), at(0))?;
    w.replica.create(&household(&app.grid_a(), "2"), at(1))?;
    w.replica.create(&case(&app.grid_a(), &li.id), at(2))?;
    w.sync(&app).await?;
    let mut z = app.phone(&zhao).await?;
    z.replica.create(&household(&app.grid_b(), "3"), at(3))?;
    z.replica.create(&case(&app.grid_b(), &zhao.id), at(4))?;
    z.sync(&app).await?;
    let sup = app.login(&boss).await?.access_token;
    let admin = app.login(&root).await?.access_token;
    let changes = app.change_count().await?;
    let mut slowest = Duration::ZERO;

    let household_params: &[&str] = &[
        "grid",
        "community",
        "status",
        "special_group",
        "tag",
        "liaison_group",
        "q",
        "sort",
        "page",
        "per_page",
    ];
    let case_params: &[&str] = &[
        "kind",
        "state",
        "level",
        "grid",
        "community",
        "assignee",
        "opened_from",
        "opened_to",
        "escalated",
        "sort",
        "page",
        "per_page",
    ];
    let activity_params: &[&str] = &[
        "grid",
        "community",
        "from",
        "to",
        "sort",
        "page",
        "per_page",
    ];
    let mut lists: Vec<(&str, &[&str])> =
        vec![("households", household_params), ("cases", case_params)];
    for list in [
        "visits",
        "patrols",
        "activities",
        "party-registrations",
        "assets",
    ] {
        lists.push((list, activity_params));
    }

    // The audit log first (exports below add to it).
    let audit_base = get(&app, &admin, "/v1/admin/audit").await?;
    let audit_total = audit_base.body["total"].as_i64();
    for param in [
        "actor", "action", "record", "from", "to", "page", "per_page",
    ] {
        for value in SQL_VALUES {
            let path = format!("/v1/admin/audit?{param}={}", enc(value));
            let started = Instant::now();
            let a = get(&app, &admin, &path).await?;
            slowest = slowest.max(started.elapsed());
            check_probe(&a, &path, audit_total);
        }
    }

    // Every list and its export.
    for (list, params) in &lists {
        let base = get(&app, &sup, &format!("/v1/{list}")).await?;
        assert_eq!(base.status, 200, "{list}: {}", base.text);
        let total = base.body["total"].as_i64();
        let export_base = download(&app, &sup, &format!("/v1/exports/{list}.csv")).await?;
        assert_eq!(export_base.status, 200, "{list}: {}", export_base.text);
        let export_lines = export_base.text.lines().count();
        for param in *params {
            for value in SQL_VALUES {
                let query = format!("{param}={}", enc(value));
                let path = format!("/v1/{list}?{query}");
                let started = Instant::now();
                let a = get(&app, &sup, &path).await?;
                slowest = slowest.max(started.elapsed());
                check_probe(&a, &path, total);
                if matches!(*param, "page" | "per_page") {
                    continue;
                }
                let path = format!("/v1/exports/{list}.csv?{query}");
                let a = download(&app, &sup, &path).await?;
                check_probe(&a, &path, None);
                if a.status == 200 {
                    let lines = a.text.lines().count();
                    assert!(
                        lines == export_lines || lines == 1,
                        "{path}: {lines} lines, baseline {export_lines}"
                    );
                }
            }
        }
    }

    // Figures and the conflict inbox.
    let figures = get(&app, &sup, "/v1/figures").await?;
    assert_eq!(figures.status, 200, "{}", figures.text);
    let conflicts = get(&app, &sup, "/v1/conflicts").await?;
    let conflict_total = conflicts.body["total"].as_i64();
    for value in SQL_VALUES {
        for param in ["community", "grid", "from", "to"] {
            let path = format!("/v1/figures?{param}={}", enc(value));
            let a = get(&app, &sup, &path).await?;
            check_probe(&a, &path, None);
            if a.status == 200 {
                assert_eq!(a.body["totals"], figures.body["totals"], "{path}");
            }
        }
        for param in ["grid", "community", "kind", "page", "per_page"] {
            let path = format!("/v1/conflicts?{param}={}", enc(value));
            let a = get(&app, &sup, &path).await?;
            check_probe(&a, &path, conflict_total);
        }
        // Path parameters, and an unknown parameter named by the value.
        for path in [
            format!("/v1/records/{}", enc(value)),
            format!("/v1/records/{}/history", enc(value)),
            format!("/v1/conflicts/{}", enc(value)),
            format!("/v1/exports/{}.csv", enc(value)),
            format!("/v1/households?{}=1", enc(value)),
        ] {
            let a = get(&app, &sup, &path).await?;
            check_probe(&a, &path, None);
            assert_ne!(a.status, 200, "{path}");
        }
        for path in [
            format!("/v1/admin/users/{}/disable", enc(value)),
            format!("/v1/auth/devices/{}/revoke", enc(value)),
        ] {
            let a = post(&app, &admin, &path, &json!({})).await?;
            check_probe(&a, &path, None);
            assert_ne!(a.status / 100, 2, "{path}: {}", a.text);
        }
        let a = sign_in(&app, value, value).await?;
        assert_eq!(a.status, 401, "login {value:?}: {}", a.text);
    }
    assert!(
        slowest < Duration::from_secs(4),
        "a query slept: {slowest:?}"
    );

    // The data is intact: the log, the lists, and every user can still sign in.
    assert_eq!(app.change_count().await?, changes);
    for (list, _) in &lists {
        let a = get(&app, &sup, &format!("/v1/{list}")).await?;
        assert_eq!(a.status, 200, "{list}: {}", a.text);
    }
    let a = get(&app, &sup, "/v1/households").await?;
    assert_eq!(a.body["total"], 2, "{}", a.text);
    for user in [&li, &zhao, &boss, &root] {
        app.login(user).await?;
    }
    w.sync(&app).await?;
    app.stop().await
}

async fn error_messages_carry_no_personal_data(app: TestApp) -> anyhow::Result<()> {
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let boss = app
        .user("boss", Role::CommunitySupervisor, app.grid_a())
        .await?;
    let phone = app.phone(&li).await?;

    // A household whose resident's ID number fails the check digit and whose phone is not a
    // phone number, both in its private document, written past the phone library's own
    // checks.
    let (h, identities) = household_and_identities(&app.grid_a(), "1");
    let good = identities[0].id_number.clone().context("an ID number")?;
    let bad_check = if good.ends_with('0') { '1' } else { '0' };
    let bad_id = format!("{}{bad_check}", &good[..17]);
    let bad_phone = "138abcd99887";
    let name = h.residents[0].name.clone();
    let ctx = ValidationContext::default();
    let author = Author::new(actor_for_device(&phone.session.device), at(0));
    let home = Document::create(&h, &author, &ctx)?;
    let mut private = HouseholdPrivate::genesis(&h.id, h.place.clone())?;
    private.update(&author, &ctx, |p: &mut HouseholdPrivate| {
        p.residents = identities;
        Ok::<_, DocumentError>(())
    })?;
    {
        let am = private.automerge_mut();
        let (_, residents) = am.get(ROOT, "residents")?.context("residents")?;
        let (_, first) = am.get(&residents, 0)?.context("resident 0")?;
        let mut tx = am.transaction();
        tx.put(&first, "id_number", bad_id.as_str())?;
        tx.put(&first, "phone", bad_phone)?;
        let _ = tx.commit_with(CommitOptions::default().with_time(at(1).millis()));
    }
    let request = SyncRequest::new(
        phone.session.device.clone(),
        None,
        vec![push_whole(&home), push_whole(&private)],
    );
    let (response, text) = sync_ok(&app, &phone.session.access_token, &request).await?;
    let result = response
        .docs
        .iter()
        .find(|d| &d.id == private.id())
        .context("the private document's result")?;
    assert_eq!(result.status, DocStatus::Rejected, "{text}");
    let error = result.error.as_ref().context("an error")?;
    assert_eq!(error.code, codes::INVALID_RECORD, "{text}");
    let fields: Vec<&str> = error.fields.iter().map(|f| f.field.as_str()).collect();
    assert!(fields.contains(&"residents[0].id_number"), "{text}");
    assert!(fields.contains(&"residents[0].phone"), "{text}");
    assert_absent(
        &text,
        &[bad_id.as_str(), &good[..17], bad_phone, name.as_str()],
        "push error",
    );
    assert!(app.projection(private.id()).await?.is_none());

    // A reveal refused for its reason, and one out of scope: no value in either answer.
    let mut w = app.phone(&li).await?;
    let (home, identities) = household_and_identities(&app.grid_a(), "2");
    let stored = home.id.clone();
    let good = identities[0].id_number.clone().context("an ID number")?;
    w.create_household(&home, identities, at(2))?;
    w.sync(&app).await?;
    let secrets = ["13800001111", &good[..]];
    let s: Session = app.login(&boss).await?;
    let reveal = format!("/v1/records/{stored}/reveal");
    for (token, body) in [
        (
            &s.access_token,
            json!({"field": "residents[0].id_number", "reason": "ab"}),
        ),
        (
            &s.access_token,
            json!({"field": "residents[0].phone", "reason": "  "}),
        ),
        (
            &w.session.access_token,
            json!({"field": "residents[0].phone", "reason": "核实联系方式"}),
        ),
    ] {
        let a = post(&app, token, &reveal, &body).await?;
        assert!((400..500).contains(&a.status), "{body}: {}", a.text);
        assert!(!a.code().is_empty(), "{}", a.text);
        assert_absent(&a.text, &secrets, "reveal");
    }
    // The same reveal with a reason does answer the value: the refusals above were refusals.
    let a = post(
        &app,
        &s.access_token,
        &reveal,
        &json!({"field": "residents[0].id_number", "reason": "核实身份信息"}),
    )
    .await?;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["value"], good.as_str(), "{}", a.text);

    // A wrong password: the same answer as an unknown login, naming neither.
    let wrong = "hunter2-wrong-password";
    let a = sign_in(&app, "li", wrong).await?;
    let b = sign_in(&app, "no-such-user", wrong).await?;
    assert_eq!(
        (a.status, a.code()),
        (401, "invalid_credentials"),
        "{}",
        a.text
    );
    assert_eq!(
        a.text, b.text,
        "a wrong password looks like an unknown login"
    );
    let id = li.id.to_string();
    assert_absent(&a.text, &[wrong, PASSWORD, "测试 li", id.as_str()], "login");
    // A refused refresh says nothing of the token either.
    let fake = "ZmFrZS1yZWZyZXNoLXRva2VuLWZvci1wcml2YWN5LXRlc3Q";
    let a = refresh(&app, fake).await?;
    assert_eq!(a.status, 401, "{}", a.text);
    assert_absent(&a.text, &[fake], "refresh");
    app.stop().await
}
