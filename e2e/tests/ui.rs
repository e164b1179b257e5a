//! The web UI in a real browser (headless Chromium under chromedriver, see
//! `e2e::browser`), against the release registry on both backends.
//!
//! Each procedure runs in [`with_ui`]: a registry whose first user is still
//! to be created (`FEATURE_USER_INITIALIZE`, superuser `admin`), a fresh
//! browser, and on failure a screenshot and the page's HTML in the output
//! folder (`E2E_OUTPUT_DIR`, else `target/e2e-output/ui`, printed at the
//! start). A new procedure is one more function of steps and one more name
//! in `backend_tests!`.
//!
//! `the_harness_drives_a_page` checks the harness itself on a page of its
//! own, so a broken browser set-up is told apart from a broken UI.

use std::path::PathBuf;

use std::time::Duration;

use e2e::browser::{output_dir, Browser, ENTER, ESCAPE, TAB};
use e2e::loopback::LoopbackHttp;
use e2e::{backend_tests, Backend, Registry, TestEnv};

backend_tests!(
    the_home_page_loads_without_script_errors,
    an_admin_sets_up_an_organization_team_robot_and_repository_the_robot_pushes_to,
    tags_are_moved_expired_deleted_and_reverted_and_the_usage_log_shows_it,
    a_webhook_notification_is_created_and_its_test_reaches_the_receiver,
    the_superuser_creates_a_user_who_signs_in_and_then_deletes_them,
    a_dockerfile_uploaded_in_the_build_dialog_builds_and_its_log_follows,
    an_account_is_created_signs_out_changes_its_password_and_signs_in_again,
    robot_permissions_default_permissions_and_an_oauth_token_are_set_up_in_the_organization,
    the_superuser_sets_a_quota_the_organization_admin_sees_but_cannot_change,
    a_build_trigger_is_set_up_and_a_push_to_its_webhook_queues_a_build,
    the_keyboard_alone_signs_in_and_works_a_dialog,
    robot_credential_files_hold_the_token_and_a_repository_is_made_public,
    a_scanned_tag_shows_its_vulnerabilities_and_the_report_filters_them,
    the_api_explorer_lists_the_endpoints_and_calls_them_anonymously_and_signed_in,
    a_swagger_ui_on_another_origin_loads_the_document_and_calls_the_api,
);

const ADMIN: &str = "admin";
const PASSWORD: &str = "admin-Passw0rd";
const DIALOG_OK: &str = "dialog [data-test=dialog-submit]";
const DIALOG_CLOSE: &str = "dialog [data-test=dialog-cancel]";

/// The output folder of one backend's run (both run at once).
fn out_dir(env: &TestEnv) -> PathBuf {
    output_dir().join(match env.backend {
        Backend::SqliteFs => "sqlite-fs",
        Backend::PostgresS3 => "postgres-s3",
    })
}

/// Starts a registry with an empty database (the first user, `admin`, a
/// superuser, is still to be created), then runs `steps` in a new browser
/// as the scenario `name`; the browser's pages must record no script
/// errors. On failure the browser's screenshot and HTML are kept.
fn with_ui(env: &TestEnv, name: &str, steps: impl FnOnce(&mut Browser, &Registry)) {
    with_ui_config(env, name, "", steps);
}

/// [`with_ui`] with more `config.yaml` keys.
fn with_ui_config(env: &TestEnv, name: &str, extra_yaml: &str, steps: impl FnOnce(&mut Browser, &Registry)) {
    let reg = Registry::start_with(
        env,
        &format!("FEATURE_USER_INITIALIZE: true\nSUPER_USERS: [{ADMIN}]\nPERMANENTLY_DELETE_TAGS: true\n{extra_yaml}"),
        false,
    );
    Browser::scenario(name, &out_dir(env), |browser| steps(browser, &reg));
}

fn the_home_page_loads_without_script_errors(env: TestEnv) {
    with_ui(&env, "home", |b, reg| {
        let home = reg.url("/");
        let resp = reqwest::blocking::get(&home).unwrap_or_else(|e| panic!("GET {home}: {e}"));
        let status = resp.status();
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = resp.text().unwrap_or_default();
        assert_eq!(status, reqwest::StatusCode::OK, "GET /: {body}");
        assert!(content_type.starts_with("text/html"), "GET / is {content_type}");
        assert!(body.to_ascii_lowercase().contains("<html"), "GET /: {body}");

        b.goto(&home);
        // The UI may route elsewhere (the sign-in page), not off the registry.
        let at = b.current_url();
        assert!(at.starts_with(&home), "the browser left the registry for {at}");
        assert_eq!(b.eval("return document.readyState"), "complete");
        let size = b.eval("return [window.innerWidth, window.innerHeight]");
        assert_eq!(size, serde_json::json!([1366, 900]), "viewport");
        // The harness's error check reads what the UI records.
        assert!(b.records_errors(), "the UI keeps no window.__uiErrors array");
        b.assert_no_js_errors();

        let shot = b.screenshot("home");
        let png = std::fs::read(&shot).unwrap_or_else(|e| panic!("{}: {e}", shot.display()));
        assert!(
            png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 1000,
            "{} is no screenshot ({} bytes)",
            shot.display(),
            png.len()
        );
        eprintln!(
            "chromedriver ready in {:?}, Chromium session in {:?}; screenshot {} ({} bytes)",
            b.driver_ready_after,
            b.session_ready_after,
            shot.display(),
            png.len()
        );
    });
}

/// A page of the test's own (a `data:` URL, nothing of the product) that
/// records its errors the way the UI does, with a form, a list that fills
/// later, a confirm dialog and a failing script.
const HARNESS_PAGE: &str = r#"<!doctype html><html><head><title>harness</title><script>
window.__uiErrors = [];
window.addEventListener('error', function (e) { window.__uiErrors.push(String(e.message)); });
</script></head><body>
<input id="name" value="old">
<select id="kind"><option value="a">A</option><option value="b">B</option></select>
<button id="go" onclick="go()">Go</button>
<p id="busy">Working…</p>
<ul id="out"></ul>
<button id="ask" onclick="document.getElementById('answer').textContent = confirm('Sure?') ? 'yes' : 'no'">Ask</button>
<p id="answer"></p>
<button id="boom" onclick="setTimeout(function () { throw new Error('boom from the page'); }, 0)">Boom</button>
<script>
function go() {
  setTimeout(function () {
    var li = document.createElement('li');
    li.textContent = document.getElementById('name').value + '/' + document.getElementById('kind').value;
    document.getElementById('out').appendChild(li);
    document.getElementById('busy').remove();
  }, 300);
}
</script></body></html>"#;

