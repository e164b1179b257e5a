-- Repository mirroring (FEATURE_REPO_MIRROR): one pull mirror per
-- repository. The upstream credentials are stored encrypted with the
-- registry's field key; `root_rule` is the JSON array of tag globs and
-- `external_registry_config` the JSON of verify_tls, unsigned_images and
-- proxy. Dates are milliseconds; `sync_status` uses Quay's numbers
-- (-2 CANCEL, -1 FAIL, 0 NEVER_RUN, 1 SUCCESS, 2 SYNCING, 3 SYNC_NOW).
-- A worker claims a sync by a conditional UPDATE that sets
-- `sync_transaction_id` and `sync_expiration_date`.
CREATE TABLE repomirrorconfig (
    id BIGSERIAL PRIMARY KEY,
    repository_id BIGINT NOT NULL UNIQUE REFERENCES repository (id),
    is_enabled BOOLEAN NOT NULL DEFAULT TRUE,
    mirror_type INTEGER NOT NULL DEFAULT 1,
    internal_robot_id BIGINT REFERENCES "user" (id),
    external_reference TEXT NOT NULL,
    external_registry_username TEXT,
    external_registry_password TEXT,
    external_registry_config TEXT NOT NULL DEFAULT '{}',
    sync_interval BIGINT NOT NULL,
    sync_start_date BIGINT,
    sync_expiration_date BIGINT,
    sync_retries_remaining INTEGER NOT NULL DEFAULT 3,
    sync_status INTEGER NOT NULL DEFAULT 0,
    sync_transaction_id TEXT NOT NULL DEFAULT '',
    root_rule TEXT NOT NULL DEFAULT '[]',
    skopeo_timeout BIGINT NOT NULL DEFAULT 300,
    sync_tags_done INTEGER NOT NULL DEFAULT 0,
    sync_tags_total INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX repomirrorconfig_sync ON repomirrorconfig (sync_status, sync_start_date);
