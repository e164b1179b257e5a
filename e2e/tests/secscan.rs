//! Security scanning through Clair v4 (`FEATURE_SECURITY_SCANNER`), against
//! the Clair API test server of `e2e::clair` (written from Clair's OpenAPI
//! document; a real Clair cannot run here). Images are pushed with skopeo;
//! the registry's worker hands them to the scanner, which fetches their
//! layers from the registry with the short-lived token it was given; the
//! API then shows the vulnerabilities in Quay's shape. Also: a failing, a
//! slow and a misconfigured scanner, artifacts that are not scanned, and
//! who may read a report.

use std::time::{Duration, Instant};

use base64::Engine as _;
use e2e::clair::{FakeClair, Mode};
use e2e::{backend_tests, digest_of, unique_name, Registry, TestEnv};
use serde_json::{json, Value};

backend_tests!(
    a_pushed_image_is_indexed_through_its_layers_and_its_vulnerabilities_are_shown,
    a_failing_scanner_leaves_images_queued_until_it_recovers,
    a_slow_scanner_shows_queued_until_its_indexing_ends,
    a_scanner_that_refuses_the_key_scans_nothing,
    a_clair_notification_fires_vulnerability_found_at_the_configured_level,
    only_the_listed_namespaces_are_scanned,
);

const ADMIN: &str = "admin";
const PASSWORD: &str = "admin-Passw0rd";
const PSK: &[u8] = b"registry-and-clair-shared-key";
const WAIT: Duration = Duration::from_secs(60);

/// A registry with the scanner at `clair`, signing with `psk`, indexing
/// every second; returns it with the admin's OAuth token.
fn start(env: &TestEnv, clair: &FakeClair, psk: &[u8]) -> (Registry, String) {
    start_with(env, clair, psk, "")
}

/// [`start`] with more `config.yaml` keys.
fn start_with(env: &TestEnv, clair: &FakeClair, psk: &[u8], extra: &str) -> (Registry, String) {
    let key = base64::engine::general_purpose::STANDARD.encode(psk);
    let reg = Registry::start_with(
        env,
        &format!(
            "FEATURE_USER_INITIALIZE: true\nSUPER_USERS: [{ADMIN}]\nFEATURE_SECURITY_SCANNER: true\n\
             SECURITY_SCANNER_V4_ENDPOINT: {}\nSECURITY_SCANNER_V4_PSK: {key}\nSECURITY_SCANNER_INDEXING_INTERVAL: 1\nNOTIFICATION_WORKER_INTERVAL: 1\nSSRF_ALLOWED_HOSTS: [\"127.0.0.1\"]\n{extra}",
            clair.url()
        ),
        false,
    );
    let token = reg.initialize_user(ADMIN, PASSWORD);
    (reg, token)
}

/// Pushes a new one-layer image as `admin/<repo>:latest` with skopeo;
/// returns (manifest digest, layer digest).
fn push(reg: &Registry, repo: &str) -> (String, String) {
    let (pushed, image, _) = e2e::skopeo::push_new_as(reg, (ADMIN, PASSWORD), &format!("{ADMIN}/{repo}"), "latest", 0);
    pushed.ok();
    (image.manifest_digest, image.layer_digest)
}

