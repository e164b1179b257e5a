//! Benchmark: one `registry gc` pass over a store full of collectable content.
//!
//! `cargo run --release -p e2e --bin bench_gc -- [--registry-bin target/release/registry] [--blobs 100000] [--tags 10000] [--markdown]`
//!
//! Starts the release registry on SQLite + filesystem (`e2e::Registry::start_with`), pushes `--tags`
//! image manifests through the real /v2 API under the bench user's namespace, each with its own config
//! and `blobs/tags - 1` small random layers (monolithic `POST …/blobs/uploads/?digest=` uploads,
//! `--concurrency` at a time), then deletes every tag. The namespace's time-machine window is 0
//! (`DEFAULT_TAG_EXPIRATION: 0s`, so the user is created with it), upload holds end after a second
//! (`PUSH_TEMP_TAG_EXPIRATION_SEC: 1`) and the server's own GC loop is off, so everything is
//! collectable and nothing is collected before the timed pass. The server is stopped and
//! `registry gc` runs once on the same config and data directory; blob files are counted on disk
//! before and after, and the gc process's peak RSS is read from /proc while it runs.
//!
//! The same run then compares the cost of one image push with quota enforcement on versus off
//! (`--quota-pushes` images per round, one at a time, A-B-B-A on fresh registries).
//!
//! There is no peer to compare with (CNCF Distribution's GC is an offline mark-and-sweep over a
//! different layout), so the table shows absolute numbers. No assertions on speed.

#[path = "../bench/api.rs"]
#[expect(dead_code, reason = "shared with the `bench` binary, which uses the rest")]
mod api;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use clap::Parser;
use rand::RngCore;
use reqwest::{header, StatusCode};

use api::{oci_manifest, sha256_digest, Api};
use e2e::{Backend, Registry, TestEnv};

const REPO_NAME: &str = "gcbench";
const LAYER_BYTES: usize = 64;
const CONFIG_YAML: &str =
    "DEFAULT_TAG_EXPIRATION: 0s\nPUSH_TEMP_TAG_EXPIRATION_SEC: 1\nFEATURE_GARBAGE_COLLECTION: false\n";

#[derive(Parser, Debug)]
#[command(about = "Time one garbage-collection pass of our registry over a store of collectable images")]
struct Args {
    /// Our registry binary (relative paths are also tried against the workspace root).
    #[arg(long, default_value = "target/release/registry")]
    registry_bin: PathBuf,
    /// Blobs to store in total (configs included); a multiple of --tags.
    #[arg(long, default_value_t = 100_000)]
    blobs: usize,
    /// Tagged image manifests, one per tag.
    #[arg(long, default_value_t = 10_000)]
    tags: usize,
    /// Requests in flight while populating and deleting.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Also print the table as markdown.
    #[arg(long)]
    markdown: bool,
    /// Images pushed one at a time per round of the quota on/off comparison
    /// (0 skips it).
    #[arg(long, default_value_t = 300)]
    quota_pushes: usize,
}

/// Quotas on, with a system-wide Reject limit so every upload and manifest
/// push runs the whole enforcement path (thresholds, namespace size, counting).
const QUOTA_ON_YAML: &str =
    "FEATURE_GARBAGE_COLLECTION: false\nFEATURE_QUOTA_MANAGEMENT: true\nDEFAULT_SYSTEM_REJECT_QUOTA_BYTES: 1099511627776\n";
const QUOTA_OFF_YAML: &str = "FEATURE_GARBAGE_COLLECTION: false\nFEATURE_QUOTA_MANAGEMENT: false\n";

/// Pushes `n` small images (config + 2 layers + manifest) one after another
/// into a fresh registry; returns the mean time of one image push.
fn timed_pushes(env: &TestEnv, yaml: &str, n: usize) -> Result<Duration> {
    let mut registry = Registry::start_with(env, yaml, true);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?;
    let elapsed = rt.block_on(async {
        let repo = registry.repo("quotabench");
        let api = login(&registry, &repo).await?;
        // Warm up: the first push creates the repository and counts the namespace.
        push_image(&api, &repo, usize::MAX, 2).await?;
        let start = Instant::now();
        for i in 0..n {
            push_image(&api, &repo, i, 2).await?;
        }
        Ok::<_, anyhow::Error>(start.elapsed())
    })?;
    registry.kill();
    Ok(elapsed / u32::try_from(n.max(1)).unwrap_or(u32::MAX))
}

