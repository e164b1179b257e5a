//! A real browser for the web UI tests: Debian's headless Chromium driven
//! through `chromedriver` with [fantoccini], behind a blocking API so the
//! tests read like the other e2e tests.
//!
//! [`Browser::start`] runs `chromedriver` on a free 127.0.0.1 port in its
//! own process group, waits until its `/status` says it is ready, and opens
//! a session with a headless Chromium (its own profile, config and cache
//! folders in a temp dir). Every wait polls its condition until
//! [`Browser::set_timeout`]'s deadline (15 s unless changed); nothing
//! sleeps a fixed time to let the page settle.
//!
//! Script errors: the UI keeps every uncaught error and unhandled
//! rejection in `window.__uiErrors`; [`Browser::js_errors`] reads that
//! array (also from the pages [`Browser::goto`] left) together with the
//! SEVERE entries of Chromium's console that are not network failures
//! (uncaught errors, `console.error`, refused scripts), which chromedriver
//! hands over through `goog:loggingPrefs`. Nothing is injected into the
//! page.
//!
//! Failures: [`Browser::scenario`] runs steps and, if one panics, writes
//! `failure-<name>.png`, `failure-<name>.html` and the chromedriver log into
//! the output folder before the panic goes on. Dropping the [`Browser`]
//! ends the session and kills chromedriver, Chromium and anything else
//! started from its temp dir, so no browser outlives a test.

use std::fmt::Write as _;
use std::fs;
use std::future::Future;
use std::io::Write as _;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::error::{CmdError, ErrorStatus};
use fantoccini::wd::{Capabilities, WebDriverCompatibleCommand};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::process::free_port;

/// The browser Debian's `chromium` package installs.
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// The driver Debian's `chromium-driver` package installs.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The viewport the pages are laid out (and screenshotted) in.
pub const WINDOW: (u32, u32) = (1366, 900);
/// How long a wait for a page condition lasts by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long chromedriver may take to answer `/status`, and Chromium to
/// start for a new session.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one WebDriver command may take before the test fails.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// How often waits look at the page again.
const POLL: Duration = Duration::from_millis(50);

/// The Tab key, for [`Browser::keys`].
pub const TAB: &str = "\u{E004}";
/// The Enter key, for [`Browser::keys`].
pub const ENTER: &str = "\u{E007}";
/// The Escape key, for [`Browser::keys`].
pub const ESCAPE: &str = "\u{E00C}";

/// One entry of Chromium's console, as chromedriver reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleEntry {
    /// `SEVERE`, `WARNING`, `INFO`, …
    pub level: String,
    /// `javascript` (uncaught errors), `console-api`, `network`,
    /// `security`, …
    pub source: String,
    pub message: String,
}

impl ConsoleEntry {
    /// A SEVERE entry other than a failed request (a 401 or 404 the page
    /// handles is not a script error).
    pub fn is_script_error(&self) -> bool {
        self.level == "SEVERE" && self.source != "network"
    }
}

/// A headless Chromium under chromedriver, with one WebDriver session.
pub struct Browser {
    rt: tokio::runtime::Runtime,
    client: Option<Client>,
    driver: Option<Child>,
    /// `chromedriver.log`, `chromedriver.out`, the profile and the XDG
    /// folders; every process of this browser runs in (and names) it.
    dir: TempDir,
    out_dir: PathBuf,
    timeout: Duration,
    /// `window.__uiErrors` of the pages that [`Browser::goto`] left.
    earlier_errors: Vec<String>,
    /// How many of the current page's errors [`Browser::forget_js_errors`]
    /// set aside.
    page_errors_forgotten: usize,
    /// Console entries read from chromedriver so far (it hands each over once).
    console: Vec<ConsoleEntry>,
    /// Why the console log could not be read, if it could not.
    console_unavailable: Option<String>,
    /// The name failure files get when the browser is dropped in a panic.
    name: String,
    failure_saved: bool,
    /// How long chromedriver took to answer `/status`, and Chromium to open
    /// the session.
    pub driver_ready_after: Duration,
    pub session_ready_after: Duration,
}

