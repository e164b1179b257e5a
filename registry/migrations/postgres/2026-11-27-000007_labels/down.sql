DROP TABLE label;
