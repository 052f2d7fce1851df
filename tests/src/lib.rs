//! The one test harness of the server: every server test outside `server/src` uses it.
//!
//! * [`TestApp`] (`app`): the real server in this process, on port 0, on a fresh database, with
//!   the test places, users ([`TestApp::user`]) and signed-in devices ([`TestApp::login`],
//!   [`Phone`]). Use it for anything said over HTTP: `tests/e2e/`, `tests/browser/`.
//! * [`db`]: a fresh database alone ([`FreshDb`], [`PgDatabase`]) for tests of storage, the
//!   demo loader or start-up, with no server or before one starts ([`TestApp::start_on`]).
//! * [`client`]: requests and their [`Answer`]s, and sign-in calls, against a [`TestApp`] or a
//!   child process.
//! * [`conformance`]: the sync protocol's conformance fixtures (`tests/conformance/`): their
//!   generator and the harness that replays them.
//! * [`process`]: the real `gridbook` binary as a child process (its command line, `serve`
//!   killed and restarted, signals, limits, memory): `tests/process/`.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use gridbook_tests::{Backend, TestApp};
//! let Some(app) = TestApp::spawn(Backend::Sqlite).await? else { return Ok(()) };
//! let worker = app.user("worker-1", sync_core::record::Role::GridWorker, app.grid_a()).await?;
//! let mut phone = app.phone(&worker).await?;
//! phone.sync(&app).await?;
//! # Ok(()) }
//! ```
//!
//! PostgreSQL tests run when `GRIDBOOK_TEST_POSTGRES_URL` names a server where the harness may
//! create and drop databases (CI sets it; `scripts/test` sets it when a local server answers);
//! otherwise [`TestApp::spawn`] and [`FreshDb::new`] print that the test is skipped and
//! return `None`.

mod app;
pub mod client;
pub mod conformance;
pub mod db;
mod phone;
pub mod process;

pub use app::{PASSWORD, Session, TestApp, TestUser};
pub use client::{Answer, gzip};
pub use db::{Backend, FreshDb, PgDatabase};
pub use phone::{Phone, RoundTrip, draft_case, resident_with_id_number};
