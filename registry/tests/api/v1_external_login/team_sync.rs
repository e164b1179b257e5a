//! Teams synced to provider groups (`FEATURE_TEAM_SYNCING` under
//! `AUTHENTICATION_TYPE: OIDC`): `POST .../syncing {"group_name": ...}`,
//! and the groups claim of each sign-in applied to the synced teams.

use reqwest::Method;
use serde_json::{json, Value};

use super::provider::MockProvider;
use super::{config, login, SUB};
use crate::helpers::{api_user, spawn_app_with, TestApp};

/// Alice's claims at the provider, with `groups`.
fn alice_claims(groups: &[&str]) -> Value {
    json!({
        "preferred_username": "Alice.Smith@corp.example",
        "email": "alice@corp.example",
        "email_verified": true,
        "groups": groups,
    })
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

/// The sorted member names of `corp/{team}`.
async fn members(app: &TestApp, token: &str, team: &str) -> Vec<String> {
    let (status, body) = call(
        app,
        Method::GET,
        &format!("/organization/corp/team/{team}/members"),
        Some(token),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let mut names: Vec<String> = body["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| m["name"].as_str().unwrap_or_default().to_owned())
        .collect();
    names.sort();
    names
}

struct Setup {
    provider: MockProvider,
    app: TestApp,
    /// A superuser who owns `corp`.
    root: String,
    /// An admin of `corp` who is no superuser.
    adam: String,
}

/// `corp` (owned by superuser root, administered by adam too) with the
/// empty teams `devs` and `ops`, and `plain`; bob is in `ops`.
async fn setup() -> Setup {
    let provider = MockProvider::start(&[]).await;
    provider.set_user(SUB, alice_claims(&["devs"])).await;
    let app = spawn_app_with(&format!(
        "{}FEATURE_TEAM_SYNCING: true\nSUPER_USERS: [root]\n",
        config(&provider.url, true)
    ))
    .await;
    let (root_account, root) = api_user(&app, "root", "all").await;
    let (_, adam) = api_user(&app, "adam", "all").await;
    api_user(&app, "bob", "all").await;
    let org = app
        .server
        .create_organization(&root_account, "corp", None)
        .await
        .expect("organization");
    let owners = app.server.team(&org, "owners").await.expect("lookup").expect("owners");
    app.server
        .add_team_member(&org, &owners, "adam")
        .await
        .expect("adam admin");
    for team in ["devs", "ops", "plain"] {
        let path = format!("/organization/corp/team/{team}");
        let (status, body) = call(&app, Method::PUT, &path, Some(&root), Some(json!({"role": "member"}))).await;
        assert_eq!(status, 200, "{body}");
    }
    let ops = app.server.team(&org, "ops").await.expect("lookup").expect("ops");
    app.server.add_team_member(&org, &ops, "bob").await.expect("bob in ops");
    Setup {
        provider,
        app,
        root,
        adam,
    }
}

async fn sync(s: &Setup, team: &str, group: &str) {
    let path = format!("/organization/corp/team/{team}/syncing");
    let (status, body) = call(
        &s.app,
        Method::POST,
        &path,
        Some(&s.root),
        Some(json!({"group_name": group})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

#[actix_web::test]
async fn syncing_a_team_to_a_provider_group_needs_a_superuser_org_admin() {
    let s = setup().await;
    let (app, path) = (&s.app, "/organization/corp/team/devs/syncing");
    let group = Some(json!({"group_name": "devs"}));
    assert_eq!(call(app, Method::POST, path, None, group.clone()).await.0, 401);
    assert_eq!(call(app, Method::POST, path, Some(&s.adam), group.clone()).await.0, 403);
    assert_eq!(call(app, Method::DELETE, path, None, None).await.0, 401);
    assert_eq!(call(app, Method::DELETE, path, Some(&s.adam), None).await.0, 403);
    for bad in [json!({}), json!({"group_name": ""}), json!({"group_dn": "cn=devs"})] {
        let (status, body) = call(app, Method::POST, path, Some(&s.root), Some(bad.clone())).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(
            body["error_message"], "Could not sync to group: Missing group_name",
            "{body}"
        );
    }
    let (status, body) = call(app, Method::POST, path, Some(&s.root), group).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], "devs");

    let (_, view) = call(
        app,
        Method::GET,
        "/organization/corp/team/devs/members",
        Some(&s.root),
        None,
    )
    .await;
    assert_eq!(view["synced"]["service"], "oidc", "{view}");
    assert_eq!(view["synced"]["config"], json!({"group_name": "devs"}), "{view}");
    assert_eq!(view["can_sync"]["service"], "oidc", "{view}");
    let domain = url::Url::parse(&s.provider.url).expect("provider URL");
    let domain = format!("{}:{}", domain.host_str().expect("host"), domain.port().expect("port"));
    assert_eq!(view["can_sync"]["issuer_domain"], json!(domain), "{view}");
    let (_, view) = call(
        app,
        Method::GET,
        "/organization/corp/team/devs/members",
        Some(&s.adam),
        None,
    )
    .await;
    assert_eq!(view["synced"], json!({"service": "oidc"}), "{view}");
    assert!(view.get("can_sync").is_none(), "{view}");

    // Members of a synced team change only through the provider's groups.
    let (status, body) = call(
        app,
        Method::PUT,
        "/organization/corp/team/devs/members/bob",
        Some(&s.root),
        None,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error_message"], "Cannot call this method on an auth-synced team");

    let (status, _) = call(app, Method::DELETE, path, Some(&s.root), None).await;
    assert_eq!(status, 200);
    let (_, view) = call(
        app,
        Method::GET,
        "/organization/corp/team/devs/members",
        Some(&s.root),
        None,
    )
    .await;
    assert!(view.get("synced").is_none(), "{view}");
}

#[actix_web::test]
async fn each_login_applies_the_groups_claim_to_the_synced_teams() {
    let s = setup().await;
    sync(&s, "devs", "devs").await;
    sync(&s, "ops", "ops").await;

    // The first login (which creates alice's account) joins her to devs.
    let outcome = login(&s.app, SUB).await;
    assert_eq!(outcome.status, 302, "{}", outcome.body);
    assert_eq!(members(&s.app, &s.root, "devs").await, ["alice.smith"]);
    assert_eq!(members(&s.app, &s.root, "ops").await, ["bob"]);

    // A team that is not synced keeps what admins do by hand.
    let org = s.app.server.account("corp").await.expect("lookup").expect("corp");
    let plain = s.app.server.team(&org, "plain").await.expect("lookup").expect("plain");
    s.app
        .server
        .add_team_member(&org, &plain, "alice.smith")
        .await
        .expect("alice in plain");

    // Logging in again with the same groups changes nothing.
    assert_eq!(login(&s.app, SUB).await.status, 302);
    assert_eq!(members(&s.app, &s.root, "devs").await, ["alice.smith"]);

    // Without the group, the next login takes her out of devs only.
    s.provider.set_user(SUB, alice_claims(&[])).await;
    let outcome = login(&s.app, SUB).await;
    assert_eq!(outcome.status, 302, "{}", outcome.body);
    assert!(members(&s.app, &s.root, "devs").await.is_empty());
    assert_eq!(members(&s.app, &s.root, "ops").await, ["bob"]);
    assert_eq!(members(&s.app, &s.root, "plain").await, ["alice.smith"]);

    // In the other group, she joins ops and bob (not signing in) stays.
    s.provider.set_user(SUB, alice_claims(&["ops", "unknown"])).await;
    assert_eq!(login(&s.app, SUB).await.status, 302);
    assert_eq!(members(&s.app, &s.root, "ops").await, ["alice.smith", "bob"]);
    assert!(members(&s.app, &s.root, "devs").await.is_empty());
}

#[actix_web::test]
async fn a_custom_group_claim_is_read_and_no_claim_means_no_groups() {
    let provider = MockProvider::start(&[]).await;
    provider
        .set_user(
            SUB,
            json!({"preferred_username": "alice", "email": "alice@corp.example", "email_verified": true,
                   "roles": ["devs"], "groups": ["ops"]}),
        )
        .await;
    let app = spawn_app_with(&format!(
        "{}  PREFERRED_GROUP_CLAIM_NAME: roles\nFEATURE_TEAM_SYNCING: true\nSUPER_USERS: [root]\n",
        config(&provider.url, true)
    ))
    .await;
    let (root_account, root) = api_user(&app, "root", "all").await;
    app.server
        .create_organization(&root_account, "corp", None)
        .await
        .expect("organization");
    for (team, group) in [("devs", "devs"), ("ops", "ops")] {
        let path = format!("/organization/corp/team/{team}");
        assert_eq!(
            call(&app, Method::PUT, &path, Some(&root), Some(json!({"role": "member"})))
                .await
                .0,
            200
        );
        let body = Some(json!({"group_name": group}));
        assert_eq!(
            call(&app, Method::POST, &format!("{path}/syncing"), Some(&root), body)
                .await
                .0,
            200
        );
    }
    assert_eq!(login(&app, SUB).await.status, 302);
    assert_eq!(members(&app, &root, "devs").await, ["alice"]);
    assert!(members(&app, &root, "ops").await.is_empty());

    provider
        .set_user(
            SUB,
            json!({"preferred_username": "alice", "email": "alice@corp.example", "email_verified": true}),
        )
        .await;
    assert_eq!(login(&app, SUB).await.status, 302);
    assert!(members(&app, &root, "devs").await.is_empty());
}
