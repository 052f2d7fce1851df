//! Deadlines in working days: weekends, holidays, make-up days, levels, suspension, delays.

use proptest::prelude::*;
use sync_core::deadline::{
    DAY_MS, Deadline, DeadlineLevel, DeadlinePolicy, StepLimits, WorkCalendar, deadline,
    span_budget_ms, span_elapsed_ms,
};
use sync_core::ids::{DocId, UserId};
use sync_core::models::case::{Case, CaseAction, CaseEvent, CaseKind, Urgency};
use sync_core::record::{Place, Role};
use sync_core::time::{Date, Timestamp};
use sync_core::workflow::{CaseState, Step, StepSpan, fold, new_event};

use CaseAction as A;

const HOUR_MS: i64 = 3_600_000;

/// An instant written in China time, e.g. `cst("2026-03-02 09:00")` (2026-03-02 is a Monday).
fn cst(local: &str) -> Timestamp {
    format!("{}:00+08:00", local.replace(' ', "T"))
        .parse()
        .unwrap()
}

fn date(s: &str) -> Date {
    s.parse().unwrap()
}

struct People {
    worker: UserId,
    supervisor: UserId,
}

impl People {
    fn new() -> Self {
        Self {
            worker: UserId::new(),
            supervisor: UserId::new(),
        }
    }

    fn w(&self, action: CaseAction, at: &str) -> CaseEvent {
        let e = new_event(self.worker.clone(), Role::GridWorker, action, cst(at));
        match action {
            A::VerifyFail => e.with_note("still leaking"),
            A::RequestDelay => e.with_delay_days(2),
            _ => e,
        }
    }

    fn s(&self, action: CaseAction, at: &str) -> CaseEvent {
        let e = new_event(
            self.supervisor.clone(),
            Role::CommunitySupervisor,
            action,
            cst(at),
        );
        match action {
            A::Dispatch => e.with_assignee(self.worker.clone()),
            A::Reject | A::Cancel | A::DenyDelay => e.with_note("reason"),
            _ => e,
        }
    }

    fn case(&self, kind: CaseKind, events: Vec<CaseEvent>) -> Case {
        Case {
            attachments: Vec::new(),
            id: DocId::new(),
            case_kind: kind,
            category: "general".into(),
            subject: "subject".into(),
            description: String::new(),
            place: Place {
                community: "dzk".parse().unwrap(),
                grid: "dzk-01".parse().unwrap(),
            },
            location: None,
            household: None,
            parties: Vec::new(),
            urgency: Urgency::Normal,
            confidential: false,
            opened_by: self.worker.clone(),
            opened_at: cst("2026-03-02 08:00"),
            events,
            mediation: Vec::new(),
            rectification: None,
        }
    }
}

/// The deadline under the default policy and the given calendar.
fn due(case: &Case, calendar: &WorkCalendar, now: Timestamp) -> Option<Deadline> {
    let status = fold(case);
    assert!(status.illegal.is_empty(), "{:#?}", status.illegal);
    deadline(case, &status, &DeadlinePolicy::default(), calendar, now)
}

fn china() -> WorkCalendar {
    WorkCalendar::china()
}

#[test]
fn working_days_are_weekdays_minus_holidays_plus_make_up_days() {
    let plain = china();
    assert!(plain.is_working_day(date("2026-03-02"))); // Monday
    assert!(plain.is_working_day(date("2026-03-06"))); // Friday
    assert!(!plain.is_working_day(date("2026-03-07"))); // Saturday
    assert!(!plain.is_working_day(date("2026-03-08"))); // Sunday

    let adjusted = china()
        .with_holidays([date("2026-03-09")])
        .with_workdays([date("2026-03-07")]);
    assert!(!adjusted.is_working_day(date("2026-03-09")));
    assert!(adjusted.is_working_day(date("2026-03-07")));
    assert!(!adjusted.is_working_day(date("2026-03-08")));

    // A date listed both ways is a holiday.
    let both = china()
        .with_holidays([date("2026-03-07")])
        .with_workdays([date("2026-03-07")]);
    assert!(!both.is_working_day(date("2026-03-07")));
}

