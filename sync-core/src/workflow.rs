//! The case workflow: which actions are legal, for whom, and the case state folded from the
//! event log.
//!
//! A case's state is never stored. It is computed by [`fold`] from the append-only
//! [`Case::events`] log, so two people who acted offline never overwrite each other: after a
//! merge both events are in the log, and the fold decides which of them still made sense.
//!
//! ## The state machine
//!
//! ```text
//! DRAFT -submit-> REPORTED -accept-> ACCEPTED -dispatch-> IN_PROGRESS -resolve-> RESOLVED
//! REPORTED -reject-> NOT_FILED                 IN_PROGRESS -dispatch-> IN_PROGRESS (reassign)
//! DRAFT/REPORTED -quick_resolve-> RESOLVED     RESOLVED -verify_pass-> VERIFIED -close-> CLOSED
//! RESOLVED -verify_fail-> IN_PROGRESS          open -suspend-> SUSPENDED -resume-> previous
//! open/SUSPENDED -cancel-> CANCELLED           REPORTED/ACCEPTED/IN_PROGRESS -escalate-> same
//! IN_PROGRESS -request_delay-> pending -approve_delay/deny_delay-> cleared
//! open -supervise(level)-> same                any state -comment-> same
//! ```
//!
//! "Open" means reported, accepted, in progress, resolved or verified. Closed, not filed and
//! cancelled are terminal: they accept only comments and acknowledgements.
//!
//! This is the closed loop a street office runs: whoever handles a case reports it solved
//! (办理), someone else checks the result on site or by calling back (核查), and only a checked
//! case is closed (结案).
//!
//! Legality is decided by two tables and a few rules that look at the folded status:
//! [`allowed`] (which role may take which action), [`allowed_states`] (in which states an
//! action applies), and the rules about people and payloads:
//!
//! - a grid worker may `resolve` and `request_delay` only as the handler: the current
//!   assignee, or, when nobody is assigned (a quick-resolved case sent back by
//!   `verify_fail`), the person who opened the case;
//! - **departments** (站所): a `dispatch` names an assignee *or* a department of the street,
//!   and any co-handling departments (协办); while a department handles the case, its staff
//!   (role `department`, their events naming their department) `resolve` and
//!   `request_delay`, nobody else of the grid; co-handling departments see the case and
//!   comment;
//! - **verification by someone else**: `verify_pass` and `verify_fail` may not be taken by the
//!   person who resolved the case, nor from the device the resolution was written on (another
//!   account signed in on the same phone); a hazard's `verify_pass` needs the rectification's
//!   re-check, passed. Since these are rules of the fold, a verification written offline by the
//!   resolver is, after the merge, an illegal event in the conflict inbox, never a silent pass;
//! - only one delay request may be pending;
//! - `approve_delay` / `deny_delay` need a pending request;
//! - once escalated, `accept`, `reject` and `dispatch` belong to the street supervisor;
//! - a case is escalated at most once; a `dispatch` must name a different assignee than the
//!   current one;
//! - payloads must be present: an assignee for `dispatch`, 1-60 days for `request_delay`, a
//!   level for `supervise`, a reason for `reject`, `cancel`, `verify_fail` and `deny_delay`.
//!
//! ### Events written before verification by someone else
//!
//! Every event written since names its device ([`CaseEvent::device`]; the server refuses a
//! new event that does not name the device that pushes it). An event without a device was
//! written under the earlier rules and is folded by them, so that no stored case changes
//! state when the rules change: such a `verify_pass` closes the case directly, with no check
//! of who resolved it, and such a `close` applies to a resolved case.
//!
//! ## Timed steps
//!
//! For deadlines ([`crate::deadline`]) the fold also records [`StepSpan`]s:
//!
//! - `accept` runs while the case is REPORTED (from `submit` to `accept`, `reject` or
//!   `quick_resolve`);
//! - `handle` runs from `accept` until `resolve`, covering ACCEPTED and IN_PROGRESS. It starts
//!   at acceptance rather than dispatch so that time a case waits for dispatch counts against
//!   the community; a reassignment does not restart it (the promise is to the resident, not to
//!   one handler). A `verify_fail` starts a new handle span with the full limit again;
//! - `verify` runs while the case is RESOLVED (from `resolve` or `quick_resolve` until
//!   `verify_pass`, `verify_fail` or `close`).
//!
//! Suspensions inside a span are recorded as pauses; approved delays add days to the handle
//! span that is running when they are approved.
//!
//! Client clocks may disagree, so the fold uses a clamped time for spans: each legal event's
//! time is at least the time of the previous legal event. Spans and pauses are therefore
//! always ordered and never negative.

use serde::Serialize;

use crate::doc::{Author, Document, DocumentError};
use crate::ids::{DepartmentId, DeviceId, ItemId, UserId};
use crate::models::case::{Case, CaseAction, CaseEvent, CaseKind, RecheckResult, SupervisionLevel};
use crate::record::Role;
use crate::string_enum;
use crate::time::Timestamp;
use crate::validate::ValidationContext;
use automerge::ChangeHash;

