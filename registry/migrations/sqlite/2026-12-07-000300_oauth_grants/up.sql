-- Authorization codes of the OAuth code grant: code_name is the public
-- half of a code, code_secret_sha256 the hash of its secret half. A code
-- is exchanged once, by the application it was issued to.
CREATE TABLE oauthauthorizationcode (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    application_id BIGINT NOT NULL REFERENCES oauthapplication (id),
    user_id BIGINT NOT NULL REFERENCES "user" (id),
    code_name TEXT NOT NULL UNIQUE,
    code_secret_sha256 TEXT NOT NULL,
    scope TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE INDEX oauthauthorizationcode_application ON oauthauthorizationcode (application_id);
CREATE INDEX oauthauthorizationcode_user ON oauthauthorizationcode (user_id);

-- Tokens an organization admin asked a user to authorize for one of the
-- organization's applications (FEATURE_ASSIGN_OAUTH_TOKEN).
CREATE TABLE oauthassignedtoken (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    assigned_user_id BIGINT NOT NULL REFERENCES "user" (id),
    application_id BIGINT NOT NULL REFERENCES oauthapplication (id),
    redirect_uri TEXT,
    scope TEXT NOT NULL,
    response_type TEXT,
    created_ms BIGINT NOT NULL
);
CREATE INDEX oauthassignedtoken_application ON oauthassignedtoken (application_id);
CREATE INDEX oauthassignedtoken_assigned_user ON oauthassignedtoken (assigned_user_id);