/// Quota enforcement on versus off, A-B-B-A; returns table rows.
fn quota_push_cost(env: &TestEnv, n: usize) -> Result<Vec<(String, String)>> {
    let mut off = Vec::new();
    let mut on = Vec::new();
    for quota in [false, true, true, false] {
        let mean = timed_pushes(env, if quota { QUOTA_ON_YAML } else { QUOTA_OFF_YAML }, n)?;
        eprintln!(
            "bench_gc: {n} pushes with quota {}: {:.2} ms each",
            if quota { "on" } else { "off" },
            mean.as_secs_f64() * 1e3
        );
        if quota {
            on.push(mean)
        } else {
            off.push(mean)
        }
    }
    let avg = |v: &[Duration]| v.iter().map(Duration::as_secs_f64).sum::<f64>() / v.len().max(1) as f64 * 1e3;
    let (off_ms, on_ms) = (avg(&off), avg(&on));
    Ok(vec![
        (
            "push of one image (3 blobs + manifest), quota off, ms".into(),
            format!("{off_ms:.2}"),
        ),
        (
            "push of one image (3 blobs + manifest), quota enforced, ms".into(),
            format!("{on_ms:.2}"),
        ),
        (
            "quota enforced / off".into(),
            format!("{:.2}x", on_ms / off_ms.max(1e-9)),
        ),
    ])
}

/// What one `registry gc` run did and cost.
struct GcRun {
    elapsed: Duration,
    manifests: usize,
    blob_rows: usize,
    peak_rss_kib: Option<u64>,
}

/// The binary as an absolute path (the registry runs in its own directory).
fn resolve_registry_bin(p: &Path) -> Result<PathBuf> {
    let alt = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(p);
    for candidate in [p.to_path_buf(), alt] {
        if candidate.is_file() {
            return candidate.canonicalize().context("resolve the registry binary");
        }
    }
    bail!(
        "registry binary {} not found (build it: cargo build --release -p registry)",
        p.display()
    )
}

/// Files under the blob store, upload leftovers excluded.
fn count_blob_files(root: &Path) -> usize {
    fn walk(dir: &Path, n: &mut usize) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                if path.file_name().is_some_and(|f| f != "uploads") {
                    walk(&path, n);
                }
            } else {
                *n += 1;
            }
        }
    }
    let mut n = 0;
    walk(root, &mut n);
    n
}

/// `POST /v2/<repo>/blobs/uploads/?digest=` with the whole blob → 201.
async fn push_blob(api: &Api, repo: &str, data: Bytes) -> Result<(String, usize)> {
    let digest = sha256_digest(&data);
    let len = data.len();
    let mut url = api.url(&format!("/v2/{repo}/blobs/uploads/"))?;
    url.query_pairs_mut().append_pair("digest", &digest);
    let mut req = api
        .client
        .post(url)
        .header(header::CONTENT_TYPE, "application/octet-stream");
    if let Some(auth) = &api.auth {
        req = req.header(header::AUTHORIZATION, auth.clone());
    }
    let resp = req.body(data).send().await.context("monolithic blob upload")?;
    if resp.status() != StatusCode::CREATED {
        bail!(
            "blob upload {digest}: {} {}",
            resp.status(),
            resp.text().await.unwrap_or_default()
        );
    }
    Ok((digest, len))
}