string_enum! {
    /// Where a case stands, as folded from its event log.
    pub enum CaseState {
        /// Being written by the grid worker; not yet filed.
        Draft = "draft" ["草稿", "draft"],
        /// Filed, waiting for the community to accept it (立案).
        Reported = "reported" ["已上报", "reported"],
        /// Accepted, waiting to be dispatched to a handler.
        Accepted = "accepted" ["已受理", "accepted"],
        /// Dispatched and being handled.
        InProgress = "in_progress" ["办理中", "in progress"],
        /// Reported solved, waiting for someone else to verify it on site.
        Resolved = "resolved" ["已办结", "resolved"],
        /// Verified by someone other than who resolved it, waiting to be closed.
        Verified = "verified" ["已核查", "verified"],
        /// Closed once verified. Terminal.
        Closed = "closed" ["已结案", "closed"],
        /// Refused by the community (不予立案). Terminal.
        NotFiled = "not_filed" ["不予立案", "not filed"],
        /// Paused; the deadline clock stops. `resume` returns to the state before.
        Suspended = "suspended" ["已挂起", "suspended"],
        /// Cancelled by a supervisor. Terminal.
        Cancelled = "cancelled" ["已撤销", "cancelled"],
    }
}

string_enum! {
    /// A step of the case that runs against a deadline.
    pub enum Step {
        /// Waiting for the community to accept or reject (while REPORTED).
        Accept = "accept" ["受理", "accept"],
        /// Being handled (from acceptance until resolved).
        Handle = "handle" ["办理", "handle"],
        /// Waiting for verification on site (while RESOLVED).
        Verify = "verify" ["核查", "verify"],
    }
}

/// The open states: a case in one of them can be supervised or cancelled (and, but for
/// verified, suspended).
pub const OPEN_STATES: &[CaseState] = &[
    CaseState::Reported,
    CaseState::Accepted,
    CaseState::InProgress,
    CaseState::Resolved,
    CaseState::Verified,
];

impl CaseState {
    /// True for closed, not filed and cancelled: only comments and acknowledgements are accepted.
    pub const fn is_terminal(self) -> bool {
        matches!(
            self,
            CaseState::Closed | CaseState::NotFiled | CaseState::Cancelled
        )
    }

    /// True for reported, accepted, in progress, resolved and verified.
    pub const fn is_open(self) -> bool {
        matches!(
            self,
            CaseState::Reported
                | CaseState::Accepted
                | CaseState::InProgress
                | CaseState::Resolved
                | CaseState::Verified
        )
    }
}

/// A delay request waiting for a supervisor's decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PendingDelay {
    /// The `request_delay` event.
    pub event: ItemId,
    /// Working days asked for.
    pub days: u32,
}

/// One span of time the case spent in a timed [`Step`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepSpan {
    /// Which step.
    pub step: Step,
    /// When the step started (clamped event time).
    pub started_at: Timestamp,
    /// When it ended; `None` while it runs.
    pub ended_at: Option<Timestamp>,
    /// Suspensions inside the span: start and, once resumed, end.
    pub paused: Vec<(Timestamp, Option<Timestamp>)>,
    /// Working days added by delays approved during this span (handle spans only).
    pub extra_days: u32,
}

impl StepSpan {
    fn new(step: Step, at: Timestamp) -> Self {
        Self {
            step,
            started_at: at,
            ended_at: None,
            paused: Vec::new(),
            extra_days: 0,
        }
    }

    /// True while the span runs.
    pub fn is_running(&self) -> bool {
        self.ended_at.is_none()
    }
}

/// An event that was not legal when folded: kept in the log, skipped by the fold, and shown to
/// supervisors as a conflict item ("illegal after merge").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IllegalEvent {
    /// The event's id.
    pub event: ItemId,
    /// Its position in the log.
    pub index: usize,
    /// What it tried to do.
    pub action: CaseAction,
    /// Who acted.
    pub actor: UserId,
    /// In which role.
    pub role: Role,
    /// The actor's device time.
    pub at: Timestamp,
    /// The folded state when the event was reached.
    pub state: CaseState,
    /// Why it was refused, in English.
    pub reason: String,
    /// The supervisor's review of it, once acknowledged.
    pub acknowledged: Option<Acknowledgement>,
}

/// A supervisor's review of an event made illegal by a merge: the `acknowledge` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Acknowledgement {
    /// The `acknowledge` event's id.
    pub event: ItemId,
    /// Who reviewed it.
    pub actor: UserId,
    /// In which role.
    pub role: Role,
    /// The reviewing device's time.
    pub at: Timestamp,
    /// What the supervisor noted.
    pub note: Option<String>,
}

/// Who took a step of the loop (resolved or verified the case), and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Act {
    /// The event.
    pub event: ItemId,
    /// Who acted.
    pub actor: UserId,
    /// In which role.
    pub role: Role,
    /// From which device (`None` for events written before devices were named).
    pub device: Option<DeviceId>,
    /// The clamped event time.
    pub at: Timestamp,
}

impl Act {
    fn of(event: &CaseEvent, at: Timestamp) -> Self {
        Self {
            event: event.id.clone(),
            actor: event.actor.clone(),
            role: event.role,
            device: event.device.clone(),
            at,
        }
    }
}

