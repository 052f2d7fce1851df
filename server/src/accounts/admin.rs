//! An administrator's actions on users through the API (`/v1/admin/users/*`): creating a
//! user, disabling and enabling one, resetting a password. Each is audited with its target
//! (`user:wang`) and the administrator's address.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{NewUser, UserView, user_view};
use crate::audit::{AuditAction, record_admin_action};
use crate::auth::AuthUser;
use crate::db::users;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Creates a user (see [`super::create_user`]; errors as its `ApiError` conversion says) and
/// answers them as clients see them.
pub async fn create_user(
    app: &AppState,
    admin: &AuthUser,
    addr: Option<IpAddr>,
    new: NewUser,
) -> ApiResult<UserView> {
    let user = super::create_user(&app.db, new).await?;
    tracing::info!(user = %user.id, role = %user.role, by = %admin.user, "user created");
    let view = user_view(&app.db, &user).await?;
    let detail = json!({ "role": user.role.as_str(), "street": view.street,
        "community": view.community, "grid": view.grid, "liaison_group": view.liaison_group });
    let target = format!("user:{}", user.login);
    record_admin_action(
        &app.db,
        admin,
        addr,
        AuditAction::UserCreated,
        &target,
        detail,
    )
    .await?;
    Ok(view)
}

/// Disables (`disabled`) or enables the user `login`: 404 for an unknown login, 409 for an
/// administrator disabling themselves. Disabling ends the user's sessions; enabling them again
/// revives none.
pub async fn set_disabled(
    app: &AppState,
    admin: &AuthUser,
    addr: Option<IpAddr>,
    login: &str,
    disabled: bool,
) -> ApiResult<()> {
    if disabled
        && users::get_user(&app.db, &admin.user)
            .await?
            .is_some_and(|u| u.login == login)
    {
        return Err(ApiError::conflict(
            "conflict",
            "administrators cannot disable themselves",
        ));
    }
    if !users::set_disabled(&app.db, login, disabled).await? {
        return Err(ApiError::not_found("no such user"));
    }
    tracing::info!(disabled, by = %admin.user, "user access changed");
    let action = if disabled {
        AuditAction::UserDisabled
    } else {
        AuditAction::UserEnabled
    };
    let target = format!("user:{login}");
    record_admin_action(&app.db, admin, addr, action, &target, json!({})).await?;
    Ok(())
}

/// The body of `POST /v1/admin/users/{login}/reset-password`. Its `Debug` hides the password.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetPasswordRequest {
    /// The temporary password to set (8 to 1024 characters, not the login, not a common
    /// password); absent: the server makes one and answers it once.
    #[serde(default)]
    #[schema(schema_with = reset_password_schema)]
    pub password: Option<String>,
}

fn reset_password_schema() -> utoipa::openapi::Object {
    crate::openapi::values::text_or_null(8, 1024)
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

/// Resets the password of `login` (see [`super::reset_password`]): the user's sessions end
/// and they must change it at their next sign-in.
pub async fn reset_password(
    app: &AppState,
    admin: &AuthUser,
    addr: Option<IpAddr>,
    login: &str,
    req: ResetPasswordRequest,
) -> ApiResult<ResetPasswordResponse> {
    let (user, generated) = super::reset_password(&app.db, login, req.password).await?;
    tracing::info!(user = %user.id, by = %admin.user, "password reset");
    let target = format!("user:{}", user.login);
    let detail = json!({ "generated": generated.is_some() });
    record_admin_action(
        &app.db,
        admin,
        addr,
        AuditAction::PasswordReset,
        &target,
        detail,
    )
    .await?;
    Ok(ResetPasswordResponse {
        login: user.login,
        temporary_password: generated,
        must_change_password: true,
    })
}
