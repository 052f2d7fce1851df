-- Shard-ready keys (issue 19): every per-record and per-grid table carries `street_id`, the
-- street of the record's grid, so that the tables can be distributed by street on
-- PostgreSQL-compatible distributed SQL (docs/ARCHITECTURE.md, "Beyond one database server").
-- A record never changes street: its grid moves only within its community, a community moves
-- street only while it has no grid, and a grid moves community only while it holds no record.
-- On PostgreSQL the street leads every primary key of these tables, and every unique
-- constraint includes it; the old keys stay as plain indexes for the lookups that do not name
-- the street yet. Lists read a supervisor's street through indexes led by the street, so their
-- time does not grow with the other streets stored.

-- Grids carry their street (copied from the community) and are keyed by it: the per-grid
-- sequence counter, bumped by every write, lives on the street's shard. Users are not
-- distributed, so their grid is no foreign key any more (the accounts API checks it).
ALTER TABLE grids ADD COLUMN street_id TEXT NOT NULL DEFAULT '';
UPDATE grids SET street_id = c.street_id FROM communities c WHERE c.id = grids.community_id;
ALTER TABLE grids ALTER COLUMN street_id DROP DEFAULT;
ALTER TABLE users DROP CONSTRAINT users_grid_id_fkey;
ALTER TABLE grids DROP CONSTRAINT grids_pkey;
ALTER TABLE grids ADD PRIMARY KEY (street_id, id);
CREATE INDEX grids_id ON grids (id);
CREATE INDEX grids_street ON grids (street_id, community_id);

-- docs
ALTER TABLE docs ADD COLUMN street_id TEXT NOT NULL DEFAULT '';
UPDATE docs SET street_id = g.street_id FROM grids g WHERE g.id = docs.grid_id;
ALTER TABLE docs ALTER COLUMN street_id DROP DEFAULT;
ALTER TABLE docs DROP CONSTRAINT docs_pkey;
ALTER TABLE docs ADD PRIMARY KEY (street_id, id);
CREATE INDEX docs_key ON docs (id);

-- changes
ALTER TABLE changes ADD COLUMN street_id TEXT NOT NULL DEFAULT '';
UPDATE changes SET street_id = g.street_id FROM grids g WHERE g.id = changes.grid_id;
ALTER TABLE changes ALTER COLUMN street_id DROP DEFAULT;
ALTER TABLE changes DROP CONSTRAINT changes_pkey;
ALTER TABLE changes ADD PRIMARY KEY (street_id, doc_id, hash);

-- household_index
ALTER TABLE household_index ADD COLUMN street_id TEXT NOT NULL DEFAULT '';
UPDATE household_index SET street_id = g.street_id FROM grids g WHERE g.id = household_index.grid_id;
ALTER TABLE household_index ALTER COLUMN street_id DROP DEFAULT;
ALTER TABLE household_index DROP CONSTRAINT household_index_pkey;
ALTER TABLE household_index ADD PRIMARY KEY (street_id, id);
CREATE INDEX household_index_key ON household_index (id);

-- household_private_index
ALTER TABLE household_private_index ADD COLUMN street_id TEXT NOT NULL DEFAULT '';
UPDATE household_private_index SET street_id = d.street_id FROM docs d WHERE d.id = household_private_index.household_id;
ALTER TABLE household_private_index ALTER COLUMN street_id DROP DEFAULT;
ALTER TABLE household_private_index DROP CONSTRAINT household_private_index_pkey;
ALTER TABLE household_private_index ADD PRIMARY KEY (street_id, household_id);
CREATE INDEX household_private_index_key ON household_private_index (household_id);

-- case_index
ALTER TABLE case_index ADD COLUMN street_id TEXT NOT NULL DEFAULT '';
UPDATE case_index SET street_id = g.street_id FROM grids g WHERE g.id = case_index.grid_id;
ALTER TABLE case_index ALTER COLUMN street_id DROP DEFAULT;
ALTER TABLE case_index DROP CONSTRAINT case_index_pkey;
ALTER TABLE case_index ADD PRIMARY KEY (street_id, id);
CREATE INDEX case_index_key ON case_index (id);

