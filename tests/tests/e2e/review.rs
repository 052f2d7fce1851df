//! Supervisors' lists (`GET /v1/households`, `/v1/cases`, `/v1/visits`, ...) end to end:
//! records written by phones through sync, read back from the query indexes, filtered,
//! sorted, paginated and scoped.

use gridbook_tests::{Phone, TestApp, TestUser};
use serde_json::Value;
use sync_core::ids::{DocId, ItemId, LiaisonGroupId};
use sync_core::models::activity::{Activity, ActivityKind};
use sync_core::models::case::{Case, CaseAction, CaseKind};
use sync_core::models::household::{HouseholdStatus, ResidentStatus};
use sync_core::models::household_private::SpecialGroup;
use sync_core::models::visit::{Visit, VisitMethod};
use sync_core::record::{Place, Role};
use sync_core::time::Timestamp;

use gridbook_tests::client::post;
use sync_core::deadline::{self, DAY_MS, DeadlineLevel, DeadlinePolicy, WorkCalendar};
use sync_core::workflow;

use crate::support::{
    at, case, event, household, household_and_identities, now, on_both_backends,
    resident_and_identity,
};

on_both_backends!(
    households_are_filtered_searched_sorted_and_paginated,
    cases_are_filtered_by_kind_state_level_and_dates,
    lists_are_scoped_to_the_callers_places,
    bad_list_parameters_are_400_json,
    sql_metacharacters_in_q_are_harmless,
    visits_and_activities_are_listed_by_date,
    level_escalated_and_assignee_filters_pick_exactly_their_cases,
);

/// `GET path` as `session`, expecting 200; the body.
async fn get_ok(app: &TestApp, phone: &Phone, path: &str) -> anyhow::Result<Value> {
    let (status, body) = app
        .get_json(path, Some(&phone.session.access_token))
        .await?;
    anyhow::ensure!(status == 200, "{path}: {status} {body}");
    Ok(body)
}

async fn status_of(app: &TestApp, phone: &Phone, path: &str) -> anyhow::Result<(u16, Value)> {
    app.get_json(path, Some(&phone.session.access_token)).await
}

fn total(body: &Value) -> i64 {
    body["total"].as_i64().unwrap_or(-1)
}

