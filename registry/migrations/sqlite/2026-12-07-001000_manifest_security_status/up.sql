-- Security scanning (FEATURE_SECURITY_SCANNER, Clair v4): one row per
-- manifest the indexer has seen, with Quay's index_status values
-- (3 queued, 1 in progress, 2 completed, -1 failed, -2 unsupported,
-- -3 a layer too large), the indexer state it was indexed under and when.
CREATE TABLE manifestsecuritystatus (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    manifest_id BIGINT NOT NULL UNIQUE,
    repository_id BIGINT NOT NULL,
    index_status INTEGER NOT NULL,
    error_json TEXT NOT NULL,
    last_indexed_ms BIGINT NOT NULL,
    indexer_hash TEXT NOT NULL,
    indexer_version INTEGER NOT NULL,
    metadata_json TEXT NOT NULL
);
CREATE INDEX manifestsecuritystatus_status ON manifestsecuritystatus (index_status, last_indexed_ms);
CREATE INDEX manifestsecuritystatus_repository ON manifestsecuritystatus (repository_id);
