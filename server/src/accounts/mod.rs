//! Accounts: creating users (one function for the CLI, the admin API and the demo loader),
//! hashing and checking passwords, and the user as clients see it.
//!
//! Passwords are hashed with argon2id and the crate's default parameters, stored as PHC
//! strings (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`), so parameters can change later
//! without invalidating stored hashes: verification reads them from the string.
//!
//! A user stores only the place of their role's level (a grid worker's grid, a community
//! supervisor's community, ...); the places above it are looked up when the user is shown
//! ([`user_view`]), so moving a grid or a community never leaves stale copies behind.

use std::sync::LazyLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use serde::Serialize;
use sync_core::ids::{CommunityId, GridId, LiaisonGroupId, StreetId, UserId};
use sync_core::record::Role;

use crate::db::users::{self, UserRow};
use crate::db::{Db, places};

pub use crate::auth::passwords::{MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS, PasswordProblem};
/// Longest login name, in characters.
pub const MAX_LOGIN_CHARS: usize = 64;
/// Longest display name, in characters.
pub const MAX_DISPLAY_NAME_CHARS: usize = 100;

/// A user to create.
#[derive(Clone)]
pub struct NewUser {
    /// Login name: 1 to 64 characters, no whitespace or control characters. Unique.
    pub login: String,
    /// Name shown to people.
    pub display_name: String,
    /// The password in clear (at least 8 characters). Ignored by [`create_user_with_hash`].
    pub password: String,
    /// Role.
    pub role: Role,
    /// Street: required for street supervisors and admins; for other roles, optional and
    /// checked against the hierarchy.
    pub street: Option<StreetId>,
    /// Community: required for community supervisors; for grid workers and liaisons,
    /// optional and checked against the hierarchy.
    pub community: Option<CommunityId>,
    /// Grid: required for grid workers and liaisons.
    pub grid: Option<GridId>,
    /// Liaison group: required for liaisons, refused for everyone else.
    pub liaison_group: Option<LiaisonGroupId>,
}

impl std::fmt::Debug for NewUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("login", &self.login)
            .field("display_name", &self.display_name)
            .field("password", &"<redacted>")
            .field("role", &self.role)
            .field("street", &self.street)
            .field("community", &self.community)
            .field("grid", &self.grid)
            .field("liaison_group", &self.liaison_group)
            .finish()
    }
}

/// Why a user could not be created. Messages name fields, never values.
#[derive(Debug, thiserror::Error)]
pub enum CreateUserError {
    /// The login is empty, too long, or has whitespace or control characters.
    #[error("the login must be 1 to 64 characters without whitespace or control characters")]
    InvalidLogin,
    /// The display name is empty or too long.
    #[error("the display name must be 1 to 100 characters")]
    InvalidDisplayName,
    /// The password breaks a rule (length, the login, a common password).
    #[error("{0}")]
    Password(#[from] PasswordProblem),
    /// A precomputed hash is not an argon2 PHC string.
    #[error("the password hash is not an argon2 PHC string")]
    InvalidPasswordHash,
    /// The role needs a place that was not given.
    #[error("the role {role} needs a {place}")]
    MissingPlace {
        /// The role.
        role: Role,
        /// `street`, `community`, `grid` or `liaison_group`.
        place: &'static str,
    },
    /// A place was given that the role does not take.
    #[error("the role {role} takes no {place}")]
    UnexpectedPlace {
        /// The role.
        role: Role,
        /// `community`, `grid` or `liaison_group`.
        place: &'static str,
    },
    /// The place does not exist.
    #[error("no such {place}")]
    UnknownPlace {
        /// `street`, `community` or `grid`.
        place: &'static str,
    },
    /// A place was given that does not contain the role's place.
    #[error("the given {place} does not contain the user's place")]
    PlaceMismatch {
        /// `street` or `community`.
        place: &'static str,
    },
    /// Another user has this login.
    #[error("the login is taken")]
    LoginTaken,
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The hashing thread failed.
    #[error("password hashing failed")]
    Hashing,
}

/// Creates a user: validates the login, name, password and the role's place, hashes the
/// password (on a blocking thread) and stores the user.
pub async fn create_user(db: &Db, new: NewUser) -> Result<UserRow, CreateUserError> {
    crate::auth::passwords::check_new(&new.login, &new.password)?;
    let row = prepare(db, &new).await?;
    let password = new.password;
    let hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|_| CreateUserError::Hashing)?;
    store(
        db,
        UserRow {
            password_hash: hash,
            ..row
        },
    )
    .await
}

/// Like [`create_user`] with a password hashed beforehand by [`hash_password`] (the demo
/// loader hashes once for thousands of users); `new.password` is ignored.
pub async fn create_user_with_hash(
    db: &Db,
    new: NewUser,
    password_hash: &str,
) -> Result<UserRow, CreateUserError> {
    PasswordHash::new(password_hash).map_err(|_| CreateUserError::InvalidPasswordHash)?;
    let row = prepare(db, &new).await?;
    store(
        db,
        UserRow {
            password_hash: password_hash.to_owned(),
            ..row
        },
    )
    .await
}

