//! `BUILD_MANAGER` as Quay writes it:
//! `["ephemeral", {ALLOWED_WORKER_COUNT, JOB_REGISTRATION_TIMEOUT,
//! MACHINE_MAX_TIME, EXECUTORS: [{EXECUTOR, NAME, ...}]}]`.

use serde_yaml::{Mapping, Value};

use crate::config::{Config, ConfigError};

const FIELD: &str = "BUILD_MANAGER";

/// The builders' ServiceAccount when `SERVICE_ACCOUNT_NAME` is not set
/// (Quay's default; the operator creates it under the same name).
pub const DEFAULT_BUILDER_SERVICE_ACCOUNT: &str = "quay-builder-sa";

/// The tool that builds and pushes images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerRuntime {
    Buildah,
    Podman,
}

impl ContainerRuntime {
    pub fn as_str(self) -> &'static str {
        match self {
            ContainerRuntime::Buildah => "buildah",
            ContainerRuntime::Podman => "podman",
        }
    }
}

/// One `EXECUTORS` entry: where builders run, and which builds it takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Executor {
    pub name: String,
    /// Namespaces whose builds it runs; empty for all.
    pub namespace_whitelist: Vec<String>,
    /// Skipped for builds with fewer retries left than this.
    pub minimum_retry_threshold: i32,
    pub kind: ExecutorKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecutorKind {
    /// Builders run as child processes of the manager.
    Local(LocalOptions),
    /// Builders run as Kubernetes Jobs (Quay's `kubernetesPodman`).
    Kubernetes(Box<KubernetesExecutor>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalOptions {
    pub buildah_isolation: String,
    pub container_runtime: ContainerRuntime,
}

/// `KUBERNETES_DISTRIBUTION`: how the builder pod is shaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Distribution {
    Basic,
    Openshift,
}

/// A `kubernetes` / `kubernetesPodman` executor, with Quay's keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubernetesExecutor {
    /// `K8S_API_SERVER` (`host:port` or a URL); in-cluster credentials
    /// (or the kubeconfig) when absent.
    pub api_server: Option<String>,
    /// `K8S_API_TLS_CA`: a PEM file trusted for the API server.
    pub api_tls_ca: Option<String>,
    pub service_account_token: Option<String>,
    /// `K8S_API_TIMEOUT` seconds.
    pub api_timeout_s: u64,
    pub builder_namespace: String,
    pub service_account_name: String,
    pub distribution: Distribution,
    /// `BUILDER_CONTAINER_IMAGE`; the registry's own image
    /// (`REGISTRY_IMAGE`, set by the operator) when absent.
    pub image: Option<String>,
    /// `IMAGE_PULL_POLICY`; Kubernetes' default for the tag when absent.
    pub image_pull_policy: Option<String>,
    pub image_pull_secret_name: Option<String>,
    pub memory_limit: String,
    pub cpu_limit: String,
    pub memory_request: String,
    pub cpu_request: String,
    /// `NODE_SELECTOR_LABEL_KEY` = `NODE_SELECTOR_LABEL_VALUE`, when a
    /// value is set.
    pub node_selector: Option<(String, String)>,
    pub maximum_job_time_s: i64,
    pub retention_after_finished_s: i64,
    /// Keeps finished Jobs (no TTL) for inspection.
    pub debug: bool,
    pub dns_policy: Option<String>,
    /// `CA_CERT` (PEM text) plus `EXTRA_CA_CERTS`: what the builder trusts
    /// for the manager and the registry.
    pub ca_certs: Vec<String>,
}

impl Executor {
    /// Whether this executor takes a build of `namespace` with `retries` left.
    pub fn accepts(&self, namespace: &str, retries: i32) -> bool {
        (self.namespace_whitelist.is_empty() || self.namespace_whitelist.iter().any(|n| n == namespace))
            && retries >= self.minimum_retry_threshold
    }

