//! The `registry` binary's command line and TLS, driven the way an operator
//! would: `serve --self-signed` and Quay's `ssl.cert`/`ssl.key` with clients
//! that verify certificates (skopeo, podman, curl), `config validate`, `serve`
//! refusing a bad config, `migrate` and `serve --no-migrate`, and what `serve`
//! prints and its health endpoints report.

use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use e2e::cli::{listening, run_registry, Deployment, DeploymentSpec, Server};
use e2e::process::{free_port, run, Outcome};
use e2e::registry::bootstrap_user;
use e2e::{backend_tests, digest_of, mkoci, unique_name, Backend, OciImage, Podman, TestEnv};

const TOOL_TIMEOUT: Duration = Duration::from_secs(180);

backend_tests!(
    self_signed_https_is_verified_by_skopeo_podman_and_curl_and_keeps_its_ca_across_restarts,
    ssl_cert_and_key_next_to_config_yaml_serve_https_that_verifies_against_that_cert,
    migrate_applies_each_migration_once_and_serve_no_migrate_uses_the_migrated_store,
    two_migrate_processes_started_at_once_both_succeed_and_apply_each_migration_once,
    serve_prints_its_address_and_data_locations_and_reports_database_and_storage_healthy,
);

/// The environment for tests whose subject does not depend on the backend.
fn sqlite_env() -> Option<TestEnv> {
    TestEnv::for_backend(Backend::SqliteFs)
}

// ---------------------------------------------------------------- helpers

/// `registry serve` flags for HTTPS on `127.0.0.1:<tls_port>`.
fn tls_listen(tls_port: u16) -> String {
    format!("127.0.0.1:{tls_port}")
}

/// The path in `trust this CA: <path>` on the server's stdout (relative
/// paths are relative to the process's folder).
fn printed_ca(server: &Server, cwd: &Path) -> PathBuf {
    const MARK: &str = "trust this CA: ";
    let line = server.stdout_line_with(MARK);
    let path = PathBuf::from(line.split(MARK).nth(1).unwrap_or_default().trim());
    let path = if path.is_relative() { cwd.join(path) } else { path };
    assert!(path.is_file(), "the printed CA {} does not exist", path.display());
    path
}

/// A folder holding `cert` as `ca.crt`, the layout skopeo's and podman's
/// `--cert-dir` flags expect.
fn cert_dir(dep: &Deployment, name: &str, cert: &Path) -> PathBuf {
    let dir = dep.scratch(name);
    fs::copy(cert, dir.join("ca.crt")).expect("copy CA into cert dir");
    dir
}

/// skopeo with registries.conf and auth file of its own, so no machine-wide
/// `insecure = true` entry can make a TLS check pass.
fn skopeo(dep: &Deployment, args: &[&str]) -> Outcome {
    let conf = dep.root().join("skopeo-registries.conf");
    let auth = dep.root().join("skopeo-auth.json");
    if !conf.exists() {
        fs::write(&conf, "unqualified-search-registries = []\n").expect("write registries.conf");
        fs::write(&auth, "{\"auths\":{}}\n").expect("write auth.json");
    }
    run(
        Command::new("skopeo")
            .args(args)
            .env("CONTAINERS_REGISTRIES_CONF", &conf)
            .env("REGISTRY_AUTH_FILE", &auth),
        TOOL_TIMEOUT,
    )
}

/// `--<side>-creds user:pass` when the registry has an account for the tests.
fn creds_flags(flag: &str, creds: &Option<(String, String)>) -> Vec<String> {
    creds
        .iter()
        .flat_map(|(u, p)| [flag.to_string(), format!("{u}:{p}")])
        .collect()
}

/// `org/app:v1`, or `<user>/app:v1` once the registry has accounts (the test
/// user owns its own namespace, not `org`).
fn app_image(creds: &Option<(String, String)>) -> String {
    let namespace = creds.as_ref().map(|(u, _)| u.as_str()).unwrap_or("org");
    format!("{namespace}/app:v1")
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// A small fresh OCI image in the deployment's scratch space.
fn small_image(dep: &Deployment, name: &str) -> OciImage {
    mkoci(&dep.scratch(name), "latest", &unique_name("cli test image "))
}

/// A `curl -i` answer.
#[derive(Debug)]
struct CurlAnswer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl CurlAnswer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// `curl -sS -i ARGS… URL`; the outcome plus the parsed answer on success.
fn curl(args: &[&str], url: &str) -> (Outcome, Option<CurlAnswer>) {
    let out = run(
        Command::new("curl")
            .args(["-sS", "-i", "--max-time", "30"])
            .args(args)
            .arg(url),
        TOOL_TIMEOUT,
    );
    let answer = out.success.then(|| parse_curl(&out.stdout));
    (out, answer)
}

fn parse_curl(text: &str) -> CurlAnswer {
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("curl printed no header block: {text}"));
    let mut lines = head.lines();
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    CurlAnswer {
        status,
        headers,
        body: body.to_string(),
    }
}

