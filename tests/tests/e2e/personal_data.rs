//! Personal data on phones (issue 15): each role's phone receives only the documents its work
//! needs, and every sync that sends documents holding personal data is audited. A household's
//! document (address, names, relations) reaches grid workers, liaisons (their group's) and
//! supervisors; its private document (ID numbers, phones, birth dates, special groups) and
//! party registrations only the grid workers of the grid.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context;
use gridbook_server::demo::DEMO_PASSWORD;
use gridbook_tests::client::sign_in;
use gridbook_tests::{Phone, Session, TestApp, TestUser};
use serde_json::Value;
use sync_core::client::Replica;
use sync_core::ids::{DocId, ItemId};
use sync_core::models::household_private::SpecialGroup;
use sync_core::models::party::{PartyRegistration, RegistrantKind};
use sync_core::models::visit::{Visit, VisitMethod};
use sync_core::models::{Household, HouseholdPrivate};
use sync_core::protocol::{Bytes, DocPush, DocResult, DocStatus, SyncRequest, SyncResponse, codes};
use sync_core::record::{RecordKind, Role};
use sync_core::time::Date;
use sync_core::validate::ValidationContext;

use gridbook_tests::client::get;

use crate::support::{at, case, household_and_identities, on_both_backends, on_the_small_demo};

on_the_small_demo!(phones_hold_only_what_their_role_needs);

on_both_backends!(
    each_role_receives_exactly_its_documents_and_the_workers_sync_is_audited,
    a_phone_cannot_fetch_what_its_role_does_not_hold,
    reading_a_household_with_special_groups_is_audited,
    a_private_document_starts_only_beside_its_household,
);

/// What a grid worker's phone made: a household of liaison group `lg-1` and one of no group
/// (each with its private document: residents' ID numbers and phones), a party registration
/// with a phone, a case and a visit, all in grid `ca-1`.
struct Made {
    grouped: DocId,
    ungrouped: DocId,
    party: DocId,
    case: DocId,
    visit: DocId,
    secrets: Vec<String>,
}

impl Made {
    /// The private document of the grouped household.
    fn grouped_private(&self) -> DocId {
        HouseholdPrivate::id_for(&self.grouped)
    }

    /// The private document of the ungrouped household.
    fn ungrouped_private(&self) -> DocId {
        HouseholdPrivate::id_for(&self.ungrouped)
    }
}

async fn made_by_a_worker(app: &TestApp, phone: &mut Phone) -> anyhow::Result<Made> {
    let worker = phone.session.user.id.clone();
    let mut secrets: Vec<String> = Vec::new();
    let mut made = Vec::new();
    for (room, group) in [("101", Some("lg-1".parse()?)), ("102", None)] {
        let (mut h, identities) = household_and_identities(&app.grid_a(), room);
        h.liaison_group = group;
        for r in &identities {
            secrets.extend(r.id_number.clone());
            secrets.extend(r.phone.clone());
        }
        phone.create_household(&h, identities, at(0))?;
        made.push(h.id);
    }
    let (grouped, ungrouped) = (made[0].clone(), made[1].clone());
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
        attachments: Vec::new(),
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

/// The ID numbers (18 characters: 17 digits and a digit or `X`, `\d{17}[\dX]`) and mobile
/// numbers (11 digits starting with 1, `1\d{10}`) in `text`. Each must be a whole run of
/// digits (a longer run is another number), and runs inside UUIDs (record, resident and user
/// ids, whose hex groups may be all digits by chance) do not count.
fn personal_numbers(text: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let (mut ids, mut phones) = (BTreeSet::new(), BTreeSet::new());
    let tokens = text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'));
    for token in tokens.filter(|t| t.parse::<DocId>().is_err()) {
        let bytes = token.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if !bytes[i].is_ascii_digit() {
                i += 1;
                continue;
            }
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            let run = &token[start..i];
            let x = matches!(bytes.get(i), Some(b'X' | b'x'));
            if run.len() == 18 || (run.len() == 17 && x) {
                ids.insert(token[start..i + usize::from(x)].to_owned());
            } else if run.len() == 11 && run.starts_with('1') {
                phones.insert(run.to_owned());
            }
        }
    }
    (ids, phones)
}

