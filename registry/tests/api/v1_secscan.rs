//! The security-scan API without a scanner to reach (the scanner itself is
//! exercised end to end in `e2e/tests/secscan.rs`): the routes are absent
//! with the feature off; with it on, a manifest the indexer has not done is
//! `queued`, a pass that cannot reach the scanner leaves it so, and only
//! readers of the repository see its status.

use serde_json::{json, Value};

use crate::helpers::RepoFixture;

const SCANNER: &str = "FEATURE_SECURITY_SCANNER: true\nSECURITY_SCANNER_V4_ENDPOINT: http://127.0.0.1:9/\nSECURITY_SCANNER_V4_PSK: c2VjcmV0\n";

async fn alice_app(config: &str) -> (RepoFixture, String, String) {
    let f = RepoFixture::with_config(config).await;
    let (_, alice) = f.user("alice").await;
    f.create_repo(&alice, "alice", "app", "private").await;
    let digest = f.push_tag("alice/app", "latest").await;
    (f, alice, digest)
}

#[actix_web::test]
async fn without_the_scanner_the_security_routes_are_not_found() {
    let (f, alice, digest) = alice_app("").await;
    let (status, body) = f
        .call(
            "GET",
            &format!("/repository/alice/app/manifest/{digest}/security"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(status, 404, "{body}");
    let res = f
        .app
        .client
        .post(f.app.url("/secscan/notification"))
        .json(&json!({"notification_id": "x"}))
        .send()
        .await
        .expect("POST notification");
    assert_eq!(res.status().as_u16(), 404);
}

#[actix_web::test]
async fn an_unindexed_manifest_is_queued_and_stays_so_while_the_scanner_is_down() {
    let (f, alice, digest) = alice_app(SCANNER).await;
    let path = format!("/repository/alice/app/manifest/{digest}/security?vulnerabilities=true");
    let (status, body) = f.call("GET", &path, Some(&alice), None).await;
    assert_eq!(
        (status, body.clone()),
        (200, json!({"status": "queued", "data": Value::Null})),
        "{body}"
    );

    let err = f
        .services
        .run_security_indexing_once("http://127.0.0.1:1")
        .await
        .expect_err("the scanner cannot be reached");
    assert!(err.to_string().contains("security scanner"), "{err}");
    let (status, body) = f.call("GET", &path, Some(&alice), None).await;
    assert_eq!((status, body["status"].clone()), (200, json!("queued")));

    let (status, _) = f
        .call("GET", "/repository/alice/app/manifest/sha256:0000000000000000000000000000000000000000000000000000000000000000/security", Some(&alice), None)
        .await;
    assert_eq!(status, 404, "an unknown manifest");
    let (_, stranger) = f.user("stranger").await;
    let (status, _) = f.call("GET", &path, Some(&stranger), None).await;
    assert_eq!(status, 403, "a stranger reads a private repository's scan");
    let (status, _) = f.call("GET", &path, None, None).await;
    assert_eq!(status, 401, "anonymous callers read a private repository's scan");
}

#[actix_web::test]
async fn scanner_notifications_must_be_signed_with_the_key() {
    let (f, _, _) = alice_app(SCANNER).await;
    for auth in [None, Some("Bearer not-a-jwt")] {
        let mut req = f
            .app
            .client
            .post(f.app.url("/secscan/notification"))
            .json(&json!({"notification_id": "x"}));
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        let res = req.send().await.expect("POST notification");
        assert_eq!(res.status().as_u16(), 401, "{auth:?}");
    }
}
