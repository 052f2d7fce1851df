//! `GET /v1/figures?community=&grid=&from=&to=`, `GET /v1/figures/timeline?...` and the
//! county office's `GET /v1/figures/streets?from=&to=` (`{"period", "totals", "streets":
//! [{"id", "name", ...}]}`): the parameters read, the figures computed by
//! [`crate::figures`], the answer given.
//!
//! The figures: `{"period": {"from", "to"}, "totals": {...}, "communities": [{"id", "name",
//! ...}], "grids": [{"id", "name", "community", ...}]}` where each figure set holds
//! `disputes_mediated`, `hazards_found`, `hazards_rectified`, `appeals_resolved`,
//! `appeals_resolved_on_time`, `overdue_cases` (now, whenever opened), `supervised_yellow` and
//! `supervised_red` (open cases under the street's supervision now, apart from deadline
//! alerts), `households`,
//! `households_visited`, `visit_coverage` (visited / households, `null` without households),
//! `visits`, `patrols`, `service_activities`, `cultural_activities`, `outreach_activities`,
//! `party_members_registered` and `party_organizations_registered`.

use axum::extract::State;

use crate::auth::AuthUser;
use crate::db::now_millis;
use crate::error::ApiResult;
use crate::figures::{self, CountyFigures, Figures, FiguresQuery, PeriodQuery, Timeline};
use crate::http::extract::{ApiJson, ApiQuery};
use crate::state::AppState;

/// `GET /v1/figures?community=&grid=&from=&to=`
#[utoipa::path(
    get,
    path = "/v1/figures",
    tag = "figures",
    params(FiguresQuery),
    responses(
        (status = 200, description = "Figures for the place and period", body = Figures),
        crate::error::responses::ReadErrors,
        (status = 422, description = "`bad_period`: `from` is after `to`", body = crate::error::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn get_figures(
    State(app): State<AppState>,
    caller: AuthUser,
    ApiQuery(p): ApiQuery<FiguresQuery>,
) -> ApiResult<ApiJson<Figures>> {
    Ok(ApiJson(
        figures::figures(&app, &caller, &p, now_millis()).await?,
    ))
}

/// `GET /v1/figures/timeline?community=&grid=&from=&to=`
#[utoipa::path(
    get,
    path = "/v1/figures/timeline",
    tag = "figures",
    params(FiguresQuery),
    responses(
        (status = 200, description = "Cases opened and closed per day, week or month of the period", body = Timeline),
        crate::error::responses::ReadErrors,
        (status = 422, description = "`bad_period`: `from` is after `to`", body = crate::error::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn get_timeline(
    State(app): State<AppState>,
    caller: AuthUser,
    ApiQuery(p): ApiQuery<FiguresQuery>,
) -> ApiResult<ApiJson<Timeline>> {
    Ok(ApiJson(
        figures::timeline(&app, &caller, &p, now_millis()).await?,
    ))
}

/// `GET /v1/figures/streets?from=&to=`
#[utoipa::path(
    get,
    path = "/v1/figures/streets",
    tag = "figures",
    params(PeriodQuery),
    responses(
        (status = 200, description = "The county office's figures: every street's, counts only", body = CountyFigures),
        crate::error::responses::ReadErrors,
        (status = 422, description = "`bad_period`: `from` is after `to`", body = crate::error::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn get_streets(
    State(app): State<AppState>,
    caller: AuthUser,
    ApiQuery(p): ApiQuery<PeriodQuery>,
) -> ApiResult<ApiJson<CountyFigures>> {
    Ok(ApiJson(
        figures::county(&app, &caller, &p, now_millis()).await?,
    ))
}
