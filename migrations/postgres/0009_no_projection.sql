-- The JSON projection of each record was written at every write and never read: a record's
-- JSON is rendered from its document when it is loaded (and cached), and lists and figures
-- read the query indexes. Dropping it saves a write of the whole record's JSON per push.
ALTER TABLE docs DROP COLUMN projection;
