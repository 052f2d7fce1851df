//! The record lists (`GET /v1/households`, `/v1/cases`, `/v1/visits`, `/v1/patrols`,
//! `/v1/activities`, `/v1/party-registrations`, `/v1/assets`): parameters read, the list read
//! through [`crate::lists::records`], a page answered.

use axum::extract::State;
use sync_core::record::RecordKind;

use crate::auth::AuthUser;
use crate::db::now_millis;
use crate::error::ApiResult;
use crate::http::extract::{ApiJson, ApiQuery};
use crate::lists::ListPage;
use crate::lists::records::{self, ActivityQuery, CaseQuery, HouseholdQuery};
use crate::state::AppState;

/// `GET /v1/households?grid=&community=&status=&special_group=&tag=&liaison_group=&q=&sort=&page=&per_page=`
///
/// `q` matches a part of the address or of a resident's name (case-insensitive); `sort` is
/// `address` (default), `-address`, `updated_at` or `-updated_at`.
#[utoipa::path(
    get,
    path = "/v1/households",
    tag = "records",
    params(
        HouseholdQuery,
    ),
    responses(
        (status = 200, description = "A page of households", body = crate::openapi::ListPage),
        crate::error::responses::ReadErrors,
    ),
    security(("bearer" = [])),
)]
pub async fn list_households(
    State(app): State<AppState>,
    caller: AuthUser,
    ApiQuery(p): ApiQuery<HouseholdQuery>,
) -> ApiResult<ApiJson<ListPage>> {
    Ok(ApiJson(records::households(&app, &caller, &p).await?))
}

/// `GET /v1/cases?kind=&state=&level=&grid=&community=&assignee=&opened_from=&opened_to=&escalated=&household=&sort=&page=&per_page=`
///
/// `level` is `on_time`, `yellow`, `red` or `overdue` (the same as `red`), computed against
/// the current time; cases without a running step (draft, closed, not filed, cancelled) have
/// no level. `sort` is `opened_at`, `-opened_at` (default), `due_at`, `-due_at`, `updated_at`
/// or `-updated_at`; cases without a deadline sort last by `due_at`.
#[utoipa::path(
    get,
    path = "/v1/cases",
    tag = "records",
    params(
        CaseQuery,
    ),
    responses(
        (status = 200, description = "A page of cases", body = crate::openapi::ListPage),
        crate::error::responses::ReadErrors,
    ),
    security(("bearer" = [])),
)]
pub async fn list_cases(
    State(app): State<AppState>,
    caller: AuthUser,
    ApiQuery(p): ApiQuery<CaseQuery>,
) -> ApiResult<ApiJson<ListPage>> {
    Ok(ApiJson(
        records::cases(&app, &caller, &p, now_millis()).await?,
    ))
}

/// `GET /v1/tasks`: what waits for the caller (待我处理), most urgent first: red deadlines,
/// then yellow, then on time; within a level the street's supervision (督办), the case's
/// urgency, the earliest due time. Each item names the case and the `action` that moves it on
/// (the same rules as the phone's list and the case page's buttons). A grid worker's list also
/// holds the liaisons' reports waiting for triage (`record_kind` `report`, action `accept`).
#[utoipa::path(
    get,
    path = "/v1/tasks",
    tag = "records",
    responses(
        (status = 200, description = "`{\"items\": [{\"case\", \"record_kind\", \"action\", \"kind\", \"subject\", \"community\", \"grid\", \"state\", \"urgency\", \"supervision\", \"level\", \"due_at\", \"opened_at\"}], \"total\", \"truncated\"}`"),
        crate::error::responses::ReadErrors,
    ),
    security(("bearer" = [])),
)]
pub async fn list_tasks(
    State(app): State<AppState>,
    caller: AuthUser,
) -> ApiResult<ApiJson<serde_json::Value>> {
    Ok(ApiJson(
        crate::lists::tasks::tasks(&app, &caller, now_millis()).await?,
    ))
}

