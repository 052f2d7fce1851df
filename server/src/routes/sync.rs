//! `POST /v1/sync`: the whole exchange of `docs/sync-protocol.md`.
//!
//! 1. Authenticate (token → user, device; role and scope from the database).
//! 2. Decide every pushed document with `sync_core::server::apply_push` against the stored
//!    record (from the cache or the database), on a blocking thread: it is CPU work.
//! 3. Persist the accepted documents that brought new changes in one writing transaction:
//!    bump each touched grid's sequence counter first (a row lock on PostgreSQL, the write
//!    lock on SQLite, so cursors are commit-ordered), re-check each record's version (another
//!    node may have written it meanwhile: then decide again on the fresh copy), append the
//!    changes ("insert if absent"), write projection and heads, and the snapshot when enough
//!    changes have been logged since it was last written (`db::docs::SNAPSHOT_AFTER`).
//! 4. Read, in one consistent snapshot, everything in the caller's scope logged after their
//!    cursor, and answer.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use sync_core::ids::{DocId, GridId};
use sync_core::protocol::{
    self, Bytes as WireBytes, DecodeError, DocPush, DocResult, DocUpdate, GridCursor,
    MAX_UPDATES_PER_RESPONSE, MAX_WAIT_MS, PROTOCOL_VERSION, SyncResponse,
};
use sync_core::record::{RecordKind, Role};
use sync_core::server::{Access, Caller, PushOutcome, apply_push};
use sync_core::validate::ValidationContext;

use crate::app::AppState;
use crate::auth::AuthUser;
use crate::db::docs::{self, LoadedDoc};
use crate::db::users;
use crate::error::{ApiError, ApiResult};
use crate::scope::Scope;

/// Reads a request body, answering 413 past the size limit and 400 for a broken stream.
pub fn body_bytes(body: Result<Bytes, BytesRejection>) -> ApiResult<Bytes> {
    body.map_err(|rejection| match rejection {
        BytesRejection::FailedToBufferBody(inner)
            if inner
                .body_text()
                .to_ascii_lowercase()
                .contains("length limit") =>
        {
            ApiError::too_large("payload_too_large", "the request body is too large")
        }
        other => ApiError::bad_request(
            "malformed",
            format!("could not read the body: {}", other.body_text()),
        ),
    })
}

