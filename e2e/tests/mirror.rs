//! Repository mirroring from a real upstream: CNCF Distribution (Debian
//! `docker-registry`) holds images pushed by skopeo; a repository of ours
//! is configured with `curl` as Quay's documentation does, the mirror
//! worker of `registry serve` syncs the tags the rule matches, and skopeo
//! and podman pull them from our repository byte for byte.

use std::time::{Duration, Instant};

use e2e::distribution::{Distribution, DISTRIBUTION};
use e2e::process::{curl_json, sh, skopeo_with as skopeo};
use e2e::{backend_tests, digest_of, mkoci, unique_name, Podman, Registry, TestEnv};

backend_tests!(a_repository_mirrors_the_matching_tags_of_a_distribution_registry);

const ADMIN: &str = "quayadmin";
const ADMIN_PASSWORD: &str = "quayadmin-Passw0rd";

fn a_repository_mirrors_the_matching_tags_of_a_distribution_registry(env: TestEnv) {
    if !Distribution::installed() {
        assert!(!e2e::in_ci(), "docker-registry is not installed");
        eprintln!("SKIPPED: {DISTRIBUTION} is not installed");
        return;
    }
    let reg = Registry::start_with(
        &env,
        &format!(
            "FEATURE_USER_INITIALIZE: true\nSUPER_USERS: [{ADMIN}]\nFEATURE_REPO_MIRROR: true\n\
             REPO_MIRROR_INTERVAL: 1\nSSRF_ALLOWED_HOSTS: [\"127.0.0.1\"]\n"
        ),
        false,
    );
    let work = reg.scratch("mirror");
    let upstream = Distribution::start(&work.join("upstream"), None);

    // Images pushed to the upstream: two that the rule matches, one not.
    let images: Vec<_> = ["v1", "v2", "dev"]
        .iter()
        .map(|tag| {
            let img = mkoci(&work.join(format!("img-{tag}")), "latest", &unique_name("mirrored "));
            let dest = format!("docker://{}/upstream/app:{tag}", upstream.host);
            skopeo(&["copy", "--dest-tls-verify=false", &img.reference(), &dest]).ok();
            (tag.to_string(), img)
        })
        .collect();

    let base = reg.url("");
    let token = reg.initialize_user(ADMIN, ADMIN_PASSWORD);
    let reference = format!("{}/upstream/app", upstream.host);
    let vars = [("BASE", base.as_str()), ("TOKEN", token.as_str())];
    // The documentation's minimal body; the upstream speaks plain HTTP.
    let body = serde_json::json!({
        "external_reference": reference, "external_registry_username": "",
        "external_registry_config": {"verify_tls": false},
        "sync_interval": 600, "sync_start_date": "2021-08-06T11:11:39Z",
        "root_rule": {"rule_kind": "tag_glob_csv", "rule_value": ["v*"]},
        "robot_username": "mirrors+sync",
    });
    std::fs::write(work.join("mirror.json"), body.to_string()).expect("mirror.json");
    for script in [
        "curl -s --fail-with-body -X POST -d '{\"name\":\"mirrors\"}' -H \"Authorization: Bearer $TOKEN\" \
         -H 'Content-Type: application/json' $BASE/api/v1/organization/",
        "curl -s --fail-with-body -X PUT -H \"Authorization: Bearer $TOKEN\" $BASE/api/v1/organization/mirrors/robots/sync",
        "curl -s --fail-with-body -X POST -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' \
         -d '{\"namespace\":\"mirrors\",\"repository\":\"app\",\"visibility\":\"public\",\"description\":\"\"}' \
         $BASE/api/v1/repository",
        "curl -s --fail-with-body -X POST -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' \
         --data @mirror.json $BASE/api/v1/repository/mirrors/app/mirror",
    ] {
        sh(&work, script, &vars).ok();
    }

    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let view = curl_json(
            &work,
            "curl -s -H \"Authorization: Bearer $TOKEN\" $BASE/api/v1/repository/mirrors/app/mirror",
            &vars,
        );
        if view["sync_status"] == "SUCCESS" {
            assert_eq!(view["sync_tags_done"], 2, "{view}");
            break;
        }
        assert!(Instant::now() < deadline, "the mirror never synced: {view}");
        std::thread::sleep(Duration::from_millis(250));
    }

    let ours = format!("docker://{}/mirrors/app", reg.host());
    let listed = skopeo(&["list-tags", "--tls-verify=false", &ours]).ok();
    let listed: serde_json::Value = serde_json::from_str(&listed).expect("list-tags JSON");
    let mut tags: Vec<&str> = listed["Tags"]
        .as_array()
        .expect("Tags")
        .iter()
        .filter_map(|t| t.as_str())
        .collect();
    tags.sort_unstable();
    assert_eq!(tags, ["v1", "v2"], "only the tags matching v*");

    for (tag, img) in images.iter().filter(|(t, _)| t.starts_with('v')) {
        let raw = skopeo(&["inspect", "--raw", "--tls-verify=false", &format!("{ours}:{tag}")]).ok();
        let upstream_raw = skopeo(&[
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{reference}:{tag}"),
        ])
        .ok();
        assert_eq!(
            digest_of(raw.as_bytes()),
            digest_of(upstream_raw.as_bytes()),
            "{tag}: same manifest"
        );
        let inspected = skopeo(&["inspect", "--tls-verify=false", &format!("{ours}:{tag}")]).ok();
        let inspected: serde_json::Value = serde_json::from_str(&inspected).expect("inspect JSON");
        assert_eq!(inspected["Layers"][0], img.layer_digest.as_str(), "{tag}: {inspected}");
    }

    let podman = Podman::new(&reg);
    let image = format!("{}/mirrors/app:v1", reg.host());
    podman.transfer("pull", &[&image]).ok();
}
