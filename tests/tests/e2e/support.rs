//! Shared pieces of the scenarios.

use sync_core::ids::{DocId, ItemId, UserId};
use sync_core::models::case::{Case, CaseAction, CaseEvent, CaseKind, Urgency};
use sync_core::models::household::{Address, Household, Resident};
use sync_core::record::{Place, Role};
use sync_core::time::Timestamp;

/// Runs each named scenario `async fn name(app: TestApp) -> anyhow::Result<()>` as two tests,
/// `name::sqlite` and `name::postgres`.
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                use gridbook_tests::{Backend, TestApp};

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() -> anyhow::Result<()> {
                    match TestApp::spawn(Backend::Sqlite).await? {
                        Some(app) => super::$name(app).await,
                        None => Ok(()),
                    }
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() -> anyhow::Result<()> {
                    match TestApp::spawn(Backend::Postgres).await? {
                        Some(app) => super::$name(app).await,
                        None => Ok(()),
                    }
                }
            }
        )+
    };
}
pub(crate) use on_both_backends;

/// A device clock reading `minutes` after a fixed morning.
pub fn at(minutes: i64) -> Timestamp {
    Timestamp::from_millis(1_772_416_800_000 + minutes * 60_000)
}

/// A resident with a valid ID number.
pub fn resident(name: &str, born: &str) -> Resident {
    gridbook_tests::resident_with_id_number(name, born).0
}

/// A household with one resident.
pub fn household(place: &Place, room: &str) -> Household {
    let mut h = Household::new(
        place.clone(),
        Address {
            compound: "乌江水岸".into(),
            building: "2".into(),
            unit: "1".into(),
            room: room.into(),
        },
    );
    h.residents.push(resident("王秀英", "19520304"));
    h
}

/// A submitted appeal opened by `worker`.
pub fn case(place: &Place, worker: &UserId) -> Case {
    Case {
        id: DocId::new(),
        case_kind: CaseKind::Appeal,
        category: "elderly_care".into(),
        subject: "独居老人需要助餐 meals for an elderly resident".into(),
        description: String::new(),
        place: place.clone(),
        location: None,
        household: None,
        parties: Vec::new(),
        urgency: Urgency::Normal,
        confidential: false,
        opened_by: worker.clone(),
        opened_at: at(0),
        events: vec![event(worker, Role::GridWorker, CaseAction::Submit, at(0))],
        mediation: Vec::new(),
        rectification: None,
    }
}

/// A case event.
pub fn event(actor: &UserId, role: Role, action: CaseAction, when: Timestamp) -> CaseEvent {
    CaseEvent {
        id: ItemId::new(),
        actor: actor.clone(),
        role,
        action,
        note: None,
        at: when,
        assignee: None,
        delay_days: None,
        level: None,
        target: None,
    }
}

/// Like [`on_both_backends`], starting each server with its settings adjusted by `adjust`
/// (a function `fn(&mut Settings)` next to the scenarios).
macro_rules! on_both_backends_with {
    ($adjust:ident => $($name:ident),+ $(,)?) => {
        $(
            mod $name {
                use gridbook_tests::{Backend, TestApp};

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() -> anyhow::Result<()> {
                    match TestApp::spawn_with(Backend::Sqlite, super::$adjust).await? {
                        Some(app) => super::$name(app).await,
                        None => Ok(()),
                    }
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() -> anyhow::Result<()> {
                    match TestApp::spawn_with(Backend::Postgres, super::$adjust).await? {
                        Some(app) => super::$name(app).await,
                        None => Ok(()),
                    }
                }
            }
        )+
    };
}
pub(crate) use on_both_backends_with;

/// The current time (the server's clock is the same machine's).
pub fn now() -> Timestamp {
    Timestamp::from_millis(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
    )
}
