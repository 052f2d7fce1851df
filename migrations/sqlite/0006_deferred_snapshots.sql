-- A record's snapshot is rewritten only every so often (`db::docs::SNAPSHOT_AFTER` logged
-- changes), not on every write. Loading a record reads its snapshot and applies the changes
-- logged after it: those whose `doc_version` (the record's write counter when the change was
-- logged) is above the row's `snapshot_version`. `pending_changes` counts them.
-- Rows written before this migration hold a snapshot with every change (0 pending).
ALTER TABLE changes ADD COLUMN doc_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE docs ADD COLUMN snapshot_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE docs ADD COLUMN pending_changes BIGINT NOT NULL DEFAULT 0;
