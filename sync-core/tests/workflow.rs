//! The case workflow: every transition, role and state refusals, and conflicts after real
//! concurrent Automerge edits.

use automerge::ActorId;
use sync_core::doc::{Author, Document, actor_for_device};
use sync_core::ids::{DeviceId, DocId, ItemId, UserId};
use sync_core::models::case::{Case, CaseAction, CaseEvent, CaseKind, SupervisionLevel, Urgency};
use sync_core::record::{Place, Role};
use sync_core::time::Timestamp;
use sync_core::validate::ValidationContext;
use sync_core::workflow::{
    AppendError, CaseState, CaseStatus, IllegalAction, OPEN_STATES, PendingDelay, Refusal, Step,
    allowed, allowed_states, append_event, check_action, check_event, fold, new_event,
};

use CaseAction as A;
use CaseState as S;

/// 2026-03-02T09:00:00+08:00, a Monday morning in China.
fn base() -> Timestamp {
    "2026-03-02T01:00:00Z".parse().unwrap()
}

/// The people of the scenarios and a clock that advances one minute per event.
struct Fx {
    worker: UserId,
    worker2: UserId,
    community: UserId,
    street: UserId,
    liaison: UserId,
    admin: UserId,
    minutes: i64,
}

impl Fx {
    fn new() -> Self {
        Self {
            worker: UserId::new(),
            worker2: UserId::new(),
            community: UserId::new(),
            street: UserId::new(),
            liaison: UserId::new(),
            admin: UserId::new(),
            minutes: 0,
        }
    }

    fn tick(&mut self) -> Timestamp {
        self.minutes += 1;
        base().plus_millis(self.minutes * 60_000)
    }

    /// An event with the payload its action requires.
    fn ev(&mut self, actor: &UserId, role: Role, action: CaseAction) -> CaseEvent {
        let at = self.tick();
        let e = new_event(actor.clone(), role, action, at).with_device(device_of(actor));
        match action {
            A::Reject | A::Cancel | A::VerifyFail | A::DenyDelay => e.with_note("reason"),
            A::Dispatch => e.with_assignee(self.worker.clone()),
            A::RequestDelay => e.with_delay_days(2),
            A::Supervise => e.with_level(SupervisionLevel::Yellow),
            _ => e,
        }
    }

    fn w(&mut self, action: CaseAction) -> CaseEvent {
        let who = self.worker.clone();
        self.ev(&who, Role::GridWorker, action)
    }

    /// Another grid worker of the grid: the one who verifies what `worker` resolved.
    fn w2(&mut self, action: CaseAction) -> CaseEvent {
        let who = self.worker2.clone();
        self.ev(&who, Role::GridWorker, action)
    }

    fn c(&mut self, action: CaseAction) -> CaseEvent {
        let who = self.community.clone();
        self.ev(&who, Role::CommunitySupervisor, action)
    }

    fn s(&mut self, action: CaseAction) -> CaseEvent {
        let who = self.street.clone();
        self.ev(&who, Role::StreetSupervisor, action)
    }

    fn case(&self, events: Vec<CaseEvent>) -> Case {
        Case {
            attachments: Vec::new(),
            id: DocId::new(),
            case_kind: CaseKind::Appeal,
            category: "neighbour_noise".into(),
            subject: "楼上噪音".into(),
            description: String::new(),
            place: place(),
            location: None,
            household: None,
            parties: Vec::new(),
            urgency: Urgency::Normal,
            confidential: false,
            opened_by: self.worker.clone(),
            opened_at: base(),
            events,
            mediation: Vec::new(),
            rectification: None,
        }
    }

    /// submit, accept, dispatch to `worker`.
    fn path_to_in_progress(&mut self) -> Vec<CaseEvent> {
        vec![self.w(A::Submit), self.c(A::Accept), self.c(A::Dispatch)]
    }

    /// ... then resolve by the assignee.
    fn path_to_resolved(&mut self) -> Vec<CaseEvent> {
        let mut events = self.path_to_in_progress();
        events.push(self.w(A::Resolve));
        events
    }

    fn fold(&self, events: &[CaseEvent]) -> CaseStatus {
        fold(&self.case(events.to_vec()))
    }
}

/// Each person of the scenarios acts from a phone of their own.
fn device_of(user: &UserId) -> DeviceId {
    user.as_str().parse().unwrap()
}

fn place() -> Place {
    Place {
        community: "dzk".parse().unwrap(),
        grid: "dzk-01".parse().unwrap(),
    }
}

fn assert_legal(status: &CaseStatus) {
    assert!(status.illegal.is_empty(), "{:#?}", status.illegal);
}

#[test]
fn an_empty_log_is_a_draft() {
    let fx = Fx::new();
    let status = fx.fold(&[]);
    assert_eq!(status, CaseStatus::draft());
    assert_eq!(status.state, S::Draft);
    assert!(status.current_step().is_none());
}

#[test]
fn submit_moves_draft_to_reported_and_starts_the_accept_step() {
    let mut fx = Fx::new();
    let submit = fx.w(A::Submit);
    let status = fx.fold(std::slice::from_ref(&submit));
    assert_legal(&status);
    assert_eq!(status.state, S::Reported);
    let span = status.current_step().unwrap();
    assert_eq!(span.step, Step::Accept);
    assert_eq!(span.started_at, submit.at);
}

#[test]
fn accept_moves_reported_to_accepted_and_starts_the_handle_step() {
    let mut fx = Fx::new();
    let events = vec![fx.w(A::Submit), fx.c(A::Accept)];
    let status = fx.fold(&events);
    assert_legal(&status);
    assert_eq!(status.state, S::Accepted);
    assert_eq!(status.steps.len(), 2);
    assert_eq!(status.steps[0].ended_at, Some(events[1].at));
    assert_eq!(status.steps[1].step, Step::Handle);
    assert_eq!(status.steps[1].started_at, events[1].at);
}

#[test]
fn reject_moves_reported_to_not_filed() {
    let mut fx = Fx::new();
    let events = vec![fx.w(A::Submit), fx.c(A::Reject)];
    let status = fx.fold(&events);
    assert_legal(&status);
    assert_eq!(status.state, S::NotFiled);
    assert!(status.current_step().is_none());
    assert_eq!(status.steps[0].ended_at, Some(events[1].at));
}

#[test]
fn dispatch_moves_accepted_to_in_progress_and_sets_the_assignee() {
    let mut fx = Fx::new();
    let events = fx.path_to_in_progress();
    let status = fx.fold(&events);
    assert_legal(&status);
    assert_eq!(status.state, S::InProgress);
    assert_eq!(status.assignee.as_ref(), Some(&fx.worker));
    // Dispatch does not restart the handle clock, which runs since acceptance.
    assert_eq!(status.steps.len(), 2);
    assert_eq!(status.current_step().unwrap().started_at, events[1].at);
}

#[test]
fn dispatch_while_in_progress_reassigns_without_restarting_the_clock() {
    let mut fx = Fx::new();
    let mut events = fx.path_to_in_progress();
    let at = fx.tick();
    events.push(
        new_event(
            fx.community.clone(),
            Role::CommunitySupervisor,
            A::Dispatch,
            at,
        )
        .with_assignee(fx.worker2.clone()),
    );
    let status = fx.fold(&events);
    assert_legal(&status);
    assert_eq!(status.state, S::InProgress);
    assert_eq!(status.assignee.as_ref(), Some(&fx.worker2));
    assert_eq!(status.steps.len(), 2);
}

#[test]
fn dispatch_to_the_current_assignee_or_without_assignee_is_illegal() {
    let mut fx = Fx::new();
    let mut events = fx.path_to_in_progress();
    events.push(fx.c(A::Dispatch)); // to `worker` again
    let at = fx.tick();
    let mut no_assignee = new_event(
        fx.community.clone(),
        Role::CommunitySupervisor,
        A::Dispatch,
        at,
    );
    no_assignee.assignee = None;
    events.push(no_assignee);
    let status = fx.fold(&events);
    assert_eq!(status.state, S::InProgress);
    assert_eq!(status.illegal.len(), 2);
    assert_eq!(
        status.illegal[0].reason,
        format!("the case is already assigned to {}", fx.worker)
    );
    assert_eq!(
        status.illegal[1].reason,
        "dispatch requires an assignee or a department"
    );
}

