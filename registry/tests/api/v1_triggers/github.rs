//! GitHub build triggers (seed chapter 8) against a fake GitHub served by
//! the test: the OAuth callback that creates a trigger with the user's
//! token, activation that adds the deploy key and push webhook through
//! GitHub's API, pushes GitHub posts, the setup helpers, and deletion.

use serde_json::{json, Value};

use super::fake_github::{
    github_config, FakeGithub, ACCESS_TOKEN, CLIENT_ID, CLIENT_SECRET, DEPLOY_KEY_ID, GOOD_CODE, HEAD, HOOK_ID,
    ORPHAN_KEY_ID, SSH_URL,
};
use super::{builds, credential, fixture_with, push, trigger_path};
use crate::helpers::{grant_role, header, sign_in, Grantee, RepoFixture};
use crate::v1_logs::logs;

const SOURCE: &str = "octo-org/hello-app";

/// The callback GitHub redirects the browser to, not followed.
async fn callback(f: &RepoFixture, auth: Auth<'_>, repo: &str, query: &str) -> reqwest::Response {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let url = f.app.url(&format!("/oauth2/github/callback/trigger/{repo}?{query}"));
    let req = match auth {
        Auth::Token(t) => client.get(url).bearer_auth(t),
        Auth::Cookie(c) => client.get(url).header("Cookie", c),
        Auth::Nobody => client.get(url),
    };
    req.send().await.expect("GET callback")
}

#[derive(Clone, Copy)]
enum Auth<'a> {
    Token(&'a str),
    Cookie(&'a str),
    Nobody,
}

/// A registry with GitHub triggers pointed at a fresh fake GitHub.
async fn github_fixture() -> (RepoFixture, String, FakeGithub) {
    let github = FakeGithub::start().await;
    let (f, token) = fixture_with(&github.config()).await;
    (f, token, github)
}

/// Connects a GitHub trigger to alice/app as the UI's OAuth flow does.
async fn connect(f: &RepoFixture, token: &str) -> String {
    let res = callback(
        f,
        Auth::Token(token),
        "alice/app",
        &format!("code={GOOD_CODE}&state=xyz"),
    )
    .await;
    assert_eq!(res.status().as_u16(), 302);
    let location = header(&res, "Location");
    location
        .strip_prefix("/repository/alice/app/trigger/")
        .unwrap_or_else(|| panic!("redirect to the trigger page, got {location}"))
        .to_owned()
}

async fn triggers(f: &RepoFixture, token: &str) -> Vec<Value> {
    let (status, list) = f.call("GET", "/repository/alice/app/trigger/", Some(token), None).await;
    assert_eq!(status, 200, "{list}");
    list["triggers"].as_array().expect("triggers").clone()
}

fn github_trigger_config() -> Value {
    json!({
        "build_source": SOURCE,
        "dockerfile_path": "/Dockerfile",
        "context": "/",
        "tag_templates": ["${commit_info.short_sha}"],
        "default_tag_from_ref": true,
        "latest_for_default_branch": true,
    })
}

async fn activate_github(f: &RepoFixture, token: &str, uuid: &str, config: Value) -> (u16, Value) {
    let path = format!("{}/activate", trigger_path(uuid));
    f.call("POST", &path, Some(token), Some(json!({"config": config})))
        .await
}

/// The write token of the webhook URL GitHub was given.
fn hook_code(hook_url: &str) -> String {
    let rest = hook_url.split_once("$token:").expect("$token in the hook URL").1;
    rest.split_once('@').expect("@ in the hook URL").0.to_owned()
}

#[actix_web::test]
async fn the_oauth_callback_creates_a_github_trigger_holding_the_token_for_a_repository_admin() {
    let (f, token, github) = github_fixture().await;
    let uuid = connect(&f, &token).await;

    let exchange = github.one("POST", "/login/oauth/access_token");
    assert_eq!(exchange.accept.as_deref(), Some("application/json"));
    assert_eq!(exchange.form("client_id").as_deref(), Some(CLIENT_ID));
    assert_eq!(exchange.form("client_secret").as_deref(), Some(CLIENT_SECRET));
    assert_eq!(exchange.form("code").as_deref(), Some(GOOD_CODE));
    assert_eq!(
        exchange.form("redirect_uri").as_deref(),
        Some("https://registry.example.com/oauth2/github/callback/trigger/alice/app")
    );

    let (status, view) = f.call("GET", &trigger_path(&uuid), Some(&token), None).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["service"], "github");
    assert_eq!(view["is_active"], false);
    assert_eq!(view["config"], json!({}));
    assert!(
        !view.to_string().contains(ACCESS_TOKEN),
        "the token is never shown: {view}"
    );
    let id = uuid.clone();
    let (row, _) = f
        .services
        .db()
        .read(move |c| Ok(registry::db::queries::triggers::find_by_uuid(c, &id)?))
        .await
        .expect("read trigger")
        .expect("trigger row");
    let stored = row.auth_token.expect("token");
    assert!(
        stored.starts_with("v0$$") && !stored.contains(ACCESS_TOKEN),
        "kept encrypted: {stored}"
    );
    assert_eq!(f.services.decrypt_field(&stored).await.expect("decrypts"), ACCESS_TOKEN);

    // The browser session works as well as a bearer token.
    let browser = sign_in(&f.app, "alice", "password123").await;
    let cookie = browser.cookie_header();
    let res = callback(&f, Auth::Cookie(&cookie), "alice/app", &format!("code={GOOD_CODE}")).await;
    assert_eq!(res.status().as_u16(), 302);
    assert_eq!(triggers(&f, &token).await.len(), 2);
}

