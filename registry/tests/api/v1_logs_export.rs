//! Usage-log export (`POST …/exportlogs`): the worker writes the range's
//! logs into blob storage, POSTs a signed, expiring link to a callback
//! receiver started here and/or mails it; the link downloads the JSON
//! until it expires. Refused callers, SSRF and the feature flag.

use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpResponse, HttpServer};
use base64::Engine as _;
use registry::service::log_export::ExportLinkError;
use registry::service::logs::LogEntry;
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{
    image_manifest, random_bytes, sha256, RepoFixture, SmtpSink, OCI_CONFIG, OCI_LAYER, OCI_MANIFEST,
};

/// Callbacks to the local receiver allowed; entries dated in 2024 kept (the
/// log pruner, which runs at start-up, would otherwise race the tests that
/// write them).
const ALLOW_LOCAL: &str = "SSRF_ALLOWED_HOSTS: [\"127.0.0.1\"]\nACTION_LOG_ROTATION_THRESHOLD: 1000w\n";
const HOUR_MS: i64 = 3_600_000;

/// An HTTP server on 127.0.0.1 that records the JSON bodies POSTed to it.
struct Receiver {
    url: String,
    hits: Arc<Mutex<Vec<Value>>>,
}

impl Receiver {
    fn start() -> Receiver {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind receiver");
        let url = format!("http://{}/callback", listener.local_addr().expect("receiver address"));
        let hits = Arc::new(Mutex::new(Vec::new()));
        let store = web::Data::new(hits.clone());
        let server = HttpServer::new(move || App::new().app_data(store.clone()).default_service(web::to(record)))
            .workers(1)
            .listen(listener)
            .expect("receiver listens")
            .run();
        actix_web::rt::spawn(server);
        Receiver { url, hits }
    }

    fn hits(&self) -> Vec<Value> {
        self.hits.lock().expect("hits").clone()
    }
}

async fn record(body: web::Json<Value>, hits: web::Data<Arc<Mutex<Vec<Value>>>>) -> HttpResponse {
    hits.lock().expect("hits").push(body.into_inner());
    HttpResponse::Ok().finish()
}

/// A /v2 client logging in with Basic `$oauthtoken` and an access token.
fn v2_client(token: &str) -> Client {
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("$oauthtoken:{token}"));
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Basic {basic}").parse().expect("header value"),
    );
    Client::builder().default_headers(headers).build().expect("client")
}

/// Pushes a small image under `repo:tag` over /v2, then pulls it twice.
async fn push_and_pull(fx: &RepoFixture, token: &str, repo: &str, tag: &str) {
    let client = v2_client(token);
    let config = serde_json::to_vec(&json!({"os": "linux", "nonce": hex::encode(random_bytes(8))})).expect("config");
    let layer = random_bytes(256);
    for blob in [&config, &layer] {
        let url = fx
            .app
            .url(&format!("/v2/{repo}/blobs/uploads/?digest={}", sha256(blob)));
        let res = client.post(url).body(blob.clone()).send().await.expect("blob push");
        assert_eq!(res.status(), StatusCode::CREATED, "blob push to {repo}");
    }
    let manifest = image_manifest(
        OCI_MANIFEST,
        (OCI_CONFIG, &sha256(&config), config.len()),
        &[(OCI_LAYER, &sha256(&layer), layer.len())],
    );
    let url = fx.app.url(&format!("/v2/{repo}/manifests/{tag}"));
    let res = client
        .put(&url)
        .header("Content-Type", OCI_MANIFEST)
        .body(manifest)
        .send()
        .await
        .expect("manifest push");
    assert_eq!(res.status(), StatusCode::CREATED, "manifest push {repo}:{tag}");
    for _ in 0..2 {
        let res = client
            .get(&url)
            .header("Accept", OCI_MANIFEST)
            .send()
            .await
            .expect("pull");
        assert_eq!(res.status(), StatusCode::OK, "pull {repo}:{tag}");
    }
}

