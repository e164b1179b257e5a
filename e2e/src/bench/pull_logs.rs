//! Pull logging on vs off: two fresh instances of our registry, one with
//! `ACTION_LOG_PULLS: true` and one with `false`, each with the same small
//! image, under the same manifest GET load in A-B-B-A order. The usage-log
//! writer batches rows off the request path; this shows what it still costs.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use bytes::Bytes;

use super::api::{oci_manifest, sha256_digest, Api};
use super::load;
use super::report::{Better, Row, Table};
use super::server::Server;
use super::{err_str, login_ours, manifest_abba, Image, Params, Side, REPO, TAG};

/// Pushes config + a 1 KiB layer + manifest `v1` (the pull test reads only the manifest).
async fn setup_small(api: &Api) -> Result<Image> {
    let config =
        Bytes::from_static(br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#);
    let layer = Bytes::from(vec![7u8; 1024]);
    let (cd, ld) = (sha256_digest(&config), sha256_digest(&layer));
    api.push_monolithic(REPO, config.clone(), &cd).await?;
    api.push_monolithic(REPO, layer.clone(), &ld).await?;
    let manifest = oci_manifest((&cd, config.len()), &[(&ld, layer.len())]);
    let manifest_digest = api.put_manifest(REPO, TAG, manifest).await?;
    let small = (ld, layer.len() as u64);
    Ok(Image {
        manifest_digest,
        big: small.clone(),
        small,
    })
}

async fn start(bin: &Path, work: &Path, client: &reqwest::Client, on: bool) -> Result<Side> {
    let (label, name) = if on {
        ("ours-pull-logs-on", "pull logging on")
    } else {
        ("ours-pull-logs-off", "pull logging off")
    };
    let config = format!("ACTION_LOG_PULLS: {on}\n");
    let mut server = Server::spawn_ours_with(label, bin, work, label, Some(&config))?;
    let ready_after = server
        .wait_ready(client, "/health/instance", Duration::from_secs(20))
        .await?;
    let api = login_ours(client, &server.base).await?;
    let image = setup_small(&api).await.map_err(err_str);
    Ok(Side {
        name: name.into(),
        server,
        api,
        ready_after,
        idle: Err("not measured".into()),
        image,
    })
}

/// Manifest GET by tag req/s and p99 of ours with pull logging on vs off.
pub async fn compare(bin: &Path, work: &Path, p: &Params, tool: load::Tool) -> Result<Table> {
    let client = super::api::http_client()?;
    let mut sides = vec![
        start(bin, work, &client, true).await?,
        start(bin, work, &client, false).await?,
    ];
    let results = manifest_abba(&mut sides, p, tool).await;
    for s in &mut sides {
        s.server.stop();
    }
    let pick = |f: fn(&load::LoadResult) -> f64| -> (Result<f64, String>, Result<f64, String>) {
        let v: Vec<Result<f64, String>> = results
            .iter()
            .map(|r| r.as_ref().map(f).map_err(Clone::clone))
            .collect();
        (v[0].clone(), v[1].clone())
    };
    let secs = p.manifest_secs;
    let row = |metric: String, better, decimals, (ours, theirs)| Row {
        metric,
        better,
        decimals,
        ours,
        theirs,
    };
    Ok(Table {
        ours_name: "ours, pull logging on".into(),
        theirs_name: "ours, pull logging off".into(),
        ratio_name: "ratio on/off".into(),
        rows: vec![
            row(
                format!("manifest GET by tag, req/s ({} conns, 2x{secs}s)", super::CONNS),
                Better::Higher,
                0,
                pick(|r| r.rps),
            ),
            row(
                "manifest GET by tag, p99 latency ms".into(),
                Better::Lower,
                2,
                pick(|r| r.p99_ms),
            ),
        ],
    })
}
