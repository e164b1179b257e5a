//! The `kubernetes` executor (Quay's `kubernetesPodman` keys): every attempt
//! at a build is a Job in `BUILDER_NAMESPACE` whose one pod runs
//! `registry builder` from the registry's own image (or
//! `BUILDER_CONTAINER_IMAGE`).
//!
//! The builder pod builds with buildah on vfs storage and chroot isolation,
//! without a privileged container: it runs as root in its user namespace
//! with the default container capabilities minus the network and device
//! ones, and an unconfined seccomp profile, because buildah creates a user
//! namespace for `RUN` steps (the runtime's default profile refuses
//! `unshare(CLONE_NEWUSER)`). It needs no Kubernetes API access, so no
//! ServiceAccount token is mounted.
//!
//! Jobs carry the labels `build` (the build's uuid), `attempt` (which claim
//! of it), `manager` and `time`. A Job whose attempt no longer runs
//! (cancelled, re-queued after a missed registration or heartbeat, failed,
//! or claimed again) is deleted with its pod by whichever manager sees it
//! first; finished Jobs go after `RETENTION_AFTER_FINISHED` (kept with
//! `DEBUG`).

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, EmptyDirVolumeSource, EnvVar, LocalObjectReference, PodSpec, PodTemplateSpec,
    ResourceRequirements, SeccompProfile, SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, ListParams, PostParams};

use crate::service::builds::{Distribution, KubernetesExecutor};

/// Labels every build Job has (Quay's `build`, `manager`, `time`, and the
/// attempt).
const LABEL_BUILD: &str = "build";
const LABEL_ATTEMPT: &str = "attempt";
const LABEL_MANAGER: &str = "manager";
const LABEL_TIME: &str = "time";
/// What the builder may do as root in its pod: own and write files of the
/// image being built, switch users for `RUN`, chroot into it, map its user
/// namespace and stop its children.
const BUILDER_CAPABILITIES: [&str; 9] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETFCAP",
    "SETGID",
    "SETUID",
    "SYS_CHROOT",
];
/// Where buildah keeps images and its work files: emptyDir volumes, so a
/// build's layers go to the node's ephemeral storage, not the container's
/// writable layer.
const STORAGE_DIR: &str = "/var/lib/containers";
const TMP_DIR: &str = "/tmp";

/// One attempt at a build, as the manager starts it.
#[derive(Debug, Clone)]
pub struct JobRequest<'a> {
    pub build_uuid: &'a str,
    pub attempt: &'a str,
    pub token: &'a str,
    pub manager: &'a str,
    pub manager_url: &'a str,
    /// The builder image (BUILDER_CONTAINER_IMAGE, else the registry's).
    pub image: &'a str,
    /// PEM certificates the builder trusts for the manager and the
    /// registry (CA_CERT and EXTRA_CA_CERTS, else the served chain).
    pub ca_certs: Vec<String>,
    /// `YYYY-MM-DD-HH`, UTC.
    pub time: String,
}

/// What a build Job trusts for the manager at `manager_url`: the
/// executor's CA_CERT and EXTRA_CA_CERTS, else (on `https`) the chain the
/// registry serves, which ends in the operator's CA when it issued it.
pub fn builder_trust(configured: &[String], served_chain: Option<&str>, manager_url: &str) -> Vec<String> {
    match served_chain {
        Some(chain) if configured.is_empty() && manager_url.starts_with("https://") => vec![chain.to_owned()],
        _ => configured.to_vec(),
    }
}

