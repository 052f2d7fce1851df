//! Signing in and out: `/v1/auth/*`.
//!
//! * `POST /v1/auth/login`: login + password (+ device) → access token, refresh token, user,
//!   and `must_change_password`. Wrong login, wrong password and disabled user all answer the
//!   same `401 invalid_credentials`; repeated failures are throttled (`429 rate_limited` with
//!   `Retry-After`, see [`crate::auth::throttle`]); a device that signed in as this user
//!   before (its `device_id`) is let through a lockout caused by others.
//! * `POST /v1/auth/refresh`: refresh token (+ the device it was issued to) → new access token
//!   and new refresh token (see [`crate::auth::refresh`]).
//! * `POST /v1/auth/logout`: ends the refresh token's session (its access tokens are refused
//!   at once); always 204.
//! * `POST /v1/auth/password`: change one's password with the old one; ends the user's other
//!   sessions. The only route besides `me` open to a user whose password was reset.
//! * `GET /v1/auth/me`: the caller's user and device.
//! * `POST /v1/auth/devices/{device_id}/revoke`: one's own device, or any device for admins.

use std::net::IpAddr;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sync_core::ids::{DeviceId, UserId};
use sync_core::record::Role;

use crate::accounts::{self, MAX_LOGIN_CHARS, MAX_PASSWORD_CHARS, UserView};
use crate::audit::{self, AuditAction, AuditEntry};
use crate::auth::passwords;
use crate::auth::refresh::{self, RefreshError};
use crate::auth::{AuthUser, SignedIn};
use crate::db::users::{self, UserRow};
use crate::error::{ApiError, ApiResult};
use crate::http::extract::{ApiJson, ApiPath, ClientAddr};
use crate::state::AppState;

/// The one message for every failed sign-in, so it does not tell which logins exist.
const INVALID_CREDENTIALS: &str = "wrong login or password";
/// The name of a device that did not say.
const DEFAULT_DEVICE_NAME: &str = "unnamed device";
/// Longest device name kept, in characters (longer ones are cut).
const MAX_DEVICE_NAME_CHARS: usize = 100;

/// The body of `POST /v1/auth/login`. Its `Debug` hides the password.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Login name.
    pub login: String,
    /// Password.
    pub password: String,
    /// The device signing in: absent for a new installation (the server makes an id). A device
    /// that signed in as this user before is let through a sign-in lockout caused by others.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub device_id: Option<DeviceId>,
    /// A name for the device ("Wang's phone").
    #[serde(default)]
    pub device_name: Option<String>,
}

/// The body of `POST /v1/auth/refresh` and `POST /v1/auth/logout`. Its `Debug` hides the
/// token.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token.
    pub refresh_token: String,
    /// The device the token was issued to (the `device_id` of the sign-in). A retry after a
    /// lost refresh response is answered only when it names the token's device; naming another
    /// device revokes the token's session. Ignored by logout.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub device_id: Option<DeviceId>,
}

/// The body of `POST /v1/auth/password`. Its `Debug` hides both passwords.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    /// The current password (after an administrator's reset: the temporary one).
    pub old_password: String,
    /// The new password: 8 to 1024 characters, not the login, not a common password, not the
    /// old one.
    pub new_password: String,
}

impl std::fmt::Debug for ChangePasswordRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChangePasswordRequest(<redacted>)")
    }
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest")
            .field("login", &self.login)
            .field("password", &"<redacted>")
            .field("device_id", &self.device_id)
            .field("device_name", &self.device_name)
            .finish()
    }
}

impl std::fmt::Debug for RefreshRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefreshRequest(<redacted>)")
    }
}

/// The answer of a sign-in or a refresh.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    /// The JWT access token.
    pub access_token: String,
    /// Always `Bearer`.
    #[schema(value_type = String, example = "Bearer")]
    pub token_type: &'static str,
    /// Lifetime of the access token, in seconds.
    pub expires_in: u64,
    /// The refresh token (shown once; the server keeps only its hash).
    pub refresh_token: String,
    /// The device the tokens are bound to.
    #[schema(value_type = String)]
    pub device_id: DeviceId,
    /// The signed-in user.
    pub user: UserView,
    /// An administrator reset the password: until it is changed (`POST /v1/auth/password`),
    /// every other route answers 403 `password_change_required`.
    pub must_change_password: bool,
}

