//! Namespace quotas, their limits and the sizes they are checked against
//! (quay-api.md §1.12, §3.4).
//!
//! Sizes count each blob once per repository and once per namespace. A size
//! row exists only once its total was computed; from then on every manifest a
//! push creates and every manifest garbage collection deletes changes it in
//! the same transaction. Writers lock the namespace row (PostgreSQL `FOR
//! UPDATE`; SQLite serializes writers), and a missing row is computed under an
//! advisory lock that garbage collection also takes, so a total is never
//! computed from a snapshot a concurrent deletion has already changed.

use diesel::dsl::{exists, not};
use diesel::prelude::*;

use crate::db::schema::{
    imagestorage, manifestblob, quotaevent, quotalimits, quotanamespacesize, quotarepositorysize, repository,
    userorganizationquota,
};
use crate::db::DbConn;
use crate::per_backend;

/// Advisory-lock class of namespace size computations (the second key is the
/// namespace id).
const SIZE_LOCK_CLASS: i32 = 0x5155_4f54;

#[derive(Debug, Clone, Queryable)]
pub struct QuotaRow {
    pub id: i64,
    pub namespace_id: i64,
    pub limit_bytes: i64,
}

#[derive(Debug, Clone, Queryable)]
pub struct LimitRow {
    pub id: i64,
    pub quota_id: i64,
    pub quota_type: String,
    pub percent_of_limit: i32,
}

pub fn quota_of(c: &mut DbConn, namespace_id: i64) -> QueryResult<Option<QuotaRow>> {
    userorganizationquota::table
        .filter(userorganizationquota::namespace_id.eq(namespace_id))
        .first(c)
        .optional()
}

pub fn quotas_of(c: &mut DbConn, namespace_ids: &[i64]) -> QueryResult<Vec<QuotaRow>> {
    userorganizationquota::table
        .filter(userorganizationquota::namespace_id.eq_any(namespace_ids.to_vec()))
        .load(c)
}

pub fn create_quota(c: &mut DbConn, namespace_id: i64, limit_bytes: i64) -> QueryResult<i64> {
    diesel::insert_into(userorganizationquota::table)
        .values((
            userorganizationquota::namespace_id.eq(namespace_id),
            userorganizationquota::limit_bytes.eq(limit_bytes),
        ))
        .execute(c)?;
    quota_of(c, namespace_id)?
        .map(|q| q.id)
        .ok_or(diesel::result::Error::NotFound)
}

pub fn set_quota_limit(c: &mut DbConn, quota_id: i64, limit_bytes: i64) -> QueryResult<()> {
    diesel::update(userorganizationquota::table.find(quota_id))
        .set(userorganizationquota::limit_bytes.eq(limit_bytes))
        .execute(c)
        .map(drop)
}

pub fn delete_quota(c: &mut DbConn, quota_id: i64) -> QueryResult<()> {
    diesel::delete(quotalimits::table.filter(quotalimits::quota_id.eq(quota_id))).execute(c)?;
    diesel::delete(userorganizationquota::table.find(quota_id)).execute(c)?;
    Ok(())
}

/// The limits of these quotas, in id order.
pub fn limits_of(c: &mut DbConn, quota_ids: &[i64]) -> QueryResult<Vec<LimitRow>> {
    quotalimits::table
        .filter(quotalimits::quota_id.eq_any(quota_ids.to_vec()))
        .order(quotalimits::id.asc())
        .load(c)
}

pub fn create_limit(c: &mut DbConn, quota_id: i64, quota_type: &str, percent: i32) -> QueryResult<()> {
    diesel::insert_into(quotalimits::table)
        .values((
            quotalimits::quota_id.eq(quota_id),
            quotalimits::quota_type.eq(quota_type),
            quotalimits::percent_of_limit.eq(percent),
        ))
        .execute(c)
        .map(drop)
}

pub fn update_limit(c: &mut DbConn, limit_id: i64, quota_type: &str, percent: i32) -> QueryResult<()> {
    diesel::update(quotalimits::table.find(limit_id))
        .set((
            quotalimits::quota_type.eq(quota_type),
            quotalimits::percent_of_limit.eq(percent),
        ))
        .execute(c)
        .map(drop)
}

pub fn delete_limit(c: &mut DbConn, limit_id: i64) -> QueryResult<()> {
    diesel::delete(quotalimits::table.find(limit_id)).execute(c).map(drop)
}

