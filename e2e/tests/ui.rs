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

use std::path::{Path, PathBuf};

use e2e::browser::{output_dir, Browser};
use e2e::{backend_tests, Backend, Registry, TestEnv};

backend_tests!(the_home_page_loads_without_script_errors);

const ADMIN: &str = "admin";

/// The output folder of one backend's run (both run at once).
fn out_dir(env: &TestEnv) -> PathBuf {
    output_dir().join(match env.backend {
        Backend::SqliteFs => "sqlite-fs",
        Backend::PostgresS3 => "postgres-s3",
    })
}

/// Whether this checkout has the web UI. Until it does, the binary answers
/// `/` with 404 and only what the harness controls is checked.
fn ui_in_checkout() -> bool {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../registry/src/ui/assets/index.html")
        .is_file()
}

/// Starts a registry with an empty database (the first user, `admin`, a
/// superuser, is still to be created), then runs `steps` in a new browser
/// as the scenario `name`; the browser's pages must record no script
/// errors. On failure the browser's screenshot and HTML are kept.
fn with_ui(env: &TestEnv, name: &str, steps: impl FnOnce(&mut Browser, &Registry)) {
    let reg = Registry::start_with(
        env,
        &format!("FEATURE_USER_INITIALIZE: true\nSUPER_USERS: [{ADMIN}]\n"),
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
        let ui = ui_in_checkout();
        if ui {
            assert_eq!(status, reqwest::StatusCode::OK, "GET /: {body}");
            assert!(content_type.starts_with("text/html"), "GET / is {content_type}");
            assert!(body.to_ascii_lowercase().contains("<html"), "GET /: {body}");
        } else {
            eprintln!("NOTE: no registry/src/ui in this checkout; GET / answered {status}, not checked");
        }

        b.goto(&home);
        // The UI may route elsewhere (the sign-in page), not off the registry.
        let at = b.current_url();
        assert!(at.starts_with(&home), "the browser left the registry for {at}");
        assert_eq!(b.eval("return document.readyState"), "complete");
        let size = b.eval("return [window.innerWidth, window.innerHeight]");
        assert_eq!(size, serde_json::json!([1366, 900]), "viewport");
        if ui {
            // The harness's error check reads what the UI records.
            assert!(b.records_errors(), "the UI keeps no window.__uiErrors array");
        }
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
