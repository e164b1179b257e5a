//! Benchmark: our registry vs CNCF Distribution 2.8 (Debian `docker-registry`), same box, same client.
//!
//! `cargo run --release -p e2e --bin bench -- [--registry-bin target/release/registry] [--quick] [--markdown]`
//!
//! Starts both servers on 127.0.0.1 with throw-away data dirs, pushes a small OCI image to each, then
//! measures (one server at a time) manifest GET req/s + latency, blob GET MB/s, monolithic and chunked
//! push MB/s, and RSS; prints one comparison table plus the physical ceilings (SHA-256, synced disk write)
//! and the push ceiling: monolithic pushes into a minimal receiver (`sink`), half just before and
//! half just after the registries' monolithic pushes.
//! Everything is stopped and removed at the end, also on error or Ctrl-C. No assertions on speed.
//! A second table compares ours with pull logging on and off (`ACTION_LOG_PULLS`), same load, A-B-B-A.
//!
//! Ours refuses anonymous pushes, so after it is up the bench signs up a user (`POST /api/v1/user/`),
//! logs in like docker does (`/v2/` challenge, then a registry token from `/v2/auth` with Basic
//! credentials) and sends `Authorization: Bearer <token>` on every /v2 request of ours, also from the
//! load generator. Distribution has no auth configured and is measured anonymously.
//!
//! Pushes are sent by `filepush`, a small HTTP/1.1 client that sends each blob with `sendfile(2)`
//! from a file in tmpfs, so the client, which shares the CPUs with the server, costs as little as
//! possible; both servers get the same client.

#[path = "../bench/api.rs"]
mod api;
#[path = "../bench/ceil.rs"]
mod ceil;
#[path = "../bench/filepush.rs"]
mod filepush;
#[path = "../bench/harness.rs"]
mod harness;
#[path = "../bench/load.rs"]
mod load;
#[path = "../bench/pull_logs.rs"]
mod pull_logs;
#[path = "../bench/report.rs"]
mod report;
#[path = "../bench/server.rs"]
mod server;
#[path = "../bench/sink.rs"]
mod sink;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use clap::{Parser, ValueEnum};
use rand::{RngCore, SeedableRng};

use api::{oci_manifest, sha256_digest, Api, OCI_MANIFEST};
use report::{Better, Row, Table};
use server::{loadavg, resolve_registry_bin, Mem, Server};

const MIB: usize = 1 << 20;
/// In the bench user's own namespace, on both servers.
const REPO: &str = "benchuser/img";
const BENCH_USER: &str = "benchuser";
const BENCH_PASSWORD: &str = "bench-Passw0rd";
const BENCH_EMAIL: &str = "bench@example.com";
const TAG: &str = "v1";
const BIG_TAG: &str = "big";
const CONNS: u32 = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum LoadGen {
    /// wrk if installed (installed with apt-get if missing), else the Rust loop.
    Auto,
    Wrk,
    Rust,
}

#[derive(Parser, Debug)]
#[command(about = "Compare our registry with CNCF Distribution 2.8 on this machine")]
struct Args {
    /// Our registry binary (relative paths are also tried against the workspace root).
    #[arg(long, default_value = "target/release/registry")]
    registry_bin: PathBuf,
    /// CNCF Distribution binary (Debian package docker-registry).
    #[arg(long, default_value = "/usr/bin/docker-registry")]
    distribution_bin: PathBuf,
    /// Shorter run (well under a minute).
    #[arg(long)]
    quick: bool,
    /// Also print the table as markdown.
    #[arg(long)]
    markdown: bool,
    /// Load generator for the manifest GET test.
    #[arg(long, value_enum, default_value_t = LoadGen::Auto)]
    loadgen: LoadGen,
    /// Development only: run a second docker-registry on the "ours" side.
    #[arg(long, hide = true)]
    peer_as_ours: bool,
}

struct Params {
    manifest_secs: u64,
    blob_small_iters: usize,
    blob_big_iters: usize,
    push_iters: usize,
    big: usize,
    chunk: usize,
    openssl_secs: u32,
    dd_mib: u32,
    total_limit: Duration,
}

