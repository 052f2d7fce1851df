//! The OpenAPI document against the real server: it is served at `/v1/openapi.json`, it is
//! OpenAPI 3, and its (method, path) pairs are exactly the routes the router serves, each of
//! which the running server answers (never with its "no such route" 404 or a 405).

use std::collections::BTreeSet;

use gridbook_server::routes::route_list;
use gridbook_tests::{FreshDb, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::Value;

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
