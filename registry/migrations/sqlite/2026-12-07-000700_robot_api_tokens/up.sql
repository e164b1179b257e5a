-- Managed robot API tokens (FEATURE_ROBOT_API_TOKENS): opaque `qro_` codes
-- minted for a robot by a signed-in admin. token_name is the public lookup
-- half of a code, token_secret_sha256 the hash of its secret half. Revoked
-- tokens are kept (revoked_ms set) so their history stays auditable.
CREATE TABLE apitoken (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    subject_user_id BIGINT NOT NULL REFERENCES "user" (id) ON DELETE CASCADE,
    creator_id BIGINT REFERENCES "user" (id) ON DELETE SET NULL,
    token_name TEXT NOT NULL UNIQUE,
    token_secret_sha256 TEXT NOT NULL,
    scope TEXT NOT NULL,
    display_name TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    revoked_ms BIGINT,
    last_accessed_ms BIGINT
);
CREATE INDEX apitoken_subject_active ON apitoken (subject_user_id, revoked_ms, expires_at_ms);
CREATE INDEX apitoken_creator ON apitoken (creator_id);
