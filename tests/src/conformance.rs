//! The sync protocol's conformance fixtures (`tests/conformance/*.json`): requests with their
//! change bytes and the answers a conforming server gives, for clients in any language to
//! replay, and the Rust harness that replays them against the real server.
//!
//! The fixtures are generated here ([`fixtures`]) from sync-core with fixed devices, actors,
//! ids and clocks, so every byte is reproducible; `tests/e2e/conformance.rs` checks that the
//! committed files are exactly what this generates (`GRIDBOOK_BLESS=1` rewrites them) and
//! replays each against the server on SQLite and PostgreSQL. The format is described in
//! `tests/conformance/README.md`.

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use automerge::transaction::Transactable;
use automerge::{ActorId, ChangeHash, ROOT, ReadDoc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sync_core::doc::{Author, Document};
use sync_core::ids::ResidentId;
use sync_core::models::household::{
    Address, Gender, Household, Relation, Resident, ResidentStatus,
};
use sync_core::protocol::Bytes;
use sync_core::record::{Place, Role};
use sync_core::time::Timestamp;
use sync_core::validate::ValidationContext;

use crate::app::{PASSWORD, TestApp};

/// Matches any value in an expected body.
pub const ANY: &str = "<any>";

/// One fixture file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    /// What it shows.
    pub about: String,
    /// The users it signs in, by login: their role, their grid and the device id to sign in with.
    pub users: BTreeMap<String, FixtureUser>,
    /// The requests, in order.
    pub steps: Vec<Step>,
}

/// A user a fixture signs in (with `device_id` = `device`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureUser {
    /// `grid_worker`, `community_supervisor`, ...
    pub role: Role,
    /// The grid (for a supervisor: a grid of their community).
    pub grid: String,
    /// The device id the user signs in with.
    pub device: String,
}

/// One request and the answer it must get.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// What it shows.
    pub about: String,
    /// The user whose access token the request carries; none: no `Authorization` header.
    #[serde(rename = "as")]
    pub as_user: Option<String>,
    /// `GET` or `POST`.
    pub method: String,
    /// The path, e.g. `/v1/sync`.
    pub path: String,
    /// The JSON body, if any (`${name}` is replaced by a value saved earlier).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// The answer: its status and a pattern of its JSON body.
    pub expect: Expect,
    /// Values of the answer to keep for later steps: name → JSON pointer.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub save: BTreeMap<String, String>,
}

/// The answer a step must get.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The HTTP status.
    pub status: u16,
    /// A pattern of the body: objects match when every key given matches (the answer may
    /// have more), arrays element by element with the same length, [`ANY`] matches anything,
    /// other values must be equal (after `${name}` substitution).
    pub body: Value,
}

// ---- generating ----------------------------------------------------------------------------

const DEVICE_A: &str = "0198c2a0-0000-7000-8000-00000000000a";
const DEVICE_B: &str = "0198c2a0-0000-7000-8000-00000000000b";
const DEVICE_C: &str = "0198c2a0-0000-7000-8000-00000000000c";
const DEVICE_S: &str = "0198c2a0-0000-7000-8000-000000000005";
const HOUSEHOLD: &str = "0198c2a0-1000-7000-8000-000000000001";
const HOUSEHOLD_2: &str = "0198c2a0-1000-7000-8000-000000000002";
const HOUSEHOLD_3: &str = "0198c2a0-1000-7000-8000-000000000003";
const HOUSEHOLD_4: &str = "0198c2a0-1000-7000-8000-000000000004";
const HOUSEHOLD_5: &str = "0198c2a0-1000-7000-8000-000000000005";
const HOUSEHOLD_6: &str = "0198c2a0-1000-7000-8000-000000000006";
const RESIDENT: &str = "0198c2a0-2000-7000-8000-000000000001";
/// 2026-06-01T02:00:00Z: the change times of the fixtures (milliseconds since the epoch).
const T0: i64 = 1_780_279_200_000;

/// The actor of `device`: its 16 UUID bytes, then 8 bytes fixed here (a real installation
/// chooses them at random once).
fn actor(device: &str) -> anyhow::Result<ActorId> {
    let mut bytes = uuid::Uuid::parse_str(device)?.as_bytes().to_vec();
    bytes.extend_from_slice(b"fixture!");
    Ok(ActorId::from(bytes))
}