/// The ID numbers and mobile numbers in the JSON of every document `replica` holds.
fn numbers_held(replica: &Replica) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut text = String::new();
    for id in replica.doc_ids() {
        if let Some(doc) = replica.document(&id) {
            text.push_str(&doc.json().to_string());
            text.push('\n');
        }
    }
    personal_numbers(&text)
}

/// A phone of the demo user `login` (signed in with the demo password as a new device).
async fn demo_phone(app: &TestApp, login: &str) -> anyhow::Result<Phone> {
    let a = sign_in(app, login, DEMO_PASSWORD).await?;
    anyhow::ensure!(a.status == 200, "signing {login} in: {}", a.text);
    let text = |key: &str| a.body[key].as_str().map(str::to_owned);
    let device: sync_core::ids::DeviceId = text("device_id").context("device")?.parse()?;
    let session = Session {
        access_token: text("access_token").context("access token")?,
        refresh_token: text("refresh_token").context("refresh token")?,
        device: device.clone(),
        user: TestUser {
            id: a.body["user"]["id"].as_str().context("user id")?.parse()?,
            login: login.to_owned(),
            role: serde_json::from_value(a.body["user"]["role"].clone())?,
        },
    };
    Ok(Phone {
        session,
        replica: Replica::new(device, ValidationContext::default()),
    })
}

/// The kinds of the documents a phone holds, with how many of each.
fn kinds_held(phone: &Phone) -> BTreeMap<RecordKind, usize> {
    let mut kinds = BTreeMap::new();
    for id in phone.replica.doc_ids() {
        if let Some(doc) = phone.replica.document(&id) {
            *kinds.entry(doc.kind()).or_default() += 1;
        }
    }
    kinds
}

