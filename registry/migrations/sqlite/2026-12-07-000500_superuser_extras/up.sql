-- Global messages a superuser shows to every user (Quay's `messages`).
CREATE TABLE messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    content TEXT NOT NULL,
    media_type TEXT NOT NULL,
    severity TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);

-- Service keys managed by superusers (Quay's ServiceKey with its
-- ServiceKeyApproval folded in): the public JWK only, never the private
-- key. Dates are milliseconds; an unapproved key has no approval_type.
CREATE TABLE managedservicekey (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kid TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL DEFAULT '',
    service TEXT NOT NULL,
    jwk_json TEXT NOT NULL,
    metadata_json TEXT NOT NULL DEFAULT '{}',
    created_ms BIGINT NOT NULL,
    expiration_ms BIGINT,
    rotation_duration_s BIGINT,
    approver_id BIGINT REFERENCES "user" (id),
    approval_type TEXT,
    approved_ms BIGINT,
    approval_notes TEXT
);

-- Robot identity federation: the JSON array of {issuer, subject} whose
-- OIDC tokens may be exchanged for a short-lived robot token.
ALTER TABLE robotaccount ADD COLUMN federation_json TEXT NOT NULL DEFAULT '[]';
