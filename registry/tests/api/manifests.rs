//! Pushing and pulling manifests: by tag and digest, what they must
//! reference, and the errors of each step.

use crate::helpers::{
    assert_oci_error, header, image_manifest, index_manifest, random_bytes, repo, sha256, spawn_app, OCI_CONFIG,
    OCI_INDEX, OCI_LAYER, OCI_MANIFEST,
};

#[actix_web::test]
async fn a_missing_manifest_is_404_manifest_unknown_by_tag_and_by_digest() {
    let app = spawn_app().await;
    let repo = repo();
    app.push_image(&repo, Some("present")).await;
    for reference in ["absent".to_owned(), sha256(b"no such manifest")] {
        let path = format!("/v2/{repo}/manifests/{reference}");
        assert_eq!(app.head(&path).await.status(), 404, "HEAD {reference}");
        assert_oci_error(app.get(&path).await, 404, "MANIFEST_UNKNOWN").await;
    }
}

#[actix_web::test]
async fn a_pushed_manifest_answers_201_with_location_and_digest() {
    let app = spawn_app().await;
    let repo = repo();
    let config = app.push_blob(&repo, b"{}").await;
    let manifest = image_manifest(OCI_MANIFEST, (OCI_CONFIG, &config, 2), &[]);
    let digest = sha256(&manifest);
    let res = app.put_manifest(&repo, "v1", OCI_MANIFEST, &manifest).await;
    assert_eq!(res.status(), 201);
    assert_eq!(header(&res, "Docker-Content-Digest"), digest);
    assert_eq!(header(&res, "Location"), format!("/v2/{repo}/manifests/{digest}"));
}

/// The conformance pull setup: two manifests, one tagged, one by digest.
#[actix_web::test]
async fn manifests_are_pulled_by_tag_and_by_digest_with_their_exact_bytes() {
    let app = spawn_app().await;
    let repo = repo();
    let tagged = app.push_image(&repo, Some("tagged")).await;
    let untagged = app.push_image(&repo, None).await;
    for (reference, image) in [
        ("tagged", &tagged),
        (tagged.digest.as_str(), &tagged),
        (untagged.digest.as_str(), &untagged),
    ] {
        let path = format!("/v2/{repo}/manifests/{reference}");
        let res = app.head(&path).await;
        assert_eq!(res.status(), 200, "HEAD {reference}");
        assert_eq!(header(&res, "Docker-Content-Digest"), image.digest);
        assert_eq!(header(&res, "Content-Type"), OCI_MANIFEST);
        assert_eq!(header(&res, "Content-Length"), image.manifest.len().to_string());

        let res = app.get(&path).await;
        assert_eq!(res.status(), 200, "GET {reference}");
        assert_eq!(header(&res, "Docker-Content-Digest"), image.digest);
        assert_eq!(header(&res, "Content-Type"), OCI_MANIFEST);
        assert_eq!(res.bytes().await.expect("manifest").as_ref(), &image.manifest[..]);
    }
}

#[actix_web::test]
async fn a_manifest_pushed_by_digest_is_retrievable_by_digest_and_not_listed_as_a_tag() {
    let app = spawn_app().await;
    let repo = repo();
    let image = app.push_image(&repo, None).await;
    let res = app.get(&format!("/v2/{repo}/manifests/{}", image.digest)).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.bytes().await.expect("manifest").as_ref(), &image.manifest[..]);
    let tags: serde_json::Value = app
        .get(&format!("/v2/{repo}/tags/list"))
        .await
        .json()
        .await
        .expect("tag list");
    assert_eq!(tags["tags"], serde_json::json!([]));
}

#[actix_web::test]
async fn a_manifest_with_no_layers_is_accepted() {
    let app = spawn_app().await;
    let repo = repo();
    let config = app.push_blob(&repo, br#"{"architecture":"amd64","os":"linux"}"#).await;
    let manifest = image_manifest(OCI_MANIFEST, (OCI_CONFIG, &config, 37), &[]);
    let digest = sha256(&manifest);
    let res = app.put_manifest(&repo, "empty", OCI_MANIFEST, &manifest).await;
    assert_eq!(res.status(), 201);
    let res = app.get(&format!("/v2/{repo}/manifests/{digest}")).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.bytes().await.expect("manifest").as_ref(), &manifest[..]);
}

#[actix_web::test]
async fn a_manifest_referencing_a_missing_blob_is_400_manifest_blob_unknown() {
    let app = spawn_app().await;
    let repo = repo();
    let config = app.push_blob(&repo, b"{}").await;
    let missing = sha256(b"layer never pushed");
    let cases = [
        image_manifest(OCI_MANIFEST, (OCI_CONFIG, &missing, 10), &[]),
        image_manifest(OCI_MANIFEST, (OCI_CONFIG, &config, 2), &[(OCI_LAYER, &missing, 18)]),
    ];
    for manifest in cases {
        let res = app.put_manifest(&repo, "broken", OCI_MANIFEST, &manifest).await;
        assert_oci_error(res, 400, "MANIFEST_BLOB_UNKNOWN").await;
    }
    assert_oci_error(
        app.get(&format!("/v2/{repo}/manifests/broken")).await,
        404,
        "MANIFEST_UNKNOWN",
    )
    .await;
}

