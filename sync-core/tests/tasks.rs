//! What waits for each person: the task list folded from the cases they can see.

use sync_core::deadline::{DAY_MS, DeadlineLevel, DeadlinePolicy, WorkCalendar};
use sync_core::ids::{DocId, UserId};
use sync_core::models::case::{Case, CaseAction, CaseEvent, CaseKind, SupervisionLevel, Urgency};
use sync_core::record::{Place, Role};
use sync_core::tasks::{Person, tasks_for};
use sync_core::time::Timestamp;
use sync_core::workflow::new_event;

use CaseAction as A;

/// 2026-03-02T09:00:00+08:00, a Monday morning in China.
fn monday() -> Timestamp {
    "2026-03-02T01:00:00Z".parse().unwrap()
}

struct People {
    worker: UserId,
    worker2: UserId,
    community: UserId,
    street: UserId,
}

fn ev(actor: &UserId, role: Role, action: A, at: Timestamp) -> CaseEvent {
    let e = new_event(actor.clone(), role, action, at).with_device(actor.as_str().parse().unwrap());
    match action {
        A::Reject | A::Cancel | A::VerifyFail | A::DenyDelay => e.with_note("reason"),
        A::RequestDelay => e.with_delay_days(2),
        A::Supervise => e.with_level(SupervisionLevel::Red),
        _ => e,
    }
}

fn case(p: &People, subject: &str, opened: Timestamp, events: Vec<CaseEvent>) -> Case {
    Case {
        attachments: Vec::new(),
        id: DocId::new(),
        case_kind: CaseKind::Appeal,
        category: "neighbour_noise".into(),
        subject: subject.into(),
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
        opened_by: p.worker.clone(),
        opened_at: opened,
        events,
        mediation: Vec::new(),
        rectification: None,
    }
}

/// The cases of a grid on Wednesday, each waiting for someone.
fn grid(p: &People) -> Vec<Case> {
    let t = |h: i64| monday().plus_millis(h * 3_600_000);
    let (w, w2, c, s) = (&p.worker, &p.worker2, &p.community, &p.street);
    let (gw, cs, ss) = (
        Role::GridWorker,
        Role::CommunitySupervisor,
        Role::StreetSupervisor,
    );
    let dispatch_to = |who: &UserId, at| ev(c, cs, A::Dispatch, at).with_assignee(who.clone());
    vec![
        case(p, "draft", t(1), vec![]),
        case(p, "reported", t(40), vec![ev(w, gw, A::Submit, t(40))]),
        case(
            p,
            "escalated",
            t(41),
            vec![ev(w, gw, A::Submit, t(41)), ev(c, cs, A::Escalate, t(42))],
        ),
        case(
            p,
            "in progress, old",
            t(-7 * 24),
            vec![
                ev(w, gw, A::Submit, t(-7 * 24)),
                ev(c, cs, A::Accept, t(-7 * 24)),
                dispatch_to(w, t(-7 * 24 + 1)),
            ],
        ),
        case(
            p,
            "in progress, new",
            t(44),
            vec![
                ev(w, gw, A::Submit, t(44)),
                ev(c, cs, A::Accept, t(44)),
                dispatch_to(w, t(45)),
            ],
        ),
        case(
            p,
            "in progress, supervised",
            t(44),
            vec![
                ev(w, gw, A::Submit, t(44)),
                ev(c, cs, A::Accept, t(44)),
                dispatch_to(w, t(45)),
                ev(s, ss, A::Supervise, t(46)),
            ],
        ),
        case(
            p,
            "resolved by worker",
            t(46),
            vec![ev(w, gw, A::QuickResolve, t(46))],
        ),
        case(
            p,
            "verified",
            t(30),
            vec![
                ev(w, gw, A::QuickResolve, t(30)),
                ev(w2, gw, A::VerifyPass, t(31)),
            ],
        ),
        case(
            p,
            "closed",
            t(20),
            vec![
                ev(w, gw, A::QuickResolve, t(20)),
                ev(w2, gw, A::VerifyPass, t(21)),
                ev(c, cs, A::Close, t(22)),
            ],
        ),
    ]
}

fn list(user: &UserId, role: Role, cases: &[Case]) -> Vec<(String, A)> {
    let now = monday().plus_millis(2 * DAY_MS);
    tasks_for(
        Person {
            user,
            role,
            department: None,
        },
        cases,
        [],
        &DeadlinePolicy::default(),
        &WorkCalendar::china(),
        now,
    )
    .into_iter()
    .map(|t| (t.subject, t.action))
    .collect()
}

fn s(subject: &str, action: A) -> (String, A) {
    (subject.to_owned(), action)
}

#[test]
fn each_person_sees_what_waits_for_them_most_urgent_first() {
    let p = People {
        worker: UserId::new(),
        worker2: UserId::new(),
        community: UserId::new(),
        street: UserId::new(),
    };
    let cases = grid(&p);
    // The worker: the overdue case first, then the supervised one, then the rest by due time;
    // nothing they resolved themselves (someone else verifies it).
    assert_eq!(
        list(&p.worker, Role::GridWorker, &cases),
        [
            s("in progress, old", A::Resolve),
            s("in progress, supervised", A::Resolve),
            s("in progress, new", A::Resolve),
            s("draft", A::Submit),
        ]
    );
    // Another worker of the grid: only the check of the worker's resolution.
    assert_eq!(
        list(&p.worker2, Role::GridWorker, &cases),
        [s("resolved by worker", A::VerifyPass)]
    );
    // The community: accept, verify, close; not the escalated case (the street's now).
    let community = list(&p.community, Role::CommunitySupervisor, &cases);
    assert_eq!(
        community,
        [
            s("reported", A::Accept),
            s("resolved by worker", A::VerifyPass),
            s("verified", A::Close),
        ]
    );
    // The street: the escalated case only.
    assert_eq!(
        list(&p.street, Role::StreetSupervisor, &cases),
        [s("escalated", A::Accept)]
    );
    // A liaison has no case steps.
    assert!(list(&UserId::new(), Role::Liaison, &cases).is_empty());
}

#[test]
fn a_task_carries_its_deadline_and_supervision_apart() {
    let p = People {
        worker: UserId::new(),
        worker2: UserId::new(),
        community: UserId::new(),
        street: UserId::new(),
    };
    let cases = grid(&p);
    let now = monday().plus_millis(2 * DAY_MS);
    let tasks = tasks_for(
        Person {
            user: &p.worker,
            role: Role::GridWorker,
            department: None,
        },
        &cases,
        [],
        &DeadlinePolicy::default(),
        &WorkCalendar::china(),
        now,
    );
    let old = &tasks[0];
    assert_eq!(old.subject, "in progress, old");
    assert_eq!(old.level, Some(DeadlineLevel::Red));
    let supervised = tasks
        .iter()
        .find(|t| t.subject == "in progress, supervised")
        .unwrap();
    assert_eq!(supervised.supervision, Some(SupervisionLevel::Red));
    assert!(supervised.due_at.is_some());
    // The supervision is the street's; the deadline level is the clock's, separately.
    assert_eq!(supervised.level, Some(DeadlineLevel::OnTime));
    let draft = tasks.iter().find(|t| t.subject == "draft").unwrap();
    assert_eq!((draft.level, draft.due_at), (None, None));
}
