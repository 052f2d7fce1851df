//! A server for replaying one conformance fixture from a client in another language: a fresh
//! SQLite database with the test places and the fixture's users, on 127.0.0.1 (any free
//! port). Prints `GRIDBOOK_URL=http://127.0.0.1:PORT` once it listens, and stops (deleting the
//! database) when its standard input closes.
//!
//! ```text
//! cargo run -p gridbook-tests --example conformance_server -- tests/conformance/01-create-and-receive.json
//! ```
//!
//! Each user signs in with `POST /v1/auth/login` `{"login", "password": "correct horse battery",
//! "device_id": <the fixture's device>}`; see `tests/conformance/README.md`.

use std::io::Read;

use anyhow::Context;
use gridbook_tests::conformance::{Fixture, make_users};
use gridbook_tests::{Backend, TestApp};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let path = std::env::args()
        .nth(1)
        .context("usage: conformance_server FIXTURE.json")?;
    let fixture: Fixture = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
    let app = TestApp::spawn(Backend::Sqlite)
        .await?
        .context("SQLite is always there")?;
    make_users(&app, &fixture).await?;
    println!("GRIDBOOK_URL={}", app.url(""));
    tokio::task::spawn_blocking(|| {
        let mut sink = Vec::new();
        std::io::stdin().read_to_end(&mut sink)
    })
    .await??;
    app.stop().await
}
