DROP TABLE manifestsecuritystatus;
