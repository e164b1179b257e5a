//! The build Job as config shapes it.

use super::*;
use crate::config::Config;
use crate::service::builds::{BuildManagerSettings, ExecutorKind};

fn executor(keys: &str) -> KubernetesExecutor {
    let yaml =
        format!("FEATURE_BUILD_SUPPORT: true\nBUILD_MANAGER:\n- ephemeral\n- EXECUTORS:\n  - EXECUTOR: kubernetesPodman\n{keys}");
    let settings = BuildManagerSettings::from_config(&Config::parse(&yaml).expect("config"))
        .expect("valid")
        .expect("on");
    match settings.executors.into_iter().next().map(|e| e.kind) {
        Some(ExecutorKind::Kubernetes(k)) => *k,
        other => panic!("kubernetes executor expected: {other:?}"),
    }
}

fn request() -> JobRequest<'static> {
    JobRequest {
        build_uuid: "0b5d6f3e-1111-4222-8333-944455556666",
        attempt: "0123456789abcdef",
        token: "0b5d6f3e-1111-4222-8333-944455556666.secret",
        manager: "m-1",
        manager_url: "https://registry.example.com",
        image: "registry.example.com/registry:1.2.3",
        ca_certs: Vec::new(),
        time: "2026-12-07-09".into(),
    }
}

fn pod(job: &Job) -> &PodSpec {
    job.spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .expect("pod spec")
}

fn builder(job: &Job) -> &Container {
    &pod(job).containers[0]
}

fn env(job: &Job, name: &str) -> Option<String> {
    builder(job)
        .env
        .iter()
        .flatten()
        .find(|e| e.name == name)
        .and_then(|e| e.value.clone())
}

fn quantity(map: &Option<BTreeMap<String, Quantity>>, key: &str) -> String {
    map.as_ref()
        .and_then(|m| m.get(key))
        .map(|q| q.0.clone())
        .unwrap_or_default()
}

#[test]
fn a_job_runs_registry_builder_with_its_token_in_the_builder_namespace() {
    let job = job_spec(&executor("    BUILDER_NAMESPACE: builders\n"), &request());
    assert_eq!(job.metadata.namespace.as_deref(), Some("builders"));
    assert_eq!(
        job.metadata.generate_name.as_deref(),
        Some("0b5d6f3e-1111-4222-8333-944455556666-")
    );
    let labels = job.metadata.labels.clone().expect("labels");
    assert_eq!(labels["build"], "0b5d6f3e-1111-4222-8333-944455556666");
    assert_eq!(labels["attempt"], "0123456789abcdef");
    assert_eq!(
        (labels["manager"].as_str(), labels["time"].as_str()),
        ("m-1", "2026-12-07-09")
    );
    let template_labels = job
        .spec
        .as_ref()
        .and_then(|s| s.template.metadata.as_ref())
        .and_then(|m| m.labels.clone());
    assert_eq!(template_labels, Some(labels), "the pod carries the Job's labels");
    let c = builder(&job);
    assert_eq!(c.image.as_deref(), Some("registry.example.com/registry:1.2.3"));
    assert_eq!(c.command, Some(vec!["registry".to_owned(), "builder".to_owned()]));
    assert_eq!(
        env(&job, "BUILDER_TOKEN").as_deref(),
        Some("0b5d6f3e-1111-4222-8333-944455556666.secret")
    );
    assert_eq!(
        env(&job, "BUILDER_MANAGER_URL").as_deref(),
        Some("https://registry.example.com")
    );
    assert_eq!(env(&job, "BUILDER_CONTAINER_RUNTIME").as_deref(), Some("buildah"));
    assert_eq!(env(&job, "STORAGE_DRIVER").as_deref(), Some("vfs"));
    assert_eq!(env(&job, "BUILDER_CA_CERT"), None);
    assert_eq!(c.image_pull_policy, None, "Kubernetes' default for the tag");
}

#[test]
fn the_builder_pod_is_unprivileged_with_buildahs_capabilities_and_no_api_token() {
    let job = job_spec(&executor(""), &request());
    let p = pod(&job);
    assert_eq!(p.restart_policy.as_deref(), Some("Never"));
    assert_eq!(p.automount_service_account_token, Some(false));
    assert_eq!(p.enable_service_links, Some(false));
    assert_eq!(p.service_account_name.as_deref(), Some("quay-builder-sa"));
    let sc = builder(&job).security_context.clone().expect("security context");
    assert_eq!(sc.privileged, Some(false));
    assert_eq!(sc.allow_privilege_escalation, Some(false));
    let caps = sc.capabilities.expect("capabilities");
    assert_eq!(caps.drop, Some(vec!["ALL".to_owned()]));
    let added = caps.add.expect("added");
    for refused in ["SYS_ADMIN", "NET_ADMIN", "NET_RAW", "MKNOD", "SYS_PTRACE"] {
        assert!(!added.iter().any(|c| c == refused), "{refused} is not granted");
    }
    assert!(added.iter().any(|c| c == "SETFCAP"), "user namespace mapping");
    let mounts: Vec<&str> = builder(&job)
        .volume_mounts
        .iter()
        .flatten()
        .map(|m| m.mount_path.as_str())
        .collect();
    assert_eq!(mounts, ["/var/lib/containers", "/tmp"]);
    assert!(p
        .volumes
        .iter()
        .flatten()
        .all(|v| v.empty_dir.is_some() && v.host_path.is_none()));
}