#[test]
fn resolve_by_the_assignee_moves_to_resolved_and_starts_the_verify_step() {
    let mut fx = Fx::new();
    let events = fx.path_to_resolved();
    let status = fx.fold(&events);
    assert_legal(&status);
    assert_eq!(status.state, S::Resolved);
    let span = status.current_step().unwrap();
    assert_eq!(span.step, Step::Verify);
    assert_eq!(span.started_at, events[3].at);
    assert_eq!(status.steps[1].ended_at, Some(events[3].at));
}

#[test]
fn supervisors_may_resolve_whoever_is_assigned() {
    let mut fx = Fx::new();
    for role in [Role::CommunitySupervisor, Role::StreetSupervisor] {
        let mut events = fx.path_to_in_progress();
        let who = fx.community.clone();
        events.push(fx.ev(&who, role, A::Resolve));
        let status = fx.fold(&events);
        assert_legal(&status);
        assert_eq!(status.state, S::Resolved);
    }
}

#[test]
fn a_worker_who_is_not_the_assignee_may_not_resolve() {
    let mut fx = Fx::new();
    let mut events = fx.path_to_in_progress();
    let other = fx.worker2.clone();
    events.push(fx.ev(&other, Role::GridWorker, A::Resolve));
    let status = fx.fold(&events);
    assert_eq!(status.state, S::InProgress);
    assert_eq!(status.illegal.len(), 1);
    assert_eq!(status.illegal[0].actor, fx.worker2);
    assert!(
        status.illegal[0].reason.starts_with(&format!(
            "only the current assignee ({}) may resolve",
            fx.worker
        )),
        "{}",
        status.illegal[0].reason
    );
}

#[test]
fn quick_resolve_from_draft_and_from_reported() {
    let mut fx = Fx::new();
    let from_draft = vec![fx.w(A::QuickResolve)];
    let status = fx.fold(&from_draft);
    assert_legal(&status);
    assert_eq!(status.state, S::Resolved);
    assert_eq!(status.steps.len(), 1);
    assert_eq!(status.steps[0].step, Step::Verify);

    let from_reported = vec![fx.w(A::Submit), fx.w(A::QuickResolve)];
    let status = fx.fold(&from_reported);
    assert_legal(&status);
    assert_eq!(status.state, S::Resolved);
    assert_eq!(status.steps[0].step, Step::Accept);
    assert_eq!(status.steps[0].ended_at, Some(from_reported[1].at));
    assert_eq!(status.current_step().unwrap().step, Step::Verify);
}

#[test]
fn quick_resolve_is_not_possible_once_accepted() {
    let mut fx = Fx::new();
    let events = vec![fx.w(A::Submit), fx.c(A::Accept), fx.w(A::QuickResolve)];
    let status = fx.fold(&events);
    assert_eq!(status.state, S::Accepted);
    assert_eq!(
        status.illegal[0].reason,
        "quick_resolve is not possible while the case is accepted (only when draft, reported)"
    );
}

#[test]
fn verify_pass_by_someone_else_verifies_and_only_then_close_closes() {
    let mut fx = Fx::new();
    let mut events = fx.path_to_resolved();
    events.push(fx.w2(A::VerifyPass));
    let status = fx.fold(&events);
    assert_legal(&status);
    assert_eq!(status.state, S::Verified);
    assert!(status.steps.iter().all(|s| s.ended_at.is_some()));
    assert_eq!(status.steps.len(), 3);
    assert_eq!(status.resolution.as_ref().unwrap().actor, fx.worker);
    assert_eq!(status.verification.as_ref().unwrap().actor, fx.worker2);
    assert_eq!(status.ended_at, None);

    events.push(fx.c(A::Close));
    let status = fx.fold(&events);
    assert_legal(&status);
    assert_eq!(status.state, S::Closed);
    assert_eq!(status.ended_at, Some(events[5].at));
}

#[test]
fn verify_fail_sends_the_case_back_with_a_new_handle_step() {
    let mut fx = Fx::new();
    let mut events = fx.path_to_resolved();
    events.push(fx.w2(A::VerifyFail));
    let status = fx.fold(&events);
    assert_legal(&status);
    assert_eq!(status.state, S::InProgress);
    assert_eq!(status.resolution, None);
    assert_eq!(status.reopened, 1);
    assert_eq!(status.assignee.as_ref(), Some(&fx.worker));
    assert_eq!(status.steps.len(), 4);
    let span = status.current_step().unwrap();
    assert_eq!(span.step, Step::Handle);
    assert_eq!(span.started_at, events[4].at);

    // Sent back twice, then passed.
    events.push(fx.w(A::Resolve));
    events.push(fx.c(A::VerifyFail));
    events.push(fx.w(A::Resolve));
    events.push(fx.w2(A::VerifyPass));
    events.push(fx.c(A::Close));
    let status = fx.fold(&events);
    assert_legal(&status);
    assert_eq!(status.reopened, 2);
    assert_eq!(status.state, S::Closed);
}

#[test]
fn after_a_failed_quick_resolve_only_the_opener_may_resolve_or_ask_for_a_delay() {
    let mut fx = Fx::new();
    let mut events = vec![fx.w(A::QuickResolve), fx.c(A::VerifyFail)];
    let other = fx.worker2.clone();
    events.push(fx.ev(&other, Role::GridWorker, A::Resolve));
    let status = fx.fold(&events);
    assert_eq!(status.state, S::InProgress);
    assert_eq!(status.assignee, None);
    assert_eq!(
        status.illegal[0].reason,
        "nobody is assigned, so only the grid worker who opened the case may resolve"
    );
    // The same holds for delay requests.
    events.push(fx.ev(&other, Role::GridWorker, A::RequestDelay));
    events.push(fx.w(A::RequestDelay));
    let status = fx.fold(&events);
    assert_eq!(
        status.illegal[1].reason,
        "nobody is assigned, so only the grid worker who opened the case may request_delay"
    );
    assert_eq!(status.pending_delay.as_ref().unwrap().days, 2);
    events.push(fx.w(A::Resolve));
    let status = fx.fold(&events);
    assert_eq!(status.state, S::Resolved);
    assert_eq!(status.pending_delay, None);
    assert_eq!(status.illegal.len(), 2);
}

#[test]
fn closing_requires_a_verification() {
    let mut fx = Fx::new();
    // A resolved case is verified before it is closed: the supervisor's close alone is not
    // enough (the five-second loop one person ran alone).
    let mut events = fx.path_to_resolved();
    events.push(fx.c(A::Close));
    let status = fx.fold(&events);
    assert_eq!(status.state, S::Resolved);
    assert_eq!(
        status.illegal[0].reason,
        "close is not possible while the case is resolved (only when verified)"
    );
    // The supervisor may verify by calling back, if someone else resolved, then close.
    events.push(fx.c(A::VerifyPass));
    events.push(fx.c(A::Close));
    let status = fx.fold(&events);
    assert_eq!(status.state, S::Closed);
    assert_eq!(status.illegal.len(), 1);

    // Closing before resolution is not possible.
    let mut events = fx.path_to_in_progress();
    events.push(fx.c(A::Close));
    let status = fx.fold(&events);
    assert_eq!(status.state, S::InProgress);
    assert_eq!(status.illegal.len(), 1);
}

#[test]
fn the_resolver_may_not_verify_their_own_resolution() {
    let mut fx = Fx::new();
    for verify in [A::VerifyPass, A::VerifyFail] {
        // The assignee resolved: neither they nor ...
        let mut events = fx.path_to_resolved();
        events.push(fx.w(verify));
        let status = fx.fold(&events);
        assert_eq!(status.state, S::Resolved, "{verify}");
        assert_eq!(
            status.illegal[0].reason,
            format!(
                "the case must be verified by someone other than who resolved it; the resolver \
                 may not {verify}"
            )
        );
        // ... a supervisor who resolved it themselves may verify it.
        let mut events = fx.path_to_in_progress();
        events.push(fx.c(A::Resolve));
        events.push(fx.c(verify));
        let status = fx.fold(&events);
        assert_eq!(status.state, S::Resolved, "{verify}");
        assert_eq!(status.illegal.len(), 1);
        let case = fx.case(events[..4].to_vec());
        let refused =
            check_action(&case, &fx.community, Role::CommunitySupervisor, verify).unwrap_err();
        assert_eq!(refused.refusal, Refusal::OwnResolution { action: verify });
        check_action(&case, &fx.worker, Role::GridWorker, verify).unwrap();
    }
    // A grid worker's quick resolution on the spot is verified by someone else too.
    let events = vec![fx.w(A::QuickResolve), fx.w(A::VerifyPass)];
    assert_eq!(fx.fold(&events).illegal.len(), 1);
    let events = vec![fx.w(A::QuickResolve), fx.w2(A::VerifyPass), fx.c(A::Close)];
    let status = fx.fold(&events);
    assert_legal(&status);
    assert_eq!(status.state, S::Closed);
}

