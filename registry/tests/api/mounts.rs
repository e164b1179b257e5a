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

/// A registry token for `scopes` (each `repository:name:actions`), from
/// `/v2/auth` with the test user's credentials.
async fn registry_token(app: &TestApp, scopes: &[String]) -> String {
    let query: String = scopes.iter().map(|s| format!("&scope={s}")).collect();
    let res = app.get(&format!("/v2/auth?service=registry{query}")).await;
    assert_eq!(res.status(), 200, "token for {scopes:?}");
    let body: serde_json::Value = res.json().await.expect("token JSON");
    body["token"].as_str().expect("token").to_owned()
}

async fn mount_with_token(app: &TestApp, target: &str, query: &str, token: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(app.url(&format!("/v2/{target}/blobs/uploads/?{query}")))
        .bearer_auth(token)
        .send()
        .await
        .expect("POST mount")
}

/// As Distribution: the challenge of a mount names the source too, so the
/// token the client fetches for it covers both and the blob is mounted.
#[actix_web::test]
async fn the_challenge_of_a_mount_asks_for_the_source_and_its_token_mounts() {
    let app = spawn_app().await;
    let (source, target) = (repo(), repo());
    let digest = app.push_blob(&source, &random_bytes(2048)).await;
    let query = format!("mount={digest}&from={source}");
    let challenge = reqwest::Client::new()
        .post(app.url(&format!("/v2/{target}/blobs/uploads/?{query}")))
        .send()
        .await
        .expect("anonymous POST");
    assert_eq!(challenge.status(), 401);
    let value = header(&challenge, "WWW-Authenticate");
    let scope = format!("scope=\"repository:{target}:pull,push repository:{source}:pull\"");
    assert!(value.contains(&scope), "challenge {value}");

    let scopes: Vec<String> = value
        .split("scope=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("scope in challenge")
        .split(' ')
        .map(str::to_owned)
        .collect();
    let token = registry_token(&app, &scopes).await;
    let res = mount_with_token(&app, &target, &query, &token).await;
    assert_eq!(res.status(), 201, "mounted with the challenge's token");
    assert_eq!(app.head(&format!("/v2/{target}/blobs/{digest}")).await.status(), 200);
    assert_eq!(app.stored_copies(&digest).await, 1);
}

/// A token that names only the target still mounts from a public
/// repository (anyone may pull it), but not from a private one.
#[actix_web::test]
async fn a_token_for_the_target_alone_mounts_public_blobs_but_not_private_ones() {
    let app = spawn_app().await;
    let (public, private, target) = (repo(), repo(), repo());
    let public_digest = app.push_blob(&public, b"in a public repository").await;
    let private_digest = app.push_blob(&private, b"in a private repository").await;
    let pusher = app.server.account("pusher").await.expect("lookup").expect("pusher");
    let admin = crate::helpers::api_token(&app, &pusher, "repo:admin").await;
    let res = reqwest::Client::new()
        .post(app.url(&format!("/api/v1/repository/{public}/changevisibility")))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"visibility": "public"}))
        .send()
        .await
        .expect("change visibility");
    assert_eq!(res.status(), 200);

    let token = registry_token(&app, &[format!("repository:{target}:pull,push")]).await;
    let res = mount_with_token(&app, &target, &format!("mount={public_digest}&from={public}"), &token).await;
    assert_eq!(res.status(), 201, "a public source needs no scope of its own");
    let res = mount_with_token(&app, &target, &format!("mount={private_digest}&from={private}"), &token).await;
    assert_upload_session(&app, &target, res).await;
    assert_eq!(
        app.head(&format!("/v2/{target}/blobs/{private_digest}")).await.status(),
        404,
        "a private blob is not mounted without pull access to its repository"
    );
}
