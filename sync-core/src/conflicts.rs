//! Conflicts: concurrent writes of the same field, with who wrote each value and when.
//!
//! Automerge keeps every concurrently written value of a property and picks one winner
//! deterministically. Gridbook never lets that pick pass silently: [`conflicts`] lists every
//! property that holds more than one value, with the actor, device, time and change of each, so a
//! person can choose. [`resolve`] writes the chosen value as an ordinary change, which replaces
//! all the competing values once it has reached every replica.

use std::fmt;

use automerge::transaction::Transactable;
use automerge::{ChangeHash, ObjId, ObjType, Prop, ROOT, ReadDoc, Value};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::doc::{Author, Document, device_of_actor};
use crate::ids::DeviceId;
use crate::json::{json_to_scalar, value_to_json};
use crate::models::Case;
use crate::time::Timestamp;
use crate::validate::{RecordInvalid, ValidationContext};
use crate::workflow::{self, IllegalEvent};

/// One step of a path into a record: a map key or a list index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PathSegment {
    /// A key of a map.
    Key(String),
    /// A position in a list.
    Index(usize),
}

/// A path into a record, shown as `residents[1].phone`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FieldPath(pub Vec<PathSegment>);

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                PathSegment::Key(k) if i == 0 => f.write_str(k)?,
                PathSegment::Key(k) => write!(f, ".{k}")?,
                PathSegment::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

impl FieldPath {
    /// The path with one more step.
    pub fn child(&self, seg: PathSegment) -> Self {
        let mut next = self.0.clone();
        next.push(seg);
        Self(next)
    }

    /// The last key of the path, e.g. `phone` for `residents[1].phone`.
    pub fn leaf_key(&self) -> Option<&str> {
        self.0.iter().rev().find_map(|s| match s {
            PathSegment::Key(k) => Some(k.as_str()),
            PathSegment::Index(_) => None,
        })
    }
}

/// Who wrote a change: Automerge actor, the device it maps to, the device clock, the change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Provenance {
    /// The Automerge actor id, hex.
    pub actor: String,
    /// The device, when the actor was made by [`crate::doc::actor_for_device`].
    pub device: Option<DeviceId>,
    /// The writing device's clock.
    pub at: Option<Timestamp>,
    /// The change that wrote it, hex.
    pub change: Option<String>,
}

impl Provenance {
    pub(crate) fn of_change(
        doc: &Document,
        hash: Option<ChangeHash>,
        actor: &automerge::ActorId,
    ) -> Self {
        let at = hash
            .and_then(|h| doc.automerge().get_change_meta_by_hash(&h))
            .map(|m| Timestamp::from_change_time(m.timestamp));
        Self {
            actor: actor.to_hex_string(),
            device: device_of_actor(actor),
            at,
            change: hash.map(|h| h.to_string()),
        }
    }

    /// Who wrote a change, from its metadata.
    pub(crate) fn of_meta(meta: &automerge::ChangeMetadata<'_>) -> Self {
        Self {
            actor: meta.actor.to_hex_string(),
            device: device_of_actor(&meta.actor),
            at: Some(Timestamp::from_change_time(meta.timestamp)),
            change: Some(meta.hash.to_string()),
        }
    }
}

/// One of the competing values of a conflicted field.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConflictValue {
    /// The value (an object is shown as its JSON).
    pub value: Json,
    /// Who wrote it and when.
    #[serde(flatten)]
    pub written_by: Provenance,
    /// True for the value Automerge shows until someone resolves the conflict.
    pub shown: bool,
}

/// A field holding more than one concurrently written value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Conflict {
    /// Where the field is.
    pub path: FieldPath,
    /// The same path as text, e.g. `residents[1].phone`.
    pub field: String,
    /// Every value, the shown one first.
    pub values: Vec<ConflictValue>,
}

/// Everything in one record that a person must look at: fields holding competing values, and
/// case events that stopped being legal once concurrent edits were merged.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConflictReport {
    /// Fields with more than one concurrently written value.
    pub fields: Vec<Conflict>,
    /// Case events kept in the log but skipped by the workflow fold (cases only).
    pub illegal_events: Vec<IllegalEvent>,
}

