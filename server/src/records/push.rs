//! Deciding and persisting pushed documents: the write half of `POST /v1/sync`, for any source
//! of changes (phones, and the supervisors' API, whose case actions and conflict resolutions
//! are pushes of server-made changes).
//!
//! 1. Decide every pushed document with `sync_core::server::apply_push` against the stored
//!    record (from the cache or the database), on a blocking thread: it is CPU work. A refusal
//!    decided on a cached copy is decided again on the database's copy (another node, or a
//!    request racing this one, may have written the record since).
//! 2. Persist the accepted documents that brought new changes in one writing transaction:
//!    bump each touched grid's sequence counter first (a row lock on PostgreSQL, the write
//!    lock on SQLite, so cursors are commit-ordered), re-check each record's version (another
//!    node may have written it meanwhile: then decide again on the fresh copy), append the
//!    changes ("insert if absent"), write heads and scope columns, and the snapshot when enough
//!    changes have been logged since it was last written (`db::docs::SNAPSHOT_AFTER`); the
//!    query indexes in the same transaction.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use automerge::ChangeHash;
use sync_core::doc::{Author, Document, actor_for_device};
use sync_core::ids::{DocId, GridId};
use sync_core::models::AnyRecord;
use sync_core::protocol::{Bytes as WireBytes, DocPush, DocResult, DocStatus, PushError, codes};
use sync_core::record::RecordKind;
use sync_core::server::{Access, Caller, PushOutcome, apply_push};
use sync_core::time::Timestamp;
use sync_core::validate::ValidationContext;

use crate::auth::AuthUser;
use crate::db::docs::{self, LoadedDoc};
use crate::error::{ApiError, ApiResult};
use crate::records::load;
use crate::state::AppState;

/// Decides and persists pushed documents as `caller` with `access`, for any source of changes:
/// a phone's sync, or the supervisors' API (case actions, conflict resolutions), whose
/// server-authored changes are so checked, logged and sequenced exactly like a phone's.
/// `grids` are the grids the pushes may write: they take turns with other pushes to them, and
/// long polls of them wait for this one (crate::live). Returns each document's result, in
/// order, and the [`Thresholds`] the sync's read half starts from.
pub async fn decide_and_persist<A>(
    app: &AppState,
    caller: &Caller,
    access: &A,
    grids: Vec<GridId>,
    pushes: Vec<DocPush>,
) -> ApiResult<(Vec<DocResult>, Thresholds)>
where
    A: Access + Clone + Send + Sync + 'static,
{
    if pushes.is_empty() {
        return Ok((Vec::new(), Thresholds::new()));
    }
    // Held until the write has committed (or failed).
    let _writing = app.live.writing(grids).await;
    let pushes = Arc::new(pushes);
    let mut stored = Vec::with_capacity(pushes.len());
    for push in pushes.iter() {
        stored.push(load::load(app, &push.id).await?);
    }
    let mut outcomes = decide_all(app, caller, access, &pushes, &stored).await?;
    // A refusal (`foreign_change`, `need_full`, ...) decided on a cached copy may be the
    // cache's fault: another node, or a request racing this one, wrote the record since. Those
    // are decided again on the database's copy.
    let mut refreshed = false;
    for (i, outcome) in outcomes.iter().enumerate() {
        let Some(cached) = &stored[i] else { continue };
        if outcome.is_accepted() {
            continue;
        }
        if let Some(fresh) = load::reload(app, &pushes[i].id).await?
            && fresh.version != cached.version
        {
            stored[i] = Some(fresh);
            refreshed = true;
        }
    }
    if refreshed {
        outcomes = decide_all(app, caller, access, &pushes, &stored).await?;
    }
    check_new_private_documents(app, &pushes, &stored, &mut outcomes).await?;
    check_report_households(app, &pushes, &stored, &mut outcomes).await?;
    check_department_events(caller, access, &pushes, &stored, &mut outcomes);
    refuse_archived(app, &pushes, &mut outcomes).await?;
    persist(app, caller, access, &pushes, stored, outcomes).await
}

