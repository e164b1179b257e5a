//! Background loops: garbage collection, abandoned-upload cleanup, the
//! quota backfill, notification delivery, usage-log pruning and export, the
//! build logs archiver, repository mirroring, tag auto-pruning, directory team
//! syncing and the build manager. `serve` runs them beside HTTP and `registry
//! worker` without it. They call services like handlers do; every pass is safe
//! beside other replicas' passes.

mod builds;
mod kubernetes;

use std::time::Duration;

pub use builds::{manager_url, spawn_build_manager, ManagerUrls};

use crate::config::Config;
use crate::service::{GcOptions, Registry};

/// Which loops run and how often.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loops {
    /// Seconds between garbage-collection passes; `None` when
    /// `FEATURE_GARBAGE_COLLECTION` is off.
    pub gc_every_s: Option<u64>,
    /// Seconds between notification delivery passes
    /// (`NOTIFICATION_WORKER_INTERVAL`, default 10; 0 turns the loop off,
    /// for tests that deliver themselves).
    pub notifications_every_s: Option<u64>,
    /// Usage logs older than this many seconds are pruned
    /// (`ACTION_LOG_ROTATION_THRESHOLD`, default `30d`).
    pub log_max_age_s: u64,
    /// Seconds between repository-mirror passes (`REPO_MIRROR_INTERVAL`,
    /// default 30, as in Quay); `None` when `FEATURE_REPO_MIRROR` is off or
    /// the interval is 0 (tests that run passes themselves).
    pub mirror_every_s: Option<u64>,
    /// Seconds between organization-mirror passes (`REPO_MIRROR_INTERVAL`
    /// too, as Quay's one mirror worker runs both); `None` when
    /// `FEATURE_ORG_MIRROR` is off or the interval is 0.
    pub org_mirror_every_s: Option<u64>,
    /// Seconds between auto-prune passes (`AUTO_PRUNING_POLL_PERIOD`,
    /// default 30); `None` when `FEATURE_AUTO_PRUNE` is off or the period
    /// is 0 (tests that prune themselves).
    pub autoprune_every_s: Option<u64>,
    /// A namespace is pruned at most this often
    /// (`AUTOPRUNE_TASK_RUN_MINIMUM_INTERVAL_MINUTES`, default 60).
    pub autoprune_min_interval_s: u64,
    /// Seconds between team-sync passes (`TEAM_SYNC_WORKER_FREQUENCY`,
    /// default 60); `None` without `FEATURE_TEAM_SYNCING` and a directory,
    /// or with 0 (tests that run passes themselves).
    pub team_sync_every_s: Option<u64>,
    /// Seconds between writes of the pulls counted in memory
    /// (`PULL_STATS_FLUSH_INTERVAL`, default 10); `None` without
    /// `FEATURE_IMAGE_PULL_STATS`.
    pub pull_stats_every_s: Option<u64>,
    /// Seconds between security-indexing passes
    /// (`SECURITY_SCANNER_INDEXING_INTERVAL`, default 30); `None` without
    /// `FEATURE_SECURITY_SCANNER` or with 0.
    pub secscan_every_s: Option<u64>,
    /// This registry's address as the scanner reaches it, for layer URLs:
    /// `PREFERRED_URL_SCHEME://SERVER_HOSTNAME`, else (`serve`) the
    /// listener's loopback address.
    pub secscan_blob_base: Option<String>,
}

