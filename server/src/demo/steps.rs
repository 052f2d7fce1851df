//! The steps a case takes to reach the state it should end in, and who takes each one:
//! [`COURSE`], a table read from top to bottom by [`GridGen::plan_steps`].

use sync_core::deadline::DAY_MS;
use sync_core::ids::ItemId;
use sync_core::models::case::{
    CaseAction, CaseKind, MediationOutcome, RecheckResult, SupervisionLevel,
};
use sync_core::record::Role;
use sync_core::workflow::CaseState;

use super::grid::GridGen;
use super::names::{CANCEL_REASONS, DISPATCH_NOTES, REJECT_REASONS};
use super::{HOUR, MINUTE};

/// Who acts in a planned case step.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Actor {
    Worker,
    Community,
    Street,
    /// The staff of the street's department at this index of `Plan::departments`.
    Department(usize),
}

impl Actor {
    /// The role the actor acts in.
    pub(super) fn role(self) -> Role {
        match self {
            Self::Worker => Role::GridWorker,
            Self::Community => Role::CommunitySupervisor,
            Self::Street => Role::StreetSupervisor,
            Self::Department(_) => Role::Department,
        }
    }
}

/// Extra edits made together with a step.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Extra {
    None,
    /// Set the rectification plan (hazards).
    Rectify,
    /// Record the re-check (hazards).
    Recheck(RecheckResult),
    /// Record a mediation session (disputes).
    Mediation(MediationOutcome),
}

/// One step of a case as planned, before its time is known.
pub(super) struct PlannedStep {
    pub(super) actor: Actor,
    pub(super) action: Option<CaseAction>,
    pub(super) gap: i64,
    pub(super) note: Option<&'static str>,
    pub(super) assignee: Option<Actor>,
    /// For a dispatch: co-handling departments (indexes of `Plan::departments`).
    pub(super) co_departments: Vec<usize>,
    pub(super) delay_days: Option<u32>,
    pub(super) level: Option<SupervisionLevel>,
    pub(super) extra: Extra,
    pub(super) id: ItemId,
}

/// Who takes a step of [`COURSE`].
#[derive(Clone, Copy)]
enum Who {
    Worker,
    Community,
    Street,
    /// The community supervisor, or the street supervisor once the case is escalated.
    Boss,
    /// Whoever the case is dispatched to: the worker or the community supervisor.
    Handler,
    /// Whoever checks the handler's work (核查): never the handler, so the community
    /// supervisor (calling back) when the worker handled it, the worker (on site) otherwise.
    Checker,
}

/// The targets a row is for; a case with another target passes the row by without a draw.
#[derive(Clone, Copy)]
enum To {
    All,
    Only(&'static [CaseState]),
    AllBut(CaseState),
}

/// What else must hold, of the case and its course so far, for a row to apply.
#[derive(Clone, Copy)]
enum When {
    Always,
    /// The case is solved on the spot (即办件).
    Quick,
    /// The row just above applied and was taken.
    Taken,
    NotEscalated,
    /// The case is dispatched to the worker.
    WorkerHandles,
    /// A delay request waits for its answer.
    DelayToAnswer,
    Kind(CaseKind),
}

/// How likely an applying row is taken.
#[derive(Clone, Copy)]
enum Chance {
    /// Always, without a draw.
    Always,
    P(f64),
    /// The first probability, the second once the case is escalated.
    Escalated(f64, f64),
}

/// What a taken row does.
#[derive(Clone, Copy)]
enum Does {
    /// One step. A dispatch goes to the handler; a supervision draws its level
    /// ([`YELLOW`]), a delay request its days ([`DELAY_DAYS`]); an escalation escalates.
    Step(CaseAction),
    /// The handler's mediation sessions ([`SESSIONS`]), the last one ending as the case will.
    Mediate,
    /// The delay request approved ([`APPROVED`]) or denied, drawn after the gap.
    AnswerDelay,
    /// No step: a mark on the course.
    Mark(Mark),
    /// No step: the plan ends.
    Stop,
}

/// A mark a row leaves on the course of the case.
#[derive(Clone, Copy)]
enum Mark {
    Quick,
    WorkerHandles,
    /// The case goes to the other handler.
    OtherHandler,
    /// The delay request is still unanswered at `now`.
    AnswerPending,
}

/// A step's note: none, always the same, or one picked from a list.
#[derive(Clone, Copy)]
enum Note {
    None,
    Text(&'static str),
    Pick(&'static [&'static str]),
}

/// One row of [`COURSE`].
#[derive(Clone, Copy)]
struct Row {
    to: To,
    when: When,
    chance: Chance,
    who: Who,
    does: Does,
    /// Milliseconds since the step before, drawn log-uniform in this range.
    gap: (i64, i64),
    note: Note,
    /// What a hazard records with the step.
    hazard: Extra,
    /// The plan ends after this row when it is taken.
    last: bool,
}

impl Row {
    const fn new(who: Who, does: Does, gap: (i64, i64)) -> Self {
        Self {
            to: To::All,
            when: When::Always,
            chance: Chance::Always,
            who,
            does,
            gap,
            note: Note::None,
            hazard: Extra::None,
            last: false,
        }
    }