/// Nothing more is written to an archived document (or, once erased, created again under its
/// id): such pushes are refused `archived`, and the sync answers them under `removed`.
async fn refuse_archived(
    app: &AppState,
    pushes: &[DocPush],
    outcomes: &mut [PushOutcome],
) -> ApiResult<()> {
    let candidates: Vec<DocId> = pushes
        .iter()
        .filter(|p| matches!(p.kind, RecordKind::HouseholdPrivate | RecordKind::Household))
        .map(|p| p.id.clone())
        .collect();
    let archived = crate::db::retention::archived_among(&app.db, &candidates).await?;
    if archived.is_empty() {
        return Ok(());
    }
    for (push, outcome) in pushes.iter().zip(outcomes.iter_mut()) {
        if archived.contains(&push.id) {
            *outcome = refused(
                push,
                codes::ARCHIVED,
                "the household was archived: this document is no longer kept",
            );
        }
    }
    Ok(())
}

/// A household's private document may be started only where its household is: stored with
/// the same place, or created in the same request with the same place. Otherwise anyone who
/// learnt a household's id could start its private document in their own grid first and lock
/// the household's own grid worker out of it.
async fn check_new_private_documents(
    app: &AppState,
    pushes: &[DocPush],
    stored: &[Option<Arc<LoadedDoc>>],
    outcomes: &mut [PushOutcome],
) -> ApiResult<()> {
    // The households accepted in this request, by id (a large push, an import, holds
    // thousands: looked up, not searched).
    let households_here: HashMap<DocId, sync_core::record::Place> = outcomes
        .iter()
        .filter_map(|o| match o {
            PushOutcome::Accepted(a) => match &a.stored.record {
                Some(AnyRecord::Household(h)) => Some((h.id.clone(), h.place.clone())),
                _ => None,
            },
            PushOutcome::Refused { .. } => None,
        })
        .collect();
    for i in 0..outcomes.len() {
        if stored[i].is_some() {
            continue;
        }
        let PushOutcome::Accepted(accepted) = &outcomes[i] else {
            continue;
        };
        let Some(AnyRecord::HouseholdPrivate(private)) = &accepted.stored.record else {
            continue;
        };
        let in_request = households_here.get(&private.household).cloned();
        let place =
            match in_request {
                Some(place) => Some(place),
                None => load::load(app, &private.household).await?.and_then(|h| {
                    match &h.record.record {
                        Some(AnyRecord::Household(h)) => Some(h.place.clone()),
                        _ => None,
                    }
                }),
            };
        if place.as_ref() != Some(&private.place) {
            outcomes[i] = refused(
                &pushes[i],
                codes::FORBIDDEN,
                "a household's private document starts only with its household, in the household's place",
            );
        }
    }
    Ok(())
}

/// A liaison's report names only households of its own liaison group, in its grid: a
/// liaison's write scope is exactly their group's households. Checked whenever the named
/// households change (the households are read from the server's records, never the push).
async fn check_report_households(
    app: &AppState,
    pushes: &[DocPush],
    stored: &[Option<Arc<LoadedDoc>>],
    outcomes: &mut [PushOutcome],
) -> ApiResult<()> {
    for i in 0..outcomes.len() {
        let PushOutcome::Accepted(accepted) = &outcomes[i] else {
            continue;
        };
        let Some(AnyRecord::Report(report)) = &accepted.stored.record else {
            continue;
        };
        let before = stored[i].as_ref().and_then(|s| match &s.record.record {
            Some(AnyRecord::Report(r)) => Some(r.households.clone()),
            _ => None,
        });
        if before.as_ref() == Some(&report.households) {
            continue;
        }
        let mut foreign = None;
        for household in &report.households {
            let ours = load::load(app, household).await?.is_some_and(|h| {
                matches!(&h.record.record, Some(AnyRecord::Household(h))
                    if h.place == report.place
                        && h.liaison_group.as_ref() == Some(&report.liaison_group))
            });
            if !ours {
                foreign = Some(household.clone());
                break;
            }
        }
        if let Some(household) = foreign {
            outcomes[i] = refused(
                &pushes[i],
                codes::FORBIDDEN,
                format!("household {household} is not a household of the report's liaison group"),
            );
        }
    }
    Ok(())
}

