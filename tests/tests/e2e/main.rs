//! End-to-end tests: the real server on port 0, real databases, real HTTP, phones built on
//! sync-core. Scenarios run on SQLite and, when configured, on PostgreSQL (a module's doc says
//! when it runs on one of them only); storage and start-up tests use a fresh database alone.

mod accounts;
mod actions;
mod assets;
mod attacks;
mod auth;
mod bad_input;
mod blobs;
mod case_actions;
mod conformance;
mod connections;
mod console_api;
mod county;
mod deep_documents;
mod demo;
mod departments;
mod detail;
mod figures;
mod history;
mod imports;
mod index;
mod js_client;
mod long_poll;
mod metrics;
mod misbehaving;
mod monthly_report;
mod openapi;
mod paperwork;
mod personal_data;
mod reports;
mod retention;
mod review;
mod schemas;
mod server_settings;
mod signing_keys;
mod street_keys;
mod support;
mod sync;
mod upgrade;
