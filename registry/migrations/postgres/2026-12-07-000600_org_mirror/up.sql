-- Organization-level mirroring (FEATURE_ORG_MIRROR): one configuration per
-- organization naming a source registry (`external_registry_type` 1 HARBOR,
-- 2 QUAY) and namespace; every repository discovered there is listed in
-- orgmirrorrepository and synced into a repository of the organization in
-- state ORG_MIRROR (4). Credentials are stored encrypted with the registry's
-- field key; `repository_filters` is a JSON array of globs. Dates are
-- milliseconds; statuses use Quay's numbers (-2 CANCEL, -1 FAIL, 0
-- NEVER_RUN, 1 SUCCESS, 2 SYNCING, 3 SYNC_NOW). Workers claim discoveries
-- and repository syncs by conditional UPDATEs setting
-- `sync_transaction_id` and `sync_expiration_date`.
CREATE TABLE orgmirrorconfig (
    id BIGSERIAL PRIMARY KEY,
    organization_id BIGINT NOT NULL UNIQUE REFERENCES "user" (id),
    creation_date BIGINT NOT NULL,
    is_enabled BOOLEAN NOT NULL DEFAULT TRUE,
    mirror_type INTEGER NOT NULL DEFAULT 1,
    external_registry_type INTEGER NOT NULL,
    external_registry_url TEXT NOT NULL,
    external_namespace TEXT NOT NULL,
    external_registry_username TEXT,
    external_registry_password TEXT,
    external_registry_config TEXT NOT NULL DEFAULT '{}',
    internal_robot_id BIGINT REFERENCES "user" (id),
    repository_filters TEXT NOT NULL DEFAULT '[]',
    visibility TEXT NOT NULL,
    sync_interval BIGINT NOT NULL,
    sync_start_date BIGINT,
    sync_expiration_date BIGINT,
    sync_retries_remaining INTEGER NOT NULL DEFAULT 3,
    sync_status INTEGER NOT NULL DEFAULT 0,
    sync_transaction_id TEXT NOT NULL DEFAULT '',
    skopeo_timeout BIGINT NOT NULL DEFAULT 300
);
CREATE INDEX orgmirrorconfig_sync ON orgmirrorconfig (sync_status, sync_start_date);
CREATE INDEX orgmirrorconfig_internal_robot_id ON orgmirrorconfig (internal_robot_id);

CREATE TABLE orgmirrorrepository (
    id BIGSERIAL PRIMARY KEY,
    org_mirror_config_id BIGINT NOT NULL REFERENCES orgmirrorconfig (id),
    repository_name TEXT NOT NULL,
    repository_id BIGINT REFERENCES repository (id),
    discovery_date BIGINT NOT NULL,
    sync_status INTEGER NOT NULL DEFAULT 0,
    sync_start_date BIGINT,
    sync_expiration_date BIGINT,
    sync_retries_remaining INTEGER NOT NULL DEFAULT 3,
    sync_transaction_id TEXT NOT NULL DEFAULT '',
    last_sync_date BIGINT,
    status_message TEXT,
    creation_date BIGINT NOT NULL
);
CREATE UNIQUE INDEX orgmirrorrepository_config_repo_name ON orgmirrorrepository (org_mirror_config_id, repository_name);
CREATE INDEX orgmirrorrepository_repository_id ON orgmirrorrepository (repository_id);
CREATE INDEX orgmirrorrepository_config_status ON orgmirrorrepository (org_mirror_config_id, sync_status);