#[actix_web::test]
async fn the_oauth_callback_is_refused_to_non_admins_and_anonymous_callers_before_github_is_asked() {
    let (f, token, github) = github_fixture().await;
    let (_, writer) = f.user("wendy").await;
    grant_role(&f.app, "alice/app", Grantee::Account("wendy"), "write").await;
    let query = format!("code={GOOD_CODE}");
    let res = callback(&f, Auth::Token(&writer), "alice/app", &query).await;
    assert_eq!(res.status().as_u16(), 403, "a writer is not an admin");
    let res = callback(&f, Auth::Nobody, "alice/app", &query).await;
    assert_eq!(res.status().as_u16(), 401, "nobody signed in");
    let res = callback(&f, Auth::Cookie("session=forged"), "alice/app", &query).await;
    assert_eq!(res.status().as_u16(), 401, "no such session");
    let (_, mallory) = f.user("mallory").await;
    let res = callback(&f, Auth::Token(&mallory), "alice/app", &query).await;
    assert!(
        matches!(res.status().as_u16(), 403 | 404),
        "a stranger: {}",
        res.status()
    );
    assert!(
        github.requests().is_empty(),
        "no code was exchanged: {:?}",
        github.requests()
    );
    assert!(triggers(&f, &token).await.is_empty());
}

#[actix_web::test]
async fn without_the_github_feature_the_callback_does_not_exist() {
    let (f, token) = fixture_with("").await;
    let res = callback(&f, Auth::Token(&token), "alice/app", &format!("code={GOOD_CODE}")).await;
    assert_eq!(res.status().as_u16(), 404);
    let github = FakeGithub::start().await;
    let f = RepoFixture::with_config(&format!("{}FEATURE_BUILD_SUPPORT: false\n", github.config())).await;
    let (_, token) = f.user("alice").await;
    f.create_repo(&token, "alice", "app", "private").await;
    let res = callback(&f, Auth::Token(&token), "alice/app", &format!("code={GOOD_CODE}")).await;
    assert_eq!(
        res.status().as_u16(),
        404,
        "GitHub triggers need FEATURE_BUILD_SUPPORT too"
    );
    assert!(github.requests().is_empty());
}

