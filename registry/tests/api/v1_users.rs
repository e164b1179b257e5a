//! `/api/v1/user/`, `/api/v1/users/{name}` and `/api/v1/user/initialize`
//! (quay-api.md §0, §1.1), plus the failed-login backoff at the service level.
//!
//! These tests use `spawn_app_with`: its client sends no credentials and the
//! registry starts without any user.

use registry::service::Error;
use serde_json::{json, Value};

use crate::helpers::{api_token, api_user, assert_api_error, spawn_app_with, TestApp};

const PASSWORD: &str = "password123";

async fn initialize(app: &TestApp, body: &Value) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/user/initialize"))
        .json(body)
        .send()
        .await
        .expect("POST /api/v1/user/initialize")
}

async fn sign_up(app: &TestApp, token: Option<&str>, body: &Value) -> reqwest::Response {
    let mut req = app.client.post(app.url("/api/v1/user/")).json(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.expect("POST /api/v1/user/")
}

async fn current_user(app: &TestApp, token: &str) -> reqwest::Response {
    app.client
        .get(app.url("/api/v1/user/"))
        .header("Authorization", format!("Bearer {token}"))
        .send()
        .await
        .expect("GET /api/v1/user/")
}

fn new_user(name: &str) -> Value {
    json!({"username": name, "password": PASSWORD, "email": format!("{name}@example.com")})
}

// --- POST /api/v1/user/initialize -------------------------------------------

#[actix_web::test]
async fn initialize_creates_the_first_user_and_returns_an_access_token_that_works_as_bearer() {
    let app = spawn_app_with("FEATURE_USER_INITIALIZE: true\n").await;
    let res = initialize(
        &app,
        &json!({"username": "quayadmin", "password": PASSWORD, "email": "quayadmin@example.com", "access_token": true}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.expect("JSON body");
    assert_eq!(body["username"], "quayadmin");
    assert_eq!(body["email"], "quayadmin@example.com");
    let token = body["access_token"].as_str().expect("access_token in the answer");
    assert_eq!(token.len(), 40, "Quay access tokens are 40 characters");

    let res = current_user(&app, token).await;
    assert_eq!(res.status(), 200);
    let me: Value = res.json().await.expect("JSON body");
    assert_eq!(me["username"], "quayadmin");
    assert_eq!(me["anonymous"], false);
    assert_eq!(me["is_me"], true);
    assert_eq!(me["email"], "quayadmin@example.com");
}

#[actix_web::test]
async fn initialize_without_access_token_returns_no_token() {
    let app = spawn_app_with("FEATURE_USER_INITIALIZE: true\n").await;
    let res = initialize(&app, &json!({"username": "quayadmin", "password": PASSWORD})).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.expect("JSON body");
    assert_eq!(body["username"], "quayadmin");
    assert!(body.get("access_token").is_none(), "no token was asked for: {body}");
}

#[actix_web::test]
async fn a_second_initialize_is_refused() {
    let app = spawn_app_with("FEATURE_USER_INITIALIZE: true\n").await;
    let res = initialize(
        &app,
        &json!({"username": "first", "password": PASSWORD, "access_token": true}),
    )
    .await;
    assert_eq!(res.status(), 200);

    let res = initialize(
        &app,
        &json!({"username": "second", "password": PASSWORD, "access_token": true}),
    )
    .await;
    assert_eq!(res.status(), 400);
    let text = res.text().await.expect("body");
    assert!(text.contains("non-empty database"), "Quay's reason: {text}");
    let res = app.get("/api/v1/users/second").await;
    assert_eq!(res.status(), 404, "the second user was not created");
}

#[actix_web::test]
async fn initialize_is_refused_once_any_user_signed_up() {
    let app = spawn_app_with("FEATURE_USER_INITIALIZE: true\n").await;
    assert_eq!(sign_up(&app, None, &new_user("early")).await.status(), 200);
    let res = initialize(&app, &json!({"username": "quayadmin", "password": PASSWORD})).await;
    assert_eq!(res.status(), 400);
}

#[actix_web::test]
async fn initialize_refuses_a_bad_password() {
    let app = spawn_app_with("FEATURE_USER_INITIALIZE: true\n").await;
    let res = initialize(&app, &json!({"username": "quayadmin", "password": "short"})).await;
    assert_eq!(res.status(), 400);
    let res = initialize(&app, &json!({"username": "quayadmin", "password": PASSWORD})).await;
    assert_eq!(res.status(), 200, "the refused attempt created nobody");
}

#[actix_web::test]
async fn initialize_is_not_found_without_the_feature() {
    let app = spawn_app_with("").await;
    let res = initialize(
        &app,
        &json!({"username": "quayadmin", "password": PASSWORD, "access_token": true}),
    )
    .await;
    assert_eq!(res.status(), 404);
    let res = app.get("/api/v1/users/quayadmin").await;
    assert_eq!(res.status(), 404, "no user was created");
}

// --- GET /api/v1/user/ ---------------------------------------------------------

#[actix_web::test]
async fn the_current_user_is_unauthorized_for_anonymous_callers_with_quays_problem_body() {
    let app = spawn_app_with("").await;
    let body = assert_api_error(app.get("/api/v1/user/").await, 401, "invalid_token").await;
    assert_eq!(body["detail"], "Requires authentication");
}

#[actix_web::test]
async fn the_problem_type_is_an_absolute_url_on_this_host() {
    let app = spawn_app_with("").await;
    let res = app.get("/api/v1/user/").await;
    let body: Value = res.json().await.expect("JSON body");
    assert_eq!(
        body["type"],
        format!("{}/api/v1/error/invalid_token", app.address),
        "quay-api.md §0: type is <scheme>://HOST/api/v1/error/<type>"
    );
}

#[actix_web::test]
async fn the_problem_type_url_describes_the_error_to_anyone() {
    let app = spawn_app_with("").await;
    let (_, token) = api_user(&app, "alice", "all").await;
    let unauthorized = assert_api_error(app.get("/api/v1/user/").await, 401, "invalid_token").await;
    let missing = app
        .client
        .get(app.url("/api/v1/organization/nothing"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("GET organization");
    let missing = assert_api_error(missing, 404, "not_found").await;
    let anonymous = reqwest::Client::new();
    for body in [unauthorized, missing] {
        let url = body["type"].as_str().expect("type URL");
        let res = anonymous.get(url).send().await.expect("GET the type URL");
        assert_eq!(res.status().as_u16(), 200, "GET {url}");
        let described: Value = res.json().await.expect("JSON description");
        assert_eq!(described["type"], url, "{described}");
        assert_eq!(described["title"], body["error_type"], "{described}");
        let text = described["description"].as_str().unwrap_or_default();
        assert!(text.len() > 20, "a description for {url}: {described}");
    }
    let unknown = anonymous
        .get(app.url("/api/v1/error/no_such_type"))
        .send()
        .await
        .expect("GET unknown type");
    assert_api_error(unknown, 404, "not_found").await;
}

#[actix_web::test]
async fn an_unknown_or_malformed_bearer_token_is_unauthorized() {
    let app = spawn_app_with("").await;
    let (_, good) = api_user(&app, "alice", "all").await;
    // The right lookup name with a wrong secret, an unknown token, a short one.
    let wrong_secret = format!("{}{}", &good[..20], "x".repeat(20));
    for token in [wrong_secret.as_str(), &"a".repeat(40), "abc"] {
        let res = current_user(&app, token).await;
        assert_api_error(res, 401, "invalid_token").await;
    }
    assert_eq!(current_user(&app, &good).await.status(), 200);
}

#[actix_web::test]
async fn the_bearer_scheme_is_case_insensitive() {
    // RFC 7235 auth schemes are case-insensitive; Quay lowercases the scheme.
    let app = spawn_app_with("").await;
    let (_, token) = api_user(&app, "alice", "all").await;
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let res = app
            .client
            .get(app.url("/api/v1/user/"))
            .header("Authorization", format!("{scheme} {token}"))
            .send()
            .await
            .expect("GET /api/v1/user/");
        assert_eq!(res.status(), 200, "scheme {scheme}");
    }
}

#[actix_web::test]
async fn basic_credentials_on_the_api_count_as_no_credentials() {
    // Quay's validate_bearer_auth treats a non-Bearer Authorization header as
    // missing: the caller is anonymous, it is not refused.
    let app = spawn_app_with("").await;
    api_user(&app, "alice", "all").await;
    let res = app
        .client
        .get(app.url("/api/v1/user/"))
        .basic_auth("alice", Some(PASSWORD))
        .send()
        .await
        .expect("GET with Basic auth");
    let body = assert_api_error(res, 401, "invalid_token").await;
    assert_eq!(body["detail"], "Requires authentication", "anonymous, not a bad token");

    let res = app
        .client
        .get(app.url("/api/v1/users/alice"))
        .basic_auth("alice", Some("wrong-password"))
        .send()
        .await
        .expect("GET a public user with Basic auth");
    assert_eq!(res.status(), 200, "an anonymous-allowed endpoint");
    let res = app
        .client
        .post(app.url("/api/v1/user/"))
        .basic_auth("alice", Some(PASSWORD))
        .json(&new_user("newbie"))
        .send()
        .await
        .expect("sign-up with Basic auth");
    assert_eq!(res.status(), 200, "anonymous sign-up");
}

#[actix_web::test]
async fn a_token_without_user_read_scope_cannot_read_the_current_user() {
    let app = spawn_app_with("").await;
    let (_, token) = api_user(&app, "alice", "repo:read").await;
    assert_api_error(current_user(&app, &token).await, 403, "insufficient_scope").await;
}

#[actix_web::test]
async fn the_current_user_view_has_quays_fields() {
    let app = spawn_app_with("").await;
    let (_, token) = api_user(&app, "alice", "user:read").await;
    let res = current_user(&app, &token).await;
    assert_eq!(res.status(), 200);
    let me: Value = res.json().await.expect("JSON body");
    assert_eq!(me["username"], "alice");
    assert_eq!(me["email"], "alice@example.com");
    assert_eq!(me["avatar"]["name"], "alice");
    assert_eq!(me["avatar"]["kind"], "user");
    assert!(me["organizations"].as_array().is_some_and(Vec::is_empty), "{me}");
    assert!(
        me["verified"].is_boolean() && me["can_create_repo"].is_boolean(),
        "{me}"
    );
    assert!(me.get("super_user").is_none(), "only superusers carry super_user: {me}");
}

// --- POST /api/v1/user/ (sign-up) -----------------------------------------------

#[actix_web::test]
async fn sign_up_creates_a_user_when_user_creation_is_on() {
    let app = spawn_app_with("").await;
    let res = sign_up(&app, None, &new_user("newbie")).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.expect("JSON body");
    assert_eq!(body["username"], "newbie");
    assert_eq!(body["email"], "newbie@example.com");

    let res = app.get("/api/v1/users/newbie").await;
    assert_eq!(res.status(), 200);
    let services = app.services_with_stale_age(86_400).await;
    services
        .authenticate_password("newbie", PASSWORD)
        .await
        .expect("the sign-up password works");
}

#[actix_web::test]
async fn sign_up_is_forbidden_when_user_creation_is_off() {
    let app = spawn_app_with("FEATURE_USER_CREATION: false\nSUPER_USERS: [admin]\n").await;
    assert_api_error(
        sign_up(&app, None, &new_user("newbie")).await,
        403,
        "insufficient_scope",
    )
    .await;
    let (_, plain) = api_user(&app, "alice", "all").await;
    assert_api_error(
        sign_up(&app, Some(&plain), &new_user("newbie")).await,
        403,
        "insufficient_scope",
    )
    .await;
    assert_eq!(app.get("/api/v1/users/newbie").await.status(), 404);
}

#[actix_web::test]
async fn a_superuser_can_create_users_when_user_creation_is_off() {
    let app = spawn_app_with("FEATURE_USER_CREATION: false\nSUPER_USERS: [admin]\n").await;
    let (_, admin) = api_user(&app, "admin", "all").await;
    let res = sign_up(&app, Some(&admin), &new_user("newbie")).await;
    assert_eq!(res.status(), 200);
    assert_eq!(app.get("/api/v1/users/newbie").await.status(), 200);
}

#[actix_web::test]
async fn sign_up_refuses_bad_usernames() {
    let app = spawn_app_with("").await;
    for name in ["a", "Alice", "-alice", "alice-", "al..ice", "al ice", &"a".repeat(256)] {
        let res = sign_up(&app, None, &json!({"username": name, "password": PASSWORD})).await;
        assert_api_error(res, 400, "invalid_request").await;
    }
}

#[actix_web::test]
async fn sign_up_refuses_bad_passwords() {
    let app = spawn_app_with("").await;
    for password in ["short", "1234567", "has white space", ""] {
        let res = sign_up(&app, None, &json!({"username": "alice", "password": password})).await;
        assert_api_error(res, 400, "invalid_request").await;
    }
    assert_eq!(app.get("/api/v1/users/alice").await.status(), 404);
}

#[actix_web::test]
async fn sign_up_refuses_bad_emails() {
    let app = spawn_app_with("").await;
    for email in ["not-an-email", "@example.com", "alice@localhost", "ali ce@example.com"] {
        let res = sign_up(
            &app,
            None,
            &json!({"username": "alice", "password": PASSWORD, "email": email}),
        )
        .await;
        assert_api_error(res, 400, "invalid_request").await;
    }
}

#[actix_web::test]
async fn sign_up_refuses_a_body_without_username_or_password() {
    let app = spawn_app_with("").await;
    for body in [
        json!({"username": "alice"}),
        json!({"password": PASSWORD}),
        json!("alice"),
    ] {
        assert_api_error(sign_up(&app, None, &body).await, 400, "invalid_request").await;
    }
}

#[actix_web::test]
async fn sign_up_refuses_a_taken_username_or_email() {
    let app = spawn_app_with("").await;
    assert_eq!(sign_up(&app, None, &new_user("alice")).await.status(), 200);
    let res = sign_up(&app, None, &json!({"username": "alice", "password": PASSWORD})).await;
    assert_api_error(res, 400, "invalid_request").await;
    let res = sign_up(
        &app,
        None,
        &json!({"username": "bob", "password": PASSWORD, "email": "alice@example.com"}),
    )
    .await;
    assert_api_error(res, 400, "invalid_request").await;
}

#[actix_web::test]
async fn sign_up_refuses_the_name_of_an_organization() {
    let app = spawn_app_with("").await;
    let (_, token) = api_user(&app, "alice", "all").await;
    let res = app
        .client
        .post(app.url("/api/v1/organization/"))
        .bearer_auth(&token)
        .json(&json!({"name": "acme"}))
        .send()
        .await
        .expect("create org");
    assert_eq!(res.status(), 201);
    let res = sign_up(&app, None, &json!({"username": "acme", "password": PASSWORD})).await;
    assert_api_error(res, 400, "invalid_request").await;
}

// --- GET /api/v1/users/{name} ---------------------------------------------------

#[actix_web::test]
async fn a_user_is_visible_by_name_without_private_fields() {
    let app = spawn_app_with("").await;
    api_user(&app, "alice", "all").await;
    let res = app.get("/api/v1/users/alice").await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.expect("JSON body");
    assert_eq!(body["username"], "alice");
    assert_eq!(body["anonymous"], false);
    assert_eq!(body["avatar"]["name"], "alice");
    assert!(body.get("email").is_none(), "the public view hides the email: {body}");
}

#[actix_web::test]
async fn an_unknown_user_or_an_organization_is_not_found_by_user_name() {
    let app = spawn_app_with("").await;
    assert_api_error(app.get("/api/v1/users/nobody").await, 404, "not_found").await;
    let (_, token) = api_user(&app, "alice", "all").await;
    let res = app
        .client
        .post(app.url("/api/v1/organization/"))
        .bearer_auth(&token)
        .json(&json!({"name": "acme"}))
        .send()
        .await
        .expect("create org");
    assert_eq!(res.status(), 201);
    assert_eq!(app.get("/api/v1/users/acme").await.status(), 404);
}

// --- DELETE /api/v1/user/ -------------------------------------------------------

#[actix_web::test]
async fn deleting_yourself_revokes_your_token_and_frees_the_name() {
    let app = spawn_app_with("").await;
    let (_, token) = api_user(&app, "alice", "all").await;
    let res = app
        .client
        .delete(app.url("/api/v1/user/"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("DELETE /api/v1/user/");
    assert_eq!(res.status(), 204);

    assert_api_error(current_user(&app, &token).await, 401, "invalid_token").await;
    assert_eq!(app.get("/api/v1/users/alice").await.status(), 404);

    let res = sign_up(&app, None, &new_user("alice")).await;
    assert_eq!(res.status(), 200, "the name and the email are free again");
}

#[actix_web::test]
async fn deleting_yourself_needs_a_token_with_user_admin_scope() {
    let app = spawn_app_with("").await;
    assert_api_error(app.delete("/api/v1/user/").await, 401, "invalid_token").await;
    let (user, read_only) = api_user(&app, "alice", "user:read repo:read").await;
    let res = app
        .client
        .delete(app.url("/api/v1/user/"))
        .bearer_auth(&read_only)
        .send()
        .await
        .expect("DELETE /api/v1/user/");
    assert_api_error(res, 403, "insufficient_scope").await;
    assert_eq!(app.get("/api/v1/users/alice").await.status(), 200, "still there");
    let token = api_token(&app, &user, "all").await;
    assert_eq!(current_user(&app, &token).await.status(), 200);
}

// --- Failed-login backoff (service level: there is no login endpoint yet) ---

#[actix_web::test]
async fn six_wrong_passwords_lock_the_account_even_for_the_right_password() {
    let app = spawn_app_with("").await;
    let services = app.services_with_stale_age(86_400).await;
    services
        .create_user("alice", PASSWORD, None)
        .await
        .expect("create alice");
    for attempt in 1..=6 {
        match services.authenticate_password("alice", "wrong-password").await {
            Err(Error::Unauthenticated(_)) => {}
            // The sixth may already meet the backoff.
            Err(Error::TooManyAttempts(_)) if attempt == 6 => {}
            other => panic!("wrong password #{attempt}: {other:?}"),
        }
    }
    match services.authenticate_password("alice", PASSWORD).await {
        Err(Error::TooManyAttempts(n)) => assert!(n >= 1, "retry after {n} s"),
        other => panic!("the right password during the backoff: {other:?}"),
    }
}

#[actix_web::test]
async fn a_few_wrong_passwords_do_not_lock_the_account() {
    let app = spawn_app_with("").await;
    let services = app.services_with_stale_age(86_400).await;
    services
        .create_user("alice", PASSWORD, None)
        .await
        .expect("create alice");
    for _ in 0..3 {
        assert!(matches!(
            services.authenticate_password("alice", "wrong-password").await,
            Err(Error::Unauthenticated(_))
        ));
    }
    let user = services
        .authenticate_password("alice", PASSWORD)
        .await
        .expect("the right password");
    assert_eq!(user.username, "alice");
    assert!(matches!(
        services.authenticate_password("nobody", PASSWORD).await,
        Err(Error::Unauthenticated(_))
    ));
}
