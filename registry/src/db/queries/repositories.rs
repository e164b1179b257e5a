use diesel::prelude::*;

use crate::db::models::Repository;
use crate::db::schema::{manifest, repository, repositorypermission, star, tag, team, teammember, users};
use crate::db::DbConn;
use crate::per_backend;

/// `repository.state` of a repository being deleted (Quay's numbering).
pub const MARKED_FOR_DELETION: i32 = 3;

/// Looks up a repository by namespace and name; deleted ones are not found.
pub fn find(c: &mut DbConn, namespace: &str, name: &str) -> QueryResult<Option<Repository>> {
    repository::table
        .inner_join(users::table)
        .filter(users::username.eq(namespace))
        .filter(repository::name.eq(name))
        .filter(repository::state.ne(MARKED_FOR_DELETION))
        .select(Repository::as_select())
        .first(c)
        .optional()
}

/// The id of the namespace, created as an organization with the
/// time-machine window `window_s` when missing.
pub fn ensure_namespace(c: &mut DbConn, namespace: &str, now: i64, window_s: i64) -> QueryResult<i64> {
    let row = (
        users::uuid.eq(uuid::Uuid::new_v4().to_string()),
        users::username.eq(namespace),
        users::organization.eq(true),
        users::creation_date.eq(now),
        users::removed_tag_expiration_s.eq(window_s),
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

/// Creates the repository (and its namespace, whose time-machine window is
/// then `window_s`) unless it exists; returns it. Safe against concurrent
/// creators.
pub fn ensure(
    c: &mut DbConn,
    namespace: &str,
    name: &str,
    visibility: &str,
    now: i64,
    window_s: i64,
) -> QueryResult<Repository> {
    if let Some(r) = find(c, namespace, name)? {
        return Ok(r);
    }
    let ns = ensure_namespace(c, namespace, now, window_s)?;
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
            // Not FOR UPDATE: pushes and GC still exclude each other, but
            // rows that merely reference the repository (usage logs, tags,
            // notifications) can be inserted meanwhile without waiting.
            .for_no_key_update()
            .first::<i64>(pg)
            .map(drop),
        DbConn::Sqlite(_) => Ok(()),
    }
}

/// A page of `namespace/name` paths in (namespace, name) order, after `last`.
pub fn page(c: &mut DbConn, last: Option<(&str, &str)>, limit: i64) -> QueryResult<Vec<(String, String)>> {
    let mut q = repository::table
        .inner_join(users::table)
        .filter(repository::state.ne(MARKED_FOR_DELETION))
        .filter(users::enabled.eq(true))
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

/// A repository with the namespace fields the REST API shows.
#[derive(Debug, Clone, Queryable)]
pub struct RepositoryView {
    pub id: i64,
    pub namespace_id: i64,
    pub namespace: String,
    pub namespace_is_org: bool,
    pub tag_expiration_s: i64,
    pub name: String,
    pub visibility: String,
    pub description: Option<String>,
    pub kind: String,
    pub state: i32,
}

type ViewColumns = (
    repository::id,
    users::id,
    users::username,
    users::organization,
    users::removed_tag_expiration_s,
    repository::name,
    repository::visibility,
    repository::description,
    repository::kind,
    repository::state,
);

const VIEW_COLUMNS: ViewColumns = (
    repository::id,
    users::id,
    users::username,
    users::organization,
    users::removed_tag_expiration_s,
    repository::name,
    repository::visibility,
    repository::description,
    repository::kind,
    repository::state,
);

/// Like [`find`], with the fields the REST API shows.
pub fn find_view(c: &mut DbConn, namespace: &str, name: &str) -> QueryResult<Option<RepositoryView>> {
    repository::table
        .inner_join(users::table)
        .filter(users::username.eq(namespace))
        .filter(repository::name.eq(name))
        .select(VIEW_COLUMNS)
        .first(c)
        .optional()
}

pub fn find_view_by_id(c: &mut DbConn, repo_id: i64) -> QueryResult<Option<RepositoryView>> {
    repository::table
        .inner_join(users::table)
        .filter(repository::id.eq(repo_id))
        .select(VIEW_COLUMNS)
        .first(c)
        .optional()
}

/// What a new repository row holds.
pub struct NewRepository<'a> {
    pub namespace_id: i64,
    pub name: &'a str,
    pub visibility: &'a str,
    pub description: &'a str,
    pub kind: &'a str,
    pub now: i64,
}

/// Inserts a repository; a concurrent creator makes this a unique violation.
pub fn insert(c: &mut DbConn, r: &NewRepository<'_>) -> QueryResult<i64> {
    diesel::insert_into(repository::table)
        .values((
            repository::namespace_user_id.eq(r.namespace_id),
            repository::name.eq(r.name),
            repository::visibility.eq(r.visibility),
            repository::description.eq(r.description),
            repository::kind.eq(r.kind),
            repository::created_ms.eq(r.now),
        ))
        .execute(c)?;
    repository::table
        .filter(repository::namespace_user_id.eq(r.namespace_id))
        .filter(repository::name.eq(r.name))
        .select(repository::id)
        .first(c)
}

pub fn set_description(c: &mut DbConn, repo_id: i64, description: &str) -> QueryResult<()> {
    diesel::update(repository::table.find(repo_id))
        .set(repository::description.eq(description))
        .execute(c)
        .map(drop)
}

pub fn set_visibility(c: &mut DbConn, repo_id: i64, visibility: &str) -> QueryResult<()> {
    diesel::update(repository::table.find(repo_id))
        .set(repository::visibility.eq(visibility))
        .execute(c)
        .map(drop)
}

/// Marks every repository of a deleted namespace for deletion, so garbage
/// collection reclaims their content.
/// The ids of the namespace's repositories.
pub fn ids_of_namespace(c: &mut DbConn, namespace_id: i64) -> QueryResult<Vec<i64>> {
    repository::table
        .filter(repository::namespace_user_id.eq(namespace_id))
        .select(repository::id)
        .load(c)
}

pub fn mark_namespace_for_deletion(c: &mut DbConn, namespace_id: i64) -> QueryResult<usize> {
    diesel::update(repository::table.filter(repository::namespace_user_id.eq(namespace_id)))
        .set(repository::state.eq(MARKED_FOR_DELETION))
        .execute(c)
}

/// Renames the repository to `tombstone` (a name no push can produce) and
/// marks it for deletion, so its name is free at once.
pub fn mark_for_deletion(c: &mut DbConn, repo_id: i64, tombstone: &str) -> QueryResult<()> {
    diesel::update(repository::table.find(repo_id))
        .set((
            repository::name.eq(tombstone),
            repository::state.eq(MARKED_FOR_DELETION),
        ))
        .execute(c)
        .map(drop)
}

/// Whose repositories a listing shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Viewer {
    /// Every repository (a superuser with full access).
    Everyone,
    /// Public repositories only (anonymous callers).
    Public,
    /// Those the account reads as owner, org admin, directly or through a
    /// team; with `public`, every public repository too.
    Account { id: i64, public: bool },
}