#[test]
fn another_account_on_the_resolving_device_may_not_verify() {
    let mut fx = Fx::new();
    let mut events = fx.path_to_resolved();
    // worker2 signed in on the phone worker resolved on (a phone the grid shares).
    let shared = device_of(&fx.worker);
    let at = fx.tick();
    let verify =
        new_event(fx.worker2.clone(), Role::GridWorker, A::VerifyPass, at).with_device(shared);
    let case = fx.case(events.clone());
    let refused = check_event(&case, &verify).unwrap_err();
    assert_eq!(
        refused.refusal,
        Refusal::SameDevice {
            action: A::VerifyPass
        }
    );
    assert_eq!(
        refused.refusal.to_string(),
        "the case was resolved on this device; someone else must verify_pass it from their own \
         device"
    );
    events.push(verify);
    let status = fx.fold(&events);
    assert_eq!(status.state, S::Resolved);
    assert_eq!(status.illegal.len(), 1);
    // From worker2's own phone it is legal.
    events.push(fx.w2(A::VerifyPass));
    let status = fx.fold(&events);
    assert_eq!(status.state, S::Verified);
}

#[test]
fn a_hazard_is_verified_only_with_a_passed_recheck() {
    use sync_core::models::case::{Recheck, RecheckResult, Rectification};
    let mut fx = Fx::new();
    let events = vec![fx.w(A::QuickResolve), fx.w2(A::VerifyPass)];
    let mut hazard = fx.case(events);
    hazard.case_kind = CaseKind::Hazard;
    hazard.category = "fire_exit_blocked".into();
    let status = fold(&hazard);
    assert_eq!(status.state, S::Resolved);
    assert_eq!(
        status.illegal[0].reason,
        "a hazard is verified only once its rectification has a passed re-check \
         (rectification.recheck.result = passed)"
    );
    let mut recheck = Recheck {
        at: fx.tick(),
        by: fx.worker2.clone(),
        result: RecheckResult::Failed,
        note: None,
    };
    hazard.rectification = Some(Rectification {
        measure: "清理楼道杂物".into(),
        responsible: "物业".into(),
        due: None,
        recheck: Some(recheck.clone()),
    });
    assert_eq!(fold(&hazard).state, S::Resolved);
    recheck.result = RecheckResult::Passed;
    hazard.rectification.as_mut().unwrap().recheck = Some(recheck);
    let status = fold(&hazard);
    assert_legal(&status);
    assert_eq!(status.state, S::Verified);
}

#[test]
fn events_written_before_devices_were_named_keep_their_meaning() {
    // Stored cases whose grid worker verified their own quick resolution, or that a supervisor
    // closed straight from resolved, stay closed: their events name no device.
    let mut fx = Fx::new();
    let legacy = |mut e: CaseEvent| {
        e.device = None;
        e
    };
    let own_verify = vec![legacy(fx.w(A::QuickResolve)), legacy(fx.w(A::VerifyPass))];
    let status = fx.fold(&own_verify);
    assert_legal(&status);
    assert_eq!(status.state, S::Closed);
    let straight_close = {
        let mut e: Vec<CaseEvent> = fx.path_to_resolved().into_iter().map(legacy).collect();
        e.push(legacy(fx.c(A::Close)));
        e
    };
    let status = fx.fold(&straight_close);
    assert_legal(&status);
    assert_eq!(status.state, S::Closed);
    // New events follow the new rules on top of old ones.
    let mut mixed: Vec<CaseEvent> = fx.path_to_resolved().into_iter().map(legacy).collect();
    mixed.push(fx.w(A::VerifyPass));
    assert_eq!(fx.fold(&mixed).illegal.len(), 1);
}

/// Events that bring a case into each open state.
fn into(fx: &mut Fx, state: CaseState) -> Vec<CaseEvent> {
    match state {
        S::Reported => vec![fx.w(A::Submit)],
        S::Accepted => vec![fx.w(A::Submit), fx.c(A::Accept)],
        S::InProgress => fx.path_to_in_progress(),
        S::Resolved => fx.path_to_resolved(),
        S::Verified => {
            let mut events = fx.path_to_resolved();
            events.push(fx.w2(A::VerifyPass));
            events
        }
        other => panic!("not an open state: {other}"),
    }
}

#[test]
fn suspend_and_resume_restore_the_previous_state_and_pause_the_step() {
    let mut fx = Fx::new();
    assert_eq!(&allowed_states(A::Suspend), &&OPEN_STATES[..4]);
    for &state in allowed_states(A::Suspend) {
        let mut events = into(&mut fx, state);
        events.push(fx.c(A::Suspend));
        let suspended = fx.fold(&events);
        assert_legal(&suspended);
        assert_eq!(suspended.state, S::Suspended);
        assert_eq!(suspended.suspended_from, Some(state));
        let span = suspended.current_step().unwrap();
        assert_eq!(span.paused, vec![(events.last().unwrap().at, None)]);

        events.push(fx.c(A::Resume));
        let resumed = fx.fold(&events);
        assert_legal(&resumed);
        assert_eq!(resumed.state, state);
        assert_eq!(resumed.suspended_from, None);
        let span = resumed.current_step().unwrap();
        let n = events.len();
        assert_eq!(
            span.paused,
            vec![(events[n - 2].at, Some(events[n - 1].at))]
        );
    }
}

#[test]
fn suspended_cases_refuse_work_until_resumed() {
    let mut fx = Fx::new();
    let mut events = fx.path_to_in_progress();
    events.push(fx.c(A::Suspend));
    events.push(fx.c(A::Suspend));
    events.push(fx.w(A::Resolve));
    events.push(fx.c(A::Resume));
    events.push(fx.c(A::Resume));
    let status = fx.fold(&events);
    assert_eq!(status.state, S::InProgress);
    let refused: Vec<(CaseAction, CaseState)> =
        status.illegal.iter().map(|i| (i.action, i.state)).collect();
    assert_eq!(
        refused,
        vec![
            (A::Suspend, S::Suspended),
            (A::Resolve, S::Suspended),
            (A::Resume, S::InProgress),
        ]
    );
    // Drafts cannot be suspended.
    let suspend = fx.c(A::Suspend);
    let status = fx.fold(&[suspend]);
    assert_eq!(status.state, S::Draft);
    assert_eq!(status.illegal.len(), 1);
}

#[test]
fn cancel_from_every_open_state_and_from_suspended() {
    let mut fx = Fx::new();
    for &state in OPEN_STATES {
        let mut events = into(&mut fx, state);
        events.push(fx.c(A::Cancel));
        let status = fx.fold(&events);
        assert_legal(&status);
        assert_eq!(status.state, S::Cancelled);
        assert!(status.current_step().is_none());
    }
    let mut events = fx.path_to_in_progress();
    events.push(fx.c(A::Suspend));
    events.push(fx.s(A::Cancel));
    let status = fx.fold(&events);
    assert_legal(&status);
    assert_eq!(status.state, S::Cancelled);
    assert_eq!(status.suspended_from, None);
    let last = status.steps.last().unwrap();
    let n = events.len();
    assert_eq!(last.ended_at, Some(events[n - 1].at));
    assert_eq!(
        last.paused,
        vec![(events[n - 2].at, Some(events[n - 1].at))]
    );
}

