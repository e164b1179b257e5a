-- Directory (LDAP) sign-in and team syncing. A federated login links a
-- user to their identity in an external service (`ldap`): the directory's
-- user id, so a changed email in the directory updates the same account.
-- A team sync names the directory group a team mirrors (`config` is the
-- JSON of the group lookup, such as {"group_dn": ...}); `last_updated` is
-- the end of the last sync in milliseconds, and `transaction_id` lets one
-- worker at a time claim a pass.
CREATE TABLE federatedlogin (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES "user" (id),
    service TEXT NOT NULL,
    service_ident TEXT NOT NULL,
    metadata_json TEXT NOT NULL DEFAULT '{}',
    UNIQUE (service, service_ident),
    UNIQUE (service, user_id)
);
CREATE TABLE teamsync (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    team_id BIGINT NOT NULL UNIQUE REFERENCES team (id),
    service TEXT NOT NULL,
    config TEXT NOT NULL,
    transaction_id TEXT NOT NULL DEFAULT '',
    last_updated BIGINT
);
CREATE INDEX teamsync_last_updated ON teamsync (last_updated);
