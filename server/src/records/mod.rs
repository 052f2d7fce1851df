//! The records service: everything between the routes and the database that concerns
//! records, so that a route only parses its request, calls one function here and answers.
//!
//! * [`load`]: one loader for every caller, cache-aside ([`crate::cache`] then the
//!   database), and the record a caller may read ([`load::readable`]).
//! * [`push`]: deciding pushed documents with `sync_core::server::apply_push` and persisting
//!   the accepted ones in one writing transaction. Phones' syncs, supervisors' case actions
//!   and conflict resolutions all write through it, so every change is checked, logged and
//!   sequenced the same way.
//! * [`sync`]: the whole `POST /v1/sync` exchange: push, read what the caller lacks, long poll.
//! * [`actions`]: a supervisor's case action as a push.
//! * [`resolve`]: a conflict resolution as a push, and the inbox's report.
//! * [`detail`]: what a supervisor sees of one record (masked), a reveal, a page of history.
//! * [`legacy`]: households in the layout before their private documents: the start-up
//!   migration and the moving of what an old phone writes there.
//! * [`retention`]: archiving a household that moved away; erasing its private document
//!   after the retention period.
//! * [`work`]: CPU work on blocking threads, cancelled when its request is dropped.

pub mod actions;
pub mod detail;
pub mod legacy;
pub mod load;
pub mod push;
pub mod resolve;
pub mod retention;
pub mod sync;
pub mod work;
