//! `spawn_app` and the small clients every test module shares.
//!
//! Backends, chosen by `REGISTRY_TEST_BACKEND`:
//! * `sqlite-fs` (default): no config, so SQLite and a blob folder in a temp dir.
//! * `postgres-s3`: a fresh database on `REGISTRY_TEST_PG_URL` (an admin URL)
//!   and a fresh bucket on `REGISTRY_TEST_S3_ENDPOINT` (moto, key/secret
//!   `testing`). Missing variables fail the test rather than fall back.

use std::net::TcpListener;
use std::path::{Path, PathBuf};

use diesel::{Connection, PgConnection, RunQueryDsl};
use rand::Rng;
use registry::config::Config;
use registry::startup::{Application, Options};
use reqwest::header::HeaderMap;
use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256, Sha512};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// Where the registry under test keeps its data.
#[derive(Debug, Clone)]
pub enum Backend {
    SqliteFs,
    PostgresS3 { endpoint: String, bucket: String },
}

/// A running registry and a client for it.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`
    pub address: String,
    pub client: Client,
    /// The registry's data directory (SQLite file and `blobs/` for sqlite-fs).
    pub data_dir: PathBuf,
    pub backend: Backend,
    options: Options,
    _dir: tempfile::TempDir,
}

/// Starts a registry on a free port with its own database and storage.
pub async fn spawn_app() -> TestApp {
    // Server logs show with `RUST_LOG=registry=debug`.
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .try_init();
    let dir = tempfile::tempdir().expect("temp dir");
    let (config, backend) = match std::env::var("REGISTRY_TEST_BACKEND").as_deref() {
        Err(_) | Ok("") | Ok("sqlite-fs") => (Config::default(), Backend::SqliteFs),
        Ok("postgres-s3") => postgres_s3().await,
        Ok(other) => panic!("unknown REGISTRY_TEST_BACKEND `{other}` (use sqlite-fs or postgres-s3)"),
    };
    let options = Options {
        config,
        data_dir: dir.path().to_owned(),
        migrate: true,
    };
    let address = serve(options.clone()).await;
    TestApp {
        address,
        client: Client::new(),
        data_dir: dir.path().to_owned(),
        backend,
        options,
        _dir: dir,
    }
}

async fn serve(options: Options) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let port = listener.local_addr().expect("local address").port();
    let app = Application::build(options, listener, None)
        .await
        .expect("application builds");
    actix_web::rt::spawn(app.run_until_stopped());
    format!("http://127.0.0.1:{port}")
}

fn required(name: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!("REGISTRY_TEST_BACKEND=postgres-s3 needs {name}"),
    }
}

async fn postgres_s3() -> (Config, Backend) {
    let admin_url = required("REGISTRY_TEST_PG_URL");
    let endpoint = required("REGISTRY_TEST_S3_ENDPOINT").trim_end_matches('/').to_owned();
    let id = uuid::Uuid::new_v4().simple().to_string();
    let database = format!("test_{id}");
    let mut admin = PgConnection::establish(&admin_url).expect("connect to REGISTRY_TEST_PG_URL");
    diesel::sql_query(format!("CREATE DATABASE {database}"))
        .execute(&mut admin)
        .expect("create the test database");
    let mut db_uri = url::Url::parse(&admin_url).expect("REGISTRY_TEST_PG_URL is a URL");
    db_uri.set_path(&format!("/{database}"));

    // moto accepts unsigned requests; a bare PUT creates a bucket.
    let bucket = format!("registry-api-{id}");
    let created = Client::new()
        .put(format!("{endpoint}/{bucket}"))
        .send()
        .await
        .expect("S3 endpoint reachable");
    assert!(created.status().is_success(), "creating bucket: {}", created.status());
    let s3 = url::Url::parse(&endpoint).expect("REGISTRY_TEST_S3_ENDPOINT is a URL");
    let yaml = format!(
        "DB_URI: \"{db_uri}\"\n\
         DISTRIBUTED_STORAGE_CONFIG:\n  s3:\n    - S3Storage\n    - host: {host}\n      port: {port}\n      \
         is_secure: false\n      s3_bucket: {bucket}\n      storage_path: /registry\n      \
         s3_access_key: testing\n      s3_secret_key: testing\n\
         DISTRIBUTED_STORAGE_PREFERENCE: [s3]\n",
        host = s3.host_str().expect("S3 host"),
        port = s3.port_or_known_default().expect("S3 port"),
    );
    let config = Config::parse(&yaml).expect("test config parses");
    (config, Backend::PostgresS3 { endpoint, bucket })
}

impl TestApp {
    /// An absolute URL for a path (`/v2/...`) or a `Location` value.
    pub fn url(&self, path_or_url: &str) -> String {
        absolute(&self.address, path_or_url)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.expect("GET")
    }

