-- Secrets shared by every replica, such as the key that signs registry tokens.
CREATE TABLE servicekey (
    name TEXT PRIMARY KEY,
    secret TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
