//! The build manager: on every replica, claims waiting builds (each exactly
//! once over all replicas), starts their builders on the first configured
//! executor that accepts the build and can start it, stops the builders of
//! builds cancelled or re-queued meanwhile, and re-queues builds whose
//! builder went silent.
//!
//! The `local` executor runs `registry builder` (this executable) as a child
//! process in its own process group, so stopping it also stops the
//! buildah or podman it started. The `kubernetes` executor runs it in a Job
//! ([`super::kubernetes`]).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use tokio::process::{Child, Command};

use super::kubernetes::{builder_trust, JobRequest, KubernetesRunner};
use crate::config::Config;
use crate::service::builds::{is_running, BuildManagerSettings, ClaimedBuild, Executor, ExecutorKind, LocalOptions};
use crate::service::Registry;

/// How often the manager looks at the queue and its builders.
const POLL: Duration = Duration::from_secs(1);

/// Where builders reach the manager (and push): local builders on this
/// server's loopback port when it has one, remote ones (Jobs) on
/// `BUILDMAN_HOSTNAME` (a `host:port`, or a URL to choose the scheme) or
/// else `SERVER_HOSTNAME`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ManagerUrls {
    pub local: Option<String>,
    pub remote: Option<String>,
    /// The certificate chain the registry serves, trusted by build Jobs
    /// on an `https` remote URL when the executor sets no CA_CERT.
    pub served_chain: Option<String>,
}

pub fn manager_url(config: &Config, local_port: Option<u16>) -> ManagerUrls {
    let scheme = &config.preferred_url_scheme;
    let with_scheme = |host: &str| {
        let host = host.trim().trim_end_matches('/');
        if host.starts_with("http://") || host.starts_with("https://") {
            host.to_owned()
        } else {
            format!("{scheme}://{host}")
        }
    };
    let remote = config
        .other
        .get("BUILDMAN_HOSTNAME")
        .and_then(serde_yaml::Value::as_str)
        .filter(|h| !h.trim().is_empty())
        .map(with_scheme)
        .or_else(|| config.server_hostname.as_deref().map(with_scheme));
    let local = local_port
        .map(|port| format!("http://127.0.0.1:{port}"))
        .or_else(|| remote.clone());
    ManagerUrls {
        local,
        remote,
        served_chain: None,
    }
}

/// Starts the build manager when builds are on.
pub fn spawn_build_manager(registry: &Registry, urls: ManagerUrls) {
    let Some(settings) = registry.settings().builds.manager.clone() else {
        return;
    };
    if settings.executors.is_empty() {
        tracing::warn!("BUILD_MANAGER has no executor: this process runs no builds");
        return;
    }
    let exe = match std::env::current_exe() {
        Ok(p) => Some(p),
        Err(e) => {
            tracing::warn!(error = %e, "cannot find the registry executable: the local executor is off");
            None
        }
    };
    tracing::info!(local = ?urls.local, remote = ?urls.remote, workers = settings.allowed_worker_count, "build manager started");
    actix_web::rt::spawn(manage_builds_forever(registry.clone(), settings, exe, urls));
}

/// The executors this manager can use, in configured order.
struct Runners {
    exe: Option<PathBuf>,
    urls: ManagerUrls,
    /// One per `BUILD_MANAGER` executor; `None` for a Kubernetes executor
    /// whose cluster could not be configured.
    kubernetes: Vec<Option<KubernetesRunner>>,
}

impl Runners {
    async fn connect(settings: &BuildManagerSettings, exe: Option<PathBuf>, urls: ManagerUrls) -> Runners {
        let mut kubernetes = Vec::new();
        for executor in &settings.executors {
            let runner = match &executor.kind {
                ExecutorKind::Kubernetes(_) if urls.remote.is_none() => {
                    tracing::warn!(executor = %executor.name, "no BUILDMAN_HOSTNAME or SERVER_HOSTNAME for build Jobs to reach: executor skipped");
                    None
                }
                ExecutorKind::Kubernetes(k) => match KubernetesRunner::connect(k).await {
                    Ok(r) => Some(r),
                    Err(e) => {
                        tracing::warn!(executor = %executor.name, error = %e, "cannot configure the Kubernetes client: executor skipped");
                        None
                    }
                },
                ExecutorKind::Local(_) => None,
            };
            kubernetes.push(runner);
        }
        Runners { exe, urls, kubernetes }
    }

    /// The executors that can start builds here.
    fn usable(&self, settings: &BuildManagerSettings) -> Vec<Executor> {
        settings
            .executors
            .iter()
            .zip(&self.kubernetes)
            .filter(|(e, k)| match e.kind {
                ExecutorKind::Local(_) => self.exe.is_some() && self.urls.local.is_some(),
                ExecutorKind::Kubernetes(_) => k.is_some(),
            })
            .map(|(e, _)| e.clone())
            .collect()
    }

    fn kubernetes_for(&self, settings: &BuildManagerSettings, executor: &Executor) -> Option<&KubernetesRunner> {
        let index = settings.executors.iter().position(|e| e == executor)?;
        self.kubernetes.get(index)?.as_ref()
    }

