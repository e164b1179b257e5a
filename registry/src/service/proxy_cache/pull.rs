//! Manifest pulls through a proxy-cache organization: a miss fetches the
//! manifest from the upstream and caches it (see `store`; blobs are
//! fetched when pulled, see `blob`); a hit by tag asks the upstream (HEAD)
//! whether the tag moved; a hit by digest is served without the upstream. Every cached tag ends
//! `expiration_s` after its last successful pull, so expired content takes
//! the usual way through the time machine and garbage collection.

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, CONTENT_TYPE};
use reqwest::{Method, Response, StatusCode};

use super::{ProxyCacheInput, Upstream, UpstreamError};
use crate::db::models::{Account, Manifest};
use crate::db::queries::{self, proxy_cache as q};
use crate::oci::manifest::{self, ManifestError, ParsedManifest};
use crate::oci::{media, Digest, Reference, RepoName};
use crate::service::manifests::StoredManifest;
use crate::service::{Error, Registry};

/// Largest upstream manifest accepted, as for pushes.
const MAX_MANIFEST_BYTES: usize = 4 << 20;

/// The manifest types asked of the upstream.
const ACCEPTED: [&str; 6] = [
    media::OCI_MANIFEST,
    media::OCI_INDEX,
    media::DOCKER_LIST,
    media::DOCKER_SCHEMA2,
    media::DOCKER_SCHEMA1,
    media::DOCKER_SCHEMA1_SIGNED,
];

/// An organization's proxy-cache configuration, as a pull uses it.
#[derive(Debug, Clone)]
pub struct ProxyCache {
    pub(super) row: q::ProxyCacheRow,
}

impl ProxyCache {
    /// The upstream registry (`host` or `host/namespace`).
    pub fn upstream(&self) -> &str {
        &self.row.upstream_registry
    }

    pub(super) fn expiry_ms(&self) -> i64 {
        self.row.expiration_s.saturating_mul(1000)
    }

    /// The upstream repository a cached repository stands for: the
    /// configured namespace prefix, or Docker Hub's `library/` for a
    /// single-segment name when the whole of docker.io is proxied.
    pub fn upstream_repository(&self, repo: &RepoName) -> String {
        let name = repo.name();
        match self.row.upstream_registry.split_once('/') {
            Some((_, namespace)) => format!("{namespace}/{name}"),
            None if self.row.upstream_registry == "docker.io" && !name.contains('/') => format!("library/{name}"),
            None => name.to_owned(),
        }
    }
}

/// How a pull was answered, for the usage log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Served from the cache (the upstream agreed, or was not asked).
    Hit,
    /// Fetched from the upstream and cached.
    Miss,
    /// The upstream could not be asked; the cached copy was served.
    Stale,
}

impl CacheOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            CacheOutcome::Hit => "hit",
            CacheOutcome::Miss => "miss",
            CacheOutcome::Stale => "stale",
        }
    }
}

/// A manifest served through the cache.
pub struct ProxiedManifest {
    pub manifest: StoredManifest,
    pub outcome: CacheOutcome,
}

/// A manifest as the upstream sent it.
pub(super) struct Fetched {
    pub(super) digest: Digest,
    pub(super) bytes: Vec<u8>,
    pub(super) parsed: ParsedManifest,
}

/// Quay's words for an image the upstream does not give.
fn upstream_refused(detail: impl std::fmt::Display) -> Error {
    Error::UpstreamMissing(format!(
        "the requested image may not exist in the upstream registry, or the configured \
         organization credentials have insufficient rights to access it ({detail})"
    ))
}

/// What a pull that needs the upstream is told when it cannot be used.
pub(super) fn upstream_error(host: &str, e: UpstreamError) -> Error {
    match e {
        UpstreamError::Status(s) if matches!(s.as_u16(), 401 | 403 | 404) => upstream_refused(s),
        UpstreamError::Unauthorized(m) => upstream_refused(m),
        UpstreamError::Status(s) => Error::Unavailable(format!("the upstream registry {host} answered {s}")),
        UpstreamError::Unreachable(m) => {
            Error::Unavailable(format!("the upstream registry {host} could not be reached: {m}"))
        }
    }
}