#[actix_web::test]
async fn github_refusing_the_code_or_being_down_is_a_clear_error_and_creates_nothing() {
    let (f, token, github) = github_fixture().await;
    let res = callback(&f, Auth::Token(&token), "alice/app", "code=stale-code&state=xyz").await;
    assert_eq!(res.status().as_u16(), 400);
    let body: Value = res.json().await.expect("error body");
    assert_eq!(body["detail"], "The code passed is incorrect or expired.", "{body}");
    let res = callback(&f, Auth::Token(&token), "alice/app", "state=xyz").await;
    assert_eq!(res.status().as_u16(), 400, "no code");
    assert_eq!(github.received("POST", "/login/oauth/access_token").len(), 1);
    assert!(triggers(&f, &token).await.is_empty());

    // A GitHub that does not answer: a port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", closed.local_addr().expect("address"));
    drop(closed);
    let (f, token) = fixture_with(&github_config(&base)).await;
    let res = callback(&f, Auth::Token(&token), "alice/app", &format!("code={GOOD_CODE}")).await;
    assert_eq!(res.status().as_u16(), 503);
    let body: Value = res.json().await.expect("error body");
    assert_eq!(
        body["detail"],
        "Received too many ConnectionErrors during code exchange"
    );
    assert!(triggers(&f, &token).await.is_empty());
}

#[actix_web::test]
async fn activation_adds_the_deploy_key_and_push_hook_and_a_github_push_builds_then_deletion_removes_them() {
    let (f, token, github) = github_fixture().await;
    let uuid = connect(&f, &token).await;
    let (status, view) = activate_github(&f, &token, &uuid, github_trigger_config()).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["is_active"], true);
    assert_eq!(view["build_source"], SOURCE);
    assert_eq!(view["repository_url"], format!("{}/{SOURCE}", github.base));
    assert_eq!(view["config"]["deploy_key_id"], DEPLOY_KEY_ID);
    assert_eq!(view["config"]["hook_id"], HOOK_ID);
    assert_eq!(view["config"]["master_branch"], "main");
    let public_key = credential(&view, "SSH Public Key");
    assert!(public_key.starts_with("ssh-ed25519 AAAA"), "{view}");

    let key = github.one("POST", "/api/repos/octo-org/hello-app/keys");
    assert_eq!(
        key.authorization.as_deref(),
        Some(format!("token {ACCESS_TOKEN}").as_str())
    );
    assert_eq!(
        key.json(),
        json!({"title": "Quay Builder", "key": public_key, "read_only": true})
    );
    let hook = github.one("POST", "/api/repos/octo-org/hello-app/hooks").json();
    assert_eq!(hook["name"], "web");
    assert_eq!(hook["events"], json!(["push"]));
    assert_eq!(hook["config"]["content_type"], "json");
    let hook_url = hook["config"]["url"].as_str().expect("hook URL").to_owned();
    let code = hook_code(&hook_url);
    assert_eq!(code.len(), 64);
    assert_eq!(
        hook_url,
        format!("https://$token:{code}@registry.example.com/webhooks/push/trigger/{uuid}")
    );
    assert!(!view.to_string().contains(&code), "the write token goes to GitHub only");

    let (status, body) = push(
        &f,
        &uuid,
        Some(&code),
        &json!({"zen": "Keep it logically awesome.", "hook_id": HOOK_ID}),
    )
    .await;
    assert_eq!((status, body.as_str()), (200, "Okay"), "GitHub's ping builds nothing");
    assert!(builds(&f, &token).await.is_empty());
    let (status, _) = push(&f, &uuid, Some("wrong"), &github_push()).await;
    assert_eq!(status, 403, "GitHub must send the write token");
    let (status, body) = push(&f, &uuid, Some(&code), &github_push()).await;
    assert_eq!((status, body.as_str()), (200, "Okay"));
    let all = builds(&f, &token).await;
    assert_eq!(all.len(), 1);
    let build = &all[0];
    assert_eq!(build["trigger"]["service"], "github");
    assert_eq!(build["tags"], json!(["0d1a26e", "main", "latest"]));
    let m = &build["trigger_metadata"];
    assert_eq!(m["commit"], HEAD);
    assert_eq!(m["ref"], "refs/heads/main");
    assert_eq!(m["default_branch"], "main");
    assert_eq!(m["git_url"], SSH_URL, "cloned over SSH with the deploy key");
    assert_eq!(m["commit_info"]["author"]["username"], "octocat");

    let (status, _) = f.call("DELETE", &trigger_path(&uuid), Some(&token), None).await;
    assert_eq!(status, 204);
    github.one("DELETE", &format!("/api/repos/octo-org/hello-app/keys/{DEPLOY_KEY_ID}"));
    github.one("DELETE", &format!("/api/repos/octo-org/hello-app/hooks/{HOOK_ID}"));
    let entries = logs(&f, "/repository/alice/app/logs", &token).await;
    let text = serde_json::to_string(&entries).expect("logs");
    assert!(text.contains("setup_repo_trigger"), "{text}");
    assert!(
        !text.contains(&code) && !text.contains(ACCESS_TOKEN),
        "no secrets in the logs"
    );
}

