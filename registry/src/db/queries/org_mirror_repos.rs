//! The repositories discovered for organization mirrors
//! (`orgmirrorrepository`): recorded by discovery, claimed and released by
//! repository syncs with conditional UPDATEs, listed by the API.

use std::collections::HashSet;

use diesel::prelude::*;

use super::mirrors::{claimed, released, Condition, Release, CANCEL, NEVER_RUN, SYNCING, SYNC_NOW};
use crate::db::schema::{orgmirrorconfig, orgmirrorrepository, repository, users};
use crate::db::DbConn;

const MARKED_FOR_DELETION: i32 = 3;

/// A repository discovered in the source namespace.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = orgmirrorrepository)]
pub struct OrgRepoRow {
    pub id: i64,
    pub org_mirror_config_id: i64,
    pub repository_name: String,
    pub repository_id: Option<i64>,
    pub discovery_date: i64,
    pub sync_status: i32,
    pub sync_start_date: Option<i64>,
    pub sync_expiration_date: Option<i64>,
    pub sync_retries_remaining: i32,
    pub sync_transaction_id: String,
    pub last_sync_date: Option<i64>,
    pub status_message: Option<String>,
    pub creation_date: i64,
}

/// Rows inserted by one statement (5 parameters each, well within
/// SQLite's and PostgreSQL's limits on parameters).
const INSERT_CHUNK: usize = 100;

/// Records the discovered names not listed yet; how many were new.
pub fn add_discovered(c: &mut DbConn, config_id: i64, names: &[String], now: i64) -> QueryResult<usize> {
    use orgmirrorrepository as t;
    let known: HashSet<String> = t::table
        .filter(t::org_mirror_config_id.eq(config_id))
        .select(t::repository_name)
        .load::<String>(c)?
        .into_iter()
        .collect();
    let new: Vec<_> = names
        .iter()
        .filter(|n| !known.contains(*n))
        .map(|name| {
            (
                t::org_mirror_config_id.eq(config_id),
                t::repository_name.eq(name),
                t::discovery_date.eq(now),
                t::sync_status.eq(NEVER_RUN),
                t::creation_date.eq(now),
            )
        })
        .collect();
    let mut added = 0;
    for chunk in new.chunks(INSERT_CHUNK) {
        added += crate::per_backend!(c, |c| diesel::insert_into(t::table)
            .values(chunk.to_vec())
            .on_conflict_do_nothing()
            .execute(c))?;
    }
    Ok(added)
}

/// Quay's `propagate_status_to_repos` for SYNC_NOW (running syncs are left
/// alone) and CANCEL (running syncs see it and stop).
pub fn propagate(c: &mut DbConn, config_id: i64, status: i32, now: i64, retries: i32) -> QueryResult<usize> {
    use orgmirrorrepository as t;
    let of_config = t::table
        .filter(t::org_mirror_config_id.eq(config_id))
        .filter(t::sync_status.ne(status));
    if status == CANCEL {
        diesel::update(of_config)
            .set((
                t::sync_status.eq(CANCEL),
                t::sync_start_date.eq(None::<i64>),
                t::sync_retries_remaining.eq(0),
            ))
            .execute(c)
    } else {
        diesel::update(of_config.filter(t::sync_status.ne(SYNCING)))
            .set((
                t::sync_status.eq(status),
                t::sync_start_date.eq(Some(now)),
                t::sync_retries_remaining.eq(retries),
            ))
            .execute(c)
    }
}

/// Schedules the never-synced, unscheduled repositories of a configuration
/// for now (after a scheduled discovery).
pub fn schedule_new(c: &mut DbConn, config_id: i64, now: i64, retries: i32) -> QueryResult<usize> {
    use orgmirrorrepository as t;
    diesel::update(
        t::table
            .filter(t::org_mirror_config_id.eq(config_id))
            .filter(t::sync_status.eq(NEVER_RUN))
            .filter(t::sync_start_date.is_null()),
    )
    .set((t::sync_start_date.eq(Some(now)), t::sync_retries_remaining.eq(retries)))
    .execute(c)
}

/// Repositories a worker may sync at `now` (Quay's
/// `get_eligible_org_mirror_repos`), of enabled configurations only.
fn due_repo(now: i64) -> Condition<orgmirrorrepository::table> {
    use orgmirrorrepository as t;
    let enabled = orgmirrorconfig::table
        .filter(orgmirrorconfig::is_enabled.eq(true))
        .select(orgmirrorconfig::id);
    let requested = t::sync_status.eq(SYNC_NOW).and(t::sync_expiration_date.is_null());
    let started = t::sync_start_date
        .is_not_null()
        .and(t::sync_start_date.assume_not_null().le(now))
        .and(t::sync_retries_remaining.gt(0));
    let scheduled = t::sync_status.ne(SYNCING).and(t::sync_expiration_date.is_null());
    let expired = t::sync_status
        .eq(SYNCING)
        .and(t::sync_expiration_date.is_not_null())
        .and(t::sync_expiration_date.assume_not_null().le(now));
    Box::new(
        t::org_mirror_config_id
            .eq_any(enabled)
            .and(t::sync_status.ne(CANCEL))
            .and(requested.or(started.and(scheduled.or(expired)))),
    )
}