/// Department staff's new case events name their own department (the fold lets a department
/// handle only what was dispatched to it, by that name).
fn check_department_events(
    caller: &Caller,
    access: &impl Access,
    pushes: &[DocPush],
    stored: &[Option<Arc<LoadedDoc>>],
    outcomes: &mut [PushOutcome],
) {
    if caller.role != sync_core::record::Role::Department {
        return;
    }
    for i in 0..outcomes.len() {
        let PushOutcome::Accepted(accepted) = &outcomes[i] else {
            continue;
        };
        let Some(AnyRecord::Case(case)) = &accepted.stored.record else {
            continue;
        };
        let before = stored[i].as_ref().and_then(|s| match &s.record.record {
            Some(AnyRecord::Case(c)) => Some(c),
            _ => None,
        });
        let foreign = sync_core::models::Case::new_events(before, case)
            .any(|e| e.department.as_ref() != access.department());
        if foreign {
            outcomes[i] = refused(
                &pushes[i],
                codes::INVALID_RECORD,
                "a new event of department staff must name their own department",
            );
        }
    }
}

/// The outcome of a push refused after its decision, with `code` and `message`.
fn refused(push: &DocPush, code: &str, message: impl Into<String>) -> PushOutcome {
    PushOutcome::Refused {
        result: DocResult::rejected(push.id.clone(), PushError::new(code, message)),
    }
}

/// Runs `apply_push` for every document on a blocking thread.
async fn decide_all<A>(
    app: &AppState,
    caller: &Caller,
    access: &A,
    pushes: &Arc<Vec<DocPush>>,
    stored: &[Option<Arc<LoadedDoc>>],
) -> ApiResult<Vec<PushOutcome>>
where
    A: Access + Clone + Send + Sync + 'static,
{
    let pushes = pushes.clone();
    let stored = stored.to_vec();
    let caller = caller.clone();
    let access = access.clone();
    let ctx: Arc<ValidationContext> = app.validation.clone();
    crate::records::work::blocking(move || {
        pushes
            .iter()
            .zip(&stored)
            .map(|(push, doc)| {
                apply_push(
                    doc.as_deref().map(|d| &d.record),
                    push,
                    &caller,
                    &access,
                    &ctx,
                )
            })
            .collect()
    })
    .await
}

/// Per document: the grid sequence number up to which its `DocResult` already told the device
/// everything. Updates for that document start after it instead of after the cursor.
pub type Thresholds = HashMap<DocId, i64>;

