-- Issue 15: residents' identities and special groups live in each household's private document
-- (kind `household_private`). A household's `special_groups` column is derived from both
-- documents: the groups recorded in the private document for the residents the household
-- document lists as present.
ALTER TABLE household_index ADD COLUMN present_residents TEXT NOT NULL DEFAULT '';
-- The special groups of each resident, from the household's private document: a JSON object
-- {resident id: [group code, ...]}.
CREATE TABLE household_private_index (
    household_id TEXT PRIMARY KEY,
    groups       TEXT NOT NULL
);
-- Data migrations the server runs at start (in Rust, as Automerge changes through the push
-- pipeline), each recorded once done: e.g. `0010_household_private_split`, which moves the
-- residents' personal data of households written in the old layout to their private documents.
CREATE TABLE data_migrations (
    name    TEXT PRIMARY KEY,
    done_at BIGINT NOT NULL
);
-- Whether a document's Automerge history holds personal data: deleting a value keeps it in
-- the history every phone receives with the document. Every household written before this
-- migration held its residents' ID numbers and phones; later ones only when a phone of the old
-- layout writes them again. Such documents reach only grid workers' phones.
ALTER TABLE docs ADD COLUMN personal_history BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE docs SET personal_history = TRUE WHERE kind = 'household';
