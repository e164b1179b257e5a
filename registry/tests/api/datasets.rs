//! The data sets of the redesigned conformance suite beyond plain images:
//! nested and empty indexes, non-distributable layers, `data` and custom
//! fields, and manifests addressed by sha512.

use serde_json::json;

use crate::helpers::{
    header, index_manifest, repo, sha256, sha512, spawn_app, TestApp, OCI_CONFIG, OCI_INDEX, OCI_MANIFEST,
};

async fn assert_pullable(app: &TestApp, repo: &str, reference: &str, body: &[u8], digest: &str) {
    let res = app.get(&format!("/v2/{repo}/manifests/{reference}")).await;
    assert_eq!(res.status(), 200, "GET {reference}");
    assert_eq!(header(&res, "Docker-Content-Digest"), digest);
    assert_eq!(res.bytes().await.expect("manifest").as_ref(), body);
}

#[actix_web::test]
async fn a_nested_index_and_an_empty_index_are_accepted() {
    let app = spawn_app().await;
    let repo = repo();
    let image = app.push_image(&repo, None).await;
    let inner = index_manifest(OCI_INDEX, &[(OCI_MANIFEST, &image.digest, image.manifest.len())]);
    let inner_digest = sha256(&inner);
    assert_eq!(
        app.put_manifest(&repo, &inner_digest, OCI_INDEX, &inner).await.status(),
        201
    );
    let outer = index_manifest(OCI_INDEX, &[(OCI_INDEX, &inner_digest, inner.len())]);
    assert_eq!(app.put_manifest(&repo, "nested", OCI_INDEX, &outer).await.status(), 201);
    assert_pullable(&app, &repo, "nested", &outer, &sha256(&outer)).await;

    let empty = index_manifest(OCI_INDEX, &[]);
    assert_eq!(app.put_manifest(&repo, "empty", OCI_INDEX, &empty).await.status(), 201);
    assert_pullable(&app, &repo, "empty", &empty, &sha256(&empty)).await;
}

#[actix_web::test]
async fn non_distributable_layers_need_not_be_pushed() {
    let app = spawn_app().await;
    let repo = repo();
    let config = app.push_blob(&repo, b"{}").await;
    let body = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config, "size": 2},
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
            "digest": sha256(b"lives elsewhere"),
            "size": 15,
            "urls": ["https://example.com/layer.tar.gz"]
        }]
    }))
    .expect("JSON");
    let res = app.put_manifest(&repo, "foreign", OCI_MANIFEST, &body).await;
    assert_eq!(res.status(), 201);
    assert_pullable(&app, &repo, "foreign", &body, &sha256(&body)).await;
}

#[actix_web::test]
async fn data_fields_and_unknown_fields_are_kept_byte_for_byte() {
    let app = spawn_app().await;
    let repo = repo();
    let config = app.push_blob(&repo, b"{}").await;
    let body = format!(
        "{{\n  \"schemaVersion\": 2,\n  \"mediaType\": \"{OCI_MANIFEST}\",\n  \"x-custom\": {{\"nested\": [1, 2.50, true]}},\n  \
         \"config\": {{\"mediaType\": \"{OCI_CONFIG}\", \"digest\": \"{config}\", \"size\": 2, \"data\": \"e30=\"}},\n  \
         \"layers\": []\n}}\n"
    )
    .into_bytes();
    let res = app.put_manifest(&repo, "custom", OCI_MANIFEST, &body).await;
    assert_eq!(res.status(), 201);
    assert_pullable(&app, &repo, "custom", &body, &sha256(&body)).await;
}

#[actix_web::test]
async fn a_manifest_pushed_by_sha512_digest_is_served_under_that_digest() {
    let app = spawn_app().await;
    let repo = repo();
    let config = br#"{"architecture":"amd64","os":"linux"}"#;
    let config_digest = sha512(config);
    let res = app
        .client
        .post(app.url(&format!("/v2/{repo}/blobs/uploads/?digest={config_digest}")))
        .body(config.to_vec())
        .send()
        .await
        .expect("POST");
    assert_eq!(res.status(), 201);
    let body = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config.len()},
        "layers": []
    }))
    .expect("JSON");
    let digest = sha512(&body);
    let res = app.put_manifest(&repo, &digest, OCI_MANIFEST, &body).await;
    assert_eq!(res.status(), 201);
    assert_eq!(header(&res, "Docker-Content-Digest"), digest);
    assert_pullable(&app, &repo, &digest, &body, &digest).await;
}
