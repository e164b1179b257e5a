//! Builds (quay-api.md §1.14, `FEATURE_BUILD_SUPPORT`): the file drop, the
//! `/userfiles/` upload and the build queue under
//! `/api/v1/repository/{repo}/build/`. No build manager runs, so requested
//! builds stay `waiting`.

use serde_json::{json, Value};

use crate::helpers::{grant_role, sha256, Grantee, RepoFixture};
use crate::v1_logs::logs;

const ENABLED: &str =
    "FEATURE_BUILD_SUPPORT: true\nSERVER_HOSTNAME: registry.example.com\nPREFERRED_URL_SCHEME: https\nBUILD_MANAGER: [ephemeral, {EXECUTORS: []}]\n";
const DOCKERFILE: &[u8] = b"FROM scratch\nCOPY hello /\n";

/// A registry with builds on, user `alice` (all scopes) and her private
/// repository `alice/app`.
async fn fixture() -> (RepoFixture, String) {
    let f = RepoFixture::with_config(ENABLED).await;
    let (_, token) = f.user("alice").await;
    f.create_repo(&token, "alice", "app", "private").await;
    (f, token)
}

/// `PUT /userfiles/{id}` on the test server; returns the status.
async fn put_userfile(f: &RepoFixture, file_id: &str, body: &[u8]) -> u16 {
    f.app
        .client
        .put(f.app.url(&format!("/userfiles/{file_id}")))
        .header("Content-Type", "application/octet-stream")
        .body(body.to_vec())
        .send()
        .await
        .expect("PUT userfile")
        .status()
        .as_u16()
}

/// Drops and uploads `body` as `token`'s user; returns the file id.
async fn uploaded_file(f: &RepoFixture, token: &str, body: &[u8]) -> String {
    let (status, drop) = f
        .call(
            "POST",
            "/filedrop/",
            Some(token),
            Some(json!({"mimeType": "text/plain"})),
        )
        .await;
    assert_eq!(status, 200, "{drop}");
    let file_id = drop["file_id"].as_str().expect("file_id").to_owned();
    assert_eq!(put_userfile(f, &file_id, body).await, 200);
    file_id
}

/// The display name of a build of `data`: the start of its SHA-256.
fn short_sum(data: &[u8]) -> String {
    sha256(data)["sha256:".len()..][..7].to_owned()
}

async fn request(f: &RepoFixture, token: Option<&str>, repo: &str, body: Value) -> (u16, Value) {
    f.call("POST", &format!("/repository/{repo}/build/"), token, Some(body))
        .await
}

/// Requests a build of alice/app from `body`; panics unless 201.
async fn requested(f: &RepoFixture, token: &str, body: Value) -> Value {
    let (status, build) = request(f, Some(token), "alice/app", body.clone()).await;
    assert_eq!(status, 201, "{body} -> {build}");
    build
}

fn archive(extra: Value) -> Value {
    let mut body = json!({"archive_url": "https://example.com/context.tar.gz"});
    body.as_object_mut()
        .expect("object")
        .extend(extra.as_object().expect("object").clone());
    body
}

