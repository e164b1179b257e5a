-- Namespace (quota) notifications (FEATURE_QUOTA_NOTIFICATIONS): like
-- repository notifications, for an organization or user namespace.
CREATE TABLE namespacenotification (
    id BIGSERIAL PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    namespace_id BIGINT NOT NULL REFERENCES "user" (id),
    event TEXT NOT NULL,
    method TEXT NOT NULL,
    title TEXT,
    config_json TEXT NOT NULL,
    event_config_json TEXT NOT NULL,
    number_of_failures INTEGER NOT NULL DEFAULT 0,
    last_ran_ms BIGINT,
    created_ms BIGINT NOT NULL
);
CREATE INDEX namespacenotification_ns_event ON namespacenotification (namespace_id, event);

-- Which table a queued delivery's notification_id refers to.
ALTER TABLE notificationqueue ADD COLUMN scope TEXT NOT NULL DEFAULT 'repository';
