//! S3-compatible backend (S3Storage, RadosGWStorage), on `object_store`.
//!
//! Blobs live at `<prefix>/sha256/<2 hex>/<hex>`. S3 cannot append to an
//! object, so an upload is a directory of objects under `<prefix>/uploads/<id>/`:
//! a marker written by [`BlobStore::create_upload`] and one object per
//! [`BlobStore::append_upload`] call, named by its start offset as 20 zero-padded
//! digits so that listing order is offset order.
//!
//! An append first deletes the chunks at or beyond its offset (what an earlier,
//! failed attempt may have left), then streams its body into a new chunk
//! object. Reading an upload follows the chunks from offset 0 while they are
//! contiguous; a chunk that starts inside its predecessor was written later and
//! truncates it, a gap ends the upload. Nothing is ever buffered beyond one
//! multipart part per in-flight part upload.

use std::io;
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::stream::{self, BoxStream};
use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use object_store::{Certificate, ClientOptions, GetOptions, GetRange, ObjectStore, PutPayload, WriteMultipart};

use super::{blob_key, object_key, upload_key, BlobStore, ByteStream, StorageError};
use crate::oci::Digest;

/// Size of a multipart part (S3 wants at least 5 MiB for all but the last);
/// an object smaller than this is written with a single PUT.
const PART_SIZE: usize = 8 << 20;
/// S3 allows at most this many parts in one multipart upload.
const MAX_PARTS: u64 = 10_000;
/// Part uploads in flight per multipart upload; bounds memory to about
/// `(MAX_IN_FLIGHT + 1) * part size` per upload.
const MAX_IN_FLIGHT: usize = 2;
/// The largest object a single server-side CopyObject may copy.
const COPY_LIMIT: u64 = 5 << 30;
/// Name of the object that marks an upload as created.
const MARKER: &str = "started";
/// Digits of a chunk object's name (its zero-padded start offset).
const OFFSET_DIGITS: usize = 20;

/// Connection settings, from Quay's `S3Storage` / `RadosGWStorage` parameters.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Config {
    /// `http(s)://host:port` for S3-compatible servers; `None` for AWS itself.
    pub endpoint: Option<String>,
    pub bucket: String,
    /// Key prefix under which the layout lives (Quay's `storage_path`).
    pub prefix: String,
    pub access_key: Option<String>,
    pub secret_key: Option<String>,
    pub region: String,
}

impl std::fmt::Debug for S3Config {
    /// Keeps the keys out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |k: &Option<String>| k.as_ref().map(|_| "***");
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("access_key", &hidden(&self.access_key))
            .field("secret_key", &hidden(&self.secret_key))
            .field("region", &self.region)
            .finish()
    }
}

/// Blobs in an S3 bucket.
#[derive(Debug)]
pub struct S3Store {
    /// Client for bounded requests (HEAD, PUT, parts, LIST, COPY, DELETE).
    store: Arc<dyn ObjectStore>,
    /// Client for GETs whose bodies are streamed to callers at their pace: no
    /// overall request timeout, which would cut long downloads short.
    reader: Arc<dyn ObjectStore>,
    bucket: String,
    /// The configured prefix without leading or trailing slashes; may be empty.
    prefix: String,
}

impl S3Store {
    /// Builds the client; makes no request (the bucket must already exist).
    ///
    /// Besides the system's roots, TLS trusts the PEM bundle named by
    /// `AWS_CA_BUNDLE`, as boto (and so Quay) does.
    pub async fn new(config: S3Config) -> Result<S3Store, StorageError> {
        let roots = extra_roots().await?;
        let options = roots
            .into_iter()
            .fold(ClientOptions::new(), |o, cert| o.with_root_certificate(cert));
        let store = Arc::new(build(&config, options.clone().with_timeout(Duration::from_secs(300)))?);
        let reader = Arc::new(build(&config, options.with_timeout_disabled())?);
        Ok(S3Store {
            store,
            reader,
            bucket: config.bucket,
            prefix: config.prefix.trim_matches('/').to_owned(),
        })
    }

    /// The object path of a key relative to the prefix.
    fn path(&self, rel: &str) -> Path {
        if self.prefix.is_empty() {
            Path::from(rel)
        } else {
            Path::from(format!("{}/{}", self.prefix, rel))
        }
    }

    fn blob_path(&self, digest: &Digest) -> Path {
        self.path(&blob_key(digest))
    }

    fn upload_dir(&self, id: &str) -> Path {
        self.path(&upload_key(id))
    }

