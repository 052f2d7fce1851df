//! Households in the layout before the private documents (issue 15): residents carried their
//! ID number, phone, birth date and special groups in the household document.
//!
//! The server moves those values into the household's private document as ordinary Automerge
//! changes written through the push pipeline, so phones holding the old shape converge:
//!
//! * [`migrate_all`], once at start (marked done in `data_migrations`): every stored household
//!   that still holds old-layout values gets two changes by the server's own device: its
//!   private document receives the values (created by its canonical first change if missing),
//!   then the household document deletes them.
//! * [`lift_pushed`], after every accepted household push whose changes may write old-layout
//!   keys (an old phone's offline edit): what the phone changed there (its own view against its
//!   base, so an insert into a list the server deleted concurrently is not lost) is written to
//!   the private document, and the keys are deleted again. The phone receives both changes in
//!   the same sync's updates.
//!
//! A failure here never fails the phone's sync (its changes are stored): it is logged, and the
//! values stay in the household document until the next push or start moves them.

use std::sync::Arc;

use automerge::{Change, ChangeHash, ReadDoc};
use serde_json::Value as Json;
use sync_core::doc::{Author, actor_for_device};
use sync_core::ids::{DeviceId, DocId, UserId};
use sync_core::models::household_private;
use sync_core::models::{AnyRecord, HouseholdPrivate};
use sync_core::protocol::{DocPush, DocStatus, split_changes};
use sync_core::record::{RecordKind, RecordMeta, Role};
use sync_core::server::{Access, Caller};
use sync_core::time::Timestamp;

use crate::db::{docs::LoadedDoc, now_millis};
use crate::error::{ApiError, ApiResult};
use crate::records::load;
use crate::records::push::{decide_and_persist, push_since};
use crate::state::AppState;

/// The name of the data migration in `data_migrations`.
const MIGRATION: &str = crate::db::migrations::HOUSEHOLD_PRIVATE_SPLIT;

/// The server's own device and user: the author of the changes that move old-layout values.
/// A fixed id, so the history of a household names the same device for every such change.
pub fn system_device() -> DeviceId {
    DeviceId::from_uuid(uuid::Uuid::from_u128(
        0x6772_6964_626f_6f6b_0000_0000_0000_0001,
    ))
}

fn system_caller() -> Caller {
    Caller {
        user: UserId::from_uuid(uuid::Uuid::from_u128(
            0x6772_6964_626f_6f6b_0000_0000_0000_0001,
        )),
        device: system_device(),
        role: Role::GridWorker,
    }
}

/// The server's maintenance reaches every record.
#[derive(Clone, Copy)]
struct Maintenance;

impl Access for Maintenance {
    fn may_read(&self, _meta: &RecordMeta) -> bool {
        true
    }
    fn may_write(&self, _meta: &RecordMeta) -> bool {
        true
    }
}

/// A pushed household that may have written old-layout keys: its id, the phone's base heads
/// and the heads of its own view (the pushed changes nothing else in the push depends on).
#[derive(Debug, Clone)]
pub struct PushedHousehold {
    id: DocId,
    base: Vec<ChangeHash>,
    view: Vec<ChangeHash>,
}

impl PushedHousehold {
    /// The household's id.
    pub fn id(&self) -> &DocId {
        &self.id
    }
}

/// The household pushes of a sync whose changes may write old-layout keys (their bytes name
/// one of them; false positives only cost a check).
pub fn pushed_households(pushes: &[DocPush]) -> Vec<PushedHousehold> {
    pushes
        .iter()
        .filter(|p| p.kind == RecordKind::Household && !p.changes.is_empty())
        .filter_map(|p| {
            let changes = split_changes(p.changes.as_slice()).ok()?;
            if !changes.iter().any(household_private::names_legacy_key) {
                return None;
            }
            let deps: std::collections::HashSet<ChangeHash> =
                changes.iter().flat_map(|c| c.deps().to_vec()).collect();
            let view = changes
                .iter()
                .map(Change::hash)
                .filter(|h| !deps.contains(h))
                .collect();
            Some(PushedHousehold {
                id: p.id.clone(),
                base: p.base_heads.clone(),
                view,
            })
        })
        .collect()
}

/// Moves what these accepted pushes wrote to old-layout keys (see the module docs).
pub async fn lift_pushed(app: &AppState, pushed: &[PushedHousehold]) {
    for p in pushed {
        if let Err(e) = lift(app, &p.id, Some((&p.base, &p.view))).await {
            tracing::warn!(record = %p.id, error = %e.message(), "old-layout values not moved yet");
        }
    }
}

/// Moves every stored household's old-layout values, once (see the module docs). Returns how
/// many households were changed.
pub async fn migrate_all(app: &AppState) -> anyhow::Result<usize> {
    if crate::db::migrations::data_migration_done(&app.db, MIGRATION).await? {
        return Ok(0);
    }
    let moved = migrate_households(app).await?;
    crate::db::migrations::mark_data_migration(&app.db, MIGRATION).await?;
    if moved > 0 {
        tracing::info!(
            households = moved,
            "residents' personal data moved to the households' private documents"
        );
    }
    Ok(moved)
}