#[test]
fn the_harness_drives_a_page() {
    let out = output_dir().join("harness");
    let page = format!("data:text/html;charset=utf-8,{}", url_escape(HARNESS_PAGE));
    Browser::scenario("harness", &out, |b| {
        b.goto(&page);
        assert!(b.records_errors());
        assert!(b.exists("#busy") && !b.exists("#nothing"));
        b.fill("#name", "new name");
        b.select("#kind", "b");
        b.click("#go");
        assert_eq!(b.wait_for_text("#out li", "new name"), "new name/b");
        b.wait_gone("#busy");
        b.wait_for("#out li");
        assert_eq!(b.text("#out li"), "new name/b");

        b.click("#ask");
        assert_eq!(b.dismiss_alert(), "Sure?");
        b.wait_for_text("#answer", "no");
        b.click("#ask");
        assert_eq!(b.accept_alert(), "Sure?");
        b.wait_for_text("#answer", "yes");
        b.assert_no_js_errors();

        // An uncaught error is seen both in the page's array and in the
        // console, and still after the page is left.
        b.click("#boom");
        let errors = poll_errors(b);
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("page: ") && e.contains("boom from the page")),
            "{errors:?}"
        );
        if b.console_unavailable().is_none() {
            assert!(
                errors
                    .iter()
                    .any(|e| e.starts_with("console javascript: ") && e.contains("boom from the page")),
                "{errors:?}"
            );
        }
        b.goto("data:text/html,<p>next</p>");
        assert!(b.js_errors().iter().any(|e| e.contains("boom from the page")));
        let shot = b.screenshot("harness");
        assert!(std::fs::metadata(&shot).is_ok_and(|m| m.len() > 0));
        // Provoked on purpose: set aside, so the scenario's final check passes.
        b.forget_js_errors();
        assert_eq!(b.js_errors(), Vec::<String>::new());
    });
    // A failing step leaves its screenshot and page behind.
    let failed = std::panic::catch_unwind(|| {
        Browser::scenario("harness-expected-failure", &out, |b| {
            b.goto("data:text/html,<p id=here>here</p>");
            b.set_timeout(std::time::Duration::from_millis(300));
            b.wait_for("#not-there");
        })
    });
    assert!(failed.is_err(), "waiting for a missing element must fail");
    for file in [
        "failure-harness-expected-failure.png",
        "failure-harness-expected-failure.html",
    ] {
        assert!(out.join(file).is_file(), "{file} was not written to {}", out.display());
    }
}

