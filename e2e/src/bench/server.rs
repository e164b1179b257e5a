//! Starting, probing and stopping the registry processes under test.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// One registry process. Killed (and reaped) on drop, also on error paths.
pub struct Server {
    pub label: &'static str,
    pub base: String,
    pub log_path: PathBuf,
    /// Human-readable description of what was started.
    pub describe: String,
    spawned: Instant,
    child: Option<Child>,
}

/// Memory numbers of a process, from /proc/<pid>/status.
#[derive(Clone, Copy, Debug, Default)]
pub struct Mem {
    pub rss_kib: u64,
    pub hwm_kib: u64,
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("bind 127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// The registry binary at `p`, or at `p` under the workspace root when `p` is relative.
pub fn resolve_registry_bin(p: &Path) -> Result<PathBuf> {
    if p.is_file() {
        return Ok(p.to_path_buf());
    }
    if p.is_relative() {
        let alt = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(p);
        if alt.is_file() {
            return Ok(alt);
        }
    }
    bail!(
        "registry binary {} not found (build it: cargo build --release -p registry)",
        p.display()
    )
}

/// 1-minute load average from /proc/loadavg.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

/// REGISTRY_* variables configure both servers (they override config files and flag defaults);
/// make sure none leak in from the caller's environment.
fn strip_registry_env(cmd: &mut Command) {
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("REGISTRY_") {
            cmd.env_remove(k);
        }
    }
}

impl Server {
    fn spawn(label: &'static str, mut cmd: Command, port: u16, log_path: PathBuf, describe: String) -> Result<Self> {
        let log = File::create(&log_path).with_context(|| format!("create log file {}", log_path.display()))?;
        let log2 = log.try_clone()?;
        cmd.stdin(Stdio::null()).stdout(log).stderr(log2);
        let child = cmd.spawn().with_context(|| format!("spawn {label}: {describe}"))?;
        Ok(Self {
            label,
            base: format!("http://127.0.0.1:{port}"),
            log_path,
            describe,
            spawned: Instant::now(),
            child: Some(child),
        })
    }

    /// Our registry: `<bin> serve --data-dir <dir> --listen 127.0.0.1:<port>`.
    pub fn spawn_ours(label: &'static str, bin: &Path, work: &Path) -> Result<Self> {
        Self::spawn_ours_with(label, bin, work, "ours", None)
    }

    /// Our registry with data under `work/<name>` and, when given, a `config.yaml` of `config`.
    pub fn spawn_ours_with(
        label: &'static str,
        bin: &Path,
        work: &Path,
        name: &str,
        config: Option<&str>,
    ) -> Result<Self> {
        let port = free_port()?;
        let data = work.join(name);
        std::fs::create_dir_all(&data)?;
        let listen = format!("127.0.0.1:{port}");
        let mut cmd = Command::new(bin);
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(&data)
            .arg("--listen")
            .arg(&listen)
            // Keep logging from dominating the measurement, like `log: level: error` for distribution.
            .env("RUST_LOG", "error");
        strip_registry_env(&mut cmd);
        let mut describe = format!(
            "{} serve --data-dir {} --listen {listen}",
            bin.display(),
            data.display()
        );
        if let Some(yaml) = config {
            let cfg_path = work.join(format!("{name}.yaml"));
            std::fs::write(&cfg_path, yaml)?;
            cmd.arg("--config").arg(&cfg_path);
            describe.push_str(&format!(" --config {}", cfg_path.display()));
        }
        Self::spawn(label, cmd, port, work.join(format!("{name}.log")), describe)
    }

    /// CNCF Distribution (Debian docker-registry) with filesystem storage under `work/<name>`.
    pub fn spawn_distribution(label: &'static str, bin: &Path, work: &Path, name: &str) -> Result<Self> {
        Self::spawn_distribution_with(label, bin, work, name, "")
    }

    /// CNCF Distribution as a pull-through cache of `remote_url` (`proxy.remoteurl`), anonymous
    /// towards the remote, with filesystem storage under `work/<name>`.
    #[allow(dead_code, reason = "used by the proxy_bench binary only")]
    pub fn spawn_distribution_proxy(
        label: &'static str,
        bin: &Path,
        work: &Path,
        name: &str,
        remote_url: &str,
    ) -> Result<Self> {
        Self::spawn_distribution_with(label, bin, work, name, &format!("proxy:\n  remoteurl: {remote_url}\n"))
    }

