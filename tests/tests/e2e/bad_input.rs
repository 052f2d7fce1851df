//! Bad input: every endpoint family answers malformed, truncated, mistyped, oversized, unknown
//! and out-of-range input with a 4xx in the JSON error shape `{"error": {"code", "message"}}`
//! (or, for one bad document in a sync request, the documented per-document `rejected` status
//! inside a 200); the server stays up and nothing stored changes.

use std::fmt::Write as _;

use anyhow::Context;
use automerge::transaction::Transactable as _;
use gridbook_tests::client::{Answer, answer, get};
use gridbook_tests::{PASSWORD, TestApp, gzip};
use reqwest::Method;
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};
use sync_core::doc::{Author, Document, actor_for_device};
use sync_core::ids::DocId;
use sync_core::protocol::{Bytes, DocPush, SyncRequest, encode_request};
use sync_core::record::{RecordKind, Role};
use sync_core::validate::ValidationContext;

use crate::support::{at, case, household, on_both_backends};

on_both_backends!(bad_input_is_refused_with_a_json_4xx_and_changes_nothing);

/// Whose token a request carries.
#[derive(Debug, Clone, Copy)]
enum Who {
    /// The grid worker's phone.
    Worker,
    /// The community supervisor.
    Supervisor,
    /// The administrator.
    Admin,
    /// No `Authorization` header.
    Nobody,
}