    pub async fn head(&self, path: &str) -> Response {
        self.client.head(self.url(path)).send().await.expect("HEAD")
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.client.delete(self.url(path)).send().await.expect("DELETE")
    }

    /// Another registry process on the same database and storage (a replica,
    /// or the same one after a restart); returns its address.
    pub async fn spawn_replica(&self) -> String {
        serve(self.options.clone()).await
    }

    /// The registry's services on the same database and storage, with the
    /// abandoned-upload age set to `stale_after_s` (what a worker runs).
    pub async fn services_with_stale_age(&self, stale_after_s: i64) -> registry::service::Registry {
        let mut config = self.options.config.clone();
        config.stale_upload_expiration_sec = stale_after_s;
        registry::startup::open_registry(&config, &self.options.data_dir, false)
            .await
            .expect("services open")
    }

    /// Pushes a blob in one `POST ?digest=` request; returns its digest.
    pub async fn push_blob(&self, repo: &str, data: &[u8]) -> String {
        let digest = sha256(data);
        let res = self
            .client
            .post(self.url(&format!("/v2/{repo}/blobs/uploads/?digest={digest}")))
            .header("Content-Type", "application/octet-stream")
            .body(data.to_vec())
            .send()
            .await
            .expect("monolithic blob push");
        let status = res.status();
        let body = res.text().await.unwrap_or_default();
        assert_eq!(status, StatusCode::CREATED, "pushing blob {digest} to {repo}: {body}");
        digest
    }

    /// Starts an upload session; returns the absolute `Location`.
    pub async fn start_upload(&self, repo: &str) -> String {
        let res = self
            .client
            .post(self.url(&format!("/v2/{repo}/blobs/uploads/")))
            .send()
            .await
            .expect("POST upload");
        assert_eq!(res.status(), StatusCode::ACCEPTED, "starting an upload in {repo}");
        self.url(&header(&res, "Location"))
    }

    /// PUTs a manifest under a tag or digest with the given `Content-Type`.
    pub async fn put_manifest(&self, repo: &str, reference: &str, media_type: &str, body: &[u8]) -> Response {
        self.client
            .put(self.url(&format!("/v2/{repo}/manifests/{reference}")))
            .header("Content-Type", media_type)
            .body(body.to_vec())
            .send()
            .await
            .expect("PUT manifest")
    }

    /// Pushes a fresh image (random config and layer, OCI manifest) and tags
    /// it, or pushes it by digest when `tag` is `None`.
    pub async fn push_image(&self, repo: &str, tag: Option<&str>) -> Image {
        let config = json!({"architecture": "amd64", "os": "linux", "nonce": hex::encode(random_bytes(8))});
        let config = serde_json::to_vec(&config).expect("config JSON");
        let layer = random_bytes(2048);
        let config_digest = self.push_blob(repo, &config).await;
        let layer_digest = self.push_blob(repo, &layer).await;
        let manifest = image_manifest(
            OCI_MANIFEST,
            (OCI_CONFIG, &config_digest, config.len()),
            &[(OCI_LAYER, &layer_digest, layer.len())],
        );
        let digest = sha256(&manifest);
        let res = self
            .put_manifest(repo, tag.unwrap_or(&digest), OCI_MANIFEST, &manifest)
            .await;
        assert_eq!(res.status(), StatusCode::CREATED, "pushing image to {repo}");
        Image {
            digest,
            manifest,
            config_digest,
            layer_digest,
            layer,
        }
    }

    /// How many stored objects hold the blob `digest` (0 or 1 when blobs are
    /// stored once by content).
    pub async fn stored_copies(&self, digest: &str) -> usize {
        let hex = digest.split_once(':').map_or(digest, |(_, h)| h);
        self.stored_objects()
            .await
            .iter()
            .filter(|key| !key.contains("uploads/") && key.ends_with(hex))
            .count()
    }

    /// How many upload leftovers the blob store holds.
    pub async fn stored_uploads(&self) -> usize {
        self.stored_objects()
            .await
            .iter()
            .filter(|key| key.contains("uploads/"))
            .count()
    }

    /// Every object key (S3) or file path (filesystem) in the blob store.
    async fn stored_objects(&self) -> Vec<String> {
        match &self.backend {
            Backend::SqliteFs => {
                let root = self.data_dir.join("blobs");
                let mut files = Vec::new();
                walk(&root, &root, &mut files);
                files
            }
            Backend::PostgresS3 { endpoint, bucket } => {
                let listing = self
                    .client
                    .get(format!("{endpoint}/{bucket}?list-type=2&max-keys=1000"))
                    .send()
                    .await
                    .expect("list bucket")
                    .text()
                    .await
                    .expect("listing body");
                listing
                    .split("<Key>")
                    .skip(1)
                    .filter_map(|s| s.split_once("</Key>").map(|(k, _)| k.to_owned()))
                    .collect()
            }
        }
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(root, &path, out);
        } else if let Ok(rel) = path.strip_prefix(root) {
            out.push(rel.to_string_lossy().into_owned());
        }
    }
}