/// Writes what was accepted; returns every document's result and the thresholds.
async fn persist(
    app: &AppState,
    caller: &Caller,
    access: &(dyn Access + Sync),
    pushes: &[DocPush],
    stored: Vec<Option<Arc<LoadedDoc>>>,
    outcomes: Vec<PushOutcome>,
) -> ApiResult<(Vec<DocResult>, Thresholds)> {
    let mut results: Vec<Option<DocResult>> = Vec::with_capacity(outcomes.len());
    let mut thresholds = Thresholds::new();
    let mut writes = Vec::new();
    for (i, (outcome, before)) in outcomes.into_iter().zip(stored).enumerate() {
        match outcome {
            PushOutcome::Refused { result } => results.push(Some(result)),
            PushOutcome::Accepted(accepted) if accepted.new_changes.is_empty() => {
                if let Some(before) = &before {
                    thresholds.insert(pushes[i].id.clone(), before.seq);
                }
                results.push(Some(accepted.result));
            }
            PushOutcome::Accepted(accepted) => {
                results.push(None);
                writes.push((i, before, accepted));
            }
        }
    }
    if writes.is_empty() {
        return Ok((results.into_iter().flatten().collect(), thresholds));
    }

    let mut tx = app.db.begin_write().await?;
    // Lock the grids in a fixed order (no deadlocks between two writers) and take one
    // sequence number per grid for this request.
    let grids: BTreeSet<GridId> = writes
        .iter()
        .map(|(_, _, a)| a.meta.place.grid.clone())
        .collect();
    let mut seqs = BTreeMap::new();
    for grid in grids {
        let write = docs::bump_grid_seq(&mut tx, &grid)
            .await?
            .ok_or_else(|| ApiError::internal(format!("grid {grid} is not in the database")))?;
        seqs.insert(grid, write);
    }
    if let Some(hold) = app.settings.fault_hold_write {
        // Tests make this writer slow while it holds its sequence numbers (see
        // tests/tests/process/two_nodes.rs): another node's writer of the same grid must wait.
        tokio::time::sleep(hold).await;
    }
    let mut written = Vec::with_capacity(writes.len());
    for (i, before, accepted) in writes {
        let push = &pushes[i];
        let expected = before.as_ref().map(|b| b.version);
        let current = docs::version_for_update(&mut tx, &push.id).await?;
        let (accepted, version_before, pending_before) = if current == expected {
            (accepted, current, before.as_ref().map(|b| b.pending))
        } else {
            // Another request or node wrote this record since we read it: decide again on
            // the fresh copy, under the lock.
            let fresh = docs::load_for_update(&mut tx, &push.id).await?;
            app.cache.remove(&push.id);
            app.metrics.cache_stale.inc();
            let version = fresh.as_ref().map(|f| f.version);
            let pending = fresh.as_ref().map(|f| f.pending);
            match apply_push(
                fresh.as_ref().map(|f| &f.record),
                push,
                caller,
                access,
                &app.validation,
            ) {
                PushOutcome::Refused { result } => {
                    results[i] = Some(result);
                    continue;
                }
                PushOutcome::Accepted(again) if again.new_changes.is_empty() => {
                    if let Some(f) = &fresh {
                        thresholds.insert(push.id.clone(), f.seq);
                    }
                    results[i] = Some(again.result);
                    continue;
                }
                PushOutcome::Accepted(again) => (again, version, pending),
            }
        };
        let grid = accepted.meta.place.grid.clone();
        let Some(docs::GridWrite { seq, street }) = seqs.get(&grid).cloned() else {
            // The fresh decision moved the record to a grid not locked above: refuse to
            // guess; the device retries.
            return Err(ApiError::conflict(
                "retry",
                "the record changed while syncing; retry",
            ));
        };
        if before.as_ref().is_some_and(|b| b.street != street.as_str()) {
            // Rows are keyed by their street (the key a distributed database shards by): a
            // record stays in its street. No scope spans two streets, so no caller gets here.
            return Err(ApiError::forbidden(
                "forbidden",
                "a record cannot move to another street",
            ));
        }
        let moved = before
            .as_ref()
            .and_then(|b| b.record.meta.as_ref())
            .is_some_and(|m| m.place.grid != grid);
        let version = version_before.unwrap_or(0) + 1;
        let inserted = docs::insert_changes(
            &mut tx,
            &street,
            &push.id,
            &accepted.new_changes,
            &grid,
            seq,
            version,
        )
        .await?;
        app.metrics.changes_applied.inc_by(inserted);
        if moved {
            docs::retag_changes(&mut tx, &street, &push.id, &grid, seq).await?;
        }
        let pending = docs::upsert(
            &mut tx,
            &street,
            &accepted.stored,
            &accepted.meta,
            version,
            seq,
            accepted.merged_invalid.as_ref(),
            inserted,
            pending_before,
        )
        .await?;
        crate::db::index::upsert(&mut tx, &street, &accepted.stored).await?;
        if let Some((place, refs)) = crate::index::blob_refs_of(&accepted.stored) {
            crate::db::blobs::replace_refs(&mut tx, &street, &push.id, place, &refs).await?;
        }
        crate::db::index::upsert_conflicts(
            &mut tx,
            &street,
            &accepted.stored,
            &accepted.meta,
            accepted.merged_invalid.is_some(),
        )
        .await?;
        thresholds.insert(push.id.clone(), seq);
        results[i] = Some(accepted.result.clone());
        written.push(LoadedDoc {
            record: accepted.stored,
            version,
            seq,
            pending,
            street: street.to_string(),
        });
    }
    tx.commit().await?;
    for doc in written {
        app.cache.put(Arc::new(doc));
    }
    Ok((results.into_iter().flatten().collect(), thresholds))
}