/// The Job for one build attempt. Pure: what is created is what this
/// returns.
pub fn job_spec(executor: &KubernetesExecutor, request: &JobRequest<'_>) -> Job {
    let labels = BTreeMap::from([
        (LABEL_BUILD.to_owned(), request.build_uuid.to_owned()),
        (LABEL_ATTEMPT.to_owned(), request.attempt.to_owned()),
        (LABEL_MANAGER.to_owned(), request.manager.to_owned()),
        (LABEL_TIME.to_owned(), request.time.clone()),
    ]);
    let env = |name: &str, value: &str| EnvVar {
        name: name.into(),
        value: Some(value.into()),
        ..EnvVar::default()
    };
    let mut vars = vec![
        env("BUILDER_TOKEN", request.token),
        env("BUILDER_MANAGER_URL", request.manager_url),
        env("BUILDER_CONTAINER_RUNTIME", "buildah"),
        env("BUILDER_BUILDAH_ISOLATION", "chroot"),
        env("BUILD_UUID", request.build_uuid),
        env("STORAGE_DRIVER", "vfs"),
        env("BUILDAH_ISOLATION", "chroot"),
        env("TMPDIR", TMP_DIR),
    ];
    if !request.ca_certs.is_empty() {
        vars.push(env("BUILDER_CA_CERT", &request.ca_certs.join("\n")));
    }
    if executor.debug {
        vars.push(env("RUST_LOG", "debug"));
    }
    let quantity = |v: &str| Quantity(v.to_owned());
    let resources = ResourceRequirements {
        requests: Some(BTreeMap::from([
            ("memory".to_owned(), quantity(&executor.memory_request)),
            ("cpu".to_owned(), quantity(&executor.cpu_request)),
        ])),
        limits: Some(BTreeMap::from([
            ("memory".to_owned(), quantity(&executor.memory_limit)),
            ("cpu".to_owned(), quantity(&executor.cpu_limit)),
        ])),
        ..ResourceRequirements::default()
    };
    let mount = |name: &str, path: &str| VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        ..VolumeMount::default()
    };
    let scratch = |name: &str| Volume {
        name: name.into(),
        empty_dir: Some(EmptyDirVolumeSource::default()),
        ..Volume::default()
    };
    let container = Container {
        name: "builder".into(),
        image: Some(request.image.to_owned()),
        image_pull_policy: executor.image_pull_policy.clone(),
        command: Some(vec!["registry".into(), "builder".into()]),
        env: Some(vars),
        resources: Some(resources),
        security_context: Some(SecurityContext {
            run_as_user: Some(0),
            run_as_non_root: Some(false),
            privileged: Some(false),
            allow_privilege_escalation: Some(false),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".into()]),
                add: Some(BUILDER_CAPABILITIES.iter().map(|c| (*c).to_owned()).collect()),
            }),
            seccomp_profile: Some(SeccompProfile {
                type_: "Unconfined".into(),
                ..SeccompProfile::default()
            }),
            ..SecurityContext::default()
        }),
        volume_mounts: Some(vec![mount("containers", STORAGE_DIR), mount("tmp", TMP_DIR)]),
        ..Container::default()
    };
    let pod = PodSpec {
        restart_policy: Some("Never".into()),
        service_account_name: Some(executor.service_account_name.clone()),
        automount_service_account_token: Some(false),
        enable_service_links: Some(false),
        dns_policy: executor.dns_policy.clone(),
        node_selector: executor
            .node_selector
            .as_ref()
            .map(|(k, v)| BTreeMap::from([(k.clone(), v.clone())])),
        image_pull_secrets: executor
            .image_pull_secret_name
            .as_ref()
            .map(|name| vec![LocalObjectReference { name: name.clone() }]),
        containers: vec![container],
        volumes: Some(vec![scratch("containers"), scratch("tmp")]),
        ..PodSpec::default()
    };
    let mut annotations = BTreeMap::new();
    if executor.distribution == Distribution::Openshift {
        // The restricted SCCs refuse a root builder; the admin grants
        // the ServiceAccount `anyuid` (or a build SCC) as with Quay.
        annotations.insert("openshift.io/required-scc".to_owned(), "anyuid".to_owned());
    }
    Job {
        metadata: ObjectMeta {
            generate_name: Some(format!("{}-", request.build_uuid)),
            namespace: Some(executor.builder_namespace.clone()),
            labels: Some(labels.clone()),
            ..ObjectMeta::default()
        },
        spec: Some(JobSpec {
            // The build manager retries a build, not Kubernetes: a second
            // pod could not register with the same token.
            backoff_limit: Some(0),
            active_deadline_seconds: Some(executor.maximum_job_time_s),
            ttl_seconds_after_finished: (!executor.debug)
                .then(|| i32::try_from(executor.retention_after_finished_s).unwrap_or(i32::MAX)),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    annotations: (!annotations.is_empty()).then_some(annotations),
                    ..ObjectMeta::default()
                }),
                spec: Some(pod),
            },
            ..JobSpec::default()
        }),
        ..Job::default()
    }
}

