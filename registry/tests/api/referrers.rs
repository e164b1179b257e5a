//! Content discovery: the referrers API.

use serde_json::{json, Value};

use crate::helpers::{header, header_of, repo, sha256, spawn_app, TestApp, OCI_EMPTY, OCI_INDEX, OCI_MANIFEST};

/// Pushes an artifact (empty config, one layer) by digest that refers to
/// `subject`; returns its digest and size.
async fn push_referrer(app: &TestApp, repo: &str, subject: &str, artifact_type: &str) -> (String, usize) {
    let config = app.push_blob(repo, b"{}").await;
    let layer = app.push_blob(repo, artifact_type.as_bytes()).await;
    let body = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": {"mediaType": OCI_EMPTY, "digest": config, "size": 2},
        "layers": [{"mediaType": "application/octet-stream", "digest": layer, "size": artifact_type.len()}],
        "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": 123},
        "annotations": {"org.example.type": artifact_type}
    }))
    .expect("artifact JSON");
    let digest = sha256(&body);
    let res = app.put_manifest(repo, &digest, OCI_MANIFEST, &body).await;
    assert_eq!(res.status(), 201, "push referrer: {:?}", res.text().await);
    (digest, body.len())
}

async fn referrers(app: &TestApp, path: &str) -> (Value, Option<String>) {
    let res = app.get(path).await;
    assert_eq!(res.status(), 200, "GET {path}");
    assert_eq!(header(&res, "Content-Type"), OCI_INDEX);
    let filters = header_of(res.headers(), "OCI-Filters-Applied");
    let body: Value = res.json().await.expect("index JSON");
    assert_eq!(body["schemaVersion"], 2);
    assert_eq!(body["mediaType"], OCI_INDEX);
    (body, filters)
}

#[actix_web::test]
async fn referrers_of_an_unknown_digest_are_an_empty_index() {
    let app = spawn_app().await;
    let repo = repo();
    app.push_image(&repo, Some("latest")).await;
    let (body, filters) = referrers(&app, &format!("/v2/{repo}/referrers/{}", sha256(b"nothing"))).await;
    assert_eq!(body["manifests"], json!([]));
    assert_eq!(filters, None);
    let (body, _) = referrers(
        &app,
        &format!("/v2/{}/referrers/{}", crate::helpers::repo(), sha256(b"x")),
    )
    .await;
    assert_eq!(body["manifests"], json!([]), "unknown repository");
}

#[actix_web::test]
async fn referrers_list_every_manifest_whose_subject_is_the_digest() {
    let app = spawn_app().await;
    let repo = repo();
    let subject = app.push_image(&repo, Some("latest")).await;
    let (sig, sig_size) = push_referrer(&app, &repo, &subject.digest, "application/vnd.example.sig").await;
    let (sbom, sbom_size) = push_referrer(&app, &repo, &subject.digest, "application/vnd.example.sbom").await;
    let (body, _) = referrers(&app, &format!("/v2/{repo}/referrers/{}", subject.digest)).await;
    let mut manifests = body["manifests"].as_array().expect("manifests").clone();
    manifests.sort_by_key(|m| m["artifactType"].as_str().map(str::to_owned));
    assert_eq!(
        Value::Array(manifests),
        json!([
            {"mediaType": OCI_MANIFEST, "digest": sbom, "size": sbom_size,
             "artifactType": "application/vnd.example.sbom",
             "annotations": {"org.example.type": "application/vnd.example.sbom"}},
            {"mediaType": OCI_MANIFEST, "digest": sig, "size": sig_size,
             "artifactType": "application/vnd.example.sig",
             "annotations": {"org.example.type": "application/vnd.example.sig"}},
        ])
    );
}

#[actix_web::test]
async fn filtering_by_artifact_type_is_applied_and_announced() {
    let app = spawn_app().await;
    let repo = repo();
    let subject = app.push_image(&repo, Some("latest")).await;
    let (sig, _) = push_referrer(&app, &repo, &subject.digest, "application/vnd.example.sig").await;
    push_referrer(&app, &repo, &subject.digest, "application/vnd.example.sbom").await;
    let path = format!(
        "/v2/{repo}/referrers/{}?artifactType=application/vnd.example.sig",
        subject.digest
    );
    let (body, filters) = referrers(&app, &path).await;
    assert_eq!(filters.as_deref(), Some("artifactType"));
    let manifests = body["manifests"].as_array().expect("manifests");
    assert_eq!(manifests.len(), 1);
    assert_eq!(manifests[0]["digest"], json!(sig));
}

