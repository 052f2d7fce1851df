//! The household's private document (住户敏感信息): the identity and the sensitive attributes of
//! its residents (ID number, phone, birth date, special groups) and the grid worker's sensitive
//! notes.
//!
//! Automerge sends a document whole, so what a role may not hold cannot be masked inside a
//! document it receives: access is decided per document. The household document (address,
//! residents' names and relations, liaison group) reaches the liaison and the supervisors; this
//! one only the grid worker's phones ([`crate::record::Role::syncs`]), and supervisors read it
//! online, masked, each reveal audited.
//!
//! * **One per household, named by it.** Its id is derived from the household's id
//!   ([`HouseholdPrivate::id_for`]), so anyone holding the household knows where its private
//!   document is, and it starts with a *canonical first change* ([`HouseholdPrivate::genesis`]):
//!   the same bytes whoever makes it (a phone creating a household offline, the server moving an
//!   old household's fields, two server nodes at once), so two creators converge on one
//!   document instead of two root lists of which Automerge would show only one.
//! * **Residents by id.** Each entry carries the id of the resident in the household document.
//!   The joined view ([`join_json`]) is what the phone library and the review API show.
//! * **The old layout.** Households written before this split carried these fields on each
//!   resident (`LEGACY_RESIDENT_KEYS`). They still read ([`strip_legacy_keys`]), and the
//!   server moves what an old phone writes there into this document ([`lifted_legacy`],
//!   [`HouseholdPrivate::apply_legacy`], [`delete_legacy_keys`]).

use std::collections::{BTreeMap, BTreeSet};

use automerge::transaction::Transactable;
use automerge::{ActorId, Automerge, Change, ChangeHash, ObjType, ROOT, ReadDoc};
use autosurgeon::Reconcile;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::doc::{Author, Document, DocumentError};
use crate::ids::{DocId, ItemId, ResidentId};
use crate::record::{Place, Record, RecordKind};
use crate::time::{Date, Timestamp};
use crate::validate::{ValidationContext, Violations};

/// The resident fields that moved from the household document to this one.
pub const LEGACY_RESIDENT_KEYS: [&str; 4] = ["id_number", "phone", "birth_date", "special_groups"];

/// The namespace of the name-based UUIDs of private documents (a fixed random UUID).
const PRIVATE_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x5c2e_4b1a_9d3f_4e07_8a61_0f3b_7c9d_2e14);

/// Longest `HouseholdPrivate.notes`, in characters (the kind's rules and its JSON Schema).
pub const NOTES_MAX_CHARS: usize = 4000;

/// A resident's membership of a special group (特殊人群).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Reconcile, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SpecialGroup {
    /// Identity of this membership within the household.
    #[key]
    pub id: ItemId,
    /// The group's code, from the configured catalogue (`dibao`, `elderly_alone`, ...).
    pub group: String,
    /// Whether a worker has checked the supporting documents.
    pub verified: bool,
    /// First day the membership applies.
    #[serde(default)]
    pub valid_from: Option<Date>,
    /// Last day the membership applies.
    #[serde(default)]
    pub valid_until: Option<Date>,
}

/// What identifies one resident, and what is sensitive about them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Reconcile, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResidentIdentity {
    /// The resident's id in the household document.
    #[key]
    pub id: ResidentId,
    /// Resident ID number (GB 11643). Masked in every view but the grid worker's phone.
    #[serde(default)]
    #[schemars(regex(pattern = crate::schema::ID_NUMBER_PATTERN))]
    pub id_number: Option<String>,
    /// Phone number.
    #[serde(default)]
    #[schemars(length(min = 5, max = 20), regex(pattern = crate::schema::PHONE_PATTERN))]
    pub phone: Option<String>,
    /// Birth date (must agree with the ID number).
    #[serde(default)]
    pub birth_date: Option<Date>,
    /// Special groups the resident belongs to.
    #[serde(default)]
    pub special_groups: Vec<SpecialGroup>,
}

impl ResidentIdentity {
    /// An entry for `id` with nothing recorded yet.
    pub fn new(id: ResidentId) -> Self {
        Self {
            id,
            id_number: None,
            phone: None,
            birth_date: None,
            special_groups: Vec::new(),
        }
    }

    /// Whether nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.id_number.is_none()
            && self.phone.is_none()
            && self.birth_date.is_none()
            && self.special_groups.is_empty()
    }
}

/// A household's private document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Reconcile, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HouseholdPrivate {
    /// The record id: [`HouseholdPrivate::id_for`] the household.
    pub id: DocId,
    /// The household this document belongs to.
    pub household: DocId,
    /// Community and grid (the household's).
    pub place: Place,
    /// One entry per resident of the household that has anything recorded.
    #[serde(default)]
    pub residents: Vec<ResidentIdentity>,
    /// The grid worker's sensitive notes (health, welfare, family circumstances).
    #[serde(default)]
    #[schemars(length(max = NOTES_MAX_CHARS))]
    pub notes: String,
}

