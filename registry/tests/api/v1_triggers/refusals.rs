//! The trigger API's rules: what an inactive trigger refuses, what
//! activation needs, who may call it, and no routes without build support.

use serde_json::json;

use super::{active_trigger, config, custom_payload, fixture, push, setup, setup_response, trigger_path, COMMIT};
use crate::helpers::{grant_role, Grantee, RepoFixture};

#[actix_web::test]
async fn an_inactive_trigger_cannot_be_toggled_or_started() {
    let (f, token) = fixture().await;
    let uuid = setup(&f, &token).await;
    let (status, body) = f
        .call(
            "PUT",
            &trigger_path(&uuid),
            Some(&token),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let start = format!("{}/start", trigger_path(&uuid));
    let (status, body) = f
        .call("POST", &start, Some(&token), Some(json!({"commit_sha": COMMIT})))
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, list) = f
        .call("GET", "/repository/alice/app/trigger/", Some(&token), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(list["triggers"].as_array().map(Vec::len), Some(1));
    let (status, body) = f.call("DELETE", &trigger_path(&uuid), Some(&token), None).await;
    assert_eq!(status, 204, "{body}");
    let (_, list) = f
        .call("GET", "/repository/alice/app/trigger/", Some(&token), None)
        .await;
    assert_eq!(list["triggers"], json!([]));
}

#[actix_web::test]
async fn activation_needs_a_git_url_and_a_pull_robot_of_the_namespace() {
    let (f, token) = fixture().await;
    let uuid = setup(&f, &token).await;
    let path = format!("{}/activate", trigger_path(&uuid));
    let (status, body) = f.call("POST", &path, Some(&token), Some(json!({"config": {}}))).await;
    assert_eq!(status, 400, "no build_source: {body}");
    let (bob, bob_token) = f.user("bob").await;
    f.robot(&bob, "puller").await;
    let body = json!({"config": config(), "pull_robot": "bob+puller"});
    let (status, _) = f.call("POST", &path, Some(&token), Some(body)).await;
    assert_eq!(status, 403, "another namespace's robot");
    let body = json!({"config": config(), "pull_robot": "alice+missing"});
    let (status, _) = f.call("POST", &path, Some(&token), Some(body)).await;
    assert_eq!(status, 404, "no such robot");
    let alice = f.services.account("alice").await.expect("lookup").expect("alice");
    f.robot(&alice, "puller").await;
    grant_role(&f.app, "alice/app", Grantee::Account("bob"), "admin").await;
    let body = json!({"config": config(), "pull_robot": "alice+puller"});
    let (status, _) = f.call("POST", &path, Some(&bob_token), Some(body.clone())).await;
    assert_eq!(status, 403, "only the connected user activates");
    let (status, view) = f.call("POST", &path, Some(&token), Some(body)).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(
        view["pull_robot"],
        json!({"name": "alice+puller", "kind": "user", "is_robot": true})
    );
}

#[actix_web::test]
async fn the_trigger_api_needs_repository_admin() {
    let (f, token) = fixture().await;
    let (uuid, _) = active_trigger(&f, &token, config()).await;
    let (_, writer_token) = f.user("wendy").await;
    grant_role(&f.app, "alice/app", Grantee::Account("wendy"), "write").await;
    let start = format!("{}/start", trigger_path(&uuid));
    let calls = [
        ("GET", "/repository/alice/app/trigger/".to_owned(), None),
        ("GET", trigger_path(&uuid), None),
        ("PUT", trigger_path(&uuid), Some(json!({"enabled": false}))),
        ("DELETE", trigger_path(&uuid), None),
        (
            "POST",
            format!("{}/activate", trigger_path(&uuid)),
            Some(json!({"config": config()})),
        ),
        ("POST", start, Some(json!({"commit_sha": COMMIT}))),
        ("GET", format!("{}/builds", trigger_path(&uuid)), None),
    ];
    for (method, path, body) in &calls {
        let (status, answer) = f.call(method, path, Some(&writer_token), body.clone()).await;
        assert_eq!(status, 403, "writer {method} {path}: {answer}");
        let (status, answer) = f.call(method, path, None, body.clone()).await;
        assert_eq!(status, 401, "anonymous {method} {path}: {answer}");
    }
    assert_eq!(
        setup_response(&f, Some(&writer_token), "alice/app")
            .await
            .status()
            .as_u16(),
        403
    );
    assert_eq!(setup_response(&f, None, "alice/app").await.status().as_u16(), 401);
    let (status, _) = f.call("GET", &trigger_path(&uuid), Some(&token), None).await;
    assert_eq!(status, 200, "still there");
    let (status, _) = f
        .call(
            "GET",
            "/repository/alice/app/trigger/00000000-0000-0000-0000-000000000000",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, 404);
}

#[actix_web::test]
async fn without_build_support_no_trigger_route_exists() {
    let f = RepoFixture::with_config("FEATURE_BUILD_SUPPORT: false\n").await;
    let (_, token) = f.user("alice").await;
    f.create_repo(&token, "alice", "app", "private").await;
    let (status, _) = f
        .call("GET", "/repository/alice/app/trigger/", Some(&token), None)
        .await;
    assert_eq!(status, 404);
    let (status, _) = f
        .call(
            "POST",
            "/repository/alice/app/trigger/x/start",
            Some(&token),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(
        setup_response(&f, Some(&token), "alice/app").await.status().as_u16(),
        404
    );
    let (status, _) = push(&f, "x", Some("code"), &custom_payload("refs/heads/main", "m")).await;
    assert_eq!(status, 404);
}

#[actix_web::test]
async fn the_setup_route_takes_the_browser_session_and_honours_token_scopes() {
    let (f, _) = fixture().await;
    let browser = crate::helpers::sign_in(&f.app, "alice", "password123").await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let res = client
        .get(f.app.url("/customtrigger/setup/alice/app"))
        .header("Cookie", browser.cookie_header())
        .send()
        .await
        .expect("GET setup");
    assert_eq!(res.status().as_u16(), 302);
    assert!(crate::helpers::header(&res, "Location").starts_with("/repository/alice/app/trigger/"));

    let alice = f.services.account("alice").await.expect("lookup").expect("alice");
    let read_only = f.token(&alice, "repo:read").await;
    assert_eq!(
        setup_response(&f, Some(&read_only), "alice/app")
            .await
            .status()
            .as_u16(),
        403
    );
}
