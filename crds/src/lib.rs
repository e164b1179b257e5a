//! Kubernetes API types of the operator: the `QuayRegistry` custom resource
//! (`quay.redhat.com/v1`), with the field names, enum values, condition
//! types and reasons of Quay's operator so existing resources keep working.

// Several `printcolumn(...)` entries repeat `type_ = …`, which clippy takes
// for a duplicated attribute.
#![allow(clippy::duplicated_attributes)]

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Affinity, EnvVar, ResourceRequirements, SecurityContext};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// API group of the custom resource, kept for compatibility with Quay's operator.
pub const GROUP: &str = "quay.redhat.com";
/// API version of the custom resource.
pub const VERSION: &str = "v1";
/// Kind of the custom resource.
pub const KIND: &str = "QuayRegistry";

/// The desired state of a registry deployment.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "quay.redhat.com",
    version = "v1",
    kind = "QuayRegistry",
    plural = "quayregistries",
    namespaced,
    status = "QuayRegistryStatus",
    shortname = "quay",
    printcolumn(name = "Version", type_ = "string", json_path = ".status.currentVersion"),
    printcolumn(name = "Endpoint", type_ = "string", json_path = ".status.registryEndpoint"),
    printcolumn(
        name = "Available",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Available\")].status"
    ),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct QuayRegistrySpec {
    /// A Secret in the same namespace holding `config.yaml` and extra files
    /// (`ssl.cert`, `ssl.key`, `extra_ca_cert_*`). When empty, the operator
    /// creates one with a base configuration and writes its name here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_bundle_secret: Option<String>,
    /// Which parts the operator manages; kinds left out are added by the
    /// operator with a computed `managed` value.
    /// At most one entry per kind; the bound also keeps the CEL cost estimate low.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 11))]
    pub components: Vec<Component>,
}

/// One part of the deployment and whether the operator runs it.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[x_kube(validation = Rule::new("self.managed || !has(self.overrides)").message("cannot set overrides on unmanaged component"))]
#[x_kube(validation = Rule::new("!self.managed || !has(self.secretRef)").message("cannot set secretRef on managed component"))]
#[serde(rename_all = "camelCase")]
pub struct Component {
    pub kind: ComponentKind,
    pub managed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overrides: Option<Overrides>,
    /// A `kubernetes.io/tls` Secret with the certificate (tls kind, unmanaged only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretRef>,
}

/// The component kinds of Quay's operator.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "lowercase")]
pub enum ComponentKind {
    Quay,
    Postgres,
    Clair,
    Clairpostgres,
    Redis,
    Horizontalpodautoscaler,
    Objectstorage,
    Route,
    Mirror,
    Monitoring,
    Tls,
}

impl ComponentKind {
    /// Every kind, in the order the operator lists them.
    pub const ALL: [ComponentKind; 11] = [
        ComponentKind::Quay,
        ComponentKind::Postgres,
        ComponentKind::Clair,
        ComponentKind::Redis,
        ComponentKind::Horizontalpodautoscaler,
        ComponentKind::Objectstorage,
        ComponentKind::Route,
        ComponentKind::Mirror,
        ComponentKind::Monitoring,
        ComponentKind::Tls,
        ComponentKind::Clairpostgres,
    ];

    /// The name used in the spec and in messages (`horizontalpodautoscaler`).
    pub fn as_str(self) -> &'static str {
        match self {
            ComponentKind::Quay => "quay",
            ComponentKind::Postgres => "postgres",
            ComponentKind::Clair => "clair",
            ComponentKind::Clairpostgres => "clairpostgres",
            ComponentKind::Redis => "redis",
            ComponentKind::Horizontalpodautoscaler => "horizontalpodautoscaler",
            ComponentKind::Objectstorage => "objectstorage",
            ComponentKind::Route => "route",
            ComponentKind::Mirror => "mirror",
            ComponentKind::Monitoring => "monitoring",
            ComponentKind::Tls => "tls",
        }
    }

    /// The `Component<X>Ready` condition type of this kind.
    pub fn ready_condition(self) -> &'static str {
        match self {
            ComponentKind::Quay => "ComponentQuayReady",
            ComponentKind::Postgres => "ComponentPostgresReady",
            ComponentKind::Clair => "ComponentClairReady",
            ComponentKind::Clairpostgres => "ComponentClairPostgresReady",
            ComponentKind::Redis => "ComponentRedisReady",
            ComponentKind::Horizontalpodautoscaler => "ComponentHPAReady",
            ComponentKind::Objectstorage => "ComponentObjectStorageReady",
            ComponentKind::Route => "ComponentRouteReady",
            ComponentKind::Mirror => "ComponentMirrorReady",
            ComponentKind::Monitoring => "ComponentMonitoringReady",
            ComponentKind::Tls => "ComponentTLSReady",
        }
    }
}

impl std::fmt::Display for ComponentKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Per-component changes to the rendered objects; which fields a kind
/// accepts is checked by the operator ("component X does not support Y overrides").
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Overrides {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_size: Option<Quantity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<EnvVar>>,
    /// Absent or null leaves replicas to an HPA of the user's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_context: Option<SecurityContext>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// A reference to a Secret in the registry's namespace.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct SecretRef {
    #[x_kube(validation = Rule::new("self != ''").message("secretRef.name must not be empty"))]
    #[schemars(length(max = 253))]
    pub name: String,
}