/// Where the browser tests write screenshots and failure pages:
/// `E2E_OUTPUT_DIR` if set, else `target/e2e-output/ui` under the workspace
/// root. Created, and printed (once per test binary, past the output
/// capture) so a run's log tells where to look.
pub fn output_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::var_os("E2E_OUTPUT_DIR")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .map(|d| {
                if d.is_relative() {
                    crate::workspace_root().join(d)
                } else {
                    d
                }
            })
            .unwrap_or_else(|| crate::workspace_root().join("target").join("e2e-output").join("ui"));
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        shout(&format!("browser test output: {}", dir.display()));
        dir
    })
    .clone()
}

/// Writes a line to stderr directly, so it shows even when the test harness
/// captures `println!`/`eprintln!` of passing tests.
fn shout(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// chromedriver's legacy log endpoint (`POST /session/{id}/se/log`), which
/// it keeps in W3C mode and which fantoccini has no method for.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(&self, base_url: &url::Url, session_id: Option<&str>) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!("session/{}/se/log", session_id.unwrap_or_default()))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(json!({ "type": "browser" }).to_string()))
    }
}

/// Whether a failed command may succeed if tried again once the page has
/// moved on (the element is not there yet, was re-rendered, is covered or
/// still disabled).
fn transient(e: &CmdError) -> bool {
    matches!(
        e,
        CmdError::Standard(w) if matches!(
            w.error,
            ErrorStatus::NoSuchElement
                | ErrorStatus::StaleElementReference
                | ErrorStatus::ElementNotInteractable
                | ErrorStatus::ElementClickIntercepted
                | ErrorStatus::InvalidElementState
        )
    )
}