impl Params {
    fn new(quick: bool) -> Self {
        if quick {
            Self {
                manifest_secs: 2,
                blob_small_iters: 50,
                blob_big_iters: 2,
                push_iters: 2,
                big: 100 * MIB,
                chunk: 10 * MIB,
                openssl_secs: 1,
                dd_mib: 128,
                total_limit: Duration::from_secs(70),
            }
        } else {
            Self {
                manifest_secs: 5,
                blob_small_iters: 200,
                blob_big_iters: 8,
                push_iters: 6,
                big: 100 * MIB,
                chunk: 10 * MIB,
                openssl_secs: 2,
                dd_mib: 256,
                total_limit: Duration::from_secs(170),
            }
        }
    }
}

/// What was pushed during setup.
struct Image {
    manifest_digest: String,
    small: (String, u64),
    big: (String, u64),
}

struct Side {
    name: String,
    server: Server,
    /// Carries the side's credentials (if any) on every /v2 request.
    api: Api,
    ready_after: Duration,
    idle: Result<Mem, String>,
    image: Result<Image, String>,
}

fn random_bytes(rng: &mut rand::rngs::SmallRng, n: usize) -> Bytes {
    let mut v = vec![0u8; n];
    rng.fill_bytes(&mut v);
    Bytes::from(v)
}

fn mb_s(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / d.as_secs_f64().max(1e-9) / 1e6
}

fn which(cmd: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(cmd).is_file()))
}

fn apt_install(pkgs: &[&str]) -> Result<()> {
    eprintln!("bench: apt-get install {}", pkgs.join(" "));
    let st = std::process::Command::new("apt-get")
        .args([
            "-o",
            "DPkg::Lock::Timeout=120",
            "install",
            "-y",
            "--no-install-recommends",
        ])
        .args(pkgs)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .context("run apt-get")?;
    if !st.success() {
        bail!("apt-get install {} failed: {st}", pkgs.join(" "));
    }
    Ok(())
}

async fn sync_disks() {
    let _ = tokio::process::Command::new("sync").status().await;
}

/// Pushes config + 1 MiB layer + manifest `v1`, and a 100 MiB layer + manifest `big`.
async fn setup_image(api: &Api, big: usize) -> Result<Image> {
    let mut rng = rand::rngs::SmallRng::seed_from_u64(42);
    let config = Bytes::from_static(
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"config":{}}"#,
    );
    let small = random_bytes(&mut rng, MIB);
    let large = random_bytes(&mut rng, big);
    let (cd, sd, ld) = (sha256_digest(&config), sha256_digest(&small), sha256_digest(&large));
    api.push_monolithic(REPO, config.clone(), &cd).await?;
    api.push_monolithic(REPO, small.clone(), &sd).await?;
    api.push_monolithic(REPO, large.clone(), &ld).await?;
    let m = oci_manifest((&cd, config.len()), &[(&sd, small.len())]);
    let manifest_digest = api.put_manifest(REPO, TAG, m).await?;
    let mb = oci_manifest((&cd, config.len()), &[(&ld, large.len())]);
    api.put_manifest(REPO, BIG_TAG, mb).await?;
    api.check_manifest(REPO, TAG, &manifest_digest).await?;
    Ok(Image {
        manifest_digest,
        small: (sd, small.len() as u64),
        big: (ld, large.len() as u64),
    })
}

async fn blob_get(api: &Api, blob: &(String, u64), iters: usize, verify_first: bool) -> Result<(u64, Duration)> {
    if verify_first {
        // One untimed GET that also verifies the digest.
        api.get_blob(REPO, &blob.0, blob.1, true).await?;
    }
    let start = Instant::now();
    let mut total = 0u64;
    for _ in 0..iters {
        total += api.get_blob(REPO, &blob.0, blob.1, false).await?;
    }
    Ok((total, start.elapsed()))
}

/// The push ceiling: monolithic pushes into [`sink::Sink`], the least a
/// durable push can cost on this machine. Half of them run just before the
/// registries' monolithic pushes and half just after, so drifts of the disk
/// or CPU between the two measurements even out.
struct PushCeiling {
    dir: PathBuf,
    sink: sink::Sink,
    api: Api,
    spent: Result<(u64, Duration)>,
}

