use diesel::dsl::{max, Gt, IsNull, Or};
use diesel::prelude::*;

use crate::db::schema::{repository, tag, users};
use crate::db::DbConn;

/// Rows alive at `now`: no end, or an end still ahead.
pub type Alive = Or<IsNull<tag::lifetime_end_ms>, Gt<tag::lifetime_end_ms, i64>>;

/// The filter for tag rows alive at `now`.
pub fn alive(now: i64) -> Alive {
    tag::lifetime_end_ms.is_null().or(tag::lifetime_end_ms.gt(now))
}

/// How a tag row starts.
pub struct NewTag<'a> {
    pub repository_id: i64,
    pub name: &'a str,
    pub manifest_id: i64,
    pub now: i64,
    pub hidden: bool,
    pub end: Option<i64>,
}

/// Points `name` at a manifest: ends the current lifetime and starts a new
/// one, unless the tag already points there.
pub fn set(c: &mut DbConn, t: &NewTag<'_>) -> QueryResult<()> {
    let alive: Option<(i64, i64)> = tag::table
        .filter(tag::repository_id.eq(t.repository_id))
        .filter(tag::name.eq(t.name))
        .filter(alive(t.now))
        .select((tag::id, tag::manifest_id))
        .first(c)
        .optional()?;
    if let Some((id, manifest_id)) = alive {
        if manifest_id == t.manifest_id && t.end.is_none() {
            return Ok(());
        }
        let end = free_end_ms(c, t.repository_id, t.name, id, t.now)?;
        diesel::update(tag::table.filter(tag::id.eq(id)))
            .set(tag::lifetime_end_ms.eq(end))
            .execute(c)?;
    }
    diesel::insert_into(tag::table)
        .values((
            tag::name.eq(t.name),
            tag::repository_id.eq(t.repository_id),
            tag::manifest_id.eq(t.manifest_id),
            tag::lifetime_start_ms.eq(t.now),
            tag::lifetime_end_ms.eq(t.end),
            tag::hidden.eq(t.hidden),
        ))
        .execute(c)
        .map(drop)
}

/// An end time at or after `now` that no other lifetime of the tag ends at
/// (lifetimes are unique per repository, name and end).
fn free_end_ms(c: &mut DbConn, repo_id: i64, name: &str, except: i64, now: i64) -> QueryResult<i64> {
    let latest: Option<i64> = tag::table
        .filter(tag::repository_id.eq(repo_id))
        .filter(tag::name.eq(name))
        .filter(tag::id.ne(except))
        .select(max(tag::lifetime_end_ms))
        .first(c)?;
    Ok(latest.map_or(now, |l| now.max(l + 1)))
}

/// Ends the alive lifetime of a listed tag; returns whether there was one.
pub fn end(c: &mut DbConn, repo_id: i64, name: &str, now: i64) -> QueryResult<bool> {
    let alive: Option<i64> = tag::table
        .filter(tag::repository_id.eq(repo_id))
        .filter(tag::name.eq(name))
        .filter(tag::hidden.eq(false))
        .filter(alive(now))
        .select(tag::id)
        .first(c)
        .optional()?;
    let Some(id) = alive else { return Ok(false) };
    let end = free_end_ms(c, repo_id, name, id, now)?;
    diesel::update(tag::table.filter(tag::id.eq(id)))
        .set(tag::lifetime_end_ms.eq(end))
        .execute(c)?;
    Ok(true)
}

/// Ends every alive tag (hidden ones included) that points at the manifest.
pub fn end_all_for_manifest(c: &mut DbConn, repo_id: i64, manifest_id: i64, now: i64) -> QueryResult<usize> {
    let alive: Vec<(i64, String)> = tag::table
        .filter(tag::repository_id.eq(repo_id))
        .filter(tag::manifest_id.eq(manifest_id))
        .filter(alive(now))
        .select((tag::id, tag::name))
        .load(c)?;
    for (id, name) in &alive {
        let end = free_end_ms(c, repo_id, name, *id, now)?;
        diesel::update(tag::table.filter(tag::id.eq(id)))
            .set(tag::lifetime_end_ms.eq(end))
            .execute(c)?;
    }
    Ok(alive.len())
}

/// Names of alive, listed tags in lexical order, after `last`.
pub fn page(c: &mut DbConn, repo_id: i64, last: Option<&str>, limit: i64, now: i64) -> QueryResult<Vec<String>> {
    let mut q = tag::table
        .filter(tag::repository_id.eq(repo_id))
        .filter(tag::hidden.eq(false))
        .filter(alive(now))
        .select(tag::name)
        .order(tag::name.asc())
        .limit(limit)
        .into_boxed();
    if let Some(last) = last {
        q = q.filter(tag::name.gt(last.to_owned()));
    }
    q.load(c)
}

/// Whether a listed tag of this name ended recently enough to be restored
/// (within the namespace's `removed_tag_expiration_s`).
pub fn dead_within_window(c: &mut DbConn, repo_id: i64, name: &str, now: i64) -> QueryResult<bool> {
    let window_s: i64 = repository::table
        .inner_join(users::table)
        .filter(repository::id.eq(repo_id))
        .select(users::removed_tag_expiration_s)
        .first(c)?;
    let since = now - window_s.saturating_mul(1000);
    diesel::select(diesel::dsl::exists(
        tag::table
            .filter(tag::repository_id.eq(repo_id))
            .filter(tag::name.eq(name))
            .filter(tag::hidden.eq(false))
            .filter(tag::lifetime_end_ms.le(now))
            .filter(tag::lifetime_end_ms.gt(since)),
    ))
    .get_result(c)
}
