//! Imports started over HTTP run as jobs: `POST /v1/imports/households` reads the file and its
//! header, starts the job and answers `202` with its id; `GET /v1/imports/{id}` shows its
//! progress and, once finished, its summary; `GET /v1/imports/{id}/report.xlsx` its report.
//!
//! Jobs live in this process's memory ([`ImportJobs`] in `AppState`): they are gone after a
//! restart (an import interrupted so wrote nothing, being one transaction), and other server
//! nodes do not know them. Only the user who started a job sees it. The newest
//! [`MAX_JOBS`] jobs are kept.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use sync_core::ids::{GridId, UserId};
use sync_core::record::Role;

use super::{
    FileKind, ImportOptions, ImportOutcome, ImportSummary, Importer, Phase, Progress, Roster,
};
use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult, ErrorDetail};
use crate::state::AppState;

/// How many jobs are kept (finished ones are dropped oldest first beyond it).
pub const MAX_JOBS: usize = 64;

/// The jobs of this process.
#[derive(Debug, Default)]
pub struct ImportJobs {
    jobs: Mutex<VecDeque<Arc<Job>>>,
}

/// One import job.
#[derive(Debug)]
pub struct Job {
    id: String,
    owner: UserId,
    grid: GridId,
    dry_run: bool,
    partial: bool,
    progress: Arc<Progress>,
    finished: Mutex<Option<Finished>>,
}

#[derive(Debug, Clone)]
enum Finished {
    Done(Arc<ImportOutcome>),
    Failed(ErrorDetail),
}

/// Where an import job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Still working.
    Running,
    /// Finished: written, or checked only (dry run).
    Done,
    /// Finished without writing: the file has invalid rows (all or nothing).
    Refused,
    /// Stopped by an error; nothing was written.
    Failed,
}

/// An import job as `GET /v1/imports/{id}` shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct JobView {
    /// The job's id.
    pub id: String,
    /// The grid imported into.
    pub grid: String,
    /// A dry run.
    pub dry_run: bool,
    /// Partial import asked for.
    pub partial: bool,
    /// Running, done, refused or failed.
    pub state: JobState,
    /// The current phase.
    pub phase: Phase,
    /// Units (rows, then households) of the phase done.
    pub done: u64,
    /// Units of the phase in all.
    pub total: u64,
    /// What the import did (or would have done), once finished.
    pub summary: Option<ImportSummary>,
    /// Why it was refused or failed (`invalid_rows` with the count of invalid rows).
    pub error: Option<ErrorDetail>,
}

/// The query of `POST /v1/imports/households`.
#[derive(Debug, Clone, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StartQuery {
    /// The grid to import into (required).
    #[param(
        pattern = "^[a-z0-9_-]{1,64}$",
        min_length = 1,
        max_length = 64,
        required = true
    )]
    pub grid: Option<String>,
    /// `true`: check and plan only, write nothing.
    pub dry_run: Option<bool>,
    /// `true`: write the valid rows even when some rows are invalid.
    pub partial: Option<bool>,
    /// A mapping of the file's headers to fields, as JSON (`{"column header": "field"}`),
    /// for files whose headers differ from the usual ones.
    pub mapping: Option<String>,
}

impl Job {
    fn view(&self) -> JobView {
        let (phase, done, total) = self.progress.get();
        let finished = self.finished.lock().map(|f| f.clone()).unwrap_or(None);
        let (state, summary, error) = match finished {
            None => (JobState::Running, None, None),
            Some(Finished::Done(o)) => match o.refusal() {
                Some(e) => (
                    JobState::Refused,
                    Some(o.summary.clone()),
                    Some(ErrorDetail {
                        code: e.code().to_owned(),
                        message: e.message().to_owned(),
                    }),
                ),
                None => (JobState::Done, Some(o.summary.clone()), None),
            },
            Some(Finished::Failed(e)) => (JobState::Failed, None, Some(e)),
        };
        JobView {
            id: self.id.clone(),
            grid: self.grid.to_string(),
            dry_run: self.dry_run,
            partial: self.partial,
            state,
            phase,
            done,
            total,
            summary,
            error,
        }
    }
}

/// May this caller import into households? Community and street supervisors and grid workers
/// (within their scope); liaisons, department staff and administrators may not.
fn may_import(role: Role) -> bool {
    matches!(
        role,
        Role::CommunitySupervisor | Role::StreetSupervisor | Role::GridWorker
    )
}

