//! The blob folder: photos and files by their SHA-256, on the local filesystem (beside the
//! SQLite file by default) or a folder on shared storage that several nodes use.
//!
//! Layout under the root:
//! - `ab/abcdef…`: a complete blob whose hash was checked (first two hex digits as a
//!   sub-folder, so no folder holds more than 1/256 of them);
//! - `partial/abcdef…`: an upload in progress; its length is how many bytes the server holds;
//! - `thumbs/abcdef….jpg`: a picture's thumbnail, made once on first request.
//!
//! Every file is written under a temporary name and renamed into place after `fsync`, then
//! the folder is synced, so a crash leaves either the old state or the new, never a torn file
//! under a final name. The partial file is the exception: it grows in place, and each request
//! syncs it before answering, so the bytes a response acknowledged are on disk.

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sync_core::ids::BlobHash;

/// The blob folder and the uploads this process has in progress.
#[derive(Debug)]
pub struct BlobStore {
    root: PathBuf,
    max_bytes: u64,
    uploading: Arc<Mutex<HashSet<BlobHash>>>,
}

/// An upload in progress of one blob; while it lives no other request of this process writes
/// that blob's partial file.
#[derive(Debug)]
pub struct UploadGuard {
    hash: BlobHash,
    uploading: Arc<Mutex<HashSet<BlobHash>>>,
}

impl Drop for UploadGuard {
    fn drop(&mut self) {
        if let Ok(mut set) = self.uploading.lock() {
            set.remove(&self.hash);
        }
    }
}

impl BlobStore {
    /// The blob folder at `root`. Its folders are created when the first blob is written, so
    /// a server that never receives one leaves no trace on disk.
    pub fn open(root: PathBuf, max_bytes: u64) -> Self {
        Self {
            root,
            max_bytes,
            uploading: Arc::default(),
        }
    }

    /// Creates the folder of `path` if needed.
    pub fn ensure_parent(path: &Path) -> io::Result<()> {
        match path.parent() {
            Some(dir) => std::fs::create_dir_all(dir).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("cannot create the blob folder {}: {e}", dir.display()),
                )
            }),
            None => Ok(()),
        }
    }

    /// The folder's root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The largest blob accepted.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// Where a complete blob is.
    pub fn path(&self, hash: &BlobHash) -> PathBuf {
        let text = hash.as_str();
        self.root.join(&text[..2]).join(text)
    }

    /// Where an upload in progress is.
    pub fn partial_path(&self, hash: &BlobHash) -> PathBuf {
        self.root.join("partial").join(hash.as_str())
    }

    /// Where a picture's thumbnail is.
    pub fn thumb_path(&self, hash: &BlobHash) -> PathBuf {
        self.root.join("thumbs").join(format!("{hash}.jpg"))
    }

    /// Starts writing `hash`, or `None` when another request of this process is writing it.
    pub fn start_upload(&self, hash: &BlobHash) -> Option<UploadGuard> {
        let mut set = self.uploading.lock().ok()?;
        if !set.insert(hash.clone()) {
            return None;
        }
        Some(UploadGuard {
            hash: hash.clone(),
            uploading: self.uploading.clone(),
        })
    }

    /// Whether an upload of `hash` is in progress in this process.
    pub fn is_uploading(&self, hash: &BlobHash) -> bool {
        self.uploading
            .lock()
            .map(|set| set.contains(hash))
            .unwrap_or(true)
    }

    /// How many bytes of `hash` an upload in progress holds (0 when none).
    pub async fn received(&self, hash: &BlobHash) -> io::Result<u64> {
        match tokio::fs::metadata(self.partial_path(hash)).await {
            Ok(meta) => Ok(meta.len()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(e),
        }
    }
}

/// Syncs a folder, so that a rename into it survives a crash.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Moves `from` to `to` (creating `to`'s folder) and syncs the folder.
pub fn rename_durably(from: &Path, to: &Path) -> io::Result<()> {
    let dir = to
        .parent()
        .ok_or_else(|| io::Error::other("a blob path has a folder"))?;
    std::fs::create_dir_all(dir)?;
    std::fs::rename(from, to)?;
    sync_dir(dir)
}

/// Deletes a file if it is there.
pub fn remove_if_present(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}
