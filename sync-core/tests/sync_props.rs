//! Property tests of sync: several phones of one grid edit shared households offline and sync
//! through a [`MemoryServer`] over a network that duplicates requests, reorders deliveries and
//! loses responses. Whatever happens, once everyone syncs until quiet, every phone and the
//! server hold the same documents, and no edit is lost.

use std::collections::BTreeSet;

use automerge::{ChangeHash, ReadDoc};
use proptest::prelude::*;
use sync_core::client::Replica;
use sync_core::doc::{Author, Document, actor_for_device};
use sync_core::ids::{DeviceId, DocId, GridId, ResidentId, UserId};
use sync_core::models::household::{
    Address, Gender, Household, Relation, Resident, ResidentStatus,
};
use sync_core::protocol::{self, Bytes, DocPush, SyncRequest, SyncResponse, split_changes};
use sync_core::record::{Place, Role};
use sync_core::server::{Caller, GridScope, MemoryServer, apply_push};
use sync_core::time::Timestamp;
use sync_core::validate::ValidationContext;

const GRID: &str = "dzk-01";
const NOTES: [&str; 4] = ["", "elderly couple", "rents out a room", "new baby"];
const ROOMS: [&str; 4] = ["101", "402", "1203", "B2"];
const NAMES: [&str; 4] = ["李秀英", "王伟", "张敏", "刘洋"];
const TAGS: [&str; 3] = ["rental", "party_member_home", "shop"];

fn grid() -> GridId {
    GRID.parse().unwrap()
}

fn new_household(room: &str) -> Household {
    Household::new(
        Place {
            community: "dzk".parse().unwrap(),
            grid: grid(),
        },
        Address {
            compound: "乌江水岸".into(),
            building: "3".into(),
            unit: "1".into(),
            room: room.into(),
        },
    )
}

/// What the network does with one sync.
#[derive(Debug, Clone, Copy)]
enum Fate {
    /// Request and response arrive.
    Deliver,
    /// The request is handled, the response never arrives.
    LoseResponse,
    /// The request is sent twice; both responses arrive, the later one first.
    Duplicate,
    /// The request is handled; the response arrives later, out of order.
    HoldResponse,
    /// The request itself arrives later, out of order.
    HoldRequest,
}

#[derive(Debug, Clone)]
enum Op {
    Edit {
        phone: usize,
        doc: usize,
        field: u8,
        value: usize,
    },
    AddResident {
        phone: usize,
        doc: usize,
        name: usize,
    },
    AddTag {
        phone: usize,
        doc: usize,
        tag: usize,
    },
    Create {
        phone: usize,
        room: usize,
    },
    Sync {
        phone: usize,
        fate: Fate,
    },
    DeliverHeldResponse {
        phone: usize,
        pick: usize,
    },
    DeliverHeldRequest {
        phone: usize,
        pick: usize,
    },
}

