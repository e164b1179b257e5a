-- Accounts: users, organizations and robots share the "user" table (as in Quay).
ALTER TABLE "user" ADD COLUMN verified BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE "user" ADD COLUMN superuser BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE "user" ADD COLUMN invalid_login_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE "user" ADD COLUMN last_invalid_login_ms BIGINT;
ALTER TABLE "user" ADD COLUMN last_accessed_ms BIGINT;

-- Teams of an organization; role is member, creator or admin.
CREATE TABLE team (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    organization_id BIGINT NOT NULL REFERENCES "user" (id),
    role TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    UNIQUE (organization_id, name)
);

CREATE TABLE teammember (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES "user" (id),
    team_id BIGINT NOT NULL REFERENCES team (id),
    UNIQUE (user_id, team_id)
);
CREATE INDEX teammember_team ON teammember (team_id);

-- Direct repository roles (read, write, admin) of a user/robot or a team.
CREATE TABLE repositorypermission (
    id BIGSERIAL PRIMARY KEY,
    repository_id BIGINT NOT NULL REFERENCES repository (id),
    user_id BIGINT REFERENCES "user" (id),
    team_id BIGINT REFERENCES team (id),
    role TEXT NOT NULL,
    UNIQUE (repository_id, user_id),
    UNIQUE (repository_id, team_id)
);
CREATE INDEX repositorypermission_user ON repositorypermission (user_id);
CREATE INDEX repositorypermission_team ON repositorypermission (team_id);

CREATE TABLE robotaccount (
    id BIGSERIAL PRIMARY KEY,
    robot_id BIGINT NOT NULL UNIQUE REFERENCES "user" (id),
    token TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    unstructured_json TEXT NOT NULL DEFAULT '{}',
    created_ms BIGINT NOT NULL
);

-- OAuth access tokens: token_name is the public half, token_secret_sha256 the
-- hash of the secret half (random, so a fast hash is enough).
CREATE TABLE oauthaccesstoken (
    id BIGSERIAL PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    authorized_user_id BIGINT NOT NULL REFERENCES "user" (id),
    application_client_id TEXT,
    display_name TEXT NOT NULL DEFAULT '',
    scope TEXT NOT NULL,
    token_name TEXT NOT NULL UNIQUE,
    token_secret_sha256 TEXT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    created_ms BIGINT NOT NULL,
    last_accessed_ms BIGINT
);
CREATE INDEX oauthaccesstoken_user ON oauthaccesstoken (authorized_user_id);
