//! Bounds on the shape of documents whose changes come from elsewhere.
//!
//! Rendering a document (Automerge's `hydrate`, [`crate::json`]), reading it as a typed
//! record (serde), scanning it for conflicts and masking its JSON all recurse once per level
//! of nesting. A hostile change of under a kilobyte can nest maps hundreds of levels deep
//! under a key no record has, and any of those walks would then overflow the thread's stack,
//! which aborts the whole process (a stack overflow is not a panic that can be caught).
//!
//! So the nesting depth is checked where changes enter a document — the server's
//! [`crate::server::apply_push`] and the phone's [`crate::client::Replica::apply_response`] —
//! right after they are applied to a scratch copy and before any recursive walk. Only the
//! objects the new changes create need checking: everything already in the document passed
//! the same check when it arrived. The check itself is iterative and costs one step per
//! created object (plus one bounded walk up the parents for each object they are created in).
//! Every recursive walk in this crate is also cut off at [`WALK_LIMIT`], a second line of
//! defence for documents that did not come through either door.

use std::collections::{HashMap, HashSet};

use automerge::legacy::{Key, ObjectId, OpType};
use automerge::{ActorId, Automerge, Change, ChangeHash, ObjType, ReadDoc};

use crate::protocol::guard;

/// The deepest an object may sit below the document's root: the root's own fields are at
/// depth 1. Records nest at most 3 levels (a case's `mediation` list → a session → its
/// `mediators` list); 16 leaves room for every record kind to come.
pub const MAX_DEPTH: usize = 16;

/// Where the crate's recursive walks (JSON rendering, conflict scans) stop descending: past
/// [`MAX_DEPTH`], so no accepted document is ever cut, but far below what overflows a
/// 2 MiB thread stack in a debug build (about 100 levels of Automerge's `hydrate`).
pub const WALK_LIMIT: usize = MAX_DEPTH + 4;

/// Why changes were refused for their shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    /// An object would sit deeper than [`MAX_DEPTH`].
    #[error("objects nest more than {MAX_DEPTH} levels deep (under `{field}`)")]
    TooDeep {
        /// The record's top-level field under which the nesting happens.
        field: String,
    },
    /// A change creates an object inside one the document cannot place.
    #[error("a change creates an object inside an object the document cannot place")]
    Unplaceable,
}

/// Checks the depth of every object that `changes` create. `am` must already hold the
/// changes (the scratch copy they were applied to). Iterative: safe on any input.
pub fn check_new_objects(am: &Automerge, changes: &[Change]) -> Result<(), ShapeError> {
    let mut tree = Tree::new(am);
    let mut created = Vec::new();
    for change in changes {
        created.extend(tree.learn(change)?);
    }
    for object in created {
        if tree.depth(&object)? > MAX_DEPTH {
            return Err(ShapeError::TooDeep {
                field: tree.top_level_field(&object),
            });
        }
    }
    Ok(())
}

/// The top-level field under which `changes` create an Automerge `Text` object, if they do.
/// `am` must already hold the changes (run [`check_new_objects`] first).
///
/// Records hold text as string scalars ([`crate::schema`], `x-automerge: "str"`): a `Text`
/// object (what Automerge JavaScript makes of a plain string unless it is written as an
/// `ImmutableString`) reads the same in the JSON view, but a phone that edits the field writes
/// a scalar over it, so two phones' edits of it would no longer merge as edits of one value.
/// The server refuses such changes (`invalid_record` naming the field).
pub fn text_object_field(am: &Automerge, changes: &[Change]) -> Result<Option<String>, ShapeError> {
    let mut tree = Tree::new(am);
    let mut made = Vec::new();
    for change in changes {
        made.extend(tree.learn(change)?);
    }
    for object in made {
        if tree.placements.get(&object).is_some_and(|p| p.text) {
            // Learns the parents, so that the field can be named.
            tree.depth(&object)?;
            return Ok(Some(tree.top_level_field(&object)));
        }
    }
    Ok(None)
}

/// An object's id: the counter and actor of the operation that made it.
type ObjKey = (u64, ActorId);

/// Where an object was made: in which object (`None`: the root) and under which key.
#[derive(Debug)]
struct Placement {
    parent: Option<ObjKey>,
    key: Option<String>,
    /// The object is an Automerge `Text` (records hold none: [`text_object_field`]).
    text: bool,
}

/// The parent links of the objects met so far, read from the operations that made them.
///
/// Automerge's own `parents()` is not used: it computes each list element's index, which
/// for an element deleted concurrently trips an internal assertion. The operations say all
/// that depth needs.
struct Tree<'a> {
    am: &'a Automerge,
    placements: HashMap<ObjKey, Placement>,
    depths: HashMap<ObjKey, usize>,
    decoded: HashSet<ChangeHash>,
}

impl<'a> Tree<'a> {
    fn new(am: &'a Automerge) -> Self {
        Self {
            am,
            placements: HashMap::new(),
            depths: HashMap::new(),
            decoded: HashSet::new(),
        }
    }

    /// Records where the objects made by `change` sit; returns them.
    fn learn(&mut self, change: &Change) -> Result<Vec<ObjKey>, ShapeError> {
        self.decoded.insert(change.hash());
        let decoded = guard(|| change.decode()).ok_or(ShapeError::Unplaceable)?;
        let start = decoded.start_op.get();
        let mut made = Vec::new();
        for (offset, op) in decoded.operations.iter().enumerate() {
            if !matches!(op.action, OpType::Make(_)) {
                continue;
            }
            let parent = match &op.obj {
                ObjectId::Root => None,
                ObjectId::Id(id) => Some((id.0, id.1.clone())),
            };
            let key = match &op.key {
                Key::Map(key) => Some(key.to_string()),
                Key::Seq(_) => None,
            };
            let id = (start + offset as u64, decoded.actor_id.clone());
            let text = matches!(op.action, OpType::Make(ObjType::Text));
            self.placements
                .insert(id.clone(), Placement { parent, key, text });
            made.push(id);
        }
        Ok(made)
    }