/// GET the security endpoint with `bearer` (None: anonymous).
fn security(reg: &Registry, bearer: Option<&str>, repo: &str, digest: &str) -> (u16, Value) {
    let mut req = reqwest::blocking::Client::new().get(reg.url(&format!(
        "/api/v1/repository/{ADMIN}/{repo}/manifest/{digest}/security?vulnerabilities=true"
    )));
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    let res = req.send().expect("GET security");
    let status = res.status().as_u16();
    let text = res.text().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// Waits until the manifest's status is `want`; returns the answer.
fn wait_for_status(reg: &Registry, token: &str, repo: &str, digest: &str, want: &str) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let (code, body) = security(reg, Some(token), repo, digest);
        if code == 200 && body["status"] == want {
            return body;
        }
        assert!(Instant::now() < deadline, "status never became {want}: {code} {body}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn a_pushed_image_is_indexed_through_its_layers_and_its_vulnerabilities_are_shown(env: TestEnv) {
    let clair = FakeClair::start(PSK);
    let (reg, token) = start(&env, &clair, PSK);
    let (digest, layer) = push(&reg, "scanned");
    let body = wait_for_status(&reg, &token, "scanned", &digest, "scanned");

    // Quay's shape: one feature per package, with its vulnerabilities.
    let layer_info = &body["data"]["Layer"];
    assert_eq!(layer_info["Name"], digest.as_str(), "{body}");
    assert_eq!(layer_info["IndexedByVersion"], 4);
    let features = layer_info["Features"].as_array().expect("features");
    let openssl = features.iter().find(|f| f["Name"] == "openssl").expect("openssl");
    assert_eq!(openssl["Version"], "1.1.1k");
    assert_eq!(openssl["AddedBy"], layer.as_str());
    let vuln = &openssl["Vulnerabilities"][0];
    assert_eq!(vuln["Name"], "CVE-2021-3711");
    assert_eq!(vuln["Severity"], "High");
    assert_eq!(vuln["FixedBy"], "1.1.1l");
    let zlib = features.iter().find(|f| f["Name"] == "zlib").expect("zlib");
    assert_eq!(zlib["Vulnerabilities"][0]["Severity"], "Medium");
    assert_eq!(zlib["Vulnerabilities"][0]["FixedBy"], "", "Clair's \"0\" is no fix");

    // The scanner fetched the layer from the registry and its bytes matched;
    // every call carried the PSK's token.
    let fetches = clair.fetches();
    let fetch = fetches.iter().find(|f| f.uri.ends_with(&layer)).expect("layer fetched");
    assert!(fetch.verified, "layer fetch {fetch:?}");
    assert!(fetch.uri.contains(&format!("/v2/{ADMIN}/scanned/blobs/")), "{fetch:?}");
    assert!(
        clair.calls().iter().all(|(_, _, authorized)| *authorized),
        "{:?}",
        clair.calls()
    );

    // That token pulls this repository only, and pushes nothing.
    let bearer = fetch.authorization.clone().expect("token given to the scanner");
    let (_, other_layer) = push(&reg, "other");
    let http = reqwest::blocking::Client::new();
    let own = http
        .get(reg.url(&format!("/v2/{ADMIN}/scanned/blobs/{layer}")))
        .header("Authorization", &bearer)
        .send()
        .expect("GET own blob");
    assert_eq!(own.status().as_u16(), 200);
    let other = http
        .get(reg.url(&format!("/v2/{ADMIN}/other/blobs/{other_layer}")))
        .header("Authorization", &bearer)
        .send()
        .expect("GET other blob");
    assert_eq!(
        other.status().as_u16(),
        401,
        "the scanner's token reaches another repository"
    );
    let upload = http
        .post(reg.url(&format!("/v2/{ADMIN}/scanned/blobs/uploads/")))
        .header("Authorization", &bearer)
        .send()
        .expect("POST upload");
    assert_eq!(upload.status().as_u16(), 401, "the scanner's token pushes");

    // The private repository's report is refused to others.
    let (code, _) = security(&reg, None, "scanned", &digest);
    assert_eq!(code, 401, "anonymous callers read a private report");
    let created = http
        .post(reg.url("/api/v1/user/"))
        .json(&json!({"username": "mallory", "password": "mallory-Passw0rd", "email": "m@example.com"}))
        .send()
        .expect("create mallory");
    assert!(created.status().is_success(), "{}", created.status());
    let mallory = http
        .get(reg.url(&format!(
            "/api/v1/repository/{ADMIN}/scanned/manifest/{digest}/security"
        )))
        .basic_auth("mallory", Some("mallory-Passw0rd"))
        .send()
        .expect("GET as mallory");
    assert_eq!(mallory.status().as_u16(), 403, "another user reads a private report");
    let owner = http
        .get(reg.url(&format!(
            "/api/v1/repository/{ADMIN}/scanned/manifest/{digest}/security"
        )))
        .basic_auth(ADMIN, Some(PASSWORD))
        .send()
        .expect("GET as admin with Basic credentials");
    assert_eq!(owner.status().as_u16(), 200, "Basic credentials work here, as in Quay");
    let wrong = http
        .get(reg.url(&format!(
            "/api/v1/repository/{ADMIN}/scanned/manifest/{digest}/security"
        )))
        .basic_auth(ADMIN, Some("wrong-password"))
        .send()
        .expect("GET with a wrong password");
    assert_eq!(wrong.status().as_u16(), 401);
    let (code, _) = security(
        &reg,
        Some(&token),
        "scanned",
        "sha256:0000000000000000000000000000000000000000000000000000000000000000",
    );
    assert_eq!(code, 404, "an unknown manifest");

    // An artifact whose layers are no container layers is not scanned.
    let artifact = push_helm_like(&reg, "chart");
    let body = wait_for_status(&reg, &token, "chart", &artifact, "unsupported");
    assert_eq!(body["data"], Value::Null);
    assert!(!clair.indexed(&artifact), "the artifact went to the scanner");
}

/// Pushes a Helm-like artifact (config and layer of Helm's media types)
/// through /v2 with Basic credentials; returns its manifest digest.
fn push_helm_like(reg: &Registry, repo: &str) -> String {
    let http = reqwest::blocking::Client::new();
    let blob = |bytes: &[u8]| {
        let digest = digest_of(bytes);
        let res = http
            .post(reg.url(&format!("/v2/{ADMIN}/{repo}/blobs/uploads/?digest={digest}")))
            .basic_auth(ADMIN, Some(PASSWORD))
            .header("Content-Type", "application/octet-stream")
            .body(bytes.to_vec())
            .send()
            .expect("blob upload");
        assert_eq!(
            res.status().as_u16(),
            201,
            "blob upload: {}",
            res.text().unwrap_or_default()
        );
        (digest, bytes.len())
    };
    let (config, config_len) = blob(br#"{"name":"chart","version":"0.1.0","apiVersion":"v2"}"#);
    let (layer, layer_len) = blob(unique_name("chart bytes ").as_bytes());
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.cncf.helm.config.v1+json", "digest": config, "size": config_len},
        "layers": [{"mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip", "digest": layer, "size": layer_len}]
    })
    .to_string();
    let res = http
        .put(reg.url(&format!("/v2/{ADMIN}/{repo}/manifests/0.1.0")))
        .basic_auth(ADMIN, Some(PASSWORD))
        .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
        .body(manifest.clone())
        .send()
        .expect("manifest put");
    assert_eq!(
        res.status().as_u16(),
        201,
        "manifest: {}",
        res.text().unwrap_or_default()
    );
    digest_of(manifest.as_bytes())
}

