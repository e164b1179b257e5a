//! Benchmark: proxy-cache pulls through our registry vs CNCF Distribution 2.8 as a pull-through cache.
//!
//! `cargo run --release -p e2e --bin proxy_bench -- [--registry-bin target/release/registry] [--quick]
//! [--markdown] [--iterations 5] [--layer-mib 64]`
//!
//! Everything runs on 127.0.0.1 with throw-away data dirs:
//! - the upstream U, Debian's `docker-registry` (anonymous), holding `lib/img0` … `lib/imgN`
//!   (N = iterations), each a small config plus one random layer, tagged `v1`;
//! - the Distribution proxy P, a second `docker-registry` with `proxy.remoteurl` = U;
//! - ours O, with `FEATURE_PROXY_CACHE` and the loopback in `SSRF_ALLOWED_HOSTS`; the first user
//!   comes from `POST /api/v1/user/initialize` (with an API token), which creates the organization
//!   `cache` and makes it a proxy cache of U (`POST /api/v1/organization/cache/proxycache`). Pulls go
//!   to `/v2/cache/lib/imgK/…` with one registry token from `/v2/auth` carrying a pull scope per repository.
//!
//! Measured per side (P and O at `/v2/lib/imgK/…` and `/v2/cache/lib/imgK/…`, U direct as the baseline):
//! - cold miss: manifest GET by tag, then the layer GET, on a repository the side never served (a fresh
//!   K each iteration, alternating which side goes first);
//! - warm hit on `lib/img0` (pulled once and checked byte for byte beforehand): manifest GET by tag
//!   latency (both proxies ask the upstream whether the tag moved) and layer GET throughput, A-B-B-A;
//! - memory (RSS and peak RSS) of both proxies after the run.
//!
//! Everything is stopped and removed at the end, also on error or Ctrl-C. No assertions on speed.

#[path = "../bench/api.rs"]
#[allow(dead_code, reason = "shared with the `bench` binary, which uses the rest")]
mod api;
#[path = "../bench/harness.rs"]
mod harness;
#[path = "../bench/report.rs"]
mod report;
#[path = "../bench/server.rs"]
#[allow(dead_code, reason = "shared with the `bench` binary, which uses the rest")]
mod server;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use clap::Parser;
use rand::{RngCore, SeedableRng};
use reqwest::StatusCode;
use serde_json::json;

use api::{oci_manifest, sha256_digest, Api};
use report::{Better, Row, Table};
use server::{loadavg, resolve_registry_bin, Server};

const MIB: usize = 1 << 20;
const ADMIN: &str = "benchadmin";
const ADMIN_PASSWORD: &str = "bench-Passw0rd";
const ORG: &str = "cache";
const TAG: &str = "v1";

#[derive(Parser, Debug)]
#[command(about = "Compare proxy-cache pulls of our registry with CNCF Distribution 2.8's pull-through cache")]
struct Args {
    /// Our registry binary (relative paths are also tried against the workspace root).
    #[arg(long, default_value = "target/release/registry")]
    registry_bin: PathBuf,
    /// CNCF Distribution binary (Debian package docker-registry), for the upstream and its proxy.
    #[arg(long, default_value = "/usr/bin/docker-registry")]
    distribution_bin: PathBuf,
    /// Shorter run: 2 cold misses and fewer warm repetitions.
    #[arg(long)]
    quick: bool,
    /// Also print the table as markdown.
    #[arg(long)]
    markdown: bool,
    /// Cold misses per side, each on its own repository (default 5, 2 with --quick).
    #[arg(long)]
    iterations: Option<usize>,
    /// Size of each image's layer in MiB.
    #[arg(long, default_value_t = 64)]
    layer_mib: usize,
}

struct Params {
    iterations: usize,
    layer: usize,
    hit_manifest_reps: usize,
    hit_blob_reps: usize,
    idle_limit: Duration,
    total_limit: Duration,
}

impl Params {
    fn new(args: &Args) -> Self {
        let iterations = args.iterations.unwrap_or(if args.quick { 2 } else { 5 }).max(1);
        let (hit_manifest_reps, hit_blob_reps) = if args.quick { (20, 2) } else { (100, 6) };
        let layer = args.layer_mib.max(1) * MIB;
        // Layer transfers: a push, two misses and a direct read per repository, then the hits; budgeted
        // at 20 MB/s so a slow, busy machine still finishes.
        let transfers = (iterations + 1) * 4 + hit_blob_reps * 3 + 6;
        let secs = 120 + (transfers * layer / 20_000_000) as u64;
        Self {
            iterations,
            layer,
            hit_manifest_reps,
            hit_blob_reps,
            idle_limit: Duration::from_secs(if args.quick { 2 } else { 5 }),
            total_limit: Duration::from_secs(secs),
        }
    }
}

