DROP TABLE proxycacheconfig;
