//! Managed robot API tokens (`apitoken`): `token_name` is the public half of
//! a `qro_` code, `token_secret_sha256` the hash of the secret half. Revoked
//! tokens keep their row with `revoked_ms` set.

use diesel::prelude::*;

use crate::db::models::Account;
use crate::db::schema::{apitoken as t, users};
use crate::db::DbConn;

/// A token row without its secret, with its creator's name.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = t)]
pub struct RobotTokenRow {
    pub id: i64,
    pub uuid: String,
    pub subject_user_id: i64,
    pub creator_id: Option<i64>,
    pub scope: String,
    pub display_name: String,
    pub created_ms: i64,
    pub expires_at_ms: i64,
    pub revoked_ms: Option<i64>,
    pub last_accessed_ms: Option<i64>,
}

/// What a new token row holds.
pub struct NewRobotToken<'a> {
    pub uuid: &'a str,
    pub robot_id: i64,
    pub creator_id: i64,
    pub token_name: &'a str,
    pub secret_sha256: &'a str,
    pub scope: &'a str,
    pub display_name: &'a str,
    pub now: i64,
    pub expires_at_ms: i64,
}

pub fn insert(c: &mut DbConn, n: &NewRobotToken<'_>) -> QueryResult<()> {
    diesel::insert_into(t::table)
        .values((
            t::uuid.eq(n.uuid),
            t::subject_user_id.eq(n.robot_id),
            t::creator_id.eq(Some(n.creator_id)),
            t::token_name.eq(n.token_name),
            t::token_secret_sha256.eq(n.secret_sha256),
            t::scope.eq(n.scope),
            t::display_name.eq(n.display_name),
            t::created_ms.eq(n.now),
            t::expires_at_ms.eq(n.expires_at_ms),
        ))
        .execute(c)
        .map(drop)
}

/// Holds the robot's row until the transaction ends (PostgreSQL), so two
/// concurrent mints cannot both pass the active-token limit; SQLite has a
/// single writer already.
pub fn lock_robot(c: &mut DbConn, robot_id: i64) -> QueryResult<()> {
    match c {
        DbConn::Pg(pg) => users::table
            .find(robot_id)
            .select(users::id)
            .for_update()
            .first::<i64>(pg)
            .map(drop),
        DbConn::Sqlite(_) => Ok(()),
    }
}

/// How many of the robot's tokens are neither revoked nor expired at `now`.
pub fn count_active(c: &mut DbConn, robot_id: i64, now: i64) -> QueryResult<i64> {
    t::table
        .filter(t::subject_user_id.eq(robot_id))
        .filter(t::revoked_ms.is_null())
        .filter(t::expires_at_ms.gt(now))
        .count()
        .get_result(c)
}

/// A page of the robot's tokens that were not revoked (expired ones
/// included), newest first, starting below `before_id`; with each, its
/// creator's name.
pub fn list(
    c: &mut DbConn,
    robot_id: i64,
    before_id: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<(RobotTokenRow, Option<String>)>> {
    let mut q = t::table
        .left_join(users::table.on(t::creator_id.eq(users::id.nullable())))
        .filter(t::subject_user_id.eq(robot_id))
        .filter(t::revoked_ms.is_null())
        .order(t::id.desc())
        .limit(limit)
        .select((RobotTokenRow::as_select(), users::username.nullable()))
        .into_boxed();
    if let Some(id) = before_id {
        q = q.filter(t::id.lt(id));
    }
    q.load(c)
}

/// Marks the robot's unrevoked token `uuid` revoked at `now`; how many
/// rows changed (0 or 1).
pub fn revoke(c: &mut DbConn, robot_id: i64, uuid: &str, now: i64) -> QueryResult<usize> {
    diesel::update(
        t::table
            .filter(t::subject_user_id.eq(robot_id))
            .filter(t::uuid.eq(uuid))
            .filter(t::revoked_ms.is_null()),
    )
    .set(t::revoked_ms.eq(Some(now)))
    .execute(c)
}

/// The unrevoked token named `token_name`, its secret hash and its robot.
pub fn find_by_name(c: &mut DbConn, token_name: &str) -> QueryResult<Option<(RobotTokenRow, String, Account)>> {
    t::table
        .inner_join(users::table.on(t::subject_user_id.eq(users::id)))
        .filter(t::token_name.eq(token_name))
        .filter(t::revoked_ms.is_null())
        .select((RobotTokenRow::as_select(), t::token_secret_sha256, Account::as_select()))
        .first(c)
        .optional()
}

pub fn touch(c: &mut DbConn, id: i64, now: i64) -> QueryResult<()> {
    diesel::update(t::table.find(id))
        .set(t::last_accessed_ms.eq(Some(now)))
        .execute(c)
        .map(drop)
}

/// Deletes every token of the robot (when the robot is deleted).
pub fn delete_of_robot(c: &mut DbConn, robot_id: i64) -> QueryResult<()> {
    diesel::delete(t::table.filter(t::subject_user_id.eq(robot_id)))
        .execute(c)
        .map(drop)
}
