use diesel::dsl::exists;
use diesel::prelude::*;

use crate::db::models::Blob;
use crate::db::schema::{imagestorage, manifestblob, uploadedblob};
use crate::db::DbConn;
use crate::per_backend;

/// The blob with this digest, wherever it is used.
pub fn find(c: &mut DbConn, digest: &str) -> QueryResult<Option<Blob>> {
    imagestorage::table
        .filter(imagestorage::content_checksum.eq(digest))
        .select(Blob::as_select())
        .first(c)
        .optional()
}

/// The blob with this digest if the repository holds it (through a manifest
/// or an upload/mount).
pub fn find_in_repo(c: &mut DbConn, repo_id: i64, digest: &str) -> QueryResult<Option<Blob>> {
    let by_manifest = manifestblob::table
        .filter(manifestblob::repository_id.eq(repo_id))
        .filter(manifestblob::blob_id.eq(imagestorage::id));
    let by_upload = uploadedblob::table
        .filter(uploadedblob::repository_id.eq(repo_id))
        .filter(uploadedblob::blob_id.eq(imagestorage::id));
    imagestorage::table
        .filter(imagestorage::content_checksum.eq(digest))
        .filter(exists(by_manifest).or(exists(by_upload)))
        .select(Blob::as_select())
        .first(c)
        .optional()
}

/// Records a stored blob (once globally) and holds it in the repository until
/// `expires_at` or until a manifest references it. Safe against concurrent
/// pushes of the same blob and against garbage collection deleting the row
/// meanwhile. Returns the blob and whether this call created its row (the
/// caller must then make sure the bytes are still stored).
pub fn link_uploaded(
    c: &mut DbConn,
    repo_id: i64,
    digest: &str,
    size: i64,
    now: i64,
    expires_at: i64,
) -> QueryResult<(Blob, bool)> {
    let (blob, created) = ensure_row(c, digest, size, now)?;
    let link = (
        uploadedblob::repository_id.eq(repo_id),
        uploadedblob::blob_id.eq(blob.id),
        uploadedblob::uploaded_at.eq(now),
        uploadedblob::expires_at.eq(expires_at),
    );
    let renew = (
        uploadedblob::uploaded_at.eq(now),
        uploadedblob::expires_at.eq(expires_at),
    );
    per_backend!(c, |c| diesel::insert_into(uploadedblob::table)
        .values(link)
        .on_conflict((uploadedblob::repository_id, uploadedblob::blob_id))
        .do_update()
        .set(renew)
        .execute(c))?;
    Ok((blob, created))
}

/// The blob row of `digest`, created when absent and held until the
/// transaction ends; retried when garbage collection deletes it in between.
pub fn ensure_row(c: &mut DbConn, digest: &str, size: i64, now: i64) -> QueryResult<(Blob, bool)> {
    for _ in 0..3 {
        let row = (
            imagestorage::uuid.eq(uuid::Uuid::new_v4().to_string()),
            imagestorage::content_checksum.eq(digest),
            imagestorage::image_size.eq(size),
            imagestorage::created_ms.eq(now),
        );
        let inserted = per_backend!(c, |c| diesel::insert_into(imagestorage::table)
            .values(row)
            .on_conflict(imagestorage::content_checksum)
            .do_nothing()
            .execute(c))?;
        let Some(blob) = find(c, digest)? else { continue };
        if super::gc::hold_blobs(c, &[blob.id])?.is_empty() {
            continue;
        }
        return Ok((blob, inserted == 1));
    }
    Err(diesel::result::Error::NotFound)
}

/// The blobs among `digests` that the repository holds, as (digest, id).
pub fn ids_in_repo(c: &mut DbConn, repo_id: i64, digests: &[String]) -> QueryResult<Vec<(String, i64)>> {
    let mut found = Vec::with_capacity(digests.len());
    for d in digests {
        if let Some(b) = find_in_repo(c, repo_id, d)? {
            found.push((b.content_checksum, b.id));
        }
    }
    Ok(found)
}