/// The errors once the page's timer has thrown (it runs after the click).
fn poll_errors(b: &mut Browser) -> Vec<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let errors = b.js_errors();
        let both = errors.iter().filter(|e| e.contains("boom from the page")).count() >= 2;
        if both || (b.console_unavailable().is_some() && !errors.is_empty()) {
            return errors;
        }
        assert!(std::time::Instant::now() < deadline, "no error recorded: {errors:?}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Percent-encodes what a `data:` URL cannot carry as is.
fn url_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b" <>/=.,;:!'()*-_\"".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The first-user form of an empty registry: `admin` is created and
/// signed in, and lands on the repository list.
fn create_first_user(b: &mut Browser, reg: &Registry) {
    b.goto(&reg.url("/"));
    b.wait_for("[data-test=init-form]");
    b.fill("[data-test=init-form] input[name=username]", ADMIN);
    b.fill("[data-test=init-form] input[name=email]", "admin@example.com");
    b.fill("[data-test=init-form] input[name=password]", PASSWORD);
    b.click("[data-test=init-submit]");
    b.wait_for("[data-test=nav-repositories]");
    b.wait_for_text("#masthead", ADMIN);
}

/// Waits (15 s at most) until the script `condition` returns true.
fn wait_until(b: &Browser, what: &str, condition: &str) {
    wait_until_for(b, what, Duration::from_secs(15), condition);
}

/// [`wait_until`] with a deadline of `limit`.
fn wait_until_for(b: &Browser, what: &str, limit: Duration, condition: &str) {
    let deadline = std::time::Instant::now() + limit;
    while b.eval(condition) != serde_json::Value::Bool(true) {
        assert!(std::time::Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A value of the page (an input's value, say) as text.
fn value(b: &Browser, css: &str) -> String {
    let v = b.eval(&format!("return document.querySelector({css:?}).value"));
    v.as_str()
        .unwrap_or_else(|| panic!("no value at {css}: {v}"))
        .to_owned()
}

/// Logs skopeo in to the registry with `user`/`secret` and pushes a new
/// image as `repo:tag`; returns how the push ended and the image's
/// manifest digest.
fn skopeo_push(reg: &Registry, user: &str, secret: &str, repo: &str, tag: &str) -> (e2e::process::Outcome, String) {
    let (pushed, image, _) = e2e::skopeo::push_new_as(reg, (user, secret), repo, tag, 0);
    (pushed, image.manifest_digest)
}

/// [`skopeo_push`] that must succeed; returns the manifest digest.
fn push_image(reg: &Registry, user: &str, secret: &str, repo: &str, tag: &str) -> String {
    let (pushed, digest) = skopeo_push(reg, user, secret, repo, tag);
    pushed.ok();
    digest
}

fn an_admin_sets_up_an_organization_team_robot_and_repository_the_robot_pushes_to(env: TestEnv) {
    with_ui(&env, "organization", |b, reg| {
        create_first_user(b, reg);
        b.screenshot("repositories-empty");

        // An organization.
        b.click("[data-test=nav-organizations]");
        b.click("[data-test=create-org]");
        b.fill("[data-test=org-name]", "acme");
        b.fill("[data-test=org-email]", "acme@example.com");
        b.click("[data-test=org-submit]");
        b.wait_for_text("[data-test=org-title]", "acme");

        // A team.
        b.click("[data-test=tab-teams]");
        b.click("[data-test=create-team]");
        b.fill("dialog [data-test=team-name]", "devs");
        b.fill("dialog [data-test=team-description]", "Developers");
        b.click(DIALOG_OK);
        b.wait_for_text("[data-test=team-title]", "devs");

        // A robot account, its token shown at once.
        b.goto(&reg.url("/organization/acme?tab=robots"));
        b.click("[data-test=create-robot]");
        b.fill("dialog [data-test=robot-name]", "ci");
        b.click(DIALOG_OK);
        b.wait_for("dialog [data-test=robot-token]");
        let token = value(b, "dialog [data-test=robot-token]");
        assert!(token.len() >= 32, "robot token {token:?}");
        let secret = b.eval("return document.querySelector('dialog [data-test=k8s-secret]').textContent");
        let secret = secret.as_str().unwrap_or_default();
        assert!(secret.contains("kubernetes.io/dockerconfigjson"), "{secret}");
        b.screenshot("robot-credentials");
        b.click(DIALOG_CLOSE);
        b.wait_for("[data-robot=\"acme+ci\"]");

        // The robot joins the team.
        b.goto(&reg.url("/organization/acme/teams/devs"));
        b.fill("[data-test=member-name]", "acme+ci");
        b.click("[data-test=add-member]");
        b.wait_for("[data-member=\"acme+ci\"]");
        b.screenshot("team");

        // A private repository of the organization; the team may write.
        b.click("[data-test=nav-repositories]");
        b.click("[data-test=create-repo]");
        b.select("[data-test=new-repo-form] select[name=namespace]", "acme");
        b.fill("[data-test=repo-name]", "app");
        b.fill("[data-test=repo-description]", "The app");
        b.click("[data-test=repo-submit]");
        b.wait_for_text("[data-test=repo-title]", "acme/app");
        b.click("[data-test=tab-settings]");
        b.fill("[data-test=perm-entity]", "devs");
        b.select("[data-test=perm-role]", "write");
        b.click("[data-test=perm-add]");
        b.wait_for("[data-who=devs]");
        b.screenshot("repository-settings");

        // What the UI set up works for a real client: the robot, through
        // the team, pushes to the repository, and the tag shows up.
        let digest = push_image(reg, "acme+ci", &token, "acme/app", "v1");
        b.click("[data-test=tab-tags]");
        b.wait_for("[data-tag=v1]");
        let row = b.text("[data-tag=v1]");
        assert!(row.contains(&digest["sha256:".len()..][..12]), "{row}");
        b.screenshot("tags");

        // A second robot, in no team and with no grant, is refused.
        b.goto(&reg.url("/organization/acme?tab=robots"));
        b.click("[data-test=create-robot]");
        b.fill("dialog [data-test=robot-name]", "other");
        b.click(DIALOG_OK);
        b.wait_for("dialog [data-test=robot-token]");
        let other = value(b, "dialog [data-test=robot-token]");
        b.click(DIALOG_CLOSE);
        let refused = skopeo_push(reg, "acme+other", &other, "acme/app", "v2").0.failed();
        assert!(
            refused.contains("denied") || refused.contains("unauthorized") || refused.contains("403"),
            "{refused}"
        );
    });
}

fn tags_are_moved_expired_deleted_and_reverted_and_the_usage_log_shows_it(env: TestEnv) {
    with_ui(&env, "tags", |b, reg| {
        create_first_user(b, reg);
        b.click("[data-test=create-repo]");
        b.fill("[data-test=repo-name]", "hello");
        b.click("[data-test=repo-submit]");
        b.wait_for_text("[data-test=repo-title]", "admin/hello");
        let first = push_image(reg, ADMIN, PASSWORD, "admin/hello", "v1");
        let second = push_image(reg, ADMIN, PASSWORD, "admin/hello", "v2");
        let short = |d: &str| d["sha256:".len()..][..12].to_owned();

        b.goto(&reg.url("/repository/admin/hello?tab=tags"));
        b.wait_for("[data-tag=v1]");
        b.wait_for("[data-tag=v2]");

        // The fetch dialog: pull commands by tag and by digest.
        b.click("[data-test=fetch-v1]");
        b.wait_for("dialog [data-test=fetch-podman-digest]");
        assert_eq!(
            value(b, "dialog [data-test=fetch-podman-digest]"),
            format!("podman pull {}/admin/hello@{first}", reg.host())
        );
        assert_eq!(
            value(b, "dialog [data-test=fetch-docker-tag]"),
            format!("docker pull {}/admin/hello:v1", reg.host())
        );
        b.screenshot("fetch-tag");
        b.click(DIALOG_CLOSE);

        // Add tag v2 to v1's image: v2 exists, so it is a move, confirmed.
        b.click("[data-test=addtag-v1]");
        b.fill("dialog [data-test=new-tag-name]", "v2");
        b.click(DIALOG_OK);
        b.wait_for_text("dialog", "Move tag?");
        b.click(DIALOG_OK);
        b.wait_for_text("[data-tag=v2]", &short(&first));

        // An expiration three days ahead, picked as a local date and time.
        b.click("[data-test=expire-v1]");
        b.wait_for("dialog [data-test=expiration-input]");
        b.eval(
            "const i = document.querySelector('dialog [data-test=expiration-input]');
             const d = new Date(Date.now() + 3 * 86400000); const p = (n) => String(n).padStart(2, '0');
             i.value = `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T10:30`; return i.value",
        );
        b.click(DIALOG_OK);
        wait_until(
            b,
            "v1 shows its expiration",
            "return document.querySelector('[data-test=expires-v1]').innerText !== 'Never'",
        );

        // Delete v2, then revert it from the tag history.
        b.click("[data-test=delete-v2]");
        b.click(DIALOG_OK);
        b.wait_gone("[data-tag=v2]");
        b.click("[data-test=tab-history]");
        let restore = format!("[data-test=restore-v2-{}]", short(&first));
        b.click(&restore);
        b.click(DIALOG_OK);
        b.wait_for_text("[data-test=toast]", "Restored v2");
        b.screenshot("tag-history");
        b.click("[data-test=tab-tags]");
        b.wait_for_text("[data-tag=v2]", &short(&first));
        assert!(
            !b.text("main").contains(&short(&second)),
            "v2's first image is no longer tagged"
        );

        // The usage log tells each step.
        b.click("[data-test=tab-logs]");
        b.wait_for("[data-test=log-row]");
        let kinds = b.eval("return [...document.querySelectorAll('[data-test=log-row]')].map(r => r.dataset.kind)");
        for kind in [
            "push_repo",
            "move_tag",
            "change_tag_expiration",
            "delete_tag",
            "revert_tag",
            "create_repo",
        ] {
            assert!(
                kinds.as_array().is_some_and(|k| k.iter().any(|x| x == kind)),
                "{kind} not in the log: {kinds}"
            );
        }
        b.click("[data-test=log-row] summary");
        b.fill("[data-test=logs-filter]", "revert");
        let shown = b.eval("return document.querySelectorAll('[data-test=log-row]').length");
        assert_eq!(shown, 1, "the filter keeps only the revert");
        b.screenshot("usage-logs");
    });
}

fn a_webhook_notification_is_created_and_its_test_reaches_the_receiver(env: TestEnv) {
    let receiver = LoopbackHttp::start();
    with_ui_config(
        &env,
        "notification",
        "SSRF_ALLOWED_HOSTS: ['127.0.0.1']\nNOTIFICATION_WORKER_INTERVAL: 1\n",
        |b, reg| {
            create_first_user(b, reg);
            b.click("[data-test=create-repo]");
            b.fill("[data-test=repo-name]", "hooked");
            b.click("[data-test=visibility-public]");
            b.click("[data-test=repo-submit]");
            b.wait_for_text("[data-test=repo-title]", "admin/hooked");
            b.click("[data-test=tab-settings]");
            b.click("[data-test=create-notification]");
            b.select("dialog [data-test=notification-event]", "repo_push");
            b.select("dialog [data-test=notification-method]", "webhook");
            b.fill("dialog [data-test=notification-target]", &receiver.url("/hook"));
            b.fill("dialog [data-test=notification-title]", "to the receiver");
            b.click(DIALOG_OK);
            b.wait_for("[data-title=\"to the receiver\"]");
            b.click("[data-test=test-notification]");
            b.wait_for_text("[data-test=toast]", "Test notification queued");
            let got = receiver.wait_for("the test webhook", Duration::from_secs(60), |r| {
                r.method == "POST" && r.path == "/hook"
            });
            let body: serde_json::Value = serde_json::from_slice(&got.body).expect("webhook JSON");
            assert_eq!(body["repository"], "admin/hooked", "{body}");
            b.screenshot("notifications");

            // A refused target is told to the user and nothing is created.
            b.click("[data-test=create-notification]");
            b.fill("dialog [data-test=notification-target]", "http://10.1.2.3/hook");
            b.click(DIALOG_OK);
            b.wait_for_text("[data-test=toast].error", "not allowed");
            assert_eq!(
                b.eval("return document.querySelectorAll('[data-test=notification-row]').length"),
                1
            );
            b.forget_js_errors();
        },
    );
}

fn the_superuser_creates_a_user_who_signs_in_and_then_deletes_them(env: TestEnv) {
    with_ui(&env, "superuser", |b, reg| {
        create_first_user(b, reg);
        b.click("[data-test=nav-superuser]");
        b.click("[data-test=su-create-user]");
        b.fill("dialog [data-test=su-new-username]", "bob");
        b.fill("dialog [data-test=su-new-email]", "bob@example.com");
        b.click(DIALOG_OK);
        b.wait_for("dialog [data-test=su-new-password]");
        let password = value(b, "dialog [data-test=su-new-password]");
        b.screenshot("superuser-new-user");
        b.click(DIALOG_CLOSE);
        b.wait_for("[data-user=bob]");

        let sign_in = |password: &str| {
            reqwest::blocking::Client::new()
                .post(reg.url("/api/v1/signin"))
                .json(&serde_json::json!({"username": "bob", "password": password}))
                .send()
                .expect("sign in")
                .status()
                .as_u16()
        };
        assert_eq!(sign_in(&password), 200, "the shown password signs bob in");
        assert_ne!(sign_in("wrong-password"), 200);

        b.click("[data-test=su-delete-bob]");
        b.click(DIALOG_OK);
        b.wait_gone("[data-user=bob]");
        assert_ne!(sign_in(&password), 200, "bob is gone");
        b.screenshot("superuser-users");

        // A global message, shown on every page afterwards.
        b.click("[data-test=tab-messages]");
        b.click("[data-test=su-create-message]");
        b.fill("dialog textarea[name=content]", "Maintenance on Sunday");
        b.click(DIALOG_OK);
        b.wait_for("[data-test=su-message-row]");
        b.goto(&reg.url("/repository"));
        b.wait_for_text("[data-test=global-message]", "Maintenance on Sunday");
    });
}

fn a_dockerfile_uploaded_in_the_build_dialog_builds_and_its_log_follows(env: TestEnv) {
    // On by default, but the PostgreSQL+S3 configs are written as the
    // operator writes them, with builds off.
    with_ui_config(&env, "build", "FEATURE_BUILD_SUPPORT: true\n", |b, reg| {
        create_first_user(b, reg);
        b.click("[data-test=create-repo]");
        b.fill("[data-test=repo-name]", "built");
        b.click("[data-test=repo-submit]");
        b.wait_for_text("[data-test=repo-title]", "admin/built");
        let dockerfile = reg.scratch("ui-build").join("Dockerfile");
        std::fs::write(&dockerfile, "FROM scratch\nLABEL made.by=web-ui\n").expect("Dockerfile");

        b.click("[data-test=tab-builds]");
        b.click("[data-test=start-build]");
        b.fill("dialog [data-test=build-file]", &dockerfile.display().to_string());
        b.fill("dialog [data-test=build-tags]", "v1, latest");
        b.click(DIALOG_OK);
        b.wait_for("[data-test=build-log]");
        wait_until_for(
            b,
            "the build ends",
            Duration::from_secs(180),
            "return ['complete', 'error', 'internalerror', 'expired', 'cancelled'].includes(document.querySelector('[data-test=build-phase]').innerText)",
        );
        let log = b.text("[data-test=build-log]");
        assert_eq!(b.text("[data-test=build-phase]"), "complete", "{log}");
        assert!(log.contains("STEP 2/2: LABEL made.by=web-ui"), "{log}");
        b.screenshot("build");

        b.click("[data-test=tab-tags]");
        b.wait_for("[data-tag=v1]");
        b.wait_for("[data-tag=latest]");
        b.click("[data-test=tab-builds]");
        b.wait_for("[data-test=build-row][data-phase=complete]");
    });
}

/// Signs in through the sign-in page.
fn sign_in(b: &mut Browser, reg: &Registry, user: &str, password: &str) {
    b.goto(&reg.url("/signin"));
    b.fill("[data-test=signin-form] input[name=username]", user);
    b.fill("[data-test=signin-form] input[name=password]", password);
    b.click("[data-test=signin-submit]");
    b.wait_for("[data-test=nav-repositories]");
}

fn an_account_is_created_signs_out_changes_its_password_and_signs_in_again(env: TestEnv) {
    // The embedded default: no first-user page, accounts are created.
    let reg = Registry::start_with(&env, "", false);
    Browser::scenario("account", &out_dir(&env), |b| {
        b.goto(&reg.url("/"));
        b.wait_for("[data-test=signin-form]");
        b.click("[data-test=show-create-account]");
        b.fill("[data-test=create-account-form] input[name=username]", "carol");
        b.fill("[data-test=create-account-form] input[name=email]", "carol@example.com");
        b.fill("[data-test=create-account-form] input[name=password]", "carol-Passw0rd");
        b.click("[data-test=create-account-submit]");
        b.wait_for_text("#masthead", "carol");
        assert!(!b.exists("[data-test=nav-superuser]"), "carol is no superuser");

        b.click("[data-test=signout]");
        b.wait_for("[data-test=signin-form]");
        b.goto(&reg.url("/repository"));
        b.wait_for("[data-test=signin-form]");

        // A wrong password is told on the page.
        b.fill("[data-test=signin-form] input[name=username]", "carol");
        b.fill("[data-test=signin-form] input[name=password]", "not-her-password");
        b.click("[data-test=signin-submit]");
        let said = b.wait_for_text("[data-test=signin-error]", "");
        assert!(!said.is_empty(), "no error shown for a wrong password");

        sign_in(b, &reg, "carol", "carol-Passw0rd");
        b.click("[data-test=user-menu]");
        b.fill("[data-test=account-password]", "carol-N3w-password");
        b.fill("[data-test=account-password2]", "carol-N3w-password");
        b.click("[data-test=account-password-save]");
        b.wait_for_text("[data-test=toast]", "Password changed");
        b.screenshot("account-settings");
        b.click("[data-test=signout]");
        b.wait_for("[data-test=signin-form]");
        sign_in(b, &reg, "carol", "carol-N3w-password");
        b.wait_for_text("#masthead", "carol");
    });
}

fn robot_permissions_default_permissions_and_an_oauth_token_are_set_up_in_the_organization(env: TestEnv) {
    with_ui(&env, "organization-admin", |b, reg| {
        create_first_user(b, reg);
        b.click("[data-test=nav-organizations]");
        b.click("[data-test=create-org]");
        b.fill("[data-test=org-name]", "shop");
        b.click("[data-test=org-submit]");
        b.wait_for_text("[data-test=org-title]", "shop");

        // A default permission: every new repository gives the robot read.
        b.goto(&reg.url("/organization/shop?tab=robots"));
        b.click("[data-test=create-robot]");
        b.fill("dialog [data-test=robot-name]", "puller");
        b.click(DIALOG_OK);
        b.wait_for("dialog [data-test=robot-token]");
        let token = value(b, "dialog [data-test=robot-token]");
        b.click(DIALOG_CLOSE);
        b.click("[data-test=tab-defaults]");
        b.click("[data-test=create-prototype]");
        b.fill("dialog [data-test=prototype-delegate]", "shop+puller");
        b.click(DIALOG_OK);
        b.wait_for_text("[data-test=prototype-row]", "shop+puller");

        // A new repository picks it up, seen in its settings and in the
        // robot's own permissions.
        b.goto(&reg.url("/repository/new?namespace=shop"));
        b.fill("[data-test=repo-name]", "web");
        b.click("[data-test=repo-submit]");
        b.wait_for_text("[data-test=repo-title]", "shop/web");
        b.click("[data-test=tab-settings]");
        b.wait_for_text("[data-who=\"shop+puller\"]", "shop+puller");
        assert_eq!(value(b, "[data-test=\"role-shop+puller\"]"), "read");

        // Write permission through the robot's permission dialog; the
        // robot then pushes with its token.
        b.goto(&reg.url("/organization/shop?tab=robots"));
        b.click("[data-test=robot-permissions-puller]");
        b.wait_for_text("dialog [data-test=robot-permission-row]", "web");
        b.select("dialog [data-test=robot-perm-repo]", "web");
        b.select("dialog [data-test=robot-perm-role]", "write");
        b.click("dialog [data-test=robot-perm-add]");
        b.wait_for_text("dialog [data-test=robot-permission-row]", "write");
        b.screenshot("robot-permissions");
        b.click(DIALOG_CLOSE);
        push_image(reg, "shop+puller", &token, "shop/web", "v1");

        // An OAuth application; Generate Token leads to the consent page
        // for the scopes picked.
        b.click("[data-test=tab-applications]");
        b.click("[data-test=create-application]");
        b.fill("dialog [data-test=app-name]", "deployer");
        b.click(DIALOG_OK);
        b.wait_for_text("[data-test=application-row]", "deployer");
        b.click("[data-test=app-token]");
        b.click("dialog [data-test=\"scope-repo:read\"]");
        b.click(DIALOG_OK);
        b.wait_for_text("body", "Authorize application");
        let page = b.text("body");
        assert!(
            page.contains("deployer") && page.contains("View all visible repositories"),
            "{page}"
        );
        b.screenshot("oauth-consent");
    });
}

fn the_superuser_sets_a_quota_the_organization_admin_sees_but_cannot_change(env: TestEnv) {
    with_ui_config(&env, "quota", "FEATURE_QUOTA_MANAGEMENT: true\n", |b, reg| {
        create_first_user(b, reg);
        b.click("[data-test=nav-organizations]");
        b.click("[data-test=create-org]");
        b.fill("[data-test=org-name]", "quotaorg");
        b.click("[data-test=org-submit]");
        b.wait_for_text("[data-test=org-title]", "quotaorg");
        b.goto(&reg.url("/repository/new?namespace=quotaorg"));
        b.fill("[data-test=repo-name]", "big");
        b.click("[data-test=repo-submit]");
        b.wait_for_text("[data-test=repo-title]", "quotaorg/big");
        push_image(reg, ADMIN, PASSWORD, "quotaorg/big", "v1");

        // The superuser panel: 10 MiB, a Reject threshold at 80 %.
        b.click("[data-test=nav-superuser]");
        b.click("[data-test=tab-orgs]");
        b.click("[data-test=su-quota-quotaorg]");
        b.wait_for_text("dialog [data-test=quota-state]", "No quota");
        b.fill("dialog [data-test=quota-amount]", "10");
        b.select("dialog [data-test=quota-unit]", "MiB");
        b.click("dialog [data-test=quota-save]");
        b.wait_for_text("dialog [data-test=quota-state]", "The quota is 10.0 MiB");
        b.select("dialog [data-test=quota-limit-type]", "Reject");
        b.fill("dialog [data-test=quota-limit-percent]", "80");
        b.click("dialog [data-test=quota-limit-add]");
        b.wait_for_text("dialog [data-test=quota-limit-row]", "80% (8.0 MiB)");
        b.screenshot("superuser-quota");
        b.click(DIALOG_CLOSE);
        let used = b.wait_for_text("[data-org=quotaorg] [data-test=su-size]", "of 10.0 MiB");
        assert!(!used.starts_with("0 B"), "the pushed image counts: {used}");

        // The lists show what the repository and the organization use.
        b.goto(&reg.url("/repository"));
        let size = b.text("[data-test=repo-row] [data-test=repo-size]");
        assert!(size != "0 B" && size != "—", "repository size {size:?}");
        b.goto(&reg.url("/organization"));
        b.wait_for_text("[data-test=org-size]", "of 10.0 MiB");

        // An organization admin who is no superuser: sees it, changes nothing.
        let created = reqwest::blocking::Client::new()
            .post(reg.url("/api/v1/user/"))
            .json(&serde_json::json!({"username": "olga", "password": "olga-Passw0rd", "email": "olga@example.com"}))
            .send()
            .expect("create olga");
        assert!(created.status().is_success(), "create olga: {}", created.status());
        b.goto(&reg.url("/organization/quotaorg/teams/owners"));
        b.fill("[data-test=member-name]", "olga");
        b.click("[data-test=add-member]");
        b.wait_for("[data-member=olga]");
        b.click("[data-test=signout]");
        sign_in(b, reg, "olga", "olga-Passw0rd");
        assert!(!b.exists("[data-test=nav-superuser]"), "olga is no superuser");
        b.goto(&reg.url("/organization/quotaorg?tab=settings"));
        b.wait_for_text("[data-test=quota-usage]", "of 10.0 MiB");
        b.wait_for_text("[data-test=quota-limit-row]", "Reject pushes");
        assert!(!b.exists("[data-test=quota-save]"), "only superusers change quotas");
        assert!(
            !b.exists("[data-test=quota-limit-add]"),
            "only superusers add thresholds"
        );
        b.screenshot("organization-quota");
        b.goto(&reg.url("/superuser"));
        b.wait_for_text("main", "Only superusers");
    });
}

fn a_build_trigger_is_set_up_and_a_push_to_its_webhook_queues_a_build(env: TestEnv) {
    with_ui_config(&env, "trigger", "FEATURE_BUILD_SUPPORT: true\n", |b, reg| {
        create_first_user(b, reg);
        b.click("[data-test=create-repo]");
        b.fill("[data-test=repo-name]", "triggered");
        b.click("[data-test=repo-submit]");
        b.wait_for_text("[data-test=repo-title]", "admin/triggered");
        b.click("[data-test=tab-builds]");
        b.click("[data-test=create-trigger]");

        // The setup page the registry redirects to, for a new trigger.
        b.wait_for("[data-test=trigger-form]");
        let at = b.current_url();
        assert!(at.contains("/repository/admin/triggered/trigger/"), "setup page {at}");
        b.fill("[data-test=trigger-source]", "ssh://git@127.0.0.1:9/app.git");
        b.fill("[data-test=trigger-dockerfile]", "/app/Dockerfile");
        b.fill("[data-test=trigger-context]", "/app");
        b.fill("[data-test=trigger-templates]", "${commit_info.short_sha}");
        b.click("[data-test=trigger-activate]");
        b.wait_for("[data-test=trigger-activated]");
        let key = value(b, "[data-test=trigger-public-key]");
        assert!(key.starts_with("ssh-"), "public key {key:?}");
        let hook = value(b, "[data-test=trigger-webhook-url]");
        let token = hook
            .split_once("$token:")
            .and_then(|(_, rest)| rest.split_once('@'))
            .map(|(t, _)| t.to_owned())
            .unwrap_or_else(|| panic!("no token in {hook}"));
        assert!(token.len() >= 32, "webhook token {token:?} of {hook}");
        b.screenshot("trigger-activated");
        b.click("[data-test=trigger-done]");
        b.wait_for_text("[data-test=trigger-state]", "active");

        // A push reported to the webhook queues a build of the trigger;
        // a wrong token queues nothing.
        let path = hook
            .split_once('@')
            .map(|(_, rest)| rest)
            .and_then(|r| r.split_once('/'))
            .map(|(_, p)| p.to_owned())
            .expect("path");
        let post = |secret: &str| {
            reqwest::blocking::Client::new()
                .post(reg.url(&format!("/{path}")))
                .basic_auth("$token", Some(secret))
                .json(&serde_json::json!({
                    "commit": "1c002dd4b536e7479fe34593e72e6c6c1819e53b",
                    "ref": "refs/heads/main",
                    "default_branch": "main",
                    "commit_info": {"url": "https://git.example/c/1c002dd", "message": "from the UI test", "date": "2026-12-07T10:00:00Z"}
                }))
                .send()
                .expect("webhook")
                .status()
                .as_u16()
        };
        assert_eq!(post("not-the-token"), 403, "a wrong token is refused");
        assert_eq!(post(&token), 200, "the webhook takes the push");
        b.goto(&reg.url("/repository/admin/triggered?tab=builds"));
        b.wait_for_text("[data-test=build-row]", "custom-git trigger");

        // Deleting the trigger removes it.
        b.click("[data-test=delete-trigger]");
        b.click(DIALOG_OK);
        b.wait_gone("[data-test=trigger-row]");
        b.screenshot("builds-after-trigger");
    });
}

fn the_keyboard_alone_signs_in_and_works_a_dialog(env: TestEnv) {
    with_ui(&env, "keyboard", |b, reg| {
        create_first_user(b, reg);
        b.click("[data-test=signout]");
        b.wait_for("[data-test=signin-form]");
        // The sign-in form takes focus on its own; Tab and Enter do the rest.
        wait_until(
            b,
            "the username field has focus",
            "return document.activeElement && document.activeElement.name === 'username'",
        );
        b.keys(ADMIN);
        b.keys(TAB);
        b.keys(PASSWORD);
        b.keys(ENTER);
        b.wait_for_text("#masthead", ADMIN);

        // The first Tab reaches the skip link, which moves focus to the page.
        b.goto(&reg.url("/organization"));
        b.wait_for("[data-test=create-org]");
        b.keys(TAB);
        assert_eq!(b.eval("return document.activeElement.className"), "skip");
        b.keys(ENTER);
        wait_until(b, "focus is in the page", "return document.activeElement.id === 'main'");

        // A dialog by keyboard: it opens with focus in its first field,
        // Escape closes it, and focus can reach its buttons.
        b.goto(&reg.url("/organization/new"));
        b.fill("[data-test=org-name]", "keys");
        b.keys(ENTER);
        b.wait_for_text("[data-test=org-title]", "keys");
        b.click("[data-test=tab-teams]");
        b.wait_for("[data-test=create-team]");
        b.eval("document.querySelector('[data-test=create-team]').focus(); return true");
        b.keys(ENTER);
        b.wait_for("dialog [data-test=team-name]");
        wait_until(
            b,
            "the team name has focus",
            "return document.activeElement.getAttribute('data-test') === 'team-name'",
        );
        b.keys(ESCAPE);
        b.wait_gone("dialog");
        b.eval("document.querySelector('[data-test=create-team]').focus(); return true");
        b.keys(ENTER);
        wait_until(
            b,
            "the team name has focus",
            "return document.activeElement.getAttribute('data-test') === 'team-name'",
        );
        b.keys("builders");
        b.keys(ENTER);
        b.wait_for_text("[data-test=team-title]", "builders");
    });
}

/// Catches what the page hands to `URL.createObjectURL` (the UI's file
/// downloads), so the test can read the file the user would get.
const CATCH_DOWNLOADS: &str = "window.__downloads = []; const make = URL.createObjectURL; \
URL.createObjectURL = (blob) => { blob.arrayBuffer().then((b) => window.__downloads.push(Array.from(new Uint8Array(b)))); return make(blob); }; return true";

/// Clicks `css` and returns the bytes of the file it downloads.
fn download(b: &mut Browser, css: &str) -> Vec<u8> {
    let before = b
        .eval("return window.__downloads.length")
        .as_u64()
        .expect("downloads caught");
    b.click(css);
    wait_until(
        b,
        &format!("{css} downloads"),
        &format!("return window.__downloads.length > {before}"),
    );
    let bytes = b.eval(&format!("return window.__downloads[{before}]"));
    serde_json::from_value(bytes).expect("bytes")
}

fn robot_credential_files_hold_the_token_and_a_repository_is_made_public(env: TestEnv) {
    use base64::Engine as _;
    with_ui(&env, "credentials", |b, reg| {
        create_first_user(b, reg);
        b.goto(&reg.url("/user/admin?tab=robots"));
        b.click("[data-test=create-robot]");
        b.fill("dialog [data-test=robot-name]", "deploy");
        b.click(DIALOG_OK);
        b.wait_for("dialog [data-test=robot-token]");
        let token = value(b, "dialog [data-test=robot-token]");
        let name = "admin+deploy";
        let host = reg.host();
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{name}:{token}"));
        assert_eq!(
            value(b, "dialog [data-test=robot-docker-login]"),
            format!("docker login -u='{name}' -p='{token}' {host}")
        );
        b.eval(CATCH_DOWNLOADS);

        let config: serde_json::Value =
            serde_json::from_slice(&download(b, "dialog [data-test=download-docker-config]")).expect("config.json");
        assert_eq!(config["auths"][&host]["auth"], auth.as_str(), "{config}");
        let rkt: serde_json::Value =
            serde_json::from_slice(&download(b, "dialog [data-test=download-rkt]")).expect("rkt json");
        assert_eq!(rkt["credentials"]["user"], name, "{rkt}");
        assert_eq!(rkt["credentials"]["password"], token.as_str(), "{rkt}");

        // Mesos: a gzipped tar whose .docker/config.json is the same file.
        let archive = download(b, "dialog [data-test=download-mesos]");
        let dir = reg.scratch("ui-mesos");
        std::fs::write(dir.join("docker.tar.gz"), &archive).expect("write archive");
        let untar = std::process::Command::new("tar")
            .args(["-xzf", "docker.tar.gz"])
            .current_dir(&dir)
            .output()
            .expect("run tar");
        assert!(
            untar.status.success(),
            "tar: {}",
            String::from_utf8_lossy(&untar.stderr)
        );
        let inside: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join(".docker/config.json")).expect("config in archive"))
                .expect("json");
        assert_eq!(inside, config);
        b.click(DIALOG_CLOSE);

        // The docker config's credentials push (the robot needs write).
        b.click("[data-test=nav-repositories]");
        b.click("[data-test=create-repo]");
        b.fill("[data-test=repo-name]", "shown");
        b.click("[data-test=repo-submit]");
        b.wait_for_text("[data-test=repo-title]", "admin/shown");
        b.click("[data-test=tab-settings]");
        b.fill("[data-test=perm-entity]", name);
        b.select("[data-test=perm-role]", "write");
        b.click("[data-test=perm-add]");
        b.wait_for(&format!("[data-who=\"{name}\"]"));
        push_image(reg, name, &token, "admin/shown", "v1");

        // Private until made public: anonymous callers then see it.
        let anonymous = || {
            reqwest::blocking::get(reg.url("/api/v1/repository/admin/shown"))
                .expect("anonymous GET")
                .status()
                .as_u16()
        };
        assert_ne!(
            anonymous(),
            200,
            "a private repository is hidden from anonymous callers"
        );
        b.wait_for_text("[data-test=visibility-text]", "private");
        b.click("[data-test=toggle-visibility]");
        b.click(DIALOG_OK);
        b.wait_for_text("[data-test=visibility-text]", "public");
        assert_eq!(anonymous(), 200, "a public repository is seen by anyone");
        b.screenshot("repository-public");
    });
}

fn a_scanned_tag_shows_its_vulnerabilities_and_the_report_filters_them(env: TestEnv) {
    use base64::Engine as _;
    let clair = e2e::clair::FakeClair::start(b"ui-scanner-key");
    let yaml = format!(
        "FEATURE_SECURITY_SCANNER: true\nSECURITY_SCANNER_V4_ENDPOINT: {}\nSECURITY_SCANNER_V4_PSK: {}\nSECURITY_SCANNER_INDEXING_INTERVAL: 1\n",
        clair.url(),
        base64::engine::general_purpose::STANDARD.encode(b"ui-scanner-key")
    );
    with_ui_config(&env, "security", &yaml, |b, reg| {
        create_first_user(b, reg);
        let digest = push_image(reg, ADMIN, PASSWORD, "admin/scanned", "v1");
        b.goto(&reg.url("/repository/admin/scanned?tab=tags"));
        // The status fills in once the scanner has the image.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            b.goto(&reg.url("/repository/admin/scanned?tab=tags"));
            b.wait_for("[data-test=security-v1]");
            wait_until(
                b,
                "the status is read",
                "return document.querySelector('[data-test=security-v1]').innerText !== '…'",
            );
            if b.text("[data-test=security-v1]") != "Queued" {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "never scanned");
            std::thread::sleep(Duration::from_millis(200));
        }
        assert_eq!(b.text("[data-test=security-v1]"), "1 High · 1 Medium");
        b.screenshot("tags-scanned");
        b.click("[data-test=security-v1] a");
        b.wait_for_text("[data-test=security-summary]", "2 vulnerabilities in 2 packages");
        assert!(
            b.current_url()
                .contains(&format!("security={}", digest.replace(':', "%3A"))),
            "{}",
            b.current_url()
        );
        let rows = b.texts("[data-test=vuln-row]").expect("rows");
        assert_eq!(rows.len(), 2, "{rows:?}");
        assert!(
            rows[0].contains("CVE-2021-3711") && rows[0].contains("High") && rows[0].contains("1.1.1l"),
            "worst first: {rows:?}"
        );
        b.screenshot("security-report");
        b.fill("[data-test=vuln-filter]", "zlib");
        wait_until(
            b,
            "the filter applies",
            "return document.querySelectorAll('[data-test=vuln-row]').length === 1",
        );
        assert!(b.text("[data-test=vuln-row]").contains("CVE-2018-25032"));
        b.fill("[data-test=vuln-filter]", "");
        b.click("[data-test=vuln-fixable]");
        wait_until(
            b,
            "only fixable ones show",
            "return document.querySelectorAll('[data-test=vuln-row]').length === 1",
        );
        assert!(b.text("[data-test=vuln-row]").contains("CVE-2021-3711"));
        assert_eq!(b.texts("[data-test=package-row]").expect("packages").len(), 2);

        // A multi-architecture tag: its platforms, each with its own scan.
        let arm = push_image(reg, ADMIN, PASSWORD, "admin/scanned", "arm");
        let size = |digest: &str| {
            reqwest::blocking::Client::new()
                .head(reg.url(&format!("/v2/admin/scanned/manifests/{digest}")))
                .basic_auth(ADMIN, Some(PASSWORD))
                .header("Accept", "application/vnd.oci.image.manifest.v1+json")
                .send()
                .expect("HEAD manifest")
                .headers()["content-length"]
                .to_str()
                .expect("length")
                .parse::<u64>()
                .expect("number")
        };
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": size(&digest),
                 "platform": {"os": "linux", "architecture": "amd64"}},
                {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": arm, "size": size(&arm),
                 "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}}
            ]
        });
        let put = reqwest::blocking::Client::new()
            .put(reg.url("/v2/admin/scanned/manifests/multi"))
            .basic_auth(ADMIN, Some(PASSWORD))
            .header("Content-Type", "application/vnd.oci.image.index.v1+json")
            .body(index.to_string())
            .send()
            .expect("PUT index");
        assert_eq!(put.status().as_u16(), 201);
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            b.goto(&reg.url("/repository/admin/scanned?tab=tags"));
            b.wait_for_text("[data-test=security-multi]", "See child manifests");
            b.click("[data-test=expand-multi]");
            b.wait_for("[data-test=\"security-linux/arm64/v8\"]");
            wait_until(b, "child statuses are read", "return [...document.querySelectorAll('[data-test^=\"security-linux/\"]')].every((e) => e.innerText !== '…')");
            if b.text("[data-test=\"security-linux/arm64/v8\"]") != "Queued" {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the arm64 image was never scanned"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        assert_eq!(b.text("[data-test=\"security-linux/amd64\"]"), "1 High · 1 Medium");
        assert_eq!(b.text("[data-test=\"security-linux/arm64/v8\"]"), "1 High · 1 Medium");
        b.screenshot("multi-arch-children");
    });
}

