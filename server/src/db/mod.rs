//! Storage on SQLite (the embedded default) or PostgreSQL.
//!
//! [`Db`] holds a pool of either backend. Most SQL is the same text on both (numbered `$1`
//! parameters work on both), so queries are written once inside `on_db!` / `on_tx!`, which
//! expand the body once per backend; where the dialects differ the body matches on the backend.
//! This is the only module tree that knows SQL.

pub mod assets;
pub mod audit;
pub mod backup;
pub mod blobs;
pub mod bulk;
pub mod docs;
pub mod figures;
pub mod imports;
pub mod index;
pub mod keys;
pub mod migrations;
pub mod notify;
pub mod places;
pub mod query;
pub mod retention;
pub mod targets;
pub mod users;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Postgres, Sqlite, SqlitePool, Transaction};

/// The tables distributed by street (docs/ARCHITECTURE.md, "Beyond one database server"):
/// each has a `street_id` column, the street of its rows' grid, which leads its primary key
/// on PostgreSQL and is in every unique constraint, and every join between two of them
/// matches it. A transaction that writes a record writes rows of one street only (its grid's,
/// returned by [`docs::bump_grid_seq`]). Checked over the migrated schema by
/// `tests/tests/e2e/street_keys.rs` and over the SQL by `server/tests/architecture.rs`.
pub const DISTRIBUTED_BY_STREET: &[&str] = &[
    "grids",
    "docs",
    "changes",
    "household_index",
    "household_private_index",
    "case_index",
    "activity_index",
    "conflict_index",
    "record_items",
    "blob_refs",
    "removals",
    "archived_households",
];

/// The tables that are not distributed, each with why: small reference tables that a
/// distributed database copies to every shard (the distributed tables may join them and name
/// them in foreign keys), and tables kept on the coordinator (accounts, keys, the audit log,
/// the blob register), which no query joins with a distributed table.
pub const SHARED_TABLES: &[(&str, Shared, &str)] = &[
    (
        "streets",
        Shared::Reference,
        "the place hierarchy: a few hundred rows a city",
    ),
    (
        "communities",
        Shared::Reference,
        "the place hierarchy: a few thousand rows a city",
    ),
    (
        "departments",
        Shared::Reference,
        "a few departments (站所) a street",
    ),
    (
        "users",
        Shared::Coordinator,
        "accounts: signing in reads them by login, before any street is known",
    ),
    (
        "devices",
        Shared::Coordinator,
        "each user's phones, read with the user",
    ),
    (
        "sessions",
        Shared::Coordinator,
        "sign-in sessions, read with the user",
    ),
    (
        "refresh_tokens",
        Shared::Coordinator,
        "sign-in tokens, read with the user",
    ),
    ("signing_keys", Shared::Coordinator, "the server's JWT keys"),
    (
        "audit_log",
        Shared::Coordinator,
        "who processed what, read by actor and time across streets",
    ),
    (
        "blobs",
        Shared::Coordinator,
        "content-addressed photos, one copy whichever streets reference it",
    ),
    (
        "data_migrations",
        Shared::Coordinator,
        "the data migrations done",
    ),
    (
        "index_state",
        Shared::Coordinator,
        "the query index's rules version",
    ),
    (
        "_sqlx_migrations",
        Shared::Coordinator,
        "the schema migrations applied",
    ),
];

/// How a table that is not distributed by street is kept (see [`SHARED_TABLES`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shared {
    /// Copied to every shard: distributed tables may join it and reference it.
    Reference,
    /// Kept on the coordinator: never joined with a distributed table.
    Coordinator,
}

/// A connection pool to one of the two backends.
#[derive(Debug, Clone)]
pub enum Db {
    /// SQLite, the embedded default (WAL, durable commits).
    Sqlite(SqlitePool),
    /// PostgreSQL, for real deployments and several server nodes.
    Postgres(PgPool),
}

