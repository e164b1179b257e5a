//! In-memory backend, for tests and throw-away instances.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::{stream, StreamExt, TryStreamExt};

use super::{object_key, BlobStore, ByteStream, StorageError};
use crate::oci::Digest;

#[derive(Default)]
struct Inner {
    blobs: HashMap<String, Bytes>,
    uploads: HashMap<String, Vec<u8>>,
}

/// Blobs in process memory; lost when the process ends.
#[derive(Default, Clone)]
pub struct MemoryStore {
    inner: Arc<Mutex<Inner>>,
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn once(b: Bytes) -> ByteStream<'static> {
    stream::once(async move { Ok(b) }).boxed()
}

#[async_trait]
impl BlobStore for MemoryStore {
    async fn stat(&self, digest: &Digest) -> Result<Option<u64>, StorageError> {
        Ok(self.lock().blobs.get(&digest.to_string()).map(|b| b.len() as u64))
    }

    async fn read(&self, digest: &Digest, range: Option<Range<u64>>) -> Result<ByteStream<'static>, StorageError> {
        let blob = self
            .lock()
            .blobs
            .get(&digest.to_string())
            .cloned()
            .ok_or(StorageError::NotFound)?;
        let r = range.unwrap_or(0..blob.len() as u64);
        let end = usize::try_from(r.end).unwrap_or(usize::MAX).min(blob.len());
        let start = usize::try_from(r.start).unwrap_or(usize::MAX).min(end);
        Ok(once(blob.slice(start..end)))
    }

    async fn create_upload(&self, id: &str) -> Result<(), StorageError> {
        self.lock().uploads.insert(id.to_owned(), Vec::new());
        Ok(())
    }

    async fn append_upload(&self, id: &str, offset: u64, body: ByteStream<'_>) -> Result<u64, StorageError> {
        let chunks: Vec<Bytes> = body.try_collect().await?;
        let mut inner = self.lock();
        let upload = inner.uploads.get_mut(id).ok_or(StorageError::NotFound)?;
        upload.truncate(usize::try_from(offset).unwrap_or(usize::MAX));
        let mut written = 0u64;
        for c in chunks {
            upload.extend_from_slice(&c);
            written += c.len() as u64;
        }
        Ok(written)
    }

    async fn read_upload(&self, id: &str, size: u64) -> Result<ByteStream<'static>, StorageError> {
        let inner = self.lock();
        let upload = inner.uploads.get(id).ok_or(StorageError::NotFound)?;
        let end = usize::try_from(size).unwrap_or(usize::MAX).min(upload.len());
        Ok(once(Bytes::copy_from_slice(&upload[..end])))
    }

    async fn commit_upload(&self, id: &str, size: u64, digest: &Digest) -> Result<(), StorageError> {
        let mut inner = self.lock();
        let mut upload = inner.uploads.remove(id).ok_or(StorageError::NotFound)?;
        upload.truncate(usize::try_from(size).unwrap_or(usize::MAX));
        inner
            .blobs
            .entry(digest.to_string())
            .or_insert_with(|| Bytes::from(upload));
        Ok(())
    }

    async fn cancel_upload(&self, id: &str) -> Result<(), StorageError> {
        self.lock().uploads.remove(id);
        Ok(())
    }

    async fn delete(&self, digest: &Digest) -> Result<(), StorageError> {
        self.lock().blobs.remove(&digest.to_string());
        Ok(())
    }

    async fn put_object(&self, key: &str, body: Bytes) -> Result<(), StorageError> {
        let key = format!("object:{}", object_key(key)?);
        self.lock().blobs.insert(key, body);
        Ok(())
    }

    async fn read_object(&self, key: &str) -> Result<ByteStream<'static>, StorageError> {
        let key = format!("object:{}", object_key(key)?);
        let body = self.lock().blobs.get(&key).cloned().ok_or(StorageError::NotFound)?;
        Ok(once(body))
    }

    async fn delete_object(&self, key: &str) -> Result<(), StorageError> {
        let key = format!("object:{}", object_key(key)?);
        self.lock().blobs.remove(&key);
        Ok(())
    }

    async fn health(&self) -> Result<(), StorageError> {
        Ok(())
    }
}
