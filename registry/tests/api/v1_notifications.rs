//! Repository notifications: API, delivery to real receivers, retries.
//!
//! Receivers are small HTTP servers on 127.0.0.1 started by each test; the
//! registry's own delivery loop is off (`NOTIFICATION_WORKER_INTERVAL: 0`)
//! and the tests run delivery passes themselves, at chosen times.

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::helpers::{grant_role, Grantee, RepoFixture, SmtpSink};

const BASE_CONFIG: &str = "NOTIFICATION_WORKER_INTERVAL: 0\nSSRF_ALLOWED_HOSTS: [\"127.0.0.1\"]\n";

/// One request a receiver got: path and JSON body.
#[derive(Debug, Clone)]
struct Hit {
    path: String,
    body: Value,
}

/// An HTTP server that records POSTs and answers 500 to the first
/// `failures` of them (`usize::MAX`: always), 200 after.
struct Receiver {
    url: String,
    hits: Arc<Mutex<Vec<Hit>>>,
}

impl Receiver {
    async fn start(failures: usize) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver");
        let url = format!("http://{}", listener.local_addr().expect("receiver address"));
        let hits = Arc::new(Mutex::new(Vec::new()));
        let store = hits.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let store = store.clone();
                tokio::spawn(async move {
                    let _ = serve_one(stream, store, failures).await;
                });
            }
        });
        Receiver { url, hits }
    }

    fn hits(&self) -> Vec<Hit> {
        self.hits.lock().expect("hits").clone()
    }
}

async fn serve_one(
    mut stream: tokio::net::TcpStream,
    store: Arc<Mutex<Vec<Hit>>>,
    failures: usize,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0_u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().to_owned())
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let path = head.split_whitespace().nth(1).unwrap_or_default().to_owned();
    let body = serde_json::from_slice(&buf[head_end..]).unwrap_or(Value::Null);
    let seen = {
        let mut hits = store.lock().expect("hits");
        hits.push(Hit { path, body });
        hits.len()
    };
    let status = if seen <= failures {
        "500 Internal Server Error"
    } else {
        "200 OK"
    };
    let reply = format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    stream.write_all(reply.as_bytes()).await?;
    stream.shutdown().await
}

/// A registry with user `owner` who owns repository `owner/app`.
struct Setup {
    fx: RepoFixture,
    owner: String,
}

impl Setup {
    async fn new(extra: &str) -> Setup {
        let fx = RepoFixture::with_config(&format!("{BASE_CONFIG}{extra}")).await;
        let (_, owner) = fx.user("owner").await;
        fx.create_repo(&owner, "owner", "app", "private").await;
        Setup { fx, owner }
    }

    async fn create(&self, body: Value) -> (u16, Value) {
        self.fx
            .call(
                "POST",
                "/repository/owner/app/notification/",
                Some(&self.owner),
                Some(body),
            )
            .await
    }

    async fn create_ok(&self, event: &str, method: &str, config: Value) -> String {
        let (status, view) = self
            .create(json!({"event": event, "method": method, "config": config, "eventConfig": {}, "title": "t"}))
            .await;
        assert_eq!(status, 201, "{view}");
        view["uuid"].as_str().expect("uuid").to_owned()
    }

    async fn view(&self, uuid: &str) -> Value {
        let (status, view) = self
            .fx
            .call(
                "GET",
                &format!("/repository/owner/app/notification/{uuid}"),
                Some(&self.owner),
                None,
            )
            .await;
        assert_eq!(status, 200, "{view}");
        view
    }

    /// A `quay_notification` to `owner` on push, then a push delivered.
    async fn push_into_owners_inbox(&self) {
        self.create_ok(
            "repo_push",
            "quay_notification",
            json!({"target": {"kind": "user", "name": "owner"}}),
        )
        .await;
        self.fx.push_tag("owner/app", "latest").await;
        assert_eq!(self.deliver().await.delivered, 1);
    }

    async fn deliver(&self) -> registry::service::notifications::DeliveryReport {
        self.fx
            .services
            .deliver_notifications_once()
            .await
            .expect("delivery pass")
    }

    async fn deliver_at(&self, offset_s: i64) -> registry::service::notifications::DeliveryReport {
        self.fx
            .services
            .deliver_notifications_at(registry::now_ms() + offset_s * 1000)
            .await
            .expect("delivery pass")
    }

    /// How many deliveries are queued, for every notification.
    async fn queued(&self) -> i64 {
        use diesel::prelude::*;
        use registry::db::schema::notificationqueue;
        self.fx
            .services
            .db()
            .read(|c| Ok(notificationqueue::table.count().get_result::<i64>(c)?))
            .await
            .expect("count the notification queue")
    }
}

