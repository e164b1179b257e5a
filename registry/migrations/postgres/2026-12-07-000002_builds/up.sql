-- Files dropped through /api/v1/filedrop/ and uploaded to /userfiles/<uuid>:
-- the build contexts of manual builds. `uploaded_ms` is set when an upload
-- starts, so a second one is refused; `size` when its bytes are stored.
CREATE TABLE userfile (
    id BIGSERIAL PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    owner_id BIGINT NOT NULL REFERENCES "user" (id),
    mime_type TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    uploaded_ms BIGINT,
    size BIGINT,
    checksum TEXT
);

-- Requested builds of a repository, queued while `phase` is 'waiting'.
CREATE TABLE repositorybuild (
    id BIGSERIAL PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    repository_id BIGINT NOT NULL REFERENCES repository (id),
    phase TEXT NOT NULL DEFAULT 'waiting',
    started_ms BIGINT NOT NULL,
    display_name TEXT NOT NULL,
    job_config_json TEXT NOT NULL,
    resource_key TEXT,
    pull_robot_id BIGINT,
    manual_user_id BIGINT,
    error TEXT,
    logs_archived BOOLEAN NOT NULL DEFAULT FALSE,
    heartbeat_ms BIGINT,
    retries_remaining INTEGER NOT NULL DEFAULT 3
);
CREATE INDEX repositorybuild_repo_started ON repositorybuild (repository_id, started_ms);

-- The log lines of a build, in order.
CREATE TABLE buildlogentry (
    id BIGSERIAL PRIMARY KEY,
    build_id BIGINT NOT NULL REFERENCES repositorybuild (id),
    seq BIGINT NOT NULL,
    message TEXT NOT NULL,
    kind TEXT,
    data_json TEXT,
    UNIQUE (build_id, seq)
);
