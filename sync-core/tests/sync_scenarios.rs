//! Named sync scenarios: phones ([`Replica`]) and a [`MemoryServer`], every message going
//! through its JSON wire form.

use automerge::{ROOT, ReadDoc};
use sync_core::client::{ApplyReport, ClientError, DocOutcome, Replica};
use sync_core::doc::{Author, Document, actor_for_device};
use sync_core::ids::{DeviceId, DocId, GridId, ResidentId, UserId};
use sync_core::models::household::{
    Address, Gender, Household, Relation, Resident, ResidentStatus,
};
use sync_core::models::household_private::{HouseholdPrivate, ResidentIdentity};
use sync_core::protocol::{
    self, Bytes, Cursor, CursorError, DocPush, DocStatus, GridCursor, PROTOCOL_VERSION,
    SyncRequest, SyncResponse, codes, split_changes,
};
use sync_core::record::{Place, RecordKind, Role};
use sync_core::server::{Caller, MemoryServer, PushOutcome, StoredRecord, SyncError, apply_push};
use sync_core::time::{Date, Timestamp};
use sync_core::validate::ValidationContext;

fn grid(code: &str) -> GridId {
    code.parse().unwrap()
}

fn place(code: &str) -> Place {
    Place {
        community: "dzk".parse().unwrap(),
        grid: grid(code),
    }
}

fn at(millis: i64) -> Timestamp {
    Timestamp::from_millis(1_770_000_000_000 + millis)
}

fn household(grid_code: &str, room: &str) -> Household {
    Household::new(
        place(grid_code),
        Address {
            compound: "乌江水岸".into(),
            building: "3".into(),
            unit: "1".into(),
            room: room.into(),
        },
    )
}

fn resident(name: &str) -> Resident {
    Resident {
        id: ResidentId::new(),
        name: name.into(),
        gender: Gender::Female,
        relation: Relation::Head,
        status: ResidentStatus::Present,
        moved_in: None,
        moved_out: None,
    }
}

/// A phone of a user: the caller its token stands for and its local replica.
struct Phone {
    caller: Caller,
    replica: Replica,
}

impl Phone {
    fn new(server: &mut MemoryServer, user: &UserId, role: Role, grids: &[&str]) -> Self {
        server.add_user(user.clone(), role, grids.iter().map(|g| grid(g)));
        let device = DeviceId::new();
        Self {
            caller: Caller {
                user: user.clone(),
                device: device.clone(),
                role,
            },
            replica: Replica::new(device, ValidationContext::default()),
        }
    }

    fn worker(server: &mut MemoryServer, grid_code: &str) -> Self {
        Self::new(server, &UserId::new(), Role::GridWorker, &[grid_code])
    }

    /// Another device of the same user.
    fn second_device(&self) -> Self {
        let device = DeviceId::new();
        Self {
            caller: Caller {
                device: device.clone(),
                ..self.caller.clone()
            },
            replica: Replica::new(device, ValidationContext::default()),
        }
    }

    /// Sends a request over the "wire" and returns the decoded response.
    fn exchange(&self, server: &mut MemoryServer, request: &SyncRequest) -> SyncResponse {
        let request = protocol::decode_request(&protocol::encode_request(request)).unwrap();
        let response = server.sync(&self.caller, &request).unwrap();
        protocol::decode_response(&protocol::encode_response(&response)).unwrap()
    }

    /// One round trip.
    fn sync(&mut self, server: &mut MemoryServer) -> (SyncRequest, SyncResponse, ApplyReport) {
        let request = self.replica.build_request();
        let response = self.exchange(server, &request);
        let report = self.replica.apply_response(&request, &response).unwrap();
        (request, response, report)
    }

    /// Round trips until nothing is left to do; returns how many were needed.
    fn sync_until_quiet(&mut self, server: &mut MemoryServer) -> usize {
        for round in 1..=5 {
            let (_, _, report) = self.sync(server);
            if !report.sync_again {
                return round;
            }
        }
        panic!("sync did not settle in 5 round trips");
    }

    fn read(&self, id: &DocId) -> Household {
        self.replica.document(id).unwrap().read().unwrap()
    }

    fn edit(&mut self, id: &DocId, millis: i64, edit: impl FnOnce(&mut Household)) {
        self.replica
            .update(id, at(millis), edit)
            .unwrap()
            .expect("the edit changed something");
    }

    fn edit_private(&mut self, id: &DocId, millis: i64, edit: impl FnOnce(&mut HouseholdPrivate)) {
        self.replica
            .update(id, at(millis), edit)
            .unwrap()
            .expect("the edit changed something");
    }
}

fn status_of(response: &SyncResponse, id: &DocId) -> DocStatus {
    response.docs.iter().find(|r| &r.id == id).unwrap().status
}

fn error_code(response: &SyncResponse, id: &DocId) -> String {
    let result = response.docs.iter().find(|r| &r.id == id).unwrap();
    result.error.as_ref().unwrap().code.clone()
}

fn assert_same(server: &MemoryServer, phone: &Phone, id: &DocId) {
    let ours = server.document(id).unwrap();
    let theirs = phone.replica.document(id).unwrap();
    assert_eq!(ours.heads(), theirs.heads());
    assert_eq!(ours.json(), theirs.json());
}

/// The private document of `household` as a phone of `worker` starts it: the canonical first
/// change, then the first resident's phone number by the phone's device.
fn private_document(worker: &Phone, household: &Household, millis: i64) -> Document {
    let mut doc = HouseholdPrivate::genesis(&household.id, household.place.clone()).unwrap();
    doc.update(
        &Author::new(worker.replica.actor().clone(), at(millis)),
        &ValidationContext::default(),
        |p: &mut HouseholdPrivate| {
            p.resident_entry(&household.residents[0].id).phone = Some("13800001234".into());
            Ok::<_, sync_core::doc::DocumentError>(())
        },
    )
    .unwrap()
    .expect("a change was made");
    doc
}

/// A bare push of a document's changes after `base`, by whoever calls.
fn push_of(doc: &Document, base: &[automerge::ChangeHash]) -> DocPush {
    DocPush {
        id: doc.id().clone(),
        kind: doc.kind(),
        base_heads: base.to_vec(),
        changes: Bytes(doc.automerge().save_after(base)),
    }
}

