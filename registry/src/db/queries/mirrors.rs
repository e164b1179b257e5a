//! Repository mirror configurations (`repomirrorconfig`): what a mirror
//! copies and from where, and the state of its syncs.
//!
//! The settings (what an admin edits) and the sync status (what sync-now,
//! sync-cancel and the worker move) are written by separate statements, so
//! an edit never undoes a status change made meanwhile. Status moves are
//! conditional UPDATEs on the status expected, reporting whether they
//! changed the row, so of two workers exactly one claims a sync.

use diesel::prelude::*;

use crate::db::schema::{repomirrorconfig, repository, users};
use crate::db::DbConn;

/// Quay's `RepoMirrorStatus` numbers.
pub const CANCEL: i32 = -2;
pub const FAIL: i32 = -1;
pub const NEVER_RUN: i32 = 0;
pub const SUCCESS: i32 = 1;
pub const SYNCING: i32 = 2;
pub const SYNC_NOW: i32 = 3;

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
    .set((
        repomirrorconfig::sync_status.eq(CANCEL),
        repomirrorconfig::sync_expiration_date.eq(None::<i64>),
        repomirrorconfig::sync_transaction_id.eq(""),
    ))
    .execute(c)?;
    Ok(n == 1)
}

/// Drops a deleted robot from the mirrors it pushed for.
pub fn forget_robot(c: &mut DbConn, robot_id: i64) -> QueryResult<usize> {
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
