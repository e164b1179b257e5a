//! Copying images from a mirror's upstream repository into the local one
//! over the upstream's /v2 API: tag listing, manifests (indexes with their
//! children) and the blobs the local repository does not hold yet.

use std::io;

use futures_util::TryStreamExt;
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, CONTENT_TYPE, LINK};
use reqwest::{Method, StatusCode};

use super::SyncError;
use crate::oci::manifest;
use crate::oci::{media, Digest, Reference, RepoName};
use crate::service::proxy_cache::{Upstream, UpstreamError};
use crate::service::{Error, Registry};
use crate::storage::ByteStream;

/// Tags asked for per page of a tag listing.
const TAGS_PAGE: usize = 1000;
/// Pages of a tag listing followed at most (a loop guard).
const MAX_TAG_PAGES: usize = 10_000;
/// How deep indexes may nest (an index of indexes of manifests).
const MAX_DEPTH: usize = 3;
/// Largest manifest read from an upstream.
const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

/// Every manifest type the registry stores, for `Accept`.
const MANIFEST_TYPES: &[&str] = &[
    media::OCI_INDEX,
    media::DOCKER_LIST,
    media::OCI_MANIFEST,
    media::DOCKER_SCHEMA2,
    media::DOCKER_SCHEMA1_SIGNED,
    media::DOCKER_SCHEMA1,
];

/// An upstream repository, connected and authorized for pulls.
pub(super) struct Source {
    upstream: Upstream,
    /// The repository path on the upstream (`namespace/name`).
    path: String,
}

/// What copying one tag did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Copied {
    /// The tag already pointed at the upstream's manifest.
    pub unchanged: bool,
    pub blobs: usize,
    pub bytes: u64,
}

/// How the mirror reaches its upstream.
pub(super) struct Connection {
    pub base_url: String,
    pub client: reqwest::Client,
    pub ssrf: crate::service::notifications::SsrfPolicy,
}

impl Source {
    pub async fn connect(
        connection: Connection,
        credentials: Option<(String, String)>,
        path: &str,
    ) -> Result<Source, UpstreamError> {
        let upstream = Upstream::connect_with(
            connection.client,
            &connection.base_url,
            credentials,
            path,
            &connection.ssrf,
        )
        .await?;
        Ok(Source {
            upstream,
            path: path.to_owned(),
        })
    }

    async fn get(&mut self, path: &str, headers: HeaderMap) -> Result<reqwest::Response, SyncError> {
        let resp = self.upstream.send(Method::GET, path, headers).await?;
        match resp.status() {
            s if s.is_success() => Ok(resp),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(SyncError::Upstream(UpstreamError::Unauthorized(
                format!("{path} answered {}", resp.status()),
            ))),
            s => Err(SyncError::Upstream(UpstreamError::Status(s))),
        }
    }

    /// Every tag of the upstream repository, following `Link` pages.
    pub async fn tags(&mut self) -> Result<Vec<String>, SyncError> {
        let mut tags = Vec::new();
        let mut next = Some(format!("{}/tags/list?n={TAGS_PAGE}", self.path));
        let mut pages = 0;
        while let Some(path) = next.take() {
            pages += 1;
            if pages > MAX_TAG_PAGES {
                return Err(SyncError::Invalid("the upstream tag listing does not end".into()));
            }
            let resp = self.get(&path, HeaderMap::new()).await?;
            next = resp
                .headers()
                .get(LINK)
                .and_then(|v| v.to_str().ok())
                .and_then(next_page);
            let body: serde_json::Value = resp
                .json()
                .await
                .map_err(|_| SyncError::Invalid("the upstream tag listing is not JSON".into()))?;
            if let Some(page) = body["tags"].as_array() {
                tags.extend(page.iter().filter_map(|t| t.as_str()).map(str::to_owned));
            }
        }
        Ok(tags)
    }

    /// A manifest by tag or digest: its bytes, media type and digest
    /// (checked against the digest asked for or announced).
    pub async fn manifest(&mut self, reference: &str) -> Result<(Vec<u8>, Option<String>, Digest), SyncError> {
        let mut headers = HeaderMap::new();
        let accept = HeaderValue::from_str(&MANIFEST_TYPES.join(", "))
            .map_err(|_| SyncError::Invalid("bad Accept header".into()))?;
        headers.insert(ACCEPT, accept);
        let resp = self
            .get(&format!("{}/manifests/{reference}", self.path), headers)
            .await?;
        let media_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or(v).trim().to_owned())
            .filter(|v| !v.is_empty() && v != "application/json" && v != "text/plain");
        let announced = resp
            .headers()
            .get("Docker-Content-Digest")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<Digest>().ok());
        if resp.content_length().is_some_and(|l| l > MAX_MANIFEST_BYTES as u64) {
            return Err(SyncError::Invalid(format!("the manifest of {reference} is too large")));
        }
        let bytes = resp.bytes().await.map_err(|e| SyncError::Upstream(read_error(&e)))?;
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(SyncError::Invalid(format!("the manifest of {reference} is too large")));
        }
        let expected = reference.parse::<Digest>().ok().or(announced);
        let digest = match expected {
            Some(d) => {
                if Digest::of(d.algorithm(), &bytes) != d {
                    return Err(SyncError::Invalid(format!(
                        "the manifest of {reference} does not match its digest {d}"
                    )));
                }
                Digest::sha256_of(&bytes)
            }
            None => Digest::sha256_of(&bytes),
        };
        Ok((bytes.to_vec(), media_type, digest))
    }

    /// A blob's bytes as they stream from the upstream.
    async fn blob(&mut self, digest: &Digest) -> Result<ByteStream<'static>, SyncError> {
        let resp = self
            .get(&format!("{}/blobs/{digest}", self.path), HeaderMap::new())
            .await?;
        Ok(Box::pin(resp.bytes_stream().map_err(io::Error::other)))
    }
}