/// `GET /v1/visits?grid=&community=&from=&to=&household=&worker=&method=&sort=at|-at&page=&per_page=`
#[utoipa::path(
    get,
    path = "/v1/visits",
    tag = "records",
    params(
        records::VisitParams,
    ),
    responses(
        (status = 200, description = "A page of visits", body = crate::openapi::ListPage),
        crate::error::responses::ReadErrors,
    ),
    security(("bearer" = [])),
)]
pub async fn list_visits(
    State(app): State<AppState>,
    caller: AuthUser,
    ApiQuery(p): ApiQuery<ActivityQuery>,
) -> ApiResult<ApiJson<ListPage>> {
    Ok(ApiJson(
        records::activities(&app, &caller, &p, RecordKind::Visit, "visits").await?,
    ))
}

/// `GET /v1/patrols?grid=&community=&from=&to=&sort=at|-at&page=&per_page=`
#[utoipa::path(
    get,
    path = "/v1/patrols",
    tag = "records",
    params(
        records::PatrolParams,
    ),
    responses(
        (status = 200, description = "A page of patrols", body = crate::openapi::ListPage),
        crate::error::responses::ReadErrors,
    ),
    security(("bearer" = [])),
)]
pub async fn list_patrols(
    State(app): State<AppState>,
    caller: AuthUser,
    ApiQuery(p): ApiQuery<ActivityQuery>,
) -> ApiResult<ApiJson<ListPage>> {
    Ok(ApiJson(
        records::activities(&app, &caller, &p, RecordKind::Patrol, "patrols").await?,
    ))
}

/// `GET /v1/activities?grid=&community=&from=&to=&activity_kind=&organizer=&sort=at|-at&page=&per_page=`
#[utoipa::path(
    get,
    path = "/v1/activities",
    tag = "records",
    params(
        records::ActivityParams,
    ),
    responses(
        (status = 200, description = "A page of activities", body = crate::openapi::ListPage),
        crate::error::responses::ReadErrors,
    ),
    security(("bearer" = [])),
)]
pub async fn list_activities(
    State(app): State<AppState>,
    caller: AuthUser,
    ApiQuery(p): ApiQuery<ActivityQuery>,
) -> ApiResult<ApiJson<ListPage>> {
    Ok(ApiJson(
        records::activities(&app, &caller, &p, RecordKind::Activity, "activities").await?,
    ))
}

/// `GET /v1/party-registrations?grid=&community=&from=&to=&registrant_kind=&sort=at|-at&page=&per_page=`
/// (`at` is the registration day).
#[utoipa::path(
    get,
    path = "/v1/party-registrations",
    tag = "records",
    params(
        records::PartyRegistrationParams,
    ),
    responses(
        (status = 200, description = "A page of party registrations", body = crate::openapi::ListPage),
        crate::error::responses::ReadErrors,
    ),
    security(("bearer" = [])),
)]
pub async fn list_party_registrations(
    State(app): State<AppState>,
    caller: AuthUser,
    ApiQuery(p): ApiQuery<ActivityQuery>,
) -> ApiResult<ApiJson<ListPage>> {
    Ok(ApiJson(
        records::activities(
            &app,
            &caller,
            &p,
            RecordKind::PartyRegistration,
            "party registrations",
        )
        .await?,
    ))
}

/// `GET /v1/assets?grid=&community=&asset_kind=&sort=label|-label&page=&per_page=` (assets have no date).
#[utoipa::path(
    get,
    path = "/v1/assets",
    tag = "records",
    params(
        records::AssetParams,
    ),
    responses(
        (status = 200, description = "A page of assets", body = crate::openapi::ListPage),
        crate::error::responses::ReadErrors,
    ),
    security(("bearer" = [])),
)]
pub async fn list_assets(
    State(app): State<AppState>,
    caller: AuthUser,
    ApiQuery(p): ApiQuery<ActivityQuery>,
) -> ApiResult<ApiJson<ListPage>> {
    Ok(ApiJson(
        records::activities(&app, &caller, &p, RecordKind::Asset, "assets").await?,
    ))
}
