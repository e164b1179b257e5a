DROP INDEX repomirrorconfig_sync;
DROP TABLE repomirrorconfig;
