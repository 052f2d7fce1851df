//! The monthly report ([`crate::reports`]): `GET /v1/reports/monthly` (JSON),
//! `GET /v1/reports/monthly.xlsx` (a workbook) and `GET /v1/reports/monthly.pdf`.

use axum::extract::State;
use axum::response::Response;

use crate::auth::AuthUser;
use crate::db::now_millis;
use crate::error::{ApiError, ApiResult};
use crate::exports::file_response;
use crate::http::extract::{ApiJson, ApiQuery};
use crate::records::work::blocking;
use crate::reports::pdf::{PdfError, ReportFont};
use crate::reports::{self, MonthlyQuery, MonthlyReport};
use crate::state::AppState;

/// `GET /v1/reports/monthly?month=&community=&grid=`
#[utoipa::path(
    get,
    path = "/v1/reports/monthly",
    tag = "reports",
    params(MonthlyQuery),
    responses(
        (status = 200, description = "The monthly report (工作月报) of the place: figures as of the report and of the month, per community and grid, and a summary in Chinese", body = MonthlyReport),
        crate::error::responses::ReadErrors,
        (status = 422, description = "`month_not_begun`: the month is still to come", body = crate::error::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn get_monthly(
    State(app): State<AppState>,
    caller: AuthUser,
    ApiQuery(p): ApiQuery<MonthlyQuery>,
) -> ApiResult<ApiJson<MonthlyReport>> {
    Ok(ApiJson(
        reports::monthly(&app, &caller, &p, now_millis()).await?,
    ))
}

/// `GET /v1/reports/monthly.xlsx?month=&community=&grid=`
#[utoipa::path(
    get,
    path = "/v1/reports/monthly.xlsx",
    tag = "reports",
    params(MonthlyQuery),
    responses(
        (status = 200, description = "The monthly report as a workbook (月报, 分社区, 分网格)", content((crate::openapi::BinaryFile = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))),
        crate::error::responses::ReadErrors,
        (status = 422, description = "`month_not_begun`: the month is still to come", body = crate::error::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn get_monthly_xlsx(
    State(app): State<AppState>,
    caller: AuthUser,
    ApiQuery(p): ApiQuery<MonthlyQuery>,
) -> ApiResult<Response> {
    let report = reports::monthly(&app, &caller, &p, now_millis()).await?;
    let name = report.file_name("xlsx");
    let bytes = blocking(move || reports::xlsx::workbook(&report))
        .await?
        .map_err(ApiError::internal)?;
    Ok(file_response(bytes, XLSX, &name))
}

/// `GET /v1/reports/monthly.pdf?month=&community=&grid=`
#[utoipa::path(
    get,
    path = "/v1/reports/monthly.pdf",
    tag = "reports",
    params(MonthlyQuery),
    responses(
        (status = 200, description = "The monthly report as a PDF (A4)", content((crate::openapi::BinaryFile = "application/pdf"))),
        crate::error::responses::ReadErrors,
        (status = 422, description = "`month_not_begun`: the month is still to come", body = crate::error::ErrorBody),
        (status = 503, description = "No font with Chinese glyphs on the server (`no_font`: install fonts-noto-cjk or set GRIDBOOK_REPORT_FONT)", body = crate::error::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn get_monthly_pdf(
    State(app): State<AppState>,
    caller: AuthUser,
    ApiQuery(p): ApiQuery<MonthlyQuery>,
) -> ApiResult<Response> {
    let report = reports::monthly(&app, &caller, &p, now_millis()).await?;
    let name = report.file_name("pdf");
    let configured = app.settings.report_font.clone();
    let bytes = blocking(move || {
        let font = ReportFont::find(configured.as_deref())?;
        reports::pdf::document(&report, &font)
    })
    .await?
    .map_err(|e| match e {
        PdfError::NoFont(message) => ApiError::missing_dependency("no_font", message),
        PdfError::Write(message) => ApiError::internal(message),
    })?;
    Ok(file_response(bytes, "application/pdf", &name))
}

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
