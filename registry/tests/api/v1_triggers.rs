//! Build triggers (quay-api.md §1.15, `FEATURE_BUILD_SUPPORT`): custom-git
//! triggers made through `/customtrigger/setup/{repo}`, managed under
//! `/api/v1/repository/{repo}/trigger/`, and fed by pushes posted to
//! `/webhooks/push/trigger/{uuid}`. No build manager runs, so triggered
//! builds stay `waiting`.

mod build_pack;
mod disable;
mod fake_github;
mod github;
mod refusals;
mod webhook;

use serde_json::{json, Value};

use crate::helpers::RepoFixture;
use crate::v1_logs::logs;

/// Builds on, with a build manager that has no executor: the tests claim
/// builds themselves, so no background manager may race them for one.
const ENABLED: &str = "FEATURE_BUILD_SUPPORT: true\nSERVER_HOSTNAME: registry.example.com\nPREFERRED_URL_SCHEME: https\nBUILD_MANAGER: [ephemeral, {EXECUTORS: []}]\n";
const GIT_URL: &str = "git@git.example.com:team/app.git";
const COMMIT: &str = "1c002dd4b536e7479fe34593e72e6c6c1819e53b";

/// A registry with builds on, user `alice` (all scopes) and her private
/// repository `alice/app`.
async fn fixture() -> (RepoFixture, String) {
    fixture_with("").await
}

/// [`fixture`] with more config.
async fn fixture_with(extra: &str) -> (RepoFixture, String) {
    let f = RepoFixture::with_config(&format!("{ENABLED}{extra}")).await;
    let (_, token) = f.user("alice").await;
    f.create_repo(&token, "alice", "app", "private").await;
    (f, token)
}

/// `GET /customtrigger/setup/{repo}` without following the redirect.
async fn setup_response(f: &RepoFixture, token: Option<&str>, repo: &str) -> reqwest::Response {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let mut req = client.get(f.app.url(&format!("/customtrigger/setup/{repo}")));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.expect("GET /customtrigger/setup")
}

/// Creates a custom-git trigger of alice/app as Quay's UI does; its uuid.
async fn setup(f: &RepoFixture, token: &str) -> String {
    let res = setup_response(f, Some(token), "alice/app").await;
    assert_eq!(res.status().as_u16(), 302);
    let location = crate::helpers::header(&res, "Location");
    let uuid = location
        .strip_prefix("/repository/alice/app/trigger/")
        .unwrap_or_else(|| panic!("redirect to the trigger page, got {location}"));
    uuid.to_owned()
}

fn config() -> Value {
    json!({
        "build_source": GIT_URL,
        "dockerfile_path": "/build/Dockerfile",
        "context": "/build",
        "branchtag_regex": "(heads|tags)/.+",
        "tag_templates": ["${commit_info.short_sha}", "v-${parsed_ref.branch}"],
        "default_tag_from_ref": true,
        "latest_for_default_branch": true,
    })
}

fn trigger_path(uuid: &str) -> String {
    format!("/repository/alice/app/trigger/{uuid}")
}

/// Activates the trigger with `config`; its TriggerView.
async fn activate(f: &RepoFixture, token: &str, uuid: &str, config: Value) -> Value {
    let path = format!("{}/activate", trigger_path(uuid));
    let (status, view) = f
        .call("POST", &path, Some(token), Some(json!({"config": config})))
        .await;
    assert_eq!(status, 200, "{view}");
    view
}

/// The credential named `name` in a TriggerView.
fn credential(view: &Value, name: &str) -> String {
    view["config"]["credentials"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == name))
        .and_then(|c| c["value"].as_str())
        .unwrap_or_else(|| panic!("no credential {name} in {view}"))
        .to_owned()
}

/// The write token in the webhook URL of an activated trigger's view.
fn write_token(view: &Value) -> String {
    let url = credential(view, "Webhook Endpoint URL");
    let rest = url.split_once("$token:").expect("$token in URL").1;
    rest.split_once('@').expect("@ in URL").0.to_owned()
}

/// A trigger of alice/app, active with [`config`]; its uuid and write token.
async fn active_trigger(f: &RepoFixture, token: &str, config: Value) -> (String, String) {
    let uuid = setup(f, token).await;
    let view = activate(f, token, &uuid, config).await;
    (uuid.clone(), write_token(&view))
}

/// Quay's own push payload for [`COMMIT`] on `git_ref`.
fn custom_payload(git_ref: &str, message: &str) -> Value {
    json!({
        "commit": COMMIT,
        "ref": git_ref,
        "default_branch": "main",
        "commit_info": {
            "url": "https://git.example.com/team/app/commit/1c002dd",
            "message": message,
            "date": "2026-12-01T10:20:30+00:00",
            "author": {"username": "ada", "url": "https://git.example.com/ada", "avatar_url": "https://git.example.com/ada.png"},
            "committer": {"username": "bob", "url": "https://git.example.com/bob", "avatar_url": "https://git.example.com/bob.png"},
        },
    })
}

