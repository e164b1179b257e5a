//! Usage-log kinds beyond pushes, pulls and tags: every action below shows
//! up in the logs API with Quay's kind name, its performer and metadata.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{RepoFixture, SmtpSink};
use crate::v1_logs::{logs, of_kind, performer, pull, push, v2_client};

/// Runs each call with `token`, expecting a success status.
async fn ok_calls(fx: &RepoFixture, token: &str, calls: Vec<(&str, String, Option<Value>)>) {
    for (method, path, body) in calls {
        let (status, value) = fx.call(method, &path, Some(token), body).await;
        assert!(status < 300, "{method} {path}: {status} {value}");
    }
}

/// The one entry of `kind`, performed by `by`.
fn the_one<'a>(logs: &'a [Value], kind: &str, by: &str) -> &'a Value {
    let found = of_kind(logs, kind);
    assert_eq!(found.len(), 1, "{kind}: {logs:?}");
    assert_eq!(performer(found[0]), by, "{kind}: {}", found[0]);
    found[0]
}

#[actix_web::test]
async fn manifest_deletes_over_v2_log_delete_tag_for_the_tag_or_each_tag_of_the_digest() {
    let fx = RepoFixture::new().await;
    let (_, alice) = fx.user("alice").await;
    fx.create_repo(&alice, "alice", "app", "private").await;
    let v2 = v2_client(&alice);
    push(&fx, &v2, "alice/app", "v1").await;
    let digest = push(&fx, &v2, "alice/app", "v2").await;
    for reference in ["v1", digest.as_str()] {
        let res = v2
            .delete(fx.app.url(&format!("/v2/alice/app/manifests/{reference}")))
            .send()
            .await
            .expect("manifest delete");
        assert_eq!(res.status(), StatusCode::ACCEPTED, "DELETE {reference}");
    }

    let logs = logs(&fx, "/repository/alice/app/logs", &alice).await;
    let deleted = of_kind(&logs, "delete_tag");
    assert_eq!(deleted.len(), 2, "{logs:?}");
    assert!(deleted.iter().all(|l| performer(l) == "alice"));
    let by_tag = deleted
        .iter()
        .find(|l| l["metadata"]["tag"] == "v1")
        .expect("v1 deleted");
    assert_eq!(by_tag["metadata"]["repo"], "app");
    assert!(by_tag["metadata"].get("digest").is_none(), "{by_tag}");
    let by_digest = deleted
        .iter()
        .find(|l| l["metadata"]["tag"] == "v2")
        .expect("v2 deleted");
    assert_eq!(by_digest["metadata"]["digest"], digest.as_str());
}

#[actix_web::test]
async fn quota_limit_changes_are_logged_with_type_and_threshold() {
    let fx = RepoFixture::with_config("FEATURE_QUOTA_MANAGEMENT: true\nSUPER_USERS: [root]\n").await;
    let (_, root) = fx.user("root").await;
    let (owner, token) = fx.user("owner").await;
    fx.org(&owner, "acme").await;
    let body = json!({"limit_bytes": 1_048_576});
    let (status, value) = fx
        .call("POST", "/organization/acme/quota", Some(&root), Some(body))
        .await;
    assert_eq!(status, 201, "{value}");
    let (_, quotas) = fx.call("GET", "/organization/acme/quota", Some(&root), None).await;
    let limits = format!("/organization/acme/quota/{}/limit", quotas[0]["id"]);
    let warning = json!({"type": "Warning", "threshold_percent": 80});
    ok_calls(&fx, &root, vec![("POST", limits.clone(), Some(warning))]).await;
    let (_, quotas) = fx.call("GET", "/organization/acme/quota", Some(&root), None).await;
    let limit = format!("{limits}/{}", quotas[0]["limits"][0]["id"]);
    let change = json!({"threshold_percent": 90});
    ok_calls(
        &fx,
        &root,
        vec![("PUT", limit.clone(), Some(change)), ("DELETE", limit, None)],
    )
    .await;

    let logs = logs(&fx, "/organization/acme/logs", &token).await;
    let created = the_one(&logs, "org_create_quota_limit", "root");
    assert_eq!(created["metadata"]["namespace"], "acme");
    assert_eq!(created["metadata"]["type"], "Warning");
    assert_eq!(created["metadata"]["threshold_percent"], 80);
    let changed = the_one(&logs, "org_change_quota_limit", "root");
    assert_eq!(changed["metadata"]["previous_threshold_percent"], 80);
    assert_eq!(changed["metadata"]["threshold_percent"], 90);
    let deleted = the_one(&logs, "org_delete_quota_limit", "root");
    assert_eq!(deleted["metadata"]["threshold_percent"], 90);
}