#[test]
fn cancel_needs_a_reason() {
    let mut fx = Fx::new();
    let mut events = vec![fx.w(A::Submit)];
    let at = fx.tick();
    events.push(new_event(
        fx.community.clone(),
        Role::CommunitySupervisor,
        A::Cancel,
        at,
    ));
    let status = fx.fold(&events);
    assert_eq!(status.state, S::Reported);
    assert_eq!(status.illegal[0].reason, "cancel requires a reason (note)");
}

#[test]
fn terminal_states_accept_only_comments_and_acknowledgements() {
    let mut fx = Fx::new();
    let closed = {
        let mut e = fx.path_to_resolved();
        e.push(fx.w2(A::VerifyPass));
        e.push(fx.c(A::Close));
        e
    };
    let not_filed = vec![fx.w(A::Submit), fx.c(A::Reject)];
    let cancelled = vec![fx.w(A::Submit), fx.c(A::Cancel)];
    for (prefix, terminal) in [
        (closed, S::Closed),
        (not_filed, S::NotFiled),
        (cancelled, S::Cancelled),
    ] {
        for &action in A::ALL {
            let mut events = prefix.clone();
            let who = fx.street.clone();
            let role = if allowed(Role::GridWorker, action) {
                Role::GridWorker
            } else {
                Role::StreetSupervisor
            };
            events.push(fx.ev(&who, role, action));
            let status = fx.fold(&events);
            assert_eq!(status.state, terminal, "{action} after {terminal}");
            if action == A::Acknowledge {
                // Legal in every state (see the acknowledgement tests); without a target it
                // lacks its payload.
                assert_eq!(
                    status.illegal[0].reason,
                    "acknowledge requires the event acknowledged (target)"
                );
            } else if action == A::Comment {
                assert_legal(&status);
            } else {
                assert_eq!(status.illegal.len(), 1, "{action} after {terminal}");
                assert_eq!(
                    status.illegal[0].reason,
                    format!(
                        "the case is {terminal}, which is final; only comments and acknowledgements are allowed"
                    )
                );
            }
        }
    }
}

#[test]
fn comments_are_legal_for_everyone_and_change_nothing() {
    let mut fx = Fx::new();
    let events = fx.path_to_in_progress();
    let before = fx.fold(&events);
    let mut with_comments = events.clone();
    for (who, role) in [
        (fx.worker2.clone(), Role::GridWorker),
        (fx.liaison.clone(), Role::Liaison),
        (fx.admin.clone(), Role::Admin),
        (fx.community.clone(), Role::CommunitySupervisor),
        (fx.street.clone(), Role::StreetSupervisor),
    ] {
        with_comments.push(fx.ev(&who, role, A::Comment).with_note("noted"));
    }
    assert_eq!(fx.fold(&with_comments), before);
    // Also before anything else happened.
    let draft = vec![fx.ev(&fx.liaison.clone(), Role::Liaison, A::Comment)];
    assert_eq!(fx.fold(&draft), CaseStatus::draft());
}

#[test]
fn the_role_table() {
    let worker = [
        A::Submit,
        A::QuickResolve,
        A::Resolve,
        A::VerifyPass,
        A::VerifyFail,
        A::RequestDelay,
        A::Comment,
    ];
    let community = [
        A::Accept,
        A::Reject,
        A::Dispatch,
        A::Resolve,
        A::VerifyPass,
        A::VerifyFail,
        A::Close,
        A::Suspend,
        A::Resume,
        A::Cancel,
        A::Escalate,
        A::ApproveDelay,
        A::DenyDelay,
        A::Acknowledge,
        A::Comment,
    ];
    for &action in A::ALL {
        assert_eq!(
            allowed(Role::GridWorker, action),
            worker.contains(&action),
            "{action}"
        );
        assert_eq!(
            allowed(Role::CommunitySupervisor, action),
            community.contains(&action),
            "{action}"
        );
        assert_eq!(
            allowed(Role::StreetSupervisor, action),
            community.contains(&action) || action == A::Supervise,
            "{action}"
        );
        for role in [Role::Liaison, Role::Admin] {
            assert_eq!(
                allowed(role, action),
                action == A::Comment,
                "{role} {action}"
            );
        }
    }
    assert!(allowed_states(A::Comment).len() == S::ALL.len());
    assert!(allowed_states(A::Acknowledge).len() == S::ALL.len());
    assert_eq!(allowed_states(A::Resume), &[S::Suspended]);
}

#[test]
fn roles_are_refused_with_a_reason_and_the_case_does_not_move() {
    let mut fx = Fx::new();
    let liaison = fx.liaison.clone();
    let admin = fx.admin.clone();
    let events = vec![
        fx.c(A::Submit),                           // supervisors do not submit
        fx.ev(&liaison, Role::Liaison, A::Submit), // liaisons only comment
        fx.w(A::Submit),
        fx.w(A::Accept),                       // workers do not accept
        fx.ev(&admin, Role::Admin, A::Accept), // admins only comment
        fx.c(A::Supervise),                    // only the street supervises
        fx.c(A::Accept),
    ];
    let status = fx.fold(&events);
    assert_eq!(status.state, S::Accepted);
    let reasons: Vec<&str> = status.illegal.iter().map(|i| i.reason.as_str()).collect();
    assert_eq!(
        reasons,
        vec![
            "a community_supervisor may not submit",
            "a liaison may not submit",
            "a grid_worker may not accept",
            "an admin may not accept",
            "a community_supervisor may not supervise",
        ]
    );
    let indexes: Vec<usize> = status.illegal.iter().map(|i| i.index).collect();
    assert_eq!(indexes, vec![0, 1, 3, 4, 5]);
    assert_eq!(status.illegal[0].state, S::Draft);
    assert_eq!(status.illegal[2].state, S::Reported);
    assert_eq!(status.illegal[2].event, events[3].id);
}

#[test]
fn escalate_raises_the_case_and_hands_accept_and_dispatch_to_the_street() {
    let mut fx = Fx::new();
    let mut events = vec![fx.w(A::Submit), fx.c(A::Escalate)];
    let status = fx.fold(&events);
    assert_legal(&status);
    assert_eq!(status.state, S::Reported);
    assert!(status.escalated);

    events.push(fx.c(A::Accept)); // community may no longer accept
    events.push(fx.c(A::Escalate)); // already escalated
    events.push(fx.s(A::Accept));
    events.push(fx.c(A::Dispatch)); // nor dispatch
    events.push(fx.s(A::Dispatch));
    let status = fx.fold(&events);
    assert_eq!(status.state, S::InProgress);
    assert!(status.escalated);
    let reasons: Vec<&str> = status.illegal.iter().map(|i| i.reason.as_str()).collect();
    assert_eq!(
        reasons,
        vec![
            "the case was escalated to the street; only a street supervisor may accept it",
            "the case is already escalated to the street",
            "the case was escalated to the street; only a street supervisor may dispatch it",
        ]
    );
}

#[test]
fn escalate_is_possible_while_accepted_or_in_progress_but_not_once_resolved() {
    let mut fx = Fx::new();
    for (state, legal) in [
        (S::Accepted, true),
        (S::InProgress, true),
        (S::Resolved, false),
    ] {
        let mut events = into(&mut fx, state);
        events.push(fx.c(A::Escalate));
        let status = fx.fold(&events);
        assert_eq!(status.state, state);
        assert_eq!(status.escalated, legal, "{state}");
        assert_eq!(status.illegal.is_empty(), legal, "{state}");
    }
}

#[test]
fn supervise_sets_the_level_on_open_cases_only() {
    let mut fx = Fx::new();
    let mut events = into(&mut fx, S::Resolved);
    events.push(fx.s(A::Supervise));
    let status = fx.fold(&events);
    assert_legal(&status);
    assert_eq!(status.supervision, Some(SupervisionLevel::Yellow));
    let at = fx.tick();
    events.push(
        new_event(fx.street.clone(), Role::StreetSupervisor, A::Supervise, at)
            .with_level(SupervisionLevel::Red),
    );
    let status = fx.fold(&events);
    assert_eq!(status.supervision, Some(SupervisionLevel::Red));
    assert_eq!(status.state, S::Resolved);

    let draft = vec![fx.s(A::Supervise)];
    let status = fx.fold(&draft);
    assert_eq!(status.supervision, None);
    assert_eq!(status.illegal.len(), 1);
}

