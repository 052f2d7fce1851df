//! Settings: defaults that run out of the box, overridden by environment variables and flags.
//!
//! This is the only module that reads the environment (through clap's `env` attributes).
//! Secrets are never printed: `Debug` of [`Settings`] redacts them.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Where the data lives.
#[derive(clap::Args, Clone)]
pub struct DatabaseArgs {
    /// Database URL: `sqlite://FILE` (created if missing) or `postgres://...`.
    #[arg(
        long,
        env = "GRIDBOOK_DATABASE_URL",
        default_value = "sqlite://gridbook.db",
        hide_env_values = true
    )]
    pub database_url: String,
}

impl fmt::Debug for DatabaseArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseArgs")
            .field("database_url", &redact_url(&self.database_url))
            .finish()
    }
}

/// A database URL with its password (in the user part or a `password=` parameter) replaced
/// by `***`, for logs and debug output.
pub fn redact_url(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some(scheme_end) = out.find("://") {
        let rest = scheme_end + 3;
        let authority_end = out[rest..].find(['/', '?']).map_or(out.len(), |i| rest + i);
        if let Some(at) = out[rest..authority_end].rfind('@') {
            let at = rest + at;
            if let Some(colon) = out[rest..at].find(':') {
                out.replace_range(rest + colon + 1..at, "***");
            }
        }
    }
    if let Some(query_start) = out.find('?') {
        let (head, query) = out.split_at(query_start + 1);
        let query: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        out = format!("{head}{}", query.join("&"));
    }
    out
}

/// How to log.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Flags of `gridbook serve`.
#[derive(clap::Args, Debug, Clone)]
pub struct ServeArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Address to listen on.
    #[arg(long, env = "GRIDBOOK_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// JWT signing keys as `kid=secret[,kid=secret...]`; the first signs, all verify. A secret
    /// is at least 32 bytes: text, or `base64url:` and its bytes in unpadded base64url. Without
    /// it the keys come from the key file (`--jwt-key-file`).
    #[arg(long, env = "GRIDBOOK_JWT_KEYS", hide_env_values = true)]
    pub jwt_keys: Option<String>,
    /// The key file, used when `GRIDBOOK_JWT_KEYS` is not set: one `kid=secret` per line, the
    /// first signs. Created (mode 0600) with a new random key if missing; refused if group or
    /// others may read it. Default: beside the SQLite file (`gridbook.db` → `gridbook.jwt-keys`),
    /// or `gridbook.jwt-keys` in the working folder for PostgreSQL.
    #[arg(long, env = "GRIDBOOK_JWT_KEY_FILE")]
    pub jwt_key_file: Option<PathBuf>,
    /// Lifetime of access tokens, in seconds.
    #[arg(long, env = "GRIDBOOK_ACCESS_TTL_SECS", default_value_t = 900)]
    pub access_ttl_secs: u64,
    /// Lifetime of refresh tokens, in days.
    #[arg(long, env = "GRIDBOOK_REFRESH_TTL_DAYS", default_value_t = 30)]
    pub refresh_ttl_days: u64,
    /// Largest request body accepted, in bytes, after decompression.
    #[arg(long, env = "GRIDBOOK_MAX_BODY_BYTES", default_value_t = 32 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// How many documents the in-memory cache holds.
    #[arg(long, env = "GRIDBOOK_DOC_CACHE", default_value_t = 4096)]
    pub doc_cache: usize,
    /// Log format.
    #[arg(long, env = "GRIDBOOK_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Load the demo street (Heping Street) first if the database has no places yet.
    #[arg(long)]
    pub demo: bool,
    /// Fault injection for tests: hold every writing sync transaction this long after it took
    /// its sequence numbers, before it commits. Never set in production.
    #[arg(long, env = "GRIDBOOK_FAULT_HOLD_WRITE_MS", hide = true)]
    pub fault_hold_write_ms: Option<u64>,
}

