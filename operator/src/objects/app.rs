//! The registry itself: ServiceAccount, Service and Deployment `<cr>-quay-app`,
//! plus the container, pod and volume pieces the mirror Deployment and the
//! migration Job reuse.
//!
//! Default resources are sized for our registry, not Quay's Python stack
//! (2 CPU / 8Gi): requests 100m / 256Mi, limits 2 CPU / 2Gi.

use std::collections::BTreeMap;

use crds::ComponentKind;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    Affinity, Container, ContainerPort, EmptyDirVolumeSource, EnvVar, EnvVarSource, HTTPGetAction, KeyToPath,
    ObjectFieldSelector, PodAffinityTerm, PodAntiAffinity, PodSpec, PodTemplateSpec, Probe, ProjectedVolumeSource,
    ResourceRequirements, SecretProjection, Service, ServiceAccount, ServicePort, ServiceSpec, Volume, VolumeMount,
    VolumeProjection, WeightedPodAffinityTerm,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::cas;
use super::common::{
    self, component, container_security, labels, meta, name, pod_security, resources, selector, strip_port, CONFIG_DIR,
    CONFIG_FILE, DATA_DIR, GRPC_PORT, HTTPS_PORT, HTTP_PORT, LABEL_APP, METRICS_PORT,
};
use super::secrets::{serves_tls, TLS_SUFFIX};
use super::{overrides, Desired, Inputs};
use crate::names::{
    ANNOTATION_BUILDMANAGER_HOSTNAME, ANNOTATION_MANAGED_FIELDGROUPS, ANNOTATION_REGISTRY_HOSTNAME,
    ANNOTATION_TLS_SECRET_HASH, LABEL_COMPONENT,
};
use crate::tls::TlsMaterial;

pub(super) const SUFFIX: &str = "quay-app";

/// ServiceAccount, Service and Deployment `<cr>-quay-app`.
pub(super) fn objects(inputs: &Inputs) -> Vec<Desired> {
    vec![
        Desired::ServiceAccount(ServiceAccount {
            metadata: meta(inputs, SUFFIX, component::APP),
            ..ServiceAccount::default()
        }),
        Desired::Service(service(inputs)),
        Desired::Deployment(deployment(inputs)),
    ]
}

/// quay-app's selector: Quay's base adds `app: quay` to it.
pub(super) fn app_selector(inputs: &Inputs) -> BTreeMap<String, String> {
    let mut s = selector(inputs, component::APP);
    s.insert(LABEL_APP.into(), common::APP_VALUE.into());
    s
}

