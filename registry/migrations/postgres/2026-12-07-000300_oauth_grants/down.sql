DROP TABLE oauthassignedtoken;
DROP TABLE oauthauthorizationcode;
