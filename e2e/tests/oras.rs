//! oras-py: OCI artifacts with custom media types, and chunked pushes.

use std::fs;

use e2e::{backend_tests, digest_of, fresh_bytes, oras, unique_name, Http, Registry, TestEnv};

const THING_CONFIG: &str = "application/vnd.example.thing.v1+json";
const THING_LAYER: &str = "application/vnd.example.thing.layer.v1+tar";

backend_tests!(
    oras_push_and_pull_of_a_custom_artifact_returns_identical_files,
    oras_chunked_push_of_fresh_content_round_trips,
);

fn oras_push_and_pull_of_a_custom_artifact_returns_identical_files(env: TestEnv) {
    let reg = Registry::start(&env);
    let work = reg.scratch("work");
    let text = format!("{}\n", unique_name("a small thing "));
    let data = fresh_bytes(300_000);
    let config = br#"{"thing":"example","version":1}"#;
    fs::write(work.join("thing.txt"), &text).expect("write");
    fs::write(work.join("data.bin"), &data).expect("write");
    fs::write(work.join("config.json"), config).expect("write");

    let digest = oras::push(
        &reg,
        &work,
        "artifacts/thing:v1",
        &[&format!("thing.txt:{THING_LAYER}"), "data.bin"],
        Some(&format!("config.json:{THING_CONFIG}")),
        None,
    );

    let http = Http::new(&reg);
    let manifest = http
        .get(&format!("/v2/{}/manifests/v1", reg.repo("artifacts/thing")))
        .header(
            "Accept",
            "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json",
        )
        .send()
        .expect_status(200, "GET artifact manifest");
    assert_eq!(digest_of(&manifest.body), digest, "digest reported on push");
    assert_eq!(
        manifest.header("Docker-Content-Digest"),
        Some(digest_of(&manifest.body))
    );
    let m = manifest.json();
    assert_eq!(m["config"]["mediaType"], THING_CONFIG);
    assert_eq!(m["config"]["digest"], digest_of(config).as_str());
    assert_eq!(m["layers"][0]["mediaType"], THING_LAYER);
    assert_eq!(
        m["layers"][0]["annotations"]["org.opencontainers.image.title"],
        "thing.txt"
    );
    assert_eq!(m["layers"][1]["digest"], digest_of(&data).as_str());

    let out = reg.scratch("out");
    let files = oras::pull(&reg, &work, "artifacts/thing:v1", &out);
    assert_eq!(files.len(), 2, "{files:?}");
    assert_eq!(fs::read_to_string(out.join("thing.txt")).expect("pulled"), text);
    assert_eq!(fs::read(out.join("data.bin")).expect("pulled"), data);
}

fn oras_chunked_push_of_fresh_content_round_trips(env: TestEnv) {
    let reg = Registry::start(&env);
    let work = reg.scratch("work");
    // 2.5 chunks of 1 MB, so the last PATCH is a short one.
    let data = fresh_bytes(2_500_123);
    fs::write(work.join("big.bin"), &data).expect("write");

    oras::push(&reg, &work, "artifacts/chunked:v1", &["big.bin"], None, Some(1_000_000));

    let http = Http::new(&reg);
    let blob = http
        .get(&format!(
            "/v2/{}/blobs/{}",
            reg.repo("artifacts/chunked"),
            digest_of(&data)
        ))
        .send()
        .expect_status(200, "GET chunk-uploaded blob");
    assert!(blob.body == data, "blob bytes differ from what oras pushed");

    let out = reg.scratch("out");
    oras::pull(&reg, &work, "artifacts/chunked:v1", &out);
    assert!(
        fs::read(out.join("big.bin")).expect("pulled") == data,
        "pulled file differs from the pushed one"
    );
}