#[actix_web::test]
async fn webhook_receives_the_push_payload_with_updated_tags() {
    let rx = Receiver::start(0).await;
    let s = Setup::new("SERVER_HOSTNAME: quay.example.com\n").await;
    let uuid = s
        .create_ok("repo_push", "webhook", json!({"url": format!("{}/hook", rx.url)}))
        .await;
    let (status, list) =
        s.fx.call("GET", "/repository/owner/app/notification/", Some(&s.owner), None)
            .await;
    assert_eq!(status, 200);
    let view = &list["notifications"][0];
    assert_eq!(view["uuid"], uuid.as_str());
    assert_eq!(view["event"], "repo_push");
    assert_eq!(view["method"], "webhook");
    assert_eq!(view["event_config"], json!({}));
    assert_eq!(view["number_of_failures"], 0);

    s.fx.push_tag("owner/app", "latest").await;
    let report = s.deliver().await;
    assert_eq!(report.delivered, 1, "{report:?}");
    let hits = rx.hits();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].path, "/hook");
    let body = &hits[0].body;
    assert_eq!(body["repository"], "owner/app");
    assert_eq!(body["namespace"], "owner");
    assert_eq!(body["name"], "app");
    assert_eq!(body["docker_url"], "quay.example.com/owner/app");
    assert_eq!(body["homepage"], "http://quay.example.com/repository/owner/app");
    assert_eq!(body["updated_tags"], json!(["latest"]));
    // Nothing is left to deliver.
    assert_eq!(s.deliver().await.delivered, 0);
}

#[actix_web::test]
async fn webhook_template_shapes_the_body() {
    let rx = Receiver::start(0).await;
    let s = Setup::new("").await;
    let template = r#"{"text": "pushed ${repository}", "tags": "${updated_tags}"}"#;
    s.create_ok("repo_push", "webhook", json!({"url": rx.url, "template": template}))
        .await;
    s.fx.push_tag("owner/app", "v2").await;
    s.deliver().await;
    assert_eq!(rx.hits()[0].body, json!({"text": "pushed owner/app", "tags": ["v2"]}));
}

#[actix_web::test]
async fn slack_flowdock_and_hipchat_receive_their_formats() {
    let rx = Receiver::start(0).await;
    let extra = format!(
        "NOTIFICATION_FLOWDOCK_API_URL: {0}/flowdock/\nNOTIFICATION_HIPCHAT_API_URL: {0}/hipchat/\n",
        rx.url
    );
    let s = Setup::new(&extra).await;
    s.create_ok("repo_push", "slack", json!({"url": format!("{}/slack", rx.url)}))
        .await;
    s.create_ok("repo_push", "flowdock", json!({"flow_api_token": "flowtoken"}))
        .await;
    s.create_ok(
        "repo_push",
        "hipchat",
        json!({"notification_token": "hiptoken", "room_id": 42}),
    )
    .await;
    s.fx.push_tag("owner/app", "latest").await;
    assert_eq!(s.deliver().await.delivered, 3);
    let hits = rx.hits();
    let by_path = |prefix: &str| {
        hits.iter()
            .find(|h| h.path.starts_with(prefix))
            .unwrap_or_else(|| panic!("no POST to {prefix}: {hits:?}"))
            .clone()
    };
    let slack = by_path("/slack");
    assert!(
        slack.body["text"].as_str().expect("text").contains("owner/app"),
        "{slack:?}"
    );
    assert_eq!(slack.body["attachments"][0]["title"], "owner/app");
    let flowdock = by_path("/flowdock/flowtoken");
    assert_eq!(flowdock.body["source"], "Quay");
    assert_eq!(flowdock.body["tags"], json!(["#repo_push"]));
    assert!(flowdock.body["content"].as_str().expect("content").contains("latest"));
    let hipchat = by_path("/hipchat/42/notification");
    assert!(hipchat.path.ends_with("auth_token=hiptoken"), "{}", hipchat.path);
    assert!(hipchat.body["message"].as_str().expect("message").contains("owner/app"));
    assert_eq!(hipchat.body["color"], "green");
}

#[actix_web::test]
async fn a_test_event_is_queued_with_the_sample_payload() {
    let rx = Receiver::start(0).await;
    let s = Setup::new("").await;
    let uuid = s.create_ok("build_failure", "webhook", json!({"url": rx.url})).await;
    let (status, body) =
        s.fx.call(
            "POST",
            &format!("/repository/owner/app/notification/{uuid}/test"),
            Some(&s.owner),
            None,
        )
        .await;
    assert_eq!((status, body), (200, json!({})));
    s.deliver().await;
    let body = &rx.hits()[0].body;
    assert_eq!(body["repository"], "owner/app");
    assert!(
        body["build_id"].is_string() && body["error_message"].is_string(),
        "{body}"
    );
}