    pub fn local(name: &str) -> Executor {
        Executor {
            name: name.into(),
            namespace_whitelist: Vec::new(),
            minimum_retry_threshold: 0,
            kind: ExecutorKind::Local(LocalOptions {
                buildah_isolation: "chroot".into(),
                container_runtime: ContainerRuntime::Buildah,
            }),
        }
    }
}

/// The build manager's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildManagerSettings {
    /// Builds one manager runs at once.
    pub allowed_worker_count: usize,
    /// Seconds a builder has to register after its build was scheduled.
    pub job_registration_timeout_s: i64,
    /// Seconds a build may run at most.
    pub machine_max_time_s: i64,
    pub executors: Vec<Executor>,
}

impl Default for BuildManagerSettings {
    fn default() -> Self {
        BuildManagerSettings {
            allowed_worker_count: 1,
            job_registration_timeout_s: 30,
            machine_max_time_s: 7200,
            executors: vec![Executor::local("local")],
        }
    }
}

fn err(message: impl Into<String>) -> ConfigError {
    ConfigError::Field {
        field: FIELD.into(),
        message: message.into(),
    }
}

fn number(map: &Mapping, key: &str, default: i64) -> Result<i64, ConfigError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v
            .as_i64()
            .filter(|n| *n >= 0)
            .ok_or_else(|| err(format!("{key} must be a whole number"))),
    }
}

fn text(map: &Mapping, key: &str, default: &str) -> Result<String, ConfigError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(default.to_owned()),
        Some(v) => v
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| err(format!("{key} must be text"))),
    }
}

impl BuildManagerSettings {
    /// The settings when `FEATURE_BUILD_SUPPORT` is on (one local executor
    /// without `BUILD_MANAGER`); `None` when builds are off.
    pub fn from_config(config: &Config) -> Result<Option<BuildManagerSettings>, ConfigError> {
        let parsed = match config.other.get(FIELD) {
            None => BuildManagerSettings::default(),
            Some(v) => Self::parse(v)?,
        };
        Ok(super::builds_enabled(config).then_some(parsed))
    }

    fn parse(value: &Value) -> Result<BuildManagerSettings, ConfigError> {
        let shape = || err("must be [\"ephemeral\", {…}]");
        let items = value.as_sequence().ok_or_else(shape)?;
        let (Some(kind), Some(options)) = (items.first().and_then(Value::as_str), items.get(1)) else {
            return Err(shape());
        };
        if kind != "ephemeral" {
            return Err(err(format!("unknown build manager {kind}; only ephemeral exists")));
        }
        let map = options.as_mapping().ok_or_else(shape)?;
        let executors = match map.get("EXECUTORS") {
            None => BuildManagerSettings::default().executors,
            Some(list) => Self::executors(list)?,
        };
        Ok(BuildManagerSettings {
            allowed_worker_count: usize::try_from(number(map, "ALLOWED_WORKER_COUNT", 1)?).unwrap_or(1),
            job_registration_timeout_s: number(map, "JOB_REGISTRATION_TIMEOUT", 30)?,
            machine_max_time_s: number(map, "MACHINE_MAX_TIME", 7200)?,
            executors,
        })
    }

    fn executors(list: &Value) -> Result<Vec<Executor>, ConfigError> {
        let items = list.as_sequence().ok_or_else(|| err("EXECUTORS must be a list"))?;
        items
            .iter()
            .map(|item| {
                let map = item
                    .as_mapping()
                    .ok_or_else(|| err("every EXECUTORS entry must be a mapping"))?;
                Self::executor(map)
            })
            .collect()
    }

    fn executor(map: &Mapping) -> Result<Executor, ConfigError> {
        let kind = text(map, "EXECUTOR", "")?;
        let kind_name = kind.clone();
        let whitelist = match map.get("NAMESPACE_WHITELIST") {
            None => Vec::new(),
            Some(v) => v
                .as_sequence()
                .filter(|s| s.iter().all(Value::is_string))
                .ok_or_else(|| err("NAMESPACE_WHITELIST must be a list of namespaces"))?
                .iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect(),
        };
        let kind = match kind.as_str() {
            "local" => ExecutorKind::Local(Self::local(map)?),
            "kubernetes" | "kubernetesPodman" => ExecutorKind::Kubernetes(Box::new(Self::kubernetes(map)?)),
            other => {
                return Err(err(format!(
                    "unknown executor {other:?}; known: local, kubernetes, kubernetesPodman"
                )))
            }
        };
        Ok(Executor {
            name: text(map, "NAME", &kind_name)?,
            namespace_whitelist: whitelist,
            minimum_retry_threshold: i32::try_from(number(map, "MINIMUM_RETRY_THRESHOLD", 0)?).unwrap_or(0),
            kind,
        })
    }

