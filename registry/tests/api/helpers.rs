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
    /// The services of the running server (its usage-log queue included).
    pub server: registry::service::Registry,
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
    // Pushes create the namespaces they name, owned by the test user.
    let mut config = config;
    config.create_namespace_on_push = true;
    // Garbage collection runs when a test asks for it (tests/api/gc.rs).
    config
        .other
        .insert("FEATURE_GARBAGE_COLLECTION".into(), serde_yaml::Value::Bool(false));
    let options = Options {
        config,
        data_dir: dir.path().to_owned(),
        migrate: true,
        served_chain: None,
    };
    let (address, server) = serve(options.clone()).await;
    let client = pusher_client(&options).await;
    TestApp {
        address,
        client,
        data_dir: dir.path().to_owned(),
        backend,
        server,
        options,
        _dir: dir,
    }
}

/// A client logged in (Basic, `$oauthtoken` + access token) as user `pusher`,
/// who may push anywhere namespaces may be created.
async fn pusher_client(options: &Options) -> Client {
    use base64::Engine as _;
    let services = registry::startup::open_registry(&options.config, &options.data_dir, false)
        .await
        .expect("services open");
    let pusher = services
        .create_user("pusher", "password123", Some("pusher@example.com"))
        .await
        .expect("create the test user");
    let token = services
        .issue_access_token(&pusher, &registry::service::Scopes::all(), "tests")
        .await
        .expect("token for the test user");
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("$oauthtoken:{token}"));
    let mut headers = HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Basic {basic}").parse().expect("header value"),
    );
    Client::builder().default_headers(headers).build().expect("client")
}

async fn serve(options: Options) -> (String, registry::service::Registry) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let port = listener.local_addr().expect("local address").port();
    let app = Application::build(options, listener, None)
        .await
        .expect("application builds");
    let services = app.registry();
    actix_web::rt::spawn(app.run_until_stopped());
    (format!("http://127.0.0.1:{port}"), services)
}

fn required(name: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!("REGISTRY_TEST_BACKEND=postgres-s3 needs {name}"),
    }
}

async fn postgres_s3() -> (Config, Backend) {
    let (yaml, backend) = postgres_s3_yaml().await;
    (Config::parse(&yaml).expect("test config parses"), backend)
}

/// The postgres-s3 config text: a fresh database and a fresh bucket.
async fn postgres_s3_yaml() -> (String, Backend) {
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
    (yaml, Backend::PostgresS3 { endpoint, bucket })
}

