//! The operator against a real cluster: apply the CRD and a QuayRegistry,
//! run the operator binary locally, wait for `Available`, push and pull with
//! skopeo through the reconciled endpoint, change the config bundle and see
//! the registry Deployment roll, then delete the registry.
//!
//! No cluster is available on the CI machines, so the test is `#[ignore]`d
//! and `e2e/run` runs it (with `--ignored`) whenever KUBECONFIG is set. Against a
//! cluster (kind, k3d, OpenShift …):
//!
//! ```sh
//! cargo build --release -p operator
//! KUBECONFIG=~/.kube/config E2E_REGISTRY_IMAGE=<registry image the cluster can pull> \
//!     cargo test -p e2e --test operator -- --ignored --nocapture
//! ```
//!
//! - `OPERATOR_BIN`: the operator binary (default `target/{release,debug}/operator`).
//! - `E2E_REGISTRY_IMAGE`: becomes `RELATED_IMAGE_COMPONENT_QUAY`; `E2E_QUAY_VERSION`
//!   becomes `QUAY_VERSION` (default `0.1.0`).
//! - `E2E_S3_HOST`, `E2E_S3_PORT`, `E2E_S3_BUCKET`, `E2E_S3_ACCESS_KEY`,
//!   `E2E_S3_SECRET_KEY`, `E2E_S3_SECURE`: S3 storage as the registry pods reach it.
//!   Without them the registry stores blobs on its pod's disk (`LocalStorage`),
//!   which does not survive the roll, so only the S3 run pulls the first image
//!   again afterwards.
//! - `E2E_OPERATOR_TIMEOUT`: seconds to wait for each rollout (default 600).
//!
//! It needs `kubectl`, `skopeo`, `openssl` and `python3` on the machine. Postgres
//! and Redis are managed; route, TLS and storage are unmanaged so the endpoint
//! is reached through `kubectl port-forward` with a self-signed certificate for
//! `localhost`.

use std::fs;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use e2e::process::{free_port, run, Outcome};
use e2e::{digest_of, in_ci, mkoci, unique_name};
use serde_json::Value;
use tempfile::TempDir;

const CR: &str = "e2e";
const BUNDLE: &str = "e2e-config-bundle";
const APP_DEPLOYMENT: &str = "e2e-quay-app";
const APP_SERVICE: &str = "svc/e2e-quay-app";
const KUBECTL_TIMEOUT: Duration = Duration::from_secs(120);
const USERNAME: &str = "e2eoperator";
const PASSWORD: &str = "e2e-Operator-Passw0rd";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn operator_bin() -> PathBuf {
    if let Some(bin) = env_var("OPERATOR_BIN") {
        return PathBuf::from(bin);
    }
    let target = env_var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    ["release", "debug"]
        .iter()
        .map(|profile| target.join(profile).join("operator"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("no operator binary: build it (cargo build --release -p operator) or set OPERATOR_BIN")
        })
}

fn rollout_timeout() -> Duration {
    let secs = env_var("E2E_OPERATOR_TIMEOUT")
        .and_then(|v| v.parse().ok())
        .unwrap_or(600);
    Duration::from_secs(secs)
}

/// Polls `probe` every few seconds until it returns `Some`, or panics with
/// `what` and the last state `describe` reports.
fn wait_for<T>(
    what: &str,
    timeout: Duration,
    mut probe: impl FnMut() -> Option<T>,
    describe: impl Fn() -> String,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}\n{}",
            describe()
        );
        thread::sleep(Duration::from_secs(3));
    }
}

/// `kubectl` in the test's namespace.
struct Kubectl {
    namespace: String,
}

impl Kubectl {
    fn run(&self, args: &[&str]) -> Outcome {
        run(
            Command::new("kubectl")
                .arg("--namespace")
                .arg(&self.namespace)
                .args(args),
            KUBECTL_TIMEOUT,
        )
    }