    fn local(map: &Mapping) -> Result<LocalOptions, ConfigError> {
        let container_runtime = match text(map, "CONTAINER_RUNTIME", "buildah")?.as_str() {
            "buildah" => ContainerRuntime::Buildah,
            "podman" => ContainerRuntime::Podman,
            other => return Err(err(format!("CONTAINER_RUNTIME {other:?} must be buildah or podman"))),
        };
        Ok(LocalOptions {
            buildah_isolation: text(map, "BUILDAH_ISOLATION", "chroot")?,
            container_runtime,
        })
    }

    fn kubernetes(map: &Mapping) -> Result<KubernetesExecutor, ConfigError> {
        let optional = |key: &str| -> Result<Option<String>, ConfigError> {
            Ok(Some(text(map, key, "")?).filter(|v| !v.is_empty()))
        };
        let distribution = match text(map, "KUBERNETES_DISTRIBUTION", "basic")?.as_str() {
            "basic" => Distribution::Basic,
            "openshift" => Distribution::Openshift,
            other => {
                return Err(err(format!(
                    "KUBERNETES_DISTRIBUTION {other:?} must be basic or openshift"
                )))
            }
        };
        let node_selector = match optional("NODE_SELECTOR_LABEL_VALUE")? {
            None => None,
            Some(value) => Some((
                text(map, "NODE_SELECTOR_LABEL_KEY", "beta.kubernetes.io/instance-type")?,
                value,
            )),
        };
        let mut ca_certs: Vec<String> = optional("CA_CERT")?.into_iter().collect();
        if let Some(extra) = map.get("EXTRA_CA_CERTS") {
            let list = extra
                .as_sequence()
                .filter(|s| s.iter().all(Value::is_string))
                .ok_or_else(|| err("EXTRA_CA_CERTS must be a list of PEM certificates"))?;
            ca_certs.extend(list.iter().filter_map(|c| c.as_str().map(str::to_owned)));
        }
        let debug = match map.get("DEBUG") {
            None => false,
            Some(v) => v.as_bool().ok_or_else(|| err("DEBUG must be true or false"))?,
        };
        if let Some(policy) = optional("IMAGE_PULL_POLICY")? {
            if !["Always", "IfNotPresent", "Never"].contains(&policy.as_str()) {
                return Err(err(format!(
                    "IMAGE_PULL_POLICY {policy:?} must be Always, IfNotPresent or Never"
                )));
            }
        }
        Ok(KubernetesExecutor {
            api_server: optional("K8S_API_SERVER")?,
            api_tls_ca: optional("K8S_API_TLS_CA")?,
            service_account_token: optional("SERVICE_ACCOUNT_TOKEN")?,
            api_timeout_s: u64::try_from(number(map, "K8S_API_TIMEOUT", 20)?).unwrap_or(20),
            builder_namespace: text(map, "BUILDER_NAMESPACE", "builder")?,
            service_account_name: text(map, "SERVICE_ACCOUNT_NAME", DEFAULT_BUILDER_SERVICE_ACCOUNT)?,
            distribution,
            image: optional("BUILDER_CONTAINER_IMAGE")?,
            image_pull_policy: optional("IMAGE_PULL_POLICY")?,
            image_pull_secret_name: optional("IMAGE_PULL_SECRET_NAME")?,
            memory_limit: text(map, "CONTAINER_MEMORY_LIMITS", "5120Mi")?,
            cpu_limit: text(map, "CONTAINER_CPU_LIMITS", "1000m")?,
            memory_request: text(map, "CONTAINER_MEMORY_REQUEST", "3968Mi")?,
            cpu_request: text(map, "CONTAINER_CPU_REQUEST", "500m")?,
            node_selector,
            maximum_job_time_s: number(map, "MAXIMUM_JOB_TIME", 7200)?,
            retention_after_finished_s: number(map, "RETENTION_AFTER_FINISHED", 120)?,
            debug,
            dns_policy: optional("DNS_POLICY")?,
            ca_certs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(yaml: &str) -> Result<Option<BuildManagerSettings>, ConfigError> {
        BuildManagerSettings::from_config(&Config::parse(yaml).expect("config"))
    }

    #[test]
    fn build_support_without_build_manager_runs_one_local_executor() {
        let s = settings("FEATURE_BUILD_SUPPORT: true\n").expect("valid").expect("on");
        assert_eq!(s, BuildManagerSettings::default());
        assert_eq!(
            settings("{}\n").expect("valid"),
            Some(BuildManagerSettings::default()),
            "on by default"
        );
        assert_eq!(settings("FEATURE_BUILD_SUPPORT: false\n").expect("valid"), None);
    }

    #[test]
    fn quay_build_manager_is_read_with_its_executor_keys() {
        let yaml = "FEATURE_BUILD_SUPPORT: true\nBUILD_MANAGER:\n- ephemeral\n- ALLOWED_WORKER_COUNT: 2\n  JOB_REGISTRATION_TIMEOUT: 60\n  EXECUTORS:\n  - EXECUTOR: kubernetesPodman\n    NAME: openshift\n  - EXECUTOR: local\n    NAME: here\n    NAMESPACE_WHITELIST: [acme]\n    MINIMUM_RETRY_THRESHOLD: 1\n    CONTAINER_RUNTIME: podman\n";
        let s = settings(yaml).expect("valid").expect("on");
        assert_eq!(s.allowed_worker_count, 2);
        assert_eq!(s.job_registration_timeout_s, 60);
        assert_eq!(s.executors.len(), 2);
        assert!(matches!(s.executors[0].kind, ExecutorKind::Kubernetes(_)));
        let e = &s.executors[1];
        assert_eq!(e.name, "here");
        let ExecutorKind::Local(local) = &e.kind else {
            panic!("local executor expected: {e:?}");
        };
        assert_eq!(local.container_runtime, ContainerRuntime::Podman);
        assert!(e.accepts("acme", 1));
        assert!(!e.accepts("acme", 0));
        assert!(!e.accepts("other", 3));
    }

    fn kubernetes(executor_yaml: &str) -> Result<KubernetesExecutor, ConfigError> {
        let yaml = format!("FEATURE_BUILD_SUPPORT: true\nBUILD_MANAGER:\n- ephemeral\n- EXECUTORS:\n  - EXECUTOR: kubernetes\n{executor_yaml}");
        let s = BuildManagerSettings::from_config(&Config::parse(&yaml)?)?.expect("on");
        match s.executors.into_iter().next().map(|e| e.kind) {
            Some(ExecutorKind::Kubernetes(k)) => Ok(*k),
            other => panic!("kubernetes executor expected: {other:?}"),
        }
    }

    #[test]
    fn kubernetes_executor_defaults_are_quays() {
        let k = kubernetes("    NAME: k8s\n").expect("valid");
        assert_eq!(k.api_server, None);
        assert_eq!(k.builder_namespace, "builder");
        assert_eq!(k.service_account_name, DEFAULT_BUILDER_SERVICE_ACCOUNT);
        assert_eq!(k.distribution, Distribution::Basic);
        assert_eq!(
            (
                k.memory_limit.as_str(),
                k.cpu_limit.as_str(),
                k.memory_request.as_str(),
                k.cpu_request.as_str()
            ),
            ("5120Mi", "1000m", "3968Mi", "500m")
        );
        assert_eq!(
            (k.maximum_job_time_s, k.retention_after_finished_s, k.debug),
            (7200, 120, false)
        );
        assert_eq!((k.node_selector, k.image, k.image_pull_policy), (None, None, None));
        assert_eq!(k.api_timeout_s, 20);
    }

    #[test]
    fn kubernetes_executor_reads_every_key() {
        let k = kubernetes(
            "    K8S_API_SERVER: api.example:6443\n    K8S_API_TLS_CA: /ca.crt\n    SERVICE_ACCOUNT_TOKEN: tok\n    BUILDER_NAMESPACE: builders\n    SERVICE_ACCOUNT_NAME: sa\n    KUBERNETES_DISTRIBUTION: openshift\n    BUILDER_CONTAINER_IMAGE: img:1\n    IMAGE_PULL_POLICY: IfNotPresent\n    IMAGE_PULL_SECRET_NAME: pull\n    CONTAINER_MEMORY_LIMITS: 1Gi\n    CONTAINER_CPU_LIMITS: '2'\n    CONTAINER_MEMORY_REQUEST: 512Mi\n    CONTAINER_CPU_REQUEST: 250m\n    NODE_SELECTOR_LABEL_KEY: role\n    NODE_SELECTOR_LABEL_VALUE: builds\n    MAXIMUM_JOB_TIME: 600\n    RETENTION_AFTER_FINISHED: 30\n    DEBUG: true\n    DNS_POLICY: ClusterFirst\n    CA_CERT: PEM1\n    EXTRA_CA_CERTS: [PEM2]\n",
        )
        .expect("valid");
        assert_eq!(k.api_server.as_deref(), Some("api.example:6443"));
        assert_eq!(k.api_tls_ca.as_deref(), Some("/ca.crt"));
        assert_eq!(k.service_account_token.as_deref(), Some("tok"));
        assert_eq!(
            (k.builder_namespace.as_str(), k.service_account_name.as_str()),
            ("builders", "sa")
        );
        assert_eq!(k.distribution, Distribution::Openshift);
        assert_eq!(k.image.as_deref(), Some("img:1"));
        assert_eq!(k.image_pull_policy.as_deref(), Some("IfNotPresent"));
        assert_eq!(k.image_pull_secret_name.as_deref(), Some("pull"));
        assert_eq!((k.memory_limit.as_str(), k.cpu_limit.as_str()), ("1Gi", "2"));
        assert_eq!((k.memory_request.as_str(), k.cpu_request.as_str()), ("512Mi", "250m"));
        assert_eq!(k.node_selector, Some(("role".into(), "builds".into())));
        assert_eq!(
            (k.maximum_job_time_s, k.retention_after_finished_s, k.debug),
            (600, 30, true)
        );
        assert_eq!(k.dns_policy.as_deref(), Some("ClusterFirst"));
        assert_eq!(k.ca_certs, vec!["PEM1".to_owned(), "PEM2".to_owned()]);
    }

    #[test]
    fn kubernetes_executor_refuses_bad_values_naming_the_key() {
        for (yaml, key) in [
            ("    KUBERNETES_DISTRIBUTION: eks\n", "KUBERNETES_DISTRIBUTION"),
            ("    IMAGE_PULL_POLICY: Sometimes\n", "IMAGE_PULL_POLICY"),
            ("    MAXIMUM_JOB_TIME: soon\n", "MAXIMUM_JOB_TIME"),
            ("    DEBUG: maybe\n", "DEBUG"),
            ("    EXTRA_CA_CERTS: PEM\n", "EXTRA_CA_CERTS"),
        ] {
            let e = kubernetes(yaml).expect_err(key).to_string();
            assert!(e.contains(key), "{key}: {e}");
        }
    }

    #[test]
    fn unknown_executor_is_a_config_error_naming_it() {
        let yaml = "BUILD_MANAGER:\n- ephemeral\n- EXECUTORS:\n  - EXECUTOR: ec2\n";
        let e = Config::parse(yaml).expect_err("refused").to_string();
        assert!(e.contains("BUILD_MANAGER") && e.contains("ec2"), "{e}");
    }
}