/// Archives household `household` of `grid` (see [`crate::records::retention`]) as a write
/// in the grid's sequence, like a push: it takes the grid's turn (long polls of the grid wake
/// when it commits) and its next sequence number, at which the documents leaving the phones
/// are logged. False when the household was archived already.
pub async fn archive_in_sequence(
    app: &AppState,
    household: &DocId,
    grid: &GridId,
    by: &str,
    erase_after: i64,
    with_household: bool,
) -> ApiResult<bool> {
    let _writing = app.live.writing(vec![grid.clone()]).await;
    let mut tx = app.db.begin_write().await?;
    let write = docs::bump_grid_seq(&mut tx, grid)
        .await?
        .ok_or_else(|| ApiError::internal(format!("grid {grid} is not in the database")))?;
    let archived = crate::db::retention::archive(
        &mut tx,
        &write.street,
        household,
        &sync_core::models::HouseholdPrivate::id_for(household),
        grid,
        write.seq,
        by,
        erase_after,
        with_household,
    )
    .await?;
    if archived {
        tx.commit().await?;
    }
    Ok(archived)
}

/// The author of a server-made change: a fresh actor of the caller's device, now.
pub fn author_of(caller: &AuthUser, message: impl Into<String>) -> Author {
    Author::new(
        actor_for_device(&caller.device),
        Timestamp::from_millis(crate::db::now_millis()),
    )
    .with_message(message)
}

/// The push of everything `edited` (a clone of the stored document with new local changes)
/// holds beyond the stored document: base heads are the stored heads.
fn authored_push(stored: &LoadedDoc, edited: &Document) -> DocPush {
    push_since(edited, stored.record.doc.heads())
}

/// The push of everything `edited` holds beyond `base_heads` (a server-made change on a
/// stored document, or a new document when `base_heads` is empty).
pub fn push_since(edited: &Document, base_heads: Vec<ChangeHash>) -> DocPush {
    let changes = edited.automerge().get_changes(&base_heads);
    DocPush {
        id: edited.id().clone(),
        kind: edited.kind(),
        base_heads,
        changes: WireBytes::from_changes(changes.iter()),
    }
}

/// Writes what `edited` adds to `stored` through the sync pipeline as `caller` with `access`
/// (taking the record's grid's turn, so long polls of that grid hear of it at once).
pub async fn push_one<A>(
    app: &AppState,
    caller: &AuthUser,
    access: &A,
    stored: &LoadedDoc,
    edited: &Document,
) -> ApiResult<()>
where
    A: Access + Clone + Send + Sync + 'static,
{
    let caller = Caller {
        user: caller.user.clone(),
        device: caller.device.clone(),
        role: caller.role,
    };
    let grids = stored
        .record
        .meta
        .iter()
        .map(|m| m.place.grid.clone())
        .collect();
    let push = authored_push(stored, edited);
    let (results, _) = decide_and_persist(app, &caller, access, grids, vec![push]).await?;
    let Some(result) = results.into_iter().next() else {
        return Err(ApiError::internal("the pipeline answered no result"));
    };
    if result.status == DocStatus::Ok {
        return Ok(());
    }
    let error = result.error.unwrap_or_else(|| {
        sync_core::protocol::PushError::new("unknown", "the change was not accepted")
    });
    let fields: Vec<&str> = error.fields.iter().map(|f| f.field.as_str()).collect();
    let message = if fields.is_empty() {
        error.message.clone()
    } else {
        format!("{} ({})", error.message, fields.join(", "))
    };
    Err(match error.code.as_str() {
        codes::INVALID_RECORD => ApiError::unprocessable("invalid_record", message),
        codes::FORBIDDEN => ApiError::forbidden("forbidden", message),
        _ => ApiError::conflict("retry", format!("the change was not stored: {message}")),
    })
}