/// A case's status: the fold of its event log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseStatus {
    /// The current state.
    pub state: CaseState,
    /// Raised to the street level.
    pub escalated: bool,
    /// Supervision level (督办) set by the street, if any.
    pub supervision: Option<SupervisionLevel>,
    /// Who is to handle the case (set by `dispatch`).
    pub assignee: Option<UserId>,
    /// The department handling the case (set by a `dispatch` to a department).
    pub department: Option<DepartmentId>,
    /// Departments co-handling it (协办), from the last dispatch.
    pub co_departments: Vec<DepartmentId>,
    /// Every department the case was ever dispatched to, as lead or co-handler: their staff
    /// may read it ([`crate::record::RecordMeta::departments`]).
    pub departments: Vec<DepartmentId>,
    /// A delay request waiting for a decision.
    pub pending_delay: Option<PendingDelay>,
    /// Working days added by approved delays to the current handle step.
    pub approved_delay_days: u32,
    /// Times the case was sent back by `verify_fail`.
    pub reopened: u32,
    /// The resolution (`resolve` or `quick_resolve`) now standing: set when the case is
    /// resolved, cleared when a verification sends it back.
    pub resolution: Option<Act>,
    /// The passed verification, once verified.
    pub verification: Option<Act>,
    /// When the case reached its terminal state (closed, not filed or cancelled).
    pub ended_at: Option<Timestamp>,
    /// The state before the suspension, while suspended.
    pub suspended_from: Option<CaseState>,
    /// Timed spans, oldest first; at most the last one is running.
    pub steps: Vec<StepSpan>,
    /// Events that were skipped because they were not legal when folded and that no
    /// supervisor has acknowledged yet: the case's conflict items.
    pub illegal: Vec<IllegalEvent>,
    /// Events that were skipped as illegal and then acknowledged by a supervisor (still in the
    /// log, still skipped; no longer conflict items).
    pub acknowledged: Vec<IllegalEvent>,
}

impl CaseStatus {
    /// The status of a case with no events: a draft.
    pub fn draft() -> Self {
        Self {
            state: CaseState::Draft,
            escalated: false,
            supervision: None,
            assignee: None,
            department: None,
            co_departments: Vec::new(),
            departments: Vec::new(),
            pending_delay: None,
            approved_delay_days: 0,
            reopened: 0,
            resolution: None,
            verification: None,
            ended_at: None,
            suspended_from: None,
            steps: Vec::new(),
            illegal: Vec::new(),
            acknowledged: Vec::new(),
        }
    }

    /// The span that is running now, if any.
    pub fn current_step(&self) -> Option<&StepSpan> {
        self.steps.last().filter(|s| s.is_running())
    }
}

/// Why an action is refused. Its `Display` is the reason shown to people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum Refusal {
    /// The case is closed, not filed or cancelled.
    Terminal {
        /// The terminal state.
        state: CaseState,
    },
    /// The role may never take this action.
    Role {
        /// The acting role.
        role: Role,
        /// The action.
        action: CaseAction,
    },
    /// The action does not apply in the current state.
    State {
        /// The action.
        action: CaseAction,
        /// The current state.
        state: CaseState,
    },
    /// The case was escalated; only a street supervisor may take this action.
    Escalated {
        /// The action.
        action: CaseAction,
    },
    /// The actor is not the current assignee.
    NotAssignee {
        /// The action.
        action: CaseAction,
        /// The current assignee.
        assignee: UserId,
    },
    /// Nobody is assigned and the actor did not open the case.
    NotOpener {
        /// The action.
        action: CaseAction,
    },
    /// The case is already escalated.
    AlreadyEscalated,
    /// A delay request is already waiting for a decision.
    DelayPending,
    /// No delay request is waiting for a decision.
    NoPendingDelay,
    /// The case is with a department: only its staff may take the action.
    DepartmentHandles {
        /// The action.
        action: CaseAction,
        /// The department handling the case.
        department: DepartmentId,
    },
    /// Department staff act only on a case their department handles.
    NotTheDepartment {
        /// The action.
        action: CaseAction,
    },
    /// A dispatch to the department already handling the case.
    SameDepartment {
        /// The department.
        department: DepartmentId,
    },
    /// A dispatch to the person already assigned.
    SameAssignee {
        /// The current assignee.
        assignee: UserId,
    },
    /// `acknowledge` names an event that is not awaiting review (not in the log, not made
    /// illegal by a merge, or already acknowledged).
    NothingToAcknowledge {
        /// The named event, if any.
        target: Option<ItemId>,
    },
    /// Verification by the person who resolved the case.
    OwnResolution {
        /// The action.
        action: CaseAction,
    },
    /// Verification from the device the resolution was written on.
    SameDevice {
        /// The action.
        action: CaseAction,
    },
    /// A hazard is verified only once its rectification was re-checked and passed.
    NoPassedRecheck,
    /// A required payload field is missing or out of range.
    Payload {
        /// The action.
        action: CaseAction,
        /// What is missing.
        field: &'static str,
    },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Terminal { state } => {
                write!(
                    f,
                    "the case is {state}, which is final; only comments and acknowledgements are allowed"
                )
            }
            Refusal::Role { role, action } => {
                let article = if *role == Role::Admin { "an" } else { "a" };
                write!(f, "{article} {role} may not {action}")
            }
            Refusal::State { action, state } => {
                let allowed: Vec<&str> =
                    allowed_states(*action).iter().map(|s| s.as_str()).collect();
                write!(
                    f,
                    "{action} is not possible while the case is {state} (only when {})",
                    allowed.join(", ")
                )
            }
            Refusal::Escalated { action } => write!(
                f,
                "the case was escalated to the street; only a street supervisor may {action} it"
            ),
            Refusal::NotAssignee { action, assignee } => write!(
                f,
                "only the current assignee ({assignee}) may {action}; the case was reassigned or \
                 assigned to someone else"
            ),
            Refusal::NotOpener { action } => write!(
                f,
                "nobody is assigned, so only the grid worker who opened the case may {action}"
            ),
            Refusal::AlreadyEscalated => write!(f, "the case is already escalated to the street"),
            Refusal::DelayPending => {
                write!(f, "a delay request is already waiting for a decision")
            }
            Refusal::NoPendingDelay => {
                write!(f, "there is no delay request waiting for a decision")
            }
            Refusal::DepartmentHandles { action, department } => write!(
                f,
                "the case was dispatched to department {department}; only its staff may {action}"
            ),
            Refusal::NotTheDepartment { action } => write!(
                f,
                "department staff may {action} only a case dispatched to their department"
            ),
            Refusal::SameDepartment { department } => {
                write!(f, "the case is already with department {department}")
            }
            Refusal::SameAssignee { assignee } => {
                write!(f, "the case is already assigned to {assignee}")
            }
            Refusal::NothingToAcknowledge {
                target: Some(target),
            } => write!(
                f,
                "event {target} is not an illegal-after-merge event awaiting review"
            ),
            Refusal::NothingToAcknowledge { target: None } => {
                write!(f, "no illegal-after-merge event awaits review")
            }
            Refusal::OwnResolution { action } => write!(
                f,
                "the case must be verified by someone other than who resolved it; the resolver \
                 may not {action}"
            ),
            Refusal::SameDevice { action } => write!(
                f,
                "the case was resolved on this device; someone else must {action} it from \
                 their own device"
            ),
            Refusal::NoPassedRecheck => write!(
                f,
                "a hazard is verified only once its rectification has a passed re-check \
                 (rectification.recheck.result = passed)"
            ),
            Refusal::Payload { action, field } => write!(f, "{action} requires {field}"),
        }
    }
}