fn author(device: &str, at: i64) -> anyhow::Result<Author> {
    Ok(Author::new(actor(device)?, Timestamp::from_millis(at)))
}

fn household(id: &str, room: &str) -> anyhow::Result<Household> {
    let place = Place {
        community: "ca".parse()?,
        grid: "ca-1".parse()?,
    };
    let mut h = Household::new(
        place,
        Address {
            compound: "乌江水岸".into(),
            building: "3".into(),
            unit: "1".into(),
            room: room.into(),
        },
    );
    h.id = id.parse()?;
    h.residents.push(Resident {
        id: RESIDENT.parse::<ResidentId>()?,
        name: "王秀英".into(),
        gender: Gender::Female,
        relation: Relation::Head,
        status: ResidentStatus::Present,
        moved_in: None,
        moved_out: None,
    });
    Ok(h)
}

fn create(h: &Household, device: &str, at: i64) -> anyhow::Result<Document> {
    Ok(Document::create(
        h,
        &author(device, at)?,
        &ValidationContext::default(),
    )?)
}

fn b64(bytes: &[u8]) -> anyhow::Result<Value> {
    Ok(serde_json::to_value(Bytes(bytes.to_vec()))?)
}

fn hashes(heads: &[ChangeHash]) -> Value {
    let mut hex: Vec<String> = heads.iter().map(ToString::to_string).collect();
    hex.sort();
    json!(hex)
}

fn sync_body(device: &str, cursor: Value, docs: Vec<Value>) -> Value {
    json!({ "protocol": 1, "device": device, "cursor": cursor, "docs": docs })
}

fn push(id: &str, kind: &str, base: Value, changes: Value) -> Value {
    json!({ "id": id, "kind": kind, "base_heads": base, "changes": changes })
}

fn ok_result(id: &str, heads: Value, changes: Value) -> Value {
    json!({ "id": id, "status": "ok", "heads": heads, "changes": changes, "error": null })
}

fn refused(id: &str, status: &str, code: &str, fields: Option<Value>) -> Value {
    let mut error = json!({ "code": code, "message": ANY });
    if let Some(fields) = fields {
        error["fields"] = fields;
    }
    json!({ "id": id, "status": status, "heads": [], "changes": "", "error": error })
}

fn step(
    about: &str,
    as_user: Option<&str>,
    body: Option<Value>,
    status: u16,
    expect: Value,
) -> Step {
    Step {
        about: about.into(),
        as_user: as_user.map(str::to_owned),
        method: "POST".into(),
        path: "/v1/sync".into(),
        body,
        expect: Expect {
            status,
            body: expect,
        },
        save: BTreeMap::new(),
    }
}

fn saving(mut step: Step, name: &str, pointer: &str) -> Step {
    step.save.insert(name.into(), pointer.into());
    step
}

fn user(role: Role, grid: &str, device: &str) -> FixtureUser {
    FixtureUser {
        role,
        grid: grid.into(),
        device: device.into(),
    }
}

fn workers() -> BTreeMap<String, FixtureUser> {
    BTreeMap::from([
        (
            "worker-a".to_owned(),
            user(Role::GridWorker, "ca-1", DEVICE_A),
        ),
        (
            "worker-b".to_owned(),
            user(Role::GridWorker, "ca-1", DEVICE_B),
        ),
    ])
}

/// Every fixture, by file name.
pub fn fixtures() -> anyhow::Result<Vec<(String, Fixture)>> {
    Ok(vec![
        ("01-create-and-receive.json".into(), create_and_receive()?),
        ("02-concurrent-edits.json".into(), concurrent_edits()?),
        ("03-refusals-per-document.json".into(), refusals()?),
        ("04-request-errors.json".into(), request_errors()?),
        ("05-scope.json".into(), scope()?),
        ("06-change-time.json".into(), change_time()?),
    ])
}

