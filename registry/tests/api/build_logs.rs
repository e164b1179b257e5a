//! Build logs (quay-api.md §1.14): live in the database, or in Redis with
//! `BUILDLOGS_REDIS` (Quay's keys), archived to blob storage as gzip'd JSON
//! at `logarchive/<uuid>` when the build ends, and downloadable from
//! `/buildlogs/{uuid}`; a Redis that is down is a 503 that recovers, a
//! storage that is down keeps the live copy for a later worker pass. Also
//! the queued build limit and the expiry label of built images.

use std::io::Read as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::build_support::{builder, queue};
use crate::helpers::{grant_role, image_manifest, random_bytes, sha256, Grantee, RepoFixture, DOCKER_CONFIG};
use crate::helpers::{DOCKER_LAYER, DOCKER_MANIFEST};
use registry::service::builds::{log_archive_key, BuildManagerSettings};

const BUILDS: &str = "FEATURE_BUILD_SUPPORT: true\nBUILD_MANAGER: [ephemeral, {EXECUTORS: []}]\n";

/// A Redis server of its own on a free loopback port, stopped on drop.
struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

impl RedisServer {
    async fn start() -> RedisServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut server = RedisServer {
            child: None,
            port,
            dir: tempfile::tempdir().expect("temp dir"),
        };
        server.restart().await;
        server
    }

    /// Starts (again) on the same port, empty.
    async fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--dir"])
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server runs (Debian package redis-server; e2e/run installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.answers().await {
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer on {}",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn answers(&self) -> bool {
        match self.client().get_multiplexed_async_connection().await {
            Ok(mut c) => redis::cmd("PING").query_async::<String>(&mut c).await.is_ok(),
            Err(_) => false,
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn client(&self) -> redis::Client {
        redis::Client::open(format!("redis://127.0.0.1:{}/", self.port)).expect("redis URL")
    }

    /// The entries of a Redis list.
    async fn list(&self, key: &str) -> Vec<String> {
        let mut c = self.client().get_multiplexed_async_connection().await.expect("connect");
        redis::cmd("LRANGE")
            .arg(key)
            .arg(0)
            .arg(-1)
            .query_async(&mut c)
            .await
            .expect("LRANGE")
    }

    fn config(&self) -> String {
        format!("BUILDLOGS_REDIS: {{host: 127.0.0.1, port: {}}}\n", self.port)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn fixture(config: &str) -> (RepoFixture, String) {
    crate::build_support::fixture(&format!("{BUILDS}{config}")).await
}

async fn running_build(f: &RepoFixture, token: &str) -> (String, String, Value) {
    let uuid = queue(f, token).await;
    let job = f
        .services
        .claim_build("m", &BuildManagerSettings::default().executors)
        .await
        .expect("claim")
        .expect("claimed");
    assert_eq!(job.uuid, uuid);
    let (status, pack) = builder(f, &uuid, "register", &job.token, json!({})).await;
    assert_eq!(status, 200, "{pack}");
    (uuid, job.token, pack)
}

async fn post_line(f: &RepoFixture, uuid: &str, job: &str, seq: i64, message: &str) -> (u16, Value) {
    let line = json!({"sequence_number": seq, "message": message, "type": "command", "data": {"n": seq}});
    builder(f, uuid, "logs", job, line).await
}

async fn logs(f: &RepoFixture, token: Option<&str>, uuid: &str, query: &str) -> (u16, Value) {
    f.call(
        "GET",
        &format!("/repository/alice/app/build/{uuid}/logs{query}"),
        token,
        None,
    )
    .await
}

fn messages(page: &Value) -> Vec<String> {
    page["logs"]
        .as_array()
        .unwrap_or_else(|| panic!("logs in {page}"))
        .iter()
        .map(|l| l["message"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// `GET /buildlogs/{uuid}` with a bearer token, if any.
async fn download(f: &RepoFixture, token: Option<&str>, uuid: &str) -> reqwest::Response {
    let mut req = reqwest::Client::new().get(f.app.url(&format!("/buildlogs/{uuid}")));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.expect("GET /buildlogs")
}

/// The stored archive, decompressed.
async fn archive_of(f: &RepoFixture, uuid: &str) -> Value {
    use futures_util::TryStreamExt as _;
    let stream = f
        .services
        .store()
        .read_object(&log_archive_key(uuid))
        .await
        .expect("archive stored");
    let chunks: Vec<bytes::Bytes> = stream.try_collect().await.expect("archive read");
    let mut text = String::new();
    flate2::read::GzDecoder::new(chunks.concat().as_slice())
        .read_to_string(&mut text)
        .expect("gzip");
    serde_json::from_str(&text).expect("archive JSON")
}

async fn db_log_lines(f: &RepoFixture) -> i64 {
    f.services
        .db()
        .read(|c| {
            use diesel::prelude::*;
            use registry::db::schema::buildlogentry as l;
            Ok(l::table.count().get_result(c)?)
        })
        .await
        .expect("count")
}

#[actix_web::test]
async fn database_logs_are_served_live_then_from_the_archive_once_the_build_ends() {
    let (f, token) = fixture("").await;
    let (uuid, job, _) = running_build(&f, &token).await;
    for (seq, message) in [(1, "STEP 1/2: FROM base"), (2, "STEP 2/2: RUN true")] {
        assert_eq!(post_line(&f, &uuid, &job, seq, message).await.0, 200);
    }
    let (status, live) = logs(&f, Some(&token), &uuid, "").await;
    assert_eq!(status, 200, "{live}");
    assert_eq!(
        messages(&live),
        ["build-scheduled", "STEP 1/2: FROM base", "STEP 2/2: RUN true"]
    );
    assert_eq!(live["total"], 3);
    assert_eq!(
        live["logs"][1],
        json!({"message": "STEP 1/2: FROM base", "type": "command", "data": {"n": 1}})
    );
    assert!(live.get("logs_url").is_none(), "{live}");
    let (_, tail) = logs(&f, Some(&token), &uuid, "?start=2").await;
    assert_eq!(
        (tail["start"].clone(), messages(&tail)),
        (json!(2), vec!["STEP 2/2: RUN true".to_owned()])
    );

    assert_eq!(builder(&f, &uuid, "complete", &job, json!({})).await.0, 200);
    let (status, ended) = logs(&f, Some(&token), &uuid, "").await;
    assert_eq!(status, 200, "{ended}");
    let expected = [
        "build-scheduled",
        "STEP 1/2: FROM base",
        "STEP 2/2: RUN true",
        "complete",
    ];
    assert_eq!(messages(&ended), expected);
    assert_eq!(ended["total"], 4);
    assert_eq!(ended["logs"][1]["data"], json!({"n": 1}));
    let url = ended["logs_url"].as_str().expect("logs_url once archived");
    assert!(url.ends_with(&format!("/buildlogs/{uuid}")), "{url}");
    let (_, tail) = logs(&f, Some(&token), &uuid, "?start=3").await;
    assert_eq!(messages(&tail), ["complete"]);
    assert_eq!(tail["total"], 4);

    let archived = archive_of(&f, &uuid).await;
    assert_eq!(
        (archived["start"].clone(), archived["total"].clone()),
        (json!(0), json!(4))
    );
    assert_eq!(messages(&archived), expected);
    assert_eq!(db_log_lines(&f).await, 0, "the live copy is deleted");

    let res = download(&f, Some(&token), &uuid).await;
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(crate::helpers::header(&res, "Content-Type"), "application/json");
    assert_eq!(
        crate::helpers::header(&res, "Content-Disposition"),
        format!("attachment; filename=\"{uuid}.json\"")
    );
    let file: Value = res.json().await.expect("JSON file");
    assert_eq!(messages(&file), expected);
}

#[actix_web::test]
async fn a_running_builds_logs_download_as_a_file_too() {
    let (f, token) = fixture("").await;
    let (uuid, job, _) = running_build(&f, &token).await;
    assert_eq!(post_line(&f, &uuid, &job, 1, "pulling base").await.0, 200);
    let res = download(&f, Some(&token), &uuid).await;
    assert_eq!(res.status().as_u16(), 200);
    let file: Value = res.json().await.expect("JSON file");
    assert_eq!(messages(&file), ["build-scheduled", "pulling base"]);
    assert_eq!(file["total"], 2);
}

#[actix_web::test]
async fn a_cancelled_builds_logs_are_archived() {
    let (f, token) = fixture("").await;
    let (uuid, job, _) = running_build(&f, &token).await;
    assert_eq!(post_line(&f, &uuid, &job, 1, "building").await.0, 200);
    let (status, _) = f
        .call(
            "DELETE",
            &format!("/repository/alice/app/build/{uuid}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, 201);
    let (_, page) = logs(&f, Some(&token), &uuid, "").await;
    assert_eq!(messages(&page), ["build-scheduled", "building", "cancelled"]);
    assert!(page["logs_url"].is_string(), "{page}");
    assert_eq!(
        post_line(&f, &uuid, &job, 2, "late").await.0,
        400,
        "no lines after the end"
    );
}

#[actix_web::test]
async fn the_log_download_is_refused_to_whoever_may_not_read_the_logs() {
    let (f, token) = fixture("").await;
    let (reader, reader_token) = f.user("rita").await;
    let (writer, writer_token) = f.user("will").await;
    let (_, mallory) = f.user("mallory").await;
    grant_role(&f.app, "alice/app", Grantee::Account(&reader.username), "read").await;
    grant_role(&f.app, "alice/app", Grantee::Account(&writer.username), "write").await;
    let (uuid, job, _) = running_build(&f, &token).await;
    assert_eq!(builder(&f, &uuid, "complete", &job, json!({})).await.0, 200);
    for (who, t) in [
        ("non-member", Some(mallory.as_str())),
        ("reader", Some(&reader_token)),
        ("anonymous", None),
    ] {
        let res = download(&f, t, &uuid).await;
        assert_eq!(res.status().as_u16(), 403, "{who}");
        let body: Value = res.json().await.expect("error JSON");
        assert!(body.get("logs").is_none(), "{who}: {body}");
    }
    assert_eq!(download(&f, Some(&token), "no-such-build").await.status().as_u16(), 403);
    assert_eq!(download(&f, Some(&writer_token), &uuid).await.status().as_u16(), 200);
    let (status, _) = logs(&f, Some(&mallory), &uuid, "").await;
    assert_eq!(status, 403, "the API refuses a non-member too");
}

#[actix_web::test]
async fn readers_download_logs_with_reader_build_logs() {
    let (f, token) = fixture("FEATURE_READER_BUILD_LOGS: true\n").await;
    let (reader, reader_token) = f.user("rita").await;
    let (_, mallory) = f.user("mallory").await;
    grant_role(&f.app, "alice/app", Grantee::Account(&reader.username), "read").await;
    let (uuid, job, _) = running_build(&f, &token).await;
    assert_eq!(builder(&f, &uuid, "complete", &job, json!({})).await.0, 200);
    assert_eq!(download(&f, Some(&reader_token), &uuid).await.status().as_u16(), 200);
    assert_eq!(download(&f, Some(&mallory), &uuid).await.status().as_u16(), 403);
}

#[actix_web::test]
async fn a_failed_archive_keeps_the_live_logs_and_a_worker_pass_archives_them() {
    let (f, token) = fixture("").await;
    let (uuid, job, _) = running_build(&f, &token).await;
    assert_eq!(post_line(&f, &uuid, &job, 1, "kept").await.0, 200);
    // A replica whose blob store refuses the archive: its `logarchive`
    // folder cannot be made, as when storage is down.
    let broken_dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(broken_dir.path().join("logarchive"), b"not a folder").expect("obstacle");
    let path = broken_dir.path().to_str().expect("path").to_owned();
    let broken = f
        .app
        .services_with_config(move |c| {
            let params = [("storage_path".to_owned(), serde_yaml::Value::String(path))].into();
            c.distributed_storage_config = [("broken".to_owned(), ("LocalStorage".to_owned(), params))].into();
            c.distributed_storage_preference = vec!["broken".into()];
        })
        .await;
    broken
        .builder_complete(&uuid, &job, None)
        .await
        .expect("the build completes");

    let (status, page) = logs(&f, Some(&token), &uuid, "").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(messages(&page), ["build-scheduled", "kept", "complete"], "nothing lost");
    assert!(page.get("logs_url").is_none(), "not archived: {page}");
    assert!(
        broken.archive_ended_build_logs().await.is_err(),
        "storage is still down"
    );
    assert_eq!(db_log_lines(&f).await, 3);

    assert_eq!(f.services.archive_ended_build_logs().await.expect("worker pass"), 1);
    let (_, page) = logs(&f, Some(&token), &uuid, "").await;
    assert_eq!(messages(&page), ["build-scheduled", "kept", "complete"]);
    assert!(page["logs_url"].is_string(), "{page}");
    assert_eq!(db_log_lines(&f).await, 0);
    assert_eq!(f.services.archive_ended_build_logs().await.expect("pass"), 0, "once");
}

#[actix_web::test]
async fn with_buildlogs_redis_live_logs_are_in_redis_under_quays_keys_until_archived() {
    let redis = RedisServer::start().await;
    let (f, token) = fixture(&redis.config()).await;
    let (uuid, job, _) = running_build(&f, &token).await;
    assert_eq!(post_line(&f, &uuid, &job, 1, "in redis").await.0, 200);
    let key = format!("builds/{uuid}/logs");
    let entries: Vec<Value> = redis
        .list(&key)
        .await
        .iter()
        .map(|e| serde_json::from_str(e).expect("JSON entry"))
        .collect();
    assert_eq!(
        entries,
        [
            json!({"message": "build-scheduled", "type": "phase"}),
            json!({"message": "in redis", "type": "command", "data": {"n": 1}}),
        ]
    );
    assert_eq!(db_log_lines(&f).await, 0, "nothing live in the database");
    let (status, live) = logs(&f, Some(&token), &uuid, "?start=1").await;
    assert_eq!(status, 200, "{live}");
    assert_eq!(
        (live["total"].clone(), messages(&live)),
        (json!(2), vec!["in redis".to_owned()])
    );

    assert_eq!(
        builder(&f, &uuid, "complete", &job, json!({"error": "boom"})).await.0,
        200
    );
    assert!(redis.list(&key).await.is_empty(), "the live copy is deleted");
    let (_, ended) = logs(&f, Some(&token), &uuid, "").await;
    assert_eq!(messages(&ended), ["build-scheduled", "in redis", "error"]);
    assert!(ended["logs_url"].is_string(), "{ended}");
    assert_eq!(
        messages(&archive_of(&f, &uuid).await),
        ["build-scheduled", "in redis", "error"]
    );
}

#[actix_web::test]
async fn a_redis_that_is_down_is_a_503_for_readers_and_builders_until_it_is_back() {
    let mut redis = RedisServer::start().await;
    let (f, token) = fixture(&redis.config()).await;
    let (uuid, job, _) = running_build(&f, &token).await;
    assert_eq!(post_line(&f, &uuid, &job, 1, "before").await.0, 200);

    redis.stop();
    let (status, body) = logs(&f, Some(&token), &uuid, "").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error_type"], "downstream_issue");
    assert!(body["detail"].as_str().is_some_and(|d| d.contains("Redis")), "{body}");
    let (status, body) = post_line(&f, &uuid, &job, 2, "while down").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(download(&f, Some(&token), &uuid).await.status().as_u16(), 503);
    let (status, body) = builder(&f, &uuid, "phase", &job, json!({"phase": "building"})).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        builder(&f, &uuid, "heartbeat", &job, json!({})).await.0,
        200,
        "the build lives on"
    );

    redis.restart().await;
    let (status, body) = post_line(&f, &uuid, &job, 2, "after").await;
    assert_eq!(status, 200, "the refused number may be sent again: {body}");
    let (status, page) = logs(&f, Some(&token), &uuid, "").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        messages(&page),
        ["after"],
        "a restarted Redis without persistence is empty"
    );
}

#[actix_web::test]
async fn a_namespace_at_its_queued_build_limit_is_refused_with_429() {
    let (f, token) = fixture("DEFAULT_NAMESPACE_MAXIMUM_BUILD_COUNT: 2\n").await;
    let (_, bob) = f.user("bob").await;
    f.create_repo(&bob, "bob", "web", "private").await;
    let first = queue(&f, &token).await;
    queue(&f, &token).await;
    let body = json!({"archive_url": "https://example.com/ctx.tar.gz"});
    let (status, refused) = f
        .call("POST", "/repository/alice/app/build/", Some(&token), Some(body.clone()))
        .await;
    assert_eq!(status, 429, "{refused}");
    assert_eq!(refused["message"], "Maximum queued build rate exceeded.");
    assert_eq!(refused["error_type"], "too_many_requests");
    let (status, _) = f
        .call("POST", "/repository/bob/web/build/", Some(&bob), Some(body.clone()))
        .await;
    assert_eq!(status, 201, "other namespaces have their own count");
    let (status, _) = f
        .call(
            "DELETE",
            &format!("/repository/alice/app/build/{first}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, 201);
    let (status, _) = f
        .call("POST", "/repository/alice/app/build/", Some(&token), Some(body))
        .await;
    assert_eq!(status, 201, "an ended build frees its place");
}

#[actix_web::test]
async fn build_queued_carries_quays_fields_and_ref_regex_skips_builds_without_a_ref() {
    let (f, token) = fixture("SERVER_HOSTNAME: registry.example.com\nPREFERRED_URL_SCHEME: https\n").await;
    for config in [json!({}), json!({"ref-regex": "refs/heads/.*"})] {
        let notification = json!({
            "event": "build_queued",
            "method": "quay_notification",
            "config": {"target": {"kind": "user", "name": "alice"}},
            "eventConfig": config,
        });
        let (status, body) = f
            .call(
                "POST",
                "/repository/alice/app/notification/",
                Some(&token),
                Some(notification),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let uuid = queue(&f, &token).await;
    let report = f.services.deliver_notifications_once().await.expect("delivery pass");
    assert_eq!(report.delivered, 1, "the ref-regex one skips a manual build");
    let (_, inbox) = f.call("GET", "/user/notifications", Some(&token), None).await;
    let data = &inbox["notifications"][0]["metadata"];
    assert_eq!(inbox["notifications"][0]["kind"], "build_queued");
    for (field, value) in [
        ("build_id", json!(uuid)),
        ("docker_tags", json!(["v1"])),
        ("is_manual", json!(true)),
        ("manual_user", json!("alice")),
        ("repo", json!("app")),
        ("namespace", json!("alice")),
        ("name", json!("app")),
        ("repository", json!("alice/app")),
        ("docker_url", json!("registry.example.com/alice/app")),
        (
            "homepage",
            json!(format!(
                "https://registry.example.com/repository/alice/app/build/{uuid}"
            )),
        ),
        ("trigger_metadata", json!({})),
    ] {
        assert_eq!(data[field], value, "{field} in {data}");
    }
}

#[actix_web::test]
async fn ref_regex_filters_build_events_by_the_builds_git_ref() {
    let (f, token) = fixture("").await;
    let notification = json!({
        "event": "build_success",
        "method": "quay_notification",
        "config": {"target": {"kind": "user", "name": "alice"}},
        "eventConfig": {"ref-regex": "refs/heads/(main|release-.*)"},
    });
    let (status, body) = f
        .call(
            "POST",
            "/repository/alice/app/notification/",
            Some(&token),
            Some(notification),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let repo = f.services.account("alice").await.expect("db").expect("alice");
    let repo_id = f
        .services
        .db()
        .read(move |c| {
            use diesel::prelude::*;
            use registry::db::schema::repository as r;
            Ok(r::table
                .filter(r::namespace_user_id.eq(repo.id))
                .select(r::id)
                .first::<i64>(c)?)
        })
        .await
        .expect("repository id");
    for (git_ref, fires) in [
        (Some("refs/heads/main"), 1),
        (Some("refs/heads/release-2"), 1),
        (Some("refs/heads/feature"), 0),
        (Some("refs/tags/refs/heads/main"), 0),
        (None, 0),
    ] {
        let metadata = git_ref.map_or(json!({}), |r| json!({"ref": r, "commit": "abc"}));
        let fields = json!({"build_id": "b", "trigger_metadata": metadata});
        let queued = f
            .services
            .notify(repo_id, "build_success", fields)
            .await
            .expect("notify");
        assert_eq!(queued, fires, "{git_ref:?}");
    }
}

#[actix_web::test]
async fn a_built_images_expires_after_label_sets_its_tags_expiration() {
    let (f, token) = fixture("").await;
    let (_, _, pack) = running_build(&f, &token).await;
    let push_token = pack["push_token"].as_str().expect("push token");
    // What buildah pushes: a Docker image whose config has the label.
    let config = json!({"architecture": "amd64", "os": "linux",
        "config": {"Labels": {"quay.expires-after": "2h"}}, "nonce": hex::encode(random_bytes(8))});
    let config = serde_json::to_vec(&config).expect("config");
    let layer = random_bytes(512);
    let client = reqwest::Client::new();
    for blob in [&config, &layer] {
        let res = client
            .post(
                f.app
                    .url(&format!("/v2/alice/app/blobs/uploads/?digest={}", sha256(blob))),
            )
            .basic_auth("$token", Some(push_token))
            .body(blob.clone())
            .send()
            .await
            .expect("blob push");
        assert_eq!(res.status().as_u16(), 201, "blob push with the build's token");
    }
    let manifest = image_manifest(
        DOCKER_MANIFEST,
        (DOCKER_CONFIG, &sha256(&config), config.len()),
        &[(DOCKER_LAYER, &sha256(&layer), layer.len())],
    );
    let res = client
        .put(f.app.url("/v2/alice/app/manifests/v1"))
        .basic_auth("$token", Some(push_token))
        .header("Content-Type", DOCKER_MANIFEST)
        .body(manifest)
        .send()
        .await
        .expect("manifest push");
    assert_eq!(res.status().as_u16(), 201);
    let (status, body) = f
        .call(
            "GET",
            "/repository/alice/app/tag/?specificTag=v1&onlyActiveTags=true",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let tag = &body["tags"][0];
    let (start, end) = (tag["start_ts"].as_i64().expect("start"), tag["end_ts"].as_i64());
    assert_eq!(end, Some(start + 7200), "{tag}");
    assert!(tag["expiration"].is_string(), "{tag}");
}
