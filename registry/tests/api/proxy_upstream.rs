//! A stand-in upstream registry for proxy-cache tests, on 127.0.0.1:0, in
//! one of three auth modes: its `/v2/` and token endpoints, and manifests
//! and blobs the test puts in it. It records the requests it answers, can
//! play down (503), and can hold a blob's body after its first bytes until
//! the test releases it.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::body::SizedStream;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::Engine as _;
use bytes::Bytes;
use futures_util::stream;
use tokio::sync::Notify;

use crate::helpers::sha256;

pub const USER: &str = "upuser";
pub const PASSWORD: &str = "uppass";
const TOKEN: &str = "upstream-token";

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// `/v2/` answers 200 to anyone.
    Anonymous,
    /// `/v2/` asks for Basic auth with `USER`/`PASSWORD`.
    Basic,
    /// `/v2/` asks for a bearer token; the token endpoint wants `USER`/`PASSWORD`.
    Token,
}

/// A blob body held after its first `after` bytes until `release` is notified.
pub struct Hold {
    pub after: usize,
    pub release: Arc<Notify>,
    /// Set once the rest of the body has been handed to the connection.
    pub finished: Arc<AtomicBool>,
}

#[derive(Default)]
struct Content {
    /// (repository, tag or digest) -> (media type, bytes)
    manifests: HashMap<(String, String), (String, Vec<u8>)>,
    blobs: HashMap<String, Vec<u8>>,
    /// Bodies served for a digest instead of the blob's own bytes.
    corrupt: HashMap<String, Vec<u8>>,
    holds: HashMap<String, Hold>,
}

struct Shared {
    mode: Auth,
    host: String,
    content: Mutex<Content>,
    requests: Mutex<Vec<String>>,
    down: AtomicBool,
    /// Another `host:port` to name as the token realm's host.
    realm_host: Mutex<Option<String>>,
    /// Blob GETs answer 307 to this base URL instead of sending bytes.
    redirect_blobs: Mutex<Option<String>>,
}

impl Shared {
    fn record(&self, request: String) {
        self.requests.lock().expect("requests").push(request);
    }
}

/// A running stand-in; `host` is `127.0.0.1:<port>`.
pub struct MockUpstream {
    pub host: String,
    shared: Arc<Shared>,
}

fn basic_ok(req: &HttpRequest) -> bool {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
    );
    req.headers()
        .get("Authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == expected)
}

