//! The operator in a real cluster, deployed and used as a platform team
//! does, with `kubectl`, podman, skopeo and curl:
//!
//! 1. the CRD and the operator from `config/operator` (its own
//!    ServiceAccount and ClusterRole, leader election), a config bundle and a
//!    `QuayRegistry` with managed PostgreSQL, Redis, route and TLS, and S3
//!    storage on a server the test runs;
//! 2. `Available`, the documented conditions, the endpoint, the migration Job
//!    finished before the registry pods started;
//! 3. the first user and an OAuth token from `/api/v1/user/initialize`,
//!    podman login/push/pull and skopeo copy over the operator-issued TLS,
//!    and a superuser API call with curl;
//!    3b. builds on the Kubernetes executor in the builder namespace the
//!    operator set up ([`builds`]);
//! 4. a bundle edit rolls out a new hashed config Secret, visible through
//!    the API;
//! 5. three replicas: a push through one pod pulls through another;
//! 6. a bundle with a broken `config.yaml` gives `RolloutBlocked` and the old
//!    pods keep serving;
//! 7. the operator pod killed mid-reconcile: its successor takes the lease
//!    and finishes, with no duplicate Jobs or config Secrets;
//! 8. the `QuayRegistry` deleted (owned objects go, the database PVC and the
//!    keys Secret stay) and re-created: the first image still pulls;
//! 9. with the Route API (the kit's `--openshift` CRD) the operator makes
//!    Routes instead of an Ingress.
//!
//! `e2e/run` starts the Kubernetes test kit (`../shared/kube`), loads the
//! images `e2e/images/build` made and sets:
//!
//! - `KUBECONFIG`: the cluster (cluster-admin, for the set-up only);
//! - `E2E_KIT_ENV`: the kit's `kit.env` (`NODE_IP`: where pods reach the
//!   host, so the S3 server listens there; or set `E2E_S3_LISTEN`);
//! - `E2E_ROUTE_CRD`: the kit's Route CRD (step 9 runs only with it);
//! - `E2E_OPERATOR_IMAGE`, `E2E_REGISTRY_IMAGE`, `E2E_POSTGRES_IMAGE`,
//!   `E2E_REDIS_IMAGE`: images the node has (defaults: `e2e/images/build`'s).
//!
//! The kit has no Ingress controller: the test stands in for one on
//! 127.0.0.1 (TLS with the Secret the Ingress names, forwarded to its
//! Service), and `SERVER_HOSTNAME` is `localhost:<port>` so clients resolve
//! it without touching `/etc/hosts`. Without `KUBECONFIG` the test says it
//! did not run, and fails under `CI=true`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use e2e::kube::{
    condition, container_memory, kill_container, kit_env, pod_ready, seconds_between, wait_for, IngressStandIn,
    Kubectl, S3Server,
};
use e2e::process::{free_port, run, Outcome};
use e2e::{digest_of, in_ci, mkoci_sized, unique_name, Podman};
use serde_json::{json, Value};

#[path = "operator/builds.rs"]
mod builds;

const OPERATOR_NS: &str = "quay-operator";
const OPERATOR_DEPLOYMENT: &str = "quay-operator";
const LEASE: &str = "7daa4ab6.quay.redhat.com";
const CR: &str = "registry";
const BUNDLE: &str = "config-bundle";
const APP: &str = "registry-quay-app";
const INGRESS: &str = "registry-quay";
const UPGRADE_JOB: &str = "registry-quay-app-upgrade";
const CONFIG_SECRET_PREFIX: &str = "registry-quay-config-secret-";
const KEYS_SECRET: &str = "registry-quay-registry-managed-secret-keys";
const CA_SECRET: &str = "registry-quay-operator-ca";
const ADMIN: &str = "admin";
const PASSWORD: &str = "e2e-Operator-Passw0rd";
const CLIENT_TIMEOUT: Duration = Duration::from_secs(300);
/// Quay's default number of registry pods.
const DEFAULT_REPLICAS: usize = 2;
/// Three weeks, which only the edited bundle's TAG_EXPIRATION_OPTIONS allow.
const THREE_WEEKS_S: i64 = 1_814_400;

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

fn image(var: &str, default: &str) -> String {
    env_var(var).unwrap_or_else(|| default.to_string())
}

fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// Each wait for the cluster may take this long (`E2E_OPERATOR_TIMEOUT`).
fn rollout_timeout() -> Duration {
    Duration::from_secs(
        env_var("E2E_OPERATOR_TIMEOUT")
            .and_then(|v| v.parse().ok())
            .unwrap_or(300),
    )
}