impl ConflictReport {
    /// True when there is nothing to look at.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.illegal_events.is_empty()
    }
}

/// The conflict report of a record (the conflict inbox's unit).
pub fn report(doc: &Document) -> ConflictReport {
    let illegal_events = match doc.read::<Case>() {
        Ok(case) => workflow::fold(&case).illegal,
        Err(_) => Vec::new(),
    };
    ConflictReport {
        fields: conflicts(doc),
        illegal_events,
    }
}

/// Every conflicted field of the document, in document order.
pub fn conflicts(doc: &Document) -> Vec<Conflict> {
    let mut found = Vec::new();
    walk(doc, &ROOT, ObjType::Map, &FieldPath::default(), &mut found);
    found
}

/// One pass over each object (`map_range`/`list_range` say which fields have competing
/// values); every value of a field is read only for those. Stops descending at
/// [`crate::shape::WALK_LIMIT`] levels (the path's length is the depth).
fn walk(doc: &Document, obj: &ObjId, kind: ObjType, path: &FieldPath, found: &mut Vec<Conflict>) {
    if path.0.len() > crate::shape::WALK_LIMIT {
        return;
    }
    let am = doc.automerge();
    let fields: Vec<(Prop, Option<ObjType>, ObjId, bool)> = match kind {
        ObjType::Map | ObjType::Table => am
            .map_range(obj, ..)
            .map(|item| {
                let (child, id) = (object_kind(&item.value), item.id());
                (Prop::Map(item.key.into_owned()), child, id, item.conflict)
            })
            .collect(),
        ObjType::List => am
            .list_range(obj, ..)
            .map(|item| {
                let child = object_kind(&item.value);
                (Prop::Seq(item.index), child, item.id(), item.conflict)
            })
            .collect(),
        ObjType::Text => return,
    };
    for (prop, child_kind, shown, conflict) in fields {
        let seg = match &prop {
            Prop::Map(k) => PathSegment::Key(k.clone()),
            Prop::Seq(i) => PathSegment::Index(*i),
        };
        let here = path.child(seg);
        if conflict {
            let all = am.get_all(obj, prop).unwrap_or_default();
            if all.len() > 1 {
                found.push(Conflict {
                    field: here.to_string(),
                    values: competing_values(doc, &all, &shown),
                    path: here.clone(),
                });
            }
        }
        if let Some(child_kind) = child_kind {
            walk(doc, &shown, child_kind, &here, found);
        }
    }
}

fn object_kind(value: &automerge::ValueRef<'_>) -> Option<ObjType> {
    match value {
        automerge::ValueRef::Object(kind) => Some(*kind),
        automerge::ValueRef::Scalar(_) => None,
    }
}

