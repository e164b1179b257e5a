//! Physical ceilings: single-core SHA-256 (openssl speed) and synced disk writes (dd).

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

/// `openssl speed -bytes 1048576 -seconds N sha256` → MB/s (10^6 bytes/s).
pub fn sha256_mb_s(seconds: u32) -> Result<f64> {
    let out = Command::new("openssl")
        .args(["speed", "-bytes", "1048576", "-seconds"])
        .arg(seconds.to_string())
        .arg("sha256")
        .output()
        .context("run openssl speed")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!("openssl speed failed: {}", out.status);
    }
    parse_openssl(&text).with_context(|| format!("parse openssl speed output:\n{text}"))
}

fn parse_openssl(text: &str) -> Option<f64> {
    // Final table: "sha256         1680445.17k" (1000s of bytes per second).
    text.lines().rev().find_map(|l| {
        let mut it = l.split_whitespace();
        if it.next()? != "sha256" {
            return None;
        }
        let v = it.next()?.strip_suffix('k')?.parse::<f64>().ok()?;
        Some(v / 1000.0)
    })
}

/// `dd if=/dev/zero of=<dir>/dd.tmp bs=1M count=<mib> conv=fdatasync` → MB/s.
pub fn disk_mb_s(dir: &Path, mib: u32) -> Result<f64> {
    let file = dir.join("dd-ceiling.tmp");
    let out = Command::new("dd")
        .arg("if=/dev/zero")
        .arg(format!("of={}", file.display()))
        .arg("bs=1M")
        .arg(format!("count={mib}"))
        .arg("conv=fdatasync")
        .output()
        .context("run dd")?;
    let _ = std::fs::remove_file(&file);
    let text = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        bail!("dd failed ({}): {text}", out.status);
    }
    parse_dd(&text).with_context(|| format!("parse dd output:\n{text}"))
}

fn parse_dd(text: &str) -> Option<f64> {
    // "268435456 bytes (268 MB, 256 MiB) copied, 1.04721 s, 256 MB/s"
    let line = text.lines().find(|l| l.contains(" bytes") && l.contains("copied"))?;
    let bytes: f64 = line.split_whitespace().next()?.parse().ok()?;
    let after = line.split("copied,").nth(1)?;
    let secs: f64 = after.split_whitespace().next()?.parse().ok()?;
    (secs > 0.0).then(|| bytes / secs / 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        let o = "The 'numbers' are in 1000s of bytes per second processed.\ntype        1048576 bytes\nsha256         1680445.17k\n";
        assert!((parse_openssl(o).expect("openssl") - 1680.44517).abs() < 1e-6);
        let d = "256+0 records in\n256+0 records out\n268435456 bytes (268 MB, 256 MiB) copied, 1.04721 s, 256 MB/s\n";
        assert!((parse_dd(d).expect("dd") - 256.33).abs() < 0.01);
    }
}
