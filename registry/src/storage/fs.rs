//! File-system backend. A blob becomes visible by an atomic rename of a fully
//! written and synced file, so a crash never leaves a half blob at its address.

use std::io::{self, SeekFrom};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use async_trait::async_trait;
use futures_util::{StreamExt, TryStreamExt};
use std::io::{IoSlice, Read, Seek, Write};
use tokio::fs;

use bytes::{Bytes, BytesMut};

use super::{blob_key, object_key, upload_key, BlobStore, ByteStream, StorageError};
use crate::oci::{Digest, Hasher};

const IO_CHUNK: usize = 1 << 20;

/// Chunks received but not yet written, at most. Short, so a chunk is
/// still in the CPU cache when the writer hashes and copies it.
const WRITE_QUEUE_CHUNKS: usize = 16;

/// Chunks a blob reader may have read before the consumer takes them.
const READ_AHEAD_CHUNKS: usize = 4;

/// While an upload streams in, written data is flushed to disk in the
/// background every this many bytes, so the sync at commit has little left.
const BACKGROUND_SYNC_EVERY: u64 = 16 << 20;

/// Blobs under a local directory.
#[derive(Debug, Clone)]
pub struct FsStore {
    root: PathBuf,
    /// Upload bytes are written with `O_DIRECT` (see [`super::direct`]).
    direct: bool,
}

impl FsStore {
    /// Creates the directory layout under `root` when missing. Uploads are
    /// written with `O_DIRECT` where the file system takes it.
    pub async fn new(root: impl Into<PathBuf>) -> Result<FsStore, StorageError> {
        Self::with_direct_io(root, true).await
    }

    /// [`FsStore::new`], with `O_DIRECT` upload writes only when `direct`
    /// and supported; otherwise buffered writes, synced at commit.
    pub async fn with_direct_io(root: impl Into<PathBuf>, direct: bool) -> Result<FsStore, StorageError> {
        let root = root.into();
        let uploads = root.join("uploads");
        fs::create_dir_all(&uploads).await?;
        let direct = direct
            && tokio::task::spawn_blocking(move || super::direct::supported(&uploads))
                .await
                .map_err(io::Error::other)?;
        tracing::debug!(direct, root = %root.display(), "file-system blob store");
        Ok(FsStore { root, direct })
    }

    /// Whether uploads are written with `O_DIRECT`.
    pub fn direct_io(&self) -> bool {
        self.direct
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

/// Writes queued chunks to `file` with vectored writes (no copying into
/// buffers), flushing written data to disk in the background as it goes.
fn write_chunks(file: std::fs::File, mut rx: tokio::sync::mpsc::Receiver<Bytes>) -> io::Result<u64> {
    let mut file = file;
    let mut written = 0u64;
    let mut synced_at = 0u64;
    let mut background: Option<std::thread::JoinHandle<io::Result<()>>> = None;
    let mut queue: Vec<Bytes> = Vec::with_capacity(WRITE_QUEUE_CHUNKS);
    while let Some(first) = rx.blocking_recv() {
        queue.push(first);
        while queue.len() < WRITE_QUEUE_CHUNKS {
            match rx.try_recv() {
                Ok(chunk) => queue.push(chunk),
                Err(_) => break,
            }
        }
        let mut slices: Vec<IoSlice<'_>> = queue.iter().map(|b| IoSlice::new(b)).collect();
        let mut bufs = &mut slices[..];
        while !bufs.is_empty() {
            let n = file.write_vectored(bufs)?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            written += n as u64;
            IoSlice::advance_slices(&mut bufs, n);
        }
        drop(slices);
        queue.clear();
        if written - synced_at >= BACKGROUND_SYNC_EVERY && background.as_ref().is_none_or(|h| h.is_finished()) {
            synced_at = written;
            let f = file.try_clone()?;
            if let Some(done) = background.take() {
                done.join()
                    .map_err(|_| io::Error::other("background sync panicked"))??;
            }
            background = Some(std::thread::spawn(move || f.sync_data()));
        }
    }
    if let Some(done) = background {
        done.join()
            .map_err(|_| io::Error::other("background sync panicked"))??;
    }
    Ok(written)
}

/// Streams `len` bytes of a file from `start`. A blocking reader thread runs
/// a few chunks ahead of the consumer, so reading overlaps with sending.
fn stream_file(file: std::fs::File, start: u64, len: u64) -> ByteStream<'static> {
    let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(READ_AHEAD_CHUNKS);
    tokio::task::spawn_blocking(move || {
        let mut file = file;
        let mut left = len;
        if let Err(e) = file.seek(SeekFrom::Start(start)) {
            let _ = tx.blocking_send(Err(e));
            return;
        }
        while left > 0 {
            let want = usize::try_from(left).unwrap_or(usize::MAX).min(IO_CHUNK);
            let mut buf = BytesMut::zeroed(want);
            let item = match file.read(&mut buf) {
                Ok(0) => Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "blob file is shorter than expected",
                )),
                Ok(n) => {
                    buf.truncate(n);
                    left -= n as u64;
                    Ok(buf.freeze())
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => Err(e),
            };
            let failed = item.is_err();
            if tx.blocking_send(item).is_err() || failed {
                return;
            }
        }
    });
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) }).boxed()
}

