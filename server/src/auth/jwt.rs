//! Access tokens: short-lived HS256 JWTs naming the user, the device and the session (the
//! sign-in they descend from), signed with a key that has an id (`kid`), so keys can rotate
//! without logging everyone out: the first key signs, every configured key verifies.
//!
//! The keys also derive other server secrets ([`Keys::derive`]): a refresh token's successor
//! is an HMAC of the token under the signing key.

use std::collections::HashMap;
use std::time::Duration;

use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use sync_core::ids::{DeviceId, UserId};

use crate::config::JwtKey;

/// Issuer and audience written into every token.
const ISSUER: &str = "gridbook";

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    /// The device id the token was issued to.
    pub dev: String,
    /// The session (refresh-token family) it belongs to: the token dies when the session
    /// ends. Tokens without one are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Issuer (`gridbook`).
    pub iss: String,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Expires at, seconds since the epoch.
    pub exp: i64,
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Past its expiry.
    #[error("the access token has expired")]
    Expired,
    /// Malformed, unknown key, wrong algorithm or bad signature.
    #[error("the access token is invalid")]
    Invalid,
}

/// The verified identity in a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenIdentity {
    /// The user.
    pub user: UserId,
    /// The device.
    pub device: DeviceId,
    /// The session.
    pub session: String,
}

/// The signing key and every verifying key.
pub struct Keys {
    /// Every secret, signing key first (for [`Keys::derive`]).
    secrets: Vec<Vec<u8>>,
    signing_kid: String,
    signing: EncodingKey,
    verifying: HashMap<String, DecodingKey>,
    validation: Validation,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("signing_kid", &self.signing_kid)
            .field("kids", &self.verifying.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Keys {
    /// Keys from a list whose first entry signs. Panics never; an empty list is an error.
    pub fn new(keys: &[JwtKey]) -> Option<Self> {
        let first = keys.first()?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        Some(Self {
            secrets: keys.iter().map(|k| k.secret.clone()).collect(),
            signing_kid: first.kid.clone(),
            signing: EncodingKey::from_secret(&first.secret),
            verifying: keys
                .iter()
                .map(|k| (k.kid.clone(), DecodingKey::from_secret(&k.secret)))
                .collect(),
            validation,
        })
    }

    /// The id of the signing key.
    pub fn signing_kid(&self) -> &str {
        &self.signing_kid
    }

    /// HMAC-SHA256 of `input` under each key, signing key first, with `purpose` as a prefix
    /// that separates the uses. Checking a derived value against every key keeps it valid
    /// across a key rotation.
    pub fn derive(&self, purpose: &str, input: &[u8]) -> Vec<[u8; 32]> {
        self.secrets
            .iter()
            .map(|secret| {
                let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
                    .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
                mac.update(purpose.as_bytes());
                mac.update(&[0]);
                mac.update(input);
                mac.finalize().into_bytes().into()
            })
            .collect()
    }

    /// Issues an access token of a session valid for `ttl`.
    pub fn issue(
        &self,
        user: &UserId,
        device: &DeviceId,
        session: &str,
        ttl: Duration,
    ) -> Result<String, TokenError> {
        let ttl = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 4);
        self.issue_at(user, device, session, 0, ttl)
    }

    /// Issues an access token as if issued `offset_secs` from now (negative: in the past),
    /// valid for `ttl_secs` from then. Tests use it for expired tokens.
    pub fn issue_at(
        &self,
        user: &UserId,
        device: &DeviceId,
        session: &str,
        offset_secs: i64,
        ttl_secs: i64,
    ) -> Result<String, TokenError> {
        let iat = chrono::Utc::now().timestamp().saturating_add(offset_secs);
        let claims = Claims {
            sub: user.to_string(),
            dev: device.to_string(),
            sid: Some(session.to_owned()),
            iss: ISSUER.to_owned(),
            iat,
            exp: iat.saturating_add(ttl_secs),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.signing_kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.signing).map_err(|_| TokenError::Invalid)
    }

    /// Verifies a token: known key id, HS256 only, valid signature, issuer, not expired.
    pub fn verify(&self, token: &str) -> Result<TokenIdentity, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
        if header.alg != Algorithm::HS256 {
            return Err(TokenError::Invalid);
        }
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| self.verifying.get(kid))
            .ok_or(TokenError::Invalid)?;
        let data =
            jsonwebtoken::decode::<Claims>(token, key, &self.validation).map_err(|e| {
                match e.kind() {
                    ErrorKind::ExpiredSignature => TokenError::Expired,
                    _ => TokenError::Invalid,
                }
            })?;
        Ok(TokenIdentity {
            user: data.claims.sub.parse().map_err(|_| TokenError::Invalid)?,
            device: data.claims.dev.parse().map_err(|_| TokenError::Invalid)?,
            session: data.claims.sid.ok_or(TokenError::Invalid)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kid: &str, fill: u8) -> JwtKey {
        JwtKey {
            kid: kid.into(),
            secret: vec![fill; 32],
        }
    }

    #[test]
    fn tokens_verify_across_rotation_and_other_keys_are_refused() {
        let old = Keys::new(&[key("k1", 1)]).unwrap();
        let rotated = Keys::new(&[key("k2", 2), key("k1", 1)]).unwrap();
        let stranger = Keys::new(&[key("k1", 9)]).unwrap();
        let (user, device) = (UserId::new(), DeviceId::new());
        let token = old
            .issue(&user, &device, "s1", Duration::from_secs(60))
            .unwrap();
        let id = rotated.verify(&token).unwrap();
        assert_eq!(
            (id.user, id.device, id.session.as_str()),
            (user, device, "s1")
        );
        assert_eq!(stranger.verify(&token), Err(TokenError::Invalid));
        assert_eq!(old.verify("garbage"), Err(TokenError::Invalid));
    }

    #[test]
    fn unsigned_tokens_are_refused() {
        let keys = Keys::new(&[key("k1", 1)]).unwrap();
        let token = keys
            .issue(
                &UserId::new(),
                &DeviceId::new(),
                "s1",
                Duration::from_secs(60),
            )
            .unwrap();
        let mut parts: Vec<&str> = token.split('.').collect();
        // {"alg":"none","kid":"k1"}
        let none = "eyJhbGciOiJub25lIiwia2lkIjoiazEifQ";
        parts[0] = none;
        parts[2] = "";
        assert_eq!(keys.verify(&parts.join(".")), Err(TokenError::Invalid));
    }

    #[test]
    fn tokens_without_a_session_are_refused() {
        let keys = Keys::new(&[key("k1", 1)]).unwrap();
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: UserId::new().to_string(),
            dev: DeviceId::new().to_string(),
            sid: None,
            iss: ISSUER.into(),
            iat: now,
            exp: now + 60,
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("k1".into());
        let token =
            jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(&[1; 32])).unwrap();
        assert_eq!(keys.verify(&token), Err(TokenError::Invalid));
    }

    #[test]
    fn derived_values_differ_by_key_and_purpose_and_survive_rotation() {
        let old = Keys::new(&[key("k1", 1)]).unwrap();
        let rotated = Keys::new(&[key("k2", 2), key("k1", 1)]).unwrap();
        let a = old.derive("refresh", b"token");
        let b = rotated.derive("refresh", b"token");
        assert_eq!(a.len(), 1);
        assert_eq!(b.len(), 2);
        assert_ne!(b[0], a[0]);
        assert_eq!(b[1], a[0]);
        assert_ne!(old.derive("other", b"token")[0], a[0]);
    }
}
