//! A Clair v4 API server for tests, written from Clair's published OpenAPI
//! document (no real Clair runs here: it needs its own PostgreSQL and
//! vulnerability feeds from the internet). It answers the calls Quay makes:
//! `GET /indexer/api/v1/index_state`, `POST /indexer/api/v1/index_report`
//! (it fetches every layer from the URI and headers it is given and checks
//! the bytes against the layer's digest, as Clair does), `GET
//! /indexer/api/v1/index_report/{hash}` and `GET
//! /matcher/api/v1/vulnerability_report/{hash}`, each behind Clair's PSK
//! authentication (an HS256 JWT). Its report is fixed: every indexed image
//! has `openssl` 1.1.1k (CVE-2021-3711, High, fixed in 1.1.1l) and `zlib`
//! 1.2.11 (CVE-2018-25032, Medium) in its first layer.
//!
//! A test can make it fail (every call answers 500), hold each indexing
//! until released (a slow scanner, without sleeping), or run normally.

use std::collections::HashMap;
use std::io::Write as _;
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sha2::Digest as _;

/// How the server behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Normal,
    /// Every call answers 500.
    Failing,
    /// Indexing waits until [`FakeClair::release`] (or the mode changes).
    Held,
}

/// One layer fetch Clair made while indexing.
#[derive(Debug, Clone)]
pub struct Fetch {
    pub uri: String,
    /// The `Authorization` header the registry gave for it.
    pub authorization: Option<String>,
    pub status: u16,
    /// Whether the bytes matched the layer digest.
    pub verified: bool,
}

#[derive(Default)]
struct State {
    mode: Option<Mode>,
    released: u64,
    /// manifest hash → index report.
    reports: HashMap<String, Value>,
    fetches: Vec<Fetch>,
    /// (method, path, authorized) of every request.
    calls: Vec<(String, String, bool)>,
    waiting: usize,
    /// notification id → its entries (served one per page).
    notifications: HashMap<String, Vec<Value>>,
    deleted: Vec<String>,
}

pub struct FakeClair {
    pub port: u16,
    state: Arc<(Mutex<State>, Condvar)>,
    stop: Arc<AtomicBool>,
}

/// The indexer state the server reports (its ETag too).
pub const INDEXER_STATE: &str = "fake-clair-state-1";

impl FakeClair {
    /// Starts the server; requests must carry a JWT signed with `psk` (raw
    /// bytes; `config.yaml` holds them base64-encoded).
    pub fn start(psk: &[u8]) -> FakeClair {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind fake clair");
        let port = listener.local_addr().expect("address").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let state: Arc<(Mutex<State>, Condvar)> = Arc::default();
        state.0.lock().expect("state").mode = Some(Mode::Normal);
        let stop = Arc::new(AtomicBool::new(false));
        let (st, key) = (state.clone(), psk.to_vec());
        crate::loopback::accept_until_stopped(listener, stop.clone(), move |stream| {
            let _ = serve(stream, &st, &key);
        });
        FakeClair { port, state, stop }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn set_mode(&self, mode: Mode) {
        let (lock, cv) = &*self.state;
        lock.lock().expect("state").mode = Some(mode);
        cv.notify_all();
    }

    /// Lets one held indexing finish.
    pub fn release(&self) {
        let (lock, cv) = &*self.state;
        lock.lock().expect("state").released += 1;
        cv.notify_all();
    }

    /// Waits until an indexing is being held (the registry is inside the call).
    pub fn wait_until_held(&self, timeout: Duration) {
        self.wait_until("an indexing call to be held", timeout, |s| s.waiting > 0);
    }

    pub fn fetches(&self) -> Vec<Fetch> {
        self.state.0.lock().expect("state").fetches.clone()
    }

    /// (method, path, authorized) of every call so far.
    pub fn calls(&self) -> Vec<(String, String, bool)> {
        self.state.0.lock().expect("state").calls.clone()
    }

    /// Holds a notification for the registry to read, as Clair's notifier
    /// does before it calls the webhook.
    pub fn add_notification(&self, id: &str, entries: Vec<Value>) {
        self.state
            .0
            .lock()
            .expect("state")
            .notifications
            .insert(id.to_owned(), entries);
    }

    /// Waits until the registry has marked notification `id` handled.
    pub fn wait_until_deleted(&self, id: &str, timeout: Duration) {
        self.wait_until(&format!("notification {id} to be deleted"), timeout, |s| {
            s.deleted.iter().any(|d| d == id)
        });
    }

    /// Whether `hash` has been indexed.
    pub fn indexed(&self, hash: &str) -> bool {
        self.state.0.lock().expect("state").reports.contains_key(hash)
    }

    /// Waits until the calls so far satisfy `check`.
    pub fn wait_for_calls(&self, what: &str, timeout: Duration, check: impl Fn(&[(String, String, bool)]) -> bool) {
        self.wait_until(what, timeout, |s| check(&s.calls));
    }

    fn wait_until(&self, what: &str, timeout: Duration, check: impl Fn(&State) -> bool) {
        let deadline = Instant::now() + timeout;
        let (lock, cv) = &*self.state;
        let mut s = lock.lock().expect("state");
        while !check(&s) {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "timed out waiting for {what}; calls: {:?}", s.calls);
            s = cv
                .wait_timeout(s, left.min(Duration::from_millis(200)))
                .expect("wait")
                .0;
        }
    }
}

