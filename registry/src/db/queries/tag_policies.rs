//! Immutability and auto-prune policies of namespaces and repositories,
//! and the per-namespace auto-prune tasks workers claim.

use diesel::prelude::*;

use crate::db::schema::{autoprunepolicy, autoprunetask, immutabilitypolicy, repository, tag};
use crate::db::DbConn;

/// Where a policy applies: a whole namespace, or one of its repositories.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope {
    pub namespace_id: i64,
    pub repository_id: Option<i64>,
}

/// One immutability policy.
#[derive(Debug, Clone, Queryable)]
pub struct ImmutabilityRow {
    pub uuid: String,
    pub repository_id: Option<i64>,
    pub tag_pattern: String,
    pub tag_pattern_matches: bool,
}

/// One auto-prune policy.
#[derive(Debug, Clone, Queryable)]
pub struct AutoPruneRow {
    pub uuid: String,
    pub repository_id: Option<i64>,
    pub method: String,
    pub value: String,
    pub tag_pattern: Option<String>,
    pub tag_pattern_matches: bool,
}

const IMMUTABILITY_COLUMNS: (
    immutabilitypolicy::uuid,
    immutabilitypolicy::repository_id,
    immutabilitypolicy::tag_pattern,
    immutabilitypolicy::tag_pattern_matches,
) = (
    immutabilitypolicy::uuid,
    immutabilitypolicy::repository_id,
    immutabilitypolicy::tag_pattern,
    immutabilitypolicy::tag_pattern_matches,
);

const AUTOPRUNE_COLUMNS: (
    autoprunepolicy::uuid,
    autoprunepolicy::repository_id,
    autoprunepolicy::method,
    autoprunepolicy::value,
    autoprunepolicy::tag_pattern,
    autoprunepolicy::tag_pattern_matches,
) = (
    autoprunepolicy::uuid,
    autoprunepolicy::repository_id,
    autoprunepolicy::method,
    autoprunepolicy::value,
    autoprunepolicy::tag_pattern,
    autoprunepolicy::tag_pattern_matches,
);

macro_rules! in_scope {
    ($table:ident, $scope:expr) => {{
        let q = $table::table
            .filter($table::namespace_id.eq($scope.namespace_id))
            .into_boxed();
        match $scope.repository_id {
            Some(r) => q.filter($table::repository_id.eq(r)),
            None => q.filter($table::repository_id.is_null()),
        }
    }};
}

/// The immutability policies of exactly this scope, oldest first.
pub fn immutability_list(c: &mut DbConn, scope: Scope) -> QueryResult<Vec<ImmutabilityRow>> {
    in_scope!(immutabilitypolicy, scope)
        .select(IMMUTABILITY_COLUMNS)
        .order(immutabilitypolicy::id.asc())
        .load(c)
}

/// The policies that decide a repository's tags: its own and its namespace's.
pub fn immutability_for_repository(c: &mut DbConn, repo_id: i64) -> QueryResult<Vec<ImmutabilityRow>> {
    let namespace = repository::table
        .filter(repository::id.eq(repo_id))
        .select(repository::namespace_user_id);
    immutabilitypolicy::table
        .filter(immutabilitypolicy::namespace_id.eq_any(namespace))
        .filter(
            immutabilitypolicy::repository_id
                .is_null()
                .or(immutabilitypolicy::repository_id.eq(repo_id)),
        )
        .select(IMMUTABILITY_COLUMNS)
        .load(c)
}

pub fn immutability_insert(c: &mut DbConn, scope: Scope, uuid: &str, pattern: &str, matches: bool) -> QueryResult<()> {
    diesel::insert_into(immutabilitypolicy::table)
        .values((
            immutabilitypolicy::uuid.eq(uuid),
            immutabilitypolicy::namespace_id.eq(scope.namespace_id),
            immutabilitypolicy::repository_id.eq(scope.repository_id),
            immutabilitypolicy::tag_pattern.eq(pattern),
            immutabilitypolicy::tag_pattern_matches.eq(matches),
        ))
        .execute(c)
        .map(drop)
}

/// Changes a policy of the scope; returns whether it exists.
pub fn immutability_update(
    c: &mut DbConn,
    scope: Scope,
    uuid: &str,
    pattern: &str,
    matches: bool,
) -> QueryResult<bool> {
    let ids: Vec<i64> = in_scope!(immutabilitypolicy, scope)
        .filter(immutabilitypolicy::uuid.eq(uuid))
        .select(immutabilitypolicy::id)
        .load(c)?;
    let n = diesel::update(immutabilitypolicy::table.filter(immutabilitypolicy::id.eq_any(ids)))
        .set((
            immutabilitypolicy::tag_pattern.eq(pattern),
            immutabilitypolicy::tag_pattern_matches.eq(matches),
        ))
        .execute(c)?;
    Ok(n > 0)
}

