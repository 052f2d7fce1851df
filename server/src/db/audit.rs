//! The audit log table (`audit_log`), and the few reads behind a record's detail view.

use std::collections::{BTreeMap, BTreeSet};

use sqlx::Row;
use sync_core::ids::{DeviceId, DocId};

use super::{Db, on_db};
use crate::audit::AuditFilter;

/// An `audit_log` row.
#[derive(Debug, Clone, sqlx::FromRow)]
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

/// A bound parameter of a filtered query.
enum Arg {
    Text(String),
    Int(i64),
}

/// Binds `args` in order (a macro: the query type differs per backend).
macro_rules! bind_args {
    ($query:expr, $args:expr) => {{
        let mut q = $query;
        for arg in $args {
            q = match arg {
                Arg::Text(s) => q.bind(s.clone()),
                Arg::Int(i) => q.bind(*i),
            };
        }
        q
    }};
}

/// The rows matching `filter`, newest first, `limit` from `offset`, and how many match.
pub async fn list(
    db: &Db,
    filter: &AuditFilter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<AuditRow>, i64), sqlx::Error> {
    let mut conditions: Vec<String> = Vec::new();
    let mut args: Vec<Arg> = Vec::new();
    if let Some(actor) = &filter.actor {
        args.push(Arg::Text(actor.clone()));
        let n = args.len();
        conditions.push(format!("(actor_id = ${n} OR actor_login = ${n})"));
    }
    if let Some(action) = filter.action {
        args.push(Arg::Text(action.as_str().to_owned()));
        conditions.push(format!("action = ${}", args.len()));
    }
    if let Some(record) = &filter.record {
        args.push(Arg::Text(record.clone()));
        conditions.push(format!("record_id = ${}", args.len()));
    }
    if let Some(from) = filter.from {
        args.push(Arg::Int(from));
        conditions.push(format!("at >= ${}", args.len()));
    }
    if let Some(to) = filter.to {
        args.push(Arg::Int(to));
        conditions.push(format!("at < ${}", args.len()));
    }
    let where_clause = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    let count_sql = sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM audit_log {where_clause}"));
    let total: i64 = on_db!(db, pool => bind_args!(sqlx::query_scalar(count_sql), &args)
        .fetch_one(pool)
        .await)?;
    let list_sql = sqlx::AssertSqlSafe(format!(
        "SELECT id, at, actor_id, actor_login, device_id, action, record_id, field, reason,
                detail, address
         FROM audit_log {where_clause}
         ORDER BY at DESC, id DESC LIMIT ${} OFFSET ${}",
        args.len() + 1,
        args.len() + 2
    ));
    args.push(Arg::Int(limit));
    args.push(Arg::Int(offset));
    let rows: Vec<AuditRow> = on_db!(db, pool => bind_args!(sqlx::query_as(list_sql), &args)
        .fetch_all(pool)
        .await)?;
    Ok((rows, total))
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
