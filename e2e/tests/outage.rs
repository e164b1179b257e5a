//! A database outage while the registry serves: PostgreSQL (a private
//! server this test starts, so it can stop it) goes away under a running
//! `registry serve`. Every request that needs the database must then answer
//! 503 with `Retry-After` at once (here: before a 10 s client timeout, where
//! a pool left to queue would wait 30 s), never 401 (which clients show as
//! "wrong password"), and never with the driver's message; the health
//! endpoint must say the database is down. When PostgreSQL is back the same
//! process serves again: the same credentials log in and the image pushed
//! before the outage pulls back.

use std::thread;
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, RequestBuilder};
use serde_json::{json, Value};

use e2e::pg_server::Postgres;
use e2e::{digest_of, Backend, Registry, TestEnv};

/// Far below the 30 s a request used to queue for a connection.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the registry may take to notice that PostgreSQL is back.
const RECOVERY_LIMIT: Duration = Duration::from_secs(60);
const USER: &str = "outage";
const PASSWORD: &str = "outage-Passw0rd-long";

/// A response read in full, with how long it took.
struct Answer {
    status: u16,
    retry_after: Option<String>,
    location: Option<String>,
    body: String,
    took: Duration,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// Sends `req`; a client timeout fails the test (the registry must answer
/// well before a pool wait of 30 s would end).
fn send(what: &str, req: RequestBuilder) -> Answer {
    let started = Instant::now();
    let resp = req
        .send()
        .unwrap_or_else(|e| panic!("{what}: no answer within {CLIENT_TIMEOUT:?}: {e}"));
    let status = resp.status().as_u16();
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (retry_after, location) = (header("Retry-After"), header("Location"));
    let body = resp.text().unwrap_or_else(|e| panic!("{what}: reading body: {e}"));
    let took = started.elapsed();
    eprintln!("{what}: {status} after {} ms", took.as_millis());
    Answer {
        status,
        retry_after,
        location,
        body,
        took,
    }
}

/// Nothing of the database connection may reach a client.
fn assert_no_driver_text(what: &str, text: &str, pg: &Postgres) {
    let lower = text.to_ascii_lowercase();
    for leak in [
        "connection to server",
        "postgres",
        "refused",
        "5432",
        &pg.port.to_string(),
    ] {
        assert!(!lower.contains(leak), "{what}: `{leak}` in {text}");
    }
    let word_port = regex::Regex::new(r"\bport\b").expect("static regex");
    assert!(!word_port.is_match(&lower), "{what}: `port` in {text}");
}

/// A 503 that tells the client to come back, in the /v2 error shape.
fn assert_oci_unavailable(what: &str, a: &Answer, pg: &Postgres) {
    assert_eq!(a.status, 503, "{what}: {}", a.body);
    assert!(a.retry_after.is_some(), "{what}: no Retry-After");
    assert_eq!(a.json()["errors"][0]["code"], "UNAVAILABLE", "{what}: {}", a.body);
    assert!(!a.body.contains("127.0.0.1"), "{what}: {}", a.body);
    assert_no_driver_text(what, &a.body, pg);
}

struct Image {
    repo: String,
    manifest: Vec<u8>,
    layer: Vec<u8>,
    layer_digest: String,
}

fn push_image(client: &Client, reg: &Registry) -> Image {
    let repo = format!("{USER}/app");
    let config = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#.to_vec();
    let layer = e2e::fresh_bytes(4096);
    for blob in [&config, &layer] {
        let started = send(
            "start upload",
            client
                .post(reg.url(&format!("/v2/{repo}/blobs/uploads/")))
                .basic_auth(USER, Some(PASSWORD)),
        );
        assert_eq!(started.status, 202, "start upload: {}", started.body);
        let location = started.location.expect("upload Location");
        let url = if location.starts_with("http") {
            location
        } else {
            reg.url(&location)
        };
        let sep = if url.contains('?') { '&' } else { '?' };
        let done = send(
            "finish upload",
            client
                .put(format!("{url}{sep}digest={}", digest_of(blob)))
                .basic_auth(USER, Some(PASSWORD))
                .header("Content-Type", "application/octet-stream")
                .body(blob.clone()),
        );
        assert_eq!(done.status, 201, "finish upload: {}", done.body);
    }
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest_of(&config), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest_of(&layer), "size": layer.len()}],
    }))
    .expect("manifest JSON");
    let put = send(
        "put manifest",
        client
            .put(reg.url(&format!("/v2/{repo}/manifests/latest")))
            .basic_auth(USER, Some(PASSWORD))
            .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
            .body(manifest.clone()),
    );
    assert_eq!(put.status, 201, "put manifest: {}", put.body);
    Image {
        repo,
        manifest,
        layer_digest: digest_of(&layer),
        layer,
    }
}