impl HouseholdPrivate {
    /// The id of the private document of `household`: a name-based UUID (version 5), the same
    /// wherever it is computed.
    pub fn id_for(household: &DocId) -> DocId {
        DocId::from_uuid(uuid::Uuid::new_v5(
            &PRIVATE_NAMESPACE,
            household.uuid().as_bytes(),
        ))
    }

    /// The empty private document of `household` at `place`.
    pub fn empty(household: &DocId, place: Place) -> Self {
        Self {
            id: Self::id_for(household),
            household: household.clone(),
            place,
            residents: Vec::new(),
            notes: String::new(),
        }
    }

    /// The entry of a resident.
    pub fn resident(&self, id: &ResidentId) -> Option<&ResidentIdentity> {
        self.residents.iter().find(|r| &r.id == id)
    }

    /// The entry of a resident for editing, added when missing.
    pub fn resident_entry(&mut self, id: &ResidentId) -> &mut ResidentIdentity {
        let at = match self.residents.iter().position(|r| &r.id == id) {
            Some(at) => at,
            None => {
                self.residents.push(ResidentIdentity::new(id.clone()));
                self.residents.len() - 1
            }
        };
        &mut self.residents[at]
    }

    /// The actor of the canonical first change of the private document `id`: its 16 UUID
    /// bytes (a device's actors have 24, so this one is never mistaken for a device's).
    pub fn genesis_actor(id: &DocId) -> ActorId {
        ActorId::from(id.uuid().as_bytes().as_slice())
    }

    /// The private document of `household` as its canonical first change: the empty record,
    /// by [`HouseholdPrivate::genesis_actor`], at time 0. Every creator makes the same bytes,
    /// so documents created apart merge into one.
    pub fn genesis(household: &DocId, place: Place) -> Result<Document, DocumentError> {
        let record = Self::empty(household, place);
        let author = Author::new(Self::genesis_actor(&record.id), Timestamp::from_millis(0));
        Document::create(&record, &author, &ValidationContext::default())
    }

    /// Is `change` the canonical first change of the private document `id`? The server
    /// accepts it from any device (it names none), and only when it is byte for byte what
    /// [`HouseholdPrivate::genesis`] makes for the household and place it holds.
    pub fn is_genesis(change: &Change, id: &DocId) -> bool {
        if change.actor_id() != &Self::genesis_actor(id)
            || change.seq() != 1
            || !change.deps().is_empty()
        {
            return false;
        }
        let mut am = Automerge::new();
        let applied = crate::protocol::guard(|| am.apply_changes([change.clone()]).is_ok());
        if applied != Some(true) {
            return false;
        }
        let Ok(doc) = Document::from_automerge(am) else {
            return false;
        };
        let Ok(record) = doc.read::<Self>() else {
            return false;
        };
        if &record.id != id {
            return false;
        }
        match Self::genesis(&record.household, record.place) {
            Ok(canonical) => canonical.heads() == vec![change.hash()],
            Err(_) => false,
        }
    }

    /// Writes the old-layout values `lifted` (from [`lifted_legacy`]) into the entries of
    /// their residents. A value that does not parse (an old phone's garbage) is skipped.
    /// Returns how many fields were written.
    pub fn apply_legacy(&mut self, lifted: &BTreeMap<ResidentId, Map<String, Value>>) -> usize {
        let mut written = 0;
        for (id, fields) in lifted {
            let entry = self.resident_entry(id);
            for (key, value) in fields {
                let ok = match key.as_str() {
                    "id_number" => parse_into(value, &mut entry.id_number),
                    "phone" => parse_into(value, &mut entry.phone),
                    "birth_date" => parse_into(value, &mut entry.birth_date),
                    "special_groups" => parse_groups(value, &mut entry.special_groups),
                    _ => false,
                };
                written += usize::from(ok);
            }
        }
        self.residents.retain(|r| !r.is_empty());
        written
    }
}

fn parse_into<T: serde::de::DeserializeOwned>(value: &Value, slot: &mut Option<T>) -> bool {
    match serde_json::from_value::<Option<T>>(value.clone()) {
        Ok(parsed) => {
            *slot = parsed;
            true
        }
        Err(_) => false,
    }
}

/// Merges the special groups an old phone wrote into `slot` by membership id: each one it
/// holds is added or replaces the entry of the same id; entries it does not hold are kept (a
/// group recorded on a new phone is never dropped by an old phone's list).
fn parse_groups(value: &Value, slot: &mut Vec<SpecialGroup>) -> bool {
    let Some(items) = value.as_array() else {
        return false;
    };
    for group in items
        .iter()
        .filter_map(|item| serde_json::from_value::<SpecialGroup>(item.clone()).ok())
    {
        match slot.iter_mut().find(|g| g.id == group.id) {
            Some(existing) => *existing = group,
            None => slot.push(group),
        }
    }
    true
}

