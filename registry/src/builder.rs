//! `registry builder`: runs one build for a build manager. It registers
//! with its job token, heartbeats, fetches and unpacks the context (or,
//! for a triggered build, clones its git commit: see `builder/git.rs`),
//! builds with buildah (or podman), pushes every tag with the build's push
//! token, streams every output line to the build log and reports the
//! outcome.
//!
//! Environment: `BUILDER_TOKEN`, `BUILDER_MANAGER_URL`, optional
//! `BUILDER_CA_CERT` (PEM certificates, or a PEM file, trusted for the
//! manager and the registry),
//! `BUILDER_CONTAINER_RUNTIME` (buildah|podman) and
//! `BUILDER_BUILDAH_ISOLATION` (chroot).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use anyhow::{bail, Context};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::Command;

mod git;

/// How often the builder tells the manager it is alive.
const HEARTBEAT: Duration = Duration::from_secs(5);

#[derive(Deserialize)]
struct BuildPack {
    build_uuid: String,
    /// An uploaded file (a path on the manager) or an archive URL.
    #[serde(default)]
    context_url: Option<String>,
    /// For a triggered build: the commit to clone instead.
    #[serde(default)]
    git: Option<GitSource>,
    dockerfile_path: String,
    context: String,
    repository: String,
    tag_names: Vec<String>,
    push_token: String,
    /// The pull robot's credentials for base images on this registry.
    #[serde(default)]
    pull_credentials: Option<PullCredentials>,
}

#[derive(Deserialize)]
struct PullCredentials {
    username: String,
    password: String,
}

/// A commit to clone, with the deploy key of its trigger.
#[derive(Deserialize)]
struct GitSource {
    url: String,
    #[serde(default)]
    sha: String,
    #[serde(default, rename = "ref")]
    git_ref: Option<String>,
    #[serde(default)]
    private_key: Option<String>,
}

/// The manager's API for one build.
struct Manager {
    http: reqwest::Client,
    base: String,
    url: String,
    token: String,
    sequence: AtomicI64,
}

impl Manager {
    async fn post(&self, call: &str, body: Value) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(format!("{}/{call}", self.url))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .with_context(|| format!("cannot reach the build manager for {call}"))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("build manager refused {call} ({status}): {body}");
        }
        Ok(body)
    }

    async fn log(&self, message: &str, kind: Option<&str>) {
        let seq = self.sequence.fetch_add(1, Ordering::SeqCst) + 1;
        let mut body = json!({ "sequence_number": seq, "message": message });
        if let Some(k) = kind {
            body["type"] = k.into();
        }
        if let Err(e) = self.post("logs", body).await {
            tracing::warn!(error = %e, "could not send a build log line");
        }
    }

    async fn phase(&self, phase: &str) -> anyhow::Result<()> {
        self.post("phase", json!({ "phase": phase })).await.map(|_| ())
    }
}

/// Runs the build named by the environment; errors only when the manager
/// cannot be told the outcome.
pub async fn run_from_env() -> anyhow::Result<()> {
    let token = std::env::var("BUILDER_TOKEN").context("BUILDER_TOKEN is not set")?;
    let base = std::env::var("BUILDER_MANAGER_URL").context("BUILDER_MANAGER_URL is not set")?;
    let base = base.trim_end_matches('/').to_owned();
    let uuid = token
        .split_once('.')
        .map(|(u, _)| u.to_owned())
        .context("BUILDER_TOKEN is malformed")?;
    let mut http = reqwest::Client::builder().timeout(Duration::from_secs(300));
    if let Some(path) = ca_cert_file()? {
        let pem = std::fs::read(&path).with_context(|| format!("reading BUILDER_CA_CERT {}", path.display()))?;
        for cert in reqwest::Certificate::from_pem_bundle(&pem)? {
            http = http.add_root_certificate(cert);
        }
    }
    let manager = Manager {
        http: http.build()?,
        url: format!("{base}/buildman/v1/builds/{uuid}"),
        base,
        token,
        sequence: AtomicI64::new(0),
    };
    let pack: BuildPack = serde_json::from_value(manager.post("register", json!({})).await?)
        .context("the build manager sent an unreadable build pack")?;
    tracing::info!(build = %pack.build_uuid, "builder registered");
    let work = std::env::temp_dir().join(format!("registry-build-{}", pack.build_uuid));
    let outcome = tokio::select! {
        r = build(&manager, &pack, &work) => r,
        e = heartbeat_until_refused(&manager) => Err(e),
    };
    let _ = tokio::fs::remove_dir_all(&work).await;
    match outcome {
        Ok(()) => manager.post("complete", json!({})).await.map(|_| ()),
        Err(e) => {
            let message = format!("{e:#}");
            manager.log(&message, Some("error")).await;
            manager.post("complete", json!({ "error": message })).await.map(|_| ())
        }
    }
}