impl Drop for FakeClair {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.set_mode(Mode::Normal);
    }
}

fn authorized(header: Option<&str>, psk: &[u8]) -> bool {
    let Some(token) = header.and_then(|h| h.strip_prefix("Bearer ")) else {
        return false;
    };
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    v.set_issuer(&["quay"]);
    v.set_required_spec_claims(&["exp", "iss"]);
    v.validate_aud = false;
    jsonwebtoken::decode::<Value>(token.trim(), &jsonwebtoken::DecodingKey::from_secret(psk), &v).is_ok()
}

fn respond(stream: &mut TcpStream, status: u16, body: &Value, etag: Option<&str>) -> std::io::Result<()> {
    let text = body.to_string();
    let reason = match status {
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        _ => "Internal Server Error",
    };
    let etag = etag.map(|e| format!("ETag: \"{e}\"\r\n")).unwrap_or_default();
    write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{etag}Connection: close\r\n\r\n{text}",
        text.len()
    )?;
    stream.flush()
}

fn error(code: &str, message: &str) -> Value {
    json!({"code": code, "message": message})
}

fn serve(mut stream: TcpStream, state: &(Mutex<State>, Condvar), psk: &[u8]) -> std::io::Result<()> {
    let crate::loopback::Request {
        method,
        path,
        authorization: auth,
        body,
    } = crate::loopback::read_request(&stream)?;
    let ok = authorized(auth.as_deref(), psk);
    let (lock, cv) = state;
    let mode = {
        let mut s = lock.lock().expect("state");
        s.calls.push((method.clone(), path.clone(), ok));
        cv.notify_all();
        s.mode.unwrap_or(Mode::Normal)
    };
    if !ok {
        return respond(
            &mut stream,
            401,
            &error("unauthorized", "missing or bad PSK token"),
            None,
        );
    }
    if mode == Mode::Failing {
        return respond(
            &mut stream,
            500,
            &error("internal-error", "scanner failing on purpose"),
            None,
        );
    }
    match (method.as_str(), path.as_str()) {
        ("GET", "/indexer/api/v1/index_state") => {
            respond(&mut stream, 200, &json!({"state": INDEXER_STATE}), Some(INDEXER_STATE))
        }
        ("POST", "/indexer/api/v1/index_report") => {
            let Ok(manifest) = serde_json::from_slice::<Value>(&body) else {
                return respond(&mut stream, 400, &error("bad-request", "not JSON"), None);
            };
            let Some(hash) = manifest["hash"].as_str().map(str::to_owned) else {
                return respond(&mut stream, 400, &error("bad-request", "no hash"), None);
            };
            hold(state);
            let report = index(state, &hash, manifest["layers"].as_array().cloned().unwrap_or_default());
            lock.lock().expect("state").reports.insert(hash, report.clone());
            cv.notify_all();
            respond(&mut stream, 201, &report, Some(INDEXER_STATE))
        }
        ("GET", p) if p.starts_with("/notifier/api/v1/notification/") => {
            let rest = &p["/notifier/api/v1/notification/".len()..];
            let (id, query) = rest.split_once('?').unwrap_or((rest, ""));
            let page: usize = query.strip_prefix("next=").and_then(|n| n.parse().ok()).unwrap_or(0);
            let entries = lock.lock().expect("state").notifications.get(id).cloned();
            match entries {
                None => respond(&mut stream, 404, &error("not-found", "no such notification"), None),
                Some(entries) => {
                    let mut page_info = json!({"size": 1});
                    if page + 1 < entries.len() {
                        page_info["next"] = json!((page + 1).to_string());
                    }
                    let shown: Vec<Value> = entries.get(page).cloned().into_iter().collect();
                    respond(
                        &mut stream,
                        200,
                        &json!({"page": page_info, "notifications": shown}),
                        None,
                    )
                }
            }
        }
        ("DELETE", p) if p.starts_with("/notifier/api/v1/notification/") => {
            let id = p["/notifier/api/v1/notification/".len()..].to_owned();
            let mut s = lock.lock().expect("state");
            s.notifications.remove(&id);
            s.deleted.push(id);
            cv.notify_all();
            drop(s);
            respond(&mut stream, 200, &json!({}), None)
        }
        ("GET", p) if p.starts_with("/indexer/api/v1/index_report/") => {
            let hash = &p["/indexer/api/v1/index_report/".len()..];
            match lock.lock().expect("state").reports.get(hash).cloned() {
                Some(r) => respond(&mut stream, 200, &r, None),
                None => respond(&mut stream, 404, &error("not-found", "no index report"), None),
            }
        }
        ("GET", p) if p.starts_with("/matcher/api/v1/vulnerability_report/") => {
            let hash = &p["/matcher/api/v1/vulnerability_report/".len()..];
            let report = lock.lock().expect("state").reports.get(hash).cloned();
            match report {
                Some(r) if r["state"] == "IndexFinished" => respond(&mut stream, 200, &vulnerability_report(&r), None),
                _ => respond(&mut stream, 404, &error("not-found", "not indexed"), None),
            }
        }
        _ => respond(&mut stream, 404, &error("not-found", "no such endpoint"), None),
    }
}

