//! # Gridbook's phone library
//!
//! Everything an Android or iOS app needs offline, exported with UniFFI (proc macros): a
//! durable local store encrypted with SQLCipher under the app's key ([`Phone::open`]),
//! sign-in ([`Phone::login`]), typed records with sync-core's validation
//! ([`Phone::create_household`], [`Phone::update_household`], ...), lists and search,
//! conflicts and history, and sync, either blocking ([`Phone::sync`]) or as bytes for the
//! app's own networking ([`Phone::build_sync_request`], [`Phone::apply_sync_response`]).
//! Errors are one small enum, [`GridbookError`].
//!
//! Each export is a thin delegate: record rules, merge and the sync protocol live in
//! `sync-core`. Bindings: `scripts/bindgen` (Kotlin, Swift, Python) with the
//! `uniffi-bindgen` binary of this crate.
//!
//! ```
//! use gridbook_mobile::Phone;
//! use sync_core::models::household::{Address, Household};
//! use sync_core::record::Place;
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("phone.db").to_string_lossy().into_owned();
//! // The app's store key, kept in the Android Keystore or the iOS Keychain.
//! let key = "2b7e151628aed2a6abf7158809cf4f3c762e7160f38b4da56a784d9045190cfe".to_owned();
//! let phone = Phone::open(path.clone(), key.clone())?;
//! let place = Place { community: "dzk".parse()?, grid: "dzk-01".parse()? };
//! let address = Address {
//!     compound: "乌江水岸".into(), building: "3".into(), unit: "1".into(), room: "402".into(),
//! };
//! let household = Household::new(place, address);
//! phone.create_household(household.clone())?;
//! assert_eq!(phone.pending_count(), 1);
//!
//! // Reopened (say, after the app was killed), the store holds the acknowledged edit.
//! drop(phone);
//! let phone = Phone::open(path, key)?;
//! assert_eq!(phone.household(household.id.to_string())?, household);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

uniffi::setup_scaffolding!("gridbook");

mod error;
mod http;
mod media;
mod phone;
mod store;
pub mod types;

pub use error::{FieldViolation, GridbookError};
pub use phone::{
    Account, AttachOptions, AttachSource, AttachmentStatus, BlobState, CaseProgress, ConflictList,
    ConflictedValue, FieldConflict, HistoryItem, Phone, PreparedSync, RecordEntry, RecordSummary,
    Rejection, SyncSummary,
};

use sync_core::ids::{DocId, ItemId, ResidentId};
use sync_core::models::household::{Address, Household};
use sync_core::record::Place;

/// A new record id (UUIDv7), for a record the app is about to create.
#[uniffi::export]
pub fn new_record_id() -> DocId {
    DocId::new()
}

/// A new id for an item inside a record (special group, case party, patrol member, ...).
#[uniffi::export]
pub fn new_item_id() -> ItemId {
    ItemId::new()
}

/// A new resident id.
#[uniffi::export]
pub fn new_resident_id() -> ResidentId {
    ResidentId::new()
}

/// One code of the vocabulary with its labels.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct VocabularyEntry {
    /// The code as stored and sent (`closed`).
    pub code: String,
    /// Its label in Chinese (`已结案`).
    pub zh: String,
    /// Its label in English.
    pub en: String,
}

/// A named group of codes (`case_state`, `special_group`, ...).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct VocabularyGroup {
    /// The group's name.
    pub name: String,
    /// Its codes in order.
    pub entries: Vec<VocabularyEntry>,
}

/// The one vocabulary (the same the server serves at `GET /v1/vocabulary` and the console and
/// the exports use): every group of codes with their Chinese and English labels, so the app
/// never shows a raw code and never names one code two ways.
#[uniffi::export]
pub fn vocabulary() -> Vec<VocabularyGroup> {
    sync_core::vocab::groups()
        .into_iter()
        .map(|g| VocabularyGroup {
            name: g.name.to_owned(),
            entries: g
                .entries
                .iter()
                .map(|e| VocabularyEntry {
                    code: e.code.to_owned(),
                    zh: e.zh.to_owned(),
                    en: e.en.to_owned(),
                })
                .collect(),
        })
        .collect()
}

/// The label of `code` in vocabulary group `group` (e.g. `case_state`, `closed` → `已结案`),
/// in English when `english`; a code the vocabulary does not know (one a deployment added to
/// an open list) comes back as it is.
#[uniffi::export]
pub fn label(group: String, code: String, english: bool) -> String {
    sync_core::vocab::lookup(&sync_core::vocab::groups(), &group, &code).map_or(code.clone(), |e| {
        if english { e.en } else { e.zh }.to_owned()
    })
}

/// A new active household with no residents, at `place` and `address`.
#[uniffi::export]
pub fn new_household(place: Place, address: Address) -> Household {
    Household::new(place, address)
}
