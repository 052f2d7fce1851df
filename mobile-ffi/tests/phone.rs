//! The phone library's Rust API against the real server: sessions (expiry, revocation),
//! refusals, retries, and being offline. The Python end-to-end run is in
//! `python_bindings.rs`; killing a process mid-write is in `crash.rs`.

use std::sync::Arc;
use std::time::Duration;

use gridbook_mobile::{GridbookError, Phone};
use gridbook_tests::{Backend, PASSWORD, TestApp, TestUser};
use sync_core::models::HouseholdPrivate;
use sync_core::models::household::{Address, Household};
use sync_core::record::{Place, Role};

/// A server on its own runtime, so the phone's blocking calls can run on the test thread.
struct Server {
    rt: tokio::runtime::Runtime,
    app: Option<TestApp>,
}

impl Server {
    fn start(backend: Backend, access_ttl: Option<Duration>) -> Option<Self> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let app = rt
            .block_on(TestApp::spawn_with(backend, |s| {
                if let Some(ttl) = access_ttl {
                    s.access_ttl = ttl;
                }
            }))
            .unwrap()?;
        Some(Self { rt, app: Some(app) })
    }

    fn app(&self) -> &TestApp {
        self.app.as_ref().unwrap()
    }

    fn url(&self) -> String {
        self.app().url("")
    }

    fn user(&self, login: &str, role: Role, place: Place) -> TestUser {
        self.rt
            .block_on(self.app().user(login, role, place))
            .unwrap()
    }

    fn change_count(&self) -> i64 {
        self.rt.block_on(self.app().change_count()).unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(app) = self.app.take() {
            let _ = self.rt.block_on(app.stop());
        }
    }
}

/// The stores' key (a raw 256-bit key, as from the Keystore or Keychain).
const KEY: &str = "3a7f0c9e5b2d8461f7e3a0c5d9b2846e1f7a3c0d5e9b2846a1f3c7e0d5b9a264";

fn open(dir: &tempfile::TempDir, name: &str) -> Arc<Phone> {
    Phone::open(
        dir.path().join(name).to_string_lossy().into_owned(),
        KEY.into(),
    )
    .unwrap()
}

fn household(place: Place, room: &str) -> Household {
    Household::new(
        place,
        Address {
            compound: "乌江水岸".into(),
            building: "3".into(),
            unit: "1".into(),
            room: room.into(),
        },
    )
}

fn signed_in(server: &Server, dir: &tempfile::TempDir, login: &str) -> Arc<Phone> {
    let phone = open(dir, &format!("{login}.db"));
    phone
        .login(
            server.url(),
            login.into(),
            PASSWORD.into(),
            Some("test".into()),
        )
        .unwrap();
    phone
}

/// A server with grid worker `w` (grid `ca-1`) signed in on a fresh phone store.
fn worker_phone(
    backend: Backend,
    access_ttl: Option<Duration>,
) -> Option<(Server, tempfile::TempDir, Arc<Phone>)> {
    let server = Server::start(backend, access_ttl)?;
    server.user("w", Role::GridWorker, server.app().grid_a());
    let dir = tempfile::tempdir().unwrap();
    let phone = signed_in(&server, &dir, "w");
    Some((server, dir, phone))
}

fn on_both(test: impl Fn(Backend)) {
    test(Backend::Sqlite);
    test(Backend::Postgres);
}

#[test]
fn an_expiring_access_token_is_refreshed_before_sync_and_kept_across_restarts() {
    on_both(|backend| {
        let Some((server, dir, phone)) = worker_phone(backend, Some(Duration::from_secs(2))) else {
            return;
        };
        let first = phone.access_token().unwrap();
        phone
            .create_household(household(server.app().grid_a(), "101"))
            .unwrap();
        std::thread::sleep(Duration::from_millis(2100));
        let summary = phone.sync().unwrap();
        assert_eq!(summary.accepted, 1);
        let second = phone.access_token().unwrap();
        assert_ne!(first, second, "the token was rotated");
        // A reopened store keeps the session and syncs without signing in again.
        drop(phone);
        let phone = open(&dir, "w.db");
        assert_eq!(phone.account().unwrap().login, "w");
        assert_eq!(phone.sync().unwrap().pending, 0);
    });
}

#[test]
fn a_revoked_device_erases_its_records_at_its_next_contact() {
    on_both(|backend| {
        let Some((server, dir, phone)) = worker_phone(backend, None) else {
            return;
        };
        // A synced household with a resident's ID number, then an edit not yet sent.
        let mut home = household(server.app().grid_a(), "101");
        let (resident, identity, id_number) =
            gridbook_tests::resident_with_id_number("王秀英", "19520304");
        home.residents.push(resident);
        let mut private = HouseholdPrivate::empty(&home.id, home.place.clone());
        private.residents.push(identity);
        phone.create_household(home).unwrap();
        assert!(phone.save_household_private(private, None).unwrap());
        assert_eq!(phone.sync().unwrap().accepted, 2);
        phone
            .create_household(household(server.app().grid_a(), "102"))
            .unwrap();
        let lost_device = phone.device_id();

        // The phone is reported lost: its owner revokes it from another device.
        let tablet = server.rt.block_on(server.app().login(&TestUser {
            id: phone.account().unwrap().user_id,
            login: "w".into(),
            role: Role::GridWorker,
        }));
        let revoke = server.rt.block_on(
            server
                .app()
                .http
                .post(
                    server
                        .app()
                        .url(&format!("/v1/auth/devices/{lost_device}/revoke")),
                )
                .bearer_auth(&tablet.unwrap().access_token)
                .send(),
        );
        assert!(revoke.unwrap().status().is_success());

        // At its next contact it erases everything, the unsent edit included, and says so.
        let err = phone.sync().unwrap_err();
        assert!(matches!(err, GridbookError::Unauthorized { .. }), "{err}");
        assert!(err.to_string().contains("erased"), "{err}");
        assert!(phone.account().is_none());
        assert_eq!(phone.pending_count(), 0);
        assert!(phone.list(None, None, false, 100, 0).unwrap().is_empty());
        assert_ne!(phone.device_id(), lost_device, "a new device from now on");
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            assert!(!text.contains(&id_number), "the ID number survives on disk");
            assert!(!text.contains("乌江水岸"), "an address survives on disk");
        }

        // Signing in again (as a new device) brings back what the server has, and only that.
        phone
            .login(server.url(), "w".into(), PASSWORD.into(), None)
            .unwrap();
        assert_eq!(phone.sync().unwrap().received, 2);
        assert_eq!(
            server.change_count(),
            3,
            "the unsent household never arrived (the household's one change, its private \
             document's first change and the identities)"
        );
    });
}