/// `curl --cacert CA URL` that must get through TLS and answer like a
/// registry's `/v2/`: 200, or 401 with a challenge when it has accounts.
fn expect_verified_v2(ca: &Path, extra: &[&str], url: &str) {
    let ca_arg = ca.display().to_string();
    let mut args = vec!["--cacert", ca_arg.as_str()];
    args.extend_from_slice(extra);
    let (out, answer) = curl(&args, url);
    let answer = answer.unwrap_or_else(|| panic!("curl {args:?} {url} failed: {}", out.stderr));
    expect_v2_answer(&answer, url);
}

fn expect_v2_answer(answer: &CurlAnswer, url: &str) {
    assert!(
        answer.status == 200 || (answer.status == 401 && answer.header("WWW-Authenticate").is_some()),
        "GET {url}: {answer:?}"
    );
    assert_eq!(
        answer.header("Docker-Distribution-API-Version"),
        Some("registry/2.0"),
        "GET {url}: {answer:?}"
    );
}

/// The `N` of `N migration(s) applied` on `registry migrate`'s stdout.
fn applied_count(out: &str) -> usize {
    let re = regex::Regex::new(r"(\d+) migrations?(\(s\))? applied").expect("regex");
    re.captures(out)
        .and_then(|c| c[1].parse().ok())
        .unwrap_or_else(|| panic!("`registry migrate` did not report how many migrations it applied: {out:?}"))
}

/// Which private-key encoding `openssl` should write.
#[derive(Debug, Clone, Copy)]
enum KeyKind {
    /// `BEGIN PRIVATE KEY`, what `openssl req -newkey` writes today.
    RsaPkcs8,
    /// `BEGIN RSA PRIVATE KEY`, common in older Quay bundles.
    RsaPkcs1,
    /// `BEGIN EC PRIVATE KEY` (P-256).
    EcSec1,
}

/// Writes `ssl.key` and a self-signed `ssl.cert` for 127.0.0.1 (with
/// `subjectAltName = IP:127.0.0.1`) into `dir` with the openssl CLI.
fn openssl_cert(dir: &Path, kind: KeyKind) {
    let key = dir.join("ssl.key");
    let cert = dir.join("ssl.cert");
    let (key_s, cert_s) = (key.display().to_string(), cert.display().to_string());
    let subject = [
        "-subj",
        "/CN=127.0.0.1",
        "-addext",
        "subjectAltName=IP:127.0.0.1",
        "-days",
        "2",
    ];
    let openssl = |args: &[&str]| {
        run(Command::new("openssl").args(args), TOOL_TIMEOUT).ok();
    };
    let (marker, key_cmd): (&str, Vec<&str>) = match kind {
        KeyKind::RsaPkcs8 => ("BEGIN PRIVATE KEY", vec![]),
        KeyKind::RsaPkcs1 => (
            "BEGIN RSA PRIVATE KEY",
            vec!["genrsa", "-traditional", "-out", key_s.as_str(), "2048"],
        ),
        KeyKind::EcSec1 => (
            "BEGIN EC PRIVATE KEY",
            vec![
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-noout",
                "-out",
                key_s.as_str(),
            ],
        ),
    };
    if key_cmd.is_empty() {
        let mut args = vec![
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            key_s.as_str(),
            "-out",
            cert_s.as_str(),
        ];
        args.extend_from_slice(&subject);
        openssl(&args);
    } else {
        openssl(&key_cmd);
        let mut args = vec!["req", "-x509", "-new", "-key", key_s.as_str(), "-out", cert_s.as_str()];
        args.extend_from_slice(&subject);
        openssl(&args);
    }
    let key_text = fs::read_to_string(&key).expect("read ssl.key");
    assert!(key_text.contains(marker), "openssl wrote no {marker} key for {kind:?}");
}

// ---------------------------------------------------------------- 1. --self-signed