/// Deletes what the test created, whatever the outcome, and shows the
/// operator's log and the registry's status when it failed.
struct Cleanup {
    namespace: String,
    /// Where build Jobs run (created by the operator, which never deletes
    /// a namespace).
    builder_namespace: String,
    /// The Route CRD the last step applied, removed again.
    route_crd: Option<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let ops = Kubectl::in_namespace(OPERATOR_NS);
            let log = ops.run(&["logs", &format!("deployment/{OPERATOR_DEPLOYMENT}"), "--tail=60"]);
            eprintln!("--- operator log (last 60 lines):\n{}{}", log.stdout, log.stderr);
            let ns = Kubectl::in_namespace(&self.namespace);
            let status = ns.get(&["quayregistry", CR]).unwrap_or(Value::Null);
            eprintln!("--- QuayRegistry status:\n{:#}", status["status"]);
            let pods = ns.run(&["get", "pods,jobs,pvc", "-o", "wide"]);
            eprintln!("--- objects:\n{}", pods.stdout);
        }
        // The registry goes first, while the operator can still remove its
        // finalizer; then the operator.
        let operator_dir = workspace_root().join("config/operator");
        for args in [
            vec![
                "--namespace",
                self.namespace.as_str(),
                "delete",
                "quayregistry",
                CR,
                "--timeout=120s",
            ],
            vec!["delete", "namespace", self.namespace.as_str(), "--wait=false"],
            vec!["delete", "namespace", self.builder_namespace.as_str(), "--wait=false"],
            vec![
                "delete",
                "-f",
                operator_dir.to_str().unwrap_or_default(),
                "--wait=false",
            ],
            vec!["delete", "namespace", OPERATOR_NS, "--wait=false"],
            vec![
                "delete",
                "-f",
                self.route_crd.as_deref().unwrap_or_default(),
                "--wait=false",
            ],
        ]
        .into_iter()
        .filter(|args| !args.contains(&""))
        {
            let _ = Command::new("kubectl")
                .args(&args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// What the scenario carries from step to step.
struct Scenario {
    scratch: PathBuf,
    /// BUILDER_NAMESPACE of the bundle's build executor.
    builder_ns: String,
    ns: Kubectl,
    ops: Kubectl,
    /// The port of `SERVER_HOSTNAME` (`localhost:<port>`), where the Ingress
    /// stand-in listens.
    port: u16,
    s3: S3Server,
    standin: Option<IngressStandIn>,
    /// `--cert-dir` for podman and skopeo: the operator CA as `ca.crt`.
    cert_dir: PathBuf,
    token: String,
    podman: Podman,
    /// The first image pushed (repository, manifest digest).
    first: (String, String),
    report: Vec<(String, String)>,
}

impl Scenario {
    fn host(&self) -> String {
        format!("localhost:{}", self.port)
    }

    fn endpoint(&self) -> String {
        format!("https://{}", self.host())
    }

    fn note(&mut self, what: &str, value: impl Into<String>) {
        let value = value.into();
        eprintln!("[operator e2e] {what}: {value}");
        self.report.push((what.to_string(), value));
    }

    fn ca_file(&self) -> PathBuf {
        self.cert_dir.join("ca.crt")
    }

    fn registry(&self) -> Value {
        self.ns.get(&["quayregistry", CR]).unwrap_or(Value::Null)
    }

    fn describe(&self) -> String {
        let log = self
            .ops
            .run(&["logs", &format!("deployment/{OPERATOR_DEPLOYMENT}"), "--tail=30"]);
        format!(
            "--- status:\n{:#}\n--- operator log:\n{}",
            self.registry()["status"],
            log.stdout
        )
    }

    /// The bundle's `config.yaml`, with `extra` appended.
    fn config(&self, extra: &str) -> String {
        format!(
            "SERVER_HOSTNAME: localhost:{port}\nFEATURE_USER_INITIALIZE: true\nSUPER_USERS: [{ADMIN}]\n\
             DISTRIBUTED_STORAGE_CONFIG:\n  s3:\n    - S3Storage\n    - host: {host}\n      port: {s3_port}\n      \
             is_secure: false\n      s3_bucket: {bucket}\n      storage_path: /registry\n      \
             s3_access_key: testing\n      s3_secret_key: testing\n      s3_region: us-east-1\n\
             DISTRIBUTED_STORAGE_PREFERENCE: [s3]\nDISTRIBUTED_STORAGE_DEFAULT_LOCATIONS: [s3]\n{builds}{extra}",
            builds = builds::bundle_config(&self.builder_ns),
            port = self.port,
            host = self.s3.host,
            s3_port = self.s3.port,
            bucket = self.s3.bucket,
        )
    }

    fn apply_bundle(&self, config: &str) {
        let secret = json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": BUNDLE},
            "type": "Opaque",
            "stringData": {"config.yaml": config},
        });
        self.ns.apply(&secret.to_string());
    }

    fn apply_registry(&self, replicas: Option<u32>) {
        let quay = match replicas {
            Some(n) => json!({"kind": "quay", "managed": true, "overrides": {"replicas": n}}),
            None => json!({"kind": "quay", "managed": true}),
        };
        let mut components = vec![quay];
        for kind in ["postgres", "redis", "route", "tls"] {
            components.push(json!({"kind": kind, "managed": true}));
        }
        // No Clair image, no Prometheus operator; the HPA would fight the
        // replicas override, and mirroring arrives with its own issue.
        for kind in [
            "objectstorage",
            "clair",
            "clairpostgres",
            "monitoring",
            "horizontalpodautoscaler",
            "mirror",
        ] {
            components.push(json!({"kind": kind, "managed": false}));
        }
        let cr = json!({
            "apiVersion": "quay.redhat.com/v1",
            "kind": "QuayRegistry",
            "metadata": {"name": CR},
            "spec": {"configBundleSecret": BUNDLE, "components": components},
        });
        self.ns.apply(&cr.to_string());
    }

    /// Waits for `Available=True`, failing at once on a blocked rollout a
    /// spec or bundle change would be needed to fix.
    fn wait_available(&self, what: &str) -> Value {
        wait_for(
            what,
            rollout_timeout(),
            || {
                let registry = self.registry();
                if let Some((status, reason, message)) = condition(&registry, "RolloutBlocked") {
                    let permanent = ["ConfigInvalid", "ComponentOverrideInvalid"].contains(&reason.as_str());
                    assert!(!(status == "True" && permanent), "rollout blocked: {reason}: {message}");
                }
                let available = condition(&registry, "Available").is_some_and(|(s, ..)| s == "True");
                let current = registry["metadata"]["generation"] == registry["status"]["observedGeneration"]
                    || registry["status"]["observedGeneration"].is_null();
                (available && current).then_some(registry)
            },
            || self.describe(),
        )
    }

    fn app_pods(&self) -> Vec<Value> {
        self.ns
            .list("pods", Some("quay-component=quay-app"))
            .into_iter()
            .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
            .collect()
    }

    /// Waits until the registry Deployment has rolled out completely:
    /// `replicas` pods, all of the current template, all Ready.
    fn wait_app_rolled_out(&self, what: &str, replicas: usize) -> Vec<Value> {
        wait_for(
            what,
            rollout_timeout(),
            || {
                let d = self.ns.get(&["deployment", APP])?;
                let (spec, status) = (&d["spec"], &d["status"]);
                let want = spec["replicas"].as_u64()?;
                let settled = status["observedGeneration"] == d["metadata"]["generation"]
                    && want == replicas as u64
                    && ["updatedReplicas", "readyReplicas", "availableReplicas", "replicas"]
                        .iter()
                        .all(|k| status[*k].as_u64() == Some(want));
                let pods: Vec<Value> = self.app_pods().into_iter().filter(pod_ready).collect();
                let all_pods = self.ns.list("pods", Some("quay-component=quay-app"));
                (settled && pods.len() == replicas && all_pods.len() == replicas).then_some(pods)
            },
            || self.describe(),
        )
    }

    fn config_secrets(&self) -> Vec<String> {
        self.ns
            .names("secrets", None)
            .into_iter()
            .filter(|n| n.starts_with(CONFIG_SECRET_PREFIX))
            .collect()
    }

    /// The config Secret the registry Deployment mounts.
    fn mounted_config_secret(&self) -> Option<String> {
        let d = self.ns.get(&["deployment", APP])?;
        // Quay's config volume projects the config Secret (and the TLS pair).
        d["spec"]["template"]["spec"]["volumes"]
            .as_array()?
            .iter()
            .flat_map(|v| {
                let projected = v["projected"]["sources"].as_array().cloned().unwrap_or_default();
                let direct = v["secret"]["secretName"].as_str().map(String::from);
                projected
                    .into_iter()
                    .filter_map(|p| p["secret"]["name"].as_str().map(String::from))
                    .chain(direct)
            })
            .find(|n| n.starts_with(CONFIG_SECRET_PREFIX))
    }

    /// The operator pod, once one is Ready and holds the leader Lease.
    fn wait_leader(&self, not: Option<&str>) -> String {
        wait_for(
            "a Ready operator pod holding the leader Lease",
            rollout_timeout(),
            || {
                let holder = self.ops.get(&["lease", LEASE])?["spec"]["holderIdentity"]
                    .as_str()?
                    .to_string();
                self.ops
                    .list("pods", Some("app.kubernetes.io/name=quay-operator"))
                    .iter()
                    .filter(|p| pod_ready(p) && p["metadata"]["deletionTimestamp"].is_null())
                    .filter_map(|p| p["metadata"]["name"].as_str())
                    .find(|name| holder.starts_with(&format!("{name}_")) && Some(*name) != not)
                    .map(String::from)
            },
            || self.describe(),
        )
    }

    /// (Re)starts the Ingress stand-in from the reconciled Ingress and
    /// writes the operator CA where podman, skopeo and curl read it.
    fn expose(&mut self) {
        self.standin = None;
        let ingress = self
            .ns
            .get(&["ingress", INGRESS])
            .expect("the operator made an Ingress");
        assert_eq!(ingress["spec"]["rules"][0]["host"], "localhost", "{ingress:#}");
        assert_eq!(ingress["spec"]["tls"][0]["hosts"][0], "localhost", "{ingress:#}");
        let ca = self
            .ns
            .secret_data(CA_SECRET, "tls.crt")
            .expect("the operator CA Secret");
        fs::write(self.ca_file(), ca).expect("write ca.crt");
        self.standin = Some(IngressStandIn::start(&self.ns, INGRESS, self.port, &self.scratch));
    }

    /// `curl` against the endpoint, verifying TLS with the operator CA:
    /// (HTTP status, body).
    fn curl(&self, method: &str, path: &str, token: Option<&str>, body: Option<&Value>) -> (u16, String) {
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "-o", "-", "-w", "\n%{http_code}", "-X", method, "--cacert"])
            .arg(self.ca_file())
            .arg(format!("{}{path}", self.endpoint()));
        if let Some(t) = token {
            cmd.args(["-H", &format!("Authorization: Bearer {t}")]);
        }
        if let Some(b) = body {
            cmd.args(["-H", "Content-Type: application/json", "--data-binary", &b.to_string()]);
        }
        let out = run(&mut cmd, CLIENT_TIMEOUT).ok();
        let (body, code) = out.rsplit_once('\n').unwrap_or(("", &out));
        (code.trim().parse().unwrap_or(0), body.to_string())
    }

    fn skopeo(&self, args: &[&str]) -> Outcome {
        let creds = format!("{ADMIN}:{PASSWORD}");
        let mut cmd = Command::new("skopeo");
        cmd.args(args);
        if args.first() == Some(&"copy") {
            cmd.arg("--src-cert-dir")
                .arg(&self.cert_dir)
                .arg("--dest-cert-dir")
                .arg(&self.cert_dir)
                .args(["--src-creds", &creds, "--dest-creds", &creds]);
        } else {
            cmd.arg("--cert-dir").arg(&self.cert_dir).args(["--creds", &creds]);
        }
        run(&mut cmd, CLIENT_TIMEOUT)
    }

    /// Manifest digest of `reference` as skopeo reads it through the endpoint.
    fn remote_digest(&self, reference: &str) -> String {
        let raw = self
            .skopeo(&["inspect", "--raw", &format!("docker://{reference}")])
            .ok();
        digest_of(raw.as_bytes())
    }
}