fn service(inputs: &Inputs) -> Service {
    let port = |name: &str, port: i32, target: i32| ServicePort {
        name: Some(name.into()),
        port,
        target_port: Some(IntOrString::Int(target)),
        protocol: Some("TCP".into()),
        ..ServicePort::default()
    };
    Service {
        metadata: meta(inputs, SUFFIX, component::APP),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".into()),
            selector: Some(app_selector(inputs)),
            ports: Some(vec![
                port("https", 443, HTTPS_PORT),
                port("http", 80, HTTP_PORT),
                port("grpc", GRPC_PORT, GRPC_PORT),
            ]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

fn deployment(inputs: &Inputs) -> Deployment {
    let mut container = registry_container(inputs, SUFFIX, serve_args(), resources(("100m", "256Mi"), ("2", "2Gi")));
    container.ports = Some(container_ports());
    // The registry is up in well under a second: probe every second while it
    // starts (five minutes at most), so a new pod serves at once.
    container.startup_probe = Some(health_probe(inputs, 1, 300));
    container.readiness_probe = Some(health_probe(inputs, 15, 3));
    container.liveness_probe = Some(health_probe(inputs, 15, 3));
    registry_deployment(
        inputs,
        SUFFIX,
        component::APP,
        ComponentKind::Quay,
        app_selector(inputs),
        container,
    )
}

/// A Deployment of registry pods (quay-app, mirror), with Quay's kind
/// annotation that tells the overrides which component it belongs to.
pub(super) fn registry_deployment(
    inputs: &Inputs,
    suffix: &str,
    component: &str,
    kind: ComponentKind,
    selector: BTreeMap<String, String>,
    container: Container,
) -> Deployment {
    let mut metadata = meta(inputs, suffix, component);
    let mut annotations = hostname_annotations(inputs);
    annotations.extend(inputs.ca_hashes.clone());
    annotations.insert(LABEL_COMPONENT.into(), kind.as_str().into());
    metadata.annotations = Some(annotations);
    Deployment {
        metadata,
        spec: Some(DeploymentSpec {
            replicas: overrides::replicas(inputs, kind),
            selector: LabelSelector {
                match_labels: Some(selector),
                ..LabelSelector::default()
            },
            template: registry_pod(inputs, component, container),
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    }
}

/// `serve` without migrations (the Job runs them), on the ports the
/// Service and probes use.
fn serve_args() -> Vec<String> {
    let listen = format!("0.0.0.0:{HTTP_PORT}");
    let tls_listen = format!("0.0.0.0:{HTTPS_PORT}");
    registry_args(&[
        "serve",
        "--listen",
        &listen,
        "--tls-listen",
        &tls_listen,
        "--no-migrate",
    ])
}

/// `<subcommand…> --config /conf/stack/config.yaml --data-dir /var/lib/registry`
/// (both flags are global in the registry's CLI).
pub(super) fn registry_args(subcommand: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = subcommand.iter().map(|s| (*s).to_owned()).collect();
    args.extend(["--config", CONFIG_FILE, "--data-dir", DATA_DIR].map(String::from));
    args
}

fn container_ports() -> Vec<ContainerPort> {
    [
        ("http", HTTP_PORT),
        ("https", HTTPS_PORT),
        ("grpc", GRPC_PORT),
        ("metrics", METRICS_PORT),
    ]
    .map(|(name, port)| ContainerPort {
        name: Some(name.into()),
        container_port: port,
        protocol: Some("TCP".into()),
        ..ContainerPort::default()
    })
    .to_vec()
}

/// GET `/health/instance` on HTTP 8080, or HTTPS 8443 when the registry
/// serves the user's certificate (unmanaged TLS), as Quay's overlay does.
fn health_probe(inputs: &Inputs, period: i32, failures: i32) -> Probe {
    let (scheme, port) = if serves_tls(inputs) {
        ("HTTPS", HTTPS_PORT)
    } else {
        ("HTTP", HTTP_PORT)
    };
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some("/health/instance".into()),
            port: IntOrString::Int(port),
            scheme: Some(scheme.into()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        timeout_seconds: Some(5),
        failure_threshold: Some(failures),
        ..Probe::default()
    }
}

/// The `registry` container with the config mount and the common env.
pub(super) fn registry_container(
    inputs: &Inputs,
    name: &str,
    args: Vec<String>,
    resources: ResourceRequirements,
) -> Container {
    let mount = |name: &str, path: &str, read_only: bool| VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        read_only: Some(read_only),
        ..VolumeMount::default()
    };
    Container {
        name: name.into(),
        image: Some(inputs.images.registry.clone()),
        command: Some(vec!["registry".into()]),
        args: Some(args),
        env: Some(registry_env(inputs)),
        resources: Some(resources),
        security_context: Some(container_security()),
        volume_mounts: Some(
            [mount("config", CONFIG_DIR, true), mount("data", DATA_DIR, false)]
                .into_iter()
                .chain(cas::mount(inputs))
                .collect(),
        ),
        ..Container::default()
    }
}

fn registry_env(inputs: &Inputs) -> Vec<EnvVar> {
    let value = |name: &str, value: &str| EnvVar {
        name: name.into(),
        value: Some(value.into()),
        ..EnvVar::default()
    };
    let namespace = EnvVar {
        name: "QE_K8S_NAMESPACE".into(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: "metadata.namespace".into(),
                ..Default::default()
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    };
    vec![
        value("QUAY_VERSION", &inputs.version),
        // The default image of build Jobs (`registry builder`).
        value("REGISTRY_IMAGE", &inputs.images.registry),
        value("QE_K8S_CONFIG_SECRET", &inputs.config.secret_name),
        namespace,
    ]
}

/// A pod template of registry pods: its labels, the roll-triggering
/// annotations, the quay-app ServiceAccount, config and data volumes.
pub(super) fn registry_pod(inputs: &Inputs, component: &str, container: Container) -> PodTemplateSpec {
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels(inputs, component)),
            annotations: Some(pod_annotations(inputs)),
            ..ObjectMeta::default()
        }),
        spec: Some(PodSpec {
            service_account_name: Some(name(inputs, SUFFIX)),
            security_context: Some(pod_security(None)),
            affinity: Some(spread_over_hosts(component)),
            containers: vec![container],
            volumes: Some(
                [config_volume(inputs), data_volume()]
                    .into_iter()
                    .chain(cas::volume(inputs))
                    .collect(),
            ),
            ..PodSpec::default()
        }),
    }
}

/// `/conf/stack`: the config Secret, plus the user's pair as
/// `ssl.cert`/`ssl.key` when the registry serves TLS itself.
pub(super) fn config_volume(inputs: &Inputs) -> Volume {
    let mut sources = vec![VolumeProjection {
        secret: Some(SecretProjection {
            name: inputs.config.secret_name.clone(),
            ..Default::default()
        }),
        ..VolumeProjection::default()
    }];
    if serves_tls(inputs) {
        let item = |key: &str, path: &str| KeyToPath {
            key: key.into(),
            path: path.into(),
            mode: None,
        };
        sources.push(VolumeProjection {
            secret: Some(SecretProjection {
                name: name(inputs, TLS_SUFFIX),
                items: Some(vec![item("tls.crt", "ssl.cert"), item("tls.key", "ssl.key")]),
                ..SecretProjection::default()
            }),
            ..VolumeProjection::default()
        });
    }
    Volume {
        name: "config".into(),
        projected: Some(ProjectedVolumeSource {
            sources: Some(sources),
            ..Default::default()
        }),
        ..Volume::default()
    }
}

fn data_volume() -> Volume {
    Volume {
        name: "data".into(),
        empty_dir: Some(EmptyDirVolumeSource::default()),
        ..Volume::default()
    }
}

/// Prefer one pod of a component per node.
fn spread_over_hosts(component: &str) -> Affinity {
    let term = PodAffinityTerm {
        label_selector: Some(LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: LABEL_COMPONENT.into(),
                operator: "In".into(),
                values: Some(vec![component.into()]),
            }]),
            ..LabelSelector::default()
        }),
        topology_key: "kubernetes.io/hostname".into(),
        ..PodAffinityTerm::default()
    };
    Affinity {
        pod_anti_affinity: Some(PodAntiAffinity {
            preferred_during_scheduling_ignored_during_execution: Some(vec![WeightedPodAffinityTerm {
                weight: 100,
                pod_affinity_term: term,
            }]),
            ..PodAntiAffinity::default()
        }),
        ..Affinity::default()
    }
}