/// A JWT key: its id (the `kid` header) and secret.
#[derive(Clone, PartialEq, Eq)]
pub struct JwtKey {
    /// Key id.
    pub kid: String,
    /// HMAC secret.
    pub secret: Vec<u8>,
}

impl fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JwtKey({}, <redacted>)", self.kid)
    }
}

/// The server's settings. `Debug` redacts the database password and the JWT secrets.
#[derive(Clone)]
pub struct Settings {
    /// Database URL.
    pub database_url: String,
    /// Listening address.
    pub listen: SocketAddr,
    /// Configured JWT keys, signing key first; empty means "read (or create) the key file".
    pub jwt_keys: Vec<JwtKey>,
    /// The key file; `None` means the default next to the database (see
    /// [`crate::auth::keyfile::path_for`]).
    pub jwt_key_file: Option<PathBuf>,
    /// Access token lifetime.
    pub access_ttl: Duration,
    /// Refresh token lifetime.
    pub refresh_ttl: Duration,
    /// Body size limit.
    pub max_body_bytes: usize,
    /// Document cache capacity.
    pub doc_cache: usize,
    /// Fault injection for tests (see `ServeArgs::fault_hold_write_ms`).
    pub fault_hold_write: Option<Duration>,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("database_url", &redact_url(&self.database_url))
            .field("listen", &self.listen)
            .field("jwt_keys", &self.jwt_keys)
            .field("jwt_key_file", &self.jwt_key_file)
            .field("access_ttl", &self.access_ttl)
            .field("refresh_ttl", &self.refresh_ttl)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("doc_cache", &self.doc_cache)
            .field("fault_hold_write", &self.fault_hold_write)
            .finish()
    }
}

impl Settings {
    /// Settings for a test or an embedding program: everything default but the database.
    pub fn for_database(database_url: impl Into<String>) -> Self {
        Self {
            database_url: database_url.into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            jwt_keys: Vec::new(),
            jwt_key_file: None,
            access_ttl: Duration::from_secs(900),
            refresh_ttl: Duration::from_secs(30 * 86_400),
            max_body_bytes: 32 * 1024 * 1024,
            doc_cache: 4096,
            fault_hold_write: None,
        }
    }
}

/// A malformed setting.
#[derive(Debug, thiserror::Error)]
#[error("invalid setting {name}: {reason}")]
pub struct SettingError {
    name: &'static str,
    reason: &'static str,
}

impl TryFrom<&ServeArgs> for Settings {
    type Error = SettingError;

    fn try_from(args: &ServeArgs) -> Result<Self, Self::Error> {
        let jwt_keys = match &args.jwt_keys {
            None => Vec::new(),
            Some(text) => parse_jwt_keys(text)?,
        };
        if args.doc_cache == 0 {
            return Err(SettingError {
                name: "doc_cache",
                reason: "must be at least 1",
            });
        }
        Ok(Self {
            database_url: args.database.database_url.clone(),
            listen: args.listen,
            jwt_keys,
            jwt_key_file: args.jwt_key_file.clone(),
            access_ttl: Duration::from_secs(args.access_ttl_secs.max(1)),
            refresh_ttl: Duration::from_secs(args.refresh_ttl_days.max(1) * 86_400),
            max_body_bytes: args.max_body_bytes,
            doc_cache: args.doc_cache,
            fault_hold_write: args.fault_hold_write_ms.map(Duration::from_millis),
        })
    }
}

/// The shortest signing secret accepted, in bytes (HS256 wants at least its output size).
pub const MIN_JWT_SECRET_BYTES: usize = 32;

/// The prefix of a secret given as unpadded base64url bytes rather than as text.
pub const BASE64URL_SECRET: &str = "base64url:";

/// Parses `kid=secret,kid=secret`; secrets must be at least 32 bytes.
pub fn parse_jwt_keys(text: &str) -> Result<Vec<JwtKey>, SettingError> {
    parse_key_entries(text.split(','), "GRIDBOOK_JWT_KEYS")
}

