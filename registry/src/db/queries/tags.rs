use diesel::dsl::{max, Gt, IsNull, Or};
use diesel::prelude::*;

use crate::db::schema::{manifest, repository, tag, users};
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
    let alive: Option<i64> = tag::table
        .filter(tag::repository_id.eq(t.repository_id))
        .filter(tag::name.eq(t.name))
        .filter(alive(t.now))
        .select(tag::manifest_id)
        .first(c)
        .optional()?;
    if alive.is_some_and(|manifest_id| manifest_id == t.manifest_id && t.end.is_none()) {
        return Ok(());
    }
    retarget(c, t, false)
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

/// Ends every alive tag (hidden ones included) that points at the manifest;
/// returns their names and whether each is hidden.
pub fn end_all_for_manifest(
    c: &mut DbConn,
    repo_id: i64,
    manifest_id: i64,
    now: i64,
) -> QueryResult<Vec<(String, bool)>> {
    let alive: Vec<(i64, String, bool)> = tag::table
        .filter(tag::repository_id.eq(repo_id))
        .filter(tag::manifest_id.eq(manifest_id))
        .filter(alive(now))
        .select((tag::id, tag::name, tag::hidden))
        .load(c)?;
    for (id, name, _) in &alive {
        let end = free_end_ms(c, repo_id, name, *id, now)?;
        diesel::update(tag::table.filter(tag::id.eq(id)))
            .set(tag::lifetime_end_ms.eq(end))
            .execute(c)?;
    }
    Ok(alive.into_iter().map(|(_, name, hidden)| (name, hidden)).collect())
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
    let since = now - window_s(c, repo_id)?.saturating_mul(1000);
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

diesel::define_sql_function!(fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text);

/// One tag lifetime as the tag API shows it.
#[derive(Debug, Clone, Queryable)]
pub struct TagRow {
    pub id: i64,
    pub name: String,
    pub manifest_id: i64,
    pub reversion: bool,
    pub immutable: bool,
    pub lifetime_start_ms: i64,
    pub lifetime_end_ms: Option<i64>,
    pub manifest_digest: String,
    pub media_type: String,
    pub size: i64,
}

type RowColumns = (
    tag::id,
    tag::name,
    tag::manifest_id,
    tag::reversion,
    tag::immutable,
    tag::lifetime_start_ms,
    tag::lifetime_end_ms,
    manifest::digest,
    manifest::media_type,
    manifest::layers_compressed_size,
);

const ROW_COLUMNS: RowColumns = (
    tag::id,
    tag::name,
    tag::manifest_id,
    tag::reversion,
    tag::immutable,
    tag::lifetime_start_ms,
    tag::lifetime_end_ms,
    manifest::digest,
    manifest::media_type,
    manifest::layers_compressed_size,
);

/// How a history listing narrows tag names.
#[derive(Debug, Clone)]
pub enum NameFilter {
    /// Names containing this text, ignoring case.
    Like(String),
    /// Exactly this name.
    Eq(String),
}

/// A page of a repository's listed tag lifetimes.
#[derive(Debug, Clone)]
pub struct HistoryQuery {
    pub repo_id: i64,
    pub specific: Option<String>,
    pub filter: Option<NameFilter>,
    pub only_active: bool,
    pub offset: i64,
    pub limit: i64,
    pub now: i64,
}

/// Listed (not hidden) tag lifetimes, dead and alive, newest start first.
pub fn history(c: &mut DbConn, h: &HistoryQuery) -> QueryResult<Vec<TagRow>> {
    let mut q = tag::table
        .inner_join(manifest::table)
        .filter(tag::repository_id.eq(h.repo_id))
        .filter(tag::hidden.eq(false))
        .select(ROW_COLUMNS)
        .order((tag::lifetime_start_ms.desc(), tag::name.asc(), tag::id.desc()))
        .offset(h.offset)
        .limit(h.limit)
        .into_boxed();
    if let Some(name) = &h.specific {
        q = q.filter(tag::name.eq(name.clone()));
    }
    match &h.filter {
        Some(NameFilter::Eq(name)) => q = q.filter(tag::name.eq(name.clone())),
        Some(NameFilter::Like(text)) => {
            let pattern = format!("%{}%", escape_like(&text.to_lowercase()));
            q = q.filter(lower(tag::name).like(pattern).escape('\\'));
        }
        None => {}
    }
    if h.only_active {
        q = q.filter(alive(h.now));
    }
    q.load(c)
}

fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

/// The alive, listed lifetime of a tag.
pub fn alive_row(c: &mut DbConn, repo_id: i64, name: &str, now: i64) -> QueryResult<Option<TagRow>> {
    tag::table
        .inner_join(manifest::table)
        .filter(tag::repository_id.eq(repo_id))
        .filter(tag::name.eq(name))
        .filter(tag::hidden.eq(false))
        .filter(alive(now))
        .select(ROW_COLUMNS)
        .first(c)
        .optional()
}

/// Listed lifetimes of a tag that ended within `(since, now]`, newest end first.
pub fn dead_rows_since(c: &mut DbConn, repo_id: i64, name: &str, since: i64, now: i64) -> QueryResult<Vec<TagRow>> {
    tag::table
        .inner_join(manifest::table)
        .filter(tag::repository_id.eq(repo_id))
        .filter(tag::name.eq(name))
        .filter(tag::hidden.eq(false))
        .filter(tag::lifetime_end_ms.le(now))
        .filter(tag::lifetime_end_ms.gt(since))
        .order(tag::lifetime_end_ms.desc())
        .select(ROW_COLUMNS)
        .load(c)
}

/// Moves a lifetime's end (`None`: never ends).
pub fn set_end(c: &mut DbConn, id: i64, end: Option<i64>) -> QueryResult<()> {
    diesel::update(tag::table.filter(tag::id.eq(id)))
        .set(tag::lifetime_end_ms.eq(end))
        .execute(c)
        .map(drop)
}

/// An end time at or before `target` that no other lifetime of the tag ends at.
pub fn free_end_before(c: &mut DbConn, repo_id: i64, name: &str, except: i64, target: i64) -> QueryResult<i64> {
    let taken: Vec<Option<i64>> = tag::table
        .filter(tag::repository_id.eq(repo_id))
        .filter(tag::name.eq(name))
        .filter(tag::id.ne(except))
        .filter(tag::lifetime_end_ms.le(target))
        .select(tag::lifetime_end_ms)
        .load(c)?;
    let mut end = target;
    while taken.contains(&Some(end)) {
        end -= 1;
    }
    Ok(end)
}

/// Starts a new lifetime of `name` at the manifest, ending the alive one
/// (hidden ones included) first; `reversion` marks a restore.
pub fn retarget(c: &mut DbConn, t: &NewTag<'_>, reversion: bool) -> QueryResult<()> {
    let alive: Option<i64> = tag::table
        .filter(tag::repository_id.eq(t.repository_id))
        .filter(tag::name.eq(t.name))
        .filter(alive(t.now))
        .select(tag::id)
        .first(c)
        .optional()?;
    if let Some(id) = alive {
        let end = free_end_ms(c, t.repository_id, t.name, id, t.now)?;
        set_end(c, id, Some(end))?;
    }
    diesel::insert_into(tag::table)
        .values((
            tag::name.eq(t.name),
            tag::repository_id.eq(t.repository_id),
            tag::manifest_id.eq(t.manifest_id),
            tag::lifetime_start_ms.eq(t.now),
            tag::lifetime_end_ms.eq(t.end),
            tag::hidden.eq(t.hidden),
            tag::reversion.eq(reversion),
        ))
        .execute(c)
        .map(drop)
}

/// Whether the manifest is still held: an alive tag (hidden ones included)
/// points at it, or one that ended after `since` (the time-machine window).
pub fn manifest_held_since(c: &mut DbConn, repo_id: i64, manifest_id: i64, since: i64) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        tag::table
            .filter(tag::repository_id.eq(repo_id))
            .filter(tag::manifest_id.eq(manifest_id))
            .filter(tag::lifetime_end_ms.is_null().or(tag::lifetime_end_ms.gt(since))),
    ))
    .get_result(c)
}