#[actix_web::test]
async fn a_manifest_referencing_a_blob_of_another_repository_is_400_manifest_blob_unknown() {
    let app = spawn_app().await;
    let (mine, other) = (repo(), repo());
    let config = app.push_blob(&mine, b"{}").await;
    let layer = random_bytes(100);
    let foreign = app.push_blob(&other, &layer).await;
    let manifest = image_manifest(OCI_MANIFEST, (OCI_CONFIG, &config, 2), &[(OCI_LAYER, &foreign, 100)]);
    let res = app.put_manifest(&mine, "t", OCI_MANIFEST, &manifest).await;
    assert_oci_error(res, 400, "MANIFEST_BLOB_UNKNOWN").await;
}

#[actix_web::test]
async fn an_index_referencing_a_missing_manifest_is_400_manifest_invalid() {
    let app = spawn_app().await;
    let repo = repo();
    let present = app.push_image(&repo, None).await;
    let missing = sha256(b"child never pushed");
    let index = index_manifest(
        OCI_INDEX,
        &[
            (OCI_MANIFEST, &present.digest, present.manifest.len()),
            (OCI_MANIFEST, &missing, 100),
        ],
    );
    let res = app.put_manifest(&repo, "multi", OCI_INDEX, &index).await;
    assert_oci_error(res, 400, "MANIFEST_INVALID").await;
}

#[actix_web::test]
async fn a_digest_reference_that_does_not_match_the_body_is_400_digest_invalid() {
    let app = spawn_app().await;
    let repo = repo();
    let config = app.push_blob(&repo, b"{}").await;
    let manifest = image_manifest(OCI_MANIFEST, (OCI_CONFIG, &config, 2), &[]);
    let wrong = sha256(b"some other manifest");
    let res = app.put_manifest(&repo, &wrong, OCI_MANIFEST, &manifest).await;
    assert_oci_error(res, 400, "DIGEST_INVALID").await;
    for reference in [wrong, sha256(&manifest)] {
        let res = app.get(&format!("/v2/{repo}/manifests/{reference}")).await;
        assert_eq!(res.status(), 404, "nothing stored under {reference}");
    }
}

#[actix_web::test]
async fn an_invalid_tag_is_400_tag_invalid() {
    let app = spawn_app().await;
    let repo = repo();
    let config = app.push_blob(&repo, b"{}").await;
    let manifest = image_manifest(OCI_MANIFEST, (OCI_CONFIG, &config, 2), &[]);
    for tag in [".hidden".to_owned(), "-dash".to_owned(), "a".repeat(129)] {
        let res = app.put_manifest(&repo, &tag, OCI_MANIFEST, &manifest).await;
        assert_oci_error(res, 400, "TAG_INVALID").await;
    }
    let res = app.put_manifest(&repo, &"a".repeat(128), OCI_MANIFEST, &manifest).await;
    assert_eq!(res.status(), 201, "128 characters is the longest valid tag");
}

/// The conformance suite's `.INVALID_MANIFEST_NAME`: a reference that is
/// neither a tag nor a digest names no manifest, on HEAD, GET and DELETE,
/// before and after a push; a malformed digest stays a 400.
#[actix_web::test]
async fn reading_a_reference_that_cannot_be_a_tag_is_404_manifest_unknown() {
    let app = spawn_app().await;
    let repo = repo();
    let image = app.push_image(&repo, Some("latest")).await;
    let bad = format!("/v2/{repo}/manifests/.INVALID_MANIFEST_NAME");
    let head = app.head(&bad).await;
    assert_eq!(head.status(), 404, "HEAD of an invalid reference");
    assert_oci_error(app.get(&bad).await, 404, "MANIFEST_UNKNOWN").await;
    let res = app.put_manifest(&repo, "v2", OCI_MANIFEST, &image.manifest).await;
    assert_eq!(res.status(), 201);
    assert_oci_error(app.get(&bad).await, 404, "MANIFEST_UNKNOWN").await;
    assert_oci_error(app.delete(&bad).await, 404, "MANIFEST_UNKNOWN").await;
    let malformed = app.get(&format!("/v2/{repo}/manifests/sha256:zz")).await;
    assert_oci_error(malformed, 400, "DIGEST_INVALID").await;
    assert_eq!(app.get(&format!("/v2/{repo}/manifests/latest")).await.status(), 200);
}

#[actix_web::test]
async fn a_malformed_digest_reference_is_a_client_error_not_a_server_error() {
    let app = spawn_app().await;
    let repo = repo();
    app.push_image(&repo, Some("latest")).await;
    for reference in [
        "sha256:totallywrong",
        "sha256:",
        "md5:0123456789abcdef",
        "sha256:ABCDEF",
    ] {
        let path = format!("/v2/{repo}/manifests/{reference}");
        let res = app.head(&path).await;
        assert!(res.status().is_client_error(), "HEAD {reference}: {}", res.status());
        assert_oci_error(app.get(&path).await, 400, "DIGEST_INVALID").await;
        let res = app.put_manifest(&repo, reference, OCI_MANIFEST, b"{}").await;
        assert_oci_error(res, 400, "DIGEST_INVALID").await;
    }
    let res = app.get("/v2/x/y/manifests/sha256:totallywrong").await;
    assert!(res.status().is_client_error(), "unknown repository: {}", res.status());
}