#[test]
fn working_time_skips_the_weekend() {
    let cal = china();
    assert_eq!(
        cal.working_ms_between(cst("2026-03-06 12:00"), cst("2026-03-09 12:00")),
        DAY_MS
    );
    assert_eq!(
        cal.add_working_ms(cst("2026-03-06 12:00"), DAY_MS),
        cst("2026-03-09 12:00")
    );
    // Time on a Saturday does not count; the clock starts on Monday at midnight.
    assert_eq!(
        cal.working_ms_between(cst("2026-03-07 10:00"), cst("2026-03-09 06:00")),
        6 * HOUR_MS
    );
    assert_eq!(
        cal.add_working_ms(cst("2026-03-07 10:00"), DAY_MS),
        cst("2026-03-10 00:00")
    );
    // Reversed or empty intervals count nothing.
    assert_eq!(
        cal.working_ms_between(cst("2026-03-09 12:00"), cst("2026-03-06 12:00")),
        0
    );
    assert_eq!(
        cal.add_working_ms(cst("2026-03-06 12:00"), -5),
        cst("2026-03-06 12:00")
    );
    assert_eq!(cal.local_date(cst("2026-03-06 23:30")), date("2026-03-06"));
}

#[test]
fn accept_deadline_across_a_weekend() {
    let p = People::new();
    let case = p.case(CaseKind::Appeal, vec![p.w(A::Submit, "2026-03-06 10:00")]);
    let d = due(&case, &china(), cst("2026-03-06 18:00")).unwrap();
    assert_eq!(d.step, Step::Accept);
    assert_eq!(d.started_at, cst("2026-03-06 10:00"));
    assert_eq!(d.due_at, cst("2026-03-09 10:00"));
    assert_eq!(d.budget_ms, DAY_MS);
    assert_eq!(d.elapsed_ms, 8 * HOUR_MS);
    assert_eq!(d.level, DeadlineLevel::OnTime);
    assert!(!d.paused);
    // The weekend does not use the budget up.
    let sunday = due(&case, &china(), cst("2026-03-08 23:00")).unwrap();
    assert_eq!(sunday.elapsed_ms, 14 * HOUR_MS);
    assert_eq!(sunday.due_at, cst("2026-03-09 10:00"));
}

#[test]
fn accept_deadline_skips_a_holiday() {
    let p = People::new();
    let case = p.case(CaseKind::Appeal, vec![p.w(A::Submit, "2026-03-06 10:00")]);
    let cal = china().with_holidays([date("2026-03-09")]);
    let d = due(&case, &cal, cst("2026-03-09 18:00")).unwrap();
    assert_eq!(d.due_at, cst("2026-03-10 10:00"));
    assert_eq!(d.elapsed_ms, 14 * HOUR_MS);
}

#[test]
fn accept_deadline_uses_a_make_up_working_day() {
    let p = People::new();
    let case = p.case(CaseKind::Appeal, vec![p.w(A::Submit, "2026-03-06 10:00")]);
    let cal = china().with_workdays([date("2026-03-07")]);
    let d = due(&case, &cal, cst("2026-03-07 10:00")).unwrap();
    assert_eq!(d.due_at, cst("2026-03-07 10:00"));
    assert_eq!(d.level, DeadlineLevel::Red);
}

#[test]
fn day_boundaries_follow_the_calendar_offset() {
    let p = People::new();
    // Friday 20:00 UTC is already Saturday 04:00 in China.
    let submitted: Timestamp = "2026-03-06T20:00:00Z".parse().unwrap();
    let mut submit = p.w(A::Submit, "2026-03-02 08:00");
    submit.at = submitted;
    let case = p.case(CaseKind::Appeal, vec![submit]);
    let now: Timestamp = "2026-03-06T22:00:00Z".parse().unwrap();

    let in_china = due(&case, &china(), now).unwrap();
    assert_eq!(in_china.elapsed_ms, 0);
    assert_eq!(in_china.due_at, cst("2026-03-10 00:00"));

    let utc = china().with_utc_offset(chrono::FixedOffset::east_opt(0).unwrap());
    let in_utc = due(&case, &utc, now).unwrap();
    assert_eq!(in_utc.elapsed_ms, 2 * HOUR_MS);
    assert_eq!(in_utc.due_at, "2026-03-09T20:00:00Z".parse().unwrap());
}

