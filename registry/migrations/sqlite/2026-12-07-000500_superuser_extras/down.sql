ALTER TABLE robotaccount DROP COLUMN federation_json;
DROP TABLE managedservicekey;
DROP TABLE messages;