impl PushCeiling {
    fn start(client: &reqwest::Client, work: &Path) -> Result<PushCeiling> {
        let dir = work.join("push-sink");
        std::fs::create_dir_all(&dir)?;
        let sink = sink::Sink::start(&dir)?;
        let api = Api::new(client.clone(), &sink.base())?;
        Ok(PushCeiling {
            dir,
            sink,
            api,
            spent: Ok((0, Duration::ZERO)),
        })
    }

    async fn measure(&mut self, p: &Params, iters: usize, seed: u64) {
        let Ok((bytes, time)) = &mut self.spent else { return };
        eprintln!("bench: push ceiling x{iters} (minimal receiver, no HTTP framework or database)");
        sync_disks().await;
        match push_bench(&self.api, p, iters, false, seed).await {
            Ok((b, d)) => {
                *bytes += b;
                *time += d;
            }
            Err(e) => self.spent = Err(e),
        }
    }

    fn finish(self) -> Result<f64, String> {
        let failures = self.sink.failures();
        drop(self.sink);
        let _ = std::fs::remove_dir_all(&self.dir);
        let (bytes, time) = self.spent.map_err(err_str)?;
        if failures > 0 {
            return Err(format!("{failures} push sink connections failed"));
        }
        Ok(mb_s(bytes, time))
    }
}

/// Pushes `iters` fresh 100 MiB blobs; the client sends them with `sendfile` (see `filepush`).
async fn push_bench(api: &Api, p: &Params, iters: usize, chunked: bool, seed: u64) -> Result<(u64, Duration)> {
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let auth = api.auth.as_ref().map(|v| v.to_str().map(str::to_string)).transpose()?;
    let mut pusher = Some(filepush::FilePusher::new(&api.base, auth));
    let dir = filepush::memory_dir(&std::env::temp_dir()).to_path_buf();
    let mut spent = Duration::ZERO;
    let mut total = 0u64;
    for _ in 0..iters {
        // Fresh content every time so dedup cannot short-cut; generated, hashed and written to
        // the file the client sends from outside the timing.
        let data = random_bytes(&mut rng, p.big);
        let digest = sha256_digest(&data);
        let blob = filepush::BlobFile::create(&dir, &data, digest)?;
        drop(data);
        sync_disks().await;
        let mut pu = pusher.take().context("pusher lost")?;
        let chunk = p.chunk as u64;
        let t0 = Instant::now();
        let (pu, pushed) = tokio::task::spawn_blocking(move || {
            let r = if chunked {
                pu.push_chunked(REPO, &blob, chunk)
            } else {
                pu.push_monolithic(REPO, &blob)
            };
            (pu, r)
        })
        .await?;
        spent += t0.elapsed();
        pushed?;
        pusher = Some(pu);
        total += p.big as u64;
    }
    Ok((total, spent))
}

#[derive(Clone, Copy, Debug)]
enum Throughput {
    BlobGetSmall,
    BlobGetBig,
    PushMonolithic,
    PushChunked,
}

impl Throughput {
    fn iters(self, p: &Params) -> usize {
        match self {
            Throughput::BlobGetSmall => p.blob_small_iters,
            Throughput::BlobGetBig => p.blob_big_iters,
            Throughput::PushMonolithic | Throughput::PushChunked => p.push_iters,
        }
    }
}

