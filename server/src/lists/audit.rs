//! The audit log's list, for administrators: logins, reveals, exports, case actions, conflict
//! resolutions and administrators' own actions, newest first.

use serde::Deserialize;
use sync_core::ids::DocId;
use sync_core::record::Role;

use crate::audit::{self, AuditAction, AuditFilter};
use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult};
use crate::http::params::{given, paging_up_to, parse, time_bound};
use crate::lists::ListPage;
use crate::state::AppState;

/// Largest page of the audit log.
pub const MAX_PER_PAGE: u32 = 500;

/// The query of `GET /v1/admin/audit` (and of its export).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    /// User id or login.
    pub actor: Option<String>,
    /// What happened: `login`, `login_failed`, `reveal`, `export`, `case_action`, ...
    #[param(schema_with = audit_action)]
    pub action: Option<String>,
    /// Record id (a lowercase, hyphenated UUID).
    #[param(pattern = "^$|^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")]
    pub record: Option<String>,
    /// At or after: an RFC 3339 time, or a day (China time).
    #[param(schema_with = crate::openapi::values::time_bound)]
    pub from: Option<String>,
    /// At or before: an RFC 3339 time, or a day (China time; its last instant).
    #[param(schema_with = crate::openapi::values::time_bound)]
    pub to: Option<String>,
    /// Page, from 1.
    #[param(minimum = 1, maximum = 1000000)]
    pub page: Option<u32>,
    /// Entries per page (1–500, default 50).
    #[param(minimum = 1, maximum = 500)]
    pub per_page: Option<u32>,
}

fn audit_action() -> utoipa::openapi::Object {
    crate::openapi::values::param_one_of_labels(
        "What happened: `login`, `login_failed`, `reveal`, `export`, `case_action`, ...",
        AuditAction::LABELS,
    )
}

/// The audit log's filter from its query (administrators only: 403 for anyone else).
pub fn audit_filter(caller: &AuthUser, params: &AuditParams) -> ApiResult<AuditFilter> {
    if caller.role != Role::Admin {
        return Err(ApiError::forbidden(
            "forbidden",
            "only administrators read the audit log",
        ));
    }
    let action: Option<AuditAction> = parse("action", params.action.as_ref())?;
    let record: Option<DocId> = parse("record", params.record.as_ref())?;
    Ok(AuditFilter {
        actor: given(params.actor.as_ref()).map(str::to_owned),
        action,
        record: record.map(|id| id.to_string()),
        from: time_bound("from", params.from.as_ref(), false)?,
        to: time_bound("to", params.to.as_ref(), true)?,
    })
}

/// A page of the audit log.
pub async fn page(app: &AppState, caller: &AuthUser, params: &AuditParams) -> ApiResult<ListPage> {
    let filter = audit_filter(caller, params)?;
    let (page, per_page) = paging_up_to(params.page, params.per_page, MAX_PER_PAGE)?;
    let (items, total) = audit::query(&app.db, &filter, page, per_page).await?;
    Ok(ListPage::of(
        &items,
        |item| serde_json::to_value(item).unwrap_or_default(),
        page,
        per_page,
        total,
    ))
}