#[actix_web::test]
async fn a_failing_receiver_is_retried_with_backoff_until_it_succeeds() {
    let rx = Receiver::start(2).await;
    let s = Setup::new("").await;
    let uuid = s.create_ok("repo_push", "webhook", json!({"url": rx.url})).await;
    s.fx.push_tag("owner/app", "latest").await;
    assert_eq!(s.deliver_at(0).await.failed, 1);
    assert_eq!(s.view(&uuid).await["number_of_failures"], 1);
    // Not again before the backoff has passed.
    assert_eq!(s.deliver_at(1).await, Default::default());
    assert_eq!(s.deliver_at(15).await.failed, 1);
    assert_eq!(s.view(&uuid).await["number_of_failures"], 2);
    assert_eq!(s.deliver_at(60).await.delivered, 1);
    assert_eq!(s.view(&uuid).await["number_of_failures"], 0);
    let hits = rx.hits();
    assert_eq!(hits.len(), 3);
    assert!(hits.iter().all(|h| h.body["updated_tags"] == json!(["latest"])));
}

#[actix_web::test]
async fn three_failures_stop_a_notification_until_it_is_reset() {
    let rx = Receiver::start(usize::MAX).await;
    let s = Setup::new("").await;
    let uuid = s.create_ok("repo_push", "webhook", json!({"url": rx.url})).await;
    s.fx.push_tag("owner/app", "one").await;
    for at in [0, 15, 60, 600] {
        s.deliver_at(at).await;
    }
    assert_eq!(rx.hits().len(), 3);
    assert_eq!(s.view(&uuid).await["number_of_failures"], 3);
    // Stopped: a new push queues nothing.
    s.fx.push_tag("owner/app", "two").await;
    assert_eq!(s.deliver_at(3600).await, Default::default());
    assert_eq!(rx.hits().len(), 3);
    // Reset, and it fires again.
    let (status, _) =
        s.fx.call(
            "POST",
            &format!("/repository/owner/app/notification/{uuid}"),
            Some(&s.owner),
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(s.view(&uuid).await["number_of_failures"], 0);
    s.fx.push_tag("owner/app", "three").await;
    assert_eq!(s.deliver().await.failed, 1);
    let hits = rx.hits();
    assert_eq!(hits.len(), 4);
    assert_eq!(hits[3].body["updated_tags"], json!(["three"]));
}

#[actix_web::test]
async fn a_deleted_notification_stops_and_unknown_ones_are_400() {
    let rx = Receiver::start(0).await;
    let s = Setup::new("").await;
    let uuid = s.create_ok("repo_push", "webhook", json!({"url": rx.url})).await;
    s.fx.push_tag("owner/app", "latest").await;
    let path = format!("/repository/owner/app/notification/{uuid}");
    let (status, _) = s.fx.call("DELETE", &path, Some(&s.owner), None).await;
    assert_eq!(status, 204);
    assert_eq!(s.deliver().await.delivered, 0);
    assert!(rx.hits().is_empty());
    for method in ["GET", "DELETE", "POST"] {
        let (status, body) = s.fx.call(method, &path, Some(&s.owner), None).await;
        assert_eq!(status, 400, "{method}: {body}");
    }
}

#[actix_web::test]
async fn email_notifications_go_to_confirmed_addresses_only() {
    let sink = SmtpSink::start().await;
    let s = Setup::new(&format!("{}SERVER_HOSTNAME: localhost\n", sink.config())).await;
    let (status, body) = s
        .create(
            json!({"event": "repo_push", "method": "email", "config": {"email": "ops@example.com"}, "eventConfig": {}}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["detail"].as_str().expect("detail").contains("not been authorized"),
        "{body}"
    );

    let path = "/repository/owner/app/authorizedemail/ops@example.com";
    let (status, auth) = s.fx.call("POST", path, Some(&s.owner), None).await;
    assert_eq!(status, 200, "{auth}");
    assert_eq!(
        auth,
        json!({"email": "ops@example.com", "repository": "owner/app", "confirmed": false})
    );
    let mail = sink.mails().pop().expect("a confirmation mail");
    assert_eq!(mail.to, vec!["ops@example.com".to_owned()]);
    let text = mail.text();
    let code = text
        .split("code=")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .expect("a code in the mail")
        .to_owned();
    let res =
        s.fx.app
            .client
            .get(s.fx.app.url(&format!("/authrepoemail?code={code}")))
            .send()
            .await
            .expect("confirm");
    assert_eq!(res.status(), 200);
    let (_, auth) = s.fx.call("GET", path, Some(&s.owner), None).await;
    assert_eq!(auth["confirmed"], true);

    s.create_ok("repo_push", "email", json!({"email": "ops@example.com"}))
        .await;
    s.fx.push_tag("owner/app", "latest").await;
    assert_eq!(s.deliver().await.delivered, 1);
    let mail = sink.mails().pop().expect("a notification mail");
    assert_eq!(mail.to, vec!["ops@example.com".to_owned()]);
    assert!(mail.text().contains("owner/app"), "{}", mail.text());
    assert!(mail.text().contains("latest"), "{}", mail.text());
}

#[actix_web::test]
async fn quay_notifications_land_in_the_inbox_and_can_be_dismissed() {
    let s = Setup::new("").await;
    let (_, other) = s.fx.user("other").await;
    s.push_into_owners_inbox().await;
    let (status, inbox) = s.fx.call("GET", "/user/notifications", Some(&s.owner), None).await;
    assert_eq!(status, 200);
    let entry = &inbox["notifications"][0];
    assert_eq!(entry["kind"], "repo_push");
    assert_eq!(entry["metadata"]["updated_tags"], json!(["latest"]));
    assert_eq!(entry["dismissed"], false);
    assert!(
        entry["created"].as_str().is_some_and(|d| d.ends_with("-0000")),
        "{entry}"
    );
    let id = entry["id"].as_str().expect("id");
    let path = format!("/user/notifications/{id}");
    // One entry reads as it does in the list.
    let (status, one) = s.fx.call("GET", &path, Some(&s.owner), None).await;
    assert_eq!((status, &one), (200, entry), "{one}");
    let (status, _) =
        s.fx.call("GET", "/user/notifications/no-such-entry", Some(&s.owner), None)
            .await;
    assert_eq!(status, 404);
    // Someone else's inbox is empty and cannot dismiss it.
    let (_, theirs) = s.fx.call("GET", "/user/notifications", Some(&other), None).await;
    assert_eq!(theirs["notifications"], json!([]));
    let (status, _) =
        s.fx.call("PUT", &path, Some(&other), Some(json!({"dismissed": true})))
            .await;
    assert_eq!(status, 404);
    let (status, entry) =
        s.fx.call("PUT", &path, Some(&s.owner), Some(json!({"dismissed": true})))
            .await;
    assert_eq!((status, &entry["dismissed"]), (200, &json!(true)), "{entry}");
    let (status, one) = s.fx.call("GET", &path, Some(&s.owner), None).await;
    assert_eq!((status, &one), (200, &entry), "{one}");
    let (status, _) = s.fx.call("GET", "/user/notifications", None, None).await;
    assert_eq!(status, 401);
}

#[actix_web::test]
async fn quota_warning_fires_when_a_warning_limit_is_crossed() {
    let rx = Receiver::start(0).await;
    let fx = RepoFixture::with_config(&format!(
        "{BASE_CONFIG}FEATURE_QUOTA_MANAGEMENT: true\nSUPER_USERS: [admin]\n"
    ))
    .await;
    let (_, admin) = fx.user("admin").await;
    let (owner_account, owner) = fx.user("owner").await;
    fx.org(&owner_account, "acme").await;
    fx.create_repo(&owner, "acme", "app", "private").await;
    let s = Setup { fx, owner };
    let (status, view) =
        s.fx.call(
            "POST",
            "/repository/acme/app/notification/",
            Some(&s.owner),
            Some(json!({"event": "quota_warning", "method": "webhook", "config": {"url": rx.url}, "eventConfig": {}})),
        )
        .await;
    assert_eq!(status, 201, "{view}");
    let (status, body) =
        s.fx.call(
            "POST",
            "/organization/acme/quota",
            Some(&admin),
            Some(json!({"limit_bytes": 1000})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (_, list) = s.fx.call("GET", "/organization/acme/quota", Some(&admin), None).await;
    let id = list[0]["id"].as_i64().expect("quota id");
    let (status, body) =
        s.fx.call(
            "POST",
            &format!("/organization/acme/quota/{id}/limit"),
            Some(&admin),
            Some(json!({"type": "Warning", "threshold_percent": 50})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    s.fx.push_tag("acme/app", "big").await;
    assert_eq!(s.deliver().await.delivered, 1);
    let hits = rx.hits();
    assert_eq!(hits.len(), 1);
    let body = &hits[0].body;
    assert_eq!(body["namespace"], "acme");
    assert_eq!(body["limit_bytes"], 500);
    assert!(body["usage_bytes"].as_i64().expect("usage") > 500, "{body}");
    // The same recorded event is delivered once.
    s.deliver().await;
    assert_eq!(rx.hits().len(), 1);
}

#[actix_web::test]
async fn repo_image_expiry_fires_once_ahead_of_an_expiring_tag() {
    let rx = Receiver::start(0).await;
    let s = Setup::new("").await;
    let (status, body) = s
        .create(json!({"event": "repo_image_expiry", "method": "webhook", "config": {"url": rx.url}, "eventConfig": {"days": 3}}))
        .await;
    assert_eq!(status, 201, "{body}");
    s.fx.push_tag("owner/app", "soon").await;
    s.fx.push_tag("owner/app", "forever").await;
    let in_two_days = registry::now_ms() / 1000 + 2 * 86_400;
    let (status, body) =
        s.fx.call(
            "PUT",
            "/repository/owner/app/tag/soon",
            Some(&s.owner),
            Some(json!({"expiration": in_two_days})),
        )
        .await;
    assert!(status < 300, "{status} {body}");
    assert_eq!(s.deliver().await.delivered, 1);
    assert_eq!(s.deliver().await.delivered, 0);
    let hits = rx.hits();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].body["tags"], json!(["soon"]));
    assert_eq!(hits[0].body["repository"], "owner/app");
}

#[actix_web::test]
async fn unknown_events_methods_and_bad_configs_are_refused() {
    let s = Setup::new("").await;
    let url = json!({"url": "http://127.0.0.1:9/"});
    let cases = [
        (
            json!({"event": "repo_pull", "method": "webhook", "config": url, "eventConfig": {}}),
            "Unknown notification event",
        ),
        (
            json!({"event": "repo_push", "method": "pigeon", "config": url, "eventConfig": {}}),
            "Unknown notification method",
        ),
        (
            json!({"event": "repo_push", "method": "webhook", "config": {}, "eventConfig": {}}),
            "'url'",
        ),
        (
            json!({"event": "repo_push", "method": "webhook", "config": {"url": "ftp://x/"}, "eventConfig": {}}),
            "http",
        ),
        (
            json!({"event": "repo_push", "method": "webhook", "config": {"url": "http://127.0.0.1:9/", "template": "{nope"}, "eventConfig": {}}),
            "template",
        ),
        (
            json!({"event": "repo_push", "method": "flowdock", "config": {}, "eventConfig": {}}),
            "flow_api_token",
        ),
        (
            json!({"event": "repo_push", "method": "hipchat", "config": {"notification_token": "x"}, "eventConfig": {}}),
            "room_id",
        ),
        (
            json!({"event": "repo_push", "method": "quay_notification", "config": {"target": {"kind": "user", "name": "ghost"}}, "eventConfig": {}}),
            "Unknown user",
        ),
        (
            json!({"event": "repo_push", "method": "quay_notification", "config": {"target": {"kind": "planet", "name": "x"}}, "eventConfig": {}}),
            "target kind",
        ),
        (
            json!({"event": "build_success", "method": "webhook", "config": url, "eventConfig": {"ref-regex": "("}}),
            "ref-regex",
        ),
        (
            json!({"event": "vulnerability_found", "method": "webhook", "config": url, "eventConfig": {"level": 9}}),
            "level",
        ),
        (
            json!({"event": "repo_image_expiry", "method": "webhook", "config": url, "eventConfig": {}}),
            "days",
        ),
        (
            json!({"event": "repo_push", "method": "webhook", "config": url}),
            "eventConfig",
        ),
    ];
    for (body, needle) in cases {
        let (status, err) = s.create(body.clone()).await;
        assert_eq!(status, 400, "{body}: {err}");
        let detail = err["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(needle), "{body}: {detail:?} lacks {needle:?}");
    }
    let (_, list) =
        s.fx.call("GET", "/repository/owner/app/notification/", Some(&s.owner), None)
            .await;
    assert_eq!(list["notifications"], json!([]));
    // Valid configs of every other kind are accepted.
    for (event, config) in [
        ("build_success", json!({"ref-regex": "^refs/heads/main$"})),
        ("vulnerability_found", json!({"level": 1})),
        ("repo_mirror_sync_failed", json!({})),
        ("quota_error", json!({})),
    ] {
        let (status, view) = s
            .create(json!({"event": event, "method": "webhook", "config": url, "eventConfig": config}))
            .await;
        assert_eq!(status, 201, "{event}: {view}");
        assert_eq!(view["event_config"], config);
    }
}

#[actix_web::test]
async fn webhooks_to_private_addresses_are_refused_without_ssrf_allowed_hosts() {
    let rx = Receiver::start(0).await;
    let fx = RepoFixture::with_config("NOTIFICATION_WORKER_INTERVAL: 0\n").await;
    let (_, owner) = fx.user("owner").await;
    fx.create_repo(&owner, "owner", "app", "private").await;
    let s = Setup { fx, owner };
    for url in [
        rx.url.clone(),
        "http://localhost:9/".into(),
        "http://169.254.169.254/latest/meta-data".into(),
        "http://10.0.0.1/".into(),
        "http://[::1]:9/".into(),
    ] {
        for method in ["webhook", "slack"] {
            let (status, body) = s
                .create(json!({"event": "repo_push", "method": method, "config": {"url": url}, "eventConfig": {}}))
                .await;
            assert_eq!(status, 400, "{method} {url}: {body}");
            assert!(
                body["detail"].as_str().expect("detail").contains("SSRF_ALLOWED_HOSTS"),
                "{body}"
            );
        }
    }
    // Allowed when created, refused again at delivery by a worker whose
    // configuration no longer allows the host.
    let allowed = Setup::new("").await;
    let uuid = allowed.create_ok("repo_push", "webhook", json!({"url": rx.url})).await;
    allowed.fx.push_tag("owner/app", "latest").await;
    let strict = allowed.fx.app.services_with_yaml("SSRF_ALLOWED_HOSTS: []\n").await;
    let report = strict.deliver_notifications_once().await.expect("delivery pass");
    assert_eq!(report.failed, 1, "{report:?}");
    assert!(rx.hits().is_empty());
    assert_eq!(allowed.view(&uuid).await["number_of_failures"], 1);
}

#[actix_web::test]
async fn only_repository_admins_manage_notifications() {
    let rx = Receiver::start(0).await;
    let s = Setup::new("").await;
    let uuid = s.create_ok("repo_push", "webhook", json!({"url": rx.url})).await;
    let (_, writer) = s.fx.user("writer").await;
    let (_, reader) = s.fx.user("reader").await;
    grant_role(&s.fx.app, "owner/app", Grantee::Account("writer"), "write").await;
    grant_role(&s.fx.app, "owner/app", Grantee::Account("reader"), "read").await;
    let body = json!({"event": "repo_push", "method": "webhook", "config": {"url": rx.url}, "eventConfig": {}});
    let one = format!("/repository/owner/app/notification/{uuid}");
    let calls: [(&str, String, Option<Value>); 7] = [
        ("GET", "/repository/owner/app/notification/".into(), None),
        ("POST", "/repository/owner/app/notification/".into(), Some(body)),
        ("GET", one.clone(), None),
        ("DELETE", one.clone(), None),
        ("POST", one.clone(), None),
        ("POST", format!("{one}/test"), None),
        (
            "POST",
            "/repository/owner/app/authorizedemail/a@example.com".into(),
            None,
        ),
    ];
    for (method, path, body) in calls {
        for (who, token, expected) in [
            ("writer", Some(&writer), 403),
            ("reader", Some(&reader), 403),
            ("anonymous", None, 401),
        ] {
            let (status, err) = s.fx.call(method, &path, token.map(String::as_str), body.clone()).await;
            assert_eq!(status, expected, "{who} {method} {path}: {err}");
        }
    }
    // A token without repo:admin cannot either.
    let owner = s.fx.services.account("owner").await.expect("lookup").expect("owner");
    let narrow = s.fx.token(&owner, "repo:write").await;
    let (status, _) =
        s.fx.call("GET", "/repository/owner/app/notification/", Some(&narrow), None)
            .await;
    assert_eq!(status, 403);
    assert_eq!(s.view(&uuid).await["number_of_failures"], 0);
}

#[actix_web::test]
async fn authorized_emails_are_refused_to_anonymous_callers_and_readers() {
    let sink = SmtpSink::start().await;
    let s = Setup::new(&format!("{}SERVER_HOSTNAME: localhost\n", sink.config())).await;
    let (_, reader) = s.fx.user("reader").await;
    grant_role(&s.fx.app, "owner/app", Grantee::Account("reader"), "read").await;
    let path = "/repository/owner/app/authorizedemail/ops@example.com";
    let refused = [("anonymous", None, 401), ("reader", Some(reader.as_str()), 403)];
    for method in ["POST", "GET"] {
        for (who, token, expected) in refused {
            let (status, err) = s.fx.call(method, path, token, None).await;
            assert_eq!(status, expected, "{who} {method}: {err}");
        }
    }
    // The refused POSTs neither mailed nor recorded the address.
    assert!(sink.mails().is_empty(), "{:?}", sink.mails());
    let (status, body) = s.fx.call("GET", path, Some(&s.owner), None).await;
    assert_eq!(status, 404, "{body}");

    // The repository admin may, and gets 200 with the pending authorization.
    let pending = json!({"email": "ops@example.com", "repository": "owner/app", "confirmed": false});
    let (status, auth) = s.fx.call("POST", path, Some(&s.owner), None).await;
    assert_eq!((status, &auth), (200, &pending));
    assert_eq!(sink.mails().len(), 1);
    let (status, auth) = s.fx.call("GET", path, Some(&s.owner), None).await;
    assert_eq!((status, &auth), (200, &pending));
    // Once it exists, it is still not shown to the others.
    for (who, token, expected) in refused {
        let (status, err) = s.fx.call("GET", path, token, None).await;
        assert_eq!(status, expected, "{who} GET: {err}");
        assert!(err["email"].is_null(), "{who} GET: {err}");
    }
}

#[actix_web::test]
async fn a_notification_is_not_reachable_through_another_repository() {
    let rx = Receiver::start(usize::MAX).await;
    let s = Setup::new("").await;
    let uuid = s.create_ok("repo_push", "webhook", json!({"url": rx.url})).await;
    // One failed delivery: a counter for a reset to clear, a retry queued.
    s.fx.push_tag("owner/app", "latest").await;
    assert_eq!(s.deliver_at(0).await.failed, 1);
    assert_eq!(s.view(&uuid).await["number_of_failures"], 1);
    let queued = s.queued().await;
    assert_eq!(queued, 1);

    let (_, bob) = s.fx.user("bob").await;
    s.fx.create_repo(&bob, "bob", "other", "private").await;
    s.fx.create_repo(&s.owner, "owner", "other", "private").await;
    // Neither bob (admin of bob/other only) nor owner (admin of both) reaches
    // owner/app's notification through the other repository's path.
    for (who, token, repo) in [("bob", &bob, "bob/other"), ("owner", &s.owner, "owner/other")] {
        let one = format!("/repository/{repo}/notification/{uuid}");
        for (method, path) in [
            ("GET", one.clone()),
            ("POST", format!("{one}/test")),
            ("POST", one.clone()),
            ("DELETE", one.clone()),
        ] {
            let (status, err) = s.fx.call(method, &path, Some(token), None).await;
            assert_eq!(status, 400, "{who} {method} {path}: {err}");
            assert_eq!(err["error_type"], "invalid_request", "{who} {method} {path}: {err}");
            assert!(err["uuid"].is_null(), "{who} {method} {path}: {err}");
        }
        let (status, list) =
            s.fx.call("GET", &format!("/repository/{repo}/notification/"), Some(token), None)
                .await;
        assert_eq!((status, &list["notifications"]), (200, &json!([])), "{who}: {list}");
    }
    // Still there, not reset, and no test delivery queued.
    let view = s.view(&uuid).await;
    assert_eq!(view["uuid"], uuid.as_str());
    assert_eq!(view["number_of_failures"], 1);
    assert_eq!(s.queued().await, queued);
}

#[actix_web::test]
async fn inbox_entries_are_refused_to_anonymous_callers_other_users_and_narrow_tokens() {
    let s = Setup::new("").await;
    let (_, other) = s.fx.user("other").await;
    s.push_into_owners_inbox().await;
    let inbox = || async {
        let (status, inbox) = s.fx.call("GET", "/user/notifications", Some(&s.owner), None).await;
        assert_eq!(status, 200, "{inbox}");
        inbox["notifications"].clone()
    };
    let before = inbox().await;
    assert_eq!(before.as_array().map(Vec::len), Some(1), "{before}");
    assert_eq!(before[0]["dismissed"], false);
    let id = before[0]["id"].as_str().expect("id").to_owned();
    let one = format!("/user/notifications/{id}");
    let owner = s.fx.services.account("owner").await.expect("lookup").expect("owner");
    // Every scope but user:admin.
    let all_but_user_admin = "repo:read repo:write repo:admin repo:create user:read org:admin";
    let narrow = s.fx.token(&owner, all_but_user_admin).await;
    let dismiss = || Some(json!({"dismissed": true}));
    let calls = [
        ("anonymous", "GET", "/user/notifications", None, None, 401),
        ("anonymous", "GET", one.as_str(), None, None, 401),
        ("anonymous", "PUT", one.as_str(), None, dismiss(), 401),
        ("other", "GET", one.as_str(), Some(other.as_str()), None, 404),
        ("other", "PUT", one.as_str(), Some(other.as_str()), dismiss(), 404),
        ("narrow", "GET", "/user/notifications", Some(narrow.as_str()), None, 403),
        ("narrow", "GET", one.as_str(), Some(narrow.as_str()), None, 403),
        ("narrow", "PUT", one.as_str(), Some(narrow.as_str()), dismiss(), 403),
    ];
    for (who, method, path, token, body, expected) in calls {
        let (status, err) = s.fx.call(method, path, token, body).await;
        assert_eq!(status, expected, "{who} {method} {path}: {err}");
        assert!(
            err["notifications"].is_null() && err["dismissed"].is_null() && err["kind"].is_null(),
            "{who} {method} {path}: {err}"
        );
    }
    // The other user's inbox does not show it, and it is unchanged.
    let (status, theirs) = s.fx.call("GET", "/user/notifications", Some(&other), None).await;
    assert_eq!((status, &theirs["notifications"]), (200, &json!([])), "{theirs}");
    assert_eq!(inbox().await, before);
    // Nor can the other user undo the owner's own dismissal.
    let (status, entry) = s.fx.call("PUT", &one, Some(&s.owner), dismiss()).await;
    assert_eq!((status, &entry["dismissed"]), (200, &json!(true)), "{entry}");
    let (status, err) =
        s.fx.call("PUT", &one, Some(&other), Some(json!({"dismissed": false})))
            .await;
    assert_eq!(status, 404, "{err}");
    assert_eq!(inbox().await[0]["dismissed"], true);
}

/// A certificate for 127.0.0.1 issued by a fresh test CA: (CA PEM, cert PEM, key PEM).
fn test_server_certificate() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).expect("CA certificate");
    let key = KeyPair::generate().expect("server key");
    let params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).expect("server params");
    let cert = params.signed_by(&key, &ca, &ca_key).expect("server certificate");
    (ca.pem(), cert.pem(), key.serialize_pem())
}

/// An HTTPS receiver that only talks to clients whose certificate
/// `client_ca_pem` issued; returns its URL and the bodies it got.
fn https_receiver(client_ca_pem: &str, cert_pem: &str, key_pem: &str) -> (String, Arc<Mutex<Vec<Value>>>) {
    use actix_web::{web, App, HttpResponse, HttpServer};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pemfile::certs(&mut client_ca_pem.as_bytes()) {
        roots.add(c.expect("CA PEM")).expect("trust the registry CA");
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .expect("client verifier");
    let certs = rustls_pemfile::certs(&mut cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .expect("server certificate PEM");
    let key = rustls_pemfile::private_key(&mut key_pem.as_bytes())
        .expect("key PEM")
        .expect("a key");
    let tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .expect("server TLS config");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind HTTPS receiver");
    let url = format!("https://{}/secure", listener.local_addr().expect("address"));
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let store = web::Data::new(bodies.clone());
    let server = HttpServer::new(move || {
        App::new().app_data(store.clone()).default_service(web::to(
            |store: web::Data<Arc<Mutex<Vec<Value>>>>, body: web::Bytes| async move {
                store
                    .lock()
                    .expect("bodies")
                    .push(serde_json::from_slice(&body).unwrap_or(Value::Null));
                HttpResponse::Ok().finish()
            },
        ))
    })
    .workers(1)
    .listen_rustls_0_23(listener, tls)
    .expect("HTTPS listener")
    .run();
    actix_web::rt::spawn(server);
    (url, bodies)
}

#[actix_web::test]
async fn https_webhooks_present_the_registry_client_certificate() {
    let (server_ca, server_cert, server_key) = test_server_certificate();
    let dir = tempfile::tempdir().expect("temp dir");
    let bundle = dir.path().join("ca.pem");
    std::fs::write(&bundle, &server_ca).expect("write the CA bundle");
    let s = Setup::new(&format!("NOTIFICATION_CA_BUNDLE: {}\n", bundle.display())).await;
    let identity =
        s.fx.services
            .notification_client_identity()
            .await
            .expect("client identity");
    // The same identity on every call (and replica).
    let again =
        s.fx.services
            .notification_client_identity()
            .await
            .expect("client identity");
    assert_eq!(identity.cert_pem, again.cert_pem);
    let (url, bodies) = https_receiver(&identity.ca_pem, &server_cert, &server_key);
    // A client without the certificate is turned away by the receiver.
    let anonymous = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(server_ca.as_bytes()).expect("CA"))
        .build()
        .expect("client");
    assert!(anonymous.post(&url).json(&json!({})).send().await.is_err());

    s.create_ok("repo_push", "webhook", json!({"url": url})).await;
    s.fx.push_tag("owner/app", "latest").await;
    let report = s.deliver().await;
    assert_eq!(report.delivered, 1, "{report:?}");
    let got = bodies.lock().expect("bodies").clone();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["updated_tags"], json!(["latest"]));
}

#[actix_web::test]
async fn creation_checks_the_urls_form_and_ignores_what_quay_ignores() {
    let s = Setup::new("").await;
    // A host that does not resolve now is no error at creation (delivery
    // checks where it resolves); an internal address literal is refused.
    let later = json!({"event": "repo_push", "method": "webhook", "eventConfig": {},
        "config": {"url": "https://hooks.not-yet-registered.invalid/push"}});
    let (status, view) = s.create(later).await;
    assert_eq!(status, 201, "{view}");
    for url in [
        "http://10.0.0.1:9/hook",
        "http://[::1]/hook",
        "http://169.254.169.254/latest",
        "ftp://example.com/x",
    ] {
        let body = json!({"event": "repo_push", "method": "webhook", "eventConfig": {}, "config": {"url": url}});
        let (status, view) = s.create(body).await;
        assert_eq!(status, 400, "{url}: {view}");
    }
    // Both spellings of the event config: Quay reads `eventConfig` and
    // ignores the other, as it ignores unknown keys.
    let both = json!({"event": "repo_push", "method": "webhook", "config": {"url": "https://example.com/hook"},
        "eventConfig": {"ref-regex": "main"}, "event_config": {"ignored": true}, "unknown": 1});
    let (status, view) = s.create(both).await;
    assert_eq!(status, 201, "{view}");
    assert_eq!(view["event_config"], json!({"ref-regex": "main"}));
}
