//! Garbage collection's statements. Each runs inside the caller's
//! transaction; the `delete_*_if_unreferenced` ones re-check every reference
//! under a lock, so what a listing found may have become used again meanwhile.
//!
//! Locks: on PostgreSQL a blob row is taken `FOR UPDATE SKIP LOCKED` before it
//! is deleted, and writers that start referencing a blob take it `FOR KEY
//! SHARE` (inserting a `manifestblob`/`uploadedblob` does so through its
//! foreign key too), so the two exclude each other; manifests are deleted
//! under the repository lock that manifest pushes take. SQLite has one writer.

use diesel::dsl::{exists, not};
use diesel::prelude::*;

use super::repositories::MARKED_FOR_DELETION;
use crate::db::schema::{
    deletedblob, imagestorage, manifest, manifestblob, manifestchild, repository, tag, uploadedblob, users,
};
use crate::db::DbConn;

diesel::alias!(manifest as subject_manifest: SubjectManifest);

/// The distinct time-machine windows (seconds) of namespaces owning repositories.
pub fn namespace_windows(c: &mut DbConn) -> QueryResult<Vec<i64>> {
    users::table
        .filter(exists(
            repository::table.filter(repository::namespace_user_id.eq(users::id)),
        ))
        .select(users::removed_tag_expiration_s)
        .distinct()
        .load(c)
}

/// Tag rows no longer recoverable at `now` in namespaces whose window is
/// `window_s`, hidden (temporary) tags past their end, and every tag of a
/// repository marked for deletion.
pub fn unrecoverable_tags(c: &mut DbConn, now: i64, window_s: i64, limit: i64) -> QueryResult<Vec<i64>> {
    let cutoff = now.saturating_sub(window_s.saturating_mul(1000));
    tag::table
        .inner_join(repository::table.on(repository::id.eq(tag::repository_id)))
        .inner_join(users::table.on(users::id.eq(repository::namespace_user_id)))
        .filter(users::removed_tag_expiration_s.eq(window_s))
        .filter(
            tag::lifetime_end_ms
                .le(cutoff)
                .or(tag::hidden.eq(true).and(tag::lifetime_end_ms.le(now)))
                .or(repository::state.eq(MARKED_FOR_DELETION)),
        )
        .select(tag::id)
        .limit(limit)
        .load(c)
}

pub fn delete_tags(c: &mut DbConn, ids: &[i64]) -> QueryResult<usize> {
    diesel::delete(tag::table.filter(tag::id.eq_any(ids))).execute(c)
}

/// Drops the upload holds of repositories marked for deletion.
pub fn release_deleted_repo_uploads(c: &mut DbConn) -> QueryResult<usize> {
    let deleted = repository::table
        .filter(repository::state.eq(MARKED_FOR_DELETION))
        .select(repository::id);
    diesel::delete(uploadedblob::table.filter(uploadedblob::repository_id.eq_any(deleted))).execute(c)
}

/// Alive, listed, mutable tags whose name may be a cosign sibling tag
/// (`sha256-…`), as (id, repository, name), in id order after `after`; the
/// caller checks the exact name.
pub fn cosign_tag_candidates(c: &mut DbConn, now: i64, after: i64, limit: i64) -> QueryResult<Vec<(i64, i64, String)>> {
    tag::table
        .filter(tag::hidden.eq(false))
        .filter(tag::immutable.eq(false))
        .filter(tag::name.like("sha256-%"))
        .filter(super::tags::alive(now))
        .filter(tag::id.gt(after))
        .select((tag::id, tag::repository_id, tag::name))
        .order(tag::id.asc())
        .limit(limit)
        .load(c)
}

/// What holds a manifest at some time.
pub struct Holders {
    /// Alive tags as (name, hidden).
    pub tags: Vec<(String, bool)>,
    /// Whether it is the child of a manifest.
    pub is_child: bool,
}

