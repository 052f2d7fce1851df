//! Gridbook server: persists merged records with sqlx (SQLite by default, PostgreSQL for real
//! deployments), serves JWT-authenticated sync (`POST /v1/sync`) and the supervisors' API.
//!
//! Map: [`config`] (settings), [`state`] (what handlers share), [`app`] (middleware,
//! serving), [`routes`] (thin handlers) over the services: [`records`], [`lists`],
//! [`exports`], [`figures`], [`reports`] (the monthly report), [`places`] (the hierarchy as administrators change it),
//! [`accounts`] (users, passwords), [`auth`] (tokens, sessions, sign-in throttling, callers);
//! [`scope`] (who may read and write what), [`cache`] (bounded record cache), [`db`] (all
//! SQL), [`error`] (the one error type), [`openapi`] (the OpenAPI document), [`console`]
//! (the supervisors' web console, files in `server/console/`).

pub mod accounts;
pub mod app;
pub mod assets;
pub mod audit;
pub mod auth;
pub mod backup;
pub mod blobs;
pub mod cache;
pub mod config;
pub mod console;
pub mod db;
pub mod demo;
pub mod error;
pub mod exports;
pub mod figures;
pub mod http;
pub mod imports;
pub mod index;
pub mod lists;
pub mod live;
pub mod mask;
pub mod metrics;
pub mod net;
pub mod openapi;
pub mod places;
pub mod records;
pub mod reports;
pub mod routes;
pub mod scope;
pub mod state;
pub mod vocabulary;
