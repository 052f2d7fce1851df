//! The household roster import ([`crate::imports`]): `POST /v1/imports/households` (the file
//! as the body; starts a job), `GET /v1/imports/{id}` (its progress and summary) and
//! `GET /v1/imports/{id}/report.xlsx` (its validation report).

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;

use crate::auth::AuthUser;
use crate::error::ApiResult;
use crate::exports::file_response;
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, ClientAddr, body_bytes};
use crate::imports::jobs::{self, JobView, StartQuery};
use crate::state::AppState;

/// `POST /v1/imports/households?grid=&dry_run=&partial=&mapping=`
#[utoipa::path(
    post,
    path = "/v1/imports/households",
    tag = "imports",
    description = "Imports a household roster (one resident a row) into a grid: the file is the body (`Content-Type` an XLSX workbook or `text/csv`; CSV in UTF-8 or GBK). Answers 202 with the job; follow it with `GET /v1/imports/{id}`. Community and street supervisors and grid workers, within their scope.",
    params(StartQuery),
    request_body(content = crate::openapi::BinaryFile, content_type = "text/csv"),
    responses(
        (status = 202, description = "The import started", body = JobView),
        crate::error::responses::ReadErrors,
        (status = 413, description = "Body too large", body = crate::error::ErrorBody),
        (status = 422, description = "`not_a_roster` (neither XLSX nor CSV), `no_header` (no row names the roster's columns) or `bad_mapping` (`mapping` is not a JSON object of header → field)", body = crate::error::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn start_household_import(
    State(app): State<AppState>,
    caller: AuthUser,
    ClientAddr(address): ClientAddr,
    ApiQuery(query): ApiQuery<StartQuery>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, ApiJson<JobView>)> {
    let body = body_bytes(body)?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let view = jobs::start(&app, &caller, address, &query, content_type, &body).await?;
    Ok((StatusCode::ACCEPTED, ApiJson(view)))
}

/// `GET /v1/imports/{id}`
#[utoipa::path(
    get,
    path = "/v1/imports/{id}",
    tag = "imports",
    params(("id" = String, Path, description = "The import's id (a lowercase, hyphenated UUID)", format = "uuid", pattern = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")),
    responses(
        (status = 200, description = "The import's progress, and its summary once finished", body = JobView),
        crate::error::responses::RecordErrors,
    ),
    security(("bearer" = [])),
)]
pub async fn get_import(
    State(app): State<AppState>,
    caller: AuthUser,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<ApiJson<JobView>> {
    Ok(ApiJson(app.imports.view(&caller, &id)?))
}

/// `GET /v1/imports/{id}/report.xlsx`
#[utoipa::path(
    get,
    path = "/v1/imports/{id}/report.xlsx",
    tag = "imports",
    params(("id" = String, Path, description = "The import's id (a lowercase, hyphenated UUID)", format = "uuid", pattern = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")),
    responses(
        (status = 200, description = "The validation report: the summary, and every problem of every row with its reason", content((crate::openapi::BinaryFile = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))),
        crate::error::responses::RecordErrors,
        crate::error::responses::Conflicting,
    ),
    security(("bearer" = [])),
)]
pub async fn get_import_report(
    State(app): State<AppState>,
    caller: AuthUser,
    ClientAddr(addr): ClientAddr,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    let bytes = crate::imports::download_report(&app, &caller, addr, &id).await?;
    Ok(file_response(
        bytes,
        XLSX,
        &format!("household-import-report-{id}.xlsx"),
    ))
}

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
