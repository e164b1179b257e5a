//! Step 3b: builds on the Kubernetes executor.
//!
//! The bundle turns builds on with a `kubernetes` executor, so the operator
//! creates the builder namespace (Quay's documentation has the admin make
//! it) with the builder ServiceAccount, Role and RoleBinding in it. A
//! registry on the host then runs builds as Jobs there with the
//! credentials of `<cr>-quay-app` (the identity the registry pods use, and
//! the one the operator's RoleBinding grants), through the kit's API
//! server: it listens on the node address, where the builder pods reach it,
//! so the Jobs' pods run `registry builder` from the registry image,
//! register, stream their logs and push to it. It covers:
//!
//! - a build from an uploaded Dockerfile: its Job and pod, the phases and
//!   log lines, the pushed image, the Job gone after `RETENTION_AFTER_FINISHED`;
//! - cancelling a running build deletes its Job;
//! - a Job that never registers (an image the node lacks) is deleted and
//!   retried after `JOB_REGISTRATION_TIMEOUT`, then the build ends
//!   `expired` (Quay's phase for a build out of retries).

use super::*;
use e2e::builds::{containers_env, entries, inspect, BuildApi, SUCCESS_PHASES};
use e2e::{Backend, Registry, TestEnv};

/// Quay's default builder ServiceAccount, which the operator creates.
const BUILDER_SA: &str = "quay-builder-sa";
/// The registry pods' ServiceAccount (`<cr>-quay-app`).
const APP_SA: &str = "registry-quay-app";
const BUILDER_ROLE: &str = "registry-quay-builder";
const USER: &str = "builder";
const USER_PASSWORD: &str = "builder-Passw0rd-e2e";
/// Seconds a builder has to register in this test.
const REGISTRATION_TIMEOUT_S: u64 = 20;

/// The bundle's build settings: what makes the operator set up
/// `builder_ns` (the registry pods' own build manager runs with them too,
/// on in-cluster credentials).
pub(super) fn bundle_config(builder_ns: &str) -> String {
    format!(
        "FEATURE_BUILD_SUPPORT: true\nBUILD_MANAGER:\n- ephemeral\n- ALLOWED_WORKER_COUNT: 1\n  EXECUTORS:\n  - EXECUTOR: kubernetes\n    BUILDER_NAMESPACE: {builder_ns}\n"
    )
}

/// The cluster's CA certificate from the kubeconfig, as a file.
fn cluster_ca(dir: &Path) -> PathBuf {
    let out = Kubectl::cluster().run(&[
        "config",
        "view",
        "--raw",
        "--minify",
        "-o",
        "jsonpath={.clusters[0].cluster.certificate-authority-data}",
    ]);
    let encoded = out.ok();
    let mut decode = Command::new("base64");
    decode.arg("-d").stdin(Stdio::piped());
    let path = dir.join("cluster-ca.crt");
    let mut child = decode.stdout(Stdio::piped()).spawn().expect("base64");
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(encoded.trim().as_bytes()).expect("write");
    }
    let pem = child.wait_with_output().expect("base64 -d").stdout;
    assert!(pem.starts_with(b"-----BEGIN"), "the kubeconfig has the CA inline");
    fs::write(&path, pem).expect("write CA");
    path
}

/// The registry's build settings: the kit's API server with the app
/// ServiceAccount's token, and two executors: `broken` (builds of the
/// `broken` organization, with an image no node has) and `kit`.
fn registry_config(api_server: &str, ca: &Path, token: &str, builder_ns: &str, server: &str) -> String {
    let executor = |name: &str, extra: &str| {
        format!(
            "  - EXECUTOR: kubernetes\n    NAME: {name}\n    K8S_API_SERVER: {api_server}\n    K8S_API_TLS_CA: {ca}\n    SERVICE_ACCOUNT_TOKEN: {token}\n    BUILDER_NAMESPACE: {builder_ns}\n    IMAGE_PULL_POLICY: IfNotPresent\n    CONTAINER_MEMORY_REQUEST: 64Mi\n    CONTAINER_CPU_REQUEST: 50m\n    CONTAINER_MEMORY_LIMITS: 1Gi\n    CONTAINER_CPU_LIMITS: '1'\n    RETENTION_AFTER_FINISHED: 1\n{extra}",
            ca = ca.display()
        )
    };
    format!(
        "SERVER_HOSTNAME: {server}\nFEATURE_USER_INITIALIZE: true\nSUPER_USERS: [{USER}]\nFEATURE_BUILD_SUPPORT: true\nBUILD_MANAGER:\n- ephemeral\n- ALLOWED_WORKER_COUNT: 1\n  JOB_REGISTRATION_TIMEOUT: {REGISTRATION_TIMEOUT_S}\n  EXECUTORS:\n{}{}",
        executor(
            "broken",
            "    BUILDER_CONTAINER_IMAGE: localhost/no-such-builder:1\n    NAMESPACE_WHITELIST: [broken]\n"
        ),
        executor("kit", ""),
    )
}