/// The leak of issue 15 measured again, on the small demo (2 communities of 2 grids, 30
/// households each, liaison groups of 15): a community supervisor's, a street supervisor's
/// and a liaison's phone sync everything they receive and hold households, yet not one ID
/// number or mobile number; a grid worker's phone holds its grid's private documents (and so
/// its residents' numbers), no other grid's. Only the grid worker's sync is audited as
/// sending personal data.
async fn phones_hold_only_what_their_role_needs(app: TestApp) -> anyhow::Result<()> {
    let grid: sync_core::ids::GridId = "dzk-01".parse()?;
    let mut worker = demo_phone(&app, "dzk-01").await?;
    let mut liaison = demo_phone(&app, "dzk-01-l01").await?;
    let mut boss = demo_phone(&app, "dzk-sup").await?;
    let mut street = demo_phone(&app, "street").await?;
    for phone in [&mut worker, &mut liaison, &mut boss, &mut street] {
        phone.sync(&app).await?;
        assert!(
            phone.replica.pending().is_empty(),
            "{}",
            phone.session.user.login
        );
    }

    // The grid worker's phone: its grid's households, each with its private document, and
    // the party registrations; every one of grid dzk-01. Their ID numbers and phones are on
    // it (the scan below finds what there is to find), in private documents and party
    // registrations only, never in a household document.
    let kinds = kinds_held(&worker);
    let households = kinds.get(&RecordKind::Household).copied().unwrap_or(0);
    assert_eq!(households, 30, "{kinds:?}");
    assert_eq!(
        kinds.get(&RecordKind::HouseholdPrivate),
        Some(&households),
        "{kinds:?}"
    );
    let mut private_docs = 0;
    for id in worker.replica.doc_ids() {
        let doc = worker.replica.document(&id).context("held")?;
        let place = &doc.json()["place"];
        assert_eq!(place["grid"], grid.to_string(), "{id} of another grid");
        if doc.kind() == RecordKind::HouseholdPrivate {
            let p: HouseholdPrivate = doc.read()?;
            let h: Household = worker
                .replica
                .document(&p.household)
                .context("its household is held too")?
                .read()?;
            assert_eq!(p.id, HouseholdPrivate::id_for(&h.id));
            private_docs += 1;
        }
        if doc.kind() == RecordKind::Household {
            let (ids, phones) = personal_numbers(&doc.json().to_string());
            assert!(
                ids.is_empty() && phones.is_empty(),
                "{id}: {ids:?} {phones:?}"
            );
        }
    }
    let (ids, phones) = numbers_held(&worker.replica);
    assert!(ids.len() >= households, "{} ID numbers", ids.len());
    assert!(!phones.is_empty());

    // The supervisors' and the liaison's phones: households, no private document, no party
    // registration, and not one ID number or mobile number.
    let boss_kinds = kinds_held(&boss);
    assert_eq!(
        boss_kinds.get(&RecordKind::Household),
        Some(&60),
        "community dzk's two grids: {boss_kinds:?}"
    );
    assert!(boss_kinds.get(&RecordKind::Case).is_some_and(|n| *n > 0));
    let street_kinds = kinds_held(&street);
    assert_eq!(
        street_kinds.get(&RecordKind::Household),
        Some(&120),
        "the whole street: {street_kinds:?}"
    );
    let liaison_kinds = kinds_held(&liaison);
    assert_eq!(
        liaison_kinds.get(&RecordKind::Household),
        Some(&15),
        "their group's households: {liaison_kinds:?}"
    );
    assert!(
        liaison_kinds
            .keys()
            .all(|k| matches!(k, RecordKind::Household | RecordKind::Report)),
        "their group's households and reports only: {liaison_kinds:?}"
    );
    for id in liaison.replica.doc_ids() {
        let doc = liaison.replica.document(&id).context("held")?;
        let group = match doc.kind() {
            RecordKind::Report => Some(doc.read::<sync_core::models::Report>()?.liaison_group),
            _ => doc.read::<Household>()?.liaison_group,
        };
        assert_eq!(
            group.as_ref().map(ToString::to_string).as_deref(),
            Some("dzk-01-l01")
        );
    }
    for (phone, kinds) in [
        (&boss, &boss_kinds),
        (&street, &street_kinds),
        (&liaison, &liaison_kinds),
    ] {
        let login = &phone.session.user.login;
        for kind in [RecordKind::HouseholdPrivate, RecordKind::PartyRegistration] {
            assert!(
                !kinds.contains_key(&kind),
                "{login} holds {kind}: {kinds:?}"
            );
        }
        let (ids, phones) = numbers_held(&phone.replica);
        assert_eq!(
            (ids.len(), phones.len()),
            (0, 0),
            "{login}'s phone holds ID numbers {ids:?} and phone numbers {phones:?}"
        );
    }

    // The audit log: the grid worker's sync sent personal data (its private documents and
    // party registrations), the others' did not.
    let admin = demo_phone(&app, "admin").await?;
    let rows = personal_data_rows(&app, &admin.session.access_token).await?;
    let of = |phone: &Phone| -> Vec<&Value> {
        let device = phone.session.device.to_string();
        rows.iter()
            .filter(|r| r["device_id"].as_str() == Some(device.as_str()))
            .collect()
    };
    let worker_rows = of(&worker);
    assert!(!worker_rows.is_empty(), "{rows:#?}");
    let parties = kinds
        .get(&RecordKind::PartyRegistration)
        .copied()
        .unwrap_or(0);
    let sent: u64 = worker_rows
        .iter()
        .map(|r| r["detail"]["documents"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(sent, (private_docs + parties) as u64, "{rows:#?}");
    for r in &worker_rows {
        assert_eq!(r["actor_login"], "dzk-01");
        let grids = r["detail"]["grids"].as_object().context("grids")?;
        assert_eq!(grids.keys().collect::<Vec<_>>(), ["dzk-01"], "{r}");
    }
    for phone in [&boss, &street, &liaison] {
        assert!(
            of(phone).is_empty(),
            "{}: {rows:#?}",
            phone.session.user.login
        );
    }
    assert_eq!(rows.len(), worker_rows.len(), "{rows:#?}");
    app.stop().await
}

/// The same on a handful of records, document by document: what each role's phone receives,
/// and the one audit row of the sync that sent personal data.
async fn each_role_receives_exactly_its_documents_and_the_workers_sync_is_audited(
    app: TestApp,
) -> anyhow::Result<()> {
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

    // Supervisors' phones: households, cases and visits; no household's private document, no
    // party registration, and so no ID number or phone number at all.
    let mut sups = Vec::new();
    for user in [&boss, &street] {
        let mut sup = app.phone(user).await?;
        sup.sync(&app).await?;
        assert_eq!(
            held(&sup),
            sorted(vec![
                made.grouped.clone(),
                made.ungrouped.clone(),
                made.case.clone(),
                made.visit.clone(),
            ]),
            "{}",
            user.login
        );
        let text = everything_held(&sup);
        for secret in &made.secrets {
            assert!(!text.contains(secret.as_str()), "{}: {secret}", user.login);
        }
        sups.push(sup);
    }

    // A liaison's phone: the households of their group and nothing else (not its private
    // document).
    let mut lian = app.phone(&liaison).await?;
    lian.sync(&app).await?;
    assert_eq!(held(&lian), vec![made.grouped.clone()]);
    let text = everything_held(&lian);
    for secret in &made.secrets {
        assert!(!text.contains(secret.as_str()), "lian: {secret}");
    }

    // A grid worker's new phone: everything of the grid.
    let mut second = app.phone(&li).await?;
    second.sync(&app).await?;
    assert_eq!(
        held(&second),
        sorted(vec![
            made.grouped.clone(),
            made.grouped_private(),
            made.ungrouped.clone(),
            made.ungrouped_private(),
            made.party.clone(),
            made.case.clone(),
            made.visit.clone(),
        ])
    );
    let text = everything_held(&second);
    for secret in &made.secrets {
        assert!(text.contains(secret.as_str()), "li's phone lacks {secret}");
    }

    // One audit row per sync that sent documents holding personal data: the worker's second
    // phone (two private documents and the party registration). The supervisors' and the
    // liaison's syncs (households only) and the worker's first sync (which sent nothing
    // back) have none.
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
        vec![(
            "li".to_owned(),
            second.session.device.to_string(),
            serde_json::json!({"documents": 3, "grids": {"ca-1": 3}}),
        )],
        "{rows:#?}"
    );

    // Syncing again sends nothing new and writes no row.
    second.sync(&app).await?;
    lian.sync(&app).await?;
    for sup in &mut sups {
        sup.sync(&app).await?;
    }
    assert_eq!(personal_data_rows(&app, &admin).await?.len(), 1);
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
    let liaison = app
        .user_in_group("lian", Role::Liaison, app.grid_a(), Some("lg-1".parse()?))
        .await?;
    let mut worker = app.phone(&li).await?;
    let made = made_by_a_worker(&app, &mut worker).await?;
    let sup = app.phone(&boss).await?;
    let lian = app.phone(&liaison).await?;

    // An empty push is how a phone fetches one record. For a household's private document
    // or a party registration a supervisor's phone is refused and receives no change; so is
    // a liaison's, for those and for a household of no group of theirs.
    for (phone, id, kind) in [
        (&sup, made.grouped_private(), RecordKind::HouseholdPrivate),
        (&sup, made.party.clone(), RecordKind::PartyRegistration),
        (&lian, made.grouped_private(), RecordKind::HouseholdPrivate),
        (&lian, made.party.clone(), RecordKind::PartyRegistration),
        (&lian, made.ungrouped.clone(), RecordKind::Household),
        (&lian, made.case.clone(), RecordKind::Case),
    ] {
        let who = &phone.session.user.login;
        let result = fetch(&app, phone, &id, kind).await?;
        assert_eq!(result.status, DocStatus::Rejected, "{who}: {kind}");
        assert_eq!(
            result.error.as_ref().map(|e| e.code.as_str()),
            Some(codes::FORBIDDEN),
            "{who}: {kind}"
        );
        assert!(result.changes.is_empty(), "{who}: {kind}");
    }
    // A household and a case are the supervisor's to fetch; the group's household the
    // liaison's.
    for (phone, id, kind) in [
        (&sup, &made.grouped, RecordKind::Household),
        (&sup, &made.case, RecordKind::Case),
        (&lian, &made.grouped, RecordKind::Household),
    ] {
        let who = &phone.session.user.login;
        let result = fetch(&app, phone, id, kind).await?;
        assert_eq!(result.status, DocStatus::Ok, "{who}: {kind}");
        assert!(!result.changes.is_empty(), "{who}: {kind}");
    }
    app.stop().await
}

async fn reading_a_household_with_special_groups_is_audited(app: TestApp) -> anyhow::Result<()> {
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let boss = app
        .user("boss", Role::CommunitySupervisor, app.grid_a())
        .await?;
    let admin = app.user("auditor", Role::Admin, app.grid_a()).await?;
    let mut worker = app.phone(&li).await?;
    // The label is in the household's private document.
    let (home, mut identities) = household_and_identities(&app.grid_a(), "201");
    identities[0].special_groups.push(SpecialGroup {
        id: ItemId::new(),
        group: "dibao".into(),
        verified: true,
        valid_from: None,
        valid_until: None,
    });
    worker.create_household(&home, identities, at(0))?;
    let labelled = home.id;
    let (home, identities) = household_and_identities(&app.grid_a(), "202");
    worker.create_household(&home, identities, at(1))?;
    let plain = home.id;
    worker.sync(&app).await?;

    let s = app.login(&boss).await?;
    for id in [&labelled, &plain] {
        let a = get(&app, &s.access_token, &format!("/v1/records/{id}")).await?;
        assert_eq!(a.status, 200, "{}", a.text);
        // The household is shown joined with its private document: the label is there.
        let groups = &a.body["record"]["residents"][0]["special_groups"];
        let shown = groups.as_array().context("special groups")?.len();
        assert_eq!(shown, usize::from(id == &labelled), "{}", a.text);
    }
    // The private document read by itself (supervisors may read it online) shows the label
    // too, and is audited the same way.
    let private = HouseholdPrivate::id_for(&labelled);
    let read = get(&app, &s.access_token, &format!("/v1/records/{private}")).await?;
    assert_eq!(read.status, 200, "{}", read.text);
    assert!(read.text.contains("dibao"), "{}", read.text);
    let a_token = app.login(&admin).await?.access_token;
    let a = get(
        &app,
        &a_token,
        "/v1/admin/audit?action=sensitive_read&per_page=100",
    )
    .await?;
    assert_eq!(a.status, 200, "{}", a.text);
    let items = a.body["items"].as_array().context("items")?;
    let mut read: Vec<String> = items
        .iter()
        .map(|i| i["record_id"].as_str().unwrap_or_default().to_owned())
        .collect();
    read.sort_unstable();
    let mut expected = vec![labelled.to_string(), private.to_string()];
    expected.sort_unstable();
    assert_eq!(
        read, expected,
        "the labelled household and its private document: {}",
        a.text
    );
    for item in items {
        assert_eq!(item["actor_login"], "boss");
        assert_eq!(
            item["detail"],
            serde_json::json!({"residents_with_special_groups": 1})
        );
    }
    // The row names no label: which group a resident is in stays out of the log.
    assert!(!a.text.contains("dibao"), "{}", a.text);
    app.stop().await
}

/// Someone who learnt a household's id cannot start its private document in their own grid
/// (which would lock the household's grid worker out of it): the canonical first change names
/// no device, so the server checks the household's place before it accepts a new one.
async fn a_private_document_starts_only_beside_its_household(app: TestApp) -> anyhow::Result<()> {
    let worker_a = app.user("wa", Role::GridWorker, app.grid_a()).await?;
    let worker_b = app.user("wb", Role::GridWorker, app.grid_b()).await?;
    let mut phone_a = app.phone(&worker_a).await?;
    let (household, identities) = household_and_identities(&app.grid_a(), "101");
    phone_a.replica.create(&household, at(0))?;
    phone_a.sync(&app).await?;

    // Grid B's worker starts the private document of grid A's household in grid B.
    let mut phone_b = app.phone(&worker_b).await?;
    let pid = phone_b.replica.start_private(&household.id, app.grid_b())?;
    phone_b
        .replica
        .update(&pid, at(1), |p: &mut HouseholdPrivate| {
            p.residents.clone_from(&identities);
        })?;
    let trip = phone_b.round_trip(&app).await?;
    let result = trip
        .response
        .docs
        .iter()
        .find(|r| r.id == pid)
        .context("a result for the private document")?;
    anyhow::ensure!(
        result.status == DocStatus::Rejected
            && result
                .error
                .as_ref()
                .is_some_and(|e| e.code == codes::FORBIDDEN),
        "a private document started away from its household: {result:?}"
    );

    // Its own grid worker starts it where the household is.
    let pid_a = phone_a.replica.start_private(&household.id, app.grid_a())?;
    anyhow::ensure!(pid_a == pid);
    phone_a
        .replica
        .update(&pid, at(2), |p: &mut HouseholdPrivate| {
            p.residents = identities;
        })?;
    let trip = phone_a.round_trip(&app).await?;
    let result = trip
        .response
        .docs
        .iter()
        .find(|r| r.id == pid)
        .context("a result for the private document")?;
    anyhow::ensure!(result.status == DocStatus::Ok, "{result:?}");
    Ok(())
}