/// The answer of `GET /v1/auth/me`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MeResponse {
    /// The user.
    #[serde(flatten)]
    pub user: UserView,
    /// The device of the access token.
    #[schema(value_type = String)]
    pub device_id: DeviceId,
    /// The password must be changed before anything else.
    pub must_change_password: bool,
}

/// A failed sign-in: an API error, or the deliberately vague `401 invalid_credentials`.
#[derive(Debug)]
pub enum SignInError {
    /// Wrong login, wrong password or disabled user.
    InvalidCredentials,
    /// Anything else.
    Api(ApiError),
}

impl From<ApiError> for SignInError {
    fn from(e: ApiError) -> Self {
        Self::Api(e)
    }
}

impl From<sqlx::Error> for SignInError {
    fn from(e: sqlx::Error) -> Self {
        Self::Api(e.into())
    }
}

impl IntoResponse for SignInError {
    fn into_response(self) -> Response {
        match self {
            // Same shape as every ApiError, with its own code.
            Self::InvalidCredentials => (
                StatusCode::UNAUTHORIZED,
                axum::Json(json!({
                    "error": { "code": "invalid_credentials", "message": INVALID_CREDENTIALS }
                })),
            )
                .into_response(),
            Self::Api(e) => e.into_response(),
        }
    }
}

/// `POST /v1/auth/login`.
#[utoipa::path(
    post,
    path = "/v1/auth/login",
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = TokenResponse),
        (status = 400, description = "Malformed request (bad body, path or query)", body = crate::error::ErrorBody),
        (status = 401, description = "invalid_credentials", body = crate::error::ErrorBody),
        (status = 403, description = "Out of the caller's role or scope", body = crate::error::ErrorBody),
        (status = 429, description = "Rate limited (see Retry-After)", body = crate::error::ErrorBody),
    ),
)]
pub async fn sign_in(
    State(app): State<AppState>,
    ClientAddr(addr): ClientAddr,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<ApiJson<TokenResponse>, SignInError> {
    // No account has such a login or password: refuse before hashing megabytes.
    if req.login.chars().count() > MAX_LOGIN_CHARS
        || req.password.chars().count() > MAX_PASSWORD_CHARS
    {
        return Err(SignInError::InvalidCredentials);
    }
    let user = users::find_user_by_login(&app.db, &req.login).await?;
    // A device this user signed in on before (looked up for unknown logins too, so the timing
    // says nothing about which logins exist).
    let known_device = match &req.device_id {
        Some(device) => {
            let owner = user.as_ref().map_or_else(UserId::new, |u| u.id.clone());
            users::is_known_device(&app.db, &owner, device)
                .await?
                .then(|| device.clone())
        }
        None => None,
    };
    let attempt = app
        .throttle
        .begin(&req.login, addr, known_device.as_ref())
        .map_err(|t| throttled(addr, &t))?;
    let password_ok = accounts::verify_login_password(user.as_ref(), &req.password).await;
    let user = match user {
        Some(user) if password_ok && !user.disabled => user,
        other => {
            attempt.failed();
            // The login tried and the user it names, if any; never the password.
            audit::record(
                &app.db,
                AuditEntry {
                    actor: other.map(|u| u.id),
                    address: addr,
                    ..AuditEntry::new(AuditAction::LoginFailed, &req.login)
                },
            )
            .await?;
            return Err(SignInError::InvalidCredentials);
        }
    };
    attempt.succeeded();
    let device = claim_device(&app, &user, req.device_id, req.device_name.as_deref()).await?;
    let issued = refresh::issue(&app.db, &user.id, &device, app.settings.refresh_ttl).await?;
    audit::record(
        &app.db,
        AuditEntry {
            actor: Some(user.id.clone()),
            device: Some(device.clone()),
            address: addr,
            ..AuditEntry::new(AuditAction::Login, &user.login)
        },
    )
    .await?;
    tracing::info!(user = %user.id, %device, "signed in");
    Ok(ApiJson(
        token_response(&app, &user, device, &issued.session, issued.token).await?,
    ))
}

fn throttled(addr: Option<IpAddr>, t: &crate::auth::throttle::Throttled) -> ApiError {
    tracing::info!(ip = ?addr, "sign-in throttled");
    ApiError::too_many_requests(
        "too many failed sign-ins; retry later",
        t.retry_after_secs(),
    )
}

/// The device of a sign-in: a new one, or the given one if it is the user's and not revoked
/// (an unknown id is registered for the user).
async fn claim_device(
    app: &AppState,
    user: &UserRow,
    id: Option<DeviceId>,
    name: Option<&str>,
) -> ApiResult<DeviceId> {
    let name: Option<String> = name
        .map(|n| n.trim().chars().take(MAX_DEVICE_NAME_CHARS).collect())
        .filter(|n: &String| !n.is_empty());
    let id = id.unwrap_or_else(DeviceId::new);
    let initial_name = name.as_deref().unwrap_or(DEFAULT_DEVICE_NAME);
    users::insert_device_if_absent(&app.db, &id, &user.id, initial_name).await?;
    let device = users::get_device(&app.db, &id)
        .await?
        .ok_or_else(|| ApiError::internal("a device vanished right after its insertion"))?;
    if device.user != user.id {
        return Err(ApiError::forbidden(
            "forbidden",
            "the device belongs to another user",
        ));
    }
    if device.revoked {
        return Err(ApiError::unauthorized("the device has been revoked"));
    }
    users::touch_device(&app.db, &id, name.as_deref()).await?;
    Ok(id)
}

async fn token_response(
    app: &AppState,
    user: &UserRow,
    device: DeviceId,
    session: &str,
    refresh_token: String,
) -> ApiResult<TokenResponse> {
    let access_token = app
        .keys
        .issue(&user.id, &device, session, app.settings.access_ttl)
        .map_err(ApiError::internal)?;
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: app.settings.access_ttl.as_secs(),
        refresh_token,
        device_id: device,
        user: accounts::user_view(&app.db, user).await?,
        must_change_password: user.must_change_password,
    })
}

