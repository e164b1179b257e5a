//! Benchmark: the server side of the web UI's tag-list page on a repository with many tags.
//!
//! `cargo run --release -p e2e --bin ui_bench -- [--registry-bin target/release/registry] [--quick]
//! [--markdown] [--tags 10000] [--runs 50] [--concurrency 8] [--tag-via api|v2]`
//!
//! Starts our registry (SQLite + filesystem, throw-away data dir) with `FEATURE_USER_INITIALIZE`,
//! creates the first user with an API token (`POST /api/v1/user/initialize`), pushes two small
//! images (a config and one layer each) to `benchadmin/uibench` as `t00000` (A) and `t00001` (B),
//! then points the other `--tags` - 2 tags at A, `--concurrency` requests in flight: one
//! `PUT /api/v1/repository/{repo}/tag/{tag}` with the token each (`--tag-via api`, the default,
//! the faster of the two here), or one `PUT /v2/{repo}/manifests/{tag}` of A's manifest each
//! (`--tag-via v2`). To give the history more rows than there are live tags, a tenth of the tags is
//! then deleted, half of those are created again on B, and another twentieth is moved to B.
//!
//! Then it signs in like the UI (`POST /api/v1/signin`, the session cookie and `X-Requested-With`)
//! and times, with one keep-alive client, from sending each request to its last body byte: the
//! shell `/`, `/static/ui/app.js`, `/config`, the tag list as the Tags tab asks for it
//! (`onlyActiveTags=true&limit=50`: page 1, page 100 (or the middle), the last page, and
//! `filter_tag_name=like:t099`, the last hundred tags), the tag history (`onlyActiveTags=false`:
//! page 1, the last page), the repository as the page asks for it
//! (`?includeStats=false&includeTags=false`) and with the API's defaults, `/api/v1/user/`, and the
//! page total: repository + user + tag list page 1, one after the other as the page loads them. Each request gets 5 untimed warm-ups (the first checks the
//! answer: tag counts, `has_additional`), then `--runs` timed rounds that go through every request
//! in turn, so load from elsewhere on the machine spreads over all rows. The server's CPU time
//! (user + system, from /proc, summed over the timed requests of a row) gives its CPU per request.
//!
//! Everything is stopped and removed at the end, also on error or Ctrl-C. No assertions on speed.

#[path = "../bench/api.rs"]
#[allow(dead_code, reason = "shared with the `bench` binary, which uses the rest")]
mod api;
#[path = "../bench/harness.rs"]
mod harness;
#[path = "../bench/report.rs"]
#[allow(dead_code, reason = "the comparison table is the other bench binaries'")]
mod report;
#[path = "../bench/server.rs"]
#[allow(dead_code, reason = "shared with the `bench` binary, which uses the rest")]
mod server;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use clap::{Parser, ValueEnum};
use reqwest::{header, Client, Method, StatusCode};
use serde_json::{json, Value};

use api::{oci_manifest, sha256_digest, Api};
use report::Grid;
use server::{loadavg, resolve_registry_bin, Server};

const ADMIN: &str = "benchadmin";
const ADMIN_PASSWORD: &str = "bench-Passw0rd";
const REPO: &str = "benchadmin/uibench";
/// The UI's page size (`PAGE` in views/tags.js).
const PAGE: usize = 50;
const WARMUP: usize = 5;
/// The target for the tag-list rows: p95 under this, server side.
const TARGET_MS: f64 = 200.0;
/// Clock ticks per second of /proc/<pid>/stat (USER_HZ, 100 on Linux).
const TICKS_PER_S: f64 = 100.0;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum TagVia {
    /// `PUT /api/v1/repository/{repo}/tag/{tag}` with `{"manifest_digest": …}`.
    Api,
    /// `PUT /v2/{repo}/manifests/{tag}` with the manifest.
    V2,
}

#[derive(Parser, Debug)]
#[command(about = "Time the server side of the web UI's tag-list page on a repository with many tags")]
struct Args {
    /// Our registry binary (relative paths are also tried against the workspace root).
    #[arg(long, default_value = "target/release/registry")]
    registry_bin: PathBuf,
    /// Tags to create (default 10000, 1000 with --quick).
    #[arg(long)]
    tags: Option<usize>,
    /// Timed requests per row after the warm-ups (default 50, 10 with --quick).
    #[arg(long)]
    runs: Option<usize>,
    /// Fewer tags and runs (well under a minute).
    #[arg(long)]
    quick: bool,
    /// Also print the table as markdown.
    #[arg(long)]
    markdown: bool,
    /// Requests in flight while creating, deleting and moving tags.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// How the tags are created.
    #[arg(long, value_enum, default_value_t = TagVia::Api)]
    tag_via: TagVia,
}

