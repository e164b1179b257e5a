//! Proxy-cache organizations (`FEATURE_PROXY_CACHE`): an organization
//! configured with an upstream registry (a host, or host/namespace) whose
//! images its members pull through the registry. This module keeps the
//! configuration (credentials encrypted with the field key), validates it
//! against the upstream, refuses pushes into such organizations, and serves
//! pulls through the cache (`pull`, `blob`, `prune`).

mod auth_cache;
mod blob;
mod prune;
mod pull;
mod store;
mod upstream;

use std::net::SocketAddr;

pub use auth_cache::UpstreamAuthCache;
pub use pull::{CacheOutcome, ProxiedManifest, ProxyCache};
pub use upstream::{Upstream, UpstreamError};

use super::{Error, Registry};
use crate::db::models::Account;
use crate::db::queries::proxy_cache as q;

/// Quay's `DEFAULT_PROXY_CACHE_EXPIRATION`.
pub const DEFAULT_EXPIRATION_S: i64 = 86_400;
/// Longest `upstream_registry` Quay stores.
const MAX_UPSTREAM_LEN: usize = 270;

const FAILED_LOGIN: &str = "Failed login to remote registry. Please verify entered details and try again.";
const NOT_ALLOWED: &str = "The provided registry URL is not allowed";
/// Why /v2 writes into a proxy-cache organization are refused.
pub const PUSH_REFUSED: &str =
    "Pushing to a proxy cache organization is not allowed: its content comes from the upstream registry";

/// What an organization admin submits (create and validate).
#[derive(Debug, Clone, Default)]
pub struct ProxyCacheInput {
    pub upstream_registry: String,
    pub username: Option<String>,
    pub password: Option<String>,
    pub expiration_s: Option<i64>,
    pub insecure: bool,
}

/// A stored configuration, credentials left out.
#[derive(Debug, Clone)]
pub struct ProxyCacheConfig {
    pub organization_id: i64,
    pub upstream_registry: String,
    pub expiration_s: i64,
    pub insecure: bool,
    pub has_credentials: bool,
}

impl From<&q::ProxyCacheRow> for ProxyCacheConfig {
    fn from(row: &q::ProxyCacheRow) -> Self {
        ProxyCacheConfig {
            organization_id: row.organization_id,
            upstream_registry: row.upstream_registry.clone(),
            expiration_s: row.expiration_s,
            insecure: row.insecure,
            has_credentials: row.upstream_registry_username.is_some(),
        }
    }
}

/// Where to connect for an upstream: its base URL and the addresses the
/// SSRF check approved for its host.
#[derive(Debug, Clone)]
pub struct UpstreamTarget {
    pub base_url: String,
    pub host: String,
    pub addrs: Vec<SocketAddr>,
    /// Applied to every other host the client reaches (redirects, token
    /// realms).
    pub ssrf: super::notifications::SsrfPolicy,
}

/// The host (with port) part of `upstream_registry`, after checking the
/// whole value: `host[:port][/namespace…]`, no scheme, no query.
pub fn upstream_host(upstream_registry: &str) -> Result<&str, Error> {
    let invalid = || Error::InvalidRequest(format!("Invalid upstream registry '{upstream_registry}'"));
    if upstream_registry.is_empty() || upstream_registry.len() > MAX_UPSTREAM_LEN {
        return Err(invalid());
    }
    if upstream_registry.contains("://")
        || upstream_registry
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '?' | '#' | '\\' | '%' | '@'))
    {
        return Err(invalid());
    }
    let (host, path) = upstream_registry
        .split_once('/')
        .map_or((upstream_registry, None), |(h, p)| (h, Some(p)));
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    let path_ok = path.is_none_or(|path| {
        path.split('/').all(|s| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
        })
    });
    if !host_ok || !path_ok {
        return Err(invalid());
    }
    Ok(host)
}

impl Registry {
    /// Whether `FEATURE_PROXY_CACHE` is on.
    pub fn proxy_cache_enabled(&self) -> bool {
        self.settings().proxy_cache
    }

    /// The organization's proxy-cache configuration, if any.
    pub async fn proxy_cache_config(&self, org: &Account) -> Result<Option<ProxyCacheConfig>, Error> {
        let id = org.id;
        let row = self.db().read(move |c| Ok(q::find(c, id)?)).await?;
        Ok(row.as_ref().map(ProxyCacheConfig::from))
    }