#[actix_web::test]
async fn superuser_user_and_organization_management_is_logged() {
    let fx = RepoFixture::with_config("SUPER_USERS: [root]\n").await;
    let (_, root) = fx.user("root").await;
    let (owner, _) = fx.user("owner").await;
    fx.org(&owner, "acme").await;
    fx.org(&owner, "doomed").await;
    let body = json!({"username": "dave", "email": "dave@example.com"});
    let (status, value) = fx.call("POST", "/superuser/users/", Some(&root), Some(body)).await;
    assert_eq!(status, 200, "{value}");
    let dave = "/superuser/users/dave".to_owned();
    ok_calls(
        &fx,
        &root,
        vec![
            ("PUT", dave.clone(), Some(json!({"password": "another-password"}))),
            ("PUT", dave.clone(), Some(json!({"email": "dave@example.org"}))),
            ("PUT", dave.clone(), Some(json!({"enabled": false}))),
            ("PUT", dave.clone(), Some(json!({"enabled": true}))),
            ("DELETE", dave, None),
            (
                "PUT",
                "/superuser/organizations/acme".into(),
                Some(json!({"name": "acme2"})),
            ),
            ("DELETE", "/superuser/organizations/doomed".into(), None),
        ],
    )
    .await;

    let logs = logs(&fx, "/superuser/logs", &root).await;
    for kind in [
        "user_create",
        "user_change_password",
        "user_change_email",
        "user_disable",
        "user_enable",
        "user_delete",
    ] {
        let entry = the_one(&logs, kind, "root");
        assert_eq!(entry["metadata"]["username"], "dave", "{kind}");
        assert_eq!(entry["metadata"]["superuser"], "root", "{kind}");
    }
    let email = the_one(&logs, "user_change_email", "root");
    assert_eq!(email["metadata"]["old_email"], "dave@example.com");
    assert_eq!(email["metadata"]["email"], "dave@example.org");
    let renamed = the_one(&logs, "org_change_name", "root");
    assert_eq!(
        (&renamed["metadata"]["old_name"], &renamed["metadata"]["new_name"]),
        (&json!("acme"), &json!("acme2"))
    );
    assert_eq!(the_one(&logs, "org_delete", "root")["metadata"]["namespace"], "doomed");
}

#[actix_web::test]
async fn organization_creation_and_deletion_by_their_owner_are_logged() {
    let fx = RepoFixture::with_config("SUPER_USERS: [root]\n").await;
    let (_, root) = fx.user("root").await;
    let (_, alice) = fx.user("alice").await;
    let create = json!({"name": "acme", "email": "acme@example.com"});
    ok_calls(
        &fx,
        &alice,
        vec![
            ("POST", "/organization/".into(), Some(create)),
            ("DELETE", "/organization/acme".into(), None),
        ],
    )
    .await;

    let logs = logs(&fx, "/superuser/logs", &root).await;
    let created = the_one(&logs, "org_create", "alice");
    assert_eq!(created["metadata"]["namespace"], "acme");
    // The namespace is renamed `deleted+…` once gone, so only its kind is stable.
    assert_eq!(created["namespace"]["kind"], "org", "{created}");
    assert_eq!(the_one(&logs, "org_delete", "alice")["metadata"]["namespace"], "acme");
}

