//! What waits for a person (待我处理): the case steps they may take now, most urgent first.
//!
//! A task is a case and the action that moves it on, for one user in one role. Which actions
//! those are is not a second rule book: an action is a task exactly when
//! [`workflow::check_action`] allows it to this user now, among the actions that move a case
//! forward ([`TASK_ACTIONS`]), with a few narrowings so that a list stays someone's own:
//!
//! - `submit` waits for the grid worker who opened the draft;
//! - `dispatch` waits while the case is accepted (a reassignment is possible later, never due);
//! - `resolve` waits for the handler (the department's staff when a department handles it,
//!   else the assignee, or the opener when nobody is assigned), even though supervisors may
//!   resolve any case;
//! - a street supervisor's list holds only escalated cases (the community runs the others);
//! - `acknowledge` waits for a supervisor when the case has events made illegal by a merge.
//!
//! A household liaison's report (随手报) not yet triaged waits for the grid workers of its
//! grid, as `accept` (受理: accept it as a case, or close it with a reason).
//!
//! The same function serves the phone (from its local replica, offline) and the console (from
//! the server's copy), so both show the same list.
//!
//! Order: red deadlines first, then yellow, then on time; within a level the supervision
//! (督办) set by the street (red card, yellow card, none), then the case's urgency, then the
//! earliest due time, then the oldest case.

use std::cmp::Reverse;

use serde::Serialize;

use crate::deadline::{self, DeadlineLevel, DeadlinePolicy, WorkCalendar};
use crate::ids::{DepartmentId, DocId, UserId};
use crate::models::Report;
use crate::models::case::{Case, CaseAction, CaseKind, SupervisionLevel, Urgency};
use crate::record::{Place, RecordKind, Role};
use crate::time::Timestamp;
use crate::workflow::{self, CaseState, CaseStatus};

/// The actions that move a case forward, in the order a case meets them. Comments, delays
/// requested, suspensions and cancellations are never waiting for anyone.
pub const TASK_ACTIONS: &[CaseAction] = &[
    CaseAction::Submit,
    CaseAction::Accept,
    CaseAction::Dispatch,
    CaseAction::Resolve,
    CaseAction::ApproveDelay,
    CaseAction::VerifyPass,
    CaseAction::Close,
    CaseAction::Acknowledge,
];

/// One thing waiting for the user.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Task {
    /// The record: a case, or a liaison's report.
    pub record: DocId,
    /// Which of the two.
    pub kind: RecordKind,
    /// What the user is to do: for a case the first action of [`TASK_ACTIONS`] open to them;
    /// for a report `accept` (triage it).
    pub action: CaseAction,
    /// The case's kind (`None` for a report).
    pub case_kind: Option<CaseKind>,
    /// The case's subject, or what the report says.
    pub subject: String,
    /// Where.
    pub place: Place,
    /// The case's state (`None` for a report).
    pub state: Option<CaseState>,
    /// The case's urgency (a report's is normal).
    pub urgency: Urgency,
    /// The supervision (督办) level the street set, if any: shown apart from the deadline.
    pub supervision: Option<SupervisionLevel>,
    /// The running step's deadline level (`None` when no step runs, e.g. verified).
    pub level: Option<DeadlineLevel>,
    /// When the running step is due.
    pub due_at: Option<Timestamp>,
    /// When the case was opened, or the report's matter noticed.
    pub opened_at: Timestamp,
}

/// Who a task list is for: the user, their role, and for department staff their department.
#[derive(Debug, Clone, Copy)]
pub struct Person<'a> {
    /// The user.
    pub user: &'a UserId,
    /// Their role.
    pub role: Role,
    /// Their department (department staff only).
    pub department: Option<&'a DepartmentId>,
}

