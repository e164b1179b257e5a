//! A proxy-cache organization in front of a real upstream: CNCF
//! Distribution (Debian's `docker-registry`), once open and once behind
//! htpasswd Basic auth. An image pushed to the upstream with skopeo is
//! pulled through the organization with skopeo, byte for byte, and is
//! still served from the cache once the upstream is gone; podman pulls a
//! second image through the cache cold.

use std::fs;
use std::path::Path;

use e2e::distribution::{Distribution, DISTRIBUTION};
use e2e::process::{curl_json, sh, skopeo_with as skopeo};
use e2e::{backend_tests, digest_of, mkoci, unique_name, Podman, Registry, TestEnv};

backend_tests!(skopeo_pulls_through_a_proxy_cache_of_distribution);

const ADMIN: &str = "quayadmin";
const ADMIN_PASSWORD: &str = "quayadmin-Passw0rd";
const UP_USER: &str = "mirror";
const UP_PASSWORD: &str = "mirror-Passw0rd";

fn read_pulled(dir: &Path, digest: &str) -> Vec<u8> {
    fs::read(dir.join(digest.trim_start_matches("sha256:"))).expect("pulled blob")
}

/// Pulls `image` from our registry into a fresh `dir:` layout.
fn pull(reg: &Registry, image: &str, into: &Path) {
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        "--src-creds",
        &format!("{ADMIN}:{ADMIN_PASSWORD}"),
        &format!("docker://{}/{image}", reg.host()),
        &format!("dir:{}", into.display()),
    ])
    .ok();
}

fn skopeo_pulls_through_a_proxy_cache_of_distribution(env: TestEnv) {
    if !Distribution::installed() {
        assert!(!e2e::in_ci(), "{DISTRIBUTION} is missing");
        eprintln!("skipped: {DISTRIBUTION} is not installed");
        return;
    }
    let reg = Registry::start_with(
        &env,
        &format!(
            "FEATURE_USER_INITIALIZE: true\nSUPER_USERS: [{ADMIN}]\nFEATURE_PROXY_CACHE: true\nSSRF_ALLOWED_HOSTS: [\"127.0.0.1\"]\n"
        ),
        false,
    );
    let base = reg.url("");
    let work = reg.scratch("proxy");
    let token = reg.initialize_user(ADMIN, ADMIN_PASSWORD);

    for (org, htpasswd) in [("opencache", false), ("authcache", true)] {
        let mut upstream = Distribution::start(&work.join(org), htpasswd.then_some((UP_USER, UP_PASSWORD)));
        let img = mkoci(
            &reg.scratch(&format!("{org}-image")),
            "latest",
            &unique_name("proxied "),
        );
        let mut push = vec![
            "copy".to_owned(),
            "--dest-tls-verify=false".to_owned(),
            img.reference(),
            format!("docker://{}/team/app:1.0", upstream.host),
        ];
        if htpasswd {
            push.insert(1, format!("--dest-creds={UP_USER}:{UP_PASSWORD}"));
        }
        skopeo(&push.iter().map(String::as_str).collect::<Vec<_>>()).ok();

        let vars = [("BASE", base.as_str()), ("TOKEN", token.as_str()), ("ORG", org)];
        let created = sh(
            &work,
            "curl -s -X POST -d \"{\\\"name\\\":\\\"$ORG\\\"}\" -H \"Authorization: Bearer $TOKEN\" \
             -H 'Content-Type: application/json' $BASE/api/v1/organization/",
            &vars,
        )
        .ok();
        assert_eq!(created.trim(), "\"Created\"");
        let mut cache =
            serde_json::json!({"upstream_registry": upstream.host, "insecure": true, "expiration_s": 86400});
        if htpasswd {
            cache["upstream_registry_username"] = UP_USER.into();
            cache["upstream_registry_password"] = UP_PASSWORD.into();
        }
        let body = cache.to_string();
        let vars = [
            ("BASE", base.as_str()),
            ("TOKEN", token.as_str()),
            ("ORG", org),
            ("BODY", body.as_str()),
        ];
        let created = sh(
            &work,
            "curl -s -X POST -d \"$BODY\" -H \"Authorization: Bearer $TOKEN\" \
             -H 'Content-Type: application/json' $BASE/api/v1/organization/$ORG/proxycache",
            &vars,
        )
        .ok();
        assert_eq!(created.trim(), "\"Created\"", "{org}");

        let pulled = work.join(format!("{org}-pulled"));
        pull(&reg, &format!("{org}/team/app:1.0"), &pulled);
        let manifest = fs::read(pulled.join("manifest.json")).expect("pulled manifest");
        assert_eq!(
            digest_of(&manifest),
            img.manifest_digest,
            "{org}: manifest byte for byte"
        );
        for digest in [&img.config_digest, &img.layer_digest] {
            assert_eq!(read_pulled(&pulled, digest), img.blob(digest), "{org}: blob {digest}");
        }

        // podman pulls another image through the cache, cold: manifest and
        // blobs come from the upstream while they are stored.
        let tool = mkoci(
            &reg.scratch(&format!("{org}-tool")),
            "latest",
            &unique_name("podman-proxied "),
        );
        let mut push = vec![
            "copy".to_owned(),
            "--dest-tls-verify=false".to_owned(),
            tool.reference(),
            format!("docker://{}/team/tool:2.0", upstream.host),
        ];
        if htpasswd {
            push.insert(1, format!("--dest-creds={UP_USER}:{UP_PASSWORD}"));
        }
        skopeo(&push.iter().map(String::as_str).collect::<Vec<_>>()).ok();
        let podman = Podman::new(&reg);
        let image = format!("{}/{org}/team/tool:2.0", reg.host());
        let creds = format!("{ADMIN}:{ADMIN_PASSWORD}");
        podman
            .run(&["pull", "--tls-verify=false", "--creds", &creds, &image])
            .ok();
        let digest = podman
            .run(&["image", "inspect", "--format", "{{.Digest}}", &image])
            .ok();
        assert_eq!(
            digest.trim(),
            tool.manifest_digest,
            "{org}: podman pulled the upstream's manifest"
        );

        // The upstream is gone: the cached image is still served.
        upstream.stop();
        let again = work.join(format!("{org}-again"));
        pull(&reg, &format!("{org}/team/app:1.0"), &again);
        assert_eq!(
            read_pulled(&again, &img.layer_digest),
            img.blob(&img.layer_digest),
            "{org}: from the cache"
        );

        let repo = curl_json(
            &work,
            "curl -s -H \"Authorization: Bearer $TOKEN\" $BASE/api/v1/repository/$ORG/team/app",
            &vars,
        );
        assert_eq!(repo["is_public"], false, "{org}: {repo}");
    }
}