impl Loops {
    /// From `FEATURE_GARBAGE_COLLECTION` (default on) and
    /// `GARBAGE_COLLECTION_FREQUENCY` (seconds, default 30).
    pub fn from_config(config: &Config) -> Loops {
        let every = config.seconds("GARBAGE_COLLECTION_FREQUENCY").unwrap_or(30).max(1);
        Loops {
            gc_every_s: config.feature("GARBAGE_COLLECTION", true).then_some(every),
            notifications_every_s: Some(config.seconds("NOTIFICATION_WORKER_INTERVAL").unwrap_or(10))
                .filter(|s| *s > 0),
            log_max_age_s: config
                .other
                .get("ACTION_LOG_ROTATION_THRESHOLD")
                .and_then(|v| v.as_str())
                .and_then(crate::config::parse_duration)
                .map_or(LOG_MAX_AGE_S, |d| d.as_secs().max(1)),
            mirror_every_s: config
                .feature("REPO_MIRROR", false)
                .then(|| config.seconds("REPO_MIRROR_INTERVAL").unwrap_or(30))
                .filter(|s| *s > 0),
            org_mirror_every_s: config
                .feature("ORG_MIRROR", false)
                .then(|| config.seconds("REPO_MIRROR_INTERVAL").unwrap_or(30))
                .filter(|s| *s > 0),
            autoprune_every_s: config
                .feature("AUTO_PRUNE", false)
                .then(|| config.seconds("AUTO_PRUNING_POLL_PERIOD").unwrap_or(30))
                .filter(|s| *s > 0),
            autoprune_min_interval_s: config
                .seconds("AUTOPRUNE_TASK_RUN_MINIMUM_INTERVAL_MINUTES")
                .unwrap_or(60)
                .saturating_mul(60),
            team_sync_every_s: {
                let policy = crate::service::directory::TeamSyncPolicy::from_config(config);
                let directory = config.other.get("AUTHENTICATION_TYPE").and_then(|v| v.as_str()) == Some("LDAP");
                (policy.enabled && directory && policy.every_s > 0).then_some(policy.every_s)
            },
            pull_stats_every_s: config
                .feature("IMAGE_PULL_STATS", false)
                .then(|| config.seconds("PULL_STATS_FLUSH_INTERVAL").unwrap_or(10))
                .filter(|s| *s > 0),
            secscan_every_s: config
                .feature("SECURITY_SCANNER", false)
                .then(|| config.seconds("SECURITY_SCANNER_INDEXING_INTERVAL").unwrap_or(30))
                .filter(|s| *s > 0),
            secscan_blob_base: config.server_hostname.as_deref().map(|host| {
                let host = host.trim().trim_end_matches('/');
                if host.starts_with("http://") || host.starts_with("https://") {
                    host.to_owned()
                } else {
                    format!("{}://{host}", config.preferred_url_scheme)
                }
            }),
        }
    }
}

/// How long usage logs are kept by default: 30 days, as in Quay.
const LOG_MAX_AGE_S: u64 = 30 * 24 * 3600;

/// Starts the loops on the current runtime.
pub fn spawn(registry: &Registry, loops: Loops) {
    actix_web::rt::spawn(clean_uploads_forever(registry.clone()));
    let quota = registry.quota_policy();
    if quota.enabled && quota.backfill {
        actix_web::rt::spawn(backfill_quota_forever(registry.clone()));
    }
    if let Some(every) = loops.notifications_every_s {
        actix_web::rt::spawn(deliver_notifications_forever(
            registry.clone(),
            Duration::from_secs(every),
        ));
    }
    actix_web::rt::spawn(prune_logs_forever(registry.clone(), loops.log_max_age_s));
    let exports = &registry.settings().log_export;
    if exports.enabled && exports.poll_every_s > 0 {
        actix_web::rt::spawn(export_logs_forever(
            registry.clone(),
            Duration::from_secs(exports.poll_every_s),
        ));
    }
    if registry.settings().builds.enabled {
        actix_web::rt::spawn(archive_build_logs_forever(registry.clone()));
    }
    if let Some(every) = loops.gc_every_s {
        actix_web::rt::spawn(collect_garbage_forever(registry.clone(), Duration::from_secs(every)));
    }
    if let Some(every) = loops.mirror_every_s {
        actix_web::rt::spawn(sync_mirrors_forever(registry.clone(), Duration::from_secs(every)));
    }
    if let Some(every) = loops.org_mirror_every_s {
        actix_web::rt::spawn(sync_org_mirrors_forever(registry.clone(), Duration::from_secs(every)));
    }
    if let Some(every) = loops.autoprune_every_s {
        let min_interval_ms = i64::try_from(loops.autoprune_min_interval_s.saturating_mul(1000)).unwrap_or(i64::MAX);
        actix_web::rt::spawn(autoprune_forever(
            registry.clone(),
            Duration::from_secs(every),
            min_interval_ms,
        ));
    }
    if let Some(every) = loops.pull_stats_every_s {
        actix_web::rt::spawn(flush_pull_counts_forever(registry.clone(), Duration::from_secs(every)));
    }
    if let Some(every) = loops.team_sync_every_s {
        actix_web::rt::spawn(sync_teams_forever(registry.clone(), Duration::from_secs(every)));
    }
    match (loops.secscan_every_s, loops.secscan_blob_base) {
        (Some(every), Some(base)) => {
            actix_web::rt::spawn(index_for_security_forever(
                registry.clone(),
                Duration::from_secs(every),
                base,
            ));
        }
        (Some(_), None) => {
            tracing::warn!("security indexing is off: set SERVER_HOSTNAME so the scanner can fetch layers")
        }
        _ => {}
    }
}

