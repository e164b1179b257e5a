-- Repository notifications: an event, a method and their configurations.
CREATE TABLE repositorynotification (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    repository_id BIGINT NOT NULL REFERENCES repository (id),
    event TEXT NOT NULL,
    method TEXT NOT NULL,
    title TEXT,
    config_json TEXT NOT NULL,
    event_config_json TEXT NOT NULL,
    number_of_failures INTEGER NOT NULL DEFAULT 0,
    last_ran_ms BIGINT,
    created_ms BIGINT NOT NULL
);
CREATE INDEX repositorynotification_repo_event ON repositorynotification (repository_id, event);

-- Deliveries waiting for the worker.
CREATE TABLE notificationqueue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    notification_id BIGINT NOT NULL,
    event_data TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    available_after_ms BIGINT NOT NULL,
    processing_expires_ms BIGINT,
    created_ms BIGINT NOT NULL
);
CREATE INDEX notificationqueue_available ON notificationqueue (available_after_ms);

-- The Quay inbox (method quay_notification), read at /api/v1/user/notifications.
CREATE TABLE usernotification (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    target_id BIGINT NOT NULL,
    kind TEXT NOT NULL,
    metadata_json TEXT NOT NULL,
    dismissed BOOLEAN NOT NULL DEFAULT FALSE,
    created_ms BIGINT NOT NULL
);
CREATE INDEX usernotification_target ON usernotification (target_id);

-- Email addresses confirmed to receive a repository's notifications.
CREATE TABLE authorizedemail (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    repository_id BIGINT NOT NULL REFERENCES repository (id),
    email TEXT NOT NULL,
    code TEXT NOT NULL UNIQUE,
    confirmed BOOLEAN NOT NULL DEFAULT FALSE,
    UNIQUE (repository_id, email)
);

-- Deliveries already made for events that must fire once (an expiring tag
-- lifetime, a recorded quota event), by notification.
CREATE TABLE notificationsent (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    notification_id BIGINT NOT NULL,
    dedupe_key TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    UNIQUE (notification_id, dedupe_key)
);
