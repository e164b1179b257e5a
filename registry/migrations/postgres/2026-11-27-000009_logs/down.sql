DROP TABLE logexport;
DROP TABLE logentry3;
