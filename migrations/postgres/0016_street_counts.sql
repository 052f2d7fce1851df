-- A street's figures count its active households per grid. The index led by the street held
-- neither the status nor the grid, so the count read the whole table (10 streets stored: a
-- sequential scan of 170,000 rows for one street's 17,000) or fetched every household row.
-- Led by the street and holding both, it answers from the index alone.
CREATE INDEX household_index_street_status ON household_index (street_id, status, grid_id, liaison_group);
