//! Refresh tokens: long-lived, opaque, single use.
//!
//! A refresh token is 32 random bytes, base64url without padding. The server stores only its
//! SHA-256 (hex), bound to the user, the device and a *family*: every token descending by
//! rotation from one sign-in. Each refresh marks the presented token rotated and issues its
//! successor in the same family. A rotated token presented again means two parties hold the
//! family (one of them stole a token), so the whole family is revoked and both must sign in
//! again.
//!
//! One exception keeps phones on poor networks signed in: a phone whose refresh response was
//! lost retries with the token it still holds. Within [`REUSE_LEEWAY_MS`] of the rotation, and
//! only while the successor issued then has never been used, the retry is answered with a new
//! successor and the unused one is revoked. Outside that window, or once the successor has
//! been used, reuse revokes the family as above.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use sync_core::ids::{DeviceId, UserId};

use crate::db::users::{self, RefreshTokenRow, UserRow};
use crate::db::{Db, now_millis};

/// How long after a rotation a retry with the rotated token is taken for a lost response.
pub const REUSE_LEEWAY_MS: i64 = 30_000;

/// A freshly made refresh token: the text for the client and the hash for the database.
#[derive(Clone, PartialEq, Eq)]
pub struct NewToken {
    /// The token as given to the client (43 characters).
    pub token: String,
    /// Its SHA-256, lowercase hex.
    pub hash: String,
}

impl std::fmt::Debug for NewToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewToken")
            .field("token", &"<redacted>")
            .field("hash", &self.hash)
            .finish()
    }
}

/// Makes a token from 32 random bytes.
pub fn generate() -> NewToken {
    let bytes: [u8; 32] = rand::random();
    let token = URL_SAFE_NO_PAD.encode(bytes);
    NewToken {
        hash: hash_token(&token),
        token,
    }
}

/// The stored form of a token: SHA-256 of its text, lowercase hex. (A fast hash suffices:
/// the token has 256 bits of entropy, so there is nothing to brute-force.)
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn expiry(now: i64, ttl: Duration) -> i64 {
    now.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX))
}

/// Starts a new family (a sign-in) for a user's device and returns its first token.
pub async fn issue(
    db: &Db,
    user: &UserId,
    device: &DeviceId,
    ttl: Duration,
) -> Result<String, sqlx::Error> {
    let new = generate();
    let now = now_millis();
    users::insert_refresh_token(
        db,
        &RefreshTokenRow {
            token_hash: new.hash,
            family: uuid::Uuid::now_v7().to_string(),
            device: device.clone(),
            user: user.clone(),
            issued_at: now,
            expires_at: expiry(now, ttl),
            rotated_at: None,
            revoked_at: None,
        },
    )
    .await?;
    Ok(new.token)
}

/// Why a refresh was refused. Every variant but `Database` is a 401 for the client.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// No such token.
    #[error("unknown refresh token")]
    Unknown,
    /// Past its lifetime.
    #[error("the refresh token has expired")]
    Expired,
    /// Revoked by sign-out, device revocation or detected reuse.
    #[error("the refresh token has been revoked")]
    Revoked,
    /// The token had been rotated already: its family is now revoked.
    #[error("the refresh token was already used; sign in again")]
    Reused,
    /// The user is disabled (or gone).
    #[error("the user is disabled")]
    UserDisabled,
    /// The device is revoked (or no longer the user's).
    #[error("the device has been revoked")]
    DeviceRevoked,
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// A successful rotation.
#[derive(Debug)]
pub struct Rotated {
    /// The successor token, for the client.
    pub token: String,
    /// The user it belongs to, as stored now.
    pub user: UserRow,
    /// The device it is bound to.
    pub device: DeviceId,
}

/// Exchanges a refresh token for its successor (same family, fresh lifetime `ttl`).
pub async fn rotate(db: &Db, presented: &str, ttl: Duration) -> Result<Rotated, RefreshError> {
    let stored = users::find_refresh_token(db, &hash_token(presented))
        .await?
        .ok_or(RefreshError::Unknown)?;
    let now = now_millis();
    let retry_of_lost_response = match stored.rotated_at {
        Some(rotated_at) if now - rotated_at <= REUSE_LEEWAY_MS && stored.revoked_at.is_none() => {
            Some(rotated_at)
        }
        Some(_) => {
            revoke_reused_family(db, &stored).await?;
            return Err(RefreshError::Reused);
        }
        None => None,
    };
    if stored.revoked_at.is_some() {
        return Err(RefreshError::Revoked);
    }
    if stored.expires_at <= now {
        return Err(RefreshError::Expired);
    }
    let user = users::get_user(db, &stored.user)
        .await?
        .filter(|u| !u.disabled)
        .ok_or(RefreshError::UserDisabled)?;
    users::get_device(db, &stored.device)
        .await?
        .filter(|d| !d.revoked && d.user == stored.user)
        .ok_or(RefreshError::DeviceRevoked)?;
    let new = generate();
    let successor = RefreshTokenRow {
        token_hash: new.hash,
        family: stored.family.clone(),
        device: stored.device.clone(),
        user: stored.user.clone(),
        issued_at: now,
        expires_at: expiry(now, ttl),
        rotated_at: None,
        revoked_at: None,
    };
    if let Some(rotated_at) = retry_of_lost_response {
        if users::replace_unused_successor(db, &stored.family, rotated_at, &successor).await? {
            tracing::info!(device = %stored.device, "refresh retried after a lost response; reissued");
            return Ok(Rotated {
                token: new.token,
                user,
                device: stored.device,
            });
        }
        // The successor was used already: this is a second holder, not a retry.
        revoke_reused_family(db, &stored).await?;
        return Err(RefreshError::Reused);
    }
    if !users::rotate_refresh_token(db, &stored.token_hash, &successor).await? {
        // Rotated or revoked between the read and the write: a concurrent use of one token.
        let latest = users::find_refresh_token(db, &stored.token_hash).await?;
        return Err(match latest {
            Some(t) if t.rotated_at.is_some() => {
                revoke_reused_family(db, &t).await?;
                RefreshError::Reused
            }
            _ => RefreshError::Revoked,
        });
    }
    Ok(Rotated {
        token: new.token,
        user,
        device: stored.device,
    })
}

async fn revoke_reused_family(db: &Db, token: &RefreshTokenRow) -> Result<(), sqlx::Error> {
    let revoked = users::revoke_token_family(db, &token.family).await?;
    if revoked > 0 {
        tracing::warn!(
            user = %token.user,
            device = %token.device,
            "a rotated refresh token was presented again; revoked its family"
        );
    }
    Ok(())
}

/// Signs out: revokes the family of a token. Unknown tokens are ignored (sign-out is
/// idempotent and says nothing about which tokens exist).
pub async fn revoke_family_of(db: &Db, presented: &str) -> Result<(), sqlx::Error> {
    if let Some(stored) = users::find_refresh_token(db, &hash_token(presented)).await? {
        users::revoke_token_family(db, &stored.family).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_32_random_bytes_in_base64url_and_stored_as_sha256_hex() {
        let a = generate();
        let b = generate();
        assert_ne!(a.token, b.token);
        assert_eq!(a.token.len(), 43);
        assert_eq!(URL_SAFE_NO_PAD.decode(&a.token).unwrap().len(), 32);
        assert!(!a.token.contains(['=', '+', '/']));
        assert_eq!(a.hash, hash_token(&a.token));
        assert_eq!(a.hash.len(), 64);
        assert!(!format!("{a:?}").contains(&a.token));
        // The known SHA-256 of "abc".
        assert_eq!(
            hash_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
