//! Personal data on phones (issue 15): each role's phone receives only the kinds its work
//! needs, and every sync that sends documents holding personal data is audited.

use anyhow::Context;
use gridbook_tests::{Phone, TestApp};
use serde_json::Value;
use sync_core::ids::{DocId, ItemId};
use sync_core::models::household::SpecialGroup;
use sync_core::models::party::{PartyRegistration, RegistrantKind};
use sync_core::models::visit::{Visit, VisitMethod};
use sync_core::protocol::{Bytes, DocPush, DocResult, DocStatus, SyncRequest, SyncResponse, codes};
use sync_core::record::{RecordKind, Role};
use sync_core::time::Date;

use gridbook_tests::client::get;

use crate::support::{at, case, household, on_both_backends};

on_both_backends!(
    phones_hold_only_what_their_role_needs,
    a_phone_cannot_fetch_what_its_role_does_not_hold,
    reading_a_household_with_special_groups_is_audited
);

/// What a grid worker's phone made: a household of liaison group `lg-1` and one of no group
/// (both with residents' ID numbers and phones), a party registration with a phone, a case
/// and a visit, all in grid `ca-1`.
struct Made {
    grouped: DocId,
    ungrouped: DocId,
    party: DocId,
    case: DocId,
    visit: DocId,
    secrets: Vec<String>,
}

async fn made_by_a_worker(app: &TestApp, phone: &mut Phone) -> anyhow::Result<Made> {
    let worker = phone.session.user.id.clone();
    let mut h = household(&app.grid_a(), "101");
    h.liaison_group = Some("lg-1".parse()?);
    let mut secrets: Vec<String> = h
        .residents
        .iter()
        .filter_map(|r| r.id_number.clone())
        .collect();
    secrets.extend(h.residents.iter().filter_map(|r| r.phone.clone()));
    let grouped = phone.replica.create(&h, at(0))?;
    let ungrouped = phone
        .replica
        .create(&household(&app.grid_a(), "102"), at(1))?;
    let registration = PartyRegistration {
        id: DocId::new(),
        place: app.grid_a(),
        registrant_kind: RegistrantKind::Member,
        name: "党员甲".into(),
        home_organization: "县水务局党支部".into(),
        household: Some(grouped.clone()),
        resident: None,
        registered_on: Date::from_ymd(2026, 3, 1).context("date")?,
        phone: Some("13677778888".into()),
        services: Vec::new(),
    };
    secrets.push("13677778888".into());
    let party = phone.replica.create(&registration, at(2))?;
    let case = phone.replica.create(&case(&app.grid_a(), &worker), at(3))?;
    let visit = Visit {
        id: DocId::new(),
        place: app.grid_a(),
        household: grouped.clone(),
        worker,
        at: at(4),
        method: VisitMethod::DoorToDoor,
        summary: "入户走访，了解近况".into(),
        opened_cases: Vec::new(),
    };
    let visit = phone.replica.create(&visit, at(4))?;
    phone.sync(app).await?;
    Ok(Made {
        grouped,
        ungrouped,
        party,
        case,
        visit,
        secrets,
    })
}

fn held(phone: &Phone) -> Vec<DocId> {
    let mut ids = phone.replica.doc_ids();
    ids.sort();
    ids
}

fn sorted(mut ids: Vec<DocId>) -> Vec<DocId> {
    ids.sort();
    ids
}

/// Every document the phone holds, as text: what a lost phone would leak.
fn everything_held(phone: &Phone) -> String {
    phone
        .replica
        .doc_ids()
        .iter()
        .filter_map(|id| phone.replica.document(id))
        .map(|doc| doc.json().to_string())
        .collect()
}

/// The `personal_data_synced` rows of the audit log, oldest first.
async fn personal_data_rows(app: &TestApp, admin_token: &str) -> anyhow::Result<Vec<Value>> {
    let a = get(
        app,
        admin_token,
        "/v1/admin/audit?action=personal_data_synced&per_page=100",
    )
    .await?;
    anyhow::ensure!(a.status == 200, "audit: {}", a.text);
    let mut items = a.body["items"].as_array().context("items")?.clone();
    items.sort_by_key(|i| i["at"].to_string());
    Ok(items)
}