    const fn step(who: Who, action: CaseAction, from: i64, to: i64) -> Self {
        Self::new(who, Does::Step(action), (from, to))
    }

    /// The street supervisor urges the case on (督办), with probability `p` (`escalated`
    /// once the case is escalated).
    const fn supervise(p: f64, escalated: f64) -> Self {
        let mut row = Self::step(Who::Street, CaseAction::Supervise, HOUR, 2 * DAY_MS);
        row.chance = Chance::Escalated(p, escalated);
        row.note("请加快办理进度")
    }

    const fn mark(mark: Mark) -> Self {
        Self::new(Who::Worker, Does::Mark(mark), (0, 0))
    }

    const fn stop() -> Self {
        Self::new(Who::Worker, Does::Stop, (0, 0))
    }

    /// A case heading for cancellation is cancelled early (25 %), which ends it.
    const fn cancel_early() -> Self {
        Self::step(Who::Community, CaseAction::Cancel, 2 * HOUR, 2 * DAY_MS)
            .only(&[CaseState::Cancelled])
            .p(0.25)
            .pick(CANCEL_REASONS)
            .last()
    }

    /// A case heading for suspension is suspended early (with probability `p`, for the reason
    /// `note`), which ends it.
    const fn suspend_early(p: f64, note: &'static str) -> Self {
        Self::step(Who::Community, CaseAction::Suspend, 2 * HOUR, 2 * DAY_MS)
            .only(&[CaseState::Suspended])
            .p(p)
            .note(note)
            .last()
    }

    const fn only(mut self, targets: &'static [CaseState]) -> Self {
        self.to = To::Only(targets);
        self
    }

    const fn all_but(mut self, target: CaseState) -> Self {
        self.to = To::AllBut(target);
        self
    }

    const fn when(mut self, when: When) -> Self {
        self.when = when;
        self
    }

    const fn p(mut self, p: f64) -> Self {
        self.chance = Chance::P(p);
        self
    }

    const fn note(mut self, text: &'static str) -> Self {
        self.note = Note::Text(text);
        self
    }

    const fn pick(mut self, notes: &'static [&'static str]) -> Self {
        self.note = Note::Pick(notes);
        self
    }

    const fn hazard(mut self, extra: Extra) -> Self {
        self.hazard = extra;
        self
    }

    const fn last(mut self) -> Self {
        self.last = true;
        self
    }
}