#[test]
fn another_grids_record_is_refused_by_the_server_and_stays_pending_with_the_reason() {
    on_both(|backend| {
        let Some((server, _dir, phone)) = worker_phone(backend, None) else {
            return;
        };
        let foreign = household(server.app().grid_b(), "201");
        let mine = household(server.app().grid_a(), "202");
        phone.create_household(foreign.clone()).unwrap();
        phone.create_household(mine.clone()).unwrap();
        let summary = phone.sync().unwrap();
        assert_eq!(summary.accepted, 1);
        assert_eq!(summary.rejected.len(), 1);
        assert_eq!(summary.rejected[0].id, foreign.id);
        assert_eq!(summary.rejected[0].code, "forbidden");
        assert_eq!(summary.pending, 1);
        let entry = phone.record(foreign.id.to_string()).unwrap();
        assert!(entry.pending);
        assert_eq!(entry.rejection.unwrap().code, "forbidden");
        let listed = phone.list(None, None, true, 10, 0).unwrap();
        assert_eq!(listed.len(), 1);
        assert!(listed[0].rejected);
    });
}

#[test]
fn a_sync_whose_response_was_lost_is_retried_without_duplicating_anything() {
    on_both(|backend| {
        let Some((server, _dir, phone)) = worker_phone(backend, None) else {
            return;
        };
        for room in ["301", "302", "303"] {
            phone
                .create_household(household(server.app().grid_a(), room))
                .unwrap();
        }
        // The request reaches the server, but the response never reaches the phone.
        let prepared = phone.build_sync_request().unwrap();
        let token = phone.access_token().unwrap();
        let answer = server.rt.block_on(async {
            server
                .app()
                .http
                .post(server.app().url(&prepared.path))
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .body(prepared.body.clone())
                .send()
                .await
                .unwrap()
                .status()
        });
        assert!(answer.is_success());
        let stored = server.change_count();
        assert_eq!(stored, 3);
        assert_eq!(phone.pending_count(), 3, "the phone does not know yet");
        // The retry is a plain sync: the same changes again, nothing stored twice.
        let summary = phone.sync().unwrap();
        assert_eq!(summary.accepted, 3);
        assert_eq!(summary.pending, 0);
        assert_eq!(server.change_count(), stored);
        // A failed answer to the kept request is the server's error, and changes nothing.
        let err = phone.apply_sync_response(prepared.request_id.clone(), 503, b"{}".to_vec());
        assert!(matches!(err, Err(GridbookError::Network { .. })));
        assert_eq!(phone.pending_count(), 0);
    });
}

#[test]
fn offline_sync_is_a_network_error_and_loses_nothing() {
    let Some((mut server, _dir, phone)) = worker_phone(Backend::Sqlite, None) else {
        return;
    };
    phone
        .create_household(household(server.app().grid_a(), "401"))
        .unwrap();
    let app = server.app.take().unwrap();
    server.rt.block_on(app.stop()).unwrap();
    let err = phone.sync().unwrap_err();
    assert!(matches!(err, GridbookError::Network { .. }), "{err}");
    assert_eq!(phone.pending_count(), 1);
}

#[test]
fn wrong_passwords_and_bad_addresses_are_told_apart() {
    let Some(server) = Server::start(Backend::Sqlite, None) else {
        return;
    };
    server.user("w", Role::GridWorker, server.app().grid_a());
    let dir = tempfile::tempdir().unwrap();
    let phone = open(&dir, "p.db");
    let err = phone
        .login(server.url(), "w".into(), "guess-9f3k".into(), None)
        .unwrap_err();
    assert!(matches!(err, GridbookError::Unauthorized { .. }), "{err}");
    assert!(!err.to_string().contains("guess-9f3k"), "{err}");
    let err = phone
        .login("ftp://example".into(), "w".into(), PASSWORD.into(), None)
        .unwrap_err();
    assert!(matches!(err, GridbookError::Protocol { .. }), "{err}");
    let err = phone.sync().unwrap_err();
    assert!(matches!(err, GridbookError::Unauthorized { .. }), "{err}");
}

#[test]
fn a_password_reset_by_an_administrator_surfaces_as_password_change_required() {
    on_both(|backend| {
        let Some((server, _dir, phone)) = worker_phone(backend, None) else {
            return;
        };
        let temporary = "temporary river 9";
        server
            .rt
            .block_on(gridbook_server::accounts::reset_password(
                server.app().db(),
                "w",
                Some(temporary.into()),
            ))
            .unwrap();
        // The reset ended the phone's session: it signs in again with the temporary password.
        assert!(matches!(
            phone.sync(),
            Err(GridbookError::Unauthorized { .. })
        ));
        let account = phone
            .login(server.url(), "w".into(), temporary.into(), None)
            .unwrap();
        assert!(account.must_change_password);
        match phone.sync() {
            Err(GridbookError::PasswordChangeRequired { reason }) => {
                assert!(reason.contains("password_change_required"), "{reason}");
            }
            other => panic!("expected PasswordChangeRequired, got {other:?}"),
        }
        // A common new password is refused; a good one works, and sync goes on.
        assert!(
            phone
                .change_password(temporary.into(), "password123".into())
                .is_err()
        );
        assert!(matches!(
            phone.change_password("wrong".into(), "quiet river lantern".into()),
            Err(GridbookError::Forbidden { .. })
        ));
        phone
            .change_password(temporary.into(), "quiet river lantern".into())
            .unwrap();
        assert!(!phone.account().unwrap().must_change_password);
        phone.sync().unwrap();
    });
}

