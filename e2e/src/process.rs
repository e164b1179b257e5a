//! Running external commands with a deadline, and free local ports.

use std::io::Read;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// A finished command.
#[derive(Debug)]
pub struct Outcome {
    pub description: String,
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    /// Panics with the full output unless the command succeeded; returns stdout.
    pub fn ok(self) -> String {
        assert!(
            self.success,
            "command failed: {}\n--- stdout:\n{}\n--- stderr:\n{}",
            self.description, self.stdout, self.stderr
        );
        self.stdout
    }

    /// Panics unless the command failed; returns stdout and stderr together.
    pub fn failed(self) -> String {
        assert!(
            !self.success,
            "command unexpectedly succeeded: {}\n--- stdout:\n{}",
            self.description, self.stdout
        );
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// Runs `cmd` to completion, killing it after `timeout`.
pub fn run(cmd: &mut Command, timeout: Duration) -> Outcome {
    let description = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {description}: {e}"));
    let stdout = child.stdout.take().map(drain);
    let stderr = child.stderr.take().map(drain);
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("timed out after {timeout:?}: {description}");
            }
            Err(e) => panic!("waiting for {description}: {e}"),
        }
    };
    let collect = |h: Option<thread::JoinHandle<String>>| h.and_then(|h| h.join().ok()).unwrap_or_default();
    Outcome {
        description,
        success: status.success(),
        stdout: collect(stdout),
        stderr: collect(stderr),
    }
}

fn drain(mut r: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// A TCP port on 127.0.0.1 that nothing listened on a moment ago.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local_addr").port()
}

/// How long one shell command or client call of a test may take.
pub const SHELL_TIMEOUT: Duration = Duration::from_secs(180);

/// `sh -c script` in `dir` with `vars` in the environment (for the
/// documented `curl` commands the tests run verbatim).
pub fn sh(dir: &std::path::Path, script: &str, vars: &[(&str, &str)]) -> Outcome {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(script).current_dir(dir);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    run(&mut cmd, SHELL_TIMEOUT)
}

/// Runs a `curl` command with [`sh`] and parses its JSON answer.
pub fn curl_json(dir: &std::path::Path, script: &str, vars: &[(&str, &str)]) -> serde_json::Value {
    let out = sh(dir, script, vars).ok();
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{script}\nanswered non-JSON ({e}): {out}"))
}

/// `skopeo ARGS…` exactly as given.
pub fn skopeo_with(args: &[&str]) -> Outcome {
    let mut cmd = Command::new("skopeo");
    cmd.args(args);
    run(&mut cmd, SHELL_TIMEOUT)
}
