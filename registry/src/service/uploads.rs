//! Blob uploads. Upload state lives in the database (offset, saved hasher
//! state) and the bytes in the store, so any process can continue an upload.
//! The digest is computed here while bytes stream and never taken from the
//! client.

use futures_util::{StreamExt, TryStreamExt};

use super::{Error, Registry};
use crate::db::queries;
use crate::db::DbError;
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

impl Registry {
    /// Starts an upload session, creating the repository on first push.
    pub async fn start_upload(&self, repo: &RepoName) -> Result<UploadStatus, Error> {
        let repo_id = self.repo_id_for_push(repo).await?;
        let uuid = uuid::Uuid::new_v4().to_string();
        self.store().create_upload(&uuid).await?;
        let (u, now) = (uuid.clone(), crate::now_ms());
        self.db()
            .write(move |c| Ok::<_, Error>(queries::uploads::create(c, repo_id, &u, now)?))
            .await?;
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

    /// Appends a chunk. `start`, when the client sent `Content-Range`, must be
    /// the current offset.
    pub async fn append_upload(
        &self,
        repo: &RepoName,
        uuid: &str,
        start: Option<u64>,
        body: ByteStream<'_>,
    ) -> Result<UploadStatus, Error> {
        let repo_id = self.repo_id(repo).await.map_err(|_| Error::BlobUploadUnknown)?;
        let u = uuid.to_owned();
        let row = self
            .db()
            .read(move |c| Ok(queries::uploads::find(c, repo_id, &u)?))
            .await?
            .ok_or(Error::BlobUploadUnknown)?;
        let offset = to_u64(row.byte_count);
        if start.is_some_and(|s| s != offset) {
            return Err(Error::UploadRangeInvalid(offset));
        }
        let mut hasher = match row.sha_state.as_deref().and_then(Hasher::restore) {
            Some(h) => h,
            None => self.rehash(uuid, offset, Algorithm::Sha256).await?,
        };
        let hashed = body
            .map_ok(|chunk| {
                hasher.update(&chunk);
                chunk
            })
            .boxed();
        let written = self
            .store()
            .append_upload(uuid, offset, hashed)
            .await
            .map_err(upload_error)?;
        let new_offset = offset + written;
        let (u, state, now) = (uuid.to_owned(), hasher.save(), crate::now_ms());
        let (from, to) = (row.byte_count, i64::try_from(new_offset).unwrap_or(i64::MAX));
        let advanced = self
            .db()
            .write(move |c| Ok::<_, Error>(queries::uploads::advance(c, &u, from, to, Some(state), now)?))
            .await?;
        if !advanced {
            // A concurrent request moved the upload on; ours does not count.
            let now_at = self.upload_status(repo, uuid).await?.offset;
            return Err(Error::UploadRangeInvalid(now_at));
        }
        Ok(UploadStatus {
            uuid: uuid.to_owned(),
            offset: new_offset,
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
    /// to `digest`, else nothing of it is kept.
    pub async fn finish_upload(
        &self,
        repo: &RepoName,
        uuid: &str,
        digest: &Digest,
        last: Option<ByteStream<'_>>,
    ) -> Result<(), Error> {
        let status = match last {
            Some(body) => self.append_upload(repo, uuid, None, body).await?,
            None => self.upload_status(repo, uuid).await?,
        };
        let repo_id = self.repo_id(repo).await?;
        let u = uuid.to_owned();
        let row = self
            .db()
            .read(move |c| Ok(queries::uploads::find(c, repo_id, &u)?))
            .await?
            .ok_or(Error::BlobUploadUnknown)?;
        let saved = row
            .sha_state
            .as_deref()
            .and_then(Hasher::restore)
            .filter(|h| h.algorithm() == digest.algorithm());
        let hasher = match saved {
            Some(h) => h,
            None => self.rehash(uuid, status.offset, digest.algorithm()).await?,
        };
        if hasher.finish() != *digest {
            self.discard_upload(uuid).await?;
            return Err(Error::DigestInvalid);
        }
        self.store()
            .commit_upload(uuid, status.offset, digest)
            .await
            .map_err(upload_error)?;
        self.link_blob(repo_id, digest, status.offset, Some(uuid.to_owned()))
            .await
    }

    /// Links a stored blob into a repository, removing the upload row if any.
    async fn link_blob(&self, repo_id: i64, digest: &Digest, size: u64, upload: Option<String>) -> Result<(), Error> {
        let now = crate::now_ms();
        let expires = now + self.settings().push_temp_tag_expiration_s * 1000;
        let (d, size) = (digest.to_string(), i64::try_from(size).unwrap_or(i64::MAX));
        self.db()
            .write(move |c| {
                queries::blobs::link_uploaded(c, repo_id, &d, size, now, expires)?;
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
        self.finish_upload(repo, &status.uuid, digest, Some(body)).await
    }

    /// Cancels an upload.
    pub async fn cancel_upload(&self, repo: &RepoName, uuid: &str) -> Result<(), Error> {
        self.upload_status(repo, uuid).await?;
        self.discard_upload(uuid).await
    }

    async fn discard_upload(&self, uuid: &str) -> Result<(), Error> {
        let u = uuid.to_owned();
        self.db()
            .write(move |c| Ok::<_, Error>(queries::uploads::delete(c, &u)?))
            .await?;
        self.store().cancel_upload(uuid).await?;
        Ok(())
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
                let repo_id = self.repo_id_for_push(repo).await?;
                self.link_blob(repo_id, digest, size, None).await?;
                return Ok(MountOutcome::Mounted);
            }
        }
        Ok(MountOutcome::Started(self.start_upload(repo).await?))
    }

    /// Removes uploads nobody touched for `upload_stale_after_s`; returns how many.
    pub async fn clean_stale_uploads(&self) -> Result<usize, Error> {
        let before = crate::now_ms() - self.settings().upload_stale_after_s * 1000;
        let stale = self
            .db()
            .read(move |c| Ok(queries::uploads::stale(c, before, 500)?))
            .await
            .map_err(|e: DbError| Error::Db(e))?;
        for uuid in &stale {
            self.discard_upload(uuid).await?;
        }
        Ok(stale.len())
    }
}