    fn start_local(&self, job: &ClaimedBuild, options: &LocalOptions) -> anyhow::Result<Child> {
        let (Some(exe), Some(url)) = (&self.exe, &self.urls.local) else {
            anyhow::bail!("the local executor is not available");
        };
        Ok(Command::new(exe)
            .arg("builder")
            .env("BUILDER_TOKEN", &job.token)
            .env("BUILDER_MANAGER_URL", url)
            .env("BUILDER_CONTAINER_RUNTIME", options.container_runtime.as_str())
            .env("BUILDER_BUILDAH_ISOLATION", &options.buildah_isolation)
            .stdin(std::process::Stdio::null())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()?)
    }

    async fn start_job(&self, runner: &KubernetesRunner, job: &ClaimedBuild, manager: &str) -> anyhow::Result<String> {
        let image = runner
            .executor
            .image
            .clone()
            .or_else(|| std::env::var("REGISTRY_IMAGE").ok().filter(|i| !i.is_empty()))
            .ok_or_else(|| {
                anyhow::anyhow!("no BUILDER_CONTAINER_IMAGE is set and REGISTRY_IMAGE is not in the environment")
            })?;
        let url = self.urls.remote.as_deref().unwrap_or_default();
        let attempt = job.attempt();
        let ca_certs = builder_trust(&runner.executor.ca_certs, self.urls.served_chain.as_deref(), url);
        let request = JobRequest {
            build_uuid: &job.uuid,
            attempt: &attempt,
            token: &job.token,
            manager,
            manager_url: url,
            image: &image,
            ca_certs,
            time: chrono::Utc::now().format("%Y-%m-%d-%H").to_string(),
        };
        runner.start(&request).await
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

async fn manage_builds_forever(
    registry: Registry,
    settings: BuildManagerSettings,
    exe: Option<PathBuf>,
    urls: ManagerUrls,
) {
    let manager = uuid::Uuid::new_v4().to_string();
    let runners = Runners::connect(&settings, exe, urls).await;
    let executors = runners.usable(&settings);
    if executors.is_empty() {
        tracing::warn!("no build executor is usable: this process runs no builds");
        return;
    }
    let mut running: HashMap<i64, Child> = HashMap::new();
    loop {
        tokio::time::sleep(POLL).await;
        if let Err(e) = registry.expire_stale_builds().await {
            tracing::warn!(error = %e, "expiring silent builds failed");
        }
        running.retain(|_, child| matches!(child.try_wait(), Ok(None)));
        stop_finished(&registry, &mut running).await;
        let jobs = match tend_jobs(&registry, &runners, &manager).await {
            Some(n) => n,
            // Without knowing how many Jobs run, starting more could
            // exceed ALLOWED_WORKER_COUNT.
            None => continue,
        };
        let mut busy = running.len() + jobs;
        while busy < settings.allowed_worker_count {
            let job = match registry.claim_build(&manager, &executors).await {
                Ok(Some(job)) => job,
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "claiming a build failed");
                    break;
                }
            };
            busy += 1;
            for executor in &job.executors {
                let started = match &executor.kind {
                    ExecutorKind::Local(options) => runners.start_local(&job, options).map(|child| {
                        running.insert(job.id, child);
                        "a local builder".to_owned()
                    }),
                    ExecutorKind::Kubernetes(_) => match runners.kubernetes_for(&settings, executor) {
                        Some(runner) => runners
                            .start_job(runner, &job, &manager)
                            .await
                            .map(|name| format!("Job {name}")),
                        None => Err(anyhow::anyhow!("executor not connected")),
                    },
                };
                match started {
                    Ok(what) => {
                        tracing::info!(build = %job.uuid, executor = %executor.name, "build started as {what}");
                        break;
                    }
                    // The next executor is tried; when none starts it, the
                    // build is re-queued once its registration times out.
                    Err(e) => {
                        tracing::warn!(error = %e, build = %job.uuid, executor = %executor.name, "cannot start the builder");
                    }
                }
            }
        }
    }
}

/// Deletes the build Jobs whose attempt no longer runs, in every
/// Kubernetes executor's namespace; returns how many of this manager's Jobs
/// still run, or `None` when a cluster could not be asked.
async fn tend_jobs(registry: &Registry, runners: &Runners, manager: &str) -> Option<usize> {
    let mut mine = 0;
    for runner in runners.kubernetes.iter().flatten() {
        let jobs = match runner.active_jobs().await {
            Ok(jobs) => jobs,
            Err(e) => {
                tracing::warn!(error = %e, namespace = %runner.executor.builder_namespace, "listing build Jobs failed");
                return None;
            }
        };
        if jobs.is_empty() {
            continue;
        }
        let attempts = jobs.iter().map(|j| (j.build_uuid.clone(), j.attempt.clone())).collect();
        let stale = match registry.stale_attempts(attempts).await {
            Ok(stale) => stale,
            Err(e) => {
                tracing::warn!(error = %e, "reading build attempts failed");
                return None;
            }
        };
        for job in jobs {
            if stale.contains(&(job.build_uuid.clone(), job.attempt.clone())) {
                tracing::info!(build = %job.build_uuid, job = %job.name, "deleting the Job of a build attempt that no longer runs");
                if let Err(e) = runner.delete(&job.name).await {
                    tracing::warn!(error = %e, job = %job.name, "deleting a build Job failed");
                }
            } else if job.manager == manager {
                mine += 1;
            }
        }
    }
    Some(mine)
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