#[actix_web::test]
async fn a_referrer_whose_subject_is_missing_is_accepted_and_listed() {
    let app = spawn_app().await;
    let repo = repo();
    let missing = sha256(b"subject never pushed");
    let (referrer, _) = push_referrer(&app, &repo, &missing, "application/vnd.example.sig").await;
    let (body, _) = referrers(&app, &format!("/v2/{repo}/referrers/{missing}")).await;
    let digests: Vec<&Value> = body["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .map(|m| &m["digest"])
        .collect();
    assert_eq!(digests, vec![&json!(referrer)]);
    let res = app.get(&format!("/v2/{repo}/manifests/{referrer}")).await;
    assert_eq!(res.status(), 200, "the referrer itself is pullable");
}

#[actix_web::test]
async fn referrers_of_a_malformed_digest_are_400_digest_invalid() {
    let app = spawn_app().await;
    let repo = repo();
    app.push_image(&repo, Some("latest")).await;
    let res = app.get(&format!("/v2/{repo}/referrers/sha256:nothex")).await;
    crate::helpers::assert_oci_error(res, 400, "DIGEST_INVALID").await;
}

#[actix_web::test]
async fn a_deleted_referrer_is_no_longer_listed() {
    let app = spawn_app().await;
    let repo = repo();
    let subject = app.push_image(&repo, Some("latest")).await;
    let (gone, _) = push_referrer(&app, &repo, &subject.digest, "application/vnd.example.sig").await;
    let (kept, _) = push_referrer(&app, &repo, &subject.digest, "application/vnd.example.sbom").await;
    assert_eq!(app.delete(&format!("/v2/{repo}/manifests/{gone}")).await.status(), 202);
    let (body, _) = referrers(&app, &format!("/v2/{repo}/referrers/{}", subject.digest)).await;
    let digests: Vec<&Value> = body["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .map(|m| &m["digest"])
        .collect();
    assert_eq!(digests, vec![&json!(kept)]);
}

/// OCI: without `artifactType`, an image manifest's descriptor carries its
/// config media type as the artifact type; an index may be a referrer too.
#[actix_web::test]
async fn referrers_without_artifact_type_use_the_config_media_type_and_indexes_count() {
    let app = spawn_app().await;
    let repo = repo();
    let subject = app.push_image(&repo, Some("latest")).await;
    let config = app.push_blob(&repo, br#"{"kind":"attestation"}"#).await;
    let image = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.example.attestation.config+json", "digest": config, "size": 22},
        "layers": [],
        "subject": {"mediaType": OCI_MANIFEST, "digest": subject.digest, "size": subject.manifest.len()}
    }))
    .expect("JSON");
    let image_digest = sha256(&image);
    assert_eq!(
        app.put_manifest(&repo, &image_digest, OCI_MANIFEST, &image)
            .await
            .status(),
        201
    );
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "artifactType": "application/vnd.example.bundle",
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": image_digest, "size": image.len()}],
        "subject": {"mediaType": OCI_MANIFEST, "digest": subject.digest, "size": subject.manifest.len()}
    }))
    .expect("JSON");
    let index_digest = sha256(&index);
    let res = app.put_manifest(&repo, &index_digest, OCI_INDEX, &index).await;
    assert_eq!(res.status(), 201);
    assert_eq!(header_of(res.headers(), "OCI-Subject"), Some(subject.digest.clone()));

    let (body, _) = referrers(&app, &format!("/v2/{repo}/referrers/{}", subject.digest)).await;
    let mut manifests = body["manifests"].as_array().expect("manifests").clone();
    manifests.sort_by_key(|m| m["mediaType"].as_str().map(str::to_owned));
    assert_eq!(
        Value::Array(manifests),
        json!([
            {"mediaType": OCI_INDEX, "digest": index_digest, "size": index.len(),
             "artifactType": "application/vnd.example.bundle"},
            {"mediaType": OCI_MANIFEST, "digest": image_digest, "size": image.len(),
             "artifactType": "application/vnd.example.attestation.config+json"},
        ])
    );
}