/// Runs one throughput metric on both sides in A-B-B-A order (half of the iterations per slot),
/// so slow drifts of the machine (page-cache writeback, CPU boost) hit both sides alike.
async fn throughput_abba(sides: &mut [Side], p: &Params, kind: Throughput) -> Vec<Result<f64, String>> {
    let total_iters = kind.iters(p);
    let first = total_iters.div_ceil(2);
    let slots = [
        (0usize, first),
        (1, first),
        (1, total_iters - first),
        (0, total_iters - first),
    ];
    let mut acc: Vec<Result<(u64, Duration), String>> = vec![Ok((0, Duration::ZERO)); sides.len()];
    for (slot, &(i, iters)) in slots.iter().enumerate() {
        if iters == 0 || acc[i].is_err() {
            continue;
        }
        let s = &mut sides[i];
        // Let earlier writes reach the disk first, so their writeback does not bill this slot.
        sync_disks().await;
        let verify_first = slot < 2;
        let seed = 1000 * (kind as u64 + 1) + 10 * i as u64 + slot as u64;
        let r = async {
            s.server.check_alive()?;
            let img = image_of(s)?;
            match kind {
                Throughput::BlobGetSmall => blob_get(&s.api, &img.small, iters, verify_first).await,
                Throughput::BlobGetBig => blob_get(&s.api, &img.big, iters, verify_first).await,
                Throughput::PushMonolithic => push_bench(&s.api, p, iters, false, seed).await,
                Throughput::PushChunked => push_bench(&s.api, p, iters, true, seed).await,
            }
        }
        .await;
        match r {
            Ok((b, d)) => {
                eprintln!("bench: [{}] {kind:?} x{iters}: {:.0} MB/s", s.name, mb_s(b, d));
                if let Ok((tb, td)) = &mut acc[i] {
                    *tb += b;
                    *td += d;
                }
            }
            Err(e) => {
                eprintln!("bench: [{}] {kind:?}: {e:#}", s.name);
                acc[i] = Err(err_str(e));
            }
        }
    }
    acc.into_iter().map(|r| r.map(|(b, d)| mb_s(b, d))).collect()
}

/// Manifest GET by tag under load, A-B-B-A: two runs per side, averaged.
async fn manifest_abba(sides: &mut [Side], p: &Params, tool: load::Tool) -> Vec<Result<load::LoadResult, String>> {
    let mut runs: Vec<Result<Vec<load::LoadResult>, String>> = vec![Ok(Vec::new()); sides.len()];
    for (slot, i) in [0usize, 1, 1, 0].into_iter().enumerate() {
        if runs[i].is_err() {
            continue;
        }
        // Work a server deferred (batched usage-log writes) must not bill the next slot.
        for other in sides.iter() {
            other.server.wait_idle(Duration::from_secs(5)).await;
        }
        let s = &mut sides[i];
        // Let earlier writes reach the disk first, so their writeback does not bill this slot.
        sync_disks().await;
        let r = async {
            s.server.check_alive()?;
            let img = image_of(s)?;
            if slot < 2 {
                // Warm-up and correctness check of exactly what the load generator requests.
                for _ in 0..20 {
                    s.api.check_manifest(REPO, TAG, &img.manifest_digest).await?;
                }
            }
            let url = s.api.url(&format!("/v2/{REPO}/manifests/{TAG}"))?;
            let headers = s.api.auth_headers();
            if slot < 2 {
                // One unrecorded second of the same load: the first seconds on this VM are always slow.
                load::run(tool, url.as_str(), OCI_MANIFEST, &headers, CONNS, 1).await?;
            }
            load::run(tool, url.as_str(), OCI_MANIFEST, &headers, CONNS, p.manifest_secs).await
        }
        .await;
        match r {
            Ok(l) => {
                eprintln!(
                    "bench: [{}] manifest GET: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, {} requests",
                    s.name, l.rps, l.p50_ms, l.p99_ms, l.requests
                );
                if let Ok(v) = &mut runs[i] {
                    v.push(l);
                }
            }
            Err(e) => {
                eprintln!("bench: [{}] manifest GET: {e:#}", s.name);
                runs[i] = Err(err_str(e));
            }
        }
    }
    runs.into_iter()
        .map(|r| {
            r.map(|v| {
                let n = v.len().max(1) as f64;
                load::LoadResult {
                    rps: v.iter().map(|l| l.rps).sum::<f64>() / n,
                    p50_ms: v.iter().map(|l| l.p50_ms).sum::<f64>() / n,
                    p99_ms: v.iter().map(|l| l.p99_ms).sum::<f64>() / n,
                    requests: v.iter().map(|l| l.requests).sum(),
                }
            })
        })
        .collect()
}

