//! Blob uploads. Upload state lives in the database (offset, saved hasher
//! state) and the bytes in the store, so any process can continue an upload.
//! The digest is computed here while bytes stream and never taken from the
//! client.

use futures_util::TryStreamExt;

use super::{Error, Registry};
use crate::db::models::Upload;
use crate::db::queries;
use crate::oci::{Algorithm, Digest, Hasher, RepoName};
use crate::storage::{ByteStream, StorageError};

/// Where an upload stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadStatus {
    pub uuid: String,
    /// Bytes received so far.
    pub offset: u64,
}

/// The result of a cross-repository mount request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountOutcome {
    Mounted,
    /// The blob could not be mounted; a normal upload was started instead.
    Started(UploadStatus),
}

fn upload_error(e: StorageError) -> Error {
    match e {
        StorageError::NotFound => Error::BlobUploadUnknown,
        other => Error::Storage(other),
    }
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// This boot of this machine (Linux `boot_id`; a random id where there is none).
fn boot_id() -> &'static [u8] {
    static ID: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    ID.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .map(|s| s.trim().to_owned())
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
            .into_bytes()
    })
}

/// The hash state to save with an upload's progress, marked with this boot.
fn save_state(hasher: &Hasher) -> Vec<u8> {
    [boot_id(), b"\n", &hasher.save()].concat()
}

/// A saved hash state, trusted only when saved during this boot. Progress and
/// bytes are written without waiting for the disk, so after a power cut the
/// bytes a state describes may be gone; the upload is then hashed again from
/// what storage holds, and a lost chunk makes the digest check fail instead
/// of storing a corrupt blob.
fn restore_state(state: Option<&[u8]>) -> Option<Hasher> {
    let rest = state?.strip_prefix(boot_id())?.strip_prefix(b"\n")?;
    Hasher::restore(rest)
}

impl Registry {
    /// Starts an upload session, creating the repository on first push.
    pub async fn start_upload(&self, repo: &RepoName) -> Result<UploadStatus, Error> {
        let repo_id = self.repo_id(repo).await?;
        self.check_upload_quota(repo_id, None).await?;
        let uuid = uuid::Uuid::new_v4().to_string();
        let (u, now) = (uuid.clone(), crate::now_ms());
        // The row comes first, so storage never holds an upload nobody knows
        // of; a row whose bytes never came is removed once stale. Not synced:
        // after a power cut the client starts its upload again.
        self.db()
            .write_unsynced(move |c| Ok::<_, Error>(queries::uploads::create(c, repo_id, &u, now)?))
            .await?;
        if let Err(e) = self.store().create_upload(&uuid).await {
            self.forget_upload(&uuid).await;
            return Err(e.into());
        }
        Ok(UploadStatus { uuid, offset: 0 })
    }

    /// How many bytes an upload has received.
    pub async fn upload_status(&self, repo: &RepoName, uuid: &str) -> Result<UploadStatus, Error> {
        let repo_id = self.repo_id(repo).await.map_err(|_| Error::BlobUploadUnknown)?;
        let u = uuid.to_owned();
        let row = self
            .db()
            .read(move |c| Ok(queries::uploads::find(c, repo_id, &u)?))
            .await?
            .ok_or(Error::BlobUploadUnknown)?;
        Ok(UploadStatus {
            uuid: row.uuid,
            offset: to_u64(row.byte_count),
        })
    }

    async fn load_upload(&self, repo: &RepoName, uuid: &str) -> Result<Upload, Error> {
        let repo_id = self.repo_id(repo).await.map_err(|_| Error::BlobUploadUnknown)?;
        let u = uuid.to_owned();
        self.db()
            .read(move |c| Ok(queries::uploads::find(c, repo_id, &u)?))
            .await?
            .ok_or(Error::BlobUploadUnknown)
    }

    /// Writes a chunk at the upload's current end, hashing it on the way;
    /// returns the new size and the hasher. The caller holds the claim.
    async fn write_chunk(
        &self,
        row: &Upload,
        expected: Option<u64>,
        body: ByteStream<'_>,
    ) -> Result<(u64, Hasher), Error> {
        let offset = to_u64(row.byte_count);
        let hasher = match restore_state(row.sha_state.as_deref()) {
            Some(h) => h,
            None => self.rehash(&row.uuid, offset, Algorithm::Sha256).await?,
        };
        let written = self.store().append_upload_hashed(&row.uuid, offset, body, hasher).await;
        let (written, hasher) = written.map_err(upload_error)?;
        crate::metrics::METRICS.pushed_bytes.inc_by(written);
        if expected.is_some_and(|len| len != written) {
            return Err(Error::UploadRangeInvalid(offset));
        }
        Ok((offset + written, hasher))
    }