#[test]
fn delay_request_then_approval_extends_the_handle_step() {
    let mut fx = Fx::new();
    let mut events = fx.path_to_in_progress();
    events.push(fx.w(A::RequestDelay));
    let status = fx.fold(&events);
    assert_legal(&status);
    assert_eq!(
        status.pending_delay,
        Some(PendingDelay {
            event: events[3].id.clone(),
            days: 2
        })
    );
    events.push(fx.c(A::ApproveDelay));
    let status = fx.fold(&events);
    assert_legal(&status);
    assert_eq!(status.pending_delay, None);
    assert_eq!(status.approved_delay_days, 2);
    assert_eq!(status.current_step().unwrap().extra_days, 2);

    // A second request, approved too, adds up.
    events.push(fx.w(A::RequestDelay));
    events.push(fx.s(A::ApproveDelay));
    let status = fx.fold(&events);
    assert_legal(&status);
    assert_eq!(status.approved_delay_days, 4);

    // A new handle span after verify_fail starts without the old delays.
    events.push(fx.w(A::Resolve));
    events.push(fx.c(A::VerifyFail));
    let status = fx.fold(&events);
    assert_eq!(status.approved_delay_days, 0);
    assert_eq!(status.current_step().unwrap().extra_days, 0);
    assert_eq!(status.steps[1].extra_days, 4);
}

#[test]
fn delay_request_then_denial_clears_it() {
    let mut fx = Fx::new();
    let mut events = fx.path_to_in_progress();
    events.push(fx.w(A::RequestDelay));
    events.push(fx.c(A::DenyDelay));
    let status = fx.fold(&events);
    assert_legal(&status);
    assert_eq!(status.pending_delay, None);
    assert_eq!(status.approved_delay_days, 0);
    assert_eq!(status.current_step().unwrap().extra_days, 0);
}

#[test]
fn delay_rules_one_pending_assignee_only_decisions_need_a_request() {
    let mut fx = Fx::new();
    let mut events = fx.path_to_in_progress();
    events.push(fx.c(A::ApproveDelay)); // nothing pending
    let other = fx.worker2.clone();
    events.push(fx.ev(&other, Role::GridWorker, A::RequestDelay)); // not the assignee
    events.push(fx.w(A::RequestDelay));
    events.push(fx.w(A::RequestDelay)); // one pending already
    let at = fx.tick();
    events.push(
        new_event(fx.worker.clone(), Role::GridWorker, A::RequestDelay, at).with_delay_days(0),
    );
    let status = fx.fold(&events);
    let reasons: Vec<&str> = status.illegal.iter().map(|i| i.reason.as_str()).collect();
    assert_eq!(
        reasons[0],
        "there is no delay request waiting for a decision"
    );
    assert!(reasons[1].starts_with("only the current assignee"));
    assert_eq!(
        reasons[2],
        "a delay request is already waiting for a decision"
    );
    assert_eq!(
        reasons[3],
        "a delay request is already waiting for a decision"
    );
    assert_eq!(status.pending_delay.as_ref().unwrap().event, events[5].id);

    // Resolving ends the handle step and with it the pending request.
    events.push(fx.w(A::Resolve));
    events.push(fx.c(A::ApproveDelay));
    let status = fx.fold(&events);
    assert_eq!(status.pending_delay, None);
    assert_eq!(
        status.illegal.last().unwrap().reason,
        "approve_delay is not possible while the case is resolved (only when in_progress, suspended)"
    );
}

#[test]
fn a_pending_delay_survives_a_suspension_and_may_be_decided_meanwhile() {
    let mut fx = Fx::new();
    let mut events = fx.path_to_in_progress();
    events.push(fx.w(A::RequestDelay));
    events.push(fx.c(A::Suspend));
    events.push(fx.c(A::ApproveDelay));
    events.push(fx.c(A::Resume));
    let status = fx.fold(&events);
    assert_legal(&status);
    assert_eq!(status.state, S::InProgress);
    assert_eq!(status.approved_delay_days, 2);
}

#[test]
fn illegal_events_are_kept_in_place_and_later_events_still_fold() {
    let mut fx = Fx::new();
    let events = vec![
        fx.w(A::Submit),
        fx.w(A::Resolve), // not in progress
        fx.c(A::Accept),
        fx.c(A::Dispatch),
        fx.w(A::Resolve),
    ];
    let case = fx.case(events.clone());
    let status = fold(&case);
    assert_eq!(case.events, events);
    assert_eq!(status.state, S::Resolved);
    assert_eq!(status.illegal.len(), 1);
    assert_eq!(status.illegal[0].index, 1);
    assert_eq!(status.illegal[0].event, events[1].id);
    assert_eq!(status.illegal[0].at, events[1].at);
    assert_eq!(status.illegal[0].role, Role::GridWorker);
}

#[test]
fn backwards_client_clocks_are_clamped_in_spans() {
    let mut fx = Fx::new();
    let mut events = fx.path_to_in_progress();
    // The supervisor's phone is an hour behind.
    events[1].at = base().plus_millis(-3_600_000);
    events[2].at = base().plus_millis(-3_000_000);
    let status = fx.fold(&events);
    assert_legal(&status);
    assert_eq!(status.steps[0].started_at, events[0].at);
    assert_eq!(status.steps[0].ended_at, Some(events[0].at));
    assert_eq!(status.steps[1].started_at, events[0].at);
    for span in &status.steps {
        assert!(span.ended_at.is_none_or(|end| end >= span.started_at));
    }
}

#[test]
fn the_status_serializes_with_text_values() {
    let mut fx = Fx::new();
    let mut events = fx.path_to_in_progress();
    events.push(fx.w(A::Submit));
    let status = fx.fold(&events);
    let json = serde_json::to_value(&status).unwrap();
    assert_eq!(json["state"], "in_progress");
    assert_eq!(json["steps"][1]["step"], "handle");
    assert_eq!(json["illegal"][0]["action"], "submit");
    assert_eq!(json["illegal"][0]["state"], "in_progress");
    assert_eq!(json["illegal"][0]["role"], "grid_worker");
}

#[test]
fn check_action_accepts_legal_actions() {
    let mut fx = Fx::new();
    let events = fx.path_to_in_progress();
    let case = fx.case(events);
    check_action(&case, &fx.worker, Role::GridWorker, A::Resolve).unwrap();
    check_action(&case, &fx.worker, Role::GridWorker, A::RequestDelay).unwrap();
    check_action(&case, &fx.community, Role::CommunitySupervisor, A::Dispatch).unwrap();
    check_action(&case, &fx.admin, Role::Admin, A::Comment).unwrap();
}

#[test]
fn check_action_refuses_with_a_message_naming_state_role_and_action() {
    let mut fx = Fx::new();
    let events = fx.path_to_in_progress();
    let case = fx.case(events);
    let err = check_action(&case, &fx.worker2, Role::GridWorker, A::Resolve).unwrap_err();
    assert_eq!(err.state, S::InProgress);
    assert_eq!(err.role, Role::GridWorker);
    assert_eq!(err.action, A::Resolve);
    assert_eq!(
        err.refusal,
        Refusal::NotAssignee {
            action: A::Resolve,
            assignee: fx.worker.clone()
        }
    );
    let message = err.to_string();
    assert!(
        message.starts_with("grid_worker may not resolve a case that is in_progress: "),
        "{message}"
    );

    let err = check_action(&case, &fx.liaison, Role::Liaison, A::Accept).unwrap_err();
    assert_eq!(
        err.to_string(),
        "liaison may not accept a case that is in_progress: a liaison may not accept"
    );
    let err = check_action(&case, &fx.community, Role::CommunitySupervisor, A::Accept).unwrap_err();
    assert_eq!(
        err.refusal,
        Refusal::State {
            action: A::Accept,
            state: S::InProgress
        }
    );
}

#[test]
fn check_event_adds_the_payload_rules() {
    let mut fx = Fx::new();
    let submit = fx.w(A::Submit);
    let case = fx.case(vec![submit]);
    let bare_reject = new_event(
        fx.community.clone(),
        Role::CommunitySupervisor,
        A::Reject,
        fx.tick(),
    );
    check_action(&case, &fx.community, Role::CommunitySupervisor, A::Reject).unwrap();
    let err = check_event(&case, &bare_reject).unwrap_err();
    assert_eq!(
        err.refusal,
        Refusal::Payload {
            action: A::Reject,
            field: "a reason (note)"
        }
    );
    check_event(&case, &bare_reject.with_note("not in our community")).unwrap();
}