/// The course of a case: every step a case may take, in the order cases take them.
///
/// For each case the rows are read from top to bottom. A row applies when it is for the case's
/// target (`only`, `all_but`) and its condition (`when`) holds; an applying row is taken at its
/// chance (`p`, drawn; none for rows without one). A taken step draws its gap, then its id,
/// then its note, level or delay days. The order of the draws is part of the data (the same
/// seed gives the same cases), so a change here changes every case after it.
const COURSE: &[Row] = {
    use CaseAction as A;
    use CaseState as T;
    use Who::{Boss, Checker, Community, Handler, Worker};
    &[
        // A draft: now and then a comment, nothing more.
        Row::step(Worker, A::Comment, 10 * MINUTE, 3 * HOUR)
            .only(&[T::Draft])
            .p(0.3)
            .note("补充现场照片，核实后再上报"),
        Row::stop().only(&[T::Draft]),
        // Solved on the spot (即办件), sometimes reported first; checked by the community, which
        // then closes it.
        Row::mark(Mark::Quick)
            .only(&[T::Resolved, T::Verified, T::Closed])
            .p(0.18),
        Row::step(Worker, A::Submit, 5 * MINUTE, 2 * HOUR)
            .when(When::Quick)
            .p(0.5),
        Row::step(Worker, A::QuickResolve, 5 * MINUTE, 3 * HOUR)
            .when(When::Quick)
            .note("现场协调，当场解决")
            .hazard(Extra::Rectify),
        Row::step(Checker, A::VerifyPass, HOUR, 2 * DAY_MS)
            .only(&[T::Verified, T::Closed])
            .when(When::Quick)
            .note("电话回访，群众满意")
            .hazard(Extra::Recheck(RecheckResult::Passed)),
        Row::step(Community, A::Close, 2 * HOUR, 3 * DAY_MS)
            .only(&[T::Closed])
            .when(When::Quick),
        Row::stop().when(When::Quick),
        // Reported, now and then escalated to the street at once; not filed, or given up.
        Row::step(Worker, A::Submit, 5 * MINUTE, 4 * HOUR),
        Row::step(Community, A::Escalate, 30 * MINUTE, DAY_MS)
            .p(0.08)
            .note("涉及多个部门，提请街道协调"),
        Row::supervise(0.05, 0.5).only(&[T::Reported]),
        Row::stop().only(&[T::Reported]),
        Row::step(Boss, A::Reject, 2 * HOUR, 2 * DAY_MS)
            .only(&[T::NotFiled])
            .pick(REJECT_REASONS)
            .last(),
        Row::cancel_early(),
        Row::suspend_early(0.2, "等待当事人补充材料，暂时挂起"),
        // Accepted; given up or suspended before it is dispatched.
        Row::step(Boss, A::Accept, HOUR, 30 * HOUR),
        Row::supervise(0.08, 0.5).only(&[T::Accepted]),
        Row::stop().only(&[T::Accepted]),
        Row::cancel_early(),
        Row::suspend_early(0.25, "等待产权单位答复，暂时挂起"),
        // Dispatched: mostly to the grid worker, sometimes kept by the community; now and then
        // escalated afterwards, or dispatched again to the other one.
        Row::mark(Mark::WorkerHandles).p(0.8),
        Row::step(Boss, A::Dispatch, 10 * MINUTE, DAY_MS)
            .pick(DISPATCH_NOTES)
            .hazard(Extra::Rectify),
        Row::step(Community, A::Escalate, HOUR, 2 * DAY_MS)
            .when(When::NotEscalated)
            .p(0.05)
            .note("问题复杂，提请街道协调"),
        Row::mark(Mark::OtherHandler).p(0.07),
        Row::step(Boss, A::Dispatch, HOUR, 2 * DAY_MS)
            .when(When::Taken)
            .note("改派承办人"),
        // In progress: disputes are mediated; the worker may ask for more time (answered
        // unless still pending); a case may wait a while for others.
        Row::new(Handler, Does::Mediate, (3 * HOUR, 3 * DAY_MS))
            .when(When::Kind(CaseKind::Dispute)),
        Row::step(Worker, A::RequestDelay, 2 * HOUR, 3 * DAY_MS)
            .when(When::WorkerHandles)
            .p(0.15)
            .note("需等待相关部门配合，申请延期"),
        Row::mark(Mark::AnswerPending)
            .only(&[T::InProgress])
            .when(When::Taken)
            .p(0.4),
        Row::new(Community, Does::AnswerDelay, (HOUR, DAY_MS)).when(When::DelayToAnswer),
        Row::step(Community, A::Suspend, HOUR, DAY_MS)
            .all_but(T::Suspended)
            .p(0.05)
            .note("等待产权单位答复，暂时挂起"),
        Row::step(Community, A::Resume, 2 * DAY_MS, 10 * DAY_MS).when(When::Taken),
        Row::supervise(0.12, 0.5).only(&[T::InProgress]),
        Row::stop().only(&[T::InProgress]),
        Row::step(Community, A::Suspend, HOUR, 3 * DAY_MS)
            .only(&[T::Suspended])
            .note("当事人外出务工，待返乡后继续处理")
            .last(),
        Row::step(Community, A::Cancel, HOUR, 3 * DAY_MS)
            .only(&[T::Cancelled])
            .pick(CANCEL_REASONS)
            .last(),
        // Resolved by the handler, sent back now and then by a failed check.
        Row::supervise(0.03, 0.3),
        Row::step(Handler, A::Resolve, 4 * HOUR, 3 * DAY_MS)
            .when(When::Kind(CaseKind::Hazard))
            .note("已处理完毕"),
        Row::step(Handler, A::Resolve, HOUR, 3 * DAY_MS)
            .when(When::Kind(CaseKind::Dispute))
            .note("已处理完毕"),
        Row::step(Handler, A::Resolve, 3 * HOUR, 5 * DAY_MS)
            .when(When::Kind(CaseKind::Appeal))
            .note("已处理完毕"),
        Row::step(Checker, A::VerifyFail, 2 * HOUR, 2 * DAY_MS)
            .p(0.08)
            .note("复查发现问题仍未解决，退回继续处理")
            .hazard(Extra::Recheck(RecheckResult::Failed)),
        Row::step(Handler, A::Resolve, 4 * HOUR, 3 * DAY_MS)
            .when(When::Taken)
            .note("已按要求重新处理"),
        Row::supervise(0.03, 0.03).only(&[T::Resolved]),
        Row::stop().only(&[T::Resolved]),
        // Verified by someone other than the handler, then closed.
        Row::step(Checker, A::VerifyPass, 2 * HOUR, 3 * DAY_MS)
            .note("核查属实，问题已解决，群众满意")
            .hazard(Extra::Recheck(RecheckResult::Passed)),
        Row::stop().only(&[T::Verified]),
        Row::step(Boss, A::Close, 3 * HOUR, 3 * DAY_MS).note("经核查，予以结案"),
    ]
};

