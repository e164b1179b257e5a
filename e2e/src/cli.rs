//! The `registry` binary driven through its command line, the way an operator
//! would: one-shot subcommands (`migrate`, `config validate`) and `serve`
//! processes with any flags, their stdout and stderr kept apart.

use std::fs::{self, File};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::backing::{PgDatabase, S3Bucket};
use crate::process::{run, Outcome};
use crate::registry::{quay_config, S3_SECRET_KEY};
use crate::{Backend, TestEnv};

const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);
const START_TIMEOUT: Duration = Duration::from_secs(90);

/// `registry` run inside `cwd`, with no AWS CA bundle or instance-metadata
/// lookups, no colours and info logs.
pub fn registry_command(env: &TestEnv, cwd: &Path) -> Command {
    let mut cmd = Command::new(&env.registry_bin);
    cmd.current_dir(cwd)
        .env_remove("AWS_CA_BUNDLE")
        .env_remove("REGISTRY_CONFIG")
        .env_remove("REGISTRY_DATA_DIR")
        .env_remove("REGISTRY_LISTEN")
        .env_remove("REGISTRY_TLS_LISTEN")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("NO_COLOR", "1");
    if std::env::var_os("RUST_LOG").is_none() {
        cmd.env("RUST_LOG", "info");
    }
    cmd
}

/// Runs `registry ARGS…` inside `cwd` to completion.
pub fn run_registry<S: AsRef<str>>(env: &TestEnv, cwd: &Path, args: &[S]) -> Outcome {
    let mut cmd = registry_command(env, cwd);
    cmd.args(args.iter().map(AsRef::as_ref));
    run(&mut cmd, COMMAND_TIMEOUT)
}

/// Whether something accepts TCP connections on `127.0.0.1:port`.
pub fn listening(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok()
}

/// How to lay out a [`Deployment`].
#[derive(Debug, Clone, Copy)]
pub struct DeploymentSpec<'a> {
    /// `SERVER_HOSTNAME` in config.yaml.
    pub server_hostname: &'a str,
    /// `PREFERRED_URL_SCHEME` in config.yaml.
    pub scheme: &'a str,
    /// Write a config.yaml even on SQLite + filesystem (which needs none).
    pub sqlite_config: bool,
    /// A password for `DB_URI` when the admin URL carries none (`e2e/run`'s
    /// PostgreSQL trusts local connections, so any password is accepted).
    pub db_password: Option<&'a str>,
    /// `s3_secret_key` in config.yaml (moto accepts any).
    pub s3_secret_key: &'a str,
}

impl Default for DeploymentSpec<'_> {
    fn default() -> Self {
        DeploymentSpec {
            server_hostname: "127.0.0.1",
            scheme: "http",
            sqlite_config: false,
            db_password: None,
            s3_secret_key: S3_SECRET_KEY,
        }
    }
}

/// The storage of one registry deployment of a [`Backend`]: a data folder
/// (always; `--self-signed` keeps its certificates there) and, for
/// PostgreSQL + S3, a fresh database and bucket named in a config.yaml.
/// Everything is removed on `Drop`.
pub struct Deployment {
    pub backend: Backend,
    pub data_dir: PathBuf,
    /// `--config` file, in a folder of its own (Quay's config bundle).
    pub config: Option<PathBuf>,
    pub db: Option<PgDatabase>,
    /// `DB_URI` as written to config.yaml.
    pub db_url: Option<String>,
    pub bucket: Option<S3Bucket>,
    dir: TempDir,
}

impl Deployment {
    /// Fresh storage of `env.backend` with the default spec.
    pub fn new(env: &TestEnv) -> Deployment {
        Deployment::with_spec(env, DeploymentSpec::default())
    }

    /// Fresh storage whose config (if any) names `server_hostname`
    /// (`host:port`) and `scheme` as where clients reach the registry; Quay
    /// builds the token realm from them.
    pub fn for_host(env: &TestEnv, server_hostname: &str, scheme: &str) -> Deployment {
        Deployment::with_spec(
            env,
            DeploymentSpec {
                server_hostname,
                scheme,
                ..DeploymentSpec::default()
            },
        )
    }

