-- The secret half of an app-specific token, encrypted with
-- DATABASE_SECRET_KEY, so its owner can see the token code again. Tokens
-- made before have none: they keep working by their hash.
ALTER TABLE appspecificauthtoken ADD COLUMN token_secret_encrypted TEXT;
