//! `/api/v1/superuser/…`: users and organizations for superusers
//! (quay-api.md §1.2), with the documented `curl` examples.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{api_token, api_user, assert_api_error, spawn_app_with, TestApp};

const SUPERUSERS: &str = "SUPER_USERS: [admin]\n";

/// A request to `path` with an optional bearer token and JSON body.
async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> reqwest::Response {
    let mut req = app.client.request(method.clone(), app.url(path));
    if let Some(t) = token {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    if let Some(b) = body {
        req = req.json(b);
    }
    req.send().await.unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

async fn json_of(res: reqwest::Response) -> Value {
    let what = format!("{} {}", res.status(), res.url());
    assert!(res.status().is_success(), "{what}");
    res.json()
        .await
        .unwrap_or_else(|e| panic!("{what}: body is not JSON: {e}"))
}

/// A registry with superuser `admin` and its all-scopes token.
async fn with_admin() -> (TestApp, String) {
    let app = spawn_app_with(SUPERUSERS).await;
    let (_, token) = api_user(&app, "admin", "all").await;
    (app, token)
}

async fn create_org(app: &TestApp, token: &str, name: &str) {
    let res = call(
        app,
        Method::POST,
        "/api/v1/organization/",
        Some(token),
        Some(&json!({ "name": name })),
    )
    .await;
    assert_eq!(res.status(), 201, "creating organization {name}");
}

fn names(list: &Value, key: &str) -> Vec<String> {
    list[key]
        .as_array()
        .unwrap_or_else(|| panic!("`{key}` array in {list}"))
        .iter()
        .map(|u| u["name"].as_str().expect("name").to_owned())
        .collect()
}

// --- users ------------------------------------------------------------------------

#[actix_web::test]
async fn the_documented_example_creates_a_user_with_a_generated_password() {
    // curl -H "Content-Type: application/json" -H "Authorization: Bearer <token>" -X POST
    //      --data '{ "username": "quaysuper", "email": "quaysuper@example.com" }'
    //      http://quay-server:8080/api/v1/superuser/users/
    let (app, admin) = with_admin().await;
    let res = app
        .client
        .post(app.url("/api/v1/superuser/users/"))
        .header("Content-Type", "application/json")
        .header("Authorization", format!("Bearer {admin}"))
        .body(r#"{ "username": "quaysuper", "email": "quaysuper@example.com" }"#)
        .send()
        .await
        .expect("POST /api/v1/superuser/users/");
    let body = json_of(res).await;
    assert_eq!(body["username"], "quaysuper");
    assert_eq!(body["email"], "quaysuper@example.com");
    let password = body["password"].as_str().expect("generated password");
    assert_eq!(password.len(), 32, "{password}");
    assert!(
        password.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()),
        "[A-Z0-9]: {password}"
    );
    assert_eq!(body["encrypted_password"], password);

    let services = app.services_with_stale_age(86_400).await;
    services
        .authenticate_password("quaysuper", password)
        .await
        .expect("the generated password logs in");

    let res = call(
        &app,
        Method::GET,
        "/api/v1/superuser/users/quaysuper",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(json_of(res).await["email"], "quaysuper@example.com");
}

#[actix_web::test]
async fn creating_a_user_refuses_bad_or_taken_names_and_emails() {
    let (app, admin) = with_admin().await;
    let path = "/api/v1/superuser/users/";
    for body in [
        json!({"username": "Bad"}),
        json!({"username": "x"}),
        json!({"username": "-lead"}),
        json!({"username": "fine", "email": "not-an-email"}),
        json!({"username": "admin"}),
        json!({"username": "other", "email": "admin@example.com"}),
        json!({"email": "nobody@example.com"}),
    ] {
        let res = call(&app, Method::POST, path, Some(&admin), Some(&body)).await;
        assert_api_error(res, 400, "invalid_request").await;
    }
    let res = call(
        &app,
        Method::POST,
        path,
        Some(&admin),
        Some(&json!({"username": "nomail"})),
    )
    .await;
    assert_eq!(json_of(res).await["username"], "nomail", "email is optional");
}

#[actix_web::test]
async fn the_documented_example_lists_users() {
    // curl -X GET -H "Authorization: Bearer <token_here>" "https://<yourquayhost>/api/v1/superuser/users/"
    let (app, admin) = with_admin().await;
    let (_, alice) = api_user(&app, "alice", "all").await;
    create_org(&app, &alice, "acme").await;

    let res = app
        .client
        .get(app.url("/api/v1/superuser/users/"))
        .header("Authorization", format!("Bearer {admin}"))
        .send()
        .await
        .expect("GET /api/v1/superuser/users/");
    let list = json_of(res).await;
    assert_eq!(
        names(&list, "users"),
        ["admin", "alice"],
        "users only, no organizations: {list}"
    );
    let users = list["users"].as_array().expect("users");
    let admin_view = &users[0];
    assert_eq!(admin_view["kind"], "user");
    assert_eq!(admin_view["username"], "admin");
    assert_eq!(admin_view["email"], "admin@example.com");
    assert_eq!(admin_view["super_user"], true);
    assert_eq!(admin_view["enabled"], true);
    assert!(admin_view["verified"].is_boolean());
    assert_eq!(admin_view["avatar"]["name"], "admin");
    assert_eq!(users[1]["super_user"], false);
}

#[actix_web::test]
async fn the_user_list_takes_a_limit_between_1_and_100() {
    let (app, admin) = with_admin().await;
    api_user(&app, "alice", "all").await;
    let res = call(
        &app,
        Method::GET,
        "/api/v1/superuser/users/?limit=1",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(json_of(res).await["users"].as_array().map(Vec::len), Some(1));
    for limit in ["0", "101", "-1"] {
        let path = format!("/api/v1/superuser/users/?limit={limit}");
        assert_api_error(
            call(&app, Method::GET, &path, Some(&admin), None).await,
            400,
            "invalid_request",
        )
        .await;
    }
}

#[actix_web::test]
async fn a_superuser_gets_one_user_and_unknown_names_are_not_found() {
    let (app, admin) = with_admin().await;
    let (_, alice) = api_user(&app, "alice", "all").await;
    create_org(&app, &alice, "acme").await;
    let res = call(&app, Method::GET, "/api/v1/superuser/users/alice", Some(&admin), None).await;
    let user = json_of(res).await;
    assert_eq!(user["username"], "alice");
    assert_eq!(user["email"], "alice@example.com");
    assert_eq!(user["enabled"], true);
    assert_eq!(user["super_user"], false);
    for name in ["nobody", "acme"] {
        let path = format!("/api/v1/superuser/users/{name}");
        assert_api_error(
            call(&app, Method::GET, &path, Some(&admin), None).await,
            404,
            "not_found",
        )
        .await;
    }
}

#[actix_web::test]
async fn a_superuser_changes_a_users_email() {
    let (app, admin) = with_admin().await;
    api_user(&app, "alice", "all").await;
    api_user(&app, "bob", "all").await;
    let path = "/api/v1/superuser/users/alice";
    let res = call(
        &app,
        Method::PUT,
        path,
        Some(&admin),
        Some(&json!({"email": "alice@new.example.com"})),
    )
    .await;
    assert_eq!(json_of(res).await["email"], "alice@new.example.com");
    let res = call(&app, Method::GET, path, Some(&admin), None).await;
    assert_eq!(json_of(res).await["email"], "alice@new.example.com");

    for email in ["not-an-email", "bob@example.com"] {
        let res = call(&app, Method::PUT, path, Some(&admin), Some(&json!({ "email": email }))).await;
        assert_api_error(res, 400, "invalid_request").await;
    }
    let res = call(
        &app,
        Method::PUT,
        path,
        Some(&admin),
        Some(&json!({"password": "short"})),
    )
    .await;
    assert_api_error(res, 400, "invalid_request").await;
    let path = "/api/v1/superuser/users/nobody";
    let res = call(
        &app,
        Method::PUT,
        path,
        Some(&admin),
        Some(&json!({"email": "x@example.com"})),
    )
    .await;
    assert_api_error(res, 404, "not_found").await;
}

#[actix_web::test]
async fn a_superuser_sets_a_users_password() {
    let (app, admin) = with_admin().await;
    api_user(&app, "alice", "all").await;
    let body = json!({"password": "brand-new-password"});
    let res = call(
        &app,
        Method::PUT,
        "/api/v1/superuser/users/alice",
        Some(&admin),
        Some(&body),
    )
    .await;
    assert_eq!(res.status(), 200);
    let services = app.services_with_stale_age(86_400).await;
    services
        .authenticate_password("alice", "brand-new-password")
        .await
        .expect("the new password works");
}

#[actix_web::test]
async fn disabling_a_user_makes_its_tokens_stop_working() {
    let (app, admin) = with_admin().await;
    let (_, alice) = api_user(&app, "alice", "all").await;
    assert_eq!(
        call(&app, Method::GET, "/api/v1/user/", Some(&alice), None)
            .await
            .status(),
        200
    );

    let path = "/api/v1/superuser/users/alice";
    let res = call(&app, Method::PUT, path, Some(&admin), Some(&json!({"enabled": false}))).await;
    assert_eq!(json_of(res).await["enabled"], false);

    let res = call(&app, Method::GET, "/api/v1/user/", Some(&alice), None).await;
    assert_api_error(res, 401, "invalid_token").await;
    let res = call(
        &app,
        Method::GET,
        "/api/v1/superuser/users/?disabled=false",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(
        names(&json_of(res).await, "users"),
        ["admin"],
        "disabled users left out"
    );
    let res = call(&app, Method::GET, "/api/v1/superuser/users/", Some(&admin), None).await;
    assert_eq!(
        names(&json_of(res).await, "users"),
        ["admin", "alice"],
        "disabled users included by default"
    );

    let res = call(&app, Method::PUT, path, Some(&admin), Some(&json!({"enabled": true}))).await;
    assert_eq!(json_of(res).await["enabled"], true);
    assert_eq!(
        call(&app, Method::GET, "/api/v1/user/", Some(&alice), None)
            .await
            .status(),
        200
    );
}

#[actix_web::test]
async fn a_superuser_grants_superuser_rights() {
    let (app, admin) = with_admin().await;
    let (_, alice) = api_user(&app, "alice", "all").await;
    let list = "/api/v1/superuser/users/";
    assert_api_error(
        call(&app, Method::GET, list, Some(&alice), None).await,
        403,
        "insufficient_scope",
    )
    .await;

    let path = "/api/v1/superuser/users/alice";
    let res = call(&app, Method::PUT, path, Some(&admin), Some(&json!({"superuser": true}))).await;
    assert_eq!(json_of(res).await["super_user"], true);
    assert_eq!(call(&app, Method::GET, list, Some(&alice), None).await.status(), 200);

    // Now alice is another superuser: admin may no longer change her.
    let res = call(
        &app,
        Method::PUT,
        path,
        Some(&admin),
        Some(&json!({"superuser": false})),
    )
    .await;
    assert_api_error(res, 400, "invalid_request").await;
}

#[actix_web::test]
async fn the_documented_example_deletes_a_user() {
    // curl -X DELETE -H "Authorization: Bearer <insert token here>"
    //      https://<quay_hostname>/api/v1/superuser/users/<name_of_user>
    let (app, admin) = with_admin().await;
    let (_, alice) = api_user(&app, "alice", "all").await;
    let res = app
        .client
        .delete(app.url("/api/v1/superuser/users/alice"))
        .header("Authorization", format!("Bearer {admin}"))
        .send()
        .await
        .expect("DELETE /api/v1/superuser/users/alice");
    assert_eq!(res.status(), 204);

    let path = "/api/v1/superuser/users/alice";
    assert_api_error(
        call(&app, Method::GET, path, Some(&admin), None).await,
        404,
        "not_found",
    )
    .await;
    assert_api_error(
        call(&app, Method::DELETE, path, Some(&admin), None).await,
        404,
        "not_found",
    )
    .await;
    let res = call(&app, Method::GET, "/api/v1/user/", Some(&alice), None).await;
    assert_api_error(res, 401, "invalid_token").await;
    assert_eq!(app.get("/api/v1/users/alice").await.status(), 404);
}

#[actix_web::test]
async fn a_deleted_user_is_not_listed() {
    let (app, admin) = with_admin().await;
    api_user(&app, "alice", "all").await;
    let res = call(
        &app,
        Method::DELETE,
        "/api/v1/superuser/users/alice",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(res.status(), 204);
    let res = call(&app, Method::GET, "/api/v1/superuser/users/", Some(&admin), None).await;
    assert_eq!(
        names(&json_of(res).await, "users"),
        ["admin"],
        "Quay leaves namespaces marked for deletion out of the list"
    );
}

#[actix_web::test]
async fn another_superuser_cannot_be_modified_or_deleted() {
    let app = spawn_app_with("SUPER_USERS: [admin, other]\n").await;
    let (_, admin) = api_user(&app, "admin", "all").await;
    let (_, other) = api_user(&app, "other", "all").await;
    let path = "/api/v1/superuser/users/other";
    for body in [
        json!({"email": "changed@example.com"}),
        json!({"enabled": false}),
        json!({"superuser": false}),
        json!({"password": "new-password-123"}),
    ] {
        let res = call(&app, Method::PUT, path, Some(&admin), Some(&body)).await;
        assert_api_error(res, 400, "invalid_request").await;
    }
    assert_api_error(
        call(&app, Method::DELETE, path, Some(&admin), None).await,
        400,
        "invalid_request",
    )
    .await;

    let res = call(&app, Method::GET, path, Some(&admin), None).await;
    let view = json_of(res).await;
    assert_eq!(view["email"], "other@example.com");
    assert_eq!(view["enabled"], true);
    assert_eq!(
        call(&app, Method::GET, "/api/v1/user/", Some(&other), None)
            .await
            .status(),
        200
    );
}

// --- who may call ------------------------------------------------------------------

/// Every superuser endpoint, with a body where one is needed.
fn endpoints() -> Vec<(Method, &'static str, Option<Value>)> {
    vec![
        (Method::GET, "/api/v1/superuser/users/", None),
        (
            Method::POST,
            "/api/v1/superuser/users/",
            Some(json!({"username": "newbie"})),
        ),
        (Method::GET, "/api/v1/superuser/users/alice", None),
        (
            Method::PUT,
            "/api/v1/superuser/users/alice",
            Some(json!({"enabled": false})),
        ),
        (Method::DELETE, "/api/v1/superuser/users/alice", None),
        (Method::GET, "/api/v1/superuser/organizations/", None),
        (
            Method::PUT,
            "/api/v1/superuser/organizations/acme",
            Some(json!({"name": "renamed"})),
        ),
        (Method::DELETE, "/api/v1/superuser/organizations/acme", None),
    ]
}

#[actix_web::test]
async fn a_non_superuser_is_forbidden_on_every_superuser_endpoint() {
    let (app, admin) = with_admin().await;
    let (_, alice) = api_user(&app, "alice", "all").await;
    create_org(&app, &alice, "acme").await;
    for (method, path, body) in endpoints() {
        let res = call(&app, method.clone(), path, Some(&alice), body.as_ref()).await;
        assert_api_error(res, 403, "insufficient_scope").await;
    }
    assert_unchanged(&app, &admin).await;
}

#[actix_web::test]
async fn a_superuser_token_without_super_user_scope_is_forbidden() {
    let (app, admin) = with_admin().await;
    let (_, alice) = api_user(&app, "alice", "all").await;
    create_org(&app, &alice, "acme").await;
    let services = app.services_with_stale_age(86_400).await;
    let admin_user = services.account("admin").await.expect("lookup").expect("admin exists");
    let narrow = api_token(&app, &admin_user, "user:admin user:read org:admin repo:admin").await;
    for (method, path, body) in endpoints() {
        let res = call(&app, method.clone(), path, Some(&narrow), body.as_ref()).await;
        assert_api_error(res, 403, "insufficient_scope").await;
    }
    assert_unchanged(&app, &admin).await;
}

#[actix_web::test]
async fn anonymous_callers_are_unauthorized_on_every_superuser_endpoint() {
    let (app, admin) = with_admin().await;
    let (_, alice) = api_user(&app, "alice", "all").await;
    create_org(&app, &alice, "acme").await;
    for (method, path, body) in endpoints() {
        let res = call(&app, method.clone(), path, None, body.as_ref()).await;
        assert_api_error(res, 401, "invalid_token").await;
    }
    assert_unchanged(&app, &admin).await;
}

/// Nothing the refused calls asked for happened.
async fn assert_unchanged(app: &TestApp, admin: &str) {
    let res = call(app, Method::GET, "/api/v1/superuser/users/", Some(admin), None).await;
    assert_eq!(names(&json_of(res).await, "users"), ["admin", "alice"]);
    let res = call(app, Method::GET, "/api/v1/superuser/users/alice", Some(admin), None).await;
    assert_eq!(json_of(res).await["enabled"], true);
    let res = call(app, Method::GET, "/api/v1/superuser/organizations/", Some(admin), None).await;
    assert_eq!(names(&json_of(res).await, "organizations"), ["acme"]);
}

// --- organizations ---------------------------------------------------------------

#[actix_web::test]
async fn a_superuser_lists_organizations() {
    let (app, admin) = with_admin().await;
    let (_, alice) = api_user(&app, "alice", "all").await;
    let body = json!({"name": "acme", "email": "ops@acme.example.com"});
    let res = call(&app, Method::POST, "/api/v1/organization/", Some(&alice), Some(&body)).await;
    assert_eq!(res.status(), 201);
    create_org(&app, &alice, "beta").await;

    let res = call(
        &app,
        Method::GET,
        "/api/v1/superuser/organizations/",
        Some(&admin),
        None,
    )
    .await;
    let list = json_of(res).await;
    assert_eq!(names(&list, "organizations"), ["acme", "beta"], "no users: {list}");
    assert_eq!(list["organizations"][0]["email"], "ops@acme.example.com");
    assert_eq!(list["organizations"][0]["avatar"]["name"], "acme");
}

#[actix_web::test]
async fn a_superuser_renames_an_organization() {
    let (app, admin) = with_admin().await;
    let (_, alice) = api_user(&app, "alice", "all").await;
    create_org(&app, &alice, "acme").await;
    create_org(&app, &alice, "beta").await;
    let res = call(
        &app,
        Method::PUT,
        "/api/v1/organization/acme/robots/ci",
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(res.status(), 201);

    let path = "/api/v1/superuser/organizations/acme";
    for name in ["beta", "alice", "Bad Name", "x"] {
        let res = call(&app, Method::PUT, path, Some(&admin), Some(&json!({ "name": name }))).await;
        assert_api_error(res, 400, "invalid_request").await;
    }
    let res = call(&app, Method::PUT, path, Some(&admin), Some(&json!({"name": "renamed"}))).await;
    assert_eq!(json_of(res).await["name"], "renamed");

    assert_api_error(app.get("/api/v1/organization/acme").await, 404, "not_found").await;
    let res = call(&app, Method::GET, "/api/v1/organization/renamed", Some(&alice), None).await;
    assert_eq!(json_of(res).await["is_admin"], true, "alice still administers it");
    let res = call(
        &app,
        Method::GET,
        "/api/v1/organization/renamed/robots",
        Some(&alice),
        None,
    )
    .await;
    let robots = json_of(res).await;
    assert_eq!(
        robots["robots"][0]["name"], "renamed+ci",
        "the robots move along: {robots}"
    );
    let res = call(
        &app,
        Method::GET,
        "/api/v1/superuser/organizations/",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(names(&json_of(res).await, "organizations"), ["beta", "renamed"]);

    let res = call(&app, Method::PUT, path, Some(&admin), Some(&json!({"name": "again"}))).await;
    assert_api_error(res, 404, "not_found").await;
}

#[actix_web::test]
async fn a_superuser_deletes_an_organization() {
    let (app, admin) = with_admin().await;
    let (_, alice) = api_user(&app, "alice", "all").await;
    create_org(&app, &alice, "acme").await;

    let path = "/api/v1/superuser/organizations/acme";
    assert_eq!(call(&app, Method::DELETE, path, Some(&admin), None).await.status(), 204);
    assert_api_error(app.get("/api/v1/organization/acme").await, 404, "not_found").await;
    assert_api_error(
        call(&app, Method::DELETE, path, Some(&admin), None).await,
        404,
        "not_found",
    )
    .await;
    let res = call(
        &app,
        Method::GET,
        "/api/v1/superuser/organizations/",
        Some(&admin),
        None,
    )
    .await;
    assert!(names(&json_of(res).await, "organizations").is_empty());
    let path = "/api/v1/superuser/organizations/alice";
    let res = call(&app, Method::DELETE, path, Some(&admin), None).await;
    assert_api_error(res, 404, "not_found").await;
    assert_eq!(
        app.get("/api/v1/users/alice").await.status(),
        200,
        "users are not organizations"
    );
}

/// A user update that names no change (found by fuzzing the API) changes
/// nothing and answers the user, not a server error.
#[actix_web::test]
async fn an_empty_user_update_changes_nothing() {
    let (app, token) = with_admin().await;
    api_user(&app, "unchanged", "user:read").await;
    let res = call(
        &app,
        Method::PUT,
        "/api/v1/superuser/users/unchanged",
        Some(&token),
        Some(&json!({})),
    )
    .await;
    let body = json_of(res).await;
    assert_eq!(body["username"], "unchanged");
    assert_eq!(body["email"], "unchanged@example.com");
    assert_eq!(body["enabled"], true);
}