/// An action that may not be taken now: the state, role and action, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{role} may not {action} a case that is {state}: {refusal}")]
pub struct IllegalAction {
    /// The folded state the action was judged against.
    pub state: CaseState,
    /// The acting role.
    pub role: Role,
    /// The action.
    pub action: CaseAction,
    /// Why it is refused.
    pub refusal: Refusal,
}

/// Why [`append_event`] wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// The workflow refuses the event.
    #[error(transparent)]
    Illegal(#[from] IllegalAction),
    /// The document could not be read or the edited case is invalid.
    #[error(transparent)]
    Document(#[from] DocumentError),
    /// The edit produced no change (e.g. the same event was appended twice).
    #[error("appending the event changed nothing")]
    Unchanged,
}

/// Which role may ever take which action: the permission table.
///
/// | role                 | actions                                                                                                           |
/// |----------------------|-------------------------------------------------------------------------------------------------------------------|
/// | grid_worker          | submit, quick_resolve, resolve, verify_pass, verify_fail, request_delay, comment                                  |
/// | community_supervisor | accept, reject, dispatch, resolve, verify_pass, verify_fail, close, suspend, resume, cancel, escalate, approve_delay, deny_delay, acknowledge, comment |
/// | street_supervisor    | everything a community supervisor may, plus supervise                                                             |
/// | department           | resolve, request_delay, comment (on cases dispatched to their department)                                        |
/// | liaison, admin       | comment                                                                                                           |
///
/// State and person rules come on top (see the module documentation).
pub fn allowed(role: Role, action: CaseAction) -> bool {
    use CaseAction as A;
    match action {
        A::Comment => true,
        A::Submit | A::QuickResolve => role == Role::GridWorker,
        A::RequestDelay => matches!(role, Role::GridWorker | Role::Department),
        A::Resolve => matches!(
            role,
            Role::GridWorker
                | Role::CommunitySupervisor
                | Role::StreetSupervisor
                | Role::Department
        ),
        A::VerifyPass | A::VerifyFail => matches!(
            role,
            Role::GridWorker | Role::CommunitySupervisor | Role::StreetSupervisor
        ),
        A::Accept
        | A::Reject
        | A::Dispatch
        | A::Close
        | A::Suspend
        | A::Resume
        | A::Cancel
        | A::Escalate
        | A::ApproveDelay
        | A::DenyDelay
        | A::Acknowledge => matches!(role, Role::CommunitySupervisor | Role::StreetSupervisor),
        A::Supervise => role == Role::StreetSupervisor,
    }
}

/// In which states an action applies: the state table. Comments and acknowledgements apply in
/// every state (an event may be made illegal by a merge that also ended the case).
pub fn allowed_states(action: CaseAction) -> &'static [CaseState] {
    use CaseAction as A;
    use CaseState as S;
    match action {
        A::Submit => &[S::Draft],
        A::Accept | A::Reject => &[S::Reported],
        A::Dispatch => &[S::Accepted, S::InProgress],
        A::Resolve | A::RequestDelay => &[S::InProgress],
        A::QuickResolve => &[S::Draft, S::Reported],
        A::VerifyPass | A::VerifyFail => &[S::Resolved],
        A::Close => &[S::Verified],
        // A verified case waits only for its closing: nothing runs that a pause would stop.
        A::Suspend => &[S::Reported, S::Accepted, S::InProgress, S::Resolved],
        A::Supervise => OPEN_STATES,
        A::Resume => &[S::Suspended],
        A::Cancel => &[
            S::Reported,
            S::Accepted,
            S::InProgress,
            S::Resolved,
            S::Verified,
            S::Suspended,
        ],
        A::Escalate => &[S::Reported, S::Accepted, S::InProgress],
        // A pending request exists only while handling (possibly suspended meanwhile).
        A::ApproveDelay | A::DenyDelay => &[S::InProgress, S::Suspended],
        A::Comment | A::Acknowledge => &[
            S::Draft,
            S::Reported,
            S::Accepted,
            S::InProgress,
            S::Resolved,
            S::Verified,
            S::Closed,
            S::NotFiled,
            S::Suspended,
            S::Cancelled,
        ],
    }
}