    /// Stores the configuration; 400 when one exists already, when the
    /// organization holds immutable tags, or when the upstream is refused.
    pub async fn create_proxy_cache(&self, org: &Account, input: &ProxyCacheInput) -> Result<ProxyCacheConfig, Error> {
        if self.proxy_cache_config(org).await?.is_some() {
            return Err(Error::InvalidRequest("Proxy Cache Configuration already exists".into()));
        }
        let expiration_s = input.expiration_s.unwrap_or(DEFAULT_EXPIRATION_S);
        if expiration_s <= 0 {
            return Err(Error::InvalidRequest(
                "expiration_s must be a positive number of seconds".into(),
            ));
        }
        // Quay stores a configuration without contacting the upstream; only
        // an internal address written as such is refused here (pulls and
        // validation resolve the host and check again).
        let host = upstream_host(&input.upstream_registry)?;
        super::notifications::check_host_literal(&self.settings().notifications.ssrf, host).map_err(|reason| {
            tracing::info!(%reason, "proxy cache upstream refused");
            Error::InvalidRequest(NOT_ALLOWED.into())
        })?;
        let org_id = org.id;
        if self.settings().tags.immutable_tags
            && self
                .db()
                .read(move |c| Ok(q::has_immutable_tags(c, org_id, crate::now_ms())?))
                .await?
        {
            return Err(Error::InvalidRequest(
                "Cannot convert organization to proxy cache: immutable tags exist".into(),
            ));
        }
        let (username, password) = match (&input.username, &input.password) {
            (Some(u), Some(p)) if !u.is_empty() => {
                (Some(self.encrypt_field(u).await?), Some(self.encrypt_field(p).await?))
            }
            _ => (None, None),
        };
        let upstream = input.upstream_registry.clone();
        let (insecure, now) = (input.insecure, crate::now_ms());
        let inserted = self
            .db()
            .write(move |c| {
                let new = q::NewProxyCacheRow {
                    organization_id: org_id,
                    upstream_registry: &upstream,
                    username: username.as_deref(),
                    password: password.as_deref(),
                    expiration_s,
                    insecure,
                    created_ms: now,
                };
                match q::insert(c, &new) {
                    Err(e) if crate::db::queries::is_unique_violation(&e) => Ok(false),
                    other => other.map(|()| true).map_err(Error::from),
                }
            })
            .await?;
        if !inserted {
            return Err(Error::InvalidRequest("Proxy Cache Configuration already exists".into()));
        }
        self.proxy_cache_config(org)
            .await?
            .ok_or_else(|| Error::NotFound("Proxy Cache Configuration not found".into()))
    }

    /// Removes the configuration; whether there was one. Cached
    /// repositories stay, as in Quay.
    pub async fn delete_proxy_cache(&self, org: &Account) -> Result<bool, Error> {
        let id = org.id;
        self.db().write(move |c| Ok::<_, Error>(q::delete(c, id)?)).await
    }

    /// Contacts the upstream's `/v2/` with the submitted settings: `Valid`
    /// or `Anonymous`, else a 400 naming the failure.
    pub async fn validate_proxy_cache(&self, input: &ProxyCacheInput) -> Result<&'static str, Error> {
        let target = self.upstream_target(input).await?;
        let credentials = match (&input.username, &input.password) {
            (Some(u), Some(p)) if !u.is_empty() => Some((u.clone(), p.clone())),
            _ => None,
        };
        let result = match Upstream::connect(&target, credentials, None).await {
            Ok(mut upstream) => upstream.validate().await,
            Err(e) => Err(e),
        };
        result.map_err(|e| {
            tracing::info!(upstream = %target.host, error = %e, "proxy cache validation failed");
            match e {
                UpstreamError::Unauthorized(_) | UpstreamError::Unreachable(_) => {
                    Error::InvalidRequest(FAILED_LOGIN.into())
                }
                UpstreamError::Status(_) => {
                    Error::InvalidRequest("Failed to validate Proxy cache configuration".into())
                }
            }
        })
    }

    /// The upstream's base URL and approved addresses, after the syntax and
    /// SSRF checks (`SSRF_ALLOWED_HOSTS` lets internal hosts through).
    async fn upstream_target(&self, input: &ProxyCacheInput) -> Result<UpstreamTarget, Error> {
        let host = upstream_host(&input.upstream_registry)?;
        // Docker Hub's API lives on another host than its name.
        let host = if host == "docker.io" {
            "registry-1.docker.io"
        } else {
            host
        };
        let scheme = if input.insecure { "http" } else { "https" };
        let base_url = format!("{scheme}://{host}");
        let checked = super::notifications::check_url(&self.settings().notifications.ssrf, &format!("{base_url}/v2/"))
            .await
            .map_err(|reason| {
                tracing::info!(%reason, "proxy cache upstream refused");
                // A host that does not resolve is not a forbidden one.
                if reason.starts_with("Cannot resolve") {
                    Error::InvalidRequest(FAILED_LOGIN.into())
                } else {
                    Error::InvalidRequest(NOT_ALLOWED.into())
                }
            })?;
        Ok(UpstreamTarget {
            base_url,
            host: checked.host,
            addrs: checked.addrs,
            ssrf: self.settings().notifications.ssrf.clone(),
        })
    }

    /// Refuses writes (pushes, /v2 deletions) into a proxy-cache
    /// organization: 403 with [`PUSH_REFUSED`].
    pub async fn refuse_proxy_cache_push(&self, namespace: &str) -> Result<(), Error> {
        if !self.proxy_cache_enabled() {
            return Ok(());
        }
        let ns = namespace.to_owned();
        let cached = self
            .db()
            .read(move |c| Ok(q::is_proxy_cache_namespace(c, &ns)?))
            .await?;
        if cached {
            return Err(Error::Forbidden(PUSH_REFUSED.into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::upstream_host;

    #[test]
    fn upstream_registries_are_hosts_with_optional_namespaces() {
        assert_eq!(upstream_host("quay.io").ok(), Some("quay.io"));
        assert_eq!(upstream_host("127.0.0.1:5000/library").ok(), Some("127.0.0.1:5000"));
        for bad in [
            "",
            "https://quay.io",
            "quay.io/",
            "quay.io//x",
            "user@quay.io",
            "quay.io/UPPER",
            "a b",
        ] {
            assert!(upstream_host(bad).is_err(), "{bad} accepted");
        }
    }
}
