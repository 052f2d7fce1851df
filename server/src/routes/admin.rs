//! Administration: places and users, `/v1/admin/*`, for the admin role only (others: 403),
//! over [`crate::places`] and [`crate::accounts::admin`].
//!
//! * `GET /v1/admin/places`: `{"streets": [...], "communities": [...], "grids": [...]}`.
//! * `PUT /v1/admin/streets/{id}` `{"name"}`, `PUT /v1/admin/communities/{id}`
//!   `{"name", "street"}`, `PUT /v1/admin/grids/{id}` `{"name", "community"}`: create or
//!   update; 200 with the place. Unknown parent: 422 `unknown_place`. A grid that holds
//!   records keeps its community (409 `conflict`): its records name both.
//! * `PUT /v1/admin/departments/{id}` `{"name", "street"}`: create or rename a department of a
//!   street (站所) that cases can be dispatched to; its staff are users of role `department`.
//! * `POST /v1/admin/users`: 201 with the user; 409 `conflict` for a taken login; 422 for
//!   anything else invalid (see [`crate::accounts::CreateUserError`]).
//! * `POST /v1/admin/users/{login}/disable` and `/enable`: 204; 404 for an unknown login.
//!   Disabling ends the user's sessions: enabling them again revives none.
//! * `POST /v1/admin/users/{login}/reset-password` `{"password"?}`: 200 with the temporary
//!   password if the server made it; the user must change it at their next sign-in.
//!
//! Every change is audited (who, what, which target, from which address).

use axum::extract::State;
use axum::http::StatusCode;
use sync_core::ids::{CommunityId, GridId, StreetId};

use crate::accounts::admin::{self, ResetPasswordRequest, ResetPasswordResponse};
use crate::accounts::{NewUser, UserView};
use crate::auth::AdminUser;
use crate::db::places::{CommunityRow, GridRow, Hierarchy, StreetRow};
use crate::error::ApiResult;
use crate::error::responses::{
    Conflicting, Forbidden, Invalid, ReadErrors, RecordErrors, Unauthorized,
};
use crate::http::extract::{ApiJson, ApiPath, ClientAddr};
use crate::http::params::path_id;
use crate::places::{self, CommunityBody, GridBody, StreetBody};
use crate::state::AppState;

/// `GET /v1/admin/places`.
#[utoipa::path(
    get,
    path = "/v1/admin/places",
    tag = "admin",
    responses(
        (status = 200, description = "Streets, communities and grids", body = Hierarchy),
        Unauthorized,
        Forbidden,
    ),
    security(("bearer" = [])),
)]
pub async fn list_places(
    State(app): State<AppState>,
    _admin: AdminUser,
) -> ApiResult<ApiJson<Hierarchy>> {
    Ok(ApiJson(places::hierarchy(&app).await?))
}

/// `PUT /v1/admin/streets/{id}`.
#[utoipa::path(
    put,
    path = "/v1/admin/streets/{id}",
    tag = "admin",
    params(("id" = String, Path, description = "Street code: 1 to 64 of a-z, 0-9, - and _", pattern = "^[a-z0-9_-]{1,64}$", min_length = 1, max_length = 64)),
    request_body = StreetBody,
    responses(
        (status = 200, description = "The street", body = StreetRow),
        ReadErrors,
        Invalid,
    ),
    security(("bearer" = [])),
)]
pub async fn put_street(
    State(app): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientAddr(addr): ClientAddr,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<StreetBody>,
) -> ApiResult<ApiJson<StreetRow>> {
    let id: StreetId = path_id("id", &id)?;
    Ok(ApiJson(
        places::save_street(&app, &admin, addr, &id, &body).await?,
    ))
}

/// `PUT /v1/admin/communities/{id}`.
#[utoipa::path(
    put,
    path = "/v1/admin/communities/{id}",
    tag = "admin",
    params(("id" = String, Path, description = "Community code: 1 to 64 of a-z, 0-9, - and _", pattern = "^[a-z0-9_-]{1,64}$", min_length = 1, max_length = 64)),
    request_body = CommunityBody,
    responses(
        (status = 200, description = "The community", body = CommunityRow),
        ReadErrors,
        Conflicting,
        Invalid,
    ),
    security(("bearer" = [])),
)]
pub async fn put_community(
    State(app): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientAddr(addr): ClientAddr,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<CommunityBody>,
) -> ApiResult<ApiJson<CommunityRow>> {
    let id: CommunityId = path_id("id", &id)?;
    Ok(ApiJson(
        places::save_community(&app, &admin, addr, &id, &body).await?,
    ))
}