/// Pushes image `i`: a unique config, `layers` unique random layers, tag `t<i>`.
/// The config is unique per call (also for a repeated `i`).
async fn push_image(api: &Api, repo: &str, i: usize, layers: usize) -> Result<()> {
    let mut nonce = [0u8; 8];
    rand::rng().fill_bytes(&mut nonce);
    let config = Bytes::from(format!(
        r#"{{"architecture":"amd64","os":"linux","bench":{i},"nonce":"{}"}}"#,
        hex_of(&nonce)
    ));
    let config = push_blob(api, repo, config).await?;
    let mut pushed = Vec::with_capacity(layers);
    for _ in 0..layers {
        let mut data = vec![0u8; LAYER_BYTES];
        rand::rng().fill_bytes(&mut data);
        pushed.push(push_blob(api, repo, Bytes::from(data)).await?);
    }
    let refs: Vec<(&str, usize)> = pushed.iter().map(|(d, n)| (d.as_str(), *n)).collect();
    api.put_manifest(repo, &format!("t{i}"), oci_manifest((&config.0, config.1), &refs))
        .await?;
    Ok(())
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn delete_tag(api: &Api, repo: &str, i: usize) -> Result<()> {
    let url = api.url(&format!("/v2/{repo}/manifests/t{i}"))?;
    let mut req = api.client.delete(url);
    if let Some(auth) = &api.auth {
        req = req.header(header::AUTHORIZATION, auth.clone());
    }
    let resp = req.send().await.context("DELETE manifest by tag")?;
    if resp.status() != StatusCode::ACCEPTED {
        bail!(
            "deleting t{i}: {} {}",
            resp.status(),
            resp.text().await.unwrap_or_default()
        );
    }
    Ok(())
}

/// Runs `job(i)` for every i in 0..n, `concurrency` at a time; prints progress.
async fn for_each<F, Fut>(what: &str, n: usize, concurrency: usize, job: F) -> Result<Duration>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<()>> + Send,
{
    let start = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let job = Arc::new(job);
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (next, job) = (next.clone(), job.clone());
        let what = what.to_owned();
        workers.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return Ok::<_, anyhow::Error>(());
                }
                job(i).await.with_context(|| format!("{what} #{i}"))?;
                if (i + 1) % 1000 == 0 {
                    eprintln!(
                        "bench_gc: {what}: {} of {n} after {:.1}s",
                        i + 1,
                        start.elapsed().as_secs_f64()
                    );
                }
            }
        });
    }
    while let Some(done) = workers.join_next().await {
        done.context("worker task")??;
    }
    Ok(start.elapsed())
}

async fn login(registry: &Registry, repo: &str) -> Result<Api> {
    let (user, password) = registry.creds.clone().context("the registry has no bench user")?;
    let mut api = Api::new(api::http_client()?, &registry.url(""))?;
    let token = api.registry_token(&user, &password, repo).await?;
    api.set_bearer(&token)?;
    Ok(api)
}

