-- The street office's paperwork (issue 18).

-- Households in natural address order (building 2 before building 10): the key is computed
-- from the address by `Address::sort_key` and compared bytewise.
ALTER TABLE household_index ADD COLUMN address_key TEXT NOT NULL DEFAULT '';
DROP INDEX household_index_grid;
DROP INDEX household_index_community;
DROP INDEX household_index_address;
CREATE INDEX household_index_grid ON household_index (grid_id, address_key, id);
CREATE INDEX household_index_community ON household_index (community_id, address_key, id);
CREATE INDEX household_index_address ON household_index (address_key, id);

-- A dispute's mediation outcome: that of its latest session (the monthly report's
-- mediation success rate).
ALTER TABLE case_index ADD COLUMN mediation_outcome TEXT;

-- Dated items inside records that figures sum over: an asset's leases (`lease`: `at` its
-- first day, `until` its last, `amount` the yearly rent in fen, `label` the tenant) and
-- ledger entries (`ledger`: `subtype` income or expense, `amount` in fen, `label` the
-- note), a party member's service entries (`service`: `amount` in hours). Days are stored
-- as 00:00 China time in ms. Replaced whole with the record's other index rows.
CREATE TABLE record_items (
    doc_id       TEXT NOT NULL,
    item_id      TEXT NOT NULL,
    kind         TEXT NOT NULL,
    community_id TEXT NOT NULL,
    grid_id      TEXT NOT NULL,
    at           INTEGER NOT NULL,
    until        INTEGER,
    amount       INTEGER NOT NULL,
    subtype      TEXT,
    label        TEXT NOT NULL,
    PRIMARY KEY (doc_id, kind, item_id)
);
CREATE INDEX record_items_grid ON record_items (grid_id, kind, at);
CREATE INDEX record_items_until ON record_items (kind, until);

-- Which version of the index rules the stored index rows follow. When the server's rules are
-- newer (`db::index::INDEX_VERSION`), `Db::migrate` rebuilds the index from the records.
CREATE TABLE index_state (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
