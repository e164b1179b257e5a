DROP INDEX tag_lifetime_end;
DROP TABLE deletedblob;
