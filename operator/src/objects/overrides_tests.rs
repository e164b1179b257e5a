use std::collections::BTreeMap;

use crds::{ComponentKind, Overrides};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{
    Affinity, Container, EnvVar, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm,
    ResourceRequirements, SecurityContext,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::*;
use crate::objects::fixtures::{deployment, dynamic, find, ingress, inputs, job, pvc, Fixture};

fn env(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        ..EnvVar::default()
    }
}

fn containers(d: &Deployment) -> &[Container] {
    &d.spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .expect("pod")
        .containers
}

fn template_meta(d: &Deployment) -> &ObjectMeta {
    d.spec
        .as_ref()
        .and_then(|s| s.template.metadata.as_ref())
        .expect("template metadata")
}

fn value(c: &Container, name: &str) -> Option<String> {
    c.env
        .iter()
        .flatten()
        .find(|e| e.name == name)
        .and_then(|e| e.value.clone())
}

fn rendered(fixture: Fixture, name: &str) -> Deployment {
    find(&fixture.objects(), name, deployment).clone()
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

#[test]
fn env_overrides_are_upserted_into_the_components_containers_only() {
    let quay = Overrides {
        env: Some(vec![
            env("QUAY_VERSION", "pinned"),
            env("HTTP_PROXY", "http://proxy:3128"),
        ]),
        ..Overrides::default()
    };
    let mirror = Overrides {
        env: Some(vec![env("MIRROR_ONLY", "1")]),
        ..Overrides::default()
    };
    let fixture = || {
        inputs()
            .overrides(ComponentKind::Quay, quay.clone())
            .overrides(ComponentKind::Mirror, mirror.clone())
    };
    let app = rendered(fixture(), "registry-quay-app");
    let c = &containers(&app)[0];
    assert_eq!(
        value(c, "QUAY_VERSION").as_deref(),
        Some("pinned"),
        "existing variable replaced"
    );
    assert_eq!(c.env.iter().flatten().filter(|e| e.name == "QUAY_VERSION").count(), 1);
    assert_eq!(
        value(c, "HTTP_PROXY").as_deref(),
        Some("http://proxy:3128"),
        "new variable appended"
    );
    assert_eq!(value(c, "MIRROR_ONLY"), None);
    let mirror = rendered(fixture(), "registry-quay-mirror");
    assert_eq!(value(&containers(&mirror)[0], "MIRROR_ONLY").as_deref(), Some("1"));
    assert_eq!(value(&containers(&mirror)[0], "HTTP_PROXY"), None);
}

#[test]
fn env_overrides_reach_the_database_and_redis() {
    let o = |v: &str| Overrides {
        env: Some(vec![env("EXTRA", v)]),
        ..Overrides::default()
    };
    let fixture = || {
        inputs()
            .overrides(ComponentKind::Postgres, o("db"))
            .overrides(ComponentKind::Redis, o("redis"))
    };
    let db = rendered(fixture(), "registry-quay-database");
    assert_eq!(value(&containers(&db)[0], "EXTRA").as_deref(), Some("db"));
    let redis = rendered(fixture(), "registry-quay-redis");
    assert_eq!(value(&containers(&redis)[0], "EXTRA").as_deref(), Some("redis"));
}

#[test]
fn an_affinity_override_replaces_the_default_anti_affinity() {
    let affinity = Affinity {
        node_affinity: Some(NodeAffinity {
            required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                node_selector_terms: vec![NodeSelectorTerm {
                    match_expressions: Some(vec![NodeSelectorRequirement {
                        key: "node-role.kubernetes.io/infra".into(),
                        operator: "Exists".into(),
                        values: None,
                    }]),
                    ..NodeSelectorTerm::default()
                }],
            }),
            ..NodeAffinity::default()
        }),
        ..Affinity::default()
    };
    let o = Overrides {
        affinity: Some(affinity.clone()),
        ..Overrides::default()
    };
    let d = rendered(inputs().overrides(ComponentKind::Quay, o), "registry-quay-app");
    assert_eq!(
        d.spec.and_then(|s| s.template.spec).and_then(|p| p.affinity),
        Some(affinity)
    );
}

