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
use sync_core::ids::{CommunityId, DepartmentId, GridId, LiaisonGroupId, StreetId};
use sync_core::record::Role;

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

/// Default lifetime of access tokens, in seconds.
pub const DEFAULT_ACCESS_TTL_SECS: u64 = 900;
/// Default lifetime of refresh tokens, in days.
pub const DEFAULT_REFRESH_TTL_DAYS: u64 = 30;
/// Default largest request body after decompression (`POST /v1/sync`; other routes take
/// less, see `crate::routes`).
pub const DEFAULT_MAX_BODY_BYTES: usize = 32 * 1024 * 1024;
/// Default capacity of the record cache, in records.
pub const DEFAULT_DOC_CACHE: usize = 4096;
/// Default capacity of the record cache, in MiB of the records' estimated heap
/// (`crate::cache::weight`): a node's cache stays within it whatever the records' sizes.
pub const DEFAULT_DOC_CACHE_MIB: usize = 64;
/// Days an archived household's private document is kept before it is erased.
pub const DEFAULT_ARCHIVE_RETENTION_DAYS: u64 = 30;
/// Where the monthly report's PDF font is looked for, in order, when `GRIDBOOK_REPORT_FONT`
/// is not set: Noto Sans CJK (Debian's `fonts-noto-cjk`), WenQuanYi, then macOS and Windows.
pub const DEFAULT_REPORT_FONTS: &[&str] = &[
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/System/Library/Fonts/PingFang.ttc",
    "C:\\Windows\\Fonts\\msyh.ttc",
];
/// Largest photo or file accepted (`PUT /v1/blobs/{sha256}`), in bytes; at most
/// [`sync_core::models::attachment::MAX_BLOB_BYTES`]. Phones downscale photos to well under a
/// megabyte, so 20 MiB leaves room for scanned documents.
pub const DEFAULT_MAX_BLOB_BYTES: u64 = 20 * 1024 * 1024;
/// Days a blob no record references any more (and an upload left unfinished) is kept before it
/// is deleted.
pub const DEFAULT_BLOB_GRACE_DAYS: u64 = 7;
/// The blob folder for PostgreSQL deployments when none is configured (SQLite keeps it beside
/// the database file).
pub const DEFAULT_BLOB_DIR: &str = "gridbook-blobs";
/// Default longest time a request's headers may take to arrive, from their first byte.
pub const DEFAULT_HEADER_READ_TIMEOUT_SECS: u64 = 10;
/// Default longest time a connection may stay open with no request in progress.
pub const DEFAULT_IDLE_TIMEOUT_SECS: u64 = 60;
/// Default time a stop waits for requests in progress before closing their connections.
pub const DEFAULT_SHUTDOWN_GRACE_SECS: u64 = 10;
/// The most connections the derived default of `max_connections` allows.
pub const MAX_CONNECTIONS_CEILING: usize = 4096;
/// File descriptors the derived default of `max_connections` leaves for everything else:
/// the database pool (up to 16 connections; a SQLite connection holds three files), the
/// listener, logs, the runtime's own descriptors, files opened while serving, and connections
/// closed to make room that are still closing (at most `net::CLOSING_SLACK`). The server uses
/// about 20 at rest.
pub const RESERVED_FILES: u64 = 128;

/// Flags of `gridbook backup`.
#[derive(clap::Args, Debug)]
pub struct BackupArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// The blob folder, when not the default beside the database.
    #[arg(long, env = "GRIDBOOK_BLOB_DIR")]
    pub blob_dir: Option<PathBuf>,
    /// Where to write the backup (a new file).
    pub file: PathBuf,
}

