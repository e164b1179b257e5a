//! A stand-in upstream registry for mirror syncs: tag listing (paginated
//! with `Link`), manifests and blobs of images held in memory, in one of
//! three auth modes, counting what it serves. It also answers requests
//! sent to it as an HTTP proxy (absolute-form request targets), counting
//! those too. For organization mirrors it answers the parts of Quay's REST
//! API their discovery uses (`/api/v1/repository?namespace=…` paged by
//! `next_page`, `/api/v1/organization/{ns}`, `/api/v1/users/{ns}`), which
//! take `PASSWORD` as a Bearer API token unless the mode is anonymous.

use std::collections::{BTreeMap, HashMap};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use actix_web::{web, HttpRequest, HttpResponse};
use base64::Engine as _;
use serde_json::json;

use crate::helpers::{image_manifest, index_manifest, random_bytes, sha256};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Auth {
    /// Anyone may pull.
    Anonymous,
    /// Basic auth with `USER`/`PASSWORD`.
    Basic,
    /// Bearer tokens from `/token`, which wants `USER`/`PASSWORD`.
    Token,
}

pub const USER: &str = "username";
pub const PASSWORD: &str = "password";
const TOKEN: &str = "mirror-upstream-token";
/// Tags per page of a listing, small so that syncs follow `Link`.
const PAGE: usize = 2;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

#[derive(Default)]
struct Store {
    /// Repository path → tag → manifest digest.
    tags: HashMap<String, BTreeMap<String, String>>,
    manifests: HashMap<String, (String, Vec<u8>)>,
    blobs: HashMap<String, Vec<u8>>,
    blob_gets: HashMap<String, usize>,
    manifest_gets: usize,
    /// Manifest requests received, served or still held at the gate.
    manifest_requests: usize,
    proxied: usize,
    /// Repository listings served by the REST API.
    api_listings: usize,
    failing: bool,
    /// While set, manifest requests wait for the gate to open.
    gate: Option<Arc<tokio::sync::Semaphore>>,
}

/// A running stand-in; `host` is `127.0.0.1:<port>`.
#[derive(Clone)]
pub struct MirrorUpstream {
    pub host: String,
    store: Arc<Mutex<Store>>,
}

struct Shared {
    mode: Auth,
    host: String,
    store: Arc<Mutex<Store>>,
}

fn authorized(req: &HttpRequest, mode: Auth) -> bool {
    let header = req.headers().get("Authorization").and_then(|v| v.to_str().ok());
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
    );
    match mode {
        Auth::Anonymous => true,
        Auth::Basic => header == Some(basic.as_str()),
        Auth::Token => header == Some(&format!("Bearer {TOKEN}")),
    }
}

