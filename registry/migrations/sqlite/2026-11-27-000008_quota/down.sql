DROP TABLE quotaevent;
DROP TABLE quotarepositorysize;
DROP TABLE quotanamespacesize;
DROP TABLE quotalimits;
DROP TABLE userorganizationquota;
