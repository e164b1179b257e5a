//! One `registry serve` process with its own storage, killed on `Drop`.

use std::fs::{self, OpenOptions};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::backing::{PgDatabase, S3Bucket};
use crate::process::free_port;
use crate::{Backend, TestEnv};

const START_TIMEOUT: Duration = Duration::from_secs(90);
/// The account the tests push as, when the registry requires one.
pub const USERNAME: &str = "e2euser";
pub const PASSWORD: &str = "e2e-Passw0rd-long";

/// A running registry. Its data directory, database and bucket belong to it
/// alone and survive [`Registry::restart`].
pub struct Registry {
    pub env: TestEnv,
    /// The address it listens on (127.0.0.1 unless started with
    /// [`Registry::start_on`]).
    pub ip: String,
    pub port: u16,
    /// The port of its Prometheus `/metrics` listener.
    pub metrics_port: u16,
    dir: TempDir,
    child: Option<Child>,
    args: Vec<String>,
    /// Environment variables the registry process gets on top of ours.
    vars: Vec<(String, String)>,
    /// Basic-auth credentials clients should use, if the registry needs any.
    pub creds: Option<(String, String)>,
    // Dropped after the process is killed (fields drop after `Drop::drop`).
    _db: Option<PgDatabase>,
    _bucket: Option<S3Bucket>,
}

impl Registry {
    /// Starts a registry on fresh storage of `env.backend` and waits until
    /// `/health/instance` answers 200.
    pub fn start(env: &TestEnv) -> Registry {
        Registry::start_with(env, "", true)
    }

    /// Like [`Registry::start`], with `extra_yaml` appended to its
    /// `config.yaml`; with `bootstrap` false no account is created, so the
    /// database starts empty (for `POST /api/v1/user/initialize`).
    pub fn start_with(env: &TestEnv, extra_yaml: &str, bootstrap: bool) -> Registry {
        Registry::launch(env, extra_yaml, bootstrap, None)
    }

    /// Like [`Registry::start_with`], with environment variables for the
    /// registry process (and the builders it starts).
    pub fn start_with_env(env: &TestEnv, extra_yaml: &str, bootstrap: bool, vars: &[(&str, String)]) -> Registry {
        let mut registry = Registry::prepare(env, extra_yaml, None, "127.0.0.1");
        registry.vars = vars.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
        registry.finish_launch(bootstrap)
    }

    /// Like [`Registry::start_with_env`], listening on `ip` instead of the
    /// loopback (e.g. a test cluster's node address, for its pods);
    /// `$REGISTRY_HOST` in `extra_yaml` becomes its `ip:port`. No account is
    /// created (for `POST /api/v1/user/initialize`).
    pub fn start_on(env: &TestEnv, ip: &str, extra_yaml: &str, vars: &[(&str, String)]) -> Registry {
        let mut registry = Registry::prepare(env, extra_yaml, None, ip);
        registry.vars = vars.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
        registry.finish_launch(false)
    }

    /// Like [`Registry::start`] on SQLite + filesystem, with the database
    /// and blobs in `data` (e.g. a small file system the test mounted).
    pub fn start_in_data_dir(env: &TestEnv, data: PathBuf) -> Registry {
        assert_eq!(
            env.backend,
            Backend::SqliteFs,
            "a data directory is for SQLite + filesystem"
        );
        Registry::launch(env, "", true, Some(data))
    }

    fn launch(env: &TestEnv, extra_yaml: &str, bootstrap: bool, data: Option<PathBuf>) -> Registry {
        Registry::prepare(env, extra_yaml, data, "127.0.0.1").finish_launch(bootstrap)
    }