/// The counted size of a namespace and whether its backfill completed.
pub fn namespace_size(c: &mut DbConn, namespace_id: i64) -> QueryResult<Option<i64>> {
    quotanamespacesize::table
        .filter(quotanamespacesize::namespace_user_id.eq(namespace_id))
        .select(quotanamespacesize::size_bytes)
        .first(c)
        .optional()
}

/// Counted sizes of these namespaces, as (namespace id, bytes).
pub fn namespace_sizes(c: &mut DbConn, namespace_ids: &[i64]) -> QueryResult<Vec<(i64, i64)>> {
    quotanamespacesize::table
        .filter(quotanamespacesize::namespace_user_id.eq_any(namespace_ids.to_vec()))
        .select((quotanamespacesize::namespace_user_id, quotanamespacesize::size_bytes))
        .load(c)
}

/// Counted sizes of these repositories, as (repository id, bytes).
pub fn repository_sizes(c: &mut DbConn, repo_ids: &[i64]) -> QueryResult<Vec<(i64, i64)>> {
    quotarepositorysize::table
        .filter(quotarepositorysize::repository_id.eq_any(repo_ids.to_vec()))
        .select((quotarepositorysize::repository_id, quotarepositorysize::size_bytes))
        .load(c)
}

/// The sum of the distinct blobs manifests of the namespace reference.
pub fn compute_namespace_size(c: &mut DbConn, namespace_id: i64) -> QueryResult<i64> {
    let repos = repository::table
        .filter(repository::namespace_user_id.eq(namespace_id))
        .select(repository::id);
    let blobs = manifestblob::table
        .filter(manifestblob::repository_id.eq_any(repos))
        .select(manifestblob::blob_id);
    let sizes: Vec<i64> = imagestorage::table
        .filter(imagestorage::id.eq_any(blobs))
        .select(imagestorage::image_size)
        .load(c)?;
    Ok(sizes.iter().sum())
}

/// The sum of the distinct blobs manifests of the repository reference.
pub fn compute_repository_size(c: &mut DbConn, repo_id: i64) -> QueryResult<i64> {
    let blobs = manifestblob::table
        .filter(manifestblob::repository_id.eq(repo_id))
        .select(manifestblob::blob_id);
    let sizes: Vec<i64> = imagestorage::table
        .filter(imagestorage::id.eq_any(blobs))
        .select(imagestorage::image_size)
        .load(c)?;
    Ok(sizes.iter().sum())
}

/// Serializes size computations of one namespace until the transaction ends
/// (PostgreSQL; SQLite writers are serialized already).
fn lock_computation(c: &mut DbConn, namespace_id: i64) -> QueryResult<()> {
    if let DbConn::Pg(pg) = c {
        // Namespace ids beyond i32 share a key with another namespace, which
        // only makes them wait for each other.
        let key = namespace_id as i32;
        diesel::sql_query("SELECT pg_advisory_xact_lock($1, $2)")
            .bind::<diesel::sql_types::Integer, _>(SIZE_LOCK_CLASS)
            .bind::<diesel::sql_types::Integer, _>(key)
            .execute(pg)?;
    }
    Ok(())
}

/// Locks the namespace's size row until the transaction ends and returns its
/// bytes; `None` when the namespace has no counted size.
pub fn lock_namespace_row(c: &mut DbConn, namespace_id: i64) -> QueryResult<Option<i64>> {
    let q = quotanamespacesize::table
        .filter(quotanamespacesize::namespace_user_id.eq(namespace_id))
        .select(quotanamespacesize::size_bytes);
    match c {
        DbConn::Pg(pg) => q.for_update().first(pg).optional(),
        DbConn::Sqlite(_) => q.first(c).optional(),
    }
}