    /// Lists what an upload consists of.
    async fn list_upload(&self, id: &str) -> Result<UploadListing, StorageError> {
        let dir = self.upload_dir(id);
        let mut objects = self.store.list(Some(&dir));
        let mut listing = UploadListing::default();
        while let Some(meta) = objects.try_next().await.map_err(backend)? {
            let name = meta.location.filename().unwrap_or_default();
            if name == MARKER {
                listing.started = true;
            } else if let Some(offset) = parse_offset(name) {
                listing.chunks.push(Chunk {
                    offset,
                    len: meta.size,
                    path: meta.location.clone(),
                });
            }
            listing.all.push(meta.location);
        }
        listing.chunks.sort_by_key(|c| c.offset);
        Ok(listing)
    }

    /// Deletes objects, ignoring those already gone.
    async fn delete_all(&self, paths: Vec<Path>) -> Result<(), StorageError> {
        if paths.is_empty() {
            return Ok(());
        }
        let locations = stream::iter(paths.into_iter().map(Ok)).boxed();
        let mut results = self.store.delete_stream(locations);
        while let Some(r) = results.next().await {
            match r {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(backend(e)),
            }
        }
        Ok(())
    }

    /// Writes `body` to `path`: one PUT when it is shorter than `part_size`,
    /// a streamed multipart upload otherwise. Returns the byte count.
    async fn write_stream(
        &self,
        path: &Path,
        mut body: BoxStream<'_, io::Result<Bytes>>,
        part_size: usize,
    ) -> Result<u64, StorageError> {
        let mut head: Vec<Bytes> = Vec::new();
        let mut buffered = 0usize;
        while buffered < part_size {
            match body.try_next().await? {
                Some(b) => {
                    buffered += b.len();
                    if !b.is_empty() {
                        head.push(b);
                    }
                }
                None => {
                    let payload: PutPayload = head.into_iter().collect();
                    self.store.put(path, payload).await.map_err(backend)?;
                    return Ok(buffered as u64);
                }
            }
        }

        let upload = self.store.put_multipart(path).await.map_err(backend)?;
        let mut upload = Multipart {
            path: path.clone(),
            writer: Some(WriteMultipart::new_with_chunk_size(upload, part_size)),
        };
        let mut written = buffered as u64;
        let streamed: Result<(), StorageError> = async {
            let writer = upload.writer()?;
            for b in head {
                writer.put(b);
            }
            while let Some(b) = body.try_next().await? {
                writer.wait_for_capacity(MAX_IN_FLIGHT).await.map_err(backend)?;
                written += b.len() as u64;
                writer.put(b);
            }
            Ok(())
        }
        .await;
        match streamed {
            Ok(()) => {
                upload.finish().await?;
                Ok(written)
            }
            Err(e) => {
                upload.abort().await;
                Err(e)
            }
        }
    }

    /// Streams the given pieces of objects, one after the other.
    fn stream_segments(&self, segments: Vec<Segment>) -> ByteStream<'static> {
        let reader = Arc::clone(&self.reader);
        stream::iter(segments)
            .then(move |seg| {
                let reader = Arc::clone(&reader);
                async move {
                    let options = GetOptions {
                        range: seg.range.map(GetRange::Bounded),
                        ..GetOptions::default()
                    };
                    let result = reader.get_opts(&seg.path, options).await.map_err(io_error)?;
                    Ok::<_, io::Error>(result.into_stream().map_err(io_error))
                }
            })
            .try_flatten()
            .boxed()
    }
}

/// The certificates of the bundle named by `AWS_CA_BUNDLE`, if any.
async fn extra_roots() -> Result<Vec<Certificate>, StorageError> {
    let Some(path) = std::env::var_os("AWS_CA_BUNDLE").filter(|p| !p.is_empty()) else {
        return Ok(Vec::new());
    };
    let shown = std::path::Path::new(&path).display().to_string();
    let pem = tokio::fs::read(&path)
        .await
        .map_err(|e| StorageError::Backend(format!("AWS_CA_BUNDLE {shown}: {e}")))?;
    Certificate::from_pem_bundle(&pem).map_err(|e| StorageError::Backend(format!("AWS_CA_BUNDLE {shown}: {e}")))
}

