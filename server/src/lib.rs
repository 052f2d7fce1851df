//! Gridbook server: axum + sqlx persistence of merged records, JWT-authenticated sync and the
//! supervisors' review API.
//!
//! This crate is a placeholder until the server issue lands; see `docs/ARCHITECTURE.md`.