#[test]
fn a_resources_override_replaces_container_zeros_requests_and_limits() {
    let requests = BTreeMap::from([("memory".to_owned(), Quantity("4Gi".into()))]);
    let r = ResourceRequirements {
        requests: Some(requests.clone()),
        limits: None,
        ..Default::default()
    };
    let o = Overrides {
        resources: Some(r),
        ..Overrides::default()
    };
    for (kind, name) in [
        (ComponentKind::Quay, "registry-quay-app"),
        (ComponentKind::Postgres, "registry-quay-database"),
        (ComponentKind::Redis, "registry-quay-redis"),
        (ComponentKind::Mirror, "registry-quay-mirror"),
    ] {
        let d = rendered(inputs().overrides(kind, o.clone()), name);
        let got = containers(&d)[0].resources.clone().expect("resources");
        assert_eq!((got.requests, got.limits), (Some(requests.clone()), None), "{name}");
    }
}

#[test]
fn a_security_context_override_goes_to_every_container_of_quay_and_mirror() {
    let sc = SecurityContext {
        run_as_user: Some(1001),
        ..SecurityContext::default()
    };
    let o = Overrides {
        security_context: Some(sc.clone()),
        ..Overrides::default()
    };
    for (kind, name) in [
        (ComponentKind::Quay, "registry-quay-app"),
        (ComponentKind::Mirror, "registry-quay-mirror"),
    ] {
        let d = rendered(inputs().overrides(kind, o.clone()), name);
        assert!(
            containers(&d).iter().all(|c| c.security_context.as_ref() == Some(&sc)),
            "{name}"
        );
    }
    let untouched = rendered(inputs().overrides(ComponentKind::Quay, o), "registry-quay-mirror");
    assert_ne!(containers(&untouched)[0].security_context.as_ref(), Some(&sc));
}

#[test]
fn label_overrides_reach_deployment_and_template_but_skip_reserved_keys() {
    let labels = map(&[
        ("team", "registry"),
        ("app", "hijack"),
        ("quay-component", "x"),
        ("quay-operator/quayregistry", "y"),
    ]);
    let o = Overrides {
        labels: Some(labels),
        ..Overrides::default()
    };
    let d = rendered(inputs().overrides(ComponentKind::Quay, o), "registry-quay-app");
    for meta in [&d.metadata, template_meta(&d)] {
        let l = meta.labels.as_ref().expect("labels");
        assert_eq!(l["team"], "registry");
        assert_eq!((l["app"].as_str(), l["quay-component"].as_str()), ("quay", "quay-app"));
        assert_eq!(l["quay-operator/quayregistry"], "registry");
    }
}

#[test]
fn annotation_overrides_reach_deployment_and_template() {
    let o = Overrides {
        annotations: Some(map(&[("owner", "ops")])),
        ..Overrides::default()
    };
    let d = rendered(inputs().overrides(ComponentKind::Quay, o), "registry-quay-app");
    for meta in [&d.metadata, template_meta(&d)] {
        assert_eq!(meta.annotations.as_ref().expect("annotations")["owner"], "ops");
    }
}