/// A recorded GitHub push of `main` in octo-org/hello-app.
fn github_push() -> Value {
    let mut payload: Value = serde_json::from_str(include_str!("github_push.json")).expect("recorded payload");
    payload["repository"]["owner"] = json!({"name": "octo-org", "login": "octo-org"});
    payload
}

#[actix_web::test]
async fn github_refusals_at_activation_are_quays_messages_and_leave_nothing_behind() {
    let (f, token, github) = github_fixture().await;
    let uuid = connect(&f, &token).await;
    let cases = [
        (
            "octo-org/missing",
            "Unable to find GitHub repository for source: octo-org/missing",
        ),
        ("octo-org/locked", "key is already in use"),
        (
            "octo-org/nohooks",
            "Unable to create webhook on repository: octo-org/nohooks",
        ),
        (
            "not a repository",
            "config.build_source must name a GitHub repository as owner/name",
        ),
    ];
    for (source, message) in cases {
        let (status, body) = activate_github(&f, &token, &uuid, json!({"build_source": source})).await;
        assert_eq!(status, 400, "{source}: {body}");
        assert_eq!(body["detail"], message, "{source}");
    }
    github.one("DELETE", &format!("/api/repos/octo-org/nohooks/keys/{ORPHAN_KEY_ID}"));
    let (_, view) = f.call("GET", &trigger_path(&uuid), Some(&token), None).await;
    assert_eq!(view["is_active"], false, "{view}");
    assert_eq!(view["config"], json!({}));
    let (status, view) = activate_github(&f, &token, &uuid, github_trigger_config()).await;
    assert_eq!(status, 200, "a refused activation can be retried: {view}");
}

#[actix_web::test]
async fn activation_while_github_is_down_is_a_503_naming_github() {
    let (f, token, github) = github_fixture().await;
    let uuid = connect(&f, &token).await;
    github.stop().await;
    let (status, body) = activate_github(&f, &token, &uuid, github_trigger_config()).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        body["detail"],
        "Request to the GitHub API failed: GitHub could not be reached"
    );
    let (_, view) = f.call("GET", &trigger_path(&uuid), Some(&token), None).await;
    assert_eq!(view["is_active"], false, "{view}");
}

