//! A real Kubernetes cluster for the operator e2e: `kubectl`, waiting for
//! conditions, the test kit's facts (`kit.env`), an S3 server the pods can
//! reach, the stand-in for the Ingress controller the kit lacks, and the
//! memory of pods read from their cgroups.

use std::collections::BTreeMap;
use std::fs;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde_json::Value;

use crate::process::{free_port, run, Outcome};

/// How long one `kubectl` call may take.
pub const KUBECTL_TIMEOUT: Duration = Duration::from_secs(120);

/// Polls `probe` every second until it returns `Some`, or panics with `what`
/// and what `describe` reports about the last state.
pub fn wait_for<T>(
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
        thread::sleep(Duration::from_secs(1));
    }
}

/// `kubectl`, optionally in one namespace.
#[derive(Debug, Clone)]
pub struct Kubectl {
    pub namespace: Option<String>,
}

impl Kubectl {
    pub fn cluster() -> Kubectl {
        Kubectl { namespace: None }
    }

    pub fn in_namespace(namespace: &str) -> Kubectl {
        Kubectl {
            namespace: Some(namespace.to_string()),
        }
    }

    pub fn run(&self, args: &[&str]) -> Outcome {
        self.run_for(args, KUBECTL_TIMEOUT)
    }

    /// `kubectl ARGS` allowed to take up to `limit` (for `rollout status
    /// --timeout=...` and other waits longer than one ordinary call).
    pub fn run_for(&self, args: &[&str], limit: Duration) -> Outcome {
        let mut cmd = Command::new("kubectl");
        if let Some(ns) = &self.namespace {
            cmd.arg("--namespace").arg(ns);
        }
        run(cmd.args(args), limit)
    }

    /// `kubectl apply -f FILE` with `yaml` written to a temp file.
    pub fn apply(&self, yaml: &str) {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("object.yaml");
        fs::write(&file, yaml).expect("write manifest");
        self.run(&["apply", "-f", &file.display().to_string()]).ok();
    }

    /// Waits until the CustomResourceDefinition `name` is Established.
    /// `kubectl wait --for=condition=established` fails at once instead of
    /// waiting while a just-created CRD has no conditions yet, so this
    /// polls the condition itself.
    pub fn wait_crd_established(&self, name: &str) {
        let crd = format!("crd/{name}");
        wait_for(
            &format!("{crd} to be Established"),
            Duration::from_secs(60),
            || {
                let v = self.get(&[crd.as_str()])?;
                let conditions = v["status"]["conditions"].as_array()?;
                conditions
                    .iter()
                    .any(|c| c["type"] == "Established" && c["status"] == "True")
                    .then_some(())
            },
            || self.run(&["get", &crd, "-o", "yaml"]).stdout,
        );
    }

    /// `kubectl get ARGS -o json`; `None` when it does not exist (or fails).
    pub fn get(&self, args: &[&str]) -> Option<Value> {
        let mut all = vec!["get"];
        all.extend(args);
        all.extend(["-o", "json"]);
        let out = self.run(&all);
        out.success.then(|| serde_json::from_str(&out.stdout).ok()).flatten()
    }

    /// The `items` of `kubectl get KIND -l SELECTOR`.
    pub fn list(&self, kind: &str, selector: Option<&str>) -> Vec<Value> {
        let mut args = vec![kind];
        if let Some(s) = selector {
            args.extend(["-l", s]);
        }
        self.get(&args)
            .and_then(|v| v["items"].as_array().cloned())
            .unwrap_or_default()
    }

    /// The names of the objects of `kind` (optionally matching `selector`).
    pub fn names(&self, kind: &str, selector: Option<&str>) -> Vec<String> {
        let mut names: Vec<String> = self
            .list(kind, selector)
            .iter()
            .filter_map(|o| o["metadata"]["name"].as_str().map(String::from))
            .collect();
        names.sort();
        names
    }

    /// One key of a Secret, decoded.
    pub fn secret_data(&self, name: &str, key: &str) -> Option<Vec<u8>> {
        let secret = self.get(&["secret", name])?;
        let encoded = secret["data"][key].as_str()?;
        BASE64.decode(encoded).ok()
    }
}

