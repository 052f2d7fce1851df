//! Phones that misbehave: requests retried (even several at once), replayed days later,
//! phones restored from an old backup, and pushes whose changes lack their dependencies.
//! Nothing may be lost or stored twice, and every phone must converge.

use std::collections::BTreeSet;

use anyhow::Context;
use automerge::{ChangeHash, ReadDoc};
use gridbook_server::db::docs;
use gridbook_tests::{Phone, TestApp};
use sync_core::client::{DocOutcome, Replica, ReplicaSnapshot};
use sync_core::doc::device_of_actor;
use sync_core::ids::DocId;
use sync_core::models::case::{Case, CaseAction};
use sync_core::models::household::Household;
use sync_core::protocol::{
    Bytes, DocResult, DocStatus, SyncRequest, SyncResponse, codes, split_changes,
};
use sync_core::record::Role;
use sync_core::validate::ValidationContext;

use crate::support::{at, case, event, household, on_both_backends, resident};

on_both_backends!(
    retries_even_concurrent_ones_store_each_change_once,
    a_request_replayed_days_later_is_harmless,
    a_phone_restored_from_an_old_backup_converges_and_loses_nothing,
    changes_without_their_dependencies_get_need_full_and_store_nothing,
);

/// Minutes in a day, for device clocks.
const DAY: i64 = 24 * 60;

/// Sends `request` as `phone` and reads the 200 answer (anything else is an error).
async fn send(app: &TestApp, phone: &Phone, request: &SyncRequest) -> anyhow::Result<SyncResponse> {
    let response = app.post_sync(&phone.session.access_token, request).await?;
    let status = response.status();
    let text = response.text().await?;
    anyhow::ensure!(status == 200, "sync answered {status}: {text}");
    Ok(serde_json::from_str(&text)?)
}

/// The result for `id` in a response.
fn result<'a>(response: &'a SyncResponse, id: &DocId) -> &'a DocResult {
    response
        .docs
        .iter()
        .find(|d| &d.id == id)
        .expect("a result for every pushed document")
}

/// The ids of a response's updates.
fn update_ids(response: &SyncResponse) -> BTreeSet<DocId> {
    response.updates.iter().map(|u| u.id.clone()).collect()
}

/// How many changes a `changes` field carries.
fn count(bytes: &Bytes) -> anyhow::Result<usize> {
    Ok(split_changes(bytes.as_slice())?.len())
}

fn sorted(mut heads: Vec<ChangeHash>) -> Vec<ChangeHash> {
    heads.sort_unstable();
    heads
}

/// The heads of the server's stored document.
async fn server_heads(app: &TestApp, id: &DocId) -> anyhow::Result<Vec<ChangeHash>> {
    let loaded = docs::load(app.db(), id).await?.context("stored")?;
    Ok(sorted(loaded.record.doc.heads()))
}

/// The heads of a phone's copy.
fn heads(phone: &Phone, id: &DocId) -> Vec<ChangeHash> {
    sorted(phone.replica.document(id).expect("held").heads())
}

/// Every phone holds `id` with the server's heads, and its JSON is the server's projection.
async fn assert_converged(app: &TestApp, phones: &[&Phone], id: &DocId) -> anyhow::Result<()> {
    let server = server_heads(app, id).await?;
    let projection = app.projection(id).await?.context("stored")?;
    for (n, phone) in phones.iter().enumerate() {
        let doc = phone.replica.document(id).expect("every phone has it");
        assert_eq!(sorted(doc.heads()), server, "phone {n}: heads of {id}");
        assert_eq!(doc.record_json(), projection, "phone {n}: content of {id}");
    }
    Ok(())
}

/// The raw bytes of one change the phone made.
fn only_change(phone: &Phone, id: &DocId, hash: ChangeHash) -> Bytes {
    let change = phone
        .replica
        .document(id)
        .expect("held")
        .automerge()
        .get_change_by_hash(&hash)
        .expect("made on this phone");
    Bytes::from_changes([&change])
}

