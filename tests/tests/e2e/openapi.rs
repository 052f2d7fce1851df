//! The OpenAPI document against the real server: it is served at `/v1/openapi.json`, it is
//! OpenAPI 3, and its (method, path) pairs are exactly the routes the router serves, each of
//! which the running server answers (never with its "no such route" 404 or a 405). Its
//! parameters and bodies carry the constraints the server enforces (formats, patterns,
//! bounds, enums, required-ness), and the requests schemathesis (`scripts/schemathesis`)
//! found valid by the document but refused by the server are accepted now.

use std::collections::BTreeSet;

use gridbook_server::routes::route_list;
use gridbook_tests::client::{get, post, signed_in};
use gridbook_tests::{Backend, FreshDb, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sync_core::record::Role;

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// `/v1/records/{id}/reveal` → `/v1/records/x/reveal`.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|seg| if seg.starts_with('{') { "x" } else { seg })
        .collect::<Vec<_>>()
        .join("/")
}

/// Whether an answer is the router's own: its fallback 404 or a 405.
async fn is_router_fallback(response: reqwest::Response) -> (bool, StatusCode) {
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let fallback = status == StatusCode::METHOD_NOT_ALLOWED
        || (status == StatusCode::NOT_FOUND && body["error"]["message"] == "no such route");
    (fallback, status)
}

#[tokio::test]
async fn the_document_matches_the_routes() {
    // An empty database: no places, no users.
    let app = TestApp::start_on(FreshDb::sqlite().expect("temp dir"), |_| {})
        .await
        .expect("server starts");
    let base = app.url("");
    let http = &app.http;

    let response = http
        .get(format!("{base}/v1/openapi.json"))
        .send()
        .await
        .expect("request sent");
    assert_eq!(response.status(), StatusCode::OK);
    let doc: Value = response.json().await.expect("the document is JSON");
    let version = doc["openapi"].as_str().expect("an openapi version");
    assert!(version.starts_with("3."), "openapi {version}");
    assert_eq!(doc["info"]["title"], "Gridbook");
    assert!(
        doc["components"]["schemas"]["ErrorBody"].is_object(),
        "ErrorBody schema"
    );
    assert!(
        doc["components"]["securitySchemes"]["bearer"].is_object(),
        "bearer scheme"
    );

    // The document's operations, and which of them declare the bearer token.
    let mut documented = BTreeSet::new();
    let mut secured = BTreeSet::new();
    let paths = doc["paths"].as_object().expect("paths");
    for (path, item) in paths {
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let key = (method.to_ascii_uppercase(), path.clone());
            let needs_bearer = op["security"]
                .as_array()
                .is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()));
            if needs_bearer {
                secured.insert(key.clone());
            }
            documented.insert(key);
            // Every error answer has the one error shape.
            for (status, answer) in op["responses"].as_object().expect("responses") {
                if status.starts_with('4') || status.starts_with('5') {
                    let schema = &answer["content"]["application/json"]["schema"]["$ref"];
                    assert_eq!(
                        schema, "#/components/schemas/ErrorBody",
                        "{method} {path} {status}"
                    );
                }
            }
        }
    }

    // The router's routes: the same set.
    let routed: BTreeSet<(String, String)> = route_list()
        .into_iter()
        .map(|(m, p)| (m.as_str().to_owned(), p.to_owned()))
        .collect();
    assert_eq!(
        routed.len(),
        route_list().len(),
        "a route appears twice in the table"
    );
    let missing: Vec<_> = routed.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&routed).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "routes not documented: {missing:?}; documented but not routed: {extra:?}"
    );

    // The probe tells the router's fallback from a handler.
    let probe = http
        .get(format!("{base}/v1/no-such-route"))
        .send()
        .await
        .unwrap();
    assert!(is_router_fallback(probe).await.0);

    // Every documented operation reaches a handler on the running server; without a token,
    // exactly the operations that declare the bearer token answer 401.
    for (method, path) in &documented {
        let method: Method = method.parse().expect("method");
        let url = format!("{base}{}", concrete(path));
        let response = http
            .request(method.clone(), &url)
            .send()
            .await
            .expect("sent");
        let (fallback, status) = is_router_fallback(response).await;
        assert!(!fallback, "{method} {path}: the router answered {status}");
        let key = (method.as_str().to_owned(), path.clone());
        assert_eq!(
            status == StatusCode::UNAUTHORIZED,
            secured.contains(&key),
            "{method} {path} answered {status} without a token"
        );
    }

    app.stop().await.expect("clean shutdown");
}