#[test]
fn the_operator_in_a_real_cluster_deploys_a_registry_users_push_to() {
    if env_var("KUBECONFIG").is_none() {
        assert!(!in_ci(), "CI=true but no KUBECONFIG: refusing to skip the cluster e2e");
        eprintln!("NOT RUN: no KUBECONFIG; e2e/run starts the test kit (../shared/kube) for this test");
        return;
    }
    // Lower case only: podman names an image pulled from `oci:PATH` after PATH.
    let scratch_dir = tempfile::Builder::new()
        .prefix(&unique_name("e2e-operator-"))
        .rand_bytes(0)
        .tempdir()
        .expect("temp dir");
    let scratch = scratch_dir.path().to_path_buf();
    let kit = kit_env();
    let listen = env_var("E2E_S3_LISTEN")
        .or_else(|| kit.get("NODE_IP").cloned())
        .expect("an address pods reach the host on: E2E_KIT_ENV (NODE_IP) or E2E_S3_LISTEN");
    let venv = PathBuf::from(env_var("E2E_VENV").expect("E2E_VENV (moto, from e2e/run)"));
    let namespace = unique_name("registry-e2e-");
    let route_crd = env_var("E2E_ROUTE_CRD");
    let builder_namespace = format!("{namespace}-builds");
    let _cleanup = Cleanup {
        namespace: namespace.clone(),
        builder_namespace: builder_namespace.clone(),
        route_crd: route_crd.clone(),
    };
    let cert_dir = scratch.join("certs");
    fs::create_dir_all(&cert_dir).expect("cert dir");
    let mut s = Scenario {
        builder_ns: builder_namespace.clone(),
        s3: S3Server::start(&venv, &listen, &scratch),
        scratch,
        ns: Kubectl::in_namespace(&namespace),
        ops: Kubectl::in_namespace(OPERATOR_NS),
        port: free_port(),
        standin: None,
        cert_dir,
        token: String::new(),
        podman: Podman::verifying_tls(None),
        first: (String::new(), String::new()),
        report: Vec::new(),
    };

    deploy_operator(&mut s);
    install_registry(&mut s, &namespace);
    users_push_and_pull(&mut s);
    builds::builds_run_as_jobs(&mut s, &builder_namespace);
    bundle_edit_rolls_out(&mut s);
    three_replicas_share_one_registry(&mut s);
    broken_bundle_blocks_the_rollout(&mut s);
    operator_killed_mid_reconcile(&mut s);
    delete_and_recreate(&mut s);
    if let Some(crd) = route_crd {
        routes_with_the_route_api(&mut s, &crd);
    } else {
        s.note("Routes (--openshift)", "not run: E2E_ROUTE_CRD not set");
    }

    eprintln!("\n[operator e2e] summary");
    for (what, value) in &s.report {
        eprintln!("  {what:<48} {value}");
    }
}

