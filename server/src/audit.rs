//! The audit log: who signed in (or failed to), who revealed which masked field of which
//! record and why, who exported what, who moved which case, and what administrators (through
//! the API or the command line) did to users, passwords and places.
//!
//! An administrator's action names its target in `detail.target` (`user:wang`,
//! `grid:hp-dzk-01`); a command-line action has no actor id and the actor login
//! [`cli_actor`] (`cli (root)`: the operating-system user, with a space no login can hold).
//!
//! Rows are appended with [`record`] and never changed. Passwords are never logged; a failed
//! sign-in keeps only the login tried. Routes that hand out personal data write their audit row
//! *before* answering, and fail if it cannot be written.

use std::net::IpAddr;

use serde::Serialize;
use sync_core::ids::{DeviceId, DocId, UserId};

use crate::auth::AuthUser;
use crate::db::Db;
use crate::db::audit as store;

sync_core::string_enum! {
    /// What an audited action was.
    pub enum AuditAction {
        /// A successful sign-in.
        Login = "login" ["登录", "sign-in"],
        /// A refused sign-in (wrong login, wrong password, disabled user).
        LoginFailed = "login_failed" ["登录失败", "failed sign-in"],
        /// A masked field shown unmasked.
        Reveal = "reveal" ["查看敏感信息", "reveal"],
        /// A list exported.
        Export = "export" ["导出", "export"],
        /// A record with special-group labels (health, welfare: sensitive personal data) read
        /// through the review API.
        SensitiveRead = "sensitive_read" ["查看特殊人群档案", "special-group record read"],
        /// Records holding personal data sent to a phone by sync (one row per sync: the device,
        /// and how many of each grid).
        PersonalDataSynced = "personal_data_synced" ["同步个人信息", "personal data synced"],
        /// A household that moved away archived by a supervisor: its private document leaves
        /// every phone and is erased after the retention period.
        HouseholdArchived = "household_archived" ["住户档案归档", "household archived"],
        /// An archived household's private document erased from the server.
        PersonalDataErased = "personal_data_erased" ["删除个人信息", "personal data erased"],
        /// A case moved by a supervisor.
        CaseAction = "case_action" ["案件操作", "case action"],
        /// A conflict resolved by a supervisor.
        ConflictResolved = "conflict_resolved" ["解决冲突", "conflict resolved"],
        /// A user created by an administrator.
        UserCreated = "user_created" ["新增用户", "user created"],
        /// A user disabled by an administrator (their sessions end).
        UserDisabled = "user_disabled" ["停用用户", "user disabled"],
        /// A user enabled again by an administrator.
        UserEnabled = "user_enabled" ["启用用户", "user enabled"],
        /// A password reset by an administrator (to be changed at the next sign-in).
        PasswordReset = "password_reset" ["重置密码", "password reset"],
        /// A user changed their own password.
        PasswordChanged = "password_changed" ["修改密码", "password changed"],
        /// A street, community or grid created or changed by an administrator.
        PlaceSaved = "place_saved" ["保存区划", "place saved"],
        /// A household roster imported into a grid (or checked by a dry run): counts only.
        HouseholdImport = "household_import" ["导入户籍花名册", "household roster import"],
    }
}

/// The actor login of a command-line action: `cli (USER)`, with the operating-system user
/// (`$USER`, else `unknown`). The space keeps it apart from every login.
pub fn cli_actor() -> String {
    format!("cli ({})", crate::config::os_user())
}

/// Longest login kept for a failed sign-in, in characters.
const MAX_LOGIN_CHARS: usize = 100;

/// One audited action, as recorded.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    /// The acting user, when known (not for a failed sign-in with an unknown login).
    pub actor: Option<UserId>,
    /// The acting user's login (or the login tried).
    pub actor_login: String,
    /// The device acting.
    pub device: Option<DeviceId>,
    /// What happened.
    pub action: AuditAction,
    /// The record concerned.
    pub record: Option<DocId>,
    /// The field concerned (`residents[1].id_number`).
    pub field: Option<String>,
    /// The reason given.
    pub reason: Option<String>,
    /// More, as JSON (never personal data values).
    pub detail: Option<serde_json::Value>,
    /// The client's address.
    pub address: Option<IpAddr>,
}

