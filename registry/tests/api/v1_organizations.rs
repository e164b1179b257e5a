//! `/api/v1/organization/…`: create, view and delete (quay-api.md §1.3, names §2.2).

use serde_json::{json, Value};

use crate::helpers::{api_user, assert_api_error, spawn_app_with, TestApp};

async fn create_org(app: &TestApp, token: Option<&str>, body: &Value) -> reqwest::Response {
    let mut req = app.client.post(app.url("/api/v1/organization/")).json(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.expect("POST /api/v1/organization/")
}

async fn get_org(app: &TestApp, token: Option<&str>, org: &str) -> reqwest::Response {
    let mut req = app.client.get(app.url(&format!("/api/v1/organization/{org}")));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.expect("GET /api/v1/organization/{org}")
}

async fn delete_org(app: &TestApp, token: Option<&str>, org: &str) -> reqwest::Response {
    let mut req = app.client.delete(app.url(&format!("/api/v1/organization/{org}")));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.expect("DELETE /api/v1/organization/{org}")
}

#[actix_web::test]
async fn the_documented_curl_example_creates_an_organization() {
    // curl -X POST -k -d @data.json -H "Authorization: Bearer <access_token>"
    //      -H "Content-Type: application/json" http://<quay-server.example.com>/api/v1/organization/
    // with data.json = {"name":"testorg1"}; example output "Created".
    let app = spawn_app_with("").await;
    let (_, token) = api_user(&app, "alice", "all").await;
    let res = app
        .client
        .post(app.url("/api/v1/organization/"))
        .header("Authorization", format!("Bearer {token}"))
        .header("Content-Type", "application/json")
        .body(r#"{"name":"testorg1"}"#)
        .send()
        .await
        .expect("POST /api/v1/organization/");
    assert_eq!(res.status(), 201);
    assert_eq!(res.text().await.expect("body").trim(), r#""Created""#);
    assert_eq!(get_org(&app, None, "testorg1").await.status(), 200);
}

#[actix_web::test]
async fn the_creator_administers_the_new_organization() {
    let app = spawn_app_with("").await;
    let (_, token) = api_user(&app, "alice", "all").await;
    let res = create_org(
        &app,
        Some(&token),
        &json!({"name": "acme", "email": "ops@acme.example.com"}),
    )
    .await;
    assert_eq!(res.status(), 201);

    let res = get_org(&app, Some(&token), "acme").await;
    assert_eq!(res.status(), 200);
    let org: Value = res.json().await.expect("JSON body");
    assert_eq!(org["name"], "acme");
    assert_eq!(org["is_admin"], true);
    assert_eq!(org["is_member"], true);
    assert_eq!(org["email"], "ops@acme.example.com");
    assert_eq!(org["avatar"]["name"], "acme");
    assert_eq!(org["avatar"]["kind"], "org");

    let res = app
        .client
        .get(app.url("/api/v1/user/"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("GET /api/v1/user/");
    let me: Value = res.json().await.expect("JSON body");
    let orgs = me["organizations"].as_array().expect("organizations");
    assert_eq!(orgs.len(), 1, "{me}");
    assert_eq!(orgs[0]["name"], "acme");
    assert_eq!(orgs[0]["is_org_admin"], true);
}

#[actix_web::test]
async fn contact_email_is_accepted_as_the_organization_email() {
    let app = spawn_app_with("").await;
    let (_, token) = api_user(&app, "alice", "all").await;
    let res = create_org(
        &app,
        Some(&token),
        &json!({"name": "acme", "contact_email": "ops@acme.example.com"}),
    )
    .await;
    assert_eq!(res.status(), 201);
    let org: Value = get_org(&app, Some(&token), "acme")
        .await
        .json()
        .await
        .expect("JSON body");
    assert_eq!(org["email"], "ops@acme.example.com");
}

#[actix_web::test]
async fn another_user_sees_the_organization_without_admin_rights_or_email() {
    let app = spawn_app_with("").await;
    let (_, alice) = api_user(&app, "alice", "all").await;
    let (_, bob) = api_user(&app, "bob", "all").await;
    let res = create_org(
        &app,
        Some(&alice),
        &json!({"name": "acme", "email": "ops@acme.example.com"}),
    )
    .await;
    assert_eq!(res.status(), 201);

    for token in [Some(bob.as_str()), None] {
        let res = get_org(&app, token, "acme").await;
        assert_eq!(res.status(), 200);
        let org: Value = res.json().await.expect("JSON body");
        assert_eq!(org["name"], "acme");
        assert_eq!(org["is_admin"], false, "{org}");
        assert_eq!(org["is_member"], false, "{org}");
        assert!(org.get("email").is_none(), "only admins see the email: {org}");
    }
}

#[actix_web::test]
async fn an_unknown_organization_or_a_user_is_not_found_as_organization() {
    let app = spawn_app_with("").await;
    let (_, token) = api_user(&app, "alice", "all").await;
    assert_api_error(get_org(&app, Some(&token), "nothing").await, 404, "not_found").await;
    assert_api_error(get_org(&app, Some(&token), "alice").await, 404, "not_found").await;
}

#[actix_web::test]
async fn organization_names_must_follow_the_namespace_rule() {
    let app = spawn_app_with("").await;
    let (_, token) = api_user(&app, "alice", "all").await;
    let long = "a".repeat(256);
    for name in [
        "TestOrg",
        "a",
        "-org",
        ".org",
        "_org",
        "org-",
        "my..org",
        "my org",
        "my/org",
        long.as_str(),
    ] {
        let res = create_org(&app, Some(&token), &json!({ "name": name })).await;
        assert_api_error(res, 400, "invalid_request").await;
    }
    for name in ["ab", "my-org.x_1", &"a".repeat(255)] {
        let res = create_org(&app, Some(&token), &json!({ "name": name })).await;
        assert_eq!(res.status(), 201, "{name} is a valid name");
    }
}

#[actix_web::test]
async fn a_name_taken_by_a_user_or_an_organization_is_refused() {
    let app = spawn_app_with("").await;
    let (_, alice) = api_user(&app, "alice", "all").await;
    api_user(&app, "bob", "all").await;
    assert_api_error(
        create_org(&app, Some(&alice), &json!({"name": "bob"})).await,
        400,
        "invalid_request",
    )
    .await;
    assert_api_error(
        create_org(&app, Some(&alice), &json!({"name": "alice"})).await,
        400,
        "invalid_request",
    )
    .await;
    assert_eq!(
        create_org(&app, Some(&alice), &json!({"name": "acme"})).await.status(),
        201
    );
    assert_api_error(
        create_org(&app, Some(&alice), &json!({"name": "acme"})).await,
        400,
        "invalid_request",
    )
    .await;
}

#[actix_web::test]
async fn a_bad_or_reused_organization_email_is_refused() {
    let app = spawn_app_with("").await;
    let (_, alice) = api_user(&app, "alice", "all").await;
    let res = create_org(&app, Some(&alice), &json!({"name": "acme", "email": "not-an-email"})).await;
    assert_api_error(res, 400, "invalid_request").await;
    let res = create_org(
        &app,
        Some(&alice),
        &json!({"name": "acme", "email": "alice@example.com"}),
    )
    .await;
    assert_api_error(res, 400, "invalid_request").await;
    assert_eq!(get_org(&app, None, "acme").await.status(), 404);
}

#[actix_web::test]
async fn a_body_without_name_is_refused() {
    let app = spawn_app_with("").await;
    let (_, alice) = api_user(&app, "alice", "all").await;
    let res = create_org(&app, Some(&alice), &json!({"email": "ops@acme.example.com"})).await;
    assert_api_error(res, 400, "invalid_request").await;
}

#[actix_web::test]
async fn anonymous_callers_cannot_create_organizations() {
    let app = spawn_app_with("").await;
    let res = create_org(&app, None, &json!({"name": "acme"})).await;
    assert_api_error(res, 401, "invalid_token").await;
    assert_eq!(get_org(&app, None, "acme").await.status(), 404);
}

#[actix_web::test]
async fn a_token_without_user_admin_scope_cannot_create_organizations() {
    let app = spawn_app_with("").await;
    let (_, token) = api_user(&app, "alice", "repo:read").await;
    let res = create_org(&app, Some(&token), &json!({"name": "acme"})).await;
    assert_api_error(res, 403, "insufficient_scope").await;
    assert_eq!(get_org(&app, None, "acme").await.status(), 404);
}

#[actix_web::test]
async fn an_admin_deletes_the_organization_and_the_name_is_free_again() {
    let app = spawn_app_with("").await;
    let (_, token) = api_user(&app, "alice", "all").await;
    assert_eq!(
        create_org(&app, Some(&token), &json!({"name": "acme"})).await.status(),
        201
    );

    let res = delete_org(&app, Some(&token), "acme").await;
    assert_eq!(res.status(), 204);
    assert_api_error(get_org(&app, Some(&token), "acme").await, 404, "not_found").await;
    assert_api_error(delete_org(&app, Some(&token), "acme").await, 404, "not_found").await;

    let me: Value = app
        .client
        .get(app.url("/api/v1/user/"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("GET /api/v1/user/")
        .json()
        .await
        .expect("JSON body");
    assert!(me["organizations"].as_array().is_some_and(Vec::is_empty), "{me}");

    assert_eq!(
        create_org(&app, Some(&token), &json!({"name": "acme"})).await.status(),
        201
    );
}

#[actix_web::test]
async fn a_non_admin_cannot_delete_the_organization() {
    let app = spawn_app_with("").await;
    let (_, alice) = api_user(&app, "alice", "all").await;
    let (_, bob) = api_user(&app, "bob", "all").await;
    assert_eq!(
        create_org(&app, Some(&alice), &json!({"name": "acme"})).await.status(),
        201
    );

    assert_api_error(delete_org(&app, Some(&bob), "acme").await, 403, "insufficient_scope").await;
    assert_api_error(delete_org(&app, None, "acme").await, 401, "invalid_token").await;
    assert_eq!(get_org(&app, None, "acme").await.status(), 200, "still there");
}

#[actix_web::test]
async fn deleting_an_organization_needs_org_admin_scope() {
    let app = spawn_app_with("").await;
    let (user, alice) = api_user(&app, "alice", "all").await;
    assert_eq!(
        create_org(&app, Some(&alice), &json!({"name": "acme"})).await.status(),
        201
    );
    let narrow = crate::helpers::api_token(&app, &user, "user:admin user:read").await;
    assert_api_error(delete_org(&app, Some(&narrow), "acme").await, 403, "insufficient_scope").await;
    assert_eq!(get_org(&app, None, "acme").await.status(), 200, "still there");
}

#[actix_web::test]
async fn members_see_the_teams_with_counts_and_outsiders_do_not() {
    let fx = crate::helpers::RepoFixture::new().await;
    let (owner, owner_token) = fx.user("owner").await;
    let (_, bob) = fx.user("bob").await;
    let (_, carol) = fx.user("carol").await;
    let org = fx.org(&owner, "acme").await;
    fx.team(&owner, &org, "devs", "member", &["bob"]).await;
    fx.team(&owner, &org, "ops", "creator", &[]).await;
    fx.create_repo(&owner_token, "acme", "app", "private").await;
    crate::helpers::grant_role(&fx.app, "acme/app", crate::helpers::Grantee::Team("devs"), "write").await;

    let (status, view) = fx.call("GET", "/organization/acme", Some(&owner_token), None).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["ordered_teams"], json!(["owners", "devs", "ops"]), "{view}");
    let devs = &view["teams"]["devs"];
    assert_eq!(
        (
            devs["role"].clone(),
            devs["member_count"].clone(),
            devs["repo_count"].clone()
        ),
        (json!("member"), json!(1), json!(1)),
        "{view}"
    );
    assert_eq!(view["teams"]["owners"]["member_count"], 1);
    assert_eq!(view["teams"]["ops"]["can_view"], true, "an admin views every team");

    // A member sees the teams, and may view only the ones they are in.
    let (status, view) = fx.call("GET", "/organization/acme", Some(&bob), None).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["ordered_teams"], json!(["owners", "devs", "ops"]), "{view}");
    assert_eq!(view["teams"]["devs"]["can_view"], true);
    assert_eq!(view["teams"]["ops"]["can_view"], false);

    // Outsiders and anonymous callers see no teams.
    for token in [Some(carol.as_str()), None] {
        let (status, view) = fx.call("GET", "/organization/acme", token, None).await;
        assert_eq!(status, 200, "{view}");
        assert!(
            view.get("teams").is_none() && view.get("ordered_teams").is_none(),
            "{view}"
        );
    }
}

#[actix_web::test]
async fn an_admin_changes_the_organization_email_unless_another_account_uses_it() {
    let fx = crate::helpers::RepoFixture::new().await;
    let (owner, owner_token) = fx.user("owner").await;
    let (_, bob) = fx.user("bob").await;
    fx.org(&owner, "acme").await;
    let put = |token: String, body: Value| {
        let fx = &fx;
        async move { fx.call("PUT", "/organization/acme", Some(&token), Some(body)).await }
    };
    let (status, view) = put(owner_token.clone(), json!({"email": "ops@acme.example.com"})).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["email"], "ops@acme.example.com");
    let (_, view) = fx.call("GET", "/organization/acme", Some(&owner_token), None).await;
    assert_eq!(view["email"], "ops@acme.example.com", "the change was made");

    // An address another account has is refused, and nothing changes.
    let taken = owner.email.clone().expect("the owner has an email");
    let (status, res) = put(owner_token.clone(), json!({"email": taken})).await;
    assert_eq!(status, 400, "{res}");
    let (_, view) = fx.call("GET", "/organization/acme", Some(&owner_token), None).await;
    assert_eq!(view["email"], "ops@acme.example.com");

    // Not an admin: refused.
    let (status, _) = put(bob, json!({"email": "bob@acme.example.com"})).await;
    assert_eq!(status, 403);
    let (_, view) = fx.call("GET", "/organization/acme", Some(&owner_token), None).await;
    assert_eq!(view["email"], "ops@acme.example.com");

    let logs = crate::v1_logs::logs(&fx, "/organization/acme/logs", &owner_token).await;
    let changes = crate::v1_logs::of_kind(&logs, "org_change_email");
    assert_eq!(changes.len(), 1, "{logs:?}");
    assert_eq!(changes[0]["metadata"]["email"], "ops@acme.example.com");
}