fn self_signed_https_is_verified_by_skopeo_podman_and_curl_and_keeps_its_ca_across_restarts(env: TestEnv) {
    let (http_port, tls_port) = (free_port(), free_port());
    let tls = tls_listen(tls_port);
    let dep = Deployment::for_host(&env, &tls, "https");
    let serve_flags = ["--self-signed", "--tls-listen", tls.as_str()];
    let mut server = dep.serve(&env, "serve", http_port, &serve_flags);
    let ca = printed_ca(&server, dep.root());
    assert!(
        fs::read_to_string(&ca).expect("read CA").contains("BEGIN CERTIFICATE"),
        "{} is not a PEM certificate",
        ca.display()
    );
    server.stdout_line(&format!("registry listening on https://{tls}"));
    let certs = cert_dir(&dep, "certs", &ca);
    let certs_s = certs.display().to_string();
    let creds = bootstrap_user(&format!("http://127.0.0.1:{http_port}"));

    // curl trusts the server for both names the certificate is made for.
    expect_verified_v2(&ca, &[], &format!("https://{tls}/v2/"));
    let resolve = format!("localhost:{tls_port}:127.0.0.1");
    expect_verified_v2(
        &ca,
        &["--resolve", &resolve],
        &format!("https://localhost:{tls_port}/v2/"),
    );

    let img = small_image(&dep, "img");
    let src = img.reference();
    let dest = format!("docker://{tls}/{}", app_image(&creds));

    // Without the CA the push must fail on the certificate: TLS is verified.
    let dest_creds = creds_flags("--dest-creds", &creds);
    let mut args = vec!["copy"];
    args.extend(strs(&dest_creds));
    args.extend([src.as_str(), dest.as_str()]);
    let err = skopeo(&dep, &args).failed().to_lowercase();
    assert!(
        err.contains("certificate") && (err.contains("x509") || err.contains("unknown authority")),
        "a push without the CA should fail verifying the certificate, got: {err}"
    );

    // With the CA as --dest-cert-dir (and no --dest-tls-verify=false).
    let mut args = vec!["copy", "--dest-cert-dir", certs_s.as_str()];
    args.extend(strs(&dest_creds));
    args.extend([src.as_str(), dest.as_str()]);
    skopeo(&dep, &args).ok();

    let pulled = dep.scratch("pulled");
    let pulled_ref = format!("dir:{}", pulled.display());
    let src_creds = creds_flags("--src-creds", &creds);
    let mut args = vec!["copy", "--src-cert-dir", certs_s.as_str()];
    args.extend(strs(&src_creds));
    args.extend([dest.as_str(), pulled_ref.as_str()]);
    skopeo(&dep, &args).ok();
    let manifest = fs::read(pulled.join("manifest.json")).expect("pulled manifest.json");
    assert_eq!(digest_of(&manifest), img.manifest_digest, "manifest pulled over HTTPS");
    for digest in [&img.config_digest, &img.layer_digest] {
        let blob = fs::read(pulled.join(digest.trim_start_matches("sha256:"))).expect("pulled blob");
        assert_eq!(blob, img.blob(digest), "blob {digest} pulled over HTTPS");
    }

    // podman verifies TLS too: refused without the CA, pulls with it.
    let podman = Podman::verifying_tls(creds.as_ref().map(|(u, p)| format!("{u}:{p}")));
    let image = format!("{tls}/{}", app_image(&creds));
    let mut pull = vec!["pull", "-q"];
    if let Some(c) = podman.creds() {
        pull.extend(["--creds", c]);
    }
    let mut without_ca = pull.clone();
    without_ca.push(image.as_str());
    let err = podman.run(&without_ca).failed().to_lowercase();
    assert!(err.contains("certificate"), "podman pull without the CA: {err}");
    pull.extend(["--cert-dir", certs_s.as_str(), image.as_str()]);
    podman.run(&pull).ok();
    let id = podman.run(&["image", "inspect", "--format", "{{.Id}}", &image]).ok();
    assert_eq!(format!("sha256:{}", id.trim()), img.config_digest, "podman's image id");

    // A restart on the same data folder keeps the CA clients already trust.
    let ca_before = fs::read(&ca).expect("read CA");
    server.kill();
    let server = dep.serve(&env, "restart", http_port, &serve_flags);
    let ca_again = printed_ca(&server, dep.root());
    assert_eq!(ca_again, ca, "the restarted server names another CA file");
    assert_eq!(
        fs::read(&ca_again).expect("read CA"),
        ca_before,
        "the CA changed on restart"
    );
    let mut args = vec!["inspect", "--cert-dir", certs_s.as_str()];
    let creds_arg = creds_flags("--creds", &creds);
    args.extend(strs(&creds_arg));
    args.push(dest.as_str());
    let info: serde_json::Value = serde_json::from_str(&skopeo(&dep, &args).ok()).expect("inspect JSON");
    assert_eq!(info["Digest"], img.manifest_digest.as_str(), "inspect after restart");
}

