//! Household liaisons' reports (随手报) through sync, on both backends: who may write which part
//! of a report, and how far a liaison's write scope reaches (exactly their group's
//! households). The whole trip from a liaison's phone to the worker's task list and back is in
//! `mobile-ffi/tests/phone.rs` `a_liaisons_report_reaches_the_worker_and_the_outcome_reaches_the_liaison`.

use gridbook_tests::TestApp;
use gridbook_tests::client::get;
use sync_core::ids::{DocId, LiaisonGroupId};
use sync_core::models::Report;
use sync_core::models::report::{Triage, TriageDecision};
use sync_core::record::Role;

use crate::support::{at, household, on_both_backends};

on_both_backends!(
    a_liaison_reports_about_their_group_and_the_worker_triages,
    a_report_is_written_only_by_its_liaison_and_triaged_only_by_the_worker,
);

fn report(
    app: &TestApp,
    group: &LiaisonGroupId,
    reporter: &sync_core::ids::UserId,
    households: Vec<DocId>,
) -> Report {
    Report {
        id: DocId::new(),
        place: app.grid_a(),
        liaison_group: group.clone(),
        reporter: reporter.clone(),
        what: "3栋楼道堆满纸箱，影响通行".into(),
        location: Some("3栋1单元".into()),
        households,
        noticed_at: at(5),
        triage: None,
    }
}

async fn a_liaison_reports_about_their_group_and_the_worker_triages(
    app: TestApp,
) -> anyhow::Result<()> {
    let g1: LiaisonGroupId = "ca-1-g1".parse()?;
    let g2: LiaisonGroupId = "ca-1-g2".parse()?;
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let lian = app
        .user_in_group("lian", Role::Liaison, app.grid_a(), Some(g1.clone()))
        .await?;
    let sup = app
        .user("sup", Role::CommunitySupervisor, app.grid_a())
        .await?;
    let mut w = app.phone(&li).await?;
    let mut in_group = household(&app.grid_a(), "101");
    in_group.liaison_group = Some(g1.clone());
    let mut other_group = household(&app.grid_a(), "102");
    other_group.liaison_group = Some(g2.clone());
    let ours = w.replica.create(&in_group, at(1))?;
    let theirs = w.replica.create(&other_group, at(2))?;
    w.sync(&app).await?;

    // A report about their own household is taken; one naming another group's is refused,
    // and so is one filed under another group.
    let mut l = app.phone(&lian).await?;
    let good = l
        .replica
        .create(&report(&app, &g1, &lian.id, vec![ours.clone()]), at(5))?;
    let stray = l
        .replica
        .create(&report(&app, &g1, &lian.id, vec![theirs]), at(6))?;
    let elsewhere = l
        .replica
        .create(&report(&app, &g2, &lian.id, vec![]), at(7))?;
    l.sync(&app).await?;
    assert_eq!(l.replica.rejection(&good), None);
    let refused = l
        .replica
        .rejection(&stray)
        .map(|e| (e.code.clone(), e.message.clone()));
    assert!(
        refused
            .as_ref()
            .is_some_and(|(code, m)| code == "forbidden" && m.contains("liaison group")),
        "{refused:?}"
    );
    let refused = l.replica.rejection(&elsewhere).map(|e| e.code.clone());
    assert_eq!(refused.as_deref(), Some("forbidden"));

    // The worker's task list holds it; the worker's phone receives the report and triages
    // it; the liaison's phone gets the outcome; a supervisor reads it online.
    let wt = app.login(&li).await?;
    let tasks = get(&app, &wt.access_token, "/v1/tasks").await?;
    assert_eq!(
        tasks.body["items"][0]["case"],
        good.to_string(),
        "{}",
        tasks.text
    );
    assert_eq!(
        tasks.body["items"][0]["record_kind"], "report",
        "{}",
        tasks.text
    );
    assert_eq!(tasks.body["items"][0]["action"], "accept", "{}", tasks.text);
    w.sync(&app).await?;
    let mut seen: Report = w
        .replica
        .document(&good)
        .expect("on the worker's phone")
        .read()?;
    seen.triage = Some(Triage {
        decision: TriageDecision::Closed,
        case: None,
        reason: Some("物业已清理".into()),
        by: li.id.clone(),
        at: at(20),
    });
    w.replica.replace(&seen, None, at(20))?;
    w.sync(&app).await?;
    assert_eq!(w.replica.rejection(&good), None);
    l.sync(&app).await?;
    let tasks = get(&app, &wt.access_token, "/v1/tasks").await?;
    assert_eq!(tasks.body["total"], 0, "triaged: {}", tasks.text);
    let outcome: Report = l.replica.document(&good).expect("held").read()?;
    assert_eq!(
        outcome.triage.map(|t| t.decision),
        Some(TriageDecision::Closed)
    );
    let s = app.login(&sup).await?;
    let detail = get(&app, &s.access_token, &format!("/v1/records/{good}")).await?;
    assert_eq!(detail.status, 200, "{}", detail.text);
    app.stop().await
}

async fn a_report_is_written_only_by_its_liaison_and_triaged_only_by_the_worker(
    app: TestApp,
) -> anyhow::Result<()> {
    let g1: LiaisonGroupId = "ca-1-g1".parse()?;
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let lian = app
        .user_in_group("lian", Role::Liaison, app.grid_a(), Some(g1.clone()))
        .await?;
    let mut w = app.phone(&li).await?;
    let mut l = app.phone(&lian).await?;

    // A grid worker does not file reports in a liaison's name (nor in their own).
    let forged = w
        .replica
        .create(&report(&app, &g1, &lian.id, vec![]), at(1))?;
    w.sync(&app).await?;
    assert_eq!(
        w.replica.rejection(&forged).map(|e| e.code.as_str()),
        Some("invalid_record")
    );

    // A liaison does not triage their own report, nor write a household.
    let mut own = report(&app, &g1, &lian.id, vec![]);
    own.triage = Some(Triage {
        decision: TriageDecision::Closed,
        case: None,
        reason: Some("自己处理了".into()),
        by: lian.id.clone(),
        at: at(2),
    });
    let self_triaged = l.replica.create(&own, at(2))?;
    let mut home = household(&app.grid_a(), "201");
    home.liaison_group = Some(g1.clone());
    let written = l.replica.create(&home, at(3))?;
    l.sync(&app).await?;
    let codes = (
        l.replica.rejection(&self_triaged).map(|e| e.code.clone()),
        l.replica.rejection(&written).map(|e| e.code.clone()),
    );
    assert_eq!(
        codes,
        (Some("invalid_record".into()), Some("forbidden".into()))
    );
    app.stop().await
}
