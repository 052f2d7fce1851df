//! Users, their devices and their refresh tokens.

use sync_core::ids::{
    CommunityId, DepartmentId, DeviceId, GridId, LiaisonGroupId, StreetId, UserId,
};
use sync_core::record::Role;

use super::{Db, now_millis, on_db, on_tx};

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
    /// Department (department staff; their street is `street`).
    pub department: Option<DepartmentId>,
    /// Disabled users cannot sign in, refresh or sync.
    pub disabled: bool,
    /// Set by an administrator's password reset: only the password change is open to them.
    pub must_change_password: bool,
}

/// Inserts a user.
pub async fn insert_user(db: &Db, user: &UserRow) -> Result<(), sqlx::Error> {
    on_db!(db, pool => sqlx::query(
        "INSERT INTO users (id, login, display_name, password_hash, role, street_id,
                            community_id, grid_id, liaison_group, disabled, created_at,
                            department_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
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
    .bind(user.department.as_ref().map(|d| d.as_str()))
    .execute(pool)
    .await
    .map(|_| ()))
}

const USER_COLUMNS: &str = "id, login, display_name, password_hash, role, street_id, community_id, grid_id, liaison_group, department_id, disabled, must_change_password";

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
    department_id: Option<String>,
    disabled: bool,
    must_change_password: bool,
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
            department: raw.department_id.and_then(|s| s.parse().ok()),
            disabled: raw.disabled,
            must_change_password: raw.must_change_password,
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

/// The enabled grid workers of a grid, by login (whom a case of the grid can be dispatched to).
pub async fn grid_workers(db: &Db, grid: &GridId) -> Result<Vec<UserRow>, sqlx::Error> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS} FROM users
         WHERE role = 'grid_worker' AND grid_id = $1 AND disabled = FALSE ORDER BY login"
    ));
    let raw: Vec<RawUser> =
        on_db!(db, pool => sqlx::query_as(sql).bind(grid.as_str()).fetch_all(pool).await)?;
    raw.into_iter().map(UserRow::try_from).collect()
}

/// Disables or re-enables a user. Disabling also ends every session of the user and revokes
/// their refresh tokens (in the same transaction), so enabling them again revives nothing:
/// they sign in afresh. Returns false when there is no such login.
pub async fn set_disabled(db: &Db, login: &str, disabled: bool) -> Result<bool, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    let id: Option<String> = on_tx!(&mut tx, conn => sqlx::query_scalar(
        "UPDATE users SET disabled = $1 WHERE login = $2 RETURNING id",
    )
    .bind(disabled)
    .bind(login)
    .fetch_optional(conn)
    .await)?;
    let Some(id) = id else {
        return Ok(false);
    };
    if disabled {
        end_user_sessions(&mut tx, &id, None).await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// Ends every live session of a user but `keep`, and revokes their refresh tokens.
async fn end_user_sessions(
    tx: &mut super::Tx,
    user: &str,
    keep: Option<&str>,
) -> Result<(), sqlx::Error> {
    let now = now_millis();
    let keep = keep.unwrap_or("");
    on_tx!(tx, conn => sqlx::query(
        "UPDATE sessions SET ended_at = $1 WHERE user_id = $2 AND ended_at IS NULL AND id <> $3",
    )
    .bind(now)
    .bind(user)
    .bind(keep)
    .execute(&mut *conn)
    .await
    .map(|_| ()))?;
    on_tx!(tx, conn => sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = $1
         WHERE user_id = $2 AND revoked_at IS NULL AND family_id <> $3",
    )
    .bind(now)
    .bind(user)
    .bind(keep)
    .execute(&mut *conn)
    .await
    .map(|_| ()))
}