/// The tasks of `who` among `cases` and `reports`, most urgent first.
pub fn tasks_for<'a>(
    who: Person<'_>,
    cases: impl IntoIterator<Item = &'a Case>,
    reports: impl IntoIterator<Item = &'a Report>,
    policy: &DeadlinePolicy,
    calendar: &WorkCalendar,
    now: Timestamp,
) -> Vec<Task> {
    let mut tasks: Vec<Task> = cases
        .into_iter()
        .filter_map(|case| task_of(who, case, policy, calendar, now))
        .chain(
            reports
                .into_iter()
                .filter_map(|report| report_task(who.role, report)),
        )
        .collect();
    tasks.sort_by_key(|t| {
        (
            Reverse(t.level.map_or(0, level_rank)),
            Reverse(t.supervision.map_or(0, supervision_rank)),
            Reverse(urgency_rank(t.urgency)),
            t.due_at.map_or(i64::MAX, Timestamp::millis),
            t.opened_at.millis(),
        )
    });
    tasks
}

/// The task `case` holds for `who`, if any.
pub fn task_of(
    who: Person<'_>,
    case: &Case,
    policy: &DeadlinePolicy,
    calendar: &WorkCalendar,
    now: Timestamp,
) -> Option<Task> {
    let Person {
        user,
        role,
        department,
    } = who;
    let status = workflow::fold(case);
    if status.state.is_terminal() || (role == Role::StreetSupervisor && !status.escalated) {
        return None;
    }
    let action = TASK_ACTIONS.iter().copied().find(|&action| {
        waits_for(who, case, &status, action)
            && match (role, department) {
                (Role::Department, Some(d)) => workflow::check_action_in(case, user, d, action),
                _ => workflow::check_action(case, user, role, action),
            }
            .is_ok()
    })?;
    let due = deadline::deadline(case, &status, policy, calendar, now);
    Some(Task {
        record: case.id.clone(),
        kind: RecordKind::Case,
        action,
        case_kind: Some(case.case_kind),
        subject: case.subject.clone(),
        place: case.place.clone(),
        state: Some(status.state),
        urgency: case.urgency,
        supervision: status.supervision,
        level: due.as_ref().map(|d| d.level),
        due_at: due.map(|d| d.due_at),
        opened_at: case.opened_at,
    })
}

/// The task a liaison's report holds for a grid worker of its grid: its triage, until made.
pub fn report_task(role: Role, report: &Report) -> Option<Task> {
    if role != Role::GridWorker || report.triage.is_some() {
        return None;
    }
    Some(Task {
        record: report.id.clone(),
        kind: RecordKind::Report,
        action: CaseAction::Accept,
        case_kind: None,
        subject: crate::models::title_of(&report.what),
        place: report.place.clone(),
        state: None,
        urgency: Urgency::Normal,
        supervision: None,
        level: None,
        due_at: None,
        opened_at: report.noticed_at,
    })
}

/// The narrowings of the module documentation, on top of what the workflow allows.
fn waits_for(who: Person<'_>, case: &Case, status: &CaseStatus, action: CaseAction) -> bool {
    let user = who.user;
    match action {
        CaseAction::Submit => &case.opened_by == user,
        // A case in progress may be reassigned, but nothing waits for it.
        CaseAction::Dispatch => status.state == CaseState::Accepted,
        CaseAction::Resolve => match (&status.department, &status.assignee) {
            (Some(department), _) => who.department == Some(department),
            (None, Some(assignee)) => assignee == user,
            (None, None) => &case.opened_by == user,
        },
        CaseAction::Acknowledge => !status.illegal.is_empty(),
        _ => true,
    }
}

fn level_rank(level: DeadlineLevel) -> u8 {
    match level {
        DeadlineLevel::Red => 3,
        DeadlineLevel::Yellow => 2,
        DeadlineLevel::OnTime => 1,
    }
}

fn supervision_rank(level: SupervisionLevel) -> u8 {
    match level {
        SupervisionLevel::Red => 2,
        SupervisionLevel::Yellow => 1,
    }
}

fn urgency_rank(urgency: Urgency) -> u8 {
    match urgency {
        Urgency::Critical => 3,
        Urgency::Urgent => 2,
        Urgency::Normal => 1,
    }
}