#[test]
fn self_signed_certificate_names_the_configured_server_hostname() {
    let Some(env) = sqlite_env() else { return };
    let tls_port = free_port();
    let hostname = format!("registry.e2e.test:{tls_port}");
    let dep = Deployment::with_spec(
        &env,
        DeploymentSpec {
            server_hostname: &hostname,
            scheme: "https",
            sqlite_config: true,
            ..DeploymentSpec::default()
        },
    );
    let tls = tls_listen(tls_port);
    let server = dep.serve(&env, "serve", free_port(), &["--self-signed", "--tls-listen", &tls]);
    let ca = printed_ca(&server, dep.root());
    let resolve = format!("registry.e2e.test:{tls_port}:127.0.0.1");
    expect_verified_v2(&ca, &["--resolve", &resolve], &format!("https://{hostname}/v2/"));
    expect_verified_v2(&ca, &[], &format!("https://{tls}/v2/"));
}

/// A data folder first served with `--self-signed` alone, then with a
/// config.yaml naming a SERVER_HOSTNAME: clients reach the registry by that
/// name, so the server certificate must cover it — signed by the CA they
/// already trust.
#[test]
fn self_signed_certificate_follows_a_new_server_hostname_and_keeps_its_ca() {
    let Some(env) = sqlite_env() else { return };
    let tls_port = free_port();
    let hostname = format!("registry.e2e.test:{tls_port}");
    let dep = Deployment::new(&env);
    let tls = tls_listen(tls_port);
    let http_port = free_port();
    let flags = ["--self-signed", "--tls-listen", tls.as_str()];
    let mut first = dep.serve(&env, "first", http_port, &flags);
    let ca = printed_ca(&first, dep.root());
    let ca_before = fs::read(&ca).expect("read CA");
    first.kill();

    let config = dep.config_dir().join("config.yaml");
    fs::write(
        &config,
        format!("SERVER_HOSTNAME: {hostname}\nPREFERRED_URL_SCHEME: https\n"),
    )
    .expect("write config");
    let config_s = config.display().to_string();
    let mut flags_with_config = vec!["--config", config_s.as_str()];
    flags_with_config.extend_from_slice(&flags);
    let second = dep.serve(&env, "second", http_port, &flags_with_config);
    let ca_again = printed_ca(&second, dep.root());
    assert_eq!(fs::read(&ca_again).expect("read CA"), ca_before, "the CA changed");
    let resolve = format!("registry.e2e.test:{tls_port}:127.0.0.1");
    expect_verified_v2(&ca_again, &["--resolve", &resolve], &format!("https://{hostname}/v2/"));
}

#[test]
fn generated_tls_private_key_is_readable_only_by_its_owner() {
    let Some(env) = sqlite_env() else { return };
    let dep = Deployment::new(&env);
    let tls = tls_listen(free_port());
    let server = dep.serve(&env, "serve", free_port(), &["--self-signed", "--tls-listen", &tls]);
    let ca = printed_ca(&server, dep.root());
    let dir = ca.parent().expect("CA folder");
    let keys: Vec<PathBuf> = fs::read_dir(dir)
        .expect("list TLS folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            fs::read_to_string(p)
                .map(|t| t.contains("PRIVATE KEY"))
                .unwrap_or(false)
        })
        .collect();
    assert!(!keys.is_empty(), "no private key file in {}", dir.display());
    for key in keys {
        let mode = fs::metadata(&key).expect("stat key").permissions().mode() & 0o777;
        assert_eq!(
            mode & 0o077,
            0,
            "{} has mode {mode:o}: the private key is readable by other users",
            key.display()
        );
    }
}

// ---------------------------------------------------------------- 2. Quay's ssl.cert / ssl.key