/// Step 1a: the CRD, then the operator from `config/operator` as its own
/// ServiceAccount, pointed at the images under test.
fn deploy_operator(s: &mut Scenario) {
    let cluster = Kubectl::cluster();
    let routes = cluster.run(&["api-resources", "--api-group=route.openshift.io", "-o", "name"]);
    assert!(
        routes.ok().trim().is_empty(),
        "the scenario starts on plain Kubernetes (its last step adds the Route API)"
    );
    let root = workspace_root();
    let crd = root.join("crds/quayregistries.crd.yaml");
    cluster.run(&["apply", "-f", &crd.display().to_string()]).ok();
    cluster.wait_crd_established("quayregistries.quay.redhat.com");
    cluster.apply(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": OPERATOR_NS}}).to_string());
    // config/operator as a user edits it for their images (one rollout):
    // the operator image and the RELATED_IMAGE_COMPONENT_* values.
    let manifests = s.scratch.join("operator-manifests");
    fs::create_dir_all(&manifests).expect("manifest dir");
    let replacements = [
        (
            format!("localhost/registry-operator:{}", version()),
            image(
                "E2E_OPERATOR_IMAGE",
                &format!("localhost/registry-operator:{}", version()),
            ),
        ),
        (
            format!("localhost/registry:{}", version()),
            image("E2E_REGISTRY_IMAGE", &format!("localhost/registry:{}", version())),
        ),
        (
            "docker.io/library/postgres:16".to_string(),
            image("E2E_POSTGRES_IMAGE", "localhost/registry-postgres:15"),
        ),
        (
            "docker.io/library/redis:7".to_string(),
            image("E2E_REDIS_IMAGE", "localhost/registry-redis:7"),
        ),
    ];
    for entry in fs::read_dir(root.join("config/operator")).expect("config/operator") {
        let path = entry.expect("entry").path();
        let mut text = fs::read_to_string(&path).expect("read manifest");
        if path.ends_with("deployment.yaml") {
            for (from, to) in &replacements {
                assert!(text.contains(&format!(" {from}\n")), "{} names {from}", path.display());
                text = text.replace(&format!(" {from}\n"), &format!(" {to}\n"));
            }
        }
        fs::write(manifests.join(path.file_name().expect("file name")), text).expect("write manifest");
    }
    let started = Instant::now();
    cluster.run(&["apply", "-f", &manifests.display().to_string()]).ok();
    let deployment = format!("deployment/{OPERATOR_DEPLOYMENT}");
    let timeout = format!("--timeout={}s", rollout_timeout().as_secs());
    s.ops
        .run_for(
            &["rollout", "status", &deployment, &timeout],
            rollout_timeout() + Duration::from_secs(30),
        )
        .ok();
    let leader = s.wait_leader(None);
    s.note(
        "operator pod Ready and leader",
        format!("{:.1} s ({leader})", started.elapsed().as_secs_f64()),
    );
    let pod = s.ops.get(&["pod", &leader]).expect("the operator pod");
    assert_eq!(
        pod["spec"]["serviceAccountName"], "quay-operator",
        "the operator runs as its own ServiceAccount"
    );
}

/// Steps 1b and 2: bundle, QuayRegistry, `Available` with the documented
/// conditions, and the migration Job before the registry pods.
fn install_registry(s: &mut Scenario, namespace: &str) {
    for ns in [namespace, s.builder_ns.as_str()] {
        Kubectl::cluster()
            .apply(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}).to_string());
    }
    s.apply_bundle(&s.config("TAG_EXPIRATION_OPTIONS: [1d, 2w]\n"));
    let started = Instant::now();
    s.apply_registry(None);
    let registry = s.wait_available("the QuayRegistry to become Available");
    s.note(
        "QuayRegistry applied → Available",
        format!("{:.1} s", started.elapsed().as_secs_f64()),
    );

    let status = &registry["status"];
    assert_eq!(status["registryEndpoint"], s.endpoint().as_str(), "{status:#}");
    assert_eq!(status["currentVersion"], version(), "{status:#}");
    let expect = |type_: &str, want_status: &str, want_reason: &str| {
        let (st, reason, message) =
            condition(&registry, type_).unwrap_or_else(|| panic!("no {type_} condition: {status:#}"));
        assert_eq!(
            (st.as_str(), reason.as_str()),
            (want_status, want_reason),
            "{type_}: {message}"
        );
    };
    expect("Available", "True", "HealthChecksPassing");
    expect("ComponentsCreated", "True", "ComponentsCreationSuccess");
    for kind in ["Quay", "Postgres", "Redis", "Route", "TLS"] {
        expect(&format!("Component{kind}Ready"), "True", "ComponentReady");
    }
    for kind in ["ObjectStorage", "Clair", "ClairPostgres", "Monitoring", "HPA", "Mirror"] {
        expect(&format!("Component{kind}Ready"), "True", "ComponentNotManaged");
    }
    if let Some((st, reason, message)) = condition(&registry, "RolloutBlocked") {
        assert_ne!(st, "True", "RolloutBlocked: {reason}: {message}");
    }

    // The database's volume was bound through the default StorageClass.
    let pvcs = s.ns.list("pvc", None);
    assert!(
        !pvcs.is_empty() && pvcs.iter().all(|p| p["status"]["phase"] == "Bound"),
        "the managed database's PVC is Bound: {pvcs:#?}"
    );

    // Migrations ran to completion before any registry pod was created.
    let job = s.ns.get(&["job", UPGRADE_JOB]).expect("the migration Job");
    let finished = job["status"]["completionTime"]
        .as_str()
        .unwrap_or_else(|| panic!("the migration Job completed: {:#}", job["status"]));
    let pods = s.wait_app_rolled_out("the registry pods to be Ready", DEFAULT_REPLICAS);
    for pod in &pods {
        let created = pod["metadata"]["creationTimestamp"].as_str().unwrap_or_default();
        let gap = seconds_between(finished, created).expect("timestamps");
        assert!(
            gap >= 0,
            "registry pod created {gap} s before the migration Job finished"
        );
    }
    let cold = pods
        .iter()
        .filter_map(|p| {
            let at = |t: &str| {
                p["status"]["conditions"].as_array()?.iter().find(|c| c["type"] == t)?["lastTransitionTime"]
                    .as_str()
                    .map(String::from)
            };
            seconds_between(&at("PodScheduled")?, &at("Ready")?)
        })
        .max()
        .unwrap_or(-1);
    s.note("registry pod scheduled → Ready", format!("{cold} s (whole seconds)"));
}

