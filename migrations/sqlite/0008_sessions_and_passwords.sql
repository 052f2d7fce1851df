-- Sessions: one per sign-in (its id is the refresh-token family), so that an access token
-- (which names its session) dies with it: on sign-out, on refresh-token reuse, when the user
-- is disabled or changes their password elsewhere, when the device is revoked. `ended_at` is
-- NULL while the session lives.
CREATE TABLE sessions (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id),
    device_id  TEXT NOT NULL REFERENCES devices (id),
    created_at BIGINT NOT NULL,
    ended_at   BIGINT
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_device ON sessions (device_id);

-- The families signed in before this migration become sessions, ended if every token of the
-- family was revoked.
INSERT INTO sessions (id, user_id, device_id, created_at, ended_at)
SELECT family_id, MIN(user_id), MIN(device_id), MIN(issued_at),
       CASE WHEN COUNT(*) = COUNT(revoked_at) THEN MAX(revoked_at) END
FROM refresh_tokens GROUP BY family_id;

-- Set by an administrator's password reset: the user may sign in, but every route other than
-- changing the password answers 403 `password_change_required` until they do.
ALTER TABLE users ADD COLUMN must_change_password BOOLEAN NOT NULL DEFAULT FALSE;
