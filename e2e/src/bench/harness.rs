//! The frame the bench binaries run in: a throw-away directory, a time
//! limit, Ctrl-C and SIGTERM, and the exit code (0 all measured, 2 some
//! measurements failed, 1 the run failed).

use std::future::Future;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};

/// Runs `run` (given the temp dir) on a tokio runtime within `limit`.
pub fn run_main<F, Fut>(name: &str, limit: Duration, run: F) -> ExitCode
where
    F: FnOnce(PathBuf) -> Fut,
    Fut: Future<Output = Result<bool>>,
{
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{name}: tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(bounded(name, limit, run)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(2),
        Err(e) => {
            eprintln!("{name}: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn bounded<F, Fut>(name: &str, limit: Duration, run: F) -> Result<bool>
where
    F: FnOnce(PathBuf) -> Fut,
    Fut: Future<Output = Result<bool>>,
{
    let work = tempfile::Builder::new()
        .prefix(&format!("registry-{name}-"))
        .tempdir()
        .context("create temp dir")?;
    let path = work.path().to_path_buf();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    // Servers live inside `run`; whichever way it ends, they are dropped (killed) before `work` is removed.
    let res = tokio::select! {
        r = tokio::time::timeout(limit, run(path)) => match r {
            Ok(r) => r,
            Err(_) => Err(anyhow::anyhow!("benchmark exceeded its time limit of {limit:?}")),
        },
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
        _ = term.recv() => Err(anyhow::anyhow!("terminated")),
    };
    work.close().context("remove temp dir")?;
    res
}
