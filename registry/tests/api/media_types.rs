//! Every manifest kind comes back with the `Content-Type` it was pushed with,
//! byte for byte; unknown kinds are refused with 415.

use serde_json::json;

use crate::helpers::{
    assert_oci_error, header, header_of, image_manifest, index_manifest, random_bytes, repo, sha256, spawn_app,
    TestApp, DOCKER_CONFIG, DOCKER_LAYER, DOCKER_LIST, DOCKER_MANIFEST, OCI_CONFIG, OCI_INDEX, OCI_LAYER, OCI_MANIFEST,
};

/// Pushes `body` under `tag`, then checks HEAD and GET by tag and by digest.
async fn assert_round_trip(app: &TestApp, repo: &str, tag: &str, media_type: &str, body: &[u8]) -> String {
    let digest = sha256(body);
    let res = app.put_manifest(repo, tag, media_type, body).await;
    assert_eq!(res.status(), 201, "push {media_type}: {:?}", res.text().await);
    for reference in [tag, digest.as_str()] {
        let path = format!("/v2/{repo}/manifests/{reference}");
        let res = app.head(&path).await;
        assert_eq!(res.status(), 200, "HEAD {media_type} {reference}");
        assert_eq!(header(&res, "Content-Type"), media_type, "HEAD {reference}");
        let res = app.get(&path).await;
        assert_eq!(res.status(), 200, "GET {media_type} {reference}");
        assert_eq!(header(&res, "Content-Type"), media_type, "GET {reference}");
        assert_eq!(header(&res, "Docker-Content-Digest"), digest);
        assert_eq!(
            res.bytes().await.expect("manifest").as_ref(),
            body,
            "{media_type} bytes"
        );
    }
    digest
}

async fn blob(app: &TestApp, repo: &str, data: &[u8]) -> (String, usize) {
    (app.push_blob(repo, data).await, data.len())
}

#[actix_web::test]
async fn a_docker_schema2_manifest_and_manifest_list_keep_their_content_type() {
    let app = spawn_app().await;
    let repo = repo();
    let (config, config_size) = blob(&app, &repo, br#"{"architecture":"amd64","os":"linux","rootfs":{}}"#).await;
    let (layer, layer_size) = blob(&app, &repo, &random_bytes(700)).await;
    let manifest = image_manifest(
        DOCKER_MANIFEST,
        (DOCKER_CONFIG, &config, config_size),
        &[(DOCKER_LAYER, &layer, layer_size)],
    );
    let child = assert_round_trip(&app, &repo, "docker", DOCKER_MANIFEST, &manifest).await;
    let list = index_manifest(DOCKER_LIST, &[(DOCKER_MANIFEST, &child, manifest.len())]);
    assert_round_trip(&app, &repo, "docker-list", DOCKER_LIST, &list).await;
}

#[actix_web::test]
async fn an_oci_manifest_and_oci_index_keep_their_content_type() {
    let app = spawn_app().await;
    let repo = repo();
    let (config, config_size) = blob(&app, &repo, br#"{"architecture":"arm64","os":"linux"}"#).await;
    let (layer, layer_size) = blob(&app, &repo, &random_bytes(900)).await;
    let manifest = image_manifest(
        OCI_MANIFEST,
        (OCI_CONFIG, &config, config_size),
        &[(OCI_LAYER, &layer, layer_size)],
    );
    let child = assert_round_trip(&app, &repo, "oci", OCI_MANIFEST, &manifest).await;
    let index = index_manifest(OCI_INDEX, &[(OCI_MANIFEST, &child, manifest.len())]);
    assert_round_trip(&app, &repo, "oci-index", OCI_INDEX, &index).await;
}

#[actix_web::test]
async fn an_oci_artifact_with_subject_keeps_its_content_type_and_answers_oci_subject() {
    let app = spawn_app().await;
    let repo = repo();
    let subject = app.push_image(&repo, Some("subject")).await;
    let (config, config_size) = blob(&app, &repo, br#"{"signature":"opaque"}"#).await;
    let artifact = serde_json::to_vec_pretty(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.example.signature.v1",
        "config": {"mediaType": "application/vnd.example.config.v1+json", "digest": config, "size": config_size},
        "layers": [],
        "subject": {"mediaType": OCI_MANIFEST, "digest": subject.digest, "size": subject.manifest.len()},
        "annotations": {"org.example.kind": "signature"}
    }))
    .expect("artifact JSON");
    let digest = sha256(&artifact);
    let res = app.put_manifest(&repo, &digest, OCI_MANIFEST, &artifact).await;
    assert_eq!(res.status(), 201);
    assert_eq!(header_of(res.headers(), "OCI-Subject"), Some(subject.digest.clone()));
    assert_round_trip(&app, &repo, "artifact", OCI_MANIFEST, &artifact).await;
}

#[actix_web::test]
async fn a_manifest_without_media_type_field_takes_the_content_type_header() {
    let app = spawn_app().await;
    let repo = repo();
    let (config, config_size) = blob(&app, &repo, b"{}").await;
    let body = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "config": {"mediaType": OCI_CONFIG, "digest": config, "size": config_size},
        "layers": []
    }))
    .expect("manifest JSON");
    assert_round_trip(&app, &repo, "no-media-type", OCI_MANIFEST, &body).await;
}

#[actix_web::test]
async fn an_unsupported_manifest_media_type_is_415() {
    let app = spawn_app().await;
    let repo = repo();
    let (config, config_size) = blob(&app, &repo, b"{}").await;
    let typed = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.example.unknown.manifest+json",
        "config": {"mediaType": OCI_CONFIG, "digest": config, "size": config_size},
        "layers": []
    }))
    .expect("JSON");
    let untyped = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "config": {"mediaType": OCI_CONFIG, "digest": config, "size": config_size},
        "layers": []
    }))
    .expect("JSON");
    let cases = [
        ("application/vnd.example.unknown.manifest+json", typed),
        ("text/plain", untyped),
    ];
    for (content_type, body) in cases {
        let res = app.put_manifest(&repo, "odd", content_type, &body).await;
        assert_oci_error(res, 415, "MANIFEST_INVALID").await;
    }
}

/// Quay parses a manifest by its `Content-Type` and validates the body's
/// `mediaType` against it, so a contradiction is refused.
#[actix_web::test]
async fn a_content_type_that_contradicts_the_body_media_type_is_400_manifest_invalid() {
    let app = spawn_app().await;
    let repo = repo();
    let image = app.push_image(&repo, None).await;
    let res = app.put_manifest(&repo, "mismatch", OCI_INDEX, &image.manifest).await;
    assert_oci_error(res, 400, "MANIFEST_INVALID").await;
}