fn ids(body: &Value) -> Vec<String> {
    body["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn rooms(body: &Value) -> Vec<String> {
    body["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i["address"]["room"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Creates households in `place` through a worker's phone: rooms `101`..; returns ids.
async fn households(
    app: &TestApp,
    worker: &TestUser,
    place: &Place,
    n: usize,
) -> anyhow::Result<(Phone, Vec<DocId>)> {
    let mut phone = app.phone(worker).await?;
    let mut out = Vec::new();
    for i in 0..n {
        let h = household(place, &format!("{}", 101 + i));
        out.push(phone.replica.create(&h, at(i as i64))?);
    }
    phone.sync(app).await?;
    Ok((phone, out))
}

async fn households_are_filtered_searched_sorted_and_paginated(app: TestApp) -> anyhow::Result<()> {
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let boss = app
        .user("boss", Role::CommunitySupervisor, app.grid_a())
        .await?;
    let mut w = app.phone(&li).await?;
    // Five households in ca-1, created out of address order.
    let mut made = Vec::new();
    for room in ["305", "101", "204", "102", "401"] {
        // Each with its private document: the ID number and phone no list may show, and the
        // special groups.
        let (mut h, mut identities) = household_and_identities(&app.grid_a(), room);
        match room {
            "101" => {
                h.address.compound = "鼎鑫花园".into();
                h.residents[0].name = "赵建国".into();
                identities[0].special_groups.push(SpecialGroup {
                    id: ItemId::new(),
                    group: "dibao".into(),
                    verified: true,
                    valid_from: None,
                    valid_until: None,
                });
                h.tags.push("rental".into());
            }
            "204" => {
                let (mut gone, mut identity) = resident_and_identity("钱小红", "19800101");
                gone.status = ResidentStatus::MovedOut;
                gone.moved_out = Some("2025-01-01".parse()?);
                identity.special_groups.push(SpecialGroup {
                    id: ItemId::new(),
                    group: "dibao".into(),
                    verified: true,
                    valid_from: None,
                    valid_until: None,
                });
                h.residents.push(gone);
                identities.push(identity);
            }
            "401" => h.status = HouseholdStatus::MovedOut,
            _ => {}
        }
        w.create_household(&h, identities, at(made.len() as i64))?;
        made.push(h.id);
    }
    w.sync(&app).await?;
    let mut sup = app.phone(&boss).await?;

    let all = get_ok(&app, &sup, "/v1/households").await?;
    assert_eq!(total(&all), 5);
    assert_eq!(
        (all["page"].as_i64(), all["per_page"].as_i64()),
        (Some(1), Some(50))
    );
    // Default order: by address (compound, building, unit, room).
    assert_eq!(rooms(&all), ["102", "204", "305", "401", "101"]);
    let first = &all["items"][0];
    assert_eq!(first["grid"], "ca-1");
    assert_eq!(first["community"], "ca");
    assert_eq!(first["residents"], 1);
    assert_eq!(first["address"]["compound"], "乌江水岸");
    let text = all.to_string();
    assert!(
        !text.contains("13800001111") && !text.contains("520627"),
        "no phone or ID number in a list"
    );

    let moved = get_ok(&app, &sup, "/v1/households?status=moved_out").await?;
    assert_eq!(rooms(&moved), ["401"]);
    // Special groups count for residents present only.
    let dibao = get_ok(&app, &sup, "/v1/households?special_group=dibao").await?;
    assert_eq!(rooms(&dibao), ["101"]);
    let rental = get_ok(&app, &sup, "/v1/households?tag=rental&grid=ca-1").await?;
    assert_eq!(rooms(&rental), ["101"]);
    // Text search on a resident's name and on the compound.
    let by_name = get_ok(&app, &sup, "/v1/households?q=%E8%B5%B5%E5%BB%BA").await?; // 赵建
    assert_eq!(rooms(&by_name), ["101"]);
    let by_old_name = get_ok(&app, &sup, "/v1/households?q=钱小红").await?;
    assert_eq!(
        rooms(&by_old_name),
        ["204"],
        "former residents are found too"
    );
    let by_compound = get_ok(&app, &sup, "/v1/households?q=乌江").await?;
    assert_eq!(total(&by_compound), 4);
    let nothing = get_ok(&app, &sup, "/v1/households?q=nobody").await?;
    assert_eq!((total(&nothing), ids(&nothing).len()), (0, 0));

    // Pagination: totals stay, pages follow the order.
    let p2 = get_ok(&app, &sup, "/v1/households?per_page=2&page=2").await?;
    assert_eq!(total(&p2), 5);
    assert_eq!(rooms(&p2), ["305", "401"]);
    let p3 = get_ok(&app, &sup, "/v1/households?per_page=2&page=3").await?;
    assert_eq!(rooms(&p3), ["101"]);
    let p9 = get_ok(&app, &sup, "/v1/households?per_page=2&page=9").await?;
    assert_eq!((total(&p9), rooms(&p9).len()), (5, 0));
    let desc = get_ok(&app, &sup, "/v1/households?sort=-address").await?;
    assert_eq!(rooms(&desc), ["101", "401", "305", "204", "102"]);

    // An edit through sync updates the index: the newest edit sorts first by -updated_at.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    w.replica
        .update(&made[0], at(20), |h: &mut sync_core::models::Household| {
            h.tags.push("rental".into());
        })?;
    w.sync(&app).await?;
    let recent = get_ok(&app, &sup, "/v1/households?sort=-updated_at").await?;
    assert_eq!(rooms(&recent)[0], "305");
    let rental = get_ok(&app, &sup, "/v1/households?tag=rental").await?;
    assert_eq!(total(&rental), 2);
    sup.sync(&app).await?;
    app.stop().await
}

async fn cases_are_filtered_by_kind_state_level_and_dates(app: TestApp) -> anyhow::Result<()> {
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let boss = app
        .user("boss", Role::CommunitySupervisor, app.grid_a())
        .await?;
    let mut w = app.phone(&li).await?;
    let t = now();
    // Reported just now: on time.
    let mut fresh = case(&app.grid_a(), &li.id);
    fresh.opened_at = t;
    fresh.events[0].at = t;
    fresh.subject = "fresh".into();
    // Reported in 2020 and never accepted: overdue.
    let mut old = case(&app.grid_a(), &li.id);
    old.case_kind = CaseKind::Hazard;
    old.opened_at = "2020-06-01T09:00:00+08:00".parse()?;
    old.events[0].at = old.opened_at;
    old.subject = "old".into();
    // A draft: no deadline.
    let mut draft = case(&app.grid_a(), &li.id);
    draft.events.clear();
    draft.opened_at = "2021-01-04T09:00:00+08:00".parse()?;
    draft.subject = "draft".into();
    // Reported yesterday-ish, to be accepted by the supervisor.
    let mut accepted = case(&app.grid_a(), &li.id);
    accepted.case_kind = CaseKind::Dispute;
    accepted.opened_at = t.plus_millis(-60_000);
    accepted.events[0].at = accepted.opened_at;
    accepted.subject = "accepted".into();
    let fresh_id = w.replica.create(&fresh, t)?;
    let old_id = w.replica.create(&old, t)?;
    let draft_id = w.replica.create(&draft, t)?;
    let acc_id = w.replica.create(&accepted, t)?;
    w.sync(&app).await?;

    let mut sup = app.phone(&boss).await?;
    sup.sync(&app).await?;
    sup.replica.update(&acc_id, t, |k: &mut Case| {
        k.events.push(event(
            &boss.id,
            Role::CommunitySupervisor,
            CaseAction::Accept,
            t,
        ));
    })?;
    sup.sync(&app).await?;

    let all = get_ok(&app, &sup, "/v1/cases").await?;
    assert_eq!(total(&all), 4);
    // Default order: newest opened first.
    assert_eq!(
        ids(&all),
        [&fresh_id, &acc_id, &draft_id, &old_id].map(ToString::to_string)
    );
    let item = |body: &Value, id: &DocId| {
        body["items"]
            .as_array()
            .and_then(|a| a.iter().find(|i| i["id"] == id.to_string()).cloned())
            .unwrap_or(Value::Null)
    };
    let o = item(&all, &old_id);
    assert_eq!(o["state"], "reported");
    assert_eq!(o["kind"], "hazard");
    assert_eq!(o["level"], "red");
    assert_eq!(o["step"], "accept");
    assert_eq!(o["due_at"], "2020-06-02T01:00:00.000Z");
    assert_eq!(item(&all, &fresh_id)["level"], "on_time");
    assert_eq!(item(&all, &draft_id)["level"], Value::Null);
    assert_eq!(item(&all, &draft_id)["due_at"], Value::Null);
    let a = item(&all, &acc_id);
    assert_eq!(
        (a["state"].as_str(), a["step"].as_str()),
        (Some("accepted"), Some("handle"))
    );

    let reported = get_ok(&app, &sup, "/v1/cases?state=reported").await?;
    assert_eq!(total(&reported), 2);
    let hazards = get_ok(&app, &sup, "/v1/cases?kind=hazard").await?;
    assert_eq!(ids(&hazards), [old_id.to_string()]);
    for level in ["overdue", "red"] {
        let late = get_ok(&app, &sup, &format!("/v1/cases?level={level}")).await?;
        assert_eq!(ids(&late), [old_id.to_string()]);
    }
    let on_time = get_ok(&app, &sup, "/v1/cases?level=on_time&sort=opened_at").await?;
    assert_eq!(ids(&on_time), [acc_id.to_string(), fresh_id.to_string()]);
    let yellow = get_ok(&app, &sup, "/v1/cases?level=yellow").await?;
    assert_eq!(total(&yellow), 0);
    // Opened in a date range (days in China time, inclusive).
    let range = get_ok(
        &app,
        &sup,
        "/v1/cases?opened_from=2020-01-01&opened_to=2021-01-04",
    )
    .await?;
    assert_eq!(
        ids(&range),
        [draft_id.to_string(), old_id.to_string()],
        "both ends inclusive"
    );
    let since = get_ok(&app, &sup, "/v1/cases?opened_from=2020-06-01T01:00:01Z").await?;
    assert_eq!(total(&since), 3);
    // By deadline: the soonest first, cases without one last.
    let by_due = get_ok(&app, &sup, "/v1/cases?sort=due_at").await?;
    let order = ids(&by_due);
    assert_eq!(order[0], old_id.to_string());
    assert_eq!(order[3], draft_id.to_string());
    let not_escalated = get_ok(&app, &sup, "/v1/cases?escalated=false&kind=dispute").await?;
    assert_eq!(ids(&not_escalated), [acc_id.to_string()]);
    let escalated = get_ok(&app, &sup, "/v1/cases?escalated=true").await?;
    assert_eq!(total(&escalated), 0);
    let mine = get_ok(&app, &sup, &format!("/v1/cases?assignee={}", li.id)).await?;
    assert_eq!(total(&mine), 0);
    // The worker sees their grid's cases too.
    let theirs = get_ok(&app, &w, "/v1/cases?grid=ca-1&per_page=1").await?;
    assert_eq!((total(&theirs), ids(&theirs).len()), (4, 1));
    app.stop().await
}

async fn lists_are_scoped_to_the_callers_places(app: TestApp) -> anyhow::Result<()> {
    let g1: LiaisonGroupId = "ca-1-g1".parse()?;
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let ma = app.user("ma", Role::GridWorker, app.grid_a2()).await?;
    let zhao = app.user("zhao", Role::GridWorker, app.grid_b()).await?;
    let boss = app
        .user("boss", Role::CommunitySupervisor, app.grid_a())
        .await?;
    let street = app
        .user("street", Role::StreetSupervisor, app.grid_a())
        .await?;
    let admin = app.user("root", Role::Admin, app.grid_a()).await?;
    let liaison = app
        .user_in_group("lian", Role::Liaison, app.grid_a(), Some(g1.clone()))
        .await?;

    let mut w1 = app.phone(&li).await?;
    let mut in_group = household(&app.grid_a(), "1");
    in_group.liaison_group = Some(g1.clone());
    let grouped = w1.replica.create(&in_group, at(0))?;
    w1.replica.create(&household(&app.grid_a(), "2"), at(1))?;
    w1.replica.create(&case(&app.grid_a(), &li.id), at(2))?;
    w1.sync(&app).await?;
    let (_w2, _) = households(&app, &ma, &app.grid_a2(), 2).await?;
    let (mut w3, b_ids) = households(&app, &zhao, &app.grid_b(), 3).await?;
    w3.replica.create(&case(&app.grid_b(), &zhao.id), at(9))?;
    w3.sync(&app).await?;

    let sup = app.phone(&boss).await?;
    let mine = get_ok(&app, &sup, "/v1/households").await?;
    assert_eq!(total(&mine), 4, "community ca's two grids only");
    assert!(
        ids(&mine)
            .iter()
            .all(|id| !b_ids.iter().any(|b| &b.to_string() == id))
    );
    assert_eq!(total(&get_ok(&app, &sup, "/v1/cases").await?), 1);
    assert_eq!(
        total(&get_ok(&app, &sup, "/v1/households?grid=ca-2").await?),
        2
    );
    assert_eq!(
        total(&get_ok(&app, &sup, "/v1/households?community=ca").await?),
        4
    );
    for path in [
        "/v1/households?grid=cb-1",
        "/v1/households?community=cb",
        "/v1/cases?grid=cb-1",
        "/v1/visits?community=cb",
        "/v1/assets?grid=cb-1",
        "/v1/households?grid=nowhere",
    ] {
        let (status, body) = status_of(&app, &sup, path).await?;
        assert_eq!(status, 403, "{path}");
        assert_eq!(body["error"]["code"], "forbidden", "{path}");
    }

    let st = app.phone(&street).await?;
    assert_eq!(total(&get_ok(&app, &st, "/v1/households").await?), 7);
    assert_eq!(
        total(&get_ok(&app, &st, "/v1/cases?community=cb").await?),
        1
    );

    let worker = app.phone(&ma).await?;
    assert_eq!(total(&get_ok(&app, &worker, "/v1/households").await?), 2);
    let (status, _) = status_of(&app, &worker, "/v1/households?grid=ca-1").await?;
    assert_eq!(status, 403, "a worker reads only their grid");

    let lian = app.phone(&liaison).await?;
    let theirs = get_ok(&app, &lian, "/v1/households").await?;
    assert_eq!(ids(&theirs), [grouped.to_string()], "their group only");
    assert_eq!(theirs["items"][0]["liaison_group"], "ca-1-g1");
    for path in [
        "/v1/cases",
        "/v1/visits",
        "/v1/patrols",
        "/v1/activities",
        "/v1/assets",
    ] {
        let (status, _) = status_of(&app, &lian, path).await?;
        assert_eq!(status, 403, "liaison {path}");
    }

    let root = app.phone(&admin).await?;
    let (status, body) = status_of(&app, &root, "/v1/households").await?;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );
    let (status, body) = app.get_json("/v1/households", None).await?;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );
    app.stop().await
}

async fn bad_list_parameters_are_400_json(app: TestApp) -> anyhow::Result<()> {
    let boss = app
        .user("boss", Role::StreetSupervisor, app.grid_a())
        .await?;
    let sup = app.phone(&boss).await?;
    for path in [
        "/v1/households?colour=red",
        "/v1/households?per_page=201",
        "/v1/households?per_page=0",
        "/v1/households?page=0",
        "/v1/households?page=abc",
        "/v1/households?page=-1",
        "/v1/households?status=gone",
        "/v1/households?sort=name",
        "/v1/households?grid=not%20a%20code",
        "/v1/cases?level=purple",
        "/v1/cases?state=open",
        "/v1/cases?kind=fire",
        "/v1/cases?opened_from=yesterday",
        "/v1/cases?opened_to=2026-13-01",
        "/v1/cases?escalated=maybe",
        "/v1/cases?assignee=nobody",
        "/v1/cases?sort=subject",
        "/v1/cases?q=x",
        "/v1/visits?from=2026-02-30",
        "/v1/visits?sort=label",
        "/v1/assets?from=2026-01-01",
    ] {
        let (status, body) = status_of(&app, &sup, path).await?;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["error"]["code"], "malformed", "{path}");
        assert!(body["error"]["message"].is_string(), "{path}");
    }
    let q = "x".repeat(101);
    let (status, _) = status_of(&app, &sup, &format!("/v1/households?q={q}")).await?;
    assert_eq!(status, 400);
    // Limits themselves are fine; empty values count as absent.
    let ok = get_ok(&app, &sup, "/v1/households?per_page=200&status=&q=").await?;
    assert_eq!((ok["per_page"].as_i64(), total(&ok)), (Some(200), 0));
    app.stop().await
}

