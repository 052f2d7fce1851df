//! What the web console needs from the server: its files (with a strict policy), a case's
//! actions, assignees, names and event sources, a household's related cases and visits, and
//! the cases-over-time figures.

use anyhow::Context;
use gridbook_server::db::Db;
use gridbook_tests::TestApp;
use gridbook_tests::client::{get, post};
use serde_json::json;
use sync_core::ids::DocId;
use sync_core::models::case::CaseAction;
use sync_core::models::visit::{Visit, VisitMethod};
use sync_core::record::Role;

use crate::support::{at, case, event, household, on_both_backends};

on_both_backends!(
    the_console_is_served_with_a_strict_content_security_policy,
    a_case_says_what_the_caller_may_do_to_whom_and_where_each_event_came_from,
    a_households_related_cases_and_visits_are_listed,
    the_timeline_counts_cases_opened_and_closed_per_bucket,
);

async fn the_console_is_served_with_a_strict_content_security_policy(
    app: TestApp,
) -> anyhow::Result<()> {
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let root = no_redirects.get(app.url("/")).send().await?;
    assert!(root.status().is_redirection(), "{}", root.status());
    assert_eq!(root.headers()["location"], "/console/");

    for (path, kind) in [
        ("/console/", "text/html"),
        ("/console/app.js", "text/javascript"),
        ("/console/i18n.js", "text/javascript"),
        ("/console/chart.js", "text/javascript"),
        ("/console/style.css", "text/css"),
    ] {
        let r = app.http.get(app.url(path)).send().await?;
        assert_eq!(r.status(), 200, "{path}");
        let headers = r.headers();
        assert!(
            headers["content-type"].to_str()?.starts_with(kind),
            "{path}"
        );
        let csp = headers["content-security-policy"].to_str()?;
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        // Photos are fetched with the token and shown through object URLs: `blob:` images,
        // nothing else widened.
        assert!(csp.contains("img-src 'self' data: blob:;"), "{path}: {csp}");
        assert!(csp.contains("connect-src 'self';"), "{path}: {csp}");
        assert!(csp.contains("default-src 'none'"), "{path}: {csp}");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert!(!r.text().await?.is_empty());
    }
    let missing = app.http.get(app.url("/console/secret.js")).send().await?;
    assert_eq!(missing.status(), 404);
    let body: serde_json::Value = missing.json().await?;
    assert_eq!(body["error"]["code"], "not_found");
    app.stop().await
}

async fn a_case_says_what_the_caller_may_do_to_whom_and_where_each_event_came_from(
    app: TestApp,
) -> anyhow::Result<()> {
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let sup = app
        .user("sup", Role::CommunitySupervisor, app.grid_a())
        .await?;
    let mut phone = app.phone(&li).await?;
    let c = case(&app.grid_a(), &li.id);
    let submit = c.events[0].id.to_string();
    let id = phone.replica.create(&c, at(0))?;
    phone.sync(&app).await?;
    let s = app.login(&sup).await?;
    let path = format!("/v1/records/{id}");

    let detail = get(&app, &s.access_token, &path).await?;
    assert_eq!(detail.status, 200, "{}", detail.text);
    let allowed: Vec<&str> = detail.body["allowed_actions"]
        .as_array()
        .context("allowed_actions")?
        .iter()
        .filter_map(|a| a.as_str())
        .collect();
    assert!(
        allowed.contains(&"accept") && allowed.contains(&"reject"),
        "{allowed:?}"
    );
    assert!(!allowed.contains(&"dispatch"), "{allowed:?}");
    assert!(
        !allowed.contains(&"resolve"),
        "a supervisor does not resolve: {allowed:?}"
    );
    assert_eq!(detail.body["assignees"], json!([]));
    assert_eq!(detail.body["people"][li.id.to_string()], "测试 li");
    let source = &detail.body["event_sources"][&submit];
    assert_eq!(
        source["device"],
        phone.session.device.to_string(),
        "{source}"
    );
    assert_eq!(source["device_name"], "test phone");
    assert_eq!(source["user"], li.id.to_string());
    // Reported months ago and never accepted: the accept step is overdue.
    assert_eq!(
        detail.body["deadline"]["level"], "red",
        "{}",
        detail.body["deadline"]
    );

    let accepted = post(
        &app,
        &s.access_token,
        &format!("/v1/cases/{id}/actions"),
        &json!({"action": "accept"}),
    )
    .await?;
    assert_eq!(accepted.status, 200, "{}", accepted.text);
    let detail = get(&app, &s.access_token, &path).await?;
    let allowed = detail.body["allowed_actions"].to_string();
    assert!(allowed.contains("\"dispatch\""), "{allowed}");
    assert_eq!(
        detail.body["assignees"],
        json!([{"id": li.id.to_string(), "login": "li", "display_name": "测试 li"}])
    );
    let accept_event = detail.body["record"]["events"][1]["id"]
        .as_str()
        .context("accept event")?
        .to_owned();
    let source = &detail.body["event_sources"][&accept_event];
    assert_eq!(source["device"], s.device.to_string(), "{source}");
    assert_eq!(source["user_name"], "测试 sup");

    // The grid worker reads the case but is offered no supervisor action.
    let w = app.login(&li).await?;
    let theirs = get(&app, &w.access_token, &path).await?;
    assert_eq!(theirs.status, 200, "{}", theirs.text);
    assert_eq!(theirs.body["allowed_actions"], json!([]));
    app.stop().await
}