/// Starts an import of `body` (an XLSX workbook or a CSV file, `content_type` telling which)
/// into the grid of `query`: 403 outside the caller's scope or for a role that does not
/// import, 400 for a file that is not a roster (or has no header row) or a bad mapping. The
/// job runs on; its view is answered at once.
pub async fn start(
    app: &AppState,
    caller: &AuthUser,
    address: Option<std::net::IpAddr>,
    query: &StartQuery,
    content_type: Option<&str>,
    body: &[u8],
) -> ApiResult<JobView> {
    if !may_import(caller.role) {
        return Err(ApiError::forbidden(
            "forbidden",
            "only supervisors and grid workers import household rosters",
        ));
    }
    let Some(grid_text) = query.grid.as_ref().filter(|g| !g.is_empty()) else {
        return Err(ApiError::bad_request(
            "malformed",
            "grid: the grid to import into is required",
        ));
    };
    let reader = crate::lists::reader(app, caller, Some(grid_text), None).await?;
    let grid: GridId = grid_text
        .parse()
        .map_err(|_| ApiError::bad_request("malformed", "grid: not a grid code"))?;
    if !reader.grids.iter().any(|g| g == grid.as_str()) {
        return Err(ApiError::forbidden(
            "forbidden",
            "the grid is outside your scope",
        ));
    }
    let mapping = match &query.mapping {
        Some(m) if !m.trim().is_empty() => super::parse_mapping(m.as_bytes())?,
        _ => Default::default(),
    };
    let kind = FileKind::detect(content_type, body);
    let roster = {
        let body = body.to_vec();
        let mapping = mapping.clone();
        crate::records::work::blocking(move || Roster::read(kind, &body, &mapping)).await??
    };
    let user = crate::db::users::get_user(&app.db, &caller.user)
        .await?
        .ok_or_else(|| ApiError::unauthorized("unknown user"))?;
    let importer = Importer {
        user: Some(caller.user.clone()),
        login: user.login,
        device: Some(caller.device.clone()),
        address,
    };
    let options = ImportOptions {
        grid: grid.clone(),
        dry_run: query.dry_run.unwrap_or(false),
        partial: query.partial.unwrap_or(false),
        mapping,
    };
    let job = Arc::new(Job {
        id: uuid::Uuid::now_v7().hyphenated().to_string(),
        owner: caller.user.clone(),
        grid,
        dry_run: options.dry_run,
        partial: options.partial,
        progress: Arc::new(Progress::default()),
        finished: Mutex::new(None),
    });
    app.imports.add(job.clone());
    let view = job.view();
    let app = app.clone();
    tokio::spawn(async move {
        let result = super::run(&app, &importer, roster, &options, &job.progress).await;
        let finished = match result {
            Ok(outcome) => Finished::Done(Arc::new(outcome)),
            Err(e) => {
                tracing::warn!(job = %job.id, error = %e.message(), "import failed");
                Finished::Failed(ErrorDetail {
                    code: e.code().to_owned(),
                    message: if e.status().is_server_error() {
                        "the import failed; nothing was written".to_owned()
                    } else {
                        e.message().to_owned()
                    },
                })
            }
        };
        if let Ok(mut slot) = job.finished.lock() {
            *slot = Some(finished);
        }
    });
    Ok(view)
}

impl ImportJobs {
    fn add(&self, job: Arc<Job>) {
        if let Ok(mut jobs) = self.jobs.lock() {
            jobs.push_back(job);
            while jobs.len() > MAX_JOBS {
                let finished = jobs
                    .iter()
                    .position(|j| j.finished.lock().is_ok_and(|f| f.is_some()));
                match finished {
                    Some(i) => {
                        jobs.remove(i);
                    }
                    None => break,
                }
            }
        }
    }

    fn get(&self, caller: &AuthUser, id: &str) -> ApiResult<Arc<Job>> {
        self.jobs
            .lock()
            .ok()
            .and_then(|jobs| {
                jobs.iter()
                    .find(|j| j.id == id && j.owner == caller.user)
                    .cloned()
            })
            .ok_or_else(|| {
                ApiError::not_found(
                    "no such import (imports are kept in memory until the server restarts)",
                )
            })
    }

    /// The view of job `id` of the caller: 404 for another user's job or an unknown one.
    pub fn view(&self, caller: &AuthUser, id: &str) -> ApiResult<JobView> {
        Ok(self.get(caller, id)?.view())
    }

    /// The report workbook of the caller's finished job `id`: 404 as [`Self::view`], 409
    /// `running` while it runs, 409 `failed` when it failed.
    pub async fn report(&self, caller: &AuthUser, id: &str) -> ApiResult<Vec<u8>> {
        let job = self.get(caller, id)?;
        let finished = job.finished.lock().map(|f| f.clone()).unwrap_or(None);
        let outcome = match finished {
            None => {
                return Err(ApiError::conflict(
                    "running",
                    "the import is still running; its report comes when it has finished",
                ));
            }
            Some(Finished::Failed(_)) => {
                return Err(ApiError::conflict(
                    "failed",
                    "the import failed before checking every row; it has no report",
                ));
            }
            Some(Finished::Done(o)) => o,
        };
        crate::records::work::blocking(move || super::report::workbook(&outcome))
            .await?
            .map_err(ApiError::internal)
    }
}
