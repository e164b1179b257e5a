//! Usage logs through /api/v1: recording, listing, aggregation, with the
//! refused case of every permission rule.

use base64::Engine as _;
use registry::service::logs::LogEntry;
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{image_manifest, random_bytes, sha256, RepoFixture, OCI_CONFIG, OCI_LAYER, OCI_MANIFEST};

const DAY_MS: i64 = 86_400_000;

/// A /v2 client logging in with Basic `$oauthtoken` and an access token.
pub(crate) fn v2_client(token: &str) -> Client {
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("$oauthtoken:{token}"));
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Basic {basic}").parse().expect("header value"),
    );
    Client::builder().default_headers(headers).build().expect("client")
}

/// Pushes a small image under `repo:tag` over /v2; returns its digest.
pub(crate) async fn push(fx: &RepoFixture, client: &Client, repo: &str, tag: &str) -> String {
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
    let res = client
        .put(fx.app.url(&format!("/v2/{repo}/manifests/{tag}")))
        .header("Content-Type", OCI_MANIFEST)
        .body(manifest.clone())
        .send()
        .await
        .expect("manifest push");
    assert_eq!(res.status(), StatusCode::CREATED, "manifest push {repo}:{tag}");
    sha256(&manifest)
}

pub(crate) async fn pull(fx: &RepoFixture, client: &Client, repo: &str, reference: &str) {
    let res = client
        .get(fx.app.url(&format!("/v2/{repo}/manifests/{reference}")))
        .header("Accept", OCI_MANIFEST)
        .send()
        .await
        .expect("manifest pull");
    assert_eq!(res.status(), StatusCode::OK, "pull {repo}@{reference}");
}

