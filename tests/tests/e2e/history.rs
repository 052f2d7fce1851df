//! A record with a very long history (issue 14, item 4): a phone's backlog larger than one
//! push may add is refused whole and sent over successive requests by the phone's own sync,
//! and the record's history answers bounded pages.

use anyhow::Context;
use automerge::transaction::{CommitOptions, Transactable as _};
use gridbook_tests::client::get;
use gridbook_tests::{Phone, TestApp};
use serde_json::json;
use sync_core::client::{Replica, ReplicaSnapshot, SavedDoc};
use sync_core::doc::{Author, Document, actor_for_device};
use sync_core::ids::DeviceId;
use sync_core::protocol::{
    Bytes, DocPush, DocStatus, MAX_CHANGE_BYTES_PER_DOC, MAX_NEW_CHANGES_PER_DOC, SyncRequest,
    SyncResponse, codes, count_chunks,
};
use sync_core::record::{RecordKind, Role};
use sync_core::validate::ValidationContext;

use crate::support::{at, household, on_both_backends};

on_both_backends!(a_record_of_24000_changes_is_sent_within_the_budget_and_its_history_pages,);

/// Tiny edits made offline on one record: the report's 24,000-change push.
const EDITS: usize = 24_000;

/// A household of `place` and `edits` more changes, each setting `notes`, all made on `device`.
fn big_household(place: &sync_core::record::Place, device: &DeviceId, edits: usize) -> Document {
    let author = Author::new(actor_for_device(device), at(0));
    let mut doc = Document::create(
        &household(place, "402"),
        &author,
        &ValidationContext::default(),
    )
    .expect("valid household");
    let am = doc.automerge_mut();
    for i in 0..edits {
        let mut tx = am.transaction();
        tx.put(automerge::ROOT, "notes", format!("n{i}"))
            .expect("put");
        tx.commit_with(CommitOptions::default().with_time(at(1).millis() + i as i64 * 1000));
    }
    doc
}

async fn a_record_of_24000_changes_is_sent_within_the_budget_and_its_history_pages(
    app: TestApp,
) -> anyhow::Result<()> {
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let sup = app
        .user("sup-a", Role::CommunitySupervisor, app.grid_a())
        .await?;
    let phone = app.phone(&li).await?;
    let device = phone.session.device.clone();
    let doc = big_household(&app.grid_a(), &device, EDITS);
    let id = doc.id().clone();

    // All 24,001 changes in one push (2.9 MB, under the byte limit): refused whole, naming
    // the budget; nothing is stored.
    let all = Bytes(doc.automerge().save_after(&[]));
    assert!(all.len() < MAX_CHANGE_BYTES_PER_DOC);
    assert_eq!(count_chunks(all.as_slice()), Some(EDITS + 1));
    let request = SyncRequest::new(
        device.clone(),
        None,
        vec![DocPush {
            id: id.clone(),
            kind: RecordKind::Household,
            base_heads: Vec::new(),
            changes: all,
        }],
    );
    let response = app.post_sync(&phone.session.access_token, &request).await?;
    assert_eq!(response.status(), 200);
    let response: SyncResponse = response.json().await?;
    let result = &response.docs[0];
    assert_eq!(result.status, DocStatus::Rejected);
    let error = result.error.as_ref().context("an error")?;
    assert_eq!(error.code, codes::TOO_LARGE);
    assert!(
        error.message.contains("MAX_NEW_CHANGES_PER_DOC"),
        "{}",
        error.message
    );
    assert_eq!(app.change_count().await?, 0, "nothing stored");

    // The phone's own sync sends the backlog over successive requests, oldest first.
    let snapshot = ReplicaSnapshot {
        device: device.clone(),
        actor: Bytes(actor_for_device(&device).to_bytes().to_vec()),
        cursor: None,
        docs: vec![SavedDoc {
            id: id.clone(),
            kind: RecordKind::Household,
            document: Bytes(doc.save()),
            complete: true,
            base_heads: Vec::new(),
            need_full: false,
            rejection: None,
        }],
    };
    let mut phone = Phone {
        replica: Replica::restore(snapshot, ValidationContext::default())?,
        session: phone.session,
    };
    let mut rounds = 0;
    loop {
        rounds += 1;
        anyhow::ensure!(rounds <= 30, "the backlog did not drain");
        let trip = phone.round_trip(&app).await?;
        let sent = count_chunks(trip.request.docs[0].changes.as_slice()).context("chunks")?;
        assert!(sent <= MAX_NEW_CHANGES_PER_DOC, "round {rounds}: {sent}");
        assert_eq!(
            trip.response.docs[0].status,
            DocStatus::Ok,
            "round {rounds}"
        );
        if !trip.report.sync_again {
            break;
        }
    }
    assert_eq!(rounds, (EDITS + 1).div_ceil(MAX_NEW_CHANGES_PER_DOC));
    assert!(phone.replica.pending().is_empty());
    assert_eq!(app.change_count().await?, (EDITS + 1) as i64);
    assert_eq!(
        app.projection(&id).await?.context("stored")?["notes"],
        json!(format!("n{}", EDITS - 1))
    );

    // A supervisor reads the history a bounded page at a time, newest first.
    let s = app.login(&sup).await?;
    let path = format!("/v1/records/{id}/history");
    let a = get(&app, &s.access_token, &format!("{path}?per_page=100")).await?;
    assert_eq!(a.status, 200, "{}", a.text);
    let entries = a.body["entries"].as_array().context("entries")?;
    assert_eq!(entries.len(), 100);
    assert_eq!(
        (
            &a.body["total"],
            &a.body["page"],
            &a.body["per_page"],
            &a.body["order"]
        ),
        (&json!(EDITS + 1), &json!(1), &json!(100), &json!("newest"))
    );
    assert_eq!(entries[0]["edits"][0]["field"], "notes");
    assert_eq!(
        entries[0]["edits"][0]["value"],
        json!(format!("n{}", EDITS - 1))
    );
    assert_eq!(entries[0]["user"]["login"], "li");
    assert_eq!(
        entries[0]["at"],
        at(1).plus_millis((EDITS as i64 - 1) * 1000).to_string()
    );
    // The last page holds the creation; the default page size is 50.
    let last = (EDITS + 1).div_ceil(100);
    let a = get(
        &app,
        &s.access_token,
        &format!("{path}?per_page=100&page={last}"),
    )
    .await?;
    let entries = a.body["entries"].as_array().context("entries")?;
    assert_eq!(entries.len(), 1, "{}", a.text);
    assert!(
        entries[0]["edits"]
            .as_array()
            .is_some_and(|e| e.iter().any(|e| e["field"] == "kind")),
        "{}",
        a.text
    );
    let a = get(
        &app,
        &s.access_token,
        &format!("{path}?order=oldest&per_page=1"),
    )
    .await?;
    assert_eq!(a.body["entries"][0]["change"], entries[0]["change"]);
    let a = get(&app, &s.access_token, &path).await?;
    assert_eq!(a.body["entries"].as_array().map(Vec::len), Some(50));
    for bad in [
        "per_page=201",
        "per_page=0",
        "page=0",
        "order=sideways",
        "limit=5",
    ] {
        let a = get(&app, &s.access_token, &format!("{path}?{bad}")).await?;
        assert_eq!(
            (a.status, a.code()),
            (400, "malformed"),
            "{bad}: {}",
            a.text
        );
    }
    app.stop().await
}
