use crds::{ComponentKind, Overrides};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Container, PodSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::objects::fixtures::{deployment, find, inputs, service, Fixture};

const APP: &str = "registry-quay-app";

fn app(fixture: Fixture) -> Deployment {
    find(&fixture.objects(), APP, deployment).clone()
}

fn pod(d: &Deployment) -> &PodSpec {
    d.spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .expect("pod spec")
}

fn container(d: &Deployment) -> &Container {
    &pod(d).containers[0]
}

fn template_annotation(d: &Deployment, key: &str) -> Option<String> {
    let meta = d.spec.as_ref().and_then(|s| s.template.metadata.as_ref());
    meta.and_then(|m| m.annotations.as_ref())
        .and_then(|a| a.get(key).cloned())
}

#[test]
fn quay_app_replicas_follow_hpa_overrides_and_upgrades() {
    let no_hpa = || inputs().managed(ComponentKind::Horizontalpodautoscaler, false);
    let with = |replicas| Overrides {
        replicas,
        ..Overrides::default()
    };
    let env_only = Overrides {
        env: Some(vec![]),
        ..Overrides::default()
    };
    for (case, fixture, want) in [
        ("no overrides, hpa unmanaged", no_hpa(), Some(2)),
        ("hpa managed", inputs(), None),
        (
            "override 3",
            no_hpa().overrides(ComponentKind::Quay, with(Some(3))),
            Some(3),
        ),
        (
            "overrides without replicas",
            no_hpa().overrides(ComponentKind::Quay, env_only),
            None,
        ),
        (
            "replicas null",
            no_hpa().overrides(ComponentKind::Quay, with(None)),
            None,
        ),
        (
            "hpa managed, override 0",
            inputs().overrides(ComponentKind::Quay, with(Some(0))),
            Some(0),
        ),
        ("upgrade pending", no_hpa().upgrade(), Some(0)),
        ("upgrade pending, hpa managed", inputs().upgrade(), Some(0)),
        (
            "upgrade pending, override 3",
            no_hpa().overrides(ComponentKind::Quay, with(Some(3))).upgrade(),
            Some(0),
        ),
    ] {
        assert_eq!(app(fixture).spec.and_then(|s| s.replicas), want, "{case}");
    }
}

#[test]
fn probes_use_http_8080_with_managed_tls_and_https_8443_with_unmanaged_tls() {
    for (case, fixture, scheme, port) in [
        ("managed", inputs(), "HTTP", 8080),
        ("managed, issued cert", inputs().issued(), "HTTP", 8080),
        ("unmanaged", inputs().tls_unmanaged(), "HTTPS", 8443),
    ] {
        let d = app(fixture);
        let c = container(&d);
        for probe in [&c.startup_probe, &c.readiness_probe, &c.liveness_probe] {
            let get = probe.as_ref().and_then(|p| p.http_get.as_ref()).expect("http probe");
            assert_eq!(get.path.as_deref(), Some("/health/instance"), "{case}");
            assert_eq!(get.scheme.as_deref(), Some(scheme), "{case}");
            assert_eq!(get.port, IntOrString::Int(port), "{case}");
        }
        // Every second while the registry starts, for up to five minutes.
        let startup = c.startup_probe.as_ref().expect("startup probe");
        assert_eq!(startup.period_seconds, Some(1), "{case}");
        assert!(startup.failure_threshold.unwrap_or(3) >= 300, "{case}");
    }
}

#[test]
fn quay_app_serves_the_mounted_config_and_leaves_migrations_to_the_job() {
    let d = app(inputs());
    let c = container(&d);
    assert_eq!(c.image.as_deref(), Some("localhost/registry:0.1.0"));
    assert_eq!(c.command.as_deref(), Some(&["registry".to_owned()][..]));
    assert_eq!(
        c.args.as_ref().expect("args").join(" "),
        "serve --listen 0.0.0.0:8080 --tls-listen 0.0.0.0:8443 --no-migrate \
         --config /conf/stack/config.yaml --data-dir /var/lib/registry"
    );
    let mounts: Vec<_> = c
        .volume_mounts
        .iter()
        .flatten()
        .map(|m| (m.name.as_str(), m.mount_path.as_str()))
        .collect();
    assert_eq!(mounts, [("config", "/conf/stack"), ("data", "/var/lib/registry")]);
}