-- activity_index
ALTER TABLE activity_index ADD COLUMN street_id TEXT NOT NULL DEFAULT '';
UPDATE activity_index SET street_id = g.street_id FROM grids g WHERE g.id = activity_index.grid_id;
ALTER TABLE activity_index ALTER COLUMN street_id DROP DEFAULT;
ALTER TABLE activity_index DROP CONSTRAINT activity_index_pkey;
ALTER TABLE activity_index ADD PRIMARY KEY (street_id, id);
CREATE INDEX activity_index_key ON activity_index (id);

-- conflict_index
ALTER TABLE conflict_index ADD COLUMN street_id TEXT NOT NULL DEFAULT '';
UPDATE conflict_index SET street_id = g.street_id FROM grids g WHERE g.id = conflict_index.grid_id;
ALTER TABLE conflict_index ALTER COLUMN street_id DROP DEFAULT;
ALTER TABLE conflict_index DROP CONSTRAINT conflict_index_pkey;
ALTER TABLE conflict_index ADD PRIMARY KEY (street_id, id);
CREATE INDEX conflict_index_key ON conflict_index (id);

-- record_items
ALTER TABLE record_items ADD COLUMN street_id TEXT NOT NULL DEFAULT '';
UPDATE record_items SET street_id = g.street_id FROM grids g WHERE g.id = record_items.grid_id;
ALTER TABLE record_items ALTER COLUMN street_id DROP DEFAULT;
ALTER TABLE record_items DROP CONSTRAINT record_items_pkey;
ALTER TABLE record_items ADD PRIMARY KEY (street_id, doc_id, kind, item_id);
CREATE INDEX record_items_key ON record_items (doc_id, kind, item_id);

-- blob_refs
ALTER TABLE blob_refs ADD COLUMN street_id TEXT NOT NULL DEFAULT '';
UPDATE blob_refs SET street_id = g.street_id FROM grids g WHERE g.id = blob_refs.grid_id;
ALTER TABLE blob_refs ALTER COLUMN street_id DROP DEFAULT;
ALTER TABLE blob_refs DROP CONSTRAINT blob_refs_pkey;
ALTER TABLE blob_refs ADD PRIMARY KEY (street_id, doc_id, sha256, media_type, size);
CREATE INDEX blob_refs_key ON blob_refs (doc_id, sha256, media_type, size);

-- removals
ALTER TABLE removals ADD COLUMN street_id TEXT NOT NULL DEFAULT '';
UPDATE removals SET street_id = g.street_id FROM grids g WHERE g.id = removals.grid_id;
ALTER TABLE removals ALTER COLUMN street_id DROP DEFAULT;
ALTER TABLE removals DROP CONSTRAINT removals_pkey;
ALTER TABLE removals ADD PRIMARY KEY (street_id, grid_id, seq, doc_id);
CREATE INDEX removals_key ON removals (grid_id, seq, doc_id);

-- archived_households
ALTER TABLE archived_households ADD COLUMN street_id TEXT NOT NULL DEFAULT '';
UPDATE archived_households SET street_id = g.street_id FROM grids g WHERE g.id = archived_households.grid_id;
ALTER TABLE archived_households ALTER COLUMN street_id DROP DEFAULT;
ALTER TABLE archived_households DROP CONSTRAINT archived_households_pkey;
ALTER TABLE archived_households ADD PRIMARY KEY (street_id, household_id);
CREATE INDEX archived_households_key ON archived_households (household_id);
ALTER TABLE archived_households DROP CONSTRAINT archived_households_private_id_key;
ALTER TABLE archived_households ADD UNIQUE (street_id, private_id);
CREATE INDEX archived_households_private ON archived_households (private_id);

-- The lists and figures of a street, read in the order they are shown.
CREATE INDEX household_index_street ON household_index (street_id, address_key, id);
CREATE INDEX case_index_street_opened ON case_index (street_id, opened_at);
CREATE INDEX activity_index_street ON activity_index (street_id, kind, at);
CREATE INDEX conflict_index_street ON conflict_index (street_id, updated_at);
