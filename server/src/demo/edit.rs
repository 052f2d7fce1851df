//! Editing a record in place: one Automerge change per edit, made of targeted reconciliations
//! at a path ([`Key`]) instead of reading and diffing the whole record.

use anyhow::bail;
use automerge::transaction::{CommitOptions, Transaction};
use automerge::{ObjId, ROOT, ReadDoc};
use autosurgeon::{Reconcile, ReconcileError};
use sync_core::doc::Document;
use sync_core::time::Timestamp;

use super::plan::DemoUser;

/// A step of a path into a record: a map key or a list index.
#[derive(Clone, Copy)]
pub(super) enum Key {
    Field(&'static str),
    Index(usize),
}

impl From<Key> for automerge::Prop {
    fn from(k: Key) -> Self {
        match k {
            Key::Field(f) => automerge::Prop::Map(f.to_owned()),
            Key::Index(i) => automerge::Prop::Seq(i),
        }
    }
}

impl From<Key> for autosurgeon::Prop<'static> {
    fn from(k: Key) -> Self {
        match k {
            Key::Field(f) => autosurgeon::Prop::from(f),
            Key::Index(i) => autosurgeon::Prop::from(i),
        }
    }
}

/// The object at `path` from the root.
fn object_at(tx: &Transaction<'_>, path: &[Key]) -> Result<ObjId, ReconcileError> {
    let mut obj = ROOT;
    for key in path {
        obj = match tx.get(&obj, automerge::Prop::from(*key))? {
            Some((automerge::Value::Object(_), id)) => id,
            _ => {
                return Err(ReconcileError::Automerge(
                    automerge::AutomergeError::InvalidObjIdFormat("demo path".to_owned()),
                ));
            }
        };
    }
    Ok(obj)
}

/// Appends `value` to the list at `path`.
pub(super) fn append<R: Reconcile>(
    tx: &mut Transaction<'_>,
    path: &[Key],
    value: &R,
) -> Result<(), ReconcileError> {
    let list = object_at(tx, path)?;
    let len = tx.length(&list);
    autosurgeon::reconcile_insert(tx, list, len, value)
}

/// Sets `key` of the object at `path` to `value` (reconciled against what is there).
pub(super) fn put<R: Reconcile>(
    tx: &mut Transaction<'_>,
    path: &[Key],
    key: Key,
    value: &R,
) -> Result<(), ReconcileError> {
    let obj = object_at(tx, path)?;
    autosurgeon::reconcile_prop(tx, obj, autosurgeon::Prop::from(key), value)
}

/// Writes one change by `user`'s device at `at`, made of targeted reconciliations: the same
/// operations [`Document::update`] writes for the edit, without reading and diffing the whole
/// record first (several times faster for big records). The finished record is checked
/// against the expected value and every rule in [`GridGen::finish`](super::grid::GridGen::finish).
pub(super) fn commit(
    doc: &mut Document,
    user: &DemoUser,
    at: Timestamp,
    message: &str,
    edit: impl FnOnce(&mut Transaction<'_>) -> Result<(), ReconcileError>,
) -> anyhow::Result<()> {
    let am = doc.automerge_mut();
    am.set_actor(user.actor.clone());
    let mut tx = am.transaction();
    if let Err(e) = edit(&mut tx) {
        tx.rollback();
        bail!("demo edit {message:?} failed: {e}");
    }
    let (hash, _) = tx.commit_with(
        CommitOptions::default()
            .with_time(at.millis())
            .with_message(message.to_owned()),
    );
    if hash.is_none() {
        bail!("demo edit {message:?} changed nothing");
    }
    Ok(())
}