#[actix_web::test]
async fn a_dropped_and_uploaded_dockerfile_is_queued_as_a_waiting_build() {
    let (f, token) = fixture().await;
    let (status, drop) = f
        .call(
            "POST",
            "/filedrop/",
            Some(&token),
            Some(json!({"mimeType": "text/plain"})),
        )
        .await;
    assert_eq!(status, 200, "{drop}");
    let file_id = drop["file_id"].as_str().expect("file_id");
    assert_eq!(drop["url"], format!("https://registry.example.com/userfiles/{file_id}"));
    let userfile = f.app.url(&format!("/userfiles/{file_id}"));
    let before = f.app.client.get(&userfile).send().await.expect("GET userfile");
    assert_eq!(before.status().as_u16(), 404, "nothing uploaded yet");
    assert_eq!(put_userfile(&f, file_id, DOCKERFILE).await, 200);
    let stored = f.services.store().read_object(&format!("userfiles/{file_id}")).await;
    assert!(stored.is_ok(), "the upload is stored");
    let back = f.app.client.get(&userfile).send().await.expect("GET userfile");
    assert_eq!(back.status().as_u16(), 200);
    assert_eq!(
        crate::helpers::header(&back, "Content-Type"),
        "application/octet-stream"
    );
    assert_eq!(back.bytes().await.expect("body").as_ref(), DOCKERFILE);

    let res = f
        .app
        .client
        .post(f.app.url("/api/v1/repository/alice/app/build/"))
        .bearer_auth(&token)
        .json(&json!({"file_id": file_id, "unknown_key": 1}))
        .send()
        .await
        .expect("POST build");
    assert_eq!(res.status().as_u16(), 201);
    let location = crate::helpers::header(&res, "Location");
    let build: Value = res.json().await.expect("BuildView");
    let uuid = build["id"].as_str().expect("id");
    assert_eq!(location, format!("/api/v1/repository/alice/app/build/{uuid}/status"));
    assert_eq!(build["phase"], "waiting");
    assert_eq!(build["display_name"], short_sum(DOCKERFILE));
    assert_eq!(build["tags"], json!(["latest"]));
    assert_eq!(build["context"], "/");
    assert_eq!(build["dockerfile_path"], "/Dockerfile");
    assert_eq!(build["subdirectory"], "/Dockerfile");
    assert_eq!(build["manual_user"], "alice");
    assert_eq!(build["is_writer"], true);
    assert_eq!(build["trigger"], Value::Null);
    assert_eq!(build["trigger_metadata"], json!({}));
    assert_eq!(build["status"], json!({}));
    assert_eq!(build["resource_key"], file_id);
    assert_eq!(build["pull_robot"], Value::Null);
    assert_eq!(build["error"], Value::Null);
    assert_eq!(build["repository"], json!({"namespace": "alice", "name": "app"}));
    assert_eq!(
        build["archive_url"],
        format!("https://registry.example.com/userfiles/{file_id}")
    );
    let started = build["started"].as_str().expect("started");
    assert!(chrono::DateTime::parse_from_rfc2822(started).is_ok(), "{started}");

    let entries = logs(&f, "/repository/alice/app/logs", &token).await;
    let entry = entries
        .iter()
        .find(|e| e["kind"] == "build_dockerfile")
        .expect("build_dockerfile logged");
    let metadata = &entry["metadata"];
    assert_eq!(metadata["repo"], "app");
    assert_eq!(metadata["namespace"], "alice");
    assert_eq!(metadata["fileid"], file_id);
    assert_eq!(metadata["manual_user"], "alice");
    assert_eq!(metadata["build_id"], uuid);
}

#[actix_web::test]
async fn an_archive_url_build_shows_the_url_to_writers_only() {
    let (f, token) = fixture().await;
    let (reader, reader_token) = f.user("rita").await;
    grant_role(&f.app, "alice/app", Grantee::Account(&reader.username), "read").await;
    let build = requested(&f, &token, archive(json!({"docker_tags": ["v1", "stable"]}))).await;
    assert_eq!(build["archive_url"], "https://example.com/context.tar.gz");
    assert_eq!(build["resource_key"], Value::Null);
    assert_eq!(build["tags"], json!(["v1", "stable"]));
    assert_eq!(build["display_name"].as_str().map(str::len), Some(7));

    let path = format!("/repository/alice/app/build/{}", build["id"].as_str().expect("id"));
    let (status, seen) = f.call("GET", &path, Some(&reader_token), None).await;
    assert_eq!(status, 200, "{seen}");
    assert_eq!(seen["is_writer"], false);
    assert!(seen.get("archive_url").is_none(), "{seen}");
}

