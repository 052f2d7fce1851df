//! The one error type an app sees. Each variant says what the app should do; messages are
//! English sentences for logs and never carry record contents (sync-core's validation
//! messages do not echo values, and HTTP error bodies are reduced to the server's code and
//! message, which never hold record contents either).

#![deny(unsafe_code)]

use sync_core::client::{ClientError, EditError, RestoreError};
use sync_core::doc::DocumentError;
use sync_core::validate::{FieldError, RecordInvalid};

/// One broken rule of a record: the field (`residents[0].id_number`) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FieldViolation {
    /// Path of the field within the record.
    pub field: String,
    /// What is wrong, in English, without the value.
    pub message: String,
}

impl From<FieldError> for FieldViolation {
    fn from(e: FieldError) -> Self {
        Self {
            field: e.field,
            message: e.message,
        }
    }
}

impl From<sync_core::protocol::FieldError> for FieldViolation {
    fn from(e: sync_core::protocol::FieldError) -> Self {
        Self {
            field: e.field,
            message: e.message,
        }
    }
}

/// What went wrong, as something an app can act on.
///
/// The variants' text field is `reason`, not `message`: in Kotlin this type is
/// `GridbookException` and every `Throwable` already has a `message` (UniFFI fills it with the
/// variant's fields, e.g. `reason=...`), so a field of that name would not compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum GridbookError {
    /// The server could not be reached, timed out, or failed (5xx, 429). Nothing was lost:
    /// try again later.
    #[error("network: {reason}")]
    Network {
        /// What happened, in English, for logs (never record contents).
        reason: String,
    },
    /// Not signed in, or the session ended (expired refresh token, disabled user, revoked
    /// device). Ask the user to sign in again; local records are kept.
    #[error("unauthorized: {reason}")]
    Unauthorized {
        /// What happened, in English, for logs (never record contents).
        reason: String,
    },
    /// The signed-in user may not do this (another grid's record, another user's store).
    #[error("forbidden: {reason}")]
    Forbidden {
        /// What happened, in English, for logs (never record contents).
        reason: String,
    },
    /// An administrator reset the password: call `change_password` (with the temporary
    /// password as the old one) before anything else. Local records are kept.
    #[error("password change required: {reason}")]
    PasswordChangeRequired {
        /// What happened, in English, for logs (never record contents).
        reason: String,
    },
    /// The record breaks its rules; nothing was written. Show the violations by field.
    #[error("invalid record: {} broken rule(s)", violations.len())]
    InvalidRecord {
        /// Every broken rule.
        violations: Vec<FieldViolation>,
    },
    /// The edit does not fit the record's current state: an illegal case action, a record
    /// that exists already, an edit based on a version this phone does not hold.
    #[error("conflict: {reason}")]
    Conflict {
        /// What happened, in English, for logs (never record contents).
        reason: String,
    },
    /// No record with this id on this phone (or not of the asked kind).
    #[error("not found: {reason}")]
    NotFound {
        /// What happened, in English, for logs (never record contents).
        reason: String,
    },
    /// The local store could not be read or written (disk full, corrupt file). The edit
    /// in progress was not kept; earlier acknowledged edits are.
    #[error("storage: {reason}")]
    Storage {
        /// What happened, in English, for logs (never record contents).
        reason: String,
    },
    /// The key given at open was refused: empty, longer than 1024 bytes or holding a NUL
    /// (nothing was opened), or not the key this store was created with (or the file is not
    /// an encrypted Gridbook store). The file was not changed. A lost key cannot be
    /// recovered: delete the store, sign in again and sync (unsent edits are lost).
    #[error("wrong key: {reason}")]
    WrongKey {
        /// What happened, in English, for logs (never record contents).
        reason: String,
    },
    /// A file given to attach is not one Gridbook takes (a JPEG, PNG or WebP photo, a PDF
    /// document, recognised by its first bytes), is larger than 50 MiB, or does not decode
    /// as the picture it claims to be (or exceeds the decoding limits). Nothing was stored.
    #[error("unsupported file: {reason}")]
    UnsupportedFile {
        /// What is wrong with the file.
        reason: String,
    },
    /// The server and this library do not understand each other (a request refused as
    /// malformed, an unreadable response). Update the app; report it if it persists.
    #[error("protocol: {reason}")]
    Protocol {
        /// What happened, in English, for logs (never record contents).
        reason: String,
    },
}

impl GridbookError {
    pub(crate) fn network(reason: impl Into<String>) -> Self {
        Self::Network {
            reason: reason.into(),
        }
    }
    pub(crate) fn unauthorized(reason: impl Into<String>) -> Self {
        Self::Unauthorized {
            reason: reason.into(),
        }
    }
    pub(crate) fn forbidden(reason: impl Into<String>) -> Self {
        Self::Forbidden {
            reason: reason.into(),
        }
    }
    pub(crate) fn conflict(reason: impl Into<String>) -> Self {
        Self::Conflict {
            reason: reason.into(),
        }
    }
    pub(crate) fn not_found(reason: impl Into<String>) -> Self {
        Self::NotFound {
            reason: reason.into(),
        }
    }
    pub(crate) fn storage(reason: impl Into<String>) -> Self {
        Self::Storage {
            reason: reason.into(),
        }
    }
    pub(crate) fn wrong_key(reason: impl Into<String>) -> Self {
        Self::WrongKey {
            reason: reason.into(),
        }
    }
    pub(crate) fn protocol(reason: impl Into<String>) -> Self {
        Self::Protocol {
            reason: reason.into(),
        }
    }
}

impl From<RecordInvalid> for GridbookError {
    fn from(e: RecordInvalid) -> Self {
        Self::InvalidRecord {
            violations: e.errors.into_iter().map(FieldViolation::from).collect(),
        }
    }
}

impl From<DocumentError> for GridbookError {
    fn from(e: DocumentError) -> Self {
        match e {
            DocumentError::Invalid(invalid) => invalid.into(),
            DocumentError::WrongKind { .. } => Self::not_found(e.to_string()),
            DocumentError::UnknownVersion(_) => Self::conflict(e.to_string()),
            DocumentError::Corrupt(_) | DocumentError::Header(_) => Self::storage(e.to_string()),
            DocumentError::Automerge(_) => Self::conflict(e.to_string()),
        }
    }
}

impl From<EditError> for GridbookError {
    fn from(e: EditError) -> Self {
        match e {
            EditError::UnknownDoc(_) => Self::not_found(e.to_string()),
            EditError::AlreadyExists(_) => Self::conflict(e.to_string()),
            EditError::Document(d) => d.into(),
        }
    }
}

impl From<ClientError> for GridbookError {
    fn from(e: ClientError) -> Self {
        Self::protocol(e.to_string())
    }
}

impl From<RestoreError> for GridbookError {
    fn from(e: RestoreError) -> Self {
        Self::storage(e.to_string())
    }
}

impl From<rusqlite::Error> for GridbookError {
    fn from(e: rusqlite::Error) -> Self {
        Self::storage(e.to_string())
    }
}