/// A condition of an object's `status.conditions`: (status, reason, message).
pub fn condition(object: &Value, type_: &str) -> Option<(String, String, String)> {
    object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
        .map(|c| {
            let field = |k: &str| c[k].as_str().unwrap_or_default().to_string();
            (field("status"), field("reason"), field("message"))
        })
}

/// Whether a pod is Ready.
pub fn pod_ready(pod: &Value) -> bool {
    condition(pod, "Ready").is_some_and(|(status, ..)| status == "True")
}

/// Seconds from `earlier` to `later`, two RFC 3339 timestamps the API
/// server wrote.
pub fn seconds_between(earlier: &str, later: &str) -> Option<i64> {
    let parse = |t: &str| chrono::DateTime::parse_from_rfc3339(t).ok();
    Some((parse(later)? - parse(earlier)?).num_seconds())
}

/// The test kit's `kit.env` (`KEY=value` lines), when `E2E_KIT_ENV` names it.
pub fn kit_env() -> BTreeMap<String, String> {
    let Some(path) = std::env::var_os("E2E_KIT_ENV") else {
        return BTreeMap::new();
    };
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", Path::new(&path).display()));
    text.lines()
        .filter_map(|l| l.trim().trim_start_matches("export ").split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches(['"', '\'']).to_string()))
        .collect()
}

/// A child process killed when dropped.
pub struct Guarded(pub Child);

impl Drop for Guarded {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_listening(host: &str, port: u16, child: &mut Child, log: &Path) {
    wait_for(
        &format!("{host}:{port} to accept connections"),
        Duration::from_secs(60),
        || {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("exited with {status}: {}", fs::read_to_string(log).unwrap_or_default());
            }
            TcpStream::connect((host, port)).ok()
        },
        || fs::read_to_string(log).unwrap_or_default(),
    );
}

/// moto's S3 server on an address the cluster's pods reach (the kit's node
/// IP), with one bucket.
pub struct S3Server {
    pub host: String,
    pub port: u16,
    pub bucket: String,
    _child: Guarded,
}

impl S3Server {
    pub fn start(venv: &Path, host: &str, dir: &Path) -> S3Server {
        let port = free_port();
        let log = dir.join("moto.log");
        let mut child = Command::new(venv.join("bin/moto_server"))
            .args(["-H", host, "-p", &port.to_string()])
            .env_remove("AWS_CA_BUNDLE")
            .stdin(Stdio::null())
            .stdout(fs::File::create(&log).expect("moto log"))
            .stderr(fs::File::create(&log).expect("moto log"))
            .spawn()
            .expect("start moto_server");
        wait_listening(host, port, &mut child, &log);
        let bucket = "registry".to_string();
        let create = "import boto3, sys\n\
            s3 = boto3.client('s3', endpoint_url=sys.argv[1], aws_access_key_id='testing',\n\
            aws_secret_access_key='testing', region_name='us-east-1')\n\
            s3.create_bucket(Bucket=sys.argv[2])";
        run(
            Command::new(venv.join("bin/python"))
                .args(["-c", create, &format!("http://{host}:{port}"), &bucket])
                .env_remove("AWS_CA_BUNDLE"),
            Duration::from_secs(60),
        )
        .ok();
        S3Server {
            host: host.to_string(),
            port,
            bucket,
            _child: Guarded(child),
        }
    }
}

/// Stands in for the Ingress controller: terminates TLS on 127.0.0.1:`port`
/// with the certificate the Ingress names and forwards to its backend
/// Service (`scripts/ingress_standin.py`).
pub struct IngressStandIn {
    _child: Guarded,
}