/// Every entry of a log listing (all pages), after the writer caught up.
pub(crate) async fn logs(fx: &RepoFixture, path: &str, token: &str) -> Vec<Value> {
    fx.app.server.flush_logs().await;
    let mut all = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let url = match &next {
            Some(t) => format!("{path}{}next_page={t}", if path.contains('?') { "&" } else { "?" }),
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

pub(crate) fn of_kind<'a>(logs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    logs.iter().filter(|l| l["kind"] == kind).collect()
}

pub(crate) fn performer(l: &Value) -> &str {
    l["performer"]["name"].as_str().unwrap_or("")
}

#[actix_web::test]
async fn pushes_and_pulls_are_logged_with_their_performer_tag_and_digest() {
    let fx = RepoFixture::new().await;
    let (_, alice) = fx.user("alice").await;
    fx.create_repo(&alice, "alice", "app", "private").await;
    let v2 = v2_client(&alice);
    let digest = push(&fx, &v2, "alice/app", "v1").await;
    pull(&fx, &v2, "alice/app", "v1").await;
    pull(&fx, &v2, "alice/app", &digest).await;
    let head = v2
        .head(fx.app.url("/v2/alice/app/manifests/v1"))
        .send()
        .await
        .expect("HEAD");
    assert_eq!(head.status(), StatusCode::OK);
    let blob = v2
        .get(fx.app.url(&format!("/v2/alice/app/manifests/{digest}")))
        .send()
        .await
        .expect("GET");
    assert_eq!(blob.status(), StatusCode::OK);

    let logs = logs(&fx, "/repository/alice/app/logs", &alice).await;
    let created = of_kind(&logs, "create_repo");
    assert_eq!(created.len(), 1, "{logs:?}");
    assert_eq!(created[0]["metadata"]["repo"], "app");
    assert_eq!(created[0]["metadata"]["namespace"], "alice");
    let pushes = of_kind(&logs, "push_repo");
    assert_eq!(pushes.len(), 1, "{logs:?}");
    assert_eq!(performer(pushes[0]), "alice");
    assert_eq!(pushes[0]["performer"]["is_robot"], false);
    assert_eq!(pushes[0]["metadata"]["tag"], "v1");
    assert_eq!(pushes[0]["ip"], "127.0.0.1");
    let pulls = of_kind(&logs, "pull_repo");
    assert_eq!(
        pulls.len(),
        3,
        "two GETs by tag/digest and one more by digest; HEAD is not logged: {logs:?}"
    );
    assert!(pulls.iter().all(|p| performer(p) == "alice"));
    assert!(pulls.iter().any(|p| p["metadata"]["tag"] == "v1"));
    assert!(pulls
        .iter()
        .any(|p| p["metadata"]["manifest_digest"] == digest.as_str()));
    assert!(logs[0]["datetime"].as_str().expect("datetime").ends_with("-0000"));
}

#[actix_web::test]
async fn an_anonymous_pull_of_a_public_repository_has_no_performer() {
    let fx = RepoFixture::new().await;
    let (_, alice) = fx.user("alice").await;
    fx.create_repo(&alice, "alice", "pub", "public").await;
    push(&fx, &v2_client(&alice), "alice/pub", "latest").await;
    pull(&fx, &Client::new(), "alice/pub", "latest").await;

    let logs = logs(&fx, "/repository/alice/pub/logs", &alice).await;
    let pulls = of_kind(&logs, "pull_repo");
    assert_eq!(pulls.len(), 1, "{logs:?}");
    assert!(pulls[0].get("performer").is_none(), "{}", pulls[0]);
    assert_eq!(pulls[0]["metadata"]["public"], true);
}

#[actix_web::test]
async fn tag_changes_are_logged_with_their_kinds() {
    let fx = RepoFixture::new().await;
    let (_, alice) = fx.user("alice").await;
    fx.create_repo(&alice, "alice", "app", "private").await;
    let first = fx.push_tag("alice/app", "v1").await;
    let second = fx.push_tag("alice/app", "v2").await;
    let put = |tag: &str, body: Value| {
        let path = format!("/repository/alice/app/tag/{tag}");
        let alice = alice.clone();
        let fx = &fx;
        async move {
            let (status, body) = fx.call("PUT", &path, Some(&alice), Some(body)).await;
            assert_eq!(status, 201, "PUT {path}: {body}");
        }
    };
    put("copy", json!({"manifest_digest": first})).await;
    put("copy", json!({"manifest_digest": second})).await;
    let in_a_day = (chrono::Utc::now().timestamp() + 86_400) as f64;
    put("copy", json!({"expiration": in_a_day})).await;
    let (status, _) = fx
        .call("DELETE", "/repository/alice/app/tag/copy", Some(&alice), None)
        .await;
    assert_eq!(status, 204);
    let restore = json!({"manifest_digest": second});
    let (status, body) = fx
        .call(
            "POST",
            "/repository/alice/app/tag/copy/restore",
            Some(&alice),
            Some(restore),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let logs = logs(&fx, "/repository/alice/app/logs", &alice).await;
    for kind in [
        "create_tag",
        "move_tag",
        "change_tag_expiration",
        "delete_tag",
        "revert_tag",
    ] {
        let found = of_kind(&logs, kind);
        assert_eq!(found.len(), 1, "{kind}: {logs:?}");
        assert_eq!(found[0]["metadata"]["tag"], "copy", "{kind}");
        assert_eq!(performer(found[0]), "alice", "{kind}");
    }
    assert_eq!(
        of_kind(&logs, "move_tag")[0]["metadata"]["manifest_digest"],
        second.as_str()
    );
}

#[actix_web::test]
async fn repository_visibility_permission_and_deletion_changes_are_logged() {
    let fx = RepoFixture::new().await;
    let (_, alice) = fx.user("alice").await;
    fx.user("bob").await;
    fx.create_repo(&alice, "alice", "app", "private").await;
    let calls = [
        (
            "POST",
            "/repository/alice/app/changevisibility",
            Some(json!({"visibility": "public"})),
        ),
        (
            "PUT",
            "/repository/alice/app/permissions/user/bob",
            Some(json!({"role": "write"})),
        ),
        ("DELETE", "/repository/alice/app/permissions/user/bob", None),
    ];
    for (method, path, body) in calls {
        let (status, value) = fx.call(method, path, Some(&alice), body).await;
        assert!(status < 300, "{method} {path}: {status} {value}");
    }
    let repo_logs = logs(&fx, "/repository/alice/app/logs", &alice).await;
    let visibility = of_kind(&repo_logs, "change_repo_visibility");
    assert_eq!(visibility.len(), 1, "{repo_logs:?}");
    assert_eq!(visibility[0]["metadata"]["visibility"], "public");
    let granted = of_kind(&repo_logs, "change_repo_permission");
    assert_eq!(granted.len(), 1);
    assert_eq!(granted[0]["metadata"]["username"], "bob");
    assert_eq!(granted[0]["metadata"]["role"], "write");
    assert_eq!(of_kind(&repo_logs, "delete_repo_permission").len(), 1);

    let (status, _) = fx.call("DELETE", "/repository/alice/app", Some(&alice), None).await;
    assert_eq!(status, 204);
    let user_logs = logs(&fx, "/user/logs", &alice).await;
    let deleted = of_kind(&user_logs, "delete_repo");
    assert_eq!(deleted.len(), 1, "{user_logs:?}");
    assert_eq!(deleted[0]["metadata"]["repo"], "app");
    assert_eq!(performer(deleted[0]), "alice");
}

#[actix_web::test]
async fn robot_and_team_changes_appear_in_the_organization_logs() {
    let fx = RepoFixture::new().await;
    let (owner, token) = fx.user("owner").await;
    fx.user("carol").await;
    fx.org(&owner, "acme").await;
    let calls = [
        ("PUT", "/organization/acme/robots/builder", None),
        ("POST", "/organization/acme/robots/builder/regenerate", None),
        ("DELETE", "/organization/acme/robots/builder", None),
        ("PUT", "/organization/acme/team/devs", Some(json!({"role": "member"}))),
        ("PUT", "/organization/acme/team/devs", Some(json!({"role": "creator"}))),
        ("PUT", "/organization/acme/team/devs/members/carol", None),
        ("DELETE", "/organization/acme/team/devs/members/carol", None),
        ("DELETE", "/organization/acme/team/devs", None),
    ];
    for (method, path, body) in calls {
        let (status, value) = fx.call(method, path, Some(&token), body).await;
        assert!(status < 300, "{method} {path}: {status} {value}");
    }
    let logs = logs(&fx, "/organization/acme/logs", &token).await;
    for kind in [
        "create_robot",
        "regenerate_robot_token",
        "delete_robot",
        "org_create_team",
        "org_set_team_role",
        "org_add_team_member",
        "org_remove_team_member",
        "org_delete_team",
    ] {
        let found = of_kind(&logs, kind);
        assert_eq!(found.len(), 1, "{kind}: {logs:?}");
        assert_eq!(performer(found[0]), "owner", "{kind}");
    }
    assert_eq!(of_kind(&logs, "create_robot")[0]["metadata"]["robot"], "builder");
    assert_eq!(of_kind(&logs, "org_add_team_member")[0]["metadata"]["member"], "carol");
    assert_eq!(of_kind(&logs, "org_set_team_role")[0]["metadata"]["role"], "creator");
}

#[actix_web::test]
async fn registry_logins_are_logged_including_failed_ones() {
    let fx = RepoFixture::new().await;
    let (_, alice) = fx.user("alice").await;
    for password in ["password123", "wrong-password"] {
        let res = Client::new()
            .get(fx.app.url("/v2/auth?service=test"))
            .basic_auth("alice", Some(password))
            .send()
            .await
            .expect("token request");
        let expected = if password == "wrong-password" { 401 } else { 200 };
        assert_eq!(res.status().as_u16(), expected);
    }
    let logs = logs(&fx, "/user/logs", &alice).await;
    let ok = of_kind(&logs, "login_success");
    assert_eq!(ok.len(), 1, "{logs:?}");
    assert_eq!(performer(ok[0]), "alice");
    assert_eq!(ok[0]["metadata"]["type"], "v2auth");
    let failed = of_kind(&logs, "login_failure");
    assert_eq!(failed.len(), 1, "{logs:?}");
    assert!(failed[0].get("performer").is_none());
    assert_eq!(failed[0]["metadata"]["username"], "alice");
}

/// `n` entries of `kind` in alice's namespace, written through the services.
async fn write_entries(
    fx: &RepoFixture,
    alice_id: i64,
    performer: Option<&registry::db::models::Account>,
    kind: &'static str,
    n: usize,
    at_ms: i64,
) {
    for i in 0..n {
        let mut entry = LogEntry::new(kind, performer, Some("10.0.0.1".into()))
            .account(alice_id)
            .metadata(json!({"i": i}));
        entry.datetime_ms = at_ms;
        fx.app.server.log_action(entry);
    }
}

#[actix_web::test]
async fn listings_page_through_more_than_one_page_without_repeats() {
    let fx = RepoFixture::new().await;
    let (user, alice) = fx.user("alice").await;
    write_entries(
        &fx,
        user.id,
        Some(&user),
        "user_change_email",
        45,
        chrono::Utc::now().timestamp_millis(),
    )
    .await;
    fx.app.server.flush_logs().await;
    let (status, first) = fx.call("GET", "/user/logs", Some(&alice), None).await;
    assert_eq!(status, 200);
    assert_eq!(first["logs"].as_array().expect("logs").len(), 20, "Quay's page size");
    assert!(first["next_page"].is_string());
    let all = logs(&fx, "/user/logs", &alice).await;
    assert_eq!(all.len(), 45);
    let mut seen: Vec<i64> = all.iter().map(|l| l["metadata"]["i"].as_i64().expect("i")).collect();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), 45, "no entry twice");
}

