//! The ClusterServiceVersion: static catalog text plus what the sources say
//! (owned CRD, descriptors, examples, install Deployment, RBAC, images).

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::rbac::v1::PolicyRule;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{CustomResourceDefinition, JSONSchemaProps};
use serde_json::{json, Value};

use crate::sources::Sources;
use crate::{Error, PACKAGE};

/// Resources that are not namespaced; rules on them become CSV
/// `clusterPermissions`, every other rule `permissions` (which OLM turns into
/// Roles in the target namespaces, or a ClusterRole in AllNamespaces mode).
const CLUSTER_SCOPED: &[(&str, &str)] = &[
    ("", "namespaces"),
    ("", "nodes"),
    ("", "persistentvolumes"),
    ("config.openshift.io", "apiservers"),
    ("config.openshift.io", "ingresses"),
    ("apiextensions.k8s.io", "customresourcedefinitions"),
    ("storage.k8s.io", "storageclasses"),
];

/// `(status?, path, display name, x-descriptor, description when the schema has none)`.
const DESCRIPTORS: &[(bool, &str, &str, &str, &str)] = &[
    (
        false,
        "configBundleSecret",
        "Config Bundle Secret",
        "urn:alm:descriptor:io.kubernetes:Secret",
        "",
    ),
    (false, "components", "Components", "", ""),
    (true, "currentVersion", "Current Version", "urn:alm:descriptor:text", ""),
    (
        true,
        "conditions",
        "Conditions",
        "urn:alm:descriptor:io.kubernetes.conditions",
        "Available, RolloutBlocked, ComponentsCreated and one Component<Kind>Ready condition per component.",
    ),
    (
        true,
        "registryEndpoint",
        "Registry Endpoint",
        "urn:alm:descriptor:org.w3:link",
        "",
    ),
];

/// Kinds the operator creates for a QuayRegistry (the console's resource tab).
const OWNED_RESOURCES: &[(&str, &str)] = &[
    ("Deployment", "v1"),
    ("ReplicaSet", "v1"),
    ("Pod", "v1"),
    ("Service", "v1"),
    ("Secret", "v1"),
    ("ConfigMap", "v1"),
    ("ServiceAccount", "v1"),
    ("PersistentVolumeClaim", "v1"),
    ("Job", "v1"),
    ("Role", "v1"),
    ("RoleBinding", "v1"),
    ("HorizontalPodAutoscaler", "v2"),
    ("Ingress", "v1"),
    ("Route", "v1"),
    ("ObjectBucketClaim", "v1alpha1"),
    ("ServiceMonitor", "v1"),
    ("PrometheusRule", "v1"),
];

const DESCRIPTION: &str = "\
A Kubernetes operator for a Quay-compatible container registry.

Create a `QuayRegistry` and the operator deploys the registry with everything it needs: \
a PostgreSQL database, Redis, object storage (through an ObjectBucketClaim where available), \
the endpoint (an OpenShift Route, or an Ingress on other clusters), TLS, autoscaling, \
repository mirroring workers and monitoring.

Each part is a component that can be `managed: false`, in which case you provide it through \
the config bundle Secret (`spec.configBundleSecret`): for example your own PostgreSQL in \
`DB_URI`, S3-compatible storage in `DISTRIBUTED_STORAGE_CONFIG`, or your certificate as \
`ssl.cert`/`ssl.key`.

The resource keeps the API group, field names, component kinds and conditions of Quay's \
operator, so existing `QuayRegistry` objects and config bundles keep working.
";

/// What the CSV repeats from the operator's container.
struct Container {
    image: String,
    /// `QUAY_VERSION`, the registry version the operator deploys.
    registry_version: String,
    /// The operator image and every `RELATED_IMAGE_*` (for disconnected mirroring).
    related_images: Vec<Value>,
}

