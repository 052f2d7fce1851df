-- The audit log: sign-ins (and failed ones), reveals of masked personal data, exports, case
-- actions. Append-only; rows are never updated. Times are milliseconds since the Unix epoch.
-- `actor_id` is NULL for a failed sign-in with an unknown login (`actor_login` then holds the
-- login tried); no password is ever stored. `detail` is JSON text.
CREATE TABLE audit_log (
    id          TEXT PRIMARY KEY,
    at          BIGINT NOT NULL,
    actor_id    TEXT,
    actor_login TEXT NOT NULL,
    device_id   TEXT,
    action      TEXT NOT NULL,
    record_id   TEXT,
    field       TEXT,
    reason      TEXT,
    detail      TEXT,
    address     TEXT
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_actor_at ON audit_log (actor_id, at);
CREATE INDEX audit_log_login_at ON audit_log (actor_login, at);
CREATE INDEX audit_log_record_at ON audit_log (record_id, at);
