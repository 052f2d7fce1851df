//! Shared pieces of the scenarios.

use std::io::Read;

use anyhow::Context;
use gridbook_tests::Phone;
use sync_core::ids::{BlobHash, DeviceId, DocId, ItemId, UserId};
use sync_core::models::case::{Case, CaseAction, CaseEvent, CaseKind, Urgency};
use sync_core::models::household::{Address, Household, Resident};
use sync_core::models::household_private::{HouseholdPrivate, ResidentIdentity};
use sync_core::models::{Attachment, AttachmentStage, MediaType};
use sync_core::record::{Place, Role};
use sync_core::time::Timestamp;

/// Runs each named scenario `async fn name(app: TestApp) -> anyhow::Result<()>` as two tests,
/// `name::sqlite` and `name::postgres`.
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                use gridbook_tests::{Backend, TestApp};

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() -> anyhow::Result<()> {
                    match TestApp::spawn(Backend::Sqlite).await? {
                        Some(app) => super::$name(app).await,
                        None => Ok(()),
                    }
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() -> anyhow::Result<()> {
                    match TestApp::spawn(Backend::Postgres).await? {
                        Some(app) => super::$name(app).await,
                        None => Ok(()),
                    }
                }
            }
        )+
    };
}
pub(crate) use on_both_backends;

/// Like [`on_both_backends`], each server starting on the small demo
/// ([`gridbook_tests::TestApp::spawn_demo`]) instead of the test places.
macro_rules! on_the_small_demo {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                use gridbook_tests::{Backend, TestApp};

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() -> anyhow::Result<()> {
                    match TestApp::spawn_demo(Backend::Sqlite).await? {
                        Some(app) => super::$name(app).await,
                        None => Ok(()),
                    }
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() -> anyhow::Result<()> {
                    match TestApp::spawn_demo(Backend::Postgres).await? {
                        Some(app) => super::$name(app).await,
                        None => Ok(()),
                    }
                }
            }
        )+
    };
}
pub(crate) use on_the_small_demo;

/// A device clock reading `minutes` after a fixed morning.
pub fn at(minutes: i64) -> Timestamp {
    Timestamp::from_millis(1_772_416_800_000 + minutes * 60_000)
}

/// A resident (the household's entry) and their entry of the household's private document: a
/// valid ID number, phone 13800001111 and the birth date.
pub fn resident_and_identity(name: &str, born: &str) -> (Resident, ResidentIdentity) {
    let (resident, identity, _) = gridbook_tests::resident_with_id_number(name, born);
    (resident, identity)
}

/// A resident as the household document holds them (their identity is left out).
pub fn resident(name: &str, born: &str) -> Resident {
    resident_and_identity(name, born).0
}

/// A household with one resident, and that resident's entry of its private document (a valid
/// ID number, phone 13800001111, birth date).
pub fn household_and_identities(place: &Place, room: &str) -> (Household, Vec<ResidentIdentity>) {
    let mut h = Household::new(
        place.clone(),
        Address {
            compound: "乌江水岸".into(),
            building: "2".into(),
            unit: "1".into(),
            room: room.into(),
        },
    );
    let (head, identity) = resident_and_identity("王秀英", "19520304");
    h.residents.push(head);
    (h, vec![identity])
}

/// A household with one resident (without a private document: no ID number, no phone).
pub fn household(place: &Place, room: &str) -> Household {
    household_and_identities(place, room).0
}

/// Creates on `phone`, offline, a household with one resident and its private document
/// holding the resident's ID number and phone 13800001111, as the phone library does. The
/// household's id.
pub fn create_household(
    phone: &mut Phone,
    place: &Place,
    room: &str,
    when: Timestamp,
) -> anyhow::Result<DocId> {
    let (h, identities) = household_and_identities(place, room);
    phone.create_household(&h, identities, when)?;
    Ok(h.id)
}

/// The private document of household `household` as `phone` holds it.
pub fn private_on(phone: &Phone, household: &DocId) -> anyhow::Result<HouseholdPrivate> {
    Ok(phone
        .replica
        .document(&HouseholdPrivate::id_for(household))
        .context("the household's private document is held")?
        .read()?)
}

/// A submitted appeal opened by `worker`.
pub fn case(place: &Place, worker: &UserId) -> Case {
    Case {
        attachments: Vec::new(),
        id: DocId::new(),
        case_kind: CaseKind::Appeal,
        category: "elderly_care".into(),
        subject: "独居老人需要助餐 meals for an elderly resident".into(),
        description: String::new(),
        place: place.clone(),
        location: None,
        household: None,
        parties: Vec::new(),
        urgency: Urgency::Normal,
        confidential: false,
        opened_by: worker.clone(),
        opened_at: at(0),
        events: vec![event(worker, Role::GridWorker, CaseAction::Submit, at(0))],
        mediation: Vec::new(),
        rectification: None,
    }
}

