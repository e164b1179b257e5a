//! Repository mirror configurations (`repomirrorconfig`): what a mirror
//! copies and from where, and the state of its syncs.
//!
//! The settings (what an admin edits) and the sync status (what sync-now,
//! sync-cancel and the worker move) are written by separate statements, so
//! an edit never undoes a status change made meanwhile. Status moves are
//! conditional UPDATEs on the status expected, reporting whether they
//! changed the row, so of two workers exactly one claims a sync.

use diesel::prelude::*;

use crate::db::schema::{manifest, repomirrorconfig, repository, tag, users};
use crate::db::DbConn;

/// Quay's `RepoMirrorStatus` numbers.
pub const CANCEL: i32 = -2;
pub const FAIL: i32 = -1;
pub const NEVER_RUN: i32 = 0;
pub const SUCCESS: i32 = 1;
pub const SYNCING: i32 = 2;
pub const SYNC_NOW: i32 = 3;

/// The status moves every mirror table (`repomirrorconfig`,
/// `orgmirrorconfig`, `orgmirrorrepository`) makes alike, as changesets of
/// the table named: a worker's claim until `lease_until` ...
macro_rules! claimed {
    ($t:ident, $lease_until:expr, $transaction:expr) => {
        (
            $t::sync_status.eq($crate::db::queries::mirrors::SYNCING),
            $t::sync_expiration_date.eq(Some($lease_until)),
            $t::sync_transaction_id.eq($transaction),
        )
    };
}

/// ... the end of a claimed sync, by a [`Release`] ...
macro_rules! released {
    ($t:ident, $release:expr) => {
        (
            $t::sync_status.eq($release.status),
            $t::sync_start_date.eq($release.next_start),
            $t::sync_expiration_date.eq(None::<i64>),
            $t::sync_retries_remaining.eq($release.retries),
            $t::sync_transaction_id.eq(""),
        )
    };
}

/// ... and a cancel through the API: no claim, and no retry before the
/// next sync-now.
macro_rules! cancelled {
    ($t:ident) => {
        (
            $t::sync_status.eq($crate::db::queries::mirrors::CANCEL),
            $t::sync_expiration_date.eq(None::<i64>),
            $t::sync_transaction_id.eq(""),
            $t::sync_retries_remaining.eq(0),
        )
    };
}

pub(super) use {cancelled, claimed, released};

pub(super) type Backend = <DbConn as diesel::Connection>::Backend;
/// A boxed condition on the rows of table `T` (which mirrors are due).
pub(super) type Condition<T> = Box<dyn BoxableExpression<T, Backend, SqlType = diesel::sql_types::Bool>>;

/// What an admin sets on a mirror.
#[derive(Debug, Clone, PartialEq, Eq, Insertable, AsChangeset, Queryable, Selectable)]
#[diesel(table_name = repomirrorconfig, treat_none_as_null = true)]
pub struct MirrorSettings {
    pub is_enabled: bool,
    pub internal_robot_id: Option<i64>,
    pub external_reference: String,
    /// Encrypted.
    pub external_registry_username: Option<String>,
    /// Encrypted.
    pub external_registry_password: Option<String>,
    /// JSON object.
    pub external_registry_config: String,
    pub sync_interval: i64,
    pub sync_start_date: Option<i64>,
    /// JSON array of tag globs.
    pub root_rule: String,
    pub skopeo_timeout: i64,
}

/// A mirror with its sync status.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = repomirrorconfig)]
pub struct MirrorRow {
    pub id: i64,
    pub repository_id: i64,
    #[diesel(embed)]
    pub settings: MirrorSettings,
    pub sync_expiration_date: Option<i64>,
    pub sync_retries_remaining: i32,
    pub sync_status: i32,
    pub sync_transaction_id: String,
    pub sync_tags_done: i32,
    pub sync_tags_total: i32,
}

pub fn find(c: &mut DbConn, repository_id: i64) -> QueryResult<Option<MirrorRow>> {
    repomirrorconfig::table
        .filter(repomirrorconfig::repository_id.eq(repository_id))
        .select(MirrorRow::as_select())
        .first(c)
        .optional()
}