fn chromium_args(profile: &Path) -> Vec<String> {
    let mut args: Vec<String> = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
        "--lang=en-US",
    ]
    .map(String::from)
    .to_vec();
    args.push(format!("--window-size={},{}", WINDOW.0, WINDOW.1));
    args.push(format!("--user-data-dir={}", profile.display()));
    args
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session; screenshots go
    /// to `out_dir` (created). Panics, with the driver's log, if either
    /// cannot start: a machine without Chromium fails the test.
    pub fn start(out_dir: &Path) -> Browser {
        for (path, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
            assert!(
                Path::new(path).is_file(),
                "{path} is missing: the browser tests need Debian's {package} \
                 (apt-get install chromium chromium-driver; e2e/run installs them)"
            );
        }
        fs::create_dir_all(out_dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", out_dir.display()));
        let dir = tempfile::Builder::new()
            .prefix("e2e-browser-")
            .tempdir()
            .expect("browser temp dir");
        let profile = dir.path().join("profile");
        for sub in ["profile", "xdg-config", "xdg-cache"] {
            fs::create_dir_all(dir.path().join(sub)).expect("browser temp dirs");
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime for the WebDriver client");
        let mut browser = Browser {
            rt,
            client: None,
            driver: None,
            dir,
            out_dir: out_dir.to_owned(),
            timeout: DEFAULT_TIMEOUT,
            earlier_errors: Vec::new(),
            page_errors_forgotten: 0,
            console: Vec::new(),
            console_unavailable: None,
            name: "browser".into(),
            failure_saved: false,
            driver_ready_after: Duration::ZERO,
            session_ready_after: Duration::ZERO,
        };
        let port = free_port();
        browser.spawn_driver(port);
        browser.open_session(port, &profile);
        browser
    }

    /// Starts a browser (see [`Browser::start`]), runs `steps` with it and
    /// then checks that the pages recorded no script errors. If anything
    /// panics, `failure-<name>.png`, `failure-<name>.html` and
    /// `failure-<name>-chromedriver.log` are written to `out_dir` first.
    pub fn scenario<T>(name: &str, out_dir: &Path, steps: impl FnOnce(&mut Browser) -> T) -> T {
        let mut browser = Browser::start(out_dir);
        browser.name = name.to_owned();
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
            let value = steps(&mut browser);
            browser.assert_no_js_errors();
            value
        }));
        match outcome {
            Ok(value) => value,
            Err(panic) => {
                browser.save_failure(name);
                drop(browser);
                panic::resume_unwind(panic)
            }
        }
    }

    fn spawn_driver(&mut self, port: u16) {
        let dir = self.dir.path();
        let out = fs::File::create(dir.join("chromedriver.out")).expect("chromedriver.out");
        let err = out.try_clone().expect("clone chromedriver.out");
        let started = Instant::now();
        let mut cmd = Command::new(CHROMEDRIVER);
        cmd.arg(format!("--port={port}"))
            .arg(format!("--log-path={}", dir.join("chromedriver.log").display()))
            // Chromium inherits this folder; e2e/run finds leftovers by it.
            .current_dir(dir)
            // Crash reports and caches stay in the temp dir too (and the
            // crash handler, which leaves the process group, names it).
            .env("XDG_CONFIG_HOME", dir.join("xdg-config"))
            .env("XDG_CACHE_HOME", dir.join("xdg-cache"))
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        // Its own process group, so Chromium's processes die with it.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {CHROMEDRIVER}: {e}"));
        self.driver = Some(child);

        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("http client");
        let status_url = format!("http://127.0.0.1:{port}/status");
        let deadline = started + START_TIMEOUT;
        loop {
            if let Some(Ok(Some(status))) = self.driver.as_mut().map(Child::try_wait) {
                panic!(
                    "chromedriver exited with {status} before answering:\n{}",
                    self.driver_log()
                );
            }
            let ready = client
                .get(&status_url)
                .send()
                .ok()
                .and_then(|r| r.json::<Value>().ok())
                .is_some_and(|v| v["value"]["ready"] == json!(true));
            if ready {
                self.driver_ready_after = started.elapsed();
                return;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver not ready on port {port} after {START_TIMEOUT:?}:\n{}",
                self.driver_log()
            );
            thread::sleep(POLL);
        }
    }

    fn open_session(&mut self, port: u16, profile: &Path) {
        let mut caps = Capabilities::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({ "binary": CHROMIUM, "args": chromium_args(profile) }),
        );
        caps.insert("goog:loggingPrefs".into(), json!({ "browser": "ALL" }));
        // An open alert makes commands fail instead of being dismissed
        // behind the test's back; the test accepts or dismisses it.
        caps.insert("unhandledPromptBehavior".into(), json!("ignore"));
        let started = Instant::now();
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let url = format!("http://127.0.0.1:{port}");
        let connect = async {
            tokio::time::timeout(
                START_TIMEOUT,
                ClientBuilder::new(connector).capabilities(caps).connect(&url),
            )
            .await
        };
        match self.rt.block_on(connect) {
            Ok(Ok(client)) => self.client = Some(client),
            Ok(Err(e)) => panic!("chromedriver could not start {CHROMIUM}: {e}\n{}", self.driver_log()),
            Err(_) => panic!(
                "{CHROMIUM} did not start within {START_TIMEOUT:?}:\n{}",
                self.driver_log()
            ),
        }
        // The window frame takes some of --window-size; grow the window
        // so the page itself (and every screenshot) is WINDOW.
        let frame =
            self.eval("return [window.outerWidth - window.innerWidth, window.outerHeight - window.innerHeight]");
        let extra = |i: usize| u32::try_from(frame[i].as_u64().unwrap_or(0)).unwrap_or(0);
        if extra(0) > 0 || extra(1) > 0 {
            self.must(
                "set window size",
                self.client().set_window_size(WINDOW.0 + extra(0), WINDOW.1 + extra(1)),
            );
        }
        self.session_ready_after = started.elapsed();
    }

    /// The last lines chromedriver (and Chromium's stderr) wrote.
    pub fn driver_log(&self) -> String {
        let mut text = String::new();
        for name in ["chromedriver.out", "chromedriver.log"] {
            let body = fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
            let lines: Vec<&str> = body.lines().collect();
            let tail = &lines[lines.len().saturating_sub(60)..];
            let _ = writeln!(text, "--- last {} lines of {name}:\n{}", tail.len(), tail.join("\n"));
        }
        text
    }

    fn client(&self) -> &Client {
        self.client.as_ref().expect("the browser session is open")
    }

    /// Runs one WebDriver exchange, failing the test if it hangs.
    fn run<T>(&self, what: &str, fut: impl Future<Output = T>) -> T {
        self.rt
            .block_on(async { tokio::time::timeout(COMMAND_TIMEOUT, fut).await })
            .unwrap_or_else(|_| panic!("WebDriver did not answer {what} within {COMMAND_TIMEOUT:?}"))
    }

    /// Runs one WebDriver exchange without ever panicking (for the paths
    /// that run while a test is failing): a hang or an error is an `Err`.
    fn attempt<T>(&self, fut: impl Future<Output = Result<T, CmdError>>) -> Result<T, String> {
        match self.client {
            None => Err("no session".into()),
            Some(_) => match self
                .rt
                .block_on(async { tokio::time::timeout(COMMAND_TIMEOUT, fut).await })
            {
                Ok(result) => result.map_err(|e| e.to_string()),
                Err(_) => Err(format!("no answer within {COMMAND_TIMEOUT:?}")),
            },
        }
    }

    /// Like [`Browser::run`], panicking on a WebDriver error.
    fn must<T>(&self, what: &str, fut: impl Future<Output = Result<T, CmdError>>) -> T {
        self.run(what, fut).unwrap_or_else(|e| panic!("{what}: {e}"))
    }

    /// Polls `probe` until it gives a value or the deadline passes; then
    /// panics with `what` and the last thing the probe said.
    fn poll<T>(&mut self, what: &str, mut probe: impl FnMut(&mut Browser) -> Result<T, String>) -> T {
        let deadline = Instant::now() + self.timeout;
        loop {
            let last = match probe(self) {
                Ok(value) => return value,
                Err(why) => why,
            };
            if Instant::now() >= deadline {
                panic!("timed out after {:?} waiting for {what}: {last}", self.timeout);
            }
            thread::sleep(POLL);
        }
    }

    /// Retries `action` while it fails for a reason the page can get over
    /// (see [`transient`]) until the deadline.
    fn retry<T>(&mut self, what: &str, mut action: impl FnMut(&Browser) -> Result<T, CmdError>) -> T {
        self.poll(what, |b| match action(b) {
            Ok(value) => Ok(value),
            Err(e) if transient(&e) => Err(e.to_string()),
            Err(e) => panic!("{what}: {e}"),
        })
    }

    /// The first element matching `css` that is displayed.
    fn displayed(&self, css: &str) -> Result<Element, CmdError> {
        let all = self.run("find elements", self.client().find_all(Locator::Css(css)))?;
        for element in all {
            if self.run("is displayed", element.is_displayed())? {
                return Ok(element);
            }
        }
        Err(CmdError::Standard(fantoccini::error::WebDriver::new(
            ErrorStatus::NoSuchElement,
            format!("no displayed element matches {css:?}"),
        )))
    }

    /// How long waits last from now on (default [`DEFAULT_TIMEOUT`]).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// The folder screenshots are written to.
    pub fn out_dir(&self) -> &Path {
        &self.out_dir
    }

    /// Opens `url` (absolute, or relative to the current page) and waits
    /// until it has loaded (`document.readyState` complete). The errors the
    /// page being left recorded are kept for [`Browser::js_errors`].
    pub fn goto(&mut self, url: &str) {
        let left = self.page_errors();
        self.earlier_errors.extend(left);
        self.page_errors_forgotten = 0;
        self.must(&format!("goto {url}"), self.client().goto(url));
        self.poll(&format!("{url} to load"), |b| {
            let state = b.run("readyState", b.client().execute("return document.readyState", vec![]));
            match state {
                Ok(v) if v == json!("complete") => Ok(()),
                Ok(v) => Err(format!("readyState {v}")),
                Err(e) => Err(e.to_string()),
            }
        });
    }

    /// The current page's address.
    pub fn current_url(&self) -> String {
        self.must("current url", self.client().current_url()).to_string()
    }

    /// Clicks the first displayed element matching `css`, waiting until
    /// there is one that takes the click.
    pub fn click(&mut self, css: &str) {
        self.retry(&format!("a click on {css:?}"), |b| {
            let element = b.displayed(css)?;
            b.run("click", element.click())
        });
    }

    /// Clears the first displayed field matching `css` and types `text`.
    pub fn fill(&mut self, css: &str, text: &str) {
        self.retry(&format!("filling {css:?}"), |b| {
            let element = b.displayed(css)?;
            b.run("clear", element.clear())?;
            b.run("type", element.send_keys(text))
        });
    }

    /// Types `keys` into whatever has the focus, as a keyboard user would.
    /// Special keys are WebDriver's code points: [`TAB`], [`ENTER`], [`ESCAPE`].
    pub fn keys(&mut self, keys: &str) {
        self.retry(&format!("the keys {keys:?}"), |b| {
            let element = b.run("active element", b.client().active_element())?;
            b.run("keys", element.send_keys(keys))
        });
    }

    /// Picks the option whose `value` is `value` in the `<select>` matching `css`.
    pub fn select(&mut self, css: &str, value: &str) {
        self.retry(&format!("option {value:?} of {css:?}"), |b| {
            let element = b.displayed(css)?;
            b.run("select", element.select_by_value(value))
        });
    }

    /// Waits for a displayed element matching `css`.
    pub fn wait_for(&mut self, css: &str) {
        self.retry(&format!("{css:?} to show"), |b| b.displayed(css).map(drop));
    }

    /// Waits for a displayed element matching `css` whose text contains
    /// `needle`; returns that text.
    pub fn wait_for_text(&mut self, css: &str, needle: &str) -> String {
        self.poll(&format!("{css:?} to show {needle:?}"), |b| {
            let texts = b.texts(css).map_err(|e| e.to_string())?;
            texts
                .iter()
                .find(|t| t.contains(needle))
                .cloned()
                .ok_or_else(|| format!("texts now: {texts:?}"))
        })
    }

    /// Waits until no displayed element matches `css` (removed or hidden).
    pub fn wait_gone(&mut self, css: &str) {
        self.poll(&format!("{css:?} to go away"), |b| match b.displayed(css) {
            Ok(_) => Err("still displayed".into()),
            Err(e) if e.is_no_such_element() || e.is_stale_element_reference() => Ok(()),
            Err(e) => Err(e.to_string()),
        });
    }

    /// The visible text of the first displayed element matching `css`
    /// (waiting for one).
    pub fn text(&mut self, css: &str) -> String {
        self.retry(&format!("the text of {css:?}"), |b| {
            let element = b.displayed(css)?;
            b.run("text", element.text())
        })
    }

    /// The visible texts of all displayed elements matching `css`, now.
    pub fn texts(&self, css: &str) -> Result<Vec<String>, CmdError> {
        let mut out = Vec::new();
        for element in self.run("find elements", self.client().find_all(Locator::Css(css)))? {
            if self.run("is displayed", element.is_displayed())? {
                out.push(self.run("text", element.text())?);
            }
        }
        Ok(out)
    }

    /// Whether any element (displayed or not) matches `css` now; no waiting.
    pub fn exists(&self, css: &str) -> bool {
        !self
            .must(&format!("find {css:?}"), self.client().find_all(Locator::Css(css)))
            .is_empty()
    }

    /// Runs `script` as a function body in the page (`return` gives the
    /// value) and returns its result.
    pub fn eval(&self, script: &str) -> Value {
        self.must("script", self.client().execute(script, vec![]))
    }

    /// The page's HTML as it is now.
    pub fn html(&self) -> String {
        self.must("page source", self.client().source())
    }

    /// Waits for an alert, confirm or prompt, accepts it and returns its text.
    pub fn accept_alert(&mut self) -> String {
        let text = self.alert_text();
        self.must("accept alert", self.client().accept_alert());
        text
    }

    /// Waits for an alert, confirm or prompt, dismisses it and returns its text.
    pub fn dismiss_alert(&mut self) -> String {
        let text = self.alert_text();
        self.must("dismiss alert", self.client().dismiss_alert());
        text
    }

    fn alert_text(&mut self) -> String {
        self.poll("an alert", |b| {
            b.run("alert text", b.client().get_alert_text())
                .map_err(|e| e.to_string())
        })
    }

    /// Writes `<out_dir>/<name>.png` (the window) and returns its path.
    pub fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.must("screenshot", self.client().screenshot());
        let path = self.out_dir.join(format!("{name}.png"));
        fs::write(&path, png).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        path
    }

    /// Whether the current page keeps a `window.__uiErrors` array (the UI
    /// does; an unrelated page does not).
    pub fn records_errors(&self) -> bool {
        self.eval("return Array.isArray(window.__uiErrors)") == json!(true)
    }

    /// `window.__uiErrors` of the current page past those forgotten (none
    /// when it has no such array, or when an open alert keeps scripts from
    /// running).
    fn page_errors(&self) -> Vec<String> {
        let mut errors = self.all_page_errors();
        errors.drain(..self.page_errors_forgotten.min(errors.len()));
        errors
    }

    fn all_page_errors(&self) -> Vec<String> {
        let Some(client) = self.client.as_ref() else {
            return Vec::new();
        };
        let script = "return Array.isArray(window.__uiErrors) ? window.__uiErrors.map(String) : []";
        match self.attempt(client.execute(script, vec![])) {
            Ok(Value::Array(items)) => items
                .into_iter()
                .map(|v| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string()))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Reads the console entries chromedriver collected since the last read.
    fn read_console(&mut self) {
        if self.console_unavailable.is_some() {
            return;
        }
        let Some(client) = self.client.as_ref() else {
            return;
        };
        match self.attempt(client.issue_cmd(BrowserLog)) {
            Ok(Value::Array(entries)) => self.console.extend(entries.iter().map(|e| ConsoleEntry {
                level: e["level"].as_str().unwrap_or_default().to_owned(),
                source: e["source"].as_str().unwrap_or_default().to_owned(),
                message: e["message"].as_str().unwrap_or_default().to_owned(),
            })),
            Ok(other) => self.console_unavailable = Some(format!("unexpected answer {other}")),
            Err(e) => self.console_unavailable = Some(e),
        }
    }

    /// Every console entry seen so far (all levels and sources).
    pub fn console_entries(&mut self) -> Vec<ConsoleEntry> {
        self.read_console();
        self.console.clone()
    }

    /// The script errors of the pages seen so far: `window.__uiErrors` of
    /// each page (`page: …`) and the console's SEVERE entries other than
    /// failed requests (`console <source>: …`).
    pub fn js_errors(&mut self) -> Vec<String> {
        self.read_console();
        let mut errors: Vec<String> = self
            .earlier_errors
            .iter()
            .chain(self.page_errors().iter())
            .map(|e| format!("page: {e}"))
            .collect();
        errors.extend(
            self.console
                .iter()
                .filter(|e| e.is_script_error())
                .map(|e| format!("console {}: {}", e.source, e.message)),
        );
        errors
    }

    /// Sets aside the script errors seen so far, for a test that provoked
    /// them on purpose; [`Browser::js_errors`] then reports only newer ones.
    /// The page itself is not touched.
    pub fn forget_js_errors(&mut self) {
        self.read_console();
        self.console.retain(|e| !e.is_script_error());
        self.earlier_errors.clear();
        self.page_errors_forgotten = self.all_page_errors().len();
    }

    /// Panics with the list unless [`Browser::js_errors`] is empty.
    pub fn assert_no_js_errors(&mut self) {
        let errors = self.js_errors();
        assert!(
            errors.is_empty(),
            "the page recorded {} script error(s) (at {}):\n{}",
            errors.len(),
            self.current_url(),
            errors.join("\n")
        );
    }

    /// Why console entries could not be read, if they could not.
    pub fn console_unavailable(&self) -> Option<&str> {
        self.console_unavailable.as_deref()
    }

    /// Writes `failure-<name>.png`, `failure-<name>.html` and
    /// `failure-<name>-chromedriver.log` to the output folder and prints
    /// where they are, with the page's address and script errors. Never
    /// panics (it also runs from `Drop` while a test is failing).
    pub fn save_failure(&mut self, name: &str) {
        self.failure_saved = true;
        let base = self.out_dir.join(format!("failure-{name}"));
        let mut report = format!("browser failure files for {name:?}:");
        let Some(client) = self.client.clone() else {
            shout(&format!("{report} none, the browser session is gone"));
            return;
        };
        let url = self
            .attempt(client.current_url())
            .map(|u| u.to_string())
            .unwrap_or_else(|e| format!("(unknown: {e})"));
        let _ = write!(report, "\n  page: {url}");
        let png = self.attempt(client.screenshot());
        let html = self.attempt(client.source());
        for (ext, body) in [("png", png), ("html", html.map(String::into_bytes))] {
            let path = base.with_extension(ext);
            let line = match body.map(|b| fs::write(&path, b).map_err(|e| e.to_string())) {
                Ok(Ok(())) => path.display().to_string(),
                Ok(Err(e)) | Err(e) => format!("no {ext}: {e}"),
            };
            let _ = write!(report, "\n  {line}");
        }
        let log = self.out_dir.join(format!("failure-{name}-chromedriver.log"));
        if fs::copy(self.dir.path().join("chromedriver.log"), &log).is_ok() {
            let _ = write!(report, "\n  {}", log.display());
        }
        let errors = self.js_errors();
        if !errors.is_empty() {
            let _ = write!(report, "\n  script errors:\n    {}", errors.join("\n    "));
        }
        shout(&report);
    }

    /// Ends the session and every process of this browser.
    fn shut_down(&mut self) {
        if let Some(client) = self.client.take() {
            let close = async { tokio::time::timeout(Duration::from_secs(10), client.close()).await };
            let _ = self.rt.block_on(close);
        }
        if let Some(mut driver) = self.driver.take() {
            if let Some(group) = rustix::process::Pid::from_raw(driver.id() as i32) {
                let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
            }
            let _ = driver.kill();
            let _ = driver.wait();
        }
        // Whatever left the process group (Chromium's crash handler runs in
        // a session of its own) still names or runs in the temp dir.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = processes_of(self.dir.path());
            if left.is_empty() {
                break;
            }
            if Instant::now() >= deadline {
                shout(&format!("browser processes still running: {left:?}"));
                break;
            }
            for pid in left {
                if let Some(pid) = rustix::process::Pid::from_raw(pid) {
                    let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                }
            }
            thread::sleep(POLL);
        }
    }
}

/// Live processes (not zombies, not this one) whose working directory is
/// under `dir` or whose command line names it.
fn processes_of(dir: &Path) -> Vec<i32> {
    let me = std::process::id() as i32;
    let needle = dir.as_os_str().as_encoded_bytes();
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| {
            let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // The state follows the parenthesised name, which may hold spaces.
            let zombie = stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'));
            if stat.is_empty() || zombie {
                return false;
            }
            let in_dir = fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd.starts_with(dir));
            let names = fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|cmd| cmd.windows(needle.len()).any(|w| w == needle));
            in_dir || names
        })
        .collect()
}

impl Drop for Browser {
    fn drop(&mut self) {
        if thread::panicking() && !self.failure_saved && self.client.is_some() {
            let name = self.name.clone();
            self.save_failure(&name);
        }
        self.shut_down();
    }
}