    /// CNCF Distribution with `extra` (top-level YAML sections) appended to its config.
    fn spawn_distribution_with(label: &'static str, bin: &Path, work: &Path, name: &str, extra: &str) -> Result<Self> {
        let port = free_port()?;
        let data = work.join(name);
        std::fs::create_dir_all(&data)?;
        let cfg_path = work.join(format!("{name}.yml"));
        let cfg = format!(
            "version: 0.1\n\
             log:\n  level: error\n  accesslog:\n    disabled: true\n\
             storage:\n  cache:\n    blobdescriptor: inmemory\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
             http:\n  addr: 127.0.0.1:{port}\n{extra}",
            data.display()
        );
        std::fs::write(&cfg_path, cfg)?;
        let mut cmd = Command::new(bin);
        cmd.arg("serve").arg(&cfg_path);
        strip_registry_env(&mut cmd);
        let describe = format!("{} serve {}", bin.display(), cfg_path.display());
        Self::spawn(label, cmd, port, work.join(format!("{name}.log")), describe)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Fails if the process is gone.
    pub fn check_alive(&mut self) -> Result<()> {
        let Some(child) = self.child.as_mut() else {
            bail!("{}: not running", self.label)
        };
        if let Some(status) = child.try_wait()? {
            bail!("{} exited with {status}; log tail:\n{}", self.label, self.log_tail(20));
        }
        Ok(())
    }

    /// Polls `path` until it answers 200; returns the time since the process was spawned.
    pub async fn wait_ready(&mut self, client: &reqwest::Client, path: &str, timeout: Duration) -> Result<Duration> {
        let start = Instant::now();
        let url = format!("{}{path}", self.base);
        let mut last = String::from("no answer yet");
        while start.elapsed() < timeout {
            self.check_alive()?;
            match client.get(&url).timeout(Duration::from_secs(2)).send().await {
                Ok(r) if r.status() == reqwest::StatusCode::OK => return Ok(self.spawned.elapsed()),
                Ok(r) => last = format!("status {}", r.status()),
                Err(e) => last = format!("error {e}"),
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        bail!(
            "{}: GET {url} not 200 within {timeout:?} (last: {last}); log tail:\n{}",
            self.label,
            self.log_tail(20)
        )
    }

    pub fn mem(&self) -> Result<Mem> {
        let pid = self.pid().context("no pid")?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .with_context(|| format!("read /proc/{pid}/status"))?;
        let field = |name: &str| -> Result<u64> {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .with_context(|| format!("{name} missing in /proc/{pid}/status"))
        };
        Ok(Mem {
            rss_kib: field("VmRSS:")?,
            hwm_kib: field("VmHWM:")?,
        })
    }

    /// CPU time (user + system, in clock ticks) the process has used so far.
    pub fn cpu_ticks(&self) -> Result<u64> {
        let pid = self.pid().context("no pid")?;
        let stat =
            std::fs::read_to_string(format!("/proc/{pid}/stat")).with_context(|| format!("read /proc/{pid}/stat"))?;
        // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).context("malformed stat")?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let tick = |i: usize| -> Result<u64> { fields.get(i).and_then(|v| v.parse().ok()).context("stat field") };
        Ok(tick(11)? + tick(12)?)
    }

    /// Waits (at most `limit`) until the process has used no CPU for 200 ms, so work it
    /// deferred (such as batched log writes) does not bill the next measurement.
    pub async fn wait_idle(&self, limit: Duration) {
        let start = Instant::now();
        let mut last = self.cpu_ticks().ok();
        while start.elapsed() < limit {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let now = self.cpu_ticks().ok();
            if now.is_none() || now == last {
                return;
            }
            last = now;
        }
    }

    pub fn log_tail(&self, n: usize) -> String {
        match std::fs::read_to_string(&self.log_path) {
            Ok(s) => {
                let lines: Vec<&str> = s.lines().collect();
                lines[lines.len().saturating_sub(n)..].join("\n")
            }
            Err(e) => format!("(cannot read {}: {e})", self.log_path.display()),
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}