#[actix_web::test]
async fn context_and_dockerfile_path_are_resolved_as_quay_does() {
    let (f, token) = fixture().await;
    let cases = [
        (
            json!({"dockerfile_path": "/web/Dockerfile.prod"}),
            "/web",
            "/web/Dockerfile.prod",
        ),
        (
            json!({"dockerfile_path": "/web/Dockerfile", "context": "/"}),
            "/",
            "/web/Dockerfile",
        ),
        (json!({"subdirectory": "/api"}), "/api", "/api/Dockerfile"),
        (json!({"subdirectory": "/api/"}), "/api/", "/api/Dockerfile"),
        (json!({"context": "/svc"}), "/svc", "/svc/Dockerfile"),
        (json!({}), "/", "/Dockerfile"),
    ];
    for (extra, context, path) in cases {
        let build = requested(&f, &token, archive(extra.clone())).await;
        assert_eq!(build["context"], context, "{extra}");
        assert_eq!(build["dockerfile_path"], path, "{extra}");
    }
}

#[actix_web::test]
async fn builds_are_listed_newest_first_and_viewed_with_status_and_logs() {
    let (f, token) = fixture().await;
    let mut ids = Vec::new();
    for tag in ["a", "b", "c", "d", "e", "f"] {
        let build = requested(&f, &token, archive(json!({"docker_tags": [tag]}))).await;
        ids.push(build["id"].as_str().expect("id").to_owned());
    }
    let (status, list) = f.call("GET", "/repository/alice/app/build/", Some(&token), None).await;
    assert_eq!(status, 200, "{list}");
    let listed: Vec<&str> = list["builds"]
        .as_array()
        .expect("builds")
        .iter()
        .map(|b| b["id"].as_str().expect("id"))
        .collect();
    let newest: Vec<&str> = ids.iter().rev().take(5).map(String::as_str).collect();
    assert_eq!(listed, newest, "five by default, newest first");

    let (_, two) = f
        .call("GET", "/repository/alice/app/build/?limit=2", Some(&token), None)
        .await;
    assert_eq!(two["builds"].as_array().map(Vec::len), Some(2));
    let (_, future) = f
        .call(
            "GET",
            "/repository/alice/app/build/?since=4102444800",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(future["builds"], json!([]));
    let (_, past) = f
        .call(
            "GET",
            "/repository/alice/app/build/?since=0&limit=100",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(past["builds"].as_array().map(Vec::len), Some(6));
    let (status, bad) = f
        .call("GET", "/repository/alice/app/build/?limit=many", Some(&token), None)
        .await;
    assert_eq!(status, 400, "{bad}");

    let base = format!("/repository/alice/app/build/{}", ids[0]);
    for path in [base.clone(), format!("{base}/status")] {
        let (status, build) = f.call("GET", &path, Some(&token), None).await;
        assert_eq!(status, 200, "{path}: {build}");
        assert_eq!(build["id"], ids[0].as_str());
        assert_eq!(build["tags"], json!(["a"]));
    }
    let (status, logs) = f.call("GET", &format!("{base}/logs"), Some(&token), None).await;
    assert_eq!(status, 200, "{logs}");
    assert_eq!(logs, json!({"start": 0, "total": 0, "logs": []}));
}

#[actix_web::test]
async fn build_logs_are_read_from_their_start_and_need_write_permission() {
    let (f, token) = fixture().await;
    let (reader, reader_token) = f.user("rita").await;
    grant_role(&f.app, "alice/app", Grantee::Account(&reader.username), "read").await;
    let build = requested(&f, &token, archive(json!({}))).await;
    let uuid = build["id"].as_str().expect("id").to_owned();
    f.services
        .db()
        .write(move |c| {
            use diesel::prelude::*;
            use registry::db::queries::builds as q;
            use registry::db::schema::repositorybuild as rb;
            let id: i64 = rb::table.filter(rb::uuid.eq(&uuid)).select(rb::id).first(c)?;
            q::append_log_line(c, id, "step 1", Some("command"), Some(r#"{"command":"FROM"}"#))?;
            q::append_log_line(c, id, "pulling", None, None)?;
            Ok::<_, registry::service::Error>(())
        })
        .await
        .expect("log lines");
    let path = format!("/repository/alice/app/build/{}/logs", build["id"].as_str().expect("id"));
    let (status, all) = f.call("GET", &path, Some(&token), None).await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(all["total"], 2);
    assert_eq!(
        all["logs"],
        json!([{"message": "step 1", "type": "command", "data": {"command": "FROM"}}, {"message": "pulling"}])
    );
    let (_, rest) = f.call("GET", &format!("{path}?start=1"), Some(&token), None).await;
    assert_eq!(rest, json!({"start": 1, "total": 2, "logs": [{"message": "pulling"}]}));
    let (status, refused) = f.call("GET", &path, Some(&reader_token), None).await;
    assert_eq!(status, 403, "{refused}");
}

#[actix_web::test]
async fn a_waiting_build_is_cancelled_once() {
    let (f, token) = fixture().await;
    let build = requested(&f, &token, archive(json!({}))).await;
    let path = format!("/repository/alice/app/build/{}", build["id"].as_str().expect("id"));
    let (status, body) = f.call("DELETE", &path, Some(&token), None).await;
    assert_eq!((status, body), (201, json!("Okay")));
    let (_, after) = f.call("GET", &path, Some(&token), None).await;
    assert_eq!(after["phase"], "cancelled");
    let (status, again) = f.call("DELETE", &path, Some(&token), None).await;
    assert_eq!(status, 400, "{again}");
    assert_eq!(again["detail"], "Build is currently running or has finished");
}

#[actix_web::test]
async fn writers_cannot_cancel_and_readers_cannot_request() {
    let (f, token) = fixture().await;
    let (writer, writer_token) = f.user("will").await;
    let (reader, reader_token) = f.user("rita").await;
    grant_role(&f.app, "alice/app", Grantee::Account(&writer.username), "write").await;
    grant_role(&f.app, "alice/app", Grantee::Account(&reader.username), "read").await;
    let (status, body) = request(&f, Some(&reader_token), "alice/app", archive(json!({}))).await;
    assert_eq!(status, 403, "{body}");
    let build = requested(&f, &writer_token, archive(json!({}))).await;
    assert_eq!(build["manual_user"], "will");
    let path = format!("/repository/alice/app/build/{}", build["id"].as_str().expect("id"));
    let (status, body) = f.call("DELETE", &path, Some(&writer_token), None).await;
    assert_eq!(status, 403, "{body}");
    let (status, _) = f.call("DELETE", &path, Some(&token), None).await;
    assert_eq!(status, 201);
}

#[actix_web::test]
async fn anonymous_and_unrelated_callers_are_refused() {
    let (f, _) = fixture().await;
    let (_, mallory) = f.user("mallory").await;
    let (status, body) = request(&f, None, "alice/app", archive(json!({}))).await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = f.call("GET", "/repository/alice/app/build/", None, None).await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = request(&f, Some(&mallory), "alice/app", archive(json!({}))).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = f
        .call("GET", "/repository/alice/app/build/", Some(&mallory), None)
        .await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = f
        .call("POST", "/filedrop/", None, Some(json!({"mimeType": "text/plain"})))
        .await;
    assert_eq!(status, 401, "{body}");
}

#[actix_web::test]
async fn a_build_of_another_repository_is_not_found() {
    let (f, token) = fixture().await;
    f.create_repo(&token, "alice", "other", "private").await;
    let build = requested(&f, &token, archive(json!({}))).await;
    let uuid = build["id"].as_str().expect("id");
    for path in [
        format!("/repository/alice/other/build/{uuid}"),
        format!("/repository/alice/other/build/{uuid}/status"),
        format!("/repository/alice/other/build/{uuid}/logs"),
        "/repository/alice/app/build/no-such-build".to_owned(),
    ] {
        let (status, body) = f.call("GET", &path, Some(&token), None).await;
        assert_eq!(status, 404, "{path}: {body}");
    }
    let (status, _) = f
        .call(
            "DELETE",
            &format!("/repository/alice/other/build/{uuid}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, 404);
}

#[actix_web::test]
async fn bad_build_requests_are_refused_with_400() {
    let (f, token) = fixture().await;
    let cases = [
        json!({}),
        json!({"file_id": "", "archive_url": ""}),
        json!({"archive_url": "ftp://example.com/context.tar.gz"}),
        archive(json!({"docker_tags": ["v1", "v1"]})),
        archive(json!({"docker_tags": []})),
        archive(json!({"docker_tags": ["not a tag"]})),
        archive(json!({"docker_tags": "latest"})),
        json!({"file_id": "never-issued"}),
    ];
    for body in cases {
        let (status, answer) = request(&f, Some(&token), "alice/app", body.clone()).await;
        assert_eq!(status, 400, "{body} -> {answer}");
        assert_eq!(answer["error_type"], "invalid_request", "{body} -> {answer}");
    }
    let (_, missing) = request(&f, Some(&token), "alice/app", json!({})).await;
    assert_eq!(missing["detail"], "file_id or archive_url required");
}

#[actix_web::test]
async fn a_file_of_someone_else_or_not_uploaded_cannot_be_built() {
    let (f, token) = fixture().await;
    let (_, bob) = f.user("bob").await;
    let bobs = uploaded_file(&f, &bob, DOCKERFILE).await;
    let (status, body) = request(&f, Some(&token), "alice/app", json!({"file_id": bobs})).await;
    assert_eq!(status, 400, "{body}");
    let (_, drop) = f
        .call(
            "POST",
            "/filedrop/",
            Some(&token),
            Some(json!({"mimeType": "text/plain"})),
        )
        .await;
    let empty = drop["file_id"].as_str().expect("file_id");
    let (status, body) = request(&f, Some(&token), "alice/app", json!({"file_id": empty})).await;
    assert_eq!(status, 400, "{body}");
}

#[actix_web::test]
async fn userfiles_take_one_upload_to_an_issued_id() {
    let (f, token) = fixture().await;
    assert_eq!(
        put_userfile(&f, "11111111-2222-3333-4444-555555555555", DOCKERFILE).await,
        404
    );
    let file_id = uploaded_file(&f, &token, DOCKERFILE).await;
    assert_eq!(put_userfile(&f, &file_id, b"FROM evil\n").await, 404, "a second upload");
    let build = requested(&f, &token, json!({"file_id": file_id})).await;
    assert_eq!(build["display_name"], short_sum(DOCKERFILE));
}

#[actix_web::test]
async fn a_pull_robot_must_be_a_robot_of_a_namespace_the_caller_administers() {
    let (f, token) = fixture().await;
    let alice = f.services.account("alice").await.expect("db").expect("alice");
    f.robot(&alice, "puller").await;
    let (bob, _) = f.user("bob").await;
    f.robot(&bob, "theirs").await;
    let build = requested(&f, &token, archive(json!({"pull_robot": "alice+puller"}))).await;
    assert_eq!(
        build["pull_robot"],
        json!({"name": "alice+puller", "kind": "user", "is_robot": true})
    );
    let (status, body) = request(
        &f,
        Some(&token),
        "alice/app",
        archive(json!({"pull_robot": "bob+theirs"})),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = request(
        &f,
        Some(&token),
        "alice/app",
        archive(json!({"pull_robot": "alice+nobody"})),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = request(&f, Some(&token), "alice/app", archive(json!({"pull_robot": "bob"}))).await;
    assert_eq!(status, 403, "{body}");
}

#[actix_web::test]
async fn builds_are_on_by_default_as_in_quay() {
    let f = RepoFixture::new().await;
    let (_, token) = f.user("alice").await;
    f.create_repo(&token, "alice", "app", "private").await;
    let (status, body) = f.call("GET", "/repository/alice/app/build/", Some(&token), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["builds"], json!([]));
    assert!(f.services.settings().builds.enabled);
    assert!(f.services.settings().builds.manager.is_some(), "a local build manager");
}

#[actix_web::test]
async fn without_build_support_the_endpoints_do_not_exist() {
    let f = RepoFixture::with_config("FEATURE_BUILD_SUPPORT: false\n").await;
    let (_, token) = f.user("alice").await;
    f.create_repo(&token, "alice", "app", "private").await;
    let (status, body) = request(&f, Some(&token), "alice/app", archive(json!({}))).await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = f.call("GET", "/repository/alice/app/build/", Some(&token), None).await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = f
        .call(
            "POST",
            "/filedrop/",
            Some(&token),
            Some(json!({"mimeType": "text/plain"})),
        )
        .await;
    assert_eq!(status, 404, "{body}");
    let (unknown_status, unknown) = f.call("GET", "/no/such/endpoint", Some(&token), None).await;
    assert_eq!((status, &body), (unknown_status, &unknown), "as an unknown route");
    assert_eq!(
        put_userfile(&f, "11111111-2222-3333-4444-555555555555", DOCKERFILE).await,
        404
    );
}

#[actix_web::test]
async fn deleting_a_repository_cancels_its_queued_builds() {
    let (f, token) = fixture().await;
    let build = requested(&f, &token, archive(json!({}))).await;
    let uuid = build["id"].as_str().expect("id").to_owned();
    let (status, body) = f.call("DELETE", "/repository/alice/app", Some(&token), None).await;
    assert_eq!(status, 204, "{body}");
    let phase = f
        .services
        .db()
        .read(move |c| {
            use diesel::prelude::*;
            use registry::db::schema::repositorybuild as rb;
            Ok(rb::table
                .filter(rb::uuid.eq(&uuid))
                .select(rb::phase)
                .first::<String>(c)?)
        })
        .await
        .expect("build row");
    assert_eq!(phase, "cancelled");
}

#[actix_web::test]
async fn an_upload_declared_over_one_gibibyte_is_refused_with_413() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let (f, token) = fixture().await;
    let (_, drop) = f
        .call(
            "POST",
            "/filedrop/",
            Some(&token),
            Some(json!({"mimeType": "application/x-tar"})),
        )
        .await;
    let file_id = drop["file_id"].as_str().expect("file_id").to_owned();
    let address = f.app.address.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.expect("connect");
    let head = format!(
        "PUT /userfiles/{file_id} HTTP/1.1\r\nHost: {address}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        (1u64 << 30) + 1
    );
    stream.write_all(head.as_bytes()).await.expect("request head");
    let mut answer = vec![0u8; 12];
    stream.read_exact(&mut answer).await.expect("status line");
    assert_eq!(String::from_utf8_lossy(&answer), "HTTP/1.1 413");
    assert_eq!(
        put_userfile(&f, &file_id, DOCKERFILE).await,
        200,
        "the id is still unused"
    );
}

#[actix_web::test]
async fn a_requested_build_fires_build_queued_notifications() {
    let (f, token) = fixture().await;
    let notification = json!({
        "event": "build_queued",
        "method": "quay_notification",
        "config": {"target": {"kind": "user", "name": "alice"}},
        "eventConfig": {},
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
    let build = requested(&f, &token, archive(json!({"docker_tags": ["v2"]}))).await;
    let report = f.services.deliver_notifications_once().await.expect("delivery pass");
    assert_eq!(report.delivered, 1);
    let (_, inbox) = f.call("GET", "/user/notifications", Some(&token), None).await;
    let entry = &inbox["notifications"][0];
    assert_eq!(entry["kind"], "build_queued");
    assert_eq!(entry["metadata"]["build_id"], build["id"]);
    assert_eq!(entry["metadata"]["docker_tags"], json!(["v2"]));
    assert_eq!(entry["metadata"]["repository"], "alice/app");
}