#[test]
fn an_archived_households_private_document_leaves_the_store() {
    on_both(|backend| {
        let Some((server, dir, phone)) = worker_phone(backend, None) else {
            return;
        };
        let boss = server.user("boss", Role::CommunitySupervisor, server.app().grid_a());
        let mut home = household(server.app().grid_a(), "101");
        let (resident, identity, id_number) =
            gridbook_tests::resident_with_id_number("王秀英", "19520304");
        home.residents.push(resident);
        let mut private = HouseholdPrivate::empty(&home.id, home.place.clone());
        private.residents.push(identity);
        phone.create_household(home.clone()).unwrap();
        assert!(phone.save_household_private(private, None).unwrap());
        phone.sync().unwrap();
        let mut moved = phone.household(home.id.to_string()).unwrap();
        moved.status = sync_core::models::household::HouseholdStatus::MovedOut;
        phone.update_household(moved, None).unwrap();
        phone.sync().unwrap();

        // A supervisor archives it; the phone's next sync drops the private document.
        let boss = server.rt.block_on(server.app().login(&boss));
        let archived = server.rt.block_on(
            server
                .app()
                .http
                .post(
                    server
                        .app()
                        .url(&format!("/v1/households/{}/archive", home.id)),
                )
                .bearer_auth(&boss.unwrap().access_token)
                .json(&serde_json::json!({"reason": "全户迁往铜仁"}))
                .send(),
        );
        assert!(archived.unwrap().status().is_success());
        phone.sync().unwrap();
        assert!(
            phone
                .household_private(home.id.to_string())
                .unwrap()
                .is_none()
        );
        assert!(
            phone.household(home.id.to_string()).is_ok(),
            "the household stays"
        );
        // Gone from the store too, not only from memory.
        drop(phone);
        let phone = open(&dir, "w.db");
        assert!(
            phone
                .household_private(home.id.to_string())
                .unwrap()
                .is_none()
        );
        let listed = phone.list(None, None, false, 100, 0).unwrap();
        assert_eq!(listed.len(), 1, "{listed:?}");
        assert!(!format!("{listed:?}").contains(&id_number));
    });
}

/// A supervisor's case action through the review API.
fn act(server: &Server, token: &str, case: &str, body: serde_json::Value) -> serde_json::Value {
    server.rt.block_on(async {
        let response = server
            .app()
            .http
            .post(server.app().url(&format!("/v1/cases/{case}/actions")))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: serde_json::Value = response.json().await.unwrap();
        assert!(status.is_success(), "{status} {body}");
        body
    })
}

/// The task list follows the loop: the dispatch that a sync brings puts the case on the
/// worker's list; once resolved it leaves that list and waits on another worker's phone for
/// verification, which its resolver may not give.
#[test]
fn my_tasks_follow_a_case_from_dispatch_to_verification() {
    use sync_core::models::case::CaseAction;
    on_both(|backend| {
        let Some((server, dir, phone)) = worker_phone(backend, None) else {
            return;
        };
        let boss = server.user("boss", Role::CommunitySupervisor, server.app().grid_a());
        server.user("w2", Role::GridWorker, server.app().grid_a());
        let other = signed_in(&server, &dir, "w2");
        let me = phone.account().unwrap().user_id;
        let case = gridbook_tests::draft_case(&server.app().grid_a(), &me);
        let id = case.id.to_string();
        phone.create_case(case).unwrap();
        let actions = |p: &Phone| -> Vec<CaseAction> {
            p.my_tasks()
                .unwrap()
                .into_iter()
                .map(|t| t.action)
                .collect()
        };
        assert_eq!(actions(&phone), [CaseAction::Submit]);
        phone
            .add_case_event(id.clone(), CaseAction::Submit, None, None, None)
            .unwrap();
        assert!(actions(&phone).is_empty());
        phone.sync().unwrap();

        let token = server
            .rt
            .block_on(server.app().login(&boss))
            .unwrap()
            .access_token;
        act(
            &server,
            &token,
            &id,
            serde_json::json!({"action": "accept"}),
        );
        act(
            &server,
            &token,
            &id,
            serde_json::json!({"action": "dispatch", "assignee": me.to_string()}),
        );
        phone.sync().unwrap();
        let tasks = phone.my_tasks().unwrap();
        assert_eq!(tasks.len(), 1, "{tasks:?}");
        assert_eq!(
            (tasks[0].action, tasks[0].state.as_deref()),
            (CaseAction::Resolve, Some("in_progress"))
        );
        assert_eq!(tasks[0].deadline_level.as_deref(), Some("on_time"));

        phone
            .add_case_event(id.clone(), CaseAction::Resolve, None, None, None)
            .unwrap();
        assert!(actions(&phone).is_empty());
        let own = phone
            .add_case_event(id.clone(), CaseAction::VerifyPass, None, None, None)
            .unwrap_err();
        assert!(
            own.to_string()
                .contains("someone other than who resolved it"),
            "{own}"
        );
        phone.sync().unwrap();

        other.sync().unwrap();
        assert_eq!(actions(&other), [CaseAction::VerifyPass]);
        let progress = other
            .add_case_event(id.clone(), CaseAction::VerifyPass, None, None, None)
            .unwrap();
        assert_eq!(progress.state, "verified");
        other.sync().unwrap();
        let closed = act(&server, &token, &id, serde_json::json!({"action": "close"}));
        assert_eq!(closed["case_status"]["state"], "closed");
    });
}

