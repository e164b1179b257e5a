ALTER TABLE notificationqueue DROP COLUMN scope;
DROP INDEX namespacenotification_ns_event;
DROP TABLE namespacenotification;