    fn prepare(env: &TestEnv, extra_yaml: &str, data: Option<PathBuf>, ip: &str) -> Registry {
        let dir = tempfile::Builder::new()
            .prefix("e2e-registry-")
            .tempdir()
            .expect("temp dir");
        let port = free_port();
        let metrics_port = free_port();
        let listen = format!("{ip}:{port}");
        let extra_yaml = &extra_yaml.replace("$REGISTRY_HOST", &listen);
        let (args, db, bucket) = match env.backend {
            Backend::SqliteFs => {
                let data = data.unwrap_or_else(|| dir.path().join("data"));
                fs::create_dir_all(&data).expect("create data dir");
                let mut args: Vec<String> = vec![
                    "serve".into(),
                    "--data-dir".into(),
                    data.display().to_string(),
                    "--listen".into(),
                    listen,
                    // TLS stays off, but should it come on it must not leave 127.0.0.1.
                    "--tls-listen".into(),
                    "127.0.0.1:0".into(),
                    "--metrics-listen".into(),
                    format!("127.0.0.1:{metrics_port}"),
                ];
                if !extra_yaml.is_empty() {
                    let config = dir.path().join("config.yaml");
                    fs::write(&config, extra_yaml).expect("write config.yaml");
                    args.extend(["--config".into(), config.display().to_string()]);
                }
                (args, None, None)
            }
            Backend::PostgresS3 => {
                let admin = env.pg_admin_url.as_deref().expect("REGISTRY_TEST_PG_URL");
                let endpoint = env.s3_endpoint.as_deref().expect("REGISTRY_TEST_S3_ENDPOINT");
                let db = PgDatabase::create(admin);
                let bucket = S3Bucket::create(env, endpoint);
                let config = dir.path().join("config.yaml");
                let base = quay_config(&format!("{ip}:{port}"), "http", &db.url, &bucket, S3_SECRET_KEY);
                let mut text = without_keys_of(&base, extra_yaml);
                text.push_str(extra_yaml);
                fs::write(&config, text).expect("write config.yaml");
                let args = vec![
                    "serve".into(),
                    "--config".into(),
                    config.display().to_string(),
                    "--listen".into(),
                    listen,
                    // TLS stays off, but should it come on it must not leave 127.0.0.1.
                    "--tls-listen".into(),
                    "127.0.0.1:0".into(),
                    "--metrics-listen".into(),
                    format!("127.0.0.1:{metrics_port}"),
                ];
                (args, Some(db), Some(bucket))
            }
        };
        Registry {
            env: env.clone(),
            ip: ip.to_owned(),
            port,
            metrics_port,
            dir,
            child: None,
            args,
            vars: Vec::new(),
            creds: None,
            _db: db,
            _bucket: bucket,
        }
    }

    fn finish_launch(self, bootstrap: bool) -> Registry {
        let mut registry = self;
        registry.spawn();
        if bootstrap {
            registry.creds = bootstrap_user(&registry.url(""));
        }
        registry
    }

    /// The registry's Prometheus metrics page.
    pub fn metrics_url(&self) -> String {
        format!("http://127.0.0.1:{}/metrics", self.metrics_port)
    }

    /// `127.0.0.1:PORT`, the registry host as clients name it.
    pub fn host(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }

    /// `http://IP:PORT` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.host())
    }

    /// The namespace the tests' repositories live in.
    pub fn namespace(&self) -> &str {
        self.creds.as_ref().map(|(u, _)| u.as_str()).unwrap_or(USERNAME)
    }

    /// `namespace/name`.
    pub fn repo(&self, name: &str) -> String {
        format!("{}/{name}", self.namespace())
    }

    /// `IP:PORT/namespace/name` (append `:tag` or `@digest`).
    pub fn image(&self, name: &str) -> String {
        format!("{}/{}", self.host(), self.repo(name))
    }

    /// `user:password` for clients' `--creds` flags.
    pub fn creds_arg(&self) -> Option<String> {
        self.creds.as_ref().map(|(u, p)| format!("{u}:{p}"))
    }

    /// The registry's own directory: `config.yaml` (when written) and, on
    /// SQLite + filesystem, `data/` (database and blobs), for running other
    /// subcommands (`registry gc`) on the same storage.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Creates the first user (a superuser when `SUPER_USERS` names it) the
    /// way the documentation does, `curl` to `/api/v1/user/initialize` with
    /// `access_token: true`; returns that OAuth access token. The registry
    /// must run with `FEATURE_USER_INITIALIZE: true`.
    pub fn initialize_user(&self, username: &str, password: &str) -> String {
        let base = self.url("");
        let init = crate::process::curl_json(
            &self.scratch("initialize"),
            &format!(
                "curl -s -X POST -H 'Content-Type: application/json' \
                 -d '{{\"username\":\"{username}\",\"password\":\"{password}\",\"email\":\"{username}@example.com\",\"access_token\":true}}' \
                 \"$BASE/api/v1/user/initialize\""
            ),
            &[("BASE", base.as_str())],
        );
        init["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no access_token in {init}"))
            .to_owned()
    }

    /// A scratch directory that lives as long as the registry.
    pub fn scratch(&self, name: &str) -> PathBuf {
        let p = self.dir.path().join("scratch").join(name);
        fs::create_dir_all(&p).expect("create scratch dir");
        p
    }

    /// Kills the process at once (SIGKILL, no graceful shutdown).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the process the way an orchestrator does (SIGTERM) and waits
    /// for it to exit; returns whether it exited successfully.
    pub fn stop_gracefully(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return true;
        };
        let signalled = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status()
            .is_ok_and(|s| s.success());
        assert!(signalled, "sending SIGTERM to the registry");
        child.wait().is_ok_and(|s| s.success())
    }

    /// Starts the process again after [`Registry::stop_gracefully`] or
    /// [`Registry::kill`], on the same port and storage.
    pub fn start_again(&mut self) {
        self.spawn();
    }

    /// Kills the process and starts it again on the same port and storage.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Everything the process wrote to stdout and stderr so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("registry.log")
    }

    fn spawn(&mut self) {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("open registry log");
        let log_err = log.try_clone().expect("clone log handle");
        let mut cmd = Command::new(&self.env.registry_bin);
        cmd.args(&self.args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .env_remove("AWS_CA_BUNDLE")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("NO_COLOR", "1")
            .envs(self.vars.iter().map(|(k, v)| (k, v)));
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "info");
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.env.registry_bin.display()));
        self.child = Some(child);
        self.wait_healthy();
    }

    fn wait_healthy(&mut self) {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .expect("http client");
        let url = self.url("/health/instance");
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!(
                        "registry {:?} exited with {status} before becoming healthy; log:\n{}",
                        self.args,
                        self.log()
                    );
                }
            }
            if let Ok(resp) = client.get(&url).send() {
                if resp.status() == reqwest::StatusCode::OK {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "registry {:?} not healthy after {START_TIMEOUT:?}; log:\n{}",
                self.args,
                self.log()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.kill();
        if thread::panicking() || std::env::var_os("E2E_SHOW_LOGS").is_some() {
            let log = self.log();
            let lines: Vec<&str> = log.lines().collect();
            let tail = &lines[lines.len().saturating_sub(200)..];
            eprintln!(
                "--- last {} lines of the registry log ({:?}):\n{}",
                tail.len(),
                self.env.backend,
                tail.join("\n")
            );
        }
    }
}