fn read_error(e: &reqwest::Error) -> UpstreamError {
    UpstreamError::Unreachable(if e.is_timeout() { "timed out" } else { "reading failed" }.into())
}

/// The path (below `/v2/`) of a `Link: <…>; rel="next"` header.
fn next_page(link: &str) -> Option<String> {
    let target = link
        .split(',')
        .find(|part| part.contains("rel=\"next\"") || part.contains("rel=next"))?;
    let start = target.find('<')? + 1;
    let end = target[start..].find('>')? + start;
    let uri = &target[start..end];
    let path_and_query = match url::Url::parse(uri) {
        Ok(u) => format!("{}{}", u.path(), u.query().map(|q| format!("?{q}")).unwrap_or_default()),
        Err(_) => uri.to_owned(),
    };
    path_and_query.strip_prefix("/v2/").map(str::to_owned)
}

impl Registry {
    /// Copies upstream `tag` into `repo` and points the local tag at it;
    /// nothing is fetched beyond the manifest when the local tag already
    /// points at the same digest.
    pub(super) async fn copy_tag(
        &self,
        source: &mut Source,
        repo: &RepoName,
        tag: &str,
        local: Option<&str>,
    ) -> Result<Copied, SyncError> {
        let (bytes, media_type, digest) = source.manifest(tag).await?;
        if local == Some(digest.to_string().as_str()) {
            return Ok(Copied {
                unchanged: true,
                ..Copied::default()
            });
        }
        let mut copied = Copied::default();
        self.copy_content(source, repo, &bytes, media_type.as_deref(), 0, &mut copied)
            .await?;
        let tag = tag
            .parse()
            .map_err(|_| SyncError::Invalid(format!("invalid tag name {tag}")))?;
        self.put_manifest(repo, &Reference::Tag(tag), media_type.as_deref(), bytes)
            .await?;
        Ok(copied)
    }

    /// Copies what a manifest references: its blobs, or for an index its
    /// child manifests (with their blobs), skipping what `repo` holds.
    async fn copy_content(
        &self,
        source: &mut Source,
        repo: &RepoName,
        bytes: &[u8],
        media_type: Option<&str>,
        depth: usize,
        copied: &mut Copied,
    ) -> Result<(), SyncError> {
        let parsed = manifest::parse(media_type, bytes).map_err(|e| SyncError::Invalid(e.to_string()))?;
        for child in &parsed.children {
            if self.get_manifest(repo, &Reference::Digest(child.clone())).await.is_ok() {
                continue;
            }
            if depth + 1 >= MAX_DEPTH {
                return Err(SyncError::Invalid("manifest indexes nest too deeply".into()));
            }
            let (child_bytes, child_type, _) = source.manifest(&child.to_string()).await?;
            Box::pin(self.copy_content(source, repo, &child_bytes, child_type.as_deref(), depth + 1, copied)).await?;
            self.put_manifest(
                repo,
                &Reference::Digest(child.clone()),
                child_type.as_deref(),
                child_bytes,
            )
            .await?;
        }
        for blob in &parsed.blobs {
            match self.stat_blob(repo, blob).await {
                Ok(_) => continue,
                Err(Error::BlobUnknown) => {}
                Err(e) => return Err(e.into()),
            }
            let body = source.blob(blob).await?;
            self.put_blob(repo, blob, body).await?;
            copied.blobs += 1;
            copied.bytes += self.stat_blob(repo, blob).await.unwrap_or(0);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::next_page;

    #[test]
    fn link_headers_give_the_next_page() {
        assert_eq!(
            next_page(r#"</v2/library/busybox/tags/list?last=b&n=2>; rel="next""#).as_deref(),
            Some("library/busybox/tags/list?last=b&n=2")
        );
        assert_eq!(
            next_page(r#"<https://r.example/v2/a/b/tags/list?last=x>; rel="next""#).as_deref(),
            Some("a/b/tags/list?last=x")
        );
        assert_eq!(next_page(r#"</v2/a/tags/list?last=x>; rel="prev""#), None);
    }
}
