//! Where the JWT signing keys live: `GRIDBOOK_JWT_KEYS`, or else a key file beside the
//! database, never the database itself (a database backup must not be able to mint tokens).
//!
//! The key file holds one `kid=secret` per line (the first signs, all verify; `#` starts a
//! comment), the same entries as `GRIDBOOK_JWT_KEYS`. A missing file is created with a new
//! random key, mode 0600, atomically (written to a temporary file, then hard-linked into
//! place, so two processes starting at once end up with the same key). A file that group or
//! others may read is refused, and so is any key shorter than 32 bytes.
//!
//! Older versions kept a generated key in the `signing_keys` table. At start, when there is no
//! key file yet, keys found there are written to the new file (so tokens they signed stay
//! valid) and deleted from the table.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::config::{BASE64URL_SECRET, JwtKey, Settings, parse_key_entries};
use crate::db::keys::{delete_stored_keys, stored_keys};
use crate::db::{Backend, Db};

/// The file name used for PostgreSQL (in the working folder) and for a SQLite file without
/// an extension (appended).
pub const DEFAULT_FILE_NAME: &str = "gridbook.jwt-keys";

/// Why the keys could not be loaded. Messages name the file, never a secret.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Reading, creating or writing the key file failed.
    #[error("JWT key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The file may be read by group or others.
    #[error(
        "JWT key file {path} may be read by group or others (mode {mode:o}); run `chmod 600 {path}` and start again"
    )]
    TooOpen {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The file or the setting holds something other than `kid=secret` entries of at least
    /// 32 bytes.
    #[error("JWT keys from {source_name}: {reason}")]
    Invalid {
        /// The file or the setting.
        source_name: String,
        /// What is wrong.
        reason: String,
    },
    /// The database failed (moving old keys out of it).
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// The key file of these settings: the configured one, else beside the SQLite file
/// (`dir/gridbook.db` → `dir/gridbook.jwt-keys`), else `gridbook.jwt-keys` in the working folder.
pub fn path_for(settings: &Settings) -> PathBuf {
    if let Some(path) = &settings.jwt_key_file {
        return path.clone();
    }
    match Backend::of_url(&settings.database_url) {
        Some(Backend::Sqlite) => sqlite_file(&settings.database_url)
            .map(|db| {
                if db.extension().is_some() {
                    db.with_extension("jwt-keys")
                } else {
                    let mut name = db.into_os_string();
                    name.push(".jwt-keys");
                    PathBuf::from(name)
                }
            })
            .unwrap_or_else(|| PathBuf::from(DEFAULT_FILE_NAME)),
        _ => PathBuf::from(DEFAULT_FILE_NAME),
    }
}

/// The file of a `sqlite:` URL, if it names one (not `:memory:`).
pub fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or("");
    if path.is_empty() || path.starts_with(":memory:") {
        return None;
    }
    Some(PathBuf::from(path))
}

/// Reads a key file: `None` if it does not exist.
pub fn read(path: &Path) -> Result<Option<Vec<JwtKey>>, KeyError> {
    let io = |source| KeyError::Io {
        path: path.to_owned(),
        source,
    };
    let metadata = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyError::TooOpen {
                path: path.to_owned(),
                mode,
            });
        }
    }
    #[cfg(not(unix))]
    let _ = metadata;
    let text = std::fs::read_to_string(path).map_err(io)?;
    parse_key_entries(text.lines(), "the key file")
        .map(Some)
        .map_err(|e| KeyError::Invalid {
            source_name: path.display().to_string(),
            reason: e.to_string(),
        })
}

/// The text of a key file holding `keys` (signing key first).
pub fn format(keys: &[JwtKey]) -> String {
    let mut text = String::from(
        "# Gridbook's JWT signing keys: one kid=secret per line; the first signs, all verify.\n\
         # Rotate by adding a new first line; remove an old line once the access tokens it\n\
         # signed have expired (GRIDBOOK_ACCESS_TTL_SECS). Every server node needs the same keys.\n",
    );
    for key in keys {
        text.push_str(&format!(
            "{}={BASE64URL_SECRET}{}\n",
            key.kid,
            URL_SAFE_NO_PAD.encode(&key.secret)
        ));
    }
    text
}

