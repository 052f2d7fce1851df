-- The conflict inbox: one row per record that needs a supervisor's look — fields holding
-- concurrently written values, case events made illegal by a merge, or a merge that broke a
-- rule (`docs.merged_invalid`). Maintained at write time with the other indexes; a record
-- without anything to look at has no row. Times are milliseconds since the Unix epoch.
CREATE TABLE conflict_index (
    id             TEXT PRIMARY KEY,
    kind           TEXT NOT NULL,
    community_id   TEXT NOT NULL,
    grid_id        TEXT NOT NULL,
    fields         BIGINT NOT NULL,
    illegal_events BIGINT NOT NULL,
    merged_invalid BOOLEAN NOT NULL,
    updated_at     BIGINT NOT NULL
);
CREATE INDEX conflict_index_grid ON conflict_index (grid_id, updated_at);
CREATE INDEX conflict_index_community ON conflict_index (community_id, updated_at);
