//! Server settings end to end: rotating the JWT signing keys across restarts, a document
//! cache far smaller than the records being synced, a graceful stop with a write in flight, and
//! a database that goes away under a running server.

use anyhow::Context;
use gridbook_server::config::{JwtKey, Settings};
use gridbook_tests::client::{answer, get, post, refresh};
use gridbook_tests::{Phone, TestApp};
use serde_json::json;
use sync_core::ids::DocId;
use sync_core::models::case::{Case, CaseAction};
use sync_core::models::household::Household;
use sync_core::record::Role;

use crate::support::{at, case, event, household, on_both_backends, on_both_backends_with};

on_both_backends_with!(
    only_key_a =>
    a_signing_key_rotates_without_logging_anyone_out_until_the_old_key_is_dropped,
);

on_both_backends!(a_lost_database_gives_opaque_503_and_500_answers_and_loses_nothing,);

on_both_backends_with!(
    slow_writes =>
    a_graceful_stop_finishes_the_sync_in_flight_and_loses_nothing,
);

on_both_backends_with!(
    tiny_doc_cache =>
    a_document_cache_smaller_than_the_grid_keeps_phones_and_projections_right,
);

on_both_backends_with!(
    tiny_doc_cache_bytes =>
    a_cache_of_few_bytes_stays_within_them_and_keeps_phones_and_projections_right,
);

/// A JWT key whose secret is `fill` repeated.
fn key(kid: &str, fill: char) -> JwtKey {
    JwtKey {
        kid: kid.to_owned(),
        secret: fill.to_string().repeat(40).into_bytes(),
    }
}

fn only_key_a(settings: &mut Settings) {
    settings.jwt_keys = vec![key("key-a", 'a')];
}

/// The documents the cache may hold.
const CACHE: usize = 3;

fn tiny_doc_cache(settings: &mut Settings) {
    settings.doc_cache = CACHE;
}

/// The bytes the cache may hold: about three small records' estimated heap.
const CACHE_BYTES: usize = 60 * 1024;

fn tiny_doc_cache_bytes(settings: &mut Settings) {
    settings.doc_cache_bytes = CACHE_BYTES;
}

/// Every writing sync holds its transaction this long (the hidden fault-injection setting).
fn slow_writes(settings: &mut Settings) {
    settings.fault_hold_write = Some(std::time::Duration::from_millis(1500));
}