/// The payload of an event, when the whole event is known (fold, [`check_event`]).
#[derive(Clone, Copy)]
struct Payload<'a> {
    note: Option<&'a str>,
    assignee: Option<&'a UserId>,
    delay_days: Option<u32>,
    level: Option<SupervisionLevel>,
    target: Option<&'a ItemId>,
    device: Option<&'a DeviceId>,
    department: Option<&'a DepartmentId>,
    co_departments: &'a [DepartmentId],
}

impl<'a> Payload<'a> {
    fn of(event: &'a CaseEvent) -> Self {
        Self {
            note: event.note.as_deref(),
            assignee: event.assignee.as_ref(),
            delay_days: event.delay_days,
            level: event.level,
            target: event.target.as_ref(),
            device: event.device.as_ref(),
            department: event.department.as_ref(),
            co_departments: &event.co_departments,
        }
    }
}

/// Judges an action against a folded status. `payload` is `None` when only the action is known
/// ([`check_action`]); payload rules are then skipped.
fn judge(
    case: &Case,
    status: &CaseStatus,
    actor: &UserId,
    role: Role,
    unit: Option<&DepartmentId>,
    action: CaseAction,
    payload: Option<Payload<'_>>,
) -> Result<(), Refusal> {
    use CaseAction as A;
    if action == A::Comment {
        return Ok(());
    }
    if action == A::Acknowledge {
        return judge_acknowledge(case, role, payload);
    }
    let state = status.state;
    if state.is_terminal() {
        return Err(Refusal::Terminal { state });
    }
    if !allowed(role, action) {
        return Err(Refusal::Role { role, action });
    }
    // An event without a device predates verification by someone else (module docs).
    let legacy = payload.is_some_and(|p| p.device.is_none());
    let legacy_close = legacy && action == A::Close && state == CaseState::Resolved;
    if !allowed_states(action).contains(&state) && !legacy_close {
        return Err(Refusal::State { action, state });
    }
    if matches!(action, A::VerifyPass | A::VerifyFail) && !legacy {
        if let Some(resolution) = &status.resolution {
            if &resolution.actor == actor {
                return Err(Refusal::OwnResolution { action });
            }
            if resolution.device.is_some()
                && resolution.device.as_ref() == payload.and_then(|p| p.device)
            {
                return Err(Refusal::SameDevice { action });
            }
        }
        if action == A::VerifyPass && case.case_kind == CaseKind::Hazard && !recheck_passed(case) {
            return Err(Refusal::NoPassedRecheck);
        }
    }
    match action {
        A::Accept | A::Reject | A::Dispatch
            if status.escalated && role != Role::StreetSupervisor =>
        {
            return Err(Refusal::Escalated { action });
        }
        // A grid worker or department acts on the handling only as its handler.
        A::Resolve if matches!(role, Role::GridWorker | Role::Department) => {
            handler(case, status, actor, role, unit, action)?;
        }
        A::RequestDelay => {
            handler(case, status, actor, role, unit, action)?;
            if status.pending_delay.is_some() {
                return Err(Refusal::DelayPending);
            }
        }
        A::ApproveDelay | A::DenyDelay if status.pending_delay.is_none() => {
            return Err(Refusal::NoPendingDelay);
        }
        A::Escalate if status.escalated => return Err(Refusal::AlreadyEscalated),
        _ => {}
    }
    let Some(p) = payload else { return Ok(()) };
    let has_note = p.note.is_some_and(|n| !n.trim().is_empty());
    match action {
        A::Reject | A::Cancel | A::VerifyFail | A::DenyDelay if !has_note => {
            Err(Refusal::Payload {
                action,
                field: "a reason (note)",
            })
        }
        A::Dispatch => match (p.assignee, p.department) {
            (None, None) => Err(Refusal::Payload {
                action,
                field: "an assignee or a department",
            }),
            (Some(_), Some(_)) => Err(Refusal::Payload {
                action,
                field: "an assignee or a department, not both",
            }),
            (Some(new), None) if status.assignee.as_ref() == Some(new) => {
                Err(Refusal::SameAssignee {
                    assignee: new.clone(),
                })
            }
            (None, Some(new)) if status.department.as_ref() == Some(new) => {
                Err(Refusal::SameDepartment {
                    department: new.clone(),
                })
            }
            _ if p.department.is_some_and(|d| p.co_departments.contains(d)) => {
                Err(Refusal::Payload {
                    action,
                    field: "co-handling departments other than the lead",
                })
            }
            _ => Ok(()),
        },
        A::RequestDelay if !p.delay_days.is_some_and(|d| (1..=60).contains(&d)) => {
            Err(Refusal::Payload {
                action,
                field: "delay_days between 1 and 60",
            })
        }
        A::Supervise if p.level.is_none() => Err(Refusal::Payload {
            action,
            field: "a supervision level",
        }),
        _ => Ok(()),
    }
}

