//! Passwords after creation: a user changing their own (`POST /v1/auth/password`) and an
//! administrator resetting one (the CLI and `POST /v1/admin/users/{login}/reset-password`).
//! Either ends the user's sessions: the other ones for a change, all of them for a reset.

use std::net::IpAddr;

use serde::Deserialize;
use serde_json::json;

use super::{PasswordProblem, hash_password_blocking, verify_password_blocking};
use crate::accounts::MAX_PASSWORD_CHARS;
use crate::audit::{self, AuditAction, AuditEntry};
use crate::auth::{AuthUser, passwords};
use crate::db::Db;
use crate::db::users::{self, UserRow};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The body of `POST /v1/auth/password`. Its `Debug` hides both passwords.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    /// The current password (after an administrator's reset: the temporary one).
    #[schema(max_length = 1024)]
    pub old_password: String,
    /// The new password: 8 to 1024 characters, not the login, not a common password, not the
    /// old one.
    #[schema(min_length = 8, max_length = 1024)]
    pub new_password: String,
}

impl std::fmt::Debug for ChangePasswordRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChangePasswordRequest(<redacted>)")
    }
}

/// The caller changes their password with the old one, from `addr`: 403 `wrong_password` for
/// a wrong old password (guessing it is throttled like a sign-in on the caller's device),
/// 422 for a new password that breaks a rule or equals the old one. The caller's other
/// sessions end; the change is audited.
pub async fn change_password(
    app: &AppState,
    caller: &AuthUser,
    addr: Option<IpAddr>,
    req: &ChangePasswordRequest,
) -> ApiResult<()> {
    let user = users::get_user(&app.db, &caller.user)
        .await?
        .ok_or_else(|| ApiError::unauthorized("unknown user"))?;
    let wrong = || ApiError::forbidden("wrong_password", "the old password is wrong");
    if req.old_password.chars().count() > MAX_PASSWORD_CHARS {
        return Err(wrong());
    }
    let attempt = app
        .throttle
        .begin(&user.login, addr, Some(&caller.device))
        .map_err(|t| t.answer(addr))?;
    if !verify_password_blocking(&user.password_hash, &req.old_password).await {
        attempt.failed();
        return Err(wrong());
    }
    attempt.succeeded();
    passwords::check_new(&user.login, &req.new_password).map_err(problem)?;
    if req.new_password == req.old_password {
        return Err(ApiError::unprocessable(
            "password_unchanged",
            "the new password must differ from the old one",
        ));
    }
    let hash = hash_password_blocking(&req.new_password)
        .await
        .ok_or_else(|| ApiError::internal("password hashing failed"))?;
    if !users::set_password(&app.db, &user.id, &hash, false, Some(&caller.session)).await? {
        return Err(ApiError::unauthorized("unknown user"));
    }
    let entry = AuditEntry::by(AuditAction::PasswordChanged, &user, &caller.device, addr)
        .about(&format!("user:{}", user.login), json!({}));
    audit::record(&app.db, entry).await?;
    tracing::info!(user = %user.id, "password changed; other sessions ended");
    Ok(())
}

/// The 422 answer to a password that breaks a rule (`weak_password`, `password_is_login`,
/// `common_password`).
fn problem(p: PasswordProblem) -> ApiError {
    ApiError::unprocessable(p.code(), p.to_string())
}

/// Why a password reset failed.
#[derive(Debug, thiserror::Error)]
pub enum ResetPasswordError {
    /// No user has this login.
    #[error("no user has this login")]
    UnknownLogin,
    /// The given password breaks a rule.
    #[error("{0}")]
    Password(#[from] PasswordProblem),
    /// The hashing thread failed.
    #[error("password hashing failed")]
    Hashing,
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// The answer to a failed reset through the API: 404 for an unknown login, 422 for a password
/// that breaks a rule.
impl From<ResetPasswordError> for ApiError {
    fn from(e: ResetPasswordError) -> Self {
        match e {
            ResetPasswordError::UnknownLogin => ApiError::not_found("no such user"),
            ResetPasswordError::Password(p) => problem(p),
            ResetPasswordError::Hashing => ApiError::internal(e),
            ResetPasswordError::Database(db) => db.into(),
        }
    }
}

/// An administrator's reset: sets `password` (checked against the rules), or a generated one,
/// marks it temporary (the user must change it at their next sign-in before anything else)
/// and ends every session of the user. Returns the user and the generated password, if one
/// was generated (shown once, never stored in clear).
pub async fn reset_password(
    db: &Db,
    login: &str,
    password: Option<String>,
) -> Result<(UserRow, Option<String>), ResetPasswordError> {
    let user = users::find_user_by_login(db, login)
        .await?
        .ok_or(ResetPasswordError::UnknownLogin)?;
    let (password, generated) = match password {
        Some(p) => {
            passwords::check_new(&user.login, &p)?;
            (p, false)
        }
        None => (passwords::generate_temporary(), true),
    };
    let hash = hash_password_blocking(&password)
        .await
        .ok_or(ResetPasswordError::Hashing)?;
    if !users::set_password(db, &user.id, &hash, true, None).await? {
        return Err(ResetPasswordError::UnknownLogin);
    }
    Ok((user, generated.then_some(password)))
}