/// A robot, the OAuth token as `$oauthtoken` and an app-specific token as
/// `$app`: the other ways registry clients log in.
fn other_credentials(client: &Client, reg: &Registry, token: &str) -> Vec<(String, String)> {
    let robot = send(
        "create robot",
        client
            .put(reg.url("/api/v1/user/robots/builder"))
            .bearer_auth(token)
            .json(&json!({"description": "outage"})),
    );
    assert!(
        robot.status == 200 || robot.status == 201,
        "create robot: {}",
        robot.body
    );
    let robot = robot.json();
    let app = send(
        "create app token",
        client
            .post(reg.url("/api/v1/user/apptoken"))
            .bearer_auth(token)
            .json(&json!({"title": "outage"})),
    );
    assert_eq!(app.status, 200, "create app token: {}", app.body);
    let field = |v: &Value, path: &[&str]| {
        path.iter()
            .fold(v, |v, k| &v[k])
            .as_str()
            .unwrap_or_else(|| panic!("no {path:?} in {v}"))
            .to_owned()
    };
    vec![
        (field(&robot, &["name"]), field(&robot, &["token"])),
        ("$oauthtoken".to_owned(), token.to_owned()),
        ("$app".to_owned(), field(&app.json(), &["token", "token_code"])),
    ]
}

