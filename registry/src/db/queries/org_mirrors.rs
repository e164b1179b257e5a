//! Organization mirror configurations (`orgmirrorconfig`) and the
//! repositories discovered for them (`orgmirrorrepository`).
//!
//! As for repository mirrors, the settings an admin edits and the sync
//! status the API and the workers move are written by separate statements,
//! and every status move is a conditional UPDATE reporting whether it
//! changed the row, so of several workers exactly one claims a discovery or
//! a repository sync.

use diesel::prelude::*;

use super::mirrors::{Release, CANCEL, NEVER_RUN, SYNCING, SYNC_NOW};
use crate::db::schema::{orgmirrorconfig, orgmirrorrepository, repository, users};
use crate::db::DbConn;

/// Quay's `repository.state` of a repository an organization mirror syncs.
pub const ORG_MIRROR_STATE: i32 = 4;
const MARKED_FOR_DELETION: i32 = 3;

/// What an admin sets on an organization mirror.
#[derive(Debug, Clone, PartialEq, Eq, Insertable, AsChangeset, Queryable, Selectable)]
#[diesel(table_name = orgmirrorconfig, treat_none_as_null = true)]
pub struct OrgMirrorSettings {
    pub is_enabled: bool,
    /// 1 HARBOR, 2 QUAY.
    pub external_registry_type: i32,
    pub external_registry_url: String,
    pub external_namespace: String,
    /// Encrypted.
    pub external_registry_username: Option<String>,
    /// Encrypted.
    pub external_registry_password: Option<String>,
    /// JSON object.
    pub external_registry_config: String,
    pub internal_robot_id: Option<i64>,
    /// JSON array of repository-name globs.
    pub repository_filters: String,
    /// `public` or `private`: of the repositories created.
    pub visibility: String,
    pub sync_interval: i64,
    pub sync_start_date: Option<i64>,
    pub skopeo_timeout: i64,
}

/// An organization mirror with its discovery status.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = orgmirrorconfig)]
pub struct OrgMirrorRow {
    pub id: i64,
    pub organization_id: i64,
    pub creation_date: i64,
    #[diesel(embed)]
    pub settings: OrgMirrorSettings,
    pub sync_expiration_date: Option<i64>,
    pub sync_retries_remaining: i32,
    pub sync_status: i32,
    pub sync_transaction_id: String,
}

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

pub fn find(c: &mut DbConn, organization_id: i64) -> QueryResult<Option<OrgMirrorRow>> {
    orgmirrorconfig::table
        .filter(orgmirrorconfig::organization_id.eq(organization_id))
        .select(OrgMirrorRow::as_select())
        .first(c)
        .optional()
}

pub fn find_by_id(c: &mut DbConn, id: i64) -> QueryResult<Option<OrgMirrorRow>> {
    orgmirrorconfig::table
        .find(id)
        .select(OrgMirrorRow::as_select())
        .first(c)
        .optional()
}

/// Whether the organization holds any repository.
pub fn has_repositories(c: &mut DbConn, organization_id: i64) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        repository::table.filter(repository::namespace_user_id.eq(organization_id)),
    ))
    .get_result(c)
}