/// The parameter `name` of `method path`.
fn parameter<'a>(doc: &'a Value, method: &str, path: &str, name: &str) -> &'a Value {
    doc["paths"][path][method]["parameters"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == name))
        .unwrap_or_else(|| panic!("{method} {path}: no parameter {name}"))
}

/// A component schema's property.
fn property<'a>(doc: &'a Value, schema: &str, name: &str) -> &'a Value {
    &doc["components"]["schemas"][schema]["properties"][name]
}

#[tokio::test]
async fn the_document_states_what_the_server_enforces() {
    let app = TestApp::start_on(FreshDb::sqlite().expect("temp dir"), |_| {})
        .await
        .expect("server starts");
    let (status, doc) = app
        .get_json("/v1/openapi.json", None)
        .await
        .expect("answered");
    assert_eq!(status, 200, "{doc}");
    let uuid = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$";
    let code = "^[a-z0-9_-]{1,64}$";

    // Pages: from 1; per_page up to each list's maximum.
    let page = &parameter(&doc, "get", "/v1/cases", "page")["schema"];
    assert_eq!(
        (&page["minimum"], &page["maximum"]),
        (&json!(1), &json!(1_000_000))
    );
    let per_page = &parameter(&doc, "get", "/v1/cases", "per_page")["schema"];
    assert_eq!(
        per_page["maximum"],
        json!(gridbook_server::http::params::MAX_PER_PAGE)
    );
    let audit = &parameter(&doc, "get", "/v1/admin/audit", "per_page")["schema"];
    assert_eq!(
        audit["maximum"],
        json!(gridbook_server::lists::audit::MAX_PER_PAGE)
    );

    // Ids in paths: canonical UUIDs; place codes; blob hashes.
    for (method, path) in [
        ("get", "/v1/records/{id}"),
        ("post", "/v1/cases/{id}/actions"),
        ("get", "/v1/conflicts/{id}"),
        ("get", "/v1/imports/{id}"),
    ] {
        let id = &parameter(&doc, method, path, "id")["schema"];
        assert_eq!(
            (&id["format"], &id["pattern"]),
            (&json!("uuid"), &json!(uuid)),
            "{path}"
        );
    }
    let grid = &parameter(&doc, "put", "/v1/admin/grids/{id}", "id")["schema"];
    assert_eq!(grid["pattern"], code);
    let sha = &parameter(&doc, "get", "/v1/blobs/{sha256}", "sha256")["schema"];
    assert_eq!(sha["pattern"], "^[0-9a-f]{64}$");

    // Query filters: an empty value counts as absent, so the patterns and enums admit it.
    let grid = &parameter(&doc, "get", "/v1/households", "grid")["schema"];
    assert_eq!(grid["pattern"], format!("^$|{code}"));
    let state = &parameter(&doc, "get", "/v1/cases", "state")["schema"]["enum"];
    let states: Vec<&str> = state
        .as_array()
        .expect("enum")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let mut expected = vec![""];
    expected.extend(
        sync_core::workflow::CaseState::ALL
            .iter()
            .map(|s| s.as_str()),
    );
    assert_eq!(states, expected);
    let from = &parameter(&doc, "get", "/v1/visits", "from")["schema"]["oneOf"];
    let formats: Vec<&Value> = from
        .as_array()
        .expect("oneOf")
        .iter()
        .map(|s| &s["format"])
        .collect();
    assert_eq!(formats[..2], [&json!("date-time"), &json!("date")]);
    let month = &parameter(&doc, "get", "/v1/reports/monthly", "month")["schema"];
    assert_eq!(month["pattern"], "^$|^2[0-9]{3}-(0[1-9]|1[0-2])$");

    // Each list documents only the filters it takes (another list's filter is 400).
    let names = |path: &str| -> Vec<String> {
        doc["paths"][path]["get"]["parameters"]
            .as_array()
            .expect("parameters")
            .iter()
            .filter_map(|p| p["name"].as_str().map(str::to_owned))
            .collect()
    };
    assert!(names("/v1/visits").contains(&"method".to_owned()));
    assert!(!names("/v1/patrols").contains(&"method".to_owned()));
    assert!(!names("/v1/assets").contains(&"from".to_owned()));

    // Required-ness: the import's grid.
    assert_eq!(
        parameter(&doc, "post", "/v1/imports/households", "grid")["required"],
        true
    );

    // Bodies: sync refuses unknown fields and names its version, ids and kinds.
    let sync = &doc["components"]["schemas"]["SyncRequest"];
    assert_eq!(sync["additionalProperties"], false);
    assert_eq!(
        property(&doc, "SyncRequest", "protocol")["enum"],
        json!([1])
    );
    assert_eq!(property(&doc, "SyncRequest", "device")["pattern"], uuid);
    assert_eq!(property(&doc, "DocPush", "kind")["enum"][0], "household");
    assert_eq!(
        property(&doc, "CreateUserRequest", "role")["enum"]
            .as_array()
            .map(Vec::len),
        Some(Role::ALL.len())
    );
    assert_eq!(property(&doc, "StatusRequest", "hashes")["maxItems"], 500);
    assert_eq!(property(&doc, "ActionRequest", "delay_days")["maximum"], 60);

    app.stop().await.expect("clean shutdown");
}

