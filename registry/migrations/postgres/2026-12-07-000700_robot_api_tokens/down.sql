DROP TABLE apitoken;
