//! The supervisors' case actions not covered by `actions.rs`, each end to end through
//! `POST /v1/cases/{id}/actions`: approve and deny a delay the worker's phone asked for,
//! cancel, suspend and resume; verification, which is someone else's than the resolver's; and
//! the task list (`GET /v1/tasks`) that follows a case through them. For each: the 200 answer,
//! the state and deadline in the record detail, the event reaching the worker's phone through
//! sync, and an illegal use answered 409 with the reason.

use anyhow::Context;
use gridbook_tests::client::{Answer, get, post};
use gridbook_tests::{Phone, TestApp, TestUser};
use serde_json::{Value, json};
use sync_core::deadline::DAY_MS;
use sync_core::ids::DocId;
use sync_core::models::case::{Case, CaseAction};
use sync_core::record::Role;
use sync_core::time::Timestamp;
use sync_core::workflow::{self, CaseState};

use crate::support::{case, event, now, on_both_backends};

on_both_backends!(
    delay_cancel_suspend_and_resume_act_reach_the_phone_and_refuse_illegal_uses,
    verification_is_someone_elses_and_a_failed_one_restarts_the_handling_clock,
    the_task_list_shows_each_person_what_waits_for_them,
);

/// Working days an appeal may be handled (`DeadlinePolicy::default`).
const APPEAL_HANDLE_DAYS: i64 = 5;

async fn act(app: &TestApp, token: &str, id: &DocId, body: &Value) -> anyhow::Result<Answer> {
    post(app, token, &format!("/v1/cases/{id}/actions"), body).await
}

async fn detail(app: &TestApp, token: &str, id: &DocId) -> anyhow::Result<Value> {
    let a = get(app, token, &format!("/v1/records/{id}")).await?;
    anyhow::ensure!(a.status == 200, "detail: {} {}", a.status, a.text);
    Ok(a.body)
}

fn phone_case(phone: &Phone, id: &DocId) -> anyhow::Result<Case> {
    Ok(phone.replica.document(id).context("held")?.read()?)
}

fn instant(v: &Value) -> anyhow::Result<Timestamp> {
    v.as_str()
        .with_context(|| format!("not a time: {v}"))?
        .parse()
        .map_err(|e| anyhow::anyhow!("{v}: {e}"))
}

