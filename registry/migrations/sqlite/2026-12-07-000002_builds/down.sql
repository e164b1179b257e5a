DROP TABLE buildlogentry;
DROP TABLE repositorybuild;
DROP TABLE userfile;
