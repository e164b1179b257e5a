//! Namespace (quota) notifications: `/organization/{org}/notifications…`
//! and `/user/namespacenotifications…` (FEATURE_QUOTA_NOTIFICATIONS),
//! delivered through the notification queue.

use serde_json::{json, Value};

use crate::helpers::{assert_api_error, RepoFixture};
use crate::v1_logs::{logs, of_kind};

const CONFIG: &str = "NOTIFICATION_WORKER_INTERVAL: 0\nFEATURE_QUOTA_NOTIFICATIONS: true\n";
const ORG: &str = "/organization/acme/notifications";

/// Organization `acme` owned by `owner`; tokens of the owner and of `joe`.
async fn fixture(extra: &str) -> (RepoFixture, String, String) {
    let f = RepoFixture::with_config(&format!("{CONFIG}{extra}")).await;
    let (owner, owner_token) = f.user("owner").await;
    let (_, joe) = f.user("joe").await;
    f.org(&owner, "acme").await;
    (f, owner_token, joe)
}

fn to_owners_inbox(event: &str) -> Value {
    json!({"event": event, "method": "quay_notification", "title": "quota",
           "config": {"target": {"kind": "user", "name": "owner"}}, "eventConfig": {}})
}

async fn create(f: &RepoFixture, path: &str, token: &str, body: Value) -> String {
    let (status, view) = f.call("POST", path, Some(token), Some(body)).await;
    assert_eq!(status, 201, "{view}");
    view["uuid"].as_str().expect("uuid").to_owned()
}

async fn inbox_kinds(f: &RepoFixture, token: &str) -> Vec<Value> {
    let (status, inbox) = f.call("GET", "/user/notifications", Some(token), None).await;
    assert_eq!(status, 200, "{inbox}");
    inbox["notifications"]
        .as_array()
        .expect("inbox")
        .iter()
        .map(|n| n["kind"].clone())
        .collect()
}

#[actix_web::test]
async fn an_org_admin_creates_lists_resets_and_deletes_namespace_notifications() {
    let (f, owner, _) = fixture("").await;
    let uuid = create(&f, ORG, &owner, to_owners_inbox("quota_warning")).await;
    let one = format!("{ORG}/{uuid}");

    let (status, view) = f.call("GET", &one, Some(&owner), None).await;
    assert_eq!(status, 200);
    assert_eq!(view["event"], "quota_warning");
    assert_eq!(view["method"], "quay_notification");
    assert_eq!(view["title"], "quota");
    assert_eq!(view["config"]["target"]["name"], "owner");
    assert_eq!(view["event_config"], json!({}));
    assert_eq!(view["number_of_failures"], 0);
    let (_, list) = f.call("GET", ORG, Some(&owner), None).await;
    assert_eq!(list["notifications"], json!([view]));

    let (status, _) = f.call("POST", &one, Some(&owner), None).await;
    assert_eq!(status, 204, "reset");
    let (status, _) = f.call("DELETE", &one, Some(&owner), None).await;
    assert_eq!(status, 204);
    let (status, _) = f.call("GET", &one, Some(&owner), None).await;
    assert_eq!(status, 404);
    let (_, list) = f.call("GET", ORG, Some(&owner), None).await;
    assert_eq!(list["notifications"], json!([]));

    let entries = logs(&f, "/organization/acme/logs", &owner).await;
    for kind in [
        "create_namespace_notification",
        "reset_namespace_notification",
        "delete_namespace_notification",
    ] {
        let found = of_kind(&entries, kind);
        assert_eq!(found.len(), 1, "{kind}: {entries:?}");
        assert_eq!(found[0]["metadata"]["notification_id"], uuid.as_str());
    }
}