/// `None` when the request may go on, else the 401 to answer.
fn challenge(req: &HttpRequest, shared: &Shared) -> Option<HttpResponse> {
    let header = req.headers().get("Authorization").and_then(|v| v.to_str().ok());
    match shared.mode {
        Auth::Anonymous => None,
        Auth::Basic if basic_ok(req) => None,
        Auth::Basic => Some(
            HttpResponse::Unauthorized()
                .insert_header(("WWW-Authenticate", r#"Basic realm="Registry Realm""#))
                .finish(),
        ),
        Auth::Token if header == Some(&format!("Bearer {TOKEN}")) => None,
        Auth::Token => Some(
            HttpResponse::Unauthorized()
                .insert_header((
                    "WWW-Authenticate",
                    format!(
                        r#"Bearer realm="http://{}/token",service="mock-upstream""#,
                        shared
                            .realm_host
                            .lock()
                            .expect("realm host")
                            .clone()
                            .unwrap_or_else(|| shared.host.clone())
                    ),
                ))
                .finish(),
        ),
    }
}

async fn token(req: HttpRequest, shared: web::Data<Shared>) -> HttpResponse {
    shared.record("GET /token".to_owned());
    if basic_ok(&req) {
        HttpResponse::Ok().json(serde_json::json!({"token": TOKEN, "expires_in": 300}))
    } else {
        HttpResponse::Unauthorized().finish()
    }
}

async fn v2(req: HttpRequest, path: web::Path<String>, shared: web::Data<Shared>) -> HttpResponse {
    let path = path.into_inner();
    match path.as_str() {
        "" => shared.record(format!("{} /v2/", req.method())),
        _ => shared.record(format!("{} {path}", req.method())),
    }
    if let Some(refused) = challenge(&req, &shared) {
        return refused;
    }
    if path.is_empty() {
        return HttpResponse::Ok().json(serde_json::json!({}));
    }
    if shared.down.load(Ordering::SeqCst) {
        return HttpResponse::ServiceUnavailable().finish();
    }
    let head = req.method() == actix_web::http::Method::HEAD;
    if let Some((repo, reference)) = path.rsplit_once("/manifests/") {
        let found = shared
            .content
            .lock()
            .expect("content")
            .manifests
            .get(&(repo.to_owned(), reference.to_owned()))
            .cloned();
        return match found {
            Some((media_type, bytes)) => HttpResponse::Ok()
                .content_type(media_type)
                .insert_header(("Docker-Content-Digest", sha256(&bytes)))
                .body(if head { Vec::new() } else { bytes }),
            None => HttpResponse::NotFound().finish(),
        };
    }
    if let Some((_, digest)) = path.rsplit_once("/blobs/") {
        if let Some(base) = shared.redirect_blobs.lock().expect("redirect").clone() {
            return HttpResponse::TemporaryRedirect()
                .insert_header(("Location", format!("{base}/v2/{path}")))
                .finish();
        }
        return blob(&shared, digest);
    }
    HttpResponse::NotFound().finish()
}

fn blob(shared: &Shared, digest: &str) -> HttpResponse {
    let mut content = shared.content.lock().expect("content");
    let Some(bytes) = content
        .corrupt
        .get(digest)
        .or_else(|| content.blobs.get(digest))
        .cloned()
    else {
        return HttpResponse::NotFound().finish();
    };
    let len = bytes.len() as u64;
    let Some(hold) = content.holds.remove(digest) else {
        return HttpResponse::Ok().content_type("application/octet-stream").body(bytes);
    };
    let bytes = Bytes::from(bytes);
    let (first, rest) = (bytes.slice(..hold.after), bytes.slice(hold.after..));
    let body = stream::unfold(0u8, move |step| {
        let (first, rest) = (first.clone(), rest.clone());
        let (release, finished) = (hold.release.clone(), hold.finished.clone());
        async move {
            match step {
                0 => Some((Ok::<_, std::io::Error>(first), 1)),
                1 => {
                    release.notified().await;
                    finished.store(true, Ordering::SeqCst);
                    Some((Ok(rest), 2))
                }
                _ => None,
            }
        }
    });
    HttpResponse::Ok()
        .content_type("application/octet-stream")
        .body(SizedStream::new(len, Box::pin(body)))
}

impl MockUpstream {
    pub fn start(mode: Auth) -> MockUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind mock upstream");
        let host = format!("127.0.0.1:{}", listener.local_addr().expect("local addr").port());
        let shared = Arc::new(Shared {
            mode,
            host: host.clone(),
            content: Mutex::default(),
            requests: Mutex::default(),
            down: AtomicBool::new(false),
            realm_host: Mutex::default(),
            redirect_blobs: Mutex::default(),
        });
        let data = web::Data::from(shared.clone());
        let server = actix_web::HttpServer::new(move || {
            actix_web::App::new()
                .app_data(data.clone())
                .route("/v2/{path:.*}", web::get().to(v2))
                .route("/v2/{path:.*}", web::head().to(v2))
                .route("/token", web::get().to(token))
        })
        .workers(1)
        .listen(listener)
        .expect("listen mock upstream")
        .run();
        actix_web::rt::spawn(server);
        MockUpstream { host, shared }
    }

    /// Serves `bytes` as `repo`'s manifest under `tag` and under its digest;
    /// returns the digest.
    pub fn put_manifest(&self, repo: &str, tag: &str, media_type: &str, bytes: &[u8]) -> String {
        let digest = sha256(bytes);
        let mut content = self.shared.content.lock().expect("content");
        for reference in [tag, digest.as_str()] {
            content.manifests.insert(
                (repo.to_owned(), reference.to_owned()),
                (media_type.to_owned(), bytes.to_vec()),
            );
        }
        digest
    }

    /// Serves a blob; returns its digest.
    pub fn put_blob(&self, bytes: &[u8]) -> String {
        let digest = sha256(bytes);
        let mut content = self.shared.content.lock().expect("content");
        content.blobs.insert(digest.clone(), bytes.to_vec());
        digest
    }

    /// Serves `bytes` whenever the blob `digest` is asked for.
    pub fn corrupt_blob(&self, digest: &str, bytes: &[u8]) {
        let mut content = self.shared.content.lock().expect("content");
        content.corrupt.insert(digest.to_owned(), bytes.to_vec());
    }

    /// Holds the next body of blob `digest` after its first `after` bytes.
    pub fn hold_blob(&self, digest: &str, after: usize) -> (Arc<Notify>, Arc<AtomicBool>) {
        let (release, finished) = (Arc::new(Notify::new()), Arc::new(AtomicBool::new(false)));
        let hold = Hold {
            after,
            release: release.clone(),
            finished: finished.clone(),
        };
        let mut content = self.shared.content.lock().expect("content");
        content.holds.insert(digest.to_owned(), hold);
        (release, finished)
    }

    /// Whether every manifest and blob request is answered 503.
    /// Names `host` (`host:port`) as the token realm's host from now on.
    pub fn set_realm_host(&self, host: &str) {
        *self.shared.realm_host.lock().expect("realm host") = Some(host.to_owned());
    }

    /// Answers blob GETs with a redirect to the same path under `base`.
    pub fn redirect_blobs_to(&self, base: &str) {
        *self.shared.redirect_blobs.lock().expect("redirect") = Some(base.to_owned());
    }

    pub fn set_down(&self, down: bool) {
        self.shared.down.store(down, Ordering::SeqCst);
    }

    /// The requests answered so far (`METHOD path` below `/v2/`, or
    /// `GET /v2/` and `GET /token`), and forgets them.
    pub fn take_requests(&self) -> Vec<String> {
        std::mem::take(&mut *self.shared.requests.lock().expect("requests"))
    }
}
