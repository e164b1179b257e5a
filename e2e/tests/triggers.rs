//! Build triggers end to end: a custom-git trigger of a repository whose
//! git server is a real `sshd` on the loopback that lets in only the
//! trigger's deploy key. A post-receive hook posts every push to the
//! trigger's webhook as Quay's custom-git payload (with curl); the build it
//! queues clones the pushed commit over SSH with the deploy key, builds it
//! with buildah on the local executor and pushes the tags of the trigger's
//! templates. `[skip build]` queues nothing, and a wrong token is refused.
//!
//! Needs root, buildah, a static busybox, openssh-server, git and curl
//! (e2e/run installs them); elsewhere the test is skipped, in CI it fails.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use e2e::builds::{builds_possible, containers_env, inspect, read_image_files, BuildApi};
use e2e::git_server::{self, GitServer};
use e2e::process::run;
use e2e::{backend_tests, in_ci, Registry, TestEnv};
use reqwest::Method;
use serde_json::{json, Value};

backend_tests!(a_git_push_builds_through_the_trigger_with_its_deploy_key_and_tag_templates);

const ADMIN: &str = "gitbuilder";
const PASSWORD: &str = "gitbuilder-Passw0rd";

/// The post-receive hook: Quay's custom-git payload for each pushed ref,
/// posted with the token in `webhook-token` beside it; prints the answer,
/// which git shows the pusher as `remote: …`.
const HOOK: &str = r#"#!/bin/sh
url='@URL@'
token=$(cat "$(dirname "$0")/webhook-token")
esc() { sed -e 's/\\/\\\\/g' -e 's/"/\\"/g'; }
while read -r old new ref; do
  [ "$new" = 0000000000000000000000000000000000000000 ] && continue
  message=$(git log -1 --format=%s "$new" | esc)
  date=$(git log -1 --format=%cI "$new")
  author=$(git log -1 --format=%an "$new" | esc)
  payload=$(printf '{"commit":"%s","ref":"%s","default_branch":"main","commit_info":{"url":"http://git.invalid/commit/%s","message":"%s","date":"%s","author":{"username":"%s","url":"http://git.invalid/%s","avatar_url":"http://git.invalid/a.png"}}}' \
    "$new" "$ref" "$new" "$message" "$date" "$author" "$author")
  code=$(printf '%s' "$payload" | curl -s -o /dev/null -w '%{http_code}' -u "\$token:$token" \
    -H 'Content-Type: application/json' --data-binary @- "$url")
  echo "webhook answered $code for $ref"
done
"#;

fn prerequisites() -> bool {
    if !builds_possible() {
        return false;
    }
    let ok = git_server::available() && Command::new("curl").arg("--version").output().is_ok();
    assert!(ok || !in_ci(), "trigger builds need openssh-server, git and curl");
    if !ok {
        eprintln!("skipped: trigger builds need openssh-server, git and curl");
    }
    ok
}

/// `git` in the developer's working copy `dir`.
fn git(dir: &Path, args: &[&str]) -> String {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .args(["-c", "user.name=Ada", "-c", "user.email=ada@example.com"])
        .args(args);
    let outcome = run(&mut cmd, Duration::from_secs(60));
    assert!(outcome.success, "git {args:?} failed:\n{}", outcome.stderr);
    format!("{}{}", outcome.stdout, outcome.stderr)
}

/// Commits everything in `dir` with `message` and pushes `main` to the
/// bare repository; returns the commit and what the push printed.
fn commit_and_push(dir: &Path, bare: &Path, message: &str) -> (String, String) {
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "--quiet", "--allow-empty", "-m", message]);
    let sha = git(dir, &["rev-parse", "HEAD"]).trim().to_owned();
    let printed = git(dir, &["push", &bare.display().to_string(), "main"]);
    (sha, printed)
}

/// Creates a custom-git trigger of `repo` as Quay's UI does; its uuid.
fn setup_trigger(api: &BuildApi, repo: &str) -> String {
    let res = api
        .http
        .get(format!("{}/customtrigger/setup/{repo}", api.base))
        .bearer_auth(&api.token)
        .send()
        .expect("GET /customtrigger/setup");
    assert_eq!(res.status().as_u16(), 302);
    let location = res.headers()["Location"].to_str().expect("Location").to_owned();
    let uuid = location.rsplit('/').next().expect("uuid").to_owned();
    assert_eq!(location, format!("/repository/{repo}/trigger/{uuid}"));
    uuid
}

