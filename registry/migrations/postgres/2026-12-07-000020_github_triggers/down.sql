ALTER TABLE repositorybuildtrigger DROP COLUMN auth_token;