fn build(config: &S3Config, options: ClientOptions) -> Result<object_store::aws::AmazonS3, StorageError> {
    // Without explicit keys, take credentials the AWS way (environment, web
    // identity, container or instance metadata).
    let mut builder = if config.access_key.is_some() || config.secret_key.is_some() {
        AmazonS3Builder::new()
    } else {
        AmazonS3Builder::from_env()
    };
    let mut options = options;
    if let Some(endpoint) = &config.endpoint {
        let endpoint = endpoint.trim_end_matches('/');
        if endpoint.starts_with("http://") {
            options = options.with_allow_http(true);
        }
        builder = builder.with_endpoint(endpoint);
    }
    if let Some(key) = &config.access_key {
        builder = builder.with_access_key_id(key);
    }
    if let Some(secret) = &config.secret_key {
        builder = builder.with_secret_access_key(secret);
    }
    builder
        .with_region(&config.region)
        .with_bucket_name(&config.bucket)
        .with_virtual_hosted_style_request(false)
        .with_client_options(options)
        .build()
        .map_err(|e| StorageError::Backend(format!("S3 configuration: {e}")))
}

/// A multipart upload in progress. Dropped unfinished (say, because the
/// request streaming into it went away) it is aborted in the background, so
/// its parts do not linger in the bucket.
struct Multipart {
    path: Path,
    writer: Option<WriteMultipart>,
}

impl Multipart {
    fn writer(&mut self) -> Result<&mut WriteMultipart, StorageError> {
        self.writer
            .as_mut()
            .ok_or_else(|| StorageError::Backend("multipart upload already ended".into()))
    }

    /// Uploads the last part and completes the upload.
    async fn finish(&mut self) -> Result<(), StorageError> {
        match self.writer.take() {
            Some(writer) => writer.finish().await.map(|_| ()).map_err(backend),
            None => Ok(()),
        }
    }

    async fn abort(&mut self) {
        if let Some(writer) = self.writer.take() {
            abort_multipart(&self.path, writer).await;
        }
    }
}

impl Drop for Multipart {
    fn drop(&mut self) {
        let Some(writer) = self.writer.take() else { return };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let path = self.path.clone();
            runtime.spawn(async move { abort_multipart(&path, writer).await });
        }
    }
}

async fn abort_multipart(path: &Path, writer: WriteMultipart) {
    if let Err(e) = writer.abort().await {
        tracing::warn!(%path, error = %e, "aborting an S3 multipart upload failed");
    }
}

/// One `append_upload` object.
#[derive(Debug)]
struct Chunk {
    offset: u64,
    len: u64,
    path: Path,
}

/// A piece of an object to read: all of it, or a range.
#[derive(Debug)]
struct Segment {
    path: Path,
    range: Option<Range<u64>>,
}

#[derive(Debug, Default)]
struct UploadListing {
    /// Whether the marker of `create_upload` exists.
    started: bool,
    /// Chunk objects in offset order.
    chunks: Vec<Chunk>,
    /// Every object under the upload's directory.
    all: Vec<Path>,
}

impl UploadListing {
    /// The pieces making up the first `size` bytes (fewer when the upload is
    /// shorter), and how many bytes they hold.
    fn segments(&self, size: u64) -> (Vec<Segment>, u64) {
        let mut segments = Vec::new();
        let mut pos = 0u64;
        for (i, chunk) in self.chunks.iter().enumerate() {
            if pos >= size || chunk.offset != pos {
                break;
            }
            let mut end = chunk.offset + chunk.len;
            if let Some(next) = self.chunks.get(i + 1) {
                // A later append at an offset inside this chunk replaced its tail.
                end = end.min(next.offset);
            }
            end = end.min(size);
            if end > chunk.offset {
                let len = end - chunk.offset;
                let range = (len < chunk.len).then_some(0..len);
                segments.push(Segment {
                    path: chunk.path.clone(),
                    range,
                });
            }
            pos = end;
        }
        (segments, pos)
    }
}

fn chunk_name(offset: u64) -> String {
    format!("{offset:0width$}", width = OFFSET_DIGITS)
}

fn parse_offset(name: &str) -> Option<u64> {
    if name.len() == OFFSET_DIGITS && name.bytes().all(|b| b.is_ascii_digit()) {
        name.parse().ok()
    } else {
        None
    }
}

fn backend(e: object_store::Error) -> StorageError {
    match e {
        object_store::Error::NotFound { .. } => StorageError::NotFound,
        other => StorageError::Backend(other.to_string()),
    }
}

fn io_error(e: object_store::Error) -> io::Error {
    match e {
        object_store::Error::NotFound { .. } => io::Error::new(io::ErrorKind::NotFound, e),
        other => io::Error::other(other),
    }
}