fn ssl_cert_and_key_next_to_config_yaml_serve_https_that_verifies_against_that_cert(env: TestEnv) {
    let tls_port = free_port();
    let tls = tls_listen(tls_port);
    let dep = Deployment::with_spec(
        &env,
        DeploymentSpec {
            server_hostname: &tls,
            scheme: "https",
            sqlite_config: true,
            ..DeploymentSpec::default()
        },
    );
    openssl_cert(&dep.config_dir(), KeyKind::RsaPkcs8);
    let cert = dep.config_dir().join("ssl.cert");
    let http_port = free_port();
    let server = dep.serve(&env, "serve", http_port, &["--tls-listen", &tls]);
    server.stdout_line(&format!("registry listening on https://{tls}"));

    expect_verified_v2(&cert, &[], &format!("https://{tls}/v2/"));
    let cert_s = cert.display().to_string();
    let (out, answer) = curl(&["--cacert", &cert_s], &format!("https://{tls}/health/instance"));
    let answer = answer.unwrap_or_else(|| panic!("health over HTTPS: {}", out.stderr));
    assert_eq!(answer.status, 200, "/health/instance over HTTPS: {answer:?}");
    let health: serde_json::Value = serde_json::from_str(&answer.body).expect("health JSON");
    assert_eq!(health["status_code"], 200, "{health}");

    // Without the certificate curl refuses the server.
    let (out, _) = curl(&[], &format!("https://{tls}/v2/"));
    assert!(!out.success, "curl trusted the self-signed ssl.cert without --cacert");

    // skopeo pushes and reads back with the certificate as its CA.
    let creds = bootstrap_user(&format!("http://127.0.0.1:{http_port}"));
    let certs = cert_dir(&dep, "certs", &cert);
    let certs_s = certs.display().to_string();
    let img = small_image(&dep, "img");
    let dest = format!("docker://{tls}/{}", app_image(&creds));
    let dest_creds = creds_flags("--dest-creds", &creds);
    let src = img.reference();
    let mut args = vec!["copy", "--dest-cert-dir", certs_s.as_str()];
    args.extend(strs(&dest_creds));
    args.extend([src.as_str(), dest.as_str()]);
    skopeo(&dep, &args).ok();
    let creds_arg = creds_flags("--creds", &creds);
    let mut args = vec!["inspect", "--cert-dir", certs_s.as_str()];
    args.extend(strs(&creds_arg));
    args.push(dest.as_str());
    let info: serde_json::Value = serde_json::from_str(&skopeo(&dep, &args).ok()).expect("inspect JSON");
    assert_eq!(info["Digest"], img.manifest_digest.as_str());
}

#[test]
fn ssl_key_in_pkcs1_rsa_or_ec_form_is_accepted_too() {
    let Some(env) = sqlite_env() else { return };
    for kind in [KeyKind::RsaPkcs1, KeyKind::EcSec1] {
        let tls = tls_listen(free_port());
        let dep = Deployment::with_spec(
            &env,
            DeploymentSpec {
                server_hostname: &tls,
                scheme: "https",
                sqlite_config: true,
                ..DeploymentSpec::default()
            },
        );
        openssl_cert(&dep.config_dir(), kind);
        let _server = dep.serve(&env, "serve", free_port(), &["--tls-listen", &tls]);
        expect_verified_v2(&dep.config_dir().join("ssl.cert"), &[], &format!("https://{tls}/v2/"));
    }
}

// ---------------------------------------------------------------- 3. config validate

const GOOD_QUAY_CONFIG: &str = "\
SERVER_HOSTNAME: quay.example.com
PREFERRED_URL_SCHEME: https
DB_URI: postgresql://quay:secret@db.example.com:5432/quay
AUTHENTICATION_TYPE: Database
SECRET_KEY: 0123456789abcdef
DATABASE_SECRET_KEY: fedcba9876543210
DISTRIBUTED_STORAGE_CONFIG:
  default:
    - S3Storage
    - host: s3.example.com
      port: 443
      s3_bucket: quay
      storage_path: /datastorage/registry
      s3_access_key: AKIAEXAMPLE
      s3_secret_key: example-secret
  local:
    - LocalStorage
    - storage_path: /datastorage/registry
DISTRIBUTED_STORAGE_PREFERENCE: [default]
DISTRIBUTED_STORAGE_DEFAULT_LOCATIONS: []
PUSH_TEMP_TAG_EXPIRATION_SEC: 3600
CREATE_PRIVATE_REPO_ON_PUSH: true
TAG_EXPIRATION_OPTIONS: [0s, 1d, 1w, 2w, 4w]
FEATURE_MAILING: false
FEATURE_FOO: true
SOME_UNKNOWN_KEY: 1
";

#[test]
fn config_validate_accepts_a_quay_config_with_unknown_keys_and_feature_flags() {
    let Some(env) = sqlite_env() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("config.yaml");
    fs::write(&file, GOOD_QUAY_CONFIG).expect("write config");
    let file_s = file.display().to_string();
    let out = run_registry(&env, dir.path(), &["config", "validate", &file_s]);
    let stdout = out.ok();
    assert!(
        stdout.contains("valid") && !stdout.contains("invalid"),
        "`config validate` of a good config should print `valid`: {stdout:?}"
    );
}