pub fn due_repos(c: &mut DbConn, now: i64, limit: i64) -> QueryResult<Vec<OrgRepoRow>> {
    orgmirrorrepository::table
        .filter(due_repo(now))
        .order((
            orgmirrorrepository::sync_start_date.asc(),
            orgmirrorrepository::id.asc(),
        ))
        .limit(limit)
        .select(OrgRepoRow::as_select())
        .load(c)
}

pub fn claim_repo(c: &mut DbConn, id: i64, now: i64, lease_until: i64, transaction: &str) -> QueryResult<bool> {
    let n = diesel::update(orgmirrorrepository::table.find(id).filter(due_repo(now)))
        .set(claimed!(orgmirrorrepository, lease_until, transaction))
        .execute(c)?;
    Ok(n == 1)
}

/// Extends a running repository sync's claim; false when the claim is gone
/// (cancelled, taken over, its configuration deleted).
pub fn progress_repo(c: &mut DbConn, id: i64, transaction: &str, lease_until: i64) -> QueryResult<bool> {
    let n = diesel::update(
        orgmirrorrepository::table
            .find(id)
            .filter(orgmirrorrepository::sync_transaction_id.eq(transaction))
            .filter(orgmirrorrepository::sync_status.eq(SYNCING)),
    )
    .set(orgmirrorrepository::sync_expiration_date.eq(Some(lease_until)))
    .execute(c)?;
    Ok(n == 1)
}

/// Ends a claimed repository sync; false when the claim was no longer held.
pub fn release_repo(
    c: &mut DbConn,
    id: i64,
    transaction: &str,
    r: Release,
    message: Option<&str>,
    now: i64,
) -> QueryResult<bool> {
    let n = diesel::update(
        orgmirrorrepository::table
            .find(id)
            .filter(orgmirrorrepository::sync_transaction_id.eq(transaction)),
    )
    .set((
        released!(orgmirrorrepository, r),
        orgmirrorrepository::last_sync_date.eq(Some(now)),
        orgmirrorrepository::status_message.eq(message),
    ))
    .execute(c)?;
    Ok(n == 1)
}

pub fn repo_status(c: &mut DbConn, id: i64) -> QueryResult<Option<i32>> {
    orgmirrorrepository::table
        .find(id)
        .select(orgmirrorrepository::sync_status)
        .first(c)
        .optional()
}

pub fn link_repository(c: &mut DbConn, id: i64, repository_id: i64) -> QueryResult<()> {
    diesel::update(orgmirrorrepository::table.find(id))
        .set(orgmirrorrepository::repository_id.eq(Some(repository_id)))
        .execute(c)
        .map(drop)
}

/// A page of the discovered repositories, by name, without those whose
/// repository is marked for deletion; and how many there are in all.
pub fn list_repos(c: &mut DbConn, config_id: i64, offset: i64, limit: i64) -> QueryResult<(Vec<OrgRepoRow>, i64)> {
    let deleted = || {
        repository::table
            .filter(repository::state.eq(MARKED_FOR_DELETION))
            .select(repository::id.nullable())
    };
    let base = || {
        orgmirrorrepository::table
            .filter(orgmirrorrepository::org_mirror_config_id.eq(config_id))
            .filter(
                orgmirrorrepository::repository_id
                    .is_null()
                    .or(diesel::dsl::not(orgmirrorrepository::repository_id.eq_any(deleted()))),
            )
    };
    let total = base().count().get_result(c)?;
    let rows = base()
        .order(orgmirrorrepository::repository_name.asc())
        .offset(offset)
        .limit(limit)
        .select(OrgRepoRow::as_select())
        .load(c)?;
    Ok((rows, total))
}

/// The robot an organization mirror pushes into `repository_id` as.
pub fn robot_of_repository(c: &mut DbConn, repository_id: i64) -> QueryResult<Option<String>> {
    orgmirrorrepository::table
        .inner_join(orgmirrorconfig::table)
        .inner_join(users::table.on(orgmirrorconfig::internal_robot_id.eq(users::id.nullable())))
        .filter(orgmirrorrepository::repository_id.eq(repository_id))
        .select(users::username)
        .first(c)
        .optional()
}

/// Unlinks a deleted repository from the discovered repository it mirrored.
pub fn unlink_repository(c: &mut DbConn, repository_id: i64) -> QueryResult<usize> {
    diesel::update(orgmirrorrepository::table.filter(orgmirrorrepository::repository_id.eq(repository_id)))
        .set(orgmirrorrepository::repository_id.eq(None::<i64>))
        .execute(c)
}