/// Requests an export; returns its id (panics unless 200).
async fn export(fx: &RepoFixture, path: &str, token: &str, body: Value) -> String {
    let (status, answer) = fx.call("POST", path, Some(token), Some(body)).await;
    assert_eq!(status, 200, "POST {path}: {answer}");
    answer["export_id"].as_str().expect("export_id").to_owned()
}

/// Every entry of a log listing (all pages).
async fn listed(fx: &RepoFixture, path: &str, token: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let url = match &next {
            Some(t) => format!("{path}?next_page={t}"),
            None => path.to_owned(),
        };
        let (status, body) = fx.call("GET", &url, Some(token), None).await;
        assert_eq!(status, 200, "GET {url}: {body}");
        all.extend(body["logs"].as_array().expect("logs").iter().cloned());
        match body["next_page"].as_str() {
            Some(t) => next = Some(t.to_owned()),
            None => return all,
        }
    }
}

async fn download(url: &str) -> (u16, Value) {
    let res = Client::new().get(url).send().await.expect("GET export link");
    let status = res.status().as_u16();
    let body = res.json().await.unwrap_or(Value::Null);
    (status, body)
}

/// Runs one export pass and checks it wrote `n` exports.
async fn run_exports(fx: &RepoFixture, n: usize) {
    let report = fx.app.server.run_log_exports_once().await.expect("export pass");
    assert_eq!(report.exported, n, "{report:?}");
    assert_eq!(report.failed, 0, "{report:?}");
}

/// Alice's repository `alice/app` with a push and two pulls logged, and
/// a finished export of its logs reported to a receiver; returns the
/// receiver's one callback body.
async fn exported_repository(fx: &RepoFixture, alice: &str) -> (String, Value) {
    fx.create_repo(alice, "alice", "app", "private").await;
    push_and_pull(fx, alice, "alice/app", "v1").await;
    fx.app.server.flush_logs().await;
    let receiver = Receiver::start();
    let id = export(
        fx,
        "/repository/alice/app/exportlogs",
        alice,
        json!({"callback_url": receiver.url}),
    )
    .await;
    run_exports(fx, 1).await;
    let hits = receiver.hits();
    assert_eq!(hits.len(), 1, "one callback: {hits:?}");
    (id, hits[0].clone())
}

#[actix_web::test]
async fn a_repository_export_reaches_the_callback_and_its_link_downloads_the_logs() {
    let fx = RepoFixture::with_config(ALLOW_LOCAL).await;
    let (_, alice) = fx.user("alice").await;
    let (id, hit) = exported_repository(&fx, &alice).await;
    assert_eq!(hit["export_id"], id.as_str());
    assert_eq!(hit["status"], "success");
    assert_eq!(hit["namespace"], "alice");
    assert_eq!(hit["repository"], "app");
    let url = hit["exported_data_url"].as_str().expect("exported_data_url");
    assert!(
        url.starts_with(&format!("{}/exportedlogs/{id}?expires=", fx.app.address)),
        "{url}"
    );

    let (status, document) = download(url).await;
    assert_eq!(status, 200, "{document}");
    assert_eq!(document["export_id"], id.as_str());
    assert_eq!(document["details"]["namespace"], "alice");
    assert_eq!(document["details"]["repository"], "app");
    let exported = document["logs"].as_array().expect("logs").clone();
    let kinds: Vec<&str> = exported.iter().filter_map(|l| l["kind"].as_str()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "push_repo").count(), 1, "{kinds:?}");
    assert_eq!(kinds.iter().filter(|k| **k == "pull_repo").count(), 2, "{kinds:?}");
    assert!(exported
        .iter()
        .all(|l| l["performer"]["name"] == "alice" || l["performer"].is_null()));
    assert_eq!(
        exported,
        listed(&fx, "/repository/alice/app/logs", &alice).await,
        "the export holds the entries the logs API lists"
    );
}

