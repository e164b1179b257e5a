//! Robot accounts of users and organizations (quay-api.md §1.5, names §2.2).

use reqwest::{Method, Response};
use serde_json::{json, Value};

use crate::helpers::{api_token, api_user, assert_api_error, grant_role, spawn_app, spawn_app_with, Grantee, TestApp};

/// `method /api/v1{path}` with a bearer token (anonymous when `None`).
async fn call(app: &TestApp, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Response {
    let mut req = app.client.request(method.clone(), app.url(&format!("/api/v1{path}")));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

async fn get(app: &TestApp, token: &str, path: &str) -> Response {
    call(app, Method::GET, path, Some(token), None).await
}

async fn put(app: &TestApp, token: &str, path: &str, body: Option<Value>) -> Response {
    call(app, Method::PUT, path, Some(token), body).await
}

async fn post(app: &TestApp, token: &str, path: &str) -> Response {
    call(app, Method::POST, path, Some(token), None).await
}

async fn delete(app: &TestApp, token: &str, path: &str) -> Response {
    call(app, Method::DELETE, path, Some(token), None).await
}

/// The JSON body of a response with the expected status.
async fn body(res: Response, status: u16) -> Value {
    let what = format!("{} {}", res.status(), res.url());
    assert_eq!(res.status().as_u16(), status, "{what}");
    res.json().await.unwrap_or_else(|e| panic!("{what}: not JSON: {e}"))
}

async fn refused(res: Response, status: u16) -> Value {
    let kind = match status {
        400 => "invalid_request",
        401 => "invalid_token",
        403 => "insufficient_scope",
        404 => "not_found",
        other => panic!("no Quay error type for {other}"),
    };
    assert_api_error(res, status, kind).await
}

/// Creates a robot at `path` (`/user/robots/x` or an org's) without a body.
async fn create(app: &TestApp, token: &str, path: &str) -> Value {
    body(put(app, token, path, None).await, 201).await
}

/// Whether the services accept `name` with `token` as robot credentials.
async fn robot_login_works(app: &TestApp, name: &str, token: &str) -> bool {
    let services = app.services_with_stale_age(86_400).await;
    services.authenticate_robot(name, token).await.is_ok()
}

fn robot_names(list: &Value) -> Vec<String> {
    let robots = list["robots"]
        .as_array()
        .unwrap_or_else(|| panic!("no `robots` in {list}"));
    robots
        .iter()
        .map(|r| r["name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn token_of(robot: &Value) -> String {
    let t = robot["token"].as_str().unwrap_or_else(|| panic!("no token in {robot}"));
    assert_eq!(t.len(), 64, "{t}");
    assert!(t.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()), "{t}");
    t.to_owned()
}

/// Alice owns `acme`; bob is in its `devs` team (role member). Returns
/// (alice's token, bob's token).
async fn org_with_member(app: &TestApp) -> (String, String) {
    let (_, alice) = api_user(app, "alice", "all").await;
    let (_, bob) = api_user(app, "bob", "all").await;
    let acme = Some(json!({"name": "acme"}));
    assert_eq!(
        call(app, Method::POST, "/organization/", Some(&alice), acme)
            .await
            .status(),
        201
    );
    let member = Some(json!({"role": "member"}));
    assert_eq!(
        put(app, &alice, "/organization/acme/team/devs", member).await.status(),
        200
    );
    assert_eq!(
        put(app, &alice, "/organization/acme/team/devs/members/bob", None)
            .await
            .status(),
        200
    );
    (alice, bob)
}

#[actix_web::test]
async fn a_user_creates_a_robot_and_reads_it_back_with_its_token() {
    let app = spawn_app().await;
    let (_, alice) = api_user(&app, "alice", "all").await;
    let new = Some(json!({"description": "CI pusher", "unstructured_metadata": {"team": "ci", "n": 1}}));
    let robot = body(put(&app, &alice, "/user/robots/builder", new).await, 201).await;
    assert_eq!(robot["name"], "alice+builder");
    assert_eq!(robot["description"], "CI pusher");
    assert_eq!(robot["unstructured_metadata"], json!({"team": "ci", "n": 1}));
    assert_eq!(robot["last_accessed"], Value::Null);
    assert!(
        robot["created"].as_str().unwrap_or_default().ends_with(" -0000"),
        "{robot}"
    );
    let token = token_of(&robot);

    assert_eq!(body(get(&app, &alice, "/user/robots/builder").await, 200).await, robot);
    assert!(robot_login_works(&app, "alice+builder", &token).await);
}

#[actix_web::test]
async fn a_robot_is_created_without_a_body_and_robots_get_distinct_tokens() {
    let app = spawn_app().await;
    let (_, alice) = api_user(&app, "alice", "all").await;
    let one = create(&app, &alice, "/user/robots/one").await;
    let two = create(&app, &alice, "/user/robots/two").await;
    assert_eq!(one["description"], "");
    assert_eq!(one["unstructured_metadata"], json!({}));
    assert_ne!(token_of(&one), token_of(&two));
}

#[actix_web::test]
async fn robot_lists_show_tokens_unless_asked_not_to_and_honour_limit() {
    let app = spawn_app().await;
    let (_, alice) = api_user(&app, "alice", "all").await;
    for short in ["zeta", "alpha", "mid"] {
        create(&app, &alice, &format!("/user/robots/{short}")).await;
    }
    let list = body(get(&app, &alice, "/user/robots").await, 200).await;
    assert_eq!(robot_names(&list), ["alice+alpha", "alice+mid", "alice+zeta"]);
    let first = &list["robots"][0];
    token_of(first);
    assert_eq!(first["unstructured_metadata"], json!({}));
    assert!(first.get("teams").is_none(), "{first}");

    let list = body(get(&app, &alice, "/user/robots?token=false").await, 200).await;
    assert!(list["robots"][0].get("token").is_none(), "{list}");
    let list = body(get(&app, &alice, "/user/robots?limit=2").await, 200).await;
    assert_eq!(robot_names(&list), ["alice+alpha", "alice+mid"]);
}

#[actix_web::test]
async fn robot_names_follow_the_namespace_rule_and_must_be_new() {
    let app = spawn_app().await;
    let (_, alice) = api_user(&app, "alice", "all").await;
    for bad in ["Builder", "b", "-b", "bad..name", "bad_"] {
        refused(put(&app, &alice, &format!("/user/robots/{bad}"), None).await, 400).await;
    }
    create(&app, &alice, "/user/robots/builder").await;
    let error = refused(put(&app, &alice, "/user/robots/builder", None).await, 400).await;
    assert_eq!(error["detail"], "Existing robot with name: alice+builder");
}

#[actix_web::test]
async fn a_robot_description_over_255_characters_or_non_object_metadata_is_refused() {
    let app = spawn_app().await;
    let (_, alice) = api_user(&app, "alice", "all").await;
    let long = Some(json!({"description": "d".repeat(256)}));
    refused(put(&app, &alice, "/user/robots/builder", long).await, 400).await;
    let list = Some(json!({"unstructured_metadata": [1, 2]}));
    refused(put(&app, &alice, "/user/robots/builder", list).await, 400).await;
    let broken = app
        .client
        .put(app.url("/api/v1/user/robots/builder"))
        .bearer_auth(&alice)
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("PUT robot");
    refused(broken, 400).await;
    let longest = Some(json!({"description": "d".repeat(255)}));
    assert_eq!(put(&app, &alice, "/user/robots/builder", longest).await.status(), 201);
}

#[actix_web::test]
async fn a_missing_robot_is_a_400_as_in_quay() {
    let app = spawn_app().await;
    let (_, alice) = api_user(&app, "alice", "all").await;
    let calls = [
        (Method::GET, "/user/robots/nope"),
        (Method::DELETE, "/user/robots/nope"),
        (Method::POST, "/user/robots/nope/regenerate"),
        (Method::GET, "/user/robots/nope/permissions"),
    ];
    for (method, path) in calls {
        let error = refused(call(&app, method, path, Some(&alice), None).await, 400).await;
        assert_eq!(error["detail"], "Could not find robot with username: alice+nope");
    }
}

#[actix_web::test]
async fn regenerating_a_token_invalidates_the_old_one_at_once() {
    let app = spawn_app().await;
    let (_, alice) = api_user(&app, "alice", "all").await;
    let old = token_of(&create(&app, &alice, "/user/robots/builder").await);

    let fresh = body(post(&app, &alice, "/user/robots/builder/regenerate").await, 200).await;
    assert_eq!(fresh["name"], "alice+builder");
    let new = token_of(&fresh);
    assert_ne!(new, old);

    assert!(!robot_login_works(&app, "alice+builder", &old).await);
    assert!(robot_login_works(&app, "alice+builder", &new).await);
    let shown = body(get(&app, &alice, "/user/robots/builder").await, 200).await;
    assert_eq!(token_of(&shown), new);
}

#[actix_web::test]
async fn a_deleted_robot_is_gone_and_can_no_longer_log_in() {
    let app = spawn_app().await;
    let (alice, _) = org_with_member(&app).await;
    let token = token_of(&create(&app, &alice, "/organization/acme/robots/ci").await);
    assert_eq!(
        put(&app, &alice, "/organization/acme/team/devs/members/acme+ci", None)
            .await
            .status(),
        200
    );
    grant_role(&app, "acme/api", Grantee::Account("acme+ci"), "write").await;

    assert_eq!(delete(&app, &alice, "/organization/acme/robots/ci").await.status(), 204);
    refused(get(&app, &alice, "/organization/acme/robots/ci").await, 400).await;
    assert!(!robot_login_works(&app, "acme+ci", &token).await);
    let members = body(get(&app, &alice, "/organization/acme/team/devs/members").await, 200).await;
    assert_eq!(members["members"].as_array().map(Vec::len), Some(1), "{members}");
    // The name is free again, with a new token and no old roles.
    let again = create(&app, &alice, "/organization/acme/robots/ci").await;
    assert_ne!(token_of(&again), token);
    let perms = body(get(&app, &alice, "/organization/acme/robots/ci/permissions").await, 200).await;
    assert_eq!(perms, json!({"permissions": []}));
}

#[actix_web::test]
async fn robot_credentials_are_refused_when_wrong_or_when_the_robot_is_disabled() {
    let app = spawn_app().await;
    let (_, alice) = api_user(&app, "alice", "all").await;
    let token = token_of(&create(&app, &alice, "/user/robots/builder").await);
    assert!(!robot_login_works(&app, "alice+builder", &token.to_lowercase()).await);
    assert!(!robot_login_works(&app, "alice+builder", &token[..63]).await);
    assert!(!robot_login_works(&app, "alice+other", &token).await);
    assert!(!robot_login_works(&app, "alice", &token).await);

    let services = app.services_with_stale_age(86_400).await;
    let account = services
        .authenticate_robot("alice+builder", &token)
        .await
        .expect("robot login");
    assert_eq!(account.username, "alice+builder");
    assert!(account.robot);
    let list = body(get(&app, &alice, "/user/robots").await, 200).await;
    assert!(
        list["robots"][0]["last_accessed"].is_string(),
        "a login is recorded: {list}"
    );

    let off = registry::service::UserUpdate {
        enabled: Some(false),
        ..Default::default()
    };
    services.update_user(&account, off).await.expect("disable robot");
    assert!(!robot_login_works(&app, "alice+builder", &token).await);
}

#[actix_web::test]
async fn robots_disallow_refuses_robot_creation() {
    let app = spawn_app_with("ROBOTS_DISALLOW: true").await;
    let (_, alice) = api_user(&app, "alice", "all").await;
    let error = refused(put(&app, &alice, "/user/robots/builder", None).await, 400).await;
    assert_eq!(
        error["detail"],
        "Robot accounts have been disabled. Please contact your administrator."
    );
    assert_eq!(
        body(get(&app, &alice, "/user/robots").await, 200).await,
        json!({"robots": []})
    );
}

#[actix_web::test]
async fn anonymous_callers_cannot_touch_any_robot() {
    let app = spawn_app().await;
    let (alice, _) = org_with_member(&app).await;
    create(&app, &alice, "/user/robots/ci").await;
    create(&app, &alice, "/organization/acme/robots/ci").await;
    for base in ["/user/robots", "/organization/acme/robots"] {
        let calls = [
            (Method::GET, base.to_owned()),
            (Method::GET, format!("{base}/ci")),
            (Method::PUT, format!("{base}/new")),
            (Method::DELETE, format!("{base}/ci")),
            (Method::POST, format!("{base}/ci/regenerate")),
            (Method::GET, format!("{base}/ci/permissions")),
        ];
        for (method, path) in calls {
            refused(call(&app, method, &path, None, None).await, 401).await;
        }
    }
}

#[actix_web::test]
async fn user_robots_need_a_token_with_user_admin_scope() {
    let app = spawn_app().await;
    let (owner, alice) = api_user(&app, "alice", "all").await;
    create(&app, &alice, "/user/robots/builder").await;
    let narrow = api_token(&app, &owner, "user:read repo:admin org:admin").await;
    let calls = [
        (Method::GET, "/user/robots"),
        (Method::GET, "/user/robots/builder"),
        (Method::PUT, "/user/robots/other"),
        (Method::DELETE, "/user/robots/builder"),
        (Method::POST, "/user/robots/builder/regenerate"),
        (Method::GET, "/user/robots/builder/permissions"),
    ];
    for (method, path) in calls {
        refused(call(&app, method, path, Some(&narrow), None).await, 403).await;
    }
}

#[actix_web::test]
async fn another_user_only_ever_reaches_their_own_robots() {
    let app = spawn_app().await;
    let (_, alice) = api_user(&app, "alice", "all").await;
    let (_, bob) = api_user(&app, "bob", "all").await;
    create(&app, &alice, "/user/robots/builder").await;

    assert_eq!(
        body(get(&app, &bob, "/user/robots").await, 200).await,
        json!({"robots": []})
    );
    let error = refused(get(&app, &bob, "/user/robots/builder").await, 400).await;
    assert_eq!(error["detail"], "Could not find robot with username: bob+builder");
    refused(delete(&app, &bob, "/user/robots/builder").await, 400).await;
    let list = body(get(&app, &alice, "/user/robots").await, 200).await;
    assert_eq!(robot_names(&list), ["alice+builder"]);
}

#[actix_web::test]
async fn robots_of_a_namespace_with_an_underscore_do_not_include_lookalikes() {
    let app = spawn_app().await;
    let (_, under) = api_user(&app, "a_b", "all").await;
    let (_, other) = api_user(&app, "axb", "all").await;
    create(&app, &other, "/user/robots/bot").await;
    create(&app, &under, "/user/robots/bot").await;
    assert_eq!(
        robot_names(&body(get(&app, &under, "/user/robots").await, 200).await),
        ["a_b+bot"]
    );
    assert_eq!(
        robot_names(&body(get(&app, &other, "/user/robots").await, 200).await),
        ["axb+bot"]
    );
}

#[actix_web::test]
async fn an_org_admin_manages_the_organizations_robots() {
    let app = spawn_app().await;
    let (alice, _) = org_with_member(&app).await;
    let new = Some(json!({"description": "deployer"}));
    let robot = body(put(&app, &alice, "/organization/acme/robots/deploy", new).await, 201).await;
    assert_eq!(robot["name"], "acme+deploy");
    assert_eq!(robot["description"], "deployer");
    let token = token_of(&robot);

    assert_eq!(
        body(get(&app, &alice, "/organization/acme/robots/deploy").await, 200).await,
        robot
    );
    let list = body(get(&app, &alice, "/organization/acme/robots").await, 200).await;
    assert_eq!(robot_names(&list), ["acme+deploy"]);
    assert_eq!(token_of(&list["robots"][0]), token);
    let own = body(get(&app, &alice, "/user/robots").await, 200).await;
    assert_eq!(own, json!({"robots": []}), "org robots are not the admin's own");

    let fresh = body(
        post(&app, &alice, "/organization/acme/robots/deploy/regenerate").await,
        200,
    )
    .await;
    assert_ne!(token_of(&fresh), token);
    assert_eq!(
        delete(&app, &alice, "/organization/acme/robots/deploy").await.status(),
        204
    );
    let list = body(get(&app, &alice, "/organization/acme/robots").await, 200).await;
    assert_eq!(list, json!({"robots": []}));
}

#[actix_web::test]
async fn an_org_member_lists_robots_without_tokens_and_changes_nothing() {
    let app = spawn_app().await;
    let (alice, bob) = org_with_member(&app).await;
    create(&app, &alice, "/organization/acme/robots/ci").await;

    for query in ["", "?token=true", "?token=true&permissions=true"] {
        let list = body(get(&app, &bob, &format!("/organization/acme/robots{query}")).await, 200).await;
        assert_eq!(robot_names(&list), ["acme+ci"]);
        let robot = &list["robots"][0];
        assert!(robot.get("token").is_none(), "members see no token: {robot}");
        assert!(robot.get("teams").is_none(), "members see no permissions: {robot}");
    }
    let calls = [
        (Method::GET, "/organization/acme/robots/ci"),
        (Method::PUT, "/organization/acme/robots/mine"),
        (Method::DELETE, "/organization/acme/robots/ci"),
        (Method::POST, "/organization/acme/robots/ci/regenerate"),
        (Method::GET, "/organization/acme/robots/ci/permissions"),
    ];
    for (method, path) in calls {
        refused(call(&app, method, path, Some(&bob), None).await, 403).await;
    }
}

#[actix_web::test]
async fn outsiders_and_narrow_tokens_cannot_see_organization_robots() {
    let app = spawn_app().await;
    let (alice, _) = org_with_member(&app).await;
    create(&app, &alice, "/organization/acme/robots/ci").await;
    let (_, carol) = api_user(&app, "carol", "all").await;
    let services = app.services_with_stale_age(86_400).await;
    let owner = services.account("alice").await.expect("lookup").expect("alice exists");
    let narrow = api_token(&app, &owner, "user:admin user:read repo:admin").await;
    for token in [&carol, &narrow] {
        let calls = [
            (Method::GET, "/organization/acme/robots"),
            (Method::GET, "/organization/acme/robots/ci"),
            (Method::PUT, "/organization/acme/robots/new"),
            (Method::DELETE, "/organization/acme/robots/ci"),
            (Method::POST, "/organization/acme/robots/ci/regenerate"),
            (Method::GET, "/organization/acme/robots/ci/permissions"),
        ];
        for (method, path) in calls {
            refused(call(&app, method, path, Some(token), None).await, 403).await;
        }
    }
    refused(get(&app, &alice, "/organization/nothing/robots").await, 404).await;
}

#[actix_web::test]
async fn robot_permissions_and_the_permission_listing_show_teams_and_repositories() {
    let app = spawn_app().await;
    let (alice, _) = org_with_member(&app).await;
    create(&app, &alice, "/organization/acme/robots/ci").await;
    create(&app, &alice, "/organization/acme/robots/idle").await;
    assert_eq!(
        put(&app, &alice, "/organization/acme/team/devs/members/acme+ci", None)
            .await
            .status(),
        200
    );
    grant_role(&app, "acme/api", Grantee::Account("acme+ci"), "write").await;
    grant_role(&app, "acme/web", Grantee::Account("acme+ci"), "read").await;
    grant_role(&app, "acme/web", Grantee::Team("devs"), "admin").await;

    let perms = body(get(&app, &alice, "/organization/acme/robots/ci/permissions").await, 200).await;
    let expected = json!({"permissions": [
        {"repository": {"name": "api", "is_public": false}, "role": "write"},
        {"repository": {"name": "web", "is_public": false}, "role": "read"},
    ]});
    assert_eq!(perms, expected, "only direct roles, as in Quay");

    let list = body(
        get(&app, &alice, "/organization/acme/robots?permissions=true&token=false").await,
        200,
    )
    .await;
    assert_eq!(robot_names(&list), ["acme+ci", "acme+idle"]);
    let ci = &list["robots"][0];
    assert_eq!(ci["teams"][0]["name"], "devs");
    assert_eq!(ci["teams"][0]["avatar"]["kind"], "team");
    assert_eq!(ci["repositories"], json!(["api", "web"]));
    assert!(
        ci.get("unstructured_metadata").is_none() && ci.get("token").is_none(),
        "{ci}"
    );
    let idle = &list["robots"][1];
    assert_eq!((&idle["teams"], &idle["repositories"]), (&json!([]), &json!([])));
}

/// The `user:password` inside a Docker `config.json` for `host`.
fn docker_config_login(config: &Value, host: &str) -> (String, String) {
    use base64::Engine as _;
    let auth = config["auths"][host]["auth"]
        .as_str()
        .unwrap_or_else(|| panic!("no auths.{host}.auth in {config}"));
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(auth)
        .expect("auth is base64");
    let text = String::from_utf8(decoded).expect("auth is UTF-8");
    let (user, pass) = text.split_once(':').expect("auth is user:password");
    (user.to_owned(), pass.to_owned())
}

#[actix_web::test]
async fn an_org_admin_downloads_robot_credentials_that_log_in_in_every_format() {
    use base64::Engine as _;
    let app = spawn_app().await;
    let (alice, _bob) = org_with_member(&app).await;
    let robot = create(&app, &alice, "/organization/acme/robots/deployer").await;
    let token = token_of(&robot);
    let host = app
        .url("")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();

    // Kubernetes pull Secret: a dockerconfigjson Secret named after the robot.
    let res = get(
        &app,
        &alice,
        "/organization/acme/robots/deployer/credentials/kubernetes",
    )
    .await;
    assert_eq!(res.status(), 200);
    assert!(
        crate::helpers::header(&res, "Content-Disposition").contains("acme-deployer-secret.yml"),
        "{:?}",
        res.headers()
    );
    let secret: serde_yaml::Value = serde_yaml::from_str(&res.text().await.expect("body")).expect("Secret is YAML");
    assert_eq!(secret["kind"].as_str(), Some("Secret"));
    assert_eq!(secret["type"].as_str(), Some("kubernetes.io/dockerconfigjson"));
    assert_eq!(secret["metadata"]["name"].as_str(), Some("acme-deployer-pull-secret"));
    let inner = secret["data"][".dockerconfigjson"].as_str().expect("dockerconfigjson");
    let inner = base64::engine::general_purpose::STANDARD
        .decode(inner)
        .expect("base64 data");
    let inner: Value = serde_json::from_slice(&inner).expect("dockerconfigjson is JSON");
    assert_eq!(
        docker_config_login(&inner, &host),
        ("acme+deployer".to_owned(), token.clone())
    );

    // Docker config.json.
    let res = get(
        &app,
        &alice,
        "/organization/acme/robots/deployer/credentials/docker-config",
    )
    .await;
    let config = body(res, 200).await;
    let (user, pass) = docker_config_login(&config, &host);
    assert!(
        robot_login_works(&app, &user, &pass).await,
        "config.json credentials log in"
    );

    // docker login / podman login lines.
    for client in ["docker", "podman"] {
        let res = get(
            &app,
            &alice,
            &format!("/organization/acme/robots/deployer/credentials/{client}-login"),
        )
        .await;
        assert_eq!(res.status(), 200);
        let line = res.text().await.expect("body");
        assert_eq!(
            line.trim(),
            format!("{client} login -u='acme+deployer' -p='{token}' {host}")
        );
    }

    // A user's own robot works the same way.
    let mine = create(&app, &alice, "/user/robots/local").await;
    let res = get(&app, &alice, "/user/robots/local/credentials/docker-config").await;
    let (user, pass) = docker_config_login(&body(res, 200).await, &host);
    assert_eq!(
        (user.as_str(), pass.as_str()),
        ("alice+local", token_of(&mine).as_str())
    );
}

#[actix_web::test]
async fn robot_credentials_are_refused_to_members_anonymous_callers_and_unknown_formats() {
    let app = spawn_app().await;
    let (alice, bob) = org_with_member(&app).await;
    create(&app, &alice, "/organization/acme/robots/deployer").await;
    let path = "/organization/acme/robots/deployer/credentials/kubernetes";
    refused(get(&app, &bob, path).await, 403).await;
    refused(call(&app, Method::GET, path, None, None).await, 401).await;
    refused(
        get(&app, &alice, "/organization/acme/robots/deployer/credentials/mesos").await,
        404,
    )
    .await;
    let missing = get(&app, &alice, "/organization/acme/robots/ghost/credentials/kubernetes").await;
    assert_eq!(missing.status(), 400, "unknown robots answer as GET robot does");
    // After regeneration the download carries the new token.
    let fresh = body(
        post(&app, &alice, "/organization/acme/robots/deployer/regenerate").await,
        200,
    )
    .await;
    let res = get(
        &app,
        &alice,
        "/organization/acme/robots/deployer/credentials/podman-login",
    )
    .await;
    let line = res.text().await.expect("body");
    assert!(line.contains(&token_of(&fresh)), "{line}");
}