async fn sql_metacharacters_in_q_are_harmless(app: TestApp) -> anyhow::Result<()> {
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let mut w = app.phone(&li).await?;
    for (room, compound) in [("1", "百分之100%花园"), ("2", "a_b小区"), ("3", "普通小区")]
    {
        let mut h = household(&app.grid_a(), room);
        h.address.compound = compound.into();
        w.replica.create(&h, at(0))?;
    }
    w.sync(&app).await?;
    let q = |text: &str| {
        let encoded: String = text.bytes().map(|b| format!("%{b:02X}")).collect();
        format!("/v1/households?q={encoded}")
    };
    assert_eq!(total(&get_ok(&app, &w, &q("' OR 1=1 --")).await?), 0);
    assert_eq!(
        total(&get_ok(&app, &w, &q("'; DROP TABLE household_index; --")).await?),
        0
    );
    assert_eq!(rooms(&get_ok(&app, &w, &q("%")).await?), ["1"]);
    assert_eq!(rooms(&get_ok(&app, &w, &q("_")).await?), ["2"]);
    assert_eq!(total(&get_ok(&app, &w, &q("\\")).await?), 0);
    assert_eq!(total(&get_ok(&app, &w, &q("%' --")).await?), 0);
    let (status, _) =
        status_of(&app, &w, &format!("/v1/households?special_group={}", "%25")).await?;
    assert_eq!(status, 200);
    assert_eq!(
        total(&get_ok(&app, &w, "/v1/households?special_group=%25").await?),
        0,
        "a wildcard code matches nothing"
    );
    assert_eq!(total(&get_ok(&app, &w, "/v1/households?tag=_").await?), 0);
    assert_eq!(
        total(&get_ok(&app, &w, "/v1/households").await?),
        3,
        "table intact"
    );
    app.stop().await
}