impl AuditEntry {
    /// An entry of `action` by a signed-in `user` on `device`, from `address`.
    pub fn by(
        action: AuditAction,
        user: &crate::db::users::UserRow,
        device: &DeviceId,
        address: Option<IpAddr>,
    ) -> Self {
        Self {
            actor: Some(user.id.clone()),
            device: Some(device.clone()),
            address,
            ..Self::new(action, &user.login)
        }
    }

    /// The same entry about `record`.
    pub fn on(mut self, record: &DocId) -> Self {
        self.record = Some(record.clone());
        self
    }

    /// The same entry about an administrator's `target` (`user:wang`, `grid:hp-dzk-01`),
    /// which joins the `detail` object (`{}` for none).
    pub fn about(mut self, target: &str, mut detail: serde_json::Value) -> Self {
        if let Some(map) = detail.as_object_mut() {
            map.insert("target".into(), target.into());
        }
        self.detail = Some(detail);
        self
    }

    /// An entry with only the action and actor login set.
    pub fn new(action: AuditAction, actor_login: &str) -> Self {
        Self {
            actor: None,
            actor_login: actor_login.chars().take(MAX_LOGIN_CHARS).collect(),
            device: None,
            action,
            record: None,
            field: None,
            reason: None,
            detail: None,
            address: None,
        }
    }
}

/// Appends an entry to the audit log, timed now.
pub async fn record(db: &Db, entry: AuditEntry) -> Result<(), sqlx::Error> {
    let row = store::AuditRow {
        id: uuid::Uuid::now_v7().hyphenated().to_string(),
        at: crate::db::now_millis(),
        actor_id: entry.actor.map(|a| a.to_string()),
        actor_login: entry.actor_login,
        device_id: entry.device.map(|d| d.to_string()),
        action: entry.action.as_str().to_owned(),
        record_id: entry.record.map(|r| r.to_string()),
        field: entry.field,
        reason: entry.reason,
        detail: entry.detail.map(|d| d.to_string()),
        address: entry.address.map(|a| a.to_string()),
    };
    store::insert(db, &row).await
}

/// Appends the entry of an administrator's `action` on `target` through the API (see
/// [`AuditEntry::about`]), the administrator's login looked up.
pub async fn record_admin_action(
    db: &Db,
    admin: &AuthUser,
    address: Option<IpAddr>,
    action: AuditAction,
    target: &str,
    detail: serde_json::Value,
) -> Result<(), sqlx::Error> {
    let login = crate::db::users::get_user(db, &admin.user)
        .await?
        .map(|u| u.login)
        .unwrap_or_default();
    let entry = AuditEntry {
        actor: Some(admin.user.clone()),
        device: Some(admin.device.clone()),
        address,
        ..AuditEntry::new(action, &login)
    };
    record(db, entry.about(target, detail)).await
}

/// Which entries to list. Every filter is optional; `from`/`to` are milliseconds since the
/// epoch, both inclusive (as every list's time bounds).
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// The actor's user id or login.
    pub actor: Option<String>,
    /// The action.
    pub action: Option<AuditAction>,
    /// The record.
    pub record: Option<String>,
    /// At or after.
    pub from: Option<i64>,
    /// At or before.
    pub to: Option<i64>,
}

/// One entry as listed: the stored row, its time in RFC 3339 and its detail as JSON.
#[derive(Debug, Clone, Serialize)]
pub struct AuditItem {
    /// The row (its `detail` text is replaced by the parsed `detail` below).
    #[serde(flatten)]
    pub row: store::AuditRow,
    /// When, RFC 3339.
    pub at_text: String,
    /// More, as JSON.
    pub detail: Option<serde_json::Value>,
}

/// One page of entries, newest first, and how many match in all.
pub async fn query(
    db: &Db,
    filter: &AuditFilter,
    page: u32,
    per_page: u32,
) -> Result<(Vec<AuditItem>, i64), sqlx::Error> {
    let offset = i64::from(page.saturating_sub(1)) * i64::from(per_page);
    let (rows, total) = store::list(db, filter, i64::from(per_page), offset).await?;
    let items = rows
        .into_iter()
        .map(|row| AuditItem {
            at_text: sync_core::time::Timestamp::from_millis(row.at).to_string(),
            detail: row
                .detail
                .as_deref()
                .and_then(|d| serde_json::from_str(d).ok()),
            row,
        })
        .collect();
    Ok((items, total))
}