type Backend = <DbConn as diesel::Connection>::Backend;
type ViewSource = diesel::helper_types::InnerJoinQuerySource<repository::table, users::table>;
type Condition = Box<dyn BoxableExpression<ViewSource, Backend, SqlType = diesel::sql_types::Bool>>;

/// The same rules as `Registry::repository_role` grants read by, as SQL.
fn readable_by(account: i64, public: bool) -> Condition {
    let direct = repositorypermission::table
        .filter(repositorypermission::user_id.eq(account))
        .select(repositorypermission::repository_id);
    let via_team = repositorypermission::table
        .inner_join(teammember::table.on(teammember::team_id.nullable().eq(repositorypermission::team_id)))
        .filter(teammember::user_id.eq(account))
        .select(repositorypermission::repository_id);
    let admin_of = team::table
        .inner_join(teammember::table)
        .filter(teammember::user_id.eq(account))
        .filter(team::role.eq("admin"))
        .select(team::organization_id);
    let mut cond: Condition = Box::new(
        repository::namespace_user_id
            .eq(account)
            .or(repository::id.eq_any(direct))
            .or(repository::id.eq_any(via_team))
            .or(repository::namespace_user_id.eq_any(admin_of)),
    );
    if public {
        cond = Box::new(cond.or(repository::visibility.eq("public")));
    }
    cond
}

