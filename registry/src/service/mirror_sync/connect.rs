//! Reaching a mirror's upstream: the SSRF check, the HTTP client with the
//! mirror's TLS and proxy settings, and the decrypted credentials.

use std::time::Duration;

use serde_json::{json, Value};

use super::copy::{Connection, Source};
use super::SyncError;
use crate::db::queries::mirrors::MirrorRow;
use crate::service::proxy_cache::UpstreamError;
use crate::service::Registry;

impl Registry {
    /// Connects to the mirror's upstream with its decrypted credentials,
    /// after the SSRF check (repeated at every sync, as DNS answers change).
    /// Without TLS verification, plain HTTP is tried when HTTPS fails, as
    /// skopeo does.
    pub(super) async fn mirror_source(&self, row: &MirrorRow) -> Result<Source, SyncError> {
        let s = &row.settings;
        let (host, path) = s
            .external_reference
            .split_once('/')
            .ok_or_else(|| SyncError::Invalid("invalid external_reference".into()))?;
        // Docker Hub's API lives on another host than its name.
        let host = if host == "docker.io" {
            "registry-1.docker.io"
        } else {
            host
        };
        let path = if host == "registry-1.docker.io" && !path.contains('/') {
            format!("library/{path}")
        } else {
            path.to_owned()
        };
        let config: Value = serde_json::from_str(&s.external_registry_config).unwrap_or_else(|_| json!({}));
        let verify_tls = config["verify_tls"].as_bool().unwrap_or(true);
        let credentials = self.mirror_credentials(row).await?;
        let schemes: &[&str] = if verify_tls { &["https"] } else { &["https", "http"] };
        let mut last = None;
        for scheme in schemes {
            let base_url = format!("{scheme}://{host}");
            let checked = crate::service::notifications::check_url(
                &self.settings().notifications.ssrf,
                &format!("{base_url}/v2/"),
            )
            .await
            .map_err(|reason| {
                tracing::info!(%reason, "mirror upstream refused");
                SyncError::Invalid("Source registry location is not allowed".into())
            })?;
            let client = client(
                verify_tls,
                &config["proxy"],
                &checked.host,
                &checked.addrs,
                &self.settings().notifications.ssrf,
            )?;
            match Source::connect(
                Connection {
                    base_url,
                    client,
                    ssrf: self.settings().notifications.ssrf.clone(),
                },
                credentials.clone(),
                &path,
            )
            .await
            {
                Ok(source) => return Ok(source),
                Err(e @ UpstreamError::Unreachable(_)) => last = Some(e),
                Err(e) => return Err(e.into()),
            }
        }
        Err(last.map_or_else(|| SyncError::Invalid("no upstream".into()), SyncError::from))
    }
}

/// The HTTP client a mirror uses: TLS verification as configured, its
/// proxies when set, and `addrs` (approved by the SSRF check) for `host`.
pub(super) fn client(
    verify_tls: bool,
    proxy: &serde_json::Value,
    host: &str,
    addrs: &[std::net::SocketAddr],
    ssrf: &crate::service::notifications::SsrfPolicy,
) -> Result<reqwest::Client, SyncError> {
    let builder = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(120))
        .danger_accept_invalid_certs(!verify_tls);
    // The proxies the mirror's admin configured are reached as given.
    let mut policy = ssrf.clone();
    for key in ["http_proxy", "https_proxy"] {
        if let Some(host) = proxy[key]
            .as_str()
            .and_then(|u| url::Url::parse(u.trim()).ok())
            .and_then(|u| u.host_str().map(str::to_owned))
        {
            policy.allowed_hosts.push(host);
        }
    }
    let mut builder = crate::service::notifications::guard_client(builder, &policy);
    for addr in addrs {
        builder = builder.resolve(host, *addr);
    }
    let setting = |key: &str| proxy[key].as_str().map(str::trim).filter(|s| !s.is_empty());
    let no_proxy = setting("no_proxy").and_then(reqwest::NoProxy::from_string);
    let bad = |key: &str| SyncError::Invalid(format!("external_registry_config.proxy.{key} is not a valid URL"));
    if let Some(url) = setting("http_proxy") {
        let p = reqwest::Proxy::http(url).map_err(|_| bad("http_proxy"))?;
        builder = builder.proxy(p.no_proxy(no_proxy.clone()));
    }
    if let Some(url) = setting("https_proxy") {
        let p = reqwest::Proxy::https(url).map_err(|_| bad("https_proxy"))?;
        builder = builder.proxy(p.no_proxy(no_proxy));
    }
    builder
        .build()
        .map_err(|_| SyncError::Invalid("the HTTP client cannot be built".into()))
}
