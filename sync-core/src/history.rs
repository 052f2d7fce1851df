//! History: every change of a record with who, when, why and which fields it touched.
//!
//! Each Automerge change carries its actor, the device clock and an optional message. The
//! fields it touched are read from the change itself: it is decoded once (its operations name
//! the object, the key and the action), and each object is named by its path in the record
//! as it is now (`ReadDoc::parents`, looked up once per object). The cost is linear in the
//! number of changes listed, never a diff of the whole document per change (which made a
//! record of 24,000 changes cost a minute of CPU). The server maps each device to its user to
//! say "grid worker Li, phone 2".
//!
//! What an entry names, per operation of the change:
//! * a map key set, deleted or incremented: `field.path`, with the new value for scalar sets;
//! * a list element inserted, set or deleted: `list[i]`, where `i` is the element's position in
//!   the record as it is now (an element since deleted: where it would be);
//! * edits of a text object: the text's path once per change (`edit_text`).
//!
//! At most [`MAX_EDITS_PER_ENTRY`] edits are listed per change; `more_edits` counts the rest.
//! [`history_page`] lists one page (newest or oldest first) and decodes only that page's
//! changes; it stops early, with [`Cancelled`], once its caller says the answer is no longer
//! wanted.

use std::collections::{BTreeMap, HashMap, HashSet};

use automerge::legacy::{ElementId, Key, ObjectId, OpType};
use automerge::{
    ActorId, Change, ChangeMetadata, Cursor, ObjId, ObjType, Prop, ROOT, ReadDoc, ScalarValue,
    Value,
};
use serde::Serialize;
use serde_json::Value as Json;

use crate::conflicts::{FieldPath, PathSegment, Provenance};
use crate::doc::{Document, device_of_actor};
use crate::ids::DeviceId;
use crate::json::scalar_to_json;
use crate::protocol::guard;

/// Most edits listed per history entry; the rest are counted in `more_edits`.
pub const MAX_EDITS_PER_ENTRY: usize = 50;

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
    /// The fields it touched (at most [`MAX_EDITS_PER_ENTRY`]).
    pub edits: Vec<FieldEdit>,
    /// How many more edits the change made than `edits` lists.
    pub more_edits: usize,
}

/// Which end of the history a page starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    /// The latest change first (the reverse of causal order).
    #[default]
    NewestFirst,
    /// Causal order: a change always after the ones it depends on.
    OldestFirst,
}

/// One page of a record's history.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryPage {
    /// The page's changes, in the order asked for.
    pub entries: Vec<HistoryEntry>,
    /// How many changes the record has.
    pub total: usize,
    /// How many changes were decoded to build the page (the page's own, no more).
    pub decoded: usize,
}

/// The caller gave up on the history (its request was dropped or timed out); the work stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the history was no longer wanted")]
pub struct Cancelled;

/// Every change of the record, oldest first (causal order: a change always after the ones it
/// depends on). Linear in the number of changes; the phone shows its local history with it.
pub fn history(doc: &Document) -> Vec<HistoryEntry> {
    let am = doc.automerge();
    let metas = am.get_changes_meta(&[]);
    let mut paths = Paths::new(am);
    am.get_changes(&[])
        .iter()
        .zip(&metas)
        .map(|(change, meta)| entry(&mut paths, meta, change))
        .collect()
}

/// One page of the record's history: `limit` changes after skipping `offset`, counted from the
/// end `order` names. Only the page's changes are read and decoded; `cancelled` is asked
/// before each one, and a `true` stops the work with [`Cancelled`].
pub fn history_page(
    doc: &Document,
    order: Order,
    offset: usize,
    limit: usize,
    cancelled: &dyn Fn() -> bool,
) -> Result<HistoryPage, Cancelled> {
    let am = doc.automerge();
    let metas = am.get_changes_meta(&[]);
    let total = metas.len();
    let picked: Vec<&ChangeMetadata<'_>> = match order {
        Order::OldestFirst => metas.iter().skip(offset).take(limit).collect(),
        Order::NewestFirst => metas.iter().rev().skip(offset).take(limit).collect(),
    };
    let mut paths = Paths::new(am);
    let mut entries = Vec::with_capacity(picked.len());
    for meta in picked {
        if cancelled() {
            return Err(Cancelled);
        }
        let Some(change) = am.get_change_by_hash(&meta.hash) else {
            continue;
        };
        entries.push(entry(&mut paths, meta, &change));
    }
    Ok(HistoryPage {
        decoded: entries.len(),
        entries,
        total,
    })
}

/// The history entry of one change.
fn entry(paths: &mut Paths<'_>, meta: &ChangeMetadata<'_>, change: &Change) -> HistoryEntry {
    let (edits, more_edits) = edits_of(paths, change);
    HistoryEntry {
        change: meta.hash.to_string(),
        by: Provenance::of_meta(meta),
        message: meta.message.as_deref().map(str::to_owned),
        deps: meta.deps.iter().map(ToString::to_string).collect(),
        edits,
        more_edits,
    }
}

