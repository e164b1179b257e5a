use diesel::prelude::*;

use crate::db::models::Repository;
use crate::db::schema::{repository, users};
use crate::db::DbConn;
use crate::per_backend;

/// Looks up a repository by namespace and name.
pub fn find(c: &mut DbConn, namespace: &str, name: &str) -> QueryResult<Option<Repository>> {
    repository::table
        .inner_join(users::table)
        .filter(users::username.eq(namespace))
        .filter(repository::name.eq(name))
        .select(Repository::as_select())
        .first(c)
        .optional()
}

/// The id of the namespace, created as an organization when missing.
pub fn ensure_namespace(c: &mut DbConn, namespace: &str, now: i64) -> QueryResult<i64> {
    let row = (
        users::uuid.eq(uuid::Uuid::new_v4().to_string()),
        users::username.eq(namespace),
        users::organization.eq(true),
        users::creation_date.eq(now),
    );
    per_backend!(c, |c| diesel::insert_into(users::table)
        .values(row)
        .on_conflict(users::username)
        .do_nothing()
        .execute(c))?;
    users::table
        .filter(users::username.eq(namespace))
        .select(users::id)
        .first(c)
}

/// Creates the repository (and its namespace) unless it exists; returns it.
/// Safe against concurrent creators.
pub fn ensure(c: &mut DbConn, namespace: &str, name: &str, visibility: &str, now: i64) -> QueryResult<Repository> {
    if let Some(r) = find(c, namespace, name)? {
        return Ok(r);
    }
    let ns = ensure_namespace(c, namespace, now)?;
    let row = (
        repository::namespace_user_id.eq(ns),
        repository::name.eq(name),
        repository::visibility.eq(visibility),
        repository::created_ms.eq(now),
    );
    per_backend!(c, |c| diesel::insert_into(repository::table)
        .values(row)
        .on_conflict((repository::namespace_user_id, repository::name))
        .do_nothing()
        .execute(c))?;
    find(c, namespace, name)?.ok_or(diesel::result::Error::NotFound)
}

/// Serializes writers of one repository's manifests and tags until the
/// transaction ends. SQLite needs nothing: it has a single writer.
pub fn lock(c: &mut DbConn, repo_id: i64) -> QueryResult<()> {
    match c {
        DbConn::Pg(pg) => repository::table
            .find(repo_id)
            .select(repository::id)
            .for_update()
            .first::<i64>(pg)
            .map(drop),
        DbConn::Sqlite(_) => Ok(()),
    }
}

/// A page of `namespace/name` paths in (namespace, name) order, after `last`.
pub fn page(c: &mut DbConn, last: Option<(&str, &str)>, limit: i64) -> QueryResult<Vec<(String, String)>> {
    let mut q = repository::table
        .inner_join(users::table)
        .select((users::username, repository::name))
        .order((users::username.asc(), repository::name.asc()))
        .limit(limit)
        .into_boxed();
    if let Some((ns, name)) = last {
        q = q.filter(
            users::username.gt(ns.to_owned()).or(users::username
                .eq(ns.to_owned())
                .and(repository::name.gt(name.to_owned()))),
        );
    }
    q.load(c)
}
