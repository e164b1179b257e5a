//! The build manager: on every replica, claims waiting builds (each exactly
//! once over all replicas), runs them on the `local` executor, stops the
//! builders of builds cancelled or re-queued meanwhile, and re-queues
//! builds whose builder went silent.
//!
//! The local executor runs `registry builder` (this executable) as a child
//! process in its own process group, so stopping it also stops the
//! buildah or podman it started.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::config::Config;
use crate::service::builds::{is_running, BuildManagerSettings, ClaimedBuild};
use crate::service::Registry;

/// How often the manager looks at the queue and its builders.
const POLL: Duration = Duration::from_secs(1);

/// Where builders reach the manager: `BUILDMAN_HOSTNAME` if set, else this
/// server's own HTTP port on the loopback (local builders run here), else
/// `SERVER_HOSTNAME`.
pub fn manager_url(config: &Config, local_port: Option<u16>) -> Option<String> {
    let scheme = &config.preferred_url_scheme;
    if let Some(host) = config
        .other
        .get("BUILDMAN_HOSTNAME")
        .and_then(serde_yaml::Value::as_str)
    {
        return Some(format!("{scheme}://{host}"));
    }
    if let Some(port) = local_port {
        return Some(format!("http://127.0.0.1:{port}"));
    }
    config.server_hostname.as_ref().map(|h| format!("{scheme}://{h}"))
}

/// Starts the build manager when builds are on.
pub fn spawn_build_manager(registry: &Registry, manager_url: Option<String>) {
    let Some(settings) = registry.settings().builds.manager.clone() else {
        return;
    };
    let Some(url) = manager_url else {
        tracing::warn!("builds are on but no BUILDMAN_HOSTNAME or SERVER_HOSTNAME is set: this process runs no builds");
        return;
    };
    if settings.executors.is_empty() {
        tracing::warn!("BUILD_MANAGER has no usable executor: this process runs no builds");
        return;
    }
    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "cannot find the registry executable: this process runs no builds");
            return;
        }
    };
    tracing::info!(manager_url = %url, workers = settings.allowed_worker_count, "build manager started");
    actix_web::rt::spawn(manage_builds_forever(registry.clone(), settings, Executor { exe, url }));
}

/// How local builders are started.
struct Executor {
    exe: PathBuf,
    url: String,
}

impl Executor {
    fn start(&self, job: &ClaimedBuild) -> std::io::Result<Child> {
        Command::new(&self.exe)
            .arg("builder")
            .env("BUILDER_TOKEN", &job.token)
            .env("BUILDER_MANAGER_URL", &self.url)
            .env("BUILDER_CONTAINER_RUNTIME", job.executor.container_runtime.as_str())
            .env("BUILDER_BUILDAH_ISOLATION", &job.executor.buildah_isolation)
            .stdin(std::process::Stdio::null())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
    }
}

/// Kills a builder and everything it started, and reaps it.
fn stop(mut child: Child) {
    if let Some(pid) = child.id() {
        // The builder leads its own process group; a negative pid names it.
        let _ = std::process::Command::new("kill")
            .args(["-KILL", "--", &format!("-{pid}")])
            .status();
    }
    let _ = child.start_kill();
    actix_web::rt::spawn(async move {
        let _ = child.wait().await;
    });
}

async fn manage_builds_forever(registry: Registry, settings: BuildManagerSettings, executor: Executor) {
    let manager = uuid::Uuid::new_v4().to_string();
    let mut running: HashMap<i64, Child> = HashMap::new();
    loop {
        tokio::time::sleep(POLL).await;
        if let Err(e) = registry.expire_stale_builds().await {
            tracing::warn!(error = %e, "expiring silent builds failed");
        }
        running.retain(|_, child| matches!(child.try_wait(), Ok(None)));
        stop_finished(&registry, &mut running).await;
        while running.len() < settings.allowed_worker_count {
            match registry.claim_build(&manager, &settings.executors).await {
                Ok(Some(job)) => match executor.start(&job) {
                    Ok(child) => {
                        tracing::info!(build = %job.uuid, executor = %job.executor.name, "build started");
                        running.insert(job.id, child);
                    }
                    // The build is re-queued once its registration times out.
                    Err(e) => tracing::warn!(error = %e, build = %job.uuid, "cannot start the builder"),
                },
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "claiming a build failed");
                    break;
                }
            }
        }
    }
}

/// Stops the builders whose build is no longer running (cancelled,
/// re-queued or failed without them).
async fn stop_finished(registry: &Registry, running: &mut HashMap<i64, Child>) {
    if running.is_empty() {
        return;
    }
    let phases = match registry.build_phases(running.keys().copied().collect()).await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "reading build phases failed");
            return;
        }
    };
    for (id, phase) in phases {
        if !is_running(&phase) {
            if let Some(child) = running.remove(&id) {
                tracing::info!(build_id = id, phase = %phase, "stopping the builder of a build that is no longer running");
                stop(child);
            }
        }
    }
}