/// A running build Job: its name and the attempt it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildJob {
    pub name: String,
    pub build_uuid: String,
    pub attempt: String,
    pub manager: String,
}

/// A connection to one executor's cluster and namespace.
pub struct KubernetesRunner {
    pub executor: KubernetesExecutor,
    jobs: Api<Job>,
}

/// The client for an executor: `K8S_API_SERVER` with `K8S_API_TLS_CA` and
/// `SERVICE_ACCOUNT_TOKEN`, else in-cluster credentials (or the
/// kubeconfig).
async fn client(executor: &KubernetesExecutor) -> anyhow::Result<kube::Client> {
    let timeout = Some(Duration::from_secs(executor.api_timeout_s.max(1)));
    let mut config = match &executor.api_server {
        Some(server) => {
            let url = if server.contains("://") {
                server.clone()
            } else {
                format!("https://{server}")
            };
            let mut config = kube::Config::new(url.parse()?);
            if let Some(ca) = &executor.api_tls_ca {
                let pem = std::fs::read(ca).map_err(|e| anyhow::anyhow!("K8S_API_TLS_CA {ca}: {e}"))?;
                let certs: Result<Vec<_>, _> = rustls_pemfile::certs(&mut pem.as_slice()).collect();
                config.root_cert = Some(certs?.into_iter().map(|c| c.to_vec()).collect());
            }
            config.auth_info.token = executor.service_account_token.clone().map(secrecy::SecretString::from);
            config
        }
        None => kube::Config::infer().await?,
    };
    config.connect_timeout = timeout;
    config.read_timeout = timeout;
    config.write_timeout = timeout;
    Ok(kube::Client::try_from(config)?)
}

impl KubernetesRunner {
    pub async fn connect(executor: &KubernetesExecutor) -> anyhow::Result<KubernetesRunner> {
        let client = client(executor).await?;
        Ok(KubernetesRunner {
            jobs: Api::namespaced(client, &executor.builder_namespace),
            executor: executor.clone(),
        })
    }

    /// Creates the Job of one attempt; returns its name.
    pub async fn start(&self, request: &JobRequest<'_>) -> anyhow::Result<String> {
        let job = self
            .jobs
            .create(&PostParams::default(), &job_spec(&self.executor, request))
            .await?;
        Ok(job.metadata.name.unwrap_or_default())
    }

    /// The build Jobs in the namespace that have not finished.
    pub async fn active_jobs(&self) -> anyhow::Result<Vec<BuildJob>> {
        let selector = format!("{LABEL_BUILD},{LABEL_ATTEMPT},{LABEL_MANAGER}");
        let list = self.jobs.list(&ListParams::default().labels(&selector)).await?;
        Ok(list
            .items
            .into_iter()
            .filter(|job| !finished(job))
            .filter_map(|job| {
                let labels = job.metadata.labels.as_ref()?;
                Some(BuildJob {
                    name: job.metadata.name.clone()?,
                    build_uuid: labels.get(LABEL_BUILD)?.clone(),
                    attempt: labels.get(LABEL_ATTEMPT)?.clone(),
                    manager: labels.get(LABEL_MANAGER)?.clone(),
                })
            })
            .collect())
    }

    /// Deletes a Job and its pod; a Job already gone is not an error.
    pub async fn delete(&self, name: &str) -> anyhow::Result<()> {
        match self.jobs.delete(name, &DeleteParams::background()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// Whether a Job ended (its Complete or Failed condition is true).
fn finished(job: &Job) -> bool {
    job.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|conditions| {
            conditions
                .iter()
                .any(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
        })
}

#[cfg(test)]
#[path = "kubernetes_tests.rs"]
mod tests;
