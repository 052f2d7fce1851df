//! Fresh databases: a SQLite file in a temporary folder, or a PostgreSQL database created for
//! one test on the server of `GRIDBOOK_TEST_POSTGRES_URL` and dropped when the test ends.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, bail};
use gridbook_server::db::Db;

/// Which database the server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A fresh SQLite file in a temporary folder.
    Sqlite,
    /// A fresh database on the PostgreSQL server of `GRIDBOOK_TEST_POSTGRES_URL`.
    Postgres,
}

/// A PostgreSQL database made for one test, dropped when this value is (even by panic).
#[derive(Debug)]
pub struct PgDatabase {
    admin_url: String,
    name: String,
    url: String,
}

static NEXT_DB: AtomicU64 = AtomicU64::new(0);

impl PgDatabase {
    /// Creates a database with a name of its own on the server of
    /// `GRIDBOOK_TEST_POSTGRES_URL`; `None` (after printing that the test skips) when that is
    /// not set.
    pub async fn create() -> anyhow::Result<Option<Self>> {
        let Ok(admin_url) = std::env::var("GRIDBOOK_TEST_POSTGRES_URL") else {
            eprintln!("SKIPPED on PostgreSQL: GRIDBOOK_TEST_POSTGRES_URL is not set");
            return Ok(None);
        };
        let name = format!(
            "gridbook_test_{}_{}_{}",
            std::process::id(),
            NEXT_DB.fetch_add(1, Ordering::Relaxed),
            uuid::Uuid::new_v4().simple()
        );
        // The same server and options, another database: `postgres://host/db?opts`.
        let (without_query, query) = match admin_url.split_once('?') {
            Some((url, query)) => (url, format!("?{query}")),
            None => (admin_url.as_str(), String::new()),
        };
        let url = match without_query.rsplit_once('/') {
            Some((base, _)) if base.contains("://") && !base.ends_with('/') => {
                format!("{base}/{name}{query}")
            }
            _ => bail!("GRIDBOOK_TEST_POSTGRES_URL has no database part"),
        };
        let pool = sqlx::PgPool::connect(&admin_url)
            .await
            .context("connecting to GRIDBOOK_TEST_POSTGRES_URL")?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&pool)
            .await?;
        pool.close().await;
        Ok(Some(Self {
            admin_url,
            name,
            url,
        }))
    }

    /// The database's URL.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop may run inside a runtime; do the async work on a thread with its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                use sqlx::Executor;
                let pool = sqlx::PgPool::connect(&admin_url).await?;
                let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                pool.execute(sqlx::AssertSqlSafe(sql)).await?;
                pool.close().await;
                Ok::<_, sqlx::Error>(())
            })
            .map_err(std::io::Error::other)
        })
        .join();
    }
}

/// An empty database of one backend and a temporary folder of the test's own (the SQLite file,
/// key files, logs); both are removed when this value is dropped.
#[derive(Debug)]
pub struct FreshDb {
    backend: Backend,
    url: String,
    dir: tempfile::TempDir,
    _pg: Option<PgDatabase>,
}

impl FreshDb {
    /// A fresh database of `backend`; `None` when it is PostgreSQL and no server is configured.
    pub async fn new(backend: Backend) -> anyhow::Result<Option<Self>> {
        match backend {
            Backend::Sqlite => Ok(Some(Self::sqlite()?)),
            Backend::Postgres => {
                let Some(pg) = PgDatabase::create().await? else {
                    return Ok(None);
                };
                Ok(Some(Self {
                    backend,
                    url: pg.url().to_owned(),
                    dir: tempfile::tempdir()?,
                    _pg: Some(pg),
                }))
            }
        }
    }

    /// A SQLite file `gridbook.db` (not created yet) in a new temporary folder.
    pub fn sqlite() -> anyhow::Result<Self> {
        Self::sqlite_file("gridbook.db")
    }

    /// A SQLite file named `file` (not created yet) in a new temporary folder.
    pub fn sqlite_file(file: &str) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite://{}", dir.path().join(file).display());
        Ok(Self {
            backend: Backend::Sqlite,
            url,
            dir,
            _pg: None,
        })
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The database URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The test's temporary folder (the SQLite file is in it).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Connects and brings the schema up to date.
    pub async fn connect(&self) -> anyhow::Result<Db> {
        let db = Db::connect(&self.url).await?;
        db.migrate().await?;
        Ok(db)
    }
}