/// Step 3: the first user over the operator's TLS, podman and skopeo, and a
/// superuser API call with an OAuth token.
fn users_push_and_pull(s: &mut Scenario) {
    s.expose();
    let body = json!({"username": ADMIN, "password": PASSWORD, "email": "admin@example.com", "access_token": true});
    let (code, answer) = s.curl("POST", "/api/v1/user/initialize", None, Some(&body));
    assert_eq!(code, 200, "initialize: {answer}");
    let answer: Value = serde_json::from_str(&answer).expect("JSON");
    s.token = answer["access_token"].as_str().expect("an access token").to_string();

    let cert_dir = s.cert_dir.display().to_string();
    let host = s.host();
    s.podman
        .run(&["login", "--cert-dir", &cert_dir, "-u", ADMIN, "-p", PASSWORD, &host])
        .ok();
    let layer_bytes = 32 << 20;
    let img = mkoci_sized(&s.scratch.join("first"), "v1", &unique_name("cluster "), layer_bytes);
    s.podman.run(&["pull", "-q", &img.reference()]).ok();
    let id = s
        .podman
        .run(&["image", "list", "--noheading", "--format", "{{.ID}}"])
        .ok();
    let id = id.lines().next().expect("the pulled image").trim().to_string();
    let remote = format!("{host}/{ADMIN}/first:v1");
    s.podman.run(&["tag", &id, &remote]).ok();
    let started = Instant::now();
    s.podman.run(&["push", "--cert-dir", &cert_dir, &remote]).ok();
    s.note(
        "podman push (32 MiB layer) through the Ingress",
        format!("{:.2} s", started.elapsed().as_secs_f64()),
    );
    s.podman.run(&["rmi", "-f", &remote, &id]).ok();
    s.podman.run(&["pull", "-q", "--cert-dir", &cert_dir, &remote]).ok();
    let pulled = s.podman.run(&["image", "inspect", "--format", "{{.Id}}", &remote]).ok();
    assert_eq!(
        format!("sha256:{}", pulled.trim()),
        img.config_digest,
        "podman pulls back the image"
    );

    let digest = s.remote_digest(&remote);
    let copy = format!("{host}/{ADMIN}/copied:v1");
    s.skopeo(&["copy", &format!("docker://{remote}"), &format!("docker://{copy}")])
        .ok();
    assert_eq!(s.remote_digest(&copy), digest, "skopeo copy keeps the manifest");
    s.first = (remote, digest);

    // A superuser call as an admin scripts it, and the same call refused
    // without a token.
    let (code, users) = s.curl("GET", "/api/v1/superuser/users/", Some(&s.token), None);
    assert_eq!(code, 200, "superuser users: {users}");
    let users: Value = serde_json::from_str(&users).expect("JSON");
    assert!(
        users["users"]
            .as_array()
            .is_some_and(|u| u.iter().any(|u| u["username"] == ADMIN)),
        "{users:#}"
    );
    let (code, _) = s.curl("GET", "/api/v1/superuser/users/", None, None);
    assert_eq!(code, 401, "the superuser API refuses anonymous callers");
}