/// `POST /v1/auth/refresh`.
#[utoipa::path(
    post,
    path = "/v1/auth/refresh",
    tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "New tokens", body = TokenResponse),
        (status = 400, description = "Malformed request (bad body, path or query)", body = crate::error::ErrorBody),
        (status = 401, description = "Missing, bad or expired access token", body = crate::error::ErrorBody),
    ),
)]
pub async fn refresh_tokens(
    State(app): State<AppState>,
    ApiJson(req): ApiJson<RefreshRequest>,
) -> ApiResult<ApiJson<TokenResponse>> {
    let rotated = refresh::rotate(
        &app.db,
        &app.keys,
        &req.refresh_token,
        req.device_id.as_ref(),
        app.settings.refresh_ttl,
    )
    .await
    .map_err(|e| match e {
        RefreshError::Database(e) => e.into(),
        other => ApiError::unauthorized(other.to_string()),
    })?;
    users::touch_device(&app.db, &rotated.device, None).await?;
    Ok(ApiJson(
        token_response(
            &app,
            &rotated.user,
            rotated.device,
            &rotated.session,
            rotated.token,
        )
        .await?,
    ))
}

/// `POST /v1/auth/logout`.
#[utoipa::path(
    post,
    path = "/v1/auth/logout",
    tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 204, description = "Done"),
        (status = 400, description = "Malformed request (bad body, path or query)", body = crate::error::ErrorBody),
    ),
)]
pub async fn sign_out(
    State(app): State<AppState>,
    ApiJson(req): ApiJson<RefreshRequest>,
) -> ApiResult<StatusCode> {
    refresh::revoke_family_of(&app.db, &req.refresh_token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/auth/me`.
#[utoipa::path(
    get,
    path = "/v1/auth/me",
    tag = "auth",
    responses(
        (status = 200, description = "The caller", body = MeResponse),
        (status = 401, description = "Missing, bad or expired access token", body = crate::error::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn get_me(
    State(app): State<AppState>,
    signed_in: SignedIn,
) -> ApiResult<ApiJson<MeResponse>> {
    let caller = signed_in.caller;
    let user = users::get_user(&app.db, &caller.user)
        .await?
        .ok_or_else(|| ApiError::unauthorized("unknown user"))?;
    Ok(ApiJson(MeResponse {
        user: accounts::user_view(&app.db, &user).await?,
        device_id: caller.device,
        must_change_password: signed_in.must_change_password,
    }))
}

/// `POST /v1/auth/password`.
#[utoipa::path(
    post,
    path = "/v1/auth/password",
    tag = "auth",
    request_body = ChangePasswordRequest,
    responses(
        (status = 204, description = "Changed; the user's other sessions have ended"),
        (status = 400, description = "Malformed request (bad body, path or query)", body = crate::error::ErrorBody),
        (status = 401, description = "Missing, bad or expired access token", body = crate::error::ErrorBody),
        (status = 403, description = "wrong_password: the old password is wrong", body = crate::error::ErrorBody),
        (status = 422, description = "weak_password, password_is_login, common_password or password_unchanged", body = crate::error::ErrorBody),
        (status = 429, description = "Rate limited (see Retry-After)", body = crate::error::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn change_password(
    State(app): State<AppState>,
    ClientAddr(addr): ClientAddr,
    signed_in: SignedIn,
    ApiJson(req): ApiJson<ChangePasswordRequest>,
) -> ApiResult<StatusCode> {
    let caller = signed_in.caller;
    let user = users::get_user(&app.db, &caller.user)
        .await?
        .ok_or_else(|| ApiError::unauthorized("unknown user"))?;
    let wrong = || ApiError::forbidden("wrong_password", "the old password is wrong");
    if req.old_password.chars().count() > MAX_PASSWORD_CHARS {
        return Err(wrong());
    }
    // Checking the old password is guessing too: throttled like a sign-in on this device.
    let attempt = app
        .throttle
        .begin(&user.login, addr, Some(&caller.device))
        .map_err(|t| throttled(addr, &t))?;
    if !accounts::verify_password_blocking(&user.password_hash, &req.old_password).await {
        attempt.failed();
        return Err(wrong());
    }
    attempt.succeeded();
    passwords::check_new(&user.login, &req.new_password)
        .map_err(|p| ApiError::unprocessable(p.code(), p.to_string()))?;
    if req.new_password == req.old_password {
        return Err(ApiError::unprocessable(
            "password_unchanged",
            "the new password must differ from the old one",
        ));
    }
    let hash = accounts::hash_password_blocking(&req.new_password)
        .await
        .ok_or_else(|| ApiError::internal("password hashing failed"))?;
    if !users::set_password(&app.db, &user.id, &hash, false, Some(&caller.session)).await? {
        return Err(ApiError::unauthorized("unknown user"));
    }
    audit::record(
        &app.db,
        AuditEntry {
            actor: Some(user.id.clone()),
            device: Some(caller.device.clone()),
            address: addr,
            detail: Some(json!({ "target": format!("user:{}", user.login) })),
            ..AuditEntry::new(AuditAction::PasswordChanged, &user.login)
        },
    )
    .await?;
    tracing::info!(user = %user.id, "password changed; other sessions ended");
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/auth/devices/{device_id}/revoke`.
#[utoipa::path(
    post,
    path = "/v1/auth/devices/{device_id}/revoke",
    tag = "auth",
    params(
        ("device_id" = String, Path, description = "Device id: a lowercase, hyphenated UUID (anything else is 400 malformed)"),
    ),
    responses(
        (status = 204, description = "Done"),
        (status = 400, description = "Malformed request (bad body, path or query)", body = crate::error::ErrorBody),
        (status = 401, description = "Missing, bad or expired access token", body = crate::error::ErrorBody),
        (status = 403, description = "Out of the caller's role or scope", body = crate::error::ErrorBody),
        (status = 404, description = "No such resource", body = crate::error::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn revoke_device(
    State(app): State<AppState>,
    caller: AuthUser,
    ApiPath(device_id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let id: DeviceId = crate::http::params::path_id("device_id", &device_id)?;
    let no_such = || ApiError::not_found("no such device");
    let device = users::get_device(&app.db, &id).await?.ok_or_else(no_such)?;
    if device.user != caller.user && caller.role != Role::Admin {
        return Err(ApiError::forbidden(
            "forbidden",
            "only the device's user or an administrator may revoke it",
        ));
    }
    users::revoke_device(&app.db, &id).await?;
    tracing::info!(device = %id, by = %caller.user, "device revoked");
    Ok(StatusCode::NO_CONTENT)
}