// --- Documents ---------------------------------------------------------------------------

fn author() -> Author {
    Author::new(actor_for_device(&DeviceId::new()), base())
}

/// A new case document (a draft) opened by `fx.worker`.
fn document(fx: &Fx, author: &Author) -> Document {
    Document::create(&fx.case(Vec::new()), author, &ValidationContext::default()).unwrap()
}

fn read_events(doc: &Document) -> Vec<CaseEvent> {
    doc.read::<Case>().unwrap().events
}

#[test]
fn append_event_writes_legal_events_at_the_end() {
    let mut fx = Fx::new();
    let ctx = ValidationContext::default();
    let phone = author();
    let mut doc = document(&fx, &phone);
    let events = fx.path_to_resolved();
    for e in &events {
        let heads = doc.heads();
        let hash = append_event(&mut doc, &phone, &ctx, e.clone()).unwrap();
        assert_eq!(doc.heads(), vec![hash]);
        assert_ne!(doc.heads(), heads);
    }
    assert_eq!(read_events(&doc), events);
    assert_eq!(fold(&doc.read::<Case>().unwrap()).state, S::Resolved);
    doc.validate(&ctx).unwrap();
}

#[test]
fn append_event_refuses_illegal_events_and_leaves_the_document_unchanged() {
    let mut fx = Fx::new();
    let ctx = ValidationContext::default();
    let phone = author();
    let mut doc = document(&fx, &phone);
    append_event(&mut doc, &phone, &ctx, fx.w(A::Submit)).unwrap();
    let heads = doc.heads();
    let saved = doc.save();

    let err = append_event(&mut doc, &phone, &ctx, fx.w(A::Accept)).unwrap_err();
    let AppendError::Illegal(IllegalAction {
        state,
        role,
        action,
        refusal,
    }) = err
    else {
        panic!("expected an illegal action, got {err:?}");
    };
    assert_eq!(
        (state, role, action),
        (S::Reported, Role::GridWorker, A::Accept)
    );
    assert_eq!(
        refusal,
        Refusal::Role {
            role: Role::GridWorker,
            action: A::Accept
        }
    );

    // A payload problem is refused before validation too.
    let bare_reject = new_event(
        fx.community.clone(),
        Role::CommunitySupervisor,
        A::Reject,
        fx.tick(),
    );
    let err = append_event(&mut doc, &phone, &ctx, bare_reject).unwrap_err();
    assert!(matches!(err, AppendError::Illegal(_)), "{err:?}");
    assert!(
        err.to_string().contains("reject requires a reason"),
        "{err}"
    );

    assert_eq!(doc.heads(), heads);
    assert_eq!(doc.save(), saved);
    assert_eq!(read_events(&doc).len(), 1);
}

#[test]
fn append_event_reports_document_errors() {
    let mut fx = Fx::new();
    let ctx = ValidationContext::default();
    let phone = author();
    let mut doc = document(&fx, &phone);
    let submit = fx.w(A::Submit);
    append_event(&mut doc, &phone, &ctx, submit.clone()).unwrap();
    let heads = doc.heads();
    // A comment reusing the id of an existing event breaks the record's rules.
    let dup = fx.w(A::Comment).with_id(submit.id.clone());
    let err = append_event(&mut doc, &phone, &ctx, dup).unwrap_err();
    assert!(matches!(err, AppendError::Document(_)), "{err:?}");
    assert_eq!(doc.heads(), heads);
}

/// Two actors ordered by their bytes: (smaller, larger).
fn ordered_actors() -> (ActorId, ActorId) {
    let a = actor_for_device(&DeviceId::new());
    let b = actor_for_device(&DeviceId::new());
    if a.to_bytes() < b.to_bytes() {
        (a, b)
    } else {
        (b, a)
    }
}

/// Two replicas of `doc`: the worker's phone and the supervisor's browser, each with its own
/// actor. `supervisor_first` chooses the actors so that, after the merge, the supervisor's
/// concurrent event comes first in the list. Automerge places concurrent list insertions at
/// the same position in descending order of their op ids, i.e. of the actor id when the
/// counters are equal, the same on every replica.
fn replicas(doc: &Document, supervisor_first: bool) -> ((Document, Author), (Document, Author)) {
    let (small, large) = ordered_actors();
    let (worker_actor, supervisor_actor) = if supervisor_first {
        (small, large)
    } else {
        (large, small)
    };
    let mut phone = doc.clone();
    let mut browser = doc.clone();
    phone.set_actor(worker_actor.clone());
    browser.set_actor(supervisor_actor.clone());
    (
        (phone, Author::new(worker_actor, base())),
        (browser, Author::new(supervisor_actor, base())),
    )
}

/// Merges both ways and checks that both replicas hold the same log and fold the same.
fn merge_both_ways(mut a: Document, mut b: Document) -> (Case, CaseStatus) {
    let mut a2 = a.clone();
    a.automerge_mut().merge(b.automerge_mut()).unwrap();
    b.automerge_mut().merge(a2.automerge_mut()).unwrap();
    let (ca, cb) = (a.read::<Case>().unwrap(), b.read::<Case>().unwrap());
    assert_eq!(ca.events, cb.events);
    let (sa, sb) = (fold(&ca), fold(&cb));
    assert_eq!(sa, sb);
    a.validate(&ValidationContext::default()).unwrap();
    assert_eq!(a.heads().len(), 2);
    (ca, sa)
}

/// A case document that is in progress, assigned to `fx.worker`.
fn in_progress_document(fx: &mut Fx) -> Document {
    let ctx = ValidationContext::default();
    let office = author();
    let mut doc = document(fx, &office);
    for e in fx.path_to_in_progress() {
        append_event(&mut doc, &office, &ctx, e).unwrap();
    }
    doc
}

/// Replicas of an in-progress case after concurrent edits, not yet merged: on the phone the
/// worker resolved it offline, in the browser the supervisor reassigned it to `fx.worker2`.
struct ResolvedWhileReassigned {
    phone: Document,
    browser: Document,
    supervisor_author: Author,
    resolve: CaseEvent,
    reassign: CaseEvent,
}

fn resolved_while_reassigned(fx: &mut Fx) -> ResolvedWhileReassigned {
    let ctx = ValidationContext::default();
    let doc = in_progress_document(fx);
    let ((mut phone, worker_author), (mut browser, supervisor_author)) = replicas(&doc, true);
    // Offline in a basement, the worker resolves the case on their phone...
    let resolve = fx.w(A::Resolve).with_note("fixed the leaking pipe");
    append_event(&mut phone, &worker_author, &ctx, resolve.clone()).unwrap();
    // ...while the supervisor reassigns it to another worker.
    let at = fx.tick();
    let reassign = new_event(
        fx.community.clone(),
        Role::CommunitySupervisor,
        A::Dispatch,
        at,
    )
    .with_assignee(fx.worker2.clone());
    append_event(&mut browser, &supervisor_author, &ctx, reassign.clone()).unwrap();
    ResolvedWhileReassigned {
        phone,
        browser,
        supervisor_author,
        resolve,
        reassign,
    }
}

#[test]
fn after_merge_a_resolve_following_a_reassignment_is_illegal() {
    let mut fx = Fx::new();
    let ResolvedWhileReassigned {
        phone,
        browser,
        resolve,
        reassign,
        ..
    } = resolved_while_reassigned(&mut fx);

    let (case, status) = merge_both_ways(phone, browser);
    let ids: Vec<&ItemId> = case.events.iter().map(|e| &e.id).collect();
    assert_eq!(ids[3..], [&reassign.id, &resolve.id]);

    assert_eq!(status.state, S::InProgress);
    assert_eq!(status.assignee.as_ref(), Some(&fx.worker2));
    assert_eq!(status.illegal.len(), 1);
    let conflict = &status.illegal[0];
    assert_eq!(conflict.event, resolve.id);
    assert_eq!(conflict.index, 4);
    assert_eq!(conflict.action, A::Resolve);
    assert_eq!(conflict.actor, fx.worker);
    assert_eq!(conflict.state, S::InProgress);
    assert_eq!(
        conflict.reason,
        format!(
            "only the current assignee ({}) may resolve; the case was reassigned or assigned to \
             someone else",
            fx.worker2
        )
    );
    // Nothing was dropped: the resolve and its note are still in the log.
    assert_eq!(case.events[4], resolve);
}