fn create_and_receive() -> anyhow::Result<Fixture> {
    let doc = create(&household(HOUSEHOLD, "402")?, DEVICE_A, T0)?;
    let changes = b64(&doc.automerge().save_after(&[]))?;
    let heads = hashes(&doc.heads());
    let first_push = sync_body(
        DEVICE_A,
        Value::Null,
        vec![push(HOUSEHOLD, "household", json!([]), changes.clone())],
    );
    let accepted = json!({
        "protocol": 1,
        "cursor": ANY,
        "docs": [ok_result(HOUSEHOLD, heads.clone(), json!(""))],
        "updates": [],
        "more": false,
    });
    Ok(Fixture {
        about: "A phone creates a household offline and pushes it (a full push: `base_heads` \
                empty, every change); a second phone of the same grid receives it on its \
                first sync; a retry of the first push stores nothing new and gets the same \
                answer; a sync with nothing new returns no updates."
            .into(),
        users: workers(),
        steps: vec![
            saving(
                step(
                    "worker-a pushes the new household: one change, accepted; the answer's heads are that change's hash and `changes` is empty (the phone lacks nothing)",
                    Some("worker-a"),
                    Some(first_push.clone()),
                    200,
                    accepted.clone(),
                ),
                "cursor_a",
                "/cursor",
            ),
            saving(
                step(
                    "worker-b's first sync (no cursor, nothing to push) receives the household: its kind, heads, and every change",
                    Some("worker-b"),
                    Some(sync_body(DEVICE_B, Value::Null, vec![])),
                    200,
                    json!({
                        "protocol": 1,
                        "cursor": ANY,
                        "docs": [],
                        "updates": [{ "id": HOUSEHOLD, "kind": "household", "heads": heads, "changes": changes }],
                        "more": false,
                    }),
                ),
                "cursor_b",
                "/cursor",
            ),
            step(
                "worker-a retries the same request (its answer was lost): the same answer, nothing stored twice",
                Some("worker-a"),
                Some(first_push),
                200,
                accepted,
            ),
            step(
                "worker-b syncs again from its cursor: nothing new, the same cursor",
                Some("worker-b"),
                Some(sync_body(DEVICE_B, json!("${cursor_b}"), vec![])),
                200,
                json!({ "protocol": 1, "cursor": "${cursor_b}", "docs": [], "updates": [], "more": false }),
            ),
        ],
    })
}

fn concurrent_edits() -> anyhow::Result<Fixture> {
    let ctx = ValidationContext::default();
    let original = create(&household(HOUSEHOLD, "402")?, DEVICE_A, T0)?;
    let h1 = original.heads();
    let mut on_a = original.clone();
    on_a.update(
        &author(DEVICE_A, T0 + 60_000)?,
        &ctx,
        |h: &mut Household| {
            h.notes = "独居老人，每周走访".into();
            Ok::<_, sync_core::doc::DocumentError>(())
        },
    )?;
    let mut on_b = original.clone();
    on_b.update(
        &author(DEVICE_B, T0 + 120_000)?,
        &ctx,
        |h: &mut Household| {
            h.tags.push("rental".into());
            Ok::<_, sync_core::doc::DocumentError>(())
        },
    )?;
    let a_change = on_a.automerge().save_after(&h1);
    let b_change = on_b.automerge().save_after(&h1);
    let mut merged = on_a.clone();
    merged
        .automerge_mut()
        .merge(&mut on_b.automerge().clone())?;
    let a_heads = hashes(&on_a.heads());
    let merged_heads = hashes(&merged.heads());
    Ok(Fixture {
        about: "Two phones edit different fields of the same household offline, from the same \
                confirmed heads. Each pushes only its new change (`base_heads` = the heads the \
                server confirmed). The second push's answer carries the first phone's change \
                (what it lacks) and both heads; the first phone gets the second's change as an \
                update. Both end with the same document: notes and tag."
            .into(),
        users: workers(),
        steps: vec![
            step(
                "worker-a pushes the new household",
                Some("worker-a"),
                Some(sync_body(
                    DEVICE_A,
                    Value::Null,
                    vec![push(
                        HOUSEHOLD,
                        "household",
                        json!([]),
                        b64(&original.automerge().save_after(&[]))?,
                    )],
                )),
                200,
                json!({ "docs": [ok_result(HOUSEHOLD, hashes(&h1), json!(""))], "updates": [], "more": false }),
            ),
            saving(
                step(
                    "worker-b receives it",
                    Some("worker-b"),
                    Some(sync_body(DEVICE_B, Value::Null, vec![])),
                    200,
                    json!({ "updates": [{ "id": HOUSEHOLD, "kind": "household", "heads": hashes(&h1), "changes": ANY }] }),
                ),
                "cursor_b",
                "/cursor",
            ),
            saving(
                step(
                    "worker-a pushes its edit of `notes` (one change after the confirmed heads)",
                    Some("worker-a"),
                    Some(sync_body(
                        DEVICE_A,
                        Value::Null,
                        vec![push(HOUSEHOLD, "household", hashes(&h1), b64(&a_change)?)],
                    )),
                    200,
                    json!({ "docs": [ok_result(HOUSEHOLD, a_heads, json!(""))], "updates": [], "more": false }),
                ),
                "cursor_a",
                "/cursor",
            ),
            step(
                "worker-b pushes its tag, made without seeing worker-a's edit: accepted; the answer carries worker-a's change and the merged heads (two: neither change knows the other)",
                Some("worker-b"),
                Some(sync_body(
                    DEVICE_B,
                    json!("${cursor_b}"),
                    vec![push(HOUSEHOLD, "household", hashes(&h1), b64(&b_change)?)],
                )),
                200,
                json!({ "docs": [ok_result(HOUSEHOLD, merged_heads.clone(), b64(&a_change)?)], "updates": [], "more": false }),
            ),
            step(
                "worker-a syncs from its cursor and receives worker-b's change",
                Some("worker-a"),
                Some(sync_body(DEVICE_A, json!("${cursor_a}"), vec![])),
                200,
                json!({ "docs": [], "updates": [{ "id": HOUSEHOLD, "kind": "household", "heads": merged_heads, "changes": b64(&b_change)? }], "more": false }),
            ),
        ],
    })
}

