//! Small-request load: manifest GET by tag at fixed concurrency, via wrk or a Rust loop.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use reqwest::header;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    Wrk,
    Rust,
}

impl Tool {
    pub fn name(self) -> &'static str {
        match self {
            Tool::Wrk => "wrk -t2",
            Tool::Rust => "rust reqwest loop",
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct LoadResult {
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub requests: u64,
}

/// Parses a wrk duration like `812.00us`, `15.23ms`, `1.02s`, `2.00m` into milliseconds.
fn wrk_ms(s: &str) -> Option<f64> {
    let s = s.trim();
    let (num, mul) = if let Some(v) = s.strip_suffix("us") {
        (v, 0.001)
    } else if let Some(v) = s.strip_suffix("ms") {
        (v, 1.0)
    } else if let Some(v) = s.strip_suffix('s') {
        (v, 1000.0)
    } else if let Some(v) = s.strip_suffix('m') {
        (v, 60_000.0)
    } else if let Some(v) = s.strip_suffix('h') {
        (v, 3_600_000.0)
    } else {
        return None;
    };
    num.parse::<f64>().ok().map(|v| v * mul)
}

fn parse_wrk(out: &str) -> Result<LoadResult> {
    let mut r = LoadResult::default();
    let (mut have_rps, mut have_p99) = (false, false);
    for line in out.lines() {
        let t = line.trim();
        let mut it = t.split_whitespace();
        match it.next() {
            Some("Requests/sec:") => {
                r.rps = it.next().and_then(|v| v.parse().ok()).context("Requests/sec")?;
                have_rps = true;
            }
            Some("50%") => r.p50_ms = it.next().and_then(wrk_ms).context("50%")?,
            Some("99%") => {
                r.p99_ms = it.next().and_then(wrk_ms).context("99%")?;
                have_p99 = true;
            }
            Some("Non-2xx") => bail!("wrk: {t}"),
            Some("Socket") => {
                // "Socket errors: connect 0, read 0, write 0, timeout 0"
                let total: u64 = t
                    .split(|c: char| !c.is_ascii_digit())
                    .filter_map(|v| v.parse::<u64>().ok())
                    .sum();
                if total > 0 {
                    bail!("wrk: {t}");
                }
            }
            Some(n) if t.contains(" requests in ") => {
                r.requests = n.parse().unwrap_or(0);
            }
            _ => {}
        }
    }
    if !have_rps || !have_p99 {
        bail!("could not parse wrk output:\n{out}");
    }
    Ok(r)
}

/// `headers` are extra `Name: value` request headers (e.g. `Authorization: Bearer …`).
pub async fn run_wrk(url: &str, accept: &str, headers: &[String], conns: u32, secs: u64) -> Result<LoadResult> {
    let mut cmd = tokio::process::Command::new("wrk");
    cmd.arg("-t2")
        .arg(format!("-c{conns}"))
        .arg(format!("-d{secs}s"))
        .arg("--latency")
        .arg("--timeout")
        .arg("5s")
        .arg("-H")
        .arg(format!("Accept: {accept}"));
    for h in headers {
        cmd.arg("-H").arg(h);
    }
    cmd.arg(url).kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(secs + 20), cmd.output())
        .await
        .context("wrk did not finish in time")?
        .context("run wrk")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "wrk failed ({}): {stdout}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    parse_wrk(&stdout).with_context(|| format!("wrk {url}"))
}

/// `conns` tasks, each with its own single connection, GET in a loop for `secs`.
pub async fn run_rust(url: &str, accept: &str, headers: &[String], conns: u32, secs: u64) -> Result<LoadResult> {
    let mut default_headers = header::HeaderMap::new();
    for h in headers {
        let (name, value) = h
            .split_once(':')
            .with_context(|| format!("header {h:?} is not `Name: value`"))?;
        let name = header::HeaderName::from_bytes(name.trim().as_bytes())
            .with_context(|| format!("bad header name in {h:?}"))?;
        let mut value = header::HeaderValue::from_str(value.trim()).context("bad header value")?;
        value.set_sensitive(true);
        default_headers.insert(name, value);
    }
    let deadline = Duration::from_secs(secs);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let client = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(1)
            .timeout(Duration::from_secs(5))
            .default_headers(default_headers.clone())
            .build()?;
        let url = url.to_string();
        let accept = accept.to_string();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(1 << 14);
            while start.elapsed() < deadline {
                let t0 = Instant::now();
                let resp = client.get(&url).header(header::ACCEPT, &accept).send().await?;
                let status = resp.status();
                resp.bytes().await?;
                if !status.is_success() {
                    bail!("GET {url}: expected 200, got {status}");
                }
                lat.push(t0.elapsed());
            }
            Ok::<_, anyhow::Error>(lat)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    let elapsed = start.elapsed().as_secs_f64();
    if all.is_empty() {
        bail!("no requests completed");
    }
    all.sort_unstable();
    let pct = |p: f64| {
        let i = ((all.len() as f64 * p).ceil() as usize).clamp(1, all.len()) - 1;
        all[i].as_secs_f64() * 1000.0
    };
    Ok(LoadResult {
        rps: all.len() as f64 / elapsed,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        requests: all.len() as u64,
    })
}

pub async fn run(tool: Tool, url: &str, accept: &str, headers: &[String], conns: u32, secs: u64) -> Result<LoadResult> {
    match tool {
        Tool::Wrk => run_wrk(url, accept, headers, conns, secs).await,
        Tool::Rust => run_rust(url, accept, headers, conns, secs).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_wrk_output() {
        let out = "Running 5s test @ http://127.0.0.1:5000/v2/\n  2 threads and 16 connections\n  Thread Stats   Avg      Stdev     Max   +/- Stdev\n    Latency    16.32ms   15.62ms  95.26ms   85.29%\n    Req/Sec   494.25     92.15   727.00     70.00%\n  Latency Distribution\n     50%  810.00us\n     75%   22.23ms\n     90%   38.80ms\n     99%    1.20s\n  4927 requests in 5.01s, 1.05MB read\nRequests/sec:    983.47\nTransfer/sec:    214.67KB\n";
        let r = parse_wrk(out).expect("parse");
        assert!((r.rps - 983.47).abs() < 1e-9);
        assert!((r.p50_ms - 0.81).abs() < 1e-9);
        assert!((r.p99_ms - 1200.0).abs() < 1e-9);
        assert_eq!(r.requests, 4927);
        let bad = format!("{out}  Non-2xx or 3xx responses: 12\n");
        assert!(parse_wrk(&bad).is_err());
    }
}