/// Posts `body` to the trigger's webhook with the write token `code`.
async fn push(f: &RepoFixture, uuid: &str, code: Option<&str>, body: &Value) -> (u16, String) {
    let mut req = f
        .app
        .client
        .post(f.app.url(&format!("/webhooks/push/trigger/{uuid}")))
        .json(body);
    if let Some(code) = code {
        req = req.basic_auth("$token", Some(code));
    }
    let res = req.send().await.expect("POST webhook");
    let status = res.status().as_u16();
    (status, res.text().await.expect("body"))
}

/// The builds of alice/app, newest first.
async fn builds(f: &RepoFixture, token: &str) -> Vec<Value> {
    let (status, body) = f.call("GET", "/repository/alice/app/build/", Some(token), None).await;
    assert_eq!(status, 200, "{body}");
    body["builds"].as_array().expect("builds").clone()
}

#[actix_web::test]
async fn a_push_to_an_activated_custom_git_trigger_queues_a_build_with_its_tags() {
    let (f, token) = fixture().await;
    let uuid = setup(&f, &token).await;
    let (status, view) = f.call("GET", &trigger_path(&uuid), Some(&token), None).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["service"], "custom-git");
    assert_eq!(view["is_active"], false);
    assert_eq!(view["config"], json!({}));

    let view = activate(&f, &token, &uuid, config()).await;
    assert_eq!(view["id"], uuid);
    assert_eq!(view["is_active"], true);
    assert_eq!(view["enabled"], true);
    assert_eq!(view["can_invoke"], true);
    assert_eq!(view["build_source"], GIT_URL);
    assert_eq!(view["repository_url"], Value::Null);
    assert_eq!(view["disabled_reason"], Value::Null);
    assert!(
        credential(&view, "SSH Public Key").starts_with("ssh-ed25519 AAAA"),
        "{view}"
    );
    let code = write_token(&view);
    assert_eq!(code.len(), 64);
    assert_eq!(
        credential(&view, "Webhook Endpoint URL"),
        format!("https://$token:{code}@registry.example.com/webhooks/push/trigger/{uuid}")
    );

    let (status, body) = push(
        &f,
        &uuid,
        Some(&code),
        &custom_payload("refs/heads/main", "Add the build"),
    )
    .await;
    assert_eq!((status, body.as_str()), (200, "Okay"));

    let all = builds(&f, &token).await;
    assert_eq!(all.len(), 1);
    let build = &all[0];
    assert_eq!(build["phase"], "waiting");
    assert_eq!(build["display_name"], "1c002dd");
    assert_eq!(build["tags"], json!(["1c002dd", "v-main", "main", "latest"]));
    assert_eq!(build["dockerfile_path"], "/build/Dockerfile");
    assert_eq!(build["context"], "/build");
    assert_eq!(build["manual_user"], Value::Null);
    assert_eq!(build["trigger"]["id"], uuid);
    assert_eq!(build["trigger"]["service"], "custom-git");
    assert_eq!(build["trigger"]["build_source"], GIT_URL);
    let metadata = &build["trigger_metadata"];
    assert_eq!(metadata["commit"], COMMIT);
    assert_eq!(metadata["ref"], "refs/heads/main");
    assert_eq!(metadata["git_url"], GIT_URL);
    assert_eq!(metadata["commit_info"]["author"]["username"], "ada");

    let path = format!("{}/builds?limit=5", trigger_path(&uuid));
    let (status, listed) = f.call("GET", &path, Some(&token), None).await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["builds"][0]["id"], build["id"]);
}

