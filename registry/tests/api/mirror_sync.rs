//! Repository-mirror syncs (`FEATURE_REPO_MIRROR`) against a stand-in
//! upstream: what a sync copies, what it skips, how failures, retries and
//! cancels move the status, that one replica syncs a repository at a time,
//! and that the seed's request bodies end in a synced repository.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::mirror_upstream::{Auth, MirrorUpstream, UpImage, PASSWORD, USER};
use crate::v1_logs::logs;

/// Mirroring on, the stand-in upstream on loopback allowed, and no
/// background passes: the tests run them.
const CONFIG: &str = "FEATURE_REPO_MIRROR: true\nSSRF_ALLOWED_HOSTS: [\"127.0.0.1\"]\nREPO_MIRROR_INTERVAL: 0\n";

const UPSTREAM_REPO: &str = "upstream/app";

/// Organization `orga` with robot `orga+robot`, repository `orga/<name>`
/// and an upstream.
struct Mirror {
    fx: RepoFixture,
    token: String,
    repo: String,
    up: MirrorUpstream,
}

impl Mirror {
    async fn new(auth: Auth) -> Mirror {
        Mirror::with_config(auth, CONFIG).await
    }

    async fn with_config(auth: Auth, config: &str) -> Mirror {
        let fx = RepoFixture::with_config(config).await;
        let (owner, token) = fx.user("owner").await;
        let org = fx.org(&owner, "orga").await;
        fx.robot(&org, "robot").await;
        fx.create_repo(&token, "orga", "app", "private").await;
        Mirror {
            fx,
            token,
            repo: "orga/app".into(),
            up: MirrorUpstream::start(auth),
        }
    }

    /// A mirror of the upstream's `upstream/app` for these globs, due now.
    fn body(&self, globs: &[&str]) -> Value {
        json!({
            "external_reference": format!("{}/{UPSTREAM_REPO}", self.up.host),
            "external_registry_config": {"verify_tls": false},
            "sync_interval": 3600,
            "sync_start_date": "2021-08-06T11:11:39Z",
            "root_rule": {"rule_kind": "tag_glob_csv", "rule_value": globs},
            "robot_username": "orga+robot",
            "skopeo_timeout_interval": 300,
        })
    }

    async fn configure(&self, body: Value) {
        let (status, value) = self.call("POST", "/mirror", Some(body)).await;
        assert_eq!(status, 201, "{value}");
    }

    async fn call(&self, method: &str, sub: &str, body: Option<Value>) -> (u16, Value) {
        let path = format!("/repository/{}{sub}", self.repo);
        self.fx.call(method, &path, Some(&self.token), body).await
    }

    async fn view(&self) -> Value {
        let (status, view) = self.call("GET", "/mirror", None).await;
        assert_eq!(status, 200, "{view}");
        view
    }

    async fn pass(&self) -> registry::service::mirror_sync::MirrorPass {
        self.fx.services.run_mirrors_once().await.expect("mirror pass")
    }

    async fn sync_now(&self) {
        let (status, value) = self.call("POST", "/mirror/sync-now", None).await;
        assert_eq!(status, 204, "{value}");
    }