async fn visits_and_activities_are_listed_by_date(app: TestApp) -> anyhow::Result<()> {
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let boss = app
        .user("boss", Role::CommunitySupervisor, app.grid_a())
        .await?;
    let (mut w, hids) = households(&app, &li, &app.grid_a(), 1).await?;
    let visit = |day: &str| -> anyhow::Result<Visit> {
        Ok(Visit {
            attachments: Vec::new(),
            id: DocId::new(),
            place: app.grid_a(),
            household: hids[0].clone(),
            worker: li.id.clone(),
            at: format!("{day}T10:00:00+08:00").parse()?,
            method: VisitMethod::DoorToDoor,
            summary: "上门走访，老人身体良好".into(),
            opened_cases: Vec::new(),
        })
    };
    let v1 = w.replica.create(&visit("2026-01-05")?, at(1))?;
    let v2 = w.replica.create(&visit("2026-02-10")?, at(2))?;
    let activity = Activity {
        id: DocId::new(),
        place: app.grid_a(),
        activity_kind: ActivityKind::Cultural,
        outreach_form: None,
        title: "广场舞比赛".into(),
        at: "2026-02-14T19:00:00+08:00".parse()?,
        location: String::new(),
        organizer: li.id.clone(),
        participants: Vec::new(),
        head_count: 40,
        summary: String::new(),
    };
    let a1 = w.replica.create(&activity, at(3))?;
    w.sync(&app).await?;

    let sup = app.phone(&boss).await?;
    let visits = get_ok(&app, &sup, "/v1/visits").await?;
    assert_eq!(
        ids(&visits),
        [v2.to_string(), v1.to_string()],
        "newest first"
    );
    let v = &visits["items"][0];
    assert_eq!(v["method"], "door_to_door");
    assert_eq!(v["household"], hids[0].to_string());
    assert_eq!(v["worker"], li.id.to_string());
    assert_eq!(v["at"], "2026-02-10T02:00:00.000Z");
    let feb = get_ok(
        &app,
        &sup,
        "/v1/visits?from=2026-02-01&to=2026-02-28&grid=ca-1",
    )
    .await?;
    assert_eq!(ids(&feb), [v2.to_string()]);
    let jan = get_ok(&app, &sup, "/v1/visits?to=2026-01-05").await?;
    assert_eq!(ids(&jan), [v1.to_string()], "a day bound is inclusive");
    let acts = get_ok(&app, &sup, "/v1/activities?community=ca").await?;
    assert_eq!(ids(&acts), [a1.to_string()]);
    assert_eq!(acts["items"][0]["activity_kind"], "cultural");
    assert_eq!(acts["items"][0]["head_count"], 40);
    assert_eq!(acts["items"][0]["label"], "广场舞比赛");
    for path in ["/v1/patrols", "/v1/party-registrations", "/v1/assets"] {
        let empty = get_ok(&app, &sup, path).await?;
        assert_eq!((total(&empty), ids(&empty).len()), (0, 0), "{path}");
    }
    app.stop().await
}