fn refusals() -> anyhow::Result<Fixture> {
    // A valid household: accepted beside the refused ones.
    let good = create(&household(HOUSEHOLD, "402")?, DEVICE_A, T0)?;
    let good_heads = hashes(&good.heads());

    // A blank room: created valid, then the room overwritten with spaces by a raw change.
    let mut blank = create(&household(HOUSEHOLD_2, "403")?, DEVICE_A, T0)?;
    {
        let am = blank.automerge_mut();
        let (_, address) = am.get(ROOT, "address")?.context("address")?;
        let mut tx = am.transaction();
        tx.put(&address, "room", "  ")?;
        tx.commit();
    }

    // `notes` as an Automerge Text object.
    let mut text = create(&household(HOUSEHOLD_3, "404")?, DEVICE_A, T0)?;
    {
        let am = text.automerge_mut();
        let mut tx = am.transaction();
        let notes = tx.put_object(ROOT, "notes", automerge::ObjType::Text)?;
        tx.splice_text(&notes, 0, 0, "三楼漏水")?;
        tx.commit();
    }

    // Made on worker-b's phone, pushed by worker-a's.
    let foreign = create(&household(HOUSEHOLD_4, "405")?, DEVICE_B, T0)?;

    // Changes on top of heads the server never saw.
    let unknown_base = create(&household(HOUSEHOLD_5, "406")?, DEVICE_A, T0)?;

    // A change chunk whose checksum was damaged.
    let mut damaged = create(&household(HOUSEHOLD_6, "407")?, DEVICE_A, T0)?
        .automerge()
        .save_after(&[]);
    damaged[4] ^= 0xff;

    let docs = vec![
        push(
            HOUSEHOLD,
            "household",
            json!([]),
            b64(&good.automerge().save_after(&[]))?,
        ),
        push(
            HOUSEHOLD_2,
            "household",
            json!([]),
            b64(&blank.automerge().save_after(&[]))?,
        ),
        push(
            HOUSEHOLD_3,
            "household",
            json!([]),
            b64(&text.automerge().save_after(&[]))?,
        ),
        push(
            HOUSEHOLD_4,
            "household",
            json!([]),
            b64(&foreign.automerge().save_after(&[]))?,
        ),
        push(
            HOUSEHOLD_5,
            "household",
            json!(["0000000000000000000000000000000000000000000000000000000000000000"]),
            b64(&unknown_base.automerge().save_after(&[]))?,
        ),
        push(HOUSEHOLD_6, "household", json!([]), b64(&damaged)?),
    ];
    Ok(Fixture {
        about: "One request pushes six documents; each gets its own outcome and the refused \
                ones never keep the valid one from being stored: `invalid_record` names the \
                field (a blank room; a text field written as an Automerge Text object instead \
                of a string scalar), `foreign_change` (a change made on another device), \
                `need_full` with `missing_dependencies` (base heads the server does not have), \
                `corrupt` (a damaged checksum)."
            .into(),
        users: workers(),
        steps: vec![
            step(
                "six documents, one request",
                Some("worker-a"),
                Some(sync_body(DEVICE_A, Value::Null, docs)),
                200,
                json!({
                    "protocol": 1,
                    "docs": [
                        ok_result(HOUSEHOLD, good_heads.clone(), json!("")),
                        refused(HOUSEHOLD_2, "rejected", "invalid_record", Some(json!([{ "field": "address.room", "message": "must not be empty" }]))),
                        refused(HOUSEHOLD_3, "rejected", "invalid_record", Some(json!([{ "field": "notes", "message": ANY }]))),
                        refused(HOUSEHOLD_4, "rejected", "foreign_change", None),
                        refused(HOUSEHOLD_5, "need_full", "missing_dependencies", None),
                        refused(HOUSEHOLD_6, "rejected", "corrupt", None),
                    ],
                    "updates": [],
                    "more": false,
                }),
            ),
            step(
                "worker-b receives only the stored household",
                Some("worker-b"),
                Some(sync_body(DEVICE_B, Value::Null, vec![])),
                200,
                json!({ "updates": [{ "id": HOUSEHOLD, "kind": "household", "heads": good_heads, "changes": ANY }], "more": false }),
            ),
        ],
    })
}

