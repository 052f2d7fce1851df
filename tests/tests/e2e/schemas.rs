//! The record kinds' JSON Schemas (`GET /v1/schemas`, `GET /v1/schemas/{kind}.json`) against
//! the demo: every record the demo stores, read back as its document's JSON view, validates
//! against the schema the server serves for its kind; every kind is checked on at least one
//! record; and the schemas are not vacuous (a blank required text, an unknown field, a
//! non-canonical id and a value outside a closed set are each refused). On SQLite (the schemas
//! do not depend on the backend).

use std::collections::{BTreeMap, BTreeSet};

use gridbook_server::db::{docs, places};
use gridbook_tests::{Backend, TestApp};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sync_core::ids::{DocId, GridId};
use sync_core::record::RecordKind;

use crate::support::schema_validator;

fn errors(validator: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

/// Every record id the demo wrote, from each grid's change log.
async fn demo_records(app: &TestApp) -> BTreeSet<DocId> {
    let rows = places::list_places(app.db()).await.expect("places");
    let streets: BTreeSet<String> = rows
        .iter()
        .filter(|p| p.parent.is_none())
        .map(|p| p.id.clone())
        .collect();
    let grids: Vec<GridId> = rows
        .iter()
        .filter(|p| {
            p.parent
                .as_ref()
                .is_some_and(|parent| !streets.contains(parent))
        })
        .map(|p| p.id.parse().expect("grid code"))
        .collect();
    assert!(!grids.is_empty(), "the demo has grids");
    let mut ids = BTreeSet::new();
    for grid in &grids {
        let mut tx = app.db().begin_read().await.expect("read tx");
        let seq = docs::grid_seqs(&mut tx, std::slice::from_ref(grid))
            .await
            .expect("seqs")[grid];
        let logged = docs::changes_in_grid(&mut tx, grid, 0, seq)
            .await
            .expect("changes");
        tx.commit().await.expect("commit");
        ids.extend(logged.into_iter().map(|c| c.doc));
    }
    ids
}

#[tokio::test]
async fn every_demo_record_validates_against_its_kinds_served_schema() {
    let app = TestApp::spawn_demo(Backend::Sqlite)
        .await
        .expect("server starts")
        .expect("SQLite is always there");

    // The list names every kind, and each schema is served as JSON Schema.
    let (status, list) = app.get_json("/v1/schemas", None).await.expect("answered");
    assert_eq!(status, 200, "{list}");
    let listed = list["schemas"].as_array().expect("a list");
    assert_eq!(listed.len(), RecordKind::ALL.len());
    let mut validators = BTreeMap::new();
    for entry in listed {
        let kind: RecordKind = entry["kind"]
            .as_str()
            .expect("kind")
            .parse()
            .expect("a kind");
        let url = entry["url"].as_str().expect("url");
        assert_eq!(url, format!("/v1/schemas/{kind}.json"));
        let response = app.http.get(app.url(url)).send().await.expect("sent");
        assert_eq!(response.status(), StatusCode::OK, "{url}");
        assert_eq!(
            response.headers()["content-type"],
            "application/schema+json",
            "{url}"
        );
        let schema: Value = response.json().await.expect("JSON");
        assert_eq!(
            schema["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        assert_eq!(schema["properties"]["kind"]["const"], kind.as_str());
        validators.insert(kind, (schema_validator(&schema), schema));
    }

    // Every stored record of the demo.
    let mut checked: BTreeMap<RecordKind, usize> = BTreeMap::new();
    let mut samples: BTreeMap<RecordKind, Value> = BTreeMap::new();
    for id in demo_records(&app).await {
        let loaded = docs::load(app.db(), &id)
            .await
            .expect("load")
            .expect("stored");
        let doc = &loaded.record.doc;
        let json = doc.json();
        let (validator, _) = &validators[&doc.kind()];
        let problems = errors(validator, &json);
        assert!(
            problems.is_empty(),
            "{} {id} breaks its schema: {problems:#?}",
            doc.kind()
        );
        *checked.entry(doc.kind()).or_default() += 1;
        samples.entry(doc.kind()).or_insert(json);
    }
    for kind in RecordKind::ALL {
        assert!(
            checked.get(kind).copied().unwrap_or(0) > 0,
            "the demo holds no {kind} to check: {checked:?}"
        );
    }

    // The schemas refuse what the server refuses.
    let household = &samples[&RecordKind::Household];
    let (validator, _) = &validators[&RecordKind::Household];
    let mut blank_room = household.clone();
    blank_room["address"]["room"] = json!("  ");
    let mut unknown_field = household.clone();
    unknown_field["colour"] = json!("red");
    let mut uppercase_id = household.clone();
    uppercase_id["id"] = json!(household["id"].as_str().expect("id").to_uppercase());
    let mut odd_status = household.clone();
    odd_status["status"] = json!("asleep");
    let mut int_schema = household.clone();
    int_schema["schema"] = json!(2);
    for (what, bad) in [
        ("a blank room", blank_room),
        ("an unknown field", unknown_field),
        ("an uppercase id", uppercase_id),
        ("a status outside its set", odd_status),
        ("another layout version", int_schema),
    ] {
        assert!(!validator.is_valid(&bad), "the schema let {what} through");
    }

    // A kind that does not exist is a JSON 404.
    let response = app
        .http
        .get(app.url("/v1/schemas/ledger.json"))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["error"]["code"], "not_found");
}

/// The Automerge types the schemas name are what the reference implementation writes: every
/// scalar of a demo case's document has the type the schema gives it at that place.
#[tokio::test]
async fn the_schemas_automerge_types_are_what_the_documents_hold() {
    let app = TestApp::spawn_demo(Backend::Sqlite)
        .await
        .expect("server starts")
        .expect("SQLite is always there");
    let mut seen = BTreeSet::new();
    for id in demo_records(&app).await {
        let loaded = docs::load(app.db(), &id)
            .await
            .expect("load")
            .expect("stored");
        let doc = &loaded.record.doc;
        if !seen.insert(doc.kind()) {
            continue;
        }
        let schema = sync_core::schema::record_schema(doc.kind());
        let mut mismatches = Vec::new();
        let mut visited = 0;
        walk(
            doc.automerge(),
            automerge::ROOT,
            &schema,
            &schema,
            String::new(),
            &mut (&mut mismatches, &mut visited),
        );
        assert!(visited >= 5, "{}: only {visited} values walked", doc.kind());
        assert!(mismatches.is_empty(), "{}: {mismatches:#?}", doc.kind());
    }
    assert_eq!(seen.len(), RecordKind::ALL.len());
}

/// Resolves `$ref` and a single non-null `anyOf` alternative.
fn resolve<'a>(root: &'a Value, mut node: &'a Value) -> &'a Value {
    for _ in 0..8 {
        if let Some(reference) = node["$ref"].as_str() {
            let name = reference.trim_start_matches("#/$defs/");
            node = &root["$defs"][name];
        } else if let Some(options) = node["anyOf"].as_array() {
            match options.iter().find(|o| o["type"] != "null") {
                Some(option) => node = option,
                None => break,
            }
        } else {
            break;
        }
    }
    node
}

/// The `x-automerge` names a schema node allows.
fn allowed(node: &Value) -> Vec<String> {
    match &node[sync_core::schema::AUTOMERGE_TYPE] {
        Value::String(one) => vec![one.clone()],
        Value::Array(many) => many
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

fn walk(
    am: &automerge::Automerge,
    obj: automerge::ObjId,
    root: &Value,
    node: &Value,
    path: String,
    out: &mut (&mut Vec<String>, &mut usize),
) {
    use automerge::{ReadDoc, ScalarValue, Value as AmValue};
    let node = resolve(root, node);
    let entries: Vec<(String, AmValue<'_>, automerge::ObjId)> =
        match am.object_type(&obj).expect("object") {
            automerge::ObjType::Map | automerge::ObjType::Table => am
                .keys(&obj)
                .filter_map(|key| {
                    let (value, id) = am.get(&obj, key.as_str()).ok().flatten()?;
                    Some((key, value, id))
                })
                .collect(),
            _ => (0..am.length(&obj))
                .filter_map(|i| {
                    let (value, id) = am.get(&obj, i).ok().flatten()?;
                    Some((i.to_string(), value, id))
                })
                .collect(),
        };
    for (key, value, id) in entries {
        let child = if node["type"] == "array" || node["items"].is_object() {
            &node["items"]
        } else {
            &node["properties"][key.as_str()]
        };
        let child_resolved = resolve(root, child);
        let mut names = allowed(child_resolved);
        if let Some(options) = child["anyOf"].as_array() {
            for option in options {
                names.extend(allowed(resolve(root, option)));
            }
        }
        let actual = match &value {
            AmValue::Object(automerge::ObjType::Map) => "map",
            AmValue::Object(automerge::ObjType::List) => "list",
            AmValue::Object(_) => "other object",
            AmValue::Scalar(s) => match s.as_ref() {
                ScalarValue::Str(_) => "str",
                ScalarValue::Uint(_) => "uint",
                ScalarValue::Int(_) => "int",
                ScalarValue::F64(_) => "f64",
                ScalarValue::Boolean(_) => "boolean",
                ScalarValue::Null => "null",
                _ => "other scalar",
            },
        };
        let here = format!("{path}/{key}");
        *out.1 += 1;
        if !names.iter().any(|n| n == actual) {
            out.0.push(format!(
                "{here}: the document holds {actual}, the schema says {names:?}"
            ));
        }
        if matches!(value, AmValue::Object(_)) {
            walk(am, id, root, child_resolved, here, out);
        }
    }
}
