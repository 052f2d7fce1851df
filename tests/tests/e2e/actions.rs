//! Supervisors' case actions and the conflict inbox: server-authored Automerge changes under the
//! supervisor's identity, written through the sync pipeline and synced down to the phones.

use anyhow::Context;
use gridbook_tests::client::{Answer, get, post};
use gridbook_tests::{Phone, TestApp};
use serde_json::{Value, json};
use sync_core::ids::DocId;
use sync_core::models::HouseholdPrivate;
use sync_core::models::case::{Case, CaseAction};
use sync_core::record::Role;
use sync_core::workflow::{self, CaseState};

use crate::support::{at, case, create_household, event, household, on_both_backends};

on_both_backends!(
    a_case_moves_supervisor_phone_supervisor_through_sync,
    illegal_actions_are_409_with_the_reason_and_store_nothing,
    only_supervisors_in_scope_act_and_read_the_inbox,
    a_conflict_is_resolved_by_choice_and_the_phones_converge,
    an_event_made_illegal_by_a_merge_is_in_the_inbox_until_acknowledged,
);

async fn act(app: &TestApp, token: &str, id: &DocId, body: Value) -> anyhow::Result<Answer> {
    post(app, token, &format!("/v1/cases/{id}/actions"), &body).await
}

fn phone_case(phone: &Phone, id: &DocId) -> anyhow::Result<Case> {
    Ok(phone.replica.document(id).context("held")?.read()?)
}

async fn a_case_moves_supervisor_phone_supervisor_through_sync(app: TestApp) -> anyhow::Result<()> {
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let sup = app
        .user("sup-a", Role::CommunitySupervisor, app.grid_a())
        .await?;
    let admin = app.user("admin", Role::Admin, app.grid_a()).await?;
    let mut phone = app.phone(&li).await?;
    let cid = phone.replica.create(&case(&app.grid_a(), &li.id), at(0))?;
    phone.sync(&app).await?;

    let s = app.login(&sup).await?;
    let a = act(&app, &s.access_token, &cid, json!({"action": "accept"})).await?;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["case_status"]["state"], "accepted");
    assert_eq!(a.body["event"]["action"], "accept");
    assert_eq!(a.body["event"]["actor"], sup.id.to_string());
    let a = act(
        &app,
        &s.access_token,
        &cid,
        json!({"action": "dispatch", "assignee": li.id, "note": "请今天上门"}),
    )
    .await?;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["case_status"]["state"], "in_progress");
    assert_eq!(a.body["case_status"]["assignee"], li.id.to_string());

    // The worker's phone gets both events, made by the supervisor's device.
    phone.sync(&app).await?;
    let k = phone_case(&phone, &cid)?;
    let status = workflow::fold(&k);
    assert_eq!(status.state, CaseState::InProgress);
    assert_eq!(status.assignee.as_ref(), Some(&li.id));
    let doc = phone.replica.document(&cid).context("held")?;
    let devices: Vec<_> = sync_core::history::history(doc)
        .into_iter()
        .filter_map(|e| e.by.device)
        .collect();
    assert!(devices.contains(&s.device), "{devices:?}");

    // Resolved offline, synced. Closing needs a verification first; the supervisor checks by
    // calling back (someone other than the resolver), then closes; the phone sees it closed.
    phone.replica.update(&cid, at(30), |k: &mut Case| {
        k.events
            .push(event(&li.id, Role::GridWorker, CaseAction::Resolve, at(30)));
    })?;
    phone.sync(&app).await?;
    let early = act(&app, &s.access_token, &cid, json!({"action": "close"})).await?;
    assert_eq!(
        (early.status, early.code()),
        (409, "illegal_action"),
        "{}",
        early.text
    );
    assert!(early.text.contains("only when verified"), "{}", early.text);
    let a = act(
        &app,
        &s.access_token,
        &cid,
        json!({"action": "verify_pass"}),
    )
    .await?;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["case_status"]["state"], "verified");
    assert_eq!(a.body["event"]["device"], json!(s.device), "{}", a.text);
    let a = act(&app, &s.access_token, &cid, json!({"action": "close"})).await?;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["case_status"]["state"], "closed");
    phone.sync(&app).await?;
    assert_eq!(
        workflow::fold(&phone_case(&phone, &cid)?).state,
        CaseState::Closed
    );
    let listed = get(&app, &s.access_token, "/v1/cases?state=closed").await?;
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert_eq!(listed.body["total"], 1, "{}", listed.text);

    // Every action is audited.
    let ad = app.login(&admin).await?;
    let log = get(
        &app,
        &ad.access_token,
        &format!("/v1/admin/audit?action=case_action&record={cid}"),
    )
    .await?;
    assert_eq!(log.status, 200, "{}", log.text);
    assert_eq!(log.body["total"], 4, "{}", log.text);
    let actions: Vec<&str> = log.body["items"]
        .as_array()
        .context("items")?
        .iter()
        .filter_map(|i| i["detail"]["action"].as_str())
        .collect();
    assert_eq!(actions, ["close", "verify_pass", "dispatch", "accept"]);
    app.stop().await
}