async fn a_graceful_stop_finishes_the_sync_in_flight_and_loses_nothing(
    mut app: TestApp,
) -> anyhow::Result<()> {
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let mut phone = app.phone(&li).await?;
    let hid = phone
        .replica
        .create(&household(&app.grid_a(), "502"), at(0))?;
    let request = phone.replica.build_request();
    let (http, url, token) = (
        app.http.clone(),
        app.url("/v1/sync"),
        phone.session.access_token.clone(),
    );
    let body = sync_core::protocol::encode_request(&request);
    let in_flight = tokio::spawn(async move {
        let response = http
            .post(url)
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await?;
        let status = response.status().as_u16();
        anyhow::Ok((status, response.text().await?))
    });
    // Wait until the server is inside the write (its grid is marked as being written)...
    let grid = app.grid_a().grid;
    let mut polls = 0;
    while !app.state().live.busy(std::slice::from_ref(&grid)) {
        anyhow::ensure!(
            !in_flight.is_finished(),
            "the sync ended before it was seen writing"
        );
        anyhow::ensure!(polls < 6000, "the sync was never seen writing");
        polls += 1;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    // ...then stop the server gracefully and start it again on the same database.
    app.restart().await?;
    let (status, text) = in_flight.await??;
    assert_eq!(status, 200, "{text}");
    let response: sync_core::protocol::SyncResponse = serde_json::from_str(&text)?;
    phone.replica.apply_response(&request, &response)?;
    assert!(phone.replica.pending().is_empty());

    // The restarted server holds what it confirmed: a new phone pulls the same record.
    let mut fresh = app.phone(&li).await?;
    fresh.sync(&app).await?;
    let pulled = fresh.replica.document(&hid).context("pulled")?;
    let held = phone.replica.document(&hid).context("held")?;
    assert_eq!(pulled.heads(), held.heads());
    assert_eq!(
        app.projection(&hid).await?.context("stored")?["address"]["room"],
        "502"
    );
    app.stop().await
}

fn kid(token: &str) -> anyhow::Result<String> {
    jsonwebtoken::decode_header(token)?
        .kid
        .context("the token names no key")
}

async fn a_signing_key_rotates_without_logging_anyone_out_until_the_old_key_is_dropped(
    mut app: TestApp,
) -> anyhow::Result<()> {
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let mut phone = app.phone(&li).await?;
    let token_a = phone.session.access_token.clone();
    assert_eq!(kid(&token_a)?, "key-a");
    let hid = phone
        .replica
        .create(&household(&app.grid_a(), "301"), at(0))?;
    phone.sync(&app).await?;

    // Key B is prepended; A still verifies.
    app.restart_with(|s| s.jwt_keys = vec![key("key-b", 'b'), key("key-a", 'a')])
        .await?;
    assert_eq!(app.state().keys.signing_kid(), "key-b");
    let listed = get(&app, &token_a, "/v1/households").await?;
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert_eq!(listed.body["items"][0]["id"], hid.to_string());
    phone.replica.update(&hid, at(1), |h: &mut Household| {
        h.notes = "signed with key A".into();
    })?;
    phone.sync(&app).await?;
    assert_eq!(
        app.projection(&hid).await?.context("stored")?["notes"],
        "signed with key A"
    );
    // New tokens, from a sign-in or a refresh, carry B's key id.
    let fresh = app.login(&li).await?;
    assert_eq!(kid(&fresh.access_token)?, "key-b");
    let a = get(&app, &fresh.access_token, "/v1/households").await?;
    assert_eq!(a.status, 200, "{}", a.text);
    let refreshed = refresh(&app, &phone.session.refresh_token).await?;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text);
    let token_b = refreshed.body["access_token"]
        .as_str()
        .context("access token")?
        .to_owned();
    assert_eq!(kid(&token_b)?, "key-b");
    let refresh_b = refreshed.body["refresh_token"]
        .as_str()
        .context("refresh token")?
        .to_owned();

    // Key A is dropped: its tokens are refused with a JSON 401; B's still work.
    app.restart_with(|s| s.jwt_keys = vec![key("key-b", 'b')])
        .await?;
    let a = get(&app, &token_a, "/v1/households").await?;
    assert_eq!((a.status, a.code()), (401, "unauthorized"), "{}", a.text);
    assert!(a.body["error"]["message"].is_string(), "{}", a.text);
    let request = phone.replica.build_request();
    let a = answer(app.post_sync(&token_a, &request).await?).await?;
    assert_eq!((a.status, a.code()), (401, "unauthorized"), "{}", a.text);
    for token in [&fresh.access_token, &token_b] {
        let a = get(&app, token, "/v1/households").await?;
        assert_eq!(a.status, 200, "{}", a.text);
    }
    // The phone carries on with its refreshed session.
    phone.session.access_token = token_b;
    phone.session.refresh_token = refresh_b;
    phone.replica.update(&hid, at(2), |h: &mut Household| {
        h.notes = "signed with key B".into();
    })?;
    phone.sync(&app).await?;
    assert_eq!(
        app.projection(&hid).await?.context("stored")?["notes"],
        "signed with key B"
    );
    app.stop().await
}

/// The server's cache holds at least one document and never more than its capacity.
/// The cache holds something, and no more than its settings allow, in records and in bytes.
fn assert_cache_bounded(app: &TestApp, when: &str) {
    let (settings, cache) = (&app.state().settings, &app.state().cache);
    let (len, bytes) = (cache.len(), cache.bytes());
    assert!(
        (1..=settings.doc_cache).contains(&len),
        "{when}: {len} cached"
    );
    assert!(
        bytes <= settings.doc_cache_bytes,
        "{when}: {bytes} bytes cached, more than {}",
        settings.doc_cache_bytes
    );
}

