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
