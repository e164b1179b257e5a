//! File-system backend. A blob becomes visible by an atomic rename of a fully
//! written and synced file, so a crash never leaves a half blob at its address.

use std::io::{self, SeekFrom};
use std::ops::Range;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use futures_util::{StreamExt, TryStreamExt};
use tokio::fs;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt, BufWriter};
use tokio_util::io::ReaderStream;

use super::{blob_key, upload_key, BlobStore, ByteStream, StorageError};
use crate::oci::Digest;

const IO_CHUNK: usize = 1 << 20;

/// While an upload streams in, written data is flushed to disk in the
/// background every this many bytes, so the sync at commit has little left.
const BACKGROUND_SYNC_EVERY: u64 = 16 << 20;

/// Blobs under a local directory.
#[derive(Debug, Clone)]
pub struct FsStore {
    root: PathBuf,
}

impl FsStore {
    /// Creates the directory layout under `root` when missing.
    pub async fn new(root: impl Into<PathBuf>) -> Result<FsStore, StorageError> {
        let root = root.into();
        fs::create_dir_all(root.join("uploads")).await?;
        Ok(FsStore { root })
    }

    fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join(blob_key(digest))
    }

    fn upload_path(&self, id: &str) -> PathBuf {
        self.root.join(upload_key(id))
    }
}

fn not_found_as(e: io::Error) -> StorageError {
    if e.kind() == io::ErrorKind::NotFound {
        StorageError::NotFound
    } else {
        StorageError::Io(e)
    }
}

async fn sync_dir(dir: &Path) -> io::Result<()> {
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || std::fs::File::open(dir)?.sync_all())
        .await
        .map_err(io::Error::other)?
}

fn stream_file<R>(reader: R) -> ByteStream<'static>
where
    R: tokio::io::AsyncRead + Send + 'static,
{
    ReaderStream::with_capacity(reader, IO_CHUNK).boxed()
}

#[async_trait]
impl BlobStore for FsStore {
    async fn stat(&self, digest: &Digest) -> Result<Option<u64>, StorageError> {
        match fs::metadata(self.blob_path(digest)).await {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn read(&self, digest: &Digest, range: Option<Range<u64>>) -> Result<ByteStream<'static>, StorageError> {
        let mut file = fs::File::open(self.blob_path(digest)).await.map_err(not_found_as)?;
        match range {
            None => Ok(stream_file(file)),
            Some(r) => {
                file.seek(SeekFrom::Start(r.start)).await?;
                Ok(stream_file(file.take(r.end.saturating_sub(r.start))))
            }
        }
    }

    async fn create_upload(&self, id: &str) -> Result<(), StorageError> {
        fs::File::create(self.upload_path(id)).await?;
        Ok(())
    }

    async fn append_upload(&self, id: &str, offset: u64, mut body: ByteStream<'_>) -> Result<u64, StorageError> {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .open(self.upload_path(id))
            .await
            .map_err(not_found_as)?;
        file.set_len(offset).await?;
        file.seek(SeekFrom::Start(offset)).await?;
        let syncer = file.try_clone().await?.into_std().await;
        let mut out = BufWriter::with_capacity(IO_CHUNK, file);
        let mut written = 0u64;
        let mut synced_at = 0u64;
        let mut background: Option<tokio::task::JoinHandle<io::Result<()>>> = None;
        while let Some(chunk) = body.try_next().await? {
            out.write_all(&chunk).await?;
            written += chunk.len() as u64;
            if written - synced_at >= BACKGROUND_SYNC_EVERY && background.as_ref().is_none_or(|h| h.is_finished()) {
                synced_at = written;
                let f = syncer.try_clone()?;
                background = Some(tokio::task::spawn_blocking(move || f.sync_data()));
            }
        }
        out.flush().await?;
        if let Some(h) = background {
            h.await.map_err(io::Error::other)??;
        }
        Ok(written)
    }

    async fn read_upload(&self, id: &str, size: u64) -> Result<ByteStream<'static>, StorageError> {
        let file = fs::File::open(self.upload_path(id)).await.map_err(not_found_as)?;
        Ok(stream_file(file.take(size)))
    }

    async fn commit_upload(&self, id: &str, size: u64, digest: &Digest) -> Result<(), StorageError> {
        let upload = self.upload_path(id);
        let target = self.blob_path(digest);
        if fs::metadata(&target).await.is_ok() {
            return self.cancel_upload(id).await;
        }
        let file = fs::OpenOptions::new()
            .write(true)
            .open(&upload)
            .await
            .map_err(not_found_as)?;
        file.set_len(size).await?;
        file.sync_all().await?;
        drop(file);
        let parent = target
            .parent()
            .ok_or_else(|| StorageError::Backend("blob path has no parent".into()))?;
        fs::create_dir_all(parent).await?;
        fs::rename(&upload, &target).await?;
        sync_dir(parent).await?;
        Ok(())
    }

    async fn cancel_upload(&self, id: &str) -> Result<(), StorageError> {
        match fs::remove_file(self.upload_path(id)).await {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    async fn delete(&self, digest: &Digest) -> Result<(), StorageError> {
        match fs::remove_file(self.blob_path(digest)).await {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    async fn health(&self) -> Result<(), StorageError> {
        fs::metadata(self.root.join("uploads")).await?;
        Ok(())
    }
}
