//! Helpers for the end-to-end tests in `tests/`: they run the real `registry`
//! binary (from `REGISTRY_BIN`) and drive it with real clients.
//!
//! Every scenario runs on two deployments, selected by [`Backend`]:
//! SQLite + filesystem (always) and PostgreSQL + S3 (when `REGISTRY_TEST_PG_URL`
//! and `REGISTRY_TEST_S3_ENDPOINT` are set; with `CI=true` their absence is a
//! failure, never a skip). `e2e/run` provides both.

pub mod backing;
pub mod browser;
pub mod builds;
pub mod clair;
pub mod cli;
pub mod clients;
pub mod distribution;
pub mod git_server;
pub mod http;
pub mod kube;
pub mod ldap;
pub mod loopback;
pub mod pg_server;
pub mod process;
pub mod registry;

use std::path::PathBuf;

pub use clients::{mkoci, mkoci_sized, oras, skopeo, OciImage, Podman, PulledDir};
pub use http::Http;
pub use registry::Registry;

/// Where a registry under test keeps its metadata and blobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `serve --data-dir`: embedded SQLite database and filesystem storage.
    SqliteFs,
    /// `serve --config`: PostgreSQL database and S3 storage (moto in tests).
    PostgresS3,
}

/// Everything a scenario needs that comes from outside the test process.
#[derive(Debug, Clone)]
pub struct TestEnv {
    pub backend: Backend,
    pub registry_bin: PathBuf,
    pub venv: PathBuf,
    pub pg_admin_url: Option<String>,
    pub s3_endpoint: Option<String>,
}

/// Runs `$name(env)` once per backend as the tests `$name::on_sqlite_fs` and
/// `$name::on_postgres_s3`.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn on_sqlite_fs() {
                if let Some(env) = $crate::TestEnv::for_backend($crate::Backend::SqliteFs) {
                    super::$name(env);
                }
            }

            #[test]
            fn on_postgres_s3() {
                if let Some(env) = $crate::TestEnv::for_backend($crate::Backend::PostgresS3) {
                    super::$name(env);
                }
            }
        }
    )*};
}

/// True when running under CI, where a missing prerequisite must fail loudly.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Whether the tests run as root (who owns this process's `/proc` entry).
pub fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
}

fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Skips (locally) or fails (in CI) a test whose prerequisite is missing.
fn unavailable(what: &str) -> Option<TestEnv> {
    assert!(!in_ci(), "CI=true but {what}; refusing to skip");
    eprintln!("SKIPPED: {what}");
    None
}

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

fn find_registry_bin() -> Option<PathBuf> {
    if let Some(bin) = non_empty_env("REGISTRY_BIN") {
        // cargo runs tests inside the crate folder; a relative path most
        // likely meant the workspace root.
        let bin = PathBuf::from(bin);
        let from_root = workspace_root().join(&bin);
        return Some(if bin.is_relative() && !bin.exists() && from_root.exists() {
            from_root
        } else {
            bin
        });
    }
    if in_ci() {
        return None;
    }
    let target = non_empty_env("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    ["release", "debug"]
        .iter()
        .map(|profile| target.join(profile).join("registry"))
        .find(|p| p.is_file())
}

fn find_venv() -> PathBuf {
    if let Some(v) = non_empty_env("E2E_VENV") {
        return PathBuf::from(v);
    }
    let cache = non_empty_env("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| non_empty_env("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    cache.join("registry-e2e").join("venv")
}

impl TestEnv {
    /// The environment for `backend`, or `None` (with a printed reason) when a
    /// prerequisite is missing outside CI.
    pub fn for_backend(backend: Backend) -> Option<TestEnv> {
        let Some(registry_bin) = find_registry_bin() else {
            return unavailable("REGISTRY_BIN is not set (outside CI, target/{release,debug}/registry are tried)");
        };
        assert!(
            registry_bin.is_file(),
            "REGISTRY_BIN {} does not exist",
            registry_bin.display()
        );
        let pg_admin_url = non_empty_env("REGISTRY_TEST_PG_URL");
        let s3_endpoint = non_empty_env("REGISTRY_TEST_S3_ENDPOINT");
        if backend == Backend::PostgresS3 && (pg_admin_url.is_none() || s3_endpoint.is_none()) {
            return unavailable("postgres-s3 needs REGISTRY_TEST_PG_URL and REGISTRY_TEST_S3_ENDPOINT");
        }
        Some(TestEnv {
            backend,
            registry_bin,
            venv: find_venv(),
            pg_admin_url,
            s3_endpoint,
        })
    }

    /// The venv's python, which has boto3 and oras installed.
    pub fn python(&self) -> PathBuf {
        self.venv.join("bin").join("python")
    }
}

/// `sha256:<hex>` of `data`.
pub fn digest_of(data: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)))
}

/// Bytes that differ between calls and runs, so each upload is fresh content
/// that no registry (and no client-side blob cache) has seen before.
pub fn fresh_bytes(len: usize) -> Vec<u8> {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{SystemTime, UNIX_EPOCH};
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let mut state = (nanos as u64)
        ^ (u64::from(std::process::id()) << 32)
        ^ CALLS
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A name unique within this machine for databases, buckets and repositories.
pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{SystemTime, UNIX_EPOCH};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    format!(
        "{prefix}{}x{}x{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        millis % 100_000_000
    )
}