/// `PUT /v1/admin/grids/{id}`.
#[utoipa::path(
    put,
    path = "/v1/admin/grids/{id}",
    tag = "admin",
    params(("id" = String, Path, description = "Grid code: 1 to 64 of a-z, 0-9, - and _", pattern = "^[a-z0-9_-]{1,64}$", min_length = 1, max_length = 64)),
    request_body = GridBody,
    responses(
        (status = 200, description = "The grid", body = GridRow),
        ReadErrors,
        Conflicting,
        Invalid,
    ),
    security(("bearer" = [])),
)]
pub async fn put_grid(
    State(app): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientAddr(addr): ClientAddr,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<GridBody>,
) -> ApiResult<ApiJson<GridRow>> {
    let id: GridId = path_id("id", &id)?;
    Ok(ApiJson(
        places::save_grid(&app, &admin, addr, &id, &body).await?,
    ))
}

/// `PUT /v1/admin/departments/{id}`: creates or renames a department of a street (站所).
#[utoipa::path(
    put,
    path = "/v1/admin/departments/{id}",
    tag = "admin",
    params(("id" = String, Path, description = "Department code: 1 to 64 of a-z, 0-9, - and _", pattern = "^[a-z0-9_-]{1,64}$", min_length = 1, max_length = 64)),
    request_body = crate::places::DepartmentBody,
    responses(
        (status = 200, description = "The department", body = crate::db::places::DepartmentRow),
        ReadErrors,
        Invalid,
    ),
    security(("bearer" = [])),
)]
pub async fn put_department(
    State(app): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientAddr(addr): ClientAddr,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<crate::places::DepartmentBody>,
) -> ApiResult<ApiJson<crate::db::places::DepartmentRow>> {
    let id: sync_core::ids::DepartmentId = path_id("id", &id)?;
    Ok(ApiJson(
        places::save_department(&app, &admin, addr, &id, &body).await?,
    ))
}

/// `POST /v1/admin/users`.
#[utoipa::path(
    post,
    path = "/v1/admin/users",
    tag = "admin",
    request_body = NewUser,
    responses(
        (status = 201, description = "The user", body = UserView),
        ReadErrors,
        Conflicting,
        Invalid,
    ),
    security(("bearer" = [])),
)]
pub async fn create_user(
    State(app): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientAddr(addr): ClientAddr,
    ApiJson(new): ApiJson<NewUser>,
) -> ApiResult<(StatusCode, ApiJson<UserView>)> {
    let user = admin::create_user(&app, &admin, addr, new).await?;
    Ok((StatusCode::CREATED, ApiJson(user)))
}

/// `POST /v1/admin/users/{login}/disable`.
#[utoipa::path(
    post,
    path = "/v1/admin/users/{login}/disable",
    tag = "admin",
    params(("login" = String, Path, description = "Login name (1 to 64 characters)", min_length = 1, max_length = 64)),
    responses(
        (status = 204, description = "Done"),
        RecordErrors,
        Conflicting,
    ),
    security(("bearer" = [])),
)]
pub async fn disable_user(
    State(app): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientAddr(addr): ClientAddr,
    ApiPath(login): ApiPath<String>,
) -> ApiResult<StatusCode> {
    admin::set_disabled(&app, &admin, addr, &login, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/admin/users/{login}/enable`.
#[utoipa::path(
    post,
    path = "/v1/admin/users/{login}/enable",
    tag = "admin",
    params(("login" = String, Path, description = "Login name (1 to 64 characters)", min_length = 1, max_length = 64)),
    responses(
        (status = 204, description = "Done"),
        RecordErrors,
    ),
    security(("bearer" = [])),
)]
pub async fn enable_user(
    State(app): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientAddr(addr): ClientAddr,
    ApiPath(login): ApiPath<String>,
) -> ApiResult<StatusCode> {
    admin::set_disabled(&app, &admin, addr, &login, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/admin/users/{login}/reset-password`.
#[utoipa::path(
    post,
    path = "/v1/admin/users/{login}/reset-password",
    tag = "admin",
    params(("login" = String, Path, description = "Login name (1 to 64 characters)", min_length = 1, max_length = 64)),
    request_body = ResetPasswordRequest,
    responses(
        (status = 200, description = "Reset; the user's sessions have ended", body = ResetPasswordResponse),
        RecordErrors,
        (status = 422, description = "weak_password, password_is_login or common_password", body = crate::error::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn reset_password(
    State(app): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientAddr(addr): ClientAddr,
    ApiPath(login): ApiPath<String>,
    ApiJson(req): ApiJson<ResetPasswordRequest>,
) -> ApiResult<ApiJson<ResetPasswordResponse>> {
    Ok(ApiJson(
        admin::reset_password(&app, &admin, addr, &login, req).await?,
    ))
}
