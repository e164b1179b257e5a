DROP TABLE servicekey;
