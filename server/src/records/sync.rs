//! The whole `POST /v1/sync` exchange of `docs/sync-protocol.md`, once the request is read:
//!
//! 1. The caller (token → user, device; role and scope from the database) and the request's
//!    envelope (its device is the token's, no document twice, a readable cursor).
//! 2. Push: every pushed document decided and the accepted ones persisted ([`super::push`]).
//! 3. Pull: everything in the caller's scope logged after their cursor, read in one
//!    consistent snapshot, grouped by document.
//! 4. Long poll: with nothing new and `wait_ms`, wait for a write to the caller's grids.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::time::Duration;

use sync_core::ids::{DocId, GridId};
use sync_core::protocol::{
    Bytes as WireBytes, DocStatus, DocUpdate, GridCursor, MAX_UPDATES_PER_RESPONSE, MAX_WAIT_MS,
    PROTOCOL_VERSION, SyncRequest, SyncResponse, codes,
};
use sync_core::record::RecordKind;
use sync_core::server::Caller;

use crate::audit::{self, AuditAction, AuditEntry};
use crate::auth::AuthUser;
use crate::db::users::UserRow;
use crate::db::{docs, retention};
use crate::error::{ApiError, ApiResult};
use crate::records::legacy;
use crate::records::load::caller_scope;
use crate::records::push::{Thresholds, decide_and_persist};
use crate::scope::Scope;
use crate::state::AppState;

/// Answers a sync request of `caller`.
pub async fn exchange(
    app: &AppState,
    caller: &AuthUser,
    address: Option<IpAddr>,
    mut request: SyncRequest,
) -> ApiResult<SyncResponse> {
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
    if !caller.role.reads_records() {
        return Err(crate::scope::records_refused(caller.role, "sync records"));
    }
    let (user, scope) = caller_scope(app, caller).await?;
    let syncing = Caller {
        user: caller.user.clone(),
        device: caller.device.clone(),
        role: caller.role,
    };

    let pushes = std::mem::take(&mut request.docs);
    let old_layout = legacy::pushed_households(&pushes);
    let grids: Vec<GridId> = scope.grids.iter().cloned().collect();
    let (results, thresholds) =
        decide_and_persist(app, &syncing, &scope, grids.clone(), pushes).await?;
    for result in &results {
        match (&result.status, &result.error) {
            (DocStatus::Ok, _) => {
                app.metrics.sync_documents.inc();
            }
            (_, Some(e)) => app.metrics.refused(&e.code),
            (status, None) => app.metrics.refused(status.as_str()),
        }
    }
    if !old_layout.is_empty() {
        let accepted: Vec<_> = old_layout
            .into_iter()
            .filter(|p| {
                results
                    .iter()
                    .any(|r| &r.id == p.id() && r.status == DocStatus::Ok)
            })
            .collect();
        legacy::lift_pushed(app, &accepted).await;
    }
    let mut pulled = read_updates(app, &scope, &cursor, &thresholds).await?;
    let wait = request.wait_ms.unwrap_or(0).min(MAX_WAIT_MS);
    let nothing_new = pulled.updates.is_empty()
        && pulled.removed.is_empty()
        && results.iter().all(|r| r.changes.is_empty());
    if wait > 0 && nothing_new && wait_for_news(app, &grids, &pulled.next, wait).await? {
        pulled = read_updates(app, &scope, &pulled.next, &Thresholds::new()).await?;
    }
    // Archived documents leave the phone: those removed since its cursor, and those it
    // pushed (refused `archived`).
    let mut removed = pulled.removed;
    for result in &results {
        if result
            .error
            .as_ref()
            .is_some_and(|e| e.code == codes::ARCHIVED)
            && !removed.contains(&result.id)
        {
            removed.push(result.id.clone());
        }
    }
    if !pulled.personal.is_empty() {
        audit_personal_data_sent(app, &user, caller, address, &pulled.personal).await?;
    }
    Ok(SyncResponse {
        protocol: PROTOCOL_VERSION,
        cursor: pulled.next.encode(),
        docs: results,
        updates: pulled.updates,
        more: pulled.more,
        removed,
    })
}