    /// Where `object` was made, decoding the change that made it if need be.
    fn placement(&mut self, object: &ObjKey) -> Result<&Placement, ShapeError> {
        if !self.placements.contains_key(object) {
            let exid = self
                .am
                .import_obj(&format!("{}@{}", object.0, object.1))
                .map_err(|_| ShapeError::Unplaceable)?;
            let hash = self
                .am
                .hash_for_opid(&exid)
                .ok_or(ShapeError::Unplaceable)?;
            if self.decoded.contains(&hash) {
                return Err(ShapeError::Unplaceable);
            }
            let change = guard(|| self.am.get_change_by_hash(&hash))
                .flatten()
                .ok_or(ShapeError::Unplaceable)?;
            self.learn(&change)?;
        }
        self.placements.get(object).ok_or(ShapeError::Unplaceable)
    }

    /// How deep `object` sits (a field of the root: 1), or [`MAX_DEPTH`] + 1 for anything
    /// deeper. Walks up at most that many parents, remembering every depth it learns.
    fn depth(&mut self, object: &ObjKey) -> Result<usize, ShapeError> {
        let mut chain = Vec::new();
        let mut current = Some(object.clone());
        let base = loop {
            let Some(here) = current else { break 0 };
            if let Some(depth) = self.depths.get(&here) {
                break *depth;
            }
            if chain.len() > MAX_DEPTH {
                break MAX_DEPTH + 1;
            }
            current = self.placement(&here)?.parent.clone();
            chain.push(here);
        };
        let mut depth = base;
        for object in chain.into_iter().rev() {
            depth = (depth + 1).min(MAX_DEPTH + 1);
            self.depths.insert(object, depth);
        }
        Ok(depth)
    }

    /// The root-level field `object` sits under, for the error message.
    fn top_level_field(&self, object: &ObjKey) -> String {
        let mut current = object;
        for _ in 0..=MAX_DEPTH * 4 {
            match self.placements.get(current) {
                Some(Placement {
                    parent: Some(parent),
                    ..
                }) => current = parent,
                Some(Placement {
                    parent: None,
                    key: Some(key),
                    ..
                }) => return key.clone(),
                _ => break,
            }
        }
        "(root)".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::transaction::Transactable;
    use automerge::{ObjType, ROOT};

    /// A document with maps nested `levels` deep under `key`, made in one change, and that
    /// change.
    fn nested(levels: usize, key: &str) -> (Automerge, Vec<Change>) {
        let mut am = Automerge::new();
        let mut tx = am.transaction();
        let mut obj = ROOT;
        for _ in 0..levels {
            obj = tx.put_object(&obj, key, ObjType::Map).unwrap_or(ROOT);
        }
        tx.commit();
        let changes = am.get_changes(&[]);
        (am, changes)
    }

    #[test]
    fn nesting_up_to_the_limit_is_accepted() {
        let (am, changes) = nested(MAX_DEPTH, "x");
        assert_eq!(check_new_objects(&am, &changes), Ok(()));
    }

    #[test]
    fn nesting_past_the_limit_is_refused_naming_the_field() {
        let (am, changes) = nested(MAX_DEPTH + 1, "unknown");
        assert_eq!(
            check_new_objects(&am, &changes),
            Err(ShapeError::TooDeep {
                field: "unknown".to_owned()
            })
        );
        let (am, changes) = nested(10_000, "deep");
        assert!(check_new_objects(&am, &changes).is_err());
    }

    #[test]
    fn depth_counts_the_objects_already_in_the_document() {
        // Half the depth in a first change, the rest in a second one built on it: only the
        // second is new, and its objects sit under the first's.
        let (mut am, _) = nested(MAX_DEPTH / 2 + 1, "x");
        let before = am.get_heads();
        let mut tx = am.transaction();
        let mut obj = ROOT;
        for _ in 0..=MAX_DEPTH / 2 {
            obj = match tx.get(&obj, "x") {
                Ok(Some((_, id))) => id,
                _ => break,
            };
        }
        for _ in 0..MAX_DEPTH / 2 {
            obj = tx.put_object(&obj, "x", ObjType::Map).unwrap_or(ROOT);
        }
        tx.commit();
        let new: Vec<Change> = am.get_changes(&before);
        assert!(matches!(
            check_new_objects(&am, &new),
            Err(ShapeError::TooDeep { .. })
        ));
    }

    #[test]
    fn objects_created_inside_deleted_ones_are_placed() {
        let mut am = Automerge::new();
        let mut tx = am.transaction();
        let list = tx.put_object(ROOT, "items", ObjType::List).unwrap_or(ROOT);
        let item = tx.insert_object(&list, 0, ObjType::Map).unwrap_or(ROOT);
        tx.commit();
        let base = am.get_heads();
        let mut other = am.fork();
        // One side deletes the item, the other nests a map in it concurrently.
        let mut tx = am.transaction();
        let _ = tx.delete(&list, 0);
        tx.commit();
        let mut tx = other.transaction();
        let _ = tx.put_object(&item, "inner", ObjType::Map);
        tx.commit();
        let new: Vec<Change> = other.get_changes(&base);
        let _ = am.apply_changes(new.clone());
        assert_eq!(check_new_objects(&am, &new), Ok(()));
    }
}
