//! Refresh tokens: long-lived, opaque, single use.
//!
//! A refresh token is 32 random bytes, base64url without padding. The server stores only its
//! SHA-256 (hex), bound to the user, the device and a *family*: every token descending by
//! rotation from one sign-in. Each refresh marks the presented token rotated and issues its
//! successor in the same family. A rotated token presented again means two parties hold the
//! family (one of them stole a token), so the whole family is revoked and both must sign in
//! again.
//!
//! A successor is not random: it is an HMAC of the token it replaces under the JWT signing key
//! ([`crate::auth::jwt::Keys::derive`]), so the server can give the same successor again
//! without keeping it (only its hash is stored, as for every token).
//!
//! That keeps phones on poor networks signed in: a phone whose refresh response was lost
//! retries with the token it still holds. Within [`REUSE_LEEWAY_MS`] of the rotation, only from
//! the device the token was issued to (the request names it), and only while the successor
//! has never been used, the retry is answered with *the same* successor. Someone else
//! replaying a stolen token in that window therefore gets nothing the phone does not also
//! hold: there is never a second live token, and whichever of the two uses the successor
//! second triggers reuse detection. Outside that window, from another (or an unnamed) device,
//! or once the successor has been used, reuse revokes the family as above.
//!
//! A family is a session ([`crate::db::users::start_session`]): revoking the family ends the
//! session, which ends its access tokens at once.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use sync_core::ids::{DeviceId, UserId};

use crate::auth::jwt::Keys;
use crate::db::users::{self, RefreshTokenRow, UserRow};
use crate::db::{Db, now_millis};
use crate::state::AppState;

/// What separates successor derivation from other uses of the keys.
const SUCCESSOR_PURPOSE: &str = "gridbook refresh-token successor v1";

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

/// The successors of a token, one per key (signing key first): the signing key's is issued,
/// the others are recognised on a retry after a key rotation.
fn successors(keys: &Keys, presented: &str) -> Vec<NewToken> {
    keys.derive(SUCCESSOR_PURPOSE, presented.as_bytes())
        .into_iter()
        .map(|bytes| {
            let token = URL_SAFE_NO_PAD.encode(bytes);
            NewToken {
                hash: hash_token(&token),
                token,
            }
        })
        .collect()
}

/// The stored form of a token: SHA-256 of its text, lowercase hex. (A fast hash suffices:
/// the token has 256 bits of entropy, so there is nothing to brute-force.)
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn expiry(now: i64, ttl: Duration) -> i64 {
    now.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX))
}

/// A new session: its id (the family) and its first refresh token.
#[derive(Debug)]
pub struct Issued {
    /// The session id, named by its access tokens.
    pub session: String,
    /// The first refresh token, for the client.
    pub token: String,
}

/// Starts a new session (a sign-in) for a user's device and returns its first token.
pub async fn issue(
    db: &Db,
    user: &UserId,
    device: &DeviceId,
    ttl: Duration,
) -> Result<Issued, sqlx::Error> {
    let new = generate();
    let now = now_millis();
    let session = uuid::Uuid::now_v7().to_string();
    users::start_session(
        db,
        &RefreshTokenRow {
            token_hash: new.hash,
            family: session.clone(),
            device: device.clone(),
            user: user.clone(),
            issued_at: now,
            expires_at: expiry(now, ttl),
            rotated_at: None,
            revoked_at: None,
        },
    )
    .await?;
    Ok(Issued {
        session,
        token: new.token,
    })
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
    /// The request named a device other than the token's: the family is revoked.
    #[error("the refresh token belongs to another device; sign in again")]
    WrongDevice,
    /// Another request rotated the token meanwhile (judged again; never returned).
    #[error("the refresh token was rotated concurrently")]
    Raced,
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
    /// The session (family) it belongs to.
    pub session: String,
}