/// What `push_image` pushed.
#[derive(Debug, Clone)]
pub struct Image {
    pub digest: String,
    pub manifest: Vec<u8>,
    pub config_digest: String,
    pub layer_digest: String,
    pub layer: Vec<u8>,
}

/// An image manifest body; descriptors are `(mediaType, digest, size)`.
pub fn image_manifest(media_type: &str, config: (&str, &str, usize), layers: &[(&str, &str, usize)]) -> Vec<u8> {
    let layers: Vec<Value> = layers
        .iter()
        .map(|(m, d, s)| json!({"mediaType": m, "digest": d, "size": s}))
        .collect();
    let body = json!({
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": {"mediaType": config.0, "digest": config.1, "size": config.2},
        "layers": layers,
    });
    serde_json::to_vec_pretty(&body).expect("manifest JSON")
}

/// An index body over `(mediaType, digest, size)` entries.
pub fn index_manifest(media_type: &str, entries: &[(&str, &str, usize)]) -> Vec<u8> {
    let manifests: Vec<Value> = entries
        .iter()
        .map(|(m, d, s)| json!({"mediaType": m, "digest": d, "size": s, "platform": {"architecture": "amd64", "os": "linux"}}))
        .collect();
    serde_json::to_vec_pretty(&json!({"schemaVersion": 2, "mediaType": media_type, "manifests": manifests}))
        .expect("index JSON")
}

pub fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

pub fn sha512(data: &[u8]) -> String {
    format!("sha512:{}", hex::encode(Sha512::digest(data)))
}

pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    rand::rng().fill(&mut v[..]);
    v
}

/// A unique repository name under the `test` namespace.
pub fn repo() -> String {
    format!("test/repo-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

fn absolute(address: &str, path_or_url: &str) -> String {
    if path_or_url.starts_with("http://") || path_or_url.starts_with("https://") {
        path_or_url.to_owned()
    } else {
        format!("{address}{path_or_url}")
    }
}

/// `url` with `key=value` appended to its query.
pub fn with_query(url: &str, pair: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{pair}")
}

/// A response header as text; panics when absent.
pub fn header(res: &Response, name: &str) -> String {
    header_of(res.headers(), name).unwrap_or_else(|| panic!("{} {} lacks header {name}", res.status(), res.url()))
}

pub fn header_of(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .map(|v| v.to_str().expect("header is text").to_owned())
}

/// Checks an error response: its status, and an OCI error body
/// `{"errors":[{"code","message",...}]}` whose first code is `code`.
pub async fn assert_oci_error(res: Response, status: u16, code: &str) -> Value {
    assert_oci_error_in(res, status, &[code]).await
}

/// Like `assert_oci_error`, for when the first code may be any of `codes`.
pub async fn assert_oci_error_in(res: Response, status: u16, codes: &[&str]) -> Value {
    let what = format!("{} {}", res.status(), res.url());
    assert_eq!(res.status().as_u16(), status, "{what}: status");
    let content_type = header_of(res.headers(), "Content-Type").unwrap_or_default();
    let body = res.bytes().await.expect("error body");
    assert!(
        content_type.starts_with("application/json"),
        "{what}: error Content-Type {content_type:?}, body {:?}",
        String::from_utf8_lossy(&body)
    );
    let value: Value = serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("{what}: body is not JSON ({e}): {:?}", String::from_utf8_lossy(&body)));
    assert_oci_error_body(&value, &what);
    let code = value["errors"][0]["code"].as_str().unwrap_or_default();
    assert!(
        codes.contains(&code),
        "{what}: error code {code}, want one of {codes:?}"
    );
    value
}

/// The OCI error body shape: a non-empty `errors` array of objects with
/// string `code` and `message`.
pub fn assert_oci_error_body(value: &Value, what: &str) {
    if let Err(why) = oci_error_shape(value) {
        panic!("{what}: {why} in {value}");
    }
}

pub fn oci_error_shape(value: &Value) -> Result<(), String> {
    let errors = value["errors"].as_array().ok_or("no `errors` array")?;
    if errors.is_empty() {
        return Err("empty `errors`".into());
    }
    for e in errors {
        if !e["code"].is_string() || !e["message"].is_string() {
            return Err("an error without string `code` and `message`".into());
        }
    }
    Ok(())
}