    /// Appends a chunk. `range`, when the client sent `Content-Range`, must
    /// start at the current offset and match the body's length.
    pub async fn append_upload(
        &self,
        repo: &RepoName,
        uuid: &str,
        range: Option<(u64, u64)>,
        body: ByteStream<'_>,
    ) -> Result<UploadStatus, Error> {
        let row = self.load_upload(repo, uuid).await?;
        let offset = to_u64(row.byte_count);
        if range.is_some_and(|(start, _)| start != offset) {
            return Err(Error::UploadRangeInvalid(offset));
        }
        let token = self.claim(uuid, row.byte_count).await?;
        let expected = range.map(|(start, end)| end - start + 1);
        let written = self.holding(uuid, &token, self.write_chunk(&row, expected, body)).await;
        let (size, hasher) = match written {
            Ok(v) => v,
            Err(e) => {
                self.trim_upload(uuid, offset).await;
                self.release(uuid, token).await;
                return Err(e);
            }
        };
        let (u, state, now) = (uuid.to_owned(), save_state(&hasher), crate::now_ms());
        let to = i64::try_from(size).unwrap_or(i64::MAX);
        // Not synced, like the chunk's bytes (synced only when the upload
        // completes): after a power cut the client's next chunk gets 416 with
        // the offset that survived, and it resumes from there.
        let t = token.clone();
        let advanced = self
            .db()
            .write_unsynced(move |c| Ok::<_, Error>(queries::uploads::advance(c, &u, &t, to, state, now)?))
            .await;
        let advanced = match advanced {
            Ok(advanced) => advanced,
            Err(e) => {
                // The bytes are not recorded, so they must not take space.
                self.trim_upload(uuid, offset).await;
                self.release(uuid, token).await;
                return Err(e);
            }
        };
        if !advanced {
            // The claim lapsed and another request took the upload over.
            return Err(Error::UploadRangeInvalid(self.upload_status(repo, uuid).await?.offset));
        }
        Ok(UploadStatus {
            uuid: uuid.to_owned(),
            offset: size,
        })
    }

    /// Hashes what an upload holds so far, for when no saved state fits.
    async fn rehash(&self, uuid: &str, size: u64, algorithm: Algorithm) -> Result<Hasher, Error> {
        let mut hasher = Hasher::new(algorithm);
        if size > 0 {
            let mut bytes = self.store().read_upload(uuid, size).await.map_err(upload_error)?;
            while let Some(chunk) = bytes.try_next().await.map_err(StorageError::from)? {
                hasher.update(&chunk);
            }
        }
        Ok(hasher)
    }

    /// Completes an upload with an optional last chunk; the content must hash
    /// to `digest`, else nothing of it is kept. `range`, when the client sent
    /// `Content-Range`, must start at the current offset and, with a last
    /// chunk, match its length.
    pub async fn finish_upload(
        &self,
        repo: &RepoName,
        uuid: &str,
        digest: &Digest,
        range: Option<(u64, u64)>,
        last: Option<ByteStream<'_>>,
    ) -> Result<(), Error> {
        let row = self.load_upload(repo, uuid).await?;
        let offset = to_u64(row.byte_count);
        if range.is_some_and(|(start, _)| start != offset) {
            return Err(Error::UploadRangeInvalid(offset));
        }
        let token = self.claim(uuid, row.byte_count).await?;
        let expected = range.map(|(start, end)| end - start + 1);
        let result = self
            .holding(uuid, &token, self.finish_claimed(&row, digest, expected, last))
            .await;
        if result.is_err() {
            self.trim_upload(uuid, offset).await;
            self.release(uuid, token).await;
        }
        result
    }

    async fn finish_claimed(
        &self,
        row: &Upload,
        digest: &Digest,
        expected: Option<u64>,
        last: Option<ByteStream<'_>>,
    ) -> Result<(), Error> {
        let (size, hasher) = match last {
            Some(body) => {
                let (size, h) = self.write_chunk(row, expected, body).await?;
                (size, Some(h))
            }
            None => (to_u64(row.byte_count), restore_state(row.sha_state.as_deref())),
        };
        let hasher = match hasher.filter(|h| h.algorithm() == digest.algorithm()) {
            Some(h) => h,
            None => self.rehash(&row.uuid, size, digest.algorithm()).await?,
        };
        if hasher.finish() != *digest {
            self.discard_upload(&row.uuid).await?;
            return Err(Error::DigestInvalid);
        }
        let adding = (digest.to_string(), i64::try_from(size).unwrap_or(i64::MAX));
        if let Err(e) = self
            .check_upload_quota(row.repository_id, Some((&adding.0, adding.1)))
            .await
        {
            self.discard_upload(&row.uuid).await?;
            return Err(e);
        }
        self.store()
            .commit_upload(&row.uuid, size, digest)
            .await
            .map_err(upload_error)?;
        self.link_blob(row.repository_id, digest, size, Some(row.uuid.clone()))
            .await
    }