/// `quay-registry-hostname` and `quay-buildmanager-hostname` (port stripped).
pub(super) fn hostname_annotations(inputs: &Inputs) -> BTreeMap<String, String> {
    let buildman = inputs
        .config
        .buildman_hostname
        .as_deref()
        .map(strip_port)
        .unwrap_or_default();
    BTreeMap::from([
        (
            ANNOTATION_REGISTRY_HOSTNAME.to_owned(),
            inputs.config.server_hostname.clone(),
        ),
        (ANNOTATION_BUILDMANAGER_HOSTNAME.to_owned(), buildman.to_owned()),
    ])
}

/// Changes in any of these roll the registry pods.
fn pod_annotations(inputs: &Inputs) -> BTreeMap<String, String> {
    let mut annotations = hostname_annotations(inputs);
    if let TlsMaterial::Unmanaged(pair) = &inputs.tls {
        annotations.insert(ANNOTATION_TLS_SECRET_HASH.into(), pair.secret_hash());
    }
    annotations.insert(ANNOTATION_MANAGED_FIELDGROUPS.into(), managed_fieldgroups(inputs));
    annotations.extend(inputs.ca_hashes.clone());
    annotations
}

/// Quay's config-tool field groups of the managed components, in spec order.
fn managed_fieldgroups(inputs: &Inputs) -> String {
    let group = |kind: ComponentKind| match kind {
        ComponentKind::Clair => Some("SecurityScanner"),
        ComponentKind::Postgres => Some("Database"),
        ComponentKind::Objectstorage => Some("DistributedStorage"),
        ComponentKind::Redis => Some("Redis"),
        ComponentKind::Route => Some("HostSettings"),
        ComponentKind::Mirror => Some("RepoMirror"),
        _ => None,
    };
    let groups: Vec<&str> = inputs
        .components
        .iter()
        .filter(|c| c.managed)
        .filter_map(|c| group(c.kind))
        .collect();
    groups.join(",")
}

#[cfg(test)]
#[path = "app_tests.rs"]
mod tests;