#[test]
fn offline_edits_of_different_fields_on_two_phones_converge() {
    let mut server = MemoryServer::default();
    let mut a = Phone::worker(&mut server, "dzk-01");
    let mut b = a.second_device();
    let id = a
        .replica
        .create(&household("dzk-01", "402"), at(0))
        .unwrap();
    a.sync(&mut server);
    b.sync(&mut server);

    a.edit(&id, 1, |h| h.notes = "elderly couple".into());
    b.edit(&id, 2, |h| h.residents.push(resident("李秀英")));
    b.edit(&id, 3, |h| h.tags.push("rental".into()));
    a.sync_until_quiet(&mut server);
    b.sync_until_quiet(&mut server);
    a.sync_until_quiet(&mut server);

    for phone in [&a, &b] {
        let h = phone.read(&id);
        assert_eq!(h.notes, "elderly couple");
        assert_eq!(h.residents.len(), 1);
        assert_eq!(h.tags, ["rental"]);
        assert_same(&server, phone, &id);
        assert!(phone.replica.pending().is_empty());
    }
}

#[test]
fn concurrent_writes_to_one_field_keep_both_values_as_a_conflict() {
    let mut server = MemoryServer::default();
    let mut a = Phone::worker(&mut server, "dzk-01");
    let mut b = a.second_device();
    let id = a
        .replica
        .create(&household("dzk-01", "402"), at(0))
        .unwrap();
    a.sync(&mut server);
    b.sync(&mut server);

    a.edit(&id, 1, |h| h.notes = "from phone a".into());
    b.edit(&id, 2, |h| h.notes = "from phone b".into());
    a.sync(&mut server);
    b.sync(&mut server);
    a.sync(&mut server);

    for doc in [
        server.document(&id).unwrap(),
        a.replica.document(&id).unwrap(),
        b.replica.document(&id).unwrap(),
    ] {
        let values: Vec<String> = doc
            .automerge()
            .get_all(ROOT, "notes")
            .unwrap()
            .into_iter()
            .map(|(v, _)| v.as_str().unwrap_or_default().to_owned())
            .collect();
        assert_eq!(values.len(), 2, "both writes survive: {values:?}");
        assert!(values.contains(&"from phone a".to_owned()));
        assert!(values.contains(&"from phone b".to_owned()));
    }
    assert_same(&server, &a, &id);
    assert_same(&server, &b, &id);
}

#[test]
fn retry_after_a_lost_response_is_idempotent() {
    let mut server = MemoryServer::default();
    let mut a = Phone::worker(&mut server, "dzk-01");
    let mut b = a.second_device();
    // Something for `updates` to carry.
    b.replica
        .create(&household("dzk-01", "101"), at(0))
        .unwrap();
    b.sync(&mut server);

    let id = a
        .replica
        .create(&household("dzk-01", "402"), at(1))
        .unwrap();
    a.edit(&id, 2, |h| h.tags.push("rental".into()));
    let request = a.replica.build_request();
    let lost = a.exchange(&mut server, &request);
    let stored = server.change_count();
    assert_eq!(stored, 3);

    // The phone never saw `lost`; it rebuilds the same request and retries.
    let retry = a.replica.build_request();
    assert_eq!(retry, request);
    let again = a.exchange(&mut server, &retry);
    assert_eq!(server.change_count(), stored, "nothing new is stored");
    assert_eq!(
        protocol::encode_response(&again),
        protocol::encode_response(&lost),
        "the same answer"
    );
    assert_eq!(status_of(&again, &id), DocStatus::Ok);
    assert_eq!(again.updates.len(), 1);

    // Applying it (even twice) settles the phone.
    a.replica.apply_response(&retry, &again).unwrap();
    a.replica.apply_response(&retry, &again).unwrap();
    assert!(a.replica.pending().is_empty());
    assert_same(&server, &a, &id);
}

#[test]
fn edits_made_while_a_request_is_in_flight_stay_pending() {
    let mut server = MemoryServer::default();
    let mut a = Phone::worker(&mut server, "dzk-01");
    let id = a
        .replica
        .create(&household("dzk-01", "402"), at(0))
        .unwrap();
    let request = a.replica.build_request();
    let response = a.exchange(&mut server, &request);
    a.edit(&id, 1, |h| h.notes = "typed while syncing".into());
    a.replica.apply_response(&request, &response).unwrap();

    assert_eq!(a.replica.pending(), std::slice::from_ref(&id));
    assert_eq!(a.read(&id).notes, "typed while syncing");
    a.sync(&mut server);
    assert!(a.replica.pending().is_empty());
    assert_same(&server, &a, &id);
}

#[test]
fn a_replica_saved_and_restored_carries_on_where_it_stopped() {
    let mut server = MemoryServer::default();
    let mut a = Phone::worker(&mut server, "dzk-01");
    let mut b = a.second_device();
    let id = a
        .replica
        .create(&household("dzk-01", "402"), at(0))
        .unwrap();
    a.sync(&mut server);
    b.sync(&mut server);
    b.edit(&id, 1, |h| h.notes = "from b".into());
    b.sync(&mut server);
    a.edit(&id, 2, |h| h.tags.push("rental".into()));

    let saved = serde_json::to_vec(&a.replica.snapshot()).unwrap();
    let restored = serde_json::from_slice(&saved).unwrap();
    a.replica = Replica::restore(restored, ValidationContext::default()).unwrap();
    assert_eq!(a.replica.pending(), std::slice::from_ref(&id));
    a.edit(&id, 3, |h| h.tags.push("shop".into()));
    let (_, response, report) = a.sync(&mut server);
    assert_eq!(status_of(&response, &id), DocStatus::Ok);
    assert!(!report.sync_again);
    b.sync(&mut server);
    assert_same(&server, &a, &id);
    assert_same(&server, &b, &id);
    assert_eq!(a.read(&id).notes, "from b");
    assert_eq!(a.read(&id).tags, ["rental", "shop"]);
}