/// Deletes a policy of the scope; returns whether it existed.
pub fn immutability_delete(c: &mut DbConn, scope: Scope, uuid: &str) -> QueryResult<bool> {
    let ids: Vec<i64> = in_scope!(immutabilitypolicy, scope)
        .filter(immutabilitypolicy::uuid.eq(uuid))
        .select(immutabilitypolicy::id)
        .load(c)?;
    let n = diesel::delete(immutabilitypolicy::table.filter(immutabilitypolicy::id.eq_any(ids))).execute(c)?;
    Ok(n > 0)
}

/// Alive, listed, mutable tags of the scope (every repository of the
/// namespace, or the one repository), as (tag id, repository id, name).
pub fn mutable_alive_tags(c: &mut DbConn, scope: Scope, now: i64) -> QueryResult<Vec<(i64, i64, String)>> {
    let mut q = tag::table
        .inner_join(repository::table.on(repository::id.eq(tag::repository_id)))
        .filter(repository::namespace_user_id.eq(scope.namespace_id))
        .filter(tag::hidden.eq(false))
        .filter(tag::immutable.eq(false))
        .filter(super::tags::alive(now))
        .select((tag::id, tag::repository_id, tag::name))
        .order(tag::id.asc())
        .into_boxed();
    if let Some(r) = scope.repository_id {
        q = q.filter(tag::repository_id.eq(r));
    }
    q.load(c)
}

/// Makes these tag rows immutable; `keep_expiry` false also clears their
/// end, since an immutable tag may not expire. Returns how many changed.
pub fn make_immutable(c: &mut DbConn, ids: &[i64], keep_expiry: bool) -> QueryResult<usize> {
    let rows = tag::table.filter(tag::id.eq_any(ids)).filter(tag::immutable.eq(false));
    match keep_expiry {
        true => diesel::update(rows).set(tag::immutable.eq(true)).execute(c),
        false => diesel::update(rows)
            .set((tag::immutable.eq(true), tag::lifetime_end_ms.eq(None::<i64>)))
            .execute(c),
    }
}

/// Sets the immutable flag of a tag's alive, listed lifetime, and clears
/// its end too when `clear_end`; returns the previous flag, or `None` when
/// the tag is not alive.
pub fn set_immutable(
    c: &mut DbConn,
    repo_id: i64,
    name: &str,
    (immutable, clear_end): (bool, bool),
    now: i64,
) -> QueryResult<Option<bool>> {
    let row: Option<(i64, bool)> = tag::table
        .filter(tag::repository_id.eq(repo_id))
        .filter(tag::name.eq(name))
        .filter(tag::hidden.eq(false))
        .filter(super::tags::alive(now))
        .select((tag::id, tag::immutable))
        .first(c)
        .optional()?;
    let Some((id, previous)) = row else { return Ok(None) };
    let row = tag::table.filter(tag::id.eq(id));
    match clear_end {
        true => diesel::update(row)
            .set((tag::immutable.eq(immutable), tag::lifetime_end_ms.eq(None::<i64>)))
            .execute(c)?,
        false => diesel::update(row).set(tag::immutable.eq(immutable)).execute(c)?,
    };
    Ok(Some(previous))
}

/// The auto-prune policies of exactly this scope, oldest first.
pub fn autoprune_list(c: &mut DbConn, scope: Scope) -> QueryResult<Vec<AutoPruneRow>> {
    in_scope!(autoprunepolicy, scope)
        .select(AUTOPRUNE_COLUMNS)
        .order(autoprunepolicy::id.asc())
        .load(c)
}

/// Every auto-prune policy of the namespace, its repositories' included.
pub fn autoprune_of_namespace(c: &mut DbConn, namespace_id: i64) -> QueryResult<Vec<AutoPruneRow>> {
    autoprunepolicy::table
        .filter(autoprunepolicy::namespace_id.eq(namespace_id))
        .select(AUTOPRUNE_COLUMNS)
        .order(autoprunepolicy::id.asc())
        .load(c)
}

/// What an auto-prune policy says.
pub struct AutoPruneFields<'a> {
    pub method: &'a str,
    pub value: &'a str,
    pub tag_pattern: Option<&'a str>,
    pub tag_pattern_matches: bool,
}

pub fn autoprune_insert(c: &mut DbConn, scope: Scope, uuid: &str, f: &AutoPruneFields<'_>) -> QueryResult<()> {
    diesel::insert_into(autoprunepolicy::table)
        .values((
            autoprunepolicy::uuid.eq(uuid),
            autoprunepolicy::namespace_id.eq(scope.namespace_id),
            autoprunepolicy::repository_id.eq(scope.repository_id),
            autoprunepolicy::method.eq(f.method),
            autoprunepolicy::value.eq(f.value),
            autoprunepolicy::tag_pattern.eq(f.tag_pattern),
            autoprunepolicy::tag_pattern_matches.eq(f.tag_pattern_matches),
        ))
        .execute(c)
        .map(drop)
}

