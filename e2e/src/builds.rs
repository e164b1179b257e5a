//! What build tests share: container tool settings kept in a test's own
//! folder, buildah, a busybox base image pushed to the registry, and the
//! build API as one user.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::process::{run, Outcome};
use crate::{in_ci, is_root};

/// How long one build may take in a test.
pub const BUILD_DEADLINE: Duration = Duration::from_secs(300);
/// Phases after which a build does not change any more.
pub const FINAL_PHASES: [&str; 5] = ["complete", "error", "internalerror", "expired", "cancelled"];

/// Whether builds can run here (root, buildah, a static busybox); in CI
/// their absence fails the test.
pub fn builds_possible() -> bool {
    let ok =
        is_root() && Path::new("/bin/busybox").exists() && Command::new("buildah").arg("--version").output().is_ok();
    assert!(ok || !in_ci(), "builds need root, buildah and /bin/busybox");
    if !ok {
        eprintln!("skipped: builds need root, buildah and /bin/busybox");
    }
    ok
}

/// Container tool settings that keep every store in `dir`, for the
/// registry's builders and for the test's own buildah.
pub fn containers_env(dir: &Path, host: &str) -> Vec<(&'static str, String)> {
    let d = dir.display();
    for sub in ["run", "root", "tmp"] {
        fs::create_dir_all(dir.join(sub)).expect("container dirs");
    }
    let files = [
        ("storage.conf", format!("[storage]\ndriver = \"vfs\"\nrunroot = \"{d}/run\"\ngraphroot = \"{d}/root\"\n")),
        (
            "containers.conf",
            format!("[engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\nevents_logfile_path = \"{d}/events.log\"\ntmp_dir = \"{d}/tmp\"\n"),
        ),
        (
            "registries.conf",
            format!("unqualified-search-registries = []\n[[registry]]\nlocation = \"{host}\"\ninsecure = true\n"),
        ),
        ("auth.json", "{\"auths\":{}}\n".to_owned()),
    ];
    for (name, text) in files {
        fs::write(dir.join(name), text).expect("container config");
    }
    vec![
        ("CONTAINERS_STORAGE_CONF", format!("{d}/storage.conf")),
        ("CONTAINERS_CONF", format!("{d}/containers.conf")),
        ("CONTAINERS_REGISTRIES_CONF", format!("{d}/registries.conf")),
        ("REGISTRY_AUTH_FILE", format!("{d}/auth.json")),
        ("TMPDIR", format!("{d}/tmp")),
    ]
}

pub fn buildah(vars: &[(&str, String)], args: &[&str]) -> Outcome {
    let mut cmd = Command::new("buildah");
    cmd.args(args).envs(vars.iter().map(|(k, v)| (*k, v.as_str())));
    run(&mut cmd, Duration::from_secs(120))
}

/// Every phase a successful build goes through, in order.
pub const SUCCESS_PHASES: [&str; 6] = [
    "build-scheduled",
    "unpacking",
    "pulling",
    "building",
    "pushing",
    "complete",
];

/// The messages of a build log's entries of `kind` (`phase`, `command`, …).
pub fn entries<'a>(logs: &'a [Value], kind: &str) -> Vec<&'a str> {
    logs.iter()
        .filter(|l| l["type"] == kind)
        .filter_map(|l| l["message"].as_str())
        .collect()
}

/// `skopeo inspect` of `image` (`host/repo:tag`) on a plain-HTTP registry.
pub fn inspect(image: &str, creds: &str) -> Value {
    let mut cmd = Command::new("skopeo");
    let reference = format!("docker://{image}");
    cmd.args(["inspect", "--tls-verify=false", "--creds", creds, &reference]);
    serde_json::from_str(&run(&mut cmd, Duration::from_secs(60)).ok()).expect("inspect JSON")
}

/// Pulls `image` with the test's buildah and reads `files` from its root
/// file system.
pub fn read_image_files(vars: &[(&str, String)], image: &str, creds: &str, files: &[&str]) -> Vec<String> {
    buildah(vars, &["pull", "--tls-verify=false", "--creds", creds, image]).ok();
    let container = buildah(vars, &["from", "--pull=never", image]).ok();
    let container = container.trim();
    let mount = buildah(vars, &["mount", container]).ok();
    let root = Path::new(mount.trim());
    let contents = files
        .iter()
        .map(|f| fs::read_to_string(root.join(f)).unwrap_or_else(|e| panic!("{f} in {image}: {e}")))
        .collect();
    buildah(vars, &["rm", container]).ok();
    contents
}

/// The build API of a registry, as one user (an OAuth token).
pub struct BuildApi {
    pub base: String,
    pub token: String,
    pub http: reqwest::blocking::Client,
}

