//! The security-scan status of manifests (`FEATURE_SECURITY_SCANNER`):
//! which manifests wait for the indexer, which one a worker is indexing,
//! and how each indexing ended. Workers claim rows by a conditional
//! update, so replicas never index one manifest at once.

use diesel::prelude::*;

use crate::db::queries::repositories::{find_view_by_id, RepositoryView};
use crate::db::schema::{manifest, manifestsecuritystatus as s, tag};
use crate::db::DbConn;

/// Waiting for the indexer.
pub const QUEUED: i32 = 3;
/// A worker is indexing it.
pub const IN_PROGRESS: i32 = 1;
/// Indexed: the scanner holds its report.
pub const COMPLETED: i32 = 2;
/// The scanner could not index it.
pub const FAILED: i32 = -1;
/// Not an image the scanner indexes (a list, an artifact, no layers).
pub const UNSUPPORTED: i32 = -2;
/// A layer is larger than `SECURITY_SCANNER_V4_INDEX_MAX_LAYER_SIZE`.
pub const LAYER_TOO_LARGE: i32 = -3;

/// The indexer version stored with each row (Clair v4).
const V4: i32 = 4;

/// One row, as the worker and the API read it.
#[derive(Debug, Clone, Queryable)]
pub struct Status {
    pub id: i64,
    pub manifest_id: i64,
    pub repository_id: i64,
    pub index_status: i32,
    pub error_json: String,
    pub last_indexed_ms: i64,
    pub indexer_hash: String,
}

const COLUMNS: (
    s::id,
    s::manifest_id,
    s::repository_id,
    s::index_status,
    s::error_json,
    s::last_indexed_ms,
    s::indexer_hash,
) = (
    s::id,
    s::manifest_id,
    s::repository_id,
    s::index_status,
    s::error_json,
    s::last_indexed_ms,
    s::indexer_hash,
);

/// Queues up to `limit` manifests that have no row yet, newest first, of
/// the namespaces in `only` when it is given
/// (`SECURITY_SCANNER_V4_NAMESPACE_WHITELIST`); returns how many were found.
pub fn enqueue_new(c: &mut DbConn, limit: i64, now: i64, only: Option<&[String]>) -> QueryResult<usize> {
    use crate::db::schema::{repository, users};
    let mut q = manifest::table
        .filter(diesel::dsl::not(diesel::dsl::exists(
            s::table.filter(s::manifest_id.eq(manifest::id)),
        )))
        .order(manifest::id.desc())
        .limit(limit)
        .select((manifest::id, manifest::repository_id))
        .into_boxed();
    if let Some(names) = only {
        let repos: Vec<i64> = repository::table
            .inner_join(users::table)
            .filter(users::username.eq_any(names.to_vec()))
            .select(repository::id)
            .load(c)?;
        q = q.filter(manifest::repository_id.eq_any(repos));
    }
    let fresh: Vec<(i64, i64)> = q.load(c)?;
    for (manifest_id, repository_id) in &fresh {
        let row = (
            s::manifest_id.eq(manifest_id),
            s::repository_id.eq(repository_id),
            s::index_status.eq(QUEUED),
            s::error_json.eq("{}"),
            s::last_indexed_ms.eq(now),
            s::indexer_hash.eq(""),
            s::indexer_version.eq(V4),
            s::metadata_json.eq("{}"),
        );
        crate::per_backend!(c, |c| diesel::insert_into(s::table)
            .values(row)
            .on_conflict(s::manifest_id)
            .do_nothing()
            .execute(c))?;
    }
    Ok(fresh.len())
}