#[actix_web::test]
async fn tampered_and_expired_links_are_refused_and_expired_files_deleted() {
    let fx = RepoFixture::with_config(ALLOW_LOCAL).await;
    let (_, alice) = fx.user("alice").await;
    let (id, hit) = exported_repository(&fx, &alice).await;
    let url = hit["exported_data_url"].as_str().expect("link").to_owned();
    let (base, signature) = url.split_once("&signature=").expect("signed link");
    let expires: i64 = base
        .split("expires=")
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("expiry");
    let now_s = registry::now_ms() / 1000;
    assert!((now_s + 3590..=now_s + 3610).contains(&expires), "valid one hour");

    let flipped = format!(
        "{}{}",
        &signature[..signature.len() - 1],
        if signature.ends_with('0') { "1" } else { "0" }
    );
    let later = base.replace(&format!("expires={expires}"), &format!("expires={}", expires + 3600));
    for bad in [
        format!("{base}&signature={flipped}"),
        format!("{later}&signature={signature}"),
        base.to_owned(),
    ] {
        let (status, body) = download(&bad).await;
        assert_eq!(status, 403, "{bad}: {body}");
        assert!(body["detail"].as_str().expect("detail").contains("signature"), "{body}");
    }

    let past = fx
        .app
        .server
        .log_export_url(&fx.app.address, &id, now_s - 1)
        .await
        .expect("link");
    let (status, body) = download(&past).await;
    assert_eq!(status, 410, "{body}");
    assert!(body["detail"].as_str().expect("detail").contains("expired"), "{body}");
    assert!(matches!(
        fx.app
            .server
            .open_log_export_at(&id, expires, signature, registry::now_ms() + 2 * HOUR_MS)
            .await,
        Err(ExportLinkError::Expired)
    ));

    let pass = fx
        .app
        .server
        .run_log_exports_at(registry::now_ms() + 2 * HOUR_MS)
        .await
        .expect("export pass");
    assert_eq!(pass.removed, 1, "{pass:?}");
    let (status, body) = download(&url).await;
    assert_eq!(status, 404, "the file is gone even for a still-signed link: {body}");
}

