//! `gridbook backup FILE`: an online backup of the SQLite default, taken while the server runs.
//!
//! - The database is copied with SQLite's `VACUUM INTO`, which reads one consistent snapshot
//!   (a read transaction: the server's writers carry on meanwhile) and writes it compacted,
//!   under a temporary name that is synced and renamed to `FILE` only when complete. A
//!   crash or a full disk never leaves a half backup under the final name.
//! - The photos and files that snapshot records (its `blobs` rows) are linked into
//!   `FILE`'s blob folder (`backup.db` → `backup.blobs/`, where a server started on the backup
//!   looks by default). Blobs never change once stored, so a hard link is a copy that costs
//!   nothing; across file systems they are copied.
//! - The copy and its blob folder are open to the server's user only (modes 0600 and 0700):
//!   they hold residents' personal data.
//! - The JWT key file is **not** copied: keys were moved out of the database so that a backup
//!   cannot mint tokens. After a restore without it, phones sign in again.
//!
//! PostgreSQL deployments back up with `pg_basebackup` and WAL archiving
//! (`docs/DEPLOYMENT.md`).

use std::io;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::auth::keyfile::sqlite_file;
use crate::blobs::store::{BlobStore, sync_dir};
use crate::config::Settings;
use crate::db::Backend;
use crate::db::backup as db_backup;

/// What a backup wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupReport {
    /// The database copy.
    pub file: PathBuf,
    /// Its size.
    pub bytes: u64,
    /// Its blob folder.
    pub blob_dir: PathBuf,
    /// Blobs linked or copied into it.
    pub blobs: usize,
    /// Their bytes.
    pub blob_bytes: u64,
    /// Blobs the snapshot records whose file was gone (deleted by the garbage collector after
    /// the snapshot: no record referred to them).
    pub blobs_missing: usize,
}

/// Backs the SQLite database of `settings` (and its blobs) up to `target`; see the module docs.
pub async fn backup(settings: &Settings, target: &Path) -> anyhow::Result<BackupReport> {
    if Backend::of_url(&settings.database_url) != Some(Backend::Sqlite) {
        bail!(
            "gridbook backup copies the SQLite default; back PostgreSQL up with pg_basebackup \
             and WAL archiving (docs/DEPLOYMENT.md)"
        );
    }
    let source =
        sqlite_file(&settings.database_url).context("the database URL names no SQLite file")?;
    if !source.is_file() {
        bail!("there is no database at {}", source.display());
    }
    let blob_target = target.with_extension("blobs");
    for path in [target, blob_target.as_path()] {
        if path.exists() {
            bail!("{} exists already; choose a new name", path.display());
        }
    }
    let folder = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    if !folder.is_dir() {
        bail!("the folder {} does not exist", folder.display());
    }
    let file_name = target
        .file_name()
        .context("the backup needs a file name")?
        .to_string_lossy()
        .into_owned();
    let partial = folder.join(format!(".{file_name}.partial-{}", std::process::id()));

    // The copy holds residents' personal data: only the server's user may read it. The
    // file is created empty with that mode first (VACUUM INTO fills an empty file), so it is
    // never readable by others, not even while it is written.
    create_private(&partial).with_context(|| format!("creating {}", partial.display()))?;
    if let Err(e) = db_backup::vacuum_into(&source, &partial).await {
        let _ = std::fs::remove_file(&partial);
        return Err(e).with_context(|| format!("copying {}", source.display()));
    }
    let hashes = db_backup::blob_hashes(&partial).await.inspect_err(|_| {
        let _ = std::fs::remove_file(&partial);
    })?;
    std::fs::File::open(&partial)?.sync_all()?;
    std::fs::rename(&partial, target)?;
    sync_dir(&folder)?;
    let bytes = std::fs::metadata(target)?.len();

    let blobs = BlobStore::open(settings.blob_dir(), settings.max_blob_bytes);
    let copies = BlobStore::open(blob_target.clone(), settings.max_blob_bytes);
    let mut report = BackupReport {
        file: target.to_owned(),
        bytes,
        blob_dir: blob_target,
        blobs: 0,
        blob_bytes: 0,
        blobs_missing: 0,
    };
    if !hashes.is_empty() {
        create_private_dir(&report.blob_dir)
            .with_context(|| format!("creating {}", report.blob_dir.display()))?;
    }
    for hash in hashes {
        let from = blobs.path(&hash);
        let to = copies.path(&hash);
        match link_or_copy(&from, &to) {
            Ok(size) => {
                report.blobs += 1;
                report.blob_bytes += size;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => report.blobs_missing += 1,
            Err(e) => {
                return Err(e).with_context(|| format!("copying blob {hash}"));
            }
        }
    }
    if report.blobs > 0 {
        sync_dir(&report.blob_dir)?;
    }
    Ok(report)
}

/// Creates the new, empty file `path`, readable and writable by its owner only.
fn create_private(path: &Path) -> io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path).map(drop)
}

/// Creates the new folder `path`, open to its owner only.
fn create_private_dir(path: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(path)
}

/// Hard-links `from` to `to` (creating its folder), copying when a link is impossible; the
/// size.
fn link_or_copy(from: &Path, to: &Path) -> io::Result<u64> {
    let size = std::fs::metadata(from)?.len();
    BlobStore::ensure_parent(to)?;
    if std::fs::hard_link(from, to).is_err() {
        let tmp = to.with_extension("partial");
        std::fs::copy(from, &tmp)?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, to)?;
    }
    if let Some(dir) = to.parent() {
        sync_dir(dir)?;
    }
    Ok(size)
}