fn a_failing_scanner_leaves_images_queued_until_it_recovers(env: TestEnv) {
    let clair = FakeClair::start(PSK);
    clair.set_mode(Mode::Failing);
    let (reg, token) = start(&env, &clair, PSK);
    let (digest, _) = push(&reg, "waiting");
    // Two passes met the failing scanner; the image is still queued, and
    // reading its status does not need the scanner.
    clair.wait_for_calls("two indexing passes", WAIT, |calls| {
        calls
            .iter()
            .filter(|(_, p, _)| p == "/indexer/api/v1/index_state")
            .count()
            >= 2
    });
    let (code, body) = security(&reg, Some(&token), "waiting", &digest);
    assert_eq!((code, body["status"].as_str()), (200, Some("queued")), "{body}");

    clair.set_mode(Mode::Normal);
    wait_for_status(&reg, &token, "waiting", &digest, "scanned");

    // The report itself needs the scanner: 503 with a clear message.
    clair.set_mode(Mode::Failing);
    let (code, body) = security(&reg, Some(&token), "waiting", &digest);
    assert_eq!(code, 503, "{body}");
    let message = body["error_message"].as_str().unwrap_or_default().to_owned();
    assert!(message.contains("security scanner"), "{body}");
    assert!(!message.contains("127.0.0.1"), "the scanner's address leaks: {body}");
    clair.set_mode(Mode::Normal);
    let (code, body) = security(&reg, Some(&token), "waiting", &digest);
    assert_eq!(
        (code, body["status"].as_str()),
        (200, Some("scanned")),
        "recovers by itself: {body}"
    );
}