/// Requests the document calls valid that the server refused, as schemathesis found them.
#[tokio::test]
async fn valid_requests_schemathesis_found_refused_are_accepted() -> anyhow::Result<()> {
    let Some(app) = TestApp::spawn(Backend::Sqlite).await? else {
        return Ok(());
    };
    let sup = app
        .user("sup", Role::CommunitySupervisor, app.grid_a())
        .await?;
    let session = signed_in(&app, &sup.login).await?;
    let token = session["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let nobody = "019a5c23-41dd-7f0d-aad2-d4ed75695c5f";

    // Two passwords of 1,024 characters outside the Basic Multilingual Plane, JSON-escaped,
    // are 24 KiB: the body limit was 8 KiB (413). Now the old one is just wrong.
    let long = "\u{1F600}".repeat(1024);
    let body = serde_json::to_string(&json!({"old_password": long, "new_password": long}))?
        .replace('\u{1F600}', "\\ud83d\\ude00");
    let a = app
        .http
        .post(app.url("/v1/auth/password"))
        .bearer_auth(&token)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await?;
    assert_eq!(a.status(), StatusCode::FORBIDDEN, "{}", a.text().await?);

    // Whole numbers written with a zero fraction (JSON Schema's integers include 51.0):
    // they were 400 malformed; now the unknown record is what is wrong.
    let a = post(
        &app,
        &token,
        &format!("/v1/cases/{nobody}/actions"),
        &json!({"action": "request_delay", "delay_days": 3.0}),
    )
    .await?;
    assert_eq!((a.status, a.code()), (404, "not_found"), "{}", a.text);
    let a = post(
        &app,
        &token,
        &format!("/v1/conflicts/{nobody}/resolve"),
        &json!({"field": "status", "choice": 0.0}),
    )
    .await?;
    assert_eq!((a.status, a.code()), (404, "not_found"), "{}", a.text);
    let a = post(
        &app,
        &token,
        &format!("/v1/cases/{nobody}/actions"),
        &json!({"action": "request_delay", "delay_days": 2.5}),
    )
    .await?;
    assert_eq!((a.status, a.code()), (400, "malformed"), "{}", a.text);

    // The sync request's whole numbers too (`"wait_ms": 406.0` was 400 in the three-minute run).
    let a = post(
        &app,
        &token,
        "/v1/sync",
        &json!({"protocol": 1.0, "device": session["device_id"], "docs": [], "wait_ms": 0.0}),
    )
    .await?;
    assert_eq!(a.status, 200, "{}", a.text);

    // A month still to come is well formed: 422, not 400.
    let a = get(&app, &token, "/v1/reports/monthly?month=2999-12").await?;
    assert_eq!((a.status, a.code()), (422, "month_not_begun"), "{}", a.text);

    // `q` is counted as sent: 100 characters that lowercase to 200 are taken.
    let q = "%C4%B0".repeat(100);
    let a = get(&app, &token, &format!("/v1/households?q={q}")).await?;
    assert_eq!(a.status, 200, "{}", a.text);
    let a = get(&app, &token, &format!("/v1/households?q={q}x")).await?;
    assert_eq!((a.status, a.code()), (400, "malformed"), "{}", a.text);

    // A blank filter was trimmed to nothing and counted as absent, which no pattern says:
    // now only the empty value is absent (free text `q` is still trimmed).
    for path in [
        "/v1/cases?grid=%09",
        "/v1/households?status=%20",
        "/v1/figures?to=%20",
    ] {
        let a = get(&app, &token, path).await?;
        assert_eq!(
            (a.status, a.code()),
            (400, "malformed"),
            "{path}: {}",
            a.text
        );
    }
    let a = get(&app, &token, "/v1/households?q=%20a%20&grid=").await?;
    assert_eq!(a.status, 200, "{}", a.text);

    app.stop().await?;
    Ok(())
}
