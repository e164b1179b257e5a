//! Build triggers (quay-api.md §1.15): the git repositories whose pushes
//! queue builds of a repository.
//!
//! A trigger is created inactive; activating it stores its config with the
//! credentials, the SHA-256 of the webhook's write token and the SSH deploy
//! key in one update, only while it is still inactive, so two concurrent
//! activations cannot both succeed.

use diesel::prelude::*;

use crate::db::schema::{repositorybuild, repositorybuildtrigger as t, users};
use crate::db::DbConn;

/// One build trigger.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = t)]
pub struct TriggerRow {
    pub id: i64,
    pub uuid: String,
    pub service: String,
    pub repository_id: i64,
    pub connected_user_id: i64,
    pub config_json: String,
    pub write_token_sha256: Option<String>,
    pub private_key: Option<String>,
    pub pull_robot_id: Option<i64>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub successive_failure_count: i32,
    pub successive_internal_error_count: i32,
    pub created_ms: i64,
    /// The OAuth access token of a trigger of a git host (GitHub).
    pub auth_token: Option<String>,
}

/// A trigger with the name of its pull robot, if any.
pub type TriggerWithRobot = (TriggerRow, Option<String>);

/// A new, inactive trigger.
pub struct NewTrigger<'a> {
    pub uuid: &'a str,
    pub service: &'a str,
    pub repository_id: i64,
    pub connected_user_id: i64,
    /// The OAuth access token of a git host's trigger.
    pub auth_token: Option<&'a str>,
    pub now: i64,
}

pub fn insert(c: &mut DbConn, n: &NewTrigger<'_>) -> QueryResult<usize> {
    diesel::insert_into(t::table)
        .values((
            t::uuid.eq(n.uuid),
            t::service.eq(n.service),
            t::repository_id.eq(n.repository_id),
            t::connected_user_id.eq(n.connected_user_id),
            t::config_json.eq("{}"),
            t::auth_token.eq(n.auth_token),
            t::created_ms.eq(n.now),
        ))
        .execute(c)
}

/// The repository's triggers, oldest first.
pub fn of_repository(c: &mut DbConn, repo_id: i64) -> QueryResult<Vec<TriggerWithRobot>> {
    t::table
        .left_join(users::table.on(t::pull_robot_id.eq(users::id.nullable())))
        .filter(t::repository_id.eq(repo_id))
        .select((TriggerRow::as_select(), users::username.nullable()))
        .order(t::id.asc())
        .load(c)
}

/// The trigger `uuid` of the repository.
pub fn find(c: &mut DbConn, repo_id: i64, uuid: &str) -> QueryResult<Option<TriggerWithRobot>> {
    t::table
        .left_join(users::table.on(t::pull_robot_id.eq(users::id.nullable())))
        .filter(t::repository_id.eq(repo_id))
        .filter(t::uuid.eq(uuid))
        .select((TriggerRow::as_select(), users::username.nullable()))
        .first(c)
        .optional()
}

/// The trigger `uuid` of any repository (the webhook names only the trigger).
pub fn find_by_uuid(c: &mut DbConn, uuid: &str) -> QueryResult<Option<TriggerWithRobot>> {
    t::table
        .left_join(users::table.on(t::pull_robot_id.eq(users::id.nullable())))
        .filter(t::uuid.eq(uuid))
        .select((TriggerRow::as_select(), users::username.nullable()))
        .first(c)
        .optional()
}

/// What activating a trigger stores.
pub struct Activation<'a> {
    pub config_json: &'a str,
    pub write_token_sha256: &'a str,
    pub private_key: &'a str,
    pub pull_robot_id: Option<i64>,
}

/// Activates the trigger unless its write token is already set; false then.
pub fn activate(c: &mut DbConn, id: i64, a: &Activation<'_>) -> QueryResult<bool> {
    let n = diesel::update(t::table.filter(t::id.eq(id)).filter(t::write_token_sha256.is_null()))
        .set((
            t::config_json.eq(a.config_json),
            t::write_token_sha256.eq(a.write_token_sha256),
            t::private_key.eq(a.private_key),
            t::pull_robot_id.eq(a.pull_robot_id),
        ))
        .execute(c)?;
    Ok(n == 1)
}

