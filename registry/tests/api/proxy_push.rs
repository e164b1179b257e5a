//! Pushes into a proxy-cache organization are refused over the real /v2
//! API (Basic credentials and registry tokens), before any repository is
//! created; once the cache is removed the same push works.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{image_manifest, random_bytes, sha256, OCI_CONFIG, OCI_MANIFEST};
use crate::v1_proxycache::{org_with, Org, PROXY_ON};

const PUSH_REFUSED: &str =
    "Pushing to a proxy cache organization is not allowed: its content comes from the upstream registry";

async fn make_cache(o: &Org) {
    let body = json!({"upstream_registry": "127.0.0.1:5000"});
    let (status, v) =
        o.f.call("POST", "/organization/acme/proxycache", Some(&o.owner), Some(body))
            .await;
    assert_eq!(status, 201, "{v}");
}

/// A monolithic blob upload to `repo` as `user` (password `password123`).
async fn upload(o: &Org, user: &str, repo: &str, data: &[u8]) -> reqwest::Response {
    o.f.app
        .client
        .post(
            o.f.app
                .url(&format!("/v2/{repo}/blobs/uploads/?digest={}", sha256(data))),
        )
        .basic_auth(user, Some("password123"))
        .header("Content-Type", "application/octet-stream")
        .body(data.to_vec())
        .send()
        .await
        .expect("blob upload")
}

async fn oci_error(res: reqwest::Response) -> (StatusCode, Value) {
    let status = res.status();
    let body: Value = res.json().await.expect("OCI error body");
    (status, body["errors"][0].clone())
}

#[actix_web::test]
async fn an_admin_push_into_a_proxy_cache_organization_is_refused_clearly() {
    let o = org_with(PROXY_ON).await;
    make_cache(&o).await;
    let (status, error) = oci_error(upload(&o, "owner", "acme/app", b"layer").await).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(error["code"], "DENIED");
    assert_eq!(error["message"], PUSH_REFUSED);
    let (status, _) = o.f.call("GET", "/repository/acme/app", Some(&o.owner), None).await;
    assert_eq!(status, 404, "the refused push created the repository");

    let manifest = image_manifest(OCI_MANIFEST, (OCI_CONFIG, &sha256(b"{}"), 2), &[]);
    let res =
        o.f.app
            .client
            .put(o.f.app.url("/v2/acme/app/manifests/latest"))
            .basic_auth("owner", Some("password123"))
            .header("Content-Type", OCI_MANIFEST)
            .body(manifest)
            .send()
            .await
            .expect("manifest push");
    let (status, error) = oci_error(res).await;
    assert_eq!(
        (status, error["message"].clone()),
        (StatusCode::FORBIDDEN, json!(PUSH_REFUSED))
    );
}

#[actix_web::test]
async fn a_push_with_a_registry_token_is_refused_too() {
    let o = org_with(PROXY_ON).await;
    make_cache(&o).await;
    let res =
        o.f.app
            .client
            .get(
                o.f.app
                    .url("/v2/auth?service=registry&scope=repository:acme/app:pull,push"),
            )
            .basic_auth("owner", Some("password123"))
            .send()
            .await
            .expect("token request");
    assert_eq!(res.status(), StatusCode::OK);
    let token: Value = res.json().await.expect("token JSON");
    let token = token["token"].as_str().expect("token").to_owned();
    let res =
        o.f.app
            .client
            .post(o.f.app.url("/v2/acme/app/blobs/uploads/"))
            .bearer_auth(token)
            .send()
            .await
            .expect("upload start");
    let (status, error) = oci_error(res).await;
    assert_eq!(
        (status, error["code"].clone()),
        (StatusCode::FORBIDDEN, json!("DENIED"))
    );
    assert_eq!(error["message"], PUSH_REFUSED);
}

#[actix_web::test]
async fn a_member_who_may_not_push_learns_nothing_about_the_cache() {
    let o = org_with(PROXY_ON).await;
    make_cache(&o).await;
    let (status, error) = oci_error(upload(&o, "carol", "acme/app", b"layer").await).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_ne!(error["message"], PUSH_REFUSED);
}

#[actix_web::test]
async fn pushes_work_again_once_the_cache_is_removed() {
    let o = org_with(PROXY_ON).await;
    make_cache(&o).await;
    assert_eq!(
        upload(&o, "owner", "acme/app", b"layer").await.status(),
        StatusCode::FORBIDDEN
    );
    let (status, _) =
        o.f.call("DELETE", "/organization/acme/proxycache", Some(&o.owner), None)
            .await;
    assert_eq!(status, 201);
    let layer = random_bytes(64);
    assert_eq!(
        upload(&o, "owner", "acme/app", &layer).await.status(),
        StatusCode::CREATED
    );
}
