//! Pieces every builder shares: names, labels, selectors, owner references,
//! security contexts, resources, and a read-only view of `config.yaml`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Capabilities as LinuxCapabilities, PodSecurityContext, ResourceRequirements, SeccompProfile, SecurityContext,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use super::Inputs;
use crate::bundle::RenderedConfig;
use crate::names::{prefixed, LABEL_COMPONENT, LABEL_REGISTRY};

/// Where the registry pods see the config Secret (and the TLS pair).
pub(super) const CONFIG_DIR: &str = "/conf/stack";
pub(super) const CONFIG_FILE: &str = "/conf/stack/config.yaml";
/// The registry's `--data-dir` (an emptyDir: embedded files only).
pub(super) const DATA_DIR: &str = "/var/lib/registry";
pub(super) const HTTP_PORT: i32 = 8080;
pub(super) const HTTPS_PORT: i32 = 8443;
pub(super) const GRPC_PORT: i32 = 55443;
/// The registry's Prometheus `/metrics` listener (Quay's port).
pub(super) const METRICS_PORT: i32 = 9091;

/// `quay-component` values, as Quay's kustomize files set them.
pub(super) mod component {
    pub const APP: &str = "quay-app";
    pub const CONFIG: &str = "quay-config";
    pub const UPGRADE: &str = "quay-app-upgrade";
    pub const POSTGRES: &str = "postgres";
    pub const REDIS: &str = "redis";
    pub const MIRROR: &str = "quay-mirror";
    pub const HPA: &str = "horizontalpodautoscaler";
    pub const APP_ROUTE: &str = "quay-app-route";
    pub const BUILDER_ROUTE: &str = "quay-builder-route";
    pub const INGRESS: &str = "route";
    pub const MONITORING: &str = "monitoring";
    pub const OBJECTSTORAGE: &str = "objectstorage";
    pub const BUILDER: &str = "quay-builder";
}

/// The `app` label of Quay's base objects.
pub(super) const LABEL_APP: &str = "app";
pub(super) const APP_VALUE: &str = "quay";
/// Label keys the operator owns; label overrides never replace them.
pub(super) const RESERVED_LABELS: [&str; 3] = [LABEL_COMPONENT, LABEL_APP, LABEL_REGISTRY];

/// `<cr>-<suffix>`.
pub(super) fn name(inputs: &Inputs, suffix: &str) -> String {
    prefixed(&inputs.name, suffix)
}

/// The labels of every object: registry, component and `app: quay`.
pub(super) fn labels(inputs: &Inputs, component: &str) -> BTreeMap<String, String> {
    let mut labels = selector(inputs, component);
    labels.insert(LABEL_APP.into(), APP_VALUE.into());
    labels
}

/// The pod selector of a component: Quay's selectors carry the component and
/// the registry (kustomize commonLabels); selectors are immutable, so ours
/// must equal theirs for an adopted Deployment to apply.
pub(super) fn selector(inputs: &Inputs, component: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (LABEL_COMPONENT.to_owned(), component.to_owned()),
        (LABEL_REGISTRY.to_owned(), inputs.name.clone()),
    ])
}

/// The owner reference Quay's operator sets: no controller or
/// blockOwnerDeletion flag.
pub(super) fn owner_reference(inputs: &Inputs) -> OwnerReference {
    OwnerReference {
        api_version: format!("{}/{}", crds::GROUP, crds::VERSION),
        kind: crds::KIND.into(),
        name: inputs.name.clone(),
        uid: inputs.uid.clone(),
        ..OwnerReference::default()
    }
}

/// Metadata of an object `<cr>-<suffix>` in the registry's namespace, owned
/// by the QuayRegistry.
pub(super) fn meta(inputs: &Inputs, suffix: &str, component: &str) -> ObjectMeta {
    named_meta(inputs, name(inputs, suffix), component)
}

/// As [`meta`], with a full name.
pub(super) fn named_meta(inputs: &Inputs, name: String, component: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: Some(inputs.namespace.clone()),
        labels: Some(labels(inputs, component)),
        owner_references: Some(vec![owner_reference(inputs)]),
        ..ObjectMeta::default()
    }
}

/// Requests and limits from `(cpu, memory)` pairs.
pub(super) fn resources(requests: (&str, &str), limits: (&str, &str)) -> ResourceRequirements {
    let list = |(cpu, memory): (&str, &str)| {
        BTreeMap::from([
            ("cpu".to_owned(), Quantity(cpu.into())),
            ("memory".to_owned(), Quantity(memory.into())),
        ])
    };
    ResourceRequirements {
        requests: Some(list(requests)),
        limits: Some(list(limits)),
        ..ResourceRequirements::default()
    }
}

/// Non-root, no privilege escalation, every capability dropped (the
/// registry listens on unprivileged ports, so unlike Quay it needs no
/// NET_BIND_SERVICE).
pub(super) fn container_security() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        run_as_non_root: Some(true),
        capabilities: Some(LinuxCapabilities {
            drop: Some(vec!["ALL".into()]),
            ..LinuxCapabilities::default()
        }),
        ..SecurityContext::default()
    }
}

