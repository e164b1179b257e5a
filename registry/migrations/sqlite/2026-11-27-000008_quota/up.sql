-- One quota per namespace (user or organization).
CREATE TABLE userorganizationquota (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    namespace_id BIGINT NOT NULL UNIQUE REFERENCES "user" (id),
    limit_bytes BIGINT NOT NULL
);

-- 'Warning' or 'Reject' at a percentage of the quota's limit.
CREATE TABLE quotalimits (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    quota_id BIGINT NOT NULL REFERENCES userorganizationquota (id),
    quota_type TEXT NOT NULL,
    percent_of_limit INTEGER NOT NULL
);
CREATE INDEX quotalimits_quota ON quotalimits (quota_id);

-- Bytes a namespace uses, each blob counted once. A row exists only once its
-- total was computed; pushes and garbage collection keep it current.
CREATE TABLE quotanamespacesize (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    namespace_user_id BIGINT NOT NULL UNIQUE REFERENCES "user" (id),
    size_bytes BIGINT NOT NULL,
    backfill_start_ms BIGINT,
    backfill_complete BOOLEAN NOT NULL
);

-- Bytes a repository uses, each blob counted once.
CREATE TABLE quotarepositorysize (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    repository_id BIGINT NOT NULL UNIQUE REFERENCES repository (id),
    size_bytes BIGINT NOT NULL,
    backfill_start_ms BIGINT,
    backfill_complete BOOLEAN NOT NULL
);

-- Quota thresholds crossed ('quota_warning', 'quota_error'), kept for the
-- namespace notifications.
CREATE TABLE quotaevent (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    namespace_user_id BIGINT NOT NULL REFERENCES "user" (id),
    kind TEXT NOT NULL,
    size_bytes BIGINT NOT NULL,
    limit_bytes BIGINT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE INDEX quotaevent_namespace ON quotaevent (namespace_user_id);