/// Every phone holds the same heads as the server, and the server's projection is the JSON
/// of the phones' document.
async fn assert_converged(app: &TestApp, phones: &[&Phone], id: &DocId) -> anyhow::Result<()> {
    let stored = gridbook_server::db::docs::load(app.db(), id)
        .await?
        .context("stored")?;
    for phone in phones {
        let doc = phone.replica.document(id).context("held")?;
        assert_eq!(doc.heads(), stored.record.doc.heads(), "heads of {id}");
        assert_eq!(doc.record_json(), stored.record.json, "projection of {id}");
    }
    Ok(())
}

async fn a_document_cache_smaller_than_the_grid_keeps_phones_and_projections_right(
    app: TestApp,
) -> anyhow::Result<()> {
    assert_eq!(app.state().settings.doc_cache, CACHE);
    a_small_cache_keeps_phones_and_projections_right(app).await
}

/// A record cache bounded by bytes that hold about three records (and 4,096 records by
/// count) never holds more than those bytes, and nothing phones or the supervisor see changes.
async fn a_cache_of_few_bytes_stays_within_them_and_keeps_phones_and_projections_right(
    app: TestApp,
) -> anyhow::Result<()> {
    assert_eq!(app.state().settings.doc_cache_bytes, CACHE_BYTES);
    assert_eq!(
        app.state().settings.doc_cache,
        gridbook_server::config::DEFAULT_DOC_CACHE
    );
    a_small_cache_keeps_phones_and_projections_right(app).await
}

async fn a_small_cache_keeps_phones_and_projections_right(app: TestApp) -> anyhow::Result<()> {
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let wang = app.user("wang", Role::GridWorker, app.grid_a()).await?;
    let sup = app
        .user("sup-a", Role::CommunitySupervisor, app.grid_a())
        .await?;
    let mut p1 = app.phone(&li).await?;
    let mut p2 = app.phone(&wang).await?;

    // 14 records, far more than the cache holds, made on two phones.
    let mut households = Vec::new();
    let mut cases = Vec::new();
    for i in 0..6 {
        households.push(
            p1.replica
                .create(&household(&app.grid_a(), &format!("{}", 101 + i)), at(i))?,
        );
        households.push(
            p2.replica
                .create(&household(&app.grid_a(), &format!("{}", 201 + i)), at(i))?,
        );
    }
    for i in 0..2 {
        cases.push(
            p1.replica
                .create(&case(&app.grid_a(), &li.id), at(10 + i))?,
        );
    }
    p1.sync(&app).await?;
    assert_cache_bounded(&app, "after the first phone's sync");
    p2.sync(&app).await?;
    assert_cache_bounded(&app, "after the second phone's sync");
    p1.sync(&app).await?;
    for id in households.iter().chain(&cases) {
        assert!(p1.replica.document(id).is_some() && p2.replica.document(id).is_some());
    }

    // Offline, each phone edits every household (different fields) and the first resolves
    // nothing yet; the supervisor accepts both cases meanwhile.
    for id in &households {
        p1.replica.update(id, at(20), |h: &mut Household| {
            h.notes = format!("走访记录 {id}");
        })?;
        p2.replica.update(id, at(21), |h: &mut Household| {
            h.tags.push("rental".into());
        })?;
    }
    let s = app.login(&sup).await?;
    for id in &cases {
        let a = post(
            &app,
            &s.access_token,
            &format!("/v1/cases/{id}/actions"),
            &json!({"action": "accept"}),
        )
        .await?;
        assert_eq!(a.status, 200, "{}", a.text);
    }
    assert_cache_bounded(&app, "after the supervisor's actions");
    p1.replica.update(&cases[0], at(30), |k: &mut Case| {
        k.events
            .push(event(&li.id, Role::GridWorker, CaseAction::Comment, at(30)));
    })?;
    p1.sync(&app).await?;
    assert_cache_bounded(&app, "after the first phone's edits");
    p2.sync(&app).await?;
    assert_cache_bounded(&app, "after the second phone's edits");
    p1.sync(&app).await?;
    p2.sync(&app).await?;

    // Both phones and the server agree on every record, and both edits survived everywhere.
    for id in households.iter().chain(&cases) {
        assert_converged(&app, &[&p1, &p2], id).await?;
    }
    for id in &households {
        let projection = app.projection(id).await?.context("stored")?;
        assert_eq!(projection["notes"], format!("走访记录 {id}"));
        assert_eq!(projection["tags"], json!(["rental"]));
    }
    for id in &cases {
        let k: Case = p2.replica.document(id).context("held")?.read()?;
        assert_eq!(
            sync_core::workflow::fold(&k).state,
            sync_core::workflow::CaseState::Accepted
        );
    }
    // The lists (from the indexes) agree too.
    let rental = get(
        &app,
        &s.access_token,
        "/v1/households?tag=rental&per_page=200",
    )
    .await?;
    assert_eq!(rental.body["total"], 12, "{}", rental.text);
    let accepted = get(&app, &s.access_token, "/v1/cases?state=accepted").await?;
    assert_eq!(accepted.body["total"], 2, "{}", accepted.text);
    // A new phone gets the whole grid, the same as the others.
    let mut p3 = app.phone(&li).await?;
    p3.sync(&app).await?;
    for id in households.iter().chain(&cases) {
        assert_converged(&app, &[&p1, &p2, &p3], id).await?;
    }
    assert_cache_bounded(&app, "at the end");
    app.stop().await
}