/// What holds the repository's manifest of this digest at `now`; `None`
/// when the repository has no such manifest.
pub fn manifest_holders(c: &mut DbConn, repo_id: i64, digest: &str, now: i64) -> QueryResult<Option<Holders>> {
    let id: Option<i64> = manifest::table
        .filter(manifest::repository_id.eq(repo_id))
        .filter(manifest::digest.eq(digest))
        .select(manifest::id)
        .first(c)
        .optional()?;
    let Some(id) = id else { return Ok(None) };
    let tags = tag::table
        .filter(tag::manifest_id.eq(id))
        .filter(super::tags::alive(now))
        .select((tag::name, tag::hidden))
        .load(c)?;
    let is_child = diesel::select(exists(
        manifestchild::table.filter(manifestchild::child_manifest_id.eq(id)),
    ))
    .get_result(c)?;
    Ok(Some(Holders { tags, is_child }))
}

/// Manifests that no tag row (alive or recoverable), no parent manifest and
/// no subject holds, as (id, repository, digest), in id order after `after`;
/// `only` narrows the search to one manifest. A referrer is held while its
/// subject exists in its repository; a subject is not held by its referrers,
/// so a signed image goes first and its referrers on the next round.
pub fn unreferenced_manifests(
    c: &mut DbConn,
    after: i64,
    only: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<(i64, i64, String)>> {
    let tagged = tag::table.filter(tag::manifest_id.eq(manifest::id));
    let parent = manifestchild::table.filter(manifestchild::child_manifest_id.eq(manifest::id));
    // A NULL subject matches no digest.
    let subject = subject_manifest
        .filter(
            subject_manifest
                .field(manifest::repository_id)
                .eq(manifest::repository_id),
        )
        .filter(manifest::subject.eq(subject_manifest.field(manifest::digest).nullable()));
    let mut q = manifest::table
        .filter(not(exists(tagged)))
        .filter(not(exists(parent)))
        .filter(not(exists(subject)))
        .filter(manifest::id.gt(after))
        .select((manifest::id, manifest::repository_id, manifest::digest))
        .order(manifest::id.asc())
        .limit(limit)
        .into_boxed();
    if let Some(id) = only {
        q = q.filter(manifest::id.eq(id));
    }
    q.load(c)
}

/// Deletes the manifest with its blob and child links when still nothing
/// holds it. The caller holds the repository lock.
pub fn delete_manifest_if_unreferenced(c: &mut DbConn, id: i64) -> QueryResult<bool> {
    if unreferenced_manifests(c, 0, Some(id), 1)?.is_empty() {
        return Ok(false);
    }
    super::quota::on_manifest_removed(c, id, crate::now_ms())?;
    diesel::delete(manifestblob::table.filter(manifestblob::manifest_id.eq(id))).execute(c)?;
    diesel::delete(manifestchild::table.filter(manifestchild::manifest_id.eq(id))).execute(c)?;
    super::labels::delete_of_manifest(c, id)?;
    super::secscan::delete_of_manifest(c, id)?;
    diesel::delete(manifest::table.find(id)).execute(c)?;
    Ok(true)
}

/// Blob rows no manifest references and no unexpired upload holds, as (id,
/// digest) in id order after `after`.
pub fn unreferenced_blobs(
    c: &mut DbConn,
    now: i64,
    after: i64,
    only: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<(i64, String)>> {
    let by_manifest = manifestblob::table.filter(manifestblob::blob_id.eq(imagestorage::id));
    let by_upload = uploadedblob::table
        .filter(uploadedblob::blob_id.eq(imagestorage::id))
        .filter(uploadedblob::expires_at.gt(now));
    let mut q = imagestorage::table
        .filter(not(exists(by_manifest)))
        .filter(not(exists(by_upload)))
        .filter(imagestorage::id.gt(after))
        .select((imagestorage::id, imagestorage::content_checksum))
        .order(imagestorage::id.asc())
        .limit(limit)
        .into_boxed();
    if let Some(id) = only {
        q = q.filter(imagestorage::id.eq(id));
    }
    q.load(c)
}

/// Deletes the blob row when, under its lock, still nothing references it,
/// and queues its bytes for deletion; returns the digest when deleted. A row
/// another transaction holds is left for a later pass.
pub fn delete_blob_if_unreferenced(c: &mut DbConn, id: i64, now: i64) -> QueryResult<Option<String>> {
    let locked: Option<String> = match c {
        DbConn::Pg(pg) => imagestorage::table
            .find(id)
            .select(imagestorage::content_checksum)
            .for_update()
            .skip_locked()
            .first(pg)
            .optional()?,
        DbConn::Sqlite(_) => Some(String::new()),
    };
    if locked.is_none() || unreferenced_blobs(c, now, 0, Some(id), 1)?.is_empty() {
        return Ok(None);
    }
    let digest: String = imagestorage::table
        .find(id)
        .select(imagestorage::content_checksum)
        .first(c)?;
    diesel::delete(uploadedblob::table.filter(uploadedblob::blob_id.eq(id))).execute(c)?;
    diesel::delete(imagestorage::table.find(id)).execute(c)?;
    diesel::insert_into(deletedblob::table)
        .values((deletedblob::digest.eq(&digest), deletedblob::deleted_ms.eq(now)))
        .execute(c)?;
    Ok(Some(digest))
}

/// Bytes waiting to be deleted, as (queue id, digest), oldest first after `after`.
pub fn pending_deletions(c: &mut DbConn, after: i64, limit: i64) -> QueryResult<Vec<(i64, String)>> {
    deletedblob::table
        .filter(deletedblob::id.gt(after))
        .select((deletedblob::id, deletedblob::digest))
        .order(deletedblob::id.asc())
        .limit(limit)
        .load(c)
}

/// Takes one queued deletion for this transaction; `None` when another
/// process has it or it is done.
pub fn claim_deletion(c: &mut DbConn, id: i64) -> QueryResult<Option<String>> {
    let q = deletedblob::table.find(id).select(deletedblob::digest);
    match c {
        DbConn::Pg(pg) => q.for_update().skip_locked().first(pg).optional(),
        DbConn::Sqlite(_) => q.first(c).optional(),
    }
}

pub fn forget_deletion(c: &mut DbConn, id: i64) -> QueryResult<()> {
    diesel::delete(deletedblob::table.find(id)).execute(c).map(drop)
}

/// Whether any blob row has this digest.
pub fn blob_row_exists(c: &mut DbConn, digest: &str) -> QueryResult<bool> {
    diesel::select(exists(
        imagestorage::table.filter(imagestorage::content_checksum.eq(digest)),
    ))
    .get_result(c)
}

/// Cancels the queued deletions of a digest a push is storing again, waiting
/// for a drain that is deleting its bytes right now (PostgreSQL).
pub fn cancel_deletions(c: &mut DbConn, digest: &str) -> QueryResult<usize> {
    if let DbConn::Pg(pg) = c {
        deletedblob::table
            .filter(deletedblob::digest.eq(digest))
            .select(deletedblob::id)
            .for_update()
            .load::<i64>(pg)?;
    }
    diesel::delete(deletedblob::table.filter(deletedblob::digest.eq(digest))).execute(c)
}

/// Of `ids`, the blob rows that still exist, held (`FOR KEY SHARE` on
/// PostgreSQL) until the transaction ends so garbage collection cannot
/// delete them meanwhile.
pub fn hold_blobs(c: &mut DbConn, ids: &[i64]) -> QueryResult<Vec<i64>> {
    let q = imagestorage::table
        .filter(imagestorage::id.eq_any(ids.to_vec()))
        .select(imagestorage::id);
    match c {
        DbConn::Pg(pg) => q.for_key_share().load(pg),
        DbConn::Sqlite(_) => q.load(c),
    }
}
