//! End-to-end test harness for Gridbook. Filled by the server issue: it starts the real server on
//! port 0 against a fresh SQLite file or PostgreSQL database.