/// The credential `name` of an activated trigger's view.
fn credential(view: &Value, name: &str) -> String {
    view["config"]["credentials"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == name))
        .and_then(|c| c["value"].as_str())
        .unwrap_or_else(|| panic!("no credential {name} in {view}"))
        .to_owned()
}

/// The builds of `repo` queued for `sha`.
fn builds_of(api: &BuildApi, repo: &str, sha: &str) -> Vec<Value> {
    api.builds(repo)
        .into_iter()
        .filter(|b| b["trigger_metadata"]["commit"] == sha)
        .collect()
}

/// Installs the post-receive hook posting to `url` with `token`.
fn install_hook(bare: &Path, url: &str, token: &str) {
    let hook = bare.join("hooks").join("post-receive");
    fs::write(&hook, HOOK.replace("@URL@", url)).expect("hook");
    fs::set_permissions(&hook, fs::Permissions::from_mode(0o755)).expect("hook mode");
    fs::write(bare.join("hooks").join("webhook-token"), token).expect("token file");
}

fn a_git_push_builds_through_the_trigger_with_its_deploy_key_and_tag_templates(env: TestEnv) {
    if !prerequisites() {
        return;
    }
    let work = tempfile::tempdir().expect("temp dir");
    let config = format!("FEATURE_USER_INITIALIZE: true\nSUPER_USERS: [{ADMIN}]\nFEATURE_BUILD_SUPPORT: true\n");
    let builder_vars = containers_env(&work.path().join("builders"), "127.0.0.1");
    let reg = Registry::start_with_env(&env, &config, false, &builder_vars);
    let host = reg.host();
    let vars = containers_env(&work.path().join("mine"), &host);
    let api = BuildApi::initialize(&reg.url(""), ADMIN, PASSWORD);
    let base = api.push_busybox_base(&vars, work.path(), &host, (ADMIN, PASSWORD));
    let repo = format!("{ADMIN}/app");
    let new_repo = json!({"namespace": ADMIN, "repository": "app", "visibility": "private", "description": ""});
    let (status, body) = api.call(Method::POST, "/repository", Some(new_repo));
    assert_eq!(status, 201, "{body}");

    // The git server, then the trigger, whose deploy key the server trusts.
    let server = GitServer::start(&work.path().join("git"));
    let bare = server.bare_repository("app.git");
    let url = server.url(&bare);
    let uuid = setup_trigger(&api, &repo);
    let trigger_config = json!({
        "build_source": url,
        "dockerfile_path": "/app/Dockerfile",
        "context": "/app",
        "tag_templates": ["${parsed_ref.branch}", "${commit_info.short_sha}"],
        "latest_for_default_branch": true,
    });
    let path = format!("/repository/{repo}/trigger/{uuid}/activate");
    let (status, view) = api.call(Method::POST, &path, Some(json!({"config": trigger_config})));
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["build_source"], url);
    server.authorize(&credential(&view, "SSH Public Key"));
    let webhook = credential(&view, "Webhook Endpoint URL");
    let token = webhook
        .split_once("$token:")
        .and_then(|(_, rest)| rest.split_once('@'))
        .map(|(t, _)| t.to_owned())
        .expect("token in webhook URL");
    install_hook(&bare, &reg.url(&format!("/webhooks/push/trigger/{uuid}")), &token);

    // The developer's working copy: the build context is app/.
    let dev = work.path().join("dev");
    fs::create_dir_all(dev.join("app")).expect("dev dir");
    git(&dev, &["init", "--quiet", "--initial-branch=main"]);
    fs::write(dev.join("README"), "not in the context\n").expect("README");
    fs::write(dev.join("app").join("hello.txt"), "hello from git\n").expect("hello");
    fs::write(
        dev.join("app").join("Dockerfile"),
        format!("FROM {base}\nRUN echo built-by-run > /run.txt\nCOPY hello.txt /hello.txt\n"),
    )
    .expect("Dockerfile");

    let started = Instant::now();
    let (sha, printed) = commit_and_push(&dev, &bare, "Add the app");
    assert!(
        printed.contains("webhook answered 200 for refs/heads/main"),
        "{printed}"
    );
    let queued = builds_of(&api, &repo, &sha);
    assert_eq!(queued.len(), 1, "one build for {sha}: {queued:?}");
    let build_uuid = queued[0]["id"].as_str().expect("build id").to_owned();
    let (build, seen) = api.wait(&repo, &build_uuid, |_| false);
    let logs = api.logs(&repo, &build_uuid);
    assert_eq!(
        build["phase"],
        "complete",
        "{build}; phases {seen:?}; logs {logs:?}\nsshd log:\n{}",
        server.log()
    );
    eprintln!(
        "a triggered build took {:?} from the push; phases polled: {seen:?}",
        started.elapsed()
    );

    let short = &sha[..7];
    let tags: BTreeSet<String> = build["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .filter_map(|t| t.as_str().map(str::to_owned))
        .collect();
    let expected: BTreeSet<String> = ["main", short, "latest"].iter().map(|t| (*t).to_owned()).collect();
    assert_eq!(tags, expected, "{build}");
    assert_eq!(build["trigger"]["id"], uuid);
    assert!(
        logs.iter()
            .any(|l| l["type"] == "command" && l["message"].as_str().is_some_and(|m| m.starts_with("git clone"))),
        "the clone is logged: {logs:?}"
    );
    let key_line = "OPENSSH PRIVATE KEY";
    assert!(
        !logs.iter().any(|l| l.to_string().contains(key_line)),
        "no key material in the log"
    );
    assert!(server.log().contains("Accepted publickey for root"), "{}", server.log());

    check_image(&vars, &host, &repo, &tags);

    // A commit asking to skip, then a hook with a wrong token: no builds.
    fs::write(dev.join("README"), "docs only\n").expect("README");
    let (skipped, printed) = commit_and_push(&dev, &bare, "Fix the docs [skip build]");
    assert!(
        printed.contains("webhook answered 200 for refs/heads/main"),
        "{printed}"
    );
    fs::write(bare.join("hooks").join("webhook-token"), "not-the-token").expect("token file");
    let (refused, printed) = commit_and_push(&dev, &bare, "Change with a wrong token");
    assert!(
        printed.contains("webhook answered 403 for refs/heads/main"),
        "{printed}"
    );
    for sha in [&skipped, &refused] {
        assert!(builds_of(&api, &repo, sha).is_empty(), "no build for {sha}");
    }
    assert_eq!(api.builds(&repo).len(), 1);

    // Once the server no longer trusts the deploy key, a build cannot clone.
    server.authorize("");
    let start = format!("/repository/{repo}/trigger/{uuid}/start");
    let (status, build) = api.call(Method::POST, &start, Some(json!({"commit_sha": sha})));
    assert_eq!(status, 201, "{build}");
    let failed = build["id"].as_str().expect("build id").to_owned();
    let (build, seen) = api.wait(&repo, &failed, |_| false);
    assert_eq!(build["phase"], "error", "{build}; phases {seen:?}");
    let error = build["error"].as_str().unwrap_or_default();
    assert!(
        error.starts_with("cloning ssh://127.0.0.1:") && error.contains("Could not read from remote repository"),
        "{error}"
    );
    let logs = api.logs(&repo, &failed);
    assert!(
        logs.iter().any(|l| l["type"] == "error" && l["message"] == error),
        "{logs:?}"
    );
    assert!(
        !logs.iter().any(|l| l.to_string().contains(key_line)),
        "no key material in the log"
    );
}

/// Every tag is the same image, with the RUN step's file and the file
/// copied from the context folder.
fn check_image(vars: &[(&str, String)], host: &str, repo: &str, tags: &BTreeSet<String>) {
    let creds = format!("{ADMIN}:{PASSWORD}");
    let digests: BTreeSet<String> = tags
        .iter()
        .map(|tag| {
            let info = inspect(&format!("{host}/{repo}:{tag}"), &creds);
            info["Digest"].as_str().expect("digest").to_owned()
        })
        .collect();
    assert_eq!(digests.len(), 1, "all tags are one image: {digests:?}");
    let files = read_image_files(
        vars,
        &format!("{host}/{repo}:latest"),
        &creds,
        &["run.txt", "hello.txt"],
    );
    assert_eq!(files, ["built-by-run\n", "hello from git\n"]);
}