/// A liaison's report (随手报) goes from their phone to the grid worker's task list; the
/// worker accepts it as a case, and the liaison's phone shows the outcome and nothing of the
/// case. A report about a household outside the liaison's group is refused by the server.
#[test]
fn a_liaisons_report_reaches_the_worker_and_the_outcome_reaches_the_liaison() {
    use sync_core::ids::LiaisonGroupId;
    use sync_core::models::case::{CaseAction, CaseKind};
    use sync_core::models::report::TriageDecision;
    use sync_core::record::RecordKind;
    on_both(|backend| {
        let Some((server, dir, worker)) = worker_phone(backend, None) else {
            return;
        };
        let group: LiaisonGroupId = "ca-1-g1".parse().unwrap();
        server.rt.block_on(async {
            server
                .app()
                .user_in_group(
                    "lh",
                    Role::Liaison,
                    server.app().grid_a(),
                    Some(group.clone()),
                )
                .await
                .unwrap();
        });
        let mut ours = household(server.app().grid_a(), "101");
        ours.liaison_group = Some(group.clone());
        let theirs = household(server.app().grid_a(), "102");
        worker.create_household(ours.clone()).unwrap();
        worker.create_household(theirs.clone()).unwrap();
        worker.sync().unwrap();

        let liaison = signed_in(&server, &dir, "lh");
        liaison.sync().unwrap();
        let report = liaison
            .report(
                "3栋楼道堆满纸箱，影响通行".into(),
                Some("乌江水岸3栋1单元".into()),
                vec![ours.id.clone()],
            )
            .unwrap();
        let stray = liaison
            .report("隔壁单元漏水".into(), None, vec![theirs.id.clone()])
            .unwrap();
        let summary = liaison.sync().unwrap();
        assert_eq!(summary.rejected.len(), 1, "{summary:?}");
        assert_eq!(summary.rejected[0].id, stray);
        assert!(
            summary.rejected[0].message.contains("liaison group"),
            "{summary:?}"
        );

        // The worker's phone: the report waits for triage; accepted, it becomes a draft case.
        worker.sync().unwrap();
        let tasks = worker.my_tasks().unwrap();
        assert_eq!(tasks.len(), 1, "{tasks:?}");
        assert_eq!(
            (tasks[0].kind, tasks[0].action, tasks[0].record_id.clone()),
            (RecordKind::Report, CaseAction::Accept, report.clone())
        );
        let case = worker
            .accept_report(
                report.to_string(),
                CaseKind::Hazard,
                "fire_exit_blocked".into(),
            )
            .unwrap();
        let actions: Vec<_> = worker
            .my_tasks()
            .unwrap()
            .into_iter()
            .map(|t| t.action)
            .collect();
        assert_eq!(actions, [CaseAction::Submit]);
        worker.sync().unwrap();

        // The liaison's phone: the outcome, never the case.
        liaison.sync().unwrap();
        let seen = liaison.get_report(report.to_string()).unwrap();
        let triage = seen.triage.expect("triaged");
        assert_eq!(triage.decision, TriageDecision::Accepted);
        assert_eq!(triage.case.as_ref(), Some(&case));
        assert!(
            liaison.case(case.to_string()).is_err(),
            "the case stays off the liaison's phone"
        );
        assert!(liaison.my_tasks().unwrap().is_empty());
    });
}

/// Department staff (站所) on a phone: the case dispatched to their department arrives with
/// the sync, waits on their task list, and their resolution names their department.
#[test]
fn a_department_phone_resolves_what_is_dispatched_to_its_department() {
    use sync_core::models::case::CaseAction;
    on_both(|backend| {
        let Some((server, dir, worker)) = worker_phone(backend, None) else {
            return;
        };
        let boss = server.user("boss", Role::CommunitySupervisor, server.app().grid_a());
        server.rt.block_on(async {
            server
                .app()
                .department_user("officer", "pcs", "派出所")
                .await
                .unwrap();
        });
        let officer = signed_in(&server, &dir, "officer");
        assert_eq!(
            officer.account().unwrap().department.map(|d| d.to_string()),
            Some("pcs".to_owned())
        );
        officer.sync().unwrap();
        assert!(officer.my_tasks().unwrap().is_empty());

        let me = worker.account().unwrap().user_id;
        let case = gridbook_tests::draft_case(&server.app().grid_a(), &me);
        let id = case.id.to_string();
        worker.create_case(case).unwrap();
        worker
            .add_case_event(id.clone(), CaseAction::Submit, None, None, None)
            .unwrap();
        worker.sync().unwrap();
        let token = server
            .rt
            .block_on(server.app().login(&boss))
            .unwrap()
            .access_token;
        act(
            &server,
            &token,
            &id,
            serde_json::json!({"action": "accept"}),
        );
        act(
            &server,
            &token,
            &id,
            serde_json::json!({"action": "dispatch", "department": "pcs"}),
        );

        officer.sync().unwrap();
        let tasks = officer.my_tasks().unwrap();
        assert_eq!(tasks.len(), 1, "{tasks:?}");
        assert_eq!(tasks[0].action, CaseAction::Resolve);
        let progress = officer
            .add_case_event(
                id.clone(),
                CaseAction::Resolve,
                Some("已处理".into()),
                None,
                None,
            )
            .unwrap();
        assert_eq!(progress.state, "resolved");
        let summary = officer.sync().unwrap();
        assert!(summary.rejected.is_empty(), "{summary:?}");
        let last = officer.case(id.clone()).unwrap().events.pop().unwrap();
        assert_eq!(
            last.department.map(|d| d.to_string()),
            Some("pcs".to_owned())
        );
        // The grid worker, not the resolver, verifies it.
        worker.sync().unwrap();
        assert_eq!(
            worker
                .my_tasks()
                .unwrap()
                .into_iter()
                .map(|t| t.action)
                .collect::<Vec<_>>(),
            [CaseAction::VerifyPass]
        );
    });
}