fn status_error(resp: &Response) -> UpstreamError {
    UpstreamError::Status(resp.status())
}

fn reference_path(reference: &Reference) -> String {
    match reference {
        Reference::Tag(t) => t.to_string(),
        Reference::Digest(d) => d.to_string(),
    }
}

fn accept_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Ok(accept) = HeaderValue::from_str(&ACCEPTED.join(", ")) {
        headers.insert(ACCEPT, accept);
    }
    headers
}

/// Authorizations are kept per configuration (a new one starts afresh)
/// and upstream repository (tokens are scoped to one).
fn auth_key(cache: &ProxyCache, path: &str) -> String {
    format!("{}:{path}", cache.row.id)
}

impl Registry {
    /// The proxy cache of the repository's organization, when
    /// `FEATURE_PROXY_CACHE` is on and the organization has one.
    pub async fn proxy_cache_of(&self, repo: &RepoName) -> Result<Option<ProxyCache>, Error> {
        if !self.proxy_cache_enabled() {
            return Ok(None);
        }
        let ns = repo.namespace().to_owned();
        let row = self.db().read(move |c| Ok(q::find_by_namespace(c, &ns)?)).await?;
        Ok(row.map(|row| ProxyCache { row }))
    }

    /// Whether `user` may pull from the proxy-cache organization `namespace`
    /// (any member may, whether or not the repository is cached yet).
    pub async fn may_pull_through(&self, user: &Account, namespace: &str) -> Result<bool, Error> {
        if !self.proxy_cache_enabled() {
            return Ok(false);
        }
        let ns = namespace.to_owned();
        let cached = self
            .db()
            .read(move |c| Ok(q::is_proxy_cache_namespace(c, &ns)?))
            .await?;
        if !cached {
            return Ok(false);
        }
        match self.account(namespace).await? {
            Some(org) => self.is_org_member(user, &org).await,
            None => Ok(false),
        }
    }

    /// A connection to the cache's upstream, authorized to pull the
    /// upstream repository `path`.
    pub(super) async fn connect_upstream(&self, cache: &ProxyCache, path: &str) -> Result<Upstream, Error> {
        let row = &cache.row;
        let credentials = match (&row.upstream_registry_username, &row.upstream_registry_password) {
            (Some(u), Some(p)) => Some((self.decrypt_field(u).await?, self.decrypt_field(p).await?)),
            _ => None,
        };
        let input = ProxyCacheInput {
            upstream_registry: row.upstream_registry.clone(),
            insecure: row.insecure,
            ..ProxyCacheInput::default()
        };
        let target = self.upstream_target(&input).await.map_err(|e| {
            let why = match e {
                Error::InvalidRequest(m) if m == super::FAILED_LOGIN => "could not be resolved",
                _ => "is not allowed",
            };
            Error::Unavailable(format!("the upstream registry {} {why}", row.upstream_registry))
        })?;
        let repository = Some(path.to_owned());
        let connected = match self.inner.upstream_auth.get(&auth_key(cache, path)) {
            Some(auth) => Upstream::with_authorization(&target, credentials, repository, auth),
            None => Upstream::connect(&target, credentials, repository).await,
        };
        connected.map_err(|e| upstream_error(cache.upstream(), e))
    }

    /// Keeps the authorization `upstream` ended up using for later pulls.
    pub(super) fn remember_upstream(&self, cache: &ProxyCache, path: &str, upstream: &Upstream) {
        self.inner
            .upstream_auth
            .put(auth_key(cache, path), upstream.authorization().cloned());
    }

