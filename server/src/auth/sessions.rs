//! Sessions: signing in (`POST /v1/auth/login`), refreshing tokens, signing out, the caller's
//! own account (`GET /v1/auth/me`) and revoking a device.
//!
//! Wrong login, wrong password and disabled user all answer the same `401
//! invalid_credentials`; repeated failures are throttled ([`super::throttle`]), and a device
//! that signed in as this user before is let through a lockout caused by others. A sign-in
//! starts a session (a refresh-token family, [`super::refresh`]); its access tokens are
//! refused at once when it ends.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use sync_core::ids::{DeviceId, UserId};
use sync_core::record::Role;

use super::refresh::{self, RefreshError};
use super::{AuthUser, SignedIn};
use crate::accounts::{self, MAX_LOGIN_CHARS, MAX_PASSWORD_CHARS, UserView};
use crate::audit::{self, AuditAction, AuditEntry};
use crate::db::users::{self, UserRow};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

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
    #[schema(schema_with = crate::openapi::values::uuid_or_null)]
    pub device_id: Option<DeviceId>,
    /// A name for the device ("Wang's phone"); cut to 100 characters.
    #[serde(default)]
    pub device_name: Option<String>,
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
    #[schema(schema_with = crate::openapi::values::uuid_or_null)]
    pub device_id: Option<DeviceId>,
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

/// Signs in from `addr`: checks the password (throttled; every refusal is the same `401
/// invalid_credentials` and is audited with the login tried), claims the device, starts a
/// session and answers its tokens.
pub async fn sign_in(
    app: &AppState,
    req: &LoginRequest,
    addr: Option<IpAddr>,
) -> ApiResult<TokenResponse> {
    // No account has such a login or password: refuse before hashing megabytes.
    if req.login.chars().count() > MAX_LOGIN_CHARS
        || req.password.chars().count() > MAX_PASSWORD_CHARS
    {
        return Err(ApiError::invalid_credentials());
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
        .map_err(|t| t.answer(addr))?;
    let password_ok = accounts::verify_login_password(user.as_ref(), &req.password).await;
    let user = match user {
        Some(user) if password_ok && !user.disabled => user,
        other => {
            attempt.failed();
            // The login tried and the user it names, if any; never the password.
            let entry = AuditEntry {
                actor: other.map(|u| u.id),
                address: addr,
                ..AuditEntry::new(AuditAction::LoginFailed, &req.login)
            };
            audit::record(&app.db, entry).await?;
            return Err(ApiError::invalid_credentials());
        }
    };
    attempt.succeeded();
    let device = claim_device(
        app,
        &user,
        req.device_id.clone(),
        req.device_name.as_deref(),
    )
    .await?;
    let issued = refresh::issue(&app.db, &user.id, &device, app.settings.refresh_ttl).await?;
    audit::record(
        &app.db,
        AuditEntry::by(AuditAction::Login, &user, &device, addr),
    )
    .await?;
    tracing::info!(user = %user.id, %device, "signed in");
    tokens(app, &user, device, &issued.session, issued.token).await
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

/// The answer of a sign-in or a refresh: a new access token of `session` beside the refresh
/// token.
async fn tokens(
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

/// Exchanges a refresh token for new tokens of the same session (see [`refresh::rotate`]);
/// every refusal is 401.
pub async fn refresh(app: &AppState, req: &RefreshRequest) -> ApiResult<TokenResponse> {
    let rotated = refresh::rotate(app, &req.refresh_token, req.device_id.as_ref())
        .await
        .map_err(|e| match e {
            RefreshError::Database(e) => e.into(),
            RefreshError::DeviceRevoked => ApiError::device_revoked(),
            other => ApiError::unauthorized(other.to_string()),
        })?;
    users::touch_device(&app.db, &rotated.device, None).await?;
    let (session, token) = (rotated.session, rotated.token);
    tokens(app, &rotated.user, rotated.device, &session, token).await
}

/// Ends the session of a refresh token (nothing for an unknown one).
pub async fn sign_out(app: &AppState, req: &RefreshRequest) -> ApiResult<()> {
    Ok(refresh::revoke_family_of(&app.db, &req.refresh_token).await?)
}

/// The caller's user and device.
pub async fn me(app: &AppState, signed_in: &SignedIn) -> ApiResult<MeResponse> {
    let caller = &signed_in.caller;
    let user = users::get_user(&app.db, &caller.user)
        .await?
        .ok_or_else(|| ApiError::unauthorized("unknown user"))?;
    Ok(MeResponse {
        user: accounts::user_view(&app.db, &user).await?,
        device_id: caller.device.clone(),
        must_change_password: signed_in.must_change_password,
    })
}

/// Revokes a device (its sessions end): the caller's own, or any device for administrators;
/// 404 for an unknown one.
pub async fn revoke_device(app: &AppState, caller: &AuthUser, id: &DeviceId) -> ApiResult<()> {
    let device = users::get_device(&app.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such device"))?;
    if device.user != caller.user && caller.role != Role::Admin {
        return Err(ApiError::forbidden(
            "forbidden",
            "only the device's user or an administrator may revoke it",
        ));
    }
    users::revoke_device(&app.db, id).await?;
    tracing::info!(device = %id, by = %caller.user, "device revoked");
    Ok(())
}