#[test]
fn the_config_volume_projects_the_tls_pair_as_ssl_files_only_when_unmanaged() {
    for (case, fixture, want_tls) in [
        ("managed", inputs().issued(), false),
        ("unmanaged", inputs().tls_unmanaged(), true),
    ] {
        let d = app(fixture);
        let config = pod(&d)
            .volumes
            .iter()
            .flatten()
            .find(|v| v.name == "config")
            .expect("config volume");
        let sources = config
            .projected
            .as_ref()
            .and_then(|p| p.sources.clone())
            .expect("sources");
        let secrets: Vec<_> = sources.iter().filter_map(|s| s.secret.as_ref()).collect();
        assert_eq!(secrets[0].name, "registry-quay-config-secret-abc123", "{case}");
        assert_eq!(secrets.len() == 2, want_tls, "{case}");
        if let Some(tls) = secrets.get(1) {
            assert_eq!(tls.name, "registry-quay-config-tls");
            let paths: Vec<_> = tls
                .items
                .iter()
                .flatten()
                .map(|i| (i.key.as_str(), i.path.as_str()))
                .collect();
            assert_eq!(paths, [("tls.crt", "ssl.cert"), ("tls.key", "ssl.key")]);
        }
    }
}

#[test]
fn the_service_exposes_http_https_and_grpc_on_quays_ports() {
    let objects = inputs().objects();
    let spec = find(&objects, APP, service).spec.as_ref().expect("spec");
    assert_eq!(spec.type_.as_deref(), Some("ClusterIP"));
    let ports: Vec<_> = spec
        .ports
        .iter()
        .flatten()
        .map(|p| (p.name.clone().unwrap_or_default(), p.port, p.target_port.clone()))
        .collect();
    assert_eq!(
        ports,
        [
            ("https".to_owned(), 443, Some(IntOrString::Int(8443))),
            ("http".to_owned(), 80, Some(IntOrString::Int(8080))),
            ("grpc".to_owned(), 55443, Some(IntOrString::Int(55443))),
        ]
    );
    let d = find(&objects, APP, deployment);
    assert_eq!(
        spec.selector,
        d.spec.as_ref().and_then(|s| s.selector.match_labels.clone())
    );
}

#[test]
fn quay_app_keeps_quays_selector_so_adopted_deployments_apply() {
    let d = app(inputs());
    let selector = d
        .spec
        .as_ref()
        .and_then(|s| s.selector.match_labels.clone())
        .expect("selector");
    let pairs: Vec<_> = selector.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        pairs,
        [
            ("app", "quay"),
            ("quay-component", "quay-app"),
            ("quay-operator/quayregistry", "registry")
        ]
    );
}

#[test]
fn the_pod_template_carries_the_annotations_that_roll_pods() {
    let d = app(inputs().buildman("builder.example.com:443"));
    assert_eq!(
        template_annotation(&d, "quay-registry-hostname").as_deref(),
        Some("registry.example.com")
    );
    assert_eq!(
        template_annotation(&d, "quay-buildmanager-hostname").as_deref(),
        Some("builder.example.com")
    );
    assert_eq!(template_annotation(&d, "quay.redhat.com/tls-secret-hash"), None);
    let fieldgroups = template_annotation(&d, "quay-managed-fieldgroups").expect("fieldgroups");
    assert_eq!(fieldgroups, "Database,Redis,DistributedStorage,HostSettings,RepoMirror");

    let unmanaged = app(inputs().tls_unmanaged());
    let hash = template_annotation(&unmanaged, "quay.redhat.com/tls-secret-hash").expect("hash");
    assert_eq!(hash.len(), 8);
}