/// The latest instant `s` such that a case reported at `s` has used `fraction` of its
/// one-working-day accept step by `t` (working-day time, China calendar), so the test holds
/// whatever the day of the week.
fn reported_at_fraction(t: Timestamp, fraction: f64) -> Timestamp {
    let calendar = WorkCalendar::china();
    let target = (DAY_MS as f64 * fraction) as i64;
    let (mut lo, mut hi) = (t.millis() - 30 * DAY_MS, t.millis());
    // Working time from s to t falls as s rises.
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if calendar.working_ms_between(Timestamp::from_millis(mid), t) >= target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Timestamp::from_millis(lo)
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

fn strings(ids: &[&DocId]) -> Vec<String> {
    sorted(ids.iter().map(ToString::to_string).collect())
}

async fn level_escalated_and_assignee_filters_pick_exactly_their_cases(
    app: TestApp,
) -> anyhow::Result<()> {
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let wang = app.user("wang", Role::GridWorker, app.grid_a()).await?;
    let boss = app
        .user("boss", Role::CommunitySupervisor, app.grid_a())
        .await?;
    let mut w = app.phone(&li).await?;
    let t = now();
    let reported = |subject: &str, at: Timestamp| {
        let mut k = case(&app.grid_a(), &li.id);
        k.subject = subject.into();
        k.opened_at = at;
        k.events[0].at = at;
        k
    };
    // Reported so long ago (in working time) that 85 % of the one-day accept step is used:
    // yellow, and red only after 3.6 more working hours.
    let yellow = reported("yellow", reported_at_fraction(t, 0.85));
    let status = workflow::fold(&yellow);
    let local = deadline::deadline(
        &yellow,
        &status,
        &DeadlinePolicy::default(),
        &WorkCalendar::china(),
        t,
    );
    assert_eq!(local.map(|d| d.level), Some(DeadlineLevel::Yellow));
    let yellow_id = w.replica.create(&yellow, t)?;
    let fresh_id = w.replica.create(&reported("fresh", t), t)?;
    let old_id = w
        .replica
        .create(&reported("old", "2020-06-01T09:00:00+08:00".parse()?), t)?;
    let esc_id = w.replica.create(&reported("escalated", t), t)?;
    let li_id = w.replica.create(&reported("for li", t), t)?;
    let wang_id = w.replica.create(&reported("for wang", t), t)?;
    w.sync(&app).await?;

    // The supervisor escalates one case and dispatches two, through the actions API.
    let s = app.login(&boss).await?;
    let act = |id: &DocId, body: Value| {
        let path = format!("/v1/cases/{id}/actions");
        let token = s.access_token.clone();
        let app = &app;
        async move { post(app, &token, &path, &body).await }
    };
    let a = act(&esc_id, serde_json::json!({"action": "escalate"})).await?;
    assert_eq!(a.status, 200, "{}", a.text);
    for (id, worker) in [(&li_id, &li), (&wang_id, &wang)] {
        for body in [
            serde_json::json!({"action": "accept"}),
            serde_json::json!({"action": "dispatch", "assignee": worker.id}),
        ] {
            let a = act(id, body).await?;
            assert_eq!(a.status, 200, "{}", a.text);
        }
    }

    let sup = app.phone(&boss).await?;
    let all = get_ok(&app, &sup, "/v1/cases").await?;
    assert_eq!(total(&all), 6);
    let every = [&yellow_id, &fresh_id, &old_id, &esc_id, &li_id, &wang_id];

    // Level: each level its own cases, exactly.
    let y = get_ok(&app, &sup, "/v1/cases?level=yellow").await?;
    assert_eq!(ids(&y), [yellow_id.to_string()], "{y}");
    let item = &y["items"][0];
    assert_eq!(
        (item["level"].as_str(), item["step"].as_str()),
        (Some("yellow"), Some("accept"))
    );
    let (yellow_at, due_at): (Timestamp, Timestamp) = (
        item["yellow_at"].as_str().unwrap_or_default().parse()?,
        item["due_at"].as_str().unwrap_or_default().parse()?,
    );
    assert!(yellow_at <= now() && now() < due_at, "{item}");
    let red = get_ok(&app, &sup, "/v1/cases?level=red").await?;
    assert_eq!(ids(&red), [old_id.to_string()]);
    let on_time = get_ok(&app, &sup, "/v1/cases?level=on_time").await?;
    assert_eq!(
        sorted(ids(&on_time)),
        strings(&[&fresh_id, &esc_id, &li_id, &wang_id])
    );
    let (status, body) = status_of(&app, &sup, &format!("/v1/records/{yellow_id}")).await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["deadline"]["level"], "yellow", "{body}");
    assert_eq!(body["deadline"]["step"], "accept", "{body}");

    // Escalated: the escalated case only; not escalated: every other.
    let esc = get_ok(&app, &sup, "/v1/cases?escalated=true").await?;
    assert_eq!(ids(&esc), [esc_id.to_string()]);
    assert_eq!(esc["items"][0]["escalated"], true);
    let not_esc = get_ok(&app, &sup, "/v1/cases?escalated=false").await?;
    let others: Vec<&DocId> = every.iter().copied().filter(|i| **i != esc_id).collect();
    assert_eq!(sorted(ids(&not_esc)), strings(&others));
    let esc_on_time = get_ok(&app, &sup, "/v1/cases?escalated=true&level=on_time").await?;
    assert_eq!(ids(&esc_on_time), [esc_id.to_string()]);
    let esc_yellow = get_ok(&app, &sup, "/v1/cases?escalated=true&level=yellow").await?;
    assert_eq!((total(&esc_yellow), ids(&esc_yellow).len()), (0, 0));

    // Assignee: each worker their dispatched case; nobody else has one.
    let mine = get_ok(&app, &sup, &format!("/v1/cases?assignee={}", li.id)).await?;
    assert_eq!(ids(&mine), [li_id.to_string()]);
    assert_eq!(mine["items"][0]["assignee"], li.id.to_string());
    assert_eq!(mine["items"][0]["state"], "in_progress");
    let theirs = get_ok(&app, &sup, &format!("/v1/cases?assignee={}", wang.id)).await?;
    assert_eq!(ids(&theirs), [wang_id.to_string()]);
    let nobodys = get_ok(&app, &sup, &format!("/v1/cases?assignee={}", boss.id)).await?;
    assert_eq!((total(&nobodys), ids(&nobodys).len()), (0, 0));
    // The worker's own view filters alike.
    let own = get_ok(
        &app,
        &w,
        &format!("/v1/cases?assignee={}&state=in_progress", li.id),
    )
    .await?;
    assert_eq!(ids(&own), [li_id.to_string()]);
    app.stop().await
}