async fn illegal_actions_are_409_with_the_reason_and_store_nothing(
    app: TestApp,
) -> anyhow::Result<()> {
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let ma = app.user("ma", Role::GridWorker, app.grid_a2()).await?;
    let sup = app
        .user("sup-a", Role::CommunitySupervisor, app.grid_a())
        .await?;
    let mut phone = app.phone(&li).await?;
    let cid = phone.replica.create(&case(&app.grid_a(), &li.id), at(0))?;
    let hid = phone
        .replica
        .create(&household(&app.grid_a(), "1"), at(1))?;
    phone.sync(&app).await?;
    let s = app.login(&sup).await?;
    let changes = app.change_count().await?;

    let a = act(&app, &s.access_token, &cid, json!({"action": "close"})).await?;
    assert_eq!((a.status, a.code()), (409, "illegal_action"), "{}", a.text);
    let message = a.body["error"]["message"].as_str().unwrap_or_default();
    for word in ["community_supervisor", "close", "reported"] {
        assert!(message.contains(word), "{word} missing from {message}");
    }
    for (body, status, code) in [
        (json!({"action": "verify_pass"}), 409, "illegal_action"),
        (
            json!({"action": "supervise", "level": "red"}),
            409,
            "illegal_action",
        ),
        (json!({"action": "reject"}), 422, "bad_payload"),
        (json!({"action": "fly"}), 422, "bad_action"),
        (
            json!({"action": "supervise", "level": "orange"}),
            422,
            "bad_payload",
        ),
        (json!({"note": "x"}), 400, "malformed"),
    ] {
        let a = act(&app, &s.access_token, &cid, body.clone()).await?;
        assert_eq!((a.status, a.code()), (status, code), "{body}: {}", a.text);
    }
    // Not a case; no such record.
    let a = act(&app, &s.access_token, &hid, json!({"action": "accept"})).await?;
    assert_eq!((a.status, a.code()), (409, "not_a_case"), "{}", a.text);
    let a = act(
        &app,
        &s.access_token,
        &DocId::new(),
        json!({"action": "accept"}),
    )
    .await?;
    assert_eq!(a.status, 404, "{}", a.text);
    assert_eq!(app.change_count().await?, changes, "nothing stored");

    // An assignee from another grid is refused; nothing stored for that either.
    let a = act(&app, &s.access_token, &cid, json!({"action": "accept"})).await?;
    assert_eq!(a.status, 200, "{}", a.text);
    let changes = app.change_count().await?;
    for assignee in [ma.id.to_string(), sup.id.to_string()] {
        let a = act(
            &app,
            &s.access_token,
            &cid,
            json!({"action": "dispatch", "assignee": assignee}),
        )
        .await?;
        assert_eq!((a.status, a.code()), (422, "bad_assignee"), "{}", a.text);
    }
    let a = act(&app, &s.access_token, &cid, json!({"action": "accept"})).await?;
    assert_eq!((a.status, a.code()), (409, "illegal_action"), "{}", a.text);
    assert_eq!(app.change_count().await?, changes, "nothing stored");
    phone.sync(&app).await?;
    assert_eq!(
        workflow::fold(&phone_case(&phone, &cid)?).state,
        CaseState::Accepted
    );
    app.stop().await
}