/// Restricted pod security. `fixed_user` pins uid/gid/fsGroup for images
/// whose default user is root (the official postgres and redis images);
/// on OpenShift it must stay unset so the SCC assigns the namespace's uid.
pub(super) fn pod_security(fixed_user: Option<i64>) -> PodSecurityContext {
    PodSecurityContext {
        run_as_non_root: Some(true),
        run_as_user: fixed_user,
        run_as_group: fixed_user,
        fs_group: fixed_user,
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".into(),
            ..SeccompProfile::default()
        }),
        ..PodSecurityContext::default()
    }
}

/// The uid of the `postgres` and `redis` users in the official images, used
/// where the cluster does not assign one (no Route API: not OpenShift).
pub(super) fn official_image_user(inputs: &Inputs) -> Option<i64> {
    (!inputs.capabilities.routes).then_some(999)
}

/// A hostname without its `:port`.
pub(super) fn strip_port(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((h, port)) if !h.is_empty() && port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    }
}

/// The merged `config.yaml`, read for the few keys objects depend on.
#[derive(Debug, Clone, Default)]
pub(super) struct ConfigView(serde_yaml::Mapping);

impl ConfigView {
    /// Parses `config.yaml` of the rendered config (absent: empty).
    pub(super) fn parse(config: &RenderedConfig) -> crate::Result<ConfigView> {
        let Some(bytes) = config.files.get("config.yaml") else {
            return Ok(ConfigView::default());
        };
        let value: Option<serde_yaml::Mapping> = serde_yaml::from_slice(bytes)
            .map_err(|e| crate::Error::Inflate(format!("rendered config.yaml is not a YAML mapping: {e}")))?;
        Ok(ConfigView(value.unwrap_or_default()))
    }

    pub(super) fn get(&self, key: &str) -> Option<&serde_yaml::Value> {
        self.0.get(key)
    }

    pub(super) fn str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(serde_yaml::Value::as_str)
    }

    pub(super) fn bool(&self, key: &str) -> bool {
        self.get(key).and_then(serde_yaml::Value::as_bool).unwrap_or(false)
    }
}

/// A ClusterIP Service `<cr>-<suffix>` exposing one TCP port of a component's pods.
pub(super) fn single_port_service(
    inputs: &Inputs,
    suffix: &str,
    component: &str,
    port_name: &str,
    port: i32,
) -> k8s_openapi::api::core::v1::Service {
    use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    Service {
        metadata: meta(inputs, suffix, component),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".into()),
            selector: Some(selector(inputs, component)),
            ports: Some(vec![ServicePort {
                name: Some(port_name.into()),
                port,
                target_port: Some(IntOrString::Int(port)),
                protocol: Some("TCP".into()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objects::fixtures::inputs;
    use crate::tls::CertPair;

    #[test]
    fn ports_are_stripped_from_hostnames_only_when_numeric() {
        for (host, want) in [
            ("quay.example.com", "quay.example.com"),
            ("quay.example.com:443", "quay.example.com"),
            ("builder.example.com:55443", "builder.example.com"),
            ("weird:name", "weird:name"),
        ] {
            assert_eq!(strip_port(host), want, "{host}");
        }
    }

    #[test]
    fn the_tls_hash_is_eight_hex_digits_and_changes_with_the_key() {
        let a = CertPair {
            cert_pem: "cert".into(),
            key_pem: "key".into(),
        };
        let b = CertPair {
            cert_pem: "cert".into(),
            key_pem: "other".into(),
        };
        assert_eq!(a.secret_hash().len(), 8);
        assert!(a.secret_hash().chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a.secret_hash(), b.secret_hash());
        assert_eq!(a.secret_hash(), a.clone().secret_hash());
    }

    #[test]
    fn the_owner_reference_is_quays_without_controller_flags() {
        let owner = owner_reference(&inputs().build());
        assert_eq!(owner.api_version, "quay.redhat.com/v1");
        assert_eq!(owner.kind, "QuayRegistry");
        assert_eq!((owner.name.as_str(), owner.uid.as_str()), ("registry", "uid-1"));
        assert_eq!((owner.controller, owner.block_owner_deletion), (None, None));
    }

    #[test]
    fn an_invalid_config_yaml_is_an_inflate_error() {
        let mut config = inputs().build().config;
        config.files.insert("config.yaml".into(), b"- a\n- list".to_vec());
        let err = ConfigView::parse(&config).expect_err("a list is not a mapping");
        assert!(matches!(err, crate::Error::Inflate(_)), "{err}");
    }

    #[test]
    fn official_images_get_a_fixed_user_only_off_openshift() {
        assert_eq!(official_image_user(&inputs().build()), Some(999));
        assert_eq!(official_image_user(&inputs().routes(true).build()), None);
    }
}