/// Inserts the organization's mirror; false when it has one already.
pub fn insert(c: &mut DbConn, organization_id: i64, settings: &OrgMirrorSettings, now: i64) -> QueryResult<bool> {
    if find(c, organization_id)?.is_some() {
        return Ok(false);
    }
    let n = diesel::insert_into(orgmirrorconfig::table)
        .values((
            orgmirrorconfig::organization_id.eq(organization_id),
            orgmirrorconfig::creation_date.eq(now),
            settings,
            orgmirrorconfig::sync_status.eq(NEVER_RUN),
        ))
        .execute(c);
    match n {
        Ok(n) => Ok(n == 1),
        Err(e) if super::is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

pub fn update_settings(c: &mut DbConn, id: i64, settings: &OrgMirrorSettings) -> QueryResult<bool> {
    let n = diesel::update(orgmirrorconfig::table.find(id))
        .set(settings)
        .execute(c)?;
    Ok(n == 1)
}

/// Deletes a configuration with its discovered repositories (the local
/// repositories stay).
pub fn delete(c: &mut DbConn, id: i64) -> QueryResult<bool> {
    diesel::delete(orgmirrorrepository::table.filter(orgmirrorrepository::org_mirror_config_id.eq(id))).execute(c)?;
    Ok(diesel::delete(orgmirrorconfig::table.find(id)).execute(c)? == 1)
}

/// Asks for a discovery and sync as soon as possible; false while one runs.
pub fn sync_now(c: &mut DbConn, id: i64, now: i64) -> QueryResult<bool> {
    let Some(row) = find_by_id(c, id)? else { return Ok(false) };
    if row.sync_status == SYNCING {
        return Ok(false);
    }
    let n = diesel::update(
        orgmirrorconfig::table
            .find(id)
            .filter(orgmirrorconfig::sync_status.ne(SYNCING)),
    )
    .set((
        orgmirrorconfig::sync_status.eq(SYNC_NOW),
        orgmirrorconfig::sync_start_date.eq(Some(now)),
        orgmirrorconfig::sync_expiration_date.eq(None::<i64>),
        orgmirrorconfig::sync_retries_remaining.eq(row.sync_retries_remaining.max(1)),
        orgmirrorconfig::sync_transaction_id.eq(""),
    ))
    .execute(c)?;
    Ok(n == 1)
}

/// Cancels from any status but CANCEL; the next worker pass carries the
/// cancel to the repositories. False when already cancelled.
pub fn cancel(c: &mut DbConn, id: i64) -> QueryResult<bool> {
    let n = diesel::update(
        orgmirrorconfig::table
            .find(id)
            .filter(orgmirrorconfig::sync_status.ne(CANCEL)),
    )
    .set((
        orgmirrorconfig::sync_status.eq(CANCEL),
        orgmirrorconfig::sync_expiration_date.eq(None::<i64>),
        orgmirrorconfig::sync_retries_remaining.eq(0),
        orgmirrorconfig::sync_transaction_id.eq(""),
    ))
    .execute(c)?;
    Ok(n == 1)
}

type Backend = <DbConn as diesel::Connection>::Backend;
type DueConfig = Box<dyn BoxableExpression<orgmirrorconfig::table, Backend, SqlType = diesel::sql_types::Bool>>;
type DueRepo = Box<dyn BoxableExpression<orgmirrorrepository::table, Backend, SqlType = diesel::sql_types::Bool>>;

/// Configurations a worker may claim at `now` (Quay's
/// `get_eligible_org_mirror_configs`): enabled, and asked to sync now or to
/// cancel (a cancel not carried to the repositories yet), or due with
/// retries left, or holding an expired claim.
fn due_config(now: i64) -> DueConfig {
    use orgmirrorconfig as t;
    let requested = t::sync_status.eq(SYNC_NOW).and(t::sync_expiration_date.is_null());
    // A processed cancel has no start date left, so it is carried once.
    let cancelled = t::sync_status
        .eq(CANCEL)
        .and(t::sync_expiration_date.is_null())
        .and(t::sync_start_date.is_not_null());
    let scheduled = t::sync_retries_remaining
        .gt(0)
        .and(t::sync_status.ne(SYNCING))
        .and(t::sync_expiration_date.is_null())
        .and(t::sync_start_date.is_not_null())
        .and(t::sync_start_date.assume_not_null().le(now));
    let expired = t::sync_status
        .eq(SYNCING)
        .and(t::sync_expiration_date.is_not_null())
        .and(t::sync_expiration_date.assume_not_null().le(now));
    Box::new(
        t::is_enabled
            .eq(true)
            .and(requested.or(cancelled).or(scheduled).or(expired)),
    )
}

pub fn due_configs(c: &mut DbConn, now: i64, limit: i64) -> QueryResult<Vec<OrgMirrorRow>> {
    orgmirrorconfig::table
        .filter(due_config(now))
        .order((orgmirrorconfig::sync_start_date.asc(), orgmirrorconfig::id.asc()))
        .limit(limit)
        .select(OrgMirrorRow::as_select())
        .load(c)
}

/// Claims a due configuration for one discovery; false when it is no
/// longer due.
pub fn claim_config(c: &mut DbConn, id: i64, now: i64, lease_until: i64, transaction: &str) -> QueryResult<bool> {
    let n = diesel::update(orgmirrorconfig::table.find(id).filter(due_config(now)))
        .set((
            orgmirrorconfig::sync_status.eq(SYNCING),
            orgmirrorconfig::sync_expiration_date.eq(Some(lease_until)),
            orgmirrorconfig::sync_transaction_id.eq(transaction),
        ))
        .execute(c)?;
    Ok(n == 1)
}

/// Ends a claimed discovery; false when the claim was no longer held.
pub fn release_config(c: &mut DbConn, id: i64, transaction: &str, r: Release) -> QueryResult<bool> {
    let n = diesel::update(
        orgmirrorconfig::table
            .find(id)
            .filter(orgmirrorconfig::sync_transaction_id.eq(transaction)),
    )
    .set((
        orgmirrorconfig::sync_status.eq(r.status),
        orgmirrorconfig::sync_start_date.eq(r.next_start),
        orgmirrorconfig::sync_expiration_date.eq(None::<i64>),
        orgmirrorconfig::sync_retries_remaining.eq(r.retries),
        orgmirrorconfig::sync_transaction_id.eq(""),
    ))
    .execute(c)?;
    Ok(n == 1)
}

/// Records the discovered names not listed yet; how many were new.
pub fn add_discovered(c: &mut DbConn, config_id: i64, names: &[String], now: i64) -> QueryResult<usize> {
    let known: Vec<String> = orgmirrorrepository::table
        .filter(orgmirrorrepository::org_mirror_config_id.eq(config_id))
        .select(orgmirrorrepository::repository_name)
        .load(c)?;
    let mut added = 0;
    for name in names.iter().filter(|n| !known.contains(n)) {
        let n = diesel::insert_into(orgmirrorrepository::table)
            .values((
                orgmirrorrepository::org_mirror_config_id.eq(config_id),
                orgmirrorrepository::repository_name.eq(name),
                orgmirrorrepository::discovery_date.eq(now),
                orgmirrorrepository::sync_status.eq(NEVER_RUN),
                orgmirrorrepository::creation_date.eq(now),
            ))
            .execute(c);
        match n {
            Ok(n) => added += n,
            Err(e) if super::is_unique_violation(&e) => {}
            Err(e) => return Err(e),
        }
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
fn due_repo(now: i64) -> DueRepo {
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
        .set((
            orgmirrorrepository::sync_status.eq(SYNCING),
            orgmirrorrepository::sync_expiration_date.eq(Some(lease_until)),
            orgmirrorrepository::sync_transaction_id.eq(transaction),
        ))
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
        orgmirrorrepository::sync_status.eq(r.status),
        orgmirrorrepository::sync_start_date.eq(r.next_start),
        orgmirrorrepository::sync_expiration_date.eq(None::<i64>),
        orgmirrorrepository::sync_retries_remaining.eq(r.retries),
        orgmirrorrepository::sync_transaction_id.eq(""),
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

/// Removes the mirror of a deleted organization.
pub fn delete_of_namespace(c: &mut DbConn, namespace_id: i64) -> QueryResult<usize> {
    match find(c, namespace_id)? {
        Some(row) => delete(c, row.id).map(usize::from),
        None => Ok(0),
    }
}

/// Drops a deleted robot from the organization mirrors it pushed for.
pub fn forget_robot(c: &mut DbConn, robot_id: i64) -> QueryResult<usize> {
    diesel::update(orgmirrorconfig::table.filter(orgmirrorconfig::internal_robot_id.eq(robot_id)))
        .set(orgmirrorconfig::internal_robot_id.eq(None::<i64>))
        .execute(c)
}