#[test]
fn after_merge_a_reassignment_following_a_resolve_is_illegal() {
    let ctx = ValidationContext::default();
    let mut fx = Fx::new();
    let doc = in_progress_document(&mut fx);
    let ((mut phone, worker_author), (mut browser, supervisor_author)) = replicas(&doc, false);

    let resolve = fx.w(A::Resolve);
    append_event(&mut phone, &worker_author, &ctx, resolve.clone()).unwrap();
    let at = fx.tick();
    let reassign = new_event(
        fx.community.clone(),
        Role::CommunitySupervisor,
        A::Dispatch,
        at,
    )
    .with_assignee(fx.worker2.clone());
    append_event(&mut browser, &supervisor_author, &ctx, reassign.clone()).unwrap();

    let (case, status) = merge_both_ways(phone, browser);
    let ids: Vec<&ItemId> = case.events.iter().map(|e| &e.id).collect();
    assert_eq!(ids[3..], [&resolve.id, &reassign.id]);
    assert_eq!(status.state, S::Resolved);
    assert_eq!(status.assignee.as_ref(), Some(&fx.worker));
    assert_eq!(status.illegal.len(), 1);
    assert_eq!(status.illegal[0].event, reassign.id);
    assert_eq!(status.illegal[0].state, S::Resolved);
    assert_eq!(
        status.illegal[0].reason,
        "dispatch is not possible while the case is resolved (only when accepted, in_progress)"
    );
}

#[test]
fn after_merge_quick_resolve_and_reject_whichever_comes_second_is_illegal() {
    let ctx = ValidationContext::default();
    for supervisor_first in [true, false] {
        let mut fx = Fx::new();
        let office = author();
        let mut doc = document(&fx, &office);
        append_event(&mut doc, &office, &ctx, fx.w(A::Submit)).unwrap();
        let ((mut phone, worker_author), (mut browser, supervisor_author)) =
            replicas(&doc, supervisor_first);

        let quick = fx.w(A::QuickResolve).with_note("helped on the spot");
        append_event(&mut phone, &worker_author, &ctx, quick.clone()).unwrap();
        let reject = fx.c(A::Reject);
        append_event(&mut browser, &supervisor_author, &ctx, reject.clone()).unwrap();

        let (case, status) = merge_both_ways(phone, browser);
        assert_eq!(case.events.len(), 3);
        assert_eq!(status.illegal.len(), 1);
        let conflict = &status.illegal[0];
        assert_eq!(conflict.index, 2);
        if supervisor_first {
            assert_eq!(case.events[1].id, reject.id);
            assert_eq!(status.state, S::NotFiled);
            assert_eq!(conflict.event, quick.id);
            assert_eq!(
                conflict.reason,
                "the case is not_filed, which is final; only comments and acknowledgements are allowed"
            );
        } else {
            assert_eq!(case.events[1].id, quick.id);
            assert_eq!(status.state, S::Resolved);
            assert_eq!(conflict.event, reject.id);
            assert_eq!(
                conflict.reason,
                "reject is not possible while the case is resolved (only when reported)"
            );
        }
    }
}

#[test]
fn a_supervisor_acknowledges_an_illegal_event_which_stays_in_the_log_but_leaves_the_conflicts() {
    let mut fx = Fx::new();
    let mut events = fx.path_to_in_progress();
    events.push(fx.c(A::Cancel));
    // Resolved offline after the cancellation had been made elsewhere: illegal when merged.
    events.push(fx.w(A::Resolve));
    let illegal_id = events[4].id.clone();
    let case = fx.case(events.clone());
    let status = fold(&case);
    assert_eq!(status.state, S::Cancelled);
    assert_eq!(status.illegal.len(), 1);
    assert!(status.acknowledged.is_empty());

    let community = fx.community.clone();
    let at = fx.tick();
    let ack = new_event(
        community.clone(),
        Role::CommunitySupervisor,
        A::Acknowledge,
        at,
    )
    .with_note("phoned the worker: the pipe was fixed before the cancellation")
    .with_target(illegal_id.clone());
    // Legal on a cancelled case, for a supervisor naming the event awaiting review.
    check_event(&case, &ack).unwrap();
    check_action(&case, &community, Role::CommunitySupervisor, A::Acknowledge).unwrap();
    let by_worker = new_event(fx.worker.clone(), Role::GridWorker, A::Acknowledge, at)
        .with_target(illegal_id.clone());
    assert!(matches!(
        check_event(&case, &by_worker).unwrap_err().refusal,
        Refusal::Role { .. }
    ));
    let untargeted = new_event(
        community.clone(),
        Role::CommunitySupervisor,
        A::Acknowledge,
        at,
    );
    assert_eq!(
        check_event(&case, &untargeted).unwrap_err().refusal,
        Refusal::Payload {
            action: A::Acknowledge,
            field: "the event acknowledged (target)"
        }
    );
    let legal_one = untargeted.clone().with_target(events[0].id.clone());
    let refused = check_event(&case, &legal_one).unwrap_err();
    assert_eq!(
        refused.refusal,
        Refusal::NothingToAcknowledge {
            target: Some(events[0].id.clone())
        }
    );
    assert!(
        refused
            .to_string()
            .contains("not an illegal-after-merge event")
    );

    events.push(ack.clone());
    let case = fx.case(events.clone());
    let status = fold(&case);
    assert_eq!(status.state, S::Cancelled);
    assert!(status.illegal.is_empty(), "{:#?}", status.illegal);
    assert_eq!(status.acknowledged.len(), 1);
    let reviewed = &status.acknowledged[0];
    assert_eq!(
        (reviewed.event.clone(), reviewed.index),
        (illegal_id.clone(), 4)
    );
    let by = reviewed.acknowledged.as_ref().unwrap();
    assert_eq!(
        (by.event.clone(), by.actor.clone()),
        (ack.id.clone(), community.clone())
    );
    assert_eq!(by.role, Role::CommunitySupervisor);
    assert_eq!(by.note.as_deref(), ack.note.as_deref());
    // Kept in the log, unchanged.
    assert_eq!(case.events[4], events[4]);
    // Nothing awaits review any more.
    assert!(check_action(&case, &community, Role::CommunitySupervisor, A::Acknowledge).is_err());
    assert!(check_event(&case, &ack.clone().with_id(ItemId::new())).is_err());

    // A street supervisor acknowledged the same event concurrently: merged, a no-op, not a new
    // conflict item.
    let street_ack = new_event(
        fx.street.clone(),
        Role::StreetSupervisor,
        A::Acknowledge,
        fx.tick(),
    )
    .with_target(illegal_id.clone());
    events.push(street_ack);
    let status = fx.fold(&events);
    assert!(status.illegal.is_empty());
    assert_eq!(status.acknowledged.len(), 1);
    assert_eq!(
        status.acknowledged[0]
            .acknowledged
            .as_ref()
            .map(|a| &a.event),
        Some(&ack.id)
    );

    // One naming no event of the log (a hostile phone) is itself a conflict item.
    let bogus = new_event(
        fx.street.clone(),
        Role::StreetSupervisor,
        A::Acknowledge,
        fx.tick(),
    )
    .with_target(ItemId::new());
    events.push(bogus.clone());
    let status = fx.fold(&events);
    assert_eq!(status.illegal.len(), 1);
    assert_eq!(status.illegal[0].event, bogus.id);
}