/// The multipart part size for an object of `size` bytes: [`PART_SIZE`],
/// or larger when that many parts would exceed S3's part count limit.
fn part_size_for(size: u64) -> usize {
    let needed = size.div_ceil(MAX_PARTS);
    usize::try_from(needed).map_or(usize::MAX, |n| n.max(PART_SIZE))
}

#[async_trait]
impl BlobStore for S3Store {
    async fn stat(&self, digest: &Digest) -> Result<Option<u64>, StorageError> {
        match self.store.head(&self.blob_path(digest)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(backend(e)),
        }
    }

    async fn read(&self, digest: &Digest, range: Option<Range<u64>>) -> Result<ByteStream<'static>, StorageError> {
        let path = self.blob_path(digest);
        let range = match range {
            // S3 has no empty ranges; an empty read only needs the blob to exist.
            Some(r) if r.start >= r.end => {
                self.store.head(&path).await.map_err(backend)?;
                return Ok(stream::empty().boxed());
            }
            r => r,
        };
        let options = GetOptions {
            range: range.map(GetRange::Bounded),
            ..GetOptions::default()
        };
        let result = self.reader.get_opts(&path, options).await.map_err(backend)?;
        Ok(result.into_stream().map_err(io_error).boxed())
    }

    async fn create_upload(&self, id: &str) -> Result<(), StorageError> {
        let leftovers = self.list_upload(id).await?;
        self.delete_all(leftovers.all).await?;
        let marker = self.upload_dir(id).child(MARKER);
        self.store.put(&marker, PutPayload::new()).await.map_err(backend)?;
        Ok(())
    }

    async fn append_upload(&self, id: &str, offset: u64, body: ByteStream<'_>) -> Result<u64, StorageError> {
        let listing = self.list_upload(id).await?;
        if !listing.started {
            return Err(StorageError::NotFound);
        }
        // Drop what earlier attempts wrote at or beyond `offset`, last first so
        // that a partial failure never leaves a gap followed by stale bytes.
        let mut stale: Vec<Path> = listing
            .chunks
            .into_iter()
            .filter(|c| c.offset >= offset)
            .map(|c| c.path)
            .collect();
        stale.reverse();
        for path in stale {
            match self.store.delete(&path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(backend(e)),
            }
        }
        let path = self.upload_dir(id).child(chunk_name(offset));
        let mut body = body.peekable();
        // An empty body adds nothing; an empty chunk object would only end
        // the chain of chunks early.
        if std::pin::Pin::new(&mut body).peek().await.is_none() {
            return Ok(0);
        }
        self.write_stream(&path, body.boxed(), PART_SIZE).await
    }

    async fn read_upload(&self, id: &str, size: u64) -> Result<ByteStream<'static>, StorageError> {
        let listing = self.list_upload(id).await?;
        if !listing.started {
            return Err(StorageError::NotFound);
        }
        let (segments, _) = listing.segments(size);
        Ok(self.stream_segments(segments))
    }

    async fn commit_upload(&self, id: &str, size: u64, digest: &Digest) -> Result<(), StorageError> {
        let target = self.blob_path(digest);
        if self.stat(digest).await?.is_some() {
            return self.cancel_upload(id).await;
        }
        let listing = self.list_upload(id).await?;
        if !listing.started {
            return Err(StorageError::NotFound);
        }
        let (segments, available) = listing.segments(size);
        if available < size {
            return Err(StorageError::Backend(format!(
                "upload {id} holds {available} contiguous bytes, {size} expected"
            )));
        }
        match segments.as_slice() {
            [Segment { path, range: None }] if size <= COPY_LIMIT => {
                self.store.copy(path, &target).await.map_err(backend)?;
            }
            _ => {
                let body = self.stream_segments(segments);
                self.write_stream(&target, body, part_size_for(size)).await?;
            }
        }
        self.delete_all(listing.all).await
    }

    async fn cancel_upload(&self, id: &str) -> Result<(), StorageError> {
        let listing = self.list_upload(id).await?;
        self.delete_all(listing.all).await
    }

    async fn uploads_written_before(&self, before: SystemTime) -> Result<Vec<String>, StorageError> {
        let root = self.path("uploads");
        let mut objects = self.store.list(Some(&root));
        let mut found = Vec::new();
        while let Some(meta) = objects.try_next().await.map_err(backend)? {
            // Only `uploads/<id>/<object>`: `cancel_upload` removes nothing else.
            let parts: Vec<_> = meta.location.prefix_match(&root).into_iter().flatten().collect();
            if let [id, _, ..] = parts.as_slice() {
                found.push((id.as_ref().to_owned(), SystemTime::from(meta.last_modified)));
            }
        }
        Ok(super::upload_area::ids_written_before(found, before))
    }

    async fn delete(&self, digest: &Digest) -> Result<(), StorageError> {
        match self.store.delete(&self.blob_path(digest)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(backend(e)),
        }
    }

    async fn put_object(&self, key: &str, body: Bytes) -> Result<(), StorageError> {
        let path = self.path(object_key(key)?);
        self.store.put(&path, PutPayload::from(body)).await.map_err(backend)?;
        Ok(())
    }

    async fn put_object_stream(&self, key: &str, body: ByteStream<'_>) -> Result<u64, StorageError> {
        let path = self.path(object_key(key)?);
        self.write_stream(&path, body, PART_SIZE).await
    }

    async fn read_object(&self, key: &str) -> Result<ByteStream<'static>, StorageError> {
        let path = self.path(object_key(key)?);
        let result = self.reader.get(&path).await.map_err(backend)?;
        Ok(result.into_stream().map_err(io_error).boxed())
    }

    async fn delete_object(&self, key: &str) -> Result<(), StorageError> {
        match self.store.delete(&self.path(object_key(key)?)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(backend(e)),
        }
    }

    async fn health(&self) -> Result<(), StorageError> {
        // A delimited listing of the prefix's top level: a handful of entries.
        let prefix = (!self.prefix.is_empty()).then(|| Path::from(self.prefix.as_str()));
        self.store
            .list_with_delimiter(prefix.as_ref())
            .await
            .map(|_| ())
            .map_err(|e| StorageError::Backend(format!("bucket {}: {e}", self.bucket)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_keys_are_not_shown_in_debug_output() {
        let c = S3Config {
            endpoint: None,
            bucket: "b".into(),
            prefix: String::new(),
            access_key: Some("AKIAVISIBLE".into()),
            secret_key: Some("topsecret".into()),
            region: "us-east-1".into(),
        };
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("topsecret") && !shown.contains("AKIAVISIBLE"),
            "{shown}"
        );
    }

    fn listing(chunks: &[(u64, u64)]) -> UploadListing {
        UploadListing {
            started: true,
            chunks: chunks
                .iter()
                .map(|&(offset, len)| Chunk {
                    offset,
                    len,
                    path: Path::from(chunk_name(offset)),
                })
                .collect(),
            all: Vec::new(),
        }
    }

    /// Segments as (object, range), and the byte count.
    type Shape = (Vec<(String, Option<Range<u64>>)>, u64);

    fn shape(l: &UploadListing, size: u64) -> Shape {
        let (segments, total) = l.segments(size);
        (
            segments.into_iter().map(|s| (s.path.to_string(), s.range)).collect(),
            total,
        )
    }

    #[test]
    fn chunk_names_sort_in_offset_order() {
        assert_eq!(chunk_name(5), "00000000000000000005");
        assert!(chunk_name(9) < chunk_name(10));
        assert_eq!(parse_offset(&chunk_name(u64::MAX)), Some(u64::MAX));
        assert_eq!(parse_offset(MARKER), None);
    }

    #[test]
    fn contiguous_chunks_are_read_in_order_up_to_size() {
        let l = listing(&[(0, 10), (10, 5), (15, 7)]);
        let (segs, total) = shape(&l, 18);
        assert_eq!(total, 18);
        assert_eq!(segs.len(), 3);
        assert_eq!(segs[0].1, None);
        assert_eq!(segs[1].1, None);
        assert_eq!(segs[2].1, Some(0..3));
        let (segs, total) = shape(&l, 10);
        assert_eq!((segs.len(), total), (1, 10));
    }

    #[test]
    fn a_gap_ends_the_upload() {
        let l = listing(&[(0, 10), (12, 5)]);
        assert_eq!(shape(&l, 100).1, 10);
        let l = listing(&[(3, 10)]);
        assert_eq!(shape(&l, 100), (Vec::new(), 0));
    }

    #[test]
    fn a_chunk_starting_inside_its_predecessor_truncates_it() {
        let l = listing(&[(0, 10), (4, 6)]);
        let (segs, total) = shape(&l, 100);
        assert_eq!(total, 10);
        assert_eq!(segs[0].1, Some(0..4));
        assert_eq!(segs[1].1, None);
    }

    #[test]
    fn part_size_grows_only_for_huge_objects() {
        assert_eq!(part_size_for(0), PART_SIZE);
        assert_eq!(part_size_for(50 << 30), PART_SIZE);
        assert!(part_size_for(200 << 30) as u64 * MAX_PARTS >= 200 << 30);
    }
}