fn actions_of(detail: &Value) -> Vec<String> {
    detail["allowed_actions"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// A case the worker's phone reported now, accepted and dispatched to the worker by the
/// supervisor, and synced back to the phone.
async fn dispatched_case(
    app: &TestApp,
    phone: &mut Phone,
    worker: &TestUser,
    token: &str,
) -> anyhow::Result<DocId> {
    let t = now();
    let mut k = case(&app.grid_a(), &worker.id);
    k.opened_at = t;
    k.events[0].at = t;
    let id = phone.replica.create(&k, t)?;
    phone.sync(app).await?;
    for body in [
        json!({"action": "accept"}),
        json!({"action": "dispatch", "assignee": worker.id}),
    ] {
        let a = act(app, token, &id, &body).await?;
        anyhow::ensure!(a.status == 200, "{body}: {}", a.text);
    }
    phone.sync(app).await?;
    Ok(id)
}

/// Where the case stands before the action under test.
#[derive(Clone, Copy)]
enum Before {
    /// Dispatched to the worker.
    Dispatched,
    /// Dispatched, and the worker's phone asked for this many more working days.
    DelayRequested(u32),
    /// Dispatched, then suspended by the supervisor.
    Suspended,
}

/// One action: what it is taken on, the body, the state it leads to, a use that must be
/// refused before it (status, code, words of the message) and one that must be refused
/// after it.
struct Row {
    before: Before,
    body: Value,
    state: &'static str,
    refused_before: (Value, u16, &'static str, &'static [&'static str]),
    refused_after: (Value, &'static [&'static str]),
}

fn rows() -> Vec<Row> {
    vec![
        Row {
            before: Before::DelayRequested(3),
            body: json!({"action": "approve_delay", "note": "同意延期"}),
            state: "in_progress",
            refused_before: (
                json!({"action": "request_delay", "delay_days": 3}),
                409,
                "illegal_action",
                &["community_supervisor may not request_delay"],
            ),
            refused_after: (
                json!({"action": "approve_delay"}),
                &["no delay request waiting"],
            ),
        },
        Row {
            before: Before::DelayRequested(4),
            body: json!({"action": "deny_delay", "note": "请按期办结"}),
            state: "in_progress",
            refused_before: (
                json!({"action": "deny_delay"}),
                422,
                "bad_payload",
                &["deny_delay requires a reason"],
            ),
            refused_after: (
                json!({"action": "deny_delay", "note": "再次驳回"}),
                &["no delay request waiting"],
            ),
        },
        Row {
            before: Before::Dispatched,
            body: json!({"action": "cancel", "note": "居民已撤回诉求"}),
            state: "cancelled",
            refused_before: (
                json!({"action": "approve_delay"}),
                409,
                "illegal_action",
                &["no delay request waiting"],
            ),
            refused_after: (
                json!({"action": "resume"}),
                &["cancelled", "final", "only comments"],
            ),
        },
        Row {
            before: Before::Dispatched,
            body: json!({"action": "suspend", "note": "等待产权单位答复"}),
            state: "suspended",
            refused_before: (
                json!({"action": "resume"}),
                409,
                "illegal_action",
                &["resume is not possible while the case is in_progress"],
            ),
            refused_after: (
                json!({"action": "suspend"}),
                &["suspend is not possible while the case is suspended"],
            ),
        },
        Row {
            before: Before::Suspended,
            body: json!({"action": "resume"}),
            state: "in_progress",
            refused_before: (
                json!({"action": "accept"}),
                409,
                "illegal_action",
                &["accept is not possible while the case is suspended"],
            ),
            refused_after: (
                json!({"action": "resume"}),
                &["resume is not possible while the case is in_progress"],
            ),
        },
    ]
}

async fn delay_cancel_suspend_and_resume_act_reach_the_phone_and_refuse_illegal_uses(
    app: TestApp,
) -> anyhow::Result<()> {
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let sup = app
        .user("sup-a", Role::CommunitySupervisor, app.grid_a())
        .await?;
    let s = app.login(&sup).await?;
    let token = s.access_token.as_str();
    let mut phone = app.phone(&li).await?;

    for row in rows() {
        let action = row.body["action"].as_str().unwrap_or_default().to_owned();
        let id = dispatched_case(&app, &mut phone, &li, token).await?;
        match row.before {
            Before::Dispatched => {}
            Before::DelayRequested(days) => {
                let t = now();
                phone.replica.update(&id, t, |k: &mut Case| {
                    let mut e = event(&li.id, Role::GridWorker, CaseAction::RequestDelay, t);
                    e.delay_days = Some(days);
                    e.note = Some("需要协调物业".into());
                    k.events.push(e);
                })?;
                phone.sync(&app).await?;
                let d = detail(&app, token, &id).await?;
                assert_eq!(
                    d["case_status"]["pending_delay"]["days"], days,
                    "{action}: {d}"
                );
                assert!(actions_of(&d).contains(&action), "{action}: {d}");
            }
            Before::Suspended => {
                let a = act(&app, token, &id, &json!({"action": "suspend"})).await?;
                assert_eq!(a.status, 200, "{}", a.text);
                phone.sync(&app).await?;
            }
        }
        let before = detail(&app, token, &id).await?;

        // A use refused before the action stores nothing.
        let changes = app.change_count().await?;
        let (body, status, code, words) = &row.refused_before;
        let a = act(&app, token, &id, body).await?;
        assert_eq!((a.status, a.code()), (*status, *code), "{body}: {}", a.text);
        let message = a.body["error"]["message"].as_str().unwrap_or_default();
        for word in *words {
            assert!(
                message.contains(word),
                "{action}: {word} missing from {message}"
            );
        }
        assert_eq!(app.change_count().await?, changes, "{body}: nothing stored");

        // The action.
        let a = act(&app, token, &id, &row.body).await?;
        assert_eq!(a.status, 200, "{action}: {}", a.text);
        assert_eq!(a.body["id"], id.to_string());
        assert_eq!(a.body["event"]["action"], action.as_str());
        assert_eq!(a.body["event"]["actor"], sup.id.to_string());
        assert_eq!(a.body["event"]["role"], "community_supervisor");
        assert_eq!(a.body["event"]["note"], row.body["note"]);
        assert_eq!(a.body["case_status"]["state"], row.state, "{action}");
        let event_id = a.body["event"]["id"]
            .as_str()
            .context("event id")?
            .to_owned();

        // The record detail: state, deadline and what may be done next.
        let d = detail(&app, token, &id).await?;
        let st = &d["case_status"];
        assert_eq!(st["state"], row.state, "{action}: {d}");
        assert_eq!(d["record"]["events"].as_array().map(Vec::len), {
            let n = before["record"]["events"].as_array().map_or(0, Vec::len);
            Some(n + 1)
        });
        let dl = &d["deadline"];
        let budget = |days: i64| json!(days * DAY_MS);
        match action.as_str() {
            "approve_delay" => {
                assert_eq!(st["pending_delay"], Value::Null, "{d}");
                assert_eq!(st["approved_delay_days"], 3, "{d}");
                assert_eq!(dl["step"], "handle", "{d}");
                assert_eq!(dl["budget_ms"], budget(APPEAL_HANDLE_DAYS + 3), "{d}");
                let steps = st["steps"].as_array().context("steps")?;
                assert_eq!(steps.last().map(|s| &s["extra_days"]), Some(&json!(3)));
                // Three more working days are at least three more calendar days.
                let (was, is) = (
                    instant(&before["deadline"]["due_at"])?,
                    instant(&dl["due_at"])?,
                );
                assert!(is.millis() >= was.millis() + 3 * DAY_MS, "{was} -> {is}");
            }
            "deny_delay" => {
                assert_eq!(st["pending_delay"], Value::Null, "{d}");
                assert_eq!(st["approved_delay_days"], 0, "{d}");
                assert_eq!(dl["budget_ms"], budget(APPEAL_HANDLE_DAYS), "{d}");
                assert_eq!(dl["due_at"], before["deadline"]["due_at"], "{d}");
            }
            "cancel" => {
                assert_eq!(dl, &Value::Null, "no deadline once cancelled: {d}");
                assert_eq!(actions_of(&d), ["comment"], "{d}");
                let steps = st["steps"].as_array().context("steps")?;
                assert!(steps.iter().all(|s| s["ended_at"].is_string()), "{d}");
            }
            "suspend" => {
                assert_eq!(st["suspended_from"], "in_progress", "{d}");
                assert_eq!(dl["paused"], true, "{d}");
                assert_eq!(dl["step"], "handle", "{d}");
                assert!(actions_of(&d).contains(&"resume".to_owned()), "{d}");
                assert!(!actions_of(&d).contains(&"suspend".to_owned()), "{d}");
            }
            "resume" => {
                assert_eq!(st["suspended_from"], Value::Null, "{d}");
                assert_eq!(dl["paused"], false, "{d}");
                assert_eq!(dl["step"], "handle", "{d}");
                let pause = &st["steps"]
                    .as_array()
                    .context("steps")?
                    .last()
                    .context("a step")?["paused"][0];
                assert!(pause[0].is_string() && pause[1].is_string(), "{d}");
            }
            other => anyhow::bail!("no checks for {other}"),
        }
        let listed = get(&app, token, &format!("/v1/cases?state={}", row.state)).await?;
        assert!(
            listed.text.contains(&id.to_string()),
            "{action}: {}",
            listed.text
        );

        // The worker's phone gets the event and folds the same state.
        phone.sync(&app).await?;
        let k = phone_case(&phone, &id)?;
        let last = k.events.last().context("events")?;
        assert_eq!(
            (last.id.to_string(), last.action.as_str(), &last.actor),
            (event_id, action.as_str(), &sup.id)
        );
        let folded = workflow::fold(&k);
        assert_eq!(folded.state.as_str(), row.state, "{action} on the phone");
        assert!(folded.illegal.is_empty(), "{:?}", folded.illegal);
        assert_eq!(
            json!(folded),
            d["case_status"],
            "phone and server fold alike"
        );

        // A use refused after the action: 409 with the reason, nothing stored.
        let changes = app.change_count().await?;
        let (body, words) = &row.refused_after;
        let a = act(&app, token, &id, body).await?;
        assert_eq!(
            (a.status, a.code()),
            (409, "illegal_action"),
            "{body}: {}",
            a.text
        );
        let message = a.body["error"]["message"].as_str().unwrap_or_default();
        for word in [
            "community_supervisor",
            body["action"].as_str().unwrap_or("?"),
        ]
        .into_iter()
        .chain(words.iter().copied())
        {
            assert!(
                message.contains(word),
                "{action}: {word} missing from {message}"
            );
        }
        assert_eq!(app.change_count().await?, changes, "{body}: nothing stored");
    }
    app.stop().await
}

async fn verification_is_someone_elses_and_a_failed_one_restarts_the_handling_clock(
    app: TestApp,
) -> anyhow::Result<()> {
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let sup = app
        .user("sup-a", Role::CommunitySupervisor, app.grid_a())
        .await?;
    let street = app
        .user("street", Role::StreetSupervisor, app.grid_a())
        .await?;
    let s = app.login(&sup).await?;
    let st = app.login(&street).await?;
    let mut phone = app.phone(&li).await?;
    let id = dispatched_case(&app, &mut phone, &li, &s.access_token).await?;
    let t = now();
    phone.replica.update(&id, t, |k: &mut Case| {
        k.events
            .push(event(&li.id, Role::GridWorker, CaseAction::Resolve, t));
    })?;
    phone.sync(&app).await?;
    let d = detail(&app, &s.access_token, &id).await?;
    assert_eq!(d["case_status"]["state"], "resolved", "{d}");
    assert_eq!(
        d["case_status"]["resolution"]["actor"],
        li.id.to_string(),
        "{d}"
    );
    assert_eq!(d["deadline"]["step"], "verify", "{d}");
    for action in ["verify_pass", "verify_fail"] {
        assert!(actions_of(&d).contains(&action.to_owned()), "{action}: {d}");
    }

    // The resolver's own verification, written on their phone by a client that skipped the
    // check, is stored (nothing a phone sent is lost) but the fold refuses it: the case stays
    // resolved and the verification waits in the conflict inbox.
    let t1 = now();
    phone.replica.update(&id, t1, |k: &mut Case| {
        k.events
            .push(event(&li.id, Role::GridWorker, CaseAction::VerifyPass, t1));
    })?;
    phone.sync(&app).await?;
    let d = detail(&app, &s.access_token, &id).await?;
    assert_eq!(d["case_status"]["state"], "resolved", "{d}");
    let illegal = d["case_status"]["illegal"].as_array().context("illegal")?;
    assert_eq!(illegal.len(), 1, "{d}");
    assert_eq!(illegal[0]["action"], "verify_pass", "{d}");
    let reason = illegal[0]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("someone other than who resolved it"),
        "{reason}"
    );

    // The community supervisor checks by calling back and sends it back, with a fresh
    // handling clock.
    let t2 = now();
    let a = act(
        &app,
        &s.access_token,
        &id,
        &json!({"action": "verify_fail", "note": "回访发现问题仍在"}),
    )
    .await?;
    assert_eq!(a.status, 200, "{}", a.text);
    let d = detail(&app, &s.access_token, &id).await?;
    let cs = &d["case_status"];
    assert_eq!(cs["state"], "in_progress", "{d}");
    assert_eq!(cs["reopened"], 1, "{d}");
    assert_eq!(cs["assignee"], li.id.to_string(), "{d}");
    assert_eq!(cs["illegal"].as_array().map(Vec::len), Some(1), "{d}");
    let dl = &d["deadline"];
    assert_eq!(dl["step"], "handle", "{d}");
    assert_eq!(dl["budget_ms"], json!(APPEAL_HANDLE_DAYS * DAY_MS), "{d}");
    assert!(instant(&dl["started_at"])?.millis() >= t2.millis(), "{d}");
    let steps = cs["steps"].as_array().context("steps")?;
    let names: Vec<&str> = steps.iter().filter_map(|s| s["step"].as_str()).collect();
    assert_eq!(names, ["accept", "handle", "verify", "handle"], "{d}");
    let listed = get(&app, &s.access_token, "/v1/cases?state=in_progress").await?;
    assert_eq!(listed.body["total"], 1, "{}", listed.text);
    assert_eq!(listed.body["items"][0]["reopened"], 1, "{}", listed.text);

    // Now closing is illegal (409 naming the state); resolving again is the supervisor's
    // to take, and reaches the phone.
    let a = act(&app, &s.access_token, &id, &json!({"action": "close"})).await?;
    assert_eq!((a.status, a.code()), (409, "illegal_action"), "{}", a.text);
    let message = a.body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("close is not possible while the case is in_progress"),
        "{message}"
    );
    let a = act(&app, &s.access_token, &id, &json!({"action": "resolve"})).await?;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["case_status"]["state"], "resolved");
    phone.sync(&app).await?;
    let folded = workflow::fold(&phone_case(&phone, &id)?);
    assert_eq!(folded.state, CaseState::Resolved);
    assert_eq!(folded.reopened, 1);

    // Having resolved it, the community supervisor may not verify it (409, nothing stored);
    // the street supervisor may, and the community closes it.
    let changes = app.change_count().await?;
    let own = act(
        &app,
        &s.access_token,
        &id,
        &json!({"action": "verify_pass"}),
    )
    .await?;
    assert_eq!(
        (own.status, own.code()),
        (409, "illegal_action"),
        "{}",
        own.text
    );
    assert!(
        own.text.contains("someone other than who resolved it"),
        "{}",
        own.text
    );
    assert_eq!(app.change_count().await?, changes, "nothing stored");
    let a = act(
        &app,
        &st.access_token,
        &id,
        &json!({"action": "verify_pass"}),
    )
    .await?;
    assert_eq!(a.body["case_status"]["state"], "verified", "{}", a.text);
    let a = act(&app, &s.access_token, &id, &json!({"action": "close"})).await?;
    assert_eq!(a.body["case_status"]["state"], "closed", "{}", a.text);
    app.stop().await
}