/// Parses `kid=secret` entries (blank entries and `#` comments skipped), the first signing.
/// A secret is text, or [`BASE64URL_SECRET`] followed by its bytes; either way at least
/// [`MIN_JWT_SECRET_BYTES`] bytes.
pub fn parse_key_entries<'a>(
    entries: impl Iterator<Item = &'a str>,
    name: &'static str,
) -> Result<Vec<JwtKey>, SettingError> {
    let bad = |reason| SettingError { name, reason };
    let mut keys: Vec<JwtKey> = Vec::new();
    for part in entries
        .map(str::trim)
        .filter(|p| !p.is_empty() && !p.starts_with('#'))
    {
        let (kid, secret) = part.split_once('=').ok_or(bad("expected kid=secret"))?;
        let kid = kid.trim();
        if kid.is_empty() {
            return Err(bad("empty key id"));
        }
        let secret = match secret.strip_prefix(BASE64URL_SECRET) {
            Some(encoded) => URL_SAFE_NO_PAD
                .decode(encoded.trim())
                .map_err(|_| bad("a base64url: secret does not decode"))?,
            None => secret.as_bytes().to_vec(),
        };
        if secret.len() < MIN_JWT_SECRET_BYTES {
            return Err(bad("secrets must be at least 32 bytes"));
        }
        if keys.iter().any(|k| k.kid == kid) {
            return Err(bad("a key id appears twice"));
        }
        keys.push(JwtKey {
            kid: kid.to_owned(),
            secret,
        });
    }
    if keys.is_empty() {
        return Err(bad("no keys given"));
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwt_keys_parse_and_debug_hides_secrets() {
        let keys = parse_jwt_keys(
            "k2=0123456789abcdef0123456789abcdef, k1=abcdefghijabcdefghijabcdefghijab",
        )
        .unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0].kid, "k2");
        assert!(!format!("{keys:?}").contains("0123456789"));
        assert!(parse_jwt_keys("short=abc").is_err());
        // 31 bytes are too few, as text or as base64url bytes; 32 are enough.
        assert!(parse_jwt_keys(&format!("k={}", "x".repeat(31))).is_err());
        let b64 = |n: usize| format!("k=base64url:{}", URL_SAFE_NO_PAD.encode(vec![7u8; n]));
        assert!(parse_jwt_keys(&b64(31)).is_err());
        assert_eq!(parse_jwt_keys(&b64(32)).unwrap()[0].secret, vec![7u8; 32]);
        assert!(parse_jwt_keys("k=base64url:!!not base64!!").is_err());
        let twice = format!("k={0},k={0}", "y".repeat(32));
        assert!(parse_jwt_keys(&twice).is_err());
        assert!(parse_jwt_keys("nokey").is_err());
    }

    #[test]
    fn database_passwords_are_redacted_in_debug_output() {
        for (url, shown) in [
            (
                "postgres://gridbook:s3cret-pw@db.local:5432/gridbook",
                "postgres://gridbook:***@db.local:5432/gridbook",
            ),
            (
                "postgres://db.local/gridbook?user=g&password=s3cret-pw&sslmode=require",
                "postgres://db.local/gridbook?user=g&password=***&sslmode=require",
            ),
            (
                "postgres://gridbook@127.0.0.1/x",
                "postgres://gridbook@127.0.0.1/x",
            ),
            ("sqlite://gridbook.db", "sqlite://gridbook.db"),
        ] {
            assert_eq!(redact_url(url), shown);
            let settings = Settings::for_database(url);
            let debug = format!("{settings:?}");
            assert!(!debug.contains("s3cret-pw"), "{debug}");
            assert!(debug.contains(shown), "{debug}");
            let args = DatabaseArgs {
                database_url: url.to_owned(),
            };
            assert!(!format!("{args:?}").contains("s3cret-pw"));
        }
    }
}