/// What the operator observed and did.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct QuayRegistryStatus {
    /// The registry version whose migrations have run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_version: Option<String>,
    /// Where clients reach the registry (`https://SERVER_HOSTNAME`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_endpoint: Option<String>,
    /// When the operator last wrote the status (UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
}

/// A status condition, as Quay's operator writes it.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
}

/// `conditions` is a list-map keyed by `type`, so server-side apply merges
/// conditions one by one.
fn conditions_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let mut schema = <Vec<Condition>>::json_schema(generator);
    schema.insert("x-kubernetes-list-type".into(), "map".into());
    schema.insert("x-kubernetes-list-map-keys".into(), serde_json::json!(["type"]));
    schema
}

/// Condition types.
pub mod condition {
    pub const AVAILABLE: &str = "Available";
    pub const ROLLOUT_BLOCKED: &str = "RolloutBlocked";
    pub const COMPONENTS_CREATED: &str = "ComponentsCreated";
}

/// Condition reasons.
pub mod reason {
    pub const COMPONENT_NOT_READY: &str = "ComponentNotReady";
    pub const COMPONENT_READY: &str = "ComponentReady";
    pub const COMPONENT_NOT_MANAGED: &str = "ComponentNotManaged";
    pub const HEALTH_CHECKS_PASSING: &str = "HealthChecksPassing";
    pub const MIGRATIONS_IN_PROGRESS: &str = "MigrationsInProgress";
    pub const MIGRATIONS_FAILED: &str = "MigrationsFailed";
    pub const MIGRATIONS_JOB_MISSING: &str = "MigrationsJobMissing";
    pub const COMPONENTS_CREATION_SUCCESS: &str = "ComponentsCreationSuccess";
    pub const COMPONENT_CREATION_FAILED: &str = "ComponentCreationFailed";
    pub const ROUTE_COMPONENT_DEPENDENCY_ERROR: &str = "RouteComponentDependencyError";
    pub const OBJECT_STORAGE_COMPONENT_DEPENDENCY_ERROR: &str = "ObjectStorageComponentDependencyError";
    pub const MONITORING_COMPONENT_DEPENDENCY_ERROR: &str = "MonitoringComponentDependencyError";
    pub const CONFIG_INVALID: &str = "ConfigInvalid";
    pub const COMPONENT_OVERRIDE_INVALID: &str = "ComponentOverrideInvalid";
    pub const PVC_PENDING: &str = "PVCPending";
    pub const PVC_PROVISIONING_FAILED: &str = "PVCProvisioningFailed";
}

impl QuayRegistrySpec {
    /// The component of `kind`, if listed.
    pub fn component(&self, kind: ComponentKind) -> Option<&Component> {
        self.components.iter().find(|c| c.kind == kind)
    }

    /// Whether `kind` is listed as managed (unlisted kinds count as unmanaged).
    pub fn is_managed(&self, kind: ComponentKind) -> bool {
        self.component(kind).is_some_and(|c| c.managed)
    }
}

impl QuayRegistryStatus {
    /// The condition of `type_`, if present.
    pub fn condition(&self, type_: &str) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.type_ == type_)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::CustomResourceExt;

    #[test]
    fn the_crd_carries_quays_names_columns_and_rules() {
        let crd = serde_json::to_string(&QuayRegistry::crd()).expect("CRD serializes");
        for needle in [
            "\"quayregistries.quay.redhat.com\"",
            "\"shortNames\":[\"quay\"]",
            "\"name\":\"Available\"",
            "cannot set overrides on unmanaged component",
            "\"x-kubernetes-list-type\":\"map\"",
            "\"horizontalpodautoscaler\"",
        ] {
            assert!(crd.contains(needle), "{needle} missing in {crd}");
        }
    }

    #[test]
    fn a_quay_operator_resource_parses() {
        let yaml = r#"
apiVersion: quay.redhat.com/v1
kind: QuayRegistry
metadata: {name: example-registry, namespace: quay-enterprise}
spec:
  configBundleSecret: config-bundle-secret
  components:
    - {kind: clair, managed: false}
    - kind: quay
      managed: true
      overrides: {replicas: 3, env: [{name: DEBUGLOG, value: "true"}]}
    - {kind: tls, managed: false, secretRef: {name: my-tls}}
"#;
        let qr: QuayRegistry = serde_yaml::from_str(yaml).expect("parses");
        assert_eq!(qr.spec.config_bundle_secret.as_deref(), Some("config-bundle-secret"));
        assert!(!qr.spec.is_managed(ComponentKind::Clair));
        let quay = qr.spec.component(ComponentKind::Quay).expect("quay listed");
        assert_eq!(quay.overrides.as_ref().and_then(|o| o.replicas), Some(3));
        assert_eq!(
            qr.spec
                .component(ComponentKind::Tls)
                .and_then(|c| c.secret_ref.as_ref())
                .map(|s| s.name.as_str()),
            Some("my-tls")
        );
    }
}