async fn a_lost_database_gives_opaque_503_and_500_answers_and_loses_nothing(
    mut app: TestApp,
) -> anyhow::Result<()> {
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let boss = app
        .user("boss", Role::CommunitySupervisor, app.grid_a())
        .await?;
    let sup = app.login(&boss).await?;
    let mut phone = app.phone(&li).await?;
    let kept = phone
        .replica
        .create(&household(&app.grid_a(), "101"), at(0))?;
    phone.sync(&app).await?;
    let waiting = phone
        .replica
        .create(&household(&app.grid_a(), "102"), at(1))?;

    // The database goes away under the running server.
    app.db().close().await;
    let health = get(&app, &sup.access_token, "/health").await?;
    assert_eq!(health.status, 200, "the process still answers");
    let ready = get(&app, &sup.access_token, "/ready").await?;
    assert_eq!(
        (ready.status, ready.code()),
        (503, "unavailable"),
        "{}",
        ready.text
    );
    let list = get(&app, &sup.access_token, "/v1/households").await?;
    assert!(list.status >= 500, "{}: {}", list.status, list.text);
    let request = phone.replica.build_request();
    let sync = app.post_sync(&phone.session.access_token, &request).await?;
    let sync_status = sync.status().as_u16();
    let sync_text = sync.text().await?;
    assert!(sync_status >= 500, "{sync_status}: {sync_text}");
    // Each says it failed, in the JSON error shape, and nothing about why inside.
    for (status, text) in [
        (ready.status, ready.text.clone()),
        (list.status, list.text.clone()),
        (sync_status, sync_text),
    ] {
        let body: serde_json::Value = serde_json::from_str(&text)?;
        let code = body["error"]["code"].as_str().unwrap_or_default();
        assert!(
            ["unavailable", "internal"].contains(&code),
            "{status}: {text}"
        );
        let lower = text.to_lowercase();
        for inside in [
            "sqlx", "pool", "sqlite", "postgres", "closed", "/tmp", ".rs",
        ] {
            assert!(!lower.contains(inside), "{status} names {inside}: {text}");
        }
    }
    assert!(phone.replica.pending().contains(&waiting));

    // Back with its database: what was confirmed is there, and the waiting edit goes through.
    app.restart().await?;
    phone.sync(&app).await?;
    assert!(phone.replica.pending().is_empty());
    for id in [&kept, &waiting] {
        assert!(app.projection(id).await?.is_some(), "{id} stored");
    }
    app.stop().await
}