impl Record for HouseholdPrivate {
    const KIND: RecordKind = RecordKind::HouseholdPrivate;

    fn id(&self) -> &DocId {
        &self.id
    }

    fn place(&self) -> &Place {
        &self.place
    }

    fn check(&self, ctx: &ValidationContext, v: &mut Violations) {
        if self.id != Self::id_for(&self.household) {
            v.push("id", "is not the private document id of the household");
        }
        v.max_len("notes", &self.notes, NOTES_MAX_CHARS);
        let mut ids = BTreeSet::new();
        for (i, r) in self.residents.iter().enumerate() {
            let at = |field: &str| format!("residents[{i}].{field}");
            if !ids.insert(&r.id) {
                v.push(at("id"), "is used by two entries");
            }
            if let Some(id_number) = &r.id_number {
                v.id_number(at("id_number"), id_number, r.birth_date.as_ref());
            }
            if let Some(phone) = &r.phone {
                v.phone(at("phone"), phone);
            }
            let mut seen = BTreeSet::new();
            for (j, g) in r.special_groups.iter().enumerate() {
                let gat = |field: &str| format!("residents[{i}].special_groups[{j}].{field}");
                if !ctx.special_groups.contains(&g.group) {
                    v.push(gat("group"), "is not a configured special group");
                }
                if !seen.insert(&g.id) {
                    v.push(gat("id"), "is used twice");
                }
                v.ordered(
                    gat("valid_until"),
                    g.valid_from.as_ref(),
                    g.valid_until.as_ref(),
                    "valid_from",
                );
            }
        }
    }

    fn check_update(before: &Self, after: &Self, v: &mut Violations) {
        if before.household != after.household {
            v.push("household", "never changes");
        }
    }
}

/// Removes the old-layout keys from every resident of a household's JSON.
pub fn strip_legacy_keys(household: &mut Value) {
    for resident in residents_mut(household) {
        for key in LEGACY_RESIDENT_KEYS {
            resident.remove(key);
        }
    }
}

fn residents_mut(household: &mut Value) -> impl Iterator<Item = &mut Map<String, Value>> {
    household
        .get_mut("residents")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object_mut)
}

fn legacy_fields(household: &Value) -> BTreeMap<ResidentId, Map<String, Value>> {
    let mut out = BTreeMap::new();
    let residents = household.get("residents").and_then(Value::as_array);
    for resident in residents.into_iter().flatten() {
        let Some(id) = resident
            .get("id")
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<ResidentId>().ok())
        else {
            continue;
        };
        let fields: Map<String, Value> = LEGACY_RESIDENT_KEYS
            .iter()
            .filter_map(|k| resident.get(*k).map(|v| ((*k).to_owned(), v.clone())))
            .collect();
        if !fields.is_empty() {
            out.insert(id, fields);
        }
    }
    out
}

/// May this change write an old-layout key of a household (its bytes name one)? False
/// positives (a note that mentions `phone`) only cost a check; a change that writes one of
/// these keys always names it.
pub fn names_legacy_key(change: &Change) -> bool {
    let bytes = change.raw_bytes();
    LEGACY_RESIDENT_KEYS
        .iter()
        .any(|key| bytes.windows(key.len()).any(|w| w == key.as_bytes()))
}

/// Does this household JSON still hold old-layout fields?
pub fn has_legacy_fields(household: &Value) -> bool {
    household
        .get("residents")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .any(|r| LEGACY_RESIDENT_KEYS.iter().any(|k| r.contains_key(*k)))
}

/// The old-layout values of a household that an editor wrote between two versions: those
/// present in `view` that differ from the same resident's value in `base` (all of them when
/// `base` is `None`, as for the migration of a stored household). Reading the editor's own
/// view keeps what Automerge would hide after the merge (an insert into a special-group list
/// whose key the server deleted concurrently).
pub fn lifted_legacy(
    base: Option<&Value>,
    view: &Value,
) -> BTreeMap<ResidentId, Map<String, Value>> {
    let before = base.map(legacy_fields).unwrap_or_default();
    let mut out = legacy_fields(view);
    for (id, fields) in &mut out {
        if let Some(old) = before.get(id) {
            fields.retain(|k, v| old.get(k) != Some(v));
        }
    }
    out.retain(|_, fields| !fields.is_empty());
    out
}