/// In [`Mode::Held`], waits for a release (or another mode).
fn hold((lock, cv): &(Mutex<State>, Condvar)) {
    let mut s = lock.lock().expect("state");
    if s.mode != Some(Mode::Held) {
        return;
    }
    s.waiting += 1;
    cv.notify_all();
    let start = s.released;
    let deadline = Instant::now() + Duration::from_secs(300);
    while s.mode == Some(Mode::Held) && s.released == start && Instant::now() < deadline {
        s = cv.wait_timeout(s, Duration::from_millis(200)).expect("wait").0;
    }
    s.waiting -= 1;
}

/// Fetches every layer as Clair does and builds the index report.
fn index(state: &(Mutex<State>, Condvar), hash: &str, layers: Vec<Value>) -> Value {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client");
    let mut err = String::new();
    for layer in &layers {
        let uri = layer["uri"].as_str().unwrap_or_default().to_owned();
        let mut req = client.get(&uri);
        let mut authorization = None;
        for (name, values) in layer["headers"].as_object().into_iter().flatten() {
            for v in values.as_array().into_iter().flatten().filter_map(Value::as_str) {
                if name.eq_ignore_ascii_case("authorization") {
                    authorization = Some(v.to_owned());
                }
                req = req.header(name.as_str(), v);
            }
        }
        let (status, verified) = match req.send() {
            Ok(res) => {
                let status = res.status().as_u16();
                let bytes = res.bytes().map(|b| b.to_vec()).unwrap_or_default();
                let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&bytes)));
                (status, status == 200 && Some(digest.as_str()) == layer["hash"].as_str())
            }
            Err(_) => (0, false),
        };
        state.0.lock().expect("state").fetches.push(Fetch {
            uri: uri.clone(),
            authorization,
            status,
            verified,
        });
        if !verified && err.is_empty() {
            err = format!("failed to fetch layer {uri}: status {status}");
        }
    }
    let first = layers.first().and_then(|l| l["hash"].as_str()).unwrap_or_default();
    let finished = err.is_empty();
    json!({
        "manifest_hash": hash,
        "state": if finished { "IndexFinished" } else { "IndexError" },
        "err": err,
        "success": finished,
        "packages": if finished { json!({
            "10": {"id": "10", "name": "openssl", "version": "1.1.1k", "kind": "binary"},
            "11": {"id": "11", "name": "zlib", "version": "1.2.11", "kind": "binary"}
        }) } else { json!({}) },
        "distributions": {"1": {"id": "1", "did": "debian", "name": "Debian GNU/Linux", "version": "11 (bullseye)", "version_id": "11"}},
        "repository": {},
        "environments": if finished { json!({
            "10": [{"package_db": "var/lib/dpkg/status", "introduced_in": first, "distribution_id": "1"}],
            "11": [{"package_db": "var/lib/dpkg/status", "introduced_in": first, "distribution_id": "1"}]
        }) } else { json!({}) },
    })
}

