//! podman pull / tag / push against the registry.

use e2e::{backend_tests, digest_of, mkoci, skopeo, unique_name, Podman, Registry, TestEnv};

backend_tests!(podman_pulls_tags_and_pushes_in_docker_and_oci_formats);

fn podman_pulls_tags_and_pushes_in_docker_and_oci_formats(env: TestEnv) {
    let reg = Registry::start(&env);
    let img = mkoci(&reg.scratch("img"), "latest", &unique_name("podman "));
    let source = format!("{}:v1", reg.image("podman/source"));
    skopeo::copy(&reg, &img.reference(), &format!("docker://{source}"), &[]).ok();

    let podman = Podman::new(&reg);
    podman.transfer("pull", &["-q", &source]).ok();
    let id = podman.run(&["image", "inspect", "--format", "{{.Id}}", &source]).ok();
    assert_eq!(
        format!("sha256:{}", id.trim()),
        img.config_digest,
        "the image id is the config digest"
    );

    let pushed = format!("{}:pushed", reg.image("podman/target"));
    podman.run(&["tag", &source, &pushed]).ok();
    podman.transfer("push", &[&pushed]).ok();
    let oci = format!("{}:oci", reg.image("podman/target"));
    podman.transfer("push", &["--format", "oci", &source, &oci]).ok();
    let v2s2 = format!("{}:v2s2", reg.image("podman/target"));
    podman.transfer("push", &["--format", "v2s2", &source, &v2s2]).ok();

    for (tag, media_type) in [
        ("oci", "application/vnd.oci.image.manifest.v1+json"),
        ("v2s2", "application/vnd.docker.distribution.manifest.v2+json"),
        ("pushed", ""),
    ] {
        let image = format!("podman/target:{tag}");
        let raw = skopeo::inspect_raw(&reg, &image);
        let manifest: serde_json::Value = serde_json::from_slice(&raw).expect("manifest JSON");
        if !media_type.is_empty() {
            assert_eq!(manifest["mediaType"], media_type, "{image}");
        }
        let info = skopeo::inspect(&reg, &image);
        assert_eq!(info["Digest"], digest_of(&raw).as_str(), "{image}");
        let config = skopeo::on_image(&reg, "inspect", &image, &["--config"]).ok();
        let config: serde_json::Value = serde_json::from_str(&config).expect("config JSON");
        assert_eq!(
            config["rootfs"]["diff_ids"][0],
            img.diff_id.as_str(),
            "{image} keeps the layer content"
        );
    }
    assert_eq!(skopeo::list_tags(&reg, "podman/target"), ["oci", "pushed", "v2s2"]);

    // A second, empty podman store pulls what podman pushed and unpacks it.
    let fresh = Podman::new(&reg);
    fresh.transfer("pull", &["-q", &oci]).ok();
    fresh.transfer("pull", &["-q", &v2s2]).ok();
    let listed = fresh.run(&["images", "--format", "{{.Repository}}:{{.Tag}}"]).ok();
    assert!(listed.contains(&oci) && listed.contains(&v2s2), "{listed}");
}