#[actix_web::test]
async fn a_malformed_manifest_body_is_400_manifest_invalid() {
    let app = spawn_app().await;
    let repo = repo();
    let config = app.push_blob(&repo, b"{}").await;
    let no_schema = format!(
        r#"{{"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"{OCI_CONFIG}","digest":"{config}","size":2}},"layers":[]}}"#
    );
    let bad_layer_digest = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"{OCI_CONFIG}","digest":"{config}","size":2}},"layers":[{{"mediaType":"{OCI_LAYER}","digest":"sha256:xyz","size":1}}]}}"#
    );
    for body in [
        b"not json at all".to_vec(),
        no_schema.into_bytes(),
        bad_layer_digest.into_bytes(),
    ] {
        let res = app.put_manifest(&repo, "bad", OCI_MANIFEST, &body).await;
        assert_oci_error(res, 400, "MANIFEST_INVALID").await;
    }
}

#[actix_web::test]
async fn multi_segment_repository_names_work_for_push_pull_and_tags() {
    let app = spawn_app().await;
    let repo = format!("org/team-{}/app", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let image = app.push_image(&repo, Some("v1")).await;
    let res = app.get(&format!("/v2/{repo}/manifests/v1")).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.bytes().await.expect("manifest").as_ref(), &image.manifest[..]);
    let res = app.get(&format!("/v2/{repo}/blobs/{}", image.layer_digest)).await;
    assert_eq!(res.bytes().await.expect("layer").as_ref(), &image.layer[..]);
    let tags: serde_json::Value = app
        .get(&format!("/v2/{repo}/tags/list"))
        .await
        .json()
        .await
        .expect("tags");
    assert_eq!(tags, serde_json::json!({"name": repo, "tags": ["v1"]}));
}

#[actix_web::test]
async fn a_manifest_of_another_repository_is_not_served_by_digest() {
    let app = spawn_app().await;
    let (mine, other) = (repo(), repo());
    app.push_image(&mine, Some("mine")).await;
    let theirs = app.push_image(&other, Some("theirs")).await;
    let res = app.get(&format!("/v2/{mine}/manifests/{}", theirs.digest)).await;
    assert_oci_error(res, 404, "MANIFEST_UNKNOWN").await;
}

#[actix_web::test]
async fn retagging_moves_the_tag_to_the_new_manifest() {
    let app = spawn_app().await;
    let repo = repo();
    app.push_image(&repo, Some("latest")).await;
    let second = app.push_image(&repo, Some("latest")).await;
    let res = app.get(&format!("/v2/{repo}/manifests/latest")).await;
    assert_eq!(header(&res, "Docker-Content-Digest"), second.digest);
}

#[actix_web::test]
async fn an_index_referencing_a_manifest_of_another_repository_is_400_manifest_invalid() {
    let app = spawn_app().await;
    let (mine, other) = (repo(), repo());
    app.push_image(&mine, Some("mine")).await;
    let theirs = app.push_image(&other, Some("theirs")).await;
    let index = index_manifest(OCI_INDEX, &[(OCI_MANIFEST, &theirs.digest, theirs.manifest.len())]);
    let res = app.put_manifest(&mine, "multi", OCI_INDEX, &index).await;
    assert_oci_error(res, 400, "MANIFEST_INVALID").await;
}

/// OCI: registries should accept manifests of at least 4 MiB, and refuse
/// larger ones with 413.
#[actix_web::test]
async fn a_four_mebibyte_manifest_is_accepted_and_a_larger_one_is_413() {
    let app = spawn_app().await;
    let repo = repo();
    let config = app.push_blob(&repo, b"{}").await;
    let sized = |total: usize| {
        let head = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"{OCI_CONFIG}","digest":"{config}","size":2}},"layers":[],"annotations":{{"pad":""#
        );
        let tail = r#""}}"#;
        let pad = "x".repeat(total - head.len() - tail.len());
        format!("{head}{pad}{tail}").into_bytes()
    };
    let limit = 4 * 1024 * 1024;
    let fits = sized(limit);
    assert_eq!(fits.len(), limit);
    let res = app.put_manifest(&repo, "big", OCI_MANIFEST, &fits).await;
    assert_eq!(res.status(), 201, "a manifest of exactly 4 MiB");
    let res = app.get(&format!("/v2/{repo}/manifests/big")).await;
    assert_eq!(res.bytes().await.expect("manifest").len(), limit);
    let res = app.put_manifest(&repo, "bigger", OCI_MANIFEST, &sized(limit + 1)).await;
    assert_eq!(res.status(), 413);
}