#[test]
fn an_update_missing_its_history_is_fetched_whole_next_round_trip() {
    let mut server = MemoryServer::default();
    let mut a = Phone::worker(&mut server, "dzk-01");
    let id = a
        .replica
        .create(&household("dzk-01", "402"), at(0))
        .unwrap();
    a.edit(&id, 1, |h| h.notes = "second change".into());
    a.sync(&mut server);

    // A damaged response: the update lacks the record's first change.
    let mut b = a.second_device();
    let request = b.replica.build_request();
    let mut response = b.exchange(&mut server, &request);
    let update = &mut response.updates[0];
    let changes = split_changes(update.changes.as_slice()).unwrap();
    update.changes = Bytes(changes[1].raw_bytes().to_vec());
    let report = b.replica.apply_response(&request, &response).unwrap();
    assert!(report.sync_again);
    assert!(b.replica.document(&id).is_none(), "known only in part");
    assert_eq!(b.replica.pending(), std::slice::from_ref(&id));

    // The partial state survives a restart, and the next round trip fetches the record.
    let snapshot = b.replica.snapshot();
    b.replica = Replica::restore(snapshot, ValidationContext::default()).unwrap();
    let (request, response, report) = b.sync(&mut server);
    assert!(request.docs[0].base_heads.is_empty() && request.docs[0].changes.is_empty());
    assert_eq!(status_of(&response, &id), DocStatus::Ok);
    assert!(!report.sync_again);
    assert_same(&server, &b, &id);
    assert!(b.replica.pending().is_empty());
}

#[test]
fn new_phone_gets_its_whole_grid_in_one_round_trip() {
    let mut server = MemoryServer::default();
    let mut old = Phone::worker(&mut server, "dzk-01");
    let mut ids = Vec::new();
    for room in 0..20 {
        let id = old
            .replica
            .create(&household("dzk-01", &format!("{room}")), at(room))
            .unwrap();
        old.edit(&id, 100 + room, |h| h.residents.push(resident("王伟")));
        ids.push(id);
    }
    old.sync(&mut server);
    let mut other_grid = Phone::worker(&mut server, "dzk-02");
    other_grid
        .replica
        .create(&household("dzk-02", "1"), at(0))
        .unwrap();
    other_grid.sync(&mut server);

    let mut new = old.second_device();
    let (request, response, report) = new.sync(&mut server);
    assert!(request.cursor.is_none() && request.docs.is_empty());
    assert!(!report.sync_again);
    assert!(!response.more);
    assert_eq!(
        response.updates.len(),
        20,
        "every household of the grid, nothing else"
    );
    let mut have = new.replica.doc_ids();
    have.sort();
    ids.sort();
    assert_eq!(have, ids);
    for id in &ids {
        assert_same(&server, &new, id);
    }
    assert!(new.replica.pending().is_empty());
}

#[test]
fn unknown_base_heads_need_full_and_a_full_push_repairs_in_the_second_round_trip() {
    let mut server = MemoryServer::default();
    let mut a = Phone::worker(&mut server, "dzk-01");
    let old = a
        .replica
        .create(&household("dzk-01", "402"), at(0))
        .unwrap();
    a.sync(&mut server);
    let backup = server.clone();
    a.edit(&old, 1, |h| h.notes = "lost in the restore".into());
    let young = a
        .replica
        .create(&household("dzk-01", "403"), at(2))
        .unwrap();
    a.sync(&mut server);

    // The server is restored from the backup: it lacks the edit and the second record, while
    // the phone believes the server has them.
    server = backup;
    a.edit(&old, 3, |h| h.tags.push("rental".into()));
    a.edit(&young, 4, |h| h.tags.push("shop".into()));
    let (_, first, report) = a.sync(&mut server);
    assert_eq!(status_of(&first, &old), DocStatus::NeedFull);
    assert_eq!(status_of(&first, &young), DocStatus::NeedFull);
    assert_eq!(error_code(&first, &old), codes::MISSING_DEPENDENCIES);
    assert!(report.sync_again);

    let (_, second, report) = a.sync(&mut server);
    assert_eq!(status_of(&second, &old), DocStatus::Ok);
    assert_eq!(status_of(&second, &young), DocStatus::Ok);
    assert!(!report.sync_again);
    assert!(a.replica.pending().is_empty());
    for id in [&old, &young] {
        assert_same(&server, &a, id);
    }
    assert_eq!(a.read(&old).notes, "lost in the restore");
}

#[test]
fn push_for_another_grid_is_forbidden_and_the_rest_of_the_batch_goes_through() {
    let mut server = MemoryServer::default();
    let mut w1 = Phone::worker(&mut server, "dzk-01");
    let mut w2 = Phone::worker(&mut server, "dzk-02");
    let theirs = w2.replica.create(&household("dzk-02", "1"), at(0)).unwrap();
    w2.sync(&mut server);
    let theirs_heads = server.document(&theirs).unwrap().heads();
    let stored = server.change_count();

    let mine = w1.replica.create(&household("dzk-01", "2"), at(1)).unwrap();
    let misplaced = w1.replica.create(&household("dzk-02", "3"), at(2)).unwrap();
    // An edit of the other grid's record, made on a copy that reached this phone somehow.
    let mut copy = server.document(&theirs).unwrap().clone();
    copy.update(
        &Author::new(w1.replica.actor().clone(), at(3)),
        &ValidationContext::default(),
        |h: &mut Household| {
            h.notes = "not mine to write".into();
            Ok::<_, sync_core::doc::DocumentError>(())
        },
    )
    .unwrap();
    let mut request = w1.replica.build_request();
    request.docs.push(push_of(&copy, &theirs_heads));
    let response = w1.exchange(&mut server, &request);

    assert_eq!(status_of(&response, &mine), DocStatus::Ok);
    assert_eq!(status_of(&response, &misplaced), DocStatus::Rejected);
    assert_eq!(error_code(&response, &misplaced), codes::FORBIDDEN);
    assert_eq!(status_of(&response, &theirs), DocStatus::Rejected);
    assert_eq!(error_code(&response, &theirs), codes::FORBIDDEN);
    let refused = response.docs.iter().find(|r| r.id == theirs).unwrap();
    assert!(refused.heads.is_empty() && refused.changes.is_empty());
    assert!(
        response.updates.is_empty(),
        "nothing of the other grid is shown"
    );

    assert_eq!(server.change_count(), stored + 1);
    assert!(server.document(&misplaced).is_none());
    assert_eq!(server.document(&theirs).unwrap().heads(), theirs_heads);

    let report = w1.replica.apply_response(&request, &response).unwrap();
    assert!(report.docs.iter().any(|(id, outcome)| id == &misplaced
        && matches!(outcome, DocOutcome::Rejected(e) if e.code == codes::FORBIDDEN)));
    assert!(
        !report.sync_again,
        "a rejection does not call for another round trip"
    );
    assert_eq!(
        w1.replica.rejection(&misplaced).unwrap().code,
        codes::FORBIDDEN
    );
    assert_eq!(
        w1.replica.pending(),
        [misplaced],
        "the refused record stays pending"
    );
}