/// One image pushed to the upstream.
struct Image {
    /// `lib/imgK`, the repository on the upstream.
    repo: String,
    manifest_digest: String,
    layer: (String, u64),
}

/// A registry the client pulls from: the upstream itself, or one of the two proxies.
struct Side {
    name: &'static str,
    api: Api,
    /// Put before the upstream repository name (`cache/` on ours).
    prefix: &'static str,
}

impl Side {
    fn repo(&self, img: &Image) -> String {
        format!("{}{}", self.prefix, img.repo)
    }

    async fn manifest(&self, img: &Image) -> Result<()> {
        self.api
            .check_manifest(&self.repo(img), TAG, &img.manifest_digest)
            .await
    }

    async fn layer(&self, img: &Image, verify: bool) -> Result<u64> {
        let (digest, len) = &img.layer;
        self.api.get_blob(&self.repo(img), digest, *len, verify).await
    }

    /// Manifest by tag, then the layer; returns the wall time.
    async fn pull(&self, img: &Image, verify: bool) -> Result<Duration> {
        let t = Instant::now();
        self.manifest(img).await?;
        self.layer(img, verify).await?;
        Ok(t.elapsed())
    }
}

fn err_str(e: &anyhow::Error) -> String {
    format!("{e:#}")
}

fn mb_s(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / d.as_secs_f64().max(1e-9) / 1e6
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    let n = v.len();
    match n {
        0 => Duration::ZERO,
        _ if n % 2 == 1 => v[n / 2],
        _ => (v[n / 2 - 1] + v[n / 2]) / 2,
    }
}