fn challenge(mode: Auth, host: &str) -> HttpResponse {
    let value = match mode {
        Auth::Basic => r#"Basic realm="Registry Realm""#.to_owned(),
        _ => format!(r#"Bearer realm="http://{host}/token",service="mirror-upstream""#),
    };
    HttpResponse::Unauthorized()
        .insert_header(("WWW-Authenticate", value))
        .json(json!({"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}))
}

async fn token(req: HttpRequest) -> HttpResponse {
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
    );
    let header = req.headers().get("Authorization").and_then(|v| v.to_str().ok());
    if header == Some(basic.as_str()) {
        HttpResponse::Ok().json(json!({"token": TOKEN, "expires_in": 300}))
    } else {
        HttpResponse::Unauthorized().finish()
    }
}

/// Quay's API takes an API token; in anonymous mode none is needed, but a
/// wrong one is still refused.
fn api_authorized(req: &HttpRequest, mode: Auth) -> bool {
    let header = req.headers().get("Authorization").and_then(|v| v.to_str().ok());
    let good = format!("Bearer {PASSWORD}");
    match (mode, header) {
        (Auth::Anonymous, None) => true,
        (_, Some(h)) => h == good,
        (_, None) => false,
    }
}

fn api_unauthorized() -> HttpResponse {
    HttpResponse::Unauthorized().json(json!({"detail": "Unauthorized", "status": 401}))
}

/// The repository names under `namespace/`, sorted.
fn names_in(store: &Store, namespace: &str) -> Vec<String> {
    let mut names: Vec<String> = store
        .tags
        .keys()
        .filter_map(|path| path.strip_prefix(&format!("{namespace}/")).map(str::to_owned))
        .collect();
    names.sort();
    names
}

async fn api_repositories(req: HttpRequest, shared: web::Data<Shared>) -> HttpResponse {
    if !api_authorized(&req, shared.mode) {
        return api_unauthorized();
    }
    let query = web::Query::<HashMap<String, String>>::from_query(req.query_string())
        .map(|q| q.into_inner())
        .unwrap_or_default();
    let namespace = query.get("namespace").cloned().unwrap_or_default();
    let start: usize = query.get("next_page").and_then(|p| p.parse().ok()).unwrap_or(0);
    let mut store = shared.store.lock().expect("store");
    store.api_listings += 1;
    let names = names_in(&store, &namespace);
    let page: Vec<_> = names
        .iter()
        .skip(start)
        .take(PAGE)
        .map(|n| json!({"namespace": namespace, "name": n}))
        .collect();
    let mut body = json!({"repositories": page});
    if start + PAGE < names.len() {
        body["next_page"] = json!((start + PAGE).to_string());
    }
    HttpResponse::Ok().json(body)
}

async fn api_organization(req: HttpRequest, shared: web::Data<Shared>, path: web::Path<String>) -> HttpResponse {
    if !api_authorized(&req, shared.mode) {
        return api_unauthorized();
    }
    let store = shared.store.lock().expect("store");
    if names_in(&store, &path).is_empty() {
        HttpResponse::NotFound().json(json!({"detail": "Not Found", "status": 404}))
    } else {
        HttpResponse::Ok().json(json!({"name": path.into_inner()}))
    }
}

async fn v2(req: HttpRequest, shared: web::Data<Shared>) -> HttpResponse {
    if req.uri().host().is_some() {
        shared.store.lock().expect("store").proxied += 1;
    }
    if !authorized(&req, shared.mode) {
        return challenge(shared.mode, &shared.host);
    }
    let path = req.uri().path().trim_start_matches("/v2/").to_owned();
    if path.is_empty() {
        return HttpResponse::Ok().json(json!({}));
    }
    if shared.store.lock().expect("store").failing {
        return HttpResponse::InternalServerError().finish();
    }
    if let Some(repo) = path.strip_suffix("/tags/list") {
        return tags_page(&req, &shared, repo);
    }
    if let Some((repo, reference)) = path.rsplit_once("/manifests/") {
        let gate = {
            let mut store = shared.store.lock().expect("store");
            store.manifest_requests += 1;
            store.gate.clone()
        };
        if let Some(gate) = gate {
            gate.acquire().await.expect("gate open").forget();
        }
        let mut store = shared.store.lock().expect("store");
        store.manifest_gets += 1;
        let digest = match store.tags.get(repo).and_then(|t| t.get(reference)) {
            Some(d) => d.clone(),
            None => reference.to_owned(),
        };
        return match store.manifests.get(&digest) {
            Some((media, bytes)) => HttpResponse::Ok()
                .content_type(media.as_str())
                .insert_header(("Docker-Content-Digest", digest.clone()))
                .body(bytes.clone()),
            None => HttpResponse::NotFound().json(json!({"errors": [{"code": "MANIFEST_UNKNOWN"}]})),
        };
    }
    if let Some((_, digest)) = path.rsplit_once("/blobs/") {
        let mut store = shared.store.lock().expect("store");
        *store.blob_gets.entry(digest.to_owned()).or_default() += 1;
        return match store.blobs.get(digest) {
            Some(bytes) => HttpResponse::Ok()
                .content_type("application/octet-stream")
                .body(bytes.clone()),
            None => HttpResponse::NotFound().json(json!({"errors": [{"code": "BLOB_UNKNOWN"}]})),
        };
    }
    HttpResponse::NotFound().finish()
}

fn tags_page(req: &HttpRequest, shared: &Shared, repo: &str) -> HttpResponse {
    let query = web::Query::<HashMap<String, String>>::from_query(req.query_string())
        .map(|q| q.into_inner())
        .unwrap_or_default();
    let last = query.get("last").cloned().unwrap_or_default();
    let store = shared.store.lock().expect("store");
    let Some(tags) = store.tags.get(repo) else {
        return HttpResponse::NotFound().json(json!({"errors": [{"code": "NAME_UNKNOWN"}]}));
    };
    let page: Vec<&String> = tags.keys().filter(|t| **t > last).take(PAGE).collect();
    let mut res = HttpResponse::Ok();
    if let Some(end) = page.last() {
        if tags.keys().any(|t| t > *end) {
            res.insert_header((
                "Link",
                format!(r#"</v2/{repo}/tags/list?last={end}&n={PAGE}>; rel="next""#),
            ));
        }
    }
    res.json(json!({"name": repo, "tags": page}))
}

/// A pushed image: manifest digest, its blobs' digests.
#[derive(Debug, Clone)]
pub struct UpImage {
    pub digest: String,
    pub blobs: Vec<String>,
}

impl MirrorUpstream {
    pub fn start(mode: Auth) -> MirrorUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind mirror upstream");
        let host = format!("127.0.0.1:{}", listener.local_addr().expect("local addr").port());
        let store = Arc::new(Mutex::new(Store::default()));
        let shared = web::Data::new(Shared {
            mode,
            host: host.clone(),
            store: store.clone(),
        });
        let server = actix_web::HttpServer::new(move || {
            actix_web::App::new()
                .app_data(shared.clone())
                .route("/token", web::get().to(token))
                .route("/api/v1/repository", web::get().to(api_repositories))
                .route("/api/v1/organization/{ns}", web::get().to(api_organization))
                .route(
                    "/api/v1/users/{ns}",
                    web::get().to(|| async { HttpResponse::NotFound().json(json!({"status": 404})) }),
                )
                .route("/v2/{rest:.*}", web::get().to(v2))
        })
        .workers(1)
        .listen(listener)
        .expect("listen mirror upstream")
        .run();
        actix_web::rt::spawn(server);
        MirrorUpstream { host, store }
    }

    fn add_manifest(&self, media: &str, bytes: Vec<u8>) -> String {
        let digest = sha256(&bytes);
        let mut store = self.store.lock().expect("store");
        store.manifests.insert(digest.clone(), (media.to_owned(), bytes));
        digest
    }

    /// An image of a fresh config and `layers` (existing blobs may be
    /// passed to share them), not tagged.
    pub fn image(&self, shared_layers: &[Vec<u8>]) -> UpImage {
        let config =
            serde_json::to_vec(&json!({"architecture": "amd64", "os": "linux", "n": hex::encode(random_bytes(8))}))
                .expect("config JSON");
        let mut layers: Vec<Vec<u8>> = shared_layers.to_vec();
        if layers.is_empty() {
            layers.push(random_bytes(700));
        }
        let descriptors: Vec<(String, usize)> = layers.iter().map(|l| (sha256(l), l.len())).collect();
        let refs: Vec<(&str, &str, usize)> = descriptors.iter().map(|(d, s)| (OCI_LAYER, d.as_str(), *s)).collect();
        let manifest = image_manifest(OCI_MANIFEST, (OCI_CONFIG, &sha256(&config), config.len()), &refs);
        let mut blobs = vec![sha256(&config)];
        {
            let mut store = self.store.lock().expect("store");
            store.blobs.insert(sha256(&config), config);
            for l in layers {
                blobs.push(sha256(&l));
                store.blobs.insert(sha256(&l), l);
            }
        }
        UpImage {
            digest: self.add_manifest(OCI_MANIFEST, manifest),
            blobs,
        }
    }

    /// An index over `children`.
    pub fn index(&self, children: &[&UpImage]) -> UpImage {
        let entries: Vec<(String, usize)> = {
            let store = self.store.lock().expect("store");
            children
                .iter()
                .map(|c| (c.digest.clone(), store.manifests[&c.digest].1.len()))
                .collect()
        };
        let refs: Vec<(&str, &str, usize)> = entries.iter().map(|(d, s)| (OCI_MANIFEST, d.as_str(), *s)).collect();
        UpImage {
            digest: self.add_manifest(OCI_INDEX, index_manifest(OCI_INDEX, &refs)),
            blobs: Vec::new(),
        }
    }

    pub fn tag(&self, repo: &str, tag: &str, image: &UpImage) {
        let mut store = self.store.lock().expect("store");
        store
            .tags
            .entry(repo.to_owned())
            .or_default()
            .insert(tag.to_owned(), image.digest.clone());
    }

    pub fn untag(&self, repo: &str, tag: &str) {
        let mut store = self.store.lock().expect("store");
        store.tags.entry(repo.to_owned()).or_default().remove(tag);
    }

    /// Blob GETs served so far, all digests together.
    pub fn blob_gets(&self) -> usize {
        self.store.lock().expect("store").blob_gets.values().sum()
    }

    pub fn manifest_gets(&self) -> usize {
        self.store.lock().expect("store").manifest_gets
    }

    /// Manifest requests received, including those held at the gate.
    pub fn manifest_requests(&self) -> usize {
        self.store.lock().expect("store").manifest_requests
    }

    /// Repository listing pages its REST API served.
    pub fn api_listings(&self) -> usize {
        self.store.lock().expect("store").api_listings
    }

    /// Requests that reached it as a proxy.
    pub fn proxied(&self) -> usize {
        self.store.lock().expect("store").proxied
    }

    /// Makes every repository request answer 500 (or not).
    pub fn set_failing(&self, failing: bool) {
        self.store.lock().expect("store").failing = failing;
    }

    /// Holds manifest requests until permits are added to the returned gate.
    pub fn close_gate(&self) -> Arc<tokio::sync::Semaphore> {
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        self.store.lock().expect("store").gate = Some(gate.clone());
        gate
    }
}