#[actix_web::test]
async fn the_date_range_and_performer_filters_select_entries() {
    let fx = RepoFixture::new().await;
    let (user, alice) = fx.user("alice").await;
    let (bob, _) = fx.user("bob").await;
    let now = chrono::Utc::now().timestamp_millis();
    let ten_days_ago = now - 10 * DAY_MS;
    write_entries(&fx, user.id, Some(&user), "create_repo", 2, now).await;
    write_entries(&fx, user.id, Some(&bob), "push_repo", 3, now).await;
    write_entries(&fx, user.id, Some(&user), "delete_repo", 4, ten_days_ago).await;

    let recent = logs(&fx, "/user/logs", &alice).await;
    assert_eq!(recent.len(), 5, "the default range is the last day: {recent:?}");
    let day = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .expect("time")
            .format("%m/%d/%Y")
            .to_string()
    };
    let old = logs(
        &fx,
        &format!("/user/logs?starttime={0}&endtime={0}", day(ten_days_ago)),
        &alice,
    )
    .await;
    assert_eq!(old.len(), 4, "{old:?}");
    assert!(old.iter().all(|l| l["kind"] == "delete_repo"));
    let all = logs(
        &fx,
        &format!("/user/logs?starttime={}&endtime={}", day(ten_days_ago), day(now)),
        &alice,
    )
    .await;
    assert_eq!(all.len(), 9);
    let by_bob = logs(&fx, "/user/logs?performer=bob", &alice).await;
    assert_eq!(by_bob.len(), 3);
    assert!(by_bob.iter().all(|l| performer(l) == "bob"));
    let by_nobody = logs(&fx, "/user/logs?performer=nobody", &alice).await;
    assert!(by_nobody.is_empty());
    let (status, _) = fx
        .call(
            "GET",
            &format!("/user/logs?starttime={}&endtime={}", day(now), day(ten_days_ago)),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(status, 400, "an end before the start");
}