/// Step 4: a bundle edit → a new hashed config Secret, a rollout, and the
/// change visible through the API.
fn bundle_edit_rolls_out(s: &mut Scenario) {
    let three_weeks = json!({"tag_expiration_s": THREE_WEEKS_S});
    let (code, body) = s.curl("PUT", "/api/v1/user/", Some(&s.token), Some(&three_weeks));
    assert_eq!(code, 400, "3w is not among TAG_EXPIRATION_OPTIONS yet: {body}");
    let before = s.mounted_config_secret().expect("a mounted config Secret");

    let started = Instant::now();
    s.apply_bundle(&s.config("TAG_EXPIRATION_OPTIONS: [1d, 2w, 3w]\n"));
    wait_for(
        "the registry Deployment to mount a new config Secret",
        rollout_timeout(),
        || s.mounted_config_secret().filter(|n| *n != before),
        || s.describe(),
    );
    s.wait_app_rolled_out("the edited bundle to roll out", DEFAULT_REPLICAS);
    s.note(
        "bundle edit → all registry pods Ready",
        format!("{:.1} s", started.elapsed().as_secs_f64()),
    );
    s.wait_available("Available after the bundle edit");
    let (code, body) = s.curl("PUT", "/api/v1/user/", Some(&s.token), Some(&three_weeks));
    assert_eq!(code, 200, "3w is allowed after the edit: {body}");
    wait_for(
        "the replaced config Secret to be deleted",
        rollout_timeout(),
        || (s.config_secrets().len() == 1).then_some(()),
        || format!("{:?}", s.config_secrets()),
    );
}