impl Container {
    fn of(deployment: &Deployment) -> Result<Container, Error> {
        let container = deployment
            .spec
            .as_ref()
            .and_then(|s| s.template.spec.as_ref())
            .and_then(|p| p.containers.first())
            .ok_or("the operator Deployment has no container")?;
        let image = container.image.clone().ok_or("the operator container has no image")?;
        let env: Vec<_> = container.env.iter().flatten().collect();
        let registry_version = env
            .iter()
            .find(|e| e.name == "QUAY_VERSION")
            .and_then(|e| e.value.clone())
            .ok_or("the operator container sets no QUAY_VERSION")?;
        let mut related_images = vec![json!({"name": "operator", "image": image})];
        for var in env {
            if let (Some(suffix), Some(value)) = (var.name.strip_prefix("RELATED_IMAGE_"), &var.value) {
                related_images.push(json!({"name": suffix.to_lowercase().replace('_', "-"), "image": value}));
            }
        }
        Ok(Container {
            image,
            registry_version,
            related_images,
        })
    }
}

/// The whole CSV.
pub fn build(crd: &CustomResourceDefinition, sources: &Sources, version: &str) -> Result<Value, Error> {
    let container = Container::of(&sources.deployment)?;
    let install_modes: Vec<Value> = ["OwnNamespace", "SingleNamespace", "MultiNamespace", "AllNamespaces"]
        .iter()
        .map(|mode| json!({"type": mode, "supported": true}))
        .collect();
    Ok(json!({
        "apiVersion": "operators.coreos.com/v1alpha1",
        "kind": "ClusterServiceVersion",
        "metadata": metadata(sources, &container, version)?,
        "spec": {
            "displayName": "Registry Operator (Quay-compatible)",
            "description": DESCRIPTION,
            "version": version,
            "maturity": "alpha",
            // CEL validation rules in the CRD.
            "minKubeVersion": "1.29.0",
            "provider": {"name": "Registry Project"},
            "keywords": ["registry", "containers", "oci", "quay", "images"],
            "installModes": install_modes,
            "customresourcedefinitions": {"owned": [owned_crd(crd)?]},
            "relatedImages": container.related_images,
            "install": {"strategy": "deployment", "spec": install(sources)?},
        },
    }))
}

fn metadata(sources: &Sources, container: &Container, version: &str) -> Result<Value, Error> {
    let examples = serde_json::to_string_pretty(&sources.samples.iter().map(example).collect::<Vec<_>>())?;
    Ok(json!({
        "name": format!("{PACKAGE}.v{version}"),
        "namespace": "placeholder",
        "annotations": {
            "alm-examples": examples,
            "capabilities": "Full Lifecycle",
            "categories": "Developer Tools, Integration & Delivery",
            "containerImage": container.image,
            "description": "Deploys and runs a Quay-compatible container registry.",
            "operators.openshift.io/infrastructure-features": "[\"disconnected\", \"proxy-aware\"]",
            "features.operators.openshift.io/disconnected": "true",
            "features.operators.openshift.io/proxy-aware": "true",
            "features.operators.openshift.io/fips-compliant": "false",
            "features.operators.openshift.io/tls-profiles": "false",
            "features.operators.openshift.io/token-auth-aws": "false",
            "features.operators.openshift.io/token-auth-azure": "false",
            "features.operators.openshift.io/token-auth-gcp": "false",
            "quay-version": container.registry_version,
            "olm.skipRange": format!("<{version}"),
        },
        "labels": {
            "operatorframework.io/arch.amd64": "supported",
            "operatorframework.io/arch.arm64": "supported",
            "operatorframework.io/os.linux": "supported",
        },
    }))
}

/// The install strategy: the operator Deployment (OLM picks the namespace)
/// and its RBAC split by scope.
fn install(sources: &Sources) -> Result<Value, Error> {
    let deployment = &sources.deployment;
    let name = deployment
        .metadata
        .name
        .clone()
        .ok_or("the operator Deployment has no name")?;
    let (mut namespaced, cluster) = split_by_scope(&sources.cluster_rules)?;
    namespaced.extend(sources.namespace_rules.iter().cloned());
    Ok(json!({
        "deployments": [{"name": name, "label": deployment.metadata.labels, "spec": deployment.spec}],
        "permissions": [{"serviceAccountName": sources.service_account, "rules": namespaced}],
        "clusterPermissions": [{"serviceAccountName": sources.service_account, "rules": cluster}],
    }))
}