    pub fn with_spec(env: &TestEnv, spec: DeploymentSpec<'_>) -> Deployment {
        let dir = tempfile::Builder::new().prefix("e2e-cli-").tempdir().expect("temp dir");
        let data_dir = dir.path().join("data");
        let config_dir = dir.path().join("config");
        fs::create_dir_all(&config_dir).expect("create config dir");
        let config_path = config_dir.join("config.yaml");
        let mut deployment = Deployment {
            backend: env.backend,
            data_dir,
            config: None,
            db: None,
            db_url: None,
            bucket: None,
            dir,
        };
        match env.backend {
            Backend::SqliteFs => {
                if spec.sqlite_config {
                    let text = format!(
                        "SERVER_HOSTNAME: {}\nPREFERRED_URL_SCHEME: {}\nFEATURE_MAILING: false\n",
                        spec.server_hostname, spec.scheme
                    );
                    fs::write(&config_path, text).expect("write config.yaml");
                    deployment.config = Some(config_path);
                }
            }
            Backend::PostgresS3 => {
                let admin = env.pg_admin_url.as_deref().expect("REGISTRY_TEST_PG_URL");
                let endpoint = env.s3_endpoint.as_deref().expect("REGISTRY_TEST_S3_ENDPOINT");
                let db = PgDatabase::create(admin);
                let bucket = S3Bucket::create(env, endpoint);
                let db_url = match spec.db_password {
                    Some(password) => with_password(&db.url, password),
                    None => db.url.clone(),
                };
                let text = quay_config(spec.server_hostname, spec.scheme, &db_url, &bucket, spec.s3_secret_key);
                fs::write(&config_path, text).expect("write config.yaml");
                deployment.config = Some(config_path);
                deployment.db = Some(db);
                deployment.db_url = Some(db_url);
                deployment.bucket = Some(bucket);
            }
        }
        deployment
    }

    /// The folder processes run in (holds `data/`, `config/` and logs).
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// The folder config.yaml is in; Quay looks for `ssl.cert`/`ssl.key` there.
    pub fn config_dir(&self) -> PathBuf {
        self.dir.path().join("config")
    }

    /// A scratch folder inside the deployment.
    pub fn scratch(&self, name: &str) -> PathBuf {
        let p = self.dir.path().join("scratch").join(name);
        fs::create_dir_all(&p).expect("create scratch dir");
        p
    }

    /// `--data-dir D` and, when there is a config, `--config C` (global
    /// flags, valid after any subcommand).
    pub fn args(&self) -> Vec<String> {
        let mut args = vec!["--data-dir".to_string(), self.data_dir.display().to_string()];
        if let Some(c) = &self.config {
            args.push("--config".into());
            args.push(c.display().to_string());
        }
        args
    }

    /// `registry <subcommand…> <storage args> <extra…>` to completion.
    pub fn run(&self, env: &TestEnv, subcommand: &[&str], extra: &[&str]) -> Outcome {
        let mut args: Vec<String> = subcommand.iter().map(|s| s.to_string()).collect();
        args.extend(self.args());
        args.extend(extra.iter().map(|s| s.to_string()));
        run_registry(env, self.root(), &args)
    }

    /// Spawns `registry serve <storage args> <extra…>` without waiting.
    pub fn spawn_serve(&self, env: &TestEnv, name: &str, extra: &[&str]) -> Server {
        let mut args = vec!["serve".to_string()];
        args.extend(self.args());
        args.extend(extra.iter().map(|s| s.to_string()));
        Server::spawn(env, self.root(), name, args)
    }

    /// `registry serve --listen 127.0.0.1:<http_port> <extra…>`, waited on
    /// until `/health/instance` answers 200.
    pub fn serve(&self, env: &TestEnv, name: &str, http_port: u16, extra: &[&str]) -> Server {
        let listen = format!("127.0.0.1:{http_port}");
        let mut all = vec!["--listen", listen.as_str()];
        all.extend_from_slice(extra);
        let mut server = self.spawn_serve(env, name, &all);
        server.wait_healthy(http_port);
        server
    }
}