#[test]
fn supervisors_and_liaisons_phones_hold_households_but_no_private_documents() {
    let mut server = MemoryServer::default();
    let mut worker = Phone::worker(&mut server, "dzk-01");
    let mut record = household("dzk-01", "402");
    record.liaison_group = Some("dzk-01-l3".parse().unwrap());
    record.residents.push(resident("王芳"));
    let id = worker.replica.create(&record, at(0)).unwrap();
    worker.sync(&mut server);
    // The resident's phone number is in the household's private document, which the phone
    // starts with its canonical first change.
    let private_id = worker
        .replica
        .start_private(&record.id, record.place.clone())
        .unwrap();
    worker.edit_private(&private_id, 1, |p| {
        p.resident_entry(&record.residents[0].id).phone = Some("13800001234".into());
    });
    let (_, response, _) = worker.sync(&mut server);
    assert_eq!(status_of(&response, &private_id), DocStatus::Ok);
    assert_same(&server, &worker, &private_id);

    // A grid worker's phone holds both.
    let mut other_device = worker.second_device();
    other_device.sync(&mut server);
    assert_same(&server, &other_device, &id);
    assert_same(&server, &other_device, &private_id);

    // A supervisor's and a liaison's phones hold the household (address, names, relations),
    // never its private document (Role::syncs): supervisors read that online, masked.
    let mut supervisor = Phone::new(
        &mut server,
        &UserId::new(),
        Role::CommunitySupervisor,
        &["dzk-01", "dzk-02"],
    );
    let mut liaison = Phone::new(&mut server, &UserId::new(), Role::Liaison, &["dzk-01"]);
    for phone in [&mut supervisor, &mut liaison] {
        phone.sync(&mut server);
        assert_eq!(
            phone.replica.doc_ids(),
            std::slice::from_ref(&id),
            "{}",
            phone.caller.role
        );
        assert_same(&server, phone, &id);
        assert_eq!(phone.read(&id).residents[0].name, "王芳");
        assert!(phone.replica.document(&private_id).is_none());
        // Not even by fetching it with an empty push.
        let fetch = DocPush {
            id: private_id.clone(),
            kind: RecordKind::HouseholdPrivate,
            base_heads: Vec::new(),
            changes: Bytes(Vec::new()),
        };
        let request = SyncRequest::new(phone.caller.device.clone(), None, vec![fetch]);
        let response = phone.exchange(&mut server, &request);
        assert_eq!(
            error_code(&response, &private_id),
            codes::FORBIDDEN,
            "{}",
            phone.caller.role
        );
        assert!(response.docs[0].changes.is_empty());
        assert!(
            response.updates.iter().all(|u| u.id != private_id),
            "{}",
            phone.caller.role
        );
    }

    // A copy of the household edited as the supervisor's device is refused.
    let mut copy = worker.replica.document(&id).unwrap().clone();
    copy.set_actor(actor_for_device(&supervisor.caller.device));
    copy.update(
        &Author::new(supervisor.replica.actor().clone(), at(2)),
        &ValidationContext::default(),
        |h: &mut Household| {
            h.notes = "supervisor note".into();
            Ok::<_, sync_core::doc::DocumentError>(())
        },
    )
    .unwrap();
    let request = SyncRequest::new(
        supervisor.caller.device.clone(),
        Some(supervisor.replica.cursor().unwrap().clone()),
        vec![push_of(&copy, &[])],
    );
    let response = supervisor.exchange(&mut server, &request);
    assert_eq!(error_code(&response, &id), codes::FORBIDDEN);
    // And so is the private document edited as the supervisor's device.
    let supervisor_private = private_document(&supervisor, &record, 3);
    let request = SyncRequest::new(
        supervisor.caller.device.clone(),
        None,
        vec![push_of(&supervisor_private, &[])],
    );
    let response = supervisor.exchange(&mut server, &request);
    assert_eq!(error_code(&response, &private_id), codes::FORBIDDEN);
    assert_same(&server, &other_device, &private_id);
}