fn request_errors() -> anyhow::Result<Fixture> {
    let doc = create(&household(HOUSEHOLD, "402")?, DEVICE_A, T0)?;
    let changes = b64(&doc.automerge().save_after(&[]))?;
    let upper = doc.heads()[0].to_string().to_uppercase();
    let error = |code: &str| json!({ "error": { "code": code, "message": ANY } });
    let mut steps = vec![
        step(
            "a hash in uppercase: the whole request is malformed",
            Some("worker-a"),
            Some(sync_body(
                DEVICE_A,
                Value::Null,
                vec![push(
                    HOUSEHOLD,
                    "household",
                    json!([upper]),
                    changes.clone(),
                )],
            )),
            400,
            error("malformed"),
        ),
        step(
            "a protocol version the server does not speak",
            Some("worker-a"),
            Some(json!({ "protocol": 2, "device": DEVICE_A, "cursor": null, "docs": [] })),
            400,
            error("unsupported_protocol"),
        ),
        step(
            "the same document twice",
            Some("worker-a"),
            Some(sync_body(
                DEVICE_A,
                Value::Null,
                vec![
                    push(HOUSEHOLD, "household", json!([]), changes.clone()),
                    push(HOUSEHOLD, "household", json!([]), changes.clone()),
                ],
            )),
            400,
            error("duplicate_doc"),
        ),
        step(
            "a cursor the server cannot read: drop it and sync without one",
            Some("worker-a"),
            Some(sync_body(DEVICE_A, json!("not-a-cursor"), vec![])),
            400,
            error("bad_cursor"),
        ),
        step(
            "a body naming another device than the token's",
            Some("worker-a"),
            Some(sync_body(DEVICE_B, Value::Null, vec![])),
            403,
            error("device_mismatch"),
        ),
        step(
            "an unknown field in the request",
            Some("worker-a"),
            Some(
                json!({ "protocol": 1, "device": DEVICE_A, "cursor": null, "docs": [], "since": 0 }),
            ),
            400,
            error("malformed"),
        ),
        step(
            "no access token",
            None,
            Some(sync_body(DEVICE_A, Value::Null, vec![])),
            401,
            error("unauthorized"),
        ),
    ];
    steps.push(step(
        "after all that, nothing was stored: worker-b receives nothing",
        Some("worker-b"),
        Some(sync_body(DEVICE_B, Value::Null, vec![])),
        200,
        json!({ "docs": [], "updates": [], "more": false }),
    ));
    Ok(Fixture {
        about: "Whole-request errors: an HTTP status and `{\"error\": {\"code\", \"message\"}}`, \
                and nothing of the request is stored."
            .into(),
        users: workers(),
        steps,
    })
}