async fn only_supervisors_in_scope_act_and_read_the_inbox(app: TestApp) -> anyhow::Result<()> {
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let other = app
        .user("sup-b", Role::CommunitySupervisor, app.grid_b())
        .await?;
    let street = app
        .user("street", Role::StreetSupervisor, app.grid_b())
        .await?;
    let admin = app.user("admin", Role::Admin, app.grid_a()).await?;
    let mut phone = app.phone(&li).await?;
    let cid = phone.replica.create(&case(&app.grid_a(), &li.id), at(0))?;
    phone.sync(&app).await?;
    let changes = app.change_count().await?;

    let w = &phone.session.access_token;
    let a = act(&app, w, &cid, json!({"action": "accept"})).await?;
    assert_eq!(a.status, 403, "{}", a.text);
    for token in [
        app.login(&other).await?.access_token,
        app.login(&admin).await?.access_token,
    ] {
        let a = act(&app, &token, &cid, json!({"action": "accept"})).await?;
        assert_eq!(a.status, 403, "{}", a.text);
        let a = get(&app, &token, &format!("/v1/conflicts/{cid}")).await?;
        assert_eq!(a.status, 403, "{}", a.text);
    }
    let a = get(&app, w, "/v1/conflicts").await?;
    assert_eq!(a.status, 403, "{}", a.text);
    assert_eq!(app.change_count().await?, changes);

    // The street supervisor reaches every community and may escalate-level actions.
    let st = app.login(&street).await?;
    let a = act(&app, &st.access_token, &cid, json!({"action": "escalate"})).await?;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["case_status"]["escalated"], true);
    let a = act(
        &app,
        &st.access_token,
        &cid,
        json!({"action": "supervise", "level": "yellow"}),
    )
    .await?;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["case_status"]["supervision"], "yellow");
    app.stop().await
}

