//! Proxy-cache configurations of organizations (one per organization).

use diesel::prelude::*;

use crate::db::schema::proxycacheconfig;
use crate::db::DbConn;

#[derive(Debug, Clone, Queryable)]
pub struct ProxyCacheRow {
    pub id: i64,
    pub organization_id: i64,
    pub upstream_registry: String,
    /// Encrypted with the field key.
    pub upstream_registry_username: Option<String>,
    /// Encrypted with the field key.
    pub upstream_registry_password: Option<String>,
    pub expiration_s: i64,
    pub insecure: bool,
    pub created_ms: i64,
}

/// A configuration to store; credentials already encrypted.
pub struct NewProxyCacheRow<'a> {
    pub organization_id: i64,
    pub upstream_registry: &'a str,
    pub username: Option<&'a str>,
    pub password: Option<&'a str>,
    pub expiration_s: i64,
    pub insecure: bool,
    pub created_ms: i64,
}

pub fn find(c: &mut DbConn, organization_id: i64) -> QueryResult<Option<ProxyCacheRow>> {
    proxycacheconfig::table
        .filter(proxycacheconfig::organization_id.eq(organization_id))
        .first(c)
        .optional()
}

/// Inserts the configuration; a unique violation means one exists already.
pub fn insert(c: &mut DbConn, new: &NewProxyCacheRow<'_>) -> QueryResult<()> {
    diesel::insert_into(proxycacheconfig::table)
        .values((
            proxycacheconfig::organization_id.eq(new.organization_id),
            proxycacheconfig::upstream_registry.eq(new.upstream_registry),
            proxycacheconfig::upstream_registry_username.eq(new.username),
            proxycacheconfig::upstream_registry_password.eq(new.password),
            proxycacheconfig::expiration_s.eq(new.expiration_s),
            proxycacheconfig::insecure.eq(new.insecure),
            proxycacheconfig::created_ms.eq(new.created_ms),
        ))
        .execute(c)
        .map(drop)
}

/// Deletes the organization's configuration; whether there was one.
pub fn delete(c: &mut DbConn, organization_id: i64) -> QueryResult<bool> {
    let n = diesel::delete(proxycacheconfig::table.filter(proxycacheconfig::organization_id.eq(organization_id)))
        .execute(c)?;
    Ok(n > 0)
}

/// Whether any alive tag of the organization's repositories is immutable.
pub fn has_immutable_tags(c: &mut DbConn, organization_id: i64, now_ms: i64) -> QueryResult<bool> {
    use crate::db::schema::{repository, tag};
    use diesel::dsl::exists;
    let repos = repository::table
        .filter(repository::namespace_user_id.eq(organization_id))
        .select(repository::id);
    diesel::select(exists(
        tag::table
            .filter(tag::repository_id.eq_any(repos))
            .filter(tag::immutable.eq(true))
            .filter(tag::lifetime_end_ms.is_null().or(tag::lifetime_end_ms.gt(now_ms))),
    ))
    .get_result(c)
}

/// Whether the namespace of this name is an organization with a proxy cache.
pub fn is_proxy_cache_namespace(c: &mut DbConn, namespace: &str) -> QueryResult<bool> {
    use crate::db::schema::users;
    use diesel::dsl::exists;
    let org_ids = users::table
        .filter(users::username.eq(namespace))
        .filter(users::organization.eq(true))
        .select(users::id);
    diesel::select(exists(
        proxycacheconfig::table.filter(proxycacheconfig::organization_id.eq_any(org_ids)),
    ))
    .get_result(c)
}

/// The configuration of the organization named `namespace`, if it has one.
pub fn find_by_namespace(c: &mut DbConn, namespace: &str) -> QueryResult<Option<ProxyCacheRow>> {
    use crate::db::schema::users;
    let org_ids = users::table
        .filter(users::username.eq(namespace))
        .filter(users::organization.eq(true))
        .select(users::id);
    proxycacheconfig::table
        .filter(proxycacheconfig::organization_id.eq_any(org_ids))
        .first(c)
        .optional()
}

/// A cached, listed tag that may be expired to make room.
#[derive(Debug, Clone, Queryable)]
pub struct CachedTag {
    pub id: i64,
    pub repository_id: i64,
    pub name: String,
    pub manifest_id: i64,
}

/// The organization's alive, listed tags that expire, least recently pulled
/// (earliest end) first: each pull moves a cached tag's end forward.
pub fn tags_least_recently_pulled(c: &mut DbConn, organization_id: i64, now: i64) -> QueryResult<Vec<CachedTag>> {
    use crate::db::schema::{repository, tag};
    let repos = repository::table
        .filter(repository::namespace_user_id.eq(organization_id))
        .select(repository::id);
    tag::table
        .filter(tag::repository_id.eq_any(repos))
        .filter(tag::hidden.eq(false))
        .filter(tag::lifetime_end_ms.gt(now))
        .order((tag::lifetime_end_ms.asc(), tag::id.asc()))
        .select((tag::id, tag::repository_id, tag::name, tag::manifest_id))
        .load(c)
}

/// Moves the end of every alive, expiring tag of the manifest to `end`
/// (a pull renews what it pulled).
pub fn renew_tags_of_manifest(c: &mut DbConn, repo_id: i64, manifest_id: i64, end: i64, now: i64) -> QueryResult<()> {
    use crate::db::schema::tag;
    diesel::update(
        tag::table
            .filter(tag::repository_id.eq(repo_id))
            .filter(tag::manifest_id.eq(manifest_id))
            .filter(tag::lifetime_end_ms.gt(now)),
    )
    .set(tag::lifetime_end_ms.eq(end))
    .execute(c)
    .map(drop)
}

/// The alive-tagged manifest lists and indexes of the repository, as
/// (id, bytes, media type): the possible parents of a child pulled by digest.
pub fn held_indexes(c: &mut DbConn, repo_id: i64, now: i64) -> QueryResult<Vec<(i64, Vec<u8>, String)>> {
    use crate::db::schema::{manifest, tag};
    use crate::oci::media;
    let held = tag::table
        .filter(tag::manifest_id.eq(manifest::id))
        .filter(crate::db::queries::tags::alive(now));
    manifest::table
        .filter(manifest::repository_id.eq(repo_id))
        .filter(manifest::media_type.eq_any([media::OCI_INDEX, media::DOCKER_LIST]))
        .filter(diesel::dsl::exists(held))
        .select((manifest::id, manifest::manifest_bytes, manifest::media_type))
        .load(c)
}

/// Whether `child_id` is linked as a child of `parent_id`.
pub fn is_child(c: &mut DbConn, parent_id: i64, child_id: i64) -> QueryResult<bool> {
    use crate::db::schema::manifestchild;
    diesel::select(diesel::dsl::exists(
        manifestchild::table
            .filter(manifestchild::manifest_id.eq(parent_id))
            .filter(manifestchild::child_manifest_id.eq(child_id)),
    ))
    .get_result(c)
}