fn scope() -> anyhow::Result<Fixture> {
    let doc = create(&household(HOUSEHOLD, "402")?, DEVICE_C, T0)?;
    let mut users = workers();
    users.insert("worker-c".into(), user(Role::GridWorker, "cb-1", DEVICE_C));
    Ok(Fixture {
        about: "A grid worker of grid `cb-1` pushes a household placed in grid `ca-1`: \
                `forbidden`, nothing stored; the workers of `ca-1` never receive it."
            .into(),
        users,
        steps: vec![
            step(
                "worker-c writes outside their grid",
                Some("worker-c"),
                Some(sync_body(
                    DEVICE_C,
                    Value::Null,
                    vec![push(
                        HOUSEHOLD,
                        "household",
                        json!([]),
                        b64(&doc.automerge().save_after(&[]))?,
                    )],
                )),
                200,
                json!({ "docs": [refused(HOUSEHOLD, "rejected", "forbidden", None)], "updates": [], "more": false }),
            ),
            step(
                "worker-a of grid ca-1 receives nothing",
                Some("worker-a"),
                Some(sync_body(DEVICE_A, Value::Null, vec![])),
                200,
                json!({ "docs": [], "updates": [], "more": false }),
            ),
        ],
    })
}

fn change_time() -> anyhow::Result<Fixture> {
    // The same instant, once in milliseconds (as the reference writes it) and once in seconds
    // (Automerge JavaScript's default).
    let in_ms = create(&household(HOUSEHOLD, "402")?, DEVICE_A, T0)?;
    let in_s = create(&household(HOUSEHOLD_2, "403")?, DEVICE_A, T0 / 1000)?;
    let mut users = workers();
    users.insert(
        "supervisor".into(),
        user(Role::CommunitySupervisor, "ca-1", DEVICE_S),
    );
    let history = |id: &str| Step {
        about: format!(
            "the supervisor reads the history of {id}: the change is dated 2026-06-01T02:00:00.000Z"
        ),
        as_user: Some("supervisor".into()),
        method: "GET".into(),
        path: format!("/v1/records/{id}/history"),
        body: None,
        expect: Expect {
            status: 200,
            body: json!({ "id": id, "kind": "household", "entries": [{ "at": "2026-06-01T02:00:00.000Z", "device": DEVICE_A }] }),
        },
        save: BTreeMap::new(),
    };
    Ok(Fixture {
        about: "A change's `time` is milliseconds since the Unix epoch; a receiver reads a time \
                below 10^11 as seconds, so a change written with Automerge JavaScript's default \
                (seconds) shows the same instant."
            .into(),
        users,
        steps: vec![
            step(
                "worker-a pushes two households: one change timed in milliseconds, one in seconds",
                Some("worker-a"),
                Some(sync_body(
                    DEVICE_A,
                    Value::Null,
                    vec![
                        push(
                            HOUSEHOLD,
                            "household",
                            json!([]),
                            b64(&in_ms.automerge().save_after(&[]))?,
                        ),
                        push(
                            HOUSEHOLD_2,
                            "household",
                            json!([]),
                            b64(&in_s.automerge().save_after(&[]))?,
                        ),
                    ],
                )),
                200,
                json!({ "docs": [
                    ok_result(HOUSEHOLD, hashes(&in_ms.heads()), json!("")),
                    ok_result(HOUSEHOLD_2, hashes(&in_s.heads()), json!("")),
                ] }),
            ),
            history(HOUSEHOLD),
            history(HOUSEHOLD_2),
        ],
    })
}

// ---- replaying -----------------------------------------------------------------------------

