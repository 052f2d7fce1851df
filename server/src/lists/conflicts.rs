//! The conflict inbox's list: records in the caller's scope with fields holding concurrently
//! written values, case events made illegal by a merge, or a merge that broke a rule; from
//! `conflict_index`, kept up to date at every write. Community and street supervisors only.

use serde::Deserialize;
use serde_json::{Value as Json, json};
use sync_core::ids::{CommunityId, GridId};
use sync_core::record::RecordKind;
use sync_core::time::Timestamp;

use crate::auth::AuthUser;
use crate::db::index::{self as idx, ConflictRow};
use crate::db::query::Filter;
use crate::error::ApiResult;
use crate::http::params::{paging, parse};
use crate::lists::{ListPage, narrow_grids, page_of};
use crate::records::load::{caller_scope, supervisors_only};
use crate::state::AppState;

/// The inbox's order: the records written last first.
pub const ORDER_BY: &str = "updated_at DESC, id";

/// `GET /v1/conflicts` parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ConflictQuery {
    /// A grid of the caller's scope.
    #[param(pattern = "^$|^[a-z0-9_-]{1,64}$", max_length = 64)]
    grid: Option<String>,
    /// A community of the caller's scope.
    #[param(pattern = "^$|^[a-z0-9_-]{1,64}$", max_length = 64)]
    community: Option<String>,
    /// The record kind.
    #[param(schema_with = record_kind)]
    kind: Option<String>,
    /// Page, from 1.
    #[param(minimum = 1, maximum = 1000000)]
    pub page: Option<u32>,
    /// Records per page (1 to 200, default 50).
    #[param(minimum = 1, maximum = 200)]
    pub per_page: Option<u32>,
}

fn record_kind() -> utoipa::openapi::Object {
    crate::openapi::values::param_one_of_labels("The record kind.", RecordKind::LABELS)
}

/// The inbox's filter from its query, within the caller's scope (supervisors only).
pub async fn conflict_filter(
    app: &AppState,
    caller: &AuthUser,
    q: &ConflictQuery,
) -> ApiResult<Filter> {
    supervisors_only(caller, "read the conflict inbox")?;
    let grid: Option<GridId> = parse("grid", q.grid.as_ref())?;
    let community: Option<CommunityId> = parse("community", q.community.as_ref())?;
    let kind: Option<RecordKind> = parse("kind", q.kind.as_ref())?;
    let (_, scope) = caller_scope(app, caller).await?;
    let grids = narrow_grids(app, &scope, community, grid).await?;
    let mut f = Filter::default();
    let grids: Vec<String> = grids.iter().map(ToString::to_string).collect();
    f.in_place(scope.among(&grids));
    if let Some(kind) = kind {
        f.eq("kind", kind.as_str());
    }
    Ok(f)
}

/// A page of the conflict inbox, newest first.
pub async fn page(app: &AppState, caller: &AuthUser, q: &ConflictQuery) -> ApiResult<ListPage> {
    supervisors_only(caller, "read the conflict inbox")?;
    let (page, per_page) = paging(q.page, q.per_page)?;
    let f = conflict_filter(app, caller, q).await?;
    let (rows, total) = idx::list_conflicts(&app.db, &f, page_of(ORDER_BY, page, per_page)).await?;
    let mut list = ListPage::of(&rows, conflict_item, page, per_page, total);
    crate::lists::with_place_names(app, &mut list.items).await?;
    Ok(list)
}

fn conflict_item((r, updated_at): &(ConflictRow, i64)) -> Json {
    json!({
        "id": r.id,
        "kind": r.kind,
        "community": r.community_id,
        "grid": r.grid_id,
        "fields": r.fields,
        "illegal_events": r.illegal_events,
        "merged_invalid": r.merged_invalid,
        "updated_at": Timestamp::from_millis(*updated_at).to_string(),
    })
}