/// `super::plan::DEPARTMENTS` index of the police station (派出所).
const DEPARTMENT_POLICE: usize = 0;

/// The department (index of `super::plan::DEPARTMENTS`) the street sends a case of `kind`
/// to: disputes to the judicial office (司法所), hazards to the safety supervision station
/// (安监站), appeals to the urban management squad (城管中队).
fn department_for(kind: CaseKind) -> usize {
    match kind {
        CaseKind::Dispute => 1,
        CaseKind::Hazard => 3,
        CaseKind::Appeal => 2,
    }
}

/// How likely a supervision is yellow rather than red.
const YELLOW: f64 = 0.6;
/// The days a delay request asks for.
const DELAY_DAYS: (i64, i64) = (3, 10);
/// How likely a delay request is approved.
const APPROVED: f64 = 0.7;
/// How many mediation sessions a dispute has.
const SESSIONS: (i64, i64) = (1, 3);

/// The course of one case so far, as the rows mark it.
struct Course {
    quick: bool,
    escalated: bool,
    handler: Actor,
    delay_to_answer: bool,
}

impl Course {
    /// Does `row` apply to a case of `kind` heading for `target`? `above`: whether the row
    /// above applied, and if so whether it was taken.
    fn admits(&self, row: &Row, kind: CaseKind, target: CaseState, above: Option<bool>) -> bool {
        let for_target = match row.to {
            To::All => true,
            To::Only(targets) => targets.contains(&target),
            To::AllBut(other) => target != other,
        };
        for_target
            && match row.when {
                When::Always => true,
                When::Quick => self.quick,
                When::Taken => above == Some(true),
                When::NotEscalated => !self.escalated,
                When::WorkerHandles => self.handler == Actor::Worker,
                When::DelayToAnswer => self.delay_to_answer,
                When::Kind(k) => kind == k,
            }
    }

    fn actor(&self, who: Who) -> Actor {
        match who {
            Who::Worker => Actor::Worker,
            Who::Community => Actor::Community,
            Who::Street => Actor::Street,
            Who::Boss if self.escalated => Actor::Street,
            Who::Boss => Actor::Community,
            Who::Handler => self.handler,
            Who::Checker if self.handler == Actor::Worker => Actor::Community,
            Who::Checker => Actor::Worker,
        }
    }

    fn mark(&mut self, mark: Mark) {
        match mark {
            // Solved on the spot by the worker, who is then its handler.
            Mark::Quick => {
                self.quick = true;
                self.handler = Actor::Worker;
            }
            Mark::WorkerHandles => self.handler = Actor::Worker,
            Mark::OtherHandler => {
                self.handler = match self.handler {
                    Actor::Worker => Actor::Community,
                    _ => Actor::Worker,
                };
            }
            Mark::AnswerPending => self.delay_to_answer = false,
        }
    }
}

