//! The rules a new password must meet: 8 to 1024 characters, not the login, and not one of the
//! most common passwords.
//!
//! `common-passwords.txt` (shipped in the binary) holds the 10,000 most frequent passwords of at
//! least 8 characters (shorter ones are refused by the length rule anyway), most frequent
//! first, one per line, lowercase. Provenance: the `passwords` frequency list of the `zxcvbn`
//! package 4.5.0 on PyPI (`zxcvbn/frequency_lists.py`, MIT licence, Copyright (c) 2016 Daniel
//! Wolf; the list itself is ranked from Mark Burnett's 10 million leaked passwords via Xato), of
//! which the first 10,000 entries of 8 or more characters were kept, in their order.
//!
//! Both checks are case-insensitive: `Password1` is as common as `password1`.

use std::collections::HashSet;
use std::sync::LazyLock;

/// Shortest accepted password, in characters.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest accepted password, in characters (hashing cost grows with length).
pub const MAX_PASSWORD_CHARS: usize = 1024;

static COMMON: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("common-passwords.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect()
});

/// Why a new password is refused. Messages never repeat the password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PasswordProblem {
    /// Too short or too long.
    #[error("the password must be 8 to 1024 characters")]
    Length,
    /// The same as the login (ignoring case).
    #[error("the password must not be the login")]
    SameAsLogin,
    /// On the list of common passwords.
    #[error("the password is one of the most common passwords; choose another")]
    Common,
}

impl PasswordProblem {
    /// The error code clients see (422).
    pub fn code(self) -> &'static str {
        match self {
            Self::Length => "weak_password",
            Self::SameAsLogin => "password_is_login",
            Self::Common => "common_password",
        }
    }
}

/// Is this password on the common-password list (ignoring case)?
pub fn is_common(password: &str) -> bool {
    COMMON.contains(password.to_lowercase().as_str())
}

/// Checks a new password for the user with this login.
pub fn check_new(login: &str, password: &str) -> Result<(), PasswordProblem> {
    let chars = password.chars().count();
    if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&chars) {
        return Err(PasswordProblem::Length);
    }
    if password.to_lowercase() == login.to_lowercase() {
        return Err(PasswordProblem::SameAsLogin);
    }
    if is_common(password) {
        return Err(PasswordProblem::Common);
    }
    Ok(())
}

/// A random password for an administrator's reset: 16 characters from an alphabet without
/// look-alikes (about 90 bits), meant to be changed at the next sign-in.
pub fn generate_temporary() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    (0..16)
        .map(|_| {
            let i = rand::random_range(0..ALPHABET.len());
            char::from(ALPHABET[i])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_holds_ten_thousand_lowercase_passwords_of_eight_or_more_characters() {
        assert_eq!(COMMON.len(), 10_000);
        assert!(
            COMMON
                .iter()
                .all(|p| p.chars().count() >= MIN_PASSWORD_CHARS)
        );
        assert!(COMMON.iter().all(|p| *p == p.to_lowercase()));
    }

    #[test]
    fn common_passwords_and_the_login_are_refused_ignoring_case() {
        for common in [
            "password",
            "Password1",
            "12345678",
            "QWERTYUIOP",
            "iloveyou",
            "1qaz2wsx",
        ] {
            assert_eq!(
                check_new("wang", common),
                Err(PasswordProblem::Common),
                "{common}"
            );
        }
        assert_eq!(
            check_new("Wang.Li-2024", "wang.li-2024"),
            Err(PasswordProblem::SameAsLogin)
        );
        assert_eq!(check_new("wang", "short"), Err(PasswordProblem::Length));
        assert_eq!(
            check_new("wang", &"x".repeat(1025)),
            Err(PasswordProblem::Length)
        );
        assert_eq!(check_new("wang", "correct horse battery"), Ok(()));
        assert_eq!(check_new("wang", "八个汉字的密码好"), Ok(()));
        assert!(!PasswordProblem::Common.to_string().contains("password1"));
    }

    #[test]
    fn temporary_passwords_are_random_and_pass_the_rules() {
        let a = generate_temporary();
        assert_eq!(a.len(), 16);
        assert_ne!(a, generate_temporary());
        assert_eq!(check_new("wang", &a), Ok(()));
    }
}