impl TestApp {
    /// An absolute URL for a path (`/v2/...`) or a `Location` value.
    /// The server's route table over its state, to mount on a test `App`.
    pub fn routes(&self) -> registry::startup::Routes {
        registry::startup::Routes::new(&self.options, self.server.clone())
    }

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
        serve(self.options.clone()).await.0
    }

    /// The registry's services on the same database and storage, with these
    /// `config.yaml` keys changed (what another process with another
    /// configuration runs).
    pub async fn services_with_yaml(&self, yaml: &str) -> registry::service::Registry {
        let mut config = self.options.config.clone();
        let extra: serde_yaml::Mapping = serde_yaml::from_str(yaml).expect("test YAML parses");
        for (k, v) in extra {
            let key = k.as_str().expect("string keys").to_owned();
            config.other.insert(key, v);
        }
        registry::startup::open_registry(&config, &self.options.data_dir, false)
            .await
            .expect("services open")
    }

    /// The registry's services on the same database, with the config
    /// changed by `edit` (another storage, say: what a replica whose blob
    /// store fails runs).
    pub async fn services_with_config(&self, edit: impl FnOnce(&mut Config)) -> registry::service::Registry {
        let mut config = self.options.config.clone();
        edit(&mut config);
        registry::startup::open_registry(&config, &self.options.data_dir, false)
            .await
            .expect("services open")
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

// ---------------------------------------------------------------------------
// /api/v1 helpers (v1_users, v1_organizations, v1_superuser)
// ---------------------------------------------------------------------------

/// Like `spawn_app`, with `extra_yaml` (top-level `config.yaml` keys such as
/// `SUPER_USERS: [admin]` or `FEATURE_USER_CREATION: false`) merged over the
/// backend's config; its keys win.
pub async fn spawn_app_with(extra_yaml: &str) -> TestApp {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .try_init();
    let dir = tempfile::tempdir().expect("temp dir");
    let (base_yaml, backend) = match std::env::var("REGISTRY_TEST_BACKEND").as_deref() {
        Err(_) | Ok("") | Ok("sqlite-fs") => (String::new(), Backend::SqliteFs),
        Ok("postgres-s3") => postgres_s3_yaml().await,
        Ok(other) => panic!("unknown REGISTRY_TEST_BACKEND `{other}` (use sqlite-fs or postgres-s3)"),
    };
    let config = Config::parse(&merge_yaml(&base_yaml, extra_yaml)).expect("merged test config parses");
    let options = Options {
        config,
        data_dir: dir.path().to_owned(),
        migrate: true,
        served_chain: None,
    };
    let (address, server) = serve(options.clone()).await;
    TestApp {
        address,
        client: Client::new(),
        data_dir: dir.path().to_owned(),
        backend,
        server,
        options,
        _dir: dir,
    }
}

/// The top-level keys of `base` overridden by those of `extra`.
fn merge_yaml(base: &str, extra: &str) -> String {
    fn mapping(text: &str) -> serde_yaml::Mapping {
        match serde_yaml::from_str(text).expect("test YAML parses") {
            serde_yaml::Value::Null => serde_yaml::Mapping::new(),
            serde_yaml::Value::Mapping(m) => m,
            other => panic!("test YAML must be a mapping, got {other:?}"),
        }
    }
    let mut merged = mapping(base);
    merged.extend(mapping(extra));
    serde_yaml::to_string(&merged).expect("test YAML serializes")
}

/// Creates a user `name` (password `password123`, email `name@example.com`)
/// through the services and returns it with an access token of `scopes`.
pub async fn api_user(app: &TestApp, name: &str, scopes: &str) -> (registry::db::models::Account, String) {
    let services = app.services_with_stale_age(86_400).await;
    let user = services
        .create_user(name, "password123", Some(&format!("{name}@example.com")))
        .await
        .unwrap_or_else(|e| panic!("creating user {name}: {e}"));
    let token = api_token(app, &user, scopes).await;
    (user, token)
}

/// A fresh access token of `scopes` (`all` for every scope) for `user`.
pub async fn api_token(app: &TestApp, user: &registry::db::models::Account, scopes: &str) -> String {
    let scopes = match scopes {
        "all" => registry::service::Scopes::all(),
        s => registry::service::Scopes::parse(s).expect("test scopes parse"),
    };
    app.services_with_stale_age(86_400)
        .await
        .issue_access_token(user, &scopes, "test token")
        .await
        .expect("issue access token")
}

/// Checks a Quay API error: the status, and the problem body
/// `{"status","title","type","detail","error_message","error_type"}` whose
/// type is `kind`. Returns the body.
pub async fn assert_api_error(res: Response, status: u16, kind: &str) -> Value {
    let what = format!("{} {}", res.status(), res.url());
    assert_eq!(res.status().as_u16(), status, "{what}: status");
    let content_type = header_of(res.headers(), "Content-Type").unwrap_or_default();
    assert!(
        content_type.starts_with("application/json"),
        "{what}: Content-Type {content_type:?}"
    );
    let body: Value = res
        .json()
        .await
        .unwrap_or_else(|e| panic!("{what}: body is not JSON: {e}"));
    assert_eq!(body["status"], status, "{what}: `status` in {body}");
    assert_eq!(body["title"], kind, "{what}: `title` in {body}");
    assert_eq!(body["error_type"], kind, "{what}: `error_type` in {body}");
    let type_url = body["type"].as_str().unwrap_or_default();
    assert!(
        type_url.ends_with(&format!("/api/v1/error/{kind}")),
        "{what}: `type` in {body}"
    );
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(!detail.is_empty(), "{what}: empty `detail` in {body}");
    assert_eq!(body["error_message"], detail, "{what}: `error_message` in {body}");
    body
}

// ---------------------------------------------------------------------------
// /api/v1 helpers (v1_teams, v1_robots)
// ---------------------------------------------------------------------------

/// Who `grant_role` gives a repository role to.
#[derive(Debug, Clone, Copy)]
pub enum Grantee<'a> {
    /// A user or robot, by full name.
    Account(&'a str),
    /// A team of the repository's organization, by name.
    Team(&'a str),
}

/// Creates `namespace/name` (private) when missing and grants `role` on it,
/// straight in the database, so tests of permission listings do not depend on
/// the repository permission API.
pub async fn grant_role(app: &TestApp, repo: &str, grantee: Grantee<'_>, role: &str) {
    use diesel::prelude::*;
    use registry::db::schema::{repositorypermission as rp, team, users};

    let (ns, name) = repo.split_once('/').expect("repo is namespace/name");
    let (ns, name, role) = (ns.to_owned(), name.to_owned(), role.to_owned());
    let (account, team_name) = match grantee {
        Grantee::Account(a) => (Some(a.to_owned()), None),
        Grantee::Team(t) => (None, Some(t.to_owned())),
    };
    app.services_with_stale_age(86_400)
        .await
        .db()
        .write(move |c| {
            let repo = registry::db::queries::repositories::ensure(
                c,
                &ns,
                &name,
                "private",
                registry::now_ms(),
                registry::service::DEFAULT_TAG_EXPIRATION_S,
            )?;
            let user_id = match &account {
                Some(a) => Some(
                    users::table
                        .filter(users::username.eq(a))
                        .select(users::id)
                        .first::<i64>(c)?,
                ),
                None => None,
            };
            let team_id = match &team_name {
                Some(t) => Some(
                    team::table
                        .inner_join(users::table)
                        .filter(users::username.eq(&ns))
                        .filter(team::name.eq(t))
                        .select(team::id)
                        .first::<i64>(c)?,
                ),
                None => None,
            };
            diesel::insert_into(rp::table)
                .values((
                    rp::repository_id.eq(repo.id),
                    rp::user_id.eq(user_id),
                    rp::team_id.eq(team_id),
                    rp::role.eq(&role),
                ))
                .execute(c)?;
            Ok::<_, registry::service::Error>(())
        })
        .await
        .expect("grant a repository role");
}

// ---------------------------------------------------------------------------
// /api/v1 helpers (v1_repositories, v1_permissions)
// ---------------------------------------------------------------------------

/// A registry with its services at hand, for the repository API tests:
/// accounts, teams, robots and tags are made through the services, and the
/// API is called over HTTP.
pub struct RepoFixture {
    pub app: TestApp,
    pub services: registry::service::Registry,
}

impl RepoFixture {
    pub async fn new() -> RepoFixture {
        RepoFixture::with_config("").await
    }

    /// With extra `config.yaml` keys (see `spawn_app_with`).
    pub async fn with_config(extra_yaml: &str) -> RepoFixture {
        let app = spawn_app_with(extra_yaml).await;
        let services = app.services_with_stale_age(86_400).await;
        RepoFixture { app, services }
    }

    /// A user (password `password123`) and a token with every scope.
    pub async fn user(&self, name: &str) -> (registry::db::models::Account, String) {
        let user = self
            .services
            .create_user(name, "password123", Some(&format!("{name}@example.com")))
            .await
            .unwrap_or_else(|e| panic!("creating user {name}: {e}"));
        let token = self.token(&user, "all").await;
        (user, token)
    }

    /// A token of `scopes` (`all` for every scope).
    pub async fn token(&self, user: &registry::db::models::Account, scopes: &str) -> String {
        let scopes = match scopes {
            "all" => registry::service::Scopes::all(),
            s => registry::service::Scopes::parse(s).expect("test scopes parse"),
        };
        self.services
            .issue_access_token(user, &scopes, "test token")
            .await
            .expect("issue access token")
    }

    /// An organization owned by `owner` (in its `owners` team).
    pub async fn org(&self, owner: &registry::db::models::Account, name: &str) -> registry::db::models::Account {
        self.services
            .create_organization(owner, name, None)
            .await
            .unwrap_or_else(|e| panic!("creating organization {name}: {e}"))
    }

    /// A team of `org` with org-level `role` (member, creator, admin) and
    /// these members (users or robots of the org).
    pub async fn team(
        &self,
        by: &registry::db::models::Account,
        org: &registry::db::models::Account,
        name: &str,
        role: &str,
        members: &[&str],
    ) {
        let team_name = registry::service::TeamName::parse(name).expect("team name");
        let role = registry::service::TeamRole::parse(role).expect("team role");
        let (team, _) = self
            .services
            .put_team(by, org, &team_name, role, None)
            .await
            .unwrap_or_else(|e| panic!("creating team {name}: {e}"));
        for m in members {
            self.services
                .add_team_member(org, &team, m)
                .await
                .unwrap_or_else(|e| panic!("adding {m} to team {name}: {e}"));
        }
    }

    /// A robot `<namespace>+<short>`, as its account row.
    pub async fn robot(&self, namespace: &registry::db::models::Account, short: &str) -> registry::db::models::Account {
        let short_name = registry::service::RobotShortName::parse(short).expect("robot short name");
        let robot = self
            .services
            .create_robot(
                namespace,
                &short_name,
                registry::service::NewRobot {
                    description: None,
                    unstructured_metadata: None,
                },
            )
            .await
            .unwrap_or_else(|e| panic!("creating robot {short}: {e}"));
        self.services
            .account(robot.name())
            .await
            .expect("robot lookup")
            .expect("robot account exists")
    }

    /// Pushes a small image under `repo:tag` through the services; returns
    /// the manifest digest.
    pub async fn push_tag(&self, repo: &str, tag: &str) -> String {
        use futures_util::StreamExt as _;
        use registry::oci::{Digest, Reference, RepoName};

        let name: RepoName = repo.parse().expect("repository name");
        let config =
            serde_json::to_vec(&json!({"architecture": "amd64", "os": "linux", "nonce": hex::encode(random_bytes(8))}))
                .expect("config JSON");
        let layer = random_bytes(512);
        for blob in [&config, &layer] {
            let digest: Digest = sha256(blob).parse().expect("digest");
            let body = futures_util::stream::once(std::future::ready(Ok(bytes::Bytes::from(blob.clone())))).boxed();
            self.services
                .put_blob(&name, &digest, body)
                .await
                .unwrap_or_else(|e| panic!("pushing a blob to {repo}: {e}"));
        }
        let manifest = image_manifest(
            OCI_MANIFEST,
            (OCI_CONFIG, &sha256(&config), config.len()),
            &[(OCI_LAYER, &sha256(&layer), layer.len())],
        );
        let reference = Reference::Tag(tag.parse().expect("tag"));
        self.services
            .put_manifest(&name, &reference, Some(OCI_MANIFEST), manifest.clone())
            .await
            .unwrap_or_else(|e| panic!("pushing {repo}:{tag}: {e}"));
        sha256(&manifest)
    }

    /// Calls `/api/v1{path}` with an optional bearer token and JSON body;
    /// returns the status and the JSON body (`null` when empty).
    pub async fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("HTTP method");
        let mut req = self
            .app
            .client
            .request(method.clone(), self.app.url(&format!("/api/v1{path}")));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = res.status().as_u16();
        let text = res.text().await.expect("response body");
        let value = match text.trim() {
            "" => Value::Null,
            t => serde_json::from_str(t)
                .unwrap_or_else(|e| panic!("{method} {path}: {status} body is not JSON ({e}): {t}")),
        };
        (status, value)
    }

    /// Creates `namespace/name` through the API with `token`; panics unless 201.
    pub async fn create_repo(&self, token: &str, namespace: &str, name: &str, visibility: &str) {
        let body = json!({"namespace": namespace, "repository": name, "visibility": visibility, "description": ""});
        let (status, value) = self.call("POST", "/repository", Some(token), Some(body)).await;
        assert_eq!(status, 201, "creating {namespace}/{name}: {value}");
    }
}

// ---------------------------------------------------------------------------
// /api/v1 helpers (v1_sessions, v1_apptokens)
// ---------------------------------------------------------------------------

/// A browser signed in through `POST /api/v1/signin`: its session cookie
/// and the CSRF token its writes must carry.
#[derive(Debug, Clone)]
pub struct Browser {
    pub cookie: String,
    pub csrf: String,
}

impl Browser {
    /// The `Cookie` header this browser sends.
    pub fn cookie_header(&self) -> String {
        format!("session={}", self.cookie)
    }
}

/// The value a response's `Set-Cookie` gives the `session` cookie, if any.
pub fn set_session_cookie(res: &Response) -> Option<String> {
    res.headers()
        .get_all("Set-Cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("session="))
        .map(|v| v.split(';').next().unwrap_or_default().to_owned())
}

/// Signs `username` in with `password` through the API; panics unless 200.
pub async fn sign_in(app: &TestApp, username: &str, password: &str) -> Browser {
    let res = app
        .client
        .post(app.url("/api/v1/signin"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .expect("POST /api/v1/signin");
    assert_eq!(res.status(), StatusCode::OK, "signing in as {username}");
    let cookie = set_session_cookie(&res).expect("a session cookie");
    let csrf = header(&res, "X-Next-CSRF-Token");
    Browser { cookie, csrf }
}

/// Makes every session of `username` older than any fresh-login window, as
/// if the password was last typed long ago.
pub async fn age_sessions(app: &TestApp, username: &str) {
    use diesel::prelude::*;
    use registry::db::schema::{users, usersession};

    let name = username.to_owned();
    app.services_with_stale_age(86_400)
        .await
        .db()
        .write(move |c| {
            let id: i64 = users::table
                .filter(users::username.eq(&name))
                .select(users::id)
                .first(c)?;
            diesel::update(usersession::table.filter(usersession::user_id.eq(id)))
                .set(usersession::fresh_login_ms.eq(0))
                .execute(c)?;
            Ok::<_, registry::service::Error>(())
        })
        .await
        .expect("age the sessions");
}

// ---------------------------------------------------------------------------
// Outgoing mail (v1_invites)
// ---------------------------------------------------------------------------

/// A message the SMTP sink accepted.
#[derive(Debug, Clone)]
pub struct SentMail {
    pub from: String,
    pub to: Vec<String>,
    /// Headers and body as sent, dot-stuffing undone.
    pub data: String,
}

impl SentMail {
    /// The text with quoted-printable soft line breaks and `=3D` undone, so
    /// long lines (links) read as written.
    pub fn text(&self) -> String {
        self.data.replace("=\r\n", "").replace("=3D", "=")
    }
}

/// A tiny SMTP server on 127.0.0.1 that accepts every message and keeps it:
/// greeting, EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP and QUIT.
pub struct SmtpSink {
    pub port: u16,
    mails: std::sync::Arc<std::sync::Mutex<Vec<SentMail>>>,
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
        SmtpSink::start_on(0).await
    }

    /// On a given port (0 for any free one).
    pub async fn start_on(port: u16) -> SmtpSink {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind the SMTP sink");
        let port = listener.local_addr().expect("SMTP sink address").port();
        let mails = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let store = mails.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(smtp_session(stream, store.clone()));
            }
        });
        SmtpSink { port, mails }
    }

    /// The `config.yaml` keys that send mail here.
    pub fn config(&self) -> String {
        format!("MAIL_SERVER: 127.0.0.1\nMAIL_PORT: {}\n", self.port)
    }

    /// Every message received so far.
    pub fn mails(&self) -> Vec<SentMail> {
        self.mails.lock().expect("mail store").clone()
    }
}