async fn retries_even_concurrent_ones_store_each_change_once(app: TestApp) -> anyhow::Result<()> {
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let wang = app.user("wang", Role::GridWorker, app.grid_a()).await?;
    let mut a = app.phone(&li).await?;
    let mut b = app.phone(&wang).await?;

    // A morning offline: a new household, edited, and a new case.
    let hid = a.replica.create(&household(&app.grid_a(), "301"), at(0))?;
    a.replica
        .update(&hid, at(1), |h: &mut Household| h.notes = "独居".into())?;
    let cid = a.replica.create(&case(&app.grid_a(), &li.id), at(2))?;
    let first = a.replica.build_request();

    // Back in signal, the network layer times out and fires the same request again while the
    // first is still in flight: both reach the server at once.
    let (r1, r2) = tokio::join!(send(&app, &a, &first), send(&app, &a, &first));
    let (r1, r2) = (r1?, r2?);
    assert_eq!(app.change_count().await?, 3, "each change stored once");
    // The app gives up waiting and retries once more.
    let r3 = send(&app, &a, &first).await?;
    assert_eq!(
        app.change_count().await?,
        3,
        "the third attempt stores nothing"
    );
    for response in [&r1, &r2, &r3] {
        for id in [&hid, &cid] {
            let r = result(response, id);
            assert_eq!(r.status, DocStatus::Ok, "{r:?}");
            assert_eq!(sorted(r.heads.clone()), heads(&a, id));
            assert!(r.changes.is_empty(), "the phone lacks nothing");
        }
        assert!(
            response.updates.is_empty(),
            "its own records are not echoed"
        );
    }
    // Answers applied in any order, twice over, leave the phone in sync.
    for response in [&r2, &r3, &r1] {
        a.replica.apply_response(&first, response)?;
    }
    assert!(a.replica.pending().is_empty());

    // Wang adds a tag to the household meanwhile.
    b.sync(&app).await?;
    b.replica.update(&hid, at(5), |h: &mut Household| {
        h.tags.push("elderly".into())
    })?;
    b.sync(&app).await?;
    assert_eq!(app.change_count().await?, 4);

    // Li adds a resident and comments on the case; the flaky network sends the push three
    // times at once, each built on the same (now stale) base heads.
    a.replica.update(&hid, at(10), |h: &mut Household| {
        h.residents.push(resident("王小明", "19850607"))
    })?;
    a.replica.update(&cid, at(11), |k: &mut Case| {
        k.events
            .push(event(&li.id, Role::GridWorker, CaseAction::Comment, at(11)));
    })?;
    let second = a.replica.build_request();
    let (x, y, z) = tokio::join!(
        send(&app, &a, &second),
        send(&app, &a, &second),
        send(&app, &a, &second)
    );
    let answers = [x?, y?, z?];
    assert_eq!(app.change_count().await?, 6, "two new changes, once each");
    let merged = server_heads(&app, &hid).await?;
    for response in &answers {
        let h = result(response, &hid);
        assert_eq!(h.status, DocStatus::Ok, "{h:?}");
        assert_eq!(
            sorted(h.heads.clone()),
            merged,
            "every answer has the merge"
        );
        assert_eq!(count(&h.changes)?, 1, "every answer carries Wang's tag");
        let k = result(response, &cid);
        assert_eq!(k.status, DocStatus::Ok, "{k:?}");
        assert_eq!(sorted(k.heads.clone()), heads(&a, &cid));
    }
    for response in answers.iter().rev() {
        a.replica.apply_response(&second, response)?;
    }
    assert!(a.replica.pending().is_empty());
    assert_eq!(a.sync(&app).await?, 1);
    b.sync(&app).await?;

    // A new phone pulls the grid: the log holds every change exactly once.
    let mut c = app.phone(&li).await?;
    let pull = c.round_trip(&app).await?;
    assert!(!pull.report.sync_again);
    let logged = |id: &DocId| {
        pull.response
            .updates
            .iter()
            .find(|u| &u.id == id)
            .map(|u| count(&u.changes))
    };
    assert_eq!(
        logged(&hid).transpose()?,
        Some(4),
        "create, notes, tag, resident"
    );
    assert_eq!(logged(&cid).transpose()?, Some(2), "create, comment");
    assert_eq!(app.change_count().await?, 6);
    for id in [&hid, &cid] {
        assert_converged(&app, &[&a, &b, &c], id).await?;
    }
    let h: Household = c.replica.document(&hid).expect("held").read()?;
    assert_eq!(h.residents.len(), 2);
    assert_eq!(h.tags, vec!["elderly".to_owned()]);
    let k: Case = c.replica.document(&cid).expect("held").read()?;
    assert_eq!(k.events.len(), 2);
    app.stop().await
}