/// Has the hazard's rectification been re-checked and passed?
fn recheck_passed(case: &Case) -> bool {
    case.rectification
        .as_ref()
        .and_then(|r| r.recheck.as_ref())
        .is_some_and(|r| r.result == RecheckResult::Passed)
}

/// An acknowledgement is legal, in any state, for a supervisor naming an event of the log.
///
/// When folded it is not required that the named event is still awaiting review: a
/// concurrent acknowledgement by another supervisor, or a concurrent event merged before the
/// named one that made it legal after all, leaves nothing to acknowledge, and the
/// acknowledgement is then a harmless no-op rather than a new conflict item. Appending one
/// ([`check_event`], [`check_action`]) requires an event awaiting review.
fn judge_acknowledge(case: &Case, role: Role, payload: Option<Payload<'_>>) -> Result<(), Refusal> {
    let action = CaseAction::Acknowledge;
    if !allowed(role, action) {
        return Err(Refusal::Role { role, action });
    }
    let Some(p) = payload else { return Ok(()) };
    match p.target {
        None => Err(Refusal::Payload {
            action,
            field: "the event acknowledged (target)",
        }),
        Some(target) if !case.events.iter().any(|e| &e.id == target) => {
            Err(Refusal::NothingToAcknowledge {
                target: Some(target.clone()),
            })
        }
        Some(_) => Ok(()),
    }
}

/// At append time, an acknowledgement must name an event awaiting review (or, without its
/// payload, some event must await review).
fn awaits_review(status: &CaseStatus, event: Option<&CaseEvent>) -> Result<(), Refusal> {
    let target = event.and_then(|e| e.target.as_ref());
    let awaiting = match target {
        Some(target) => status.illegal.iter().any(|i| &i.event == target),
        None => !status.illegal.is_empty(),
    };
    if awaiting {
        Ok(())
    } else {
        Err(Refusal::NothingToAcknowledge {
            target: target.cloned(),
        })
    }
}

/// The handler of a case is the department it was dispatched to (its staff), else its assignee
/// or, when nobody is assigned (a quick-resolved case sent back by `verify_fail`), the person
/// who opened it.
fn handler(
    case: &Case,
    status: &CaseStatus,
    actor: &UserId,
    role: Role,
    unit: Option<&DepartmentId>,
    action: CaseAction,
) -> Result<(), Refusal> {
    if let Some(department) = &status.department {
        return if role == Role::Department && unit == Some(department) {
            Ok(())
        } else {
            Err(Refusal::DepartmentHandles {
                action,
                department: department.clone(),
            })
        };
    }
    if role == Role::Department {
        return Err(Refusal::NotTheDepartment { action });
    }
    match &status.assignee {
        Some(assignee) if assignee != actor => Err(Refusal::NotAssignee {
            action,
            assignee: assignee.clone(),
        }),
        None if &case.opened_by != actor => Err(Refusal::NotOpener { action }),
        _ => Ok(()),
    }
}