    fn json(&self, args: &[&str]) -> Option<Value> {
        let mut all = vec!["get"];
        all.extend(args);
        all.extend(["-o", "json"]);
        let out = self.run(&all);
        out.success.then(|| serde_json::from_str(&out.stdout).ok()).flatten()
    }

    fn registry(&self) -> Value {
        self.json(&["quayregistry", CR]).unwrap_or(Value::Null)
    }
}

/// Children and cluster objects to clean up, whatever the outcome.
struct Cleanup {
    kubectl: Kubectl,
    operator: Option<Child>,
    port_forward: Option<Child>,
    operator_log: PathBuf,
}

impl Cleanup {
    fn stop_port_forward(&mut self) {
        if let Some(mut child) = self.port_forward.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn operator_log_tail(&self) -> String {
        let log = fs::read_to_string(&self.operator_log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        format!(
            "--- operator log (last 40 lines):\n{}",
            lines[lines.len().saturating_sub(40)..].join("\n")
        )
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        self.stop_port_forward();
        if let Some(mut child) = self.operator.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if thread::panicking() {
            eprintln!("{}", self.operator_log_tail());
        }
        // The namespace takes the registry's objects with it; the CRD stays.
        let _ = Command::new("kubectl")
            .args(["delete", "namespace", &self.kubectl.namespace, "--wait=false"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A self-signed certificate for `localhost`: (cert path, key path).
fn self_signed_cert(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("ssl.cert"), dir.join("ssl.key"));
    run(
        Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=localhost",
            ])
            .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert),
        Duration::from_secs(60),
    )
    .ok();
    (cert, key)
}

/// The bundle's `config.yaml`: unmanaged route (SERVER_HOSTNAME), storage
/// from `E2E_S3_*` or the pod's disk, and `extra` appended.
fn bundle_config(port: u16, extra: &str) -> String {
    let storage = match env_var("E2E_S3_HOST") {
        Some(host) => format!(
            "  s3:\n    - S3Storage\n    - host: {host}\n      port: {s3_port}\n      is_secure: {secure}\n      \
             s3_bucket: {bucket}\n      storage_path: /registry\n      s3_access_key: {access}\n      \
             s3_secret_key: {secret}\n      s3_region: us-east-1\n",
            s3_port = env_var("E2E_S3_PORT").unwrap_or_else(|| "80".into()),
            secure = env_var("E2E_S3_SECURE").unwrap_or_else(|| "false".into()),
            bucket = env_var("E2E_S3_BUCKET").unwrap_or_else(|| "registry-e2e".into()),
            access = env_var("E2E_S3_ACCESS_KEY").unwrap_or_else(|| "testing".into()),
            secret = env_var("E2E_S3_SECRET_KEY").unwrap_or_else(|| "testing".into()),
        ),
        None => "  s3:\n    - LocalStorage\n    - storage_path: /tmp/registry-blobs\n".into(),
    };
    format!(
        "SERVER_HOSTNAME: localhost:{port}\nPREFERRED_URL_SCHEME: https\nFEATURE_USER_CREATION: true\n\
         DISTRIBUTED_STORAGE_CONFIG:\n{storage}DISTRIBUTED_STORAGE_PREFERENCE: [s3]\n\
         DISTRIBUTED_STORAGE_DEFAULT_LOCATIONS: [s3]\n{extra}"
    )
}

fn quay_registry_yaml(namespace: &str) -> String {
    let unmanaged = [
        "objectstorage",
        "route",
        "tls",
        "horizontalpodautoscaler",
        "mirror",
        "monitoring",
        "clair",
        "clairpostgres",
    ];
    let mut components = String::from(
        "    - {kind: quay, managed: true, overrides: {replicas: 1}}\n    - {kind: postgres, managed: true}\n    \
         - {kind: redis, managed: true}\n",
    );
    for kind in unmanaged {
        components.push_str(&format!("    - {{kind: {kind}, managed: false}}\n"));
    }
    format!(
        "apiVersion: quay.redhat.com/v1\nkind: QuayRegistry\nmetadata:\n  name: {CR}\n  namespace: {namespace}\n\
         spec:\n  configBundleSecret: {BUNDLE}\n  components:\n{components}"
    )
}

fn condition(registry: &Value, type_: &str) -> Option<(String, String, String)> {
    registry["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
        .map(|c| {
            let field = |k: &str| c[k].as_str().unwrap_or_default().to_string();
            (field("status"), field("reason"), field("message"))
        })
}

/// Waits until the registry is Available, failing fast on conditions only a
/// spec or bundle change could fix.
fn wait_available(cleanup: &Cleanup) -> Value {
    let kubectl = &cleanup.kubectl;
    wait_for(
        "QuayRegistry e2e to become Available",
        rollout_timeout(),
        || {
            let registry = kubectl.registry();
            if let Some((status, reason, message)) = condition(&registry, "RolloutBlocked") {
                let permanent = ["ConfigInvalid", "ComponentOverrideInvalid"].contains(&reason.as_str());
                assert!(!(status == "True" && permanent), "rollout blocked: {reason}: {message}");
            }
            let available = condition(&registry, "Available").is_some_and(|(status, ..)| status == "True");
            available.then_some(registry)
        },
        || format!("{:#}\n{}", kubectl.registry()["status"], cleanup.operator_log_tail()),
    )
}

fn start_operator(cleanup: &mut Cleanup, version: &str) {
    let metrics_port = free_port();
    let log = fs::File::create(&cleanup.operator_log).expect("operator log file");
    let mut cmd = Command::new(operator_bin());
    cmd.arg("--namespace")
        .arg(&cleanup.kubectl.namespace)
        .arg("--metrics-addr")
        .arg(format!("127.0.0.1:{metrics_port}"))
        .arg("--health-probe-addr")
        .arg(format!("127.0.0.1:{metrics_port}"))
        .env("POD_NAMESPACE", &cleanup.kubectl.namespace)
        .env("QUAY_VERSION", version)
        .env("RUST_LOG", env_var("RUST_LOG").unwrap_or_else(|| "info".into()))
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log handle"))
        .stderr(log);
    if let Some(image) = env_var("E2E_REGISTRY_IMAGE") {
        cmd.env("RELATED_IMAGE_COMPONENT_QUAY", image);
    }
    cleanup.operator = Some(cmd.spawn().expect("start the operator"));
    let ready = format!("http://127.0.0.1:{metrics_port}/readyz");
    let client = reqwest::blocking::Client::new();
    wait_for(
        "the operator's /readyz",
        Duration::from_secs(60),
        || client.get(&ready).send().ok().filter(|r| r.status().is_success()),
        || cleanup.operator_log_tail(),
    );
}

/// (Re)starts `kubectl port-forward` to the registry Service's HTTPS port.
fn port_forward(cleanup: &mut Cleanup, port: u16) {
    cleanup.stop_port_forward();
    let child = Command::new("kubectl")
        .args(["--namespace", &cleanup.kubectl.namespace, "port-forward", APP_SERVICE])
        .arg(format!("{port}:443"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start kubectl port-forward");
    cleanup.port_forward = Some(child);
    wait_for(
        "the port-forward to the registry",
        Duration::from_secs(60),
        || TcpStream::connect(("127.0.0.1", port)).ok(),
        String::new,
    );
}

/// Creates the test account; `None` means clients push anonymously.
fn create_user(endpoint: &str) -> Option<String> {
    let client = reqwest::blocking::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .expect("HTTP client");
    let body = serde_json::json!({"username": USERNAME, "password": PASSWORD, "email": "e2e@example.com"});
    let response = client
        .post(format!("{endpoint}/api/v1/user/"))
        .json(&body)
        .send()
        .ok()?;
    response.status().is_success().then(|| format!("{USERNAME}:{PASSWORD}"))
}

fn skopeo_copy(src: &str, dest: &str, creds: Option<&str>) {
    let mut cmd = Command::new("skopeo");
    cmd.args(["copy", "--src-tls-verify=false", "--dest-tls-verify=false"]);
    if let Some(creds) = creds {
        let side = if src.starts_with("docker://") {
            "--src-creds"
        } else {
            "--dest-creds"
        };
        cmd.arg(side).arg(creds);
    }
    run(cmd.arg(src).arg(dest), Duration::from_secs(300)).ok();
}

/// Pushes a fresh image as `repo:tag` and checks it pulls back identical.
fn push_and_pull(host: &str, scratch: &Path, creds: Option<&str>, tag: &str) {
    let image = mkoci(&scratch.join(format!("push-{tag}")), tag, &unique_name("operator e2e "));
    let remote = format!("docker://{host}/{USERNAME}/operator-e2e:{tag}");
    skopeo_copy(&image.reference(), &remote, creds);
    pull_matches(&remote, scratch, creds, &image.manifest_digest);
}

fn pull_matches(remote: &str, scratch: &Path, creds: Option<&str>, manifest_digest: &str) {
    let into = scratch.join(unique_name("pulled-"));
    skopeo_copy(remote, &format!("dir:{}", into.display()), creds);
    let manifest = fs::read(into.join("manifest.json")).expect("pulled manifest.json");
    assert_eq!(
        digest_of(&manifest),
        manifest_digest,
        "{remote} pulls back byte for byte"
    );
}

/// The registry Deployment's generation and pod template.
fn app_rollout_state(kubectl: &Kubectl) -> Option<(i64, String)> {
    let deployment = kubectl.json(&["deployment", APP_DEPLOYMENT])?;
    let generation = deployment["metadata"]["generation"].as_i64()?;
    Some((generation, deployment["spec"]["template"].to_string()))
}

/// Applies the CRD, a fresh namespace, the bundle Secret (config.yaml and a
/// certificate for localhost) and the QuayRegistry. Returns the cleanup
/// guard and the local port the endpoint will be forwarded to.
fn install_registry(scratch: &Path) -> (Cleanup, u16) {
    let namespace = unique_name("e2e-operator-");
    let crd = workspace_root().join("crds/quayregistries.crd.yaml");
    run(Command::new("kubectl").arg("apply").arg("-f").arg(crd), KUBECTL_TIMEOUT).ok();
    let established = "--for=condition=established";
    run(
        Command::new("kubectl").args([
            "wait",
            established,
            "crd/quayregistries.quay.redhat.com",
            "--timeout=60s",
        ]),
        KUBECTL_TIMEOUT,
    )
    .ok();
    run(
        Command::new("kubectl").args(["create", "namespace", &namespace]),
        KUBECTL_TIMEOUT,
    )
    .ok();
    let cleanup = Cleanup {
        kubectl: Kubectl {
            namespace: namespace.clone(),
        },
        operator: None,
        port_forward: None,
        operator_log: scratch.join("operator.log"),
    };

    let port = free_port();
    let (cert, key) = self_signed_cert(scratch);
    let config = scratch.join("config.yaml");
    fs::write(&config, bundle_config(port, "")).expect("write config.yaml");
    let from = |name: &str, path: &Path| format!("--from-file={name}={}", path.display());
    let (config, cert, key) = (
        from("config.yaml", &config),
        from("ssl.cert", &cert),
        from("ssl.key", &key),
    );
    cleanup
        .kubectl
        .run(&["create", "secret", "generic", BUNDLE, &config, &cert, &key])
        .ok();
    let cr = scratch.join("quayregistry.yaml");
    fs::write(&cr, quay_registry_yaml(&namespace)).expect("write QuayRegistry");
    cleanup.kubectl.run(&["apply", "-f", &cr.display().to_string()]).ok();
    (cleanup, port)
}

/// Changes the bundle's config.yaml and waits until the registry Deployment
/// has rolled to a new pod template (the content-hashed config Secret).
fn change_bundle_and_wait_for_roll(cleanup: &Cleanup, port: u16) {
    let before = app_rollout_state(&cleanup.kubectl).expect("the registry Deployment exists");
    let changed = bundle_config(port, "REGISTRY_TITLE: Operator e2e (changed)\n");
    let patch = serde_json::json!({"stringData": {"config.yaml": changed}}).to_string();
    cleanup
        .kubectl
        .run(&["patch", "secret", BUNDLE, "--type=merge", "-p", &patch])
        .ok();
    wait_for(
        "the registry Deployment to pick up the changed bundle",
        rollout_timeout(),
        || {
            app_rollout_state(&cleanup.kubectl)
                .filter(|(generation, template)| *generation > before.0 && *template != before.1)
        },
        || cleanup.operator_log_tail(),
    );
    let timeout = format!("--timeout={}s", rollout_timeout().as_secs());
    let deployment = format!("deployment/{APP_DEPLOYMENT}");
    cleanup.kubectl.run(&["rollout", "status", &deployment, &timeout]).ok();
    wait_available(cleanup);
}

/// Deletes the QuayRegistry (the operator's finalizer must let it go) and
/// waits for its objects to be garbage collected.
fn delete_registry(cleanup: &Cleanup) {
    let timeout = format!("--timeout={}s", rollout_timeout().as_secs());
    cleanup
        .kubectl
        .run(&["delete", "quayregistry", CR, "--wait=true", &timeout])
        .ok();
    wait_for(
        "the registry Deployment to be garbage collected",
        rollout_timeout(),
        || app_rollout_state(&cleanup.kubectl).is_none().then_some(()),
        || cleanup.operator_log_tail(),
    );
}

#[test]
#[ignore = "needs a Kubernetes cluster (KUBECONFIG) and the operator binary; \
            run with `cargo test -p e2e --test operator -- --ignored`"]
fn operator_deploys_a_registry_that_serves_rolls_on_bundle_changes_and_deletes() {
    if env_var("KUBECONFIG").is_none() {
        assert!(!in_ci(), "CI=true but no KUBECONFIG; refusing to skip the operator e2e");
        eprintln!("SKIPPED: no KUBECONFIG; the operator e2e needs a real cluster");
        return;
    }
    let scratch = TempDir::with_prefix("e2e-operator-").expect("temp dir");
    let scratch = scratch.path();
    let version = env_var("E2E_QUAY_VERSION").unwrap_or_else(|| "0.1.0".into());
    let (mut cleanup, port) = install_registry(scratch);

    start_operator(&mut cleanup, &version);
    let registry = wait_available(&cleanup);
    assert_eq!(
        registry["status"]["currentVersion"],
        version.as_str(),
        "migrations ran for {version}"
    );
    let endpoint = format!("https://localhost:{port}");
    assert_eq!(registry["status"]["registryEndpoint"], endpoint.as_str());
    let components = &registry["spec"]["components"];
    assert!(
        components.as_array().is_some_and(|c| c.len() == 11),
        "the operator keeps every component listed: {components:#}"
    );

    // Push and pull through the reconciled endpoint.
    port_forward(&mut cleanup, port);
    let host = format!("localhost:{port}");
    let creds = create_user(&endpoint);
    let first = mkoci(&scratch.join("first"), "v1", &unique_name("operator e2e first "));
    let first_remote = format!("docker://{host}/{USERNAME}/operator-e2e:v1");
    skopeo_copy(&first.reference(), &first_remote, creds.as_deref());
    pull_matches(&first_remote, scratch, creds.as_deref(), &first.manifest_digest);

    change_bundle_and_wait_for_roll(&cleanup, port);
    port_forward(&mut cleanup, port);
    push_and_pull(&host, scratch, creds.as_deref(), "after-roll");
    if env_var("E2E_S3_HOST").is_some() {
        pull_matches(&first_remote, scratch, creds.as_deref(), &first.manifest_digest);
    }

    cleanup.stop_port_forward();
    delete_registry(&cleanup);
}