#[test]
fn config_validate_exits_non_zero_naming_the_bad_field() {
    let Some(env) = sqlite_env() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let cases: [(&str, &str, &[&str]); 5] = [
        ("db-uri", "DB_URI: mysql://x\n", &["DB_URI"]),
        (
            "storage",
            "DISTRIBUTED_STORAGE_CONFIG: {x: [FancyStorage, {}]}\n",
            &["DISTRIBUTED_STORAGE_CONFIG.x", "FancyStorage"],
        ),
        ("feature", "FEATURE_X: maybe\n", &["FEATURE_X"]),
        (
            "wrong-type",
            "PUSH_TEMP_TAG_EXPIRATION_SEC: soon\n",
            &["PUSH_TEMP_TAG_EXPIRATION_SEC"],
        ),
        ("yaml", "a: [b\n", &["yaml"]),
    ];
    for (name, text, expected) in cases {
        let file = dir.path().join(format!("{name}.yaml"));
        fs::write(&file, text).expect("write config");
        let file_s = file.display().to_string();
        let out = run_registry(&env, dir.path(), &["config", "validate", &file_s]);
        assert!(
            !out.success,
            "`config validate` accepted {text:?}\n--- stdout:\n{}",
            out.stdout
        );
        assert!(
            !out.stdout.contains("valid"),
            "`config validate` of {text:?} printed {:?}",
            out.stdout
        );
        for want in expected {
            assert!(
                out.stderr.to_lowercase().contains(&want.to_lowercase()),
                "`config validate` of {text:?} should name {want:?} on stderr, got: {}",
                out.stderr
            );
        }
        assert!(
            out.stderr.contains(&format!("{name}.yaml")),
            "the error should name the file: {}",
            out.stderr
        );
    }
}

#[test]
fn config_validate_of_a_missing_file_names_it() {
    let Some(env) = sqlite_env() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run_registry(&env, dir.path(), &["config", "validate", "no-such-config.yaml"]);
    assert!(!out.success, "validating a missing file succeeded: {}", out.stdout);
    assert!(out.stderr.contains("no-such-config.yaml"), "{}", out.stderr);
}

// ---------------------------------------------------------------- 4. serve refuses a bad config

#[test]
fn serve_with_an_invalid_config_exits_at_once_naming_the_field_and_listens_nowhere() {
    let Some(env) = sqlite_env() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, text, field) in [
        ("db-uri", "DB_URI: mysql://x\n", "DB_URI"),
        (
            "storage",
            "DISTRIBUTED_STORAGE_CONFIG: {x: [FancyStorage, {}]}\n",
            "DISTRIBUTED_STORAGE_CONFIG.x",
        ),
    ] {
        let file = dir.path().join(format!("{name}.yaml"));
        fs::write(&file, text).expect("write config");
        let (http_port, tls_port) = (free_port(), free_port());
        let data = dir.path().join(format!("{name}-data"));
        let args: Vec<String> = [
            "serve",
            "--config",
            &file.display().to_string(),
            "--listen",
            &format!("127.0.0.1:{http_port}"),
            "--tls-listen",
            &tls_listen(tls_port),
            "--self-signed",
            "--data-dir",
            &data.display().to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let started = Instant::now();
        let mut server = Server::spawn(&env, dir.path(), name, args);
        let status = server.wait_exit(Duration::from_secs(10)).unwrap_or_else(|| {
            let open = (listening(http_port), listening(tls_port));
            panic!(
                "serve with {text:?} still running after 10 s (listening http/https: {open:?})\n{}",
                server.output()
            )
        });
        assert!(!status.success(), "serve with {text:?} exited with {status}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "took {:?}",
            started.elapsed()
        );
        assert!(
            server.stderr().contains(field),
            "serve with {text:?} should name {field} on stderr\n{}",
            server.output()
        );
        assert!(!listening(http_port), "something listens on the HTTP port {http_port}");
        assert!(!listening(tls_port), "something listens on the HTTPS port {tls_port}");
    }
}

