//! Directory (LDAP) sign-in and team syncing against a real OpenLDAP server
//! (`ldap_server`): `AUTHENTICATION_TYPE: LDAP`, accounts made on first
//! sign-in with the directory's email, the user and superuser filters, a
//! directory that is down (503, never a refused password), and teams
//! synced to directory groups (quay seed guide §14.4.4).

use std::time::Duration;

use base64::Engine as _;
use reqwest::{Method, Response};
use serde_json::{json, Value};

use crate::helpers::{api_token, api_user, spawn_app_with, TestApp};
use crate::ldap_server::{self, staff, LdapServer};

/// The registry on the test directory; the team sync loop is off (tests
/// run passes themselves).
async fn app_with_directory(extra: &str) -> (LdapServer, TestApp) {
    let ldap = ldap_server::start();
    let app = spawn_app_with(&ldap_server::config(
        &ldap,
        &format!("FEATURE_TEAM_SYNCING: true\nTEAM_SYNC_WORKER_FREQUENCY: 0\n{extra}"),
    ))
    .await;
    (ldap, app)
}

async fn sign_in(app: &TestApp, username: &str, password: &str) -> Response {
    app.client
        .post(app.url("/api/v1/signin"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .expect("POST /api/v1/signin")
}

/// `GET /v2/auth` with Basic credentials and a scope.
async fn registry_login(app: &TestApp, user: &str, secret: &str, scope: &str) -> Response {
    app.client
        .get(app.url(&format!("/v2/auth?service=registry&scope={scope}")))
        .basic_auth(user, Some(secret))
        .send()
        .await
        .expect("GET /v2/auth")
}

async fn call(app: &TestApp, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
    let mut req = app.client.request(method.clone(), app.url(&format!("/api/v1{path}")));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let status = res.status().as_u16();
    let text = res.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The repository actions a registry token grants.
fn granted(token_response: &Value) -> Vec<String> {
    let token = token_response["token"].as_str().expect("a token");
    let payload = token.split('.').nth(1).expect("a JWT");
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("base64url claims"),
    )
    .expect("JSON claims");
    let mut actions: Vec<String> = claims["access"][0]["actions"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    actions.sort();
    actions
}

/// Signs a directory user in (which creates their account) and returns the
/// account with an access token of every scope.
async fn directory_user(app: &TestApp, uid: &str, password: &str) -> (registry::db::models::Account, String) {
    let res = sign_in(app, uid, password).await;
    assert_eq!(res.status(), 200, "signing {uid} in");
    let account = app.server.account(uid).await.expect("lookup").expect("account made");
    let token = api_token(app, &account, "all").await;
    (account, token)
}

#[actix_web::test]
async fn directory_user_signs_in_and_gets_an_account_with_the_directory_email() {
    let (_ldap, app) = app_with_directory("").await;
    assert!(app.server.account("alice").await.expect("lookup").is_none());
    let res = sign_in(&app, "alice", "alice-pass").await;
    assert_eq!(res.status(), 200);
    assert!(crate::helpers::set_session_cookie(&res).is_some(), "a session starts");
    let alice = app
        .server
        .account("alice")
        .await
        .expect("lookup")
        .expect("account made");
    assert_eq!(alice.email.as_deref(), Some("alice@corp.example"));
    assert!(alice.password_hash.is_none(), "the directory keeps the password");
    // The email signs in too, and finds the same account.
    assert_eq!(sign_in(&app, "alice@corp.example", "alice-pass").await.status(), 200);
    let again = app.server.account("alice").await.expect("lookup").expect("account");
    assert_eq!(again.id, alice.id);
    // Accounts of a directory are not made through the API.
    let (status, _) = call(
        &app,
        Method::POST,
        "/user/",
        None,
        Some(json!({"username": "mallory", "password": "password123", "email": "m@corp.example"})),
    )
    .await;
    assert_eq!(status, 404);
}

#[actix_web::test]
async fn wrong_password_unknown_user_and_users_outside_the_filter_are_refused() {
    let (_ldap, app) = app_with_directory("").await;
    for (user, password) in [
        ("alice", "wrong-pass"),
        ("alice", ""),
        ("nobody", "whatever"),
        ("eve", "eve-pass"),
    ] {
        let res = sign_in(&app, user, password).await;
        assert_eq!(res.status(), 403, "{user}/{password}");
        let body: Value = res.json().await.expect("JSON");
        assert_eq!(body["invalidCredentials"], true, "{user}: {body}");
        let res = registry_login(
            &app,
            user,
            if password.is_empty() { "x" } else { password },
            "repository:alice/app:pull",
        )
        .await;
        assert_eq!(res.status(), 401, "{user} on /v2/auth");
    }
    assert!(
        app.server.account("eve").await.expect("lookup").is_none(),
        "no account for eve"
    );
}

#[actix_web::test]
async fn registry_clients_log_in_with_directory_credentials() {
    let (_ldap, app) = app_with_directory("CREATE_NAMESPACE_ON_PUSH: true\n").await;
    let res = registry_login(&app, "alice", "alice-pass", "repository:alice/app:push,pull").await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.expect("JSON");
    assert_eq!(granted(&body), ["pull", "push"], "alice may push to her namespace");
    // Another user's namespace: nothing granted.
    let res = registry_login(&app, "bob", "bob-pass", "repository:alice/app:push,pull").await;
    assert_eq!(res.status(), 200);
    assert!(granted(&res.json().await.expect("JSON")).is_empty());
    // Basic on /v2/ itself.
    let res = app
        .client
        .get(app.url("/v2/"))
        .basic_auth("alice", Some("alice-pass"))
        .send()
        .await
        .expect("GET /v2/");
    assert_eq!(res.status(), 200);
    let res = app
        .client
        .get(app.url("/v2/"))
        .basic_auth("alice", Some("nope"))
        .send()
        .await
        .expect("GET /v2/");
    assert_eq!(res.status(), 401);
}

#[actix_web::test]
async fn local_passwords_do_not_sign_in_when_the_directory_decides() {
    let (_ldap, app) = app_with_directory("SUPER_USERS: [localadmin]\n").await;
    let (_, token) = api_user(&app, "localadmin", "all").await;
    assert_eq!(sign_in(&app, "localadmin", "password123").await.status(), 403);
    assert_eq!(
        registry_login(&app, "localadmin", "password123", "repository:localadmin/x:pull")
            .await
            .status(),
        401
    );
    // Its OAuth token still works, as $oauthtoken too.
    let (status, _) = call(&app, Method::GET, "/superuser/users/", Some(&token), None).await;
    assert_eq!(status, 200);
    let res = registry_login(&app, "$oauthtoken", &token, "repository:localadmin/x:pull").await;
    assert_eq!(res.status(), 200);
}

#[actix_web::test]
async fn robots_still_log_in_beside_a_directory() {
    let (_ldap, app) = app_with_directory("").await;
    let (carol, _) = directory_user(&app, "carol", "carol-pass").await;
    let org = app
        .server
        .create_organization(&carol, "corp", None)
        .await
        .expect("organization");
    let short = registry::service::RobotShortName::parse("deployer").expect("robot name");
    let robot = app
        .server
        .create_robot(
            &org,
            &short,
            registry::service::NewRobot {
                description: None,
                unstructured_metadata: None,
            },
        )
        .await
        .expect("robot");
    let res = registry_login(&app, robot.name(), &robot.token, "repository:corp/app:pull").await;
    assert_eq!(res.status(), 200);
    let res = registry_login(&app, robot.name(), "wrong-token", "repository:corp/app:pull").await;
    assert_eq!(res.status(), 401);
}

#[actix_web::test]
async fn an_email_change_in_the_directory_updates_the_same_account_and_a_new_uid_cannot_take_it() {
    let (ldap, app) = app_with_directory("").await;
    let (alice, _) = directory_user(&app, "alice", "alice-pass").await;
    ldap.set_email("alice", "alice.new@corp.example");
    assert_eq!(sign_in(&app, "alice", "alice-pass").await.status(), 200);
    let after = app.server.account("alice").await.expect("lookup").expect("account");
    assert_eq!(after.id, alice.id);
    assert_eq!(after.email.as_deref(), Some("alice.new@corp.example"));
    // A renamed directory user keeping the email: refused, as in Quay.
    ldap.add_person(&staff("alice2", "alice.new@corp.example", "alice2-pass"));
    let res = sign_in(&app, "alice2", "alice2-pass").await;
    assert_eq!(res.status(), 403);
    let body: Value = res.json().await.expect("JSON");
    assert_eq!(body["message"], "Email has already been used: alice.new@corp.example");
    assert!(app.server.account("alice2").await.expect("lookup").is_none());
}

#[actix_web::test]
async fn the_superuser_filter_makes_directory_superusers() {
    let (_ldap, app) = app_with_directory("").await;
    let (_, carol) = directory_user(&app, "carol", "carol-pass").await;
    let (_, alice) = directory_user(&app, "alice", "alice-pass").await;
    let (status, body) = call(&app, Method::GET, "/superuser/users/", Some(&carol), None).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = call(&app, Method::GET, "/superuser/users/", Some(&alice), None).await;
    assert_eq!(status, 403);
}

#[actix_web::test]
async fn a_directory_that_is_down_is_a_503_never_a_refused_password() {
    let (mut ldap, app) = app_with_directory("").await;
    ldap.stop();
    let res = sign_in(&app, "alice", "alice-pass").await;
    assert_eq!(res.status(), 503);
    let body: Value = res.json().await.expect("JSON");
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("directory"), "{body}");
    let res = registry_login(&app, "alice", "alice-pass", "repository:alice/app:pull").await;
    assert_eq!(res.status(), 503);
    let res = app
        .client
        .get(app.url("/v2/"))
        .basic_auth("alice", Some("alice-pass"))
        .send()
        .await
        .expect("GET /v2/");
    assert_eq!(res.status(), 503);
}

/// Carol (a directory superuser) owns `corp` with an empty team `devs`;
/// alice administers `corp` too but is no superuser; bob is outside.
async fn synced_org(app: &TestApp) -> (String, String, String) {
    let (carol_account, carol) = directory_user(app, "carol", "carol-pass").await;
    let (_, alice) = directory_user(app, "alice", "alice-pass").await;
    let (_, bob) = directory_user(app, "bob", "bob-pass").await;
    let org = app
        .server
        .create_organization(&carol_account, "corp", None)
        .await
        .expect("organization");
    let owners = app.server.team(&org, "owners").await.expect("lookup").expect("owners");
    app.server
        .add_team_member(&org, &owners, "alice")
        .await
        .expect("alice admin");
    let (status, body) = call(
        app,
        Method::PUT,
        "/organization/corp/team/devs",
        Some(&carol),
        Some(json!({"role": "member"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    (carol, alice, bob)
}

/// The names in team `corp/devs` (sorted) and the members view.
async fn team_members(app: &TestApp, token: &str) -> (Vec<String>, Value) {
    let (_, body) = call(
        app,
        Method::GET,
        "/organization/corp/team/devs/members",
        Some(token),
        None,
    )
    .await;
    let mut names: Vec<String> = body["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| m["name"].as_str().unwrap_or_default().to_owned())
        .collect();
    names.sort();
    (names, body)
}

const SYNCING: &str = "/organization/corp/team/devs/syncing";
const DEVS_GROUP: &str = "cn=devs,ou=groups";

#[actix_web::test]
async fn team_syncing_needs_an_org_admin_who_is_a_superuser_and_a_real_group() {
    let (_ldap, app) = app_with_directory("").await;
    let (carol, alice, bob) = synced_org(&app).await;
    let group = Some(json!({"group_dn": DEVS_GROUP}));
    assert_eq!(call(&app, Method::POST, SYNCING, None, group.clone()).await.0, 401);
    assert_eq!(
        call(&app, Method::POST, SYNCING, Some(&alice), group.clone()).await.0,
        403
    );
    assert_eq!(
        call(&app, Method::POST, SYNCING, Some(&bob), group.clone()).await.0,
        403
    );
    assert_eq!(call(&app, Method::DELETE, SYNCING, Some(&alice), None).await.0, 403);
    for bad in [json!({}), json!({"group_dn": "cn=nosuch,ou=groups"})] {
        let (status, body) = call(&app, Method::POST, SYNCING, Some(&carol), Some(bad.clone())).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(
            body["error_message"]
                .as_str()
                .unwrap_or_default()
                .starts_with("Could not sync to group"),
            "{body}"
        );
    }
    let (status, body) = call(&app, Method::POST, SYNCING, Some(&carol), group.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], "devs");
    let (_, members) = call(
        &app,
        Method::GET,
        "/organization/corp/team/devs/members",
        Some(&carol),
        None,
    )
    .await;
    assert_eq!(members["synced"]["service"], "ldap", "{members}");
    assert_eq!(members["synced"]["config"]["group_dn"], DEVS_GROUP);
    assert_eq!(members["can_sync"]["service"], "ldap");
    assert_eq!(members["can_sync"]["base_dn"], "dc=example,dc=org");
    let (_, org) = call(&app, Method::GET, "/organization/corp", Some(&carol), None).await;
    assert_eq!(org["teams"]["devs"]["is_synced"], true, "{org}");
    assert_eq!(org["teams"]["owners"]["is_synced"], false, "{org}");
    // The org admin who is no superuser sees that it is synced, not how.
    let (_, members) = call(
        &app,
        Method::GET,
        "/organization/corp/team/devs/members",
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(members["synced"], json!({"service": "ldap"}), "{members}");
    assert!(members.get("can_sync").is_none(), "{members}");
}

#[actix_web::test]
async fn nonsuperuser_setup_lets_org_admins_sync_teams() {
    let (_ldap, app) = app_with_directory("FEATURE_NONSUPERUSER_TEAM_SYNCING_SETUP: true\n").await;
    let (_, alice, bob) = synced_org(&app).await;
    let group = Some(json!({"group_dn": DEVS_GROUP}));
    assert_eq!(
        call(&app, Method::POST, SYNCING, Some(&bob), group.clone()).await.0,
        403
    );
    assert_eq!(call(&app, Method::POST, SYNCING, Some(&alice), group).await.0, 200);
}

#[actix_web::test]
async fn a_sync_pass_keeps_the_team_equal_to_the_group_and_manual_changes_are_refused() {
    let (ldap, app) = app_with_directory("").await;
    let (carol, _, _) = synced_org(&app).await;
    let org = app.server.account("corp").await.expect("lookup").expect("corp");
    let robot = app
        .server
        .create_robot(
            &org,
            &registry::service::RobotShortName::parse("bot").expect("name"),
            registry::service::NewRobot {
                description: None,
                unstructured_metadata: None,
            },
        )
        .await
        .expect("robot");
    let (status, _) = call(
        &app,
        Method::POST,
        SYNCING,
        Some(&carol),
        Some(json!({"group_dn": DEVS_GROUP})),
    )
    .await;
    assert_eq!(status, 200);
    // Manual changes of users are refused; robots may still join.
    let (status, body) = call(
        &app,
        Method::PUT,
        "/organization/corp/team/devs/members/carol",
        Some(&carol),
        None,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error_message"], "Cannot call this method on an auth-synced team");
    let robot_path = format!("/organization/corp/team/devs/members/{}", robot.name());
    assert_eq!(call(&app, Method::PUT, &robot_path, Some(&carol), None).await.0, 200);

    // dave is in the group but has never signed in: the pass makes his account.
    ldap.add_person(&staff("dave", "dave@corp.example", "dave-pass"));
    ldap.add_member("devs", "dave");
    let report = app
        .server
        .sync_directory_teams(Duration::ZERO)
        .await
        .expect("sync pass");
    assert_eq!((report.teams, report.added, report.removed), (1, 3, 0), "{report:?}");
    let (names, body) = team_members(&app, &carol).await;
    assert_eq!(names, ["alice", "bob", "corp+bot", "dave"]);
    assert!(body["synced"]["last_updated"].is_string(), "{body}");
    let dave = app
        .server
        .account("dave")
        .await
        .expect("lookup")
        .expect("dave's account");
    assert_eq!(dave.email.as_deref(), Some("dave@corp.example"));

    ldap.remove_member("devs", "bob");
    let report = app
        .server
        .sync_directory_teams(Duration::ZERO)
        .await
        .expect("sync pass");
    assert_eq!((report.added, report.removed), (0, 1), "{report:?}");
    assert_eq!(team_members(&app, &carol).await.0, ["alice", "corp+bot", "dave"]);
    let (status, _) = call(
        &app,
        Method::DELETE,
        "/organization/corp/team/devs/members/alice",
        Some(&carol),
        None,
    )
    .await;
    assert_eq!(status, 400, "removing a synced user by hand");

    // Not stale yet: a pass with the default staleness leaves the team alone.
    let report = app
        .server
        .sync_directory_teams(Duration::from_secs(1800))
        .await
        .expect("sync pass");
    assert_eq!(report.teams, 0);

    // Unsynced, the team is managed by hand again.
    assert_eq!(call(&app, Method::DELETE, SYNCING, Some(&carol), None).await.0, 200);
    let (status, body) = call(
        &app,
        Method::PUT,
        "/organization/corp/team/devs/members/carol",
        Some(&carol),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (_, body) = team_members(&app, &carol).await;
    assert!(body.get("synced").is_none(), "{body}");
}

#[actix_web::test]
async fn restricted_directory_users_create_no_organizations_or_own_repositories() {
    let (_ldap, app) =
        app_with_directory("FEATURE_RESTRICTED_USERS: true\nLDAP_RESTRICTED_USER_FILTER: (uid=alice)\n").await;
    let (_, alice) = directory_user(&app, "alice", "alice-pass").await;
    let (_, bob) = directory_user(&app, "bob", "bob-pass").await;

    let (status, body) = call(
        &app,
        Method::POST,
        "/organization/",
        Some(&alice),
        Some(json!({"name": "alices"})),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = call(
        &app,
        Method::POST,
        "/organization/",
        Some(&bob),
        Some(json!({"name": "bobs"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");

    let repo = |ns: &str| json!({"namespace": ns, "repository": "app", "visibility": "private", "description": ""});
    let (status, body) = call(&app, Method::POST, "/repository", Some(&alice), Some(repo("alice"))).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = call(&app, Method::POST, "/repository", Some(&bob), Some(repo("bob"))).await;
    assert_eq!(status, 201, "{body}");

    // No push into a new repository of their own namespace either.
    let res = registry_login(&app, "alice", "alice-pass", "repository:alice/other:pull,push").await;
    assert_eq!(res.status(), 200);
    assert!(!granted(&res.json().await.expect("token")).contains(&"push".to_owned()));
    let res = registry_login(&app, "bob", "bob-pass", "repository:bob/other:pull,push").await;
    assert!(granted(&res.json().await.expect("token")).contains(&"push".to_owned()));
}