#[test]
fn route_overrides_label_and_annotate_routes_and_the_ingress() {
    let o = Overrides {
        labels: Some(map(&[("exposure", "public"), ("app", "nope")])),
        annotations: Some(map(&[("haproxy.router.openshift.io/timeout", "5m")])),
        ..Overrides::default()
    };
    let routes = inputs()
        .routes(true)
        .overrides(ComponentKind::Route, o.clone())
        .objects();
    for name in ["registry-quay", "registry-quay-builder"] {
        let meta = &find(&routes, name, dynamic).metadata;
        assert_eq!(meta.labels.as_ref().expect("labels")["exposure"], "public", "{name}");
        assert_eq!(meta.labels.as_ref().expect("labels")["app"], "quay", "{name}");
        assert_eq!(
            meta.annotations.as_ref().expect("annotations")["haproxy.router.openshift.io/timeout"],
            "5m"
        );
    }
    let objects = inputs().overrides(ComponentKind::Route, o).objects();
    let meta = &find(&objects, "registry-quay", ingress).metadata;
    assert_eq!(meta.labels.as_ref().expect("labels")["exposure"], "public");
}

#[test]
fn quay_env_and_security_context_overrides_reach_the_migration_job() {
    let sc = SecurityContext {
        run_as_user: Some(1001),
        ..SecurityContext::default()
    };
    let o = Overrides {
        env: Some(vec![env("DEBUGLOG", "true")]),
        security_context: Some(sc.clone()),
        ..Default::default()
    };
    let objects = inputs().upgrade().overrides(ComponentKind::Quay, o).objects();
    let j = find(&objects, "registry-quay-app-upgrade", job);
    let c = &j
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .expect("pod")
        .containers[0];
    assert_eq!(value(c, "DEBUGLOG").as_deref(), Some("true"));
    assert_eq!(c.security_context.as_ref(), Some(&sc));
}

#[test]
fn postgres_volume_size_and_storage_class_overrides_change_the_pvc() {
    let o = Overrides {
        volume_size: Some(Quantity("120Gi".into())),
        storage_class_name: Some("fast".into()),
        ..Overrides::default()
    };
    let objects = inputs().overrides(ComponentKind::Postgres, o).objects();
    let spec = find(&objects, "registry-quay-database-data", pvc)
        .spec
        .as_ref()
        .expect("spec");
    let size = spec
        .resources
        .as_ref()
        .and_then(|r| r.requests.as_ref())
        .map(|r| r["storage"].0.clone());
    assert_eq!(size.as_deref(), Some("120Gi"));
    assert_eq!(spec.storage_class_name.as_deref(), Some("fast"));
}

#[test]
fn overrides_of_an_unmanaged_component_are_ignored() {
    let mut i = inputs().build();
    let quay = i
        .components
        .iter_mut()
        .find(|c| c.kind == ComponentKind::Quay)
        .expect("quay listed");
    quay.managed = false;
    quay.overrides = Some(Overrides {
        env: Some(vec![env("IGNORED", "1")]),
        ..Overrides::default()
    });
    let objects = crate::objects::desired_objects(&i).expect("renders");
    let d = find(&objects, "registry-quay-app", deployment);
    assert_eq!(value(&containers(d)[0], "IGNORED"), None);
}

#[test]
fn stripping_resources_empties_every_workload_container() {
    let mut objects = inputs().upgrade().objects();
    strip_resources(&mut objects);
    for object in &objects {
        let template = match object {
            Desired::Deployment(d) => d.spec.as_ref().map(|s| &s.template),
            Desired::Job(j) => j.spec.as_ref().map(|s| &s.template),
            _ => None,
        };
        for c in template
            .and_then(|t| t.spec.as_ref())
            .iter()
            .flat_map(|p| &p.containers)
        {
            assert_eq!(c.resources, None, "{}", object.name());
        }
    }
}

#[test]
fn the_kind_comes_from_the_quay_component_annotation_without_dashes() {
    let meta = |v: &str| ObjectMeta {
        annotations: Some(map(&[("quay-component", v)])),
        ..Default::default()
    };
    assert_eq!(kind_of(&meta("clair-postgres")), Some(ComponentKind::Clairpostgres));
    assert_eq!(kind_of(&meta("quay")), Some(ComponentKind::Quay));
    assert_eq!(kind_of(&meta("quay-app")), None);
    assert_eq!(kind_of(&ObjectMeta::default()), None);
}