#[test]
fn serve_on_a_port_in_use_exits_naming_the_address() {
    let Some(env) = sqlite_env() else { return };
    let dep = Deployment::new(&env);
    let busy = TcpListener::bind("127.0.0.1:0").expect("bind");
    let busy_addr = busy.local_addr().expect("addr").to_string();
    let free = format!("127.0.0.1:{}", free_port());
    for (what, listen, tls) in [
        ("HTTP", busy_addr.as_str(), free.as_str()),
        ("HTTPS", free.as_str(), busy_addr.as_str()),
    ] {
        let mut server = dep.spawn_serve(&env, what, &["--listen", listen, "--tls-listen", tls, "--self-signed"]);
        let status = server
            .wait_exit(Duration::from_secs(30))
            .unwrap_or_else(|| panic!("serve with the {what} port in use kept running\n{}", server.output()));
        assert!(
            !status.success(),
            "serve with the {what} port in use exited with {status}"
        );
        assert!(
            server.stderr().contains(&busy_addr),
            "serve with the {what} port in use should name {busy_addr}\n{}",
            server.output()
        );
    }
}

// ---------------------------------------------------------------- 5. migrate

fn migrate_applies_each_migration_once_and_serve_no_migrate_uses_the_migrated_store(env: TestEnv) {
    let http_port = free_port();
    let dep = Deployment::for_host(&env, &format!("127.0.0.1:{http_port}"), "http");
    let first = applied_count(&dep.run(&env, &["migrate"], &[]).ok());
    assert!(first > 0, "a fresh store needs migrations, migrate applied {first}");
    let second = applied_count(&dep.run(&env, &["migrate"], &[]).ok());
    assert_eq!(second, 0, "a second migrate must find nothing to do");

    let server = dep.serve(
        &env,
        "serve",
        http_port,
        &["--no-migrate", "--tls-listen", "127.0.0.1:0"],
    );
    let (out, answer) = curl(&[], &format!("http://127.0.0.1:{http_port}/v2/"));
    let answer = answer.unwrap_or_else(|| panic!("GET /v2/: {}", out.stderr));
    expect_v2_answer(&answer, "/v2/ on serve --no-migrate");

    // The migrated schema is the one serving: a push and a read work.
    let creds = bootstrap_user(&format!("http://127.0.0.1:{http_port}"));
    let img = small_image(&dep, "img");
    let dest = format!("docker://127.0.0.1:{http_port}/{}", app_image(&creds));
    let dest_creds = creds_flags("--dest-creds", &creds);
    let src = img.reference();
    let mut args = vec!["copy", "--dest-tls-verify=false"];
    args.extend(strs(&dest_creds));
    args.extend([src.as_str(), dest.as_str()]);
    skopeo(&dep, &args).ok();
    let creds_arg = creds_flags("--creds", &creds);
    let mut args = vec!["inspect", "--tls-verify=false"];
    args.extend(strs(&creds_arg));
    args.push(dest.as_str());
    let info: serde_json::Value = serde_json::from_str(&skopeo(&dep, &args).ok()).expect("inspect JSON");
    assert_eq!(info["Digest"], img.manifest_digest.as_str());
    drop(server);

    // --no-migrate really leaves a fresh store alone.
    let fresh = Deployment::new(&env);
    let mut server = fresh.serve(
        &env,
        "serve",
        free_port(),
        &["--no-migrate", "--tls-listen", "127.0.0.1:0"],
    );
    server.kill();
    let applied = applied_count(&fresh.run(&env, &["migrate"], &[]).ok());
    assert_eq!(
        applied, first,
        "serve --no-migrate applied migrations to a fresh store (migrate then applied {applied} of {first})"
    );
}

fn two_migrate_processes_started_at_once_both_succeed_and_apply_each_migration_once(env: TestEnv) {
    let solo = Deployment::new(&env);
    let total = applied_count(&solo.run(&env, &["migrate"], &[]).ok());
    assert!(total > 0);
    // A race between two migrations is narrow (a round takes a fraction of a
    // second), so try several fresh stores; SQLite rounds are cheap.
    let rounds = match env.backend {
        Backend::SqliteFs => 20,
        Backend::PostgresS3 => 10,
    };
    for round in 0..rounds {
        let dep = Deployment::new(&env);
        let mut args = vec!["migrate".to_string()];
        args.extend(dep.args());
        let mut a = Server::spawn(&env, dep.root(), "migrate-a", args.clone());
        let mut b = Server::spawn(&env, dep.root(), "migrate-b", args);
        let mut applied = 0;
        for (name, p) in [("first", &mut a), ("second", &mut b)] {
            let status = p
                .wait_exit(Duration::from_secs(120))
                .unwrap_or_else(|| panic!("round {round}: the {name} migrate did not finish\n{}", p.output()));
            assert!(
                status.success(),
                "round {round}: the {name} of two concurrent migrates exited with {status}\n{}",
                p.output()
            );
            applied += applied_count(&p.stdout());
        }
        assert_eq!(
            applied, total,
            "round {round}: two concurrent migrates together applied {applied} migrations, a single one applies {total}"
        );
        let again = applied_count(&dep.run(&env, &["migrate"], &[]).ok());
        assert_eq!(again, 0, "round {round}: migrations left over after the concurrent run");
    }
}