/// The namespace's size, locked until the transaction ends. With `create`,
/// a namespace without a counted size gets one computed now (its backfill);
/// without, `None` is returned and nothing is counted.
pub fn lock_namespace_size(c: &mut DbConn, namespace_id: i64, create: bool, now: i64) -> QueryResult<Option<i64>> {
    if let Some(size) = lock_namespace_row(c, namespace_id)? {
        return Ok(Some(size));
    }
    // Either compute the total, or wait for whoever computes it.
    lock_computation(c, namespace_id)?;
    if let Some(size) = lock_namespace_row(c, namespace_id)? {
        return Ok(Some(size));
    }
    if !create {
        return Ok(None);
    }
    let size = compute_namespace_size(c, namespace_id)?;
    per_backend!(c, |c| diesel::insert_into(quotanamespacesize::table)
        .values((
            quotanamespacesize::namespace_user_id.eq(namespace_id),
            quotanamespacesize::size_bytes.eq(size),
            quotanamespacesize::backfill_start_ms.eq(Some(now)),
            quotanamespacesize::backfill_complete.eq(true),
        ))
        .on_conflict(quotanamespacesize::namespace_user_id)
        .do_nothing()
        .execute(c))?;
    lock_namespace_row(c, namespace_id)
}

/// Makes sure the repository has a counted size; the caller holds its
/// namespace's size lock.
pub fn ensure_repository_size(c: &mut DbConn, repo_id: i64, now: i64) -> QueryResult<()> {
    let exists_already = quotarepositorysize::table
        .filter(quotarepositorysize::repository_id.eq(repo_id))
        .select(quotarepositorysize::id)
        .first::<i64>(c)
        .optional()?
        .is_some();
    if exists_already {
        return Ok(());
    }
    let size = compute_repository_size(c, repo_id)?;
    per_backend!(c, |c| diesel::insert_into(quotarepositorysize::table)
        .values((
            quotarepositorysize::repository_id.eq(repo_id),
            quotarepositorysize::size_bytes.eq(size),
            quotarepositorysize::backfill_start_ms.eq(Some(now)),
            quotarepositorysize::backfill_complete.eq(true),
        ))
        .on_conflict(quotarepositorysize::repository_id)
        .do_nothing()
        .execute(c))?;
    Ok(())
}

/// Bytes these blobs would add to the repository and to its namespace: the
/// sizes of those no manifest of the repository (namespace) references yet,
/// `except` a manifest being removed.
pub fn unshared_sizes(
    c: &mut DbConn,
    namespace_id: i64,
    repo_id: i64,
    blob_ids: &[i64],
    except: Option<i64>,
) -> QueryResult<(i64, i64)> {
    let except = except.unwrap_or(0);
    let in_repo = manifestblob::table
        .filter(manifestblob::blob_id.eq(imagestorage::id))
        .filter(manifestblob::repository_id.eq(repo_id))
        .filter(manifestblob::manifest_id.ne(except));
    let repo_sizes: Vec<i64> = imagestorage::table
        .filter(imagestorage::id.eq_any(blob_ids.to_vec()))
        .filter(not(exists(in_repo)))
        .select(imagestorage::image_size)
        .load(c)?;
    let ns_repos = repository::table
        .filter(repository::namespace_user_id.eq(namespace_id))
        .select(repository::id);
    let in_ns = manifestblob::table
        .filter(manifestblob::blob_id.eq(imagestorage::id))
        .filter(manifestblob::repository_id.eq_any(ns_repos))
        .filter(manifestblob::manifest_id.ne(except));
    let ns_sizes: Vec<i64> = imagestorage::table
        .filter(imagestorage::id.eq_any(blob_ids.to_vec()))
        .filter(not(exists(in_ns)))
        .select(imagestorage::image_size)
        .load(c)?;
    Ok((repo_sizes.iter().sum(), ns_sizes.iter().sum()))
}

/// Adds (or with a negative delta, subtracts) bytes to the counted sizes of
/// a repository and its namespace.
pub fn add_sizes(c: &mut DbConn, namespace_id: i64, ns_delta: i64, repo_id: i64, repo_delta: i64) -> QueryResult<()> {
    if ns_delta != 0 {
        diesel::update(quotanamespacesize::table.filter(quotanamespacesize::namespace_user_id.eq(namespace_id)))
            .set(quotanamespacesize::size_bytes.eq(quotanamespacesize::size_bytes + ns_delta))
            .execute(c)?;
    }
    if repo_delta != 0 {
        diesel::update(quotarepositorysize::table.filter(quotarepositorysize::repository_id.eq(repo_id)))
            .set(quotarepositorysize::size_bytes.eq(quotarepositorysize::size_bytes + repo_delta))
            .execute(c)?;
    }
    Ok(())
}

/// The namespace of a repository.
pub fn namespace_of(c: &mut DbConn, repo_id: i64) -> QueryResult<i64> {
    repository::table
        .find(repo_id)
        .select(repository::namespace_user_id)
        .first(c)
}