fn percentile(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    if v.is_empty() {
        return Duration::ZERO;
    }
    let i = ((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1;
    v[i]
}

/// Pushes `n` images `lib/img0 …` to the anonymous upstream.
async fn push_images(upstream: &Api, n: usize, layer: usize) -> Result<Vec<Image>> {
    let mut rng = rand::rngs::SmallRng::seed_from_u64(0x5eed_0001);
    let mut images = Vec::with_capacity(n);
    for k in 0..n {
        let repo = format!("lib/img{k}");
        let mut data = vec![0u8; layer];
        rng.fill_bytes(&mut data);
        let data = Bytes::from(data);
        let layer_digest = sha256_digest(&data);
        upstream
            .push_monolithic(&repo, data, &layer_digest)
            .await
            .with_context(|| format!("push layer of {repo} to the upstream"))?;
        let config = Bytes::from(
            serde_json::to_vec(&json!({
                "architecture": "amd64",
                "os": "linux",
                "config": {"Labels": {"bench.image": repo}},
                "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
            }))
            .context("config json")?,
        );
        let config_digest = sha256_digest(&config);
        let config_len = config.len();
        upstream
            .push_monolithic(&repo, config, &config_digest)
            .await
            .with_context(|| format!("push config of {repo} to the upstream"))?;
        let manifest = oci_manifest((&config_digest, config_len), &[(&layer_digest, layer)]);
        let manifest_digest = upstream
            .put_manifest(&repo, TAG, manifest)
            .await
            .with_context(|| format!("push manifest of {repo} to the upstream"))?;
        images.push(Image {
            repo,
            manifest_digest,
            layer: (layer_digest, layer as u64),
        });
    }
    Ok(images)
}

/// A POST with an OAuth bearer token and a JSON body; expects 201.
async fn post_created(client: &reqwest::Client, url: String, token: &str, body: serde_json::Value) -> Result<()> {
    let resp = client
        .post(&url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    let status = resp.status();
    if status != StatusCode::CREATED {
        let text = resp.text().await.unwrap_or_default();
        bail!("POST {url} {body}: expected 201, got {status}: {text}");
    }
    Ok(())
}

/// First user with an API token, the organization, its proxy-cache configuration for `upstream`
/// (`host:port`), and a registry token that may pull every image through it.
async fn setup_ours(client: &reqwest::Client, base: &str, upstream: &str, images: &[Image]) -> Result<Api> {
    let token = Api::new(client.clone(), base)?
        .initialize_first_user(ADMIN, ADMIN_PASSWORD, "bench@example.com")
        .await?;
    post_created(
        client,
        format!("{base}/api/v1/organization/"),
        &token,
        json!({"name": ORG}),
    )
    .await?;
    post_created(
        client,
        format!("{base}/api/v1/organization/{ORG}/proxycache"),
        &token,
        json!({"upstream_registry": upstream, "insecure": true}),
    )
    .await?;
    let mut api = Api::new(client.clone(), base)?;
    let scopes: Vec<String> = images
        .iter()
        .map(|i| format!("repository:{ORG}/{}:pull", i.repo))
        .collect();
    let jwt = api.registry_token_scopes(ADMIN, ADMIN_PASSWORD, &scopes).await?;
    api.set_bearer(&jwt)?;
    Ok(api)
}

/// Waits until none of `servers` uses CPU, so one measurement does not bill the next.
async fn settle(servers: &[&Server], limit: Duration) {
    for s in servers {
        s.wait_idle(limit).await;
    }
}

/// Collapses per-attempt results: the first error wins.
fn collect<T>(v: Vec<Result<T>>) -> Result<Vec<T>, String> {
    v.into_iter().map(|r| r.map_err(|e| err_str(&e))).collect()
}

/// Per side: the results of every attempt.
struct Samples {
    miss: Vec<Vec<Result<Duration>>>,
    hit_manifest: Vec<Vec<Result<Duration>>>,
    hit_layer: Vec<Vec<Result<(u64, Duration)>>>,
}

impl Samples {
    fn new(sides: usize) -> Self {
        let empty = || (0..sides).map(|_| Vec::new()).collect::<Vec<_>>();
        Self {
            miss: empty(),
            hit_manifest: empty(),
            hit_layer: (0..sides).map(|_| Vec::new()).collect(),
        }
    }
}

/// Sides in A-B-B-A order over `0..n`: A = 0, B = 1, the upstream (2) last.
const ABBA: [usize; 5] = [0, 1, 1, 0, 2];

async fn measure(sides: &[Side], servers: &[&Server], images: &[Image], p: &Params) -> Samples {
    let mut s = Samples::new(sides.len());
    let warm = &images[0];

    // The warm repository: one verified pull through each side, untimed. A side that cannot
    // pull it is left out of everything after (its cells say why).
    let mut live = vec![true; sides.len()];
    for (k, side) in sides.iter().enumerate() {
        let first = async {
            side.manifest(warm).await?;
            side.layer(warm, true).await
        };
        if let Err(e) = first.await {
            let msg = format!("first pull of {} (untimed): {e:#}", side.repo(warm));
            eprintln!("proxy_bench: {}: {msg}", side.name);
            live[k] = false;
            s.miss[k].push(Err(anyhow::anyhow!(msg.clone())));
            s.hit_manifest[k].push(Err(anyhow::anyhow!(msg.clone())));
            s.hit_layer[k].push(Err(anyhow::anyhow!(msg)));
        }
    }

    // Cold misses, a fresh repository each; the proxies take turns going first.
    for (i, img) in images.iter().enumerate().skip(1) {
        let order: [usize; 3] = if i % 2 == 1 { [0, 1, 2] } else { [1, 0, 2] };
        for k in order.into_iter().filter(|&k| live[k]) {
            settle(servers, p.idle_limit).await;
            let r = sides[k].pull(img, false).await;
            if let Err(e) = &r {
                eprintln!("proxy_bench: {} miss on {}: {e:#}", sides[k].name, img.repo);
            }
            s.miss[k].push(r);
        }
        eprintln!("proxy_bench: miss {i}/{} done", images.len() - 1);
    }

    // Warm hits: manifest by tag.
    let per_block = p.hit_manifest_reps.div_ceil(2);
    for k in ABBA.into_iter().filter(|&k| live[k]) {
        settle(servers, p.idle_limit).await;
        let reps = if k == 2 { p.hit_manifest_reps } else { per_block };
        for _ in 0..reps {
            let t = Instant::now();
            let r = sides[k].manifest(warm).await.map(|()| t.elapsed());
            let failed = r.is_err();
            s.hit_manifest[k].push(r);
            if failed {
                break;
            }
        }
    }

    // Warm hits: the layer.
    let per_block = p.hit_blob_reps.div_ceil(2);
    for k in ABBA.into_iter().filter(|&k| live[k]) {
        let reps = if k == 2 { p.hit_blob_reps } else { per_block };
        for _ in 0..reps {
            settle(servers, p.idle_limit).await;
            let t = Instant::now();
            let r = sides[k].layer(warm, false).await.map(|n| (n, t.elapsed()));
            let failed = r.is_err();
            s.hit_layer[k].push(r);
            if failed {
                break;
            }
        }
    }
    eprintln!("proxy_bench: hits done");
    s
}

struct Summary {
    miss_s: Result<f64, String>,
    miss_mb_s: Result<f64, String>,
    hit_manifest_ms: Result<f64, String>,
    hit_manifest_p90_ms: Result<f64, String>,
    hit_layer_mb_s: Result<f64, String>,
}

fn summarize(s: Samples, layer: u64) -> Vec<Summary> {
    let Samples {
        miss,
        hit_manifest,
        hit_layer,
    } = s;
    miss.into_iter()
        .zip(hit_manifest)
        .zip(hit_layer)
        .map(|((miss, manifest), layer_gets)| {
            let miss = collect(miss).map(|mut v| median(&mut v));
            let manifest = collect(manifest);
            let layer_gets = collect(layer_gets).map(|v| {
                let bytes: u64 = v.iter().map(|(n, _)| n).sum();
                let time: Duration = v.iter().map(|(_, d)| *d).sum();
                mb_s(bytes, time)
            });
            Summary {
                miss_s: miss.clone().map(|d| d.as_secs_f64()),
                miss_mb_s: miss.map(|d| mb_s(layer, d)),
                hit_manifest_ms: manifest.clone().map(|mut v| median(&mut v).as_secs_f64() * 1e3),
                hit_manifest_p90_ms: manifest.map(|mut v| percentile(&mut v, 0.9).as_secs_f64() * 1e3),
                hit_layer_mb_s: layer_gets,
            }
        })
        .collect()
}

fn mem_rows(ours: &Server, theirs: &Server) -> Vec<Row> {
    let m = |s: &Server| s.mem().map_err(|e| err_str(&e));
    let (o, t) = (m(ours), m(theirs));
    let mib = |v: &Result<server::Mem, String>, f: fn(&server::Mem) -> u64| {
        v.as_ref().map(|m| f(m) as f64 / 1024.0).map_err(Clone::clone)
    };
    vec![
        Row {
            metric: "RSS after the run MiB".into(),
            better: Better::Lower,
            decimals: 1,
            ours: mib(&o, |m| m.rss_kib),
            theirs: mib(&t, |m| m.rss_kib),
        },
        Row {
            metric: "peak RSS MiB".into(),
            better: Better::Lower,
            decimals: 1,
            ours: mib(&o, |m| m.hwm_kib),
            theirs: mib(&t, |m| m.hwm_kib),
        },
    ]
}

fn fmt_cell(v: &Result<f64, String>, decimals: usize) -> String {
    match v {
        Ok(x) => format!("{x:.decimals$}"),
        Err(_) => "ERROR".into(),
    }
}

/// Ok(false) when some metric could not be measured (the output says which and why).
async fn run(args: Args, work: &Path) -> Result<bool> {
    let p = Params::new(&args);
    let t_start = Instant::now();
    let load_before = loadavg();
    if !args.distribution_bin.is_file() {
        bail!(
            "{} not found (apt-get install docker-registry)",
            args.distribution_bin.display()
        );
    }
    let ours_bin = resolve_registry_bin(&args.registry_bin)?;
    let client = api::http_client()?;
    let ready = Duration::from_secs(30);

    let mut upstream = Server::spawn_distribution("upstream", &args.distribution_bin, work, "upstream")?;
    upstream.wait_ready(&client, "/v2/", ready).await?;
    let upstream_host = upstream
        .base
        .strip_prefix("http://")
        .context("upstream base")?
        .to_string();
    let up_api = Api::new(client.clone(), &upstream.base)?;
    eprintln!(
        "proxy_bench: pushing {} images with a {} MiB layer to the upstream",
        p.iterations + 1,
        p.layer / MIB
    );
    let images = push_images(&up_api, p.iterations + 1, p.layer).await?;

    let mut theirs = Server::spawn_distribution_proxy(
        "distribution proxy",
        &args.distribution_bin,
        work,
        "distribution-proxy",
        &upstream.base,
    )?;
    theirs.wait_ready(&client, "/v2/", ready).await?;
    let config = "FEATURE_USER_INITIALIZE: true\n\
                  FEATURE_PROXY_CACHE: true\n\
                  SSRF_ALLOWED_HOSTS: [\"127.0.0.1\"]\n";
    let mut ours = Server::spawn_ours_with("ours", &ours_bin, work, "ours", Some(config))?;
    ours.wait_ready(&client, "/health/instance", ready).await?;
    let ours_api = setup_ours(&client, &ours.base, &upstream_host, &images).await?;

    let sides = [
        Side {
            name: "ours",
            api: ours_api,
            prefix: "cache/",
        },
        Side {
            name: "distribution proxy",
            api: Api::new(client.clone(), &theirs.base)?,
            prefix: "",
        },
        Side {
            name: "upstream",
            api: up_api,
            prefix: "",
        },
    ];
    let samples = measure(&sides, &[&ours, &theirs, &upstream], &images, &p).await;
    for s in [&mut ours, &mut theirs, &mut upstream] {
        s.check_alive()?;
    }
    let mut sum = summarize(samples, p.layer as u64).into_iter();
    let (Some(o), Some(t), Some(u)) = (sum.next(), sum.next(), sum.next()) else {
        bail!("missing summary");
    };

    let mib = p.layer / MIB;
    let row = |metric: String, better, decimals, ours: &Result<f64, String>, theirs: &Result<f64, String>| Row {
        metric,
        better,
        decimals,
        ours: ours.clone(),
        theirs: theirs.clone(),
    };
    let mut rows = vec![
        row(
            format!("miss: manifest+layer ({mib} MiB) s, median of {}", p.iterations),
            Better::Lower,
            3,
            &o.miss_s,
            &t.miss_s,
        ),
        row(
            "miss: layer MB/s (from the median)".into(),
            Better::Higher,
            1,
            &o.miss_mb_s,
            &t.miss_mb_s,
        ),
        row(
            format!("hit: manifest by tag ms, median of {}", p.hit_manifest_reps),
            Better::Lower,
            2,
            &o.hit_manifest_ms,
            &t.hit_manifest_ms,
        ),
        row(
            "hit: manifest by tag ms, p90".into(),
            Better::Lower,
            2,
            &o.hit_manifest_p90_ms,
            &t.hit_manifest_p90_ms,
        ),
        row(
            format!("hit: layer GET MB/s, {} GETs", p.hit_blob_reps),
            Better::Higher,
            1,
            &o.hit_layer_mb_s,
            &t.hit_layer_mb_s,
        ),
    ];
    rows.extend(mem_rows(&ours, &theirs));
    let table = Table {
        ours_name: "ours".into(),
        theirs_name: "distribution proxy".into(),
        ratio_name: "ratio ours/distribution".into(),
        rows,
    };

    println!(
        "proxy-cache pulls: {} cold misses ({} MiB layer each), {} warm manifest GETs, {} warm layer GETs; \
         load average {load_before} before, {} after; {:.0} s",
        p.iterations,
        mib,
        p.hit_manifest_reps,
        p.hit_blob_reps,
        loadavg(),
        t_start.elapsed().as_secs_f64()
    );
    println!("ours:               {}", ours.describe);
    println!("distribution proxy: {}", theirs.describe);
    println!("upstream:           {}", upstream.describe);
    println!();
    print!("{}", table.plain());
    println!(
        "direct from the upstream (baseline): manifest+layer {} s ({} MB/s), manifest by tag {} ms (p90 {} ms), \
         layer GET {} MB/s",
        fmt_cell(&u.miss_s, 3),
        fmt_cell(&u.miss_mb_s, 1),
        fmt_cell(&u.hit_manifest_ms, 2),
        fmt_cell(&u.hit_manifest_p90_ms, 2),
        fmt_cell(&u.hit_layer_mb_s, 1),
    );
    if args.markdown {
        println!();
        print!("{}", table.markdown());
        println!(
            "\nDirect from the upstream (baseline): manifest+layer {} s ({} MB/s), manifest by tag {} ms \
             (p90 {} ms), layer GET {} MB/s.",
            fmt_cell(&u.miss_s, 3),
            fmt_cell(&u.miss_mb_s, 1),
            fmt_cell(&u.hit_manifest_ms, 2),
            fmt_cell(&u.hit_manifest_p90_ms, 2),
            fmt_cell(&u.hit_layer_mb_s, 1),
        );
    }
    let mut errors = table.errors();
    for (what, v) in [
        ("miss", &u.miss_s),
        ("hit manifest", &u.hit_manifest_ms),
        ("hit layer", &u.hit_layer_mb_s),
    ] {
        if let Err(e) = v {
            errors.push(format!("[upstream, {what}] {e}"));
        }
    }
    for e in &errors {
        eprintln!("proxy_bench: error: {e}");
    }
    Ok(errors.is_empty())
}

fn main() -> ExitCode {
    let args = Args::parse();
    let limit = Params::new(&args).total_limit;
    harness::run_main("proxy-bench", limit, move |path| async move { run(args, &path).await })
}
