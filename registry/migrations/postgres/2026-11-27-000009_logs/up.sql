-- Usage logs: one row per action, with Quay's kind names.
CREATE TABLE logentry3 (
    id BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL,
    account_id BIGINT,
    performer_id BIGINT,
    repository_id BIGINT,
    datetime_ms BIGINT NOT NULL,
    ip TEXT,
    metadata_json TEXT NOT NULL
);
CREATE INDEX logentry3_account_time ON logentry3 (account_id, datetime_ms);
CREATE INDEX logentry3_repository_time ON logentry3 (repository_id, datetime_ms);
CREATE INDEX logentry3_performer_time ON logentry3 (performer_id, datetime_ms);
CREATE INDEX logentry3_time ON logentry3 (datetime_ms);

-- Requested log exports, worked off by the worker.
CREATE TABLE logexport (
    id BIGSERIAL PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    requester_id BIGINT NOT NULL,
    account_id BIGINT,
    repository_id BIGINT,
    start_ms BIGINT NOT NULL,
    end_ms BIGINT NOT NULL,
    callback_url TEXT,
    callback_email TEXT,
    status TEXT NOT NULL,
    storage_key TEXT,
    expires_ms BIGINT,
    attempts INTEGER NOT NULL DEFAULT 0,
    available_after_ms BIGINT NOT NULL,
    created_ms BIGINT NOT NULL,
    -- scheme://host the download link points at.
    link_base TEXT NOT NULL DEFAULT '',
    -- While a worker holds the export: other workers skip it until then.
    processing_expires_ms BIGINT
);
CREATE INDEX logexport_status ON logexport (status, available_after_ms);