async fn a_conflict_is_resolved_by_choice_and_the_phones_converge(
    app: TestApp,
) -> anyhow::Result<()> {
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let sup = app
        .user("sup-a", Role::CommunitySupervisor, app.grid_a())
        .await?;
    let other = app
        .user("sup-b", Role::CommunitySupervisor, app.grid_b())
        .await?;
    let mut p1 = app.phone(&li).await?;
    let mut p2 = app.phone(&li).await?;
    let home = create_household(&mut p1, &app.grid_a(), "301", at(0))?;
    p1.sync(&app).await?;
    p2.sync(&app).await?;
    // A phone number lives in the household's private document: the conflict is its.
    let hid = HouseholdPrivate::id_for(&home);
    p1.replica
        .update(&hid, at(10), |p: &mut HouseholdPrivate| {
            p.residents[0].phone = Some("13655556666".into());
        })?;
    p2.replica
        .update(&hid, at(11), |p: &mut HouseholdPrivate| {
            p.residents[0].phone = Some("13577778888".into());
        })?;
    p1.sync(&app).await?;
    p2.sync(&app).await?;

    let s = app.login(&sup).await?;
    let inbox = get(&app, &s.access_token, "/v1/conflicts").await?;
    assert_eq!(inbox.status, 200, "{}", inbox.text);
    assert_eq!(inbox.body["total"], 1, "{}", inbox.text);
    let item = &inbox.body["items"][0];
    assert_eq!(item["id"], hid.to_string());
    assert_eq!(item["kind"], "household_private");
    assert_eq!(item["grid"], "ca-1");
    assert_eq!(item["fields"], 1);
    assert_eq!(item["illegal_events"], 0);
    let filtered = get(&app, &s.access_token, "/v1/conflicts?kind=case").await?;
    assert_eq!(filtered.body["total"], 0, "{}", filtered.text);
    let theirs = get(
        &app,
        &app.login(&other).await?.access_token,
        "/v1/conflicts",
    )
    .await?;
    assert_eq!(theirs.body["total"], 0, "{}", theirs.text);

    let path = format!("/v1/conflicts/{hid}");
    let report = get(&app, &s.access_token, &path).await?;
    assert_eq!(report.status, 200, "{}", report.text);
    for secret in ["13655556666", "13577778888"] {
        assert!(!report.text.contains(secret), "{secret} unmasked");
    }
    let field = &report.body["fields"][0];
    assert_eq!(field["field"], "residents[0].phone");
    let values = field["values"].as_array().context("values")?;
    assert_eq!(values.len(), 2);
    for v in values {
        assert_eq!(v["user"]["login"], "li", "{v}");
        assert!(v["at"].is_string(), "{v}");
        assert!(v["device"].is_string(), "{v}");
    }
    // Pick the value listed second, without seeing it.
    let masked = values[1]["value"].as_str().context("masked")?;
    let chosen = if masked.ends_with("6666") {
        "13655556666"
    } else {
        "13577778888"
    };
    let resolve = format!("/v1/conflicts/{hid}/resolve");
    for (body, status, code) in [
        (
            json!({"field": "residents[0].phone", "choice": 2}),
            422,
            "bad_choice",
        ),
        (
            json!({"field": "residents[0].phone", "choice": 0, "value": "1"}),
            422,
            "bad_choice",
        ),
        (
            json!({"field": "residents[0].name", "choice": 0}),
            409,
            "not_in_conflict",
        ),
        (
            json!({"field": "residents[0]..x", "choice": 0}),
            422,
            "bad_field",
        ),
    ] {
        let a = post(&app, &s.access_token, &resolve, &body).await?;
        assert_eq!((a.status, a.code()), (status, code), "{body}: {}", a.text);
    }
    let a = post(
        &app,
        &s.access_token,
        &resolve,
        &json!({"field": "residents[0].phone", "choice": 1}),
    )
    .await?;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["fields"], json!([]), "{}", a.text);
    assert!(!a.text.contains(chosen));
    let again = post(
        &app,
        &s.access_token,
        &resolve,
        &json!({"field": "residents[0].phone", "choice": 1}),
    )
    .await?;
    assert_eq!((again.status, again.code()), (409, "not_in_conflict"));
    let inbox = get(&app, &s.access_token, "/v1/conflicts").await?;
    assert_eq!(inbox.body["total"], 0, "{}", inbox.text);
    assert_eq!(
        app.projection(&hid).await?.context("stored")?["residents"][0]["phone"],
        chosen
    );

    // Both phones converge on the chosen value, with no conflict left.
    for phone in [&mut p1, &mut p2] {
        phone.sync(&app).await?;
        let doc = phone.replica.document(&hid).context("held")?;
        let p: HouseholdPrivate = doc.read()?;
        assert_eq!(p.residents[0].phone.as_deref(), Some(chosen));
        assert!(sync_core::conflicts::conflicts(doc).is_empty());
    }
    app.stop().await
}

