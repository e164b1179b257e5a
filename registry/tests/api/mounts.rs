//! Cross-repository blob mounts (`POST …/blobs/uploads/?mount=&from=`).

use crate::helpers::{assert_oci_error, header, random_bytes, repo, sha256, spawn_app, TestApp};

async fn mount(app: &TestApp, repo: &str, query: &str) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/v2/{repo}/blobs/uploads/?{query}")))
        .send()
        .await
        .expect("POST mount")
}

/// A mount that could not happen must still start a usable upload session.
async fn assert_upload_session(app: &TestApp, repo: &str, res: reqwest::Response) {
    assert_eq!(res.status(), 202);
    let location = header(&res, "Location");
    assert!(
        location.starts_with(&format!("/v2/{repo}/blobs/uploads/")),
        "Location {location}"
    );
    assert!(!header(&res, "Docker-Upload-UUID").is_empty());
    assert_eq!(app.get(&location).await.status(), 204, "the session exists");
}

#[actix_web::test]
async fn mounting_from_another_repository_is_201_and_the_blob_is_then_served() {
    let app = spawn_app().await;
    let (source, target) = (repo(), repo());
    let data = random_bytes(3000);
    let digest = app.push_blob(&source, &data).await;
    let res = mount(&app, &target, &format!("mount={digest}&from={source}")).await;
    assert_eq!(res.status(), 201);
    assert_eq!(header(&res, "Location"), format!("/v2/{target}/blobs/{digest}"));
    assert_eq!(header(&res, "Docker-Content-Digest"), digest);
    let res = app.get(&format!("/v2/{target}/blobs/{digest}")).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.bytes().await.expect("blob").as_ref(), &data[..]);
    assert_eq!(app.stored_copies(&digest).await, 1);
}

#[actix_web::test]
async fn mounting_without_from_starts_an_upload_session() {
    let app = spawn_app().await;
    let (source, target) = (repo(), repo());
    let digest = app.push_blob(&source, b"exists elsewhere").await;
    let res = mount(&app, &target, &format!("mount={digest}")).await;
    assert_upload_session(&app, &target, res).await;
}

#[actix_web::test]
async fn mounting_a_missing_blob_starts_an_upload_session() {
    let app = spawn_app().await;
    let (source, target) = (repo(), repo());
    app.push_blob(&source, b"source exists").await;
    let missing = sha256(b"never pushed anywhere");
    let res = mount(&app, &target, &format!("mount={missing}&from={source}")).await;
    assert_upload_session(&app, &target, res).await;
    assert_eq!(app.head(&format!("/v2/{target}/blobs/{missing}")).await.status(), 404);
}

#[actix_web::test]
async fn mounting_from_a_repository_that_does_not_exist_starts_an_upload_session() {
    let app = spawn_app().await;
    let (owner, target) = (repo(), repo());
    let digest = app.push_blob(&owner, b"held by owner only").await;
    let res = mount(&app, &target, &format!("mount={digest}&from=nobody/nothing")).await;
    assert_upload_session(&app, &target, res).await;
    assert_eq!(app.head(&format!("/v2/{target}/blobs/{digest}")).await.status(), 404);
}

#[actix_web::test]
async fn mounting_a_malformed_digest_is_400_digest_invalid() {
    let app = spawn_app().await;
    let (source, target) = (repo(), repo());
    app.push_blob(&source, b"x").await;
    let res = mount(&app, &target, &format!("mount=sha256:nope&from={source}")).await;
    assert_oci_error(res, 400, "DIGEST_INVALID").await;
}