impl BuildApi {
    /// Initializes the registry's first user (`FEATURE_USER_INITIALIZE`)
    /// and acts as it.
    pub fn initialize(base: &str, username: &str, password: &str) -> BuildApi {
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let body = json!({"username": username, "password": password, "email": "b@example.com", "access_token": true});
        let init: Value = http
            .post(format!("{base}/api/v1/user/initialize"))
            .json(&body)
            .send()
            .and_then(|r| r.json())
            .expect("initialize");
        BuildApi {
            base: base.to_owned(),
            token: init["access_token"].as_str().expect("access_token").to_owned(),
            http,
        }
    }

    pub fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}/api/v1{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().expect("API call");
        let status = res.status().as_u16();
        (status, res.json().unwrap_or(Value::Null))
    }

    /// Drops and uploads a build context; returns its file id.
    pub fn upload(&self, mime: &str, bytes: Vec<u8>) -> String {
        let (status, drop) = self.call(reqwest::Method::POST, "/filedrop/", Some(json!({"mimeType": mime})));
        assert_eq!(status, 200, "{drop}");
        let url = drop["url"].as_str().expect("url").replace("https://", "http://");
        let res = self.http.put(&url).body(bytes).send().expect("PUT userfile");
        assert_eq!(res.status(), 200);
        drop["file_id"].as_str().expect("file_id").to_owned()
    }

    /// Requests a build and polls it until it finishes; returns the final
    /// build and the phases seen while polling.
    pub fn build(&self, repo: &str, file_id: &str, tags: &[&str]) -> (Value, Vec<String>) {
        let uuid = self.start(repo, file_id, tags);
        self.wait(repo, &uuid, |_| false)
    }

    /// Requests a build; returns its uuid.
    pub fn start(&self, repo: &str, file_id: &str, tags: &[&str]) -> String {
        let body = json!({"file_id": file_id, "docker_tags": tags});
        let (status, build) = self.call(reqwest::Method::POST, &format!("/repository/{repo}/build/"), Some(body));
        assert_eq!(status, 201, "{build}");
        build["id"].as_str().expect("id").to_owned()
    }

    /// A build's status.
    pub fn status(&self, repo: &str, uuid: &str) -> Value {
        let (status, build) = self.call(
            reqwest::Method::GET,
            &format!("/repository/{repo}/build/{uuid}/status"),
            None,
        );
        assert_eq!(status, 200, "{build}");
        build
    }

    /// Polls a build until it finishes or `until` holds for its phase;
    /// returns the last status and the phases seen.
    pub fn wait(&self, repo: &str, uuid: &str, until: impl Fn(&str) -> bool) -> (Value, Vec<String>) {
        let deadline = Instant::now() + BUILD_DEADLINE;
        let mut seen: Vec<String> = Vec::new();
        loop {
            let build = self.status(repo, uuid);
            let phase = build["phase"].as_str().unwrap_or_default().to_owned();
            if seen.last() != Some(&phase) {
                seen.push(phase.clone());
            }
            if until(&phase) || ["complete", "error", "internalerror", "expired", "cancelled"].contains(&phase.as_str())
            {
                return (build, seen);
            }
            assert!(Instant::now() < deadline, "build {uuid} still {phase}; phases {seen:?}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The repository's builds, newest first.
    pub fn builds(&self, repo: &str) -> Vec<Value> {
        let (status, body) = self.call(
            reqwest::Method::GET,
            &format!("/repository/{repo}/build/?limit=50"),
            None,
        );
        assert_eq!(status, 200, "{body}");
        body["builds"].as_array().cloned().unwrap_or_default()
    }

    pub fn logs(&self, repo: &str, uuid: &str) -> Vec<Value> {
        let (status, logs) = self.call(
            reqwest::Method::GET,
            &format!("/repository/{repo}/build/{uuid}/logs"),
            None,
        );
        assert_eq!(status, 200, "{logs}");
        logs["logs"].as_array().cloned().unwrap_or_default()
    }

    /// Builds a base image whose shell is the host's static busybox with
    /// the test's buildah, pushes it as `<host>/<user>/base:1` and makes it
    /// public so every build can pull it; returns its name.
    pub fn push_busybox_base(&self, vars: &[(&str, String)], work: &Path, host: &str, creds: (&str, &str)) -> String {
        let ctx = work.join("base");
        fs::create_dir_all(&ctx).expect("base dir");
        fs::copy("/bin/busybox", ctx.join("busybox")).expect("busybox");
        fs::write(ctx.join("Dockerfile"), "FROM scratch\nCOPY busybox /bin/sh\n").expect("Dockerfile");
        let (user, password) = creds;
        let base = format!("{host}/{user}/base:1");
        let dir = ctx.display().to_string();
        buildah(vars, &["bud", "--isolation", "chroot", "-t", &base, &dir]).ok();
        let login = format!("{user}:{password}");
        buildah(vars, &["push", "--tls-verify=false", "--creds", &login, &base]).ok();
        let (status, body) = self.call(
            reqwest::Method::POST,
            &format!("/repository/{user}/base/changevisibility"),
            Some(json!({"visibility": "public"})),
        );
        assert_eq!(status, 200, "{body}");
        base
    }
}