/// Step 5: three replicas; a push through one pod pulls through another.
fn three_replicas_share_one_registry(s: &mut Scenario) {
    let started = Instant::now();
    s.apply_registry(Some(3));
    let pods = s.wait_app_rolled_out("three registry pods", 3);
    s.note(
        "replicas 2 → 3 Ready",
        format!("{:.1} s", started.elapsed().as_secs_f64()),
    );
    s.wait_available("Available with three replicas");
    let ips: Vec<String> = pods
        .iter()
        .map(|p| p["status"]["podIP"].as_str().expect("pod IP").to_string())
        .collect();
    let client = reqwest::blocking::Client::new();
    for ip in &ips {
        let health = client
            .get(format!("http://{ip}:8080/health/instance"))
            .send()
            .expect("the pod answers");
        assert_eq!(health.status(), 200, "pod {ip} serves");
    }

    let img = mkoci_sized(&s.scratch.join("replicas"), "v1", &unique_name("replicas "), 1 << 20);
    let creds = format!("{ADMIN}:{PASSWORD}");
    let through = |ip: &str| format!("docker://{ip}:8080/{ADMIN}/replicas:v1");
    let push = run(
        Command::new("skopeo").args([
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            &creds,
            &img.reference(),
            &through(&ips[0]),
        ]),
        CLIENT_TIMEOUT,
    );
    push.ok();
    let raw = run(
        Command::new("skopeo").args([
            "inspect",
            "--raw",
            "--tls-verify=false",
            "--creds",
            &creds,
            &through(&ips[1]),
        ]),
        CLIENT_TIMEOUT,
    )
    .ok();
    assert_eq!(
        digest_of(raw.as_bytes()),
        img.manifest_digest,
        "pushed through {} and read through {}",
        ips[0],
        ips[1]
    );
    let into = s.scratch.join("replicas-pulled");
    run(
        Command::new("skopeo")
            .args([
                "copy",
                "--src-tls-verify=false",
                "--src-creds",
                &creds,
                &through(&ips[2]),
            ])
            .arg(format!("dir:{}", into.display())),
        CLIENT_TIMEOUT,
    )
    .ok();
    let layer = fs::read(into.join(img.layer_digest.trim_start_matches("sha256:"))).expect("pulled layer");
    assert_eq!(
        digest_of(&layer),
        img.layer_digest,
        "the layer pulls through a third pod"
    );

    // Idle memory, read from the pods' cgroups on the node.
    let mut memory = Vec::new();
    for (ns, selector, label) in [
        (&s.ops, "app.kubernetes.io/name=quay-operator", "operator"),
        (&s.ns, "quay-component=quay-app", "registry"),
        (&s.ns, "quay-component=postgres", "postgres"),
        (&s.ns, "quay-component=redis", "redis"),
    ] {
        for pod in ns.list("pods", Some(selector)) {
            for c in pod["status"]["containerStatuses"].as_array().into_iter().flatten() {
                let mib = c["containerID"]
                    .as_str()
                    .and_then(container_memory)
                    .map_or("?".to_string(), |b| format!("{:.1}", b as f64 / 1048576.0));
                memory.push(format!("{label} {mib}"));
            }
        }
    }
    s.note("idle anonymous memory, MiB", memory.join(", "));
}

/// Step 6: a broken `config.yaml` blocks the rollout and the old pods serve.
fn broken_bundle_blocks_the_rollout(s: &mut Scenario) {
    let pods_before: Vec<String> = s
        .app_pods()
        .iter()
        .filter_map(|p| p["metadata"]["name"].as_str().map(String::from))
        .collect();
    let secret_before = s.mounted_config_secret();
    let good = s.config("TAG_EXPIRATION_OPTIONS: [1d, 2w, 3w]\n");
    s.apply_bundle("SERVER_HOSTNAME: [this is not YAML\n");
    let (reason, message) = wait_for(
        "RolloutBlocked for the broken bundle",
        rollout_timeout(),
        || {
            let (status, reason, message) = condition(&s.registry(), "RolloutBlocked")?;
            (status == "True").then_some((reason, message))
        },
        || s.describe(),
    );
    s.note("broken config.yaml", format!("RolloutBlocked {reason}: {message}"));
    assert_eq!(reason, "ConfigInvalid", "{message}");
    assert!(!message.is_empty());
    assert_eq!(
        s.mounted_config_secret(),
        secret_before,
        "the Deployment was not changed"
    );
    let pods_now: Vec<String> = s
        .app_pods()
        .iter()
        .filter(|p| pod_ready(p))
        .filter_map(|p| p["metadata"]["name"].as_str().map(String::from))
        .collect();
    assert_eq!(pods_now, pods_before, "the old pods keep running");
    assert_eq!(s.remote_digest(&s.first.0), s.first.1, "the old pods keep serving");

    s.apply_bundle(&good);
    wait_for(
        "RolloutBlocked to clear once the bundle is fixed",
        rollout_timeout(),
        || {
            let blocked = condition(&s.registry(), "RolloutBlocked").is_some_and(|(st, ..)| st == "True");
            (!blocked).then_some(())
        },
        || s.describe(),
    );
    s.wait_available("Available after the bundle was fixed");
}

