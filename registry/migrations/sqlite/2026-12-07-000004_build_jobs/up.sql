-- A build a manager claimed: which manager runs it, the hash of the job
-- token its builder authenticates with, when it was scheduled and when the
-- builder registered, and the last log sequence number the builder sent.
ALTER TABLE repositorybuild ADD COLUMN manager TEXT;
ALTER TABLE repositorybuild ADD COLUMN job_token_hash TEXT;
ALTER TABLE repositorybuild ADD COLUMN scheduled_ms BIGINT;
ALTER TABLE repositorybuild ADD COLUMN registered_ms BIGINT;
ALTER TABLE repositorybuild ADD COLUMN log_sequence BIGINT NOT NULL DEFAULT 0;
CREATE INDEX repositorybuild_phase ON repositorybuild (phase);