/// Changes a policy of the scope; returns whether it exists.
pub fn autoprune_update(c: &mut DbConn, scope: Scope, uuid: &str, f: &AutoPruneFields<'_>) -> QueryResult<bool> {
    let ids: Vec<i64> = in_scope!(autoprunepolicy, scope)
        .filter(autoprunepolicy::uuid.eq(uuid))
        .select(autoprunepolicy::id)
        .load(c)?;
    let n = diesel::update(autoprunepolicy::table.filter(autoprunepolicy::id.eq_any(ids)))
        .set((
            autoprunepolicy::method.eq(f.method),
            autoprunepolicy::value.eq(f.value),
            autoprunepolicy::tag_pattern.eq(f.tag_pattern),
            autoprunepolicy::tag_pattern_matches.eq(f.tag_pattern_matches),
        ))
        .execute(c)?;
    Ok(n > 0)
}

/// Deletes a policy of the scope; returns whether it existed.
pub fn autoprune_delete(c: &mut DbConn, scope: Scope, uuid: &str) -> QueryResult<bool> {
    let ids: Vec<i64> = in_scope!(autoprunepolicy, scope)
        .filter(autoprunepolicy::uuid.eq(uuid))
        .select(autoprunepolicy::id)
        .load(c)?;
    let n = diesel::delete(autoprunepolicy::table.filter(autoprunepolicy::id.eq_any(ids))).execute(c)?;
    Ok(n > 0)
}

/// Queues the namespace for pruning unless it is queued already.
pub fn ensure_task(c: &mut DbConn, namespace_id: i64) -> QueryResult<()> {
    let exists: bool = diesel::select(diesel::dsl::exists(
        autoprunetask::table.filter(autoprunetask::namespace_id.eq(namespace_id)),
    ))
    .get_result(c)?;
    if !exists {
        diesel::insert_into(autoprunetask::table)
            .values(autoprunetask::namespace_id.eq(namespace_id))
            .execute(c)?;
    }
    Ok(())
}

/// Claims the namespace task that ran longest ago (never-run first) and
/// last ran before `due_before`: marks it running at `now`. Returns its
/// namespace, or `None` when no task is due or another worker won it.
pub fn claim_task(c: &mut DbConn, now: i64, due_before: i64) -> QueryResult<Option<i64>> {
    let due: Vec<(i64, Option<i64>)> = autoprunetask::table
        .filter(
            autoprunetask::last_ran_ms
                .is_null()
                .or(autoprunetask::last_ran_ms.le(due_before)),
        )
        .select((autoprunetask::namespace_id, autoprunetask::last_ran_ms))
        .order((
            autoprunetask::last_ran_ms.is_not_null(),
            autoprunetask::last_ran_ms.asc(),
        ))
        .limit(1)
        .load(c)?;
    let Some((namespace_id, last)) = due.into_iter().next() else {
        return Ok(None);
    };
    let same = autoprunetask::table.filter(autoprunetask::namespace_id.eq(namespace_id));
    let claimed = match last {
        Some(l) => diesel::update(same.filter(autoprunetask::last_ran_ms.eq(l)))
            .set((autoprunetask::last_ran_ms.eq(now), autoprunetask::status.eq("running")))
            .execute(c)?,
        None => diesel::update(same.filter(autoprunetask::last_ran_ms.is_null()))
            .set((autoprunetask::last_ran_ms.eq(now), autoprunetask::status.eq("running")))
            .execute(c)?,
    };
    Ok((claimed == 1).then_some(namespace_id))
}

pub fn finish_task(c: &mut DbConn, namespace_id: i64, status: &str) -> QueryResult<()> {
    diesel::update(autoprunetask::table.filter(autoprunetask::namespace_id.eq(namespace_id)))
        .set(autoprunetask::status.eq(status))
        .execute(c)
        .map(drop)
}

pub fn delete_task(c: &mut DbConn, namespace_id: i64) -> QueryResult<()> {
    diesel::delete(autoprunetask::table.filter(autoprunetask::namespace_id.eq(namespace_id)))
        .execute(c)
        .map(drop)
}

/// Ids of the namespace's repositories in the normal state.
pub fn normal_repositories(c: &mut DbConn, namespace_id: i64) -> QueryResult<Vec<i64>> {
    repository::table
        .filter(repository::namespace_user_id.eq(namespace_id))
        .filter(repository::state.eq(0))
        .select(repository::id)
        .order(repository::id.asc())
        .load(c)
}

/// Alive, listed tags of a repository, newest start first, as (name,
/// start, immutable).
pub fn alive_tags_newest_first(c: &mut DbConn, repo_id: i64, now: i64) -> QueryResult<Vec<(String, i64, bool)>> {
    tag::table
        .filter(tag::repository_id.eq(repo_id))
        .filter(tag::hidden.eq(false))
        .filter(super::tags::alive(now))
        .select((tag::name, tag::lifetime_start_ms, tag::immutable))
        .order((tag::lifetime_start_ms.desc(), tag::id.desc()))
        .load(c)
}
