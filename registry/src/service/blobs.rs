//! Blob reads: a repository serves a blob only when it holds it.

use std::ops::Range;

use super::{Error, Registry};
use crate::db::queries;
use crate::oci::{Digest, RepoName};
use crate::storage::{ByteStream, StorageError};

/// A requested byte range: `start-end` (inclusive), `start-`, or `-suffix`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobRange {
    From { start: u64, end: Option<u64> },
    Suffix(u64),
}

impl BlobRange {
    /// The half-open range within a blob of `size`, or `None` if unsatisfiable.
    pub fn resolve(self, size: u64) -> Option<Range<u64>> {
        match self {
            BlobRange::From { start, end } => {
                let end = end.map_or(size, |e| e.saturating_add(1).min(size));
                (start < end).then_some(start..end)
            }
            BlobRange::Suffix(n) => (n > 0 && size > 0).then(|| size.saturating_sub(n)..size),
        }
    }
}

/// A blob opened for reading.
pub struct OpenBlob {
    pub size: u64,
    /// The part being served, when a range was asked for.
    pub range: Option<Range<u64>>,
    pub body: ByteStream<'static>,
}

impl Registry {
    /// The size of a blob the repository holds.
    pub async fn stat_blob(&self, repo: &RepoName, digest: &Digest) -> Result<u64, Error> {
        let repo_id = self.repo_id(repo).await?;
        let d = digest.to_string();
        let blob = self
            .db()
            .read(move |c| Ok(queries::blobs::find_in_repo(c, repo_id, &d)?))
            .await?
            .ok_or(Error::BlobUnknown)?;
        u64::try_from(blob.image_size).map_err(|_| Error::BlobUnknown)
    }

    /// Opens a blob the repository holds, whole or a range of it.
    pub async fn open_blob(
        &self,
        repo: &RepoName,
        digest: &Digest,
        range: Option<BlobRange>,
    ) -> Result<OpenBlob, Error> {
        let size = self.stat_blob(repo, digest).await?;
        let range = match range {
            None => None,
            Some(r) => Some(r.resolve(size).ok_or(Error::BlobRangeInvalid(size))?),
        };
        let body = self.store().read(digest, range.clone()).await.map_err(|e| match e {
            StorageError::NotFound => Error::BlobUnknown,
            other => Error::Storage(other),
        })?;
        Ok(OpenBlob { size, range, body })
    }
}

#[cfg(test)]
mod tests {
    use super::BlobRange;

    #[test]
    fn ranges_resolve_within_the_blob() {
        assert_eq!(BlobRange::From { start: 0, end: Some(9) }.resolve(100), Some(0..10));
        assert_eq!(BlobRange::From { start: 90, end: None }.resolve(100), Some(90..100));
        assert_eq!(
            BlobRange::From {
                start: 90,
                end: Some(500)
            }
            .resolve(100),
            Some(90..100)
        );
        assert_eq!(BlobRange::Suffix(10).resolve(100), Some(90..100));
        assert_eq!(BlobRange::From { start: 100, end: None }.resolve(100), None);
        assert_eq!(BlobRange::From { start: 5, end: Some(4) }.resolve(100), None);
    }
}