#[actix_web::test]
async fn a_user_changing_their_password_email_and_name_is_logged() {
    let fx = RepoFixture::with_config("FEATURE_USER_RENAME: true\n").await;
    let (_, alice) = fx.user("alice").await;
    ok_calls(
        &fx,
        &alice,
        vec![
            ("PUT", "/user/".into(), Some(json!({"password": "a-new-password"}))),
            ("PUT", "/user/".into(), Some(json!({"email": "alice@example.org"}))),
            ("PUT", "/user/".into(), Some(json!({"username": "alicia"}))),
        ],
    )
    .await;

    let logs = logs(&fx, "/user/logs", &alice).await;
    assert_eq!(
        the_one(&logs, "user_change_password", "alicia")["metadata"]["username"],
        "alice"
    );
    let email = the_one(&logs, "user_change_email", "alicia");
    assert_eq!(email["metadata"]["old_email"], "alice@example.com");
    assert_eq!(email["metadata"]["email"], "alice@example.org");
    let renamed = the_one(&logs, "user_change_name", "alicia");
    assert_eq!(renamed["metadata"]["old_username"], "alice");
    assert_eq!(renamed["metadata"]["username"], "alicia");
}

#[actix_web::test]
async fn notification_and_label_changes_appear_in_the_repository_logs() {
    let fx = RepoFixture::new().await;
    let (_, alice) = fx.user("alice").await;
    fx.create_repo(&alice, "alice", "app", "private").await;
    let digest = fx.push_tag("alice/app", "v1").await;
    let new = json!({
        "event": "repo_push",
        "method": "quay_notification",
        "config": {"target": {"kind": "user", "name": "alice"}},
        "eventConfig": {},
    });
    let (status, created) = fx
        .call("POST", "/repository/alice/app/notification/", Some(&alice), Some(new))
        .await;
    assert_eq!(status, 201, "{created}");
    let uuid = created["uuid"].as_str().expect("uuid");
    let one = format!("/repository/alice/app/notification/{uuid}");
    let labels = format!("/repository/alice/app/manifest/{digest}/labels");
    let label = json!({"key": "owner", "value": "ops", "media_type": "text/plain"});
    let (status, added) = fx.call("POST", &labels, Some(&alice), Some(label)).await;
    assert_eq!(status, 201, "{added}");
    let label_id = added["label"]["id"].as_str().expect("label id");
    ok_calls(
        &fx,
        &alice,
        vec![
            ("POST", one.clone(), None),
            ("DELETE", one, None),
            ("DELETE", format!("{labels}/{label_id}"), None),
        ],
    )
    .await;

    let logs = logs(&fx, "/repository/alice/app/logs", &alice).await;
    for kind in [
        "add_repo_notification",
        "reset_repo_notification",
        "delete_repo_notification",
    ] {
        let entry = the_one(&logs, kind, "alice");
        assert_eq!(entry["metadata"]["event"], "repo_push", "{kind}");
        assert_eq!(entry["metadata"]["method"], "quay_notification", "{kind}");
        assert_eq!(entry["metadata"]["notification_id"], uuid, "{kind}");
        assert_eq!(entry["metadata"]["repo"], "app", "{kind}");
    }
    for kind in ["manifest_label_add", "manifest_label_delete"] {
        let entry = the_one(&logs, kind, "alice");
        assert_eq!(entry["metadata"]["key"], "owner", "{kind}");
        assert_eq!(entry["metadata"]["value"], "ops", "{kind}");
        assert_eq!(entry["metadata"]["manifest_digest"], digest.as_str(), "{kind}");
    }
}

/// The invitation code of the last mail the sink received.
fn last_code(sink: &SmtpSink) -> String {
    let mails = sink.mails();
    let text = mails.last().expect("an invitation mail").text();
    let mut lines = text.lines().skip_while(|l| !l.starts_with("Invitation code:"));
    lines.nth(1).expect("a code line").trim().to_owned()
}