/// Creates the key file with `keys`, mode 0600, unless it exists. Returns false (writing
/// nothing) when it existed already, e.g. because another process created it meanwhile.
pub fn create(path: &Path, keys: &[JwtKey]) -> Result<bool, KeyError> {
    let io = |source| KeyError::Io {
        path: path.to_owned(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let mut temp = tempfile::Builder::new()
        .prefix(".gridbook-jwt-keys")
        .tempfile_in(&dir)
        .map_err(io)?;
    // tempfile creates the file with mode 0600 on Unix.
    temp.write_all(format(keys).as_bytes()).map_err(io)?;
    temp.as_file().sync_all().map_err(io)?;
    // A hard link never replaces an existing file: whoever links first wins.
    let created = match std::fs::hard_link(temp.path(), path) {
        Ok(()) => true,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => false,
        Err(e) => return Err(io(e)),
    };
    drop(temp);
    #[cfg(unix)]
    if created && let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(created)
}

/// A new random key: 32 bytes, a key id made of the date and random bits.
pub fn generate() -> JwtKey {
    let secret: [u8; 32] = rand::random();
    JwtKey {
        kid: format!(
            "k{}-{}",
            chrono::Utc::now().format("%Y%m%d"),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        ),
        secret: secret.to_vec(),
    }
}

/// The keys to sign and verify with: `GRIDBOOK_JWT_KEYS` if set, else the key file (moving
/// keys an older version kept in the database into it, or creating it with a new key).
pub async fn load(db: &Db, settings: &Settings) -> Result<Vec<JwtKey>, KeyError> {
    if !settings.jwt_keys.is_empty() {
        let text: Vec<String> = settings
            .jwt_keys
            .iter()
            .map(|k| {
                format!(
                    "{}={BASE64URL_SECRET}{}",
                    k.kid,
                    URL_SAFE_NO_PAD.encode(&k.secret)
                )
            })
            .collect();
        // The same checks as for the file (length, duplicates), for embedders that set keys.
        parse_key_entries(text.iter().map(String::as_str), "GRIDBOOK_JWT_KEYS").map_err(|e| {
            KeyError::Invalid {
                source_name: "GRIDBOOK_JWT_KEYS".into(),
                reason: e.to_string(),
            }
        })?;
        let stored = stored_keys(db).await?;
        if !stored.is_empty() {
            tracing::warn!(
                keys = stored.len(),
                "the database holds signing keys of an older version; GRIDBOOK_JWT_KEYS is set, so they are deleted"
            );
            delete_stored_keys(db).await?;
        }
        return Ok(settings.jwt_keys.clone());
    }
    let path = path_for(settings);
    if let Some(keys) = read(&path)? {
        let stored = stored_keys(db).await?;
        if !stored.is_empty() {
            tracing::warn!(
                file = %path.display(),
                "the database holds signing keys of an older version beside the key file; deleting them"
            );
            delete_stored_keys(db).await?;
        }
        return Ok(keys);
    }
    let stored = stored_keys(db).await?;
    let (keys, moved) = if stored.is_empty() {
        (vec![generate()], false)
    } else {
        (stored, true)
    };
    if !create(&path, &keys)? {
        // Another process created it meanwhile: use its keys.
        let keys = read(&path)?.ok_or_else(|| KeyError::Io {
            path: path.clone(),
            source: std::io::Error::other("the key file vanished right after it was created"),
        })?;
        if moved {
            delete_stored_keys(db).await?;
        }
        return Ok(keys);
    }
    if moved {
        delete_stored_keys(db).await?;
        tracing::warn!(
            file = %path.display(),
            keys = keys.len(),
            "moved the JWT signing keys out of the database into the key file; copy it to every other server node"
        );
    } else {
        tracing::warn!(
            file = %path.display(),
            "no JWT keys configured; generated one in the key file (every server node needs the same file or GRIDBOOK_JWT_KEYS)"
        );
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_file_sits_beside_the_sqlite_file() {
        let of = |url: &str| path_for(&Settings::for_database(url));
        assert_eq!(
            of("sqlite:///var/lib/gridbook/gridbook.db"),
            PathBuf::from("/var/lib/gridbook/gridbook.jwt-keys")
        );
        assert_eq!(
            of("sqlite://data/g.db?mode=rwc"),
            PathBuf::from("data/g.jwt-keys")
        );
        assert_eq!(of("sqlite://plain"), PathBuf::from("plain.jwt-keys"));
        assert_eq!(of("sqlite::memory:"), PathBuf::from(DEFAULT_FILE_NAME));
        assert_eq!(
            of("postgres://db/gridbook"),
            PathBuf::from(DEFAULT_FILE_NAME)
        );
        let mut settings = Settings::for_database("postgres://db/gridbook");
        settings.jwt_key_file = Some("/etc/gridbook/keys".into());
        assert_eq!(path_for(&settings), PathBuf::from("/etc/gridbook/keys"));
    }

    #[test]
    fn a_created_key_file_reads_back_private_and_an_open_or_short_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.jwt-keys");
        let keys = vec![generate(), generate()];
        assert!(create(&path, &keys).unwrap());
        assert!(!create(&path, &[generate()]).unwrap(), "never replaced");
        assert_eq!(read(&path).unwrap().unwrap(), keys);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let e = read(&path).unwrap_err();
            assert!(matches!(e, KeyError::TooOpen { .. }), "{e}");
            assert!(e.to_string().contains("chmod 600"), "{e}");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        std::fs::write(&path, format!("short={}\n", "x".repeat(31))).unwrap();
        let e = read(&path).unwrap_err();
        assert!(e.to_string().contains("at least 32 bytes"), "{e}");
        assert!(!e.to_string().contains("xxxx"), "{e}");
        assert!(read(&dir.path().join("missing")).unwrap().is_none());
    }
}
