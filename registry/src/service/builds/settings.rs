//! `BUILD_MANAGER` as Quay writes it:
//! `["ephemeral", {ALLOWED_WORKER_COUNT, JOB_REGISTRATION_TIMEOUT,
//! MACHINE_MAX_TIME, EXECUTORS: [{EXECUTOR, NAME, ...}]}]`.

use serde_yaml::{Mapping, Value};

use crate::config::{Config, ConfigError};

const FIELD: &str = "BUILD_MANAGER";

/// Executor kinds that are Quay's but not run here; configs naming them
/// still load, and the next executor is tried.
const SKIPPED_EXECUTORS: [&str; 2] = ["kubernetes", "kubernetesPodman"];

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

/// One `local` executor: builders run as child processes of the manager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalExecutor {
    pub name: String,
    /// Namespaces whose builds it runs; empty for all.
    pub namespace_whitelist: Vec<String>,
    /// Skipped for builds with fewer retries left than this.
    pub minimum_retry_threshold: i32,
    pub buildah_isolation: String,
    pub container_runtime: ContainerRuntime,
}

impl LocalExecutor {
    /// Whether this executor takes a build of `namespace` with `retries` left.
    pub fn accepts(&self, namespace: &str, retries: i32) -> bool {
        (self.namespace_whitelist.is_empty() || self.namespace_whitelist.iter().any(|n| n == namespace))
            && retries >= self.minimum_retry_threshold
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
    pub executors: Vec<LocalExecutor>,
}

impl Default for BuildManagerSettings {
    fn default() -> Self {
        BuildManagerSettings {
            allowed_worker_count: 1,
            job_registration_timeout_s: 30,
            machine_max_time_s: 7200,
            executors: vec![LocalExecutor {
                name: "local".into(),
                namespace_whitelist: Vec::new(),
                minimum_retry_threshold: 0,
                buildah_isolation: "chroot".into(),
                container_runtime: ContainerRuntime::Buildah,
            }],
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
        None => Ok(default),
        Some(v) => v
            .as_i64()
            .filter(|n| *n >= 0)
            .ok_or_else(|| err(format!("{key} must be a whole number"))),
    }
}

fn text(map: &Mapping, key: &str, default: &str) -> Result<String, ConfigError> {
    match map.get(key) {
        None => Ok(default.to_owned()),
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
        Ok(config.feature("BUILD_SUPPORT", false).then_some(parsed))
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

    fn executors(list: &Value) -> Result<Vec<LocalExecutor>, ConfigError> {
        let items = list.as_sequence().ok_or_else(|| err("EXECUTORS must be a list"))?;
        let mut executors = Vec::new();
        for item in items {
            let map = item
                .as_mapping()
                .ok_or_else(|| err("every EXECUTORS entry must be a mapping"))?;
            let kind = text(map, "EXECUTOR", "")?;
            if SKIPPED_EXECUTORS.contains(&kind.as_str()) {
                tracing::warn!(executor = %kind, "this build executor is not available; trying the next one");
                continue;
            }
            if kind != "local" {
                return Err(err(format!("unknown executor {kind:?}; known: local, kubernetes")));
            }
            executors.push(Self::local(map)?);
        }
        Ok(executors)
    }

    fn local(map: &Mapping) -> Result<LocalExecutor, ConfigError> {
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
        let container_runtime = match text(map, "CONTAINER_RUNTIME", "buildah")?.as_str() {
            "buildah" => ContainerRuntime::Buildah,
            "podman" => ContainerRuntime::Podman,
            other => return Err(err(format!("CONTAINER_RUNTIME {other:?} must be buildah or podman"))),
        };
        Ok(LocalExecutor {
            name: text(map, "NAME", "local")?,
            namespace_whitelist: whitelist,
            minimum_retry_threshold: i32::try_from(number(map, "MINIMUM_RETRY_THRESHOLD", 0)?).unwrap_or(0),
            buildah_isolation: text(map, "BUILDAH_ISOLATION", "chroot")?,
            container_runtime,
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
        assert_eq!(settings("{}\n").expect("valid"), None);
    }

    #[test]
    fn quay_build_manager_is_read_with_its_executor_keys() {
        let yaml = "FEATURE_BUILD_SUPPORT: true\nBUILD_MANAGER:\n- ephemeral\n- ALLOWED_WORKER_COUNT: 2\n  JOB_REGISTRATION_TIMEOUT: 60\n  EXECUTORS:\n  - EXECUTOR: kubernetesPodman\n    NAME: openshift\n  - EXECUTOR: local\n    NAME: here\n    NAMESPACE_WHITELIST: [acme]\n    MINIMUM_RETRY_THRESHOLD: 1\n    CONTAINER_RUNTIME: podman\n";
        let s = settings(yaml).expect("valid").expect("on");
        assert_eq!(s.allowed_worker_count, 2);
        assert_eq!(s.job_registration_timeout_s, 60);
        assert_eq!(s.executors.len(), 1);
        let e = &s.executors[0];
        assert_eq!(
            (e.name.as_str(), e.container_runtime),
            ("here", ContainerRuntime::Podman)
        );
        assert!(e.accepts("acme", 1));
        assert!(!e.accepts("acme", 0));
        assert!(!e.accepts("other", 3));
    }

    #[test]
    fn unknown_executor_is_a_config_error_naming_it() {
        let yaml = "BUILD_MANAGER:\n- ephemeral\n- EXECUTORS:\n  - EXECUTOR: ec2\n";
        let e = Config::parse(yaml).expect_err("refused").to_string();
        assert!(e.contains("BUILD_MANAGER") && e.contains("ec2"), "{e}");
    }
}