/// `/api/v1/explorer`: anonymously it lists the public operations of the
/// discovery document (internal ones on request) and calls one; signed in,
/// it creates a repository and lists its tags with the session.
fn the_api_explorer_lists_the_endpoints_and_calls_them_anonymously_and_signed_in(env: TestEnv) {
    with_ui(&env, "explorer", |b, reg| {
        b.goto(&reg.url("/api/v1/explorer"));
        b.wait_for("[data-test=op-discovery]");
        assert!(
            !b.exists("[data-test=op-signIn]"),
            "internal operations are hidden by default"
        );
        b.fill("[data-test=explorer-filter]", "discovery");
        b.wait_gone("[data-test=op-getUser]");
        b.click("[data-test=op-discovery] summary");
        b.click("[data-test=op-discovery] [data-test=send]");
        b.wait_for_text("[data-test=op-discovery] [data-test=response-status]", "OK");
        b.wait_for_text(
            "[data-test=op-discovery] [data-test=response-body]",
            "\"swagger\": \"2.0\"",
        );
        b.click("[data-test=toggle-internal]");
        b.wait_for("[data-test=op-signIn]");

        // Refused: anonymously, the caller's own account is a 401.
        b.fill("[data-test=explorer-filter]", "getUser");
        b.click("[data-test=op-getUser] summary");
        b.click("[data-test=op-getUser] [data-test=send]");
        b.wait_for_text("[data-test=op-getUser] [data-test=response-status]", "401");

        create_first_user(b, reg);
        b.goto(&reg.url("/api/v1/explorer"));
        b.wait_for("[data-test=op-createRepo]");
        b.fill("[data-test=explorer-filter]", "createRepo");
        b.click("[data-test=op-createRepo] summary");
        b.fill(
            "[data-test=op-createRepo] [data-test=param-body]",
            &format!(
                r#"{{"namespace": "{ADMIN}", "repository": "explored", "visibility": "public", "description": ""}}"#
            ),
        );
        b.click("[data-test=op-createRepo] [data-test=send]");
        b.wait_for_text("[data-test=op-createRepo] [data-test=response-status]", "OK");
        b.wait_for_text("[data-test=op-createRepo] [data-test=response-body]", "explored");
        b.fill("[data-test=explorer-filter]", "listTags");
        b.click("[data-test=op-listTags] summary");
        b.fill(
            "[data-test=op-listTags] [data-test=param-repo]",
            &format!("{ADMIN}/explored"),
        );
        b.click("[data-test=op-listTags] [data-test=send]");
        b.wait_for_text("[data-test=op-listTags] [data-test=response-status]", "OK");
        b.wait_for_text("[data-test=op-listTags] [data-test=response-body]", "\"tags\": []");
    });
}

