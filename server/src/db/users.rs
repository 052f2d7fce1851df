//! Users (and, with the auth module, their devices and refresh tokens).

use sync_core::ids::{CommunityId, GridId, LiaisonGroupId, StreetId, UserId};
use sync_core::record::Role;

use super::{Db, now_millis, on_db};

/// A user as stored. The password hash is argon2id (PHC string).
#[derive(Debug, Clone)]
pub struct UserRow {
    /// Id.
    pub id: UserId,
    /// Login name.
    pub login: String,
    /// Name shown to people.
    pub display_name: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Role.
    pub role: Role,
    /// Street (street supervisors, admins).
    pub street: Option<StreetId>,
    /// Community (community supervisors).
    pub community: Option<CommunityId>,
    /// Grid (grid workers, liaisons).
    pub grid: Option<GridId>,
    /// Liaison group (liaisons).
    pub liaison_group: Option<LiaisonGroupId>,
    /// Disabled users cannot sign in, refresh or sync.
    pub disabled: bool,
}

/// Inserts a user.
pub async fn insert_user(db: &Db, user: &UserRow) -> Result<(), sqlx::Error> {
    on_db!(db, pool => sqlx::query(
        "INSERT INTO users (id, login, display_name, password_hash, role, street_id,
                            community_id, grid_id, liaison_group, disabled, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(user.id.as_str())
    .bind(&user.login)
    .bind(&user.display_name)
    .bind(&user.password_hash)
    .bind(user.role.as_str())
    .bind(user.street.as_ref().map(|s| s.as_str()))
    .bind(user.community.as_ref().map(|s| s.as_str()))
    .bind(user.grid.as_ref().map(|s| s.as_str()))
    .bind(user.liaison_group.as_ref().map(|s| s.as_str()))
    .bind(user.disabled)
    .bind(now_millis())
    .execute(pool)
    .await
    .map(|_| ()))
}

const USER_COLUMNS: &str = "id, login, display_name, password_hash, role, street_id, community_id, grid_id, liaison_group, disabled";

/// A users row as the database returns it, before parsing ids and the role.
#[derive(sqlx::FromRow)]
struct RawUser {
    id: String,
    login: String,
    display_name: String,
    password_hash: String,
    role: String,
    street_id: Option<String>,
    community_id: Option<String>,
    grid_id: Option<String>,
    liaison_group: Option<String>,
    disabled: bool,
}

impl TryFrom<RawUser> for UserRow {
    type Error = sqlx::Error;

    fn try_from(raw: RawUser) -> Result<Self, Self::Error> {
        let bad = |col: &str| sqlx::Error::ColumnDecode {
            index: col.to_owned(),
            source: "unreadable value".into(),
        };
        Ok(UserRow {
            id: raw.id.parse().map_err(|_| bad("id"))?,
            login: raw.login,
            display_name: raw.display_name,
            password_hash: raw.password_hash,
            role: raw.role.parse().map_err(|_| bad("role"))?,
            street: raw.street_id.and_then(|s| s.parse().ok()),
            community: raw.community_id.and_then(|s| s.parse().ok()),
            grid: raw.grid_id.and_then(|s| s.parse().ok()),
            liaison_group: raw.liaison_group.and_then(|s| s.parse().ok()),
            disabled: raw.disabled,
        })
    }
}

/// The user with this login name.
pub async fn find_user_by_login(db: &Db, login: &str) -> Result<Option<UserRow>, sqlx::Error> {
    let sql = sqlx::AssertSqlSafe(format!("SELECT {USER_COLUMNS} FROM users WHERE login = $1"));
    let raw: Option<RawUser> =
        on_db!(db, pool => sqlx::query_as(sql).bind(login).fetch_optional(pool).await)?;
    raw.map(UserRow::try_from).transpose()
}

/// The user with this id.
pub async fn get_user(db: &Db, id: &UserId) -> Result<Option<UserRow>, sqlx::Error> {
    let sql = sqlx::AssertSqlSafe(format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"));
    let raw: Option<RawUser> =
        on_db!(db, pool => sqlx::query_as(sql).bind(id.as_str()).fetch_optional(pool).await)?;
    raw.map(UserRow::try_from).transpose()
}

/// Disables or re-enables a user. Returns false when there is no such login.
pub async fn set_disabled(db: &Db, login: &str, disabled: bool) -> Result<bool, sqlx::Error> {
    on_db!(db, pool => sqlx::query("UPDATE users SET disabled = $1 WHERE login = $2")
        .bind(disabled)
        .bind(login)
        .execute(pool)
        .await
        .map(|r| r.rows_affected() > 0))
}
