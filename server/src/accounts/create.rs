//! Creating a user: one function for the CLI, the admin API and the demo loader, which check
//! the login, the display name, the password and the role's place the same way.

use serde::Deserialize;
use sync_core::ids::{CommunityId, DepartmentId, GridId, LiaisonGroupId, StreetId, UserId};
use sync_core::record::Role;

use super::{MAX_DISPLAY_NAME_CHARS, MAX_LOGIN_CHARS, PasswordProblem, hash_password_blocking};
use crate::db::users::{self, UserRow};
use crate::db::{Db, places};
use crate::error::ApiError;

/// A user to create: the body of `POST /v1/admin/users`, and what the CLI and the demo loader
/// give. Its `Debug` hides the password.
#[derive(Clone, Deserialize, utoipa::ToSchema)]
#[schema(as = CreateUserRequest)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// Login name: 1 to 64 characters, no whitespace or control characters. Unique.
    #[schema(
        pattern = "^[^\\s\\x00-\\x1f\\x7f-\\x9f]{1,64}$",
        min_length = 1,
        max_length = 64
    )]
    pub login: String,
    /// Name shown to people (1 to 100 characters, trimmed).
    #[schema(min_length = 1, max_length = 100)]
    pub display_name: String,
    /// Initial password (8 to 1024 characters, not the login, not a common password).
    #[schema(min_length = 8, max_length = 1024)]
    pub password: String,
    /// Role.
    #[schema(schema_with = role_schema, example = "grid_worker")]
    pub role: Role,
    /// Street: required for street supervisors and admins; for other roles, optional and
    /// checked against the hierarchy.
    #[serde(default)]
    #[schema(schema_with = crate::openapi::values::code_or_null)]
    pub street: Option<StreetId>,
    /// Community: required for community supervisors; for grid workers and liaisons,
    /// optional and checked against the hierarchy.
    #[serde(default)]
    #[schema(schema_with = crate::openapi::values::code_or_null)]
    pub community: Option<CommunityId>,
    /// Grid: required for grid workers and liaisons.
    #[serde(default)]
    #[schema(schema_with = crate::openapi::values::code_or_null)]
    pub grid: Option<GridId>,
    /// Department: required for department staff (with their street), refused for everyone
    /// else.
    #[serde(default)]
    #[schema(schema_with = crate::openapi::values::code_or_null)]
    pub department: Option<DepartmentId>,
    /// Liaison group: required for liaisons, refused for everyone else.
    #[serde(default)]
    #[schema(schema_with = crate::openapi::values::code_or_null)]
    pub liaison_group: Option<LiaisonGroupId>,
}

fn role_schema() -> utoipa::openapi::Object {
    crate::openapi::values::one_of_labels(Role::LABELS)
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
            .field("department", &self.department)
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

/// The answer to a failed creation through the API: 409 `conflict` for a taken login; 422
/// with `invalid_login`, `invalid_display_name`, `weak_password`, `password_is_login`,
/// `common_password`, `missing_place`, `unexpected_place`, `unknown_place` or
/// `place_mismatch` otherwise.
impl From<CreateUserError> for ApiError {
    fn from(e: CreateUserError) -> Self {
        let code = match e {
            CreateUserError::LoginTaken => return ApiError::conflict("conflict", e.to_string()),
            CreateUserError::Database(db) => return db.into(),
            CreateUserError::Hashing => return ApiError::internal(e),
            CreateUserError::InvalidLogin => "invalid_login",
            CreateUserError::InvalidDisplayName => "invalid_display_name",
            CreateUserError::Password(p) => p.code(),
            CreateUserError::InvalidPasswordHash => "invalid_password_hash",
            CreateUserError::MissingPlace { .. } => "missing_place",
            CreateUserError::UnexpectedPlace { .. } => "unexpected_place",
            CreateUserError::UnknownPlace { .. } => "unknown_place",
            CreateUserError::PlaceMismatch { .. } => "place_mismatch",
        };
        ApiError::unprocessable(code, e.to_string())
    }
}

/// Creates a user: validates the login, name, password and the role's place, hashes the
/// password (on a blocking thread) and stores the user.
pub async fn create_user(db: &Db, new: NewUser) -> Result<UserRow, CreateUserError> {
    crate::auth::passwords::check_new(&new.login, &new.password)?;
    let row = prepare(db, &new).await?;
    let hash = hash_password_blocking(&new.password)
        .await
        .ok_or(CreateUserError::Hashing)?;
    store(db, row, hash).await
}

/// Like [`create_user`] with a password hashed beforehand by [`super::hash_password`] (the
/// demo loader hashes once for thousands of users); `new.password` is ignored.
pub async fn create_user_with_hash(
    db: &Db,
    new: NewUser,
    password_hash: &str,
) -> Result<UserRow, CreateUserError> {
    argon2::PasswordHash::new(password_hash).map_err(|_| CreateUserError::InvalidPasswordHash)?;
    let row = prepare(db, &new).await?;
    store(db, row, password_hash.to_owned()).await
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
        department: place.department,
        disabled: false,
        must_change_password: false,
    })
}

/// Stores a prepared row with its password hash.
async fn store(db: &Db, row: UserRow, password_hash: String) -> Result<UserRow, CreateUserError> {
    let row = UserRow {
        password_hash,
        ..row
    };
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

/// The place a user stores: the one of their role's level (and a liaison's group).
#[derive(Debug, Default)]
struct StoredPlace {
    street: Option<StreetId>,
    community: Option<CommunityId>,
    grid: Option<GridId>,
    liaison_group: Option<LiaisonGroupId>,
    department: Option<DepartmentId>,
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
    match role {
        Role::Department if new.department.is_none() => return Err(missing("department")),
        Role::Department => {}
        _ if new.department.is_some() => return Err(unexpected("department")),
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
        Role::Department => {
            if new.grid.is_some() {
                return Err(unexpected("grid"));
            }
            if new.community.is_some() {
                return Err(unexpected("community"));
            }
            let department = new
                .department
                .clone()
                .ok_or_else(|| missing("department"))?;
            let street = places::street_of_department(db, &department).await?.ok_or(
                CreateUserError::UnknownPlace {
                    place: "department",
                },
            )?;
            if new.street.as_ref().is_some_and(|s| *s != street) {
                return Err(CreateUserError::PlaceMismatch { place: "street" });
            }
            place.street = Some(street);
            place.department = Some(department);
            None
        }
        Role::County => {
            // The whole county: no place of its own.
            for (given, place) in [
                (new.grid.is_some(), "grid"),
                (new.community.is_some(), "community"),
                (new.street.is_some(), "street"),
            ] {
                if given {
                    return Err(unexpected(place));
                }
            }
            None
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

#[cfg(test)]
mod tests {
    use super::*;

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
            department: None,
        };
        assert!(!format!("{new:?}").contains("s3cret"));
    }
}
