//! Blob bytes. A [`BlobStore`] is a dumb content-addressed store plus upload
//! scratch space; which blobs belong to which repository is the database's
//! business, not the store's.
//!
//! Layout shared by the file-system and S3 backends (below their root/prefix):
//! `sha256/<first 2 hex>/<hex>` for a blob, `uploads/<id>` for upload bytes;
//! named objects (exported logs) at keys outside both, see [`object_key`].

mod direct;
mod fs;
mod memory;
mod s3;
mod upload_area;

use std::io;
use std::ops::Range;
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};

use crate::oci::{Digest, Hasher};

pub use fs::FsStore;
pub use memory::MemoryStore;
pub use s3::{S3Config, S3Store};

/// A stream of body bytes.
pub type ByteStream<'a> = BoxStream<'a, io::Result<Bytes>>;

/// Chunks received but not yet hashed, at most.
const HASH_QUEUE_CHUNKS: usize = 64;

/// A shared, type-erased store.
pub type DynStore = Arc<dyn BlobStore>;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("not found in storage")]
    NotFound,
    #[error("storage I/O: {0}")]
    Io(#[from] io::Error),
    #[error("storage backend: {0}")]
    Backend(String),
}

impl StorageError {
    /// Whether the store failed for lack of space (`ENOSPC`) or quota (`EDQUOT`).
    pub fn is_full(&self) -> bool {
        match self {
            StorageError::Io(e) => is_full(e),
            _ => false,
        }
    }
}

/// Whether an I/O error means no space (`ENOSPC`) or quota (`EDQUOT`) is left.
pub fn is_full(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::StorageFull
        || e.kind() == io::ErrorKind::QuotaExceeded
        || matches!(e.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT))
}

/// The operations every storage backend offers.
///
/// Upload ids are opaque strings chosen by the caller (UUIDs).
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// The size of a stored blob, `None` when it is absent.
    async fn stat(&self, digest: &Digest) -> Result<Option<u64>, StorageError>;

    /// Reads a byte range (end exclusive, within the blob) or the whole blob.
    async fn read(&self, digest: &Digest, range: Option<Range<u64>>) -> Result<ByteStream<'static>, StorageError>;

    /// Prepares an empty upload.
    async fn create_upload(&self, id: &str) -> Result<(), StorageError>;

    /// Writes `body` at `offset`, dropping whatever a failed earlier attempt
    /// left beyond `offset`; returns the number of bytes written.
    async fn append_upload(&self, id: &str, offset: u64, body: ByteStream<'_>) -> Result<u64, StorageError>;

    /// [`BlobStore::append_upload`] that also feeds every byte written to
    /// `hasher`; returns the count and the hasher. By default hashing runs on
    /// a thread of its own beside receiving and writing, so a push costs about
    /// the slowest of the three rather than their sum; a backend that copies
    /// the bytes anyway may hash them in the same pass.
    async fn append_upload_hashed(
        &self,
        id: &str,
        offset: u64,
        body: ByteStream<'_>,
        hasher: Hasher,
    ) -> Result<(u64, Hasher), StorageError> {
        hash_beside(self, id, offset, body, hasher).await
    }

    /// Reads back the first `size` bytes of an upload.
    async fn read_upload(&self, id: &str, size: u64) -> Result<ByteStream<'static>, StorageError>;

    /// Makes the first `size` bytes of the upload the blob `digest`, durably,
    /// and removes the upload. When the blob already exists the upload is
    /// just removed. The bytes are visible under `digest` only once complete.
    async fn commit_upload(&self, id: &str, size: u64, digest: &Digest) -> Result<(), StorageError>;

    /// Removes an upload; absent uploads are not an error.
    async fn cancel_upload(&self, id: &str) -> Result<(), StorageError>;

    /// The ids of everything in the upload area last written before
    /// `before`, known to the database or not (what a crash left behind,
    /// scratch files included), each a valid argument of
    /// [`BlobStore::cancel_upload`].
    async fn uploads_written_before(&self, before: SystemTime) -> Result<Vec<String>, StorageError>;

    /// Removes a blob; absent blobs are not an error.
    async fn delete(&self, digest: &Digest) -> Result<(), StorageError>;

    /// Stores a named object outside the blob and upload space (exported
    /// logs), replacing an earlier one; readers see all of it or nothing.
    /// `key` must pass [`object_key`].
    async fn put_object(&self, key: &str, body: Bytes) -> Result<(), StorageError>;

    /// [`BlobStore::put_object`] from a stream, without holding the whole
    /// body in memory where the backend allows; returns the byte count. A
    /// stream that fails stores nothing.
    async fn put_object_stream(&self, key: &str, mut body: ByteStream<'_>) -> Result<u64, StorageError> {
        let mut all = bytes::BytesMut::new();
        while let Some(chunk) = futures_util::TryStreamExt::try_next(&mut body).await? {
            all.extend_from_slice(&chunk);
        }
        let size = all.len() as u64;
        self.put_object(key, all.freeze()).await?;
        Ok(size)
    }

    /// Reads a named object written by [`BlobStore::put_object`].
    async fn read_object(&self, key: &str) -> Result<ByteStream<'static>, StorageError>;

    /// Removes a named object; absent objects are not an error.
    async fn delete_object(&self, key: &str) -> Result<(), StorageError>;

    /// Checks that the backend answers.
    async fn health(&self) -> Result<(), StorageError>;
}

/// The default [`BlobStore::append_upload_hashed`]: hashing on a thread of
/// its own beside the store's writing.
pub(crate) async fn hash_beside<S: BlobStore + ?Sized>(
    store: &S,
    id: &str,
    offset: u64,
    body: ByteStream<'_>,
    hasher: Hasher,
) -> Result<(u64, Hasher), StorageError> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(HASH_QUEUE_CHUNKS);
    let hashing = tokio::task::spawn_blocking(move || {
        let mut hasher = hasher;
        while let Some(chunk) = rx.blocking_recv() {
            hasher.update(&chunk);
        }
        hasher
    });
    let tapped = body
        .and_then(move |chunk| {
            let tx = tx.clone();
            async move {
                tx.send(chunk.clone())
                    .await
                    .map_err(|_| io::Error::other("hashing stopped"))?;
                Ok(chunk)
            }
        })
        .boxed();
    let written = store.append_upload(id, offset, tapped).await;
    let hasher = hashing
        .await
        .map_err(|e| StorageError::Backend(format!("hashing task failed: {e}")))?;
    Ok((written?, hasher))
}

/// The relative key of a blob in the shared layout.
pub fn blob_key(digest: &Digest) -> String {
    let hex = digest.hex();
    format!("{}/{}/{}", digest.algorithm().as_str(), &hex[..2], hex)
}

/// The relative key of an upload in the shared layout.
pub fn upload_key(id: &str) -> String {
    format!("uploads/{id}")
}

/// Checks the key of a named object: `/`-separated segments of letters,
/// digits, `-`, `_` and `.` (not `.` or `..`), outside the blob (`sha256/`)
/// and upload (`uploads/`) areas, so no key can reach content-addressed data.
pub fn object_key(key: &str) -> Result<&str, StorageError> {
    let segment_ok = |s: &str| {
        !s.is_empty()
            && s != "."
            && s != ".."
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    };
    let first = key.split('/').next().unwrap_or_default();
    if key.split('/').all(segment_ok) && !matches!(first, "sha256" | "sha512" | "uploads") {
        Ok(key)
    } else {
        Err(StorageError::Backend(format!("invalid object key {key:?}")))
    }
}
