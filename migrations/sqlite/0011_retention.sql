-- Issue 15, retention: a household that moved away can be archived; its private document then
-- leaves every phone (a removal read by cursor, like changes) and is erased from the server
-- after the retention period. The rows below hold ids and times only, never personal data.
CREATE TABLE archived_households (
    household_id TEXT PRIMARY KEY,
    private_id   TEXT NOT NULL UNIQUE,
    grid_id      TEXT NOT NULL,
    archived_at  BIGINT NOT NULL,
    archived_by  TEXT NOT NULL,
    erase_after  BIGINT NOT NULL,
    erased_at    BIGINT,
    -- The household document goes too: its Automerge history holds residents' personal data
    -- (written before the private documents, docs.personal_history).
    with_household BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX archived_households_due ON archived_households (erase_after);
-- Documents phones must drop, in the grid's sequence (a write bumps the grid's counter).
CREATE TABLE removals (
    grid_id TEXT NOT NULL,
    seq     BIGINT NOT NULL,
    doc_id  TEXT NOT NULL,
    PRIMARY KEY (grid_id, seq, doc_id)
);
-- An archived document is no longer sent or written; its row stays until it is erased.
ALTER TABLE docs ADD COLUMN archived BOOLEAN NOT NULL DEFAULT FALSE;
