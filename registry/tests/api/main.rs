//! The /v2 distribution API, end to end over HTTP.
//!
//! One test binary: every test spawns its own registry (`helpers::spawn_app`)
//! on the backend `REGISTRY_TEST_BACKEND` names (`sqlite-fs`, the default, or
//! `postgres-s3`). The modules follow the OCI conformance suite's workflows
//! (pull, push, content discovery, content management) plus Quay's /v2 rules.

mod authz_matrix;
mod base;
mod blobs;
mod build_logs;
mod build_support;
mod buildman;
mod catalog;
mod concurrency;
mod datasets;
mod db_unavailable;
mod deletion;
mod directory;
mod errors;
mod gc;
mod gc_random;
mod gc_signatures;
mod helpers;
mod ldap_server;
mod maintenance;
mod manifests;
mod media_types;
mod mirror_sync;
mod mirror_upstream;
mod mounts;
mod proxy_blobs;
mod proxy_pull;
mod proxy_push;
mod proxy_quota;
mod proxy_upstream;
mod quota;
mod quota_api;
mod referrers;
mod replicas;
mod route_walk;
mod tags;
mod upload_recovery;
mod upload_storage_full;
mod uploads;
mod v1_applications;
mod v1_apptokens;
mod v1_builds;
mod v1_endpoints;
mod v1_external_login;
mod v1_invites;
mod v1_labels;
mod v1_logs;
mod v1_logs_export;
mod v1_logs_kinds;
mod v1_mirror;
mod v1_namespace_notifications;
mod v1_notifications;
mod v1_oauth;
mod v1_org_mirror;
mod v1_organizations;
mod v1_permissions;
mod v1_prototypes;
mod v1_proxycache;
mod v1_repositories;
mod v1_robot_federation;
mod v1_robot_tokens;
mod v1_robots;
mod v1_search;
mod v1_sessions;
mod v1_starred;
mod v1_su_extras;
mod v1_superuser;
mod v1_tag_policies;
mod v1_tags;
mod v1_teams;
mod v1_triggers;
mod v1_users;
