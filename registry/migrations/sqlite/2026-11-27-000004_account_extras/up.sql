-- Browser sessions: the cookie holds a random id, the table its SHA-256.
-- fresh_login_ms is the last password check (Quay's "fresh login").
CREATE TABLE usersession (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    token_sha256 TEXT NOT NULL UNIQUE,
    user_id BIGINT NOT NULL REFERENCES "user" (id),
    csrf_token TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    fresh_login_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL
);
CREATE INDEX usersession_user ON usersession (user_id);

-- App-specific tokens (docker login as $app): token_name is the public
-- lookup half, token_secret_sha256 the hash of the secret half.
CREATE TABLE appspecificauthtoken (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    user_id BIGINT NOT NULL REFERENCES "user" (id),
    title TEXT NOT NULL,
    token_name TEXT NOT NULL UNIQUE,
    token_secret_sha256 TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    expiration_ms BIGINT,
    last_accessed_ms BIGINT
);
CREATE INDEX appspecificauthtoken_user ON appspecificauthtoken (user_id);

-- OAuth applications registered by organizations.
CREATE TABLE oauthapplication (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id TEXT NOT NULL UNIQUE,
    client_secret TEXT NOT NULL,
    organization_id BIGINT NOT NULL REFERENCES "user" (id),
    name TEXT NOT NULL,
    redirect_uri TEXT NOT NULL DEFAULT '',
    application_uri TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    avatar_email TEXT,
    created_ms BIGINT NOT NULL
);
CREATE INDEX oauthapplication_org ON oauthapplication (organization_id);

-- Default permissions of an organization, applied when a repository is
-- created in it; activating_user_id NULL means "whoever creates it".
CREATE TABLE permissionprototype (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    org_id BIGINT NOT NULL REFERENCES "user" (id),
    activating_user_id BIGINT REFERENCES "user" (id),
    delegate_user_id BIGINT REFERENCES "user" (id),
    delegate_team_id BIGINT REFERENCES team (id),
    role TEXT NOT NULL
);
CREATE INDEX permissionprototype_org ON permissionprototype (org_id);

-- Repositories a user starred.
CREATE TABLE star (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES "user" (id),
    repository_id BIGINT NOT NULL REFERENCES repository (id),
    created_ms BIGINT NOT NULL,
    UNIQUE (user_id, repository_id)
);
CREATE INDEX star_repository ON star (repository_id);

-- Pending team invitations (FEATURE_MAILING + FEATURE_REQUIRE_TEAM_INVITE),
-- to an existing user or to an email address.
CREATE TABLE teammemberinvite (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT REFERENCES "user" (id),
    email TEXT,
    team_id BIGINT NOT NULL REFERENCES team (id),
    inviter_id BIGINT NOT NULL REFERENCES "user" (id),
    invite_token TEXT NOT NULL UNIQUE,
    created_ms BIGINT NOT NULL
);
CREATE INDEX teammemberinvite_team ON teammemberinvite (team_id);
