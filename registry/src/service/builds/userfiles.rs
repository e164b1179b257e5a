//! User files: build contexts dropped through `/api/v1/filedrop/` and
//! uploaded once to `/userfiles/{file_id}`, stored under `userfiles/`.

use std::sync::{Arc, Mutex};

use futures_util::{StreamExt, TryStreamExt};
use sha2::{Digest as _, Sha256};

use super::super::{Error, Registry};
use crate::db::models::Account;
use crate::db::queries::builds as q;
use crate::storage::ByteStream;

/// Where a user file's bytes are stored.
pub fn userfile_key(file_id: &str) -> String {
    format!("userfiles/{file_id}")
}

fn file_invalid(id: &str) -> Error {
    Error::InvalidRequest(format!("File {id} could not be found or is invalid"))
}

impl Registry {
    /// Issues a file id the caller may upload one file to.
    pub async fn create_userfile(&self, owner: &Account, mime_type: &str) -> Result<String, Error> {
        let uuid = uuid::Uuid::new_v4().to_string();
        let (id, owner_id, mime, now) = (uuid.clone(), owner.id, mime_type.to_owned(), crate::now_ms());
        self.db()
            .write(move |c| Ok::<_, Error>(q::insert_userfile(c, &id, owner_id, &mime, now)?))
            .await?;
        Ok(uuid)
    }

    /// Claims an issued, never uploaded file for its one upload; `NotFound`
    /// for other ids.
    pub async fn claim_userfile(&self, file_id: &str) -> Result<(), Error> {
        let (id, now) = (file_id.to_owned(), crate::now_ms());
        let claimed = self
            .db()
            .write(move |c| Ok::<_, Error>(q::claim_userfile_upload(c, &id, now)?))
            .await?;
        if claimed {
            Ok(())
        } else {
            Err(Error::NotFound("Not Found".into()))
        }
    }

    /// Stores the bytes of a claimed file as they arrive; on failure the
    /// claim is released.
    pub async fn store_userfile(&self, file_id: &str, body: ByteStream<'_>) -> Result<(), Error> {
        let hasher = Arc::new(Mutex::new(Sha256::new()));
        let feed = hasher.clone();
        let body = body
            .inspect_ok(move |chunk| {
                if let Ok(mut h) = feed.lock() {
                    h.update(chunk);
                }
            })
            .boxed();
        let size = match self.store().put_object_stream(&userfile_key(file_id), body).await {
            Ok(size) => size,
            Err(e) => {
                self.release_userfile(file_id).await;
                return Err(e.into());
            }
        };
        let digest = hasher.lock().map(|h| h.clone().finalize()).unwrap_or_default();
        let checksum = hex::encode(digest);
        let (id, size) = (file_id.to_owned(), i64::try_from(size).unwrap_or(i64::MAX));
        self.db()
            .write(move |c| Ok::<_, Error>(q::finish_userfile_upload(c, &id, size, &checksum)?))
            .await?;
        Ok(())
    }

    /// Gives a claimed file back after its upload failed.
    pub async fn release_userfile(&self, file_id: &str) {
        let id = file_id.to_owned();
        if let Err(e) = self
            .db()
            .write(move |c| Ok::<_, Error>(q::release_userfile_upload(c, &id)?))
            .await
        {
            tracing::warn!(error = %e, "releasing a failed user file upload");
        }
    }

    /// The display name of a build of an uploaded file: the start of its
    /// checksum. The file must be uploaded and belong to the caller.
    pub(super) async fn userfile_name(&self, caller: &Account, file_id: &str) -> Result<String, Error> {
        let id = file_id.to_owned();
        let file = self.db().read(move |c| Ok(q::find_userfile(c, &id)?)).await?;
        match file {
            Some(f) if f.owner_id == caller.id && f.size.is_some() => {
                Ok(f.checksum.map(|s| s.chars().take(7).collect()).unwrap_or_default())
            }
            _ => Err(file_invalid(file_id)),
        }
    }

    /// The bytes of an uploaded file; `NotFound` until its upload completed.
    pub async fn open_userfile(&self, file_id: &str) -> Result<ByteStream<'static>, Error> {
        let id = file_id.to_owned();
        let file = self.db().read(move |c| Ok(q::find_userfile(c, &id)?)).await?;
        match file {
            Some(f) if f.size.is_some() => Ok(self.store().read_object(&userfile_key(file_id)).await?),
            _ => Err(Error::NotFound("Not Found".into())),
        }
    }
}
