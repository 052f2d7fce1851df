-- The households a case concerns (its `household` and its parties' households), as
-- ",id1,id2," so `GET /v1/cases?household=` (a household's related cases) can match one id.
-- NULL on rows indexed before this migration: `Db::migrate` rebuilds the index when it
-- finds any (db::index::rebuild).
ALTER TABLE case_index ADD COLUMN households TEXT;
