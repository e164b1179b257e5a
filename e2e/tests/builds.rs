//! Builds end to end: a Dockerfile build requested through the API runs on
//! the local executor (`registry builder` with buildah), streams its phases
//! and log lines, pushes its tags, and a failing build ends in `error`.
//!
//! Needs root, buildah and a static busybox (`/bin/busybox`, the base
//! image's shell); elsewhere the test is skipped, in CI it fails.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use e2e::process::{run, Outcome};
use e2e::{backend_tests, in_ci, is_root, Registry, TestEnv};
use serde_json::{json, Value};

backend_tests!(a_requested_build_runs_pushes_its_tags_and_a_failing_one_reports_its_error);

const ADMIN: &str = "builder";
const PASSWORD: &str = "builder-Passw0rd";
const BUILD_DEADLINE: Duration = Duration::from_secs(300);

/// Container tool settings that keep every store in `dir`, for the
/// registry's builders and for the test's own buildah.
fn containers_env(dir: &Path, host: &str) -> Vec<(&'static str, String)> {
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

fn buildah(vars: &[(&str, String)], args: &[&str]) -> Outcome {
    let mut cmd = Command::new("buildah");
    cmd.args(args).envs(vars.iter().map(|(k, v)| (*k, v.as_str())));
    run(&mut cmd, Duration::from_secs(120))
}

/// The API as the registry's first user.
struct Api {
    base: String,
    token: String,
    http: reqwest::blocking::Client,
}

impl Api {
    fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
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
    fn upload(&self, mime: &str, bytes: Vec<u8>) -> String {
        let (status, drop) = self.call(reqwest::Method::POST, "/filedrop/", Some(json!({"mimeType": mime})));
        assert_eq!(status, 200, "{drop}");
        let url = drop["url"].as_str().expect("url").replace("https://", "http://");
        let res = self.http.put(&url).body(bytes).send().expect("PUT userfile");
        assert_eq!(res.status(), 200);
        drop["file_id"].as_str().expect("file_id").to_owned()
    }

    /// Requests a build and polls it until it finishes; returns the final
    /// build and the phases seen while polling.
    fn build(&self, repo: &str, file_id: &str, tags: &[&str]) -> (Value, Vec<String>) {
        let body = json!({"file_id": file_id, "docker_tags": tags});
        let (status, build) = self.call(reqwest::Method::POST, &format!("/repository/{repo}/build/"), Some(body));
        assert_eq!(status, 201, "{build}");
        let uuid = build["id"].as_str().expect("id").to_owned();
        let deadline = Instant::now() + BUILD_DEADLINE;
        let mut seen: Vec<String> = Vec::new();
        loop {
            let (_, build) = self.call(
                reqwest::Method::GET,
                &format!("/repository/{repo}/build/{uuid}/status"),
                None,
            );
            let phase = build["phase"].as_str().unwrap_or_default().to_owned();
            if seen.last() != Some(&phase) {
                seen.push(phase.clone());
            }
            if ["complete", "error", "internalerror", "expired", "cancelled"].contains(&phase.as_str()) {
                return (build, seen);
            }
            assert!(Instant::now() < deadline, "build {uuid} still {phase}; phases {seen:?}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn logs(&self, repo: &str, uuid: &str) -> Vec<Value> {
        let (status, logs) = self.call(
            reqwest::Method::GET,
            &format!("/repository/{repo}/build/{uuid}/logs"),
            None,
        );
        assert_eq!(status, 200, "{logs}");
        logs["logs"].as_array().cloned().unwrap_or_default()
    }
}

fn prerequisites() -> bool {
    let ok =
        is_root() && Path::new("/bin/busybox").exists() && Command::new("buildah").arg("--version").output().is_ok();
    assert!(ok || !in_ci(), "builds need root, buildah and /bin/busybox");
    if !ok {
        eprintln!("skipped: builds need root, buildah and /bin/busybox");
    }
    ok
}

fn a_requested_build_runs_pushes_its_tags_and_a_failing_one_reports_its_error(env: TestEnv) {
    if !prerequisites() {
        return;
    }
    let work = tempfile::tempdir().expect("temp dir");
    // The registry's builders and the test's buildah keep separate stores,
    // so the build really pulls its base image from the registry.
    let builders = work.path().join("builders");
    let mine = work.path().join("mine");
    let config = format!("FEATURE_USER_INITIALIZE: true\nSUPER_USERS: [{ADMIN}]\nFEATURE_BUILD_SUPPORT: true\n");
    // Builders pass --tls-verify=false for a plain-HTTP manager themselves;
    // the host is marked insecure for the test's buildah only.
    let builder_vars = containers_env(&builders, "127.0.0.1");
    let reg = Registry::start_with_env(&env, &config, false, &builder_vars);
    let host = reg.host();
    let vars = containers_env(&mine, &host);

    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client");
    let init: Value = http
        .post(reg.url("/api/v1/user/initialize"))
        .json(&json!({"username": ADMIN, "password": PASSWORD, "email": "b@example.com", "access_token": true}))
        .send()
        .and_then(|r| r.json())
        .expect("initialize");
    let api = Api {
        base: reg.url(""),
        token: init["access_token"].as_str().expect("access_token").to_owned(),
        http,
    };

    // A base image with busybox as its shell, public so any build pulls it.
    let base_ctx = work.path().join("base");
    fs::create_dir_all(&base_ctx).expect("base dir");
    fs::copy("/bin/busybox", base_ctx.join("busybox")).expect("busybox");
    fs::write(base_ctx.join("Dockerfile"), "FROM scratch\nCOPY busybox /bin/sh\n").expect("Dockerfile");
    let base = format!("{host}/{ADMIN}/base:1");
    let ctx = base_ctx.display().to_string();
    buildah(&vars, &["bud", "--isolation", "chroot", "-t", &base, &ctx]).ok();
    let creds = format!("{ADMIN}:{PASSWORD}");
    buildah(&vars, &["push", "--tls-verify=false", "--creds", &creds, &base]).ok();
    let (status, body) = api.call(
        reqwest::Method::POST,
        &format!("/repository/{ADMIN}/base/changevisibility"),
        Some(json!({"visibility": "public"})),
    );
    assert_eq!(status, 200, "{body}");
    let new_repo = json!({"namespace": ADMIN, "repository": "app", "visibility": "private", "description": ""});
    let (status, body) = api.call(reqwest::Method::POST, "/repository", Some(new_repo));
    assert_eq!(status, 201, "{body}");

    // A context archive: Dockerfile with RUN, COPY and an expiry label.
    let app_ctx = work.path().join("app");
    fs::create_dir_all(&app_ctx).expect("app dir");
    fs::write(app_ctx.join("hello.txt"), "hello from the context\n").expect("hello");
    fs::write(
        app_ctx.join("Dockerfile"),
        format!(
            "FROM {base}\nRUN echo built-by-run > /run.txt\nCOPY hello.txt /hello.txt\nLABEL quay.expires-after=2h\n"
        ),
    )
    .expect("Dockerfile");
    let archive = work.path().join("ctx.tar.gz");
    let mut tar = Command::new("tar");
    tar.arg("-czf").arg(&archive).arg("-C").arg(&app_ctx).arg(".");
    run(&mut tar, Duration::from_secs(30)).ok();
    let file_id = api.upload("application/x-tar", fs::read(&archive).expect("archive"));

    let repo = format!("{ADMIN}/app");
    let started = Instant::now();
    let (build, seen) = api.build(&repo, &file_id, &["v1", "latest"]);
    let took = started.elapsed();
    let uuid = build["id"].as_str().expect("id").to_owned();
    assert_eq!(
        build["phase"],
        "complete",
        "{build}; phases {seen:?}; log:\n{}",
        reg.log()
    );
    eprintln!("a small build took {took:?} end to end; phases polled: {seen:?}");

    let logs = api.logs(&repo, &uuid);
    let phases: Vec<&str> = logs
        .iter()
        .filter(|l| l["type"] == "phase")
        .filter_map(|l| l["message"].as_str())
        .collect();
    assert_eq!(
        phases,
        [
            "build-scheduled",
            "unpacking",
            "pulling",
            "building",
            "pushing",
            "complete"
        ],
        "{logs:?}"
    );
    let commands: Vec<&str> = logs
        .iter()
        .filter(|l| l["type"] == "command")
        .filter_map(|l| l["message"].as_str())
        .collect();
    for step in [
        "RUN echo built-by-run",
        "COPY hello.txt /hello.txt",
        "LABEL quay.expires-after=2h",
    ] {
        assert!(commands.iter().any(|c| c.contains(step)), "{step} in {commands:?}");
    }
    assert!(!logs
        .iter()
        .any(|l| l["message"].as_str().is_some_and(|m| m.contains(&api.token))));

    for tag in ["v1", "latest"] {
        let image = format!("docker://{host}/{repo}:{tag}");
        let mut inspect = Command::new("skopeo");
        inspect.args([
            "inspect",
            "--tls-verify=false",
            "--creds",
            &format!("{ADMIN}:{PASSWORD}"),
            &image,
        ]);
        let info: Value = serde_json::from_str(&run(&mut inspect, Duration::from_secs(60)).ok()).expect("inspect JSON");
        assert_eq!(info["Labels"]["quay.expires-after"], "2h", "{image}: {info}");
    }
    let built = format!("{host}/{repo}:v1");
    buildah(&vars, &["pull", "--tls-verify=false", "--creds", &creds, &built]).ok();
    let container = buildah(&vars, &["from", "--pull=never", &built]).ok();
    let container = container.trim();
    let mount = buildah(&vars, &["mount", container]).ok();
    let root = Path::new(mount.trim());
    assert_eq!(
        fs::read_to_string(root.join("run.txt")).expect("run.txt"),
        "built-by-run\n"
    );
    assert_eq!(
        fs::read_to_string(root.join("hello.txt")).expect("hello.txt"),
        "hello from the context\n"
    );
    buildah(&vars, &["rm", container]).ok();

    // A Dockerfile uploaded on its own whose RUN fails.
    let failing = api.upload("text/plain", format!("FROM {base}\nRUN false\n").into_bytes());
    let (build, seen) = api.build(&repo, &failing, &["broken"]);
    assert_eq!(build["phase"], "error", "{build}; phases {seen:?}");
    let error = build["error"].as_str().unwrap_or_default();
    assert!(!error.is_empty(), "the error is shown: {build}");
    let logs = api.logs(&repo, build["id"].as_str().expect("id"));
    assert!(
        logs.iter().any(|l| l["type"] == "error" && l["message"] == error),
        "the error is in the log: {logs:?}"
    );
    assert!(logs.iter().any(|l| l["type"] == "phase" && l["message"] == "error"));
}
