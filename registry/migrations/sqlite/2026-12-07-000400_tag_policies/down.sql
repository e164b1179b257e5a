DROP TABLE autoprunetask;
DROP TABLE autoprunepolicy;
DROP TABLE immutabilitypolicy;
