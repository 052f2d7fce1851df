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
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum GridbookError {
    /// The server could not be reached, timed out, or failed (5xx, 429). Nothing was lost:
    /// try again later.
    #[error("network: {message}")]
    Network {
        /// What happened.
        message: String,
    },
    /// Not signed in, or the session ended (expired refresh token, disabled user, revoked
    /// device). Ask the user to sign in again; local records are kept.
    #[error("unauthorized: {message}")]
    Unauthorized {
        /// What happened.
        message: String,
    },
    /// The signed-in user may not do this (another grid's record, another user's store).
    #[error("forbidden: {message}")]
    Forbidden {
        /// What happened.
        message: String,
    },
    /// An administrator reset the password: call `change_password` (with the temporary
    /// password as the old one) before anything else. Local records are kept.
    #[error("password change required: {message}")]
    PasswordChangeRequired {
        /// What happened.
        message: String,
    },
    /// The record breaks its rules; nothing was written. Show the violations by field.
    #[error("invalid record: {} broken rule(s)", violations.len())]
    InvalidRecord {
        /// Every broken rule.
        violations: Vec<FieldViolation>,
    },
    /// The edit does not fit the record's current state: an illegal case action, a record
    /// that exists already, an edit based on a version this phone does not hold.
    #[error("conflict: {message}")]
    Conflict {
        /// What happened.
        message: String,
    },
    /// No record with this id on this phone (or not of the asked kind).
    #[error("not found: {message}")]
    NotFound {
        /// What happened.
        message: String,
    },
    /// The local store could not be read or written (disk full, corrupt file). The edit
    /// in progress was not kept; earlier acknowledged edits are.
    #[error("storage: {message}")]
    Storage {
        /// What happened.
        message: String,
    },
    /// The key given at open was refused: empty, longer than 1024 bytes or holding a NUL
    /// (nothing was opened), or not the key this store was created with (or the file is not
    /// an encrypted Gridbook store). The file was not changed. A lost key cannot be
    /// recovered: delete the store, sign in again and sync (unsent edits are lost).
    #[error("wrong key: {message}")]
    WrongKey {
        /// What happened.
        message: String,
    },
    /// A file given to attach is not one Gridbook takes (a JPEG, PNG or WebP photo, a PDF
    /// document, recognised by its first bytes), is larger than 50 MiB, or does not decode
    /// as the picture it claims to be (or exceeds the decoding limits). Nothing was stored.
    #[error("unsupported file: {message}")]
    UnsupportedFile {
        /// What is wrong with the file.
        message: String,
    },
    /// The server and this library do not understand each other (a request refused as
    /// malformed, an unreadable response). Update the app; report it if it persists.
    #[error("protocol: {message}")]
    Protocol {
        /// What happened.
        message: String,
    },
}

impl GridbookError {
    pub(crate) fn network(message: impl Into<String>) -> Self {
        Self::Network {
            message: message.into(),
        }
    }
    pub(crate) fn unauthorized(message: impl Into<String>) -> Self {
        Self::Unauthorized {
            message: message.into(),
        }
    }
    pub(crate) fn forbidden(message: impl Into<String>) -> Self {
        Self::Forbidden {
            message: message.into(),
        }
    }
    pub(crate) fn conflict(message: impl Into<String>) -> Self {
        Self::Conflict {
            message: message.into(),
        }
    }
    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::NotFound {
            message: message.into(),
        }
    }
    pub(crate) fn storage(message: impl Into<String>) -> Self {
        Self::Storage {
            message: message.into(),
        }
    }
    pub(crate) fn wrong_key(message: impl Into<String>) -> Self {
        Self::WrongKey {
            message: message.into(),
        }
    }
    pub(crate) fn protocol(message: impl Into<String>) -> Self {
        Self::Protocol {
            message: message.into(),
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