    /// Links a stored blob into a repository, removing the upload row if any.
    async fn link_blob(&self, repo_id: i64, digest: &Digest, size: u64, upload: Option<String>) -> Result<(), Error> {
        let now = crate::now_ms();
        let expires = now + self.settings().push_temp_tag_expiration_s * 1000;
        let (d, size) = (digest.to_string(), i64::try_from(size).unwrap_or(i64::MAX));
        let (store, handle, digest) = (self.store().clone(), tokio::runtime::Handle::current(), digest.clone());
        self.db()
            .write(move |c| {
                let (_, created) = queries::blobs::link_uploaded(c, repo_id, &d, size, now, expires)?;
                if created {
                    super::gc::confirm_new_blob(c, &handle, &store, &digest)?;
                }
                if let Some(u) = upload {
                    queries::uploads::delete(c, &u)?;
                }
                Ok::<_, Error>(())
            })
            .await
    }

    /// Pushes a whole blob in one request (`POST ?digest=`).
    pub async fn put_blob(&self, repo: &RepoName, digest: &Digest, body: ByteStream<'_>) -> Result<(), Error> {
        let status = self.start_upload(repo).await?;
        let result = self.finish_upload(repo, &status.uuid, digest, None, Some(body)).await;
        if result.is_err() {
            // Nobody else knows this upload, so nobody could resume it.
            if let Err(e) = self.discard_upload(&status.uuid).await {
                tracing::warn!(error = %e, upload = status.uuid, "removing a failed one-request upload failed; it is removed once stale");
            }
        }
        result
    }

    /// Cancels an upload. Its bytes are freed even when the database cannot
    /// be written (a full disk): the row is then removed once stale.
    pub async fn cancel_upload(&self, repo: &RepoName, uuid: &str) -> Result<(), Error> {
        self.upload_status(repo, uuid).await?;
        self.store().cancel_upload(uuid).await?;
        self.forget_upload(uuid).await;
        Ok(())
    }

    /// Removes an upload's bytes, then its row.
    pub(super) async fn discard_upload(&self, uuid: &str) -> Result<(), Error> {
        self.store().cancel_upload(uuid).await?;
        let u = uuid.to_owned();
        self.db()
            .write(move |c| Ok::<_, Error>(queries::uploads::delete(c, &u)?))
            .await?;
        Ok(())
    }

    /// Removes an upload's row, leaving it to the stale-upload cleanup when
    /// the database cannot be written now.
    async fn forget_upload(&self, uuid: &str) {
        let u = uuid.to_owned();
        let deleted = self
            .db()
            .write(move |c| Ok::<_, Error>(queries::uploads::delete(c, &u)?))
            .await;
        if let Err(e) = deleted {
            tracing::warn!(error = %e, upload = uuid, "removing an upload row failed; it is removed once stale");
        }
    }

    /// Drops whatever an upload holds beyond `offset` (bytes a failed request
    /// wrote), so they take no space; the next chunk would drop them anyway.
    async fn trim_upload(&self, uuid: &str, offset: u64) {
        let nothing: ByteStream<'static> = Box::pin(futures_util::stream::empty());
        match self.store().append_upload(uuid, offset, nothing).await {
            Ok(_) | Err(StorageError::NotFound) => {}
            Err(e) => tracing::warn!(error = %e, upload = uuid, "dropping a failed chunk's bytes failed"),
        }
    }

    /// Mounts a blob from another repository when that one holds it (the
    /// caller checked read access to `from`); otherwise starts an upload.
    pub async fn mount_blob(
        &self,
        repo: &RepoName,
        digest: &Digest,
        from: Option<&RepoName>,
    ) -> Result<MountOutcome, Error> {
        if let Some(from) = from {
            if let Ok(size) = self.stat_blob(from, digest).await {
                // A proxy cache's blob is a placeholder until first pulled:
                // only stored bytes are mounted.
                if matches!(self.store().stat(digest).await, Ok(Some(_))) {
                    let repo_id = self.repo_id(repo).await?;
                    self.link_blob(repo_id, digest, size, None).await?;
                    return Ok(MountOutcome::Mounted);
                }
            }
        }
        Ok(MountOutcome::Started(self.start_upload(repo).await?))
    }
}
