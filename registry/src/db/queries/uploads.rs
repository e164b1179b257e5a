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

/// Records appended bytes, only if nobody else advanced the upload meanwhile;
/// returns whether the row was updated.
pub fn advance(
    c: &mut DbConn,
    uuid: &str,
    from: i64,
    to: i64,
    sha_state: Option<Vec<u8>>,
    now: i64,
) -> QueryResult<bool> {
    diesel::update(blobupload::table)
        .filter(blobupload::uuid.eq(uuid))
        .filter(blobupload::byte_count.eq(from))
        .set((
            blobupload::byte_count.eq(to),
            blobupload::sha_state.eq(sha_state),
            blobupload::chunk_count.eq(blobupload::chunk_count + 1),
            blobupload::updated_ms.eq(now),
        ))
        .execute(c)
        .map(|n| n == 1)
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