fn vulnerability_report(index: &Value) -> Value {
    json!({
        "manifest_hash": index["manifest_hash"],
        "packages": index["packages"],
        "distributions": index["distributions"],
        "environments": index["environments"],
        "repository": {},
        "vulnerabilities": {
            "100": {"id": "100", "updater": "debian-bullseye-updater", "name": "CVE-2021-3711",
                    "description": "SM2 decryption buffer overflow",
                    "links": "https://security-tracker.debian.org/tracker/CVE-2021-3711",
                    "severity": "high", "normalized_severity": "High",
                    "package": {"id": "", "name": "openssl", "version": "", "kind": "binary"},
                    "distribution": {"id": "1", "did": "debian", "name": "Debian GNU/Linux", "version": "11 (bullseye)", "version_id": "11"},
                    "fixed_in_version": "1.1.1l", "issued": "2021-08-24T15:15:00Z"},
            "101": {"id": "101", "updater": "debian-bullseye-updater", "name": "CVE-2018-25032",
                    "description": "zlib memory corruption when compressing",
                    "links": "https://security-tracker.debian.org/tracker/CVE-2018-25032",
                    "severity": "medium", "normalized_severity": "Medium",
                    "package": {"id": "", "name": "zlib", "version": "", "kind": "binary"},
                    "distribution": {"id": "1", "did": "debian", "name": "Debian GNU/Linux", "version": "11 (bullseye)", "version_id": "11"},
                    "fixed_in_version": "0", "issued": "2022-03-25T09:15:00Z"}
        },
        "package_vulnerabilities": {"10": ["100"], "11": ["101"]},
        "enrichments": {}
    })
}

/// One entry of a Clair notification: `vulnerability` newly `added` to
/// `manifest`.
pub fn notification_entry(manifest: &str, name: &str, severity: &str, fixed_in: &str) -> Value {
    json!({
        "id": format!("{manifest}-{name}"),
        "manifest": manifest,
        "reason": "added",
        "vulnerability": {
            "name": name,
            "fixed_in_version": fixed_in,
            "links": format!("https://security-tracker.debian.org/tracker/{name}"),
            "description": format!("{name} in a test package"),
            "normalized_severity": severity,
            "package": {"id": "", "name": "openssl", "version": "", "kind": "binary"},
            "distribution": {}, "repository": {}
        }
    })
}

/// The `Authorization` value of a webhook delivery Clair signs with `psk`.
pub fn signed_webhook(psk: &[u8]) -> String {
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        + 300;
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"iss": "notifier", "exp": exp}),
        &jsonwebtoken::EncodingKey::from_secret(psk),
    )
    .expect("sign");
    format!("Bearer {token}")
}
