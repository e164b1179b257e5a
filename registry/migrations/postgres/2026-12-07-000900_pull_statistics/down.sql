DROP TABLE pullstatistics;