/// Replays `fixture` against `app` (a server with the test places, [`TestApp::spawn`]): makes
/// its users, signs each in with its device, and checks every step's answer.
pub async fn replay(app: &TestApp, fixture: &Fixture) -> anyhow::Result<()> {
    make_users(app, fixture).await?;
    let mut tokens = BTreeMap::new();
    for (login, u) in &fixture.users {
        let response = app
            .http
            .post(app.url("/v1/auth/login"))
            .json(&json!({ "login": login, "password": PASSWORD, "device_id": u.device, "device_name": "conformance" }))
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await?;
        if !status.is_success() || body["device_id"] != u.device.as_str() {
            bail!(
                "{login} could not sign in as device {}: {status} {body}",
                u.device
            );
        }
        tokens.insert(
            login.clone(),
            body["access_token"].as_str().context("token")?.to_owned(),
        );
    }
    let mut saved: BTreeMap<String, Value> = BTreeMap::new();
    for (i, step) in fixture.steps.iter().enumerate() {
        let what = format!("step {} ({})", i + 1, step.about);
        let mut request = match step.method.as_str() {
            "GET" => app.http.get(app.url(&step.path)),
            "POST" => app.http.post(app.url(&step.path)),
            other => bail!("{what}: method {other}"),
        };
        if let Some(user) = &step.as_user {
            request = request.bearer_auth(tokens.get(user).context("a fixture user")?);
        }
        if let Some(body) = &step.body {
            request = request.json(&substitute(body, &saved));
        }
        let response = request.send().await.with_context(|| what.clone())?;
        let status = response.status().as_u16();
        let body: Value = response
            .json()
            .await
            .with_context(|| format!("{what}: a JSON body"))?;
        if status != step.expect.status {
            bail!(
                "{what}: status {status}, expected {}: {body}",
                step.expect.status
            );
        }
        let expected = substitute(&step.expect.body, &saved);
        let mut problems = Vec::new();
        matches(&expected, &body, String::new(), &mut problems);
        if !problems.is_empty() {
            bail!("{what}: {}\nbody: {body}", problems.join("; "));
        }
        for (name, pointer) in &step.save {
            let value = body
                .pointer(pointer)
                .with_context(|| format!("{what}: nothing at {pointer} to save"))?;
            saved.insert(name.clone(), value.clone());
        }
    }
    Ok(())
}

/// Makes the fixture's users (with [`PASSWORD`]) on a server holding the test places.
pub async fn make_users(app: &TestApp, fixture: &Fixture) -> anyhow::Result<()> {
    for (login, u) in &fixture.users {
        let place = match u.grid.as_str() {
            "ca-1" => app.grid_a(),
            "ca-2" => app.grid_a2(),
            "cb-1" => app.grid_b(),
            other => bail!("fixture user {login}: unknown grid {other}"),
        };
        app.user(login, u.role, place).await?;
    }
    Ok(())
}

/// Replaces every string `${name}` by the saved value.
fn substitute(value: &Value, saved: &BTreeMap<String, Value>) -> Value {
    match value {
        Value::String(s) => s
            .strip_prefix("${")
            .and_then(|rest| rest.strip_suffix('}'))
            .and_then(|name| saved.get(name))
            .cloned()
            .unwrap_or_else(|| value.clone()),
        Value::Array(items) => Value::Array(items.iter().map(|v| substitute(v, saved)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), substitute(v, saved)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Whether `actual` matches the pattern `expected` (see [`Expect::body`]); what differs goes
/// to `problems`.
pub fn matches(expected: &Value, actual: &Value, path: String, problems: &mut Vec<String>) {
    match (expected, actual) {
        (Value::String(any), _) if any == ANY => {}
        (Value::Object(want), Value::Object(got)) => {
            for (key, value) in want {
                match got.get(key) {
                    Some(found) => matches(value, found, format!("{path}/{key}"), problems),
                    None => problems.push(format!("{path}/{key} is missing")),
                }
            }
        }
        (Value::Array(want), Value::Array(got)) => {
            if want.len() != got.len() {
                problems.push(format!(
                    "{path} has {} items, expected {}",
                    got.len(),
                    want.len()
                ));
            } else {
                for (i, (w, g)) in want.iter().zip(got).enumerate() {
                    matches(w, g, format!("{path}/{i}"), problems);
                }
            }
        }
        _ if expected == actual => {}
        _ => problems.push(format!("{path} is {actual}, expected {expected}")),
    }
}

/// The fixture files' folder.
pub fn folder() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance")
}

/// A fixture as its file holds it (pretty JSON, a final newline).
pub fn file_text(fixture: &Fixture) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(fixture)? + "\n")
}