impl GridGen<'_> {
    /// Plans the steps that bring a case of `kind` to `target`, with the right people:
    /// [`COURSE`] read from top to bottom.
    pub(super) fn plan_steps(&mut self, kind: CaseKind, target: CaseState) -> Vec<PlannedStep> {
        let mut course = Course {
            quick: false,
            escalated: false,
            handler: Actor::Community,
            delay_to_answer: false,
        };
        let mut steps = Vec::new();
        let mut above = None;
        for row in COURSE {
            if !course.admits(row, kind, target, above) {
                above = None;
                continue;
            }
            let taken = match row.chance {
                Chance::Always => true,
                Chance::P(p) => self.rng.chance(p),
                Chance::Escalated(p, escalated) => {
                    self.rng
                        .chance(if course.escalated { escalated } else { p })
                }
            };
            above = Some(taken);
            if !taken {
                continue;
            }
            match row.does {
                Does::Mark(mark) => course.mark(mark),
                Does::Stop => break,
                _ => self.take(row, kind, target, &mut course, &mut steps),
            }
            if row.last {
                break;
            }
        }
        steps
    }

    /// Adds the steps of a taken row.
    fn take(
        &mut self,
        row: &Row,
        kind: CaseKind,
        target: CaseState,
        course: &mut Course,
        steps: &mut Vec<PlannedStep>,
    ) {
        let actor = course.actor(row.who);
        match row.does {
            Does::Step(action) => {
                let gap = self.gap(row);
                let mut step = self.step(actor, Some(action), gap);
                step.note = match row.note {
                    Note::None => None,
                    Note::Text(text) => Some(text),
                    Note::Pick(notes) => Some(self.rng.pick(notes)),
                };
                match action {
                    CaseAction::Dispatch => {
                        // A case escalated before it was dispatched is one the street
                        // coordinates: it goes to the department of its kind (disputes with
                        // the police co-handling).
                        if course.escalated
                            && steps
                                .iter()
                                .all(|s: &PlannedStep| s.action != Some(CaseAction::Dispatch))
                        {
                            course.handler = Actor::Department(department_for(kind));
                            if kind == CaseKind::Dispute {
                                step.co_departments = vec![DEPARTMENT_POLICE];
                            }
                        }
                        step.assignee = Some(course.handler);
                    }
                    CaseAction::Supervise => {
                        step.level = Some(if self.rng.chance(YELLOW) {
                            SupervisionLevel::Yellow
                        } else {
                            SupervisionLevel::Red
                        });
                    }
                    CaseAction::RequestDelay => {
                        step.delay_days = Some(self.rng.range(DELAY_DAYS.0, DELAY_DAYS.1) as u32);
                        course.delay_to_answer = true;
                    }
                    CaseAction::Escalate => course.escalated = true,
                    _ => {}
                }
                if kind == CaseKind::Hazard {
                    step.extra = row.hazard;
                }
                steps.push(step);
            }
            Does::Mediate => {
                let sessions = self.rng.range(SESSIONS.0, SESSIONS.1);
                for k in 0..sessions {
                    let last = k == sessions - 1;
                    let outcome = match target {
                        CaseState::Resolved | CaseState::Verified | CaseState::Closed if last => {
                            MediationOutcome::Agreed
                        }
                        CaseState::Cancelled if last => MediationOutcome::Failed,
                        _ if self.rng.chance(0.5) => MediationOutcome::Partial,
                        _ => MediationOutcome::Continuing,
                    };
                    let gap = self.gap(row);
                    let mut step = self.step(actor, None, gap);
                    step.extra = Extra::Mediation(outcome);
                    steps.push(step);
                }
            }
            Does::AnswerDelay => {
                let gap = self.gap(row);
                let (action, note) = if self.rng.chance(APPROVED) {
                    (CaseAction::ApproveDelay, None)
                } else {
                    (CaseAction::DenyDelay, Some("延期理由不充分，请按期办结"))
                };
                let mut step = self.step(actor, Some(action), gap);
                step.note = note;
                steps.push(step);
                course.delay_to_answer = false;
            }
            Does::Mark(_) | Does::Stop => {}
        }
    }

    /// A gap in the row's range.
    fn gap(&mut self, row: &Row) -> i64 {
        self.rng.span(row.gap.0, row.gap.1)
    }

    /// A step with its id, nothing else set yet.
    fn step(&mut self, actor: Actor, action: Option<CaseAction>, gap: i64) -> PlannedStep {
        PlannedStep {
            actor,
            action,
            gap,
            note: None,
            assignee: None,
            co_departments: Vec::new(),
            delay_days: None,
            level: None,
            extra: Extra::None,
            id: self.rng.item_id(self.start),
        }
    }
}
