//! Departments of the street (站所), on both backends: a case dispatched to a department (with
//! a co-handling one) reaches their staff's phones and no one else's; only the lead
//! department's staff resolve it, in their own department's name; the grid worker verifies and
//! the community closes; the figures count it per department; department staff read their
//! cases and nothing else.

use gridbook_tests::TestApp;
use gridbook_tests::client::{get, post, put};
use serde_json::json;
use sync_core::ids::DepartmentId;
use sync_core::models::case::{Case, CaseAction};
use sync_core::record::Role;

use crate::support::{case, event, now, on_both_backends};

on_both_backends!(
    a_department_handles_the_case_dispatched_to_it_and_nothing_else,
    an_administrator_sets_up_a_department_and_its_staff,
);

async fn an_administrator_sets_up_a_department_and_its_staff(app: TestApp) -> anyhow::Result<()> {
    let root = app.user("root", Role::Admin, app.grid_a()).await?;
    let admin = app.login(&root).await?;
    let saved = put(
        &app,
        &admin.access_token,
        "/v1/admin/departments/ajz",
        &json!({"name": "安全生产监督站", "street": "st"}),
    )
    .await?;
    assert_eq!(saved.status, 200, "{}", saved.text);
    assert_eq!(saved.body["street"], "st");
    let nowhere = put(
        &app,
        &admin.access_token,
        "/v1/admin/departments/ajz",
        &json!({"name": "安监站", "street": "nowhere"}),
    )
    .await?;
    assert_eq!(
        (nowhere.status, nowhere.code()),
        (422, "unknown_place"),
        "{}",
        nowhere.text
    );
    let staff = json!({"login": "inspector", "display_name": "安监员", "password": "a long enough password 42",
        "role": "department", "department": "ajz"});
    let created = post(&app, &admin.access_token, "/v1/admin/users", &staff).await?;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.body["department"], "ajz", "{}", created.text);
    assert_eq!(created.body["street"], "st", "{}", created.text);
    let mut without = staff.clone();
    without["login"] = json!("inspector2");
    without.as_object_mut().map(|o| o.remove("department"));
    let refused = post(&app, &admin.access_token, "/v1/admin/users", &without).await?;
    assert_eq!(refused.status, 422, "{}", refused.text);
    app.stop().await
}