/// Stores a new password hash. `must_change` marks it temporary (an administrator's reset);
/// every session of the user but `keep` ends and their refresh tokens are revoked, in one
/// transaction. Returns false when there is no such user.
pub async fn set_password(
    db: &Db,
    user: &UserId,
    password_hash: &str,
    must_change: bool,
    keep: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    let found = on_tx!(&mut tx, conn => sqlx::query(
        "UPDATE users SET password_hash = $1, must_change_password = $2 WHERE id = $3",
    )
    .bind(password_hash)
    .bind(must_change)
    .bind(user.as_str())
    .execute(conn)
    .await
    .map(|r| r.rows_affected() > 0))?;
    if !found {
        return Ok(false);
    }
    end_user_sessions(&mut tx, user.as_str(), keep).await?;
    tx.commit().await?;
    Ok(true)
}

/// A session (one sign-in on one device; its id is the refresh-token family's) as the
/// per-request check sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveSession {
    /// The user's role.
    pub role: String,
    /// The user must change their password before anything else.
    pub must_change_password: bool,
}

/// The live session `session` of `user` on `device`: the user enabled, the device theirs and
/// not revoked, the session not ended. `None` otherwise.
pub async fn active_session(
    db: &Db,
    user: &UserId,
    device: &DeviceId,
    session: &str,
) -> Result<Option<ActiveSession>, sqlx::Error> {
    let row: Option<(String, bool)> = on_db!(db, pool => sqlx::query_as(
        "SELECT u.role, u.must_change_password
         FROM sessions s
         JOIN users u ON u.id = s.user_id
         JOIN devices d ON d.id = s.device_id AND d.user_id = u.id
         WHERE s.id = $1 AND u.id = $2 AND d.id = $3
           AND s.ended_at IS NULL AND NOT u.disabled AND d.revoked_at IS NULL",
    )
    .bind(session)
    .bind(user.as_str())
    .bind(device.as_str())
    .fetch_optional(pool)
    .await)?;
    Ok(row.map(|(role, must_change_password)| ActiveSession {
        role,
        must_change_password,
    }))
}

/// Ends a session (sign-out): its access tokens are refused from now on and its refresh
/// tokens revoked. Ending an ended or unknown session changes nothing.
pub async fn end_session(db: &Db, session: &str) -> Result<(), sqlx::Error> {
    let now = now_millis();
    let mut tx = db.begin_write().await?;
    on_tx!(&mut tx, conn => sqlx::query(
        "UPDATE sessions SET ended_at = $1 WHERE id = $2 AND ended_at IS NULL",
    )
    .bind(now)
    .bind(session)
    .execute(conn)
    .await
    .map(|_| ()))?;
    on_tx!(&mut tx, conn => sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = $1 WHERE family_id = $2 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(session)
    .execute(conn)
    .await
    .map(|_| ()))?;
    tx.commit().await
}

/// Has this device signed in as this user before (it is theirs and not revoked)? What lets
/// the owner's own phone through a sign-in lockout caused by strangers.
pub async fn is_known_device(
    db: &Db,
    user: &UserId,
    device: &DeviceId,
) -> Result<bool, sqlx::Error> {
    let n: i64 = on_db!(db, pool => sqlx::query_scalar(
        "SELECT COUNT(*) FROM devices WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
    )
    .bind(device.as_str())
    .bind(user.as_str())
    .fetch_one(pool)
    .await)?;
    Ok(n > 0)
}

/// One app installation of a user (a phone, or a supervisor's browser session).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRow {
    /// Id (chosen by the device, or by the server at first sign-in).
    pub id: DeviceId,
    /// Its owner.
    pub user: UserId,
    /// A name people recognise ("Wang's phone").
    pub name: String,
    /// A revoked device can neither refresh nor use its access tokens.
    pub revoked: bool,
}

/// The device with this id.
pub async fn get_device(db: &Db, id: &DeviceId) -> Result<Option<DeviceRow>, sqlx::Error> {
    let raw: Option<(String, String, String, Option<i64>)> = on_db!(db, pool => sqlx::query_as(
        "SELECT id, user_id, name, revoked_at FROM devices WHERE id = $1",
    )
    .bind(id.as_str())
    .fetch_optional(pool)
    .await)?;
    raw.map(|(id, user, name, revoked_at)| {
        Ok(DeviceRow {
            id: id.parse().map_err(|_| bad_column("id"))?,
            user: user.parse().map_err(|_| bad_column("user_id"))?,
            name,
            revoked: revoked_at.is_some(),
        })
    })
    .transpose()
}