/// The file of `BUILDER_CA_CERT`: the variable names one, or holds the
/// certificates themselves (as build Jobs pass them), written once to a
/// private temp file.
fn ca_cert_file() -> anyhow::Result<Option<PathBuf>> {
    static FILE: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    let Ok(value) = std::env::var("BUILDER_CA_CERT") else {
        return Ok(None);
    };
    if !value.trim_start().starts_with("-----BEGIN") {
        return Ok(Some(PathBuf::from(value)));
    }
    if let Some(file) = FILE.get() {
        return Ok(file.clone());
    }
    let path = std::env::temp_dir().join(format!("registry-builder-ca-{}.crt", std::process::id()));
    std::fs::write(&path, value.as_bytes()).context("writing BUILDER_CA_CERT to a file")?;
    Ok(FILE.get_or_init(|| Some(path)).clone())
}

/// Heartbeats until the manager refuses (the build was cancelled or
/// given away); never returns otherwise.
async fn heartbeat_until_refused(manager: &Manager) -> anyhow::Error {
    let mut failures = 0;
    loop {
        tokio::time::sleep(HEARTBEAT).await;
        match manager.post("heartbeat", json!({})).await {
            Ok(_) => failures = 0,
            Err(e) => {
                failures += 1;
                if failures >= 3 {
                    return e.context("the build manager stopped accepting heartbeats");
                }
            }
        }
    }
}

/// The image name of tag `tag` in the build's repository.
fn image(registry: &str, pack: &BuildPack, tag: &str) -> String {
    format!("{registry}/{}:{tag}", pack.repository)
}

