//! Background loops: garbage collection and abandoned-upload cleanup. `serve`
//! runs them beside HTTP and `registry worker` without it. They call services
//! like handlers do; every pass is safe beside other replicas' passes.

use std::time::Duration;

use crate::config::Config;
use crate::service::{GcOptions, Registry};

/// Which loops run and how often.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loops {
    /// Seconds between garbage-collection passes; `None` when
    /// `FEATURE_GARBAGE_COLLECTION` is off.
    pub gc_every_s: Option<u64>,
}

impl Loops {
    /// From `FEATURE_GARBAGE_COLLECTION` (default on) and
    /// `GARBAGE_COLLECTION_FREQUENCY` (seconds, default 30).
    pub fn from_config(config: &Config) -> Loops {
        let every = config
            .other
            .get("GARBAGE_COLLECTION_FREQUENCY")
            .and_then(|v| v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok())))
            .unwrap_or(30)
            .max(1);
        Loops {
            gc_every_s: config.feature("GARBAGE_COLLECTION", true).then_some(every),
        }
    }
}

/// Starts the loops on the current runtime.
pub fn spawn(registry: &Registry, loops: Loops) {
    actix_web::rt::spawn(clean_uploads_forever(registry.clone()));
    if let Some(every) = loops.gc_every_s {
        actix_web::rt::spawn(collect_garbage_forever(registry.clone(), Duration::from_secs(every)));
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
            Err(e) => tracing::warn!(error = %e, "cleaning abandoned uploads failed"),
        }
    }
}

async fn collect_garbage_forever(registry: Registry, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        match registry.collect_garbage(GcOptions::default()).await {
            Ok(r) if r.is_empty() => {}
            Ok(r) => tracing::info!(
                tags = r.tags,
                manifests = r.manifests.len(),
                blobs = r.blobs.len(),
                bytes_deleted = r.bytes_deleted.len(),
                "garbage collected"
            ),
            Err(e) => tracing::warn!(error = %e, "garbage collection pass failed"),
        }
    }
}