/// The fields one change touched, from its own operations: the first
/// [`MAX_EDITS_PER_ENTRY`], and how many more there were.
fn edits_of(paths: &mut Paths<'_>, change: &Change) -> (Vec<FieldEdit>, usize) {
    // Stored changes were decoded once already when they were accepted; a change that still
    // fails to decode is listed without edits rather than taking the caller down.
    let Some(expanded) = guard(|| change.decode()) else {
        return (Vec::new(), 0);
    };
    let actor = expanded.actor_id.clone();
    let start = expanded.start_op.get();
    let mut edits = Vec::new();
    let mut more = 0;
    let mut texts_seen: HashSet<ObjectId> = HashSet::new();
    for (i, op) in expanded.operations.iter().enumerate() {
        if matches!(op.action, OpType::MarkBegin(_) | OpType::MarkEnd(_)) {
            continue;
        }
        let in_text = paths.kind(&op.obj) == Some(ObjType::Text);
        if in_text && !texts_seen.insert(op.obj.clone()) {
            continue;
        }
        if edits.len() >= MAX_EDITS_PER_ENTRY {
            more += 1;
            continue;
        }
        let Some(base) = paths.path(&op.obj) else {
            more += 1;
            continue;
        };
        if in_text {
            edits.push(FieldEdit {
                field: base.to_string(),
                path: base,
                edit: EditKind::EditText,
                value: None,
            });
            continue;
        }
        let edit = match (&op.action, op.insert) {
            (_, true) => EditKind::Insert,
            (OpType::Delete, false) => EditKind::Delete,
            (OpType::Increment(_), false) => EditKind::Increment,
            _ => EditKind::Set,
        };
        let value = match &op.action {
            OpType::Put(v) => Some(scalar_to_json(v)),
            OpType::Increment(by) => Some(Json::from(*by)),
            _ => None,
        };
        let seg = match &op.key {
            Key::Map(k) => PathSegment::Key(k.to_string()),
            // An inserted element is named by the insert's own op id.
            Key::Seq(_) if op.insert => {
                let own = (start + i as u64, &actor);
                match paths.index(&op.obj, own) {
                    Some(index) => PathSegment::Index(index),
                    None => {
                        edits.push(list_edit(base, edit, value));
                        continue;
                    }
                }
            }
            Key::Seq(ElementId::Id(elem)) => match paths.index(&op.obj, (elem.0, &elem.1)) {
                Some(index) => PathSegment::Index(index),
                None => {
                    edits.push(list_edit(base, edit, value));
                    continue;
                }
            },
            Key::Seq(ElementId::Head) => {
                edits.push(list_edit(base, edit, value));
                continue;
            }
        };
        let path = base.child(seg);
        edits.push(FieldEdit {
            field: path.to_string(),
            path,
            edit,
            value,
        });
    }
    (edits, more)
}

/// An edit of a list whose element could not be placed: named by the list's path.
fn list_edit(path: FieldPath, edit: EditKind, value: Option<Json>) -> FieldEdit {
    FieldEdit {
        field: path.to_string(),
        path,
        edit,
        value,
    }
}

/// Objects of the record as it is now: their paths and kinds, each looked up once.
struct Paths<'a> {
    am: &'a automerge::Automerge,
    known: HashMap<ObjectId, Option<(FieldPath, ObjType)>>,
}

impl<'a> Paths<'a> {
    fn new(am: &'a automerge::Automerge) -> Self {
        Self {
            am,
            known: HashMap::new(),
        }
    }

    fn lookup(&mut self, obj: &ObjectId) -> Option<&(FieldPath, ObjType)> {
        if !self.known.contains_key(obj) {
            let found = self.find(obj);
            self.known.insert(obj.clone(), found);
        }
        self.known.get(obj).and_then(Option::as_ref)
    }

    fn find(&self, obj: &ObjectId) -> Option<(FieldPath, ObjType)> {
        let ObjectId::Id(id) = obj else {
            return Some((FieldPath::default(), ObjType::Map));
        };
        let exid = exid(id.0, &id.1);
        let kind = self.am.object_type(&exid).ok()?;
        let parents = guard(|| self.am.parents(&exid).map(|p| p.path())).and_then(Result::ok)?;
        let path = parents
            .into_iter()
            .map(|(_, prop)| match prop {
                Prop::Map(k) => PathSegment::Key(k),
                Prop::Seq(i) => PathSegment::Index(i),
            })
            .collect();
        Some((FieldPath(path), kind))
    }

    /// The path of an object, `None` when it is not in the document.
    fn path(&mut self, obj: &ObjectId) -> Option<FieldPath> {
        self.lookup(obj).map(|(path, _)| path.clone())
    }

    /// The kind of an object.
    fn kind(&mut self, obj: &ObjectId) -> Option<ObjType> {
        self.lookup(obj).map(|(_, kind)| *kind)
    }

    /// The position in list `obj` of the element that op `(counter, actor)` inserted.
    fn index(&mut self, obj: &ObjectId, (counter, actor): (u64, &ActorId)) -> Option<usize> {
        let ObjectId::Id(id) = obj else {
            return None;
        };
        let list = exid(id.0, &id.1);
        let cursor = Cursor::try_from(format!("{counter}@{actor}").as_str()).ok()?;
        guard(|| self.am.get_cursor_position(&list, &cursor, None))?.ok()
    }
}

/// The exported id of op `(counter, actor)`. The actor's index inside the document is not
/// known here; Automerge looks the actor up when the index does not match.
fn exid(counter: u64, actor: &ActorId) -> ObjId {
    ObjId::Id(counter, actor.clone(), usize::MAX)
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