    /// Serves a manifest of a proxy-cache organization, fetching and caching
    /// it on a miss. `puller` becomes a reader of a repository created here.
    pub async fn pull_through_manifest(
        &self,
        cache: &ProxyCache,
        repo: &RepoName,
        reference: &Reference,
        puller: Option<&Account>,
    ) -> Result<ProxiedManifest, Error> {
        let repo_id = self.repository_id(repo).await?;
        let cached = match repo_id {
            Some(id) => self.cached_manifest(id, reference).await?,
            None => None,
        };
        match (cached, repo_id) {
            (Some(m), Some(repo_id)) => self.serve_cached(cache, repo, repo_id, reference, m).await,
            _ => {
                let fetched = self.fetch_manifest(cache, repo, reference).await?;
                let repo_id = match repo_id {
                    Some(id) => id,
                    None => self.create_cached_repository(repo, puller).await?,
                };
                let manifest = self.cache_manifest(cache, repo_id, reference, fetched).await?;
                Ok(ProxiedManifest {
                    manifest,
                    outcome: CacheOutcome::Miss,
                })
            }
        }
    }

    async fn repository_id(&self, repo: &RepoName) -> Result<Option<i64>, Error> {
        let (ns, name) = (repo.namespace().to_owned(), repo.name().to_owned());
        let row = self
            .db()
            .read(move |c| Ok(queries::repositories::find(c, &ns, &name)?))
            .await?;
        Ok(row.map(|r| r.id))
    }

    async fn cached_manifest(&self, repo_id: i64, reference: &Reference) -> Result<Option<Manifest>, Error> {
        let (r, now) = (reference.clone(), crate::now_ms());
        Ok(self
            .db()
            .read(move |c| {
                Ok(match &r {
                    Reference::Tag(t) => queries::manifests::find_by_tag(c, repo_id, t.as_str(), now)?,
                    Reference::Digest(d) => queries::manifests::find_visible(c, repo_id, &d.to_string(), now)?,
                })
            })
            .await?)
    }

    /// A cached manifest: by digest as it is; by tag after asking the
    /// upstream whether the tag still names it. When the upstream cannot
    /// answer, the cached copy is served without renewing it, so it is
    /// served at most `expiration_s` after the upstream last confirmed it.
    async fn serve_cached(
        &self,
        cache: &ProxyCache,
        repo: &RepoName,
        repo_id: i64,
        reference: &Reference,
        cached: Manifest,
    ) -> Result<ProxiedManifest, Error> {
        let stored = |m: Manifest| StoredManifest {
            digest: m.digest,
            media_type: m.media_type,
            bytes: m.manifest_bytes,
        };
        let confirmed = match reference {
            Reference::Digest(_) => true,
            Reference::Tag(_) => match self.upstream_digest(cache, repo, reference).await {
                Ok(Some(d)) => d == cached.digest,
                Ok(None) => false,
                Err(e) => {
                    tracing::warn!(upstream = %cache.upstream(), error = %e, "serving a cached manifest: upstream unavailable");
                    return Ok(ProxiedManifest {
                        manifest: stored(cached),
                        outcome: CacheOutcome::Stale,
                    });
                }
            },
        };
        if confirmed {
            self.renew_cached(cache, repo_id, cached.id).await?;
            return Ok(ProxiedManifest {
                manifest: stored(cached),
                outcome: CacheOutcome::Hit,
            });
        }
        match self.fetch_manifest(cache, repo, reference).await {
            Ok(fetched) if fetched.digest.to_string() == cached.digest => {
                self.renew_cached(cache, repo_id, cached.id).await?;
                Ok(ProxiedManifest {
                    manifest: stored(cached),
                    outcome: CacheOutcome::Hit,
                })
            }
            Ok(fetched) => Ok(ProxiedManifest {
                manifest: self.cache_manifest(cache, repo_id, reference, fetched).await?,
                outcome: CacheOutcome::Miss,
            }),
            Err(e) => {
                tracing::warn!(upstream = %cache.upstream(), error = %e, "serving a cached manifest: refetch failed");
                Ok(ProxiedManifest {
                    manifest: stored(cached),
                    outcome: CacheOutcome::Stale,
                })
            }
        }
    }

    /// Moves the end of the manifest's tags to `expiration_s` from now.
    async fn renew_cached(&self, cache: &ProxyCache, repo_id: i64, manifest_id: i64) -> Result<(), Error> {
        let now = crate::now_ms();
        let end = now.saturating_add(cache.expiry_ms());
        self.db()
            .write(move |c| Ok::<_, Error>(q::renew_tags_of_manifest(c, repo_id, manifest_id, end, now)?))
            .await
    }

