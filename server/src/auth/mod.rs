//! Authentication: access tokens ([`jwt`]), refresh tokens ([`refresh`]), sign-in throttling
//! ([`throttle`]), signing in and out ([`sessions`]), the signed-in caller of a request
//! ([`AuthUser`], [`AdminUser`]), the signing keys' origin ([`keyfile`]) and the password
//! rules ([`passwords`]).

pub mod jwt;
pub mod keyfile;
pub mod passwords;
pub mod refresh;
pub mod sessions;
pub mod throttle;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use sync_core::ids::{DeviceId, UserId};
use sync_core::record::Role;

use crate::config::Settings;
use crate::db::Db;
use crate::db::users;
use crate::error::ApiError;
use crate::state::AppState;

/// The caller of a request, from a verified access token and the current database state: the
/// user exists and is enabled, the device is theirs and not revoked, the session the token
/// belongs to has not ended (sign-out, password change elsewhere, disabling, refresh-token
/// reuse), and the user need not change their password first (else 403
/// `password_change_required`; see [`SignedIn`]). The role comes from the database, never
/// from the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthUser {
    /// The user.
    pub user: UserId,
    /// The device the token was issued to.
    pub device: DeviceId,
    /// The user's role.
    pub role: Role,
    /// The session (sign-in) the token belongs to.
    pub session: String,
}

/// Like [`AuthUser`], but also for a user who must change their password first: only
/// `GET /v1/auth/me` and `POST /v1/auth/password` take it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedIn {
    /// The caller.
    pub caller: AuthUser,
    /// An administrator reset the password: it must be changed before anything else.
    pub must_change_password: bool,
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| ApiError::unauthorized("missing Authorization header"))?;
        let token = header
            .strip_prefix("Bearer ")
            .ok_or_else(|| ApiError::unauthorized("expected a Bearer token"))?;
        let identity = state
            .keys
            .verify(token.trim())
            .map_err(|e| ApiError::unauthorized(e.to_string()))?;
        let active = users::active_session(
            &state.db,
            &identity.user,
            &identity.device,
            &identity.session,
        )
        .await?;
        let Some(active) = active else {
            // The signature proved who holds the token, so a revoked device may be told so
            // (and erase what it holds); anything else stays one answer.
            let device = users::get_device(&state.db, &identity.device).await?;
            if device.is_some_and(|d| d.revoked && d.user == identity.user) {
                return Err(ApiError::device_revoked());
            }
            return Err(ApiError::unauthorized(
                "the session has ended, the user is disabled or the device revoked",
            ));
        };
        let role: Role = active
            .role
            .parse()
            .map_err(|_| ApiError::internal("a stored role does not parse"))?;
        Ok(Self {
            caller: AuthUser {
                user: identity.user,
                device: identity.device,
                role,
                session: identity.session,
            },
            must_change_password: active.must_change_password,
        })
    }
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let signed_in = SignedIn::from_request_parts(parts, state).await?;
        if signed_in.must_change_password {
            return Err(ApiError::forbidden(
                "password_change_required",
                "the password was reset by an administrator: change it first (POST /v1/auth/password)",
            ));
        }
        Ok(signed_in.caller)
    }
}

/// A caller with the admin role (others: 403): the `/v1/admin/*` routes take it.
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

/// The JWT keys: `GRIDBOOK_JWT_KEYS`, or the key file beside the database (see [`keyfile`]).
pub async fn load_keys(db: &Db, settings: &Settings) -> Result<jwt::Keys, keyfile::KeyError> {
    let keys = keyfile::load(db, settings).await?;
    jwt::Keys::new(&keys).ok_or_else(|| keyfile::KeyError::Invalid {
        source_name: "the settings".into(),
        reason: "no JWT signing key".into(),
    })
}