/// Which repositories a page holds, besides what the viewer may read.
#[derive(Debug, Clone, Default)]
pub struct PageFilter {
    /// Only this namespace's.
    pub namespace: Option<String>,
    /// Only those of this kind (`image`).
    pub kind: String,
    /// Only those this account starred.
    pub starred_by: Option<i64>,
    /// Continue after this repository id.
    pub after_id: i64,
    /// Only those whose name or description contains this (lower-case)
    /// text.
    pub text: Option<String>,
}

/// At most `limit` of the repositories `viewer` may read, in id order, as
/// `filter` narrows them; deleted ones never show.
pub fn visible_page(
    c: &mut DbConn,
    viewer: Viewer,
    filter: &PageFilter,
    limit: i64,
) -> QueryResult<Vec<RepositoryView>> {
    let mut q = repository::table
        .inner_join(users::table)
        .filter(repository::state.ne(MARKED_FOR_DELETION))
        .filter(repository::kind.eq(filter.kind.clone()))
        .filter(repository::id.gt(filter.after_id))
        .order(repository::id.asc())
        .limit(limit)
        .select(VIEW_COLUMNS)
        .into_boxed();
    if let Some(ns) = &filter.namespace {
        q = q.filter(users::username.eq(ns.clone()));
    }
    if let Some(text) = &filter.text {
        let pattern = format!("%{}%", super::escape_like(text));
        q = q.filter(
            repository::name
                .like(pattern.clone())
                .escape('\\')
                .or(super::lower_nullable(repository::description)
                    .like(pattern)
                    .escape('\\')),
        );
    }
    if let Some(user) = filter.starred_by {
        let starred = star::table.filter(star::user_id.eq(user)).select(star::repository_id);
        q = q.filter(repository::id.eq_any(starred));
    }
    q = match viewer {
        Viewer::Everyone => q,
        Viewer::Public => q.filter(repository::visibility.eq("public")),
        Viewer::Account { id, public } => q.filter(readable_by(id, public)),
    };
    q.load(c)
}

/// Namespaces whose name starts with `prefix` holding a repository
/// `viewer` may read: (name, is organization), by name.
pub fn visible_namespaces(
    c: &mut DbConn,
    viewer: Viewer,
    prefix: &str,
    limit: i64,
) -> QueryResult<Vec<(String, bool)>> {
    let mut q = repository::table
        .inner_join(users::table)
        .filter(repository::state.ne(MARKED_FOR_DELETION))
        .filter(
            users::username
                .like(format!("{}%", super::escape_like(prefix)))
                .escape('\\'),
        )
        .select((users::username, users::organization))
        .distinct()
        .order(users::username.asc())
        .limit(limit)
        .into_boxed();
    q = match viewer {
        Viewer::Everyone => q,
        Viewer::Public => q.filter(repository::visibility.eq("public")),
        Viewer::Account { id, public } => q.filter(readable_by(id, public)),
    };
    q.load(c)
}

/// The newest start of an alive, listed tag of each repository, in
/// milliseconds; repositories without tags are absent.
pub fn last_tag_push_ms(c: &mut DbConn, repo_ids: &[i64], now: i64) -> QueryResult<Vec<(i64, Option<i64>)>> {
    tag::table
        .filter(tag::repository_id.eq_any(repo_ids.to_vec()))
        .filter(tag::hidden.eq(false))
        .filter(super::tags::alive(now))
        .group_by(tag::repository_id)
        .select((tag::repository_id, diesel::dsl::max(tag::lifetime_start_ms)))
        .load(c)
}

/// An alive, listed tag as the repository view shows it.
#[derive(Debug, Clone, Queryable)]
pub struct TagSummary {
    pub name: String,
    pub manifest_digest: String,
    pub size: i64,
    pub lifetime_start_ms: i64,
    pub lifetime_end_ms: Option<i64>,
}

/// The repository's alive, listed tags, most recently pushed first.
pub fn tag_summaries(c: &mut DbConn, repo_id: i64, now: i64, limit: i64) -> QueryResult<Vec<TagSummary>> {
    tag::table
        .inner_join(manifest::table)
        .filter(tag::repository_id.eq(repo_id))
        .filter(tag::hidden.eq(false))
        .filter(super::tags::alive(now))
        .order((tag::lifetime_start_ms.desc(), tag::name.asc()))
        .limit(limit)
        .select((
            tag::name,
            manifest::digest,
            manifest::layers_compressed_size,
            tag::lifetime_start_ms,
            tag::lifetime_end_ms,
        ))
        .load(c)
}
