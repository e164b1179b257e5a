//! Builds end to end: a Dockerfile build requested through the API runs on
//! the local executor (`registry builder` with buildah), streams its phases
//! and log lines, pushes its tags, and a failing build ends in `error`; a
//! private base image is pulled with the build's pull robot, and only so;
//! an `archive_url` build fetches its context over HTTP; cancelling a running
//! build stops its builder; every build event reaches a webhook.
//!
//! Needs root, buildah and a static busybox (`/bin/busybox`, the base
//! image's shell); elsewhere the test is skipped, in CI it fails.

use std::fs;
use std::process::Command;
use std::time::{Duration, Instant};

use e2e::builds::{
    buildah, builds_possible, containers_env, entries, inspect, read_image_files, BuildApi, SUCCESS_PHASES,
};
use e2e::loopback::LoopbackHttp;
use e2e::process::run;
use e2e::{backend_tests, Registry, TestEnv};
use serde_json::{json, Value};

backend_tests!(a_requested_build_runs_pushes_its_tags_and_a_failing_one_reports_its_error);

const ADMIN: &str = "builder";
const PASSWORD: &str = "builder-Passw0rd";

fn a_requested_build_runs_pushes_its_tags_and_a_failing_one_reports_its_error(env: TestEnv) {
    if !builds_possible() {
        return;
    }
    let work = tempfile::tempdir().expect("temp dir");
    // The registry's builders and the test's buildah keep separate stores,
    // so the build really pulls its base image from the registry.
    let builders = work.path().join("builders");
    let mine = work.path().join("mine");
    // Notifications go to a receiver on the loopback, delivered every second.
    let hooks = LoopbackHttp::start();
    let config = format!(
        "FEATURE_USER_INITIALIZE: true\nSUPER_USERS: [{ADMIN}]\nFEATURE_BUILD_SUPPORT: true\n\
         SSRF_ALLOWED_HOSTS: ['127.0.0.1']\nNOTIFICATION_WORKER_INTERVAL: 1\n"
    );
    // Builders pass --tls-verify=false for a plain-HTTP manager themselves;
    // the host is marked insecure for the test's buildah only.
    let builder_vars = containers_env(&builders, "127.0.0.1");
    let reg = Registry::start_with_env(&env, &config, false, &builder_vars);
    let host = reg.host();
    let vars = containers_env(&mine, &host);

    let api = BuildApi::initialize(&reg.url(""), ADMIN, PASSWORD);

    // A base image with busybox as its shell, public so any build pulls it.
    let creds = format!("{ADMIN}:{PASSWORD}");
    let base = api.push_busybox_base(&vars, work.path(), &host, (ADMIN, PASSWORD));
    let new_repo = json!({"namespace": ADMIN, "repository": "app", "visibility": "private", "description": ""});
    let (status, body) = api.call(reqwest::Method::POST, "/repository", Some(new_repo));
    assert_eq!(status, 201, "{body}");
    for event in [
        "build_queued",
        "build_start",
        "build_success",
        "build_failure",
        "build_cancelled",
    ] {
        let notification = json!({
            "event": event,
            "method": "webhook",
            "config": {"url": hooks.url(&format!("/{event}"))},
            "eventConfig": {},
            "title": event,
        });
        let (status, body) = api.call(
            reqwest::Method::POST,
            &format!("/repository/{ADMIN}/app/notification/"),
            Some(notification),
        );
        assert_eq!(status, 201, "{body}");
    }
    let notified = |event: &str, uuid: &str| {
        let path = format!("/{event}");
        let hook = hooks.wait_for(&format!("{event} of {uuid}"), Duration::from_secs(60), |r| {
            r.path == path && serde_json::from_slice::<Value>(&r.body).is_ok_and(|b| b["build_id"] == uuid)
        });
        serde_json::from_slice::<Value>(&hook.body).expect("JSON payload")
    };

    // A context archive: Dockerfile with RUN, COPY and an expiry label.
    let app_ctx = work.path().join("app");
    fs::create_dir_all(&app_ctx).expect("app dir");
    fs::write(app_ctx.join("hello.txt"), "hello from the context\n").expect("hello");
    fs::write(
        app_ctx.join("Dockerfile"),
        format!(
            "FROM {base}\nRUN echo built-by-run > /run.txt\nCOPY hello.txt /hello.txt\nLABEL quay.expires-after=2h\n"
        ),
    )
    .expect("Dockerfile");
    let archive = work.path().join("ctx.tar.gz");
    let mut tar = Command::new("tar");
    tar.arg("-czf").arg(&archive).arg("-C").arg(&app_ctx).arg(".");
    run(&mut tar, Duration::from_secs(30)).ok();
    let file_id = api.upload("application/x-tar", fs::read(&archive).expect("archive"));

    let repo = format!("{ADMIN}/app");
    let started = Instant::now();
    let (build, seen) = api.build(&repo, &file_id, &["v1", "latest"]);
    let took = started.elapsed();
    let uuid = build["id"].as_str().expect("id").to_owned();
    assert_eq!(
        build["phase"],
        "complete",
        "{build}; phases {seen:?}; log:\n{}",
        reg.log()
    );
    eprintln!("a small build took {took:?} end to end; phases polled: {seen:?}");
    for event in ["build_queued", "build_start", "build_success"] {
        let payload = notified(event, &uuid);
        assert_eq!(payload["docker_tags"], json!(["v1", "latest"]), "{event}: {payload}");
        assert_eq!(payload["repository"], repo.as_str(), "{event}: {payload}");
    }

    let logs = api.logs(&repo, &uuid);
    assert_eq!(entries(&logs, "phase"), SUCCESS_PHASES, "{logs:?}");
    let commands = entries(&logs, "command");
    for step in [
        "RUN echo built-by-run",
        "COPY hello.txt /hello.txt",
        "LABEL quay.expires-after=2h",
    ] {
        assert!(commands.iter().any(|c| c.contains(step)), "{step} in {commands:?}");
    }
    assert!(!logs
        .iter()
        .any(|l| l["message"].as_str().is_some_and(|m| m.contains(&api.token))));

    for tag in ["v1", "latest"] {
        let image = format!("{host}/{repo}:{tag}");
        let info = inspect(&image, &creds);
        assert_eq!(info["Labels"]["quay.expires-after"], "2h", "{image}: {info}");
    }
    let files = read_image_files(&vars, &format!("{host}/{repo}:v1"), &creds, &["run.txt", "hello.txt"]);
    assert_eq!(files, ["built-by-run\n", "hello from the context\n"]);

    // A Dockerfile uploaded on its own whose RUN fails.
    let failing = api.upload("text/plain", format!("FROM {base}\nRUN false\n").into_bytes());
    let (build, seen) = api.build(&repo, &failing, &["broken"]);
    assert_eq!(build["phase"], "error", "{build}; phases {seen:?}");
    let error = build["error"].as_str().unwrap_or_default();
    assert!(!error.is_empty(), "the error is shown: {build}");
    let logs = api.logs(&repo, build["id"].as_str().expect("id"));
    assert!(
        logs.iter().any(|l| l["type"] == "error" && l["message"] == error),
        "the error is in the log: {logs:?}"
    );
    assert!(logs.iter().any(|l| l["type"] == "phase" && l["message"] == "error"));
    let payload = notified("build_failure", build["id"].as_str().expect("id"));
    assert_eq!(payload["error_message"], error, "{payload}");

    // The same context from an archive_url served on the loopback.
    let files = LoopbackHttp::start();
    files.serve("/ctx.tar.gz", fs::read(&archive).expect("archive"));
    let body = json!({"archive_url": files.url("/ctx.tar.gz"), "docker_tags": ["from-url"]});
    let (status, build) = api.call(reqwest::Method::POST, &format!("/repository/{repo}/build/"), Some(body));
    assert_eq!(status, 201, "{build}");
    let (build, seen) = api.wait(&repo, build["id"].as_str().expect("id"), |_| false);
    assert_eq!(build["phase"], "complete", "{build}; phases {seen:?}");
    assert!(files
        .received()
        .iter()
        .any(|r| r.method == "GET" && r.path == "/ctx.tar.gz"));

    // Cancelling a running build stops its builder (and the RUN it runs).
    let marker = "sleep 3607";
    let slow = api.upload("text/plain", format!("FROM {base}\nRUN {marker}\n").into_bytes());
    let uuid = api.start(&repo, &slow, &["slow"]);
    let running = || {
        Command::new("pgrep")
            .args(["-f", marker])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let (build, seen) = api.wait(&repo, &uuid, |p| p == "building");
    assert_eq!(build["phase"], "building", "phases {seen:?}");
    e2e::kube::wait_for(
        "the RUN step to start",
        Duration::from_secs(60),
        || running().then_some(()),
        || reg.log(),
    );
    let (status, body) = api.call(
        reqwest::Method::DELETE,
        &format!("/repository/{repo}/build/{uuid}"),
        None,
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(api.status(&repo, &uuid)["phase"], "cancelled");
    e2e::kube::wait_for(
        "the cancelled build's RUN step to be stopped",
        Duration::from_secs(60),
        || (!running()).then_some(()),
        || reg.log(),
    );
    notified("build_cancelled", &uuid);

    // A private base image: the build's own token may not pull it, its
    // pull robot (granted read) may.
    let private = format!("{host}/{ADMIN}/private-base:1");
    buildah(&vars, &["tag", &base, &private]).ok();
    buildah(&vars, &["push", "--tls-verify=false", "--creds", &creds, &private]).ok();
    let (status, robot) = api.call(reqwest::Method::PUT, "/user/robots/puller", Some(json!({})));
    assert_eq!(status, 201, "{robot}");
    let robot_token = robot["token"].as_str().expect("robot token").to_owned();
    let (status, body) = api.call(
        reqwest::Method::PUT,
        &format!("/repository/{ADMIN}/private-base/permissions/user/{ADMIN}+puller"),
        Some(json!({"role": "read"})),
    );
    assert_eq!(status, 200, "{body}");
    let dockerfile = format!("FROM {private}\nRUN echo from-private > /private.txt\n");
    let request = |robot: Option<&str>| {
        let file = api.upload("text/plain", dockerfile.clone().into_bytes());
        let mut body = json!({"file_id": file, "docker_tags": ["private"]});
        if let Some(r) = robot {
            body["pull_robot"] = r.into();
        }
        let (status, build) = api.call(reqwest::Method::POST, &format!("/repository/{repo}/build/"), Some(body));
        assert_eq!(status, 201, "{build}");
        let uuid = build["id"].as_str().expect("id").to_owned();
        api.wait(&repo, &uuid, |_| false)
    };
    let (build, seen) = request(None);
    assert_eq!(
        build["phase"], "error",
        "no access without the robot: {build}; phases {seen:?}"
    );
    let (build, seen) = request(Some(&format!("{ADMIN}+puller")));
    assert_eq!(build["phase"], "complete", "{build}; phases {seen:?}\n{}", reg.log());
    let logs = api.logs(&repo, build["id"].as_str().expect("id"));
    assert!(
        !logs
            .iter()
            .any(|l| l["message"].as_str().is_some_and(|m| m.contains(&robot_token))),
        "the robot's token is not logged"
    );
}