/// The namespace's time-machine window of the repository, in seconds.
pub fn window_s(c: &mut DbConn, repo_id: i64) -> QueryResult<i64> {
    repository::table
        .inner_join(users::table)
        .filter(repository::id.eq(repo_id))
        .select(users::removed_tag_expiration_s)
        .first(c)
}

/// Alive, listed tags whose end falls in `(now, until]`, as
/// (repository id, tag name, end): what `repo_image_expiry` notifications report.
pub fn expiring_between(c: &mut DbConn, now: i64, until: i64) -> QueryResult<Vec<(i64, String, i64)>> {
    tag::table
        .filter(tag::hidden.eq(false))
        .filter(tag::lifetime_end_ms.gt(now))
        .filter(tag::lifetime_end_ms.le(until))
        .select((tag::repository_id, tag::name, tag::lifetime_end_ms.assume_not_null()))
        .order(tag::lifetime_end_ms.asc())
        .load(c)
}

/// The name of an alive, immutable tag pointing at the manifest, if any.
pub fn immutable_for_manifest(c: &mut DbConn, repo_id: i64, manifest_id: i64, now: i64) -> QueryResult<Option<String>> {
    tag::table
        .filter(tag::repository_id.eq(repo_id))
        .filter(tag::manifest_id.eq(manifest_id))
        .filter(tag::immutable.eq(true))
        .filter(alive(now))
        .select(tag::name)
        .first(c)
        .optional()
}