/// What the server must answer.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// The whole request refused: this status and `error.code`.
    Http(u16, &'static str),
    /// A 200 sync answer whose one document is `rejected` with this `error.code`
    /// (docs/sync-protocol.md: per-document outcomes are always inside a 200).
    Rejected(&'static str),
}

/// One bad request of the table.
#[derive(Debug)]
struct Bad {
    name: &'static str,
    method: Method,
    path: String,
    who: Who,
    content_type: Option<&'static str>,
    encoding: Option<&'static str>,
    body: Option<Vec<u8>>,
    /// One more request header (name, value).
    header: Option<(&'static str, String)>,
    expect: Expect,
}

impl Bad {
    fn get(name: &'static str, who: Who, path: impl Into<String>, expect: Expect) -> Self {
        Self {
            name,
            method: Method::GET,
            path: path.into(),
            who,
            content_type: None,
            encoding: None,
            body: None,
            header: None,
            expect,
        }
    }

    /// A POST with `Content-Type: application/json`.
    fn post(
        name: &'static str,
        who: Who,
        path: impl Into<String>,
        body: impl Into<Vec<u8>>,
        expect: Expect,
    ) -> Self {
        Self {
            name,
            method: Method::POST,
            path: path.into(),
            who,
            content_type: Some("application/json"),
            encoding: None,
            body: Some(body.into()),
            header: None,
            expect,
        }
    }

    /// A PUT with `Content-Type: application/json`.
    fn put(
        name: &'static str,
        who: Who,
        path: impl Into<String>,
        body: impl Into<Vec<u8>>,
        expect: Expect,
    ) -> Self {
        Self {
            method: Method::PUT,
            ..Self::post(name, who, path, body, expect)
        }
    }

    fn content_type(self, content_type: Option<&'static str>) -> Self {
        Self {
            content_type,
            ..self
        }
    }

    fn encoding(self, encoding: &'static str) -> Self {
        Self {
            encoding: Some(encoding),
            ..self
        }
    }

    fn method(self, method: Method) -> Self {
        Self { method, ..self }
    }

    fn header(self, name: &'static str, value: String) -> Self {
        Self {
            header: Some((name, value)),
            ..self
        }
    }
}

fn http(status: u16, code: &'static str) -> Expect {
    Expect::Http(status, code)
}

fn malformed() -> Expect {
    http(400, "malformed")
}

/// Standard base64 with padding, as the protocol's `Bytes`.
fn b64(bytes: &[u8]) -> Value {
    serde_json::to_value(Bytes(bytes.to_vec())).unwrap_or(Value::Null)
}

/// The first characters of an answer, for failure messages.
fn snippet(text: &str) -> String {
    text.chars().take(300).collect()
}

/// A sync request of `device` with `n` distinct empty pushes.
fn many_docs(device: &str, n: usize) -> Vec<u8> {
    let mut s = format!(r#"{{"protocol":1,"device":"{device}","cursor":null,"docs":["#);
    for i in 0..n {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(
            s,
            r#"{{"id":"{}","kind":"household","base_heads":[],"changes":""}}"#,
            DocId::new()
        );
    }
    s.push_str("]}");
    s.into_bytes()
}

/// One `DocPush` as JSON.
fn push(id: &str, kind: &str, heads: Value, changes: Value) -> Value {
    json!({"id": id, "kind": kind, "base_heads": heads, "changes": changes})
}

/// `depth` nested JSON arrays.
fn nested(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

/// Sends one case of the table; the answer and its `Content-Type`.
async fn send(app: &TestApp, tokens: &Tokens, bad: Bad) -> anyhow::Result<(Answer, String)> {
    let mut request = app.http.request(bad.method, app.url(&bad.path));
    let token = match bad.who {
        Who::Worker => Some(&tokens.worker),
        Who::Supervisor => Some(&tokens.supervisor),
        Who::Admin => Some(&tokens.admin),
        Who::Nobody => None,
    };
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(content_type) = bad.content_type {
        request = request.header(CONTENT_TYPE, content_type);
    }
    if let Some(encoding) = bad.encoding {
        request = request.header("content-encoding", encoding);
    }
    if let Some((name, value)) = bad.header {
        request = request.header(name, value);
    }
    if let Some(body) = bad.body {
        request = request.body(body);
    }
    let response = request
        .send()
        .await
        .with_context(|| format!("{}: no answer", bad.name))?;
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    Ok((answer(response).await?, content_type))
}

/// Asserts the answer to `name` is what `expect` says, in the JSON error shape.
fn check(name: &str, expect: Expect, a: &Answer, content_type: &str) {
    let text = snippet(&a.text);
    match expect {
        Expect::Http(status, code) => {
            assert!(
                (400..500).contains(&a.status),
                "{name}: expected a 4xx, got {}: {text}",
                a.status
            );
            assert_eq!(a.status, status, "{name}: {text}");
            assert!(
                content_type.starts_with("application/json"),
                "{name}: error answered as {content_type:?}: {text}"
            );
            let message = a.body["error"]["message"].as_str().unwrap_or("");
            assert!(
                !a.code().is_empty() && !message.is_empty(),
                "{name}: not the JSON error shape: {text}"
            );
            assert_eq!(a.code(), code, "{name}: {text}");
        }
        Expect::Rejected(code) => {
            assert_eq!(
                a.status, 200,
                "{name}: per-document refusal expected: {text}"
            );
            let docs = a.body["docs"].as_array().map(Vec::as_slice).unwrap_or(&[]);
            assert_eq!(
                docs.len(),
                1,
                "{name}: one result per pushed document: {text}"
            );
            let doc = &docs[0];
            assert_eq!(doc["status"], "rejected", "{name}: {doc}");
            assert_eq!(doc["error"]["code"], code, "{name}: {doc}");
            assert!(
                doc["error"]["message"]
                    .as_str()
                    .is_some_and(|m| !m.is_empty()),
                "{name}: {doc}"
            );
            assert_eq!(
                doc["heads"],
                json!([]),
                "{name}: rejected results carry no heads"
            );
            assert_eq!(
                doc["changes"], "",
                "{name}: rejected results carry no changes"
            );
        }
    }
}

/// The three sessions' access tokens.
#[derive(Debug)]
struct Tokens {
    worker: String,
    supervisor: String,
    admin: String,
}

/// What is stored, as the store and the API show it: labelled values.
async fn fingerprint(
    app: &TestApp,
    tokens: &Tokens,
    ids: &[&DocId],
) -> anyhow::Result<Vec<(String, Value)>> {
    let mut out = vec![("change count".to_owned(), json!(app.change_count().await?))];
    for id in ids {
        out.push((
            format!("projection of {id}"),
            app.projection(id).await?.unwrap_or(Value::Null),
        ));
    }
    let mut reads: Vec<(&str, String)> = Vec::new();
    for id in ids {
        reads.push((&tokens.supervisor, format!("/v1/records/{id}")));
        reads.push((&tokens.supervisor, format!("/v1/records/{id}/history")));
    }
    reads.push((&tokens.supervisor, "/v1/households".to_owned()));
    reads.push((&tokens.supervisor, "/v1/conflicts".to_owned()));
    reads.push((&tokens.admin, "/v1/admin/places".to_owned()));
    for (token, path) in reads {
        let a = get(app, token, &path).await?;
        anyhow::ensure!(a.status == 200, "{path}: {} {}", a.status, a.text);
        let mut body = a.body;
        // A case's deadline is read against the clock (working time elapsed so far): it
        // moves on its own on a working day, so it is not stored content.
        if let Some(object) = body.as_object_mut() {
            object.remove("deadline");
        }
        out.push((path, body));
    }
    Ok(out)
}

async fn bad_input_is_refused_with_a_json_4xx_and_changes_nothing(
    app: TestApp,
) -> anyhow::Result<()> {
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let boss = app
        .user("boss", Role::CommunitySupervisor, app.grid_a())
        .await?;
    let root = app.user("root", Role::Admin, app.grid_a()).await?;
    let mut phone = app.phone(&li).await?;
    let hid = phone
        .replica
        .create(&household(&app.grid_a(), "301"), at(0))?;
    let cid = phone.replica.create(&case(&app.grid_a(), &li.id), at(1))?;
    phone.sync(&app).await?;
    let tokens = Tokens {
        worker: phone.session.access_token.clone(),
        supervisor: app.login(&boss).await?.access_token,
        admin: app.login(&root).await?.access_token,
    };
    // A case made on the phone and not synced yet: its changes are sent below under the wrong
    // kind, and by the last, normal sync.
    let scratch = phone.replica.create(&case(&app.grid_a(), &li.id), at(2))?;

    let before = fingerprint(&app, &tokens, &[&hid, &cid]).await?;
    let stored = app.change_count().await?;

    // Material.
    let dev = phone.session.device.to_string();
    let h = hid.to_string();
    let c = cid.to_string();
    let stored_doc = phone.replica.document(&hid).context("household held")?;
    let h_changes = stored_doc.automerge().save_after(&[]);
    let h_whole = stored_doc.automerge().save();
    let s_changes = phone
        .replica
        .document(&scratch)
        .context("scratch held")?
        .automerge()
        .save_after(&[]);
    let mut flipped = h_changes.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x5a;
    let good = encode_request(&SyncRequest::new(
        phone.session.device.clone(),
        None,
        vec![DocPush {
            id: hid.clone(),
            kind: RecordKind::Household,
            base_heads: Vec::new(),
            changes: Bytes(h_changes.clone()),
        }],
    ));
    let limit = app.state().settings.max_body_bytes;
    let huge = vec![b' '; limit + 1];
    let bomb = gzip(&huge)?;
    let login_bomb = gzip(&vec![b' '; 31 << 20])?;
    let hash = "ab".repeat(32);
    let sync_body = |docs: Value| -> Vec<u8> {
        json!({"protocol": 1, "device": dev, "cursor": null, "docs": docs})
            .to_string()
            .into_bytes()
    };
    let with_cursor = |cursor: Value| -> Vec<u8> {
        json!({"protocol": 1, "device": dev, "cursor": cursor, "docs": []})
            .to_string()
            .into_bytes()
    };
    let user_body = |role: Value, login: Value, password: &str| -> Vec<u8> {
        json!({"login": login, "display_name": "闯入者", "password": password, "role": role,
               "grid": "ca-1"})
        .to_string()
        .into_bytes()
    };
    // Ids are canonical lowercase UUIDs: other spellings of the same ids.
    let h_up = h.to_uppercase();
    let c_up = c.to_uppercase();
    let dev_up = dev.to_uppercase();
    let li_up = li.id.to_string().to_uppercase();
    // A new household (made by this device, not in the replica) whose root `id` is the
    // uppercase spelling of the id it is pushed under.
    let upper_root = {
        let fresh = household(&app.grid_a(), "302");
        let author = Author::new(actor_for_device(&phone.session.device), at(3));
        let doc = Document::create(&fresh, &author, &ValidationContext::default())?;
        let mut am = doc.automerge().clone();
        let mut tx = am.transaction();
        tx.put(automerge::ROOT, "id", fresh.id.to_string().to_uppercase())?;
        tx.commit();
        (fresh.id.to_string(), am.save_after(&[]))
    };
    let action = format!("/v1/cases/{c}/actions");
    let resolve = format!("/v1/conflicts/{h}/resolve");
    let reveal = format!("/v1/records/{h}/reveal");
    let rejected = Expect::Rejected;
    use Who::{Admin, Nobody, Supervisor, Worker};

    let table: Vec<Bad> = vec![
        // --- POST /v1/sync: the whole request refused ---------------------------------------
        Bad::post("sync: not JSON", Worker, "/v1/sync", "{ nope", malformed()),
        Bad::post(
            "sync: a valid request cut in half",
            Worker,
            "/v1/sync",
            &good[..good.len() / 2],
            malformed(),
        ),
        Bad::post(
            "sync: gzip stream cut short",
            Worker,
            "/v1/sync",
            &gzip(&good)?[..20],
            malformed(),
        )
        .encoding("gzip"),
        Bad::post(
            "sync: not gzip under Content-Encoding: gzip",
            Worker,
            "/v1/sync",
            "this is not gzip at all",
            malformed(),
        )
        .encoding("gzip"),
        Bad::post(
            "sync: Content-Encoding: br (unsupported)",
            Worker,
            "/v1/sync",
            good.clone(),
            http(415, "unsupported_media_type"),
        )
        .encoding("br"),
        Bad::post("sync: empty body", Worker, "/v1/sync", "", malformed()),
        Bad::post("sync: JSON null", Worker, "/v1/sync", "null", malformed()),
        Bad::post(
            "sync: an array instead of an object",
            Worker,
            "/v1/sync",
            "[1,2,3]",
            malformed(),
        ),
        Bad::post(
            "sync: bytes that are not UTF-8",
            Worker,
            "/v1/sync",
            vec![b'{', b'"', 0xff, 0xfe, 0xfd, b'"', b'}'],
            malformed(),
        ),
        Bad::post(
            "sync: protocol as a string",
            Worker,
            "/v1/sync",
            json!({"protocol": "one", "device": dev, "docs": []}).to_string(),
            malformed(),
        ),
        Bad::post(
            "sync: negative protocol",
            Worker,
            "/v1/sync",
            json!({"protocol": -1, "device": dev, "docs": []}).to_string(),
            malformed(),
        ),
        Bad::post(
            "sync: docs as an object instead of an array",
            Worker,
            "/v1/sync",
            sync_body(json!({"id": h})),
            malformed(),
        ),
        Bad::post(
            "sync: changes as a number",
            Worker,
            "/v1/sync",
            sync_body(json!([push(&h, "household", json!([]), json!(12345))])),
            malformed(),
        ),
        Bad::post(
            "sync: unknown protocol version 2",
            Worker,
            "/v1/sync",
            json!({"protocol": 2, "device": dev, "docs": []}).to_string(),
            http(400, "unsupported_protocol"),
        ),
        Bad::post(
            "sync: unknown top-level field",
            Worker,
            "/v1/sync",
            json!({"protocol": 1, "device": dev, "docs": [], "priority": "high"}).to_string(),
            malformed(),
        ),
        Bad::post(
            "sync: unknown field in a document",
            Worker,
            "/v1/sync",
            sync_body(json!([{
                "id": h, "kind": "household", "base_heads": [], "changes": "", "force": true
            }])),
            malformed(),
        ),
        Bad::post(
            "sync: unknown record kind",
            Worker,
            "/v1/sync",
            sync_body(json!([push(&h, "spaceship", json!([]), json!(""))])),
            malformed(),
        ),
        Bad::post(
            "sync: document id not a UUID",
            Worker,
            "/v1/sync",
            sync_body(json!([push(
                "not-a-uuid",
                "household",
                json!([]),
                json!("")
            )])),
            malformed(),
        ),
        Bad::post(
            "sync: device id in uppercase",
            Worker,
            "/v1/sync",
            json!({"protocol": 1, "device": dev_up, "docs": []}).to_string(),
            malformed(),
        ),
        Bad::post(
            "sync: document id in uppercase",
            Worker,
            "/v1/sync",
            sync_body(json!([push(
                &h_up,
                "household",
                json!([]),
                b64(&h_changes)
            )])),
            malformed(),
        ),
        Bad::post(
            "sync: document id without hyphens",
            Worker,
            "/v1/sync",
            sync_body(json!([push(
                &h.replace('-', ""),
                "household",
                json!([]),
                b64(&h_changes)
            )])),
            malformed(),
        ),
        Bad::post(
            "sync: device id not a UUID",
            Worker,
            "/v1/sync",
            json!({"protocol": 1, "device": "my phone", "docs": []}).to_string(),
            malformed(),
        ),
        Bad::post(
            "sync: another device than the token's",
            Worker,
            "/v1/sync",
            json!({"protocol": 1, "device": DocId::new(), "docs": []}).to_string(),
            http(403, "device_mismatch"),
        ),
        Bad::post(
            "sync: invalid base64 in changes",
            Worker,
            "/v1/sync",
            sync_body(json!([push(
                &h,
                "household",
                json!([]),
                json!("@@not*base64!!")
            )])),
            malformed(),
        ),
        Bad::post(
            "sync: base64 without its padding",
            Worker,
            "/v1/sync",
            sync_body(json!([push(&h, "household", json!([]), json!("AAA"))])),
            malformed(),
        ),
        Bad::post(
            "sync: uppercase change hash",
            Worker,
            "/v1/sync",
            sync_body(json!([push(
                &h,
                "household",
                json!([hash.to_uppercase()]),
                json!("")
            )])),
            malformed(),
        ),
        Bad::post(
            "sync: change hash too short",
            Worker,
            "/v1/sync",
            sync_body(json!([push(&h, "household", json!(["abcd"]), json!(""))])),
            malformed(),
        ),
        Bad::post(
            "sync: the same document twice",
            Worker,
            "/v1/sync",
            sync_body(json!([
                push(&h, "household", json!([]), b64(&h_changes)),
                push(&h, "household", json!([]), b64(&h_changes)),
            ])),
            http(400, "duplicate_doc"),
        ),
        Bad::post(
            "sync: cursor of an unknown version",
            Worker,
            "/v1/sync",
            with_cursor(json!("v9:whatever")),
            http(400, "bad_cursor"),
        ),
        Bad::post(
            "sync: cursor with a sequence that is not a number",
            Worker,
            "/v1/sync",
            with_cursor(json!("v1:ca-1=NaN")),
            http(400, "bad_cursor"),
        ),
        Bad::post(
            "sync: cursor over 64 KiB",
            Worker,
            "/v1/sync",
            with_cursor(json!(format!("v1:{}", "a".repeat(70_000)))),
            http(400, "bad_cursor"),
        ),
        Bad::post(
            "sync: cursor as a number",
            Worker,
            "/v1/sync",
            with_cursor(json!(42)),
            malformed(),
        ),
        Bad::post(
            "sync: 1,001 documents",
            Worker,
            "/v1/sync",
            many_docs(&dev, 1_001),
            http(413, "too_many_docs"),
        ),
        Bad::post(
            "sync: 100,001 documents",
            Worker,
            "/v1/sync",
            many_docs(&dev, 100_001),
            http(413, "too_many_docs"),
        ),
        Bad::post(
            "sync: docs nested 10,000 arrays deep",
            Worker,
            "/v1/sync",
            format!(
                r#"{{"protocol":1,"device":"{dev}","docs":{}}}"#,
                nested(10_000)
            ),
            malformed(),
        ),
        Bad::post(
            "sync: body over the limit once decompressed (gzip bomb)",
            Worker,
            "/v1/sync",
            bomb.clone(),
            http(413, "payload_too_large"),
        )
        .encoding("gzip"),
        Bad::post(
            "sync: 40 KiB of request headers",
            Worker,
            "/v1/sync",
            good.clone(),
            http(431, "headers_too_large"),
        )
        .header("x-padding", "p".repeat(40 * 1024)),
        Bad::get(
            "households: a 40 KiB cookie",
            Supervisor,
            "/v1/households",
            http(431, "headers_too_large"),
        )
        .header("cookie", format!("session={}", "c".repeat(40 * 1024))),
        Bad::post(
            "sync: no token and a malformed body",
            Nobody,
            "/v1/sync",
            "{ nope",
            http(401, "unauthorized"),
        ),
        Bad::post(
            "sync: PATCH instead of POST",
            Worker,
            "/v1/sync",
            good.clone(),
            http(405, "method_not_allowed"),
        )
        .method(Method::PATCH),
        Bad::post(
            "sync: the same key twice",
            Worker,
            "/v1/sync",
            format!(r#"{{"protocol":1,"protocol":1,"device":"{dev}","docs":[]}}"#),
            malformed(),
        ),
        Bad::post(
            "sync: garbage after the object",
            Worker,
            "/v1/sync",
            format!(r#"{{"protocol":1,"device":"{dev}","docs":[]}} and more"#),
            malformed(),
        ),
        Bad::post(
            "sync: protocol 1e400",
            Worker,
            "/v1/sync",
            format!(r#"{{"protocol":1e400,"device":"{dev}","docs":[]}}"#),
            malformed(),
        ),
        Bad::post(
            "sync: base_heads as a string",
            Worker,
            "/v1/sync",
            sync_body(json!([push(&h, "household", json!(hash), json!(""))])),
            malformed(),
        ),
        Bad::post(
            "sync: cursor sequence over 64 bits",
            Worker,
            "/v1/sync",
            with_cursor(json!("v1:ca-1=99999999999999999999999")),
            http(400, "bad_cursor"),
        ),
        Bad::post(
            "sync: not zstd under Content-Encoding: zstd",
            Worker,
            "/v1/sync",
            "this is not zstd at all",
            malformed(),
        )
        .encoding("zstd"),
        Bad::post(
            "login: password of 5,000 characters",
            Nobody,
            "/v1/auth/login",
            json!({"login": "li", "password": "p".repeat(5_000)}).to_string(),
            http(401, "invalid_credentials"),
        ),
        Bad::post(
            "login: password of 1 MiB (past the route's 32 KiB)",
            Nobody,
            "/v1/auth/login",
            json!({"login": "li", "password": "p".repeat(1 << 20)}).to_string(),
            http(413, "payload_too_large"),
        ),
        Bad::get(
            "record: id of 10,000 characters",
            Supervisor,
            format!("/v1/records/{}", "a".repeat(10_000)),
            malformed(),
        ),
        // --- POST /v1/sync: one bad document, refused inside a 200 ----------------------------
        Bad::post(
            "sync (per-document rejected): base64 of bytes that are not Automerge",
            Worker,
            "/v1/sync",
            sync_body(json!([push(
                &h,
                "household",
                json!([]),
                b64(b"definitely not an automerge change chunk")
            )])),
            rejected("corrupt"),
        ),
        Bad::post(
            "sync (per-document rejected): a new record whose root id is in uppercase",
            Worker,
            "/v1/sync",
            sync_body(json!([push(
                &upper_root.0,
                "household",
                json!([]),
                b64(&upper_root.1)
            )])),
            rejected("invalid_record"),
        ),
        Bad::post(
            "sync (per-document rejected): a change with a flipped byte (bad checksum)",
            Worker,
            "/v1/sync",
            sync_body(json!([push(&h, "household", json!([]), b64(&flipped))])),
            rejected("corrupt"),
        ),
        Bad::post(
            "sync (per-document rejected): a change chunk cut in half",
            Worker,
            "/v1/sync",
            sync_body(json!([push(
                &h,
                "household",
                json!([]),
                b64(&h_changes[..h_changes.len() / 2])
            )])),
            rejected("corrupt"),
        ),
        Bad::post(
            "sync (per-document rejected): a whole-document chunk instead of changes",
            Worker,
            "/v1/sync",
            sync_body(json!([push(&h, "household", json!([]), b64(&h_whole))])),
            rejected("corrupt"),
        ),
        Bad::post(
            "sync (per-document rejected): a stored household's changes pushed as a case",
            Worker,
            "/v1/sync",
            sync_body(json!([push(&h, "case", json!([]), b64(&h_changes))])),
            rejected("wrong_kind"),
        ),
        Bad::post(
            "sync (per-document rejected): a new case's changes pushed as a household",
            Worker,
            "/v1/sync",
            sync_body(json!([push(
                scratch.as_str(),
                "household",
                json!([]),
                b64(&s_changes)
            )])),
            rejected("wrong_kind"),
        ),
        Bad::post(
            "sync (per-document rejected): 100,001 base heads",
            Worker,
            "/v1/sync",
            sync_body(json!([push(
                &h,
                "household",
                json!(vec![hash.as_str(); 100_001]),
                json!("")
            )])),
            rejected("too_large"),
        ),
        Bad::post(
            "sync (per-document rejected): changes over 4 MiB",
            Worker,
            "/v1/sync",
            sync_body(json!([push(
                &h,
                "household",
                json!([]),
                b64(&vec![0; 4 * 1024 * 1024 + 1])
            )])),
            rejected("too_large"),
        ),
        // --- /v1/auth/* --------------------------------------------------------------------
        Bad::post(
            "login: not JSON",
            Nobody,
            "/v1/auth/login",
            "login=li&password=x",
            malformed(),
        ),
        Bad::post(
            "login: login as a number",
            Nobody,
            "/v1/auth/login",
            json!({"login": 42, "password": PASSWORD}).to_string(),
            malformed(),
        ),
        Bad::post(
            "login: unknown field",
            Nobody,
            "/v1/auth/login",
            json!({"login": "li", "password": PASSWORD, "admin": true}).to_string(),
            malformed(),
        ),
        Bad::post(
            "login: Content-Type text/plain",
            Nobody,
            "/v1/auth/login",
            json!({"login": "li", "password": PASSWORD}).to_string(),
            malformed(),
        )
        .content_type(Some("text/plain")),
        Bad::post(
            "login: no Content-Type",
            Nobody,
            "/v1/auth/login",
            json!({"login": "li", "password": PASSWORD}).to_string(),
            malformed(),
        )
        .content_type(None),
        Bad::post(
            "login: device_id not a UUID",
            Nobody,
            "/v1/auth/login",
            json!({"login": "li", "password": PASSWORD, "device_id": "phone-1"}).to_string(),
            malformed(),
        ),
        Bad::post(
            "login: 8,000 unclosed brackets",
            Nobody,
            "/v1/auth/login",
            "[".repeat(8_000),
            malformed(),
        ),
        Bad::post(
            "login: 31 KiB of gzip inflating to 31 MiB (gzip bomb)",
            Nobody,
            "/v1/auth/login",
            login_bomb,
            http(413, "payload_too_large"),
        )
        .encoding("gzip"),
        Bad::post(
            "login: gzip of a sign-in inflating past the route's 32 KiB",
            Nobody,
            "/v1/auth/login",
            gzip(
                json!({"login": "li", "password": PASSWORD, "device_name": "机".repeat(12_000)})
                    .to_string()
                    .as_bytes(),
            )?,
            http(413, "payload_too_large"),
        )
        .encoding("gzip"),
        Bad::post(
            "login: body over the limit",
            Nobody,
            "/v1/auth/login",
            huge,
            http(413, "payload_too_large"),
        ),
        Bad::post(
            "login: Content-Encoding: br (unsupported)",
            Nobody,
            "/v1/auth/login",
            json!({"login": "li", "password": PASSWORD}).to_string(),
            http(415, "unsupported_media_type"),
        )
        .encoding("br"),
        Bad::post(
            "refresh: empty body",
            Nobody,
            "/v1/auth/refresh",
            "",
            malformed(),
        ),
        Bad::post(
            "refresh: JSON null",
            Nobody,
            "/v1/auth/refresh",
            "null",
            malformed(),
        ),
        Bad::post(
            "refresh: refresh_token as an array",
            Nobody,
            "/v1/auth/refresh",
            json!({"refresh_token": ["a", "b"]}).to_string(),
            malformed(),
        ),
        Bad::post(
            "refresh: a token never issued",
            Nobody,
            "/v1/auth/refresh",
            json!({"refresh_token": "x".repeat(4_000)}).to_string(),
            http(401, "unauthorized"),
        ),
        Bad::post(
            "refresh: a token of 40,000 characters (past the route's 32 KiB)",
            Nobody,
            "/v1/auth/refresh",
            json!({"refresh_token": "x".repeat(40_000)}).to_string(),
            http(413, "payload_too_large"),
        ),
        Bad::post(
            "logout: JSON cut short",
            Nobody,
            "/v1/auth/logout",
            r#"{"refresh_token": "abc"#,
            malformed(),
        ),
        Bad::post(
            "logout: not gzip under Content-Encoding: gzip",
            Nobody,
            "/v1/auth/logout",
            "this is not gzip at all",
            malformed(),
        )
        .encoding("gzip"),
        Bad::post(
            "revoke: device id in uppercase",
            Worker,
            format!("/v1/auth/devices/{dev_up}/revoke"),
            "",
            malformed(),
        ),
        Bad::post(
            "login: device id in uppercase",
            Nobody,
            "/v1/auth/login",
            json!({"login": "li", "password": PASSWORD, "device_id": dev_up}).to_string(),
            malformed(),
        ),
        Bad::post(
            "revoke: device id not a UUID",
            Worker,
            "/v1/auth/devices/not-a-uuid/revoke",
            "",
            malformed(),
        ),
        // --- lists -------------------------------------------------------------------------
        Bad::get(
            "households: per_page=1000000",
            Supervisor,
            "/v1/households?per_page=1000000",
            malformed(),
        ),
        Bad::get(
            "households: per_page beyond 32 bits",
            Supervisor,
            "/v1/households?per_page=99999999999999999999",
            malformed(),
        ),
        Bad::get(
            "households: unknown parameter",
            Supervisor,
            "/v1/households?colour=red",
            malformed(),
        ),
        Bad::get(
            "households: q over 100 characters",
            Supervisor,
            format!("/v1/households?q={}", "x".repeat(101)),
            malformed(),
        ),
        Bad::get(
            "cases: household id in uppercase",
            Supervisor,
            format!("/v1/cases?household={h_up}"),
            malformed(),
        ),
        Bad::get(
            "visits: worker id in uppercase",
            Supervisor,
            format!("/v1/visits?worker={li_up}"),
            malformed(),
        ),
        Bad::get(
            "export: household id in uppercase",
            Supervisor,
            format!("/v1/exports/visits.csv?household={h_up}"),
            malformed(),
        ),
        Bad::get(
            "audit: record id in uppercase",
            Admin,
            format!("/v1/admin/audit?record={h_up}"),
            http(400, "malformed"),
        ),
        Bad::get(
            "cases: page=-1",
            Supervisor,
            "/v1/cases?page=-1",
            malformed(),
        ),
        Bad::get(
            "cases: unknown state",
            Supervisor,
            "/v1/cases?state=flying",
            malformed(),
        ),
        Bad::get(
            "cases: opened_from=yesterday",
            Supervisor,
            "/v1/cases?opened_from=yesterday",
            malformed(),
        ),
        Bad::get(
            "cases: escalated=maybe",
            Supervisor,
            "/v1/cases?escalated=maybe",
            malformed(),
        ),
        Bad::get(
            "visits: from=2026-02-30",
            Supervisor,
            "/v1/visits?from=2026-02-30",
            malformed(),
        ),
        Bad::get(
            "visits: page=NaN",
            Supervisor,
            "/v1/visits?page=NaN",
            malformed(),
        ),
        Bad::get(
            "patrols: to=2026-13-01",
            Supervisor,
            "/v1/patrols?to=2026-13-01",
            malformed(),
        ),
        Bad::get(
            "activities: grid not valid UTF-8",
            Supervisor,
            "/v1/activities?grid=%FF%FE",
            malformed(),
        ),
        Bad::get(
            "party-registrations: per_page=0",
            Supervisor,
            "/v1/party-registrations?per_page=0",
            malformed(),
        ),
        Bad::get(
            "assets: from on an undated list",
            Supervisor,
            "/v1/assets?from=2026-01-01",
            malformed(),
        ),
        Bad::get(
            "conflicts: per_page=1000000",
            Supervisor,
            "/v1/conflicts?per_page=1000000",
            malformed(),
        ),
        Bad::get(
            "conflicts: unknown kind",
            Supervisor,
            "/v1/conflicts?kind=spaceship",
            malformed(),
        ),
        // --- /v1/records/{id} --------------------------------------------------------------
        Bad::get(
            "record: id not a UUID",
            Supervisor,
            "/v1/records/not-a-uuid",
            malformed(),
        ),
        Bad::get(
            "record: id not valid UTF-8",
            Supervisor,
            "/v1/records/%FF%FE",
            malformed(),
        ),
        Bad::get(
            "record: id in uppercase",
            Supervisor,
            format!("/v1/records/{h_up}"),
            malformed(),
        ),
        Bad::get(
            "record: id in braces",
            Supervisor,
            format!("/v1/records/%7B{h}%7D"),
            malformed(),
        ),
        Bad::get(
            "history: id in uppercase",
            Supervisor,
            format!("/v1/records/{h_up}/history"),
            malformed(),
        ),
        Bad::post(
            "reveal: id in uppercase",
            Supervisor,
            format!("/v1/records/{h_up}/reveal"),
            json!({"field": "residents[0].id_number", "reason": "核实身份信息"}).to_string(),
            malformed(),
        ),
        Bad::get(
            "history: id not a UUID",
            Supervisor,
            "/v1/records/12345/history",
            malformed(),
        ),
        Bad::post(
            "reveal: field as a number",
            Supervisor,
            reveal.clone(),
            json!({"field": 7, "reason": "核实身份信息"}).to_string(),
            malformed(),
        ),
        Bad::post(
            "reveal: a field that does not parse",
            Supervisor,
            reveal.clone(),
            json!({"field": "residents[0", "reason": "核实身份信息"}).to_string(),
            http(422, "bad_field"),
        ),
        Bad::post(
            "reveal: reason too short",
            Supervisor,
            reveal,
            json!({"field": "residents[0].id_number", "reason": "no"}).to_string(),
            http(422, "reason_required"),
        ),
        // --- /v1/cases/{id}/actions --------------------------------------------------------
        Bad::post(
            "case action: unknown action",
            Supervisor,
            action.clone(),
            json!({"action": "fly"}).to_string(),
            http(422, "bad_action"),
        ),
        Bad::post(
            "case action: delay_days as a string",
            Supervisor,
            action.clone(),
            json!({"action": "accept", "delay_days": "three"}).to_string(),
            malformed(),
        ),
        Bad::post(
            "case action: negative delay_days",
            Supervisor,
            action.clone(),
            json!({"action": "accept", "delay_days": -5}).to_string(),
            http(422, "bad_payload"),
        ),
        Bad::post(
            "case action: unknown field",
            Supervisor,
            action.clone(),
            json!({"action": "accept", "urgent": true}).to_string(),
            malformed(),
        ),
        Bad::post(
            "case action: assignee not a user id",
            Supervisor,
            action.clone(),
            json!({"action": "dispatch", "assignee": "nobody"}).to_string(),
            http(422, "bad_payload"),
        ),
        Bad::post(
            "case action: unknown supervision level",
            Supervisor,
            action.clone(),
            json!({"action": "supervise", "level": "purple"}).to_string(),
            http(422, "bad_payload"),
        ),
        Bad::post(
            "case action: a note of 2,001 characters",
            Supervisor,
            action.clone(),
            json!({"action": "accept", "note": "长".repeat(2_001)}).to_string(),
            http(422, "bad_payload"),
        ),
        Bad::post(
            "case action: a note of 1,000,000 characters (past the route's 64 KiB)",
            Supervisor,
            action,
            json!({"action": "accept", "note": "长".repeat(1_000_000)}).to_string(),
            http(413, "payload_too_large"),
        ),
        Bad::post(
            "case action: on a household",
            Supervisor,
            format!("/v1/cases/{h}/actions"),
            json!({"action": "accept"}).to_string(),
            http(409, "not_a_case"),
        ),
        Bad::post(
            "case action: id in uppercase",
            Supervisor,
            format!("/v1/cases/{c_up}/actions"),
            json!({"action": "accept"}).to_string(),
            malformed(),
        ),
        Bad::post(
            "case action: assignee id in uppercase",
            Supervisor,
            format!("/v1/cases/{c}/actions"),
            json!({"action": "dispatch", "assignee": li_up}).to_string(),
            http(422, "bad_payload"),
        ),
        Bad::post(
            "case action: id not a UUID",
            Supervisor,
            "/v1/cases/DROP%20TABLE/actions",
            json!({"action": "accept"}).to_string(),
            malformed(),
        ),
        // --- conflicts -----------------------------------------------------------------------
        Bad::post(
            "resolve: value nested 10,000 arrays deep",
            Supervisor,
            resolve.clone(),
            format!(r#"{{"field":"notes","value":{}}}"#, nested(10_000)),
            malformed(),
        ),
        Bad::post(
            "resolve: negative choice",
            Supervisor,
            resolve.clone(),
            json!({"field": "notes", "choice": -1}).to_string(),
            malformed(),
        ),
        Bad::post(
            "resolve: a field that does not parse",
            Supervisor,
            resolve,
            json!({"field": "]]", "choice": 0}).to_string(),
            http(422, "bad_field"),
        ),
        Bad::post(
            "resolve: id not a UUID",
            Supervisor,
            "/v1/conflicts/not-a-uuid/resolve",
            json!({"field": "notes", "choice": 0}).to_string(),
            malformed(),
        ),
        Bad::get(
            "conflict: id in uppercase",
            Supervisor,
            format!("/v1/conflicts/{h_up}"),
            malformed(),
        ),
        Bad::post(
            "resolve: id in uppercase",
            Supervisor,
            format!("/v1/conflicts/{h_up}/resolve"),
            json!({"field": "notes", "choice": 0}).to_string(),
            malformed(),
        ),
        Bad::get(
            "conflict: id not a UUID",
            Supervisor,
            "/v1/conflicts/not-a-uuid",
            malformed(),
        ),
        // --- /v1/figures ---------------------------------------------------------------------
        Bad::get(
            "figures: from=2026-02-30",
            Supervisor,
            "/v1/figures?from=2026-02-30",
            malformed(),
        ),
        Bad::get(
            "figures: from after to (well formed, so 422)",
            Supervisor,
            "/v1/figures?from=2026-03-05&to=2026-03-01",
            http(422, "bad_period"),
        ),
        Bad::get(
            "figures: unknown parameter",
            Supervisor,
            "/v1/figures?period=all",
            malformed(),
        ),
        // --- /v1/exports/{file} --------------------------------------------------------------
        Bad::get(
            "export: unknown format",
            Supervisor,
            "/v1/exports/households.pdf",
            http(404, "not_found"),
        ),
        Bad::get(
            "export: unknown list",
            Supervisor,
            "/v1/exports/passwords.csv",
            http(404, "not_found"),
        ),
        Bad::get(
            "export: per_page on an export",
            Supervisor,
            "/v1/exports/households.csv?per_page=1000000",
            malformed(),
        ),
        Bad::get(
            "export: unknown case state",
            Supervisor,
            "/v1/exports/cases.xlsx?state=flying",
            malformed(),
        ),
        Bad::get(
            "export: from=yesterday",
            Supervisor,
            "/v1/exports/visits.csv?from=yesterday",
            malformed(),
        ),
        // --- /v1/admin/* ---------------------------------------------------------------------
        Bad::post(
            "create user: unknown role",
            Admin,
            "/v1/admin/users",
            user_body(json!("emperor"), json!("intruder"), "long enough password"),
            malformed(),
        ),
        Bad::post(
            "create user: login as a 10,001-element array",
            Admin,
            "/v1/admin/users",
            user_body(
                json!("grid_worker"),
                json!(vec![0; 10_001]),
                "long enough password",
            ),
            malformed(),
        ),
        Bad::post(
            "create user: weak password",
            Admin,
            "/v1/admin/users",
            user_body(json!("grid_worker"), json!("intruder"), "123"),
            http(422, "weak_password"),
        ),
        Bad::post(
            "create user: body over the limit once decompressed (gzip bomb)",
            Admin,
            "/v1/admin/users",
            bomb,
            http(413, "payload_too_large"),
        )
        .encoding("gzip"),
        Bad::put(
            "put grid: invalid grid code",
            Admin,
            "/v1/admin/grids/NOT%20A%20CODE",
            json!({"name": "新网格", "community": "ca"}).to_string(),
            malformed(),
        ),
        Bad::put(
            "put grid: community as a number",
            Admin,
            "/v1/admin/grids/ca-9",
            json!({"name": "新网格", "community": 7}).to_string(),
            malformed(),
        ),
        Bad::put(
            "put grid: unknown community",
            Admin,
            "/v1/admin/grids/ca-9",
            json!({"name": "新网格", "community": "zz"}).to_string(),
            http(422, "unknown_place"),
        ),
        Bad::put(
            "put grid: empty name",
            Admin,
            "/v1/admin/grids/ca-1",
            json!({"name": "   ", "community": "ca"}).to_string(),
            http(422, "invalid_name"),
        ),
        Bad::put(
            "put grid: Content-Type text/plain",
            Admin,
            "/v1/admin/grids/ca-1",
            json!({"name": "改名", "community": "ca"}).to_string(),
            malformed(),
        )
        .content_type(Some("text/plain")),
        Bad::get(
            "audit: per_page=1000000",
            Admin,
            "/v1/admin/audit?per_page=1000000",
            http(400, "malformed"),
        ),
        Bad::get(
            "audit: from=yesterday",
            Admin,
            "/v1/admin/audit?from=yesterday",
            http(400, "malformed"),
        ),
        Bad::get(
            "audit: unknown parameter",
            Admin,
            "/v1/admin/audit?limit=10",
            malformed(),
        ),
    ];

    let mut names = std::collections::BTreeSet::new();
    for bad in &table {
        assert!(names.insert(bad.name), "case named twice: {}", bad.name);
    }
    assert!(table.len() >= 32, "the table has {} cases", table.len());
    for bad in table {
        let (name, expect) = (bad.name, bad.expect);
        let (a, content_type) = send(&app, &tokens, bad).await?;
        check(name, expect, &a, &content_type);
        assert_eq!(
            app.change_count().await?,
            stored,
            "{name}: the change log grew"
        );
    }

    // The server is still up and nothing stored changed.
    for path in ["/health", "/ready"] {
        let (status, _) = app.get_json(path, None).await?;
        assert_eq!(status, 200, "{path} after the bad input");
    }
    let after = fingerprint(&app, &tokens, &[&hid, &cid]).await?;
    assert_eq!(before.len(), after.len());
    for ((what, was), (_, now)) in before.iter().zip(&after) {
        // Values, not texts: an object's key order is not content (and differs when a
        // dependency turns on serde_json's `preserve_order`, as the browser tests' does).
        assert_eq!(was, now, "{what} changed under bad input");
    }
    // No user was created by the refused requests.
    let a = answer(
        app.http
            .post(app.url("/v1/auth/login"))
            .json(&json!({"login": "intruder", "password": "long enough password"}))
            .send()
            .await?,
    )
    .await?;
    assert_eq!(
        (a.status, a.code()),
        (401, "invalid_credentials"),
        "{}",
        a.text
    );
    // A normal sync still works: it stores the scratch case.
    phone.sync(&app).await?;
    assert_eq!(app.change_count().await?, stored + 1);
    assert!(app.projection(&scratch).await?.is_some());
    app.stop().await
}
