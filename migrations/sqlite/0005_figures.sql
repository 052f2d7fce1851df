-- Figures (GET /v1/figures) are SQL aggregates over the query indexes. A resolved case keeps
-- whether it was resolved within the budget of the step that ended when it was resolved
-- (NULL while never resolved, and for rows indexed before this column until `db::index::rebuild` runs).
ALTER TABLE case_index ADD COLUMN resolved_on_time BOOLEAN;

-- Visit coverage counts distinct households visited per grid in a period.
CREATE INDEX activity_index_visits ON activity_index (kind, grid_id, at, household);