async fn smtp_session(
    stream: tokio::net::TcpStream,
    store: std::sync::Arc<std::sync::Mutex<Vec<SentMail>>>,
) -> std::io::Result<()> {
    use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _};

    let (read, mut write) = stream.into_split();
    let mut lines = tokio::io::BufReader::new(read).lines();
    write.write_all(b"220 127.0.0.1 test sink ESMTP\r\n").await?;
    let (mut from, mut to) = (String::new(), Vec::new());
    while let Some(line) = lines.next_line().await? {
        let upper = line.to_ascii_uppercase();
        let address = || {
            let rest = line.split_once(':').map_or("", |(_, r)| r);
            rest.trim()
                .trim_start_matches('<')
                .split('>')
                .next()
                .unwrap_or_default()
                .to_owned()
        };
        let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            b"250 127.0.0.1\r\n"
        } else if upper.starts_with("MAIL FROM:") {
            from = address();
            b"250 OK\r\n"
        } else if upper.starts_with("RCPT TO:") {
            to.push(address());
            b"250 OK\r\n"
        } else if upper == "DATA" {
            write.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n").await?;
            let mut data = Vec::new();
            while let Some(l) = lines.next_line().await? {
                if l == "." {
                    break;
                }
                let unstuffed = if l.starts_with("..") { &l[1..] } else { l.as_str() };
                data.push(unstuffed.to_owned());
            }
            let mail = SentMail {
                from: std::mem::take(&mut from),
                to: std::mem::take(&mut to),
                data: data.join("\r\n"),
            };
            store.lock().expect("mail store").push(mail);
            b"250 OK queued\r\n"
        } else if upper == "RSET" || upper == "NOOP" {
            b"250 OK\r\n"
        } else if upper == "QUIT" {
            write.write_all(b"221 Bye\r\n").await?;
            return Ok(());
        } else {
            b"502 Command not implemented\r\n"
        };
        write.write_all(reply).await?;
    }
    Ok(())
}
