-- Pull counts (FEATURE_IMAGE_PULL_STATS): one row per repository tag and
-- per repository manifest digest pulled, with the time of the last pull
-- and, for tags, the manifest the tag pointed at then.
CREATE TABLE pullstatistics (
    id BIGSERIAL PRIMARY KEY,
    repository_id BIGINT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    pull_count BIGINT NOT NULL,
    last_pull_ms BIGINT NOT NULL,
    manifest_digest TEXT NOT NULL,
    UNIQUE (repository_id, kind, name)
);
