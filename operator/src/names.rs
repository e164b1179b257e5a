//! Object names, labels and annotations shared with Quay's operator, so
//! installs it made are adopted and users find what they know.

/// Field manager of every server-side apply.
pub const FIELD_MANAGER: &str = "quay-operator";
/// Finalizer on QuayRegistry objects.
pub const FINALIZER: &str = "quay-operator/finalizer";
/// Label on every object: the QuayRegistry it belongs to.
pub const LABEL_REGISTRY: &str = "quay-operator/quayregistry";
/// Label and annotation naming the component an object belongs to.
pub const LABEL_COMPONENT: &str = "quay-component";
/// Annotations stamped on Deployments and pod templates.
pub const ANNOTATION_REGISTRY_HOSTNAME: &str = "quay-registry-hostname";
pub const ANNOTATION_BUILDMANAGER_HOSTNAME: &str = "quay-buildmanager-hostname";
pub const ANNOTATION_TLS_SECRET_HASH: &str = "quay.redhat.com/tls-secret-hash";
pub const ANNOTATION_MANAGED_FIELDGROUPS: &str = "quay-managed-fieldgroups";
/// Hashes of the injected CA bundles (last 8 hex digits of sha256), stamped
/// on the registry Deployments and pod templates so a CA rotation rolls them.
pub const ANNOTATION_SERVICE_CA_HASH: &str = "quay.redhat.com/cluster-service-ca-hash";
pub const ANNOTATION_TRUSTED_CA_HASH: &str = "quay.redhat.com/cluster-trusted-ca-hash";
/// Label on user TLS Secrets referenced by `secretRef`, so they are watched.
pub const LABEL_TLS_SECRET: &str = "quay.redhat.com/tls-secret";

/// The last 8 hex digits of sha256 over `parts` in order, the form of
/// Quay's TLS and CA hash annotations.
pub fn short_hash<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> String {
    use sha2::{Digest as _, Sha256};
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    let hex = hex::encode(hasher.finalize());
    hex[hex.len() - 8..].to_owned()
}

/// `<cr>-<suffix>`, the name of every object the operator creates.
pub fn prefixed(cr: &str, suffix: &str) -> String {
    format!("{cr}-{suffix}")
}

/// The Secret holding generated keys that must survive reconciles.
pub fn managed_keys_secret(cr: &str) -> String {
    prefixed(cr, "quay-registry-managed-secret-keys")
}

/// The prefix of the content-hashed config Secrets (`<cr>-quay-config-secret-<hash>`).
pub fn config_secret_prefix(cr: &str) -> String {
    prefixed(cr, "quay-config-secret-")
}

/// The ConfigMap OpenShift's service-CA operator injects `service-ca.crt` into.
pub fn service_ca_configmap(cr: &str) -> String {
    prefixed(cr, "cluster-service-ca")
}

/// The ConfigMap OpenShift's network operator injects the trusted CA bundle
/// (`ca-bundle.crt`) into.
pub fn trusted_ca_configmap(cr: &str) -> String {
    prefixed(cr, "cluster-trusted-ca")
}

/// The prefix of the content-hashed extra CA Secrets (`<cr>-extra-ca-certs-<hash>`).
pub fn extra_ca_secret_prefix(cr: &str) -> String {
    prefixed(cr, "extra-ca-certs-")
}

/// The registry Deployment.
pub fn app_deployment(cr: &str) -> String {
    prefixed(cr, "quay-app")
}

/// The migration Job.
pub fn upgrade_job(cr: &str) -> String {
    prefixed(cr, "quay-app-upgrade")
}

/// The images the operands run, from the operator's environment
/// (`RELATED_IMAGE_COMPONENT_*`, as OLM sets them) or built-in defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Images {
    pub registry: String,
    pub postgres: String,
    pub redis: String,
}

impl Images {
    /// What `e2e/images/build` tags (README, "Container images"); push it
    /// under your registry's name and set `RELATED_IMAGE_COMPONENT_QUAY`.
    pub const DEFAULT_REGISTRY: &'static str = concat!("localhost/registry:", env!("CARGO_PKG_VERSION"));
    pub const DEFAULT_POSTGRES: &'static str = "docker.io/library/postgres:16";
    pub const DEFAULT_REDIS: &'static str = "docker.io/library/redis:7";

    /// Reads `RELATED_IMAGE_COMPONENT_{QUAY,POSTGRES,REDIS}` through `get`.
    pub fn from_env_with(get: impl Fn(&str) -> Option<String>) -> Images {
        let pick = |name: &str, default: &str| get(name).filter(|v| !v.is_empty()).unwrap_or_else(|| default.into());
        Images {
            registry: pick("RELATED_IMAGE_COMPONENT_QUAY", Self::DEFAULT_REGISTRY),
            postgres: pick("RELATED_IMAGE_COMPONENT_POSTGRES", Self::DEFAULT_POSTGRES),
            redis: pick("RELATED_IMAGE_COMPONENT_REDIS", Self::DEFAULT_REDIS),
        }
    }

    pub fn from_env() -> Images {
        Images::from_env_with(|k| std::env::var(k).ok())
    }
}
