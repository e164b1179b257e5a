DROP INDEX repositorybuild_phase;
ALTER TABLE repositorybuild DROP COLUMN log_sequence;
ALTER TABLE repositorybuild DROP COLUMN registered_ms;
ALTER TABLE repositorybuild DROP COLUMN scheduled_ms;
ALTER TABLE repositorybuild DROP COLUMN job_token_hash;
ALTER TABLE repositorybuild DROP COLUMN manager;