/// A sample as an `alm-examples` entry: no namespace, nothing server-set.
fn example(sample: &crds::QuayRegistry) -> crds::QuayRegistry {
    let mut sample = sample.clone();
    sample.metadata.namespace = None;
    sample.status = None;
    sample
}

/// Splits rules into namespaced and cluster-scoped ones; a rule mixing the
/// two must be split in the source.
fn split_by_scope(rules: &[PolicyRule]) -> Result<(Vec<PolicyRule>, Vec<PolicyRule>), Error> {
    let (mut namespaced, mut cluster) = (Vec::new(), Vec::new());
    for rule in rules {
        let groups = rule.api_groups.clone().unwrap_or_default();
        let resources = rule.resources.clone().unwrap_or_default();
        let scoped: Vec<bool> = resources
            .iter()
            .map(|r| {
                let base = r.split('/').next().unwrap_or(r);
                groups.iter().any(|g| CLUSTER_SCOPED.contains(&(g.as_str(), base)))
            })
            .collect();
        if scoped.iter().all(|c| *c) && !scoped.is_empty() {
            cluster.push(rule.clone());
        } else if scoped.iter().any(|c| *c) {
            return Err(format!("the rule on {resources:?} mixes cluster-scoped and namespaced resources").into());
        } else {
            namespaced.push(rule.clone());
        }
    }
    Ok((namespaced, cluster))
}

/// The CSV's `owned` entry for the CRD, with descriptors whose text comes
/// from the CRD schema (the types' doc comments).
fn owned_crd(crd: &CustomResourceDefinition) -> Result<Value, Error> {
    let version = crd
        .spec
        .versions
        .iter()
        .find(|v| v.storage)
        .ok_or("the CRD has no storage version")?;
    let schema = version
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .ok_or("the CRD has no schema")?;
    let (mut spec_descriptors, mut status_descriptors) = (Vec::new(), Vec::new());
    for (status, path, display, x_descriptor, fallback) in DESCRIPTORS {
        let section = if *status { "status" } else { "spec" };
        let field = property(schema, section)
            .and_then(|s| property(s, path))
            .ok_or_else(|| format!("descriptor `{section}.{path}` is not in the CRD schema"))?;
        let description = field
            .description
            .clone()
            .unwrap_or_else(|| (*fallback).to_string())
            .replace('\n', " ");
        let mut descriptor = json!({"path": path, "displayName": display, "description": description});
        if !x_descriptor.is_empty() {
            descriptor["x-descriptors"] = json!([x_descriptor]);
        }
        if *status {
            status_descriptors.push(descriptor);
        } else {
            spec_descriptors.push(descriptor);
        }
    }
    let resources: Vec<Value> = OWNED_RESOURCES
        .iter()
        .map(|(kind, version)| json!({"kind": kind, "version": version}))
        .collect();
    Ok(json!({
        "name": crd.metadata.name,
        "version": version.name,
        "kind": crd.spec.names.kind,
        "displayName": "Quay Registry",
        "description": "A Quay-compatible container registry and the parts it runs on.",
        "resources": resources,
        "specDescriptors": spec_descriptors,
        "statusDescriptors": status_descriptors,
    }))
}

fn property<'a>(schema: &'a JSONSchemaProps, name: &str) -> Option<&'a JSONSchemaProps> {
    schema.properties.as_ref()?.get(name)
}

/// YAML with every mapping's keys sorted, so the output does not depend on
/// serde_json's map order (the `preserve_order` feature).
pub fn to_yaml(value: &Value) -> Result<String, Error> {
    Ok(serde_yaml::to_string(&sorted(value))?)
}

fn sorted(value: &Value) -> serde_yaml::Value {
    match value {
        Value::Null => serde_yaml::Value::Null,
        Value::Bool(b) => serde_yaml::Value::Bool(*b),
        Value::Number(n) => serde_yaml::to_value(n).unwrap_or(serde_yaml::Value::Null),
        Value::String(s) => serde_yaml::Value::String(s.clone()),
        Value::Array(items) => serde_yaml::Value::Sequence(items.iter().map(sorted).collect()),
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            serde_yaml::Value::Mapping(
                keys.into_iter()
                    .map(|k| (serde_yaml::Value::String(k.clone()), sorted(&map[k])))
                    .collect(),
            )
        }
    }
}
