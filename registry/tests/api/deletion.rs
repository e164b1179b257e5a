//! Content management: deleting tags and manifests.

use serde_json::{json, Value};

use crate::helpers::{assert_oci_error, assert_oci_error_in, header, repo, spawn_app, TestApp, OCI_MANIFEST};

/// What a pull of deleted content may answer (the code is checked by
/// `a_deleted_tag_is_404_tag_expired_as_in_quay`).
const GONE: [&str; 2] = ["MANIFEST_UNKNOWN", "TAG_EXPIRED"];

async fn tags(app: &TestApp, repo: &str) -> Value {
    let res = app.get(&format!("/v2/{repo}/tags/list")).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.expect("tag list");
    body["tags"].clone()
}

#[actix_web::test]
async fn deleting_by_tag_is_202_and_removes_only_that_tag() {
    let app = spawn_app().await;
    let repo = repo();
    let image = app.push_image(&repo, Some("one")).await;
    let res = app.put_manifest(&repo, "two", OCI_MANIFEST, &image.manifest).await;
    assert_eq!(res.status(), 201);
    assert_eq!(app.delete(&format!("/v2/{repo}/manifests/one")).await.status(), 202);
    assert_eq!(app.head(&format!("/v2/{repo}/manifests/one")).await.status(), 404);
    let res = app.get(&format!("/v2/{repo}/manifests/one")).await;
    assert_oci_error_in(res, 404, &GONE).await;
    assert_eq!(tags(&app, &repo).await, json!(["two"]));
    let res = app.get(&format!("/v2/{repo}/manifests/{}", image.digest)).await;
    assert_eq!(res.status(), 200, "still reachable through the other tag");
}

#[actix_web::test]
async fn deleting_by_digest_is_202_and_the_manifest_and_its_tags_are_gone() {
    let app = spawn_app().await;
    let repo = repo();
    let image = app.push_image(&repo, Some("one")).await;
    app.put_manifest(&repo, "two", OCI_MANIFEST, &image.manifest).await;
    let keep = app.push_image(&repo, Some("keep")).await;
    let res = app.delete(&format!("/v2/{repo}/manifests/{}", image.digest)).await;
    assert_eq!(res.status(), 202);
    for reference in [image.digest.as_str(), "one", "two"] {
        let path = format!("/v2/{repo}/manifests/{reference}");
        assert_eq!(app.head(&path).await.status(), 404, "HEAD {reference}");
        assert_oci_error_in(app.get(&path).await, 404, &GONE).await;
    }
    assert_eq!(tags(&app, &repo).await, json!(["keep"]));
    let res = app.get(&format!("/v2/{repo}/manifests/keep")).await;
    assert_eq!(header(&res, "Docker-Content-Digest"), keep.digest);
}

#[actix_web::test]
async fn deleting_a_manifest_pushed_by_digest_makes_it_unreachable() {
    let app = spawn_app().await;
    let repo = repo();
    let image = app.push_image(&repo, None).await;
    let path = format!("/v2/{repo}/manifests/{}", image.digest);
    assert_eq!(app.delete(&path).await.status(), 202);
    assert_oci_error(app.get(&path).await, 404, "MANIFEST_UNKNOWN").await;
}

#[actix_web::test]
async fn a_deleted_manifest_can_be_pushed_again() {
    let app = spawn_app().await;
    let repo = repo();
    let image = app.push_image(&repo, Some("again")).await;
    let path = format!("/v2/{repo}/manifests/{}", image.digest);
    assert_eq!(app.delete(&path).await.status(), 202);
    let res = app.put_manifest(&repo, "again", OCI_MANIFEST, &image.manifest).await;
    assert_eq!(res.status(), 201);
    assert_eq!(app.get(&path).await.status(), 200);
    assert_eq!(tags(&app, &repo).await, json!(["again"]));
}

#[actix_web::test]
async fn deleting_an_unknown_manifest_or_tag_is_404_manifest_unknown() {
    let app = spawn_app().await;
    let repo = repo();
    app.push_image(&repo, Some("present")).await;
    let unknown_digest = crate::helpers::sha256(b"never pushed");
    for reference in ["absent", unknown_digest.as_str()] {
        let res = app.delete(&format!("/v2/{repo}/manifests/{reference}")).await;
        assert_oci_error(res, 404, "MANIFEST_UNKNOWN").await;
    }
    let res = app.delete("/v2/nobody/nothing/manifests/latest").await;
    assert_eq!(res.status(), 404, "unknown repository");
    assert_eq!(app.delete(&format!("/v2/{repo}/manifests/present")).await.status(), 202);
    let res = app.delete(&format!("/v2/{repo}/manifests/present")).await;
    assert_oci_error(res, 404, "MANIFEST_UNKNOWN").await;
}

/// Quay tells a pull of a deleted or expired tag apart from an unknown one,
/// so users know the time machine can revive it.
#[actix_web::test]
async fn a_deleted_tag_is_404_tag_expired_as_in_quay() {
    let app = spawn_app().await;
    let repo = repo();
    let image = app.push_image(&repo, Some("by-tag")).await;
    app.put_manifest(&repo, "by-digest", OCI_MANIFEST, &image.manifest)
        .await;
    assert_eq!(app.delete(&format!("/v2/{repo}/manifests/by-tag")).await.status(), 202);
    let res = app.get(&format!("/v2/{repo}/manifests/by-tag")).await;
    assert_oci_error(res, 404, "TAG_EXPIRED").await;
    assert_eq!(
        app.delete(&format!("/v2/{repo}/manifests/{}", image.digest))
            .await
            .status(),
        202
    );
    let res = app.get(&format!("/v2/{repo}/manifests/by-digest")).await;
    assert_oci_error(res, 404, "TAG_EXPIRED").await;
    let res = app.get(&format!("/v2/{repo}/manifests/never-existed")).await;
    assert_oci_error(res, 404, "MANIFEST_UNKNOWN").await;
}
