//! Accounts: users and their passwords, for the CLI, the API and the demo loader.
//!
//! * [`create`]: creating a user (login, name, password and the role's place checked).
//! * [`password`]: a user changing their password, an administrator resetting one.
//! * [`admin`]: an administrator's actions on users through the API, each audited.
//! * here: hashing and checking passwords, and the user as clients see it ([`UserView`]).
//!
//! Passwords are hashed with argon2id and the crate's default parameters, stored as PHC
//! strings (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`), so parameters can change later
//! without invalidating stored hashes: verification reads them from the string.
//!
//! A user stores only the place of their role's level (a grid worker's grid, a community
//! supervisor's community, ...); the places above it are looked up when the user is shown
//! ([`user_view`]), so moving a grid or a community never leaves stale copies behind.

pub mod admin;
pub mod create;
pub mod password;

use std::sync::LazyLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use serde::Serialize;
use sync_core::ids::{CommunityId, DepartmentId, GridId, LiaisonGroupId, StreetId, UserId};
use sync_core::record::Role;

use crate::db::users::UserRow;
use crate::db::{Db, places};
use crate::records::work::WorkGate;

pub use crate::auth::passwords::{MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS, PasswordProblem};
pub use create::{CreateUserError, NewUser, create_user, create_user_with_hash};
pub use password::{ResetPasswordError, reset_password};

/// Longest login name, in characters.
pub const MAX_LOGIN_CHARS: usize = 64;
/// Longest display name, in characters.
pub const MAX_DISPLAY_NAME_CHARS: usize = 100;

/// Hashes a password with argon2id (default parameters, random 16-byte salt) into a PHC
/// string. CPU-heavy (tens of milliseconds in release builds): call it on a blocking thread
/// from async code ([`hash_password_blocking`]).
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

/// How many password hashes run at once in this process: one per CPU. Each argon2id hash
/// holds its 19 MiB memory block while it runs, and every sign-in runs one (an unknown login
/// too), so without a bound a burst of sign-ins held one block per waiting blocking thread:
/// 1,000 phones signing in at once across three nodes lifted a node past 400 MiB
/// (docs/BENCHMARKS.md, W6), and a flood of sign-ins could exhaust the memory. A sign-in past
/// the bound waits its turn; more CPUs would not finish the hashes sooner anyway.
pub fn password_work_limit() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// Runs password work (`f`, CPU- and memory-heavy) on a blocking thread once one of the
/// [`password_work_limit`] places is free; `None` if the thread failed.
async fn password_work<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    static PASSWORDS: LazyLock<WorkGate> = LazyLock::new(|| WorkGate::new(password_work_limit()));
    PASSWORDS.run(f).await.ok()
}

/// Hashes a password on a blocking thread, at most [`password_work_limit`] at a time; `None`
/// if the thread failed.
pub async fn hash_password_blocking(password: &str) -> Option<String> {
    let password = password.to_owned();
    password_work(move || hash_password(&password)).await
}

/// Verifies a password on a blocking thread, at most [`password_work_limit`] at a time (false
/// if the thread failed).
pub async fn verify_password_blocking(password_hash: &str, password: &str) -> bool {
    let (hash, password) = (password_hash.to_owned(), password.to_owned());
    password_work(move || verify_password(&hash, &password))
        .await
        .unwrap_or(false)
}

/// Checks a sign-in's password against the user's hash, or, for an unknown login, against a
/// fixed dummy hash, so both take the same time and an observer cannot tell which logins
/// exist. Runs on a blocking thread.
pub async fn verify_login_password(user: Option<&UserRow>, password: &str) -> bool {
    static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| hash_password("gridbook: no such user"));
    let hash = user.map_or(DUMMY_HASH.as_str(), |u| u.password_hash.as_str());
    verify_password_blocking(hash, password).await && user.is_some()
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
    /// Department (department staff).
    #[schema(value_type = Option<String>)]
    pub department: Option<DepartmentId>,
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
        department: user.department.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A burst of password work never runs more than [`password_work_limit`] hashes at once
    /// (each holds 19 MiB), and every piece of the burst still runs.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn password_work_runs_at_most_one_hash_per_cpu_at_once() {
        let most = crate::records::work::tests::most_at_once(
            8 * password_work_limit() + 3,
            |piece| async move { password_work(piece).await.is_some() },
        )
        .await;
        assert!(
            (1..=password_work_limit()).contains(&most),
            "{most} hashes ran at once, the limit is {}",
            password_work_limit()
        );
    }

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
}
