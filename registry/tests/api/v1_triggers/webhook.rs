//! The webhook of a custom-git trigger: Quay's own push payload and the
//! push payloads of GitHub, GitLab and Bitbucket (recorded shapes), the
//! rules that skip a push, and the refusals.

use serde_json::{json, Value};

use super::{active_trigger, builds, config, custom_payload, fixture, push, trigger_path, COMMIT, GIT_URL};

fn recorded(json: &str) -> Value {
    serde_json::from_str(json).expect("recorded payload")
}

/// Posts `payload` to a trigger with only a build source; the one build it
/// queued.
async fn built_from(payload: Value) -> Value {
    let (f, token) = fixture().await;
    let (uuid, code) = active_trigger(&f, &token, json!({"build_source": GIT_URL})).await;
    let (status, body) = push(&f, &uuid, Some(&code), &payload).await;
    assert_eq!((status, body.as_str()), (200, "Okay"));
    let all = builds(&f, &token).await;
    assert_eq!(all.len(), 1, "{all:?}");
    all[0].clone()
}

#[actix_web::test]
async fn a_github_push_maps_to_quays_metadata() {
    let build = built_from(recorded(include_str!("github_push.json"))).await;
    let m = &build["trigger_metadata"];
    assert_eq!(m["commit"], "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c");
    assert_eq!(m["ref"], "refs/heads/main");
    assert_eq!(m["default_branch"], "main");
    assert_eq!(m["git_url"], GIT_URL, "the trigger's source, not the payload's");
    assert_eq!(m["commit_info"]["message"], "Update README.md");
    assert_eq!(m["commit_info"]["date"], "2026-11-30T17:12:45-08:00");
    assert_eq!(
        m["commit_info"]["url"],
        "https://github.com/octo-org/hello-app/commit/0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"
    );
    assert_eq!(m["commit_info"]["author"], json!({"username": "octocat"}));
    assert_eq!(m["commit_info"]["committer"], json!({"username": "web-flow"}));
    assert_eq!(build["tags"], json!(["main", "latest"]));
    assert_eq!(build["display_name"], "0d1a26e");
}

#[actix_web::test]
async fn a_gitlab_push_maps_to_quays_metadata() {
    let build = built_from(recorded(include_str!("gitlab_push.json"))).await;
    let m = &build["trigger_metadata"];
    assert_eq!(m["commit"], "da1560886d4f094c3e6c9ef40349f7d38b5d27d7");
    assert_eq!(m["ref"], "refs/heads/develop");
    assert_eq!(m.get("default_branch"), None);
    assert_eq!(m["git_url"], GIT_URL);
    assert_eq!(
        m["commit_info"],
        json!({
            "url": "http://example.com/mike/diaspora/commit/da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
            "message": "fixed readme",
            "date": "2012-01-03T23:36:29+02:00",
        })
    );
    assert_eq!(build["tags"], json!(["develop"]));
}

#[actix_web::test]
async fn a_bitbucket_push_maps_to_quays_metadata() {
    let build = built_from(recorded(include_str!("bitbucket_push.json"))).await;
    let m = &build["trigger_metadata"];
    assert_eq!(m["commit"], "af64439cba7bf5c2d6d7f43a36d1bd4dbbb4bd01");
    assert_eq!(m["ref"], "refs/heads/feature/login");
    assert_eq!(m["git_url"], GIT_URL);
    let info = &m["commit_info"];
    assert_eq!(
        info["url"],
        "https://bitbucket.org/jesse/hello/commits/af64439cba7bf5c2d6d7f43a36d1bd4dbbb4bd01"
    );
    assert_eq!(info["message"], "Add the login form\n");
    assert_eq!(info["date"], "2026-11-29T09:41:07+00:00");
    let avatar = "https://avatar-management.example.com/jesse.png";
    assert_eq!(info["author"], json!({"username": "Jesse Dev", "avatar_url": avatar}));
    assert_eq!(
        info["committer"],
        json!({"username": "Jesse Dev", "avatar_url": avatar})
    );
    assert_eq!(build["tags"], json!(["feature_login"]));
}

#[actix_web::test]
async fn pushes_without_a_commit_to_build_are_skipped() {
    let (f, token) = fixture().await;
    let (uuid, code) = active_trigger(&f, &token, json!({"build_source": GIT_URL})).await;
    let mut github = recorded(include_str!("github_push.json"));
    github["head_commit"] = Value::Null;
    let mut gitlab = recorded(include_str!("gitlab_push.json"));
    gitlab["commits"] = json!([]);
    let mut tag_note = recorded(include_str!("gitlab_push.json"));
    tag_note["object_kind"] = json!("note");
    let mut deleted = recorded(include_str!("bitbucket_push.json"));
    deleted["push"]["changes"][0]["new"] = Value::Null;
    for payload in [github, gitlab, tag_note, deleted] {
        let (status, body) = push(&f, &uuid, Some(&code), &payload).await;
        assert_eq!((status, body.as_str()), (200, "Okay"));
    }
    assert!(builds(&f, &token).await.is_empty());
}

#[actix_web::test]
async fn commit_messages_asking_to_skip_queue_nothing() {
    let (f, token) = fixture().await;
    let (uuid, code) = active_trigger(&f, &token, config()).await;
    for message in ["Docs [skip build]", "[build skip] typo"] {
        let (status, body) = push(&f, &uuid, Some(&code), &custom_payload("refs/heads/main", message)).await;
        assert_eq!((status, body.as_str()), (200, "Okay"));
    }
    assert!(builds(&f, &token).await.is_empty());
    let (status, _) = push(&f, &uuid, Some(&code), &custom_payload("refs/heads/main", "[skip ci]")).await;
    assert_eq!(status, 200);
    assert_eq!(builds(&f, &token).await.len(), 1);
}

