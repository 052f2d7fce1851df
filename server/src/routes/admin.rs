//! Administration: places and users, `/v1/admin/*`, for the admin role only (others: 403).
//!
//! * `GET /v1/admin/places`: `{"streets": [...], "communities": [...], "grids": [...]}`.
//! * `PUT /v1/admin/streets/{id}` `{"name"}`, `PUT /v1/admin/communities/{id}`
//!   `{"name", "street"}`, `PUT /v1/admin/grids/{id}` `{"name", "community"}`: create or
//!   update; 200 with the place. Unknown parent: 422 `unknown_place`. A grid that holds
//!   records keeps its community (409 `conflict`): its records name both.
//! * `POST /v1/admin/users`: 201 with the user; 409 `conflict` for a taken login; 422 for
//!   anything else invalid (see [`create_user_error`]).
//! * `POST /v1/admin/users/{login}/disable` and `/enable`: 204; 404 for an unknown login.
//!   Disabling ends the user's sessions: enabling them again revives none.
//! * `POST /v1/admin/users/{login}/reset-password` `{"password"?}`: 200 with the temporary
//!   password if the server made it; the user must change it at their next sign-in.
//!
//! Every change is audited (who, what, which target, from which address).

use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sync_core::ids::{CommunityId, GridId, LiaisonGroupId, StreetId};
use sync_core::record::Role;

use crate::accounts::{self, CreateUserError, NewUser, ResetPasswordError, UserView};
use crate::audit::{self, AuditAction, AuditEntry};
use crate::auth::AuthUser;
use crate::db::places::{self, CommunityRow, GridRow, Hierarchy, StreetRow};
use crate::db::users;
use crate::error::{ApiError, ApiResult};
use crate::http::extract::{ApiJson, ApiPath, ClientAddr};
use crate::state::AppState;

/// Longest place name, in characters.
const MAX_PLACE_NAME_CHARS: usize = 100;

/// A caller with the admin role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminUser(pub AuthUser);

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let caller = AuthUser::from_request_parts(parts, state).await?;
        if caller.role != Role::Admin {
            return Err(ApiError::forbidden("forbidden", "administrators only"));
        }
        Ok(Self(caller))
    }
}

/// Writes the audit row of an administrator's action on `target` (`user:wang`,
/// `grid:hp-dzk-01`), with more detail merged in.
async fn audit_admin(
    app: &AppState,
    admin: &AuthUser,
    addr: Option<std::net::IpAddr>,
    action: AuditAction,
    target: String,
    mut detail: serde_json::Value,
) -> ApiResult<()> {
    let login = users::get_user(&app.db, &admin.user)
        .await?
        .map(|u| u.login)
        .unwrap_or_default();
    if let Some(map) = detail.as_object_mut() {
        map.insert("target".into(), json!(target));
    }
    audit::record(
        &app.db,
        AuditEntry {
            actor: Some(admin.user.clone()),
            device: Some(admin.device.clone()),
            address: addr,
            detail: Some(detail),
            ..AuditEntry::new(action, &login)
        },
    )
    .await?;
    Ok(())
}

/// `GET /v1/admin/places`.
#[utoipa::path(
    get,
    path = "/v1/admin/places",
    tag = "admin",
    responses(
        (status = 200, description = "Streets, communities and grids", body = Hierarchy),
        (status = 401, description = "Missing, bad or expired access token", body = crate::error::ErrorBody),
        (status = 403, description = "Out of the caller's role or scope", body = crate::error::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn list_places(
    State(app): State<AppState>,
    _admin: AdminUser,
) -> ApiResult<ApiJson<Hierarchy>> {
    Ok(ApiJson(places::hierarchy(&app.db).await?))
}

/// The body of `PUT /v1/admin/streets/{id}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StreetBody {
    /// Display name.
    pub name: String,
}

/// The body of `PUT /v1/admin/communities/{id}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommunityBody {
    /// Display name.
    pub name: String,
    /// The street's code.
    #[schema(value_type = String)]
    pub street: StreetId,
}

/// The body of `PUT /v1/admin/grids/{id}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GridBody {
    /// Display name.
    pub name: String,
    /// The community's code.
    #[schema(value_type = String)]
    pub community: CommunityId,
}

fn place_code<T: std::str::FromStr<Err = sync_core::ids::InvalidId>>(text: &str) -> ApiResult<T> {
    text.parse()
        .map_err(|e: sync_core::ids::InvalidId| ApiError::bad_request("malformed", e.to_string()))
}