/// 三资 offline: a worker's two phones each record a ledger entry before syncing; both are
/// kept (the ledger is a list, appended to), both reach the server's account of the asset,
/// and an invalid entry is refused on the phone with nothing written. The app labels codes
/// from the same vocabulary as the console.
#[test]
fn ledger_entries_recorded_offline_on_two_phones_are_both_kept() {
    use sync_core::ids::DocId;
    use sync_core::models::asset::{Asset, AssetKind, LedgerDirection};

    on_both(|backend| {
        let Some((server, dir, phone)) = worker_phone(backend, None) else {
            return;
        };
        let me = phone.account().unwrap().user_id;
        let asset = Asset {
            id: DocId::new(),
            place: server.app().grid_a(),
            asset_kind: AssetKind::FixedAsset,
            name: "丁字口社区临街门面".into(),
            description: String::new(),
            value_fen: 240_000_000,
            leases: Vec::new(),
            ledger: Vec::new(),
        };
        phone.create_asset(asset.clone()).unwrap();
        phone.sync().unwrap();
        let other = open(&dir, "w-second.db");
        other
            .login(
                server.url(),
                "w".into(),
                PASSWORD.into(),
                Some("second".into()),
            )
            .unwrap();
        other.sync().unwrap();
        let id = asset.id.to_string();
        let today = sync_core::time::Timestamp::from_millis(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0)),
        )
        .china_date();
        let rent = phone
            .add_ledger_entry(
                id.clone(),
                today,
                LedgerDirection::Income,
                5_000_000,
                "门面租金".into(),
            )
            .unwrap();
        let repair = other
            .add_ledger_entry(
                id.clone(),
                today,
                LedgerDirection::Expense,
                120_000,
                "公共区域维修".into(),
            )
            .unwrap();
        assert_eq!(rent.recorded_by, me);
        assert!(
            phone
                .add_ledger_entry(
                    id.clone(),
                    today,
                    LedgerDirection::Income,
                    -1,
                    "负数".into()
                )
                .is_err(),
            "a negative amount is refused"
        );
        assert_eq!(phone.asset(id.clone()).unwrap().ledger.len(), 1);
        phone.sync().unwrap();
        other.sync().unwrap();
        phone.sync().unwrap();
        for p in [&phone, &other] {
            let ledger = p.asset(id.clone()).unwrap().ledger;
            let ids: Vec<_> = ledger.iter().map(|e| e.id.clone()).collect();
            assert_eq!(ledger.len(), 2, "{ledger:?}");
            assert!(ids.contains(&rent.id) && ids.contains(&repair.id));
        }
        let boss = server.user("boss", Role::CommunitySupervisor, server.app().grid_a());
        let token = server
            .rt
            .block_on(server.app().login(&boss))
            .unwrap()
            .access_token;
        let (status, account) = server
            .rt
            .block_on(
                server
                    .app()
                    .get_json(&format!("/v1/assets/{id}/account"), Some(&token)),
            )
            .unwrap();
        assert_eq!(status, 200, "{account}");
        assert_eq!(
            account["ledger"].as_array().map(Vec::len),
            Some(2),
            "{account}"
        );
        assert_eq!(account["income_fen"], 5_000_000);
        assert_eq!(account["expense_fen"], 120_000);

        assert_eq!(
            gridbook_mobile::label("ledger_direction".into(), "income".into(), false),
            "收入"
        );
        assert_eq!(
            gridbook_mobile::label("case_state".into(), "closed".into(), true),
            sync_core::workflow::CaseState::Closed.label_en()
        );
        assert_eq!(
            gridbook_mobile::label("special_group".into(), "a_new_code".into(), false),
            "a_new_code"
        );
        let vocabulary = gridbook_mobile::vocabulary();
        assert!(vocabulary.iter().any(|g| g.name == "report_figure"));
    });
}

// ---- attachments -----------------------------------------------------------------------

mod attachments {
    use super::*;
    use gridbook_mobile::{AttachOptions, AttachSource, BlobState};
    use image::{DynamicImage, ImageDecoder, ImageEncoder, ImageFormat, ImageReader, RgbImage};
    use sync_core::ids::BlobHash;
    use sync_core::models::attachment::AttachmentStage;
    use sync_core::models::case::CaseAction;

    /// An HTTP client that reports 4xx/5xx as answers, not errors.
    fn agent() -> ureq::Agent {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into()
    }

    /// `GET /v1/blobs/{sha}` as the phone's user: status and body.
    fn get_blob(server: &Server, phone: &Phone, sha: &str) -> (u16, Vec<u8>) {
        let token = phone.access_token().unwrap();
        let mut answer = agent()
            .get(server.app().url(&format!("/v1/blobs/{sha}")))
            .header("Authorization", &format!("Bearer {token}"))
            .call()
            .unwrap();
        let status = answer.status().as_u16();
        let body = answer
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_vec()
            .unwrap();
        (status, body)
    }