#[actix_web::test]
async fn invitation_answers_and_team_description_changes_appear_in_the_organization_logs() {
    let sink = SmtpSink::start().await;
    let fx = RepoFixture::with_config(&sink.config()).await;
    let (owner, token) = fx.user("owner").await;
    let (_, bob) = fx.user("bob").await;
    let (_, carol) = fx.user("carol").await;
    fx.org(&owner, "acme").await;
    let devs = "/organization/acme/team/devs";
    let team = json!({"role": "member", "description": "the devs"});
    ok_calls(&fx, &token, vec![("PUT", devs.into(), Some(team))]).await;
    let retitled = json!({"role": "member", "description": "developers"});
    ok_calls(&fx, &token, vec![("PUT", devs.into(), Some(retitled))]).await;
    for (user, answer, answer_token) in [("bob", "PUT", &bob), ("carol", "DELETE", &carol)] {
        ok_calls(&fx, &token, vec![("PUT", format!("{devs}/members/{user}"), None)]).await;
        let code = last_code(&sink);
        ok_calls(&fx, answer_token, vec![(answer, format!("/teaminvite/{code}"), None)]).await;
    }
    let email_invite = format!("{devs}/invite/someone@example.com");
    ok_calls(
        &fx,
        &token,
        vec![("PUT", email_invite.clone(), None), ("DELETE", email_invite, None)],
    )
    .await;

    let logs = logs(&fx, "/organization/acme/logs", &token).await;
    let accepted = the_one(&logs, "org_team_member_invite_accepted", "bob");
    assert_eq!(
        (
            &accepted["metadata"]["member"],
            &accepted["metadata"]["inviter"],
            &accepted["metadata"]["team"]
        ),
        (&json!("bob"), &json!("owner"), &json!("devs"))
    );
    let declined = the_one(&logs, "org_team_member_invite_declined", "carol");
    assert_eq!(declined["metadata"]["member"], "carol");
    assert_eq!(declined["metadata"]["inviter"], "owner");
    let rescinded = the_one(&logs, "org_delete_team_member_invite", "owner");
    assert_eq!(rescinded["metadata"]["email"], "someone@example.com");
    let described = the_one(&logs, "org_set_team_description", "owner");
    assert_eq!(described["metadata"]["description"], "developers");
}

#[actix_web::test]
async fn oauth_token_minting_revocation_and_secret_resets_are_logged() {
    let fx = RepoFixture::new().await;
    let (owner, token) = fx.user("owner").await;
    fx.org(&owner, "acme").await;
    let apps = "/organization/acme/applications";
    let (status, app) = fx.call("POST", apps, Some(&token), Some(json!({"name": "ci"}))).await;
    assert_eq!(status, 200, "{app}");
    let client_id = app["client_id"].as_str().expect("client_id");
    let tokens = format!("{apps}/{client_id}/tokens");
    let mint = json!({"name": "deploy", "scope": "repo:read"});
    let (status, minted) = fx.call("POST", &tokens, Some(&token), Some(mint)).await;
    assert_eq!(status, 200, "{minted}");
    let uuid = minted["uuid"].as_str().expect("token uuid");
    ok_calls(
        &fx,
        &token,
        vec![
            ("DELETE", format!("{tokens}/{uuid}"), None),
            ("POST", format!("{apps}/{client_id}/resetclientsecret"), None),
        ],
    )
    .await;

    let logs = logs(&fx, "/organization/acme/logs", &token).await;
    let assigned = the_one(&logs, "oauth_token_assigned", "owner");
    assert_eq!(assigned["metadata"]["application"], "ci");
    assert_eq!(assigned["metadata"]["assigned_user"], "owner");
    assert_eq!(assigned["metadata"]["token_uuid"], uuid);
    let revoked = the_one(&logs, "oauth_token_revoked", "owner");
    assert_eq!(revoked["metadata"]["client_id"], client_id);
    assert_eq!(revoked["metadata"]["token_uuid"], uuid);
    let reset = the_one(&logs, "reset_application_client_secret", "owner");
    assert_eq!(reset["metadata"]["application_name"], "ci");
}

#[actix_web::test]
async fn with_action_log_pulls_off_pulls_are_not_logged_but_pushes_are() {
    let fx = RepoFixture::with_config("ACTION_LOG_PULLS: false\n").await;
    let (_, alice) = fx.user("alice").await;
    fx.create_repo(&alice, "alice", "app", "private").await;
    let v2 = v2_client(&alice);
    let digest = push(&fx, &v2, "alice/app", "v1").await;
    pull(&fx, &v2, "alice/app", "v1").await;
    pull(&fx, &v2, "alice/app", &digest).await;

    let logs = logs(&fx, "/repository/alice/app/logs", &alice).await;
    assert!(of_kind(&logs, "pull_repo").is_empty(), "{logs:?}");
    assert_eq!(the_one(&logs, "push_repo", "alice")["metadata"]["tag"], "v1");
}