/// Hands new manifests to the security scanner. A pass that finds the
/// scanner down leaves its manifests queued and logs once per outage.
async fn index_for_security_forever(registry: Registry, every: Duration, blob_base: String) {
    let mut down = false;
    loop {
        tokio::time::sleep(every).await;
        match registry.run_security_indexing_once(&blob_base).await {
            Ok(pass) => {
                if down {
                    tracing::info!("the security scanner answers again");
                    down = false;
                }
                if pass != Default::default() {
                    tracing::info!(
                        queued = pass.queued,
                        indexed = pass.indexed,
                        failed = pass.failed,
                        unsupported = pass.unsupported,
                        "security indexing pass"
                    );
                }
            }
            Err(e) if !down => {
                crate::metrics::METRICS.worker_failed("security_indexing");
                tracing::warn!(error = %e, "security indexing pass failed");
                down = true;
            }
            Err(_) => crate::metrics::METRICS.worker_failed("security_indexing"),
        }
    }
}

/// Writes the pulls counted in memory (`FEATURE_IMAGE_PULL_STATS`).
async fn flush_pull_counts_forever(registry: Registry, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        registry.flush_pull_counts().await;
    }
}

/// Applies the auto-prune policies of namespaces that are due; each
/// namespace is claimed in the database, so replicas never prune one at once.
async fn autoprune_forever(registry: Registry, every: Duration, min_interval_ms: i64) {
    loop {
        tokio::time::sleep(every).await;
        match registry.run_autoprune_once(min_interval_ms).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(pruned = n, "auto-pruned tags"),
            Err(e) => {
                crate::metrics::METRICS.worker_failed("autoprune");
                tracing::warn!(error = %e, "auto-prune pass failed")
            }
        }
    }
}

/// Keeps synced teams equal to their directory groups: each pass syncs the
/// teams last synced longer than `TEAM_RESYNC_STALE_TIME` ago, as Quay's
/// team sync worker does; replicas may run it side by side.
async fn sync_teams_forever(registry: Registry, every: Duration) {
    let stale = registry.settings().team_sync.resync_stale;
    loop {
        tokio::time::sleep(every).await;
        match registry.sync_directory_teams(stale).await {
            Ok(r) if r == Default::default() => {}
            Ok(r) => tracing::info!(
                teams = r.teams,
                added = r.added,
                removed = r.removed,
                failed = r.failed,
                "team sync pass"
            ),
            Err(e) => {
                crate::metrics::METRICS.worker_failed("team_sync");
                tracing::warn!(error = %e, "team sync pass failed")
            }
        }
    }
}

/// Syncs the repository mirrors that are due; each sync is claimed in the
/// database, so replicas running this loop never sync one repository twice
/// at a time.
async fn sync_mirrors_forever(registry: Registry, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        match registry.run_mirrors_once().await {
            Ok(r) if r == Default::default() => {}
            Ok(r) => tracing::info!(
                succeeded = r.succeeded,
                failed = r.failed,
                cancelled = r.cancelled,
                blobs = r.blobs,
                bytes = r.bytes,
                "repository mirror syncs"
            ),
            Err(e) => {
                crate::metrics::METRICS.worker_failed("repo_mirror");
                tracing::warn!(error = %e, "repository mirror pass failed")
            }
        }
    }
}

/// Discovers the repositories of the organization mirrors that are due and
/// syncs those due; each discovery and sync is claimed in the database.
async fn sync_org_mirrors_forever(registry: Registry, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        match registry.run_org_mirrors_once().await {
            Ok(r) if r == Default::default() => {}
            Ok(r) => tracing::info!(
                discovered = r.discovered,
                discovery_failed = r.discovery_failed,
                created = r.created,
                succeeded = r.succeeded,
                failed = r.failed,
                cancelled = r.cancelled,
                blobs = r.blobs,
                bytes = r.bytes,
                "organization mirror pass"
            ),
            Err(e) => {
                crate::metrics::METRICS.worker_failed("org_mirror");
                tracing::warn!(error = %e, "organization mirror pass failed")
            }
        }
    }
}