async fn a_households_related_cases_and_visits_are_listed(app: TestApp) -> anyhow::Result<()> {
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let sup = app
        .user("sup", Role::CommunitySupervisor, app.grid_a())
        .await?;
    let mut phone = app.phone(&li).await?;
    let home = phone
        .replica
        .create(&household(&app.grid_a(), "101"), at(0))?;
    let neighbour = phone
        .replica
        .create(&household(&app.grid_a(), "102"), at(0))?;
    let mut own = case(&app.grid_a(), &li.id);
    own.household = Some(home.clone());
    let own_id = phone.replica.create(&own, at(1))?;
    let mut party = case(&app.grid_a(), &li.id);
    party.parties.push(sync_core::models::case::CaseParty {
        id: sync_core::ids::ItemId::new(),
        name: "王秀英".into(),
        household: Some(home.clone()),
        resident: None,
        role: sync_core::models::case::PartyRole::Respondent,
    });
    let party_id = phone.replica.create(&party, at(2))?;
    let unrelated = phone.replica.create(&case(&app.grid_a(), &li.id), at(3))?;
    let visit = phone.replica.create(
        &Visit {
            attachments: Vec::new(),
            id: DocId::new(),
            place: app.grid_a(),
            household: home.clone(),
            worker: li.id.clone(),
            at: at(4),
            method: VisitMethod::DoorToDoor,
            summary: "上门走访".into(),
            opened_cases: Vec::new(),
        },
        at(4),
    )?;
    phone.sync(&app).await?;
    let s = app.login(&sup).await?;

    let ids = |body: &serde_json::Value| -> Vec<String> {
        let mut ids: Vec<String> = body["items"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|i| i["id"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        ids.sort();
        ids
    };
    let cases = get(
        &app,
        &s.access_token,
        &format!("/v1/cases?household={home}"),
    )
    .await?;
    assert_eq!(cases.status, 200, "{}", cases.text);
    let mut expected = vec![own_id.to_string(), party_id.to_string()];
    expected.sort();
    assert_eq!(ids(&cases.body), expected);
    assert!(!cases.text.contains(unrelated.as_str()));
    let none = get(
        &app,
        &s.access_token,
        &format!("/v1/cases?household={neighbour}"),
    )
    .await?;
    assert_eq!(none.body["total"], 0, "{}", none.text);
    let visits = get(
        &app,
        &s.access_token,
        &format!("/v1/visits?household={home}"),
    )
    .await?;
    assert_eq!(ids(&visits.body), vec![visit.to_string()]);
    let bad = get(&app, &s.access_token, "/v1/cases?household=not-an-id").await?;
    assert_eq!(bad.status, 400, "{}", bad.text);
    assert_eq!(bad.code(), "malformed");

    // Rows indexed before migration 0007 have no households; migrating rebuilds them.
    let forget = "UPDATE case_index SET households = NULL";
    let forgotten = match app.db() {
        Db::Sqlite(pool) => sqlx::query(forget).execute(pool).await?.rows_affected(),
        Db::Postgres(pool) => sqlx::query(forget).execute(pool).await?.rows_affected(),
    };
    assert_eq!(forgotten, 3);
    let before = get(
        &app,
        &s.access_token,
        &format!("/v1/cases?household={home}"),
    )
    .await?;
    assert_eq!(before.body["total"], 0, "{}", before.text);
    app.db().migrate().await?;
    let after = get(
        &app,
        &s.access_token,
        &format!("/v1/cases?household={home}"),
    )
    .await?;
    assert_eq!(ids(&after.body), expected);
    app.stop().await
}

async fn the_timeline_counts_cases_opened_and_closed_per_bucket(
    app: TestApp,
) -> anyhow::Result<()> {
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let sup = app
        .user("sup", Role::CommunitySupervisor, app.grid_a())
        .await?;
    let other = app
        .user("other", Role::CommunitySupervisor, app.grid_b())
        .await?;
    let mut phone = app.phone(&li).await?;
    // One case solved on the spot, then closed by the supervisor now; one still open.
    let mut quick = case(&app.grid_a(), &li.id);
    quick.events.push(event(
        &li.id,
        Role::GridWorker,
        CaseAction::QuickResolve,
        at(5),
    ));
    let quick_id = phone.replica.create(&quick, at(5))?;
    phone.replica.create(&case(&app.grid_a(), &li.id), at(6))?;
    phone.sync(&app).await?;
    let s = app.login(&sup).await?;
    // Verified by the supervisor calling back, then closed.
    for action in ["verify_pass", "close"] {
        let done = post(
            &app,
            &s.access_token,
            &format!("/v1/cases/{quick_id}/actions"),
            &json!({ "action": action }),
        )
        .await?;
        assert_eq!(done.status, 200, "{}", done.text);
    }

    let path = "/v1/figures/timeline?from=2026-01-01";
    let timeline = get(&app, &s.access_token, path).await?;
    assert_eq!(timeline.status, 200, "{}", timeline.text);
    assert_eq!(timeline.body["bucket"], "month");
    let points = timeline.body["points"].as_array().context("points")?;
    assert_eq!(
        points[0]["start"], "2025-12-31T16:00:00.000Z",
        "China-time months"
    );
    let sum = |key: &str| points.iter().filter_map(|p| p[key].as_u64()).sum::<u64>();
    assert_eq!((sum("opened"), sum("closed")), (2, 1), "{}", timeline.text);
    // The two were opened in March 2026; the closing falls in the last bucket.
    let march = points
        .iter()
        .find(|p| p["start"] == "2026-02-28T16:00:00.000Z")
        .context("March")?;
    assert_eq!(march["opened"], 2);
    assert_eq!(points.last().context("last")?["closed"], 1);

    // Another community's supervisor counts nothing of this one, and may not ask for it.
    let o = app.login(&other).await?;
    let theirs = get(&app, &o.access_token, path).await?;
    assert_eq!(theirs.status, 200, "{}", theirs.text);
    let total: u64 = theirs.body["points"]
        .as_array()
        .context("points")?
        .iter()
        .filter_map(|p| p["opened"].as_u64())
        .sum();
    assert_eq!(total, 0);
    let refused = get(&app, &o.access_token, "/v1/figures/timeline?community=ca").await?;
    assert_eq!(refused.status, 403, "{}", refused.text);
    let bad = get(&app, &s.access_token, "/v1/figures/timeline?from=yesterday").await?;
    assert_eq!(bad.status, 400, "{}", bad.text);
    app.stop().await
}