#[test]
fn a_database_outage_answers_503_at_once_and_the_registry_recovers_without_restart() {
    if !Postgres::available() {
        assert!(!e2e::in_ci(), "CI=true but the PostgreSQL binaries are missing");
        eprintln!("SKIPPED: no PostgreSQL binaries");
        return;
    }
    let Some(env) = TestEnv::for_backend(Backend::SqliteFs) else {
        return;
    };
    let mut pg = Postgres::init();
    pg.start();
    let config = format!("DB_URI: {}\nFEATURE_USER_INITIALIZE: true\n", pg.url());
    let reg = Registry::start_with(&env, &config, false);
    let client = Client::builder().timeout(CLIENT_TIMEOUT).build().expect("http client");

    let init = send(
        "initialize",
        client.post(reg.url("/api/v1/user/initialize")).json(&json!({
            "username": USER, "password": PASSWORD, "email": "outage@example.com", "access_token": true,
        })),
    );
    assert_eq!(init.status, 200, "initialize: {}", init.body);
    let token = init.json()["access_token"].as_str().expect("access_token").to_owned();
    let image = push_image(&client, &reg);
    let auth_url = reg.url(&format!(
        "/v2/auth?service={}&scope=repository:{}:pull",
        reg.host(),
        image.repo
    ));
    let login = || send("/v2/auth", client.get(&auth_url).basic_auth(USER, Some(PASSWORD)));
    assert_eq!(login().status, 200, "login before the outage");
    let other_logins = other_credentials(&client, &reg, &token);
    for (user, secret) in &other_logins {
        let a = send(user, client.get(&auth_url).basic_auth(user, Some(secret)));
        assert_eq!(a.status, 200, "{user} before the outage: {}", a.body);
    }

    pg.stop();
    // Twice: the first requests find the pool's connections broken, the
    // later ones find the database already known to be unreachable.
    let mut slowest = Duration::ZERO;
    for round in 1..=2 {
        let a = login();
        assert_oci_unavailable(&format!("/v2/auth, round {round}"), &a, &pg);
        slowest = slowest.max(a.took);

        for (user, secret) in &other_logins {
            let a = send(user, client.get(&auth_url).basic_auth(user, Some(secret)));
            assert_oci_unavailable(&format!("/v2/auth as {user}, round {round}"), &a, &pg);
        }

        let a = send("GET /v2/", client.get(reg.url("/v2/")).basic_auth(USER, Some(PASSWORD)));
        assert_oci_unavailable(&format!("GET /v2/, round {round}"), &a, &pg);
        slowest = slowest.max(a.took);

        let a = send(
            "GET manifest",
            client
                .get(reg.url(&format!("/v2/{}/manifests/latest", image.repo)))
                .basic_auth(USER, Some(PASSWORD))
                .header("Accept", "application/vnd.oci.image.manifest.v1+json"),
        );
        assert_oci_unavailable(&format!("GET manifest, round {round}"), &a, &pg);
        slowest = slowest.max(a.took);

        let a = send(
            "GET /api/v1/user/",
            client.get(reg.url("/api/v1/user/")).bearer_auth(&token),
        );
        assert_eq!(a.status, 503, "/api/v1/user/: {}", a.body);
        assert!(a.retry_after.is_some(), "/api/v1/user/: no Retry-After");
        let body = a.json();
        assert_eq!(body["status"], 503, "{body}");
        assert!(
            body["error_type"].is_string() && body["title"] == body["error_type"],
            "{body}"
        );
        for field in ["detail", "error_message", "error_type"] {
            let text = body[field].as_str().unwrap_or_else(|| panic!("no {field} in {body}"));
            assert!(!text.contains("127.0.0.1"), "{field}: {text}");
            assert_no_driver_text(field, text, &pg);
        }
        assert_no_driver_text("/api/v1/user/", &a.body, &pg);
        slowest = slowest.max(a.took);

        let a = send("GET /health/instance", client.get(reg.url("/health/instance")));
        assert_eq!(a.status, 503, "/health/instance: {}", a.body);
        let body = a.json();
        assert_eq!(body["data"]["services"]["database"], false, "{body}");
        assert_eq!(body["status_code"], 503, "{body}");
        assert_no_driver_text("/health/instance", &a.body, &pg);
    }
    eprintln!("slowest answer during the outage: {} ms", slowest.as_millis());

    pg.start();
    let deadline = Instant::now() + RECOVERY_LIMIT;
    loop {
        let a = login();
        match a.status {
            200 => break,
            503 => assert!(
                Instant::now() < deadline,
                "still 503 {RECOVERY_LIMIT:?} after PostgreSQL came back"
            ),
            other => panic!("login while PostgreSQL comes back answered {other}: {}", a.body),
        }
        thread::sleep(Duration::from_millis(200));
    }
    let a = login();
    assert_eq!(a.status, 200, "login after recovery: {}", a.body);
    assert!(a.json()["token"].is_string(), "{}", a.body);
    for (user, secret) in &other_logins {
        let a = send(user, client.get(&auth_url).basic_auth(user, Some(secret)));
        assert_eq!(a.status, 200, "{user} after recovery: {}", a.body);
    }
    let a = send(
        "GET /api/v1/user/",
        client.get(reg.url("/api/v1/user/")).bearer_auth(&token),
    );
    assert_eq!(a.status, 200, "/api/v1/user/ after recovery: {}", a.body);
    assert_eq!(a.json()["username"], USER);
    let a = send("GET /health/instance", client.get(reg.url("/health/instance")));
    assert_eq!(a.status, 200, "/health/instance after recovery: {}", a.body);
    assert_eq!(a.json()["data"]["services"]["database"], true);

    let pulled = client
        .get(reg.url(&format!("/v2/{}/manifests/latest", image.repo)))
        .basic_auth(USER, Some(PASSWORD))
        .header("Accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .expect("pull manifest");
    assert_eq!(pulled.status().as_u16(), 200);
    assert_eq!(pulled.bytes().expect("manifest bytes").to_vec(), image.manifest);
    let blob = client
        .get(reg.url(&format!("/v2/{}/blobs/{}", image.repo, image.layer_digest)))
        .basic_auth(USER, Some(PASSWORD))
        .send()
        .expect("pull layer");
    assert_eq!(blob.status().as_u16(), 200);
    assert_eq!(blob.bytes().expect("layer bytes").to_vec(), image.layer);
}