#[test]
fn a_household_whose_history_holds_personal_data_reaches_only_grid_workers_phones() {
    let mut server = MemoryServer::default();
    let mut old_phone = Phone::worker(&mut server, "dzk-01");
    let mut record = household("dzk-01", "402");
    record.liaison_group = Some("dzk-01-l3".parse().unwrap());
    record.residents.push(resident("王芳"));
    let id = old_phone.replica.create(&record, at(0)).unwrap();
    // A phone of the old layout writes the resident's phone number into the household itself.
    let mut doc = old_phone.replica.document(&id).unwrap().clone();
    {
        use automerge::ReadDoc;
        use automerge::transaction::Transactable;
        let am = doc.automerge_mut();
        am.set_actor(old_phone.replica.actor().clone());
        let mut tx = am.transaction();
        let (_, residents) = tx.get(automerge::ROOT, "residents").unwrap().unwrap();
        let (_, first) = tx.get(&residents, 0).unwrap().unwrap();
        tx.put(&first, "phone", "13800001234").unwrap();
        tx.commit();
    }
    let request = SyncRequest::new(
        old_phone.caller.device.clone(),
        None,
        vec![push_of(&doc, &[])],
    );
    let response = old_phone.exchange(&mut server, &request);
    assert_eq!(status_of(&response, &id), DocStatus::Ok);

    // Deleting the value later would keep it in the history: the document stays flagged, and
    // neither a supervisor's nor a liaison's phone receives it, by sync or by fetching it.
    let supervisor = Phone::new(
        &mut server,
        &UserId::new(),
        Role::CommunitySupervisor,
        &["dzk-01"],
    );
    let liaison = Phone::new(&mut server, &UserId::new(), Role::Liaison, &["dzk-01"]);
    for mut phone in [supervisor, liaison] {
        phone.sync(&mut server);
        assert!(phone.replica.doc_ids().is_empty(), "{}", phone.caller.role);
        let fetch = DocPush {
            id: id.clone(),
            kind: RecordKind::Household,
            base_heads: Vec::new(),
            changes: Bytes(Vec::new()),
        };
        let request = SyncRequest::new(phone.caller.device.clone(), None, vec![fetch]);
        let response = phone.exchange(&mut server, &request);
        assert_eq!(
            error_code(&response, &id),
            codes::FORBIDDEN,
            "{}",
            phone.caller.role
        );
    }
    // A grid worker's other phone does.
    let mut other = old_phone.second_device();
    other.sync(&mut server);
    assert_eq!(other.replica.doc_ids(), vec![id.clone()]);
    // A household written in the new layout reaches them all.
    let fresh = household("dzk-01", "403");
    let fresh_id = old_phone.replica.create(&fresh, at(1)).unwrap();
    old_phone.sync(&mut server);
    let mut supervisor = Phone::new(
        &mut server,
        &UserId::new(),
        Role::CommunitySupervisor,
        &["dzk-01"],
    );
    supervisor.sync(&mut server);
    assert_eq!(supervisor.replica.doc_ids(), vec![fresh_id]);
}

#[test]
fn two_phones_starting_one_households_private_document_offline_converge() {
    let mut server = MemoryServer::default();
    let mut a = Phone::worker(&mut server, "dzk-01");
    let mut b = Phone::worker(&mut server, "dzk-01");
    let mut record = household("dzk-01", "402");
    record.residents.push(resident("王芳"));
    record.residents.push(resident("李强"));
    let id = a.replica.create(&record, at(0)).unwrap();
    a.sync(&mut server);
    b.sync(&mut server);

    // Both phones, offline, start the private document and record a different resident.
    let (first, second) = (
        record.residents[0].id.clone(),
        record.residents[1].id.clone(),
    );
    let private_id = a.replica.start_private(&id, record.place.clone()).unwrap();
    assert_eq!(
        b.replica.start_private(&id, record.place.clone()).unwrap(),
        private_id
    );
    a.edit_private(&private_id, 1, |p| {
        p.resident_entry(&first).phone = Some("13911112222".into());
    });
    b.edit_private(&private_id, 2, |p| {
        p.resident_entry(&second).phone = Some("13733334444".into());
    });
    a.sync_until_quiet(&mut server);
    b.sync_until_quiet(&mut server);
    a.sync_until_quiet(&mut server);

    for phone in [&a, &b] {
        assert_same(&server, phone, &private_id);
        assert!(phone.replica.rejection(&private_id).is_none());
        let private: HouseholdPrivate =
            phone.replica.document(&private_id).unwrap().read().unwrap();
        assert_eq!(
            private.resident(&first).unwrap().phone.as_deref(),
            Some("13911112222")
        );
        assert_eq!(
            private.resident(&second).unwrap().phone.as_deref(),
            Some("13733334444")
        );
    }
    let stored = server.document(&private_id).unwrap();
    assert_eq!(
        stored.automerge().get_changes(&[]).len(),
        3,
        "one first change"
    );
    assert!(sync_core::conflicts::conflicts(stored).is_empty());
}

#[test]
fn change_authored_by_another_device_is_a_foreign_change() {
    let mut server = MemoryServer::default();
    let mut a = Phone::worker(&mut server, "dzk-01");
    let b = a.second_device();
    let id = a
        .replica
        .create(&household("dzk-01", "402"), at(0))
        .unwrap();
    let doc = a.replica.document(&id).unwrap().clone();

    // Phone b relays phone a's change before phone a synced it.
    let relay = SyncRequest::new(b.caller.device.clone(), None, vec![push_of(&doc, &[])]);
    let response = b.exchange(&mut server, &relay);
    assert_eq!(status_of(&response, &id), DocStatus::Rejected);
    assert_eq!(error_code(&response, &id), codes::FOREIGN_CHANGE);
    assert!(server.document(&id).is_none());

    // Once the server has the change, relaying it is harmless: only new changes are checked.
    a.sync(&mut server);
    let response = b.exchange(&mut server, &relay);
    assert_eq!(status_of(&response, &id), DocStatus::Ok);

    // A body naming another device than the token is refused whole.
    let mut spoofed = relay.clone();
    spoofed.device = a.caller.device.clone();
    assert_eq!(
        server.sync(&b.caller, &spoofed),
        Err(SyncError::DeviceMismatch)
    );
}

#[test]
fn corrupt_and_truncated_change_bytes_are_rejected_without_panic() {
    let mut server = MemoryServer::default();
    let mut a = Phone::worker(&mut server, "dzk-01");
    let id = a
        .replica
        .create(&household("dzk-01", "402"), at(0))
        .unwrap();
    let doc = a.replica.document(&id).unwrap().clone();
    let good = doc.automerge().save_after(&[]);

    let mut flipped = good.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x55;
    let mut trailing = good.clone();
    trailing.extend_from_slice(&[0x85, 0x6f]);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("garbage", b"definitely not automerge".to_vec()),
        ("truncated", good[..good.len() - 1].to_vec()),
        ("header only", good[..9].to_vec()),
        ("flipped byte", flipped),
        ("trailing junk", trailing),
        ("whole document", doc.save()),
    ];
    for (what, bytes) in cases {
        assert!(split_changes(&bytes).is_err(), "{what}");
        let mut bad = push_of(&doc, &[]);
        bad.changes = Bytes(bytes);
        let fine = a.replica.create(&household("dzk-01", what), at(1)).unwrap();
        let mut request = a.replica.build_request();
        request.docs.retain(|p| p.id == fine);
        request.docs.push(bad);
        let response = a.exchange(&mut server, &request);
        assert_eq!(status_of(&response, &id), DocStatus::Rejected, "{what}");
        assert_eq!(error_code(&response, &id), codes::CORRUPT, "{what}");
        assert_eq!(status_of(&response, &fine), DocStatus::Ok, "{what}");
        assert!(server.document(&id).is_none());
    }
}

