//! skopeo against the registry: push, pull, inspect, list-tags, delete and
//! registry-to-registry copies.

use e2e::{backend_tests, digest_of, mkoci, skopeo, unique_name, Http, OciImage, Registry, TestEnv};

const DOCKER_V2S2: &str = "application/vnd.docker.distribution.manifest.v2+json";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

backend_tests!(
    skopeo_push_and_pull_round_trip_keeps_every_blob_identical,
    skopeo_inspect_and_list_tags_report_what_was_pushed,
    skopeo_delete_makes_the_manifest_unknown,
    copy_between_repositories_mounts_blobs_and_keeps_content_identical,
);

/// A fresh image (unique content) pushed as `name:oci` and `name:v2s2`.
fn push_both_formats(reg: &Registry, name: &str) -> OciImage {
    let img = mkoci(&reg.scratch(name), "latest", &unique_name("content "));
    let src = img.reference();
    skopeo::copy(reg, &src, &format!("docker://{}:oci", reg.image(name)), &[]).ok();
    skopeo::copy(
        reg,
        &src,
        &format!("docker://{}:v2s2", reg.image(name)),
        &["--format", "v2s2"],
    )
    .ok();
    img
}

fn skopeo_push_and_pull_round_trip_keeps_every_blob_identical(env: TestEnv) {
    let reg = Registry::start(&env);
    let img = push_both_formats(&reg, "roundtrip");

    let oci = skopeo::pull_dir(&reg, "roundtrip:oci", &reg.scratch("pulled-oci"));
    assert_eq!(
        digest_of(&oci.manifest_bytes()),
        img.manifest_digest,
        "the OCI manifest must come back byte for byte"
    );
    for digest in [&img.config_digest, &img.layer_digest] {
        assert_eq!(oci.blob(digest), img.blob(digest), "blob {digest} (oci tag)");
    }

    let v2 = skopeo::pull_dir(&reg, "roundtrip:v2s2", &reg.scratch("pulled-v2s2"));
    let manifest = v2.manifest();
    assert_eq!(manifest["mediaType"], DOCKER_V2S2);
    let config = manifest["config"]["digest"].as_str().expect("config digest");
    let config_bytes = v2.blob(config);
    assert_eq!(digest_of(&config_bytes), config);
    let config_json: serde_json::Value = serde_json::from_slice(&config_bytes).expect("config");
    assert_eq!(config_json["rootfs"]["diff_ids"][0], img.diff_id.as_str());
    let layers = manifest["layers"].as_array().expect("layers");
    assert_eq!(layers.len(), 1);
    let layer = layers[0]["digest"].as_str().expect("layer digest");
    assert_eq!(layer, img.layer_digest, "gzip layer is copied unchanged");
    assert_eq!(v2.blob(layer), img.blob(layer));
}

fn skopeo_inspect_and_list_tags_report_what_was_pushed(env: TestEnv) {
    let reg = Registry::start(&env);
    let img = push_both_formats(&reg, "inspected");

    let info = skopeo::inspect(&reg, "inspected:oci");
    assert_eq!(info["Digest"], img.manifest_digest.as_str());
    assert_eq!(info["Layers"][0], img.layer_digest.as_str());
    let raw = skopeo::inspect_raw(&reg, "inspected:oci");
    assert_eq!(digest_of(&raw), img.manifest_digest);
    let raw_json: serde_json::Value = serde_json::from_slice(&raw).expect("raw manifest");
    assert_eq!(raw_json["mediaType"], OCI_MANIFEST);

    let v2_raw = skopeo::inspect_raw(&reg, "inspected:v2s2");
    let v2_info = skopeo::inspect(&reg, "inspected:v2s2");
    assert_eq!(v2_info["Digest"], digest_of(&v2_raw).as_str());
    let v2_json: serde_json::Value = serde_json::from_slice(&v2_raw).expect("raw v2s2");
    assert_eq!(v2_json["mediaType"], DOCKER_V2S2);

    assert_eq!(skopeo::list_tags(&reg, "inspected"), ["oci", "v2s2"]);
}

