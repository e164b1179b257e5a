-- Tag policies of a namespace (repository_id NULL) or of one repository.
-- Immutability policies make the tags whose names match (or, with
-- tag_pattern_matches false, do not match) tag_pattern immutable.
CREATE TABLE immutabilitypolicy (
    id BIGSERIAL PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    namespace_id BIGINT NOT NULL REFERENCES "user" (id) ON DELETE CASCADE,
    repository_id BIGINT REFERENCES repository (id) ON DELETE CASCADE,
    tag_pattern TEXT NOT NULL,
    tag_pattern_matches BOOLEAN NOT NULL DEFAULT TRUE
);
CREATE INDEX immutabilitypolicy_scope ON immutabilitypolicy (namespace_id, repository_id);

-- Auto-prune policies: method is number_of_tags (value: a count) or
-- creation_date (value: a duration such as 7d); tag_pattern narrows the
-- tags a policy prunes.
CREATE TABLE autoprunepolicy (
    id BIGSERIAL PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    namespace_id BIGINT NOT NULL REFERENCES "user" (id) ON DELETE CASCADE,
    repository_id BIGINT REFERENCES repository (id) ON DELETE CASCADE,
    method TEXT NOT NULL,
    value TEXT NOT NULL,
    tag_pattern TEXT,
    tag_pattern_matches BOOLEAN NOT NULL DEFAULT TRUE
);
CREATE INDEX autoprunepolicy_scope ON autoprunepolicy (namespace_id, repository_id);

-- One pruning task per namespace with policies; a worker claims it by a
-- conditional UPDATE of last_ran_ms, so replicas never prune one
-- namespace at the same time.
CREATE TABLE autoprunetask (
    namespace_id BIGINT PRIMARY KEY REFERENCES "user" (id) ON DELETE CASCADE,
    last_ran_ms BIGINT,
    status TEXT NOT NULL DEFAULT 'queued'
);