async fn an_event_made_illegal_by_a_merge_is_in_the_inbox_until_acknowledged(
    app: TestApp,
) -> anyhow::Result<()> {
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let sup = app
        .user("sup-a", Role::CommunitySupervisor, app.grid_a())
        .await?;
    let mut phone = app.phone(&li).await?;
    let cid = phone.replica.create(&case(&app.grid_a(), &li.id), at(0))?;
    phone.sync(&app).await?;
    // Offline, the worker solves it on the spot; meanwhile the supervisor rejects it.
    phone.replica.update(&cid, at(5), |k: &mut Case| {
        k.events.push(event(
            &li.id,
            Role::GridWorker,
            CaseAction::QuickResolve,
            at(5),
        ));
    })?;
    let s = app.login(&sup).await?;
    let a = act(
        &app,
        &s.access_token,
        &cid,
        json!({"action": "reject", "note": "不属于受理范围"}),
    )
    .await?;
    assert_eq!(a.status, 200, "{}", a.text);
    let inbox = get(&app, &s.access_token, "/v1/conflicts").await?;
    assert_eq!(inbox.body["total"], 0, "{}", inbox.text);
    phone.sync(&app).await?;

    let inbox = get(&app, &s.access_token, "/v1/conflicts?kind=case").await?;
    assert_eq!(inbox.body["total"], 1, "{}", inbox.text);
    assert_eq!(inbox.body["items"][0]["id"], cid.to_string());
    assert_eq!(inbox.body["items"][0]["illegal_events"], 1);
    let report = get(&app, &s.access_token, &format!("/v1/conflicts/{cid}")).await?;
    assert_eq!(report.status, 200, "{}", report.text);
    let illegal = &report.body["illegal_events"][0];
    assert!(illegal["reason"].is_string(), "{}", report.text);
    assert!(
        ["li", "sup-a"].contains(&illegal["user"]["login"].as_str().unwrap_or_default()),
        "{}",
        report.text
    );

    // The supervisor reviews it: `acknowledge` naming the event. It stays in the log.
    let illegal_id = illegal["event"].as_str().context("event id")?.to_owned();
    let detail = get(&app, &s.access_token, &format!("/v1/records/{cid}")).await?;
    assert!(
        detail.body["allowed_actions"]
            .as_array()
            .is_some_and(|a| a.contains(&json!("acknowledge"))),
        "{}",
        detail.text
    );
    let submit_id = detail.body["record"]["events"][0]["id"].clone();
    for (body, status, code) in [
        (json!({"action": "acknowledge"}), 422, "bad_payload"),
        (
            json!({"action": "acknowledge", "target": "not-an-id"}),
            422,
            "bad_payload",
        ),
        (
            json!({"action": "acknowledge", "target": submit_id}),
            409,
            "illegal_action",
        ),
    ] {
        let refused = act(&app, &s.access_token, &cid, body.clone()).await?;
        assert_eq!((refused.status, refused.code()), (status, code), "{body}");
    }
    let note = "已电话核实：先办结后被驳回，以驳回为准";
    let a = act(
        &app,
        &s.access_token,
        &cid,
        json!({"action": "acknowledge", "target": illegal_id, "note": note}),
    )
    .await?;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["case_status"]["illegal"], json!([]), "{}", a.text);
    assert_eq!(a.body["case_status"]["state"], "not_filed");
    let reviewed = &a.body["case_status"]["acknowledged"][0];
    assert_eq!(reviewed["event"], illegal_id.as_str());
    assert_eq!(reviewed["acknowledged"]["note"], note);
    let inbox = get(&app, &s.access_token, "/v1/conflicts").await?;
    assert_eq!(inbox.body["total"], 0, "{}", inbox.text);
    let report = get(&app, &s.access_token, &format!("/v1/conflicts/{cid}")).await?;
    assert_eq!(report.body["illegal_events"], json!([]), "{}", report.text);
    let again = act(
        &app,
        &s.access_token,
        &cid,
        json!({"action": "acknowledge", "target": illegal_id}),
    )
    .await?;
    assert_eq!((again.status, again.code()), (409, "illegal_action"));

    // The phone gets the acknowledgement; the event it made is still in its log.
    phone.sync(&app).await?;
    let k: Case = phone.replica.document(&cid).context("held")?.read()?;
    assert!(k.events.iter().any(|e| e.id.to_string() == illegal_id));
    let last = k.events.last().context("events")?;
    assert_eq!(last.action, CaseAction::Acknowledge);
    assert_eq!(
        last.target.as_ref().map(ToString::to_string),
        Some(illegal_id)
    );
    let status = sync_core::workflow::fold(&k);
    assert!(status.illegal.is_empty());
    assert_eq!(status.acknowledged.len(), 1);
    app.stop().await
}