/// A case event. It names no device: the replica that writes it names its own.
/// A photo reference of `bytes` (a JPEG) taken on `device` at `when`; its bytes need not be
/// uploaded for the record to be accepted.
pub fn photo_of(
    bytes: &[u8],
    device: &DeviceId,
    stage: Option<AttachmentStage>,
    when: Timestamp,
) -> Attachment {
    Attachment {
        id: ItemId::new(),
        sha256: BlobHash::of(bytes),
        media_type: MediaType::Jpeg,
        size: bytes.len() as u64,
        width: None,
        height: None,
        taken_at: when,
        device: device.clone(),
        caption: None,
        location: None,
        stage,
        part: None,
    }
}

/// The photo after rectification a hazard's verification needs.
pub fn after_photo(device: &DeviceId, when: Timestamp) -> Attachment {
    photo_of(
        b"after rectification",
        device,
        Some(AttachmentStage::After),
        when,
    )
}

pub fn event(actor: &UserId, role: Role, action: CaseAction, when: Timestamp) -> CaseEvent {
    CaseEvent {
        id: ItemId::new(),
        actor: actor.clone(),
        role,
        action,
        note: None,
        at: when,
        assignee: None,
        delay_days: None,
        level: None,
        target: None,
        device: None,
        department: None,
        co_departments: Vec::new(),
    }
}

/// Like [`on_both_backends`], starting each server with its settings adjusted by `adjust`
/// (a function `fn(&mut Settings)` next to the scenarios).
macro_rules! on_both_backends_with {
    ($adjust:ident => $($name:ident),+ $(,)?) => {
        $(
            mod $name {
                use gridbook_tests::{Backend, TestApp};

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() -> anyhow::Result<()> {
                    match TestApp::spawn_with(Backend::Sqlite, super::$adjust).await? {
                        Some(app) => super::$name(app).await,
                        None => Ok(()),
                    }
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() -> anyhow::Result<()> {
                    match TestApp::spawn_with(Backend::Postgres, super::$adjust).await? {
                        Some(app) => super::$name(app).await,
                        None => Ok(()),
                    }
                }
            }
        )+
    };
}
pub(crate) use on_both_backends_with;

/// The current time (the server's clock is the same machine's).
pub fn now() -> Timestamp {
    Timestamp::from_millis(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
    )
}

/// Every file of the test's folder holding `needle`.
pub fn files_holding(dir: &std::path::Path, needle: &str) -> anyhow::Result<Vec<String>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if !entry.file_type()?.is_file() {
            continue;
        }
        let bytes = std::fs::read(entry.path())?;
        if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
            found.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    Ok(found)
}

/// `GET path`: status, headers and raw body.
pub async fn get_raw(
    app: &gridbook_tests::TestApp,
    phone: &Phone,
    path: &str,
) -> anyhow::Result<(u16, reqwest::header::HeaderMap, Vec<u8>)> {
    let response = app
        .http
        .get(app.url(path))
        .bearer_auth(&phone.session.access_token)
        .send()
        .await?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    Ok((status, headers, response.bytes().await?.to_vec()))
}

/// Every file of a zip (an XLSX), decompressed and concatenated.
pub fn unzip_all(body: Vec<u8>) -> anyhow::Result<String> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(body))?;
    let mut text = String::new();
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i)?;
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes)?;
        text.push_str(&String::from_utf8_lossy(&bytes));
        text.push('\n');
    }
    Ok(text)
}

/// `GET path` as `phone`'s user: status and JSON body.
pub async fn get(
    app: &gridbook_tests::TestApp,
    phone: &Phone,
    path: &str,
) -> anyhow::Result<(u16, serde_json::Value)> {
    app.get_json(path, Some(&phone.session.access_token)).await
}

/// `GET path` as `phone`'s user, which must answer 200: the JSON body.
pub async fn get_ok(
    app: &gridbook_tests::TestApp,
    phone: &Phone,
    path: &str,
) -> anyhow::Result<serde_json::Value> {
    let (status, body) = get(app, phone, path).await?;
    anyhow::ensure!(status == 200, "{path}: {status} {body}");
    Ok(body)
}

/// A JSON Schema validator (draft 2020-12) that also checks formats (`uuid`, `date`,
/// `date-time`), for the record kinds' schemas.
pub fn schema_validator(schema: &serde_json::Value) -> jsonschema::Validator {
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(schema)
        .expect("the schema compiles")
}

/// A second street `s2` with community `cz` and grid `cz-1`, made by an administrator.
pub async fn second_street(app: &gridbook_tests::TestApp, token: &str) -> anyhow::Result<Place> {
    for (path, body) in [
        (
            "/v1/admin/streets/s2",
            serde_json::json!({ "name": "第二街道" }),
        ),
        (
            "/v1/admin/communities/cz",
            serde_json::json!({ "name": "丁社区", "street": "s2" }),
        ),
        (
            "/v1/admin/grids/cz-1",
            serde_json::json!({ "name": "丁一格", "community": "cz" }),
        ),
    ] {
        let a = gridbook_tests::client::put(app, token, path, &body).await?;
        anyhow::ensure!(a.status == 200, "{path}: {} {}", a.status, a.text);
    }
    Ok(Place {
        community: "cz".parse()?,
        grid: "cz-1".parse()?,
    })
}