#[actix_web::test]
async fn aggregated_logs_count_entries_per_day_and_kind() {
    let fx = RepoFixture::new().await;
    let (user, alice) = fx.user("alice").await;
    let now = chrono::Utc::now().timestamp_millis();
    let earlier = now - 3 * DAY_MS;
    write_entries(&fx, user.id, Some(&user), "push_repo", 3, now).await;
    write_entries(&fx, user.id, Some(&user), "pull_repo", 2, now).await;
    write_entries(&fx, user.id, Some(&user), "pull_repo", 4, earlier).await;
    fx.app.server.flush_logs().await;
    let start = chrono::DateTime::from_timestamp_millis(earlier)
        .expect("time")
        .format("%m/%d/%Y");
    let (status, body) = fx
        .call(
            "GET",
            &format!("/user/aggregatelogs?starttime={start}"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let counts: Vec<(String, i64, String)> = body["aggregated"]
        .as_array()
        .expect("aggregated")
        .iter()
        .map(|a| {
            let kind = a["kind"].as_str().expect("kind").to_owned();
            let date = a["datetime"].as_str().expect("datetime").to_owned();
            (kind, a["count"].as_i64().expect("count"), date)
        })
        .collect();
    assert_eq!(counts.len(), 3, "{counts:?}");
    assert!(
        counts.iter().all(|(_, _, d)| d.ends_with("00:00:00 -0000")),
        "{counts:?}"
    );
    let count = |kind: &str, n: i64| counts.iter().filter(|(k, c, _)| k == kind && *c == n).count();
    assert_eq!(count("push_repo", 3), 1);
    assert_eq!(count("pull_repo", 2), 1);
    assert_eq!(count("pull_repo", 4), 1);
}

#[actix_web::test]
async fn old_entries_are_pruned() {
    // The app's own pruner keeps everything, so only the call below prunes.
    let fx = RepoFixture::with_config("ACTION_LOG_ROTATION_THRESHOLD: 1000w\n").await;
    let (user, alice) = fx.user("alice").await;
    let now = chrono::Utc::now().timestamp_millis();
    write_entries(&fx, user.id, Some(&user), "push_repo", 2, now - 31 * DAY_MS).await;
    write_entries(&fx, user.id, Some(&user), "push_repo", 1, now).await;
    fx.app.server.flush_logs().await;
    let removed = fx.services.prune_logs(30 * 86_400).await.expect("prune");
    assert_eq!(removed, 2);
    let day = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .expect("time")
            .format("%m/%d/%Y")
            .to_string()
    };
    let left = logs(&fx, &format!("/user/logs?starttime={}", day(now - 40 * DAY_MS)), &alice).await;
    assert_eq!(left.len(), 1);
}

#[actix_web::test]
async fn superusers_see_every_namespace_in_the_superuser_logs() {
    let fx = RepoFixture::with_config("SUPER_USERS: [root]\n").await;
    let (_, root) = fx.user("root").await;
    let (_, alice) = fx.user("alice").await;
    fx.create_repo(&alice, "alice", "app", "private").await;
    let logs = logs(&fx, "/superuser/logs", &root).await;
    let created = of_kind(&logs, "create_repo");
    assert_eq!(created.len(), 1, "{logs:?}");
    assert_eq!(created[0]["namespace"]["name"], "alice");
    assert_eq!(created[0]["namespace"]["kind"], "user");
    let (status, body) = fx.call("GET", "/superuser/aggregatelogs", Some(&root), None).await;
    assert_eq!(status, 200, "{body}");
}

#[actix_web::test]
async fn repository_logs_are_refused_to_non_admins_and_anonymous_callers() {
    let fx = RepoFixture::new().await;
    let (_, alice) = fx.user("alice").await;
    let (_, bob) = fx.user("bob").await;
    fx.create_repo(&alice, "alice", "pub", "public").await;
    let grant = json!({"role": "write"});
    let (status, _) = fx
        .call(
            "PUT",
            "/repository/alice/pub/permissions/user/bob",
            Some(&alice),
            Some(grant),
        )
        .await;
    assert_eq!(status, 200);
    for path in ["/repository/alice/pub/logs", "/repository/alice/pub/aggregatelogs"] {
        assert_eq!(
            fx.call("GET", path, Some(&bob), None).await.0,
            403,
            "{path} by a writer"
        );
        assert_eq!(fx.call("GET", path, None, None).await.0, 401, "{path} anonymously");
        assert_eq!(
            fx.call("GET", path, Some(&alice), None).await.0,
            200,
            "{path} by the admin"
        );
    }
}

#[actix_web::test]
async fn organization_logs_are_refused_to_members_who_are_not_admins() {
    let fx = RepoFixture::new().await;
    let (owner, owner_token) = fx.user("owner").await;
    let (_, dave) = fx.user("dave").await;
    let org = fx.org(&owner, "acme").await;
    fx.team(&owner, &org, "readers", "member", &["dave"]).await;
    for path in ["/organization/acme/logs", "/organization/acme/aggregatelogs"] {
        assert_eq!(
            fx.call("GET", path, Some(&dave), None).await.0,
            403,
            "{path} by a member"
        );
        assert_eq!(fx.call("GET", path, None, None).await.0, 401, "{path} anonymously");
        assert_eq!(
            fx.call("GET", path, Some(&owner_token), None).await.0,
            200,
            "{path} by an admin"
        );
    }
}

#[actix_web::test]
async fn user_and_superuser_logs_are_refused_to_the_wrong_callers() {
    let fx = RepoFixture::with_config("SUPER_USERS: [root]\n").await;
    let (alice_account, alice) = fx.user("alice").await;
    let read_only = fx.token(&alice_account, "repo:read").await;
    for path in ["/user/logs", "/user/aggregatelogs"] {
        assert_eq!(fx.call("GET", path, None, None).await.0, 401, "{path} anonymously");
        assert_eq!(
            fx.call("GET", path, Some(&read_only), None).await.0,
            403,
            "{path} without user:admin"
        );
    }
    for path in ["/superuser/logs", "/superuser/aggregatelogs"] {
        assert_eq!(fx.call("GET", path, None, None).await.0, 401, "{path} anonymously");
        assert_eq!(
            fx.call("GET", path, Some(&alice), None).await.0,
            403,
            "{path} by a non-superuser"
        );
    }
}

#[actix_web::test]
async fn other_users_do_not_see_each_others_entries() {
    let fx = RepoFixture::new().await;
    let (_, alice) = fx.user("alice").await;
    let (_, bob) = fx.user("bob").await;
    fx.create_repo(&alice, "alice", "app", "private").await;
    assert_eq!(logs(&fx, "/user/logs", &alice).await.len(), 1);
    assert!(logs(&fx, "/user/logs", &bob).await.is_empty());
}

#[actix_web::test]
async fn account_changes_sign_ins_and_pushes_that_create_repositories_are_logged() {
    let fx = RepoFixture::new().await;
    let (owner, alice) = fx.user("alice").await;
    fx.org(&owner, "acme").await;
    let calls = [
        ("PUT", "/user/", json!({"tag_expiration_s": 86_400})),
        ("PUT", "/organization/acme", json!({"tag_expiration_s": 86_400})),
        ("POST", "/user/apptoken", json!({"title": "ci"})),
    ];
    let mut token_uuid = String::new();
    for (method, path, body) in calls {
        let (status, value) = fx.call(method, path, Some(&alice), Some(body)).await;
        assert_eq!(status, 200, "{method} {path}: {value}");
        if let Some(uuid) = value["token"]["uuid"].as_str() {
            token_uuid = uuid.to_owned();
        }
    }
    let revoke = format!("/user/apptoken/{token_uuid}");
    assert_eq!(fx.call("DELETE", &revoke, Some(&alice), None).await.0, 204);
    for password in ["password123", "nope-nope"] {
        let res = fx
            .app
            .client
            .post(fx.app.url("/api/v1/signin"))
            .json(&json!({"username": "alice", "password": password}))
            .send()
            .await
            .expect("sign in");
        assert_eq!(res.status().is_success(), password == "password123");
    }
    push(&fx, &v2_client(&alice), "alice/made-by-push", "v1").await;

    let user_logs = logs(&fx, "/user/logs", &alice).await;
    for kind in [
        "change_user_tag_expiration",
        "create_app_specific_token",
        "revoke_app_specific_token",
        "login_success",
        "login_failure",
        "create_repo",
        "push_repo",
    ] {
        assert_eq!(of_kind(&user_logs, kind).len(), 1, "{kind}: {user_logs:?}");
    }
    assert_eq!(of_kind(&user_logs, "login_success")[0]["metadata"]["type"], "quayauth");
    assert_eq!(performer(of_kind(&user_logs, "login_success")[0]), "alice");
    assert!(of_kind(&user_logs, "login_failure")[0].get("performer").is_none());
    assert_eq!(
        of_kind(&user_logs, "create_repo")[0]["metadata"]["repo"],
        "made-by-push"
    );
    assert_eq!(
        of_kind(&user_logs, "create_app_specific_token")[0]["metadata"]["app_specific_token_title"],
        "ci"
    );
    let org_logs = logs(&fx, "/organization/acme/logs", &alice).await;
    assert_eq!(of_kind(&org_logs, "org_change_tag_expiration").len(), 1, "{org_logs:?}");
}

#[actix_web::test]
async fn application_prototype_and_quota_changes_appear_in_the_organization_logs() {
    let fx = RepoFixture::with_config("FEATURE_QUOTA_MANAGEMENT: true\nSUPER_USERS: [root]\n").await;
    let (_, root) = fx.user("root").await;
    let (owner, token) = fx.user("owner").await;
    fx.user("carol").await;
    fx.org(&owner, "acme").await;

    let (status, app) = fx
        .call(
            "POST",
            "/organization/acme/applications",
            Some(&token),
            Some(json!({"name": "ci"})),
        )
        .await;
    assert_eq!(status, 200, "{app}");
    let client_id = app["client_id"].as_str().expect("client_id").to_owned();
    let app_path = format!("/organization/acme/applications/{client_id}");
    assert_eq!(fx.call("DELETE", &app_path, Some(&token), None).await.0, 204);

    let prototype = json!({"role": "read", "delegate": {"kind": "user", "name": "carol"}});
    let (status, created) = fx
        .call("POST", "/organization/acme/prototypes", Some(&token), Some(prototype))
        .await;
    assert_eq!(status, 200, "{created}");
    let proto_path = format!("/organization/acme/prototypes/{}", created["id"].as_str().expect("id"));
    let (status, _) = fx
        .call("PUT", &proto_path, Some(&token), Some(json!({"role": "write"})))
        .await;
    assert_eq!(status, 200);
    assert_eq!(fx.call("DELETE", &proto_path, Some(&token), None).await.0, 204);

    let (status, body) = fx
        .call(
            "POST",
            "/organization/acme/quota",
            Some(&root),
            Some(json!({"limit_bytes": 1_048_576})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (_, quotas) = fx.call("GET", "/organization/acme/quota", Some(&root), None).await;
    let quota_path = format!("/organization/acme/quota/{}", quotas[0]["id"]);
    let (status, _) = fx
        .call("PUT", &quota_path, Some(&root), Some(json!({"limit_bytes": 2_097_152})))
        .await;
    assert_eq!(status, 200);
    assert_eq!(fx.call("DELETE", &quota_path, Some(&root), None).await.0, 204);

    let logs = logs(&fx, "/organization/acme/logs", &token).await;
    for (kind, by) in [
        ("create_application", "owner"),
        ("delete_application", "owner"),
        ("create_prototype_permission", "owner"),
        ("modify_prototype_permission", "owner"),
        ("delete_prototype_permission", "owner"),
        ("org_create_quota", "root"),
        ("org_change_quota", "root"),
        ("org_delete_quota", "root"),
    ] {
        let found = of_kind(&logs, kind);
        assert_eq!(found.len(), 1, "{kind}: {logs:?}");
        assert_eq!(performer(found[0]), by, "{kind}");
    }
    assert_eq!(
        of_kind(&logs, "create_application")[0]["metadata"]["client_id"],
        client_id.as_str()
    );
    assert_eq!(
        of_kind(&logs, "org_change_quota")[0]["metadata"]["limit_bytes"],
        2_097_152
    );
}

/// The log queue belongs to the registry, not to the runtime that happened
/// to log first: entries logged after that runtime is gone are still
/// written, and a flush still waits for them.
#[test]
fn logs_outlive_the_runtime_that_logged_first() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = registry::config::Config::parse("").expect("empty config");
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    };
    let first = runtime();
    let registry = first
        .block_on(registry::startup::open_registry(&config, dir.path(), true))
        .expect("registry opens");
    first.block_on(async { registry.log_action(LogEntry::new("account_change_password", None, None)) });
    drop(first);
    let second = runtime();
    let kinds = second.block_on(async {
        registry.log_action(LogEntry::new("create_robot", None, None));
        registry.flush_logs().await;
        let everything = registry::service::logs::LogQuery {
            end_ms: i64::MAX,
            ..Default::default()
        };
        let page = registry.list_logs(everything, None).await.expect("list logs");
        let mut kinds: Vec<String> = page.logs.iter().map(|l| l.row.kind.clone()).collect();
        kinds.sort();
        kinds
    });
    assert_eq!(kinds, ["account_change_password", "create_robot"]);
}

/// An entry the database refuses (PostgreSQL takes no NUL in text) costs
/// only itself: the rest of its batch is still written.
#[actix_web::test]
async fn an_entry_the_database_refuses_does_not_lose_its_batch() {
    let fx = RepoFixture::new().await;
    let (user, _) = fx.user("alice").await;
    let entry = |kind, ip: &str| LogEntry::new(kind, Some(&user), Some(ip.to_owned())).account(user.id);
    fx.app.server.log_action(entry("create_robot", "10.0.0.1"));
    fx.app.server.log_action(entry("user_change_email", "10.0.0.2\0"));
    fx.app.server.log_action(entry("delete_robot", "10.0.0.3"));
    fx.app.server.flush_logs().await;
    let query = registry::service::logs::LogQuery {
        account_id: Some(user.id),
        end_ms: i64::MAX,
        ..Default::default()
    };
    let page = fx.app.server.list_logs(query, None).await.expect("list logs");
    let kinds: Vec<&str> = page.logs.iter().map(|l| l.row.kind.as_str()).collect();
    assert!(kinds.contains(&"create_robot"), "{kinds:?}");
    assert!(kinds.contains(&"delete_robot"), "{kinds:?}");
}