/// Swagger UI's files (`E2E_SWAGGER_UI`, which `e2e/run` fetches from the
/// npm registry); outside CI the test is skipped without them.
fn swagger_ui_dist() -> Option<PathBuf> {
    let dir = std::env::var("E2E_SWAGGER_UI")
        .ok()
        .filter(|d| !d.is_empty())
        .map(PathBuf::from);
    match dir {
        Some(d) if d.join("swagger-ui-bundle.js").is_file() => Some(d),
        _ => {
            assert!(
                !e2e::in_ci(),
                "CI=true but E2E_SWAGGER_UI does not hold swagger-ui-dist"
            );
            eprintln!("SKIPPED: E2E_SWAGGER_UI does not hold swagger-ui-dist");
            None
        }
    }
}

/// The documented way to browse the API (a Swagger UI served elsewhere,
/// pointed at `/api/v1/discovery`): the UI on another origin loads the
/// document, lists the operations, and its "Try it out" call reaches the
/// registry across origins.
fn a_swagger_ui_on_another_origin_loads_the_document_and_calls_the_api(env: TestEnv) {
    let Some(dist) = swagger_ui_dist() else { return };
    let site = LoopbackHttp::start();
    for name in [
        "index.html",
        "index.css",
        "swagger-ui.css",
        "swagger-ui-bundle.js",
        "swagger-ui-standalone-preset.js",
    ] {
        let bytes = std::fs::read(dist.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        site.serve(&format!("/{name}"), bytes);
    }
    with_ui(&env, "swagger-ui", |b, reg| {
        let init = format!(
            "window.onload = function () {{ window.ui = SwaggerUIBundle({{ url: {:?}, dom_id: '#swagger-ui', \
             presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset], layout: 'StandaloneLayout', filter: true }}); }};",
            reg.url("/api/v1/discovery")
        );
        site.serve("/swagger-initializer.js", init.into_bytes());
        b.goto(&site.url("/index.html"));
        b.wait_for_text(".information-container .title", "Quay-compatible registry API");
        b.wait_for("#operations-application-createApplication");
        b.fill(".operation-filter-input", "discovery");
        b.click("#operations-discovery-discovery .opblock-summary-control");
        b.click("#operations-discovery-discovery .try-out__btn");
        b.click("#operations-discovery-discovery .execute");
        b.wait_for_text(
            "#operations-discovery-discovery .live-responses-table .response-col_status",
            "200",
        );
        b.wait_for_text(
            "#operations-discovery-discovery .live-responses-table .response-col_description",
            "swagger",
        );
    });
}