struct Params {
    tags: usize,
    runs: usize,
    concurrency: usize,
    total_limit: Duration,
}

impl Params {
    fn new(args: &Args) -> Self {
        let tags = args.tags.unwrap_or(if args.quick { 1_000 } else { 10_000 }).max(2);
        let runs = args.runs.unwrap_or(if args.quick { 10 } else { 50 }).max(1);
        // Setup at 20 ms a tag (with the churn) on a busy machine, and 13 rows of at most a
        // second per request.
        let secs = 120 + tags as u64 / 50 + ((runs + WARMUP) * 16) as u64;
        Self {
            tags,
            runs,
            concurrency: args.concurrency.max(1),
            total_limit: Duration::from_secs(secs),
        }
    }
}

/// `t00000` … (wider when there are more than 100,000 tags).
fn tag_name(i: usize, n: usize) -> String {
    let width = n.saturating_sub(1).max(1).to_string().len().max(5);
    format!("t{i:0width$}")
}

/// What the setup does to tag `i` after every tag was created: a tenth is deleted
/// (half of those created again on B), a twentieth of the others moved to B.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Churn {
    Keep,
    Delete,
    DeleteRecreate,
    Move,
}

fn churn(i: usize) -> Churn {
    // t00000 and t00001 (the pushed ones) stay as they are.
    match i % 20 {
        _ if i < 2 => Churn::Keep,
        5 => Churn::DeleteRecreate,
        15 => Churn::Delete,
        7 => Churn::Move,
        _ => Churn::Keep,
    }
}

/// Live tags and history rows (listed lifetimes) after the setup.
fn expected_counts(n: usize) -> (usize, usize) {
    let count = |c: Churn| (0..n).filter(|&i| churn(i) == c).count();
    let (del, recreate, moved) = (count(Churn::Delete), count(Churn::DeleteRecreate), count(Churn::Move));
    (n - del, n + recreate + moved)
}

/// Tags named like `like:t099` (case-insensitive substring), live after the setup.
fn expected_filtered(n: usize, text: &str) -> usize {
    (0..n)
        .filter(|&i| churn(i) != Churn::Delete && tag_name(i, n).contains(text))
        .count()
}

fn pages(rows: usize) -> usize {
    rows.div_ceil(PAGE).max(1)
}

/// One image pushed through /v2.
struct Image {
    digest: String,
    manifest: Bytes,
}

