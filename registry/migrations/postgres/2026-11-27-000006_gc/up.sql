-- Blob bytes whose imagestorage row garbage collection deleted. Written in
-- the transaction that deletes the row and drained after the bytes are gone,
-- so a crash in between only delays the deletion of the bytes.
CREATE TABLE deletedblob (
    id BIGSERIAL PRIMARY KEY,
    digest TEXT NOT NULL,
    deleted_ms BIGINT NOT NULL
);
CREATE INDEX deletedblob_digest ON deletedblob (digest);
CREATE INDEX tag_lifetime_end ON tag (lifetime_end_ms);