fn fate() -> impl Strategy<Value = Fate> {
    prop_oneof![
        4 => Just(Fate::Deliver),
        1 => Just(Fate::LoseResponse),
        1 => Just(Fate::Duplicate),
        1 => Just(Fate::HoldResponse),
        1 => Just(Fate::HoldRequest),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let phone = 0..5usize;
    let doc = 0..8usize;
    prop_oneof![
        4 => (phone.clone(), doc.clone(), 0..3u8, 0..4usize)
            .prop_map(|(phone, doc, field, value)| Op::Edit { phone, doc, field, value }),
        2 => (phone.clone(), doc.clone(), 0..4usize)
            .prop_map(|(phone, doc, name)| Op::AddResident { phone, doc, name }),
        2 => (phone.clone(), doc, 0..3usize)
            .prop_map(|(phone, doc, tag)| Op::AddTag { phone, doc, tag }),
        1 => (phone.clone(), 0..4usize).prop_map(|(phone, room)| Op::Create { phone, room }),
        4 => (phone.clone(), fate()).prop_map(|(phone, fate)| Op::Sync { phone, fate }),
        1 => (phone.clone(), 0..4usize)
            .prop_map(|(phone, pick)| Op::DeliverHeldResponse { phone, pick }),
        1 => (phone, 0..4usize).prop_map(|(phone, pick)| Op::DeliverHeldRequest { phone, pick }),
    ]
}

struct Phone {
    caller: Caller,
    replica: Replica,
    held_responses: Vec<(SyncRequest, SyncResponse)>,
    held_requests: Vec<SyncRequest>,
}

struct World {
    server: MemoryServer,
    phones: Vec<Phone>,
    /// Every local change ever made: which document, which change.
    made: Vec<(DocId, ChangeHash)>,
    clock: i64,
}

impl World {
    /// `phones` phones of two grid workers of one grid; phone 0 creates two households and
    /// everyone has them before the random part starts.
    fn new(phones: usize) -> Self {
        let mut server = MemoryServer::default();
        // Small, so that responses are often cut short (`more`).
        server.set_max_updates(3);
        let users = [UserId::new(), UserId::new()];
        for user in &users {
            server.add_user(user.clone(), Role::GridWorker, [grid()]);
        }
        let phones = (0..phones)
            .map(|i| {
                let device = DeviceId::new();
                Phone {
                    caller: Caller {
                        user: users[i % 2].clone(),
                        device: device.clone(),
                        role: Role::GridWorker,
                    },
                    replica: Replica::new(device, ValidationContext::default()),
                    held_responses: Vec::new(),
                    held_requests: Vec::new(),
                }
            })
            .collect();
        let mut world = Self {
            server,
            phones,
            made: Vec::new(),
            clock: 0,
        };
        world.create(0, 0);
        world.create(0, 1);
        for i in 0..world.phones.len() {
            world.sync(i, Fate::Deliver);
        }
        world
    }

    fn tick(&mut self) -> Timestamp {
        self.clock += 1000;
        Timestamp::from_millis(1_770_000_000_000 + self.clock)
    }

    fn create(&mut self, phone: usize, room: usize) {
        let at = self.tick();
        let replica = &mut self.phones[phone].replica;
        let id = replica.create(&new_household(ROOMS[room]), at).unwrap();
        let heads = replica.document(&id).unwrap().heads();
        self.made.push((id, heads[0]));
    }

    fn edit(&mut self, phone: usize, doc: usize, edit: impl FnOnce(&mut Household)) {
        let at = self.tick();
        let replica = &mut self.phones[phone].replica;
        let ids: Vec<DocId> = replica
            .doc_ids()
            .into_iter()
            .filter(|id| replica.document(id).is_some())
            .collect();
        if ids.is_empty() {
            return;
        }
        let id = ids[doc % ids.len()].clone();
        if let Some(hash) = replica.update(&id, at, edit).unwrap() {
            self.made.push((id, hash));
        }
    }

    /// The request travels as JSON, the server answers, the answer travels back as JSON.
    fn serve(&mut self, phone: usize, request: &SyncRequest) -> SyncResponse {
        let wire = protocol::encode_request(request);
        let request = protocol::decode_request(&wire).unwrap();
        let caller = self.phones[phone].caller.clone();
        let response = self.server.sync(&caller, &request).unwrap();
        protocol::decode_response(&protocol::encode_response(&response)).unwrap()
    }

    fn deliver(&mut self, phone: usize, request: &SyncRequest, response: &SyncResponse) -> bool {
        let report = self.phones[phone]
            .replica
            .apply_response(request, response)
            .unwrap();
        report.sync_again
    }

    fn sync(&mut self, phone: usize, fate: Fate) -> bool {
        let request = self.phones[phone].replica.build_request();
        match fate {
            Fate::Deliver => {
                let response = self.serve(phone, &request);
                return self.deliver(phone, &request, &response);
            }
            Fate::LoseResponse => {
                self.serve(phone, &request);
            }
            Fate::Duplicate => {
                let first = self.serve(phone, &request);
                let second = self.serve(phone, &request);
                self.deliver(phone, &request, &second);
                self.deliver(phone, &request, &first);
            }
            Fate::HoldResponse => {
                let response = self.serve(phone, &request);
                self.phones[phone].held_responses.push((request, response));
            }
            Fate::HoldRequest => self.phones[phone].held_requests.push(request),
        }
        true
    }

    fn run(&mut self, op: &Op) {
        let n = self.phones.len();
        match *op {
            Op::Edit {
                phone,
                doc,
                field,
                value,
            } => self.edit(phone % n, doc, |h| match field {
                0 => h.notes = NOTES[value].into(),
                1 => h.address.room = ROOMS[value].into(),
                _ => h.address.building = format!("{}", value + 1),
            }),
            Op::AddResident { phone, doc, name } => self.edit(phone % n, doc, |h| {
                h.residents.push(Resident {
                    id: ResidentId::new(),
                    name: NAMES[name].into(),
                    gender: Gender::Male,
                    relation: Relation::Child,
                    status: ResidentStatus::Present,
                    moved_in: None,
                    moved_out: None,
                });
            }),
            Op::AddTag { phone, doc, tag } => {
                self.edit(phone % n, doc, |h| h.tags.push(TAGS[tag].into()));
            }
            Op::Create { phone, room } => self.create(phone % n, room),
            Op::Sync { phone, fate } => {
                self.sync(phone % n, fate);
            }
            Op::DeliverHeldResponse { phone, pick } => {
                let held = &mut self.phones[phone % n].held_responses;
                if !held.is_empty() {
                    let (request, response) = held.remove(pick % held.len());
                    self.deliver(phone % n, &request, &response);
                }
            }
            Op::DeliverHeldRequest { phone, pick } => {
                let held = &mut self.phones[phone % n].held_requests;
                if !held.is_empty() {
                    let request = held.remove(pick % held.len());
                    let response = self.serve(phone % n, &request);
                    self.deliver(phone % n, &request, &response);
                }
            }
        }
    }

    /// Late deliveries land (newest first), then everyone syncs until nothing changes.
    fn settle(&mut self) {
        for phone in 0..self.phones.len() {
            while let Some(request) = self.phones[phone].held_requests.pop() {
                let response = self.serve(phone, &request);
                self.deliver(phone, &request, &response);
            }
            while let Some((request, response)) = self.phones[phone].held_responses.pop() {
                self.deliver(phone, &request, &response);
            }
        }
        for _ in 0..4 {
            for phone in 0..self.phones.len() {
                let mut rounds = 0;
                while self.sync(phone, Fate::Deliver) {
                    rounds += 1;
                    assert!(
                        rounds < 10,
                        "phone {phone} keeps asking for another round trip"
                    );
                }
            }
            if self.converged() {
                return;
            }
        }
        panic!("replicas did not converge");
    }

    fn converged(&self) -> bool {
        self.phones.iter().all(|p| {
            p.replica.pending().is_empty()
                && self.server.doc_ids().iter().all(|id| {
                    p.replica.document(id).map(Document::heads)
                        == self.server.document(id).map(Document::heads)
                })
        })
    }

    fn check(&self) {
        let server_ids: BTreeSet<DocId> = self.server.doc_ids().into_iter().collect();
        let made_ids: BTreeSet<DocId> = self.made.iter().map(|(id, _)| id.clone()).collect();
        assert_eq!(
            server_ids, made_ids,
            "every created record reached the server"
        );
        for (i, phone) in self.phones.iter().enumerate() {
            let ids: BTreeSet<DocId> = phone.replica.doc_ids().into_iter().collect();
            assert_eq!(ids, server_ids, "phone {i} holds every record of its grid");
            for id in &server_ids {
                let ours = self.server.document(id).unwrap();
                let theirs = phone.replica.document(id).unwrap();
                assert_eq!(ours.heads(), theirs.heads(), "phone {i}, record {id}");
                assert_eq!(ours.json(), theirs.json(), "phone {i}, record {id}");
                assert!(
                    phone.replica.rejection(id).is_none(),
                    "phone {i}, record {id}"
                );
                assert_eq!(phone.replica.base_heads(id), Some(ours.heads().as_slice()));
            }
        }
        for (id, hash) in &self.made {
            let on_server = self.server.document(id).unwrap();
            assert!(
                on_server.automerge().get_change_by_hash(hash).is_some(),
                "edit {hash} of {id} is lost on the server"
            );
            for (i, phone) in self.phones.iter().enumerate() {
                let doc = phone.replica.document(id).unwrap();
                assert!(
                    doc.automerge().get_change_by_hash(hash).is_some(),
                    "edit {hash} of {id} is missing on phone {i}"
                );
            }
        }
        let total: usize = server_ids
            .iter()
            .map(|id| {
                self.server
                    .document(id)
                    .unwrap()
                    .automerge()
                    .get_changes(&[])
                    .len()
            })
            .sum();
        assert_eq!(self.server.change_count(), total, "each change stored once");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn phones_converge_and_no_edit_is_lost_over_a_bad_network(
        phones in 3..=5usize,
        ops in prop::collection::vec(op(), 1..30),
    ) {
        let mut world = World::new(phones);
        for op in &ops {
            world.run(op);
        }
        world.settle();
        world.check();
    }

    #[test]
    fn splitting_hostile_change_bytes_never_panics(
        noise in prop::collection::vec(any::<u8>(), 0..64),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        cut in any::<prop::sample::Index>(),
        prefix in any::<bool>(),
    ) {
        let device = DeviceId::new();
        let doc = Document::create(
            &new_household("402"),
            &Author::new(actor_for_device(&device), Timestamp::from_millis(0)),
            &ValidationContext::default(),
        )
        .unwrap();
        let good = doc.automerge().save_after(&[]);
        prop_assert_eq!(split_changes(&good).unwrap().len(), 1);

        let mut bytes = if prefix { good.clone() } else { Vec::new() };
        bytes.extend(&noise);
        for (at, value) in &flips {
            if !bytes.is_empty() {
                let i = at.index(bytes.len());
                bytes[i] ^= value | 1;
            }
        }
        let _ = split_changes(&bytes);
        let truncated = &good[..1 + cut.index(good.len() - 1)];
        prop_assert!(split_changes(truncated).is_err());

        // The server's whole push path takes the same bytes without panicking.
        let push = DocPush {
            id: doc.id().clone(),
            kind: doc.kind(),
            base_heads: Vec::new(),
            changes: Bytes(bytes),
        };
        let caller = Caller { user: UserId::new(), device, role: Role::GridWorker };
        let scope = GridScope { role: Role::GridWorker, grids: [grid()].into() };
        let outcome = apply_push(None, &push, &caller, &scope, &ValidationContext::default());
        // Any damage to the one valid chunk makes the push refused.
        prop_assert_eq!(
            outcome.is_accepted(),
            prefix && noise.is_empty() && flips.is_empty()
        );
    }
}