/// Exchanges a refresh token for its successor (same family, a fresh lifetime of the
/// configured refresh TTL).
/// `device` is the device the request says it comes from: a retry after a lost response is
/// only answered when it names the token's own device.
pub async fn rotate(
    app: &AppState,
    presented: &str,
    device: Option<&DeviceId>,
) -> Result<Rotated, RefreshError> {
    match rotate_once(app, presented, device).await {
        Err(RefreshError::Raced) => match rotate_once(app, presented, device).await {
            Err(RefreshError::Raced) => Err(RefreshError::Revoked),
            other => other,
        },
        other => other,
    }
}

async fn rotate_once(
    app: &AppState,
    presented: &str,
    device: Option<&DeviceId>,
) -> Result<Rotated, RefreshError> {
    let (db, keys, ttl) = (&app.db, &app.keys, app.settings.refresh_ttl);
    let stored = users::find_refresh_token(db, &hash_token(presented))
        .await?
        .ok_or(RefreshError::Unknown)?;
    let now = now_millis();
    if device.is_some_and(|d| *d != stored.device) {
        // A token presented by another device than its own is in the wrong hands.
        revoke_reused_family(db, &stored).await?;
        return Err(RefreshError::WrongDevice);
    }
    let retry_of_lost_response = match stored.rotated_at {
        Some(rotated_at)
            if now - rotated_at <= REUSE_LEEWAY_MS
                && stored.revoked_at.is_none()
                && device.is_some() =>
        {
            true
        }
        Some(_) => {
            revoke_reused_family(db, &stored).await?;
            return Err(RefreshError::Reused);
        }
        None => false,
    };
    if stored.revoked_at.is_some() {
        // Revoking a device revokes its tokens; say which, so its phone erases its records.
        let device = users::get_device(db, &stored.device).await?;
        if device.is_some_and(|d| d.revoked && d.user == stored.user) {
            return Err(RefreshError::DeviceRevoked);
        }
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
    let mut candidates = successors(keys, presented);
    if retry_of_lost_response {
        // The same successor as the first time, if it is still unused and live.
        for candidate in candidates {
            let Some(row) = users::find_refresh_token(db, &candidate.hash).await? else {
                continue;
            };
            if row.family == stored.family
                && row.rotated_at.is_none()
                && row.revoked_at.is_none()
                && row.expires_at > now
            {
                tracing::info!(device = %stored.device, "refresh retried after a lost response; the same successor again");
                return Ok(Rotated {
                    token: candidate.token,
                    user,
                    device: stored.device,
                    session: stored.family,
                });
            }
            break;
        }
        // The successor was used already: this is a second holder, not a retry.
        revoke_reused_family(db, &stored).await?;
        return Err(RefreshError::Reused);
    }
    let new = candidates.swap_remove(0);
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
    if !users::rotate_refresh_token(db, &stored.token_hash, &successor).await? {
        // Rotated or revoked between the read and the write: a concurrent use of one token.
        // Judged again on the fresh state: from the token's device within the window that is
        // a retry (the same successor); otherwise reuse.
        return Err(RefreshError::Raced);
    }
    Ok(Rotated {
        token: new.token,
        user,
        device: stored.device,
        session: stored.family,
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

/// Signs out: ends the session of a token (its refresh tokens are revoked, its access tokens
/// refused from now on). Unknown tokens are ignored (sign-out is idempotent and says nothing
/// about which tokens exist).
pub async fn revoke_family_of(db: &Db, presented: &str) -> Result<(), sqlx::Error> {
    if let Some(stored) = users::find_refresh_token(db, &hash_token(presented)).await? {
        users::end_session(db, &stored.family).await?;
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
        // Successors are derived, differ per key, and are tokens of the same shape.
        let keys = Keys::new(&[
            crate::config::JwtKey {
                kid: "k2".into(),
                secret: vec![2; 32],
            },
            crate::config::JwtKey {
                kid: "k1".into(),
                secret: vec![1; 32],
            },
        ])
        .unwrap();
        let next = successors(&keys, &a.token);
        assert_eq!(next, successors(&keys, &a.token));
        assert_ne!(next[0], next[1]);
        assert_ne!(next[0], successors(&keys, &b.token)[0]);
        assert_eq!(next[0].token.len(), 43);
        assert_eq!(next[0].hash, hash_token(&next[0].token));
        // The known SHA-256 of "abc".
        assert_eq!(
            hash_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
