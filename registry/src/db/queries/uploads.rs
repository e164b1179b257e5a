use diesel::prelude::*;

use crate::db::models::Upload;
use crate::db::schema::blobupload;
use crate::db::DbConn;

pub fn create(c: &mut DbConn, repo_id: i64, uuid: &str, now: i64) -> QueryResult<()> {
    diesel::insert_into(blobupload::table)
        .values((
            blobupload::repository_id.eq(repo_id),
            blobupload::uuid.eq(uuid),
            blobupload::created_ms.eq(now),
            blobupload::updated_ms.eq(now),
        ))
        .execute(c)
        .map(drop)
}

pub fn find(c: &mut DbConn, repo_id: i64, uuid: &str) -> QueryResult<Option<Upload>> {
    blobupload::table
        .filter(blobupload::repository_id.eq(repo_id))
        .filter(blobupload::uuid.eq(uuid))
        .select(Upload::as_select())
        .first(c)
        .optional()
}

/// Takes the upload for one writer at `offset` until `until`: succeeds only
/// when the upload holds exactly `offset` bytes and nobody else holds it.
pub fn claim(c: &mut DbConn, uuid: &str, offset: i64, token: &str, now: i64, until: i64) -> QueryResult<bool> {
    diesel::update(blobupload::table)
        .filter(blobupload::uuid.eq(uuid))
        .filter(blobupload::byte_count.eq(offset))
        .filter(blobupload::lock_token.is_null().or(blobupload::locked_until_ms.lt(now)))
        .set((blobupload::lock_token.eq(token), blobupload::locked_until_ms.eq(until)))
        .execute(c)
        .map(|n| n == 1)
}

/// Records the bytes a claim holder appended and releases the claim; false
/// when the claim was lost meanwhile.
pub fn advance(c: &mut DbConn, uuid: &str, token: &str, to: i64, sha_state: Vec<u8>, now: i64) -> QueryResult<bool> {
    diesel::update(blobupload::table)
        .filter(blobupload::uuid.eq(uuid))
        .filter(blobupload::lock_token.eq(token))
        .set((
            blobupload::byte_count.eq(to),
            blobupload::sha_state.eq(Some(sha_state)),
            blobupload::chunk_count.eq(blobupload::chunk_count + 1),
            blobupload::updated_ms.eq(now),
            blobupload::lock_token.eq(None::<String>),
            blobupload::locked_until_ms.eq(None::<i64>),
        ))
        .execute(c)
        .map(|n| n == 1)
}

/// Gives a claim up without recording anything.
pub fn release(c: &mut DbConn, uuid: &str, token: &str) -> QueryResult<()> {
    diesel::update(blobupload::table)
        .filter(blobupload::uuid.eq(uuid))
        .filter(blobupload::lock_token.eq(token))
        .set((
            blobupload::lock_token.eq(None::<String>),
            blobupload::locked_until_ms.eq(None::<i64>),
        ))
        .execute(c)
        .map(drop)
}

pub fn delete(c: &mut DbConn, uuid: &str) -> QueryResult<bool> {
    diesel::delete(blobupload::table.filter(blobupload::uuid.eq(uuid)))
        .execute(c)
        .map(|n| n == 1)
}

/// Uploads untouched since `before`, oldest first.
pub fn stale(c: &mut DbConn, before: i64, limit: i64) -> QueryResult<Vec<String>> {
    blobupload::table
        .filter(blobupload::updated_ms.lt(before))
        .order(blobupload::updated_ms.asc())
        .select(blobupload::uuid)
        .limit(limit)
        .load(c)
}