#[test]
fn yellow_from_70_percent_red_from_100_percent() {
    let p = People::new();
    let case = p.case(CaseKind::Appeal, vec![p.w(A::Submit, "2026-03-02 00:00")]);
    let cal = china();
    let at = |now: Timestamp| due(&case, &cal, now).unwrap();

    let before = at(cst("2026-03-02 16:48").plus_millis(-1));
    assert_eq!(before.level, DeadlineLevel::OnTime);
    assert!(before.fraction < 0.7);

    let yellow = at(cst("2026-03-02 16:48"));
    assert_eq!(yellow.elapsed_ms, DAY_MS * 7 / 10);
    assert_eq!(yellow.level, DeadlineLevel::Yellow);
    assert!((yellow.fraction - 0.7).abs() < 1e-12);
    assert_eq!(yellow.due_at, cst("2026-03-03 00:00"));

    let almost = at(cst("2026-03-03 00:00").plus_millis(-1));
    assert_eq!(almost.level, DeadlineLevel::Yellow);

    let red = at(cst("2026-03-03 00:00"));
    assert_eq!(red.level, DeadlineLevel::Red);
    assert_eq!(red.fraction, 1.0);
    assert_eq!(red.due_at, cst("2026-03-03 00:00"));

    // Overdue: the due time stays where the budget ran out.
    let late = at(cst("2026-03-03 12:00"));
    assert_eq!(late.level, DeadlineLevel::Red);
    assert_eq!(late.fraction, 1.5);
    assert_eq!(late.due_at, cst("2026-03-03 00:00"));

    assert_eq!(DeadlineLevel::of(69, 100), DeadlineLevel::OnTime);
    assert_eq!(DeadlineLevel::of(70, 100), DeadlineLevel::Yellow);
    assert_eq!(DeadlineLevel::of(100, 100), DeadlineLevel::Red);
    assert_eq!(DeadlineLevel::of(0, 0), DeadlineLevel::Red);
}

#[test]
fn handle_step_runs_from_acceptance_with_the_kinds_limit() {
    let p = People::new();
    let events = vec![
        p.w(A::Submit, "2026-03-02 08:00"),
        p.s(A::Accept, "2026-03-02 09:00"),
        p.s(A::Dispatch, "2026-03-02 15:00"),
    ];
    let hazard = p.case(CaseKind::Hazard, events.clone());
    let d = due(&hazard, &china(), cst("2026-03-04 11:24")).unwrap();
    assert_eq!(d.step, Step::Handle);
    assert_eq!(d.started_at, cst("2026-03-02 09:00"));
    assert_eq!(d.budget_ms, 3 * DAY_MS);
    assert_eq!(d.due_at, cst("2026-03-05 09:00"));
    assert_eq!(d.level, DeadlineLevel::Yellow); // 2.1 of 3 days

    let dispute = p.case(CaseKind::Dispute, events.clone());
    let d = due(&dispute, &china(), cst("2026-03-04 11:24")).unwrap();
    assert_eq!(d.budget_ms, 10 * DAY_MS);
    assert_eq!(d.due_at, cst("2026-03-16 09:00"));
    assert_eq!(d.level, DeadlineLevel::OnTime);

    let appeal = p.case(CaseKind::Appeal, events);
    let d = due(&appeal, &china(), cst("2026-03-04 11:24")).unwrap();
    assert_eq!(d.due_at, cst("2026-03-09 09:00"));
}