async fn phones_hold_only_what_their_role_needs(app: TestApp) -> anyhow::Result<()> {
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let liaison = app
        .user_in_group("lian", Role::Liaison, app.grid_a(), Some("lg-1".parse()?))
        .await?;
    let boss = app
        .user("boss", Role::CommunitySupervisor, app.grid_a())
        .await?;
    let street = app
        .user("street", Role::StreetSupervisor, app.grid_a())
        .await?;
    let mut worker = app.phone(&li).await?;
    let made = made_by_a_worker(&app, &mut worker).await?;

    // Supervisors' phones: cases and visits; no household, no party registration, and so no
    // ID number or phone number at all.
    for user in [&boss, &street] {
        let mut sup = app.phone(user).await?;
        sup.sync(&app).await?;
        assert_eq!(
            held(&sup),
            sorted(vec![made.case.clone(), made.visit.clone()]),
            "{}",
            user.login
        );
        let text = everything_held(&sup);
        for secret in &made.secrets {
            assert!(!text.contains(secret.as_str()), "{}: {secret}", user.login);
        }
    }

    // A liaison's phone: the households of their group and nothing else.
    let mut lian = app.phone(&liaison).await?;
    lian.sync(&app).await?;
    assert_eq!(held(&lian), vec![made.grouped.clone()]);

    // A grid worker's new phone: everything of the grid.
    let mut second = app.phone(&li).await?;
    second.sync(&app).await?;
    assert_eq!(
        held(&second),
        sorted(vec![
            made.grouped.clone(),
            made.ungrouped.clone(),
            made.party.clone(),
            made.case.clone(),
            made.visit.clone(),
        ])
    );

    // One audit row per sync that sent documents holding personal data: the liaison's (one
    // household) and the worker's second phone (two households and the party registration).
    // The supervisors' syncs and the worker's first sync (which sent nothing back) have none.
    let admin = app.user("auditor", Role::Admin, app.grid_a()).await?;
    let admin = app.login(&admin).await?.access_token;
    let rows = personal_data_rows(&app, &admin).await?;
    let seen: Vec<(String, String, Value)> = rows
        .iter()
        .map(|r| {
            (
                r["actor_login"].as_str().unwrap_or_default().to_owned(),
                r["device_id"].as_str().unwrap_or_default().to_owned(),
                r["detail"].clone(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            (
                "lian".to_owned(),
                lian.session.device.to_string(),
                serde_json::json!({"documents": 1, "grids": {"ca-1": 1}}),
            ),
            (
                "li".to_owned(),
                second.session.device.to_string(),
                serde_json::json!({"documents": 3, "grids": {"ca-1": 3}}),
            ),
        ],
        "{rows:#?}"
    );

    // Syncing again sends nothing new and writes no row.
    second.sync(&app).await?;
    lian.sync(&app).await?;
    assert_eq!(personal_data_rows(&app, &admin).await?.len(), 2);
    app.stop().await
}

/// Fetches one record with an empty push, as a phone does when it lacks it.
async fn fetch(
    app: &TestApp,
    phone: &Phone,
    id: &DocId,
    kind: RecordKind,
) -> anyhow::Result<DocResult> {
    let fetch = DocPush {
        id: id.clone(),
        kind,
        base_heads: Vec::new(),
        changes: Bytes(Vec::new()),
    };
    let request = SyncRequest::new(phone.session.device.clone(), None, vec![fetch]);
    let response = app.post_sync(&phone.session.access_token, &request).await?;
    anyhow::ensure!(response.status() == 200, "sync: {}", response.status());
    let response: SyncResponse = serde_json::from_slice(&response.bytes().await?)?;
    response.docs.into_iter().next().context("a result")
}

async fn a_phone_cannot_fetch_what_its_role_does_not_hold(app: TestApp) -> anyhow::Result<()> {
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let boss = app
        .user("boss", Role::CommunitySupervisor, app.grid_a())
        .await?;
    let mut worker = app.phone(&li).await?;
    let made = made_by_a_worker(&app, &mut worker).await?;
    let sup = app.phone(&boss).await?;

    // An empty push is how a phone fetches one record; for a household or a party
    // registration a supervisor's phone is refused and receives no change.
    for (id, kind) in [
        (&made.grouped, RecordKind::Household),
        (&made.party, RecordKind::PartyRegistration),
    ] {
        let result = fetch(&app, &sup, id, kind).await?;
        assert_eq!(result.status, DocStatus::Rejected, "{kind}");
        assert_eq!(
            result.error.as_ref().map(|e| e.code.as_str()),
            Some(codes::FORBIDDEN)
        );
        assert!(result.changes.is_empty(), "{kind}");
    }
    // A case is theirs to fetch.
    let result = fetch(&app, &sup, &made.case, RecordKind::Case).await?;
    assert_eq!(result.status, DocStatus::Ok);
    assert!(!result.changes.is_empty());
    app.stop().await
}

async fn reading_a_household_with_special_groups_is_audited(app: TestApp) -> anyhow::Result<()> {
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let boss = app
        .user("boss", Role::CommunitySupervisor, app.grid_a())
        .await?;
    let admin = app.user("auditor", Role::Admin, app.grid_a()).await?;
    let mut worker = app.phone(&li).await?;
    let mut labelled = household(&app.grid_a(), "201");
    labelled.residents[0].special_groups.push(SpecialGroup {
        id: ItemId::new(),
        group: "dibao".into(),
        verified: true,
        valid_from: None,
        valid_until: None,
    });
    let labelled = worker.replica.create(&labelled, at(0))?;
    let plain = worker
        .replica
        .create(&household(&app.grid_a(), "202"), at(1))?;
    worker.sync(&app).await?;

    let s = app.login(&boss).await?;
    for id in [&labelled, &plain] {
        let a = get(&app, &s.access_token, &format!("/v1/records/{id}")).await?;
        assert_eq!(a.status, 200, "{}", a.text);
    }
    let a_token = app.login(&admin).await?.access_token;
    let a = get(
        &app,
        &a_token,
        "/v1/admin/audit?action=sensitive_read&per_page=100",
    )
    .await?;
    assert_eq!(a.status, 200, "{}", a.text);
    let items = a.body["items"].as_array().context("items")?;
    assert_eq!(items.len(), 1, "only the labelled household: {}", a.text);
    assert_eq!(items[0]["record_id"], labelled.to_string());
    assert_eq!(items[0]["actor_login"], "boss");
    assert_eq!(
        items[0]["detail"],
        serde_json::json!({"residents_with_special_groups": 1})
    );
    // The row names no label: which group a resident is in stays out of the log.
    assert!(!a.text.contains("dibao"), "{}", a.text);
    app.stop().await
}