#[test]
fn invalid_record_is_rejected_naming_the_field() {
    let mut server = MemoryServer::default();
    let a = Phone::worker(&mut server, "dzk-01");
    let household = household("dzk-01", "402");
    let mut bad = ResidentIdentity::new(ResidentId::new());
    bad.id_number = Some("110105194912310021".into()); // wrong check digit
    let mut record = HouseholdPrivate::empty(&household.id, household.place.clone());
    record.residents.push(bad);
    // Bypass the phone's own validation, as a buggy or hostile client would.
    let mut doc = HouseholdPrivate::genesis(&household.id, household.place.clone()).unwrap();
    doc.set_actor(actor_for_device(&a.caller.device));
    let mut tx = doc.automerge_mut().transaction();
    autosurgeon::reconcile(&mut tx, &record).unwrap();
    tx.commit();

    let request = SyncRequest::new(a.caller.device.clone(), None, vec![push_of(&doc, &[])]);
    let response = a.exchange(&mut server, &request);
    let result = &response.docs[0];
    assert_eq!(result.status, DocStatus::Rejected);
    let error = result.error.as_ref().unwrap();
    assert_eq!(error.code, codes::INVALID_RECORD);
    assert_eq!(error.fields[0].field, "residents[0].id_number");
    assert!(
        !serde_json::to_string(error)
            .unwrap()
            .contains("110105194912310021")
    );
    assert!(server.document(doc.id()).is_none());
}

#[test]
fn pushing_another_kind_over_a_stored_record_is_wrong_kind() {
    let mut server = MemoryServer::default();
    let mut a = Phone::worker(&mut server, "dzk-01");
    let id = a
        .replica
        .create(&household("dzk-01", "402"), at(0))
        .unwrap();
    a.sync(&mut server);
    a.edit(&id, 1, |h| h.notes = "x".into());
    let mut request = a.replica.build_request();
    request.docs[0].kind = RecordKind::Visit;
    let response = a.exchange(&mut server, &request);
    assert_eq!(error_code(&response, &id), codes::WRONG_KIND);
}

#[test]
fn merge_that_breaks_a_rule_is_accepted_when_each_side_was_valid() {
    let mut server = MemoryServer::default();
    let mut a = Phone::worker(&mut server, "dzk-01");
    let mut b = a.second_device();
    let mut record = household("dzk-01", "402");
    record.residents.push(resident("赵六"));
    let id = a.replica.create(&record, at(0)).unwrap();
    a.sync(&mut server);
    b.sync(&mut server);

    // Each edit is valid alone; together the move-out precedes the move-in.
    a.edit(&id, 1, |h| {
        h.residents[0].status = ResidentStatus::MovedOut;
        h.residents[0].moved_out = Date::from_ymd(2026, 4, 1);
    });
    b.edit(&id, 2, |h| {
        h.residents[0].moved_in = Date::from_ymd(2026, 5, 1)
    });
    a.sync(&mut server);
    let stored = StoredRecord::new(server.document(&id).unwrap().clone());
    let push = b.replica.build_request().docs.remove(0);

    let outcome = apply_push(
        Some(&stored),
        &push,
        &b.caller,
        &sync_core::server::GridScope {
            role: Role::GridWorker,
            grids: [grid("dzk-01")].into(),
        },
        &ValidationContext::default(),
    );
    let PushOutcome::Accepted(accepted) = outcome else {
        panic!("refused: {:?}", outcome.result());
    };
    let problem = accepted.merged_invalid.expect("the merge is flagged");
    assert_eq!(problem.errors[0].field, "residents[0].moved_out");
    assert_eq!(accepted.new_changes.len(), 1);

    let (_, response, _) = b.sync(&mut server);
    assert_eq!(status_of(&response, &id), DocStatus::Ok);
    assert!(server.merged_invalid(&id).is_some());
    a.sync(&mut server);
    assert_same(&server, &a, &id);
    assert_same(&server, &b, &id);
}

#[test]
fn cursor_updates_carry_only_what_is_new() {
    let mut server = MemoryServer::default();
    let mut a = Phone::worker(&mut server, "dzk-01");
    let mut b = a.second_device();
    let first = a.replica.create(&household("dzk-01", "1"), at(0)).unwrap();
    let second = a.replica.create(&household("dzk-01", "2"), at(1)).unwrap();
    a.sync(&mut server);
    let (_, response, _) = b.sync(&mut server);
    assert_eq!(response.updates.len(), 2);

    a.edit(&first, 2, |h| h.notes = "new".into());
    a.sync(&mut server);
    let (_, response, _) = b.sync(&mut server);
    assert_eq!(response.updates.len(), 1);
    let update = &response.updates[0];
    assert_eq!(update.id, first);
    assert_eq!(split_changes(update.changes.as_slice()).unwrap().len(), 1);
    assert_same(&server, &b, &first);
    assert_same(&server, &b, &second);

    let (_, response, _) = b.sync(&mut server);
    assert!(response.updates.is_empty(), "nothing new, nothing sent");
    let cursor = GridCursor::decode(&response.cursor).unwrap();
    assert_eq!(
        cursor.get(&grid("dzk-01")),
        server.grid_seq(&grid("dzk-01"))
    );
}

#[test]
fn updates_cut_short_set_more_and_the_next_round_trip_brings_the_rest() {
    let mut server = MemoryServer::default();
    server.set_max_updates(3);
    let mut a = Phone::worker(&mut server, "dzk-01");
    for room in 0..7 {
        a.replica
            .create(&household("dzk-01", &room.to_string()), at(room))
            .unwrap();
    }
    a.sync(&mut server);
    let mut b = a.second_device();
    let (_, first, report) = b.sync(&mut server);
    assert!(first.more && report.sync_again);
    assert_eq!(first.updates.len(), 3);
    let rounds = b.sync_until_quiet(&mut server);
    assert_eq!(rounds, 2);
    assert_eq!(b.replica.doc_ids().len(), 7);
}

