//! Organization mirror configurations (`orgmirrorconfig`); the
//! repositories discovered for them are in `org_mirror_repos`.
//!
//! As for repository mirrors, the settings an admin edits and the sync
//! status the API and the workers move are written by separate statements,
//! and every status move is a conditional UPDATE reporting whether it
//! changed the row, so of several workers exactly one claims a discovery or
//! a repository sync.

use diesel::prelude::*;

use super::mirrors::{cancelled, claimed, released, Condition, Release, CANCEL, NEVER_RUN, SYNCING, SYNC_NOW};
use crate::db::schema::{orgmirrorconfig, orgmirrorrepository, repository};
use crate::db::DbConn;

/// Quay's `repository.state` of a repository an organization mirror syncs.
pub const ORG_MIRROR_STATE: i32 = 4;

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

pub fn find_by_ids(c: &mut DbConn, ids: &[i64]) -> QueryResult<Vec<OrgMirrorRow>> {
    orgmirrorconfig::table
        .filter(orgmirrorconfig::id.eq_any(ids))
        .select(OrgMirrorRow::as_select())
        .load(c)
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
    let Some(row) = find_by_id(c, id)? else {
        return Ok(false);
    };
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
    .set(cancelled!(orgmirrorconfig))
    .execute(c)?;
    Ok(n == 1)
}

/// Configurations a worker may claim at `now` (Quay's
/// `get_eligible_org_mirror_configs`): enabled, and asked to sync now or to
/// cancel (a cancel not carried to the repositories yet), or due with
/// retries left, or holding an expired claim.
fn due_config(now: i64) -> Condition<orgmirrorconfig::table> {
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
        .set(claimed!(orgmirrorconfig, lease_until, transaction))
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
    .set(released!(orgmirrorconfig, r))
    .execute(c)?;
    Ok(n == 1)
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
