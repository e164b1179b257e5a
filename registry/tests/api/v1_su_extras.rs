//! Global messages (`/messages`, `/message/{uuid}`), service keys
//! (`/superuser/keys…`, `/superuser/approvedkeys/{kid}`) and the superuser
//! app-token overview (`/superuser/apptokens`).

use serde_json::{json, Value};

use crate::helpers::{age_sessions, assert_api_error, sign_in, RepoFixture};
use crate::v1_logs::{logs, of_kind};

const CONFIG: &str = "SUPER_USERS: [admin]\nFEATURE_APP_SPECIFIC_TOKENS: true\n";

/// A registry with superuser `admin`, plain user `joe`, and their tokens.
async fn fixture() -> (RepoFixture, String, String) {
    let f = RepoFixture::with_config(CONFIG).await;
    let (_, admin) = f.user("admin").await;
    let (_, joe) = f.user("joe").await;
    (f, admin, joe)
}

fn message(content: &str) -> Value {
    json!({"message": {"content": content, "media_type": "text/markdown", "severity": "warning"}})
}

async fn raw(
    f: &RepoFixture,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> reqwest::Response {
    let mut req = f.app.client.request(method, f.app.url(&format!("/api/v1{path}")));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.expect("request")
}

#[actix_web::test]
async fn superusers_post_global_messages_everyone_reads_and_superusers_delete_them() {
    let (f, admin, _) = fixture().await;
    let (status, body) = f
        .call(
            "POST",
            "/messages",
            Some(&admin),
            Some(message("Maintenance *tonight*")),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    let (status, list) = f.call("GET", "/messages", None, None).await;
    assert_eq!(status, 200);
    let messages = list["messages"].as_array().expect("messages array");
    assert_eq!(messages.len(), 1, "{list}");
    let m = &messages[0];
    assert_eq!(m["content"], "Maintenance *tonight*");
    assert_eq!(m["media_type"], "text/markdown");
    assert_eq!(m["severity"], "warning");
    let uuid = m["uuid"].as_str().expect("uuid").to_owned();

    let (status, _) = f.call("DELETE", &format!("/message/{uuid}"), Some(&admin), None).await;
    assert_eq!(status, 204);
    let (_, list) = f.call("GET", "/messages", None, None).await;
    assert_eq!(list["messages"], json!([]));
}

#[actix_web::test]
async fn only_superusers_may_post_or_delete_global_messages() {
    let (f, admin, joe) = fixture().await;
    let post = reqwest::Method::POST;
    assert_api_error(
        raw(&f, post.clone(), "/messages", None, Some(message("x"))).await,
        401,
        "invalid_token",
    )
    .await;
    assert_api_error(
        raw(&f, post, "/messages", Some(&joe), Some(message("x"))).await,
        403,
        "insufficient_scope",
    )
    .await;

    let (status, _) = f.call("POST", "/messages", Some(&admin), Some(message("kept"))).await;
    assert_eq!(status, 201);
    let (_, list) = f.call("GET", "/messages", None, None).await;
    let path = format!("/message/{}", list["messages"][0]["uuid"].as_str().expect("uuid"));
    let delete = reqwest::Method::DELETE;
    assert_api_error(raw(&f, delete.clone(), &path, None, None).await, 401, "invalid_token").await;
    assert_api_error(
        raw(&f, delete, &path, Some(&joe), None).await,
        403,
        "insufficient_scope",
    )
    .await;
    let (_, list) = f.call("GET", "/messages", None, None).await;
    assert_eq!(
        list["messages"].as_array().map(Vec::len),
        Some(1),
        "the message survives: {list}"
    );
}

#[actix_web::test]
async fn global_messages_need_quays_media_types_and_severities() {
    let (f, admin, _) = fixture().await;
    for bad in [
        json!({"message": {"content": "x", "media_type": "text/html", "severity": "info"}}),
        json!({"message": {"content": "x", "media_type": "text/plain", "severity": "fatal"}}),
        json!({"message": {"media_type": "text/plain", "severity": "info"}}),
        json!({"content": "x"}),
    ] {
        let res = raw(&f, reqwest::Method::POST, "/messages", Some(&admin), Some(bad.clone())).await;
        assert_api_error(res, 400, "invalid_request").await;
    }
    let (_, list) = f.call("GET", "/messages", None, None).await;
    assert_eq!(list["messages"], json!([]));
}

fn in_one_day() -> i64 {
    chrono::Utc::now().timestamp() + 86_400
}

#[actix_web::test]
async fn a_superuser_creates_an_approved_service_key_and_gets_its_private_key_once() {
    let (f, admin, _) = fixture().await;
    let body = json!({"service": "clair", "name": "scanner key", "expiration": in_one_day(),
                      "metadata": {"team": "sec"}, "notes": "for the scanner"});
    let (status, created) = f.call("POST", "/superuser/keys", Some(&admin), Some(body)).await;
    assert_eq!(status, 200, "{created}");
    let kid = created["kid"].as_str().expect("kid").to_owned();
    assert_eq!(created["service"], "clair");
    assert_eq!(created["name"], "scanner key");
    assert!(
        created["private_key"]
            .as_str()
            .is_some_and(|p| p.contains("PRIVATE KEY")),
        "{created}"
    );
    assert!(
        created["public_key"].as_str().is_some_and(|p| p.contains("PUBLIC KEY")),
        "{created}"
    );

    let (status, key) = f
        .call("GET", &format!("/superuser/keys/{kid}"), Some(&admin), None)
        .await;
    assert_eq!(status, 200, "{key}");
    assert_eq!(key["kid"], kid.as_str());
    assert_eq!(key["jwk"]["kid"], kid.as_str());
    assert_eq!(key["metadata"]["team"], "sec");
    assert_eq!(key["metadata"]["creator"], "admin");
    assert_eq!(key["metadata"]["created_by"], "Quay Superuser Panel");
    assert!(key["expiration_date"].is_string(), "{key}");
    assert_eq!(key["rotation_duration"], Value::Null);
    assert_eq!(key["approval"]["approver"]["username"], "admin");
    assert_eq!(key["approval"]["approval_type"], "Super User API");
    assert_eq!(key["approval"]["notes"], "for the scanner");
    assert!(
        key.get("private_key").is_none(),
        "the private key is never stored: {key}"
    );

    let (_, list) = f.call("GET", "/superuser/keys", Some(&admin), None).await;
    let kids: Vec<_> = list["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["kid"].clone())
        .collect();
    assert_eq!(kids, vec![json!(kid)]);

    let entries = logs(&f, "/superuser/logs", &admin).await;
    for kind in ["service_key_create", "service_key_approve"] {
        let found = of_kind(&entries, kind);
        assert_eq!(found.len(), 1, "{kind} in {entries:?}");
        assert_eq!(found[0]["metadata"]["kid"], kid.as_str());
        assert_eq!(found[0]["performer"]["name"], "admin");
    }
}

#[actix_web::test]
async fn service_keys_are_renamed_extended_and_deleted() {
    let (f, admin, _) = fixture().await;
    let body = json!({"service": "builder", "expiration": null});
    let (_, created) = f.call("POST", "/superuser/keys", Some(&admin), Some(body)).await;
    let path = format!("/superuser/keys/{}", created["kid"].as_str().expect("kid"));

    let change = json!({"name": "renamed", "metadata": {"extra": 1}, "expiration": in_one_day()});
    let (status, key) = f.call("PUT", &path, Some(&admin), Some(change)).await;
    assert_eq!(status, 200, "{key}");
    assert_eq!(key["name"], "renamed");
    assert_eq!(key["metadata"]["extra"], 1);
    assert_eq!(key["metadata"]["creator"], "admin", "metadata is merged: {key}");
    assert!(key["expiration_date"].is_string(), "{key}");

    let (status, key) = f
        .call("PUT", &path, Some(&admin), Some(json!({"expiration": null})))
        .await;
    assert_eq!(status, 200);
    assert_eq!(key["expiration_date"], Value::Null);

    let (status, _) = f.call("DELETE", &path, Some(&admin), None).await;
    assert_eq!(status, 204);
    let (status, _) = f.call("GET", &path, Some(&admin), None).await;
    assert_eq!(status, 404);
    let (status, _) = f.call("DELETE", &path, Some(&admin), None).await;
    assert_eq!(status, 404);

    let entries = logs(&f, "/superuser/logs", &admin).await;
    for kind in ["service_key_modify", "service_key_extend", "service_key_delete"] {
        assert!(!of_kind(&entries, kind).is_empty(), "{kind} in {entries:?}");
    }
}

#[actix_web::test]
async fn service_key_requests_are_validated() {
    let (f, admin, _) = fixture().await;
    let yesterday = chrono::Utc::now().timestamp() - 86_400;
    for bad in [
        json!({"expiration": null}),
        json!({"service": "clair"}),
        json!({"service": "clair", "expiration": yesterday}),
        json!({"service": "clair", "expiration": null, "name": "bad/name"}),
        json!({"service": "clair", "expiration": null, "metadata": "not an object"}),
    ] {
        let res = raw(
            &f,
            reqwest::Method::POST,
            "/superuser/keys",
            Some(&admin),
            Some(bad.clone()),
        )
        .await;
        assert_api_error(res, 400, "invalid_request").await;
    }
    let (_, list) = f.call("GET", "/superuser/keys", Some(&admin), None).await;
    assert_eq!(list["keys"], json!([]));

    let (_, created) = f
        .call(
            "POST",
            "/superuser/keys",
            Some(&admin),
            Some(json!({"service": "s", "expiration": null})),
        )
        .await;
    let path = format!("/superuser/keys/{}", created["kid"].as_str().expect("kid"));
    let res = raw(
        &f,
        reqwest::Method::PUT,
        &path,
        Some(&admin),
        Some(json!({"expiration": yesterday})),
    )
    .await;
    assert_api_error(res, 400, "invalid_request").await;
    let (status, _) = f.call("GET", "/superuser/keys/nosuchkid", Some(&admin), None).await;
    assert_eq!(status, 404);
    let (status, _) = f
        .call(
            "POST",
            "/superuser/approvedkeys/nosuchkid",
            Some(&admin),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = f
        .call(
            "POST",
            &format!("/superuser/approvedkeys/{}", created["kid"].as_str().expect("kid")),
            Some(&admin),
            Some(json!({"notes": "again"})),
        )
        .await;
    assert_eq!(status, 201, "approving an approved key is accepted");
}

#[actix_web::test]
async fn only_superusers_manage_service_keys() {
    let (f, admin, joe) = fixture().await;
    let (_, created) = f
        .call(
            "POST",
            "/superuser/keys",
            Some(&admin),
            Some(json!({"service": "s", "expiration": null})),
        )
        .await;
    let kid = created["kid"].as_str().expect("kid").to_owned();
    let key_path = format!("/superuser/keys/{kid}");
    let approve_path = format!("/superuser/approvedkeys/{kid}");
    use reqwest::Method as M;
    let cases = [
        (M::GET, "/superuser/keys", None),
        (
            M::POST,
            "/superuser/keys",
            Some(json!({"service": "s", "expiration": null})),
        ),
        (M::GET, key_path.as_str(), None),
        (M::PUT, key_path.as_str(), Some(json!({"name": "stolen"}))),
        (M::DELETE, key_path.as_str(), None),
        (M::POST, approve_path.as_str(), Some(json!({}))),
    ];
    for (method, path, body) in cases {
        assert_api_error(
            raw(&f, method.clone(), path, None, body.clone()).await,
            401,
            "invalid_token",
        )
        .await;
        assert_api_error(raw(&f, method, path, Some(&joe), body).await, 403, "insufficient_scope").await;
    }
    let (status, key) = f.call("GET", &key_path, Some(&admin), None).await;
    assert_eq!(status, 200);
    assert_eq!(key["name"], "", "unchanged: {key}");
}

#[actix_web::test]
async fn superusers_see_every_users_app_tokens_without_codes() {
    let (f, admin, joe) = fixture().await;
    let (status, created) = f
        .call("POST", "/user/apptoken", Some(&joe), Some(json!({"title": "ci"})))
        .await;
    assert_eq!(status, 200, "{created}");

    let (status, all) = f.call("GET", "/superuser/apptokens", Some(&admin), None).await;
    assert_eq!(status, 200, "{all}");
    let tokens = all["tokens"].as_array().expect("tokens");
    assert_eq!(tokens.len(), 1, "{all}");
    assert_eq!(tokens[0]["uuid"], created["token"]["uuid"]);
    assert_eq!(tokens[0]["title"], "ci");
    assert_eq!(tokens[0]["owner"], "joe");
    assert!(tokens[0].get("token_code").is_none(), "{all}");
    assert_eq!(all["only_expiring"], false);

    let get = reqwest::Method::GET;
    assert_api_error(
        raw(&f, get.clone(), "/superuser/apptokens", None, None).await,
        401,
        "invalid_token",
    )
    .await;
    assert_api_error(
        raw(&f, get, "/superuser/apptokens", Some(&joe), None).await,
        403,
        "insufficient_scope",
    )
    .await;
}

#[actix_web::test]
async fn superusers_read_the_config_with_secrets_masked() {
    let yaml = format!("{CONFIG}FEATURE_SUPERUSER_CONFIGDUMP: true\nMAIL_PASSWORD: hunter2\nSECRET_KEY: s3cr3t\nSERVER_HOSTNAME: quay.example\n");
    let f = RepoFixture::with_config(&yaml).await;
    let (_, admin) = f.user("admin").await;
    let (_, joe) = f.user("joe").await;
    let (status, dump) = f.call("GET", "/superuser/config", Some(&admin), None).await;
    assert_eq!(status, 200, "{dump}");
    assert_eq!(dump["config"]["SERVER_HOSTNAME"], "quay.example");
    assert_eq!(dump["config"]["MAIL_PASSWORD"], "********");
    assert_eq!(dump["config"]["SECRET_KEY"], "********");
    assert!(
        dump["env"].is_object() && dump["warning"].is_string() && dump["schema"].is_object(),
        "{dump}"
    );
    let text = dump.to_string();
    assert!(!text.contains("hunter2") && !text.contains("s3cr3t"), "{text}");

    let get = reqwest::Method::GET;
    assert_api_error(
        raw(&f, get.clone(), "/superuser/config", None, None).await,
        401,
        "invalid_token",
    )
    .await;
    assert_api_error(
        raw(&f, get, "/superuser/config", Some(&joe), None).await,
        403,
        "insufficient_scope",
    )
    .await;
}

#[actix_web::test]
async fn the_config_view_is_not_found_unless_enabled() {
    let (f, admin, _) = fixture().await;
    let (status, _) = f.call("GET", "/superuser/config", Some(&admin), None).await;
    assert_eq!(status, 404);
}

#[actix_web::test]
async fn a_stale_superuser_session_needs_a_fresh_login_for_messages_and_keys() {
    let (f, _, _) = fixture().await;
    let browser = sign_in(&f.app, "admin", "password123").await;
    age_sessions(&f.app, "admin").await;
    let send = |method: reqwest::Method, path: &str, body: Value| {
        f.app
            .client
            .request(method, f.app.url(&format!("/api/v1{path}")))
            .header("Cookie", browser.cookie_header())
            .header("X-CSRF-Token", &browser.csrf)
            .header("X-Requested-With", "XMLHttpRequest")
            .json(&body)
            .send()
    };
    let res = send(reqwest::Method::POST, "/messages", message("x"))
        .await
        .expect("send");
    assert_api_error(res, 401, "fresh_login_required").await;
    let key = json!({"service": "s", "expiration": null});
    let res = send(reqwest::Method::POST, "/superuser/keys", key).await.expect("send");
    assert_api_error(res, 401, "fresh_login_required").await;
    let res = send(reqwest::Method::GET, "/superuser/keys", Value::Null)
        .await
        .expect("send");
    assert_eq!(res.status(), 200, "listing keys needs no fresh login");
}

#[actix_web::test]
async fn superusers_read_any_build_by_its_uuid() {
    let config = format!(
        "{CONFIG}FEATURE_BUILD_SUPPORT: true\nSERVER_HOSTNAME: registry.example.com\nBUILD_MANAGER: [ephemeral, {{EXECUTORS: []}}]\n"
    );
    let f = RepoFixture::with_config(&config).await;
    let (_, admin) = f.user("admin").await;
    let (_, joe) = f.user("joe").await;
    let (_, alice) = f.user("alice").await;
    f.create_repo(&alice, "alice", "app", "private").await;
    let body = json!({"archive_url": "https://example.com/context.tar.gz", "docker_tags": ["v1"]});
    let (status, build) = f
        .call("POST", "/repository/alice/app/build/", Some(&alice), Some(body))
        .await;
    assert_eq!(status, 201, "{build}");
    let id = build["id"].as_str().expect("build id").to_owned();

    for what in ["build", "status"] {
        let (status, view) = f
            .call("GET", &format!("/superuser/{id}/{what}"), Some(&admin), None)
            .await;
        assert_eq!(status, 200, "{what}: {view}");
        assert_eq!(view["id"], id.as_str());
        assert_eq!(view["repository"], json!({"namespace": "alice", "name": "app"}));
        assert_eq!(view["tags"], json!(["v1"]));
    }
    let (status, logs) = f
        .call("GET", &format!("/superuser/{id}/logs"), Some(&admin), None)
        .await;
    assert_eq!(status, 200, "{logs}");
    assert!(logs["logs"].is_array() && logs["total"].is_i64(), "{logs}");

    let (status, _) = f
        .call(
            "GET",
            "/superuser/00000000-0000-0000-0000-000000000000/build",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, 404);
    for what in ["build", "status", "logs"] {
        let path = format!("/superuser/{id}/{what}");
        assert_api_error(
            raw(&f, reqwest::Method::GET, &path, None, None).await,
            401,
            "invalid_token",
        )
        .await;
        assert_api_error(
            raw(&f, reqwest::Method::GET, &path, Some(&joe), None).await,
            403,
            "insufficient_scope",
        )
        .await;
    }
}