/// Rows a worker may take now, most urgent first: queued ones, failed ones
/// indexed before `retry_before`, ones left in progress since before
/// `stale_before` (a worker died), and completed ones indexed under
/// another indexer state before `retry_before`.
pub fn claimable(
    c: &mut DbConn,
    limit: i64,
    retry_before: i64,
    stale_before: i64,
    indexer_hash: &str,
) -> QueryResult<Vec<Status>> {
    let base = || s::table.order(s::manifest_id.desc()).select(COLUMNS).into_boxed();
    let picks = [
        base().filter(s::index_status.eq(QUEUED)),
        base()
            .filter(s::index_status.eq(FAILED))
            .filter(s::last_indexed_ms.lt(retry_before)),
        base()
            .filter(s::index_status.eq(IN_PROGRESS))
            .filter(s::last_indexed_ms.lt(stale_before)),
        base()
            .filter(s::index_status.eq(COMPLETED))
            .filter(s::indexer_hash.ne(indexer_hash.to_owned()))
            .filter(s::last_indexed_ms.lt(retry_before)),
    ];
    let mut out: Vec<Status> = Vec::new();
    for pick in picks {
        let room = limit - out.len() as i64;
        if room <= 0 {
            break;
        }
        out.extend(pick.limit(room).load::<Status>(c)?);
    }
    Ok(out)
}

/// Takes `row` for indexing if no other worker took it since it was read.
pub fn claim(c: &mut DbConn, row: &Status, now: i64) -> QueryResult<bool> {
    let taken = diesel::update(
        s::table
            .filter(s::id.eq(row.id))
            .filter(s::index_status.eq(row.index_status))
            .filter(s::last_indexed_ms.eq(row.last_indexed_ms)),
    )
    .set((s::index_status.eq(IN_PROGRESS), s::last_indexed_ms.eq(now)))
    .execute(c)?;
    Ok(taken == 1)
}

/// Records how indexing ended.
pub fn finish(c: &mut DbConn, id: i64, status: i32, indexer_hash: &str, error_json: &str, now: i64) -> QueryResult<()> {
    diesel::update(s::table.find(id))
        .set((
            s::index_status.eq(status),
            s::indexer_hash.eq(indexer_hash),
            s::error_json.eq(error_json),
            s::last_indexed_ms.eq(now),
        ))
        .execute(c)
        .map(drop)
}

/// The status of one manifest, if the indexer has seen it.
pub fn of_manifest(c: &mut DbConn, manifest_id: i64) -> QueryResult<Option<Status>> {
    s::table
        .filter(s::manifest_id.eq(manifest_id))
        .select(COLUMNS)
        .first(c)
        .optional()
}

/// Forgets a manifest being deleted.
pub fn delete_of_manifest(c: &mut DbConn, manifest_id: i64) -> QueryResult<()> {
    diesel::delete(s::table.filter(s::manifest_id.eq(manifest_id)))
        .execute(c)
        .map(drop)
}

/// What the indexer reads of a manifest.
#[derive(Debug, Clone, Queryable)]
pub struct IndexedManifest {
    pub digest: String,
    pub media_type: String,
    pub manifest_bytes: Vec<u8>,
    pub repository_id: i64,
}

/// The manifest and its repository, if both still exist.
pub fn manifest_for_index(c: &mut DbConn, manifest_id: i64) -> QueryResult<Option<(IndexedManifest, RepositoryView)>> {
    let m: Option<IndexedManifest> = manifest::table
        .find(manifest_id)
        .select((
            manifest::digest,
            manifest::media_type,
            manifest::manifest_bytes,
            manifest::repository_id,
        ))
        .first(c)
        .optional()?;
    let Some(m) = m else { return Ok(None) };
    Ok(find_view_by_id(c, m.repository_id)?.map(|r| (m, r)))
}

/// The repositories whose live, visible tags point at a manifest with
/// `digest`, as (repository id, tag names).
pub fn tags_of_digest(c: &mut DbConn, digest: &str, now: i64) -> QueryResult<Vec<(i64, Vec<String>)>> {
    let rows: Vec<(i64, String)> = tag::table
        .inner_join(manifest::table)
        .filter(manifest::digest.eq(digest))
        .filter(super::tags::alive(now))
        .filter(tag::hidden.eq(false))
        .order((tag::repository_id, tag::name))
        .select((tag::repository_id, tag::name))
        .load(c)?;
    let mut out: Vec<(i64, Vec<String>)> = Vec::new();
    for (repo, name) in rows {
        match out.last_mut() {
            Some((r, names)) if *r == repo => names.push(name),
            _ => out.push((repo, vec![name])),
        }
    }
    Ok(out)
}