async fn build(manager: &Manager, pack: &BuildPack, work: &Path) -> anyhow::Result<()> {
    let runtime = std::env::var("BUILDER_CONTAINER_RUNTIME").unwrap_or_else(|_| "buildah".into());
    let isolation = std::env::var("BUILDER_BUILDAH_ISOLATION").unwrap_or_else(|_| "chroot".into());
    let url = url::Url::parse(&manager.base).context("BUILDER_MANAGER_URL is not a URL")?;
    let registry = match url.port() {
        Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_owned(),
    };
    let token_creds = format!("--creds=$token:{}", pack.push_token);
    // How to reach this registry: plain HTTP, or TLS with BUILDER_CA_CERT.
    let mut transport = Vec::new();
    if url.scheme() == "http" {
        transport.push("--tls-verify=false".to_owned());
    }
    if let Some(ca) = ca_cert_file()? {
        let certs = work.join("certs");
        tokio::fs::create_dir_all(&certs).await?;
        tokio::fs::copy(&ca, certs.join("ca.crt")).await?;
        transport.push(format!("--cert-dir={}", certs.display()));
    }
    let common: Vec<String> = std::iter::once(token_creds.clone())
        .chain(transport.iter().cloned())
        .collect();

    manager.phase("unpacking").await?;
    let root = match &pack.git {
        Some(git) => git::clone(manager, git, work).await?,
        None => unpack(manager, pack, work).await?,
    };
    let context_dir = root.join(pack.context.trim_start_matches('/'));
    if !context_dir.starts_with(&root) || !context_dir.is_dir() {
        bail!("context {} is not a folder of the build context", pack.context);
    }
    // The Dockerfile's path is within the whole context, as Quay stores it.
    let dockerfile = root.join(pack.dockerfile_path.trim_start_matches('/'));
    let dockerfile = if dockerfile.is_file() {
        dockerfile
    } else {
        bail!("Dockerfile not found at {}", pack.dockerfile_path)
    };

    manager.phase("pulling").await?;
    let text = tokio::fs::read_to_string(&dockerfile)
        .await
        .context("reading the Dockerfile")?;
    for base in base_images(&text) {
        let mut args = vec!["pull".to_owned()];
        // Credentials go only to this registry: the pull robot's when the
        // build names one, else the build's own token.
        if image_registry(&base) == registry {
            args.extend(transport.iter().cloned());
            args.push(match &pack.pull_credentials {
                Some(c) => format!("--creds={}:{}", c.username, c.password),
                None => token_creds.clone(),
            });
        }
        args.push(base);
        run(manager, &runtime, &args).await?;
    }

    manager.phase("building").await?;
    let first = image(&registry, pack, pack.tag_names.first().map_or("latest", String::as_str));
    let mut args = vec!["bud".to_owned()];
    if runtime == "podman" {
        args[0] = "build".into();
    }
    args.extend(common.iter().cloned());
    args.extend([
        format!("--isolation={isolation}"),
        "-f".into(),
        dockerfile.display().to_string(),
        "-t".into(),
        first.clone(),
        context_dir.display().to_string(),
    ]);
    run(manager, &runtime, &args).await?;

    manager.phase("pushing").await?;
    for tag in &pack.tag_names {
        let mut args = vec!["push".to_owned()];
        args.extend(common.iter().cloned());
        args.extend([first.clone(), format!("docker://{}", image(&registry, pack, tag))]);
        run(manager, &runtime, &args).await?;
    }
    let _ = Command::new(&runtime).args(["rmi", "-f", &first]).output().await;
    Ok(())
}

/// The registry host of an image reference (`docker.io` when the first
/// component is not a host).
fn image_registry(image: &str) -> &str {
    match image.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => first,
        _ => "docker.io",
    }
}

/// The images the Dockerfile builds `FROM`, without `scratch` and earlier
/// stages.
fn base_images(dockerfile: &str) -> Vec<String> {
    let mut stages: Vec<String> = Vec::new();
    let mut bases = Vec::new();
    for line in dockerfile.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if !words.first().is_some_and(|w| w.eq_ignore_ascii_case("FROM")) {
            continue;
        }
        let Some(image) = words.iter().skip(1).find(|w| !w.starts_with("--")) else {
            continue;
        };
        if let Some(pos) = words.iter().position(|w| w.eq_ignore_ascii_case("AS")) {
            if let Some(stage) = words.get(pos + 1) {
                stages.push(stage.to_lowercase());
            }
        }
        let image = (*image).to_owned();
        if image != "scratch" && !stages.contains(&image.to_lowercase()) && !bases.contains(&image) {
            bases.push(image);
        }
    }
    bases
}