async fn push_image(v2: &Api, label: &str, tag: &str) -> Result<Image> {
    let layer = Bytes::from(format!("ui_bench layer of image {label}\n").repeat(64));
    let layer_digest = sha256_digest(&layer);
    let layer_len = layer.len();
    v2.push_monolithic(REPO, layer, &layer_digest)
        .await
        .with_context(|| format!("push the layer of image {label}"))?;
    let config = Bytes::from(
        serde_json::to_vec(&json!({
            "architecture": "amd64",
            "os": "linux",
            "config": {"Labels": {"bench.image": label}},
            "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        }))
        .context("config json")?,
    );
    let config_digest = sha256_digest(&config);
    let config_len = config.len();
    v2.push_monolithic(REPO, config, &config_digest)
        .await
        .with_context(|| format!("push the config of image {label}"))?;
    let manifest = oci_manifest((&config_digest, config_len), &[(&layer_digest, layer_len)]);
    let digest = v2
        .put_manifest(REPO, tag, manifest.clone())
        .await
        .with_context(|| format!("push the manifest of image {label} as {tag}"))?;
    Ok(Image { digest, manifest })
}

/// One change to a tag during the setup.
enum Op {
    /// `PUT /api/v1/repository/{repo}/tag/{tag}` → the manifest digest.
    Point(String, String),
    /// `PUT /v2/{repo}/manifests/{tag}` of this manifest.
    Push(String, Bytes),
    /// `DELETE /api/v1/repository/{repo}/tag/{tag}`.
    Delete(String),
}

/// What the setup requests need: the API token and the /v2 client with its registry token.
struct SetupCtx {
    client: Client,
    base: String,
    token: String,
    v2: Api,
}

impl SetupCtx {
    async fn api_call(&self, method: Method, tag: &str, body: Option<Value>, want: StatusCode) -> Result<()> {
        let url = format!("{}/api/v1/repository/{REPO}/tag/{tag}", self.base);
        let what = format!("{method} {url}");
        let mut rb = self.client.request(method, &url).bearer_auth(&self.token);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let resp = rb.send().await.with_context(|| what.clone())?;
        let status = resp.status();
        if status != want {
            let text = resp.text().await.unwrap_or_default();
            bail!("{what}: expected {want}, got {status}: {text}");
        }
        resp.bytes().await.with_context(|| what.clone())?;
        Ok(())
    }

    async fn apply(&self, op: &Op) -> Result<()> {
        match op {
            Op::Point(tag, digest) => {
                let body = json!({ "manifest_digest": digest });
                self.api_call(Method::PUT, tag, Some(body), StatusCode::CREATED).await
            }
            Op::Push(tag, manifest) => self.v2.put_manifest(REPO, tag, manifest.clone()).await.map(drop),
            Op::Delete(tag) => self.api_call(Method::DELETE, tag, None, StatusCode::NO_CONTENT).await,
        }
    }
}

/// Applies `ops` with `concurrency` in flight; returns the wall time. The first error stops it.
async fn apply_all(ctx: &Arc<SetupCtx>, ops: Vec<Op>, concurrency: usize, what: &str) -> Result<Duration> {
    let start = Instant::now();
    let total = ops.len();
    let ops = Arc::new(ops);
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let step = (total / 10).max(1);
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency.min(total.max(1)) {
        let (ctx, ops, next, done) = (ctx.clone(), ops.clone(), next.clone(), done.clone());
        let what = what.to_string();
        workers.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(op) = ops.get(i) else {
                    return Ok::<(), anyhow::Error>(());
                };
                ctx.apply(op).await?;
                let d = done.fetch_add(1, Ordering::Relaxed) + 1;
                if d % step == 0 || d == total {
                    eprintln!("ui_bench: {what}: {d}/{total} ({:.1} s)", start.elapsed().as_secs_f64());
                }
            }
        });
    }
    while let Some(r) = workers.join_next().await {
        if let Err(e) = r.context("setup worker panicked").and_then(|r| r) {
            workers.abort_all();
            return Err(e.context(format!("{what} failed")));
        }
    }
    Ok(start.elapsed())
}

/// How long each part of the setup took.
struct SetupTimes {
    push: Duration,
    create: Duration,
    churn: Duration,
    churn_ops: usize,
}

/// The repository with `n` tags (see the module comment); returns the timings.
async fn populate(ctx: &Arc<SetupCtx>, p: &Params, via: TagVia) -> Result<SetupTimes> {
    let n = p.tags;
    let t = Instant::now();
    let a = push_image(&ctx.v2, "A", &tag_name(0, n)).await?;
    let b = push_image(&ctx.v2, "B", &tag_name(1, n)).await?;
    let push = t.elapsed();

    let create_ops: Vec<Op> = (2..n)
        .map(|i| match via {
            TagVia::Api => Op::Point(tag_name(i, n), a.digest.clone()),
            TagVia::V2 => Op::Push(tag_name(i, n), a.manifest.clone()),
        })
        .collect();
    eprintln!(
        "ui_bench: creating {} tags ({}), {} at a time",
        create_ops.len(),
        match via {
            TagVia::Api => "PUT /api/v1/repository/…/tag/…",
            TagVia::V2 => "PUT /v2/…/manifests/…",
        },
        p.concurrency
    );
    let create = apply_all(ctx, create_ops, p.concurrency, "create tags").await?;

    // Deletes first, then the re-creations and moves (to B).
    let t = Instant::now();
    let deletes: Vec<Op> = (0..n)
        .filter(|&i| matches!(churn(i), Churn::Delete | Churn::DeleteRecreate))
        .map(|i| Op::Delete(tag_name(i, n)))
        .collect();
    let to_b: Vec<Op> = (0..n)
        .filter(|&i| matches!(churn(i), Churn::DeleteRecreate | Churn::Move))
        .map(|i| Op::Point(tag_name(i, n), b.digest.clone()))
        .collect();
    let churn_ops = deletes.len() + to_b.len();
    apply_all(ctx, deletes, p.concurrency, "delete tags").await?;
    apply_all(ctx, to_b, p.concurrency, "re-create and move tags").await?;
    Ok(SetupTimes {
        push,
        create,
        churn: t.elapsed(),
        churn_ops,
    })
}