/// The S3 secret key the default configs use (moto accepts any).
pub const S3_SECRET_KEY: &str = "testing";

/// Creates the test account through Quay's `POST /api/v1/user/` on the
/// registry at `base_url` (`http://host:port`). Returns its credentials, or
/// `None` when the registry has no such endpoint (then clients talk to it
/// anonymously).
pub fn bootstrap_user(base_url: &str) -> Option<(String, String)> {
    let body = serde_json::json!({
        "username": USERNAME,
        "password": PASSWORD,
        "email": format!("{USERNAME}@example.com"),
    });
    let resp = reqwest::blocking::Client::new()
        .post(format!("{base_url}/api/v1/user/"))
        .json(&body)
        .send()
        .expect("POST /api/v1/user/");
    let status = resp.status();
    if status.is_success() {
        Some((USERNAME.to_string(), PASSWORD.to_string()))
    } else {
        eprintln!(
            "note: POST /api/v1/user/ answered {status}: {}; using anonymous clients",
            resp.text().unwrap_or_default()
        );
        None
    }
}

/// The top-level key of a YAML line, if it starts one.
fn top_level_key(line: &str) -> Option<&str> {
    if line.starts_with([' ', '-', '#']) {
        return None;
    }
    line.split_once(':').map(|(k, _)| k.trim())
}

/// `base` without its one-line top-level settings that `extra` sets again,
/// so appending `extra` overrides them (YAML refuses duplicate keys).
fn without_keys_of(base: &str, extra: &str) -> String {
    let overridden: Vec<&str> = extra.lines().filter_map(top_level_key).collect();
    base.lines()
        .filter(|line| {
            let one_line = line.split_once(':').is_some_and(|(_, v)| !v.trim().is_empty());
            !(one_line && top_level_key(line).is_some_and(|k| overridden.contains(&k)))
        })
        .map(|line| format!("{line}\n"))
        .collect()
}

/// A Quay `config.yaml` for PostgreSQL (`db_url`) and S3 storage in `bucket`.
pub fn quay_config(
    server_hostname: &str,
    scheme: &str,
    db_url: &str,
    bucket: &S3Bucket,
    s3_secret_key: &str,
) -> String {
    format!(
        "SERVER_HOSTNAME: {server_hostname}
PREFERRED_URL_SCHEME: {scheme}
DB_URI: {db_url}
AUTHENTICATION_TYPE: Database
SECRET_KEY: e2e-secret-key-{bucket}
DATABASE_SECRET_KEY: e2e-database-secret-key-{bucket}
FEATURE_MAILING: false
FEATURE_BUILD_SUPPORT: false
DISTRIBUTED_STORAGE_CONFIG:
  s3:
    - S3Storage
    - host: {s3_host}
      port: {s3_port}
      is_secure: false
      s3_bucket: {bucket}
      storage_path: /registry
      s3_access_key: testing
      s3_secret_key: {s3_secret_key}
      s3_region: us-east-1
DISTRIBUTED_STORAGE_PREFERENCE: [s3]
DISTRIBUTED_STORAGE_DEFAULT_LOCATIONS: [s3]
",
        s3_host = bucket.host,
        s3_port = bucket.port,
        bucket = bucket.name,
    )
}
