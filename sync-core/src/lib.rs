//! # Gridbook sync-core
//!
//! The records a grid worker keeps, as Automerge documents, and everything about them that
//! does not need I/O: typed reading and editing, validation, merge, conflicts, history, the
//! case workflow and deadlines, and both sides of the sync protocol's logic.
//!
//! ```
//! use sync_core::doc::{Author, Document, actor_for_device};
//! use sync_core::ids::DeviceId;
//! use sync_core::models::household::{Address, Household};
//! use sync_core::record::Place;
//! use sync_core::time::Timestamp;
//! use sync_core::validate::ValidationContext;
//!
//! let ctx = ValidationContext::default();
//! let place = Place { community: "dzk".parse()?, grid: "dzk-01".parse()? };
//! let address = Address {
//!     compound: "乌江水岸".into(), building: "3".into(), unit: "1".into(), room: "402".into(),
//! };
//! let phone = Author::new(actor_for_device(&DeviceId::new()), Timestamp::from_millis(0));
//! let mut doc = Document::create(&Household::new(place, address), &phone, &ctx)?;
//!
//! // Another phone edits a copy offline while this one edits the original.
//! let mut other = doc.clone();
//! let phone2 = Author::new(actor_for_device(&DeviceId::new()), Timestamp::from_millis(1));
//! other.update(&phone2, &ctx, |h: &mut Household| {
//!     h.tags.push("rental".into());
//!     Ok::<_, sync_core::doc::DocumentError>(())
//! })?;
//! doc.update(&phone, &ctx, |h: &mut Household| {
//!     h.notes = "elderly couple".into();
//!     Ok::<_, sync_core::doc::DocumentError>(())
//! })?;
//!
//! // Merging keeps both edits.
//! doc.automerge_mut().merge(other.automerge_mut())?;
//! let merged: Household = doc.read()?;
//! assert_eq!(merged.tags, ["rental"]);
//! assert_eq!(merged.notes, "elderly couple");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod client;
pub mod conflicts;
pub mod deadline;
pub mod doc;
pub mod enums;
pub mod figures;
pub mod history;
pub mod ids;
pub mod json;
pub mod models;
pub mod protocol;
pub mod record;
pub mod schema;
pub mod server;
pub mod shape;
pub mod tasks;
pub mod time;
pub mod validate;
pub mod vocab;
pub mod workflow;