impl IngressStandIn {
    /// Reads Ingress `name` (its first rule and TLS Secret) and starts
    /// serving it on 127.0.0.1:`port`.
    pub fn start(kubectl: &Kubectl, name: &str, port: u16, dir: &Path) -> IngressStandIn {
        let ingress = kubectl.get(&["ingress", name]).expect("the Ingress exists");
        let spec = &ingress["spec"];
        let backend = &spec["rules"][0]["http"]["paths"][0]["backend"]["service"];
        let service_name = backend["name"].as_str().expect("backend Service");
        let service = kubectl
            .get(&["service", service_name])
            .expect("the backend Service exists");
        let port_of = |p: &Value| -> bool {
            backend["port"]["name"]
                .as_str()
                .map_or_else(|| backend["port"]["number"] == p["port"], |n| p["name"] == n)
        };
        let service_port = service["spec"]["ports"]
            .as_array()
            .and_then(|ports| ports.iter().find(|p| port_of(p)))
            .and_then(|p| p["port"].as_u64())
            .expect("the backend port is on the Service");
        let cluster_ip = service["spec"]["clusterIP"].as_str().expect("ClusterIP").to_string();
        let secret = spec["tls"][0]["secretName"]
            .as_str()
            .expect("the Ingress has a TLS Secret");
        let (cert, key) = (dir.join("ingress-tls.crt"), dir.join("ingress-tls.key"));
        fs::write(&cert, kubectl.secret_data(secret, "tls.crt").expect("tls.crt")).expect("write cert");
        fs::write(&key, kubectl.secret_data(secret, "tls.key").expect("tls.key")).expect("write key");
        let log = dir.join("ingress-standin.log");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/ingress_standin.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args(["127.0.0.1", &port.to_string()])
            .arg(&cert)
            .arg(&key)
            .args([&cluster_ip, &service_port.to_string()])
            .stdin(Stdio::null())
            .stdout(fs::File::create(&log).expect("stand-in log"))
            .stderr(fs::File::create(&log).expect("stand-in log"))
            .spawn()
            .expect("start the Ingress stand-in");
        wait_listening("127.0.0.1", port, &mut child, &log);
        IngressStandIn { _child: Guarded(child) }
    }
}

/// Anonymous resident memory (bytes) of a container, read from its memory
/// cgroup on this host (the kit's node runs here). `None` where the cgroup
/// cannot be found.
pub fn container_memory(container_id: &str) -> Option<u64> {
    let id = container_id.rsplit("://").next()?;
    let roots = [PathBuf::from("/sys/fs/cgroup/memory"), PathBuf::from("/sys/fs/cgroup")];
    roots.iter().find_map(|root| {
        let dir = find_dir(root, id, 6)?;
        let stat = fs::read_to_string(dir.join("memory.stat")).ok()?;
        let field = |name: &str| {
            stat.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse::<u64>().ok())
        };
        field("total_rss").or_else(|| field("rss")).or_else(|| field("anon"))
    })
}

/// SIGKILLs every process of a container, found through its cgroup on this
/// host (the kit's node runs here); returns how many were killed.
pub fn kill_container(container_id: &str) -> usize {
    let Some(id) = container_id.rsplit("://").next() else {
        return 0;
    };
    let roots = [PathBuf::from("/sys/fs/cgroup/pids"), PathBuf::from("/sys/fs/cgroup")];
    let pids: Vec<String> = roots
        .iter()
        .find_map(|root| fs::read_to_string(find_dir(root, id, 6)?.join("cgroup.procs")).ok())
        .map(|procs| procs.split_whitespace().map(String::from).collect())
        .unwrap_or_default();
    for pid in &pids {
        let _ = Command::new("kill").args(["-KILL", pid]).status();
    }
    pids.len()
}

fn find_dir(dir: &Path, needle: &str, depth: usize) -> Option<PathBuf> {
    let entries = fs::read_dir(dir).ok()?;
    let mut subdirs = Vec::new();
    for entry in entries.flatten() {
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        if entry.file_name().to_string_lossy().contains(needle) {
            return Some(entry.path());
        }
        subdirs.push(entry.path());
    }
    if depth == 0 {
        return None;
    }
    subdirs.iter().find_map(|d| find_dir(d, needle, depth - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_between_api_server_timestamps() {
        assert_eq!(seconds_between("2026-02-28T23:59:59Z", "2026-03-01T00:00:01Z"), Some(2));
        assert_eq!(
            seconds_between("2026-03-01T00:00:01Z", "2026-02-28T23:59:59Z"),
            Some(-2)
        );
        assert_eq!(seconds_between("yesterday", "2026-03-01T00:00:01Z"), None);
    }
}