#[test]
fn grid_cursor_round_trips_and_garbage_is_rejected() {
    let mut cursor = GridCursor::default();
    assert_eq!(cursor.encode().as_str(), "v1:");
    cursor.0.insert(grid("grid-b"), 7);
    cursor.0.insert(grid("grid-a"), 42);
    cursor.0.insert(grid("grid_c"), u64::MAX);
    let text = cursor.encode();
    assert_eq!(
        text.as_str(),
        format!("v1:grid-a=42,grid-b=7,grid_c={}", u64::MAX)
    );
    assert_eq!(GridCursor::decode(&text).unwrap(), cursor);
    assert_eq!(
        GridCursor::decode(&Cursor::new("v1:")).unwrap(),
        GridCursor::default()
    );

    for garbage in [
        "",
        "v2:a=1",
        "a=1",
        "v1:a",
        "v1:A=1",
        "v1:a=-1",
        "v1:a=+1",
        "v1:a=",
        "v1:=1",
        "v1:a=1,a=2",
        "v1:a=1,",
        "v1:a=99999999999999999999",
        "v1:a=1;b=2",
        "v1:a=1 ",
    ] {
        assert!(
            garbage.parse::<GridCursor>().is_err(),
            "{garbage:?} should be refused"
        );
    }
    assert_eq!(
        "v9:x=1".parse::<GridCursor>(),
        Err(CursorError::UnknownVersion)
    );
    assert!(matches!(
        "v1:a=1,a=2".parse::<GridCursor>(),
        Err(CursorError::BadEntry { index: 1, .. })
    ));

    let mut server = MemoryServer::default();
    let a = Phone::worker(&mut server, "dzk-01");
    let request = SyncRequest::new(
        a.caller.device.clone(),
        Some(Cursor::new("not a cursor")),
        Vec::new(),
    );
    assert!(matches!(
        server.sync(&a.caller, &request),
        Err(SyncError::BadCursor(_))
    ));
}

#[test]
fn request_and_response_json_round_trip_and_unknown_fields_are_rejected() {
    let mut server = MemoryServer::default();
    let mut a = Phone::worker(&mut server, "dzk-01");
    let mut b = a.second_device();
    b.replica.create(&household("dzk-01", "1"), at(0)).unwrap();
    b.sync(&mut server);
    a.replica.create(&household("dzk-01", "2"), at(1)).unwrap();
    let request = a.replica.build_request();
    let bytes = protocol::encode_request(&request);
    assert_eq!(protocol::decode_request(&bytes).unwrap(), request);
    let response = server.sync(&a.caller, &request).unwrap();
    let response_bytes = protocol::encode_response(&response);
    assert_eq!(
        protocol::decode_response(&response_bytes).unwrap(),
        response
    );

    // The wire form is what the contract says.
    let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(json["protocol"], 1);
    assert!(json["cursor"].is_null());
    assert_eq!(json["docs"][0]["kind"], "household");
    assert_eq!(json["docs"][0]["base_heads"], serde_json::json!([]));
    let json: serde_json::Value = serde_json::from_slice(&response_bytes).unwrap();
    let head = json["docs"][0]["heads"][0].as_str().unwrap();
    assert!(
        head.len() == 64
            && head
                .bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );
    assert_eq!(json["docs"][0]["status"], "ok");
    assert!(
        json["updates"][0]["changes"]
            .as_str()
            .unwrap()
            .ends_with('=')
    );

    // Unknown fields, at the top or in a push, are refused.
    let mut extra: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    extra["extra"] = serde_json::json!(1);
    assert!(protocol::decode_request(&serde_json::to_vec(&extra).unwrap()).is_err());
    let mut extra: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    extra["docs"][0]["note"] = serde_json::json!("x");
    let err = protocol::decode_request(&serde_json::to_vec(&extra).unwrap()).unwrap_err();
    assert!(err.to_string().contains("docs[0]"), "{err}");
    // Other versions, uppercase hashes and unpadded base64 too.
    let mut other: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    other["protocol"] = serde_json::json!(PROTOCOL_VERSION + 1);
    assert!(matches!(
        protocol::decode_request(&serde_json::to_vec(&other).unwrap()),
        Err(protocol::DecodeError::UnsupportedVersion(2))
    ));
    let mut upper: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    upper["docs"][0]["base_heads"] = serde_json::json!(["AB".repeat(32)]);
    assert!(protocol::decode_request(&serde_json::to_vec(&upper).unwrap()).is_err());
    let mut unpadded: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    unpadded["docs"][0]["changes"] = serde_json::json!("YQ");
    assert!(protocol::decode_request(&serde_json::to_vec(&unpadded).unwrap()).is_err());
    // Responses tolerate fields added later, but not another version.
    let mut later: serde_json::Value = serde_json::from_slice(&response_bytes).unwrap();
    later["server_time"] = serde_json::json!("2026-03-04T10:12:00Z");
    assert!(protocol::decode_response(&serde_json::to_vec(&later).unwrap()).is_ok());
    later["protocol"] = serde_json::json!(2);
    assert!(protocol::decode_response(&serde_json::to_vec(&later).unwrap()).is_err());

    // A response for another request is refused before anything changes.
    let other_request = SyncRequest::new(a.caller.device.clone(), None, Vec::new());
    assert_eq!(
        a.replica.apply_response(&other_request, &response),
        Err(ClientError::Mismatch("not one result per pushed document"))
    );
    assert!(a.replica.cursor().is_none());
}