/// Writes the one audit row of a sync that sends documents holding personal data
/// ([`RecordKind::holds_personal_data`]) to a phone: the device, and how many such documents
/// of each grid (never their content). Written before the answer leaves; if it cannot be
/// written the sync fails and sends nothing.
async fn audit_personal_data_sent(
    app: &AppState,
    user: &UserRow,
    caller: &AuthUser,
    address: Option<IpAddr>,
    personal: &BTreeMap<GridId, usize>,
) -> ApiResult<()> {
    let total: usize = personal.values().sum();
    let mut entry = AuditEntry::by(
        AuditAction::PersonalDataSynced,
        user,
        &caller.device,
        address,
    );
    entry.detail = Some(serde_json::json!({
        "documents": total,
        "grids": personal.iter().map(|(g, n)| (g.to_string(), *n)).collect::<BTreeMap<_, _>>(),
    }));
    audit::record(&app.db, entry).await?;
    Ok(())
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
    // Registered before looking, so a write that ends in between still wakes us.
    let waiter = app.live.wait_for(grids);
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
            () = waiter.woken() => {}
            () = tokio::time::sleep_until(deadline) => return Ok(false),
        }
    }
}

/// Everything in the caller's scope logged after their cursor (or after a pushed document's
/// threshold), grouped by document, and the new cursor.
async fn read_updates(
    app: &AppState,
    scope: &Scope,
    cursor: &GridCursor,
    thresholds: &Thresholds,
) -> ApiResult<Pulled> {
    let grids: Vec<GridId> = scope.grids.iter().cloned().collect();
    let mut tx = app.db.begin_read().await?;
    let seqs = docs::grid_seqs(&mut tx, &grids).await?;
    let mut updates: Vec<DocUpdate> = Vec::new();
    let mut index: HashMap<DocId, usize> = HashMap::new();
    let mut next = GridCursor::default();
    let mut more = false;
    let mut personal = BTreeMap::new();
    let mut removed = Vec::new();
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
            let added = add_group(&mut updates, &mut index, group, scope, thresholds);
            if added > 0 {
                *personal.entry(grid.clone()).or_insert(0) += added;
            }
            last = seq;
            start = end;
        }
        if !more {
            // Everything up to `upto` was read (a write that logged no change of this
            // caller's, such as an archive, moves the cursor too).
            last = upto;
        }
        removed.extend(retention::removals_in_grid(&mut tx, grid, from, last).await?);
        next.0
            .insert(grid.clone(), u64::try_from(last).unwrap_or(0));
    }
    tx.commit().await?;
    Ok(Pulled {
        updates,
        next,
        more,
        personal,
        removed,
    })
}

/// What a sync sends of what was logged since the caller's cursor.
struct Pulled {
    /// The changes, grouped by document.
    updates: Vec<DocUpdate>,
    /// The cursor after them.
    next: GridCursor,
    /// Whether more is waiting (the response is full).
    more: bool,
    /// How many documents holding personal data are sent, per grid.
    personal: BTreeMap<GridId, usize>,
    /// Documents the phone must drop (archived), logged in the same range.
    removed: Vec<DocId>,
}

/// Adds one write's changes to the updates, merging with earlier entries of the same document.
/// How many documents holding personal data it added.
fn add_group(
    updates: &mut Vec<DocUpdate>,
    index: &mut HashMap<DocId, usize>,
    group: &[docs::LoggedChange],
    scope: &Scope,
    thresholds: &Thresholds,
) -> usize {
    let mut personal = 0;
    for row in group {
        if thresholds.get(&row.doc).is_some_and(|t| row.seq <= *t) {
            continue;
        }
        let Ok(kind) = row.kind.parse::<RecordKind>() else {
            continue;
        };
        let liaison_group = row.liaison_group.as_deref().and_then(|g| g.parse().ok());
        let departments = docs::parse_departments(&row.departments);
        if !scope.may_sync_in_grid(
            kind,
            liaison_group.as_ref(),
            row.confidential,
            &departments,
            row.personal_history,
        ) {
            continue;
        }
        match index.get(&row.doc) {
            Some(&i) => updates[i].changes.0.extend_from_slice(&row.bytes),
            None => {
                if kind.holds_personal_data() || row.personal_history {
                    personal += 1;
                }
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
    personal
}