/// Applies a legal event to the status. `at` is the clamped event time.
fn apply(status: &mut CaseStatus, event: &CaseEvent, at: Timestamp) {
    use CaseAction as A;
    use CaseState as S;
    match event.action {
        A::Submit => {
            status.state = S::Reported;
            start_span(status, Step::Accept, at);
        }
        A::Accept => {
            status.state = S::Accepted;
            end_span(status, at);
            start_span(status, Step::Handle, at);
            status.approved_delay_days = 0;
        }
        A::Reject => {
            status.state = S::NotFiled;
            status.ended_at = Some(at);
            end_span(status, at);
        }
        A::Dispatch => {
            status.state = S::InProgress;
            status.assignee = event.assignee.clone();
            status.department = event.department.clone();
            status.co_departments = event.co_departments.clone();
            for d in event.department.iter().chain(&event.co_departments) {
                if !status.departments.contains(d) {
                    status.departments.push(d.clone());
                }
            }
        }
        A::Resolve | A::QuickResolve => {
            status.state = S::Resolved;
            status.pending_delay = None;
            status.resolution = Some(Act::of(event, at));
            end_span(status, at);
            start_span(status, Step::Verify, at);
        }
        // Written before verification by someone else: the verification closed the case.
        A::VerifyPass if event.device.is_none() => {
            status.verification = Some(Act::of(event, at));
            status.state = S::Closed;
            status.ended_at = Some(at);
            end_span(status, at);
        }
        A::VerifyPass => {
            status.verification = Some(Act::of(event, at));
            status.state = S::Verified;
            end_span(status, at);
        }
        A::Close => {
            status.state = S::Closed;
            status.ended_at = Some(at);
            end_span(status, at);
        }
        A::VerifyFail => {
            status.resolution = None;
            status.state = S::InProgress;
            status.reopened += 1;
            status.approved_delay_days = 0;
            end_span(status, at);
            start_span(status, Step::Handle, at);
        }
        A::Suspend => {
            status.suspended_from = Some(status.state);
            status.state = S::Suspended;
            if let Some(span) = running_span(status) {
                span.paused.push((at, None));
            }
        }
        A::Resume => {
            status.state = status.suspended_from.take().unwrap_or(S::Reported);
            end_pause(status, at);
        }
        A::Cancel => {
            status.state = S::Cancelled;
            status.ended_at = Some(at);
            status.suspended_from = None;
            status.pending_delay = None;
            end_pause(status, at);
            end_span(status, at);
        }
        A::Escalate => status.escalated = true,
        A::RequestDelay => {
            status.pending_delay = Some(PendingDelay {
                event: event.id.clone(),
                days: event.delay_days.unwrap_or(0),
            });
        }
        A::ApproveDelay => {
            if let Some(pending) = status.pending_delay.take() {
                status.approved_delay_days =
                    status.approved_delay_days.saturating_add(pending.days);
                if let Some(span) = running_span(status) {
                    span.extra_days = span.extra_days.saturating_add(pending.days);
                }
            }
        }
        A::DenyDelay => status.pending_delay = None,
        A::Supervise => {
            if event.level.is_some() {
                status.supervision = event.level;
            }
        }
        A::Comment | A::Acknowledge => {}
    }
}

fn running_span(status: &mut CaseStatus) -> Option<&mut StepSpan> {
    status.steps.last_mut().filter(|s| s.ended_at.is_none())
}

fn start_span(status: &mut CaseStatus, step: Step, at: Timestamp) {
    end_span(status, at);
    status.steps.push(StepSpan::new(step, at));
}

fn end_span(status: &mut CaseStatus, at: Timestamp) {
    if let Some(span) = running_span(status) {
        span.ended_at = Some(at);
    }
}

fn end_pause(status: &mut CaseStatus, at: Timestamp) {
    if let Some(span) = running_span(status)
        && let Some(pause) = span.paused.last_mut()
        && pause.1.is_none()
    {
        pause.1 = Some(at);
    }
}

/// Folds a case's event log into its status.
///
/// Events are folded in list order. The list order is a linear extension of causal order:
/// events are only ever appended at the end of `events` (never inserted, edited or removed; see
/// [`Case::check_update`](crate::record::Record::check_update)), so every event comes after
/// every event its author had already seen. Concurrent events from different replicas end up
/// in an order Automerge chooses deterministically, the same on every replica.
///
/// The fold starts in `draft`. Each event is judged against the status so far, its role and
/// its actor; a legal event moves the status, an illegal one leaves it unchanged and is listed
/// in [`CaseStatus::illegal`]. No event is ever dropped or reordered.
pub fn fold(case: &Case) -> CaseStatus {
    let mut status = CaseStatus::draft();
    let mut clock: Option<Timestamp> = None;
    for (index, event) in case.events.iter().enumerate() {
        match judge(
            case,
            &status,
            &event.actor,
            event.role,
            unit_of(event),
            event.action,
            Some(Payload::of(event)),
        ) {
            Ok(()) => {
                if event.action == CaseAction::Comment {
                    continue;
                }
                if event.action == CaseAction::Acknowledge {
                    acknowledge(&mut status, event);
                    continue;
                }
                // Client clocks may go backwards across devices: never before the last event.
                let at = clock.map_or(event.at, |c| c.max(event.at));
                clock = Some(at);
                apply(&mut status, event, at);
            }
            Err(refusal) => status.illegal.push(IllegalEvent {
                event: event.id.clone(),
                index,
                action: event.action,
                actor: event.actor.clone(),
                role: event.role,
                at: event.at,
                state: status.state,
                reason: refusal.to_string(),
                acknowledged: None,
            }),
        }
    }
    status
}

/// The department an event's author acts for: their own, for department staff.
fn unit_of(event: &CaseEvent) -> Option<&DepartmentId> {
    (event.role == Role::Department)
        .then_some(event.department.as_ref())
        .flatten()
}

