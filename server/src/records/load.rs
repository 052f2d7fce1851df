//! Loading records: one cache-aside loader for every caller, and the checks of who may read
//! a record through the review API.

use std::sync::Arc;

use sync_core::ids::DocId;
use sync_core::record::Role;
use sync_core::server::Access;

use crate::auth::AuthUser;
use crate::db::docs::{self, LoadError, LoadedDoc};
use crate::db::users::{self, UserRow};
use crate::error::{ApiError, ApiResult};
use crate::http::params::path_id;
use crate::scope::Scope;
use crate::state::AppState;

impl From<LoadError> for ApiError {
    /// A database error keeps its status (503 when the database is unavailable); a stored
    /// record that no longer loads is an opaque 500 (its cause is logged, never answered).
    fn from(e: LoadError) -> Self {
        match e {
            LoadError::Sqlx(e) => e.into(),
            e @ LoadError::Corrupt { .. } => ApiError::internal(e),
        }
    }
}

/// A stored record, from the cache or else the database (then cached).
pub async fn load(app: &AppState, id: &DocId) -> ApiResult<Option<Arc<LoadedDoc>>> {
    if let Some(hit) = app.cache.get(id) {
        app.metrics.cache_hits.inc();
        return Ok(Some(hit));
    }
    app.metrics.cache_misses.inc();
    reload(app, id).await
}

/// A stored record from the database, bypassing the cache (which it then updates): for a
/// decision that may have been taken on a stale cached copy.
pub async fn reload(app: &AppState, id: &DocId) -> ApiResult<Option<Arc<LoadedDoc>>> {
    Ok(match docs::load(&app.db, id).await? {
        Some(loaded) => {
            let loaded = Arc::new(loaded);
            app.cache.put(loaded.clone());
            Some(loaded)
        }
        None => None,
    })
}

/// The caller's user row and scope (401 when the user is gone).
pub async fn caller_scope(app: &AppState, caller: &AuthUser) -> ApiResult<(UserRow, Scope)> {
    let user = users::get_user(&app.db, &caller.user)
        .await?
        .ok_or_else(|| ApiError::unauthorized("unknown user"))?;
    let scope = Scope::of_user(&app.db, &user).await?;
    Ok((user, scope))
}

/// A record the caller may read, with the caller's user row and scope.
#[derive(Debug)]
pub struct Readable {
    /// The stored record.
    pub loaded: Arc<LoadedDoc>,
    /// The caller.
    pub user: UserRow,
    /// The caller's scope.
    pub scope: Scope,
}

/// Loads record `id` (a path parameter) for `caller`: 400 for a malformed id, 403 for
/// administrators and out-of-scope records, 404 for unknown ids.
pub async fn readable(app: &AppState, caller: &AuthUser, id: &str) -> ApiResult<Readable> {
    let id: DocId = path_id("id", id)?;
    if !caller.role.reads_records() {
        return Err(crate::scope::records_refused(caller.role, "read records"));
    }
    let loaded = load(app, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such record"))?;
    let (user, scope) = caller_scope(app, caller).await?;
    let in_scope = loaded
        .record
        .meta
        .as_ref()
        .is_some_and(|meta| scope.may_read(meta));
    if !in_scope {
        return Err(ApiError::forbidden(
            "forbidden",
            "the record is outside your scope",
        ));
    }
    Ok(Readable {
        loaded,
        user,
        scope,
    })
}

/// Record `id` for a community or street supervisor to work on (`what` names the work in the
/// refusal of anyone else): [`supervisors_only`], then [`readable`].
pub async fn supervised(
    app: &AppState,
    caller: &AuthUser,
    id: &str,
    what: &str,
) -> ApiResult<Readable> {
    supervisors_only(caller, what)?;
    readable(app, caller, id).await
}

/// Only community and street supervisors act on cases, resolve conflicts and reveal.
pub fn supervisors_only(caller: &AuthUser, what: &str) -> ApiResult<()> {
    if matches!(
        caller.role,
        Role::CommunitySupervisor | Role::StreetSupervisor
    ) {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "forbidden",
            format!("only community and street supervisors may {what}"),
        ))
    }
}