/// The old-layout values of a household JSON as identities (for a phone that holds an old
/// household and not yet its private document). Values that do not parse are left out.
pub fn legacy_identities(household: &Value) -> Vec<ResidentIdentity> {
    let mut out = Vec::new();
    for (id, fields) in legacy_fields(household) {
        let mut entry = ResidentIdentity::new(id);
        for (key, value) in &fields {
            match key.as_str() {
                "id_number" => {
                    parse_into(value, &mut entry.id_number);
                }
                "phone" => {
                    parse_into(value, &mut entry.phone);
                }
                "birth_date" => {
                    parse_into(value, &mut entry.birth_date);
                }
                _ => {
                    parse_groups(value, &mut entry.special_groups);
                }
            }
        }
        out.push(entry);
    }
    out
}

/// Deletes the old-layout keys from every resident of the household document, as one change
/// by `author`. Returns the change's hash, or `None` when there was nothing to delete.
pub fn delete_legacy_keys(
    doc: &mut Document,
    author: &Author,
) -> Result<Option<ChangeHash>, DocumentError> {
    let am = doc.automerge_mut();
    am.set_actor(author.actor.clone());
    let mut tx = am.transaction();
    let residents = match tx.get(ROOT, "residents")? {
        Some((automerge::Value::Object(ObjType::List), list)) => list,
        _ => {
            tx.rollback();
            return Ok(None);
        }
    };
    let mut deleted = 0;
    for i in 0..tx.length(&residents) {
        let Some((automerge::Value::Object(ObjType::Map), resident)) = tx.get(&residents, i)?
        else {
            continue;
        };
        for key in LEGACY_RESIDENT_KEYS {
            if tx.get(&resident, key)?.is_some() {
                tx.delete(&resident, key)?;
                deleted += 1;
            }
        }
    }
    if deleted == 0 {
        tx.rollback();
        return Ok(None);
    }
    let (hash, _) = tx.commit_with(author.commit_options());
    Ok(hash)
}

/// The household as the grid worker sees it: the household's JSON with each resident's
/// identity from the private document (`id_number`, `phone`, `birth_date`, `special_groups`;
/// empty where none is recorded or none is given) and the private notes as `private_notes`.
/// Old-layout values still in the household are kept where the private document has no entry.
pub fn join_json(household: &mut Value, private: Option<&Value>) {
    let entries: BTreeMap<String, Map<String, Value>> = private
        .and_then(|p| p.get("residents"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| {
            let id = r.get("id")?.as_str()?.to_owned();
            Some((id, r.as_object()?.clone()))
        })
        .collect();
    for resident in residents_mut(household) {
        let id = resident
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let entry = entries.get(&id);
        for key in LEGACY_RESIDENT_KEYS {
            let value = match entry.and_then(|e| e.get(key)) {
                Some(value) => value.clone(),
                None if entry.is_none() && resident.contains_key(key) => continue,
                None if key == "special_groups" => Value::Array(Vec::new()),
                None => Value::Null,
            };
            resident.insert(key.to_owned(), value);
        }
    }
    if let Some(root) = household.as_object_mut() {
        let notes = private
            .and_then(|p| p.get("notes"))
            .cloned()
            .unwrap_or_else(|| Value::String(String::new()));
        root.insert("private_notes".to_owned(), notes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{CommunityId, GridId};

    fn place() -> Place {
        Place {
            community: "hp-dzk".parse::<CommunityId>().unwrap(),
            grid: "hp-dzk-01".parse::<GridId>().unwrap(),
        }
    }

    #[test]
    fn the_first_change_is_the_same_whoever_makes_it() {
        let household = DocId::new();
        let a = HouseholdPrivate::genesis(&household, place()).unwrap();
        let b = HouseholdPrivate::genesis(&household, place()).unwrap();
        assert_eq!(a.heads(), b.heads());
        assert_eq!(a.id(), &HouseholdPrivate::id_for(&household));
        let change = a.automerge().get_changes(&[]).pop().unwrap().clone();
        assert!(HouseholdPrivate::is_genesis(&change, a.id()));
        // Not the canonical change of another document.
        assert!(!HouseholdPrivate::is_genesis(
            &change,
            &HouseholdPrivate::id_for(&DocId::new())
        ));
    }

    #[test]
    fn only_changed_old_layout_values_are_lifted() {
        let rid = ResidentId::new();
        let base =
            serde_json::json!({"residents": [{"id": rid, "name": "a", "phone": "13800000000"}]});
        let view = serde_json::json!({"residents": [{"id": rid, "name": "a", "phone": "13800000000", "id_number": "x"}]});
        let lifted = lifted_legacy(Some(&base), &view);
        assert_eq!(lifted[&rid].keys().collect::<Vec<_>>(), vec!["id_number"]);
        let all = lifted_legacy(None, &view);
        assert_eq!(all[&rid].len(), 2);
    }
}