#[test]
fn an_acknowledgement_made_after_a_real_merge_reaches_the_phone_and_empties_its_conflicts() {
    let ctx = ValidationContext::default();
    let mut fx = Fx::new();
    let ResolvedWhileReassigned {
        mut phone,
        mut browser,
        supervisor_author,
        resolve,
        ..
    } = resolved_while_reassigned(&mut fx);
    browser
        .automerge_mut()
        .merge(phone.clone().automerge_mut())
        .unwrap();
    let status = fold(&browser.read::<Case>().unwrap());
    assert_eq!(status.illegal.len(), 1);

    // The supervisor reviews it on the merged case; the phone syncs.
    let at = fx.tick();
    let ack = new_event(
        fx.community.clone(),
        Role::CommunitySupervisor,
        A::Acknowledge,
        at,
    )
    .with_target(resolve.id.clone())
    .with_note("worker2 takes over");
    append_event(&mut browser, &supervisor_author, &ctx, ack.clone()).unwrap();
    phone
        .automerge_mut()
        .merge(browser.automerge_mut())
        .unwrap();
    assert_eq!(phone.heads(), browser.heads());
    let case = phone.read::<Case>().unwrap();
    let status = fold(&case);
    assert!(status.illegal.is_empty());
    assert_eq!(status.acknowledged[0].event, resolve.id);
    assert_eq!(status.state, S::InProgress);
    assert_eq!(status.assignee.as_ref(), Some(&fx.worker2));
    assert!(case.events.contains(&resolve));
    assert_eq!(case.events.last(), Some(&ack));
    phone.validate(&ctx).unwrap();
}

/// The resolver's verification is an illegal-after-merge conflict item, never a silent pass.
///
/// The case was resolved by `worker2`. On a tablet that then went offline, `worker` checks it
/// and verifies it (legal there: someone else resolved it). Meanwhile the community sent it
/// back, dispatched it to `worker`, who redid the work and resolved it from their phone. After
/// the merge the standing resolution is `worker`'s own, so their verification from the tablet
/// verifies their own work: the fold refuses it and lists it for review, on every replica.
#[test]
fn after_merge_a_verification_of_ones_own_resolution_is_a_conflict_item() {
    let mut fx = Fx::new();
    let ctx = ValidationContext::default();
    let office = author();
    let mut doc = document(&fx, &office);
    let mut events = vec![fx.w(A::Submit), fx.c(A::Accept)];
    let to_worker2 = fx.c(A::Dispatch).with_assignee(fx.worker2.clone());
    events.push(to_worker2);
    events.push(fx.w2(A::Resolve));
    for e in events {
        append_event(&mut doc, &office, &ctx, e).unwrap();
    }
    let ((mut tablet, tablet_author), (mut browser, office_author)) = replicas(&doc, true);

    let at = fx.tick();
    let verify = new_event(fx.worker.clone(), Role::GridWorker, A::VerifyPass, at)
        .with_device(DeviceId::new());
    append_event(&mut tablet, &tablet_author, &ctx, verify.clone()).unwrap();

    let send_back = fx.c(A::VerifyFail);
    let redo = fx.c(A::Dispatch);
    let resolve = fx.w(A::Resolve);
    for e in [send_back, redo, resolve] {
        append_event(&mut browser, &office_author, &ctx, e).unwrap();
    }

    let (case, status) = merge_both_ways(tablet, browser);
    assert_eq!(case.events.last().unwrap().id, verify.id);
    assert_eq!(status.state, S::Resolved);
    assert_eq!(status.resolution.as_ref().unwrap().actor, fx.worker);
    assert_eq!(status.illegal.len(), 1);
    let item = &status.illegal[0];
    assert_eq!(
        (item.event.clone(), item.action),
        (verify.id.clone(), A::VerifyPass)
    );
    assert_eq!(item.state, S::Resolved);
    assert!(
        item.reason.contains("someone other than who resolved it"),
        "{}",
        item.reason
    );

    // Someone else verifies; the supervisor reviews the item and closes.
    let mut merged = case;
    merged.events.push(fx.w2(A::VerifyPass));
    let ack = fx.c(A::Acknowledge).with_target(verify.id.clone());
    merged.events.push(ack);
    merged.events.push(fx.c(A::Close));
    let status = fold(&merged);
    assert_eq!(status.state, S::Closed);
    assert!(status.illegal.is_empty());
    assert_eq!(status.acknowledged.len(), 1);
}

/// Departments (站所): a case dispatched to a department is handled by its staff only; the
/// co-handling departments see it; the grid worker verifies the department's work.
#[test]
fn a_department_handles_what_is_dispatched_to_it() {
    use sync_core::ids::DepartmentId;
    use sync_core::record::Record;
    let mut fx = Fx::new();
    let police: DepartmentId = "pcs".parse().unwrap();
    let justice: DepartmentId = "sfs".parse().unwrap();
    let housing: DepartmentId = "zjb".parse().unwrap();
    let officer = UserId::new();
    let clerk = UserId::new();
    let staff = |fx: &mut Fx, who: &UserId, dept: &DepartmentId, action: A| {
        let at = fx.tick();
        new_event(who.clone(), Role::Department, action, at)
            .with_device(device_of(who))
            .with_department(dept.clone())
    };
    let mut events = vec![fx.w(A::Submit), fx.c(A::Escalate), fx.s(A::Accept)];
    let at = fx.tick();
    events.push(
        new_event(fx.street.clone(), Role::StreetSupervisor, A::Dispatch, at)
            .with_device(device_of(&fx.street))
            .with_department(police.clone())
            .with_co_departments(vec![justice.clone()]),
    );
    let status = fx.fold(&events);
    assert_legal(&status);
    assert_eq!(status.state, S::InProgress);
    assert_eq!(status.department.as_ref(), Some(&police));
    assert_eq!(status.assignee, None);
    assert_eq!(status.departments, [police.clone(), justice.clone()]);
    let case = fx.case(events.clone());
    assert_eq!(case.departments(), [police.clone(), justice.clone()]);

    // Not the grid worker who opened it, not another department, not a co-handler.
    for (event, reason) in [
        (
            fx.w(A::Resolve),
            "the case was dispatched to department pcs; only its staff may resolve",
        ),
        (
            staff(&mut fx, &clerk, &housing, A::Resolve),
            "the case was dispatched to department pcs; only its staff may resolve",
        ),
        (
            staff(&mut fx, &clerk, &justice, A::RequestDelay).with_delay_days(3),
            "the case was dispatched to department pcs; only its staff may request_delay",
        ),
    ] {
        let case = fx.case(events.clone());
        let refused = check_event(&case, &event).unwrap_err();
        assert_eq!(refused.refusal.to_string(), reason);
    }
    let case = fx.case(events.clone());
    sync_core::workflow::check_action_in(&case, &officer, &police, A::Resolve).unwrap();
    assert!(sync_core::workflow::check_action_in(&case, &officer, &housing, A::Resolve).is_err());
    // A co-handler comments; the police resolve; the grid worker checks and the street closes.
    events.push(staff(&mut fx, &clerk, &justice, A::Comment).with_note("已联系当事人"));
    events.push(staff(&mut fx, &officer, &police, A::Resolve).with_note("已调解处理"));
    events.push(fx.w(A::VerifyPass));
    events.push(fx.s(A::Close));
    let status = fx.fold(&events);
    assert_legal(&status);
    assert_eq!(status.state, S::Closed);
    assert_eq!(status.resolution.unwrap().actor, officer);
}

#[test]
fn a_dispatch_names_an_assignee_or_a_department_and_its_co_handlers_apart() {
    use sync_core::ids::DepartmentId;
    let mut fx = Fx::new();
    let police: DepartmentId = "pcs".parse().unwrap();
    let events = vec![fx.w(A::Submit), fx.c(A::Accept)];
    let case = fx.case(events);
    let both = fx.c(A::Dispatch).with_department(police.clone());
    assert_eq!(
        check_event(&case, &both).unwrap_err().refusal.to_string(),
        "dispatch requires an assignee or a department, not both"
    );
    let mut to_police = fx.c(A::Dispatch).with_department(police.clone());
    to_police.assignee = None;
    let twice = to_police.clone().with_co_departments(vec![police.clone()]);
    assert!(check_event(&case, &twice).is_err());
    check_event(&case, &to_police).unwrap();
    let mut again = case.clone();
    again.events.push(to_police.clone());
    let mut repeat = to_police.clone();
    repeat.id = ItemId::new();
    assert_eq!(
        check_event(&again, &repeat).unwrap_err().refusal,
        Refusal::SameDepartment { department: police }
    );
}