/// Moves the event an `acknowledge` names from the conflict items to the acknowledged ones
/// (nothing, when it awaits no review).
fn acknowledge(status: &mut CaseStatus, ack: &CaseEvent) {
    let Some(target) = &ack.target else { return };
    if let Some(pos) = status.illegal.iter().position(|i| &i.event == target) {
        let mut item = status.illegal.remove(pos);
        item.acknowledged = Some(Acknowledgement {
            event: ack.id.clone(),
            actor: ack.actor.clone(),
            role: ack.role,
            at: ack.at,
            note: ack.note.clone(),
        });
        status.acknowledged.push(item);
    }
}

/// Checks whether `actor`, acting as `role`, may take `action` on the case now, by the same
/// rules as [`fold`] on the case's current folded state. Payload rules (assignee, days, level,
/// reason) need the whole event; see [`check_event`].
///
/// Used before appending locally (phone) and by the server's supervisor API (→ HTTP 409).
pub fn check_action(
    case: &Case,
    actor: &UserId,
    role: Role,
    action: CaseAction,
) -> Result<(), IllegalAction> {
    check_append(case, actor, role, None, action, None)
}

/// [`check_action`] for department staff of `department` (their department decides whether
/// they handle the case).
pub fn check_action_in(
    case: &Case,
    actor: &UserId,
    department: &DepartmentId,
    action: CaseAction,
) -> Result<(), IllegalAction> {
    check_append(
        case,
        actor,
        Role::Department,
        Some(department),
        action,
        None,
    )
}

/// Like [`check_action`], with the payload rules of the whole event too: what [`fold`] would
/// decide if `event` were appended at the end of the log (and, for `acknowledge`, that the
/// named event awaits review).
pub fn check_event(case: &Case, event: &CaseEvent) -> Result<(), IllegalAction> {
    check_append(
        case,
        &event.actor,
        event.role,
        unit_of(event),
        event.action,
        Some(event),
    )
}

/// The append-time judgement shared by [`check_action`] (no event yet) and [`check_event`].
fn check_append(
    case: &Case,
    actor: &UserId,
    role: Role,
    unit: Option<&DepartmentId>,
    action: CaseAction,
    event: Option<&CaseEvent>,
) -> Result<(), IllegalAction> {
    let status = fold(case);
    judge(
        case,
        &status,
        actor,
        role,
        unit,
        action,
        event.map(Payload::of),
    )
    .and_then(|()| {
        if action == CaseAction::Acknowledge {
            awaits_review(&status, event)
        } else {
            Ok(())
        }
    })
    .map_err(|refusal| IllegalAction {
        state: status.state,
        role,
        action,
        refusal,
    })
}

/// Appends `event` at the end of a case document's log, as one change by `author`.
///
/// The case is read, the event judged by [`check_event`] (which includes [`check_action`]),
/// and the edited case validated; on any refusal nothing is written. Returns the new change's
/// hash.
pub fn append_event(
    doc: &mut Document,
    author: &Author,
    ctx: &ValidationContext,
    event: CaseEvent,
) -> Result<ChangeHash, AppendError> {
    let case: Case = doc.read()?;
    check_event(&case, &event)?;
    let hash = doc.update(author, ctx, |c: &mut Case| {
        c.events.push(event);
        Ok::<_, AppendError>(())
    })?;
    hash.ok_or(AppendError::Unchanged)
}

/// A new event with a fresh id (UUIDv7) and no payload. Add a payload with the `with_*`
/// methods, e.g. `new_event(user, role, CaseAction::Dispatch, at).with_assignee(worker)`.
pub fn new_event(actor: UserId, role: Role, action: CaseAction, at: Timestamp) -> CaseEvent {
    CaseEvent {
        id: ItemId::new(),
        actor,
        role,
        action,
        note: None,
        at,
        assignee: None,
        delay_days: None,
        level: None,
        target: None,
        device: None,
        department: None,
        co_departments: Vec::new(),
    }
}

impl CaseEvent {
    /// The same event with another id (for deterministic tests and imports).
    pub fn with_id(mut self, id: ItemId) -> Self {
        self.id = id;
        self
    }

    /// The same event with a reason, instructions or remarks.
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }

    /// The same event naming who is to handle the case (for `dispatch`).
    pub fn with_assignee(mut self, assignee: UserId) -> Self {
        self.assignee = Some(assignee);
        self
    }

    /// The same event asking for more working days (for `request_delay`).
    pub fn with_delay_days(mut self, days: u32) -> Self {
        self.delay_days = Some(days);
        self
    }

    /// The same event with a supervision level (for `supervise`).
    pub fn with_level(mut self, level: SupervisionLevel) -> Self {
        self.level = Some(level);
        self
    }

    /// The same event naming a department: the one a `dispatch` sends the case to, or, for
    /// an event by department staff, their own.
    pub fn with_department(mut self, department: DepartmentId) -> Self {
        self.department = Some(department);
        self
    }

    /// The same `dispatch` with co-handling departments (协办).
    pub fn with_co_departments(mut self, departments: Vec<DepartmentId>) -> Self {
        self.co_departments = departments;
        self
    }

    /// The same event naming the device that writes it (every new event must).
    pub fn with_device(mut self, device: DeviceId) -> Self {
        self.device = Some(device);
        self
    }

    /// The same event naming the event it acknowledges (`acknowledge`).
    pub fn with_target(mut self, target: ItemId) -> Self {
        self.target = Some(target);
        self
    }
}