fn skopeo_delete_makes_the_manifest_unknown(env: TestEnv) {
    let reg = Registry::start(&env);
    push_both_formats(&reg, "deleted");
    let digest = skopeo::inspect(&reg, "deleted:v2s2")["Digest"]
        .as_str()
        .expect("Digest")
        .to_string();

    // skopeo resolves the tag and deletes the manifest by digest.
    skopeo::on_image(&reg, "delete", "deleted:v2s2", &[]).ok();
    let err = skopeo::on_image(&reg, "inspect", &format!("deleted@{digest}"), &[]).failed();
    assert!(
        err.to_lowercase().contains("manifest unknown"),
        "inspect by digest after delete should say manifest unknown, got: {err}"
    );
    // Quay answers TAG_EXPIRED (revivable through the time machine) for the
    // tag itself; other registries say manifest unknown.
    let err = skopeo::on_image(&reg, "inspect", "deleted:v2s2", &[])
        .failed()
        .to_lowercase();
    assert!(
        err.contains("manifest unknown") || err.contains("expired"),
        "inspect of the deleted tag should fail as unknown or expired, got: {err}"
    );
    assert_eq!(skopeo::list_tags(&reg, "deleted"), ["oci"]);
    skopeo::on_image(&reg, "inspect", "deleted:oci", &[]).ok();
}

fn copy_between_repositories_mounts_blobs_and_keeps_content_identical(env: TestEnv) {
    let reg = Registry::start(&env);
    let img = mkoci(&reg.scratch("src"), "latest", &unique_name("copied "));
    skopeo::copy(
        &reg,
        &img.reference(),
        &format!("docker://{}:v1", reg.image("source")),
        &[],
    )
    .ok();

    skopeo::copy(
        &reg,
        &format!("docker://{}:v1", reg.image("source")),
        &format!("docker://{}:copied", reg.image("copy/target")),
        &[],
    )
    .ok();
    assert_eq!(
        skopeo::inspect_raw(&reg, "copy/target:copied"),
        skopeo::inspect_raw(&reg, "source:v1")
    );
    let pulled = skopeo::pull_dir(&reg, "copy/target:copied", &reg.scratch("pulled"));
    assert_eq!(digest_of(&pulled.manifest_bytes()), img.manifest_digest);
    for digest in [&img.config_digest, &img.layer_digest] {
        assert_eq!(pulled.blob(digest), img.blob(digest), "blob {digest}");
    }

    // The mount itself, as skopeo asks for it: 201 and the blob is then in
    // the target repository without any bytes sent.
    let http = Http::new(&reg);
    let target = reg.repo("mounted");
    let source = reg.repo("source");
    let resp = http
        .post(&format!(
            "/v2/{target}/blobs/uploads/?mount={}&from={source}",
            img.layer_digest
        ))
        .header("Content-Length", "0")
        .scope(&format!("repository:{source}:pull"))
        .send()
        .expect_status(201, "cross-repository mount");
    assert_eq!(resp.header("Docker-Content-Digest"), Some(img.layer_digest.clone()));
    assert!(resp.header("Location").is_some(), "mount answers with a Location");
    let head = http
        .head(&format!("/v2/{target}/blobs/{}", img.layer_digest))
        .send()
        .expect_status(200, "HEAD mounted blob");
    assert_eq!(
        head.header("Content-Length"),
        Some(img.blob(&img.layer_digest).len().to_string())
    );

    // Mounting a blob the source does not have starts a normal upload.
    let missing = digest_of(b"never uploaded anywhere");
    http.post(&format!("/v2/{target}/blobs/uploads/?mount={missing}&from={source}"))
        .header("Content-Length", "0")
        .scope(&format!("repository:{source}:pull"))
        .send()
        .expect_status(202, "mount of an unknown blob falls back to an upload");
}