async fn a_request_replayed_days_later_is_harmless(app: TestApp) -> anyhow::Result<()> {
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let wang = app.user("wang", Role::GridWorker, app.grid_a()).await?;
    let mut a = app.phone(&li).await?;
    let mut b = app.phone(&wang).await?;

    // Day 0: Li registers a household; both phones have it.
    let hid = a.replica.create(&household(&app.grid_a(), "301"), at(0))?;
    a.sync(&app).await?;
    b.sync(&app).await?;
    let day0_heads = heads(&a, &hid);

    // Day 0, later, in a basement: Li writes notes and opens a case. The request goes into
    // the app's outbox with the day-0 cursor and base heads, and never gets out.
    let notes = a
        .replica
        .update(&hid, at(60), |h: &mut Household| {
            h.notes = "老人腿脚不便，每周探访".into()
        })?
        .expect("a change");
    let cid = a.replica.create(&case(&app.grid_a(), &li.id), at(61))?;
    let stale = a.replica.build_request();
    assert_eq!(a.replica.base_heads(&hid), Some(&day0_heads[..]));
    // Li keeps working offline: a tag, not in the stale request.
    a.replica.update(&hid, at(62), |h: &mut Household| {
        h.tags.push("elderly".into())
    })?;

    // Days 1 to 3: Wang edits the same household and registers new ones, syncing each day.
    let mut wangs = BTreeSet::new();
    for day in 1..=3 {
        b.replica
            .update(&hid, at(day * DAY), |h: &mut Household| match day {
                1 => h.residents.push(resident("李娟", "19900102")),
                2 => h.residents[0].name = "王秀兰".into(),
                _ => h.tags.push("rental".into()),
            })?;
        wangs.insert(b.replica.create(
            &household(&app.grid_a(), &format!("40{day}")),
            at(day * DAY + 1),
        )?);
        b.sync(&app).await?;
    }
    let before = app.change_count().await?;
    assert_eq!(before, 7);

    // Day 4: the outbox finally delivers the stale request.
    let late = send(&app, &a, &stale).await?;
    assert_eq!(
        app.change_count().await?,
        before + 2,
        "Li's notes and case, once"
    );
    let h = result(&late, &hid);
    assert_eq!(h.status, DocStatus::Ok, "{h:?}");
    let merged = server_heads(&app, &hid).await?;
    assert_eq!(sorted(h.heads.clone()), merged);
    assert!(
        merged.contains(&notes),
        "Li's notes are a head of the merge"
    );
    assert_eq!(count(&h.changes)?, 3, "Wang's three edits come back");
    assert_eq!(result(&late, &cid).status, DocStatus::Ok);
    assert_eq!(
        update_ids(&late),
        wangs,
        "the old cursor brings Wang's new households, and only them"
    );
    let report = a.replica.apply_response(&stale, &late)?;
    assert!(!report.sync_again);
    assert_eq!(
        a.replica.pending(),
        vec![hid.clone()],
        "the tag still waits"
    );
    for id in &wangs {
        assert!(a.replica.document(id).is_some());
    }
    a.sync(&app).await?;
    assert_eq!(app.change_count().await?, before + 3);

    // Day 6: a proxy delivers the same stale request once more.
    let projection = app.projection(&hid).await?;
    let replay = send(&app, &a, &stale).await?;
    assert_eq!(
        app.change_count().await?,
        before + 3,
        "nothing stored twice"
    );
    assert_eq!(app.projection(&hid).await?, projection, "nothing rewritten");
    let h = result(&replay, &hid);
    assert_eq!(h.status, DocStatus::Ok, "{h:?}");
    assert_eq!(sorted(h.heads.clone()), heads(&a, &hid));
    assert_eq!(count(&h.changes)?, 4, "Wang's edits and Li's tag");
    assert_eq!(result(&replay, &cid).status, DocStatus::Ok);
    assert_eq!(update_ids(&replay), wangs);
    // Applying the old answer after newer ones is harmless.
    a.replica.apply_response(&stale, &replay)?;
    assert!(a.replica.pending().is_empty());
    assert_eq!(a.sync(&app).await?, 1);
    assert_eq!(app.change_count().await?, before + 3);

    b.sync(&app).await?;
    let mut c = app.phone(&wang).await?;
    c.sync(&app).await?;
    for id in [&hid, &cid].into_iter().chain(&wangs) {
        assert_converged(&app, &[&a, &b, &c], id).await?;
    }
    let h: Household = c.replica.document(&hid).expect("held").read()?;
    assert_eq!(h.notes, "老人腿脚不便，每周探访");
    assert_eq!(h.residents.len(), 2);
    assert_eq!(h.residents[0].name, "王秀兰");
    let tags: BTreeSet<&str> = h.tags.iter().map(String::as_str).collect();
    assert_eq!(tags, BTreeSet::from(["elderly", "rental"]));
    app.stop().await
}