fn place_name(name: &str) -> ApiResult<String> {
    let name = name.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_PLACE_NAME_CHARS {
        return Err(ApiError::unprocessable(
            "invalid_name",
            "the name must be 1 to 100 characters",
        ));
    }
    Ok(name.to_owned())
}

/// `PUT /v1/admin/streets/{id}`.
#[utoipa::path(
    put,
    path = "/v1/admin/streets/{id}",
    tag = "admin",
    params(
        ("id" = String, Path, description = "Street code"),
    ),
    request_body = StreetBody,
    responses(
        (status = 200, description = "The street", body = StreetRow),
        (status = 400, description = "Malformed request (bad body, path or query)", body = crate::error::ErrorBody),
        (status = 401, description = "Missing, bad or expired access token", body = crate::error::ErrorBody),
        (status = 403, description = "Out of the caller's role or scope", body = crate::error::ErrorBody),
        (status = 422, description = "Invalid content", body = crate::error::ErrorBody),
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
    let id: StreetId = place_code(&id)?;
    let name = place_name(&body.name)?;
    places::upsert_street(&app.db, &id, &name).await?;
    audit_admin(
        &app,
        &admin,
        addr,
        AuditAction::PlaceSaved,
        format!("street:{id}"),
        json!({ "name": name }),
    )
    .await?;
    Ok(ApiJson(StreetRow {
        id: id.to_string(),
        name,
    }))
}

/// `PUT /v1/admin/communities/{id}`.
#[utoipa::path(
    put,
    path = "/v1/admin/communities/{id}",
    tag = "admin",
    params(
        ("id" = String, Path, description = "Community code"),
    ),
    request_body = CommunityBody,
    responses(
        (status = 200, description = "The community", body = CommunityRow),
        (status = 400, description = "Malformed request (bad body, path or query)", body = crate::error::ErrorBody),
        (status = 401, description = "Missing, bad or expired access token", body = crate::error::ErrorBody),
        (status = 403, description = "Out of the caller's role or scope", body = crate::error::ErrorBody),
        (status = 422, description = "Invalid content", body = crate::error::ErrorBody),
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
    let id: CommunityId = place_code(&id)?;
    let name = place_name(&body.name)?;
    if !places::street_exists(&app.db, &body.street).await? {
        return Err(ApiError::unprocessable("unknown_place", "no such street"));
    }
    places::upsert_community(&app.db, &id, &body.street, &name).await?;
    audit_admin(
        &app,
        &admin,
        addr,
        AuditAction::PlaceSaved,
        format!("community:{id}"),
        json!({ "name": name, "street": body.street.to_string() }),
    )
    .await?;
    Ok(ApiJson(CommunityRow {
        id: id.to_string(),
        name,
        street: body.street.to_string(),
    }))
}

/// `PUT /v1/admin/grids/{id}`.
#[utoipa::path(
    put,
    path = "/v1/admin/grids/{id}",
    tag = "admin",
    params(
        ("id" = String, Path, description = "Grid code"),
    ),
    request_body = GridBody,
    responses(
        (status = 200, description = "The grid", body = GridRow),
        (status = 400, description = "Malformed request (bad body, path or query)", body = crate::error::ErrorBody),
        (status = 401, description = "Missing, bad or expired access token", body = crate::error::ErrorBody),
        (status = 403, description = "Out of the caller's role or scope", body = crate::error::ErrorBody),
        (status = 409, description = "Conflicts with the current state", body = crate::error::ErrorBody),
        (status = 422, description = "Invalid content", body = crate::error::ErrorBody),
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
    let id: GridId = place_code(&id)?;
    let name = place_name(&body.name)?;
    if places::street_of_community(&app.db, &body.community)
        .await?
        .is_none()
    {
        return Err(ApiError::unprocessable(
            "unknown_place",
            "no such community",
        ));
    }
    let current = places::community_of_grid(&app.db, &id).await?;
    if current.is_some_and(|c| c != body.community)
        && places::grid_has_records(&app.db, &id).await?
    {
        return Err(ApiError::conflict(
            "conflict",
            "the grid holds records, which name its community: it cannot move",
        ));
    }
    places::upsert_grid(&app.db, &id, &body.community, &name).await?;
    audit_admin(
        &app,
        &admin,
        addr,
        AuditAction::PlaceSaved,
        format!("grid:{id}"),
        json!({ "name": name, "community": body.community.to_string() }),
    )
    .await?;
    Ok(ApiJson(GridRow {
        id: id.to_string(),
        name,
        community: body.community.to_string(),
    }))
}