#[test]
fn whole_request_limits_are_enforced() {
    let mut server = MemoryServer::default();
    let mut a = Phone::worker(&mut server, "dzk-01");
    a.replica.create(&household("dzk-01", "1"), at(0)).unwrap();
    let mut request = a.replica.build_request();
    request.docs.push(request.docs[0].clone());
    assert!(matches!(
        server.sync(&a.caller, &request),
        Err(SyncError::DuplicateDoc(_))
    ));
    let push = request.docs[0].clone();
    request.docs = (0..=protocol::MAX_DOCS_PER_REQUEST)
        .map(|_| push.clone())
        .collect();
    assert_eq!(
        server.sync(&a.caller, &request),
        Err(SyncError::TooManyDocs(protocol::MAX_DOCS_PER_REQUEST + 1))
    );
    assert!(matches!(
        protocol::decode_request(&protocol::encode_request(&request)),
        Err(protocol::DecodeError::TooManyDocs { .. })
    ));
    let mut big = push.clone();
    big.changes = Bytes(vec![0; protocol::MAX_CHANGE_BYTES_PER_DOC + 1]);
    request.docs = vec![big];
    let response = server.sync(&a.caller, &request).unwrap();
    assert_eq!(
        response.docs[0].error.as_ref().unwrap().code,
        codes::TOO_LARGE
    );
}

/// A phone that made `edits` offline edits of one new household (one change each).
fn phone_with_backlog(server: &mut MemoryServer, edits: usize) -> (Phone, DocId) {
    let mut phone = Phone::worker(server, "dzk-01");
    let id = phone
        .replica
        .create(&household("dzk-01", "402"), at(0))
        .unwrap();
    for i in 0..edits {
        phone.edit(&id, 1 + i as i64, |h| h.notes = format!("第{i}次走访"));
    }
    (phone, id)
}

fn changes_in(push: &DocPush) -> usize {
    protocol::count_chunks(push.changes.as_slice()).unwrap()
}

#[test]
fn a_push_adding_more_new_changes_than_the_budget_is_too_large_and_stores_nothing() {
    let budget = protocol::MAX_NEW_CHANGES_PER_DOC;
    let mut server = MemoryServer::default();
    let (phone, id) = phone_with_backlog(&mut server, budget);
    let doc = phone.replica.document(&id).unwrap().clone();
    // Every change at once (the creation and `budget` edits): one over the budget.
    let all = push_of(&doc, &[]);
    assert_eq!(changes_in(&all), budget + 1);
    let request = SyncRequest::new(phone.caller.device.clone(), None, vec![all.clone()]);
    let response = phone.exchange(&mut server, &request);
    assert_eq!(status_of(&response, &id), DocStatus::Rejected);
    assert_eq!(error_code(&response, &id), codes::TOO_LARGE);
    let message = &response.docs[0].error.as_ref().unwrap().message;
    assert!(message.contains("MAX_NEW_CHANGES_PER_DOC"), "{message}");
    assert!(server.document(&id).is_none(), "nothing stored");

    // Exactly the budget is taken; the rest then fits too.
    let changes = doc.automerge().get_changes(&[]);
    let first = DocPush {
        changes: Bytes::from_changes(&changes[..budget]),
        ..all.clone()
    };
    let request = SyncRequest::new(phone.caller.device.clone(), None, vec![first]);
    let response = phone.exchange(&mut server, &request);
    assert_eq!(status_of(&response, &id), DocStatus::Ok);
    let rest = push_of(&doc, &response.docs[0].heads);
    assert_eq!(changes_in(&rest), 1);
    let request = SyncRequest::new(phone.caller.device.clone(), None, vec![rest]);
    assert_eq!(
        status_of(&phone.exchange(&mut server, &request), &id),
        DocStatus::Ok
    );
    // Changes the server has do not count: the whole document again is a retry.
    let request = SyncRequest::new(phone.caller.device.clone(), None, vec![all]);
    let response = phone.exchange(&mut server, &request);
    assert_eq!(status_of(&response, &id), DocStatus::Ok);
    assert_eq!(server.document(&id).unwrap().heads(), doc.heads());
}

#[test]
fn an_offline_backlog_larger_than_the_budget_goes_over_successive_requests() {
    let budget = protocol::MAX_NEW_CHANGES_PER_DOC;
    let edits = 2 * budget + budget / 2;
    let mut server = MemoryServer::default();
    let (mut phone, id) = phone_with_backlog(&mut server, edits);
    let mut sent = Vec::new();
    for round in 1..=5 {
        let (request, response, report) = phone.sync(&mut server);
        let push = &request.docs[0];
        sent.push(changes_in(push));
        assert!(changes_in(push) <= budget, "round {round}");
        assert_eq!(status_of(&response, &id), DocStatus::Ok, "round {round}");
        // Each accepted prefix is what the server now has, and what the phone builds on.
        assert_eq!(
            phone.replica.base_heads(&id).unwrap(),
            &server.document(&id).unwrap().heads()[..]
        );
        if !report.sync_again {
            break;
        }
        assert_eq!(phone.replica.pending(), std::slice::from_ref(&id));
    }
    assert_eq!(sent, [budget, budget, edits + 1 - 2 * budget]);
    assert!(phone.replica.pending().is_empty());
    assert_same(&server, &phone, &id);
    assert_eq!(phone.read(&id).notes, format!("第{}次走访", edits - 1));
}

#[test]
fn a_full_push_of_a_long_history_is_split_too() {
    let budget = protocol::MAX_NEW_CHANGES_PER_DOC;
    let mut server = MemoryServer::default();
    let (mut phone, id) = phone_with_backlog(&mut server, budget + 200);
    assert_eq!(phone.sync_until_quiet(&mut server), 2);

    // The phone is told to send the whole document (e.g. the server was restored): to a
    // server that has it all, the first push already confirms everything.
    let mut snapshot = phone.replica.snapshot();
    snapshot.docs[0].need_full = true;
    phone.replica = Replica::restore(snapshot.clone(), ValidationContext::default()).unwrap();
    let (request, response, report) = phone.sync(&mut server);
    assert!(request.docs[0].base_heads.is_empty());
    assert_eq!(changes_in(&request.docs[0]), budget);
    assert_eq!(status_of(&response, &id), DocStatus::Ok);
    assert!(!report.sync_again);
    assert!(phone.replica.pending().is_empty());

    // To a server that has none of it, the whole history goes over two requests.
    let mut empty = MemoryServer::default();
    empty.add_user(
        phone.caller.user.clone(),
        Role::GridWorker,
        [grid("dzk-01")],
    );
    phone.replica = Replica::restore(snapshot, ValidationContext::default()).unwrap();
    assert_eq!(phone.sync_until_quiet(&mut empty), 2);
    assert_same(&empty, &phone, &id);
}