    /// The digest the upstream gives for the reference (HEAD), if it says.
    async fn upstream_digest(
        &self,
        cache: &ProxyCache,
        repo: &RepoName,
        reference: &Reference,
    ) -> Result<Option<String>, Error> {
        let path = cache.upstream_repository(repo);
        let mut upstream = self.connect_upstream(cache, &path).await?;
        let resp = upstream
            .send(
                Method::HEAD,
                &format!("{path}/manifests/{}", reference_path(reference)),
                accept_headers(),
            )
            .await
            .map_err(|e| upstream_error(cache.upstream(), e))?;
        self.remember_upstream(cache, &path, &upstream);
        if !resp.status().is_success() {
            return Err(upstream_error(cache.upstream(), status_error(&resp)));
        }
        Ok(resp
            .headers()
            .get("Docker-Content-Digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned))
    }

    /// Fetches and checks a manifest from the upstream.
    async fn fetch_manifest(
        &self,
        cache: &ProxyCache,
        repo: &RepoName,
        reference: &Reference,
    ) -> Result<Fetched, Error> {
        let path = cache.upstream_repository(repo);
        let host = cache.upstream();
        let mut upstream = self.connect_upstream(cache, &path).await?;
        let resp = upstream
            .send(
                Method::GET,
                &format!("{path}/manifests/{}", reference_path(reference)),
                accept_headers(),
            )
            .await
            .map_err(|e| upstream_error(host, e))?;
        self.remember_upstream(cache, &path, &upstream);
        if resp.status() != StatusCode::OK {
            return Err(upstream_error(host, status_error(&resp)));
        }
        let content_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = resp
            .bytes()
            .await
            .map_err(|_| Error::Unavailable(format!("the upstream registry {host} broke off sending the manifest")))?;
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(upstream_refused("manifest is larger than 4 MiB"));
        }
        let digest = match reference {
            Reference::Digest(d) => {
                let actual = Digest::of(d.algorithm(), &bytes);
                if actual != *d {
                    return Err(upstream_refused("manifest digest mismatch"));
                }
                actual
            }
            Reference::Tag(_) => Digest::sha256_of(&bytes),
        };
        let parsed = manifest::parse(content_type.as_deref(), &bytes).map_err(|e| match e {
            ManifestError::Unsupported(m) => upstream_refused(format!("unsupported manifest type {m}")),
            ManifestError::Invalid(m) => upstream_refused(format!("invalid manifest: {m}")),
        })?;
        Ok(Fetched {
            digest,
            bytes: bytes.to_vec(),
            parsed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::ProxyCache;
    use crate::db::queries::proxy_cache::ProxyCacheRow;
    use crate::oci::RepoName;

    fn cache(upstream: &str) -> ProxyCache {
        ProxyCache {
            row: ProxyCacheRow {
                id: 1,
                organization_id: 1,
                upstream_registry: upstream.to_owned(),
                upstream_registry_username: None,
                upstream_registry_password: None,
                expiration_s: 86_400,
                insecure: false,
                created_ms: 0,
            },
        }
    }

    fn upstream_of(upstream: &str, repo: &str) -> String {
        cache(upstream).upstream_repository(&repo.parse::<RepoName>().expect("repository name"))
    }

    #[test]
    fn cached_repositories_map_to_upstream_repositories() {
        assert_eq!(upstream_of("quay.io", "cache/org/app"), "org/app");
        assert_eq!(upstream_of("quay.io/org", "cache/app"), "org/app");
        assert_eq!(upstream_of("registry.local:5000/a/b", "cache/app/x"), "a/b/app/x");
        assert_eq!(upstream_of("docker.io", "cache/alpine"), "library/alpine");
        assert_eq!(upstream_of("docker.io", "cache/bitnami/redis"), "bitnami/redis");
        assert_eq!(upstream_of("docker.io/library", "cache/alpine"), "library/alpine");
    }
}
