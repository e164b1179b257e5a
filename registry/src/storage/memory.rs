//! In-memory backend, for tests and throw-away instances.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::{stream, StreamExt, TryStreamExt};

use super::{object_key, BlobStore, ByteStream, StorageError};
use crate::oci::Digest;

#[derive(Default)]
struct Inner {
    blobs: HashMap<String, Bytes>,
    uploads: HashMap<String, Upload>,
}

/// An upload's bytes and when they were last written.
struct Upload {
    bytes: Vec<u8>,
    written: SystemTime,
}

impl Upload {
    fn new() -> Upload {
        Upload {
            bytes: Vec::new(),
            written: SystemTime::now(),
        }
    }
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
        self.lock().uploads.insert(id.to_owned(), Upload::new());
        Ok(())
    }

    async fn append_upload(&self, id: &str, offset: u64, body: ByteStream<'_>) -> Result<u64, StorageError> {
        let chunks: Vec<Bytes> = body.try_collect().await?;
        let mut inner = self.lock();
        let upload = inner.uploads.get_mut(id).ok_or(StorageError::NotFound)?;
        upload.bytes.truncate(usize::try_from(offset).unwrap_or(usize::MAX));
        let mut written = 0u64;
        for c in chunks {
            upload.bytes.extend_from_slice(&c);
            written += c.len() as u64;
        }
        upload.written = SystemTime::now();
        Ok(written)
    }

    async fn read_upload(&self, id: &str, size: u64) -> Result<ByteStream<'static>, StorageError> {
        let inner = self.lock();
        let upload = inner.uploads.get(id).ok_or(StorageError::NotFound)?;
        let end = usize::try_from(size).unwrap_or(usize::MAX).min(upload.bytes.len());
        Ok(once(Bytes::copy_from_slice(&upload.bytes[..end])))
    }

    async fn commit_upload(&self, id: &str, size: u64, digest: &Digest) -> Result<(), StorageError> {
        let mut inner = self.lock();
        let mut upload = inner.uploads.remove(id).ok_or(StorageError::NotFound)?.bytes;
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

    async fn uploads_written_before(&self, before: SystemTime) -> Result<Vec<String>, StorageError> {
        let inner = self.lock();
        let old = inner.uploads.iter().filter(|(_, u)| u.written < before);
        Ok(old.map(|(id, _)| id.clone()).collect())
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
