//! A phone written in JavaScript from `docs/sync-protocol.md` alone (`tests/js/client.mjs`,
//! Automerge JS) against the real server, beside a Rust phone: the JS phone receives the Rust
//! phone's household (checking every change as §11.3 says), creates its own household with
//! the schema's Automerge types, edits the Rust household, and sees a `Text` field refused.
//! Then the Rust phone syncs and reads both records, and the stored JS household validates
//! against its served schema. On SQLite.
//!
//! Needs `node` and the script's packages (`npm ci --prefix tests/js`, which `scripts/test`
//! runs); without them the test says it skips, and fails under `CI=true`.

use std::path::Path;
use std::process::Command;

use gridbook_server::db::docs;
use gridbook_tests::{Backend, PASSWORD, TestApp, resident_with_id_number};
use serde_json::Value;
use sync_core::ids::DocId;
use sync_core::models::household::{Address, Household};
use sync_core::record::Role;
use sync_core::time::Timestamp;

use crate::support::schema_validator;

fn node_ready(dir: &Path) -> bool {
    let node = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    node && dir.join("node_modules/@automerge/automerge").is_dir()
}

#[tokio::test]
async fn a_javascript_phone_written_from_the_protocol_doc_interoperates() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("js");
    if !node_ready(&dir) {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "node and tests/js/node_modules are required in CI (npm ci --prefix tests/js)"
        );
        eprintln!("skipped: node or tests/js/node_modules missing (npm ci --prefix tests/js)");
        return;
    }
    let app = TestApp::spawn(Backend::Sqlite)
        .await
        .expect("server starts")
        .expect("SQLite is always there");
    let rust_worker = app
        .user("worker-a", Role::GridWorker, app.grid_a())
        .await
        .expect("user");
    app.user("worker-b", Role::GridWorker, app.grid_a())
        .await
        .expect("user");

    // The Rust phone writes a household with a resident and their private document.
    let mut rust = app.phone(&rust_worker).await.expect("phone");
    let household = Household::new(
        app.grid_a(),
        Address {
            compound: "乌江水岸".into(),
            building: "3".into(),
            unit: "1".into(),
            room: "402".into(),
        },
    );
    let (resident, identity, _) = resident_with_id_number("王秀英", "19520304");
    let mut with_resident = household.clone();
    with_resident.residents.push(resident);
    rust.create_household(
        &with_resident,
        vec![identity],
        Timestamp::from_millis(1_780_000_000_000),
    )
    .expect("created");
    rust.sync(&app).await.expect("synced");

    // The JS phone.
    let output = tokio::task::spawn_blocking({
        let url = app.url("");
        let id = household.id.to_string();
        let dir = dir.clone();
        move || {
            Command::new("node")
                .arg("client.mjs")
                .current_dir(dir)
                .env("GRIDBOOK_URL", url)
                .env("GRIDBOOK_LOGIN", "worker-b")
                .env("GRIDBOOK_PASSWORD", PASSWORD)
                .env("GRIDBOOK_HOUSEHOLD", id)
                .output()
        }
    })
    .await
    .expect("joined")
    .expect("node runs");
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the JS phone failed:\n{log}");
    let said: Value = serde_json::from_slice(&output.stdout).expect("one line of JSON");

    // The Rust phone receives the JS phone's household and its edit.
    rust.sync(&app).await.expect("synced again");
    let created: DocId = said["created"]
        .as_str()
        .expect("id")
        .parse()
        .expect("a record id");
    let theirs: Household = rust
        .replica
        .document(&created)
        .expect("the Rust phone holds the JS household")
        .read()
        .expect("it reads as a household");
    assert_eq!(theirs.address.room, "301");
    assert_eq!(theirs.tags, ["rental"]);
    assert_eq!(theirs.residents[0].name, "李建国");
    let ours: Household = rust
        .replica
        .document(&household.id)
        .expect("held")
        .read()
        .expect("reads");
    assert_eq!(ours.notes, said["notes"].as_str().expect("notes"));
    assert_eq!(ours.residents.len(), 1, "the resident is still there");
    let refused: DocId = said["refused"].as_str().expect("id").parse().expect("id");
    assert!(
        docs::load(app.db(), &refused)
            .await
            .expect("load")
            .is_none(),
        "the refused household was not stored"
    );

    // What the JS phone stored validates against the served schema.
    let (status, schema) = app
        .get_json("/v1/schemas/household.json", None)
        .await
        .expect("answered");
    assert_eq!(status, 200, "{schema}");
    let validator = schema_validator(&schema);
    let stored = docs::load(app.db(), &created)
        .await
        .expect("load")
        .expect("stored");
    let problems: Vec<String> = validator
        .iter_errors(&stored.record.doc.json())
        .map(|e| e.to_string())
        .collect();
    assert!(problems.is_empty(), "{problems:?}");
}
