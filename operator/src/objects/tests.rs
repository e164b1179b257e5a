//! Properties of the whole object set.

use super::fixtures::{inputs, names, Fixture, CONFIG_YAML};
use super::*;

/// Every optional part on: OpenShift APIs, unmanaged TLS, builds, upgrade.
fn everything() -> Fixture {
    let builds = format!(
        "{CONFIG_YAML}FEATURE_BUILD_SUPPORT: true\nBUILD_MANAGER:\n- ephemeral\n- EXECUTORS:\n  - BUILDER_NAMESPACE: builders\n"
    );
    inputs()
        .routes(true)
        .object_bucket_claims()
        .monitoring()
        .tls_unmanaged()
        .buildman("builder.example.com:443")
        .config_yaml(&builds)
        .upgrade()
}

#[test]
fn plain_kubernetes_gets_quays_objects_with_an_ingress() {
    let objects = inputs().objects();
    assert_eq!(
        names(&objects),
        [
            // Secrets, ServiceAccounts, Services, the PVC, HPAs, the Ingress …
            "registry-quay-config-secret-abc123",
            "registry-postgres-config-secret",
            "registry-quay-database",
            "registry-quay-database",
            "registry-quay-database-data",
            "registry-quay-redis",
            "registry-quay-redis",
            "registry-quay-app",
            "registry-quay-app",
            "registry-quay-app",
            "registry-quay-mirror",
            "registry-quay",
            // … then the Deployments.
            "registry-quay-database",
            "registry-quay-redis",
            "registry-quay-app",
            "registry-quay-mirror",
        ]
    );
}

#[test]
fn every_namespaced_object_is_owned_by_the_registry_and_labelled() {
    for fixture in [inputs(), everything()] {
        for object in fixture.objects() {
            let meta = object.meta();
            let name = object.name().to_owned();
            let labels = meta.labels.clone().expect("labels");
            assert_eq!(
                labels.get("quay-operator/quayregistry").map(String::as_str),
                Some("registry"),
                "{name}"
            );
            assert_eq!(labels.get("app").map(String::as_str), Some("quay"), "{name}");
            assert!(labels.contains_key("quay-component"), "{name}");
            if meta.namespace.as_deref() != Some("quay") {
                continue; // builder RBAC lives in the builder namespace
            }
            let owners = meta.owner_references.clone().expect("owner references");
            assert_eq!(owners.len(), 1, "{name}");
            assert_eq!(
                (owners[0].kind.as_str(), owners[0].uid.as_str()),
                ("QuayRegistry", "uid-1"),
                "{name}"
            );
        }
    }
}

#[test]
fn every_object_is_named_after_the_registry() {
    for object in everything().objects() {
        let name = object.name();
        let builder_account =
            object.meta().namespace.as_deref() == Some("builders") && matches!(object, Desired::ServiceAccount(_));
        // The builder namespace is named by BUILDER_NAMESPACE.
        let builder_namespace = matches!(object, Desired::Namespace(_)) && name == "builders";
        assert!(
            name.starts_with("registry-") || builder_account || builder_namespace,
            "{name}"
        );
    }
}

#[test]
fn the_same_inputs_give_the_same_objects() {
    assert_eq!(everything().objects(), everything().objects());
    assert_eq!(inputs().objects(), inputs().objects());
}

#[test]
fn every_object_serializes_with_api_version_and_kind() {
    for object in everything().objects().into_iter().chain(inputs().issued().objects()) {
        let json = object.to_json().expect("serializes");
        let api_version = json["apiVersion"].as_str().unwrap_or_default();
        let kind = json["kind"].as_str().unwrap_or_default();
        assert!(!api_version.is_empty() && !kind.is_empty(), "{}: {json}", object.name());
        assert_eq!(json["metadata"]["name"], object.name());
    }
}

#[test]
fn dynamic_objects_carry_their_group_versions() {
    let objects = everything().objects();
    let kinds: Vec<_> = objects
        .iter()
        .filter_map(|o| match o {
            Desired::Dynamic(d) => d.types.as_ref().map(|t| format!("{}/{}", t.api_version, t.kind)),
            _ => None,
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "route.openshift.io/v1/Route",
            "route.openshift.io/v1/Route",
            "objectbucket.io/v1alpha1/ObjectBucketClaim",
            "monitoring.coreos.com/v1/ServiceMonitor",
            "monitoring.coreos.com/v1/PrometheusRule",
        ]
    );
}

#[test]
fn workloads_are_applied_after_everything_else_and_the_job_last() {
    let objects = everything().objects();
    let ranks: Vec<u8> = objects.iter().map(Desired::apply_rank).collect();
    let mut sorted = ranks.clone();
    sorted.sort_unstable();
    assert_eq!(ranks, sorted);
    assert!(matches!(objects.last(), Some(Desired::Job(_))));
    let first_workload = ranks.iter().position(|r| *r > 0).expect("workloads");
    assert!(names(&objects[first_workload..]).iter().all(|n| n.contains("quay-")));
}

#[test]
fn a_cr_with_only_quay_managed_gets_just_the_registry() {
    let mut fixture = inputs();
    for kind in crds::ComponentKind::ALL
        .into_iter()
        .filter(|k| *k != crds::ComponentKind::Quay)
    {
        fixture = fixture.managed(kind, false);
    }
    let objects = fixture.objects();
    assert_eq!(
        names(&objects),
        [
            "registry-quay-config-secret-abc123",
            "registry-quay-app",
            "registry-quay-app",
            "registry-quay-app"
        ]
    );
}