/// Inserts the mirror of a repository; false when it has one already.
pub fn insert(c: &mut DbConn, repository_id: i64, settings: &MirrorSettings, retries: i32) -> QueryResult<bool> {
    if find(c, repository_id)?.is_some() {
        return Ok(false);
    }
    let n = diesel::insert_into(repomirrorconfig::table)
        .values((
            repomirrorconfig::repository_id.eq(repository_id),
            settings,
            repomirrorconfig::sync_retries_remaining.eq(retries),
            repomirrorconfig::sync_status.eq(NEVER_RUN),
        ))
        .execute(c);
    match n {
        Ok(n) => Ok(n == 1),
        Err(e) if super::is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

pub fn update_settings(c: &mut DbConn, repository_id: i64, settings: &MirrorSettings) -> QueryResult<bool> {
    let n = diesel::update(repomirrorconfig::table.filter(repomirrorconfig::repository_id.eq(repository_id)))
        .set(settings)
        .execute(c)?;
    Ok(n == 1)
}

/// Asks for a sync as soon as possible (Quay: not while one runs). False
/// when the mirror is syncing.
pub fn sync_now(c: &mut DbConn, repository_id: i64, retries: i32) -> QueryResult<bool> {
    let n = diesel::update(
        repomirrorconfig::table
            .filter(repomirrorconfig::repository_id.eq(repository_id))
            .filter(repomirrorconfig::sync_status.ne(SYNCING)),
    )
    .set((
        repomirrorconfig::sync_status.eq(SYNC_NOW),
        repomirrorconfig::sync_expiration_date.eq(None::<i64>),
        repomirrorconfig::sync_retries_remaining.eq(retries),
    ))
    .execute(c)?;
    Ok(n == 1)
}

/// Cancels a running or requested sync; a worker sees the status change
/// and stops. False when there is nothing to cancel.
pub fn cancel(c: &mut DbConn, repository_id: i64) -> QueryResult<bool> {
    let n = diesel::update(
        repomirrorconfig::table
            .filter(repomirrorconfig::repository_id.eq(repository_id))
            .filter(repomirrorconfig::sync_status.eq_any([SYNCING, SYNC_NOW])),
    )
    // As Quay: a cancelled mirror waits for the next sync-now.
    .set(cancelled!(repomirrorconfig))
    .execute(c)?;
    Ok(n == 1)
}

/// Drops a deleted robot from the mirrors (and organization mirrors) it
/// pushed for.
pub fn forget_robot(c: &mut DbConn, robot_id: i64) -> QueryResult<usize> {
    super::org_mirrors::forget_robot(c, robot_id)?;
    diesel::update(repomirrorconfig::table.filter(repomirrorconfig::internal_robot_id.eq(robot_id)))
        .set(repomirrorconfig::internal_robot_id.eq(None::<i64>))
        .execute(c)
}

/// The username of an account (the mirror's robot).
pub fn username(c: &mut DbConn, account_id: i64) -> QueryResult<Option<String>> {
    users::table
        .find(account_id)
        .select(users::username)
        .first(c)
        .optional()
}

pub fn set_repository_state(c: &mut DbConn, repository_id: i64, state: i32) -> QueryResult<()> {
    diesel::update(repository::table.find(repository_id))
        .set(repository::state.eq(state))
        .execute(c)
        .map(drop)
}

/// Quay's `repository.state` of a mirrored repository.
const MIRROR_STATE: i32 = 2;

/// Mirrors a worker may claim at `now`: their repository is in state
/// MIRROR and they were asked to sync now, or are enabled with retries
/// left and due (not syncing), or their syncing claim expired.
fn due(now: i64) -> Condition<repomirrorconfig::table> {
    let mirrored = repository::table
        .filter(repository::state.eq(MIRROR_STATE))
        .select(repository::id);
    let requested = repomirrorconfig::sync_status
        .eq(SYNC_NOW)
        .and(repomirrorconfig::sync_expiration_date.is_null());
    let scheduled = repomirrorconfig::is_enabled
        .eq(true)
        .and(repomirrorconfig::sync_retries_remaining.gt(0))
        .and(repomirrorconfig::sync_status.ne(SYNCING))
        .and(repomirrorconfig::sync_expiration_date.is_null())
        .and(repomirrorconfig::sync_start_date.is_not_null())
        .and(repomirrorconfig::sync_start_date.assume_not_null().le(now));
    let expired = repomirrorconfig::sync_status
        .eq(SYNCING)
        .and(repomirrorconfig::sync_retries_remaining.gt(0))
        .and(repomirrorconfig::sync_expiration_date.is_not_null())
        .and(repomirrorconfig::sync_expiration_date.assume_not_null().le(now));
    Box::new(
        repomirrorconfig::repository_id
            .eq_any(mirrored)
            .and(requested.or(scheduled).or(expired)),
    )
}

/// Up to `limit` mirrors due at `now`, longest waiting first.
pub fn due_rows(c: &mut DbConn, now: i64, limit: i64) -> QueryResult<Vec<MirrorRow>> {
    repomirrorconfig::table
        .filter(due(now))
        .order((repomirrorconfig::sync_start_date.asc(), repomirrorconfig::id.asc()))
        .limit(limit)
        .select(MirrorRow::as_select())
        .load(c)
}

/// Claims a due mirror for one sync: SYNCING, with `transaction` as the
/// claim's holder until `lease_until`. False when it is no longer due
/// (another worker claimed it first, it was cancelled, its repository left
/// the MIRROR state).
pub fn claim(c: &mut DbConn, id: i64, now: i64, lease_until: i64, transaction: &str) -> QueryResult<bool> {
    let n = diesel::update(
        repomirrorconfig::table
            .filter(repomirrorconfig::id.eq(id))
            .filter(due(now)),
    )
    .set((
        claimed!(repomirrorconfig, lease_until, transaction),
        repomirrorconfig::sync_tags_done.eq(0),
        repomirrorconfig::sync_tags_total.eq(0),
    ))
    .execute(c)?;
    Ok(n == 1)
}

/// Records a running sync's progress and extends its claim; false when the
/// claim is gone (cancelled, taken over after it expired, or the
/// repository left the MIRROR state): the sync must stop.
pub fn progress(
    c: &mut DbConn,
    id: i64,
    transaction: &str,
    (done, total): (i32, i32),
    lease_until: i64,
) -> QueryResult<bool> {
    let mirrored = repository::table
        .filter(repository::state.eq(MIRROR_STATE))
        .select(repository::id);
    let n = diesel::update(
        repomirrorconfig::table
            .filter(repomirrorconfig::id.eq(id))
            .filter(repomirrorconfig::sync_transaction_id.eq(transaction))
            .filter(repomirrorconfig::sync_status.eq(SYNCING))
            .filter(repomirrorconfig::repository_id.eq_any(mirrored)),
    )
    .set((
        repomirrorconfig::sync_tags_done.eq(done),
        repomirrorconfig::sync_tags_total.eq(total),
        repomirrorconfig::sync_expiration_date.eq(Some(lease_until)),
    ))
    .execute(c)?;
    Ok(n == 1)
}

/// How a sync ends: the status and when the next one is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Release {
    pub status: i32,
    pub next_start: Option<i64>,
    pub retries: i32,
}

/// Ends a claimed sync; false when the claim was no longer held.
pub fn release(c: &mut DbConn, id: i64, transaction: &str, r: Release) -> QueryResult<bool> {
    let n = diesel::update(
        repomirrorconfig::table
            .filter(repomirrorconfig::id.eq(id))
            .filter(repomirrorconfig::sync_transaction_id.eq(transaction)),
    )
    .set(released!(repomirrorconfig, r))
    .execute(c)?;
    Ok(n == 1)
}

/// The status of a mirror (`None` when it is gone).
pub fn status(c: &mut DbConn, id: i64) -> QueryResult<Option<i32>> {
    repomirrorconfig::table
        .find(id)
        .select(repomirrorconfig::sync_status)
        .first(c)
        .optional()
}

/// The listed, alive tags of a repository with their manifest digests.
pub fn alive_tags(c: &mut DbConn, repository_id: i64, now: i64) -> QueryResult<Vec<(String, String)>> {
    tag::table
        .inner_join(manifest::table)
        .filter(tag::repository_id.eq(repository_id))
        .filter(tag::hidden.eq(false))
        .filter(super::tags::alive(now))
        .select((tag::name, manifest::digest))
        .order(tag::name.asc())
        .load(c)
}

/// Removes the mirror of a deleted repository (and unlinks it from the
/// organization mirror that created it).
pub fn delete_of_repository(c: &mut DbConn, repository_id: i64) -> QueryResult<usize> {
    super::org_mirror_repos::unlink_repository(c, repository_id)?;
    diesel::delete(repomirrorconfig::table.filter(repomirrorconfig::repository_id.eq(repository_id))).execute(c)
}

/// Removes the mirrors of a deleted namespace's repositories, and its
/// organization mirror.
pub fn delete_of_namespace(c: &mut DbConn, namespace_id: i64) -> QueryResult<usize> {
    super::org_mirrors::delete_of_namespace(c, namespace_id)?;
    let repos = repository::table
        .filter(repository::namespace_user_id.eq(namespace_id))
        .select(repository::id);
    diesel::delete(repomirrorconfig::table.filter(repomirrorconfig::repository_id.eq_any(repos))).execute(c)
}

/// One enabled mirror of a repository in the MIRROR state, as the health
/// report reads it.
#[derive(Debug, Clone, Queryable)]
pub struct HealthRow {
    pub namespace: String,
    pub repository: String,
    pub sync_status: i32,
    pub retries_remaining: i32,
    pub tags_done: i32,
    pub tags_total: i32,
}

/// Every enabled mirror (of `namespace` only, when given), by namespace id
/// and repository name.
pub fn health_rows(c: &mut DbConn, namespace: Option<&str>) -> QueryResult<Vec<HealthRow>> {
    let mut q = repomirrorconfig::table
        .inner_join(repository::table.inner_join(users::table))
        .filter(repomirrorconfig::is_enabled.eq(true))
        .filter(repository::state.eq(crate::service::mirrors::MIRROR))
        .order((users::id.asc(), repository::name.asc()))
        .select((
            users::username,
            repository::name,
            repomirrorconfig::sync_status,
            repomirrorconfig::sync_retries_remaining,
            repomirrorconfig::sync_tags_done,
            repomirrorconfig::sync_tags_total,
        ))
        .into_boxed();
    if let Some(ns) = namespace {
        q = q.filter(users::username.eq(ns.to_owned()));
    }
    q.load(c)
}
