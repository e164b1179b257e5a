//! Blob pulls through a proxy-cache organization. A blob a cached manifest
//! references is a placeholder row until its first pull, which streams it
//! from the upstream to the client while writing it to storage. The blob
//! is committed only when its digest and size match; until then the last
//! byte is held back from the client, so a client never receives a whole
//! body that was not verified. A client that goes away does not stop the
//! caching; an upstream that breaks off leaves nothing stored.

use std::io;

use bytes::Bytes;
use futures_util::{stream, Stream, StreamExt};
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT_ENCODING};
use reqwest::Method;
use tokio::sync::mpsc;

use super::pull::{upstream_error, ProxyCache};
use crate::oci::{Digest, Hasher, RepoName};
use crate::service::{Error, OpenBlob, Registry};
use crate::storage::{ByteStream, DynStore};

/// Chunks buffered towards the client and towards storage.
const CHANNEL_CHUNKS: usize = 16;

impl Registry {
    /// Serves a blob that a cached manifest of the repository references but
    /// that is not stored yet, caching it on the way; `BlobUnknown` for
    /// repositories outside proxy-cache organizations and for blobs no
    /// cached manifest references.
    pub async fn pull_through_blob(&self, repo: &RepoName, digest: &Digest) -> Result<OpenBlob, Error> {
        let Some(cache) = self.proxy_cache_of(repo).await? else {
            return Err(Error::BlobUnknown);
        };
        let declared = self.stat_blob(repo, digest).await?;
        if self.store().stat(digest).await?.is_some() {
            // Cached by a concurrent pull meanwhile.
            return self.open_blob(repo, digest, None).await;
        }
        self.fetch_blob(&cache, repo, digest, declared).await
    }

    async fn fetch_blob(
        &self,
        cache: &ProxyCache,
        repo: &RepoName,
        digest: &Digest,
        declared: u64,
    ) -> Result<OpenBlob, Error> {
        let host = cache.upstream();
        let path = cache.upstream_repository(repo);
        let mut upstream = self.connect_upstream(cache, &path).await?;
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT_ENCODING, HeaderValue::from_static("identity"));
        let resp = upstream
            .send(Method::GET, &format!("{path}/blobs/{digest}"), headers)
            .await
            .map_err(|e| upstream_error(host, e))?;
        self.remember_upstream(cache, &path, &upstream);
        if !resp.status().is_success() {
            return Err(match resp.status().as_u16() {
                404 => Error::BlobUnknown,
                _ => upstream_error(host, super::UpstreamError::Status(resp.status())),
            });
        }
        let size = match resp.content_length() {
            Some(len) if declared == 0 => len,
            Some(len) if len != declared => {
                return Err(Error::Unavailable(format!(
                    "the upstream registry {host} sent {len} bytes for a blob of {declared}"
                )))
            }
            _ => declared,
        };
        let body = tee(self.store().clone(), digest.clone(), size, resp.bytes_stream()).await?;
        Ok(OpenBlob {
            size,
            range: None,
            body,
        })
    }
}

/// Starts copying `upstream` into storage and to the returned stream.
async fn tee<S>(store: DynStore, digest: Digest, size: u64, upstream: S) -> Result<ByteStream<'static>, Error>
where
    S: Stream<Item = reqwest::Result<Bytes>> + Send + 'static,
{
    let upload_id = format!("proxy-{}", uuid::Uuid::new_v4());
    store.create_upload(&upload_id).await?;
    let (client_tx, client_rx) = mpsc::channel(CHANNEL_CHUNKS);
    let copy = Copy {
        store,
        upload_id,
        digest,
        size,
        client: client_tx,
    };
    tokio::spawn(copy.run(upstream));
    Ok(receiver_stream(client_rx))
}

fn receiver_stream(rx: mpsc::Receiver<io::Result<Bytes>>) -> ByteStream<'static> {
    stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) }).boxed()
}

/// One blob on its way from the upstream.
struct Copy {
    store: DynStore,
    upload_id: String,
    digest: Digest,
    size: u64,
    client: mpsc::Sender<io::Result<Bytes>>,
}

impl Copy {
    async fn run<S>(self, upstream: S)
    where
        S: Stream<Item = reqwest::Result<Bytes>> + Send + 'static,
    {
        let (store_tx, store_rx) = mpsc::channel(CHANNEL_CHUNKS);
        let writer = {
            let (store, id, algorithm) = (self.store.clone(), self.upload_id.clone(), self.digest.algorithm());
            tokio::spawn(async move {
                store
                    .append_upload_hashed(&id, 0, receiver_stream(store_rx), Hasher::new(algorithm))
                    .await
            })
        };
        let (held, failure) = self.forward(upstream, store_tx).await;
        let verified = match (failure, writer.await) {
            (Some(reason), _) => Err(reason),
            (None, Ok(Ok((written, hasher)))) => match written == self.size && hasher.finish() == self.digest {
                true => Ok(()),
                false => Err("the upstream's bytes do not match the blob's digest"),
            },
            (None, _) => Err("the blob could not be written to storage"),
        };
        let committed = match verified {
            Ok(()) => self
                .store
                .commit_upload(&self.upload_id, self.size, &self.digest)
                .await
                .map_err(|_| "the blob could not be written to storage"),
            Err(reason) => Err(reason),
        };
        match committed {
            Ok(()) => {
                if !held.is_empty() {
                    let _ = self.client.send(Ok(held)).await;
                }
            }
            Err(reason) => {
                tracing::warn!(digest = %self.digest, %reason, "proxied blob not cached");
                if let Err(e) = self.store.cancel_upload(&self.upload_id).await {
                    tracing::warn!(error = %e, "could not discard a proxied blob's upload");
                }
                let _ = self.client.send(Err(io::Error::other(reason))).await;
            }
        }
    }

    /// Copies the upstream's bytes to storage and to the client, all but
    /// the last byte, which it returns; and why the copy failed, if it did.
    async fn forward<S>(&self, upstream: S, store_tx: mpsc::Sender<io::Result<Bytes>>) -> (Bytes, Option<&'static str>)
    where
        S: Stream<Item = reqwest::Result<Bytes>> + Send + 'static,
    {
        let mut upstream = Box::pin(upstream);
        let (mut received, mut client_open) = (0u64, true);
        let mut held = Bytes::new();
        while let Some(item) = upstream.next().await {
            let Ok(mut chunk) = item else {
                let _ = store_tx.send(Err(io::Error::other("upstream broke off"))).await;
                return (held, Some("the upstream broke off sending the blob"));
            };
            if chunk.is_empty() {
                continue;
            }
            received += chunk.len() as u64;
            if received > self.size {
                let _ = store_tx.send(Err(io::Error::other("blob too long"))).await;
                return (held, Some("the upstream sent more bytes than the blob has"));
            }
            if store_tx.send(Ok(chunk.clone())).await.is_err() {
                return (held, Some("the blob could not be written to storage"));
            }
            if received == self.size {
                held = chunk.split_off(chunk.len() - 1);
            }
            if client_open && !chunk.is_empty() {
                client_open = self.client.send(Ok(chunk)).await.is_ok();
            }
        }
        (held, None)
    }
}