/// A transaction on one of the two backends.
#[derive(Debug)]
pub enum Tx {
    /// SQLite.
    Sqlite(Transaction<'static, Sqlite>),
    /// PostgreSQL.
    Postgres(Transaction<'static, Postgres>),
}

/// Runs `$body` with `$pool` bound to the backend's pool (`&SqlitePool` or `&PgPool`).
macro_rules! on_db {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite($pool) => $body,
            $crate::db::Db::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_db;

/// Runs `$body` with `$conn` bound to the transaction's connection (`&mut SqliteConnection` or
/// `&mut PgConnection`).
macro_rules! on_tx {
    ($tx:expr, $conn:ident => $body:expr) => {
        match $tx {
            $crate::db::Tx::Sqlite(tx) => {
                let $conn = &mut **tx;
                $body
            }
            $crate::db::Tx::Postgres(tx) => {
                let $conn = &mut **tx;
                $body
            }
        }
    };
}
pub(crate) use on_tx;

/// Which backend a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl Backend {
    /// The backend of a database URL, if it is one Gridbook supports.
    pub fn of_url(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            Some(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Self::Postgres)
        } else {
            None
        }
    }
}

/// Could not open the database.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The URL names no supported backend.
    #[error("unsupported database URL (expected sqlite://FILE or postgres://...)")]
    UnsupportedUrl,
    /// The driver failed.
    #[error("database: {0}")]
    Sqlx(#[from] sqlx::Error),
    /// A migration failed.
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

impl Db {
    /// Opens a pool. A SQLite file is created if missing.
    pub async fn connect(url: &str) -> Result<Self, ConnectError> {
        match Backend::of_url(url).ok_or(ConnectError::UnsupportedUrl)? {
            Backend::Sqlite => {
                let options = SqliteConnectOptions::from_str(url)?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    // Durable commits: an acknowledged sync survives a power cut.
                    .synchronous(SqliteSynchronous::Full)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(30));
                let pool = SqlitePoolOptions::new()
                    .max_connections(8)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_with(options)
                    .await?;
                Ok(Self::Sqlite(pool))
            }
            Backend::Postgres => {
                let mut servers = targets::parse(url)?;
                let pool_options = PgPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(30));
                if servers.len() == 1 {
                    let options = servers.remove(0);
                    return Ok(Self::Postgres(pool_options.connect_with(options).await?));
                }
                // A primary and its standbys (see [`targets`]).
                let primary = targets::primary_among(&servers).await?;
                let pool = pool_options
                    .after_connect(targets::reject_standby)
                    .connect_with(servers[primary].clone())
                    .await?;
                tokio::spawn(targets::follow_primary(pool.clone(), servers, primary));
                Ok(Self::Postgres(pool))
            }
        }
    }

    /// Brings the schema up to date, then rebuilds the query index when its stored rows
    /// follow older index rules than this server's ([`index::INDEX_VERSION`]): a migration
    /// added index columns or tables that rows written before it lack.
    pub async fn migrate(&self) -> Result<(), ConnectError> {
        match self {
            Self::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await?,
            Self::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await?,
        }
        migrations::mark_all_done_if_empty(self).await?;
        let stored: Option<i64> = on_db!(self, pool => sqlx::query_scalar(
            "SELECT version FROM index_state WHERE id = 1",
        )
        .fetch_optional(pool)
        .await)?;
        // Rows written before migration 0007 lack their households (also rebuilt on demand).
        let stale: i64 = on_db!(self, pool => sqlx::query_scalar(
            "SELECT COUNT(*) FROM case_index WHERE households IS NULL",
        )
        .fetch_one(pool)
        .await)?;
        if stored.unwrap_or(0) < index::INDEX_VERSION || stale > 0 {
            tracing::info!(
                from = stored.unwrap_or(0),
                to = index::INDEX_VERSION,
                "rebuilding the query index for new index rules"
            );
            let indexed = index::rebuild(self).await?;
            on_db!(self, pool => sqlx::query(
                "INSERT INTO index_state (id, version) VALUES (1, $1)
                 ON CONFLICT (id) DO UPDATE SET version = excluded.version",
            )
            .bind(index::INDEX_VERSION)
            .execute(pool)
            .await
            .map(|_| ()))?;
            tracing::info!(records = indexed, "query index rebuilt");
        }
        Ok(())
    }

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        match self {
            Self::Sqlite(_) => Backend::Sqlite,
            Self::Postgres(_) => Backend::Postgres,
        }
    }

    /// Checks that the database answers (readiness).
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        on_db!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()))
    }

    /// Starts a writing transaction. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`), so a transaction that reads before writing cannot fail to upgrade.
    pub async fn begin_write(&self) -> Result<Tx, sqlx::Error> {
        Ok(match self {
            Self::Sqlite(pool) => Tx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?),
            Self::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }

    /// Starts a reading transaction that sees one consistent snapshot.
    pub async fn begin_read(&self) -> Result<Tx, sqlx::Error> {
        Ok(match self {
            Self::Sqlite(pool) => Tx::Sqlite(pool.begin().await?),
            Self::Postgres(pool) => Tx::Postgres(
                pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .await?,
            ),
        })
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        on_db!(self, pool => pool.close().await);
    }
}

impl Tx {
    /// Commits.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Self::Sqlite(tx) => tx.commit().await,
            Self::Postgres(tx) => tx.commit().await,
        }
    }

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        match self {
            Self::Sqlite(_) => Backend::Sqlite,
            Self::Postgres(_) => Backend::Postgres,
        }
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