/// Registers a device for a user unless a device with this id exists already (whoever owns
/// it: read it back with [`get_device`] to check). Safe against concurrent sign-ins.
pub async fn insert_device_if_absent(
    db: &Db,
    id: &DeviceId,
    user: &UserId,
    name: &str,
) -> Result<(), sqlx::Error> {
    let now = now_millis();
    on_db!(db, pool => sqlx::query(
        "INSERT INTO devices (id, user_id, name, created_at, last_seen_at)
         VALUES ($1, $2, $3, $4, $4)
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(id.as_str())
    .bind(user.as_str())
    .bind(name)
    .bind(now)
    .execute(pool)
    .await
    .map(|_| ()))
}

/// Notes that a device signed in or refreshed, and renames it when a name is given.
pub async fn touch_device(db: &Db, id: &DeviceId, name: Option<&str>) -> Result<(), sqlx::Error> {
    on_db!(db, pool => sqlx::query(
        "UPDATE devices SET last_seen_at = $1, name = COALESCE($2, name) WHERE id = $3",
    )
    .bind(now_millis())
    .bind(name)
    .bind(id.as_str())
    .execute(pool)
    .await
    .map(|_| ()))
}

/// Revokes a device and every refresh token issued to it, in one transaction. Revoking a
/// revoked device changes nothing. Returns false when there is no such device.
pub async fn revoke_device(db: &Db, id: &DeviceId) -> Result<bool, sqlx::Error> {
    let now = now_millis();
    let mut tx = db.begin_write().await?;
    let found = on_tx!(&mut tx, conn => sqlx::query(
        "UPDATE devices SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2",
    )
    .bind(now)
    .bind(id.as_str())
    .execute(conn)
    .await
    .map(|r| r.rows_affected() > 0))?;
    if found {
        on_tx!(&mut tx, conn => sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $1 WHERE device_id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(id.as_str())
        .execute(conn)
        .await
        .map(|_| ()))?;
        on_tx!(&mut tx, conn => sqlx::query(
            "UPDATE sessions SET ended_at = $1 WHERE device_id = $2 AND ended_at IS NULL",
        )
        .bind(now)
        .bind(id.as_str())
        .execute(conn)
        .await
        .map(|_| ()))?;
    }
    tx.commit().await?;
    Ok(found)
}

/// A refresh token as stored: only its SHA-256, never the token itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenRow {
    /// SHA-256 of the token, lowercase hex.
    pub token_hash: String,
    /// The family: every token descending by rotation from one sign-in.
    pub family: String,
    /// The device it was issued to.
    pub device: DeviceId,
    /// The user it was issued to.
    pub user: UserId,
    /// Issued at, milliseconds since the epoch.
    pub issued_at: i64,
    /// Expires at, milliseconds since the epoch.
    pub expires_at: i64,
    /// When it was exchanged for its successor.
    pub rotated_at: Option<i64>,
    /// When it (or its family, or its device) was revoked.
    pub revoked_at: Option<i64>,
}

/// Binds a [`RefreshTokenRow`] to [`INSERT_REFRESH_TOKEN`] (a macro: the query type differs
/// per backend).
macro_rules! bind_refresh_token {
    ($query:expr, $token:expr) => {
        $query
            .bind($token.token_hash.as_str())
            .bind($token.family.as_str())
            .bind($token.device.as_str())
            .bind($token.user.as_str())
            .bind($token.issued_at)
            .bind($token.expires_at)
            .bind($token.rotated_at)
            .bind($token.revoked_at)
    };
}

