-- Labels of a manifest: from its image config at push (source_type
-- 'manifest'), added through the API ('api') or by the registry ('internal').
CREATE TABLE label (
    id BIGSERIAL PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    repository_id BIGINT NOT NULL REFERENCES repository (id),
    manifest_id BIGINT NOT NULL REFERENCES manifest (id),
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    media_type TEXT NOT NULL,
    source_type TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE INDEX label_manifest ON label (manifest_id);