#[test]
fn resources_deadline_and_retention_follow_the_config() {
    let cases = [
        ("Quay's defaults", "", ("3968Mi", "500m", "5120Mi", "1000m"), 7200, Some(120)),
        (
            "configured",
            "    CONTAINER_MEMORY_REQUEST: 256Mi\n    CONTAINER_CPU_REQUEST: 100m\n    CONTAINER_MEMORY_LIMITS: 1Gi\n    CONTAINER_CPU_LIMITS: '2'\n    MAXIMUM_JOB_TIME: 900\n    RETENTION_AFTER_FINISHED: 5\n",
            ("256Mi", "100m", "1Gi", "2"),
            900,
            Some(5),
        ),
        ("DEBUG keeps finished Jobs", "    DEBUG: true\n", ("3968Mi", "500m", "5120Mi", "1000m"), 7200, None),
    ];
    for (case, keys, (mem_req, cpu_req, mem_lim, cpu_lim), deadline, ttl) in cases {
        let job = job_spec(&executor(keys), &request());
        let r = builder(&job).resources.clone().expect("resources");
        assert_eq!(
            (
                quantity(&r.requests, "memory"),
                quantity(&r.requests, "cpu"),
                quantity(&r.limits, "memory"),
                quantity(&r.limits, "cpu")
            ),
            (mem_req.into(), cpu_req.into(), mem_lim.into(), cpu_lim.into()),
            "{case}"
        );
        let spec = job.spec.clone().expect("spec");
        assert_eq!(spec.active_deadline_seconds, Some(deadline), "{case}");
        assert_eq!(spec.ttl_seconds_after_finished, ttl, "{case}");
        assert_eq!(spec.backoff_limit, Some(0), "{case}: the manager retries, not the Job");
    }
}

#[test]
fn node_selector_pull_settings_dns_and_ca_are_passed_when_configured() {
    let plain = job_spec(&executor(""), &request());
    assert_eq!(pod(&plain).node_selector, None);
    assert_eq!(pod(&plain).image_pull_secrets, None);
    assert_eq!(pod(&plain).dns_policy, None);

    let keys = "    NODE_SELECTOR_LABEL_KEY: role\n    NODE_SELECTOR_LABEL_VALUE: builds\n    IMAGE_PULL_SECRET_NAME: pull\n    IMAGE_PULL_POLICY: IfNotPresent\n    DNS_POLICY: Default\n    CA_CERT: PEM-A\n    EXTRA_CA_CERTS: [PEM-B]\n    KUBERNETES_DISTRIBUTION: openshift\n";
    let configured = executor(keys);
    let job = job_spec(
        &configured,
        &JobRequest {
            ca_certs: configured.ca_certs.clone(),
            ..request()
        },
    );
    let p = pod(&job);
    assert_eq!(
        p.node_selector,
        Some(BTreeMap::from([("role".to_owned(), "builds".to_owned())]))
    );
    assert_eq!(
        p.image_pull_secrets.clone().expect("secrets")[0].name,
        "pull".to_owned()
    );
    assert_eq!(builder(&job).image_pull_policy.as_deref(), Some("IfNotPresent"));
    assert_eq!(p.dns_policy.as_deref(), Some("Default"));
    assert_eq!(env(&job, "BUILDER_CA_CERT").as_deref(), Some("PEM-A\nPEM-B"));
    let annotations = job
        .spec
        .as_ref()
        .and_then(|s| s.template.metadata.as_ref())
        .and_then(|m| m.annotations.clone())
        .expect("openshift annotations");
    assert_eq!(annotations["openshift.io/required-scc"], "anyuid");
    // A selector key without a value selects nothing (Quay's behaviour).
    let key_only = job_spec(&executor("    NODE_SELECTOR_LABEL_KEY: role\n"), &request());
    assert_eq!(pod(&key_only).node_selector, None);
}

#[test]
fn finished_jobs_are_told_apart_by_their_conditions() {
    use k8s_openapi::api::batch::v1::{JobCondition, JobStatus};
    let with = |type_: &str, status: &str| Job {
        status: Some(JobStatus {
            conditions: Some(vec![JobCondition {
                type_: type_.into(),
                status: status.into(),
                ..JobCondition::default()
            }]),
            ..JobStatus::default()
        }),
        ..Job::default()
    };
    assert!(!finished(&Job::default()));
    assert!(finished(&with("Complete", "True")));
    assert!(finished(&with("Failed", "True")));
    assert!(!finished(&with("Failed", "False")));
    assert!(!finished(&with("Suspended", "True")));
}

#[test]
fn jobs_trust_the_configured_cas_else_the_served_chain_on_https() {
    let configured = vec!["CA".to_owned()];
    let none: Vec<String> = Vec::new();
    assert_eq!(
        builder_trust(&configured, Some("CHAIN"), "https://r.example"),
        configured
    );
    assert_eq!(builder_trust(&none, Some("CHAIN"), "https://r.example"), ["CHAIN"]);
    assert_eq!(
        builder_trust(&none, Some("CHAIN"), "http://r.example"),
        none,
        "plain HTTP"
    );
    assert_eq!(builder_trust(&none, None, "https://r.example"), none);
}