/// The shortest metrics token accepted.
pub const MIN_METRICS_TOKEN_CHARS: usize = 24;

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
    #[arg(long, env = "GRIDBOOK_ACCESS_TTL_SECS", default_value_t = DEFAULT_ACCESS_TTL_SECS)]
    pub access_ttl_secs: u64,
    /// Lifetime of refresh tokens, in days.
    #[arg(long, env = "GRIDBOOK_REFRESH_TTL_DAYS", default_value_t = DEFAULT_REFRESH_TTL_DAYS)]
    pub refresh_ttl_days: u64,
    /// Largest request body accepted by `POST /v1/sync`, in bytes, after decompression (the
    /// other routes take far less: a few KiB for sign-in).
    #[arg(long, env = "GRIDBOOK_MAX_BODY_BYTES", default_value_t = DEFAULT_MAX_BODY_BYTES)]
    pub max_body_bytes: usize,
    /// How many records the in-memory cache holds at most.
    #[arg(long, env = "GRIDBOOK_DOC_CACHE", default_value_t = DEFAULT_DOC_CACHE)]
    pub doc_cache: usize,
    /// How much memory the record cache's records may hold at most, in MiB (estimated from
    /// each record's operations and fields).
    #[arg(long, env = "GRIDBOOK_DOC_CACHE_MIB", default_value_t = DEFAULT_DOC_CACHE_MIB)]
    pub doc_cache_mib: usize,
    /// Days an archived household's private document (residents' ID numbers, phones, special
    /// groups) is kept on the server before it is erased (0: at the next check, within the
    /// hour).
    #[arg(
        long,
        env = "GRIDBOOK_ARCHIVE_RETENTION_DAYS",
        default_value_t = DEFAULT_ARCHIVE_RETENTION_DAYS
    )]
    pub archive_retention_days: u64,
    /// The font the monthly report's PDF is set in: a TrueType/OpenType file or collection
    /// with Chinese glyphs. Default: the first of [`DEFAULT_REPORT_FONTS`] that exists
    /// (Debian's `fonts-noto-cjk` provides the first).
    #[arg(long, env = "GRIDBOOK_REPORT_FONT")]
    pub report_font: Option<PathBuf>,
    /// The folder photos and files are stored in, by their SHA-256. Default: beside the SQLite
    /// file (`gridbook.db` → `gridbook.blobs/`), or `gridbook-blobs` in the working folder for
    /// PostgreSQL. Several nodes share one folder on shared storage.
    #[arg(long, env = "GRIDBOOK_BLOB_DIR")]
    pub blob_dir: Option<PathBuf>,
    /// Largest photo or file accepted, in bytes.
    #[arg(long, env = "GRIDBOOK_MAX_BLOB_BYTES", default_value_t = DEFAULT_MAX_BLOB_BYTES)]
    pub max_blob_bytes: u64,
    /// Days a blob no record references any more, or an unfinished upload, is kept.
    #[arg(long, env = "GRIDBOOK_BLOB_GRACE_DAYS", default_value_t = DEFAULT_BLOB_GRACE_DAYS)]
    pub blob_grace_days: u64,
    /// Whether verifying a hazard's rectification needs a photo after rectification
    /// (`true`, the default, or `false`).
    #[arg(
        long,
        env = "GRIDBOOK_HAZARD_AFTER_PHOTO",
        default_value_t = true,
        action = clap::ArgAction::Set
    )]
    pub hazard_after_photo: bool,
    /// Longest time, in seconds, a request's headers may take to arrive once their first byte
    /// has; slower clients are disconnected.
    #[arg(
        long,
        env = "GRIDBOOK_HEADER_READ_TIMEOUT_SECS",
        default_value_t = DEFAULT_HEADER_READ_TIMEOUT_SECS
    )]
    pub header_read_timeout_secs: u64,
    /// Longest time, in seconds, a connection may stay open with no request in progress
    /// (before its first request or between kept-alive requests).
    #[arg(long, env = "GRIDBOOK_IDLE_TIMEOUT_SECS", default_value_t = DEFAULT_IDLE_TIMEOUT_SECS)]
    pub idle_timeout_secs: u64,
    /// Most connections open at once. At the cap a new connection closes the connection idle
    /// the longest, or is answered 503 if every connection has a request in progress. Default:
    /// the open-files limit minus 128 (at least half the limit), at most 4096.
    #[arg(long, env = "GRIDBOOK_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// How long, in seconds, a stop (SIGTERM, Ctrl-C) waits for requests in progress before
    /// closing their connections and exiting.
    #[arg(
        long,
        env = "GRIDBOOK_SHUTDOWN_GRACE_SECS",
        default_value_t = DEFAULT_SHUTDOWN_GRACE_SECS
    )]
    pub shutdown_grace_secs: u64,
    /// Log format.
    #[arg(long, env = "GRIDBOOK_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Load the demo street (Heping Street) first if the database has no places yet.
    #[arg(long)]
    pub demo: bool,
    /// The operators' metrics token: `GET /metrics` on the main address answers a request
    /// bearing it (`Authorization: Bearer TOKEN`, at least 24 characters). Without it (and
    /// without `--metrics-listen`) there is no `/metrics` on the main address.
    #[arg(long, env = "GRIDBOOK_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// A separate address serving only `GET /metrics`, with no token: bind it where only the
    /// monitoring system reaches (loopback or the operators' network).
    #[arg(long, env = "GRIDBOOK_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
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
    /// Body size limit of `POST /v1/sync` (after decompression).
    pub max_body_bytes: usize,
    /// Record cache capacity, in records.
    pub doc_cache: usize,
    /// Record cache capacity, in bytes of the records' estimated heap.
    pub doc_cache_bytes: usize,
    /// Longest time a request's headers may take, from their first byte.
    pub header_read_timeout: Duration,
    /// Longest time a connection may stay open with no request in progress.
    pub idle_timeout: Duration,
    /// Most connections open at once; `None` derives it from the open-files limit
    /// ([`Settings::connection_cap`]).
    pub max_connections: Option<usize>,
    /// How long a stop waits for requests in progress.
    pub shutdown_grace: Duration,
    /// Fault injection for tests (see `ServeArgs::fault_hold_write_ms`).
    pub fault_hold_write: Option<Duration>,
    /// How long an archived household's private document is kept before it is erased.
    pub archive_retention: Duration,
    /// The monthly report PDF's font; `None`: the first of [`DEFAULT_REPORT_FONTS`] found.
    pub report_font: Option<PathBuf>,
    /// The blob folder; `None`: the default next to the database ([`Settings::blob_dir`]).
    pub blob_dir: Option<PathBuf>,
    /// Largest blob accepted.
    pub max_blob_bytes: u64,
    /// How long an unreferenced blob or an unfinished upload is kept.
    pub blob_grace: Duration,
    /// Whether a hazard's verification needs a photo after rectification.
    pub hazard_after_photo: bool,
    /// The token that opens `GET /metrics` on the main address.
    pub metrics_token: Option<String>,
    /// The separate address serving `GET /metrics` without a token.
    pub metrics_listen: Option<SocketAddr>,
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
            .field("doc_cache_bytes", &self.doc_cache_bytes)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("max_connections", &self.max_connections)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("fault_hold_write", &self.fault_hold_write)
            .field("archive_retention", &self.archive_retention)
            .field("report_font", &self.report_font)
            .field("blob_dir", &self.blob_dir)
            .field("max_blob_bytes", &self.max_blob_bytes)
            .field("blob_grace", &self.blob_grace)
            .field("hazard_after_photo", &self.hazard_after_photo)
            .field(
                "metrics_token",
                &self.metrics_token.as_ref().map(|_| "<redacted>"),
            )
            .field("metrics_listen", &self.metrics_listen)
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
            access_ttl: Duration::from_secs(DEFAULT_ACCESS_TTL_SECS),
            refresh_ttl: Duration::from_secs(DEFAULT_REFRESH_TTL_DAYS * 86_400),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            doc_cache: DEFAULT_DOC_CACHE,
            doc_cache_bytes: DEFAULT_DOC_CACHE_MIB << 20,
            header_read_timeout: Duration::from_secs(DEFAULT_HEADER_READ_TIMEOUT_SECS),
            idle_timeout: Duration::from_secs(DEFAULT_IDLE_TIMEOUT_SECS),
            max_connections: None,
            shutdown_grace: Duration::from_secs(DEFAULT_SHUTDOWN_GRACE_SECS),
            fault_hold_write: None,
            archive_retention: Duration::from_secs(DEFAULT_ARCHIVE_RETENTION_DAYS * 86_400),
            report_font: None,
            blob_dir: None,
            max_blob_bytes: DEFAULT_MAX_BLOB_BYTES,
            blob_grace: Duration::from_secs(DEFAULT_BLOB_GRACE_DAYS * 86_400),
            hazard_after_photo: true,
            metrics_token: None,
            metrics_listen: None,
        }
    }

    /// The blob folder: the configured one, else beside the SQLite file (`gridbook.db` →
    /// `gridbook.blobs`), else [`DEFAULT_BLOB_DIR`] in the working folder.
    pub fn blob_dir(&self) -> PathBuf {
        if let Some(dir) = &self.blob_dir {
            return dir.clone();
        }
        match crate::auth::keyfile::sqlite_file(&self.database_url) {
            Some(db) => db.with_extension("blobs"),
            None => PathBuf::from(DEFAULT_BLOB_DIR),
        }
    }

    /// The most connections served at once: `max_connections` if set, else derived from the
    /// process's open-files limit (`None`: unknown): the limit minus [`RESERVED_FILES`], but
    /// at least half the limit, and at most [`MAX_CONNECTIONS_CEILING`].
    pub fn connection_cap(&self, open_files_limit: Option<u64>) -> usize {
        if let Some(cap) = self.max_connections {
            return cap;
        }
        let Some(limit) = open_files_limit else {
            return MAX_CONNECTIONS_CEILING;
        };
        let derived = limit.saturating_sub(RESERVED_FILES).max(limit / 2).max(1);
        usize::try_from(derived)
            .unwrap_or(usize::MAX)
            .min(MAX_CONNECTIONS_CEILING)
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
        if args.doc_cache_mib == 0 {
            return Err(SettingError {
                name: "doc_cache_mib",
                reason: "must be at least 1",
            });
        }
        let Some(doc_cache_bytes) = args.doc_cache_mib.checked_mul(1 << 20) else {
            return Err(SettingError {
                name: "doc_cache_mib",
                reason: "is more memory than this machine can address",
            });
        };
        for (name, value) in [
            ("header_read_timeout_secs", args.header_read_timeout_secs),
            ("idle_timeout_secs", args.idle_timeout_secs),
        ] {
            if value == 0 {
                return Err(SettingError {
                    name,
                    reason: "must be at least 1",
                });
            }
        }
        if args.max_blob_bytes == 0
            || args.max_blob_bytes > sync_core::models::attachment::MAX_BLOB_BYTES
        {
            return Err(SettingError {
                name: "max_blob_bytes",
                reason: "must be 1 byte to 50 MiB",
            });
        }
        if args
            .metrics_token
            .as_ref()
            .is_some_and(|t| t.chars().count() < MIN_METRICS_TOKEN_CHARS)
        {
            return Err(SettingError {
                name: "metrics_token",
                reason: "must be at least 24 characters",
            });
        }
        if args.max_connections == Some(0) {
            return Err(SettingError {
                name: "max_connections",
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
            doc_cache_bytes,
            header_read_timeout: Duration::from_secs(args.header_read_timeout_secs),
            idle_timeout: Duration::from_secs(args.idle_timeout_secs),
            max_connections: args.max_connections,
            shutdown_grace: Duration::from_secs(args.shutdown_grace_secs),
            fault_hold_write: args.fault_hold_write_ms.map(Duration::from_millis),
            archive_retention: Duration::from_secs(
                args.archive_retention_days.saturating_mul(86_400),
            ),
            report_font: args.report_font.clone(),
            blob_dir: args.blob_dir.clone(),
            max_blob_bytes: args.max_blob_bytes,
            blob_grace: Duration::from_secs(args.blob_grace_days.saturating_mul(86_400)),
            hazard_after_photo: args.hazard_after_photo,
            metrics_token: args.metrics_token.clone(),
            metrics_listen: args.metrics_listen,
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

#[derive(clap::Args, Debug)]
/// `gridbook user add`.
pub struct UserAddArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Login name.
    #[arg(long)]
    pub login: String,
    /// Name shown to people.
    #[arg(long)]
    pub name: String,
    /// Role: grid_worker, liaison, community_supervisor, street_supervisor, department or
    /// admin.
    #[arg(long)]
    pub role: Role,
    /// Initial password, at least 8 characters (prefer the environment variable: command
    /// lines are visible to other users of the machine).
    #[arg(long, env = "GRIDBOOK_PASSWORD", hide_env_values = true)]
    pub password: String,
    /// Street code (street supervisors and admins).
    #[arg(long)]
    pub street: Option<StreetId>,
    /// Community code (community supervisors).
    #[arg(long)]
    pub community: Option<CommunityId>,
    /// Grid code (grid workers and liaisons).
    #[arg(long)]
    pub grid: Option<GridId>,
    /// Liaison group code (liaisons).
    #[arg(long)]
    pub liaison_group: Option<LiaisonGroupId>,
    /// Department code (department staff).
    #[arg(long)]
    pub department: Option<DepartmentId>,
}

#[derive(clap::Args, Debug)]
/// `gridbook user reset-password`.
pub struct UserResetArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Login name.
    #[arg(long)]
    pub login: String,
    /// The temporary password (prefer the environment variable: command lines are visible to
    /// other users of the machine).
    #[arg(long, env = "GRIDBOOK_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
}

/// The log filter: `GRIDBOOK_LOG` (a tracing filter such as `debug` or `info,sqlx=debug`),
/// else the default.
pub fn log_filter() -> String {
    std::env::var("GRIDBOOK_LOG").unwrap_or_else(|_| "info,sqlx=warn,tower_http=info".into())
}

/// The operating-system user running a command (`$USER`, else `$LOGNAME`, else `unknown`):
/// the audit log names command-line actions by it.
pub fn os_user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into())
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
    fn the_connection_cap_leaves_files_for_the_rest_of_the_server() {
        let mut settings = Settings::for_database("sqlite://x.db");
        assert_eq!(settings.connection_cap(Some(1024)), 1024 - 128);
        assert_eq!(settings.connection_cap(Some(256)), 128);
        assert_eq!(settings.connection_cap(Some(100)), 50);
        assert_eq!(settings.connection_cap(Some(1)), 1);
        assert_eq!(
            settings.connection_cap(Some(1 << 20)),
            MAX_CONNECTIONS_CEILING
        );
        assert_eq!(settings.connection_cap(None), MAX_CONNECTIONS_CEILING);
        settings.max_connections = Some(10_000);
        assert_eq!(settings.connection_cap(Some(1024)), 10_000);
    }

    #[test]
    fn the_record_cache_is_bounded_in_records_and_in_mib() {
        #[derive(clap::Parser)]
        struct Serve {
            #[command(flatten)]
            args: ServeArgs,
        }
        let args = |extra: &[&str]| {
            let mut argv = vec!["serve"];
            argv.extend_from_slice(extra);
            <Serve as clap::Parser>::try_parse_from(argv).map(|s| Settings::try_from(&s.args))
        };
        let defaults = args(&[]).unwrap().unwrap();
        assert_eq!(defaults.doc_cache, DEFAULT_DOC_CACHE);
        assert_eq!(defaults.doc_cache_bytes, DEFAULT_DOC_CACHE_MIB << 20);
        let set = args(&["--doc-cache", "10", "--doc-cache-mib", "3"])
            .unwrap()
            .unwrap();
        assert_eq!((set.doc_cache, set.doc_cache_bytes), (10, 3 << 20));
        for zero in [["--doc-cache", "0"], ["--doc-cache-mib", "0"]] {
            let refused = args(&zero).unwrap().unwrap_err();
            assert_eq!(refused.reason, "must be at least 1", "{zero:?}");
        }
        let huge = usize::MAX.to_string();
        let refused = args(&["--doc-cache-mib", &huge]).unwrap().unwrap_err();
        assert_eq!(refused.name, "doc_cache_mib");
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