#[actix_web::test]
async fn an_emailed_export_carries_a_working_link() {
    let sink = SmtpSink::start().await;
    let fx = RepoFixture::with_config(&sink.config()).await;
    let (owner, owner_token) = fx.user("owner").await;
    let org = fx.org(&owner, "acme").await;
    fx.app
        .server
        .log_action(LogEntry::new("create_robot", Some(&owner), None).account(org.id));
    fx.app.server.flush_logs().await;
    let id = export(
        &fx,
        "/organization/acme/exportlogs",
        &owner_token,
        json!({"callback_email": "owner@example.com"}),
    )
    .await;
    run_exports(&fx, 1).await;
    let mails = sink.mails();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(mails[0].to, vec!["owner@example.com".to_owned()]);
    let text = mails[0].text();
    let start = text.find("http://").expect("a link in the mail");
    let link: String = text[start..].chars().take_while(|c| !c.is_whitespace()).collect();
    assert!(link.contains(&format!("/exportedlogs/{id}?")), "{link}");
    let (status, document) = download(&link).await;
    assert_eq!(status, 200, "{document}");
    assert_eq!(document["details"]["namespace"], "acme");
    let kinds: Vec<&str> = document["logs"]
        .as_array()
        .expect("logs")
        .iter()
        .filter_map(|l| l["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["create_robot"]);
}

#[actix_web::test]
async fn the_date_range_limits_what_a_user_export_holds() {
    let fx = RepoFixture::with_config(ALLOW_LOCAL).await;
    let (alice_account, alice) = fx.user("alice").await;
    for (kind, at) in [
        ("account_change_password", 1_709_035_200_000_i64),
        ("create_robot", 1_710_072_000_000),
    ] {
        let mut entry = LogEntry::new(kind, Some(&alice_account), None).account(alice_account.id);
        entry.datetime_ms = at;
        fx.app.server.log_action(entry);
    }
    fx.app.server.flush_logs().await;
    let receiver = Receiver::start();
    export(
        &fx,
        "/user/exportlogs?starttime=02/27/2024&endtime=02/28/2024",
        &alice,
        json!({"callback_url": receiver.url}),
    )
    .await;
    run_exports(&fx, 1).await;
    let hit = receiver.hits().pop().expect("callback");
    assert_eq!(hit["start_time"], "02/27/2024");
    assert_eq!(hit["end_time"], "02/28/2024");
    let (status, document) = download(hit["exported_data_url"].as_str().expect("link")).await;
    assert_eq!(status, 200, "{document}");
    let kinds: Vec<&str> = document["logs"]
        .as_array()
        .expect("logs")
        .iter()
        .filter_map(|l| l["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["account_change_password"]);
}

#[actix_web::test]
async fn exports_are_refused_to_callers_who_may_not_read_those_logs() {
    let fx = RepoFixture::with_config(ALLOW_LOCAL).await;
    let (alice_account, alice) = fx.user("alice").await;
    let (_, bob) = fx.user("bob").await;
    fx.create_repo(&alice, "alice", "pub", "public").await;
    let (status, _) = fx
        .call(
            "PUT",
            "/repository/alice/pub/permissions/user/bob",
            Some(&alice),
            Some(json!({"role": "write"})),
        )
        .await;
    assert_eq!(status, 200);
    let org = fx.org(&alice_account, "acme").await;
    fx.team(&alice_account, &org, "readers", "member", &["bob"]).await;
    let reader = fx.token(&alice_account, "repo:read").await;
    let body = json!({"callback_url": "http://127.0.0.1:9/cb"});
    for (path, refused) in [
        ("/repository/alice/pub/exportlogs", &bob),
        ("/organization/acme/exportlogs", &bob),
        ("/user/exportlogs", &reader),
    ] {
        let (status, answer) = fx.call("POST", path, Some(refused), Some(body.clone())).await;
        assert_eq!(status, 403, "{path}: {answer}");
        let (status, answer) = fx.call("POST", path, None, Some(body.clone())).await;
        assert_eq!(status, 401, "{path} anonymously: {answer}");
        let (status, answer) = fx.call("POST", path, Some(&alice), Some(body.clone())).await;
        assert_eq!(status, 200, "{path} by the admin: {answer}");
    }
}

#[actix_web::test]
async fn bad_callbacks_and_private_addresses_are_refused() {
    let fx = RepoFixture::new().await;
    let (_, alice) = fx.user("alice").await;
    let path = "/user/exportlogs";
    for body in [
        json!({}),
        json!({"callback_url": "", "callback_email": ""}),
        json!({"callback_url": "not a url"}),
        json!({"callback_url": "ftp://example.com/x"}),
        json!({"callback_email": "not-an-address"}),
    ] {
        let (status, answer) = fx.call("POST", path, Some(&alice), Some(body.clone())).await;
        assert_eq!(status, 400, "{body}: {answer}");
    }
    let (status, answer) = fx
        .call(
            "POST",
            path,
            Some(&alice),
            Some(json!({"callback_url": "http://127.0.0.1:9/cb"})),
        )
        .await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["detail"]
            .as_str()
            .expect("detail")
            .contains("SSRF_ALLOWED_HOSTS"),
        "{answer}"
    );
    let (status, answer) = fx
        .call(
            "POST",
            path,
            Some(&alice),
            Some(json!({"callback_email": "alice@example.com"})),
        )
        .await;
    assert_eq!(status, 400, "no mail server configured: {answer}");
}

#[actix_web::test]
async fn exports_are_not_found_when_the_feature_is_off() {
    let fx = RepoFixture::with_config("FEATURE_LOG_EXPORT: false\nSSRF_ALLOWED_HOSTS: [\"127.0.0.1\"]\n").await;
    let (_, alice) = fx.user("alice").await;
    let (status, answer) = fx
        .call(
            "POST",
            "/user/exportlogs",
            Some(&alice),
            Some(json!({"callback_url": "http://127.0.0.1:9/cb"})),
        )
        .await;
    assert_eq!(status, 404, "{answer}");
}