#[test]
fn suspension_pauses_the_clock() {
    let p = People::new();
    let mut events = vec![
        p.w(A::Submit, "2026-03-02 08:00"),
        p.s(A::Accept, "2026-03-02 09:00"),
        p.s(A::Dispatch, "2026-03-02 09:30"),
        p.s(A::Suspend, "2026-03-03 09:00"),
    ];
    let suspended = p.case(CaseKind::Hazard, events.clone());
    let d = due(&suspended, &china(), cst("2026-03-04 09:00")).unwrap();
    assert!(d.paused);
    assert_eq!(d.step, Step::Handle);
    assert_eq!(d.elapsed_ms, DAY_MS);
    // As if resumed now: two working days left.
    assert_eq!(d.due_at, cst("2026-03-06 09:00"));
    // Time spent suspended never turns the case red.
    let much_later = due(&suspended, &china(), cst("2026-04-30 09:00")).unwrap();
    assert_eq!(much_later.elapsed_ms, DAY_MS);
    assert_eq!(much_later.level, DeadlineLevel::OnTime);

    events.push(p.s(A::Resume, "2026-03-05 09:00"));
    let resumed = p.case(CaseKind::Hazard, events);
    let d = due(&resumed, &china(), cst("2026-03-05 09:00")).unwrap();
    assert!(!d.paused);
    assert_eq!(d.elapsed_ms, DAY_MS);
    assert_eq!(d.due_at, cst("2026-03-09 09:00")); // Thu + 2 working days, over the weekend
    let later = due(&resumed, &china(), cst("2026-03-06 21:00")).unwrap();
    assert_eq!(later.elapsed_ms, DAY_MS + 36 * HOUR_MS);
    assert_eq!(later.level, DeadlineLevel::Yellow);
}

#[test]
fn an_approved_delay_extends_the_due_time_a_pending_or_denied_one_does_not() {
    let p = People::new();
    let base = vec![
        p.w(A::Submit, "2026-03-02 08:00"),
        p.s(A::Accept, "2026-03-02 09:00"),
        p.s(A::Dispatch, "2026-03-02 09:30"),
        p.w(A::RequestDelay, "2026-03-03 10:00"),
    ];
    let now = cst("2026-03-04 09:00");

    let pending = p.case(CaseKind::Hazard, base.clone());
    let d = due(&pending, &china(), now).unwrap();
    assert_eq!(d.budget_ms, 3 * DAY_MS);
    assert_eq!(d.due_at, cst("2026-03-05 09:00"));

    let mut approved = base.clone();
    approved.push(p.s(A::ApproveDelay, "2026-03-03 11:00"));
    let d = due(&p.case(CaseKind::Hazard, approved), &china(), now).unwrap();
    assert_eq!(d.budget_ms, 5 * DAY_MS);
    assert_eq!(d.due_at, cst("2026-03-09 09:00"));
    assert_eq!(d.level, DeadlineLevel::OnTime);

    let mut denied = base;
    denied.push(p.s(A::DenyDelay, "2026-03-03 11:00"));
    let d = due(&p.case(CaseKind::Hazard, denied), &china(), now).unwrap();
    assert_eq!(d.due_at, cst("2026-03-05 09:00"));
}

#[test]
fn verify_step_deadline() {
    let p = People::new();
    let events = vec![
        p.w(A::Submit, "2026-03-02 08:00"),
        p.s(A::Accept, "2026-03-02 09:00"),
        p.s(A::Dispatch, "2026-03-02 09:30"),
        p.w(A::Resolve, "2026-03-04 09:00"),
    ];
    let case = p.case(CaseKind::Appeal, events.clone());
    let d = due(&case, &china(), cst("2026-03-05 09:00")).unwrap();
    assert_eq!(d.step, Step::Verify);
    assert_eq!(d.started_at, cst("2026-03-04 09:00"));
    assert_eq!(d.budget_ms, 2 * DAY_MS);
    assert_eq!(d.due_at, cst("2026-03-06 09:00"));
    assert_eq!(d.fraction, 0.5);

    // A failed verification starts a fresh handle budget.
    let mut reopened = events;
    reopened.push(p.w(A::VerifyFail, "2026-03-05 09:00"));
    let d = due(
        &p.case(CaseKind::Appeal, reopened),
        &china(),
        cst("2026-03-05 09:00"),
    )
    .unwrap();
    assert_eq!(d.step, Step::Handle);
    assert_eq!(d.elapsed_ms, 0);
    assert_eq!(d.due_at, cst("2026-03-12 09:00"));
}