/// Deletes usage logs older than `max_age_s`, hourly.
async fn prune_logs_forever(registry: Registry, max_age_s: u64) {
    let max_age_s = i64::try_from(max_age_s).unwrap_or(i64::MAX);
    loop {
        match registry.prune_logs(max_age_s).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "pruned old usage logs"),
            Err(e) => {
                crate::metrics::METRICS.worker_failed("log_rotation");
                tracing::warn!(error = %e, "pruning usage logs failed")
            }
        }
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}

/// Writes requested usage-log exports, tells their requesters and deletes
/// exports whose link expired (`EXPORT_ACTION_LOGS_WORKER_POLL_PERIOD`).
async fn export_logs_forever(registry: Registry, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        match registry.run_log_exports_once().await {
            Ok(r) if r == Default::default() => {}
            Ok(r) => tracing::info!(
                exported = r.exported,
                failed = r.failed,
                removed = r.removed,
                "usage log exports"
            ),
            Err(e) => {
                crate::metrics::METRICS.worker_failed("log_export");
                tracing::warn!(error = %e, "usage log export pass failed")
            }
        }
    }
}

/// Archives the logs of ended builds whose archiving failed when they
/// ended (storage was down), every 30 s as Quay's build logs archiver.
async fn archive_build_logs_forever(registry: Registry) {
    loop {
        tokio::time::sleep(Duration::from_secs(30)).await;
        match registry.archive_ended_build_logs().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(builds = n, "archived build logs"),
            Err(e) => {
                crate::metrics::METRICS.worker_failed("build_logs_archive");
                tracing::warn!(error = %e, "archiving build logs failed")
            }
        }
    }
}

/// Removes abandoned uploads now and then.
async fn clean_uploads_forever(registry: Registry) {
    let every = Duration::from_secs(registry.settings().upload_stale_after_s.clamp(60, 3600).unsigned_abs() / 2 + 30);
    loop {
        tokio::time::sleep(every).await;
        match registry.clean_stale_uploads().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "removed abandoned uploads"),
            Err(e) => {
                crate::metrics::METRICS.worker_failed("upload_cleanup");
                tracing::warn!(error = %e, "cleaning abandoned uploads failed")
            }
        }
    }
}

/// Counts the namespaces that have no counted size: those from before quotas
/// were turned on at first, then any a push did not reach yet.
async fn backfill_quota_forever(registry: Registry) {
    let mut pause = Duration::from_secs(1);
    loop {
        tokio::time::sleep(pause).await;
        match registry.backfill_quota().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(namespaces = n, "counted namespace sizes for quotas"),
            Err(e) => {
                crate::metrics::METRICS.worker_failed("quota_backfill");
                tracing::warn!(error = %e, "quota backfill failed")
            }
        }
        pause = Duration::from_secs(60);
    }
}

/// Queues notifications of scanned events (quota, expiring tags) and sends
/// what is due; claimed rows are leased, so replicas share the queue.
async fn deliver_notifications_forever(registry: Registry, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        match registry.deliver_notifications_once().await {
            Ok(r) if r == Default::default() => {}
            Ok(r) => tracing::info!(
                delivered = r.delivered,
                failed = r.failed,
                dropped = r.dropped,
                "notification deliveries"
            ),
            Err(e) => {
                crate::metrics::METRICS.worker_failed("notifications");
                tracing::warn!(error = %e, "notification delivery pass failed")
            }
        }
    }
}

async fn collect_garbage_forever(registry: Registry, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        let done = registry.collect_garbage(GcOptions::default()).await;
        if let Ok(r) = &done {
            crate::metrics::METRICS.gc_pass(r.manifests.len(), r.blobs.len(), r.bytes_deleted);
        }
        match done {
            Ok(r) if r.is_empty() => {}
            Ok(r) => tracing::info!(
                tags = r.tags,
                cosign_tags_ended = r.cosign_tags_ended,
                manifests = r.manifests.len(),
                blobs = r.blobs.len(),
                contents_deleted = r.contents_deleted.len(),
                bytes_deleted = r.bytes_deleted,
                "garbage collected"
            ),
            Err(e) => {
                crate::metrics::METRICS.worker_failed("gc");
                tracing::warn!(error = %e, "garbage collection pass failed")
            }
        }
    }
}