#[actix_web::test]
async fn the_setup_helpers_list_github_namespaces_sources_and_refs_for_the_connected_user_only() {
    let (f, token, github) = github_fixture().await;
    let uuid = connect(&f, &token).await;
    let base = trigger_path(&uuid);
    let (status, body) = f.call("GET", &format!("{base}/namespaces"), Some(&token), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["namespaces"],
        json!([
            {"personal": true, "id": "octocat", "title": "The Octocat", "avatar_url": "https://avatars.example/octocat",
             "url": "https://github.com/octocat", "score": 10},
            {"personal": false, "id": "octo-org", "title": "octo-org", "avatar_url": "https://avatars.example/octo-org",
             "url": "", "score": 0},
        ])
    );
    let sources = format!("{base}/sources");
    let (status, body) = f
        .call("POST", &sources, Some(&token), Some(json!({"namespace": "octo-org"})))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["sources"],
        json!([{"name": "hello-app", "full_name": SOURCE, "description": "Hello", "last_updated": 1_796_058_765,
                "url": "https://github.com/octo-org/hello-app", "has_admin_permissions": true, "private": false}])
    );
    let (status, body) = f
        .call("GET", &format!("{sources}?namespace=octocat"), Some(&token), None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sources"][0]["full_name"], "octocat/dotfiles");
    assert_eq!(body["sources"][0]["last_updated"], 0);
    let listed = github.one("GET", "/api/user/repos");
    assert!(
        listed.query.contains("type=owner"),
        "the user's own repositories: {}",
        listed.query
    );
    let (_, body) = f
        .call("POST", &sources, Some(&token), Some(json!({"namespace": "elsewhere"})))
        .await;
    assert_eq!(body["sources"], json!([]), "an organization GitHub does not show");

    let refs = format!("{base}/fields/refs");
    let (status, body) = f
        .call("POST", &refs, Some(&token), Some(json!({"build_source": SOURCE})))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["values"],
        json!([{"kind": "branch", "name": "main"}, {"kind": "branch", "name": "develop"}, {"kind": "tag", "name": "v1.0"}])
    );
    let (status, _) = f
        .call("POST", &format!("{base}/fields/colour"), Some(&token), Some(json!({})))
        .await;
    assert_eq!(status, 404, "no such field");

    let (_, bob) = f.user("bob").await;
    grant_role(&f.app, "alice/app", Grantee::Account("bob"), "admin").await;
    let (status, _) = f.call("GET", &format!("{base}/namespaces"), Some(&bob), None).await;
    assert_eq!(status, 403, "only the connected user lists what the token reaches");
    let (status, _) = f
        .call("POST", &sources, Some(&bob), Some(json!({"namespace": "octo-org"})))
        .await;
    assert_eq!(status, 403);
    let (_, wendy) = f.user("wendy").await;
    grant_role(&f.app, "alice/app", Grantee::Account("wendy"), "write").await;
    for (method, path, body) in [
        ("GET", format!("{base}/namespaces"), None),
        ("POST", sources.clone(), Some(json!({"namespace": "octo-org"}))),
        ("POST", refs.clone(), Some(json!({}))),
    ] {
        let (status, _) = f.call(method, &path, Some(&wendy), body).await;
        assert_eq!(status, 403, "a writer: {method} {path}");
    }
}

#[actix_web::test]
async fn a_manual_start_of_a_github_trigger_builds_the_head_of_the_named_branch() {
    let (f, token, _github) = github_fixture().await;
    let uuid = connect(&f, &token).await;
    let (status, view) = activate_github(&f, &token, &uuid, github_trigger_config()).await;
    assert_eq!(status, 200, "{view}");
    let start = format!("{}/start", trigger_path(&uuid));
    let (status, build) = f
        .call("POST", &start, Some(&token), Some(json!({"branch_name": "main"})))
        .await;
    assert_eq!(status, 201, "{build}");
    let m = &build["trigger_metadata"];
    assert_eq!(m["commit"], HEAD);
    assert_eq!(m["ref"], "refs/heads/main");
    assert_eq!(m["git_url"], SSH_URL);
    assert_eq!(m["commit_info"]["committer"]["username"], "web-flow");
    assert_eq!(build["tags"], json!(["0d1a26e", "main", "latest"]));
    assert_eq!(build["manual_user"], "alice");
}