/// Populates the store and deletes every tag; returns (populate, delete) durations.
async fn populate_and_untag(registry: &Registry, args: &Args, layers: usize) -> Result<(Duration, Duration)> {
    let repo = registry.repo(REPO_NAME);
    let api = login(registry, &repo).await?;
    let (a, r) = (api.clone(), repo.clone());
    let populate = for_each("push", args.tags, args.concurrency, move |i| {
        let (a, r) = (a.clone(), r.clone());
        async move { push_image(&a, &r, i, layers).await }
    })
    .await?;
    // A fresh token: populating a full-size store may take a good part of its hour.
    let api = login(registry, &repo).await?;
    let untag = for_each("delete tag", args.tags, args.concurrency, move |i| {
        let (a, r) = (api.clone(), repo.clone());
        async move { delete_tag(&a, &r, i).await }
    })
    .await?;
    Ok((populate, untag))
}

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// The count after `  <label>: ` in `registry gc` output.
fn reported(out: &str, label: &str) -> usize {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("  {label}: ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Runs `registry gc` once on the stopped registry's config and data.
fn run_gc(bin: &Path, dir: &Path) -> Result<GcRun> {
    let out_path = dir.join("gc.out");
    let out = std::fs::File::create(&out_path).context("create gc.out")?;
    let start = Instant::now();
    let mut child = Command::new(bin)
        .arg("--config")
        .arg(dir.join("config.yaml"))
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("gc")
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("start {} gc", bin.display()))?;
    let mut peak = None;
    let status = loop {
        // VmHWM only grows, so the last reading before exit is the peak.
        if let Some(kib) = vm_hwm_kib(child.id()) {
            peak = Some(kib);
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let elapsed = start.elapsed();
    let text = std::fs::read_to_string(&out_path).context("read gc output")?;
    if !status.success() {
        bail!(
            "registry gc exited with {status}: {}",
            text.chars().take(2000).collect::<String>()
        );
    }
    Ok(GcRun {
        elapsed,
        manifests: reported(&text, "manifests"),
        blob_rows: reported(&text, "blobs"),
        peak_rss_kib: peak,
    })
}

fn print_table(rows: &[(String, String)], markdown: bool) {
    let w0 = rows.iter().map(|(m, _)| m.chars().count()).max().unwrap_or(6).max(6);
    let w1 = rows.iter().map(|(_, v)| v.chars().count()).max().unwrap_or(5).max(5);
    println!();
    println!("{:<w0$} | {:>w1$}", "metric", "value");
    println!("{}-+-{}", "-".repeat(w0), "-".repeat(w1));
    for (m, v) in rows {
        println!("{m:<w0$} | {v:>w1$}");
    }
    if markdown {
        println!();
        println!("| metric | value |\n|---|---:|");
        for (m, v) in rows {
            println!("| {m} | {v} |");
        }
    }
}

fn run(args: &Args) -> Result<()> {
    if args.tags == 0 || args.blobs < 2 * args.tags || !args.blobs.is_multiple_of(args.tags) {
        bail!("--blobs must be a multiple of --tags, at least twice it (a config and a layer per image)");
    }
    let layers = args.blobs / args.tags - 1;
    let bin = resolve_registry_bin(&args.registry_bin)?;
    let env = TestEnv {
        backend: Backend::SqliteFs,
        registry_bin: bin.clone(),
        venv: PathBuf::new(),
        pg_admin_url: None,
        s3_endpoint: None,
    };
    let t_start = Instant::now();
    let mut registry = Registry::start_with(&env, CONFIG_YAML, true);
    eprintln!(
        "bench_gc: registry on {} ({}); {} images of 1 config + {layers} layers of {LAYER_BYTES} B",
        registry.host(),
        bin.display(),
        args.tags
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?;
    let (populate, untag) = rt.block_on(populate_and_untag(&registry, args, layers))?;
    drop(rt);
    registry.kill();
    let blob_root = registry.dir().join("data").join("blobs");
    let before = count_blob_files(&blob_root);
    // Upload holds end a second after the last upload.
    std::thread::sleep(Duration::from_millis(1500));
    eprintln!("bench_gc: {before} blob files stored; running one `registry gc` pass");
    let gc = run_gc(&bin, registry.dir())?;
    let after = count_blob_files(&blob_root);
    let removed = before.saturating_sub(after);
    let secs = gc.elapsed.as_secs_f64();
    let rows = vec![
        (
            format!("populate: {} images / {} blobs pushed, s", args.tags, args.blobs),
            format!("{:.1}", populate.as_secs_f64()),
        ),
        (
            "populate: blobs pushed per second".into(),
            format!("{:.0}", args.blobs as f64 / populate.as_secs_f64().max(1e-9)),
        ),
        (
            format!("delete {} tags, s", args.tags),
            format!("{:.1}", untag.as_secs_f64()),
        ),
        ("blob files before gc".into(), before.to_string()),
        ("blob files after gc".into(), after.to_string()),
        ("gc: blobs removed (files)".into(), removed.to_string()),
        ("gc: blob rows removed (reported)".into(), gc.blob_rows.to_string()),
        ("gc: manifests removed".into(), gc.manifests.to_string()),
        (
            "gc: seconds (one pass, process start to exit)".into(),
            format!("{secs:.2}"),
        ),
        (
            "gc: blobs removed per second".into(),
            format!("{:.0}", removed as f64 / secs.max(1e-9)),
        ),
        (
            "gc: manifests removed per second".into(),
            format!("{:.0}", gc.manifests as f64 / secs.max(1e-9)),
        ),
        (
            "gc: peak RSS (VmHWM), MiB".into(),
            gc.peak_rss_kib
                .map_or("n/a".into(), |k| format!("{:.1}", k as f64 / 1024.0)),
        ),
    ];
    let mut rows = rows;
    if args.quota_pushes > 0 {
        rows.extend(quota_push_cost(&env, args.quota_pushes)?);
    }
    print_table(&rows, args.markdown);
    println!(
        "SQLite + filesystem; {} CPUs; {} in flight while populating; total {:.1}s",
        std::thread::available_parallelism().map_or(0, usize::from),
        args.concurrency,
        t_start.elapsed().as_secs_f64()
    );
    if removed != args.blobs || gc.manifests != args.tags {
        bail!("expected {} blobs and {} manifests removed", args.blobs, args.tags);
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_gc: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