    /// Alive tags of the local repository: name → manifest digest.
    async fn tags(&self) -> Vec<(String, String)> {
        let (status, value) = self.call("GET", "/tag/?onlyActiveTags=true&limit=100", None).await;
        assert_eq!(status, 200, "{value}");
        let mut tags: Vec<(String, String)> = value["tags"]
            .as_array()
            .expect("tags")
            .iter()
            .map(|t| {
                (
                    t["name"].as_str().unwrap_or_default().to_owned(),
                    t["manifest_digest"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        tags.sort();
        tags
    }

    async fn log_kinds(&self) -> Vec<Value> {
        self.fx.services.flush_logs().await;
        logs(&self.fx, &format!("/repository/{}/logs", self.repo), &self.token).await
    }

    async fn has_manifest(&self, digest: &str) -> bool {
        let name: registry::oci::RepoName = self.repo.parse().expect("repo name");
        let reference = registry::oci::Reference::Digest(digest.parse().expect("digest"));
        self.fx.services.get_manifest(&name, &reference).await.is_ok()
    }
}

fn tag_pair(tag: &str, image: &UpImage) -> (String, String) {
    (tag.to_owned(), image.digest.clone())
}

fn of_kind<'a>(entries: &'a [Value], kind: &str) -> Vec<&'a Value> {
    entries.iter().filter(|e| e["kind"] == json!(kind)).collect()
}

#[actix_web::test]
async fn the_first_sync_copies_the_matching_tags_only() {
    let m = Mirror::new(Auth::Anonymous).await;
    let (v1, v2, latest) = (m.up.image(&[]), m.up.image(&[]), m.up.image(&[]));
    for (tag, image) in [("v1", &v1), ("v2", &v2), ("latest", &latest), ("v1-debug", &latest)] {
        m.up.tag(UPSTREAM_REPO, tag, image);
    }
    m.configure(m.body(&["v?", "nomatch*"])).await;
    let view = m.view().await;
    assert_eq!(view["sync_status"], json!("NEVER_RUN"));

    let pass = m.pass().await;
    assert_eq!(pass.succeeded, 1, "{pass:?}");
    assert_eq!(m.tags().await, vec![tag_pair("v1", &v1), tag_pair("v2", &v2)]);
    assert_eq!(
        m.up.blob_gets(),
        v1.blobs.len() + v2.blobs.len(),
        "only the matching images' blobs"
    );
    assert_eq!(pass.blobs, 4);

    let view = m.view().await;
    assert_eq!(view["sync_status"], json!("SUCCESS"));
    assert_eq!(view["sync_retries_remaining"], json!(3));
    assert_eq!(view["sync_expiration_date"], Value::Null);
    assert_eq!(
        (view["sync_tags_done"].clone(), view["sync_tags_total"].clone()),
        (json!(2), json!(2))
    );
    let next = view["sync_start_date"].as_str().expect("a next start date");
    assert!(next > "2026-01-01", "the next start is one interval ahead: {next}");
    assert!(next.ends_with(":11:39Z"), "on the schedule of the first start: {next}");

    let entries = m.log_kinds().await;
    assert_eq!(of_kind(&entries, "repo_mirror_sync_started").len(), 1, "{entries:?}");
    assert_eq!(of_kind(&entries, "repo_mirror_sync_success").len(), 1, "{entries:?}");
    let tagged = of_kind(&entries, "repo_mirror_sync_tag_success");
    assert_eq!(tagged.len(), 2, "{entries:?}");
    assert!(
        tagged.iter().all(|e| e["performer"]["name"] == json!("orga+robot")),
        "{tagged:?}"
    );
    let success = of_kind(&entries, "repo_mirror_sync_success")[0];
    assert_eq!(success["metadata"]["tags"], json!("v1, v2"), "{success}");
    assert_eq!(success["metadata"]["verb"], json!("end"));

    // Not due again before its next start.
    assert_eq!(m.pass().await, Default::default());
}

#[actix_web::test]
async fn a_second_sync_fetches_no_blob_it_already_has() {
    let m = Mirror::new(Auth::Anonymous).await;
    let base = random_bytes(900);
    let v1 = m.up.image(std::slice::from_ref(&base));
    m.up.tag(UPSTREAM_REPO, "v1", &v1);
    m.configure(m.body(&["*"])).await;
    m.pass().await;
    let first = m.up.blob_gets();
    assert_eq!(first, 2);

    m.sync_now().await;
    assert_eq!(m.view().await["sync_status"], json!("SYNC_NOW"));
    let pass = m.pass().await;
    assert_eq!(pass.succeeded, 1, "{pass:?}");
    assert_eq!(m.up.blob_gets(), first, "an unchanged tag fetches no blob");

    // A new tag sharing the base layer: only its config is fetched.
    let v2 = m.up.image(std::slice::from_ref(&base));
    m.up.tag(UPSTREAM_REPO, "v2", &v2);
    m.sync_now().await;
    let pass = m.pass().await;
    assert_eq!(pass.blobs, 1, "{pass:?}");
    assert_eq!(m.up.blob_gets(), first + 1);
    assert_eq!(m.tags().await, vec![tag_pair("v1", &v1), tag_pair("v2", &v2)]);
}

#[actix_web::test]
async fn tags_removed_or_moved_upstream_are_removed_or_moved_locally() {
    let m = Mirror::new(Auth::Anonymous).await;
    let (a, b) = (m.up.image(&[]), m.up.image(&[]));
    m.up.tag(UPSTREAM_REPO, "stable", &a);
    m.up.tag(UPSTREAM_REPO, "old", &b);
    m.configure(m.body(&["*"])).await;
    m.pass().await;
    assert_eq!(m.tags().await, vec![tag_pair("old", &b), tag_pair("stable", &a)]);

    let c = m.up.image(&[]);
    m.up.tag(UPSTREAM_REPO, "stable", &c);
    m.up.untag(UPSTREAM_REPO, "old");
    m.sync_now().await;
    assert_eq!(m.pass().await.succeeded, 1);
    assert_eq!(m.tags().await, vec![tag_pair("stable", &c)]);
}

#[actix_web::test]
async fn a_failing_upstream_counts_retries_down_then_waits_for_the_next_interval() {
    let m = Mirror::new(Auth::Anonymous).await;
    m.up.tag(UPSTREAM_REPO, "v1", &m.up.image(&[]));
    m.configure(m.body(&["*"])).await;
    m.up.set_failing(true);
    for left in [2, 1] {
        let pass = m.pass().await;
        assert_eq!(pass.failed, 1, "{pass:?}");
        let view = m.view().await;
        assert_eq!(view["sync_status"], json!("FAIL"));
        assert_eq!(view["sync_retries_remaining"], json!(left));
        assert_eq!(
            view["sync_start_date"],
            json!("2021-08-06T11:11:39Z"),
            "retried on the next pass"
        );
    }
    assert_eq!(m.pass().await.failed, 1);
    let view = m.view().await;
    assert_eq!(view["sync_status"], json!("FAIL"));
    assert_eq!(
        view["sync_retries_remaining"],
        json!(3),
        "restored for the next interval"
    );
    assert!(
        view["sync_start_date"].as_str().unwrap_or_default() > "2026-01-01",
        "{view}"
    );
    assert_eq!(m.pass().await, Default::default(), "nothing until the next interval");
    assert!(m.tags().await.is_empty());
    let entries = m.log_kinds().await;
    assert_eq!(of_kind(&entries, "repo_mirror_sync_failed").len(), 3, "{entries:?}");

    // sync-now retries at once; with the upstream back the sync succeeds.
    m.up.set_failing(false);
    m.sync_now().await;
    assert_eq!(m.pass().await.succeeded, 1);
    assert_eq!(m.view().await["sync_status"], json!("SUCCESS"));
    assert_eq!(m.tags().await.len(), 1);
}

#[actix_web::test]
async fn sync_cancel_stops_a_running_sync_at_the_next_tag() {
    let m = Mirror::new(Auth::Anonymous).await;
    for tag in ["a", "b", "c"] {
        m.up.tag(UPSTREAM_REPO, tag, &m.up.image(&[]));
    }
    m.configure(m.body(&["*"])).await;
    let gate = m.up.close_gate();
    let services = m.fx.services.clone();
    let running = actix_web::rt::spawn(async move { services.run_mirrors_once().await });
    let deadline = Instant::now() + Duration::from_secs(30);
    while m.up.manifest_requests() == 0 {
        assert!(Instant::now() < deadline, "the sync never asked for a manifest");
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(m.view().await["sync_status"], json!("SYNCING"));
    let (status, value) = m.call("POST", "/mirror/sync-cancel", None).await;
    assert_eq!(status, 204, "{value}");
    gate.add_permits(100);
    let pass = running.await.expect("pass task").expect("pass");
    assert_eq!(pass.cancelled, 1, "{pass:?}");
    let view = m.view().await;
    assert_eq!(view["sync_status"], json!("CANCEL"));
    assert_eq!(
        m.tags().await.len(),
        1,
        "the tag being copied finished, no other started"
    );
    assert_eq!(
        m.pass().await,
        Default::default(),
        "a cancelled mirror waits for sync-now"
    );
    let entries = m.log_kinds().await;
    let failed = of_kind(&entries, "repo_mirror_sync_failed");
    assert_eq!(failed.len(), 1, "{entries:?}");
    assert_eq!(failed[0]["metadata"]["verb"], json!("Cancelled"));
}

#[actix_web::test]
async fn of_two_workers_racing_only_one_syncs() {
    let m = Mirror::new(Auth::Anonymous).await;
    for tag in ["a", "b"] {
        m.up.tag(UPSTREAM_REPO, tag, &m.up.image(&[]));
    }
    m.configure(m.body(&["*"])).await;
    let other = m.fx.app.services_with_yaml("{}").await;
    let (one, two) = futures_util::join!(m.fx.services.run_mirrors_once(), other.run_mirrors_once());
    let (one, two) = (one.expect("pass one"), two.expect("pass two"));
    assert_eq!(one.succeeded + two.succeeded, 1, "{one:?} {two:?}");
    assert_eq!(m.up.manifest_gets(), 2, "each tag fetched once");
    assert_eq!(m.tags().await.len(), 2);
}

#[actix_web::test]
async fn manifest_lists_are_copied_with_their_children() {
    let m = Mirror::new(Auth::Anonymous).await;
    let (amd, arm) = (m.up.image(&[]), m.up.image(&[]));
    let index = m.up.index(&[&amd, &arm]);
    m.up.tag(UPSTREAM_REPO, "multi", &index);
    m.configure(m.body(&["multi"])).await;
    assert_eq!(m.pass().await.succeeded, 1);
    assert_eq!(m.tags().await, vec![tag_pair("multi", &index)]);
    for child in [&amd, &arm] {
        assert!(m.has_manifest(&child.digest).await, "child {} copied", child.digest);
    }
    assert_eq!(m.up.blob_gets(), 4);
}

#[actix_web::test]
async fn upstream_credentials_are_used_with_basic_and_token_auth() {
    for auth in [Auth::Basic, Auth::Token] {
        let m = Mirror::new(auth).await;
        let image = m.up.image(&[]);
        m.up.tag(UPSTREAM_REPO, "v1", &image);
        let mut body = m.body(&["*"]);
        body["external_registry_username"] = json!(USER);
        body["external_registry_password"] = json!("wrong");
        m.configure(body).await;
        assert_eq!(m.pass().await.failed, 1, "{auth:?}: refused credentials fail the sync");

        let (status, _) = m
            .call(
                "PUT",
                "/mirror",
                Some(json!({"external_registry_username": USER, "external_registry_password": PASSWORD})),
            )
            .await;
        assert_eq!(status, 201);
        m.sync_now().await;
        assert_eq!(m.pass().await.succeeded, 1, "{auth:?}");
        assert_eq!(m.tags().await, vec![tag_pair("v1", &image)], "{auth:?}");
    }
}

#[actix_web::test]
async fn pushes_into_a_synced_mirror_are_still_refused() {
    let m = Mirror::new(Auth::Anonymous).await;
    m.up.tag(UPSTREAM_REPO, "v1", &m.up.image(&[]));
    m.configure(m.body(&["*"])).await;
    assert_eq!(m.pass().await.succeeded, 1);
    let (_, repo) = m.fx.call("GET", "/repository/orga/app", Some(&m.token), None).await;
    assert_eq!(
        repo["state"],
        json!("MIRROR"),
        "creating the mirror made the repository a mirror"
    );
    let res =
        m.fx.app
            .client
            .post(m.fx.app.url("/v2/orga/app/blobs/uploads/"))
            .basic_auth("owner", Some("password123"))
            .send()
            .await
            .expect("start upload");
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[actix_web::test]
async fn repositories_leaving_the_mirror_state_or_deleted_are_not_synced() {
    let m = Mirror::new(Auth::Anonymous).await;
    m.up.tag(UPSTREAM_REPO, "v1", &m.up.image(&[]));
    m.configure(m.body(&["*"])).await;
    let (status, _) = m.call("PUT", "/changestate", Some(json!({"state": "NORMAL"}))).await;
    assert_eq!(status, 200);
    assert_eq!(m.pass().await, Default::default());
    assert_eq!(m.up.manifest_gets(), 0);

    let (status, _) = m.call("PUT", "/changestate", Some(json!({"state": "MIRROR"}))).await;
    assert_eq!(status, 200);
    let (status, value) = m.call("DELETE", "", None).await;
    assert!(status < 300, "{value}");
    assert_eq!(m.pass().await, Default::default());
    // A new repository of the same name starts without a mirror.
    m.fx.create_repo(&m.token, "orga", "app", "private").await;
    let (status, _) = m.call("GET", "/mirror", None).await;
    assert_eq!(status, 404);
}

/// Waits until the background loop has synced the mirror.
async fn synced_by_the_loop(m: &Mirror) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let view = m.view().await;
        if view["sync_status"] == json!("SUCCESS") {
            return view;
        }
        assert!(Instant::now() < deadline, "never synced: {view}");
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The seed's bodies (chapter 14) with the upstream's address for
/// quay.io's; background passes every second.
const LOOP_CONFIG: &str = "FEATURE_REPO_MIRROR: true\nSSRF_ALLOWED_HOSTS: [\"127.0.0.1\"]\nREPO_MIRROR_INTERVAL: 1\n";

#[actix_web::test]
async fn the_seed_minimal_body_ends_in_a_synced_repository() {
    let m = Mirror::with_config(Auth::Anonymous, LOOP_CONFIG).await;
    let latest = m.up.image(&[]);
    m.up.tag("minio/mc", "latest", &latest);
    m.up.tag("minio/mc", "other", &m.up.image(&[]));
    let body = r#"{"external_reference": "quay.io/minio/mc", "external_registry_username": "", "sync_interval": 600, "sync_start_date": "2021-08-06T11:11:39Z", "root_rule": {"rule_kind": "tag_glob_csv", "rule_value": [ "latest" ]}, "robot_username": "orga+robot"}"#
        .replace("quay.io", &m.up.host);
    m.configure(serde_json::from_str(&body).expect("JSON")).await;
    // The stand-in speaks plain HTTP.
    let (status, _) = m
        .call(
            "PUT",
            "/mirror",
            Some(json!({"external_registry_config": {"verify_tls": false}})),
        )
        .await;
    assert_eq!(status, 201);
    synced_by_the_loop(&m).await;
    assert_eq!(m.tags().await, vec![tag_pair("latest", &latest)]);
}

#[actix_web::test]
async fn the_seed_extended_body_ends_in_a_synced_repository_through_its_proxy() {
    let m = Mirror::with_config(Auth::Basic, LOOP_CONFIG).await;
    let image = m.up.image(&[]);
    m.up.tag("minio/mc", "v1", &image);
    m.up.tag("minio/mc", "latest", &image);
    // Nothing listens at the external reference: only the proxy reaches it.
    let unused = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let nowhere = format!("127.0.0.1:{}", unused.local_addr().expect("addr").port());
    drop(unused);
    let body = r#"{"is_enabled": true, "external_reference": "quay.io/minio/mc", "external_registry_username": "username", "external_registry_password": "password", "external_registry_config": {"unsigned_images":true, "verify_tls": false, "proxy": {"http_proxy": "http://proxy.tld", "https_proxy": "https://proxy.tld", "no_proxy": "domain"}}, "sync_interval": 600, "sync_start_date": "2021-08-06T11:11:39Z", "root_rule": {"rule_kind": "tag_glob_csv", "rule_value": [ "*" ]}, "robot_username": "orga+robot"}"#
        .replace("quay.io", &nowhere)
        .replace("http://proxy.tld", &format!("http://{}", m.up.host));
    m.configure(serde_json::from_str(&body).expect("JSON")).await;
    synced_by_the_loop(&m).await;
    assert_eq!(m.tags().await, vec![tag_pair("latest", &image), tag_pair("v1", &image)]);
    assert!(m.up.proxied() > 0, "requests went through the proxy");
}

/// Claims the mirror of `orga/app` as a worker that then stops answering,
/// its claim lasting until `lease_until`.
async fn claim_as_a_stalled_worker(m: &Mirror, lease_until: i64) {
    use registry::db::queries::{mirrors, repositories};
    let claimed =
        m.fx.services
            .db()
            .write(move |c| {
                let repo = repositories::find(c, "orga", "app")?.expect("repository");
                let mirror = mirrors::find(c, repo.id)?.expect("mirror");
                let now = registry::now_ms();
                Ok::<_, registry::service::Error>(mirrors::claim(c, mirror.id, now, lease_until, "stalled-worker")?)
            })
            .await
            .expect("claim");
    assert!(claimed, "the mirror was due");
}

#[actix_web::test]
async fn a_claim_held_by_another_worker_is_respected_until_it_expires() {
    let m = Mirror::new(Auth::Anonymous).await;
    m.up.tag(UPSTREAM_REPO, "v1", &m.up.image(&[]));
    m.configure(m.body(&["*"])).await;
    claim_as_a_stalled_worker(&m, registry::now_ms() + 3_600_000).await;
    assert_eq!(m.view().await["sync_status"], json!("SYNCING"));
    assert_eq!(m.pass().await, Default::default(), "a live claim is left alone");
    assert_eq!(m.up.manifest_gets(), 0);
    let (status, _) = m.call("POST", "/mirror/sync-now", None).await;
    assert_eq!(status, 404, "no sync-now while syncing, as in Quay");

    // The stalled worker's lease lapses: the next pass takes the sync over.
    m.fx.services
        .db()
        .write(|c| {
            use diesel::prelude::*;
            use registry::db::schema::repomirrorconfig as t;
            let lapsed = Some(registry::now_ms() - 1);
            Ok::<_, registry::service::Error>(
                diesel::update(t::table)
                    .set(t::sync_expiration_date.eq(lapsed))
                    .execute(c)?,
            )
        })
        .await
        .expect("expire the lease");
    assert_eq!(m.pass().await.succeeded, 1);
    assert_eq!(m.view().await["sync_status"], json!("SUCCESS"));
    assert_eq!(m.tags().await.len(), 1);
}

/// The event data of every queued notification delivery.
async fn queued_events(m: &Mirror) -> Vec<Value> {
    use diesel::prelude::*;
    use registry::db::schema::notificationqueue;
    let texts: Vec<String> =
        m.fx.services
            .db()
            .read(|c| {
                Ok(notificationqueue::table
                    .order(notificationqueue::id)
                    .select(notificationqueue::event_data)
                    .load(c)?)
            })
            .await
            .expect("read the notification queue");
    texts
        .iter()
        .map(|t| serde_json::from_str(t).expect("event JSON"))
        .collect()
}

#[actix_web::test]
async fn sync_events_queue_the_repositorys_mirror_notifications() {
    let config = format!("{CONFIG}NOTIFICATION_WORKER_INTERVAL: 0\n");
    let m = Mirror::with_config(Auth::Anonymous, &config).await;
    m.up.tag(UPSTREAM_REPO, "v1", &m.up.image(&[]));
    m.configure(m.body(&["*"])).await;
    for event in [
        "repo_mirror_sync_started",
        "repo_mirror_sync_success",
        "repo_mirror_sync_failed",
    ] {
        let body = json!({"event": event, "method": "quay_notification", "config": {"target": {"kind": "user", "name": "owner"}}, "eventConfig": {}, "title": event});
        let (status, value) = m.call("POST", "/notification/", Some(body)).await;
        assert_eq!(status, 201, "{value}");
    }
    assert_eq!(m.pass().await.succeeded, 1);
    let events = queued_events(&m).await;
    assert_eq!(events.len(), 2, "started and success: {events:?}");
    assert!(
        events.iter().all(|e| e["message"]
            .as_str()
            .unwrap_or_default()
            .contains("with tag pattern '*'")),
        "{events:?}"
    );

    m.up.set_failing(true);
    m.sync_now().await;
    assert_eq!(m.pass().await.failed, 1);
    assert_eq!(queued_events(&m).await.len(), 4, "started and failed");
}

#[actix_web::test]
async fn upstreams_on_local_addresses_are_refused_unless_allowed() {
    let m = Mirror::with_config(Auth::Anonymous, "FEATURE_REPO_MIRROR: true\nREPO_MIRROR_INTERVAL: 0\n").await;
    for host in [m.up.host.as_str(), "localhost:5000", "10.1.2.3", "[::1]:5000"] {
        let mut body = m.body(&["*"]);
        body["external_reference"] = json!(format!("{host}/{UPSTREAM_REPO}"));
        let (status, value) = m.call("POST", "/mirror", Some(body)).await;
        assert_eq!(status, 400, "{host}: {value}");
        assert!(value.to_string().contains("not allowed"), "{value}");
    }
    let mut body = m.body(&["*"]);
    body["external_reference"] = json!("quay.io/minio/mc");
    m.configure(body).await;
    let (status, value) = m
        .call(
            "PUT",
            "/mirror",
            Some(json!({"external_reference": "169.254.169.254/latest/x"})),
        )
        .await;
    assert_eq!(status, 400, "{value}");
    assert_eq!(m.view().await["external_reference"], json!("quay.io/minio/mc"));
}
