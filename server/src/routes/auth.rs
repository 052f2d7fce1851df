//! Signing in and out: `/v1/auth/*`, over [`crate::auth::sessions`] and
//! [`crate::accounts::password`].
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

use axum::extract::State;
use axum::http::StatusCode;
use sync_core::ids::DeviceId;

use crate::accounts::password::{self, ChangePasswordRequest};
use crate::auth::sessions::{self, LoginRequest, MeResponse, RefreshRequest, TokenResponse};
use crate::auth::{AuthUser, SignedIn};
use crate::error::ApiResult;
use crate::error::responses::{
    Forbidden, Malformed, RateLimited, RecordErrors, TooLarge, Unauthorized,
};
use crate::http::extract::{ApiJson, ApiPath, ClientAddr};
use crate::http::params::path_id;
use crate::state::AppState;

/// `POST /v1/auth/login`.
#[utoipa::path(
    post,
    path = "/v1/auth/login",
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = TokenResponse),
        Malformed,
        TooLarge,
        (status = 401, description = "invalid_credentials", body = crate::error::ErrorBody),
        Forbidden,
        RateLimited,
    ),
)]
pub async fn sign_in(
    State(app): State<AppState>,
    ClientAddr(addr): ClientAddr,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<ApiJson<TokenResponse>> {
    Ok(ApiJson(sessions::sign_in(&app, &req, addr).await?))
}

/// `POST /v1/auth/refresh`.
#[utoipa::path(
    post,
    path = "/v1/auth/refresh",
    tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "New tokens", body = TokenResponse),
        Malformed,
        TooLarge,
        Unauthorized,
    ),
)]
pub async fn refresh_tokens(
    State(app): State<AppState>,
    ApiJson(req): ApiJson<RefreshRequest>,
) -> ApiResult<ApiJson<TokenResponse>> {
    Ok(ApiJson(sessions::refresh(&app, &req).await?))
}

/// `POST /v1/auth/logout`.
#[utoipa::path(
    post,
    path = "/v1/auth/logout",
    tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 204, description = "Done"),
        Malformed,
        TooLarge,
    ),
)]
pub async fn sign_out(
    State(app): State<AppState>,
    ApiJson(req): ApiJson<RefreshRequest>,
) -> ApiResult<StatusCode> {
    sessions::sign_out(&app, &req).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/auth/me`.
#[utoipa::path(
    get,
    path = "/v1/auth/me",
    tag = "auth",
    responses(
        (status = 200, description = "The caller", body = MeResponse),
        Unauthorized,
    ),
    security(("bearer" = [])),
)]
pub async fn get_me(
    State(app): State<AppState>,
    signed_in: SignedIn,
) -> ApiResult<ApiJson<MeResponse>> {
    Ok(ApiJson(sessions::me(&app, &signed_in).await?))
}

/// `POST /v1/auth/password`.
#[utoipa::path(
    post,
    path = "/v1/auth/password",
    tag = "auth",
    request_body = ChangePasswordRequest,
    responses(
        (status = 204, description = "Changed; the user's other sessions have ended"),
        Malformed,
        TooLarge,
        Unauthorized,
        (status = 403, description = "wrong_password: the old password is wrong", body = crate::error::ErrorBody),
        (status = 422, description = "weak_password, password_is_login, common_password or password_unchanged", body = crate::error::ErrorBody),
        RateLimited,
    ),
    security(("bearer" = [])),
)]
pub async fn change_password(
    State(app): State<AppState>,
    ClientAddr(addr): ClientAddr,
    signed_in: SignedIn,
    ApiJson(req): ApiJson<ChangePasswordRequest>,
) -> ApiResult<StatusCode> {
    password::change_password(&app, &signed_in.caller, addr, &req).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/auth/devices/{device_id}/revoke`.
#[utoipa::path(
    post,
    path = "/v1/auth/devices/{device_id}/revoke",
    tag = "auth",
    params(
        ("device_id" = String, Path, description = "Device id: a lowercase, hyphenated UUID (anything else is 400 malformed)", format = "uuid", pattern = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"),
    ),
    responses(
        (status = 204, description = "Done"),
        RecordErrors,
    ),
    security(("bearer" = [])),
)]
pub async fn revoke_device(
    State(app): State<AppState>,
    caller: AuthUser,
    ApiPath(device_id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let id: DeviceId = path_id("device_id", &device_id)?;
    sessions::revoke_device(&app, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
