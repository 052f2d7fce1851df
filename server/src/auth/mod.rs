//! Authentication: access tokens ([`jwt`]), refresh tokens ([`refresh`]), sign-in throttling
//! ([`throttle`]), the signed-in caller of a request ([`AuthUser`]), and the signing keys'
//! origin.

pub mod jwt;
pub mod refresh;
pub mod throttle;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use sqlx::Row;
use sync_core::ids::{DeviceId, UserId};
use sync_core::record::Role;

use crate::app::AppState;
use crate::config::{JwtKey, Settings};
use crate::db::{Db, now_millis, on_db};
use crate::error::ApiError;

/// The caller of a request, from a verified access token and the current database state: the
/// user exists and is enabled, the device is theirs and not revoked. The role comes from the
/// database, never from the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthUser {
    /// The user.
    pub user: UserId,
    /// The device the token was issued to.
    pub device: DeviceId,
    /// The user's role.
    pub role: Role,
}

impl FromRequestParts<AppState> for AuthUser {
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
        let role = active_role(&state.db, &identity.user, &identity.device)
            .await?
            .ok_or_else(|| ApiError::unauthorized("the user is disabled or the device revoked"))?;
        Ok(Self {
            user: identity.user,
            device: identity.device,
            role,
        })
    }
}

/// The role of an enabled user on one of their non-revoked devices.
async fn active_role(
    db: &Db,
    user: &UserId,
    device: &DeviceId,
) -> Result<Option<Role>, sqlx::Error> {
    let row = on_db!(db, pool => sqlx::query(
        "SELECT u.role FROM users u JOIN devices d ON d.user_id = u.id
         WHERE u.id = $1 AND d.id = $2 AND NOT u.disabled AND d.revoked_at IS NULL",
    )
    .bind(user.as_str())
    .bind(device.as_str())
    .fetch_optional(pool)
    .await
    .and_then(|r| r.map(|r| r.try_get::<String, _>("role")).transpose()))?;
    Ok(row.and_then(|r| r.parse().ok()))
}

/// The JWT keys: the configured ones, or else the server's own key kept in the database (made
/// on first start), so a server without configuration still survives restarts without
/// logging everyone out.
pub async fn load_keys(db: &Db, settings: &Settings) -> Result<jwt::Keys, sqlx::Error> {
    let keys = if settings.jwt_keys.is_empty() {
        stored_keys(db).await?
    } else {
        settings.jwt_keys.clone()
    };
    jwt::Keys::new(&keys).ok_or_else(|| sqlx::Error::Protocol("no JWT signing key".into()))
}

async fn stored_keys(db: &Db) -> Result<Vec<JwtKey>, sqlx::Error> {
    let existing: Vec<(String, Vec<u8>)> = on_db!(db, pool => sqlx::query_as(
        "SELECT kid, secret FROM signing_keys ORDER BY created_at DESC, kid",
    )
    .fetch_all(pool)
    .await)?;
    if !existing.is_empty() {
        return Ok(existing
            .into_iter()
            .map(|(kid, secret)| JwtKey { kid, secret })
            .collect());
    }
    let secret: [u8; 32] = rand::random();
    let kid = format!("auto-{}", uuid::Uuid::now_v7().simple());
    on_db!(db, pool => sqlx::query(
        "INSERT INTO signing_keys (kid, secret, created_at) VALUES ($1, $2, $3)",
    )
    .bind(&kid)
    .bind(secret.to_vec())
    .bind(now_millis())
    .execute(pool)
    .await
    .map(|_| ()))?;
    tracing::warn!(
        kid,
        "no JWT keys configured; generated one and stored it in the database"
    );
    Ok(vec![JwtKey {
        kid,
        secret: secret.to_vec(),
    }])
}
