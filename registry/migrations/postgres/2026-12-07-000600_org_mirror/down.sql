DROP TABLE orgmirrorrepository;
DROP TABLE orgmirrorconfig;