fn a_slow_scanner_shows_queued_until_its_indexing_ends(env: TestEnv) {
    let clair = FakeClair::start(PSK);
    clair.set_mode(Mode::Held);
    let (reg, token) = start(&env, &clair, PSK);
    let (digest, _) = push(&reg, "slow");
    clair.wait_until_held(WAIT);
    let (code, body) = security(&reg, Some(&token), "slow", &digest);
    assert_eq!(
        (code, body["status"].as_str()),
        (200, Some("queued")),
        "while indexing: {body}"
    );
    clair.release();
    wait_for_status(&reg, &token, "slow", &digest, "scanned");
    assert!(clair.indexed(&digest));
}

fn a_scanner_that_refuses_the_key_scans_nothing(env: TestEnv) {
    let clair = FakeClair::start(PSK);
    let (reg, token) = start(&env, &clair, b"not-the-shared-key");
    let (digest, _) = push(&reg, "refused");
    clair.wait_for_calls("a refused call", WAIT, |calls| {
        calls.iter().filter(|(_, _, authorized)| !authorized).count() >= 2
    });
    assert!(
        clair.calls().iter().all(|(_, _, authorized)| !authorized),
        "{:?}",
        clair.calls()
    );
    let (code, body) = security(&reg, Some(&token), "refused", &digest);
    assert_eq!((code, body["status"].as_str()), (200, Some("queued")), "{body}");
    assert!(!clair.indexed(&digest));
    // The worker logs the refusal after Clair has answered: wait for it.
    let deadline = Instant::now() + WAIT;
    while !reg.log().contains("security indexing pass failed") {
        assert!(Instant::now() < deadline, "the refusal is not logged");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn a_clair_notification_fires_vulnerability_found_at_the_configured_level(env: TestEnv) {
    use e2e::clair::{notification_entry, signed_webhook};
    use e2e::loopback::LoopbackHttp;
    let clair = FakeClair::start(PSK);
    let (reg, token) = start(&env, &clair, PSK);
    let (digest, _) = push(&reg, "watched");
    let hooks = LoopbackHttp::start();
    let http = reqwest::blocking::Client::new();
    for (level, path) in [("High", "/high"), ("Critical", "/critical")] {
        let created = http
            .post(reg.url(&format!("/api/v1/repository/{ADMIN}/watched/notification/")))
            .bearer_auth(&token)
            .json(&json!({"event": "vulnerability_found", "method": "webhook",
                          "config": {"url": hooks.url(path)}, "eventConfig": {"level": level}, "title": level}))
            .send()
            .expect("create notification");
        assert_eq!(created.status().as_u16(), 201, "{}", created.text().unwrap_or_default());
    }

    // Clair found a High and a Low vulnerability in the pushed image, and
    // one in a manifest nobody has.
    clair.add_notification(
        "n-1",
        vec![
            notification_entry(&digest, "CVE-2024-0001", "High", "1.2.3"),
            notification_entry(&digest, "CVE-2024-0002", "Low", "0"),
            notification_entry(
                "sha256:1111111111111111111111111111111111111111111111111111111111111111",
                "CVE-2024-0003",
                "Critical",
                "",
            ),
        ],
    );
    let deliver = |authorization: Option<String>| {
        let mut req = http.post(reg.url("/secscan/notification")).json(
            &json!({"notification_id": "n-1", "callback": format!("{}/notifier/api/v1/notification/n-1", clair.url())}),
        );
        if let Some(a) = authorization {
            req = req.header("Authorization", a);
        }
        req.send().expect("webhook").status().as_u16()
    };
    assert_eq!(deliver(None), 401, "an unsigned delivery is refused");
    assert_eq!(
        deliver(Some(signed_webhook(b"someone-else"))),
        401,
        "a delivery signed with another key is refused"
    );
    assert_eq!(deliver(Some(signed_webhook(PSK))), 200);
    clair.wait_until_deleted("n-1", WAIT);

    // The High one reaches the High-level notification only; the Low one
    // reaches neither; the Critical-level notification gets nothing.
    let hit = hooks.wait_for("the High vulnerability", WAIT, |r| r.path == "/high");
    let payload: Value = serde_json::from_slice(&hit.body).expect("payload");
    assert_eq!(payload["repository"], format!("{ADMIN}/watched"), "{payload}");
    assert_eq!(payload["tags"], json!(["latest"]), "{payload}");
    assert_eq!(payload["vulnerability"]["id"], "CVE-2024-0001", "{payload}");
    assert_eq!(payload["vulnerability"]["priority"], "High", "{payload}");
    assert_eq!(payload["vulnerability"]["has_fix"], true, "{payload}");
    // Deliveries are queued before the notification is deleted at Clair;
    // wait until the notification queue is empty, so every delivery that
    // will ever go out has gone, then look at all of them.
    let deadline = Instant::now() + WAIT;
    loop {
        let metrics = http
            .get(reg.metrics_url())
            .send()
            .expect("GET /metrics")
            .text()
            .expect("text");
        let waiting = metrics
            .lines()
            .find_map(|l| l.strip_prefix("quay_queue_items_available{name=\"notification\"} "))
            .and_then(|v| v.trim().parse::<f64>().ok());
        if waiting == Some(0.0) {
            break;
        }
        assert!(Instant::now() < deadline, "notifications still queued: {waiting:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let received = hooks.received();
    assert_eq!(
        received.iter().filter(|r| r.path == "/high").count(),
        1,
        "one delivery of the High one"
    );
    assert!(
        received.iter().all(|r| r.path == "/high"),
        "only the High-level notification fires: {:?}",
        received
            .iter()
            .map(|r| (r.path.clone(), String::from_utf8_lossy(&r.body).into_owned()))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        received
            .iter()
            .filter(|r| String::from_utf8_lossy(&r.body).contains("CVE-2024-0002"))
            .count(),
        0
    );
}

fn only_the_listed_namespaces_are_scanned(env: TestEnv) {
    let clair = FakeClair::start(PSK);
    let (reg, token) = start_with(&env, &clair, PSK, "SECURITY_SCANNER_V4_NAMESPACE_WHITELIST: [listed]\n");
    let http = reqwest::blocking::Client::new();
    for org in ["listed", "unlisted"] {
        let res = http
            .post(reg.url("/api/v1/organization/"))
            .bearer_auth(&token)
            .json(&json!({"name": org}))
            .send()
            .expect("create organization");
        assert_eq!(res.status().as_u16(), 201, "{org}");
    }
    let push_to = |org: &str| {
        let (pushed, image, _) = e2e::skopeo::push_new_as(&reg, (ADMIN, PASSWORD), &format!("{org}/app"), "v1", 0);
        pushed.ok();
        image.manifest_digest
    };
    let (outside, inside) = (push_to("unlisted"), push_to("listed"));
    let status = |org: &str, digest: &str| {
        let res = http
            .get(reg.url(&format!("/api/v1/repository/{org}/app/manifest/{digest}/security")))
            .bearer_auth(&token)
            .send()
            .expect("GET security");
        res.json::<Value>().expect("json")["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let deadline = Instant::now() + WAIT;
    while status("listed", &inside) != "scanned" {
        assert!(
            Instant::now() < deadline,
            "the listed namespace's image was never scanned"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Two more passes after that one: the other image is still not sent.
    let passes = |calls: &[(String, String, bool)]| {
        calls
            .iter()
            .filter(|(_, p, _)| p == "/indexer/api/v1/index_state")
            .count()
    };
    let seen = passes(&clair.calls());
    clair.wait_for_calls("two more indexing passes", WAIT, |calls| passes(calls) >= seen + 2);
    assert_eq!(status("unlisted", &outside), "queued");
    assert!(!clair.indexed(&outside), "a namespace off the list was scanned");
}