#[test]
fn a_new_certificate_or_hostname_changes_the_pod_template() {
    let template = |d: Deployment| d.spec.map(|s| s.template);
    let base = template(app(inputs().tls_unmanaged()));
    let mut renewed = inputs().tls_unmanaged().build();
    renewed.tls = crate::tls::TlsMaterial::Unmanaged(crate::objects::fixtures::pair("renewed"));
    let renewed = crate::objects::desired_objects(&renewed).expect("renders");
    assert_ne!(base, template(find(&renewed, APP, deployment).clone()));
    let mut moved = inputs().tls_unmanaged().build();
    moved.config.server_hostname = "elsewhere.example.com".into();
    let moved = crate::objects::desired_objects(&moved).expect("renders");
    assert_ne!(base, template(find(&moved, APP, deployment).clone()));
}

#[test]
fn quay_app_runs_as_non_root_with_every_capability_dropped() {
    let d = app(inputs());
    let pod_sc = pod(&d).security_context.as_ref().expect("pod security");
    assert_eq!((pod_sc.run_as_non_root, pod_sc.run_as_user), (Some(true), None));
    let sc = container(&d).security_context.as_ref().expect("container security");
    assert_eq!(sc.allow_privilege_escalation, Some(false));
    assert_eq!(
        sc.capabilities.as_ref().and_then(|c| c.drop.clone()),
        Some(vec!["ALL".to_owned()])
    );
    assert_eq!(pod(&d).service_account_name.as_deref(), Some("registry-quay-app"));
}

#[test]
fn quay_app_prefers_one_pod_per_node() {
    let d = app(inputs());
    let anti = pod(&d)
        .affinity
        .as_ref()
        .and_then(|a| a.pod_anti_affinity.as_ref())
        .expect("anti-affinity");
    let terms = anti
        .preferred_during_scheduling_ignored_during_execution
        .as_ref()
        .expect("preferred");
    assert_eq!(terms[0].pod_affinity_term.topology_key, "kubernetes.io/hostname");
    assert!(anti.required_during_scheduling_ignored_during_execution.is_none());
}

#[test]
fn quay_app_env_names_the_version_image_config_secret_and_namespace() {
    let d = app(inputs());
    let env = container(&d).env.clone().expect("env");
    let value = |name: &str| env.iter().find(|e| e.name == name).and_then(|e| e.value.clone());
    assert_eq!(value("QUAY_VERSION").as_deref(), Some("3.99.0"));
    assert_eq!(value("REGISTRY_IMAGE"), container(&d).image.clone());
    assert_eq!(
        value("QE_K8S_CONFIG_SECRET").as_deref(),
        Some("registry-quay-config-secret-abc123")
    );
    let namespace = env
        .iter()
        .find(|e| e.name == "QE_K8S_NAMESPACE")
        .and_then(|e| e.value_from.clone());
    assert_eq!(
        namespace.and_then(|v| v.field_ref).map(|f| f.field_path).as_deref(),
        Some("metadata.namespace")
    );
}

#[test]
fn quay_app_gets_modest_default_resources() {
    let d = app(inputs());
    let r = container(&d).resources.clone().expect("resources");
    let get =
        |list: Option<std::collections::BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>,
         key: &str| list.and_then(|l| l.get(key).map(|q| q.0.clone()));
    assert_eq!(get(r.requests.clone(), "cpu").as_deref(), Some("100m"));
    assert_eq!(get(r.requests, "memory").as_deref(), Some("256Mi"));
    assert_eq!(get(r.limits.clone(), "cpu").as_deref(), Some("2"));
    assert_eq!(get(r.limits, "memory").as_deref(), Some("2Gi"));
}

#[test]
fn the_registry_container_names_its_metrics_port() {
    let objects = inputs().objects();
    let d = find(&objects, APP, deployment);
    let pod = d
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .expect("pod spec");
    let ports: Vec<(String, i32)> = pod.containers[0]
        .ports
        .iter()
        .flatten()
        .map(|p| (p.name.clone().unwrap_or_default(), p.container_port))
        .collect();
    assert!(ports.contains(&("metrics".to_owned(), 9091)), "{ports:?}");
}
