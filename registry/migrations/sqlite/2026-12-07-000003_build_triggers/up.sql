-- Build triggers: a git repository whose pushes queue builds of a
-- repository. The webhook authenticates with the write token, of which only
-- a SHA-256 is kept; the private key is the SSH deploy key a builder clones
-- the git repository with.
CREATE TABLE repositorybuildtrigger (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    service TEXT NOT NULL,
    repository_id BIGINT NOT NULL REFERENCES repository (id),
    connected_user_id BIGINT NOT NULL REFERENCES "user" (id),
    config_json TEXT NOT NULL DEFAULT '{}',
    write_token_sha256 TEXT,
    private_key TEXT,
    pull_robot_id BIGINT,
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    disabled_reason TEXT,
    disabled_ms BIGINT,
    successive_failure_count INTEGER NOT NULL DEFAULT 0,
    successive_internal_error_count INTEGER NOT NULL DEFAULT 0,
    created_ms BIGINT NOT NULL
);
CREATE INDEX repositorybuildtrigger_repo ON repositorybuildtrigger (repository_id);

-- The trigger that queued a build; NULL for manual builds and once the
-- trigger is deleted.
ALTER TABLE repositorybuild ADD COLUMN trigger_id BIGINT;
CREATE INDEX repositorybuild_trigger_started ON repositorybuild (trigger_id, started_ms);