/// Validates everything but the password and builds the row to store (without its hash).
async fn prepare(db: &Db, new: &NewUser) -> Result<UserRow, CreateUserError> {
    check_login(&new.login)?;
    let name_chars = new.display_name.trim().chars().count();
    if name_chars == 0 || name_chars > MAX_DISPLAY_NAME_CHARS {
        return Err(CreateUserError::InvalidDisplayName);
    }
    let place = resolve_place(db, new).await?;
    if users::find_user_by_login(db, &new.login).await?.is_some() {
        return Err(CreateUserError::LoginTaken);
    }
    Ok(UserRow {
        id: UserId::new(),
        login: new.login.clone(),
        display_name: new.display_name.trim().to_owned(),
        password_hash: String::new(),
        role: new.role,
        street: place.street,
        community: place.community,
        grid: place.grid,
        liaison_group: place.liaison_group,
        disabled: false,
        must_change_password: false,
    })
}

async fn store(db: &Db, row: UserRow) -> Result<UserRow, CreateUserError> {
    match users::insert_user(db, &row).await {
        Ok(()) => Ok(row),
        // Two creations of one login racing: the unique index decides.
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            Err(CreateUserError::LoginTaken)
        }
        Err(e) => Err(e.into()),
    }
}

fn check_login(login: &str) -> Result<(), CreateUserError> {
    let chars = login.chars().count();
    if chars == 0
        || chars > MAX_LOGIN_CHARS
        || login.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(CreateUserError::InvalidLogin);
    }
    Ok(())
}

/// Hashes a password on a blocking thread.
pub async fn hash_password_blocking(password: &str) -> Option<String> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .ok()
}

/// Verifies a password on a blocking thread.
pub async fn verify_password_blocking(password_hash: &str, password: &str) -> bool {
    let (hash, password) = (password_hash.to_owned(), password.to_owned());
    tokio::task::spawn_blocking(move || verify_password(&hash, &password))
        .await
        .unwrap_or(false)
}

/// The place a user stores: the one of their role's level (and a liaison's group).
#[derive(Debug, Default)]
struct StoredPlace {
    street: Option<StreetId>,
    community: Option<CommunityId>,
    grid: Option<GridId>,
    liaison_group: Option<LiaisonGroupId>,
}

/// Checks the places of a new user against their role and the hierarchy. Places above the
/// role's level may be given (they must then contain the role's place) but are not stored;
/// places below it are refused.
async fn resolve_place(db: &Db, new: &NewUser) -> Result<StoredPlace, CreateUserError> {
    let role = new.role;
    let missing = |place| CreateUserError::MissingPlace { role, place };
    let unexpected = |place| CreateUserError::UnexpectedPlace { role, place };
    match role {
        Role::Liaison if new.liaison_group.is_none() => return Err(missing("liaison_group")),
        Role::Liaison => {}
        _ if new.liaison_group.is_some() => return Err(unexpected("liaison_group")),
        _ => {}
    }
    let mut place = StoredPlace {
        liaison_group: new.liaison_group.clone(),
        ..StoredPlace::default()
    };
    // The community whose street is to be checked, if any.
    let community = match role {
        Role::GridWorker | Role::Liaison => {
            let grid = new.grid.clone().ok_or_else(|| missing("grid"))?;
            let parent = places::community_of_grid(db, &grid)
                .await?
                .ok_or(CreateUserError::UnknownPlace { place: "grid" })?;
            if new.community.as_ref().is_some_and(|c| *c != parent) {
                return Err(CreateUserError::PlaceMismatch { place: "community" });
            }
            place.grid = Some(grid);
            Some(parent)
        }
        Role::CommunitySupervisor => {
            if new.grid.is_some() {
                return Err(unexpected("grid"));
            }
            let community = new.community.clone().ok_or_else(|| missing("community"))?;
            place.community = Some(community.clone());
            Some(community)
        }
        Role::StreetSupervisor | Role::Admin => {
            if new.grid.is_some() {
                return Err(unexpected("grid"));
            }
            if new.community.is_some() {
                return Err(unexpected("community"));
            }
            let street = new.street.clone().ok_or_else(|| missing("street"))?;
            if !places::street_exists(db, &street).await? {
                return Err(CreateUserError::UnknownPlace { place: "street" });
            }
            place.street = Some(street);
            None
        }
    };
    if let Some(community) = community {
        let street = places::street_of_community(db, &community)
            .await?
            .ok_or(CreateUserError::UnknownPlace { place: "community" })?;
        if new.street.as_ref().is_some_and(|s| *s != street) {
            return Err(CreateUserError::PlaceMismatch { place: "street" });
        }
    }
    Ok(place)
}