/// `POST /v1/sync`.
#[utoipa::path(
    post,
    path = "/v1/sync",
    tag = "sync",
    description = "The sync exchange of docs/sync-protocol.md.",
    request_body = crate::openapi::SyncRequestDoc,
    responses(
        (status = 200, description = "Push results and updates", body = crate::openapi::SyncResponseDoc),
        (status = 400, description = "Malformed request (bad body, path or query)", body = crate::error::ErrorBody),
        (status = 401, description = "Missing, bad or expired access token", body = crate::error::ErrorBody),
        (status = 403, description = "Out of the caller's role or scope", body = crate::error::ErrorBody),
        (status = 413, description = "Body too large", body = crate::error::ErrorBody),
        (status = 503, description = "The database is unavailable", body = crate::error::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn sync(
    State(app): State<AppState>,
    caller: AuthUser,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<SyncResponse>> {
    let body = body_bytes(body)?;
    let request = protocol::decode_request(&body).map_err(decode_error)?;
    if request.device != caller.device {
        return Err(ApiError::forbidden(
            "device_mismatch",
            "the request names another device than the access token",
        ));
    }
    let mut seen = BTreeSet::new();
    if let Some(dup) = request.docs.iter().find(|p| !seen.insert(&p.id)) {
        return Err(ApiError::bad_request(
            "duplicate_doc",
            format!("document {} appears twice in the request", dup.id),
        ));
    }
    let cursor = match &request.cursor {
        Some(c) => {
            GridCursor::decode(c).map_err(|e| ApiError::bad_request("bad_cursor", e.to_string()))?
        }
        None => GridCursor::default(),
    };
    if caller.role == Role::Admin {
        return Err(ApiError::forbidden(
            "forbidden",
            "administrators do not sync records",
        ));
    }
    let user = users::get_user(&app.db, &caller.user)
        .await?
        .ok_or_else(|| ApiError::unauthorized("unknown user"))?;
    let scope = Scope::of_user(&app.db, &user).await?;
    let caller = Caller {
        user: caller.user,
        device: caller.device,
        role: caller.role,
    };

    let mut request = request;
    let pushes = std::mem::take(&mut request.docs);
    let grids: Vec<GridId> = scope.grids.iter().cloned().collect();
    let (results, thresholds) =
        decide_and_persist(&app, &caller, &scope, grids.clone(), pushes).await?;
    let (mut updates, mut next, mut more) =
        read_updates(&app, &scope, &cursor, &thresholds).await?;
    let wait = request.wait_ms.unwrap_or(0).min(MAX_WAIT_MS);
    let nothing_new = updates.is_empty() && results.iter().all(|r| r.changes.is_empty());
    if wait > 0 && nothing_new && wait_for_news(&app, &grids, &next, wait).await? {
        (updates, next, more) = read_updates(&app, &scope, &next, &Thresholds::new()).await?;
    }
    Ok(Json(SyncResponse {
        protocol: PROTOCOL_VERSION,
        cursor: next.encode(),
        docs: results,
        updates,
        more,
    }))
}

/// Holds a long poll until a write to `grids` after `cursor` has committed and no write to
/// them is in progress in this process, or `wait_ms` pass, or the server stops. Whether there
/// is news.
async fn wait_for_news(
    app: &AppState,
    grids: &[GridId],
    cursor: &GridCursor,
    wait_ms: u32,
) -> ApiResult<bool> {
    let deadline = tokio::time::Instant::now() + Duration::from_millis(u64::from(wait_ms));
    // Subscribed before looking, so a write that ends in between still wakes us.
    let mut ended = app.live.subscribe();
    loop {
        if app.live.is_closing() {
            return Ok(false);
        }
        if !app.live.busy(grids) {
            let mut tx = app.db.begin_read().await?;
            let seqs = docs::grid_seqs(&mut tx, grids).await?;
            tx.commit().await?;
            let news = seqs
                .iter()
                .any(|(grid, seq)| u64::try_from(*seq).unwrap_or(0) > cursor.get(grid));
            if news {
                return Ok(true);
            }
        }
        tokio::select! {
            changed = ended.changed() => {
                if changed.is_err() {
                    return Ok(false);
                }
            }
            () = tokio::time::sleep_until(deadline) => return Ok(false),
        }
    }
}

fn decode_error(e: DecodeError) -> ApiError {
    match e {
        DecodeError::Json { .. } => ApiError::bad_request("malformed", e.to_string()),
        DecodeError::UnsupportedVersion(_) => {
            ApiError::bad_request("unsupported_protocol", e.to_string())
        }
        DecodeError::TooManyDocs { .. } => ApiError::too_large("too_many_docs", e.to_string()),
    }
}

/// Decides and persists pushed documents as `caller` with `access`: the sync route's steps 2
/// and 3, for any source of changes. The supervisors' API (case actions, conflict
/// resolutions) writes its server-authored changes through here, so they are checked, logged
/// and sequenced exactly like a phone's. `grids` are the grids the pushes may write: they take
/// turns with other pushes to them, and long polls of them wait for this one (crate::live).
pub(crate) async fn push_docs<A>(
    app: &AppState,
    caller: &Caller,
    access: &A,
    grids: Vec<GridId>,
    pushes: Vec<DocPush>,
) -> ApiResult<Vec<DocResult>>
where
    A: Access + Clone + Send + Sync + 'static,
{
    Ok(decide_and_persist(app, caller, access, grids, pushes)
        .await?
        .0)
}

async fn decide_and_persist<A>(
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
    let mut stored = load_stored(app, &pushes).await?;
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
        match docs::load(&app.db, &pushes[i].id).await {
            Ok(Some(fresh)) if fresh.version != cached.version => {
                let fresh = Arc::new(fresh);
                app.cache.put(fresh.clone());
                stored[i] = Some(fresh);
                refreshed = true;
            }
            Ok(_) => {}
            Err(docs::LoadError::Sqlx(e)) => return Err(e.into()),
            Err(e @ docs::LoadError::Corrupt { .. }) => return Err(ApiError::internal(e)),
        }
    }
    if refreshed {
        outcomes = decide_all(app, caller, access, &pushes, &stored).await?;
    }
    persist(app, caller, access, &pushes, stored, outcomes).await
}

/// The stored record of every pushed document, from the cache or the database.
async fn load_stored(app: &AppState, pushes: &[DocPush]) -> ApiResult<Vec<Option<Arc<LoadedDoc>>>> {
    let mut stored = Vec::with_capacity(pushes.len());
    for push in pushes {
        let doc = match app.cache.get(&push.id) {
            Some(hit) => Some(hit),
            None => match docs::load(&app.db, &push.id).await {
                Ok(Some(loaded)) => {
                    let loaded = Arc::new(loaded);
                    app.cache.put(loaded.clone());
                    Some(loaded)
                }
                Ok(None) => None,
                Err(docs::LoadError::Sqlx(e)) => return Err(e.into()),
                Err(e @ docs::LoadError::Corrupt { .. }) => return Err(ApiError::internal(e)),
            },
        };
        stored.push(doc);
    }
    Ok(stored)
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
    tokio::task::spawn_blocking(move || {
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
    .map_err(ApiError::internal)
}

/// Per document: the grid sequence number up to which its `DocResult` already told the device
/// everything. Updates for that document start after it instead of after the cursor.
type Thresholds = HashMap<DocId, i64>;

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
        let seq = docs::bump_grid_seq(&mut tx, &grid)
            .await?
            .ok_or_else(|| ApiError::internal(format!("grid {grid} is not in the database")))?;
        seqs.insert(grid, seq);
    }
    if let Some(hold) = app.settings.fault_hold_write {
        // Tests make this writer slow while it holds its sequence numbers (see
        // server/tests/processes.rs): another node's writer of the same grid must wait.
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
            let fresh = docs::load_for_update(&mut tx, &push.id)
                .await
                .map_err(|e| match e {
                    docs::LoadError::Sqlx(e) => ApiError::from(e),
                    other => ApiError::internal(other),
                })?;
            app.cache.remove(&push.id);
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
        let Some(&seq) = seqs.get(&grid) else {
            // The fresh decision moved the record to a grid not locked above: refuse to
            // guess; the device retries.
            return Err(ApiError::conflict(
                "retry",
                "the record changed while syncing; retry",
            ));
        };
        let moved = before
            .as_ref()
            .and_then(|b| b.record.meta.as_ref())
            .is_some_and(|m| m.place.grid != grid);
        let version = version_before.unwrap_or(0) + 1;
        let inserted = docs::insert_changes(
            &mut tx,
            &push.id,
            &accepted.new_changes,
            &grid,
            seq,
            version,
        )
        .await?;
        if moved {
            docs::retag_changes(&mut tx, &push.id, &grid, seq).await?;
        }
        let pending = docs::upsert(
            &mut tx,
            &accepted.stored,
            &accepted.meta,
            version,
            seq,
            accepted.merged_invalid.as_ref(),
            inserted,
            pending_before,
        )
        .await?;
        crate::db::index::upsert(&mut tx, &accepted.stored).await?;
        crate::db::index::upsert_conflicts(
            &mut tx,
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
        });
    }
    tx.commit().await?;
    for doc in written {
        app.cache.put(Arc::new(doc));
    }
    Ok((results.into_iter().flatten().collect(), thresholds))
}

/// Everything in the caller's scope logged after their cursor (or after a pushed document's
/// threshold), grouped by document, and the new cursor.
async fn read_updates(
    app: &AppState,
    scope: &Scope,
    cursor: &GridCursor,
    thresholds: &Thresholds,
) -> ApiResult<(Vec<DocUpdate>, GridCursor, bool)> {
    let grids: Vec<GridId> = scope.grids.iter().cloned().collect();
    let mut tx = app.db.begin_read().await?;
    let seqs = docs::grid_seqs(&mut tx, &grids).await?;
    let mut updates: Vec<DocUpdate> = Vec::new();
    let mut index: HashMap<DocId, usize> = HashMap::new();
    let mut next = GridCursor::default();
    let mut more = false;
    for grid in &grids {
        let upto = seqs.get(grid).copied().unwrap_or(0);
        let mut from = i64::try_from(cursor.get(grid)).unwrap_or(i64::MAX);
        if from > upto {
            // A cursor from the future: the database was restored from a backup. Send the
            // whole grid rather than miss what the backup lacks.
            from = 0;
        }
        if more || from == upto {
            next.0
                .insert(grid.clone(), u64::try_from(from).unwrap_or(0));
            continue;
        }
        let rows = docs::changes_in_grid(&mut tx, grid, from, upto).await?;
        let mut last = from;
        let mut start = 0;
        while start < rows.len() {
            let seq = rows[start].seq;
            let end = rows[start..]
                .iter()
                .position(|r| r.seq != seq)
                .map_or(rows.len(), |n| start + n);
            let group = &rows[start..end];
            let new_docs = group.iter().map(|r| &r.doc).collect::<BTreeSet<_>>().len();
            if !updates.is_empty() && updates.len() + new_docs > MAX_UPDATES_PER_RESPONSE {
                more = true;
                break;
            }
            add_group(&mut updates, &mut index, group, scope, thresholds);
            last = seq;
            start = end;
        }
        next.0
            .insert(grid.clone(), u64::try_from(last).unwrap_or(0));
    }
    tx.commit().await?;
    Ok((updates, next, more))
}

/// Adds one write's changes to the updates, merging with earlier entries of the same document.
fn add_group(
    updates: &mut Vec<DocUpdate>,
    index: &mut HashMap<DocId, usize>,
    group: &[docs::LoggedChange],
    scope: &Scope,
    thresholds: &Thresholds,
) {
    for row in group {
        if thresholds.get(&row.doc).is_some_and(|t| row.seq <= *t) {
            continue;
        }
        let Ok(kind) = row.kind.parse::<RecordKind>() else {
            continue;
        };
        let liaison_group = row.liaison_group.as_deref().and_then(|g| g.parse().ok());
        if !scope.may_read_in_grid(kind, liaison_group.as_ref(), row.confidential) {
            continue;
        }
        match index.get(&row.doc) {
            Some(&i) => updates[i].changes.0.extend_from_slice(&row.bytes),
            None => {
                index.insert(row.doc.clone(), updates.len());
                updates.push(DocUpdate {
                    id: row.doc.clone(),
                    kind,
                    heads: docs::parse_heads(&row.heads),
                    changes: WireBytes(row.bytes.clone()),
                });
            }
        }
    }
}