pub(super) fn builds_run_as_jobs(s: &mut Scenario, builder_ns: &str) {
    let builders = Kubectl::in_namespace(builder_ns);
    let describe_builders = || {
        let out = builders.run(&["get", "serviceaccounts,roles,rolebindings,jobs,pods", "-o", "wide"]);
        format!("{}{}", out.stdout, out.stderr)
    };

    // What the operator set up for builders.
    wait_for(
        "the builder namespace, ServiceAccount, Role and RoleBinding from the operator",
        rollout_timeout(),
        || {
            Kubectl::cluster().get(&["namespace", builder_ns])?;
            let sa = builders.get(&["serviceaccount", BUILDER_SA])?;
            let role = builders.get(&["role", BUILDER_ROLE])?;
            let binding = builders.get(&["rolebinding", BUILDER_ROLE])?;
            Some((sa, role, binding))
        },
        describe_builders,
    );
    let namespace = Kubectl::cluster().get(&["namespace", builder_ns]).expect("namespace");
    assert_eq!(
        namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"], "privileged",
        "{namespace:#}"
    );
    let binding = builders.get(&["rolebinding", BUILDER_ROLE]).expect("RoleBinding");
    let subjects = binding["subjects"].as_array().cloned().unwrap_or_default();
    assert!(
        subjects
            .iter()
            .any(|s2| s2["name"] == APP_SA && s2["namespace"] == s.ns.namespace.as_deref().unwrap_or_default()),
        "the registry's ServiceAccount may run build Jobs: {binding:#}"
    );
    // Without the operator's RoleBinding that identity may not.
    let app = format!(
        "system:serviceaccount:{}:{APP_SA}",
        s.ns.namespace.as_deref().unwrap_or_default()
    );
    let may = |ns: &str| {
        Kubectl::cluster()
            .run(&["auth", "can-i", "create", "jobs.batch", "--namespace", ns, "--as", &app])
            .stdout
            .trim()
            .to_owned()
    };
    assert_eq!(may(builder_ns), "yes");
    assert_eq!(may("default"), "no", "the grant is for the builder namespace only");

    let kit = kit_env();
    let node_ip = kit.get("NODE_IP").expect("NODE_IP in E2E_KIT_ENV").clone();
    let api_server = kit.get("APISERVER_URL").expect("APISERVER_URL in E2E_KIT_ENV").clone();
    let work = s.scratch.join("builds");
    fs::create_dir_all(&work).expect("work dir");
    let ca = cluster_ca(&work);
    let token =
        s.ns.run(&["create", "token", APP_SA, "--duration=2h"])
            .ok()
            .trim()
            .to_owned();
    let env = TestEnv::for_backend(Backend::SqliteFs).expect("the registry binary for the host registry");
    // The port is only known once it listens: builders find the manager
    // through SERVER_HOSTNAME, which `start_on` fills in.
    let config = registry_config(&api_server, &ca, &token, builder_ns, "$REGISTRY_HOST");
    let registry_image = image("E2E_REGISTRY_IMAGE", &format!("localhost/registry:{}", version()));
    let reg = Registry::start_on(&env, &node_ip, &config, &[("REGISTRY_IMAGE", registry_image)]);
    let host = reg.host();
    let api = BuildApi::initialize(&reg.url(""), USER, USER_PASSWORD);
    let vars = containers_env(&work.join("containers"), &host);
    let base = api.push_busybox_base(&vars, &work, &host, (USER, USER_PASSWORD));
    for (namespace, name) in [(USER, "app"), ("broken", "app")] {
        if namespace != USER {
            let (status, body) = api.call(
                reqwest::Method::POST,
                "/organization/",
                Some(json!({"name": namespace, "email": "broken@example.com"})),
            );
            assert_eq!(status, 201, "{body}");
        }
        let repo = json!({"namespace": namespace, "repository": name, "visibility": "private", "description": ""});
        let (status, body) = api.call(reqwest::Method::POST, "/repository", Some(repo));
        assert_eq!(status, 201, "{body}");
    }
    let jobs_of = |uuid: &str| builders.list("jobs", Some(&format!("build={uuid}")));

    // A build becomes a Job whose pod builds and pushes.
    let repo = format!("{USER}/app");
    let dockerfile = format!("FROM {base}\nRUN echo built-in-a-pod > /pod.txt\nLABEL quay.expires-after=2h\n");
    let file = api.upload("text/plain", dockerfile.into_bytes());
    let started = Instant::now();
    let uuid = api.start(&repo, &file, &["k8s", "latest"]);
    let job = wait_for(
        "the build's Job",
        rollout_timeout(),
        || jobs_of(&uuid).into_iter().next(),
        describe_builders,
    );
    let pod_spec = &job["spec"]["template"]["spec"];
    assert_eq!(pod_spec["serviceAccountName"], BUILDER_SA, "{job:#}");
    assert_eq!(pod_spec["containers"][0]["command"], json!(["registry", "builder"]));
    assert_eq!(pod_spec["automountServiceAccountToken"], false);
    let (build, seen) = api.wait(&repo, &uuid, |_| false);
    let took = started.elapsed();
    assert_eq!(
        build["phase"],
        "complete",
        "{build}; phases {seen:?}\n{}\n{}",
        describe_builders(),
        reg.log()
    );
    s.note(
        "Kubernetes build requested → complete",
        format!("{:.1} s", took.as_secs_f64()),
    );
    let logs = api.logs(&repo, &uuid);
    assert_eq!(entries(&logs, "phase"), SUCCESS_PHASES, "{logs:?}");
    assert!(
        logs.iter().any(|l| l["message"]
            .as_str()
            .is_some_and(|m| m.contains("RUN echo built-in-a-pod"))),
        "the pod's buildah output is in the log: {logs:?}"
    );
    let info = inspect(&format!("{host}/{repo}:k8s"), &format!("{USER}:{USER_PASSWORD}"));
    assert_eq!(info["Labels"]["quay.expires-after"], "2h", "{info}");
    // The finished Job goes after RETENTION_AFTER_FINISHED.
    wait_for(
        "the finished Job to be removed",
        rollout_timeout(),
        || jobs_of(&uuid).is_empty().then_some(()),
        describe_builders,
    );

    // Cancelling a running build deletes its Job.
    let slow = api.upload("text/plain", format!("FROM {base}\nRUN sleep 600\n").into_bytes());
    let uuid = api.start(&repo, &slow, &["slow"]);
    let (build, seen) = api.wait(&repo, &uuid, |p| p == "building");
    assert_eq!(build["phase"], "building", "phases {seen:?}\n{}", describe_builders());
    assert_eq!(jobs_of(&uuid).len(), 1, "{}", describe_builders());
    let (status, body) = api.call(
        reqwest::Method::DELETE,
        &format!("/repository/{repo}/build/{uuid}"),
        None,
    );
    assert_eq!(status, 201, "cancel answers as Quay does: {body}");
    assert_eq!(api.status(&repo, &uuid)["phase"], "cancelled");
    wait_for(
        "the cancelled build's Job to be deleted",
        rollout_timeout(),
        || jobs_of(&uuid).is_empty().then_some(()),
        describe_builders,
    );

    // A Job that never registers is deleted and the build retried, until
    // no retries are left.
    let repo = "broken/app";
    let file = api.upload("text/plain", format!("FROM {base}\n").into_bytes());
    let uuid = api.start(repo, &file, &["never"]);
    let mut attempts: Vec<String> = Vec::new();
    let deadline = Instant::now() + rollout_timeout() * 2;
    let build = loop {
        for job in jobs_of(&uuid) {
            let attempt = job["metadata"]["labels"]["attempt"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if !attempts.contains(&attempt) {
                attempts.push(attempt);
            }
        }
        let build = api.status(repo, &uuid);
        // `internalerror` shows between attempts; `expired` is final.
        if build["phase"] == "expired" || build["phase"] == "error" {
            break build;
        }
        assert!(
            Instant::now() < deadline,
            "build {uuid} still {}; attempts {attempts:?}\n{}",
            build["phase"],
            describe_builders()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(
        attempts.len() >= 2,
        "the build was retried with a new Job: attempts {attempts:?}; {build}"
    );
    assert!(
        build["error"].as_str().is_some_and(|e| !e.is_empty()),
        "the failure is explained: {build}"
    );
    wait_for(
        "the failed build's Jobs to be deleted",
        rollout_timeout(),
        || jobs_of(&uuid).is_empty().then_some(()),
        describe_builders,
    );
    s.note(
        "Kubernetes build never registering",
        format!("{} Jobs, then {}", attempts.len(), build["phase"]),
    );
}