async fn a_phone_restored_from_an_old_backup_converges_and_loses_nothing(
    app: TestApp,
) -> anyhow::Result<()> {
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let wang = app.user("wang", Role::GridWorker, app.grid_a()).await?;
    let mut a = app.phone(&li).await?;
    let mut b = app.phone(&wang).await?;

    // Two households registered and synced.
    let hid = a.replica.create(&household(&app.grid_a(), "301"), at(0))?;
    let tid = a.replica.create(&household(&app.grid_a(), "302"), at(1))?;
    a.sync(&app).await?;
    b.sync(&app).await?;
    // A third registered offline, not yet synced when the nightly backup runs.
    let nid = a.replica.create(&household(&app.grid_a(), "303"), at(2))?;
    let mut backup = a.replica.snapshot();
    let old_actor = a.replica.actor().clone();

    // The next days Li syncs and keeps working; all of it reaches the server.
    a.sync(&app).await?;
    a.replica.update(&hid, at(DAY), |h: &mut Household| {
        h.notes = "备份之后的记录".into()
    })?;
    a.replica.update(&tid, at(DAY + 1), |h: &mut Household| {
        h.tags.push("rental".into())
    })?;
    a.replica.update(&nid, at(DAY + 2), |h: &mut Household| {
        h.tags.push("elderly".into())
    })?;
    let cid = a
        .replica
        .create(&case(&app.grid_a(), &li.id), at(DAY + 3))?;
    a.sync(&app).await?;
    // Wang adds a resident to the first household.
    b.sync(&app).await?;
    b.replica.update(&hid, at(DAY + 10), |h: &mut Household| {
        h.residents.push(resident("李娟", "19900102"))
    })?;
    b.sync(&app).await?;
    let stored = app.change_count().await?;
    assert_eq!(stored, 8, "three creations, four edits and a case");
    let case_before = app.projection(&cid).await?;

    // The backup was copied while the app was writing: the second household's file is from
    // the backup, but its confirmed base heads are from the sync after it.
    let torn = a.replica.base_heads(&tid).expect("held").to_vec();
    backup
        .docs
        .iter_mut()
        .find(|d| d.id == tid)
        .expect("in the backup")
        .base_heads = torn;

    // The phone is reset and restored from that backup file.
    let file = serde_json::to_vec(&backup)?;
    let backup: ReplicaSnapshot = serde_json::from_slice(&file)?;
    a.replica = Replica::restore(backup, ValidationContext::default())?;
    assert_ne!(a.replica.actor(), &old_actor, "a fresh actor");
    assert_eq!(
        device_of_actor(a.replica.actor()),
        Some(a.session.device.clone())
    );
    assert!(
        a.replica.document(&cid).is_none(),
        "the case postdates the backup"
    );
    assert!(
        a.replica.needs_full(&tid),
        "base heads it lacks are dropped"
    );
    assert_eq!(a.replica.base_heads(&nid), Some(&[][..]), "never confirmed");
    let mut pending = a.replica.pending();
    pending.sort();
    let mut expected = vec![tid.clone(), nid.clone()];
    expected.sort();
    assert_eq!(pending, expected);

    // Before syncing, Li edits two households on the restored phone, from their old state.
    a.replica.update(&hid, at(2 * DAY), |h: &mut Household| {
        h.residents[0].name = "王秀兰".into()
    })?;
    a.replica
        .update(&nid, at(2 * DAY + 1), |h: &mut Household| {
            h.notes = "恢复后的手机".into()
        })?;
    let trip = a.round_trip(&app).await?;
    for id in [&hid, &tid, &nid] {
        let r = result(&trip.response, id);
        assert_eq!(r.status, DocStatus::Ok, "{id}: {r:?}");
    }
    assert_eq!(
        app.change_count().await?,
        stored + 2,
        "only the restored phone's two edits are new"
    );
    assert!(
        update_ids(&trip.response).contains(&cid),
        "the case comes back"
    );
    a.sync(&app).await?;
    assert!(a.replica.pending().is_empty());
    assert_eq!(app.change_count().await?, stored + 2);

    b.sync(&app).await?;
    let mut c = app.phone(&li).await?;
    c.sync(&app).await?;
    for id in [&hid, &tid, &nid, &cid] {
        assert_converged(&app, &[&a, &b, &c], id).await?;
    }
    // Nothing the phone synced after the backup was lost, nor Wang's edit.
    let h: Household = c.replica.document(&hid).expect("held").read()?;
    assert_eq!(h.notes, "备份之后的记录");
    assert_eq!(h.residents.len(), 2);
    assert_eq!(h.residents[0].name, "王秀兰");
    let t: Household = c.replica.document(&tid).expect("held").read()?;
    assert_eq!(t.tags, vec!["rental".to_owned()]);
    let n: Household = c.replica.document(&nid).expect("held").read()?;
    assert_eq!(n.tags, vec!["elderly".to_owned()]);
    assert_eq!(n.notes, "恢复后的手机");
    assert_eq!(app.projection(&cid).await?, case_before);
    app.stop().await
}

