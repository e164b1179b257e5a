use super::LABEL_REGISTRY_NAMESPACE;
use crate::objects::fixtures::{find, inputs, role, role_binding, service_account, Fixture, CONFIG_YAML};
use crate::objects::Desired;

fn with_builds(executors: &str) -> Fixture {
    let yaml = format!(
        "{CONFIG_YAML}FEATURE_BUILD_SUPPORT: true\nBUILD_MANAGER:\n- ephemeral\n- ALLOWED_WORKER_COUNT: 1\n  EXECUTORS:\n{executors}"
    );
    inputs().config_yaml(&yaml)
}

fn builder_objects(fixture: Fixture) -> Vec<Desired> {
    let objects = fixture.objects();
    objects
        .into_iter()
        .filter(|o| o.meta().namespace.as_deref() != Some("quay"))
        .collect()
}

const PODMAN: &str = "  - EXECUTOR: kubernetesPodman\n    BUILDER_NAMESPACE: virtual-builders\n";

#[test]
fn builder_rbac_exists_only_when_builds_use_a_kubernetes_executor_namespace() {
    let off = format!("{CONFIG_YAML}FEATURE_BUILD_SUPPORT: false\nBUILD_MANAGER:\n- ephemeral\n- EXECUTORS:\n{PODMAN}");
    for (case, fixture, want) in [
        ("builds on, podman executor", with_builds(PODMAN), 4),
        (
            "builds on, executor kind left out",
            with_builds("  - BUILDER_NAMESPACE: b\n"),
            4,
        ),
        ("builds off", inputs().config_yaml(&off), 0),
        (
            "no build manager",
            inputs().config_yaml(&format!("{CONFIG_YAML}FEATURE_BUILD_SUPPORT: true\n")),
            0,
        ),
        ("no builder namespace", with_builds("  - EXECUTOR: kubernetes\n"), 0),
        (
            "ec2 executor",
            with_builds("  - EXECUTOR: ec2\n    BUILDER_NAMESPACE: b\n"),
            0,
        ),
    ] {
        assert_eq!(builder_objects(fixture).len(), want, "{case}");
    }
}

#[test]
fn the_builder_role_manages_jobs_and_their_pods() {
    let objects = builder_objects(with_builds(PODMAN));
    let r = find(&objects, "registry-quay-builder", role);
    assert_eq!(r.metadata.namespace.as_deref(), Some("virtual-builders"));
    let rules: Vec<_> = r
        .rules
        .iter()
        .flatten()
        .map(|rule| {
            (
                rule.api_groups.clone().unwrap_or_default(),
                rule.resources.clone().unwrap_or_default(),
                rule.verbs.clone(),
            )
        })
        .collect();
    let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
    assert_eq!(
        rules,
        [
            (
                s(&["batch"]),
                s(&["jobs"]),
                s(&["create", "get", "list", "watch", "delete"])
            ),
            (s(&[""]), s(&["pods"]), s(&["get", "list", "watch", "delete"])),
        ]
    );
}

#[test]
fn the_builder_service_account_defaults_to_quay_builder_sa_and_follows_service_account_name() {
    let default = builder_objects(with_builds(PODMAN));
    find(&default, "quay-builder-sa", service_account);
    let named = builder_objects(with_builds(
        "  - EXECUTOR: kubernetes\n    BUILDER_NAMESPACE: builds\n    SERVICE_ACCOUNT_NAME: my-builder\n",
    ));
    let sa = find(&named, "my-builder", service_account);
    assert_eq!(sa.metadata.namespace.as_deref(), Some("builds"));
}

#[test]
fn the_role_binding_grants_the_builder_accounts_and_quay_app() {
    let objects = builder_objects(with_builds(
        "  - BUILDER_NAMESPACE: b\n    SERVICE_ACCOUNT_NAME: two\n  - BUILDER_NAMESPACE: b\n    SERVICE_ACCOUNT_NAME: one\n",
    ));
    assert_eq!(
        objects.iter().filter(|o| matches!(o, Desired::Role(_))).count(),
        1,
        "one Role per namespace"
    );
    let rb = find(&objects, "registry-quay-builder", role_binding);
    assert_eq!(
        (rb.role_ref.kind.as_str(), rb.role_ref.name.as_str()),
        ("Role", "registry-quay-builder")
    );
    let subjects: Vec<_> = rb
        .subjects
        .iter()
        .flatten()
        .map(|s| (s.name.as_str(), s.namespace.as_deref().unwrap_or_default()))
        .collect();
    assert_eq!(subjects, [("one", "b"), ("two", "b"), ("registry-quay-app", "quay")]);
}

#[test]
fn builder_objects_carry_registry_labels_instead_of_owner_references() {
    for object in builder_objects(with_builds(PODMAN)) {
        let meta = object.meta();
        assert_eq!(meta.owner_references, None, "{}", object.name());
        let labels = meta.labels.as_ref().expect("labels");
        assert_eq!(labels["quay-operator/quayregistry"], "registry");
        assert_eq!(labels[LABEL_REGISTRY_NAMESPACE], "quay");
    }
}

#[test]
fn the_builder_namespace_is_created_for_privileged_build_pods_with_the_registrys_labels() {
    let objects = builder_objects(with_builds(PODMAN));
    let ns = objects
        .iter()
        .find_map(|o| match o {
            Desired::Namespace(n) => Some(n),
            _ => None,
        })
        .expect("the builder namespace");
    assert_eq!(ns.metadata.name.as_deref(), Some("virtual-builders"));
    assert_eq!(ns.metadata.namespace, None, "cluster scoped");
    assert_eq!(
        ns.metadata.owner_references, None,
        "never garbage-collected with the registry"
    );
    let labels = ns.metadata.labels.clone().expect("labels");
    assert_eq!(labels["pod-security.kubernetes.io/enforce"], "privileged");
    assert_eq!(labels[LABEL_REGISTRY_NAMESPACE], "quay");
    assert!(
        matches!(objects.first(), Some(Desired::Namespace(_))),
        "applied before what lives in it"
    );
}