/// Fetches the context and unpacks it (a tar or tar.gz archive, or a lone
/// Dockerfile); returns the folder it was unpacked in.
async fn unpack(manager: &Manager, pack: &BuildPack, work: &Path) -> anyhow::Result<PathBuf> {
    let Some(context_url) = &pack.context_url else {
        bail!("the build pack names no build context");
    };
    let url = if context_url.starts_with('/') {
        format!("{}{context_url}", manager.base)
    } else {
        context_url.clone()
    };
    manager
        .log(&format!("fetching the build context from {}", redact(&url)), None)
        .await;
    let response = manager
        .http
        .get(&url)
        .send()
        .await
        .context("fetching the build context")?;
    if !response.status().is_success() {
        bail!("fetching the build context answered {}", response.status());
    }
    let bytes = response.bytes().await.context("fetching the build context")?;
    let root = work.join("context");
    tokio::fs::create_dir_all(&root).await?;
    let is_gzip = bytes.starts_with(&[0x1f, 0x8b]);
    let is_tar = bytes.get(257..262) == Some(b"ustar".as_slice());
    if is_gzip || is_tar {
        let archive = work.join("context.tar");
        tokio::fs::write(&archive, &bytes).await?;
        let out = Command::new("tar")
            .arg("-xf")
            .arg(&archive)
            .arg("-C")
            .arg(&root)
            .arg("--no-same-owner")
            .output()
            .await
            .context("running tar")?;
        if !out.status.success() {
            bail!(
                "the build context is not a valid archive: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
    } else {
        let path = root.join(pack.dockerfile_path.trim_start_matches('/'));
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        tokio::fs::write(&path, &bytes).await?;
    }
    Ok(root)
}

/// A URL without its credentials, for the log.
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_password(None);
            let _ = u.set_username("");
            u.to_string()
        }
        Err(_) => url.to_owned(),
    }
}

/// Runs a tool, logging the command (without credentials) and every output
/// line; a failure carries its last line.
async fn run(manager: &Manager, program: &str, args: &[String]) -> anyhow::Result<()> {
    let shown: Vec<&str> = args
        .iter()
        .map(|a| {
            if a.starts_with("--creds=") {
                "--creds=***"
            } else {
                a.as_str()
            }
        })
        .collect();
    let mut command = Command::new(program);
    command.args(args);
    run_command(manager, command, &format!("{program} {}", shown.join(" "))).await
}

/// Runs `command`, logging `shown` for it and every output line; a failure
/// carries git's `fatal:` line if there is one, else the last line.
async fn run_command(manager: &Manager, mut command: Command, shown: &str) -> anyhow::Result<()> {
    let program = shown.split_whitespace().next().unwrap_or_default().to_owned();
    manager.log(shown, Some("command")).await;
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot run {program}"))?;
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        bail!("cannot read the output of {program}");
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for reader in [
        Box::new(stdout) as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
        Box::new(stderr),
    ] {
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(reader).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    drop(tx);
    let (mut last, mut fatal) = (String::new(), None);
    while let Some(line) = rx.recv().await {
        if line.trim().is_empty() {
            continue;
        }
        let kind = line.starts_with("STEP ").then_some("command");
        manager.log(&line, kind).await;
        if fatal.is_none() && line.starts_with("fatal: ") {
            fatal = Some(line.clone());
        }
        last = line;
    }
    let status = child.wait().await?;
    if !status.success() {
        if let Some(line) = fatal {
            bail!("{line}");
        }
        if last.is_empty() {
            bail!("{shown} failed: {status}");
        }
        bail!("{last}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::base_images;

    #[test]
    fn image_registries_are_told_from_repository_paths() {
        for (image, host) in [
            ("10.0.0.1:8080/org/base:1", "10.0.0.1:8080"),
            ("registry.example.com/org/base", "registry.example.com"),
            ("localhost/base", "localhost"),
            ("library/busybox", "docker.io"),
            ("busybox", "docker.io"),
        ] {
            assert_eq!(super::image_registry(image), host, "{image}");
        }
    }

    #[test]
    fn base_images_skip_scratch_and_earlier_stages() {
        let text = "FROM --platform=linux/amd64 a/b:1 AS build\nRUN x\nFROM scratch\nfrom build\nFROM c/d\n";
        assert_eq!(base_images(text), vec!["a/b:1".to_owned(), "c/d".to_owned()]);
    }
}
