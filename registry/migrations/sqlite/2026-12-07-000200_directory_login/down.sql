DROP INDEX teamsync_last_updated;
DROP TABLE teamsync;
DROP TABLE federatedlogin;