#[actix_web::test]
async fn the_write_token_is_shown_once_and_the_deploy_key_kept_for_the_builder() {
    let (f, token) = fixture().await;
    let (uuid, code) = active_trigger(&f, &token, config()).await;
    let (_, view) = f.call("GET", &trigger_path(&uuid), Some(&token), None).await;
    let url = credential(&view, "Webhook Endpoint URL");
    assert!(!url.contains(&code), "{url}");
    assert_eq!(
        url,
        format!("https://$token:********@registry.example.com/webhooks/push/trigger/{uuid}")
    );

    let id = uuid.clone();
    let (row, _) = f
        .services
        .db()
        .read(move |c| Ok(registry::db::queries::triggers::find_by_uuid(c, &id)?))
        .await
        .expect("read trigger")
        .expect("trigger row");
    let stored = row.private_key.expect("private key");
    assert!(
        stored.starts_with("v0$$") && !stored.contains("PRIVATE KEY"),
        "kept encrypted: {stored}"
    );
    let private_key = f.services.decrypt_field(&stored).await.expect("decrypts");
    assert!(private_key.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"));
    assert_ne!(row.write_token_sha256.as_deref(), Some(code.as_str()));

    let again = format!("{}/activate", trigger_path(&uuid));
    let (status, body) = f
        .call("POST", &again, Some(&token), Some(json!({"config": config()})))
        .await;
    assert_eq!(status, 400, "already active: {body}");
}

#[actix_web::test]
async fn setup_activation_toggling_and_deletion_are_logged_as_in_quay() {
    let (f, token) = fixture().await;
    let (uuid, code) = active_trigger(&f, &token, config()).await;
    let (status, _) = push(&f, &uuid, Some(&code), &custom_payload("refs/tags/v1.0", "Release")).await;
    assert_eq!(status, 200);
    let (status, view) = f
        .call(
            "PUT",
            &trigger_path(&uuid),
            Some(&token),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["enabled"], false);
    assert_eq!(view["disabled_reason"], "user_toggled");
    let (status, _) = f.call("DELETE", &trigger_path(&uuid), Some(&token), None).await;
    assert_eq!(status, 204);

    let entries = logs(&f, "/repository/alice/app/logs", &token).await;
    let entry = |kind: &str| {
        entries
            .iter()
            .find(|e| e["kind"] == kind)
            .unwrap_or_else(|| panic!("{kind} logged in {entries:?}"))
            .clone()
    };
    let setup = entry("setup_repo_trigger");
    assert_eq!(setup["metadata"]["trigger_id"], uuid);
    assert_eq!(setup["metadata"]["service"], "custom-git");
    assert_eq!(setup["metadata"]["config"]["build_source"], GIT_URL);
    assert!(
        !setup["metadata"].to_string().contains(&code),
        "the write token is never logged"
    );
    let build = entry("build_dockerfile");
    assert_eq!(build["metadata"]["trigger_id"], uuid);
    assert_eq!(build["metadata"]["trigger_kind"], "custom-git");
    assert_eq!(build["metadata"]["trigger_metadata"]["ref"], "refs/tags/v1.0");
    assert_eq!(build["metadata"]["docker_tags"], json!(["1c002dd", "v1.0"]));
    assert_eq!(build["metadata"]["is_manual"], false);
    let toggle = entry("toggle_repo_trigger");
    assert_eq!(toggle["metadata"]["enabled"], false);
    assert_eq!(entry("delete_repo_trigger")["metadata"]["trigger_id"], uuid);

    let (status, _) = f.call("GET", &trigger_path(&uuid), Some(&token), None).await;
    assert_eq!(status, 404, "deleted");
    let all = builds(&f, &token).await;
    assert_eq!(all.len(), 1, "the build outlives its trigger");
    assert_eq!(all[0]["trigger"], Value::Null);
}

#[actix_web::test]
async fn a_manual_start_builds_the_given_commit_and_a_disabled_trigger_refuses() {
    let (f, token) = fixture().await;
    let (uuid, _) = active_trigger(&f, &token, config()).await;
    let start = format!("{}/start", trigger_path(&uuid));
    let res = f
        .app
        .client
        .post(f.app.url(&format!("/api/v1{start}")))
        .bearer_auth(&token)
        .json(&json!({"commit_sha": COMMIT}))
        .send()
        .await
        .expect("POST start");
    assert_eq!(res.status().as_u16(), 201);
    let location = crate::helpers::header(&res, "Location");
    let build: Value = res.json().await.expect("BuildView");
    assert_eq!(
        location,
        format!(
            "/api/v1/repository/alice/app/build/{}/status",
            build["id"].as_str().expect("id")
        )
    );
    assert_eq!(build["phase"], "waiting");
    assert_eq!(build["tags"], json!(["1c002dd"]));
    assert_eq!(build["manual_user"], "alice");
    assert_eq!(build["trigger"]["id"], uuid);
    assert_eq!(build["trigger_metadata"], json!({"commit": COMMIT, "git_url": GIT_URL}));

    let (status, body) = f
        .call("POST", &start, Some(&token), Some(json!({"commit_sha": "xyz"})))
        .await;
    assert_eq!(status, 400, "not a commit: {body}");
    let (status, body) = f.call("POST", &start, Some(&token), Some(json!({"other": 1}))).await;
    assert_eq!(status, 400, "unknown property: {body}");
    let (status, _) = f
        .call(
            "PUT",
            &trigger_path(&uuid),
            Some(&token),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = f
        .call("POST", &start, Some(&token), Some(json!({"commit_sha": COMMIT})))
        .await;
    assert_eq!(status, 400, "disabled: {body}");
}
