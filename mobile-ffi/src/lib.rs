//! Gridbook's phone library: UniFFI exports that delegate to `sync-core`.
//!
//! This crate is a placeholder until the phone-library issue lands; see `docs/ARCHITECTURE.md`.
