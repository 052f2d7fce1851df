//! Long polls (`SyncRequest::wait_ms`): a waiting phone is answered with a colleague's push,
//! with everything when several colleagues push at once, with a supervisor's case action,
//! and with nothing when nothing happens.

use std::time::Duration;

use gridbook_tests::client::post;
use gridbook_tests::{Backend, Phone, TestApp};
use serde_json::json;
use sync_core::ids::DocId;
use sync_core::models::household::Household;
use sync_core::protocol::SyncResponse;
use sync_core::record::Role;

use crate::support::{at, case, household};

mod sqlite {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_long_poll_waits_for_every_colleague_pushing_at_once() -> anyhow::Result<()> {
        super::run(gridbook_tests::Backend::Sqlite).await
    }
}

mod postgres {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_long_poll_waits_for_every_colleague_pushing_at_once() -> anyhow::Result<()> {
        super::run(gridbook_tests::Backend::Postgres).await
    }
}

/// Sends `phone`'s next request as a long poll of `wait_ms`; applies and returns the answer.
async fn long_poll(app: &TestApp, phone: &mut Phone, wait_ms: u32) -> anyhow::Result<SyncResponse> {
    let mut request = phone.replica.build_request();
    request.wait_ms = Some(wait_ms);
    let response = app.post_sync(&phone.session.access_token, &request).await?;
    anyhow::ensure!(
        response.status() == 200,
        "long poll answered {}",
        response.status()
    );
    let response: SyncResponse = response.json().await?;
    phone.replica.apply_response(&request, &response)?;
    Ok(response)
}

fn notes(phone: &Phone, id: &DocId) -> String {
    phone
        .replica
        .document(id)
        .and_then(|d| d.read::<Household>().ok())
        .map(|h| h.notes)
        .unwrap_or_default()
}

async fn run(backend: Backend) -> anyhow::Result<()> {
    // Every write holds its grid's sequence number for 300 ms, so two colleagues' pushes
    // overlap for certain: the second waits for the first's commit.
    let Some(app) = TestApp::spawn_with(backend, |s| {
        s.fault_hold_write = Some(Duration::from_millis(300));
    })
    .await?
    else {
        return Ok(());
    };
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let mut waiting = app.phone(&li).await?;
    let mut b = app.phone(&li).await?;
    let mut c = app.phone(&li).await?;
    let first = waiting
        .replica
        .create(&household(&app.grid_a(), "101"), at(0))?;
    let second = waiting
        .replica
        .create(&household(&app.grid_a(), "102"), at(0))?;
    waiting.sync(&app).await?;
    b.sync(&app).await?;
    c.sync(&app).await?;

    // Nothing happens: the poll ends when its wait does, with nothing.
    let quiet = long_poll(&app, &mut waiting, 300).await?;
    assert!(quiet.updates.is_empty() && quiet.docs.is_empty());

    // Two colleagues push at once while the first phone waits: one answer carries both.
    b.replica
        .update(&first, at(1), |h: &mut Household| h.notes = "b 到访".into())?;
    c.replica.update(&second, at(1), |h: &mut Household| {
        h.notes = "c 到访".into()
    })?;
    let (answer, pushed_b, pushed_c) = tokio::join!(
        long_poll(&app, &mut waiting, 20_000),
        async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            b.sync(&app).await
        },
        async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            c.sync(&app).await
        },
    );
    pushed_b?;
    pushed_c?;
    let answer = answer?;
    let updated: Vec<&DocId> = answer.updates.iter().map(|u| &u.id).collect();
    assert!(
        updated.contains(&&first) && updated.contains(&&second),
        "one answer with both colleagues' pushes, got {updated:?}"
    );
    assert_eq!(notes(&waiting, &first), "b 到访");
    assert_eq!(notes(&waiting, &second), "c 到访");

    // A supervisor's case action (written by the review API, not by a sync) wakes it too.
    let sup = app
        .user("sup-a", Role::CommunitySupervisor, app.grid_a())
        .await?;
    let cid = waiting
        .replica
        .create(&case(&app.grid_a(), &li.id), at(2))?;
    waiting.sync(&app).await?;
    let s = app.login(&sup).await?;
    let path = format!("/v1/cases/{cid}/actions");
    let (answer, accepted) = tokio::join!(long_poll(&app, &mut waiting, 20_000), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        post(&app, &s.access_token, &path, &json!({"action": "accept"})).await
    });
    assert_eq!(accepted?.status, 200);
    let answer = answer?;
    assert!(
        answer.updates.iter().any(|u| u.id == cid),
        "the long poll carries the supervisor's event"
    );
    app.stop().await
}