async fn a_department_handles_the_case_dispatched_to_it_and_nothing_else(
    app: TestApp,
) -> anyhow::Result<()> {
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let wang = app.user("wang", Role::GridWorker, app.grid_a()).await?;
    let sup = app
        .user("sup", Role::CommunitySupervisor, app.grid_a())
        .await?;
    let police = app.department_user("officer", "pcs", "派出所").await?;
    let justice = app.department_user("clerk", "sfs", "司法所").await?;
    let housing = app.department_user("builder", "zjb", "住建办").await?;
    let pcs: DepartmentId = "pcs".parse()?;
    let sfs: DepartmentId = "sfs".parse()?;

    let mut w = app.phone(&li).await?;
    let t = now();
    let mut k = case(&app.grid_a(), &li.id);
    k.opened_at = t;
    k.events[0].at = t;
    let id = w.replica.create(&k, t)?;
    w.sync(&app).await?;

    // The community dispatches to the police, the judicial office co-handling; an unknown or
    // another street's department is refused.
    let s = app.login(&sup).await?;
    let path = format!("/v1/cases/{id}/actions");
    let act = |token: String, body: serde_json::Value| {
        let (app, path) = (&app, &path);
        async move { post(app, &token, path, &body).await }
    };
    let a = act(s.access_token.clone(), json!({"action": "accept"})).await?;
    assert_eq!(a.status, 200, "{}", a.text);
    let detail = get(&app, &s.access_token, &format!("/v1/records/{id}")).await?;
    let offered: Vec<&str> = detail.body["departments"]
        .as_array()
        .map(|d| d.iter().filter_map(|x| x["id"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(offered, ["pcs", "sfs", "zjb"], "{}", detail.text);
    let unknown = act(
        s.access_token.clone(),
        json!({"action": "dispatch", "department": "nowhere"}),
    )
    .await?;
    assert_eq!(
        (unknown.status, unknown.code()),
        (422, "bad_department"),
        "{}",
        unknown.text
    );
    let a = act(
        s.access_token.clone(),
        json!({"action": "dispatch", "department": "pcs", "co_departments": ["sfs"], "note": "涉及治安，请派出所牵头"}),
    )
    .await?;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["case_status"]["department"], "pcs");

    // The police and the co-handlers hold it; housing does not.
    let mut officer = app.phone(&police).await?;
    let mut clerk = app.phone(&justice).await?;
    let mut builder = app.phone(&housing).await?;
    for phone in [&mut officer, &mut clerk, &mut builder] {
        phone.sync(&app).await?;
    }
    assert!(officer.replica.document(&id).is_some());
    assert!(clerk.replica.document(&id).is_some());
    assert!(
        builder.replica.doc_ids().is_empty(),
        "{:?}",
        builder.replica.doc_ids()
    );
    let o = app.login(&police).await?;
    let tasks = get(&app, &o.access_token, "/v1/tasks").await?;
    assert_eq!(
        tasks.body["items"][0]["action"], "resolve",
        "{}",
        tasks.text
    );
    let listed = get(&app, &o.access_token, "/v1/cases").await?;
    assert_eq!(listed.body["total"], 1, "{}", listed.text);
    let households = get(&app, &o.access_token, "/v1/households").await?;
    assert_eq!(households.status, 403, "{}", households.text);

    // Staff act in their own department's name only.
    let t1 = now();
    clerk.replica.update(&id, t1, |k: &mut Case| {
        let mut e = event(&justice.id, Role::Department, CaseAction::Comment, t1);
        e.department = Some(pcs.clone());
        k.events.push(e);
    })?;
    clerk.sync(&app).await?;
    assert_eq!(
        clerk.replica.rejection(&id).map(|e| e.code.as_str()),
        Some("invalid_record")
    );
    // The co-handler's resolution is refused by the workflow (kept as a conflict item).
    let mut clerk = app.phone(&justice).await?;
    clerk.sync(&app).await?;
    let t2 = now();
    clerk.replica.update(&id, t2, |k: &mut Case| {
        let mut e = event(&justice.id, Role::Department, CaseAction::Resolve, t2);
        e.department = Some(sfs.clone());
        k.events.push(e);
    })?;
    clerk.sync(&app).await?;
    officer.sync(&app).await?;
    let t3 = now();
    officer.replica.update(&id, t3, |k: &mut Case| {
        let mut e = event(&police.id, Role::Department, CaseAction::Resolve, t3);
        e.department = Some(pcs.clone());
        e.note = Some("已调解处理".into());
        k.events.push(e);
    })?;
    officer.sync(&app).await?;
    assert_eq!(officer.replica.rejection(&id), None);
    let detail = get(&app, &s.access_token, &format!("/v1/records/{id}")).await?;
    let status = &detail.body["case_status"];
    assert_eq!(status["state"], "resolved", "{}", detail.text);
    assert_eq!(status["resolution"]["actor"], police.id.to_string());
    assert_eq!(
        status["illegal"].as_array().map(Vec::len),
        Some(1),
        "{}",
        detail.text
    );

    // Another grid worker checks on site; the community closes; the figures count it for the
    // police, resolved on time.
    let mut v = app.phone(&wang).await?;
    v.sync(&app).await?;
    let t4 = now();
    v.replica.update(&id, t4, |k: &mut Case| {
        k.events.push(event(
            &wang.id,
            Role::GridWorker,
            CaseAction::VerifyPass,
            t4,
        ));
    })?;
    v.sync(&app).await?;
    let a = act(s.access_token.clone(), json!({"action": "close"})).await?;
    assert_eq!(a.body["case_status"]["state"], "closed", "{}", a.text);
    let figures = get(&app, &s.access_token, "/v1/figures").await?;
    let departments = figures.body["departments"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(departments.len(), 1, "{}", figures.text);
    assert_eq!(departments[0]["id"], "pcs");
    assert_eq!(departments[0]["name"], "派出所");
    assert_eq!(departments[0]["resolved"], 1);
    assert_eq!(departments[0]["on_time_rate"], 1.0);
    app.stop().await
}
