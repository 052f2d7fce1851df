//! History: every change of a record with who, when, why and which fields it touched.
//!
//! Each Automerge change carries its actor, the device clock and an optional message. The
//! fields it touched are found by diffing the document between the change's dependencies and
//! the change itself, so the answer is exact even for changes made concurrently on several
//! phones. The server maps each device to its user to say "grid worker Li, phone 2".

use std::collections::BTreeMap;

use automerge::{ChangeHash, ObjId, ObjType, PatchAction, Prop, ROOT, ReadDoc, ScalarValue, Value};
use serde::Serialize;
use serde_json::Value as Json;

use crate::conflicts::{FieldPath, PathSegment, Provenance};
use crate::doc::{Document, device_of_actor};
use crate::ids::DeviceId;
use crate::json::scalar_to_json;

/// What a change did to one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EditKind {
    /// Set a value (or created an object there).
    Set,
    /// Inserted into a list.
    Insert,
    /// Removed from a map or list.
    Delete,
    /// Incremented a counter.
    Increment,
    /// Edited text.
    EditText,
}

/// One field a change touched.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldEdit {
    /// The field, e.g. `residents[2].phone`.
    pub field: String,
    /// The path as segments.
    pub path: FieldPath,
    /// What happened.
    pub edit: EditKind,
    /// The new value for scalar writes. May be personal data: the server masks it.
    pub value: Option<Json>,
}

/// One change of a record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryEntry {
    /// The change's hash, hex.
    pub change: String,
    /// Who made it: actor, device, device time.
    #[serde(flatten)]
    pub by: Provenance,
    /// The author's message, if any.
    pub message: Option<String>,
    /// The changes it built on, hex.
    pub deps: Vec<String>,
    /// The fields it touched.
    pub edits: Vec<FieldEdit>,
}

/// The record's changes in causal order (a change always after the ones it depends on).
pub fn history(doc: &Document) -> Vec<HistoryEntry> {
    let am = doc.automerge();
    am.get_changes(&[])
        .into_iter()
        .map(|change| {
            let hash = change.hash();
            let edits = edits_of(doc, change.deps(), hash);
            HistoryEntry {
                change: hash.to_string(),
                by: Provenance::of_change(doc, Some(hash), change.actor_id()),
                message: change.message().map(str::to_owned),
                deps: change.deps().iter().map(ToString::to_string).collect(),
                edits,
            }
        })
        .collect()
}

/// The fields one change touched: the diff from its dependencies to itself.
fn edits_of(doc: &Document, deps: &[ChangeHash], hash: ChangeHash) -> Vec<FieldEdit> {
    let am = doc.automerge();
    let mut edits = Vec::new();
    for patch in am.diff(deps, &[hash]) {
        let base = FieldPath(patch.path.iter().map(|(_, prop)| segment(prop)).collect());
        let (seg, edit, value) = match &patch.action {
            PatchAction::PutMap { key, value, .. } => (
                PathSegment::Key(key.clone()),
                EditKind::Set,
                scalar(&value.0),
            ),
            PatchAction::PutSeq { index, value, .. } => {
                (PathSegment::Index(*index), EditKind::Set, scalar(&value.0))
            }
            PatchAction::Insert { index, values } => {
                let first = values.iter().next().and_then(|(v, _, _)| scalar(v));
                (PathSegment::Index(*index), EditKind::Insert, first)
            }
            PatchAction::SpliceText { index, .. } => {
                (PathSegment::Index(*index), EditKind::EditText, None)
            }
            PatchAction::Increment { prop, value } => {
                (segment(prop), EditKind::Increment, Some(Json::from(*value)))
            }
            PatchAction::DeleteMap { key } => {
                (PathSegment::Key(key.clone()), EditKind::Delete, None)
            }
            PatchAction::DeleteSeq { index, .. } => {
                (PathSegment::Index(*index), EditKind::Delete, None)
            }
            PatchAction::Conflict { .. } | PatchAction::Mark { .. } => continue,
        };
        let path = base.child(seg);
        edits.push(FieldEdit {
            field: path.to_string(),
            path,
            edit,
            value,
        });
    }
    edits
}

fn segment(prop: &Prop) -> PathSegment {
    match prop {
        Prop::Map(k) => PathSegment::Key(k.clone()),
        Prop::Seq(i) => PathSegment::Index(*i),
    }
}

fn scalar(value: &Value<'_>) -> Option<Json> {
    match value {
        Value::Scalar(s) => Some(scalar_to_json(s)),
        Value::Object(_) => None,
    }
}

/// Which device added one item of a record's list (a case event, a visit's finding...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemSource {
    /// The Automerge actor id of the change that created the item, hex.
    pub actor: String,
    /// Its device, when the actor was made by [`crate::doc::actor_for_device`].
    pub device: Option<DeviceId>,
}

/// For each item of the list under the top-level key `list` (items are maps with an `id`),
/// the actor whose change created the item, by item id. The item's object id names the
/// operation that made it, so the answer holds across merges and later edits of the item.
/// Items without a string `id` are skipped; a missing list gives an empty map.
pub fn item_sources(doc: &Document, list: &str) -> BTreeMap<String, ItemSource> {
    let am = doc.automerge();
    let mut out = BTreeMap::new();
    let Ok(Some((Value::Object(ObjType::List), list_id))) = am.get(ROOT, list) else {
        return out;
    };
    for index in 0..am.length(&list_id) {
        let Ok(Some((Value::Object(ObjType::Map), item))) = am.get(&list_id, index) else {
            continue;
        };
        let Ok(Some((Value::Scalar(id), _))) = am.get(&item, "id") else {
            continue;
        };
        let (ScalarValue::Str(id), ObjId::Id(_, actor, _)) = (id.as_ref(), &item) else {
            continue;
        };
        out.insert(
            id.to_string(),
            ItemSource {
                actor: actor.to_hex_string(),
                device: device_of_actor(actor),
            },
        );
    }
    out
}