#[test]
fn no_deadline_without_a_running_step() {
    let p = People::new();
    let now = cst("2026-03-10 09:00");
    let draft = p.case(CaseKind::Appeal, Vec::new());
    assert_eq!(due(&draft, &china(), now), None);

    let closed = p.case(
        CaseKind::Appeal,
        vec![
            p.w(A::QuickResolve, "2026-03-02 09:00"),
            p.w(A::VerifyPass, "2026-03-02 10:00"),
        ],
    );
    assert_eq!(fold(&closed).state, CaseState::Closed);
    assert_eq!(due(&closed, &china(), now), None);

    let not_filed = p.case(
        CaseKind::Appeal,
        vec![
            p.w(A::Submit, "2026-03-02 09:00"),
            p.s(A::Reject, "2026-03-02 10:00"),
        ],
    );
    assert_eq!(due(&not_filed, &china(), now), None);

    let cancelled = p.case(
        CaseKind::Dispute,
        vec![
            p.w(A::Submit, "2026-03-02 09:00"),
            p.s(A::Suspend, "2026-03-02 10:00"),
            p.s(A::Cancel, "2026-03-02 11:00"),
        ],
    );
    assert_eq!(due(&cancelled, &china(), now), None);
}

#[test]
fn a_backwards_client_clock_never_panics_or_goes_negative() {
    let p = People::new();
    // Merged events whose device times run backwards.
    let events = vec![
        p.w(A::Submit, "2026-03-05 09:00"),
        p.s(A::Accept, "2026-03-02 09:00"),
        p.s(A::Dispatch, "2026-03-01 09:00"),
        p.s(A::Suspend, "2026-02-27 09:00"),
        p.s(A::Resume, "2026-02-20 09:00"),
    ];
    let case = p.case(CaseKind::Hazard, events);
    // `now` before the step started.
    let d = due(&case, &china(), cst("2026-03-01 09:00")).unwrap();
    assert_eq!(d.started_at, cst("2026-03-05 09:00"));
    assert_eq!(d.elapsed_ms, 0);
    assert_eq!(d.fraction, 0.0);
    assert_eq!(d.level, DeadlineLevel::OnTime);
    assert!(d.due_at >= d.started_at);
    assert_eq!(d.due_at, cst("2026-03-10 09:00"));

    // Absurd instants.
    for now in [
        Timestamp::from_millis(i64::MIN),
        Timestamp::from_millis(i64::MAX),
    ] {
        let d = due(&case, &china(), now).unwrap();
        assert!(d.elapsed_ms >= 0);
        assert!(d.due_at >= d.started_at);
    }

    // A hand-made span whose pauses are out of order and outside it.
    let span = StepSpan {
        step: Step::Handle,
        started_at: cst("2026-03-03 00:00"),
        ended_at: Some(cst("2026-03-02 00:00")),
        paused: vec![
            (cst("2026-03-04 00:00"), Some(cst("2026-03-01 00:00"))),
            (cst("2026-02-01 00:00"), None),
        ],
        extra_days: 1,
    };
    assert_eq!(span_elapsed_ms(&span, &china(), cst("2026-03-09 00:00")), 0);
    let limits = DeadlinePolicy::default().limits_for(&case);
    assert_eq!(span_budget_ms(&span, &limits), 4 * DAY_MS);
}

#[test]
fn pauses_are_subtracted_once_even_when_they_overlap() {
    let span = StepSpan {
        step: Step::Accept,
        started_at: cst("2026-03-02 00:00"),
        ended_at: Some(cst("2026-03-03 00:00")),
        paused: vec![
            (cst("2026-03-02 06:00"), Some(cst("2026-03-02 12:00"))),
            (cst("2026-03-02 10:00"), Some(cst("2026-03-02 14:00"))),
        ],
        extra_days: 0,
    };
    assert_eq!(
        span_elapsed_ms(&span, &china(), cst("2026-03-09 00:00")),
        16 * HOUR_MS
    );
}