/// The body of `POST /v1/admin/users`. Its `Debug` hides the password.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    /// Login name.
    pub login: String,
    /// Name shown to people.
    pub display_name: String,
    /// Initial password (8 to 1024 characters, not the login, not a common password).
    pub password: String,
    /// Role.
    #[schema(value_type = String, example = "grid_worker")]
    pub role: Role,
    /// Street (street supervisors, admins).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub street: Option<StreetId>,
    /// Community (community supervisors).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub community: Option<CommunityId>,
    /// Grid (grid workers, liaisons).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub grid: Option<GridId>,
    /// Liaison group (liaisons).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub liaison_group: Option<LiaisonGroupId>,
}

impl std::fmt::Debug for CreateUserRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateUserRequest")
            .field("login", &self.login)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// `POST /v1/admin/users`.
#[utoipa::path(
    post,
    path = "/v1/admin/users",
    tag = "admin",
    request_body = CreateUserRequest,
    responses(
        (status = 201, description = "The user", body = UserView),
        (status = 400, description = "Malformed request (bad body, path or query)", body = crate::error::ErrorBody),
        (status = 401, description = "Missing, bad or expired access token", body = crate::error::ErrorBody),
        (status = 403, description = "Out of the caller's role or scope", body = crate::error::ErrorBody),
        (status = 409, description = "Conflicts with the current state", body = crate::error::ErrorBody),
        (status = 422, description = "Invalid content", body = crate::error::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn create_user(
    State(app): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientAddr(addr): ClientAddr,
    ApiJson(req): ApiJson<CreateUserRequest>,
) -> ApiResult<(StatusCode, ApiJson<UserView>)> {
    let new = NewUser {
        login: req.login,
        display_name: req.display_name,
        password: req.password,
        role: req.role,
        street: req.street,
        community: req.community,
        grid: req.grid,
        liaison_group: req.liaison_group,
    };
    let user = accounts::create_user(&app.db, new)
        .await
        .map_err(create_user_error)?;
    tracing::info!(user = %user.id, role = %user.role, by = %admin.user, "user created");
    let view = accounts::user_view(&app.db, &user).await?;
    audit_admin(
        &app,
        &admin,
        addr,
        AuditAction::UserCreated,
        format!("user:{}", user.login),
        json!({ "role": user.role.as_str(), "street": view.street, "community": view.community,
                "grid": view.grid, "liaison_group": view.liaison_group }),
    )
    .await?;
    Ok((StatusCode::CREATED, ApiJson(view)))
}

/// The answer to a failed user creation: 409 `conflict` for a taken login; 422 with
/// `invalid_login`, `invalid_display_name`, `weak_password`, `password_is_login`,
/// `common_password`, `missing_place`, `unexpected_place`, `unknown_place` or `place_mismatch`
/// otherwise.
pub fn create_user_error(e: CreateUserError) -> ApiError {
    let code = match e {
        CreateUserError::LoginTaken => return ApiError::conflict("conflict", e.to_string()),
        CreateUserError::Database(db) => return db.into(),
        CreateUserError::Hashing => return ApiError::internal(e),
        CreateUserError::InvalidLogin => "invalid_login",
        CreateUserError::InvalidDisplayName => "invalid_display_name",
        CreateUserError::Password(p) => p.code(),
        CreateUserError::InvalidPasswordHash => "invalid_password_hash",
        CreateUserError::MissingPlace { .. } => "missing_place",
        CreateUserError::UnexpectedPlace { .. } => "unexpected_place",
        CreateUserError::UnknownPlace { .. } => "unknown_place",
        CreateUserError::PlaceMismatch { .. } => "place_mismatch",
    };
    ApiError::unprocessable(code, e.to_string())
}

/// `POST /v1/admin/users/{login}/disable`.
#[utoipa::path(
    post,
    path = "/v1/admin/users/{login}/disable",
    tag = "admin",
    params(
        ("login" = String, Path, description = "Login name"),
    ),
    responses(
        (status = 204, description = "Done"),
        (status = 401, description = "Missing, bad or expired access token", body = crate::error::ErrorBody),
        (status = 403, description = "Out of the caller's role or scope", body = crate::error::ErrorBody),
        (status = 404, description = "No such resource", body = crate::error::ErrorBody),
        (status = 409, description = "Conflicts with the current state", body = crate::error::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn disable_user(
    State(app): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientAddr(addr): ClientAddr,
    ApiPath(login): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let own = users::get_user(&app.db, &admin.user).await?;
    if own.is_some_and(|u| u.login == login) {
        return Err(ApiError::conflict(
            "conflict",
            "administrators cannot disable themselves",
        ));
    }
    set_disabled(&app, &admin, addr, &login, true).await
}

/// `POST /v1/admin/users/{login}/enable`.
#[utoipa::path(
    post,
    path = "/v1/admin/users/{login}/enable",
    tag = "admin",
    params(
        ("login" = String, Path, description = "Login name"),
    ),
    responses(
        (status = 204, description = "Done"),
        (status = 401, description = "Missing, bad or expired access token", body = crate::error::ErrorBody),
        (status = 403, description = "Out of the caller's role or scope", body = crate::error::ErrorBody),
        (status = 404, description = "No such resource", body = crate::error::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn enable_user(
    State(app): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientAddr(addr): ClientAddr,
    ApiPath(login): ApiPath<String>,
) -> ApiResult<StatusCode> {
    set_disabled(&app, &admin, addr, &login, false).await
}

async fn set_disabled(
    app: &AppState,
    admin: &AuthUser,
    addr: Option<std::net::IpAddr>,
    login: &str,
    disabled: bool,
) -> ApiResult<StatusCode> {
    if !users::set_disabled(&app.db, login, disabled).await? {
        return Err(ApiError::not_found("no such user"));
    }
    tracing::info!(disabled, by = %admin.user, "user access changed");
    let action = if disabled {
        AuditAction::UserDisabled
    } else {
        AuditAction::UserEnabled
    };
    audit_admin(app, admin, addr, action, format!("user:{login}"), json!({})).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The body of `POST /v1/admin/users/{login}/reset-password`. Its `Debug` hides the password.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetPasswordRequest {
    /// The temporary password to set (8 to 1024 characters, not the login, not a common
    /// password); absent: the server makes one and answers it once.
    #[serde(default)]
    pub password: Option<String>,
}

impl std::fmt::Debug for ResetPasswordRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResetPasswordRequest(<redacted>)")
    }
}

/// The answer of a password reset.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ResetPasswordResponse {
    /// The user.
    pub login: String,
    /// The password the server made (shown once), or null when the request gave one.
    pub temporary_password: Option<String>,
    /// Always true: the user must change the password at their next sign-in.
    pub must_change_password: bool,
}

impl std::fmt::Debug for ResetPasswordResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResetPasswordResponse")
            .field("login", &self.login)
            .field("temporary_password", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// `POST /v1/admin/users/{login}/reset-password`.
#[utoipa::path(
    post,
    path = "/v1/admin/users/{login}/reset-password",
    tag = "admin",
    params(
        ("login" = String, Path, description = "Login name"),
    ),
    request_body = ResetPasswordRequest,
    responses(
        (status = 200, description = "Reset; the user's sessions have ended", body = ResetPasswordResponse),
        (status = 400, description = "Malformed request (bad body, path or query)", body = crate::error::ErrorBody),
        (status = 401, description = "Missing, bad or expired access token", body = crate::error::ErrorBody),
        (status = 403, description = "Out of the caller's role or scope", body = crate::error::ErrorBody),
        (status = 404, description = "No such resource", body = crate::error::ErrorBody),
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
    let (user, generated) = accounts::reset_password(&app.db, &login, req.password)
        .await
        .map_err(|e| match e {
            ResetPasswordError::UnknownLogin => ApiError::not_found("no such user"),
            ResetPasswordError::Password(p) => ApiError::unprocessable(p.code(), p.to_string()),
            ResetPasswordError::Hashing => ApiError::internal(e),
            ResetPasswordError::Database(db) => db.into(),
        })?;
    tracing::info!(user = %user.id, by = %admin.user, "password reset");
    audit_admin(
        &app,
        &admin,
        addr,
        AuditAction::PasswordReset,
        format!("user:{}", user.login),
        json!({ "generated": generated.is_some() }),
    )
    .await?;
    Ok(ApiJson(ResetPasswordResponse {
        login: user.login,
        temporary_password: generated,
        must_change_password: true,
    }))
}
