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

/// A write claim: who takes it, and until when.
pub struct Claim<'a> {
    pub token: &'a str,
    pub holder: &'a str,
    pub until: i64,
}

/// Whose claim a new claim may replace.
pub enum Replacing<'a> {
    /// None, or one whose lease ended before `now`.
    Lapsed { now: i64 },
    /// The claim of this token (whose holder is known to be gone).
    Token(&'a str),
}

/// Takes the upload for one writer at `offset`: succeeds only when the
/// upload holds exactly `offset` bytes and its current claim, if any, is
/// one `replacing` allows; false when the upload moved on or is held.
pub fn claim(
    c: &mut DbConn,
    uuid: &str,
    offset: i64,
    replacing: Replacing<'_>,
    claim: &Claim<'_>,
) -> QueryResult<bool> {
    let update = diesel::update(blobupload::table)
        .filter(blobupload::uuid.eq(uuid))
        .filter(blobupload::byte_count.eq(offset))
        .into_boxed();
    let update = match replacing {
        Replacing::Lapsed { now } => {
            update.filter(blobupload::lock_token.is_null().or(blobupload::locked_until_ms.lt(now)))
        }
        Replacing::Token(token) => update.filter(blobupload::lock_token.eq(token)),
    };
    update
        .set((
            blobupload::lock_token.eq(claim.token),
            blobupload::lock_holder.eq(claim.holder),
            blobupload::locked_until_ms.eq(claim.until),
        ))
        .execute(c)
        .map(|n| n == 1)
}

/// An upload's size, and the token and holder of its claim if it has one.
pub type ClaimState = (i64, Option<String>, Option<String>);

/// The [`ClaimState`] of an upload.
pub fn claim_state(c: &mut DbConn, uuid: &str) -> QueryResult<Option<ClaimState>> {
    blobupload::table
        .filter(blobupload::uuid.eq(uuid))
        .select((blobupload::byte_count, blobupload::lock_token, blobupload::lock_holder))
        .first(c)
        .optional()
}

/// Extends a held claim's lease to `until`; false when the claim was lost.
pub fn renew(c: &mut DbConn, uuid: &str, token: &str, until: i64) -> QueryResult<bool> {
    diesel::update(blobupload::table)
        .filter(blobupload::uuid.eq(uuid))
        .filter(blobupload::lock_token.eq(token))
        .set(blobupload::locked_until_ms.eq(until))
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
            blobupload::lock_holder.eq(None::<String>),
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
            blobupload::lock_holder.eq(None::<String>),
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

/// Those of `uuids` that have an upload row.
pub fn existing(c: &mut DbConn, uuids: &[String]) -> QueryResult<Vec<String>> {
    blobupload::table
        .filter(blobupload::uuid.eq_any(uuids))
        .select(blobupload::uuid)
        .load(c)
}