#[actix_web::test]
async fn only_refs_matching_branchtag_regex_are_built() {
    let (f, token) = fixture().await;
    let rules = json!({"build_source": GIT_URL, "branchtag_regex": "heads/release-.+"});
    let (uuid, code) = active_trigger(&f, &token, rules).await;
    for skipped in ["refs/heads/main", "refs/tags/release-1", "refs/heads/release-"] {
        let (status, body) = push(&f, &uuid, Some(&code), &custom_payload(skipped, "m")).await;
        assert_eq!((status, body.as_str()), (200, "Okay"), "{skipped}");
    }
    assert!(builds(&f, &token).await.is_empty());
    let (status, _) = push(&f, &uuid, Some(&code), &custom_payload("refs/heads/release-2", "m")).await;
    assert_eq!(status, 200);
    let all = builds(&f, &token).await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["tags"], json!(["release-2"]));
}

#[actix_web::test]
async fn the_webhook_refuses_bad_tokens_unknown_triggers_bad_payloads_and_disabled_triggers() {
    let (f, token) = fixture().await;
    let (uuid, code) = active_trigger(&f, &token, config()).await;
    let payload = custom_payload("refs/heads/main", "m");
    assert_eq!(push(&f, &uuid, Some("wrong"), &payload).await.0, 403);
    assert_eq!(push(&f, &uuid, None, &payload).await.0, 403);
    let res = f
        .app
        .client
        .post(f.app.url(&format!("/webhooks/push/trigger/{uuid}")))
        .basic_auth("alice", Some(&code))
        .json(&payload)
        .send()
        .await
        .expect("POST");
    assert_eq!(res.status().as_u16(), 403, "only $token");
    let unknown = "00000000-0000-0000-0000-000000000000";
    assert_eq!(push(&f, unknown, Some(&code), &payload).await.0, 404);

    let mut bad = payload.clone();
    bad["commit"] = json!("not-a-sha");
    assert_eq!(push(&f, &uuid, Some(&code), &bad).await.0, 400);
    let mut bad = payload.clone();
    bad["ref"] = json!("main");
    assert_eq!(push(&f, &uuid, Some(&code), &bad).await.0, 400);
    assert_eq!(push(&f, &uuid, Some(&code), &json!({"hello": "world"})).await.0, 400);
    let res = f
        .app
        .client
        .post(f.app.url(&format!("/webhooks/push/trigger/{uuid}")))
        .basic_auth("$token", Some(&code))
        .body("not json")
        .send()
        .await
        .expect("POST");
    assert_eq!(res.status().as_u16(), 400);
    assert!(builds(&f, &token).await.is_empty());

    let (status, _) = f
        .call(
            "PUT",
            &trigger_path(&uuid),
            Some(&token),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = push(&f, &uuid, Some(&code), &payload).await;
    assert_eq!(status, 400, "disabled: {body}");
    assert!(builds(&f, &token).await.is_empty());
}

#[actix_web::test]
async fn the_webhook_also_answers_under_the_repository_path() {
    let (f, token) = fixture().await;
    let (uuid, code) = active_trigger(&f, &token, config()).await;
    let res = f
        .app
        .client
        .post(f.app.url(&format!("/webhooks/push/alice/app/trigger/{uuid}")))
        .basic_auth("$token", Some(&code))
        .json(&custom_payload("refs/heads/main", "m"))
        .send()
        .await
        .expect("POST");
    assert_eq!(res.status().as_u16(), 200);
    let all = builds(&f, &token).await;
    assert_eq!(all[0]["trigger_metadata"]["commit"], COMMIT);
}

#[actix_web::test]
async fn a_deleted_repository_takes_its_triggers_with_it() {
    let (f, token) = fixture().await;
    let (uuid, code) = active_trigger(&f, &token, config()).await;
    let (status, _) = f.call("DELETE", "/repository/alice/app", Some(&token), None).await;
    assert_eq!(status, 204);
    let (status, _) = push(&f, &uuid, Some(&code), &custom_payload("refs/heads/main", "m")).await;
    assert_eq!(status, 404);
}

#[actix_web::test]
async fn a_deleted_organization_takes_its_triggers_and_waiting_builds_with_it() {
    let f = crate::helpers::RepoFixture::with_config(super::ENABLED).await;
    let (owner, token) = f.user("owen").await;
    f.org(&owner, "acme").await;
    f.create_repo(&token, "acme", "app", "private").await;
    let res = super::setup_response(&f, Some(&token), "acme/app").await;
    let location = crate::helpers::header(&res, "Location");
    let uuid = location.rsplit('/').next().expect("uuid").to_owned();
    let path = format!("/repository/acme/app/trigger/{uuid}/activate");
    let (status, view) = f
        .call("POST", &path, Some(&token), Some(json!({"config": config()})))
        .await;
    assert_eq!(status, 200, "{view}");
    let code = super::write_token(&view);
    let (status, _) = push(&f, &uuid, Some(&code), &custom_payload("refs/heads/main", "m")).await;
    assert_eq!(status, 200);

    let (status, body) = f.call("DELETE", "/organization/acme", Some(&token), None).await;
    assert_eq!(status, 204, "{body}");
    let (status, _) = push(&f, &uuid, Some(&code), &custom_payload("refs/heads/main", "m")).await;
    assert_eq!(status, 404);
    let phases = f
        .services
        .db()
        .read(move |c| {
            use diesel::prelude::*;
            use registry::db::schema::repositorybuild as rb;
            Ok(rb::table.select(rb::phase).load::<String>(c)?)
        })
        .await
        .expect("build rows");
    assert_eq!(phases, ["cancelled"]);
}