/// Signs up the bench user on our registry and returns an [`Api`] that sends its registry token.
/// Token, not Basic: Basic makes the server verify the Argon2 hash on every request.
async fn login_ours(client: &reqwest::Client, base: &str) -> Result<Api> {
    let mut api = Api::new(client.clone(), base)?;
    api.create_user(BENCH_USER, BENCH_PASSWORD, BENCH_EMAIL).await?;
    let token = api.registry_token(BENCH_USER, BENCH_PASSWORD, REPO).await?;
    api.set_bearer(&token)?;
    Ok(api)
}

fn image_of(side: &Side) -> Result<&Image> {
    side.image
        .as_ref()
        .map_err(|e| anyhow::anyhow!("image setup failed: {e}"))
}

fn err_str(e: anyhow::Error) -> String {
    format!("{e:#}")
}

/// Ok(false) when some metric could not be measured (the table says which and why).
async fn run(args: Args, work: &Path) -> Result<bool> {
    let p = Params::new(args.quick);
    let t_start = Instant::now();
    // Other work on the machine skews everything; the table shows the load average around the run.
    let load_before = loadavg();

    // Tools.
    if !args.distribution_bin.is_file() {
        apt_install(&["docker-registry"])?;
    }
    let tool = match args.loadgen {
        LoadGen::Rust => load::Tool::Rust,
        LoadGen::Wrk | LoadGen::Auto => {
            if !which("wrk") {
                if let Err(e) = apt_install(&["wrk"]) {
                    if args.loadgen == LoadGen::Wrk {
                        return Err(e);
                    }
                    eprintln!("bench: {e:#}; falling back to the Rust load loop");
                }
            }
            if which("wrk") {
                load::Tool::Wrk
            } else {
                load::Tool::Rust
            }
        }
    };
    let ours_bin = if args.peer_as_ours {
        None
    } else {
        Some(resolve_registry_bin(&args.registry_bin)?)
    };

    // Ceilings first, while nothing else runs.
    eprintln!("bench: measuring ceilings (openssl speed sha256, dd conv=fdatasync)");
    let sha_ceiling = ceil::sha256_mb_s(p.openssl_secs);
    let disk_ceiling = ceil::disk_mb_s(work, p.dd_mib);

    // Servers.
    let client = api::http_client()?;
    let (ours_server, ours_name) = match &ours_bin {
        Some(bin) => (Server::spawn_ours("ours", bin, work)?, "ours".to_string()),
        None => (
            Server::spawn_distribution("ours", &args.distribution_bin, work, "ours-peer")?,
            "ours (=distribution, dev)".to_string(),
        ),
    };
    let theirs_server = Server::spawn_distribution("distribution", &args.distribution_bin, work, "distribution")?;
    eprintln!("bench: started ours: {}", ours_server.describe);
    eprintln!("bench: started distribution: {}", theirs_server.describe);

    let mut sides = Vec::new();
    let ours_auth = !args.peer_as_ours;
    for (server, name, ready_path, auth) in [
        (
            ours_server,
            ours_name,
            if args.peer_as_ours { "/v2/" } else { "/health/instance" },
            ours_auth,
        ),
        (theirs_server, "distribution 2.8".to_string(), "/v2/", false),
    ] {
        let mut server = server;
        let ready_after = server.wait_ready(&client, ready_path, Duration::from_secs(20)).await?;
        // Idle means just started: measured before any login or push.
        tokio::time::sleep(Duration::from_millis(if args.quick { 300 } else { 1000 })).await;
        let idle = server.mem().map_err(err_str);
        let api = if auth {
            login_ours(&client, &server.base)
                .await
                .with_context(|| format!("{name}: sign up {BENCH_USER} and get a registry token"))?
        } else {
            Api::new(client.clone(), &server.base)?
        };
        sides.push(Side {
            name,
            server,
            api,
            ready_after,
            idle,
            image: Err("not pushed".into()),
        });
    }

    // Setup: same image on both.
    for s in &mut sides {
        eprintln!("bench: [{}] pushing test image", s.name);
        s.image = setup_image(&s.api, p.big).await.map_err(err_str);
        if let Err(e) = &s.image {
            eprintln!("bench: [{}] setup failed: {e}", s.name);
        }
    }

    // Measurements: one server at a time, same parameters. Manifest GET: ours, then distribution.
    let manifest = manifest_abba(&mut sides, &p, tool).await;
    let blob_small = throughput_abba(&mut sides, &p, Throughput::BlobGetSmall).await;
    let blob_big = throughput_abba(&mut sides, &p, Throughput::BlobGetBig).await;
    let mut ceiling = PushCeiling::start(&client, work).map_err(err_str);
    if let Ok(c) = &mut ceiling {
        c.measure(&p, p.push_iters.div_ceil(2), 7001).await;
    }
    let push_mono = throughput_abba(&mut sides, &p, Throughput::PushMonolithic).await;
    if let Ok(c) = &mut ceiling {
        c.measure(&p, p.push_iters / 2, 7002).await;
    }
    let push_ceiling = ceiling.and_then(PushCeiling::finish);
    let push_chunk = throughput_abba(&mut sides, &p, Throughput::PushChunked).await;
    let mut end_mem = Vec::new();
    for s in &mut sides {
        end_mem.push(s.server.check_alive().and_then(|()| s.server.mem()).map_err(err_str));
    }

    // Table.
    let pair = |v: &[Result<f64, String>]| (v[0].clone(), v[1].clone());
    let mib =
        |r: &Result<Mem, String>, f: fn(&Mem) -> u64| r.as_ref().map(|m| f(m) as f64 / 1024.0).map_err(Clone::clone);
    let lat = |f: fn(&load::LoadResult) -> f64| -> Vec<Result<f64, String>> {
        manifest
            .iter()
            .map(|r| r.as_ref().map(f).map_err(Clone::clone))
            .collect()
    };
    let mut rows = Vec::new();
    let mut add = |metric: String, better, decimals, v: Vec<Result<f64, String>>| {
        let (ours, theirs) = pair(&v);
        rows.push(Row {
            metric,
            better,
            decimals,
            ours,
            theirs,
        });
    };
    let secs = p.manifest_secs;
    add(
        format!("manifest GET by tag, req/s ({CONNS} conns, 2x{secs}s)"),
        Better::Higher,
        0,
        lat(|r| r.rps),
    );
    add(
        "manifest GET by tag, p50 latency ms".into(),
        Better::Lower,
        2,
        lat(|r| r.p50_ms),
    );
    add(
        "manifest GET by tag, p99 latency ms".into(),
        Better::Lower,
        2,
        lat(|r| r.p99_ms),
    );
    add(
        format!("blob GET 1 MiB, MB/s (x{})", p.blob_small_iters),
        Better::Higher,
        0,
        blob_small,
    );
    add(
        format!("blob GET 100 MiB, MB/s (x{})", p.blob_big_iters),
        Better::Higher,
        0,
        blob_big,
    );
    add(
        format!("monolithic push 100 MiB, MB/s (x{})", p.push_iters),
        Better::Higher,
        0,
        push_mono.clone(),
    );
    add(
        format!(
            "chunked push 100 MiB ({} MiB PATCH), MB/s (x{})",
            p.chunk / MIB,
            p.push_iters
        ),
        Better::Higher,
        0,
        push_chunk.clone(),
    );
    add(
        "startup until ready, ms".into(),
        Better::Lower,
        0,
        sides.iter().map(|s| Ok(s.ready_after.as_secs_f64() * 1000.0)).collect(),
    );
    add(
        "RSS idle after start, MiB".into(),
        Better::Lower,
        1,
        sides.iter().map(|s| mib(&s.idle, |m| m.rss_kib)).collect(),
    );
    add(
        "RSS at end, MiB".into(),
        Better::Lower,
        1,
        end_mem.iter().map(|m| mib(m, |m| m.rss_kib)).collect(),
    );
    add(
        "peak RSS (VmHWM), MiB".into(),
        Better::Lower,
        1,
        end_mem.iter().map(|m| mib(m, |m| m.hwm_kib)).collect(),
    );
    let table = Table {
        ours_name: sides[0].name.clone(),
        theirs_name: sides[1].name.clone(),
        ratio_name: "ratio ours/theirs".into(),
        rows,
    };

    // Stop the servers before printing, so nothing is left running if stdout blocks.
    for s in &mut sides {
        s.server.stop();
    }
    let pull_logs = match &ours_bin {
        Some(bin) => {
            eprintln!("bench: pull logging on vs off (two more instances of ours)");
            Some(pull_logs::compare(bin, work, &p, tool).await.map_err(err_str))
        }
        None => None,
    };

    let fmt_ceiling = |r: &Result<f64>| match r {
        Ok(v) => format!("{v:.0} MB/s"),
        Err(e) => format!("unknown ({e:#})"),
    };
    let target = match (&sha_ceiling, &disk_ceiling) {
        (Ok(a), Ok(b)) => Some(0.8 * a.min(*b)),
        (Ok(a), Err(_)) | (Err(_), Ok(a)) => Some(0.8 * a),
        _ => None,
    };
    let mut ceiling_line = format!(
        "ceilings: SHA-256 single core (openssl speed, 1 MiB blocks) {}; disk synced write (dd {} MiB conv=fdatasync) {}",
        fmt_ceiling(&sha_ceiling),
        p.dd_mib,
        fmt_ceiling(&disk_ceiling)
    );
    if let Some(t) = target {
        ceiling_line.push_str(&format!("; push target = 80% of min = {t:.0} MB/s"));
        let pct = |r: &Result<f64, String>| match r {
            Ok(v) => format!("{:.0}%", v / t * 100.0),
            Err(_) => "n/a".into(),
        };
        ceiling_line.push_str(&format!(
            " (ours: monolithic {}, chunked {} of target)",
            pct(&push_mono[0]),
            pct(&push_chunk[0])
        ));
    }
    ceiling_line.push_str(&match (&push_ceiling, &push_mono[0]) {
        (Ok(c), Ok(ours)) => format!(
            "\npush ceiling of this machine: {c:.0} MB/s monolithic into a minimal receiver (socket read straight into aligned blocks, SHA-256 on one thread, O_DIRECT writes, synced; no HTTP framework, auth or database; same client); ours monolithic {:.0}% of it",
            ours / c * 100.0
        ),
        (Ok(c), Err(_)) => format!("\npush ceiling of this machine: {c:.0} MB/s (minimal receiver)"),
        (Err(e), _) => format!("\npush ceiling of this machine: unknown ({e})"),
    });
    let auth_note = if ours_auth {
        format!(
            "ours with registry token auth (Bearer JWT from /v2/auth, user {BENCH_USER}), distribution without auth"
        )
    } else {
        "both without auth".to_string()
    };
    let notes = format!(
        "load generator: {}; pushes from one client sending with sendfile(2) from tmpfs; {auth_note}; MB/s = 10^6 bytes/s; one server loaded at a time (A-B-B-A); {} CPUs; loadavg before {load_before}, after {}; total {:.1}s",
        tool.name(),
        std::thread::available_parallelism().map_or(0, usize::from),
        loadavg(),
        t_start.elapsed().as_secs_f64()
    );

    println!();
    print!("{}", table.plain());
    println!("{ceiling_line}");
    println!("{notes}");
    print_pull_logs(pull_logs.as_ref(), false);
    if args.markdown {
        println!();
        print!("{}", table.markdown());
        println!();
        println!("{ceiling_line}");
        println!();
        println!("{notes}");
        print_pull_logs(pull_logs.as_ref(), true);
    }
    let mut errors = table.errors();
    match &pull_logs {
        Some(Ok(t)) => errors.extend(t.errors()),
        Some(Err(e)) => errors.push(format!("[pull logging on vs off] {e}")),
        None => {}
    }
    if !errors.is_empty() {
        println!();
        println!("errors:");
        for e in &errors {
            println!("- {e}");
        }
    }
    Ok(errors.is_empty())
}

/// The pull-logging comparison table, after the main one.
fn print_pull_logs(t: Option<&Result<Table, String>>, markdown: bool) {
    if let Some(Ok(t)) = t {
        println!();
        print!("{}", if markdown { t.markdown() } else { t.plain() });
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let limit = Params::new(args.quick).total_limit;
    harness::run_main("bench", limit, move |path| async move { run(args, &path).await })
}
