//! `PUT /api/v1/user/` and `DELETE /api/v1/user/` (quay-api.md §1.1): the
//! user's own password, email, time-machine window and name, and what a
//! password change does to sessions.

use reqwest::{Method, Response};
use serde_json::{json, Value};

use super::{as_browser, json_of, send, sign_in_response, PASSWORD};
use crate::helpers::{
    api_token, api_user, assert_api_error, header, set_session_cookie, sign_in, spawn_app_with, Browser, RepoFixture,
    TestApp,
};

async fn put_user(app: &TestApp, token: &str, body: Value) -> Response {
    send(app.client.put(app.url("/api/v1/user/")).bearer_auth(token).json(&body)).await
}

#[actix_web::test]
async fn a_new_password_needs_eight_characters_without_whitespace() {
    let app = spawn_app_with("").await;
    let (_, token) = api_user(&app, "alice", "all").await;
    for bad in ["short", "has space in it"] {
        let res = put_user(&app, &token, json!({"password": bad})).await;
        assert_api_error(res, 400, "invalid_request").await;
    }
    let res = put_user(&app, &token, json!({"password": "new-password-1"})).await;
    assert_eq!(res.status(), 200);
    assert_eq!(json_of(res).await["username"], "alice");
    assert_eq!(sign_in_response(&app, "alice", PASSWORD).await.status(), 403);
    assert_eq!(sign_in_response(&app, "alice", "new-password-1").await.status(), 200);
}

#[actix_web::test]
async fn a_password_change_ends_other_sessions_and_signs_this_browser_in_again() {
    let app = spawn_app_with("").await;
    api_user(&app, "alice", "all").await;
    let here = sign_in(&app, "alice", PASSWORD).await;
    let elsewhere = sign_in(&app, "alice", PASSWORD).await;

    let res = send(
        as_browser(&app, Method::PUT, "/api/v1/user/", &here)
            .header("X-CSRF-Token", &here.csrf)
            .json(&json!({"password": "new-password-1"})),
    )
    .await;
    assert_eq!(res.status(), 200);
    let renewed = Browser {
        cookie: set_session_cookie(&res).expect("a new session cookie"),
        csrf: header(&res, "X-Next-CSRF-Token"),
    };
    for old in [&here, &elsewhere] {
        let res = send(as_browser(&app, Method::GET, "/api/v1/user/", old)).await;
        assert_api_error(res, 401, "invalid_token").await;
    }
    let res = send(as_browser(&app, Method::GET, "/api/v1/user/", &renewed)).await;
    assert_eq!(json_of(res).await["username"], "alice");
}

#[actix_web::test]
async fn a_superusers_password_reset_ends_the_users_sessions() {
    let app = spawn_app_with("SUPER_USERS: [admin]\n").await;
    let (_, admin) = api_user(&app, "admin", "all").await;
    api_user(&app, "alice", "all").await;
    let browser = sign_in(&app, "alice", PASSWORD).await;
    let res = send(
        app.client
            .put(app.url("/api/v1/superuser/users/alice"))
            .bearer_auth(&admin)
            .json(&json!({"password": "reset-password-1"})),
    )
    .await;
    assert_eq!(res.status(), 200);
    let res = send(as_browser(&app, Method::GET, "/api/v1/user/", &browser)).await;
    assert_api_error(res, 401, "invalid_token").await;
}

#[actix_web::test]
async fn the_email_must_be_valid_and_not_taken() {
    let app = spawn_app_with("").await;
    let (_, token) = api_user(&app, "alice", "all").await;
    api_user(&app, "bob", "all").await;
    for bad in ["not-an-email", "bob@example.com"] {
        let res = put_user(&app, &token, json!({"email": bad})).await;
        assert_api_error(res, 400, "invalid_request").await;
    }
    let res = put_user(&app, &token, json!({"email": "alice@new.example.com"})).await;
    assert_eq!(res.status(), 200);
    assert_eq!(json_of(res).await["email"], "alice@new.example.com");
}

#[actix_web::test]
async fn the_time_machine_window_must_be_one_of_the_options() {
    let app = spawn_app_with("").await;
    let (_, token) = api_user(&app, "alice", "all").await;
    let res = put_user(&app, &token, json!({"tag_expiration_s": 12345})).await;
    assert_api_error(res, 400, "invalid_request").await;
    let res = put_user(&app, &token, json!({"tag_expiration_s": 86400})).await;
    assert_eq!(json_of(res).await["tag_expiration_s"], 86400);
    let res = send(app.client.get(app.url("/api/v1/user/")).bearer_auth(&token)).await;
    assert_eq!(json_of(res).await["tag_expiration_s"], 86400, "stored");

    let app = spawn_app_with("TAG_EXPIRATION_OPTIONS: [\"3d\"]\n").await;
    let (_, token) = api_user(&app, "alice", "all").await;
    let res = put_user(&app, &token, json!({"tag_expiration_s": 86400})).await;
    assert_api_error(res, 400, "invalid_request").await;
    let res = put_user(&app, &token, json!({"tag_expiration_s": 259200})).await;
    assert_eq!(res.status(), 200);
}

#[actix_web::test]
async fn renaming_needs_user_rename_and_takes_the_robots_along() {
    let app = spawn_app_with("").await;
    let (_, token) = api_user(&app, "alice", "all").await;
    let res = put_user(&app, &token, json!({"username": "alicia"})).await;
    assert_api_error(res, 400, "invalid_request").await;

    let f = RepoFixture::with_config("FEATURE_USER_RENAME: true\n").await;
    let (alice, token) = f.user("alice").await;
    f.user("bob").await;
    f.robot(&alice, "ci").await;
    let res = put_user(&f.app, &token, json!({"username": "bob"})).await;
    assert_api_error(res, 400, "invalid_request").await;
    let res = put_user(&f.app, &token, json!({"username": "alicia"})).await;
    assert_eq!(res.status(), 200);
    assert_eq!(json_of(res).await["username"], "alicia");
    assert!(f.services.account("alicia+ci").await.expect("lookup").is_some());
    assert!(f.services.account("alice+ci").await.expect("lookup").is_none());
    assert!(f.services.account("alice").await.expect("lookup").is_none());
}

#[actix_web::test]
async fn account_changes_need_the_user_admin_scope() {
    let app = spawn_app_with("").await;
    let (alice, _) = api_user(&app, "alice", "all").await;
    let reader = api_token(&app, &alice, "user:read").await;
    let res = put_user(&app, &reader, json!({"tag_expiration_s": 86400})).await;
    assert_api_error(res, 403, "insufficient_scope").await;
    let res = send(app.client.delete(app.url("/api/v1/user/")).bearer_auth(&reader)).await;
    assert_api_error(res, 403, "insufficient_scope").await;
    let res = send(
        app.client
            .put(app.url("/api/v1/user/"))
            .json(&json!({"tag_expiration_s": 86400})),
    )
    .await;
    assert_api_error(res, 401, "invalid_token").await;
}

#[actix_web::test]
async fn a_fresh_session_may_delete_its_user() {
    let app = spawn_app_with("").await;
    api_user(&app, "alice", "all").await;
    let browser = sign_in(&app, "alice", PASSWORD).await;
    let res =
        send(as_browser(&app, Method::DELETE, "/api/v1/user/", &browser).header("X-CSRF-Token", &browser.csrf)).await;
    assert_eq!(res.status(), 204);
    assert_eq!(sign_in_response(&app, "alice", PASSWORD).await.status(), 403);
}
