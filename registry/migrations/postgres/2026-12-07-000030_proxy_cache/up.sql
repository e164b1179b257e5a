-- Proxy-cache organizations: at most one upstream per organization. The
-- upstream credentials are stored encrypted with DATABASE_SECRET_KEY.
CREATE TABLE proxycacheconfig (
    id BIGSERIAL PRIMARY KEY,
    organization_id BIGINT NOT NULL UNIQUE REFERENCES "user" (id),
    upstream_registry TEXT NOT NULL,
    upstream_registry_username TEXT,
    upstream_registry_password TEXT,
    expiration_s BIGINT NOT NULL DEFAULT 86400,
    insecure BOOLEAN NOT NULL DEFAULT FALSE,
    created_ms BIGINT NOT NULL
);
