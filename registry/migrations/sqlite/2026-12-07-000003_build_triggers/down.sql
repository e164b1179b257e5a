DROP INDEX repositorybuild_trigger_started;
ALTER TABLE repositorybuild DROP COLUMN trigger_id;
DROP TABLE repositorybuildtrigger;
