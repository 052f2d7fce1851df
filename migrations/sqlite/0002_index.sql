-- Query indexes, SQLite. Maintained at write time (sync and the demo loader) from each
-- record, so supervisors' lists and filters never load documents. Times are milliseconds
-- since the Unix epoch. Lists of codes are stored as `,a,b,` so `LIKE '%,a,%'` matches one.

-- One row per household.
CREATE TABLE household_index (
    id             TEXT PRIMARY KEY,
    community_id   TEXT NOT NULL,
    grid_id        TEXT NOT NULL,
    liaison_group  TEXT,
    status         TEXT NOT NULL,
    compound       TEXT NOT NULL,
    building       TEXT NOT NULL,
    unit           TEXT NOT NULL,
    room           TEXT NOT NULL,
    -- Lowercased address and resident names, for `q` search.
    search         TEXT NOT NULL,
    -- Residents present.
    residents      BIGINT NOT NULL,
    special_groups TEXT NOT NULL,
    tags           TEXT NOT NULL,
    updated_at     BIGINT NOT NULL
);
CREATE INDEX household_index_grid ON household_index (grid_id, compound, building, unit, room);
CREATE INDEX household_index_community ON household_index (community_id, compound, building, unit, room);
-- Street-wide lists in address order walk this index instead of sorting every row.
CREATE INDEX household_index_address ON household_index (compound, building, unit, room, id);
CREATE INDEX household_index_grid_status ON household_index (grid_id, status);
CREATE INDEX household_index_group ON household_index (grid_id, liaison_group);
CREATE INDEX household_index_updated ON household_index (updated_at);

-- One row per case: the folded workflow and the current step's deadline. A case is yellow
-- when `yellow_at <= now < due_at` and red (overdue) when `due_at <= now`; a suspended case's
-- clock stands still, so its level at indexing time is kept in `paused_level`.
CREATE TABLE case_index (
    id             TEXT PRIMARY KEY,
    community_id   TEXT NOT NULL,
    grid_id        TEXT NOT NULL,
    case_kind      TEXT NOT NULL,
    category       TEXT NOT NULL,
    state          TEXT NOT NULL,
    escalated      BOOLEAN NOT NULL,
    supervision    TEXT,
    assignee       TEXT,
    opened_by      TEXT NOT NULL,
    opened_at      BIGINT NOT NULL,
    resolved_at    BIGINT,
    closed_at      BIGINT,
    step           TEXT,
    started_at     BIGINT,
    yellow_at      BIGINT,
    due_at         BIGINT,
    paused         BOOLEAN NOT NULL,
    paused_level   TEXT,
    reopened       BIGINT NOT NULL,
    illegal_events BIGINT NOT NULL,
    confidential   BOOLEAN NOT NULL,
    subject        TEXT NOT NULL,
    updated_at     BIGINT NOT NULL
);
CREATE INDEX case_index_grid_opened ON case_index (grid_id, opened_at);
CREATE INDEX case_index_community_opened ON case_index (community_id, opened_at);
CREATE INDEX case_index_grid_state ON case_index (grid_id, state, opened_at);
CREATE INDEX case_index_grid_kind ON case_index (grid_id, case_kind, opened_at);
CREATE INDEX case_index_due ON case_index (grid_id, due_at);
CREATE INDEX case_index_state_due ON case_index (state, due_at);
CREATE INDEX case_index_assignee ON case_index (assignee);

-- One row per visit, patrol, activity, party registration or asset. `at` is the visit,
-- patrol start, activity or registration time (NULL for assets); `subtype` the visit method,
-- activity kind, registrant kind or asset kind; `label` a short title (no personal data).
CREATE TABLE activity_index (
    id           TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    community_id TEXT NOT NULL,
    grid_id      TEXT NOT NULL,
    at           BIGINT,
    subtype      TEXT,
    household    TEXT,
    worker       TEXT,
    head_count   BIGINT,
    label        TEXT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX activity_index_grid ON activity_index (kind, grid_id, at);
CREATE INDEX activity_index_community ON activity_index (kind, community_id, at);
CREATE INDEX activity_index_at ON activity_index (kind, at);