/// Passes the body's chunks to a writer thread; returns what it wrote.
async fn feed_writer(
    mut body: ByteStream<'_>,
    tx: tokio::sync::mpsc::Sender<Bytes>,
    writer: tokio::task::JoinHandle<io::Result<u64>>,
) -> Result<u64, StorageError> {
    let mut fed = Ok(());
    loop {
        match body.try_next().await {
            Ok(Some(chunk)) => {
                if tx.send(chunk).await.is_err() {
                    // The writer stopped: its own error explains why.
                    break;
                }
            }
            Ok(None) => break,
            Err(e) => {
                fed = Err(e);
                break;
            }
        }
    }
    drop(tx);
    let written = writer.await.map_err(io::Error::other)??;
    fed?;
    Ok(written)
}

async fn open_std(path: PathBuf) -> Result<(std::fs::File, u64), StorageError> {
    tokio::task::spawn_blocking(move || {
        let f = std::fs::File::open(&path)?;
        let len = f.metadata()?.len();
        Ok::<_, io::Error>((f, len))
    })
    .await
    .map_err(io::Error::other)?
    .map_err(not_found_as)
}

impl FsStore {
    /// Appends with `O_DIRECT` (see [`super::direct`]); the thread that
    /// copies the bytes into aligned blocks also hashes them, if asked.
    async fn append_direct(
        &self,
        path: PathBuf,
        offset: u64,
        body: ByteStream<'_>,
        hasher: Option<Hasher>,
    ) -> Result<(u64, Option<Hasher>), StorageError> {
        let file = tokio::task::spawn_blocking(move || super::direct::open(&path))
            .await
            .map_err(io::Error::other)?
            .map_err(not_found_as)?;
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(WRITE_QUEUE_CHUNKS);
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let writer = tokio::task::spawn_blocking(move || {
            let mut hasher = hasher;
            let written = super::direct::write_chunks(file, offset, rx, hasher.as_mut());
            let _ = done_tx.send(hasher);
            written
        });
        let written = feed_writer(body, tx, writer).await?;
        let hasher = done_rx
            .await
            .map_err(|_| StorageError::Backend("direct writer lost".into()))?;
        Ok((written, hasher))
    }
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
        let (file, size) = open_std(self.blob_path(digest)).await?;
        Ok(match range {
            None => stream_file(file, 0, size),
            Some(r) => stream_file(file, r.start, r.end.min(size).saturating_sub(r.start)),
        })
    }

    async fn create_upload(&self, id: &str) -> Result<(), StorageError> {
        fs::File::create(self.upload_path(id)).await?;
        Ok(())
    }

    async fn append_upload(&self, id: &str, offset: u64, body: ByteStream<'_>) -> Result<u64, StorageError> {
        let path = self.upload_path(id);
        if self.direct {
            return self.append_direct(path, offset, body, None).await.map(|(n, _)| n);
        }
        let file = tokio::task::spawn_blocking(move || {
            let mut f = std::fs::OpenOptions::new().write(true).open(path)?;
            f.set_len(offset)?;
            f.seek(SeekFrom::Start(offset))?;
            Ok::<_, io::Error>(f)
        })
        .await
        .map_err(io::Error::other)?
        .map_err(not_found_as)?;
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(WRITE_QUEUE_CHUNKS);
        let writer = tokio::task::spawn_blocking(move || write_chunks(file, rx));
        feed_writer(body, tx, writer).await
    }

    async fn append_upload_hashed(
        &self,
        id: &str,
        offset: u64,
        body: ByteStream<'_>,
        hasher: Hasher,
    ) -> Result<(u64, Hasher), StorageError> {
        if !self.direct {
            return super::hash_beside(self, id, offset, body, hasher).await;
        }
        let (n, hasher) = self
            .append_direct(self.upload_path(id), offset, body, Some(hasher))
            .await?;
        Ok((n, hasher.ok_or_else(|| StorageError::Backend("hasher lost".into()))?))
    }

    async fn read_upload(&self, id: &str, size: u64) -> Result<ByteStream<'static>, StorageError> {
        let (file, len) = open_std(self.upload_path(id)).await?;
        Ok(stream_file(file, 0, size.min(len)))
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

    async fn uploads_written_before(&self, before: SystemTime) -> Result<Vec<String>, StorageError> {
        let dir = self.root.join("uploads");
        let listed = tokio::task::spawn_blocking(move || super::upload_area::files_written_before(&dir, before));
        Ok(listed.await.map_err(io::Error::other)??)
    }

    async fn delete(&self, digest: &Digest) -> Result<(), StorageError> {
        match fs::remove_file(self.blob_path(digest)).await {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    async fn put_object(&self, key: &str, body: Bytes) -> Result<(), StorageError> {
        let once = futures_util::stream::once(async move { Ok::<_, io::Error>(body) }).boxed();
        self.put_object_stream(key, once).await.map(|_| ())
    }

    async fn put_object_stream(&self, key: &str, mut body: ByteStream<'_>) -> Result<u64, StorageError> {
        let target = self.root.join(object_key(key)?);
        let parent = target
            .parent()
            .ok_or_else(|| StorageError::Backend("object path has no parent".into()))?
            .to_owned();
        // Written aside and renamed into place, so readers never see half.
        let scratch = self.upload_path(&format!("object-{}", uuid::Uuid::new_v4()));
        let written = async {
            let mut file = fs::File::create(&scratch).await?;
            let mut size = 0u64;
            while let Some(chunk) = body.try_next().await? {
                tokio::io::AsyncWriteExt::write_all(&mut file, &chunk).await?;
                size += chunk.len() as u64;
            }
            file.sync_all().await?;
            fs::create_dir_all(&parent).await?;
            fs::rename(&scratch, &target).await?;
            sync_dir(&parent).await?;
            Ok::<_, io::Error>(size)
        }
        .await;
        if written.is_err() {
            let _ = fs::remove_file(&scratch).await;
        }
        Ok(written?)
    }

    async fn read_object(&self, key: &str) -> Result<ByteStream<'static>, StorageError> {
        let (file, size) = open_std(self.root.join(object_key(key)?)).await?;
        Ok(stream_file(file, 0, size))
    }

    async fn delete_object(&self, key: &str) -> Result<(), StorageError> {
        match fs::remove_file(self.root.join(object_key(key)?)).await {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    async fn health(&self) -> Result<(), StorageError> {
        fs::metadata(self.root.join("uploads")).await?;
        Ok(())
    }
}