#[actix_web::test]
async fn only_org_admins_and_the_user_themself_reach_namespace_notifications() {
    let (f, owner, joe) = fixture("").await;
    let uuid = create(&f, ORG, &owner, to_owners_inbox("quota_error")).await;
    let one = format!("{ORG}/{uuid}");
    let test = format!("{one}/test");
    use reqwest::Method as M;
    let body = Some(to_owners_inbox("quota_warning"));
    for (method, path, body) in [
        (M::GET, ORG, None),
        (M::POST, ORG, body),
        (M::GET, one.as_str(), None),
        (M::POST, one.as_str(), None),
        (M::POST, test.as_str(), None),
        (M::DELETE, one.as_str(), None),
    ] {
        for (token, status, kind) in [(None, 401, "invalid_token"), (Some(&joe), 403, "insufficient_scope")] {
            let mut req = f
                .app
                .client
                .request(method.clone(), f.app.url(&format!("/api/v1{path}")));
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            if let Some(b) = &body {
                req = req.json(b);
            }
            assert_api_error(req.send().await.expect("send"), status, kind).await;
        }
    }
    let (_, list) = f.call("GET", ORG, Some(&owner), None).await;
    assert_eq!(list["notifications"].as_array().map(Vec::len), Some(1), "{list}");

    // The user endpoints act on the caller's own namespace only.
    let res = f
        .app
        .client
        .get(f.app.url("/api/v1/user/namespacenotifications"))
        .send()
        .await
        .expect("send");
    assert_api_error(res, 401, "invalid_token").await;
    let (status, _) = f
        .call("GET", &format!("/user/namespacenotifications/{uuid}"), Some(&joe), None)
        .await;
    assert_eq!(status, 404, "another namespace's notification is not found");
    let mine = create(
        &f,
        "/user/namespacenotifications",
        &joe,
        json!({"event": "quota_warning", "method": "email", "config": {"email": "joe@example.com"}, "eventConfig": {}}),
    )
    .await;
    let (_, list) = f.call("GET", "/user/namespacenotifications", Some(&joe), None).await;
    assert_eq!(list["notifications"][0]["uuid"], mine.as_str());
    let (status, _) = f
        .call(
            "DELETE",
            &format!("/user/namespacenotifications/{mine}"),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(status, 404);
}

#[actix_web::test]
async fn namespace_notifications_take_only_quota_events_and_valid_methods() {
    let (f, owner, _) = fixture("").await;
    for bad in [
        json!({"event": "repo_push", "method": "email", "config": {"email": "a@b.c"}, "eventConfig": {}}),
        json!({"event": "quota_warning", "method": "carrier_pigeon", "config": {}, "eventConfig": {}}),
        json!({"event": "quota_warning", "method": "webhook", "config": {}, "eventConfig": {}}),
        json!({"event": "quota_warning", "method": "email", "config": {"email": "a@b.c"}}),
        json!({"event": "quota_warning", "method": "quay_notification", "config": {"target": {"kind": "user", "name": "nobody"}}, "eventConfig": {}}),
    ] {
        let res = f
            .app
            .client
            .post(f.app.url(&format!("/api/v1{ORG}")))
            .bearer_auth(&owner)
            .json(&bad)
            .send()
            .await
            .expect("send");
        assert_api_error(res, 400, "invalid_request").await;
    }
    let (_, list) = f.call("GET", ORG, Some(&owner), None).await;
    assert_eq!(list["notifications"], json!([]));
}

#[actix_web::test]
async fn namespace_notifications_are_not_found_when_the_feature_is_off() {
    let f = RepoFixture::with_config("NOTIFICATION_WORKER_INTERVAL: 0\n").await;
    let (owner, token) = f.user("owner").await;
    f.org(&owner, "acme").await;
    let (status, _) = f.call("GET", ORG, Some(&token), None).await;
    assert_eq!(status, 404);
    let (status, _) = f.call("GET", "/user/namespacenotifications", Some(&token), None).await;
    assert_eq!(status, 404);
}

#[actix_web::test]
async fn testing_a_namespace_notification_delivers_a_sample() {
    let (f, owner, _) = fixture("").await;
    let uuid = create(&f, ORG, &owner, to_owners_inbox("quota_error")).await;
    let (status, body) = f.call("POST", &format!("{ORG}/{uuid}/test"), Some(&owner), None).await;
    assert_eq!((status, body), (200, json!({})));
    let report = f.services.deliver_notifications_once().await.expect("delivery");
    assert_eq!(report.delivered, 1, "{report:?}");
    assert_eq!(inbox_kinds(&f, &owner).await, vec![json!("quota_error")]);
}

#[actix_web::test]
async fn a_namespace_quota_warning_fires_once_when_the_limit_is_crossed() {
    let (f, owner, _) = fixture("FEATURE_QUOTA_MANAGEMENT: true\nSUPER_USERS: [admin]\n").await;
    let (_, admin) = f.user("admin").await;
    create(&f, ORG, &owner, to_owners_inbox("quota_warning")).await;
    let (status, body) = f
        .call(
            "POST",
            "/organization/acme/quota",
            Some(&admin),
            Some(json!({"limit_bytes": 1000})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (_, list) = f.call("GET", "/organization/acme/quota", Some(&admin), None).await;
    let limits = format!("/organization/acme/quota/{}/limit", list[0]["id"]);
    let (status, body) = f
        .call(
            "POST",
            &limits,
            Some(&admin),
            Some(json!({"type": "Warning", "threshold_percent": 50})),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    f.create_repo(&owner, "acme", "app", "private").await;
    f.push_tag("acme/app", "big").await;
    let report = f.services.deliver_notifications_once().await.expect("delivery");
    assert_eq!(report.delivered, 1, "{report:?}");
    let (_, inbox) = f.call("GET", "/user/notifications", Some(&owner), None).await;
    let entry = &inbox["notifications"][0];
    assert_eq!(entry["kind"], "quota_warning");
    assert_eq!(entry["metadata"]["namespace"], "acme");
    assert_eq!(entry["metadata"]["limit_bytes"], 500);

    f.services.deliver_notifications_once().await.expect("delivery");
    assert_eq!(
        inbox_kinds(&f, &owner).await.len(),
        1,
        "the recorded event is delivered once"
    );
}

#[actix_web::test]
async fn namespace_notification_methods_are_checked_as_repository_notifications_are() {
    let (f, owner, _) = fixture("").await;
    // A host that does not resolve now is no error at creation (delivery
    // checks where it resolves), as for repository notifications.
    let later = json!({"event": "quota_warning", "method": "webhook", "eventConfig": {},
        "config": {"url": "https://hooks.not-yet-registered.invalid/quota"}});
    create(&f, ORG, &owner, later).await;
    for config in [
        json!({"method": "webhook", "config": {"url": "http://10.0.0.1:9/hook"}}),
        json!({"method": "webhook", "config": {"url": "https://example.com/hook", "template": "{nope"}}),
        json!({"method": "hipchat", "config": {"notification_token": "t"}}),
        json!({"method": "quay_notification", "config": {}}),
    ] {
        let mut bad = json!({"event": "quota_warning", "eventConfig": {}});
        if let (Some(b), Value::Object(extra)) = (bad.as_object_mut(), config.clone()) {
            b.extend(extra);
        }
        let (status, view) = f.call("POST", ORG, Some(&owner), Some(bad)).await;
        assert_eq!(status, 400, "{config}: {view}");
    }
    let (_, list) = f.call("GET", ORG, Some(&owner), None).await;
    assert_eq!(list["notifications"].as_array().map(Vec::len), Some(1), "{list}");
}