/// Takes a manifest's blobs off the counted sizes before the manifest is
/// deleted. Nothing is counted for namespaces without a counted size.
pub fn on_manifest_removed(c: &mut DbConn, manifest_id: i64, now: i64) -> QueryResult<()> {
    let repo_id: i64 = crate::db::schema::manifest::table
        .find(manifest_id)
        .select(crate::db::schema::manifest::repository_id)
        .first(c)?;
    let namespace_id = namespace_of(c, repo_id)?;
    if lock_namespace_size(c, namespace_id, false, now)?.is_none() {
        return Ok(());
    }
    ensure_repository_size(c, repo_id, now)?;
    let blob_ids: Vec<i64> = manifestblob::table
        .filter(manifestblob::manifest_id.eq(manifest_id))
        .select(manifestblob::blob_id)
        .load(c)?;
    let (repo_delta, ns_delta) = unshared_sizes(c, namespace_id, repo_id, &blob_ids, Some(manifest_id))?;
    add_sizes(c, namespace_id, -ns_delta, repo_id, -repo_delta)
}

/// Namespaces with repositories but no counted size yet, after `after`.
pub fn namespaces_to_backfill(c: &mut DbConn, after: i64, limit: i64) -> QueryResult<Vec<i64>> {
    let counted = quotanamespacesize::table.select(quotanamespacesize::namespace_user_id);
    repository::table
        .filter(repository::namespace_user_id.gt(after))
        .filter(not(repository::namespace_user_id.eq_any(counted)))
        .select(repository::namespace_user_id)
        .distinct()
        .order(repository::namespace_user_id.asc())
        .limit(limit)
        .load(c)
}

/// Repositories of the namespace without a counted size.
pub fn repositories_to_backfill(c: &mut DbConn, namespace_id: i64) -> QueryResult<Vec<i64>> {
    let counted = quotarepositorysize::table.select(quotarepositorysize::repository_id);
    repository::table
        .filter(repository::namespace_user_id.eq(namespace_id))
        .filter(not(repository::id.eq_any(counted)))
        .select(repository::id)
        .load(c)
}

/// The bytes of every distinct blob the registry stores.
pub fn registry_size(c: &mut DbConn) -> QueryResult<i64> {
    let sizes: Vec<i64> = imagestorage::table.select(imagestorage::image_size).load(c)?;
    Ok(sizes.iter().sum())
}

/// Records a crossed threshold (`quota_warning` / `quota_error`).
pub fn record_event(
    c: &mut DbConn,
    namespace_id: i64,
    kind: &str,
    size_bytes: i64,
    limit_bytes: i64,
    now: i64,
) -> QueryResult<()> {
    diesel::insert_into(quotaevent::table)
        .values((
            quotaevent::namespace_user_id.eq(namespace_id),
            quotaevent::kind.eq(kind),
            quotaevent::size_bytes.eq(size_bytes),
            quotaevent::limit_bytes.eq(limit_bytes),
            quotaevent::created_ms.eq(now),
        ))
        .execute(c)
        .map(drop)
}

/// Recorded threshold events of a namespace, oldest first, as (kind, size,
/// limit, time).
pub fn events_of(c: &mut DbConn, namespace_id: i64) -> QueryResult<Vec<(String, i64, i64, i64)>> {
    quotaevent::table
        .filter(quotaevent::namespace_user_id.eq(namespace_id))
        .order(quotaevent::id.asc())
        .select((
            quotaevent::kind,
            quotaevent::size_bytes,
            quotaevent::limit_bytes,
            quotaevent::created_ms,
        ))
        .load(c)
}

/// Whether a manifest of the namespace references the blob.
pub fn namespace_has_blob(c: &mut DbConn, namespace_id: i64, digest: &str) -> QueryResult<bool> {
    let repos = repository::table
        .filter(repository::namespace_user_id.eq(namespace_id))
        .select(repository::id);
    let blob = imagestorage::table
        .filter(imagestorage::content_checksum.eq(digest))
        .select(imagestorage::id);
    diesel::select(exists(
        manifestblob::table
            .filter(manifestblob::blob_id.eq_any(blob))
            .filter(manifestblob::repository_id.eq_any(repos)),
    ))
    .get_result(c)
}
