-- Photos and files (issue 17). The bytes live in the blob folder, stored by their SHA-256;
-- records hold references (`attachments`), never the bytes.

-- Blobs whose bytes are complete and checked. `orphan_since`: when the garbage collector
-- first found no record referencing it (NULL while referenced); the blob is deleted once that
-- is older than the grace period.
CREATE TABLE blobs (
    sha256       TEXT PRIMARY KEY,
    media_type   TEXT NOT NULL,
    size         BIGINT NOT NULL,
    stored_at    BIGINT NOT NULL,
    orphan_since BIGINT
);

-- Which record references which blob, with the media type and size the reference claims
-- (an upload must match one of them), what it shows (`stage`: before / after rectification,
-- ...) and the record's place: replaced whole with the record's other index rows at every
-- write.
CREATE TABLE blob_refs (
    doc_id       TEXT NOT NULL,
    sha256       TEXT NOT NULL,
    media_type   TEXT NOT NULL,
    size         BIGINT NOT NULL,
    stage        TEXT,
    community_id TEXT NOT NULL,
    grid_id      TEXT NOT NULL,
    PRIMARY KEY (doc_id, sha256, media_type, size)
);
CREATE INDEX blob_refs_sha256 ON blob_refs (sha256);