/// Step 7: the operator pod killed in the middle of a reconcile.
fn operator_killed_mid_reconcile(s: &mut Scenario) {
    let old_leader = s.wait_leader(None);
    let before = s.mounted_config_secret().expect("a mounted config Secret");
    s.apply_bundle(&s.config("TAG_EXPIRATION_OPTIONS: [1d, 2w, 3w]\nREGISTRY_TITLE: Killed mid-reconcile\n"));
    // The reconcile has begun once the new hashed Secret exists; kill then.
    wait_for(
        "the operator to start reconciling the edit",
        rollout_timeout(),
        || (s.config_secrets().len() > 1).then_some(()),
        || s.describe(),
    );
    // SIGKILL, as a crash or the OOM killer would: the Lease is not
    // released, so the successor waits for it to lapse (15 s). Then the pod
    // goes, so a new pod (not a restarted container) takes over.
    let started = Instant::now();
    let pod = s.ops.get(&["pod", &old_leader]).expect("the leader pod");
    let container = pod["status"]["containerStatuses"][0]["containerID"]
        .as_str()
        .expect("the operator's container id")
        .to_string();
    let killed = kill_container(&container);
    assert!(
        killed > 0 || kit_env().is_empty(),
        "the operator's processes are in its cgroup on this host (the kit's node)"
    );
    s.ops
        .run(&["delete", "pod", &old_leader, "--grace-period=0", "--force"])
        .ok();
    let new_leader = s.wait_leader(Some(&old_leader));
    s.note(
        "operator SIGKILLed → successor holds the Lease",
        format!("{:.1} s ({new_leader})", started.elapsed().as_secs_f64()),
    );
    wait_for(
        "the successor to finish the rollout",
        rollout_timeout(),
        || s.mounted_config_secret().filter(|n| *n != before),
        || s.describe(),
    );
    s.wait_app_rolled_out("the rollout after the operator was killed", 3);
    s.wait_available("Available after the operator was killed");
    s.note(
        "operator SIGKILLed → Available again",
        format!("{:.1} s", started.elapsed().as_secs_f64()),
    );
    wait_for(
        "one config Secret left",
        rollout_timeout(),
        || (s.config_secrets().len() == 1).then_some(()),
        || format!("{:?}", s.config_secrets()),
    );
    let jobs = s.ns.names("jobs", None);
    assert_eq!(jobs, vec![UPGRADE_JOB.to_string()], "one migration Job");
}

/// Step 8: delete the QuayRegistry, keep the data, re-create it.
fn delete_and_recreate(s: &mut Scenario) {
    let pvcs = s.ns.names("pvc", None);
    assert!(!pvcs.is_empty(), "the database has a PVC");
    assert!(s.ns.get(&["secret", KEYS_SECRET]).is_some(), "the keys Secret exists");
    let timeout = format!("--timeout={}s", rollout_timeout().as_secs());
    s.ns.run(&["delete", "quayregistry", CR, "--wait=true", &timeout]).ok();
    s.standin = None;
    let selector = format!("quay-operator/quayregistry={CR}");
    wait_for(
        "the registry's owned objects to be garbage collected",
        rollout_timeout(),
        || {
            let left: Vec<String> = ["deployments", "services", "jobs", "ingresses", "configmaps"]
                .iter()
                .flat_map(|kind| s.ns.names(kind, Some(&selector)))
                .chain(s.config_secrets())
                .collect();
            left.is_empty().then_some(())
        },
        || s.ns.run(&["get", "all,ingress,secrets"]).stdout,
    );
    assert_eq!(s.ns.names("pvc", None), pvcs, "the database PVC stays");
    assert!(s.ns.get(&["secret", KEYS_SECRET]).is_some(), "the keys Secret stays");
    assert!(s.ns.get(&["secret", BUNDLE]).is_some(), "the user's bundle stays");

    let started = Instant::now();
    s.apply_registry(None);
    s.wait_available("the re-created QuayRegistry to become Available");
    s.wait_app_rolled_out("the re-created registry", DEFAULT_REPLICAS);
    s.note(
        "re-created → Available",
        format!("{:.1} s", started.elapsed().as_secs_f64()),
    );
    s.expose();
    assert_eq!(
        s.remote_digest(&s.first.0),
        s.first.1,
        "the first image still pulls (same user, database and storage)"
    );
    let into = s.scratch.join("first-again");
    s.skopeo(&[
        "copy",
        &format!("docker://{}", s.first.0),
        &format!("dir:{}", into.display()),
    ])
    .ok();
    assert_eq!(
        digest_of(&fs::read(into.join("manifest.json")).expect("manifest")),
        s.first.1
    );
}

/// Step 9: with the Route API the operator makes Routes (the kit has no
/// router, so only the objects are checked).
fn routes_with_the_route_api(s: &mut Scenario, crd: &str) {
    let cluster = Kubectl::cluster();
    cluster.run(&["apply", "-f", crd]).ok();
    cluster.wait_crd_established("routes.route.openshift.io");
    // Capabilities are discovered at start: a new operator pod sees Routes.
    let leader = s.wait_leader(None);
    s.ops.run(&["delete", "pod", &leader]).ok();
    s.wait_leader(Some(&leader));
    let route = wait_for(
        "the operator to create the registry Route",
        rollout_timeout(),
        || s.ns.get(&["route", INGRESS]),
        || s.describe(),
    );
    let spec = &route["spec"];
    assert_eq!(spec["host"], "localhost", "{route:#}");
    assert_eq!(spec["to"]["kind"], "Service", "{route:#}");
    assert_eq!(spec["to"]["name"], APP, "{route:#}");
    assert_eq!(spec["port"]["targetPort"], "http", "{route:#}");
    assert_eq!(spec["tls"]["termination"], "edge", "{route:#}");
    assert_eq!(spec["tls"]["insecureEdgeTerminationPolicy"], "Redirect", "{route:#}");
    let builder =
        s.ns.get(&["route", "registry-quay-builder"])
            .expect("the builder Route");
    // Builders talk to the build manager on the registry's own port.
    assert_eq!(builder["spec"]["port"]["targetPort"], "http", "{builder:#}");
    wait_for(
        "the Ingress the Routes replace to be deleted",
        rollout_timeout(),
        || s.ns.get(&["ingress", INGRESS]).is_none().then_some(()),
        || s.describe(),
    );
    s.note(
        "Route API present",
        "Routes registry-quay (edge) and registry-quay-builder; the Ingress deleted",
    );
}