/// Enables or disables the trigger. Enabling resets the failure counts;
/// disabling records `reason`.
pub fn set_enabled(c: &mut DbConn, id: i64, enabled: bool, reason: Option<&str>, now: i64) -> QueryResult<usize> {
    let target = t::table.filter(t::id.eq(id));
    if enabled {
        diesel::update(target)
            .set((
                t::enabled.eq(true),
                t::disabled_reason.eq(None::<String>),
                t::disabled_ms.eq(None::<i64>),
                t::successive_failure_count.eq(0),
                t::successive_internal_error_count.eq(0),
            ))
            .execute(c)
    } else {
        diesel::update(target)
            .set((
                t::enabled.eq(false),
                t::disabled_reason.eq(reason),
                t::disabled_ms.eq(Some(now)),
            ))
            .execute(c)
    }
}

/// Deletes the trigger; its builds stay, no longer linked to it.
pub fn delete(c: &mut DbConn, id: i64) -> QueryResult<usize> {
    diesel::update(repositorybuild::table.filter(repositorybuild::trigger_id.eq(id)))
        .set(repositorybuild::trigger_id.eq(None::<i64>))
        .execute(c)?;
    diesel::delete(t::table.filter(t::id.eq(id))).execute(c)
}

/// Deletes every trigger of the repository (it is being deleted).
pub fn delete_of_repository(c: &mut DbConn, repo_id: i64) -> QueryResult<usize> {
    let ids: Vec<i64> = t::table.filter(t::repository_id.eq(repo_id)).select(t::id).load(c)?;
    for id in &ids {
        delete(c, *id)?;
    }
    Ok(ids.len())
}

/// The deploy key of the trigger that queued the build, while both exist.
pub fn private_key_of_build(c: &mut DbConn, build_id: i64) -> QueryResult<Option<String>> {
    let key = repositorybuild::table
        .inner_join(t::table.on(repositorybuild::trigger_id.eq(t::id.nullable())))
        .filter(repositorybuild::id.eq(build_id))
        .select(t::private_key)
        .first::<Option<String>>(c)
        .optional()?;
    Ok(key.flatten())
}

/// The trigger that queued the build, if any (and it still exists).
pub fn trigger_of_build(c: &mut DbConn, build_id: i64) -> QueryResult<Option<i64>> {
    let id = repositorybuild::table
        .filter(repositorybuild::id.eq(build_id))
        .select(repositorybuild::trigger_id)
        .first::<Option<i64>>(c)
        .optional()?;
    Ok(id.flatten())
}

/// How a build of a trigger ended, for its successive-failure counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Complete,
    Error,
    InternalError,
}

/// Counts a build's outcome on its trigger, as Quay does: a success
/// resets both counts, an error adds a failure (and resets the internal
/// errors), an internal error adds one. Returns the counts afterwards
/// (failures, internal errors); `None` when the trigger is gone.
pub fn count_outcome(c: &mut DbConn, id: i64, outcome: Outcome) -> QueryResult<Option<(i32, i32)>> {
    let target = t::table.filter(t::id.eq(id));
    match outcome {
        Outcome::Complete => diesel::update(target)
            .set((
                t::successive_failure_count.eq(0),
                t::successive_internal_error_count.eq(0),
            ))
            .execute(c)?,
        Outcome::Error => diesel::update(target)
            .set((
                t::successive_failure_count.eq(t::successive_failure_count + 1),
                t::successive_internal_error_count.eq(0),
            ))
            .execute(c)?,
        Outcome::InternalError => diesel::update(target)
            .set(t::successive_internal_error_count.eq(t::successive_internal_error_count + 1))
            .execute(c)?,
    };
    t::table
        .filter(t::id.eq(id))
        .select((t::successive_failure_count, t::successive_internal_error_count))
        .first(c)
        .optional()
}

/// Disables an enabled trigger with `reason`; false when it already was.
pub fn disable_if_enabled(c: &mut DbConn, id: i64, reason: &str, now: i64) -> QueryResult<bool> {
    let n = diesel::update(t::table.filter(t::id.eq(id)).filter(t::enabled.eq(true)))
        .set((
            t::enabled.eq(false),
            t::disabled_reason.eq(reason),
            t::disabled_ms.eq(Some(now)),
        ))
        .execute(c)?;
    Ok(n == 1)
}