/// Hashes a password with argon2id (default parameters, random 16-byte salt) into a PHC
/// string. CPU-heavy (tens of milliseconds in release builds): call it on a blocking thread
/// from async code.
pub fn hash_password(password: &str) -> String {
    let salt_bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes).expect("16 bytes always encode as a salt");
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters hashes any password up to 4 GiB")
        .to_string()
}

/// Does the password match the PHC string? False for a malformed hash as well. CPU-heavy like
/// [`hash_password`].
pub fn verify_password(password_hash: &str, password: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(password_hash) else {
        return false;
    };
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// Checks a sign-in's password against the user's hash, or, for an unknown login, against a
/// fixed dummy hash, so both take the same time and an observer cannot tell which logins
/// exist. Runs on a blocking thread.
pub async fn verify_login_password(user: Option<&UserRow>, password: &str) -> bool {
    static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| hash_password("gridbook: no such user"));
    let hash = match user {
        Some(u) => u.password_hash.clone(),
        None => DUMMY_HASH.clone(),
    };
    let password = password.to_owned();
    let exists = user.is_some();
    let matches = tokio::task::spawn_blocking(move || verify_password(&hash, &password))
        .await
        .unwrap_or(false);
    matches && exists
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
            crate::auth::passwords::check_new(&user.login, &p)?;
            (p, false)
        }
        None => (crate::auth::passwords::generate_temporary(), true),
    };
    let hash = hash_password_blocking(&password)
        .await
        .ok_or(ResetPasswordError::Hashing)?;
    if !users::set_password(db, &user.id, &hash, true, None).await? {
        return Err(ResetPasswordError::UnknownLogin);
    }
    Ok((user, generated.then_some(password)))
}

/// A user as clients see it: in the sign-in answer, `GET /v1/auth/me` and the admin API.
/// Places above the role's level are filled in from the hierarchy; absent ones are `null`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct UserView {
    /// Id.
    #[schema(value_type = String)]
    pub id: UserId,
    /// Login name.
    pub login: String,
    /// Display name.
    pub display_name: String,
    /// Role.
    #[schema(value_type = String, example = "grid_worker")]
    pub role: Role,
    /// Street.
    #[schema(value_type = Option<String>)]
    pub street: Option<StreetId>,
    /// Community.
    #[schema(value_type = Option<String>)]
    pub community: Option<CommunityId>,
    /// Grid.
    #[schema(value_type = Option<String>)]
    pub grid: Option<GridId>,
    /// Liaison group.
    #[schema(value_type = Option<String>)]
    pub liaison_group: Option<LiaisonGroupId>,
}

/// The client's view of a user, with the places above theirs looked up.
pub async fn user_view(db: &Db, user: &UserRow) -> Result<UserView, sqlx::Error> {
    let mut community = user.community.clone();
    if community.is_none()
        && let Some(grid) = &user.grid
    {
        community = places::community_of_grid(db, grid).await?;
    }
    let mut street = user.street.clone();
    if street.is_none()
        && let Some(c) = &community
    {
        street = places::street_of_community(db, c).await?;
    }
    Ok(UserView {
        id: user.id.clone(),
        login: user.login.clone(),
        display_name: user.display_name.clone(),
        role: user.role,
        street,
        community,
        grid: user.grid.clone(),
        liaison_group: user.liaison_group.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_to_salted_argon2id_phc_strings_and_verify() {
        let a = hash_password("correct horse");
        let b = hash_password("correct horse");
        assert!(a.starts_with("$argon2id$v=19$"), "{a}");
        assert_ne!(a, b, "every hash has its own salt");
        assert!(verify_password(&a, "correct horse"));
        assert!(!verify_password(&a, "correct horsE"));
        assert!(!verify_password("not a phc string", "correct horse"));
    }

    #[test]
    fn logins_and_passwords_are_checked() {
        assert!(check_login("wang.li").is_ok());
        assert!(check_login("王丽").is_ok());
        assert!(check_login("").is_err());
        assert!(check_login("wang li").is_err());
        assert!(check_login("wang\u{7}").is_err());
        assert!(check_login(&"x".repeat(65)).is_err());
        let check = |p| crate::auth::passwords::check_new("wang", p);
        assert!(check("1234567").is_err());
        assert!(check("12345678").is_err(), "a common password");
        assert!(check("12345679x").is_ok());
        // Characters, not bytes: eight Chinese characters are enough.
        assert!(check("八个汉字的密码好").is_ok());
    }

    #[test]
    fn new_user_debug_hides_the_password() {
        let new = NewUser {
            login: "wang".into(),
            display_name: "王".into(),
            password: "s3cret-password".into(),
            role: Role::GridWorker,
            street: None,
            community: None,
            grid: None,
            liaison_group: None,
        };
        assert!(!format!("{new:?}").contains("s3cret"));
    }
}
