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
mod phone;
mod store;
pub mod types;

pub use error::{FieldViolation, GridbookError};
pub use phone::{
    Account, CaseProgress, ConflictList, ConflictedValue, FieldConflict, HistoryItem, Phone,
    PreparedSync, RecordEntry, RecordSummary, Rejection, SyncSummary,
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

/// A new active household with no residents, at `place` and `address`.
#[uniffi::export]
pub fn new_household(place: Place, address: Address) -> Household {
    Household::new(place, address)
}
