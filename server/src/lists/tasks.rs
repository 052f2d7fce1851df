//! What waits for the caller (待我处理, `GET /v1/tasks`): the case steps they may take now, most
//! urgent first, decided by [`sync_core::tasks`] exactly as on the phone.
//!
//! Candidates come from the case index (open cases of the caller's grids, escalated ones only
//! for a street supervisor), at most [`MAX_CANDIDATES`] of them, earliest due first; each is
//! loaded (through the cache) and judged by the workflow itself, so the list never disagrees
//! with what the case page allows. A grid worker's list also holds the liaisons' reports of
//! their grid waiting for triage (from the activity index).

use serde_json::{Value, json};
use sync_core::deadline::{DeadlinePolicy, WorkCalendar};
use sync_core::ids::DocId;
use sync_core::models::AnyRecord;
use sync_core::models::Report;
use sync_core::models::case::Case;
use sync_core::record::{RecordKind, Role};
use sync_core::tasks::{Person, Task, tasks_for};
use sync_core::time::Timestamp;
use sync_core::workflow::CaseState;

use crate::auth::AuthUser;
use crate::db::index as idx;
use crate::db::query::Arg;
use crate::error::ApiResult;
use crate::lists::{page_of, reader};
use crate::records::load::load;
use crate::state::AppState;

/// The most open cases looked at for one list. A community has a few hundred open cases at
/// most; past this the list says it is `truncated`.
pub const MAX_CANDIDATES: u32 = 1000;

/// The states in which a case can wait for someone.
const WAITING: &[CaseState] = &[
    CaseState::Draft,
    CaseState::Reported,
    CaseState::Accepted,
    CaseState::InProgress,
    CaseState::Resolved,
    CaseState::Verified,
    CaseState::Suspended,
];

/// The caller's tasks at `now`.
pub async fn tasks(app: &AppState, caller: &AuthUser, now: i64) -> ApiResult<Value> {
    let r = reader(app, caller, None, None).await?;
    r.only_supervisors_and_workers("tasks")?;
    let mut f = r.filter();
    let states: Vec<String> = WAITING.iter().map(|s| s.as_str().to_owned()).collect();
    f.within("state", &states);
    if caller.role == Role::StreetSupervisor {
        f.clause("escalated = TRUE");
    }
    crate::lists::records::department_cases(&mut f, &r.scope);
    if caller.role == Role::GridWorker {
        // A grid worker's steps: drafts they opened, cases they handle, checks of others'
        // resolutions. Others' drafts never wait for them.
        let me = f.arg(Arg::Text(caller.user.to_string()));
        f.clause(format!("(state <> 'draft' OR opened_by = {me})"));
    } else {
        f.clause("state <> 'draft'");
    }
    let (rows, total) = idx::list_cases(
        &app.db,
        &f,
        page_of("(due_at IS NULL), due_at, id", 1, MAX_CANDIDATES),
    )
    .await?;
    let mut cases: Vec<Case> = Vec::with_capacity(rows.len());
    for (row, _) in &rows {
        let Ok(id) = row.id.parse::<DocId>() else {
            continue;
        };
        let Some(loaded) = load(app, &id).await? else {
            continue;
        };
        if let Some(AnyRecord::Case(case)) = &loaded.record.record {
            cases.push(case.clone());
        }
    }
    let mut reports: Vec<Report> = Vec::new();
    if caller.role == Role::GridWorker {
        let mut rf = r.filter();
        rf.eq("kind", RecordKind::Report.as_str());
        rf.eq("subtype", "pending");
        let (rows, _) =
            idx::list_activities(&app.db, &rf, page_of("at, id", 1, MAX_CANDIDATES)).await?;
        for (row, _) in &rows {
            let Ok(id) = row.id.parse::<DocId>() else {
                continue;
            };
            let Some(loaded) = load(app, &id).await? else {
                continue;
            };
            if let Some(AnyRecord::Report(report)) = &loaded.record.record {
                reports.push(report.clone());
            }
        }
    }
    let list = tasks_for(
        Person {
            user: &caller.user,
            role: caller.role,
            department: r.scope.department.as_ref(),
        },
        &cases,
        &reports,
        &DeadlinePolicy::default(),
        &WorkCalendar::china(),
        Timestamp::from_millis(now),
    );
    let mut items: Vec<Value> = list.iter().map(task_item).collect();
    crate::lists::with_place_names(app, &mut items).await?;
    Ok(json!({
        "items": items,
        "total": list.len(),
        "truncated": total > i64::from(MAX_CANDIDATES),
    }))
}

fn task_item(t: &Task) -> Value {
    json!({
        "case": t.record,
        "record_kind": t.kind,
        "action": t.action,
        "kind": t.case_kind,
        "subject": t.subject,
        "community": t.place.community,
        "grid": t.place.grid,
        "state": t.state,
        "urgency": t.urgency,
        "supervision": t.supervision,
        "level": t.level,
        "due_at": t.due_at,
        "opened_at": t.opened_at,
    })
}