/// `POST /api/v1/signin` like the UI; returns the `Cookie` header value of the session.
async fn sign_in(client: &Client, base: &str) -> Result<String> {
    let url = format!("{base}/api/v1/signin");
    let resp = client
        .post(&url)
        .header("X-Requested-With", "XMLHttpRequest")
        .json(&json!({"username": ADMIN, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    let status = resp.status();
    let cookie = resp
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .find(|pair| pair.trim_start().starts_with("session="))
        .map(|pair| pair.trim().to_string());
    let body = resp.text().await.unwrap_or_default();
    match cookie {
        Some(c) if status == StatusCode::OK => Ok(c),
        _ => bail!("POST {url}: expected 200 with a session cookie, got {status}: {body}"),
    }
}

/// What the first warm-up answer of a request must hold.
#[derive(Clone, Copy)]
enum Check {
    Status,
    /// A tag page: this many tags, and whether more follow.
    Tags(usize, bool),
}

/// One row of the table: GETs done one after the other, timed together.
struct Probe {
    label: String,
    paths: Vec<String>,
    check: Check,
    /// Whether the row counts towards the tag-list target.
    tag_list: bool,
}

fn tag_page(only_active: bool, page: usize, filter: Option<&str>) -> String {
    let mut p = format!("/api/v1/repository/{REPO}/tag/?onlyActiveTags={only_active}&limit={PAGE}&page={page}");
    if let Some(f) = filter {
        p.push_str(&format!("&filter_tag_name=like:{f}"));
    }
    p
}

/// Tags on `page` of a list of `rows`, and whether more follow.
fn page_check(rows: usize, page: usize) -> Check {
    let before = (page - 1) * PAGE;
    let on_page = rows.saturating_sub(before).min(PAGE);
    Check::Tags(on_page, rows > before + PAGE)
}

fn probes(n: usize) -> Vec<Probe> {
    let (live, history) = expected_counts(n);
    let (last, hist_last) = (pages(live), pages(history));
    let mid = if last > 100 { 100 } else { last.div_ceil(2) };
    // The last hundred tags (`t099` for 10,000): two pages of the filtered list.
    let last_name = tag_name(n - 1, n);
    let filter = &last_name[..last_name.len() - 2];
    let filtered = expected_filtered(n, filter);
    let repo_as_page = format!("/api/v1/repository/{REPO}?includeStats=false&includeTags=false");
    let plain = |label: &str, path: String| Probe {
        label: label.into(),
        paths: vec![path],
        check: Check::Status,
        tag_list: false,
    };
    let tags = |label: String, path: String, check: Check| Probe {
        label,
        paths: vec![path],
        check,
        tag_list: true,
    };
    vec![
        plain("GET / (UI shell)", "/".into()),
        plain("GET /static/ui/app.js", "/static/ui/app.js".into()),
        plain("GET /config", "/config".into()),
        tags("tag list, page 1".into(), tag_page(true, 1, None), page_check(live, 1)),
        tags(
            format!("tag list, page {mid}"),
            tag_page(true, mid, None),
            page_check(live, mid),
        ),
        tags(
            format!("tag list, page {last} (last)"),
            tag_page(true, last, None),
            page_check(live, last),
        ),
        tags(
            format!("tag list, filter like:{filter} ({filtered} tags), page 1"),
            tag_page(true, 1, Some(filter)),
            page_check(filtered, 1),
        ),
        tags(
            "tag history, page 1".into(),
            tag_page(false, 1, None),
            page_check(history, 1),
        ),
        tags(
            format!("tag history, page {hist_last} (last)"),
            tag_page(false, hist_last, None),
            page_check(history, hist_last),
        ),
        plain("repository (as the page asks: no tags, no stats)", repo_as_page.clone()),
        plain(
            "repository (API defaults, with tags)",
            format!("/api/v1/repository/{REPO}"),
        ),
        plain("GET /api/v1/user/", "/api/v1/user/".into()),
        Probe {
            label: "page total: repository + user + tag list page 1".into(),
            paths: vec![repo_as_page, "/api/v1/user/".into(), tag_page(true, 1, None)],
            check: Check::Status,
            tag_list: true,
        },
    ]
}

/// The keep-alive client as the signed-in browser: session cookie, `X-Requested-With`.
struct Browser {
    client: Client,
    base: String,
    cookie: String,
}

impl Browser {
    /// GETs `path` to the last byte; checks the status (and with `check`, the tag page).
    async fn get(&self, path: &str, check: Option<Check>) -> Result<()> {
        let url = format!("{}{path}", self.base);
        let resp = self
            .client
            .get(&url)
            .header(header::COOKIE, &self.cookie)
            .header("X-Requested-With", "XMLHttpRequest")
            .header(header::ACCEPT, "application/json")
            .send()
            .await
            .with_context(|| format!("GET {url}"))?;
        let status = resp.status();
        let body = resp.bytes().await.with_context(|| format!("GET {url}: body"))?;
        if status != StatusCode::OK {
            let text: String = String::from_utf8_lossy(&body).chars().take(300).collect();
            bail!("GET {url}: expected 200, got {status}: {text}");
        }
        if let Some(Check::Tags(count, more)) = check {
            let v: Value = serde_json::from_slice(&body).with_context(|| format!("GET {url}: JSON"))?;
            let got = v["tags"].as_array().map_or(0, Vec::len);
            let got_more = v["has_additional"].as_bool().unwrap_or(false);
            if got != count || got_more != more {
                bail!(
                    "GET {url}: {got} tags, has_additional {got_more}; expected {count} tags, \
                     has_additional {more}"
                );
            }
        }
        Ok(())
    }

    async fn probe(&self, p: &Probe, check: bool) -> Result<Duration> {
        let t = Instant::now();
        for path in &p.paths {
            self.get(path, check.then_some(p.check)).await?;
        }
        Ok(t.elapsed())
    }
}

/// The samples of one row: wall times and the server's CPU ticks over them.
#[derive(Default)]
struct Samples {
    times: Vec<Duration>,
    ticks: u64,
}

/// Warm-ups, then `runs` rounds over every probe; a probe that fails drops out with its error.
async fn measure(browser: &Browser, server: &Server, probes: &[Probe], runs: usize) -> Vec<Result<Samples>> {
    let mut out: Vec<Result<Samples>> = Vec::with_capacity(probes.len());
    for p in probes {
        let mut r = Ok(Samples::default());
        for k in 0..WARMUP {
            if let Err(e) = browser.probe(p, k == 0).await {
                eprintln!("ui_bench: {}: {e:#}", p.label);
                r = Err(e.context("warm-up"));
                break;
            }
        }
        out.push(r);
    }
    server.wait_idle(Duration::from_secs(5)).await;
    for round in 0..runs {
        for (p, slot) in probes.iter().zip(out.iter_mut()) {
            let Ok(s) = slot else { continue };
            let before = server.cpu_ticks().unwrap_or(0);
            match browser.probe(p, false).await {
                Ok(d) => {
                    s.times.push(d);
                    s.ticks += server.cpu_ticks().unwrap_or(0).saturating_sub(before);
                }
                Err(e) => {
                    eprintln!("ui_bench: {}: {e:#}", p.label);
                    *slot = Err(e);
                }
            }
        }
        if (round + 1) % 10 == 0 || round + 1 == runs {
            eprintln!("ui_bench: round {}/{runs} done", round + 1);
        }
    }
    out
}

/// Nearest-rank percentile of sorted samples.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn grid(probes: &[Probe], results: &[Result<Samples>]) -> Grid {
    let header = [
        "request".to_string(),
        "p50 ms".into(),
        "p95 ms".into(),
        "max ms".into(),
        "server CPU ms/req".into(),
        format!("p95 < {TARGET_MS:.0} ms"),
    ]
    .to_vec();
    let rows = probes
        .iter()
        .zip(results)
        .map(|(p, r)| match r {
            Ok(s) => {
                let mut v = s.times.clone();
                v.sort();
                let p95 = ms(percentile(&v, 0.95));
                let cpu = s.ticks as f64 / TICKS_PER_S * 1e3 / v.len().max(1) as f64;
                let verdict = match (p.tag_list, p95 < TARGET_MS) {
                    (false, _) => "",
                    (true, true) => "yes",
                    (true, false) => "NO",
                };
                vec![
                    p.label.clone(),
                    format!("{:.2}", ms(percentile(&v, 0.5))),
                    format!("{p95:.2}"),
                    format!("{:.2}", ms(v.last().copied().unwrap_or_default())),
                    format!("{cpu:.1}"),
                    verdict.into(),
                ]
            }
            Err(_) => {
                let mut row = vec![p.label.clone()];
                row.extend(vec!["ERROR".to_string(); 4]);
                row.push(if p.tag_list { "ERROR" } else { "" }.into());
                row
            }
        })
        .collect();
    Grid { header, rows }
}

/// Ok(false) when some row could not be measured (the output says which and why).
async fn run(args: Args, work: &Path) -> Result<bool> {
    let p = Params::new(&args);
    let t_start = Instant::now();
    let load_before = loadavg();
    let bin = resolve_registry_bin(&args.registry_bin)?;
    let client = api::http_client()?;

    let config = "FEATURE_USER_INITIALIZE: true\n";
    let mut server = Server::spawn_ours_with("ours", &bin, work, "ours", Some(config))?;
    server
        .wait_ready(&client, "/health/instance", Duration::from_secs(30))
        .await?;
    let setup = Api::new(client.clone(), &server.base)?;
    let token = setup
        .initialize_first_user(ADMIN, ADMIN_PASSWORD, "bench@example.com")
        .await?;
    let mut v2 = setup;
    let jwt = v2.registry_token(ADMIN, ADMIN_PASSWORD, REPO).await?;
    v2.set_bearer(&jwt)?;
    let ctx = Arc::new(SetupCtx {
        client: client.clone(),
        base: server.base.clone(),
        token,
        v2,
    });

    let times = populate(&ctx, &p, args.tag_via).await?;
    server.check_alive()?;
    let setup_total = times.push + times.create + times.churn;
    let (live, history) = expected_counts(p.tags);
    eprintln!(
        "ui_bench: setup done in {:.1} s; waiting for the server to go idle",
        setup_total.as_secs_f64()
    );
    server.wait_idle(Duration::from_secs(30)).await;

    let browser = Browser {
        cookie: sign_in(&client, &server.base).await?,
        client,
        base: server.base.clone(),
    };
    let probes = probes(p.tags);
    let results = measure(&browser, &server, &probes, p.runs).await;
    server.check_alive()?;
    let mem = server.mem().ok();
    let table = grid(&probes, &results);

    let per_tag = |d: Duration, n: usize| d.as_secs_f64() * 1e3 / n.max(1) as f64;
    println!(
        "web UI tag-list page: repository {REPO} with {} tags created ({live} live, {history} history rows \
         after deleting, re-creating and moving some); {} timed runs per row after {WARMUP} warm-ups, \
         wall time to the last body byte over one keep-alive connection on 127.0.0.1, signed in with \
         the session cookie; {} CPUs; load average {load_before} before, {} after; {:.0} s in all",
        p.tags,
        p.runs,
        std::thread::available_parallelism().map_or(0, usize::from),
        loadavg(),
        t_start.elapsed().as_secs_f64()
    );
    println!(
        "setup {:.1} s: 2 image pushes {:.2} s; {} tags via {} {:.1} s ({:.2} ms/tag, {} in flight); \
         {} deletes, re-creations and moves {:.1} s",
        setup_total.as_secs_f64(),
        times.push.as_secs_f64(),
        p.tags.saturating_sub(2),
        match args.tag_via {
            TagVia::Api => "PUT /api/v1/repository/{repo}/tag/{tag}",
            TagVia::V2 => "PUT /v2/{repo}/manifests/{tag}",
        },
        times.create.as_secs_f64(),
        per_tag(times.create, p.tags.saturating_sub(2)),
        p.concurrency,
        times.churn_ops,
        times.churn.as_secs_f64(),
    );
    println!("ours: {}", server.describe);
    if let Some(m) = mem {
        println!(
            "server memory after the run: RSS {:.1} MiB, peak {:.1} MiB",
            m.rss_kib as f64 / 1024.0,
            m.hwm_kib as f64 / 1024.0
        );
    }
    println!();
    print!("{}", table.plain());
    if args.markdown {
        println!();
        print!("{}", table.markdown());
    }
    let mut ok = true;
    for (probe, r) in probes.iter().zip(&results) {
        if let Err(e) = r {
            eprintln!("ui_bench: error: [{}] {e:#}", probe.label);
            ok = false;
        }
    }
    Ok(ok)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let limit = Params::new(&args).total_limit;
    harness::run_main("ui-bench", limit, move |path| async move { run(args, &path).await })
}
