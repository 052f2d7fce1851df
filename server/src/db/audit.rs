//! The audit log table (`audit_log`), and the few reads behind a record's detail view.

use std::collections::{BTreeMap, BTreeSet};

use sqlx::{FromRow, Row};
use sync_core::ids::{DeviceId, DocId};

use super::query::{Arg, Filter, Page, list_query};
use super::{Db, on_db};
use crate::audit::AuditFilter;

/// An `audit_log` row (serialised as listed, without its `detail` text: see
/// [`crate::audit::AuditItem`]).
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct AuditRow {
    /// Id (UUIDv7 text).
    pub id: String,
    /// Milliseconds since the epoch.
    pub at: i64,
    /// Acting user.
    pub actor_id: Option<String>,
    /// Acting user's login, or the login tried.
    pub actor_login: String,
    /// Acting device.
    pub device_id: Option<String>,
    /// `login`, `login_failed`, `reveal`, ...
    pub action: String,
    /// Record concerned.
    pub record_id: Option<String>,
    /// Field concerned.
    pub field: Option<String>,
    /// Reason given.
    pub reason: Option<String>,
    /// JSON text.
    #[serde(skip)]
    pub detail: Option<String>,
    /// Client address.
    pub address: Option<String>,
}

/// Appends a row.
pub async fn insert(db: &Db, row: &AuditRow) -> Result<(), sqlx::Error> {
    on_db!(db, pool => sqlx::query(
        "INSERT INTO audit_log (id, at, actor_id, actor_login, device_id, action, record_id,
                                field, reason, detail, address)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&row.id)
    .bind(row.at)
    .bind(&row.actor_id)
    .bind(&row.actor_login)
    .bind(&row.device_id)
    .bind(&row.action)
    .bind(&row.record_id)
    .bind(&row.field)
    .bind(&row.reason)
    .bind(&row.detail)
    .bind(&row.address)
    .execute(pool)
    .await
    .map(|_| ()))
}

/// The rows matching `filter` (`from` and `to` inclusive), newest first, `limit` from
/// `offset`, and how many match.
pub async fn list(
    db: &Db,
    filter: &AuditFilter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<AuditRow>, i64), sqlx::Error> {
    let mut f = Filter::default();
    if let Some(actor) = &filter.actor {
        let p = f.arg(Arg::Text(actor.clone()));
        f.clause(format!("(actor_id = {p} OR actor_login = {p})"));
    }
    if let Some(action) = filter.action {
        f.eq("action", action.as_str());
    }
    if let Some(record) = &filter.record {
        f.eq("record_id", record);
    }
    if let Some(from) = filter.from {
        f.compare("at", ">=", from);
    }
    if let Some(to) = filter.to {
        f.compare("at", "<=", to);
    }
    let page = Page {
        order_by: "at DESC, id DESC",
        limit,
        offset,
    };
    list_query!(db, "audit_log",
        "id, at, actor_id, actor_login, device_id, action, record_id, field, reason, detail,
         address",
        &f, page, r => AuditRow::from_row(r))
}

/// Who a device belongs to, for attributing changes in a record's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceOwner {
    /// The device's name ("Wang's phone").
    pub device_name: String,
    /// The user's id.
    pub user_id: String,
    /// The user's login.
    pub login: String,
    /// The user's display name.
    pub display_name: String,
    /// The user's role.
    pub role: String,
}

/// The owner of a device, if the device is known.
pub async fn device_owner(db: &Db, device: &DeviceId) -> Result<Option<DeviceOwner>, sqlx::Error> {
    on_db!(db, pool => sqlx::query(
        "SELECT d.name, u.id, u.login, u.display_name, u.role
         FROM devices d JOIN users u ON u.id = d.user_id WHERE d.id = $1",
    )
    .bind(device.as_str())
    .fetch_optional(pool)
    .await
    .and_then(|r| r.map(|r| Ok(DeviceOwner {
        device_name: r.try_get("name")?,
        user_id: r.try_get("id")?,
        login: r.try_get("login")?,
        display_name: r.try_get("display_name")?,
        role: r.try_get("role")?,
    })).transpose()))
}

/// The owners of some devices, each looked up once; unknown devices are left out.
pub async fn device_owners<'a>(
    db: &Db,
    devices: impl IntoIterator<Item = &'a DeviceId>,
) -> Result<BTreeMap<DeviceId, DeviceOwner>, sqlx::Error> {
    let wanted: BTreeSet<&DeviceId> = devices.into_iter().collect();
    let mut owners = BTreeMap::new();
    for device in wanted {
        if let Some(owner) = device_owner(db, device).await? {
            owners.insert(device.clone(), owner);
        }
    }
    Ok(owners)
}

/// The problem the last sync found with a record's merged state, if any (`docs.merged_invalid`).
pub async fn merged_invalid(db: &Db, id: &DocId) -> Result<Option<String>, sqlx::Error> {
    let found: Option<Option<String>> = on_db!(db, pool => sqlx::query_scalar(
        "SELECT merged_invalid FROM docs WHERE id = $1",
    )
    .bind(id.as_str())
    .fetch_optional(pool)
    .await)?;
    Ok(found.flatten())
}