fn competing_values(
    doc: &Document,
    all: &[(Value<'_>, ObjId)],
    shown: &ObjId,
) -> Vec<ConflictValue> {
    let am = doc.automerge();
    let mut values: Vec<ConflictValue> = all
        .iter()
        .map(|(value, id)| {
            let actor = match id {
                ObjId::Id(_, actor, _) => actor.clone(),
                ObjId::Root => am.get_actor().clone(),
            };
            ConflictValue {
                value: value_to_json(am, value, id),
                written_by: Provenance::of_change(doc, am.hash_for_opid(id), &actor),
                shown: id == shown,
            }
        })
        .collect();
    values.sort_by_key(|v| !v.shown);
    values
}

/// Why a conflict could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The path does not lead to a field of the record.
    #[error("no field at {0}")]
    NoSuchField(String),
    /// The field holds a single value (already resolved, perhaps by someone else).
    #[error("the field {0} is not in conflict")]
    NotInConflict(String),
    /// The chosen value is an object or array; choose one of the competing values instead.
    #[error("the chosen value for {0} must be one of the competing values or a plain value")]
    UnsupportedValue(String),
    /// The record would break its schema with this value.
    #[error(transparent)]
    Invalid(#[from] RecordInvalid),
    /// Automerge refused the write.
    #[error("automerge: {0}")]
    Automerge(#[from] automerge::AutomergeError),
}

/// Resolves the conflict at `path` by writing `chosen` as a change by `author`.
///
/// `chosen` is normally one of the competing values (its exact stored type is kept); a plain
/// JSON value (string, number, boolean, null) typed by a supervisor is accepted too. The record
/// is validated with the new value before anything is written.
pub fn resolve(
    doc: &mut Document,
    author: &Author,
    ctx: &ValidationContext,
    path: &FieldPath,
    chosen: &Json,
) -> Result<ChangeHash, ResolveError> {
    let field = path.to_string();
    let (parent, prop) =
        locate(doc, path).ok_or_else(|| ResolveError::NoSuchField(field.clone()))?;
    let am = doc.automerge();
    let all = am.get_all(&parent, prop.clone())?;
    if all.len() < 2 {
        return Err(ResolveError::NotInConflict(field));
    }
    // Prefer the exact stored form of a competing value (keeps Uint vs Int, objects).
    let existing = all
        .iter()
        .find(|(v, id)| value_to_json(am, v, id) == *chosen);
    let mut next = doc.clone();
    next.set_actor(author.actor.clone());
    let mut tx = next.automerge_mut().transaction();
    match existing {
        Some((Value::Scalar(s), _)) => {
            tx.put(&parent, prop, s.as_ref().clone())?;
        }
        Some((Value::Object(_), _)) | None => match json_to_scalar(chosen) {
            Some(s) => {
                tx.put(&parent, prop, s)?;
            }
            None if existing.is_some() => {
                write_json(&mut tx, Slot::Put(&parent, prop), chosen)?;
            }
            None => return Err(ResolveError::UnsupportedValue(field)),
        },
    }
    let opts = automerge::transaction::CommitOptions::default()
        .with_time(author.at.millis())
        .with_message(
            author
                .message
                .clone()
                .unwrap_or_else(|| format!("resolve conflict at {field}")),
        );
    let (hash, _) = tx.commit_with(opts);
    next.validate(ctx)?;
    let hash = hash.ok_or_else(|| ResolveError::NotInConflict(field))?;
    *doc = next;
    Ok(hash)
}

/// Where [`write_json`] writes: a map key (or list index) to overwrite, or a list position to
/// insert at.
enum Slot<'a> {
    Put(&'a ObjId, Prop),
    Insert(&'a ObjId, usize),
}

/// Writes JSON, creating fresh Automerge objects for objects and arrays.
fn write_json(
    tx: &mut automerge::transaction::Transaction<'_>,
    slot: Slot<'_>,
    value: &Json,
) -> Result<(), automerge::AutomergeError> {
    if let Some(scalar) = json_to_scalar(value) {
        return match slot {
            Slot::Put(obj, prop) => tx.put(obj, prop, scalar),
            Slot::Insert(obj, i) => tx.insert(obj, i, scalar),
        };
    }
    let kind = if value.is_array() {
        ObjType::List
    } else {
        ObjType::Map
    };
    let child = match slot {
        Slot::Put(obj, prop) => tx.put_object(obj, prop, kind)?,
        Slot::Insert(obj, i) => tx.insert_object(obj, i, kind)?,
    };
    match value {
        Json::Object(map) => {
            for (k, v) in map {
                write_json(tx, Slot::Put(&child, Prop::Map(k.clone())), v)?;
            }
        }
        Json::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                write_json(tx, Slot::Insert(&child, i), v)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// The object holding the last step of `path`, and that step as a property.
fn locate(doc: &Document, path: &FieldPath) -> Option<(ObjId, Prop)> {
    let am = doc.automerge();
    let (last, parents) = path.0.split_last()?;
    let mut obj = ROOT;
    for seg in parents {
        let prop = to_prop(seg);
        match am.get(&obj, prop).ok().flatten()? {
            (Value::Object(_), id) => obj = id,
            (Value::Scalar(_), _) => return None,
        }
    }
    let prop = to_prop(last);
    am.get(&obj, prop.clone()).ok().flatten()?;
    Some((obj, prop))
}

fn to_prop(seg: &PathSegment) -> Prop {
    match seg {
        PathSegment::Key(k) => Prop::Map(k.clone()),
        PathSegment::Index(i) => Prop::Seq(*i),
    }
}
