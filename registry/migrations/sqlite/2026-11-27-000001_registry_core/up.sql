CREATE TABLE "user" (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL,
    username TEXT NOT NULL UNIQUE,
    email TEXT,
    password_hash TEXT,
    organization BOOLEAN NOT NULL DEFAULT FALSE,
    robot BOOLEAN NOT NULL DEFAULT FALSE,
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    removed_tag_expiration_s BIGINT NOT NULL DEFAULT 1209600,
    creation_date BIGINT NOT NULL
);

CREATE TABLE repository (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    namespace_user_id BIGINT NOT NULL REFERENCES "user" (id),
    name TEXT NOT NULL,
    visibility TEXT NOT NULL DEFAULT 'private',
    description TEXT,
    kind TEXT NOT NULL DEFAULT 'image',
    state INTEGER NOT NULL DEFAULT 0,
    created_ms BIGINT NOT NULL,
    UNIQUE (namespace_user_id, name)
);

-- One row per content digest, shared by every repository (content-addressed).
CREATE TABLE imagestorage (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL,
    content_checksum TEXT NOT NULL UNIQUE,
    image_size BIGINT NOT NULL,
    created_ms BIGINT NOT NULL
);

-- Blobs uploaded or mounted into a repository but not (yet) referenced by a manifest.
CREATE TABLE uploadedblob (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    repository_id BIGINT NOT NULL REFERENCES repository (id),
    blob_id BIGINT NOT NULL REFERENCES imagestorage (id),
    uploaded_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    UNIQUE (repository_id, blob_id)
);
CREATE INDEX uploadedblob_blob ON uploadedblob (blob_id);
CREATE INDEX uploadedblob_expires ON uploadedblob (expires_at);

CREATE TABLE blobupload (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    repository_id BIGINT NOT NULL REFERENCES repository (id),
    uuid TEXT NOT NULL UNIQUE,
    byte_count BIGINT NOT NULL DEFAULT 0,
    sha_state BLOB,
    chunk_count INTEGER NOT NULL DEFAULT 0,
    -- Held by the one request writing bytes, until it finishes or the lease ends.
    lock_token TEXT,
    locked_until_ms BIGINT,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);
CREATE INDEX blobupload_updated ON blobupload (updated_ms);

CREATE TABLE manifest (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    repository_id BIGINT NOT NULL REFERENCES repository (id),
    digest TEXT NOT NULL,
    media_type TEXT NOT NULL,
    manifest_bytes BLOB NOT NULL,
    config_media_type TEXT,
    artifact_type TEXT,
    subject TEXT,
    layers_compressed_size BIGINT NOT NULL DEFAULT 0,
    created_ms BIGINT NOT NULL,
    UNIQUE (repository_id, digest)
);
CREATE INDEX manifest_subject ON manifest (repository_id, subject);

CREATE TABLE manifestblob (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    repository_id BIGINT NOT NULL REFERENCES repository (id),
    manifest_id BIGINT NOT NULL REFERENCES manifest (id),
    blob_id BIGINT NOT NULL REFERENCES imagestorage (id),
    UNIQUE (manifest_id, blob_id)
);
CREATE INDEX manifestblob_blob ON manifestblob (blob_id);
CREATE INDEX manifestblob_repo_blob ON manifestblob (repository_id, blob_id);

CREATE TABLE manifestchild (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    repository_id BIGINT NOT NULL REFERENCES repository (id),
    manifest_id BIGINT NOT NULL REFERENCES manifest (id),
    child_manifest_id BIGINT NOT NULL REFERENCES manifest (id),
    UNIQUE (manifest_id, child_manifest_id)
);
CREATE INDEX manifestchild_child ON manifestchild (child_manifest_id);

-- One row per lifetime of a tag; alive while lifetime_end_ms is NULL or in the future.
CREATE TABLE tag (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    repository_id BIGINT NOT NULL REFERENCES repository (id),
    manifest_id BIGINT NOT NULL REFERENCES manifest (id),
    lifetime_start_ms BIGINT NOT NULL,
    lifetime_end_ms BIGINT,
    hidden BOOLEAN NOT NULL DEFAULT FALSE,
    reversion BOOLEAN NOT NULL DEFAULT FALSE,
    immutable BOOLEAN NOT NULL DEFAULT FALSE,
    UNIQUE (repository_id, name, lifetime_end_ms)
);
CREATE UNIQUE INDEX tag_one_open_lifetime ON tag (repository_id, name) WHERE lifetime_end_ms IS NULL;
CREATE INDEX tag_manifest ON tag (manifest_id);
CREATE INDEX tag_repository_name ON tag (repository_id, name);
