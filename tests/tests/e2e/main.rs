//! End-to-end tests: the real server on port 0, real databases, real HTTP, phones built on
//! sync-core. Every scenario runs on SQLite and, when configured, on PostgreSQL.

mod accounts;
mod actions;
mod attacks;
mod bad_input;
mod case_actions;
mod connections;
mod console_api;
mod deep_documents;
mod detail;
mod figures;
mod history;
mod long_poll;
mod misbehaving;
mod personal_data;
mod review;
mod server_settings;
mod support;
mod sync;