/// `postgresql://user@host/db` with `password` added unless it has one.
fn with_password(db_url: &str, password: &str) -> String {
    match url::Url::parse(db_url) {
        Ok(mut u) if u.password().is_none() && !u.username().is_empty() => {
            if u.set_password(Some(password)).is_ok() {
                u.to_string()
            } else {
                db_url.to_string()
            }
        }
        _ => db_url.to_string(),
    }
}

/// One `registry` process (usually `serve`), killed on `Drop`; stdout and
/// stderr go to `<name>.stdout` / `<name>.stderr` in its folder.
pub struct Server {
    pub args: Vec<String>,
    child: Option<Child>,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Server {
    /// Starts `registry ARGS…` inside `cwd` and returns at once.
    pub fn spawn(env: &TestEnv, cwd: &Path, name: &str, args: Vec<String>) -> Server {
        let stdout = cwd.join(format!("{name}.stdout"));
        let stderr = cwd.join(format!("{name}.stderr"));
        let out = File::create(&stdout).expect("create stdout log");
        let err = File::create(&stderr).expect("create stderr log");
        let child = registry_command(env, cwd)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", env.registry_bin.display()));
        Server {
            args,
            child: Some(child),
            stdout,
            stderr,
        }
    }

    /// Everything written to stdout so far.
    pub fn stdout(&self) -> String {
        fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    /// Everything written to stderr so far.
    pub fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Both outputs, for failure messages.
    pub fn output(&self) -> String {
        format!("--- stdout:\n{}\n--- stderr:\n{}", self.stdout(), self.stderr())
    }

    /// The exit status if the process has ended.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.as_mut().and_then(|c| c.try_wait().ok().flatten())
    }

    /// Waits up to `timeout` for the process to end.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until `http://127.0.0.1:<port>/health/instance` answers 200;
    /// panics with the output if the process ends or takes too long.
    pub fn wait_healthy(&mut self, port: u16) {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .expect("http client");
        let url = format!("http://127.0.0.1:{port}/health/instance");
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.exited() {
                panic!(
                    "registry {:?} exited with {status} before becoming healthy\n{}",
                    self.args,
                    self.output()
                );
            }
            if let Ok(resp) = client.get(&url).send() {
                if resp.status() == reqwest::StatusCode::OK {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "registry {:?} not healthy after {START_TIMEOUT:?}\n{}",
                self.args,
                self.output()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// The first stdout line starting with `prefix`, waiting a little for it
    /// (the server may answer requests a moment before it prints).
    pub fn stdout_line(&self, prefix: &str) -> String {
        self.wait_line(&format!("starting with {prefix:?}"), |l| l.starts_with(prefix))
    }

    /// The first stdout line containing `needle`, waiting a little for it.
    pub fn stdout_line_with(&self, needle: &str) -> String {
        self.wait_line(&format!("containing {needle:?}"), |l| l.contains(needle))
    }

    fn wait_line(&self, what: &str, matches: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(line) = self.stdout().lines().find(|l| matches(l)) {
                return line.to_string();
            }
            assert!(
                Instant::now() < deadline,
                "registry {:?} printed no line {what}\n{}",
                self.args,
                self.output()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the process at once (SIGKILL).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        if thread::panicking() || std::env::var_os("E2E_SHOW_LOGS").is_some() {
            let tail = |text: String| {
                let lines: Vec<&str> = text.lines().collect();
                lines[lines.len().saturating_sub(100)..].join("\n")
            };
            eprintln!(
                "--- registry {:?}\n--- stdout (tail):\n{}\n--- stderr (tail):\n{}",
                self.args,
                tail(self.stdout()),
                tail(self.stderr())
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::with_password;

    #[test]
    fn a_password_is_added_to_database_urls_without_one() {
        assert_eq!(
            with_password("postgresql://postgres@127.0.0.1:5440/x", "pw"),
            "postgresql://postgres:pw@127.0.0.1:5440/x"
        );
        assert_eq!(
            with_password("postgresql://u:old@h:1/x?sslmode=disable", "pw"),
            "postgresql://u:old@h:1/x?sslmode=disable"
        );
    }
}