async fn changes_without_their_dependencies_get_need_full_and_store_nothing(
    app: TestApp,
) -> anyhow::Result<()> {
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let wang = app.user("wang", Role::GridWorker, app.grid_a()).await?;
    let mut a = app.phone(&li).await?;
    let mut b = app.phone(&wang).await?;

    // Three households on both phones.
    let sid = a.replica.create(&household(&app.grid_a(), "101"), at(0))?;
    let s2id = a.replica.create(&household(&app.grid_a(), "102"), at(1))?;
    let oid = a.replica.create(&household(&app.grid_a(), "103"), at(2))?;
    a.sync(&app).await?;
    b.sync(&app).await?;

    // Offline, Li registers a new household and edits it twice, edits two stored ones twice
    // each, and one stored one once.
    let nid = a.replica.create(&household(&app.grid_a(), "201"), at(10))?;
    a.replica.update(&nid, at(11), |h: &mut Household| {
        h.notes = "首次走访".into()
    })?;
    let n_last = a
        .replica
        .update(&nid, at(12), |h: &mut Household| {
            h.tags.push("elderly".into())
        })?
        .expect("a change");
    a.replica.update(&sid, at(13), |h: &mut Household| {
        h.notes = "子女在外地".into()
    })?;
    let s_last = a
        .replica
        .update(&sid, at(14), |h: &mut Household| {
            h.residents.push(resident("王小明", "19850607"))
        })?
        .expect("a change");
    let s2_first = a
        .replica
        .update(&s2id, at(15), |h: &mut Household| h.notes = "空置".into())?
        .expect("a change");
    let s2_last = a
        .replica
        .update(&s2id, at(16), |h: &mut Household| {
            h.tags.push("vacant".into())
        })?
        .expect("a change");
    a.replica.update(&oid, at(17), |h: &mut Household| {
        h.notes = "一切正常".into()
    })?;
    // Wang adds a tag to the first household meanwhile.
    b.replica.update(&sid, at(18), |h: &mut Household| {
        h.tags.push("rental".into())
    })?;
    b.sync(&app).await?;

    let before = app.change_count().await?;
    let s_before = app.projection(&sid).await?;
    let s2_before = app.projection(&s2id).await?;
    let s_server = server_heads(&app, &sid).await?;
    let s2_server = server_heads(&app, &s2id).await?;

    // A faulty outbox sends only the newest change of each record:
    let mut request = a.replica.build_request();
    assert_eq!(request.docs.len(), 4);
    for push in &mut request.docs {
        if push.id == nid {
            // the new household's last edit, without its creation or first edit;
            assert!(push.base_heads.is_empty());
            push.changes = only_change(&a, &nid, n_last);
        } else if push.id == sid {
            // on the confirmed base, the resident without the notes edit it builds on;
            push.changes = only_change(&a, &sid, s_last);
        } else if push.id == s2id {
            // and claiming as confirmed an edit the server never got.
            push.base_heads = vec![s2_first];
            push.changes = only_change(&a, &s2id, s2_last);
        }
    }
    let response = send(&app, &a, &request).await?;
    for id in [&nid, &sid, &s2id] {
        let r = result(&response, id);
        assert_eq!(r.status, DocStatus::NeedFull, "{id}: {r:?}");
        let code = r.error.as_ref().map(|e| e.code.as_str());
        assert_eq!(code, Some(codes::MISSING_DEPENDENCIES));
    }
    let n = result(&response, &nid);
    assert!(n.heads.is_empty() && n.changes.is_empty(), "{n:?}");
    let s = result(&response, &sid);
    assert_eq!(sorted(s.heads.clone()), s_server);
    assert_eq!(count(&s.changes)?, 1, "Wang's tag, which the phone lacks");
    let s2 = result(&response, &s2id);
    assert_eq!(sorted(s2.heads.clone()), s2_server);
    assert_eq!(count(&s2.changes)?, 1, "the whole stored household");
    assert_eq!(
        result(&response, &oid).status,
        DocStatus::Ok,
        "the rest goes on"
    );
    assert!(!update_ids(&response).contains(&nid));

    // Stored: the ordinary edit, and nothing of the three.
    assert_eq!(app.change_count().await?, before + 1);
    assert!(app.projection(&nid).await?.is_none());
    assert_eq!(app.projection(&sid).await?, s_before);
    assert_eq!(app.projection(&s2id).await?, s2_before);
    assert_eq!(server_heads(&app, &sid).await?, s_server);
    assert_eq!(server_heads(&app, &s2id).await?, s2_server);
    let mut c = app.phone(&wang).await?;
    c.sync(&app).await?;
    assert!(c.replica.document(&nid).is_none(), "nothing logged for it");

    // The phone library takes it from there.
    let report = a.replica.apply_response(&request, &response)?;
    assert!(report.sync_again);
    for id in [&nid, &sid, &s2id] {
        assert!(
            report.docs.contains(&(id.clone(), DocOutcome::NeedFull)),
            "{id}: {report:?}"
        );
    }
    assert!(report.docs.contains(&(oid.clone(), DocOutcome::Accepted)));
    assert!(a.replica.needs_full(&nid) && a.replica.needs_full(&s2id));
    let trip = a.round_trip(&app).await?;
    assert!(!trip.report.sync_again);
    for push in &trip.request.docs {
        if push.id == nid || push.id == s2id {
            assert!(push.base_heads.is_empty(), "sent whole");
            assert_eq!(count(&push.changes)?, 3);
        }
    }
    for id in [&nid, &sid, &s2id] {
        assert_eq!(result(&trip.response, id).status, DocStatus::Ok);
    }
    assert_eq!(app.change_count().await?, before + 1 + 3 + 2 + 2);
    assert!(a.replica.pending().is_empty());

    b.sync(&app).await?;
    c.sync(&app).await?;
    for id in [&nid, &sid, &s2id, &oid] {
        assert_converged(&app, &[&a, &b, &c], id).await?;
    }
    let s: Household = c.replica.document(&sid).expect("held").read()?;
    assert_eq!(s.notes, "子女在外地");
    assert_eq!(s.residents.len(), 2);
    assert_eq!(s.tags, vec!["rental".to_owned()]);
    let n: Household = c.replica.document(&nid).expect("held").read()?;
    assert_eq!(n.notes, "首次走访");
    assert_eq!(n.tags, vec!["elderly".to_owned()]);
    let s2: Household = c.replica.document(&s2id).expect("held").read()?;
    assert_eq!((s2.notes.as_str(), s2.tags.len()), ("空置", 1));
    app.stop().await
}