#[test]
fn the_default_policy_and_category_overrides() {
    let p = People::new();
    let policy = DeadlinePolicy::default();
    let limits = |kind| policy.limits_for(&p.case(kind, Vec::new()));
    assert_eq!(
        limits(CaseKind::Appeal),
        StepLimits {
            accept_days: 1,
            handle_days: 5,
            verify_days: 2
        }
    );
    assert_eq!(limits(CaseKind::Dispute).handle_days, 10);
    assert_eq!(limits(CaseKind::Hazard).handle_days, 3);

    let fire = StepLimits {
        accept_days: 0,
        handle_days: 1,
        verify_days: 1,
    };
    let policy =
        DeadlinePolicy::default().with_category(CaseKind::Hazard, "fire_exit_blocked", fire);
    let mut case = p.case(CaseKind::Hazard, Vec::new());
    assert_eq!(policy.limits_for(&case).handle_days, 3);
    case.category = "fire_exit_blocked".into();
    assert_eq!(policy.limits_for(&case), fire);
    // The same category under another kind keeps that kind's limits.
    case.case_kind = CaseKind::Appeal;
    assert_eq!(policy.limits_for(&case).handle_days, 5);

    // A zero-day limit is due at once.
    let policy = DeadlinePolicy::default().with_kind(CaseKind::Appeal, fire);
    let case = p.case(CaseKind::Appeal, vec![p.w(A::Submit, "2026-03-02 09:00")]);
    let status = fold(&case);
    let d = deadline(&case, &status, &policy, &china(), cst("2026-03-02 09:00")).unwrap();
    assert_eq!(d.budget_ms, 0);
    assert_eq!(d.due_at, cst("2026-03-02 09:00"));
    assert_eq!(d.level, DeadlineLevel::Red);
}

#[test]
fn the_deadline_serializes_with_text_values() {
    let p = People::new();
    let case = p.case(CaseKind::Appeal, vec![p.w(A::Submit, "2026-03-02 09:00")]);
    let d = due(&case, &china(), cst("2026-03-02 21:00")).unwrap();
    let json = serde_json::to_value(&d).unwrap();
    assert_eq!(json["step"], "accept");
    assert_eq!(json["level"], "on_time");
    assert_eq!(json["due_at"], "2026-03-03T01:00:00.000Z");
    assert_eq!(json["fraction"], 0.5);
}

/// Working time counted the slow way: hour by hour (all test instants are on the hour).
fn naive_working_ms(cal: &WorkCalendar, from: Timestamp, to: Timestamp) -> i64 {
    let mut t = from;
    let mut total = 0;
    while t < to {
        if cal.is_working_day(cal.local_date(t)) {
            total += HOUR_MS;
        }
        t = t.plus_millis(HOUR_MS);
    }
    total
}

fn test_calendar() -> WorkCalendar {
    china()
        .with_holidays([date("2026-04-06"), date("2026-05-01"), date("2026-05-04")])
        .with_workdays([date("2026-04-26"), date("2026-05-09")])
}

proptest! {
    #[test]
    fn working_time_matches_an_hour_by_hour_count(start_h in 0i64..24 * 90, len_h in 0i64..24 * 40) {
        let cal = test_calendar();
        let from = cst("2026-03-30 00:00").plus_millis(start_h * HOUR_MS);
        let to = from.plus_millis(len_h * HOUR_MS);
        prop_assert_eq!(cal.working_ms_between(from, to), naive_working_ms(&cal, from, to));
    }

    #[test]
    fn adding_working_time_is_the_inverse_of_counting_it(
        start_ms in 0i64..90 * DAY_MS,
        ms in 1i64..30 * DAY_MS,
    ) {
        let cal = test_calendar();
        let from = cst("2026-03-30 00:00").plus_millis(start_ms);
        let end = cal.add_working_ms(from, ms);
        prop_assert_eq!(cal.working_ms_between(from, end), ms);
        // ... and the earliest such instant.
        prop_assert!(cal.working_ms_between(from, end.plus_millis(-1)) < ms);
    }
}