/// The work of [`migrate_all`], whether or not it ran before: every stored household that
/// still holds old-layout values gets its two changes. Returns how many were changed.
pub async fn migrate_households(app: &AppState) -> anyhow::Result<usize> {
    let ids = crate::db::migrations::ids_of_kind(&app.db, RecordKind::Household).await?;
    let mut moved = 0;
    for id in ids {
        if lift(app, &id, None)
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.message()))?
        {
            moved += 1;
        }
    }
    Ok(moved)
}

/// Moves the old-layout values of household `id`: those the editor changed between `edit`'s
/// base and view, or, without `edit`, all it still holds. Whether anything was written.
async fn lift(
    app: &AppState,
    id: &DocId,
    edit: Option<(&[ChangeHash], &[ChangeHash])>,
) -> ApiResult<bool> {
    let Some(household) = load::reload(app, id).await? else {
        return Ok(false);
    };
    if household.record.doc.kind() != RecordKind::Household {
        return Ok(false);
    }
    let private_id = HouseholdPrivate::id_for(id);
    let private = load::reload(app, &private_id).await?;
    let (household_push, private_push) = {
        let household = household.clone();
        let private = private.clone();
        let edit = edit.map(|(b, v)| (b.to_vec(), v.to_vec()));
        let ctx = app.validation.clone();
        crate::records::work::blocking(move || {
            moving_changes(&household, private.as_deref(), edit, &ctx)
        })
        .await??
    };
    let Some(household_push) = household_push else {
        return Ok(false);
    };
    let grid = household
        .record
        .meta
        .as_ref()
        .map(|m| m.place.grid.clone())
        .into_iter()
        .collect();
    let mut pushes = Vec::new();
    pushes.extend(private_push);
    pushes.push(household_push);
    let (results, _) =
        decide_and_persist(app, &system_caller(), &Maintenance, grid, pushes).await?;
    if let Some(refused) = results.iter().find(|r| r.status != DocStatus::Ok) {
        let reason = refused
            .error
            .as_ref()
            .map(|e| e.message.clone())
            .unwrap_or_default();
        return Err(ApiError::internal(format!(
            "moving personal data of household {id} was refused: {reason}"
        )));
    }
    Ok(true)
}

type Pushes = (Option<DocPush>, Option<DocPush>);

/// The two pushes that move the values (private document first), or none when there is
/// nothing to move. CPU work.
fn moving_changes(
    household: &Arc<LoadedDoc>,
    private: Option<&LoadedDoc>,
    edit: Option<(Vec<ChangeHash>, Vec<ChangeHash>)>,
    ctx: &sync_core::validate::ValidationContext,
) -> ApiResult<Pushes> {
    let doc = &household.record.doc;
    let current = &household.record.json;
    let lifted = match &edit {
        Some((base, view)) => {
            let at = |heads: &[ChangeHash]| -> Option<Json> {
                doc.automerge().get_missing_deps(heads).is_empty().then(|| {
                    sync_core::json::hydrated_to_json(&doc.automerge().hydrate(Some(heads)))
                })
            };
            let view = at(view).unwrap_or_else(|| current.clone());
            let base = if base.is_empty() { None } else { at(base) };
            household_private::lifted_legacy(base.as_ref(), &view)
        }
        None => household_private::lifted_legacy(None, current),
    };
    if lifted.is_empty() && !household_private::has_legacy_fields(current) {
        return Ok((None, None));
    }
    let place = match &household.record.record {
        Some(AnyRecord::Household(h)) => h.place.clone(),
        _ => {
            return Err(ApiError::internal(
                "an unreadable household keeps its old-layout values",
            ));
        }
    };
    let author = Author::new(
        actor_for_device(&system_device()),
        Timestamp::from_millis(now_millis()),
    )
    .with_message("move personal data to the private document");

    let private_push = if lifted.is_empty() {
        None
    } else {
        let (mut edited, base_heads) = match private {
            Some(p) => (p.record.doc.clone(), p.record.doc.heads()),
            None => (
                HouseholdPrivate::genesis(doc.id(), place.clone()).map_err(ApiError::internal)?,
                Vec::new(),
            ),
        };
        edited
            .update(&author, ctx, |p: &mut HouseholdPrivate| {
                p.apply_legacy(&lifted);
                p.place = place.clone();
                Ok::<_, sync_core::doc::DocumentError>(())
            })
            .map_err(ApiError::internal)?;
        Some(push_since(&edited, base_heads))
    };

    let mut edited = doc.clone();
    household_private::delete_legacy_keys(&mut edited, &author).map_err(ApiError::internal)?;
    let household_push = push_since(&edited, doc.heads());
    Ok((Some(household_push), private_push))
}