    /// A PNG of noise (kept byte for byte by the phone: small, no metadata).
    fn noise_png(side: u32, seed: u32) -> Vec<u8> {
        let mut state = seed;
        let image = RgbImage::from_fn(side, side, |_, _| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let [a, b, c, _] = state.to_le_bytes();
            image::Rgb([a, b, c])
        });
        let mut out = Vec::new();
        DynamicImage::ImageRgb8(image)
            .write_to(&mut std::io::Cursor::new(&mut out), ImageFormat::Png)
            .unwrap();
        out
    }

    /// A PDF-signed file of `len` bytes of noise (the phone keeps PDFs as they are).
    fn noise_pdf(len: usize, seed: u32) -> Vec<u8> {
        let mut out = b"%PDF-1.7\n".to_vec();
        let mut state = seed;
        while out.len() < len {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            out.extend_from_slice(&state.to_le_bytes());
        }
        out.truncate(len);
        out
    }

    /// A big-endian EXIF (TIFF) chunk with an upright orientation and a GPS IFD pointer.
    fn exif_with_gps() -> Vec<u8> {
        let mut t = b"MM\0\x2a".to_vec();
        t.extend_from_slice(&8u32.to_be_bytes());
        t.extend_from_slice(&2u16.to_be_bytes());
        for (tag, kind, value) in [(0x0112u16, 3u16, 1u32 << 16), (0x8825, 4, 38)] {
            t.extend_from_slice(&tag.to_be_bytes());
            t.extend_from_slice(&kind.to_be_bytes());
            t.extend_from_slice(&1u32.to_be_bytes());
            t.extend_from_slice(&value.to_be_bytes());
        }
        t.extend_from_slice(&0u32.to_be_bytes());
        t.extend_from_slice(&0u16.to_be_bytes());
        t.extend_from_slice(&0u32.to_be_bytes());
        t
    }

    /// A 4000 x 3000 camera JPEG with a GPS position in its EXIF segment.
    fn camera_jpeg() -> Vec<u8> {
        let image = RgbImage::from_fn(4000, 3000, |x, y| {
            image::Rgb([(x / 16) as u8, (y / 12) as u8, ((x ^ y) & 0xFF) as u8])
        });
        let mut out = Vec::new();
        let mut encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90);
        encoder.set_exif_metadata(exif_with_gps()).unwrap();
        DynamicImage::ImageRgb8(image)
            .write_with_encoder(encoder)
            .unwrap();
        out
    }

    /// Width, height and EXIF chunk of a JPEG.
    fn jpeg_facts(bytes: &[u8]) -> (u32, u32, Option<Vec<u8>>) {
        let reader = ImageReader::with_format(std::io::Cursor::new(bytes), ImageFormat::Jpeg);
        let mut decoder = reader.into_decoder().unwrap();
        let (w, h) = decoder.dimensions();
        (w, h, decoder.exif_metadata().unwrap())
    }

    fn has_gps(exif: &[u8]) -> bool {
        exif.windows(2).any(|w| w == [0x88, 0x25])
    }

    fn bytes(bytes: Vec<u8>) -> AttachSource {
        AttachSource::Bytes { bytes }
    }

    fn situation() -> AttachOptions {
        AttachOptions {
            stage: Some(AttachmentStage::Situation),
            ..AttachOptions::default()
        }
    }

    /// Syncs the records only (as an app moving the bytes itself), not the attachments.
    fn sync_records_only(server: &Server, phone: &Phone) {
        loop {
            let prepared = phone.build_sync_request().unwrap();
            let token = phone.access_token().unwrap();
            let mut answer = agent()
                .post(server.app().url(&prepared.path))
                .header("Authorization", &format!("Bearer {token}"))
                .header("Content-Type", "application/json")
                .send(&prepared.body[..])
                .unwrap();
            let status = answer.status().as_u16();
            let body = answer.body_mut().read_to_vec().unwrap();
            let summary = phone
                .apply_sync_response(prepared.request_id, status, body)
                .unwrap();
            if !summary.sync_again {
                break;
            }
        }
    }

    #[test]
    fn two_phones_attach_photos_to_one_case_offline_and_both_reach_the_server() {
        on_both(|backend| {
            let Some((server, dir, first)) = worker_phone(backend, None) else {
                return;
            };
            server.user("w2", Role::GridWorker, server.app().grid_a());
            let second = signed_in(&server, &dir, "w2");
            let me = first.account().unwrap().user_id;
            let case = gridbook_tests::draft_case(&server.app().grid_a(), &me);
            let id = case.id.to_string();
            first.create_case(case).unwrap();
            first
                .add_case_event(id.clone(), CaseAction::Submit, None, None, None)
                .unwrap();
            first.sync().unwrap();
            second.sync().unwrap();

            // Both attach while offline (nothing is sent until they sync).
            let (one, two) = (noise_png(300, 1), noise_png(300, 2));
            let a = first
                .attach(id.clone(), bytes(one.clone()), situation())
                .unwrap();
            let b = second
                .attach(id.clone(), bytes(two.clone()), situation())
                .unwrap();
            assert_eq!(a.sha256, BlobHash::of(&one));
            assert_eq!(b.sha256, BlobHash::of(&two));
            let status = first.attachment_status(a.sha256.to_string()).unwrap();
            assert_eq!(status.state, BlobState::Unsent);
            assert!(status.full_on_phone && status.thumbnail_on_phone);

            let summary = first.sync().unwrap();
            assert_eq!((summary.blobs_uploaded, summary.blobs_pending), (1, 0));
            assert_eq!(summary.blob_bytes_sent, one.len() as u64);
            assert_eq!(summary.blob_error, None);
            let summary = second.sync().unwrap();
            assert_eq!((summary.blobs_uploaded, summary.blobs_pending), (1, 0));
            // The second phone got the first one's reference, and its thumbnail.
            assert_eq!(summary.thumbnails_fetched, 1);
            let summary = first.sync().unwrap();
            assert_eq!(summary.thumbnails_fetched, 1);

            for phone in [&first, &second] {
                let attached = phone.case(id.clone()).unwrap().attachments;
                let mut hashes: Vec<_> = attached.iter().map(|a| a.sha256.clone()).collect();
                hashes.sort();
                let mut expected = vec![a.sha256.clone(), b.sha256.clone()];
                expected.sort();
                assert_eq!(hashes, expected);
            }
            for (sha, original) in [(&a.sha256, &one), (&b.sha256, &two)] {
                assert_eq!(
                    get_blob(&server, &first, sha.as_str()),
                    (200, original.clone())
                );
            }
            // The other phone's photo: a thumbnail for lists, the full size on demand.
            let thumb = first.attachment_bytes(b.sha256.to_string(), false).unwrap();
            let thumb = image::load_from_memory(&thumb).unwrap();
            assert!(thumb.width().max(thumb.height()) <= 320);
            let status = first.attachment_status(b.sha256.to_string()).unwrap();
            assert_eq!(status.state, BlobState::OnServer);
            assert!(!status.full_on_phone && status.thumbnail_on_phone);
            assert_eq!(
                first.attachment_bytes(b.sha256.to_string(), true).unwrap(),
                two
            );
            assert!(
                first
                    .attachment_status(b.sha256.to_string())
                    .unwrap()
                    .full_on_phone
            );
        });
    }

    #[test]
    fn an_interrupted_upload_continues_from_what_the_server_holds() {
        on_both(|backend| {
            let Some((server, _dir, phone)) = worker_phone(backend, None) else {
                return;
            };
            let me = phone.account().unwrap().user_id;
            let case = gridbook_tests::draft_case(&server.app().grid_a(), &me);
            let id = case.id.to_string();
            phone.create_case(case).unwrap();
            // 1.2 MB: several upload requests of 256 KiB.
            let file = noise_pdf(1_200_000, 9);
            let a = phone.attach(id, bytes(file.clone()), situation()).unwrap();
            let sha = a.sha256.to_string();
            sync_records_only(&server, &phone);

            // The first 60 % reached the server before the connection was lost.
            let sent = file.len() * 6 / 10;
            let token = phone.access_token().unwrap();
            let mut answer = agent()
                .put(server.app().url(&format!("/v1/blobs/{sha}")))
                .header("Authorization", &format!("Bearer {token}"))
                .header("Content-Type", "application/pdf")
                .header(
                    "Content-Range",
                    &format!("bytes 0-{}/{}", sent - 1, file.len()),
                )
                .send(&file[..sent])
                .unwrap();
            assert_eq!(answer.status().as_u16(), 202);
            let body: serde_json::Value = answer.body_mut().read_json().unwrap();
            assert_eq!(body["received"], sent as u64);
            assert_eq!(get_blob(&server, &phone, &sha).0, 404);

            let summary = phone.sync().unwrap();
            assert_eq!((summary.blobs_uploaded, summary.blobs_pending), (1, 0));
            assert_eq!(summary.blob_bytes_sent, (file.len() - sent) as u64);
            let status = phone.attachment_status(sha.clone()).unwrap();
            assert_eq!(status.state, BlobState::OnServer);
            assert_eq!(status.uploaded_bytes, file.len() as u64);
            assert_eq!(get_blob(&server, &phone, &sha), (200, file));
            // Nothing is sent twice.
            assert_eq!(phone.sync().unwrap().blob_bytes_sent, 0);
        });
    }

    #[test]
    fn blobs_wait_for_their_record_and_unsent_ones_are_never_evicted() {
        let Some((server, _dir, phone)) = worker_phone(Backend::Sqlite, None) else {
            return;
        };
        let home = household(server.app().grid_a(), "101");
        let id = home.id.to_string();
        phone.create_household(home).unwrap();
        // A quota of one byte, offline: nothing the server lacks is dropped.
        phone.set_attachment_quota(1).unwrap();
        let files: Vec<Vec<u8>> = (0..3).map(|i| noise_pdf(100_000, 20 + i)).collect();
        let mut hashes = Vec::new();
        for file in &files {
            let a = phone
                .attach(id.clone(), bytes(file.clone()), situation())
                .unwrap();
            hashes.push(a.sha256.to_string());
        }
        assert_eq!(phone.attachment_bytes_on_phone().unwrap(), 300_000);
        for (sha, file) in hashes.iter().zip(&files) {
            assert_eq!(&phone.attachment_bytes(sha.clone(), true).unwrap(), file);
        }
        // Offline, the sync fails and still nothing is dropped.
        let mut server = server;
        server
            .rt
            .block_on(server.app.take().unwrap().stop())
            .unwrap();
        assert!(matches!(
            phone.sync().unwrap_err(),
            GridbookError::Network { .. }
        ));
        assert_eq!(phone.attachment_bytes_on_phone().unwrap(), 300_000);
        drop(server);

        // Once the server holds them they may go, and come back on demand.
        let Some((server, _dir2, phone)) = worker_phone(Backend::Sqlite, None) else {
            return;
        };
        let home = household(server.app().grid_a(), "102");
        let id = home.id.to_string();
        phone.create_household(home).unwrap();
        phone.set_attachment_quota(1).unwrap();
        let file = noise_pdf(100_000, 30);
        let sha = phone
            .attach(id, bytes(file.clone()), situation())
            .unwrap()
            .sha256
            .to_string();
        // A photo of a record the server refuses (another grid's) waits, and says so.
        let elsewhere = household(server.app().grid_b(), "103");
        let elsewhere_id = elsewhere.id.to_string();
        phone.create_household(elsewhere).unwrap();
        let waiting = phone
            .attach(elsewhere_id, bytes(noise_pdf(5_000, 31)), situation())
            .unwrap()
            .sha256
            .to_string();
        let summary = phone.sync().unwrap();
        assert_eq!(summary.rejected.len(), 1);
        assert_eq!((summary.blobs_uploaded, summary.blobs_pending), (1, 1));
        assert_eq!(summary.blob_bytes_sent, file.len() as u64);
        assert_eq!(summary.blob_error, None);
        let status = phone.attachment_status(waiting).unwrap();
        assert_eq!(status.state, BlobState::Unsent);
        assert!(status.full_on_phone);
        let status = phone.attachment_status(sha.clone()).unwrap();
        assert_eq!(status.state, BlobState::OnServer);
        assert!(
            !status.full_on_phone,
            "uploaded bytes beyond the quota are evicted"
        );
        assert_eq!(phone.attachment_bytes_on_phone().unwrap(), 5_000);
        assert_eq!(phone.attachment_bytes(sha, true).unwrap(), file);
    }

    #[test]
    fn photos_are_downscaled_and_lose_their_location_unless_asked() {
        let dir = tempfile::tempdir().unwrap();
        let phone = open(&dir, "photos.db");
        let home = household(
            Place {
                community: "ca".parse().unwrap(),
                grid: "ca-1".parse().unwrap(),
            },
            "201",
        );
        let id = home.id.to_string();
        phone.create_household(home).unwrap();
        let camera = camera_jpeg();
        let (_, _, exif) = jpeg_facts(&camera);
        assert!(
            exif.as_deref().is_some_and(has_gps),
            "the test photo has a GPS pointer"
        );

        let plain = phone
            .attach(id.clone(), bytes(camera.clone()), situation())
            .unwrap();
        assert_eq!((plain.width, plain.height), (Some(1600), Some(1200)));
        let stored = phone
            .attachment_bytes(plain.sha256.to_string(), true)
            .unwrap();
        assert_eq!(stored.len() as u64, plain.size);
        assert_eq!(jpeg_facts(&stored), (1600, 1200, None));

        let kept = phone
            .attach(
                id.clone(),
                bytes(camera.clone()),
                AttachOptions {
                    keep_location: true,
                    ..situation()
                },
            )
            .unwrap();
        let stored = phone
            .attachment_bytes(kept.sha256.to_string(), true)
            .unwrap();
        let (w, h, exif) = jpeg_facts(&stored);
        assert_eq!((w, h), (1600, 1200));
        assert!(exif.as_deref().is_some_and(has_gps), "kept on request");

        // A smaller setting applies to the next photo; a file the camera wrote works alike.
        phone.set_photo_max_side(800);
        let file = dir.path().join("camera.jpg");
        std::fs::write(&file, &camera).unwrap();
        let path = AttachSource::Path {
            path: file.to_string_lossy().into_owned(),
        };
        let small = phone.attach(id.clone(), path, situation()).unwrap();
        let missing = AttachSource::Path {
            path: dir.path().join("gone.jpg").to_string_lossy().into_owned(),
        };
        let err = phone.attach(id.clone(), missing, situation()).unwrap_err();
        assert!(
            matches!(err, GridbookError::UnsupportedFile { .. }),
            "{err}"
        );
        assert_eq!((small.width, small.height), (Some(800), Some(600)));

        // Anything but a photo or a PDF is refused, and nothing is attached.
        let err = phone
            .attach(id.clone(), bytes(b"PK\x03\x04 a zip".to_vec()), situation())
            .unwrap_err();
        assert!(
            matches!(err, GridbookError::UnsupportedFile { .. }),
            "{err}"
        );
        // A stage a household does not admit is the record's rule.
        let err = phone
            .attach(
                id.clone(),
                bytes(noise_png(50, 3)),
                AttachOptions {
                    stage: Some(AttachmentStage::After),
                    ..AttachOptions::default()
                },
            )
            .unwrap_err();
        assert!(matches!(err, GridbookError::InvalidRecord { .. }), "{err}");
        assert_eq!(phone.household(id).unwrap().attachments.len(), 3);
    }

    #[test]
    fn a_record_takes_at_most_a_hundred_attachments() {
        let dir = tempfile::tempdir().unwrap();
        let phone = open(&dir, "many.db");
        let home = household(
            Place {
                community: "ca".parse().unwrap(),
                grid: "ca-1".parse().unwrap(),
            },
            "301",
        );
        let id = home.id.to_string();
        phone.create_household(home).unwrap();
        let file = |i: u32| format!("%PDF-1.7\n% page {i}\n").into_bytes();
        for i in 0..100 {
            phone
                .attach(id.clone(), bytes(file(i)), situation())
                .unwrap();
        }
        let err = phone
            .attach(id.clone(), bytes(file(100)), situation())
            .unwrap_err();
        assert!(matches!(err, GridbookError::Conflict { .. }), "{err}");
        assert!(err.to_string().contains("100"), "{err}");
        assert_eq!(phone.household(id).unwrap().attachments.len(), 100);
        // The refused file's bytes were not kept.
        let kept: u64 = (0..100).map(|i| file(i).len() as u64).sum();
        assert_eq!(phone.attachment_bytes_on_phone().unwrap(), kept);
    }

    #[test]
    fn bytes_that_do_not_match_their_hash_are_refused_without_failing_the_sync() {
        let Some((server, dir, phone)) = worker_phone(Backend::Sqlite, None) else {
            return;
        };
        let home = household(server.app().grid_a(), "401");
        let id = home.id.to_string();
        phone.create_household(home).unwrap();
        let file = noise_pdf(300_000, 40);
        let sha = phone
            .attach(id, bytes(file), situation())
            .unwrap()
            .sha256
            .to_string();
        // The stored bytes change behind the phone's back (a damaged flash page, say).
        let conn = rusqlite::Connection::open(dir.path().join("w.db")).unwrap();
        conn.pragma_update(None, "key", format!("x'{KEY}'"))
            .unwrap();
        conn.execute(
            "UPDATE blob_chunks SET data = zeroblob(length(data)) WHERE sha256 = ?1 AND seq = 1",
            [&sha],
        )
        .unwrap();
        drop(conn);

        let summary = phone.sync().unwrap();
        assert_eq!(summary.accepted, 1, "the record's sync went through");
        assert_eq!((summary.blobs_uploaded, summary.blobs_pending), (0, 1));
        let error = summary.blob_error.expect("the refusal is reported");
        assert!(error.contains("hash_mismatch"), "{error}");
        // The first 256 KiB were taken twice: the phone started over once, then gave up.
        assert_eq!(summary.blob_bytes_sent, 2 * 256 * 1024);
        assert_eq!(
            phone.attachment_status(sha.clone()).unwrap().state,
            BlobState::Unsent
        );
        assert_eq!(get_blob(&server, &phone, &sha).0, 404);
    }
}