/// Starts a session: stores it (its id is the token's family) and its first refresh token,
/// in one transaction.
pub async fn start_session(db: &Db, first: &RefreshTokenRow) -> Result<(), sqlx::Error> {
    let mut tx = db.begin_write().await?;
    on_tx!(&mut tx, conn => sqlx::query(
        "INSERT INTO sessions (id, user_id, device_id, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(first.family.as_str())
    .bind(first.user.as_str())
    .bind(first.device.as_str())
    .bind(first.issued_at)
    .execute(conn)
    .await
    .map(|_| ()))?;
    on_tx!(&mut tx, conn => bind_refresh_token!(sqlx::query(INSERT_REFRESH_TOKEN), first)
        .execute(conn)
        .await
        .map(|_| ()))?;
    tx.commit().await
}

const INSERT_REFRESH_TOKEN: &str = "INSERT INTO refresh_tokens
    (token_hash, family_id, device_id, user_id, issued_at, expires_at, rotated_at, revoked_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

/// The refresh token with this hash.
pub async fn find_refresh_token(
    db: &Db,
    token_hash: &str,
) -> Result<Option<RefreshTokenRow>, sqlx::Error> {
    type Raw = (
        String,
        String,
        String,
        String,
        i64,
        i64,
        Option<i64>,
        Option<i64>,
    );
    let raw: Option<Raw> = on_db!(db, pool => sqlx::query_as(
        "SELECT token_hash, family_id, device_id, user_id, issued_at, expires_at, rotated_at,
                revoked_at
         FROM refresh_tokens WHERE token_hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(pool)
    .await)?;
    raw.map(
        |(token_hash, family, device, user, issued_at, expires_at, rotated_at, revoked_at)| {
            Ok(RefreshTokenRow {
                token_hash,
                family,
                device: device.parse().map_err(|_| bad_column("device_id"))?,
                user: user.parse().map_err(|_| bad_column("user_id"))?,
                issued_at,
                expires_at,
                rotated_at,
                revoked_at,
            })
        },
    )
    .transpose()
}

/// Exchanges a live refresh token for its successor in one transaction: marks the old one
/// rotated only if it is neither rotated nor revoked yet, and then stores the new one. Returns
/// false (and stores nothing) when the old token was no longer live, e.g. because a concurrent
/// request rotated it first.
pub async fn rotate_refresh_token(
    db: &Db,
    old_hash: &str,
    successor: &RefreshTokenRow,
) -> Result<bool, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    let live = on_tx!(&mut tx, conn => sqlx::query(
        "UPDATE refresh_tokens SET rotated_at = $1
         WHERE token_hash = $2 AND rotated_at IS NULL AND revoked_at IS NULL",
    )
    .bind(successor.issued_at)
    .bind(old_hash)
    .execute(conn)
    .await
    .map(|r| r.rows_affected() == 1))?;
    if !live {
        // Dropping the transaction rolls it back; nothing was written.
        return Ok(false);
    }
    on_tx!(&mut tx, conn => bind_refresh_token!(sqlx::query(INSERT_REFRESH_TOKEN), successor)
        .execute(conn)
        .await
        .map(|_| ()))?;
    tx.commit().await?;
    Ok(true)
}

/// Revokes every live token of a family and ends its session (its access tokens die too).
/// Returns how many tokens were revoked.
pub async fn revoke_token_family(db: &Db, family: &str) -> Result<u64, sqlx::Error> {
    let now = now_millis();
    let mut tx = db.begin_write().await?;
    let revoked = on_tx!(&mut tx, conn => sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = $1 WHERE family_id = $2 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(family)
    .execute(conn)
    .await
    .map(|r| r.rows_affected()))?;
    on_tx!(&mut tx, conn => sqlx::query(
        "UPDATE sessions SET ended_at = $1 WHERE id = $2 AND ended_at IS NULL",
    )
    .bind(now)
    .bind(family)
    .execute(conn)
    .await
    .map(|_| ()))?;
    tx.commit().await?;
    Ok(revoked)
}

fn bad_column(col: &str) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: col.to_owned(),
        source: "unreadable value".into(),
    }
}

/// Every user's name shown to people, by user id: how exports name people instead of ids.
pub async fn display_names(
    db: &Db,
) -> Result<std::collections::HashMap<String, String>, sqlx::Error> {
    let rows: Vec<(String, String)> = on_db!(db, pool => sqlx::query_as(
        "SELECT id, display_name FROM users",
    )
    .fetch_all(pool)
    .await)?;
    Ok(rows.into_iter().collect())
}
