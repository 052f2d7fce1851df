-- Shard-ready keys (issue 19): every per-record and per-grid table carries `street_id`, the
-- street of the record's grid, so that the tables can be distributed by street on
-- PostgreSQL-compatible distributed SQL (docs/ARCHITECTURE.md, "Beyond one database server").
-- A record never changes street: its grid moves only within its community, a community moves
-- street only while it has no grid, and a grid moves community only while it holds no record.
-- On SQLite (one street, or a few) the tables keep their keys and gain a unique index led by
-- the street for the upserts, which name (street_id, id) as their conflict target on both
-- backends; the lists' indexes led by the street are the same as on PostgreSQL.

ALTER TABLE grids ADD COLUMN street_id TEXT NOT NULL DEFAULT '';
UPDATE grids SET street_id = (SELECT c.street_id FROM communities c WHERE c.id = grids.community_id);
CREATE UNIQUE INDEX grids_street_id ON grids (street_id, id);
CREATE INDEX grids_street ON grids (street_id, community_id);

-- docs
ALTER TABLE docs ADD COLUMN street_id TEXT NOT NULL DEFAULT '';
UPDATE docs SET street_id = COALESCE((SELECT g.street_id FROM grids g WHERE g.id = docs.grid_id), '');
CREATE UNIQUE INDEX docs_street_key ON docs (street_id, id);

-- changes
ALTER TABLE changes ADD COLUMN street_id TEXT NOT NULL DEFAULT '';
UPDATE changes SET street_id = COALESCE((SELECT g.street_id FROM grids g WHERE g.id = changes.grid_id), '');

-- household_index
ALTER TABLE household_index ADD COLUMN street_id TEXT NOT NULL DEFAULT '';
UPDATE household_index SET street_id = COALESCE((SELECT g.street_id FROM grids g WHERE g.id = household_index.grid_id), '');
CREATE UNIQUE INDEX household_index_street_key ON household_index (street_id, id);

-- household_private_index
ALTER TABLE household_private_index ADD COLUMN street_id TEXT NOT NULL DEFAULT '';
UPDATE household_private_index SET street_id = COALESCE((SELECT d.street_id FROM docs d WHERE d.id = household_private_index.household_id), '');
CREATE UNIQUE INDEX household_private_index_street_key ON household_private_index (street_id, household_id);

-- case_index
ALTER TABLE case_index ADD COLUMN street_id TEXT NOT NULL DEFAULT '';
UPDATE case_index SET street_id = COALESCE((SELECT g.street_id FROM grids g WHERE g.id = case_index.grid_id), '');
CREATE UNIQUE INDEX case_index_street_key ON case_index (street_id, id);

-- activity_index
ALTER TABLE activity_index ADD COLUMN street_id TEXT NOT NULL DEFAULT '';
UPDATE activity_index SET street_id = COALESCE((SELECT g.street_id FROM grids g WHERE g.id = activity_index.grid_id), '');
CREATE UNIQUE INDEX activity_index_street_key ON activity_index (street_id, id);

-- conflict_index
ALTER TABLE conflict_index ADD COLUMN street_id TEXT NOT NULL DEFAULT '';
UPDATE conflict_index SET street_id = COALESCE((SELECT g.street_id FROM grids g WHERE g.id = conflict_index.grid_id), '');
CREATE UNIQUE INDEX conflict_index_street_key ON conflict_index (street_id, id);

-- record_items
ALTER TABLE record_items ADD COLUMN street_id TEXT NOT NULL DEFAULT '';
UPDATE record_items SET street_id = COALESCE((SELECT g.street_id FROM grids g WHERE g.id = record_items.grid_id), '');

-- blob_refs
ALTER TABLE blob_refs ADD COLUMN street_id TEXT NOT NULL DEFAULT '';
UPDATE blob_refs SET street_id = COALESCE((SELECT g.street_id FROM grids g WHERE g.id = blob_refs.grid_id), '');

-- removals
ALTER TABLE removals ADD COLUMN street_id TEXT NOT NULL DEFAULT '';
UPDATE removals SET street_id = COALESCE((SELECT g.street_id FROM grids g WHERE g.id = removals.grid_id), '');

-- archived_households
ALTER TABLE archived_households ADD COLUMN street_id TEXT NOT NULL DEFAULT '';
UPDATE archived_households SET street_id = COALESCE((SELECT g.street_id FROM grids g WHERE g.id = archived_households.grid_id), '');
CREATE UNIQUE INDEX archived_households_street_key ON archived_households (street_id, household_id);

-- The lists and figures of a street, read in the order they are shown.
CREATE INDEX household_index_street ON household_index (street_id, address_key, id);
CREATE INDEX case_index_street_opened ON case_index (street_id, opened_at);
CREATE INDEX activity_index_street ON activity_index (street_id, kind, at);
CREATE INDEX conflict_index_street ON conflict_index (street_id, updated_at);
