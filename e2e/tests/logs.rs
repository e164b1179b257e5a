//! Usage logs survive a clean shutdown: a burst of pulls, SIGTERM right
//! after, and every pull is in the logs when the registry is back.

use std::process::Command;
use std::time::Duration;

use e2e::process::run;
use e2e::{backend_tests, mkoci, Registry, TestEnv};
use serde_json::Value;

backend_tests!(pulls_queued_at_shutdown_are_all_logged);

const ADMIN: &str = "logadmin";
const PASSWORD: &str = "logadmin-Passw0rd";
const PULLS: usize = 400;

fn pulls_queued_at_shutdown_are_all_logged(env: TestEnv) {
    let mut reg = Registry::start_with(
        &env,
        &format!("FEATURE_USER_INITIALIZE: true\nSUPER_USERS: [{ADMIN}]\n"),
        false,
    );
    let base = reg.url("");
    let http = reqwest::blocking::Client::new();
    let init: Value = http
        .post(format!("{base}/api/v1/user/initialize"))
        .json(&serde_json::json!({"username": ADMIN, "password": PASSWORD, "email": "a@example.com", "access_token": true}))
        .send()
        .and_then(|r| r.json())
        .expect("initialize");
    let token = init["access_token"].as_str().expect("access_token").to_owned();
    let image = mkoci(&reg.scratch("img"), "v1", "logged pulls");
    let out = run(
        Command::new("skopeo").args([
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            &format!("{ADMIN}:{PASSWORD}"),
            &image.reference(),
            &format!("docker://{}/{ADMIN}/app:v1", reg.host()),
        ]),
        Duration::from_secs(120),
    );
    out.ok();
    // A burst of authenticated pulls, then SIGTERM at once.
    let url = format!("{base}/v2/{ADMIN}/app/manifests/v1");
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                let client = reqwest::blocking::Client::new();
                for _ in 0..PULLS / 4 {
                    let res = client
                        .get(&url)
                        .basic_auth(ADMIN, Some(PASSWORD))
                        .header("Accept", "application/vnd.oci.image.manifest.v1+json")
                        .send()
                        .expect("pull");
                    assert_eq!(res.status(), 200);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("puller");
    }
    assert!(
        reg.stop_gracefully(),
        "the registry exits cleanly on SIGTERM:\n{}",
        reg.log()
    );
    reg.start_again();
    let mut pulls = 0;
    let mut next: Option<String> = None;
    loop {
        let mut req = http
            .get(format!("{base}/api/v1/repository/{ADMIN}/app/logs"))
            .bearer_auth(&token);
        if let Some(n) = &next {
            req = req.query(&[("next_page", n)]);
        }
        let page: Value = req.send().and_then(|r| r.json()).expect("logs page");
        pulls += page["logs"]
            .as_array()
            .expect("logs")
            .iter()
            .filter(|l| l["kind"] == "pull_repo")
            .count();
        match page["next_page"].as_str() {
            Some(n) => next = Some(n.to_owned()),
            None => break,
        }
    }
    assert_eq!(pulls, PULLS, "every pull answered before the shutdown is logged");
}
