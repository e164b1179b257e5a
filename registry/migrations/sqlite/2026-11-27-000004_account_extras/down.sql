DROP TABLE teammemberinvite;
DROP TABLE star;
DROP TABLE permissionprototype;
DROP TABLE oauthapplication;
DROP TABLE appspecificauthtoken;
DROP TABLE usersession;
