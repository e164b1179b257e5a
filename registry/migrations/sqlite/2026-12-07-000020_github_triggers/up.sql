-- A GitHub trigger's OAuth access token, with which the registry adds the
-- deploy key and the push webhook to the GitHub repository and removes them
-- when the trigger is deleted. Kept like the deploy key's private half: the
-- registry has no field-encryption key of its own yet.
ALTER TABLE repositorybuildtrigger ADD COLUMN auth_token TEXT;