// ---------------------------------------------------------------- 6. serve output and health

const DB_PASSWORD: &str = "e2e-db-Passw0rd-4n7";
const S3_SECRET: &str = "e2e-s3-Secret-9q2";

fn serve_prints_its_address_and_data_locations_and_reports_database_and_storage_healthy(env: TestEnv) {
    let http_port = free_port();
    let host = format!("127.0.0.1:{http_port}");
    let dep = Deployment::with_spec(
        &env,
        DeploymentSpec {
            server_hostname: &host,
            db_password: Some(DB_PASSWORD),
            s3_secret_key: S3_SECRET,
            ..DeploymentSpec::default()
        },
    );
    let server = dep.serve(&env, "serve", http_port, &["--tls-listen", "127.0.0.1:0"]);

    let listen = server.stdout_line("registry listening on ");
    assert_eq!(
        listen.trim(),
        format!("registry listening on http://127.0.0.1:{http_port}")
    );
    let database = server.stdout_line("database: ");
    let storage = server.stdout_line("storage: ");
    match env.backend {
        Backend::SqliteFs => {
            let db_file = dep.data_dir.join("registry.db");
            assert!(
                database.contains(&db_file.display().to_string()),
                "{database:?} should name {}",
                db_file.display()
            );
            assert!(db_file.is_file(), "{} does not exist", db_file.display());
            let data = dep.data_dir.display().to_string();
            assert!(storage.contains(&data), "{storage:?} should name a folder in {data}");
        }
        Backend::PostgresS3 => {
            let db = dep.db.as_ref().expect("database");
            assert!(
                database.contains(&db.name),
                "{database:?} should name database {}",
                db.name
            );
            let bucket = dep.bucket.as_ref().expect("bucket");
            assert!(
                storage.contains(&bucket.name),
                "{storage:?} should name bucket {}",
                bucket.name
            );
        }
    }
    let stdout = server.stdout();
    for secret in [DB_PASSWORD, S3_SECRET] {
        let in_config = dep
            .config
            .as_ref()
            .map(|c| fs::read_to_string(c).unwrap_or_default().contains(secret))
            .unwrap_or(false);
        if in_config {
            assert!(
                !stdout.contains(secret),
                "serve printed the secret {secret:?}:\n{stdout}"
            );
            assert!(!server.stderr().contains(secret), "serve logged the secret {secret:?}");
        }
    }
    assert!(
        !stdout.contains("https://"),
        "no certificate is configured, yet serve reports HTTPS:\n{stdout}"
    );

    let base = format!("http://127.0.0.1:{http_port}");
    let (out, answer) = curl(&[], &format!("{base}/health/instance"));
    let answer = answer.unwrap_or_else(|| panic!("/health/instance: {}", out.stderr));
    assert_eq!(answer.status, 200, "/health/instance: {answer:?}");
    let body: serde_json::Value = serde_json::from_str(&answer.body).expect("/health/instance JSON");
    assert_eq!(body["status_code"], 200, "{body}");

    let (out, answer) = curl(&[], &format!("{base}/health/endtoend"));
    let answer = answer.unwrap_or_else(|| panic!("/health/endtoend: {}", out.stderr));
    assert_eq!(answer.status, 200, "/health/endtoend: {answer:?}");
    let body: serde_json::Value = serde_json::from_str(&answer.body).expect("/health/endtoend JSON");
    assert_eq!(body["status_code"], 200, "{body}");
    let services = &body["data"]["services"];
    assert_eq!(services["database"], true, "{body}");
    assert_eq!(services["storage"], true, "{body}");

    // `registry health`, the image's HEALTHCHECK: healthy here, failing
    // where nothing listens.
    let url = format!("{base}/health/instance");
    let healthy = dep.run(&env, &["health", "--url", &url], &[]).ok();
    assert!(healthy.contains("\"status_code\""), "{healthy}");
    let nothing = format!("http://127.0.0.1:{}/health/instance", free_port());
    let failed = dep.run(&env, &["health", "--url", &nothing], &[]).failed();
    assert!(failed.contains("cannot reach"), "{failed}");
}
