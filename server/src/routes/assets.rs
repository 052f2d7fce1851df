//! 三资 accounts ([`crate::assets`]): `GET /v1/assets/accounts` (the assets of a place, their
//! year and the leases expiring soon), `GET /v1/assets/{id}/account` (one asset's account)
//! and `GET /v1/assets/{id}/account.xlsx` (the same as a workbook).

use axum::extract::State;
use axum::response::Response;

use crate::assets::{self, AccountQuery, Accounts, AccountsQuery};
use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult};
use crate::exports::file_response;
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;

/// `GET /v1/assets/accounts?community=&grid=&year=`
#[utoipa::path(
    get,
    path = "/v1/assets/accounts",
    tag = "assets",
    params(AccountsQuery),
    responses(
        (status = 200, description = "The year's accounts of every asset of the place, and the leases expiring within 90 days", body = Accounts),
        crate::error::responses::ReadErrors,
    ),
    security(("bearer" = [])),
)]
pub async fn get_accounts(
    State(app): State<AppState>,
    caller: AuthUser,
    ApiQuery(p): ApiQuery<AccountsQuery>,
) -> ApiResult<ApiJson<Accounts>> {
    Ok(ApiJson(assets::accounts(&app, &caller, &p).await?))
}

/// `GET /v1/assets/{id}/account?year=`
#[utoipa::path(
    get,
    path = "/v1/assets/{id}/account",
    tag = "assets",
    params(
        ("id" = String, Path, description = "The asset's record id (a lowercase, hyphenated UUID)", format = "uuid", pattern = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"),
        AccountQuery,
    ),
    responses(
        (status = 200, description = "The asset's account for the year", body = assets::Account),
        crate::error::responses::RecordErrors,
    ),
    security(("bearer" = [])),
)]
pub async fn get_account(
    State(app): State<AppState>,
    caller: AuthUser,
    ApiPath(id): ApiPath<String>,
    ApiQuery(p): ApiQuery<AccountQuery>,
) -> ApiResult<ApiJson<assets::Account>> {
    Ok(ApiJson(assets::account(&app, &caller, &id, &p).await?))
}

/// `GET /v1/assets/{id}/account.xlsx?year=`
#[utoipa::path(
    get,
    path = "/v1/assets/{id}/account.xlsx",
    tag = "assets",
    params(
        ("id" = String, Path, description = "The asset's record id (a lowercase, hyphenated UUID)", format = "uuid", pattern = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"),
        AccountQuery,
    ),
    responses(
        (status = 200, description = "The asset's account as a workbook", content((crate::openapi::BinaryFile = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))),
        crate::error::responses::RecordErrors,
    ),
    security(("bearer" = [])),
)]
pub async fn get_account_xlsx(
    State(app): State<AppState>,
    caller: AuthUser,
    ApiPath(id): ApiPath<String>,
    ApiQuery(p): ApiQuery<AccountQuery>,
) -> ApiResult<Response> {
    let account = assets::account(&app, &caller, &id, &p).await?;
    let name = format!("asset-account-{}-{}.xlsx", account.year, account.asset.id);
    let bytes = crate::records::work::blocking(move || assets::account_workbook(&account))
        .await?
        .map_err(ApiError::internal)?;
    Ok(file_response(bytes, XLSX, &name))
}

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
