//! The `registry` binary: every role of the workload, chosen by subcommand.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use registry::config::Config;
use registry::startup::{open_registry, Application, Options};
use registry::tls;

#[derive(Parser)]
#[command(name = "registry", version, about = "Quay-compatible container image registry")]
struct Cli {
    /// Quay config.yaml; without it the embedded default (SQLite + local blobs) is used.
    #[arg(long, global = true, env = "REGISTRY_CONFIG")]
    config: Option<PathBuf>,
    /// Folder for the embedded database, blobs and generated certificates.
    #[arg(long, global = true, env = "REGISTRY_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the registry (the default).
    Serve(ServeArgs),
    /// Apply database migrations and exit.
    Migrate,
    /// Run one garbage-collection pass now and print what it removed.
    Gc {
        /// Print what would be removed; remove nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Run the background loops (garbage collection, upload cleanup) without HTTP.
    Worker {
        /// The repository-mirror worker role (Quay's `repomirror`): the same
        /// loops, mirror syncs among them when `FEATURE_REPO_MIRROR` is on.
        #[arg(long)]
        mirror: bool,
        /// Do not apply database migrations at start.
        #[arg(long)]
        no_migrate: bool,
    },
    /// Run one build for a build manager (started by its executor; reads
    /// BUILDER_TOKEN, BUILDER_MANAGER_URL and BUILDER_CA_CERT).
    Builder,
    /// Check a running registry's `/health/instance` (the image's HEALTHCHECK);
    /// exits non-zero unless it answers 200.
    Health {
        /// The health endpoint to ask.
        #[arg(long, default_value = "http://127.0.0.1:8080/health/instance")]
        url: String,
    },
    /// Configuration tools.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Check a config.yaml the way `serve` does; exits non-zero when invalid.
    Validate { file: PathBuf },
}

#[derive(clap::Args, Default)]
struct ServeArgs {
    /// HTTP listen address.
    #[arg(long, env = "REGISTRY_LISTEN", default_value = "0.0.0.0:8080")]
    listen: String,
    /// HTTPS listen address, used when a certificate is configured or generated.
    #[arg(long, env = "REGISTRY_TLS_LISTEN", default_value = "0.0.0.0:8443")]
    tls_listen: String,
    /// Generate a CA and server certificate in the data folder and serve HTTPS.
    #[arg(long)]
    self_signed: bool,
    /// Do not apply database migrations at start.
    #[arg(long)]
    no_migrate: bool,
    /// Prometheus `/metrics` listen address (Quay's port 9091); empty for none.
    #[arg(long, env = "REGISTRY_METRICS_LISTEN", default_value = "0.0.0.0:9091")]
    metrics_listen: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The roles that serve or work read the configuration for trace export
    // before logging starts; a configuration that does not load is
    // reported by the role itself.
    let traced = matches!(
        cli.command,
        None | Some(Command::Serve(_)) | Some(Command::Worker { .. })
    );
    let config = cli
        .config
        .as_deref()
        .filter(|_| traced)
        .and_then(|p| Config::load(p).ok());
    if let Err(e) = registry::telemetry::init(config.as_ref()) {
        eprintln!("error: {e:#}");
        return ExitCode::FAILURE;
    }
    let result = actix_web::rt::System::new().block_on(run(cli));
    registry::telemetry::shutdown();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn load_config(path: Option<&Path>) -> anyhow::Result<Config> {
    match path {
        Some(p) => Config::load(p).with_context(|| format!("invalid config {}", p.display())),
        None => Ok(Config::default()),
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve(ServeArgs {
        listen: std::env::var("REGISTRY_LISTEN").unwrap_or_else(|_| "0.0.0.0:8080".into()),
        tls_listen: std::env::var("REGISTRY_TLS_LISTEN").unwrap_or_else(|_| "0.0.0.0:8443".into()),
        ..ServeArgs::default()
    })) {
        Command::Serve(args) => serve(cli.config.as_deref(), cli.data_dir, args).await,
        Command::Migrate => {
            let config = load_config(cli.config.as_deref())?;
            let registry = open_registry(&config, &cli.data_dir, false).await?;
            let applied = registry.db().migrate()?;
            println!("{} migration(s) applied", applied.len());
            Ok(())
        }
        Command::Gc { dry_run } => {
            let config = load_config(cli.config.as_deref())?;
            let registry = open_registry(&config, &cli.data_dir, false).await?;
            let options = registry::service::GcOptions { dry_run, now_ms: None };
            let report = registry.collect_garbage(options).await?;
            print_gc_report(&report, dry_run);
            Ok(())
        }
        Command::Worker { mirror, no_migrate } => {
            worker(cli.config.as_deref(), &cli.data_dir, mirror, !no_migrate).await
        }
        Command::Health { url } => health(&url).await,
        Command::Builder => registry::builder::run_from_env().await,
        Command::Config {
            command: ConfigCommand::Validate { file },
        } => {
            Config::load(&file).with_context(|| format!("invalid config {}", file.display()))?;
            println!("{}: valid", file.display());
            Ok(())
        }
    }
}

/// `registry health`: one GET with a short deadline; the body (Quay's
/// health JSON) is printed either way.
async fn health(url: &str) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .build()?;
    let response = client
        .get(url)
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    println!("{body}");
    anyhow::ensure!(status.is_success(), "{url} answered {status}");
    Ok(())
}

fn print_gc_report(r: &registry::service::GcReport, dry_run: bool) {
    let verb = if dry_run { "would remove" } else { "removed" };
    println!("garbage collection {verb}:");
    println!("  tags: {}", r.tags);
    println!("  cosign signature tags ended: {}", r.cosign_tags_ended);
    println!("  upload holds of deleted repositories: {}", r.uploads_released);
    for (what, digests) in [
        ("manifests", &r.manifests),
        ("blobs", &r.blobs),
        ("blob contents in storage", &r.contents_deleted),
    ] {
        println!("  {what}: {}", digests.len());
        for d in digests {
            println!("    {d}");
        }
    }
    println!("  bytes of storage: {}", r.bytes_deleted);
}

async fn worker(config_path: Option<&Path>, data_dir: &Path, mirror: bool, migrate: bool) -> anyhow::Result<()> {
    let config = load_config(config_path)?;
    let registry = open_registry(&config, data_dir, migrate).await?;
    let loops = registry::worker::Loops::from_config(&config);
    if mirror && loops.mirror_every_s.is_none() {
        tracing::warn!(
            "mirror worker started without FEATURE_REPO_MIRROR (or with REPO_MIRROR_INTERVAL 0): it syncs no mirrors"
        );
    }
    if let Some(s) = loops.mirror_every_s {
        tracing::info!(every_s = s, "repository mirror syncs run in this worker");
    }
    match loops.gc_every_s {
        Some(s) => tracing::info!(every_s = s, "worker started: garbage collection and upload cleanup"),
        None => tracing::info!("worker started: upload cleanup (FEATURE_GARBAGE_COLLECTION is off)"),
    }
    registry::worker::spawn(&registry, loops);
    let mut urls = registry::worker::manager_url(&config, None);
    urls.served_chain = served_chain(config_path);
    registry::worker::spawn_build_manager(&registry, urls);
    tokio::signal::ctrl_c().await.context("waiting for a stop signal")?;
    registry.flush_logs().await;
    Ok(())
}

/// The certificate chain in `ssl.cert` beside the config (Quay's layout,
/// where the operator mounts it), if any.
fn served_chain(config_path: Option<&Path>) -> Option<String> {
    let dir = config_path.and_then(Path::parent)?;
    std::fs::read_to_string(dir.join("ssl.cert")).ok()
}

async fn serve(config_path: Option<&Path>, data_dir: PathBuf, args: ServeArgs) -> anyhow::Result<()> {
    let config = load_config(config_path)?;
    let listener = TcpListener::bind(&args.listen).with_context(|| format!("cannot listen on {}", args.listen))?;
    let tls = tls_setup(config_path, &config, &data_dir, &args)?;
    let tls = match tls {
        Some(cfg) => {
            let l =
                TcpListener::bind(&args.tls_listen).with_context(|| format!("cannot listen on {}", args.tls_listen))?;
            Some((l, cfg))
        }
        None => None,
    };
    let tls_addr = tls.as_ref().and_then(|(l, _)| l.local_addr().ok());
    let http_addr = listener.local_addr()?;
    let app = Application::build(
        Options {
            config: config.clone(),
            data_dir: data_dir.clone(),
            migrate: !args.no_migrate,
            served_chain: served_chain(config_path),
        },
        listener,
        tls,
    )
    .await?;
    println!("registry listening on http://{http_addr}");
    if !args.metrics_listen.trim().is_empty() {
        match TcpListener::bind(args.metrics_listen.trim()) {
            Ok(l) => {
                let addr = l.local_addr()?;
                actix_web::rt::spawn(app.metrics_server(l)?);
                println!("metrics on http://{addr}/metrics");
            }
            // A second registry on one machine still serves; only its metrics are missing.
            Err(e) => {
                tracing::warn!(address = %args.metrics_listen, error = %e, "cannot listen for /metrics; metrics are not served")
            }
        }
    }
    if let Some(a) = tls_addr {
        println!("registry listening on https://{a}");
    }
    println!("database: {}", config.database(&data_dir)?);
    println!("storage: {}", config.storage(&data_dir)?);
    if app.has_no_users().await {
        let shown = if http_addr.ip().is_unspecified() {
            format!("localhost:{}", http_addr.port())
        } else {
            http_addr.to_string()
        };
        let (base, http_addr) = (format!("http://{shown}"), shown);
        println!(
            "no users yet: create the first one with\n  curl -X POST {base}/api/v1/user/ -H 'Content-Type: application/json' \\\n    -d '{{\"username\":\"admin\",\"password\":\"<8+ characters>\",\"email\":\"admin@example.com\"}}'\nthen list it under SUPER_USERS in config.yaml to make it a superuser, and log in with: podman login {http_addr}"
        );
    }
    app.run_until_stopped().await?;
    Ok(())
}

/// HTTPS when the config folder holds `ssl.cert` + `ssl.key`, or on request
/// with a generated certificate.
fn tls_setup(
    config_path: Option<&Path>,
    config: &Config,
    data_dir: &Path,
    args: &ServeArgs,
) -> anyhow::Result<Option<rustls::ServerConfig>> {
    if let Some(dir) = config_path.and_then(Path::parent) {
        let (cert, key) = (dir.join("ssl.cert"), dir.join("ssl.key"));
        if cert.exists() && key.exists() {
            return Ok(Some(tls::server_config(&cert, &key)?));
        }
    }
    if !args.self_signed {
        return Ok(None);
    }
    let mut hosts = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    if let Some(h) = &config.server_hostname {
        let host = h.rsplit_once(':').map_or(h.as_str(), |(host, _)| host).to_owned();
        if !hosts.contains(&host) {
            hosts.insert(0, host);
        }
    }
    let generated = tls::self_signed(&data_dir.join("tls"), &hosts)?;
    println!(
        "generated TLS certificate; trust this CA: {}",
        generated.ca_cert.display()
    );
    Ok(Some(tls::server_config(&generated.cert, &generated.key)?))
}