/// `(case, action)` of the caller's task list.
async fn task_list(app: &TestApp, token: &str) -> anyhow::Result<Vec<(String, String)>> {
    let a = get(app, token, "/v1/tasks").await?;
    anyhow::ensure!(a.status == 200, "tasks: {} {}", a.status, a.text);
    Ok(a.body["items"]
        .as_array()
        .context("items")?
        .iter()
        .map(|t| {
            (
                t["case"].as_str().unwrap_or_default().to_owned(),
                t["action"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect())
}

async fn the_task_list_shows_each_person_what_waits_for_them(app: TestApp) -> anyhow::Result<()> {
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let sup = app
        .user("sup-a", Role::CommunitySupervisor, app.grid_a())
        .await?;
    let street = app
        .user("street", Role::StreetSupervisor, app.grid_a())
        .await?;
    let liaison = app
        .user_in_group("lh", Role::Liaison, app.grid_a(), Some("lg-1".parse()?))
        .await?;
    let other = app
        .user("sup-b", Role::CommunitySupervisor, app.grid_b())
        .await?;
    let (s, st, w) = (
        app.login(&sup).await?,
        app.login(&street).await?,
        app.login(&li).await?,
    );
    let mut phone = app.phone(&li).await?;
    let t = now();
    let mut k = case(&app.grid_a(), &li.id);
    k.opened_at = t;
    k.events[0].at = t;
    let id = phone.replica.create(&k, t)?;
    phone.sync(&app).await?;
    let it = |action: &str| (id.to_string(), action.to_owned());

    // Reported: the community accepts; nothing for the worker, the street or another
    // community.
    assert_eq!(task_list(&app, &s.access_token).await?, [it("accept")]);
    assert!(task_list(&app, &w.access_token).await?.is_empty());
    assert!(task_list(&app, &st.access_token).await?.is_empty());
    let o = app.login(&other).await?;
    assert!(task_list(&app, &o.access_token).await?.is_empty());
    let l = app.login(&liaison).await?;
    let refused = get(&app, &l.access_token, "/v1/tasks").await?;
    assert_eq!(
        (refused.status, refused.code()),
        (403, "forbidden"),
        "{}",
        refused.text
    );

    // Dispatched to the worker: it waits for them, with its deadline level.
    act(&app, &s.access_token, &id, &json!({"action": "accept"})).await?;
    assert_eq!(task_list(&app, &s.access_token).await?, [it("dispatch")]);
    act(
        &app,
        &s.access_token,
        &id,
        &json!({"action": "dispatch", "assignee": li.id}),
    )
    .await?;
    assert!(task_list(&app, &s.access_token).await?.is_empty());
    assert_eq!(task_list(&app, &w.access_token).await?, [it("resolve")]);
    let a = get(&app, &w.access_token, "/v1/tasks").await?;
    assert_eq!(a.body["items"][0]["level"], "on_time", "{}", a.text);
    assert_eq!(a.body["items"][0]["supervision"], Value::Null, "{}", a.text);

    // Resolved by the worker: the community verifies (not the worker), then closes.
    phone.sync(&app).await?;
    let t2 = now();
    phone.replica.update(&id, t2, |k: &mut Case| {
        k.events
            .push(event(&li.id, Role::GridWorker, CaseAction::Resolve, t2));
    })?;
    phone.sync(&app).await?;
    assert!(task_list(&app, &w.access_token).await?.is_empty());
    assert_eq!(task_list(&app, &s.access_token).await?, [it("verify_pass")]);
    act(
        &app,
        &s.access_token,
        &id,
        &json!({"action": "verify_pass"}),
    )
    .await?;
    assert_eq!(task_list(&app, &s.access_token).await?, [it("close")]);
    act(&app, &s.access_token, &id, &json!({"action": "close"})).await?;
    assert!(task_list(&app, &s.access_token).await?.is_empty());
    app.stop().await
}
