//! Robot accounts: a `user` row with `robot = true` named `namespace+short`,
//! plus a `robotaccount` row with the token and metadata.

use diesel::prelude::*;

use super::accounts::{self, NewAccount};
use super::escape_like;
use super::teams::Grant;
use crate::db::models::Account;
use crate::db::schema::{oauthaccesstoken, repository, repositorypermission, robotaccount, team, teammember, users};
use crate::db::DbConn;

/// The `robotaccount` row of a robot, with its last use.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = robotaccount)]
pub struct RobotRow {
    pub token: String,
    pub description: String,
    pub unstructured_json: String,
    pub created_ms: i64,
}

/// A robot as listings return it: account, robot row, last access.
pub type Robot = (Account, RobotRow, Option<i64>);

/// What a new robot holds.
pub struct NewRobot<'a> {
    pub username: &'a str,
    pub token: &'a str,
    pub description: &'a str,
    pub unstructured_json: &'a str,
    pub now: i64,
}

pub fn insert(c: &mut DbConn, r: &NewRobot<'_>) -> QueryResult<()> {
    let account = accounts::insert(
        c,
        &NewAccount {
            username: r.username,
            email: None,
            password_hash: None,
            organization: false,
            robot: true,
            verified: true,
            tag_expiration_s: crate::service::DEFAULT_TAG_EXPIRATION_S,
            now: r.now,
        },
    )?;
    diesel::insert_into(robotaccount::table)
        .values((
            robotaccount::robot_id.eq(account.id),
            robotaccount::token.eq(r.token),
            robotaccount::description.eq(r.description),
            robotaccount::unstructured_json.eq(r.unstructured_json),
            robotaccount::created_ms.eq(r.now),
        ))
        .execute(c)
        .map(drop)
}

/// The robot by full name (`ns+short`).
pub fn find(c: &mut DbConn, full_name: &str) -> QueryResult<Option<Robot>> {
    users::table
        .inner_join(robotaccount::table)
        .filter(users::username.eq(full_name))
        .filter(users::robot.eq(true))
        .select((Account::as_select(), RobotRow::as_select(), users::last_accessed_ms))
        .first(c)
        .optional()
}

/// The namespace's robots by name, at most `limit`.
pub fn list(c: &mut DbConn, namespace: &str, limit: i64) -> QueryResult<Vec<Robot>> {
    users::table
        .inner_join(robotaccount::table)
        .filter(users::robot.eq(true))
        .filter(
            users::username
                .like(format!("{}+%", escape_like(namespace)))
                .escape('\\'),
        )
        .order(users::username.asc())
        .limit(limit)
        .select((Account::as_select(), RobotRow::as_select(), users::last_accessed_ms))
        .load(c)
}

pub fn set_token(c: &mut DbConn, robot_id: i64, token: &str) -> QueryResult<()> {
    diesel::update(robotaccount::table.filter(robotaccount::robot_id.eq(robot_id)))
        .set(robotaccount::token.eq(token))
        .execute(c)
        .map(drop)
}

/// The robot's federation config (a JSON array).
pub fn federation(c: &mut DbConn, robot_id: i64) -> QueryResult<String> {
    robotaccount::table
        .filter(robotaccount::robot_id.eq(robot_id))
        .select(robotaccount::federation_json)
        .first(c)
}

pub fn set_federation(c: &mut DbConn, robot_id: i64, json: &str) -> QueryResult<()> {
    diesel::update(robotaccount::table.filter(robotaccount::robot_id.eq(robot_id)))
        .set(robotaccount::federation_json.eq(json))
        .execute(c)
        .map(drop)
}

pub fn touch(c: &mut DbConn, robot_id: i64, now: i64) -> QueryResult<()> {
    diesel::update(users::table.find(robot_id))
        .set(users::last_accessed_ms.eq(now))
        .execute(c)
        .map(drop)
}

/// Deletes a robot with its memberships, roles and tokens.
pub fn delete(c: &mut DbConn, robot_id: i64) -> QueryResult<()> {
    use crate::db::schema::permissionprototype;
    diesel::delete(teammember::table.filter(teammember::user_id.eq(robot_id))).execute(c)?;
    diesel::delete(
        permissionprototype::table.filter(
            permissionprototype::delegate_user_id
                .eq(robot_id)
                .or(permissionprototype::activating_user_id.eq(robot_id)),
        ),
    )
    .execute(c)?;
    diesel::delete(repositorypermission::table.filter(repositorypermission::user_id.eq(robot_id))).execute(c)?;
    diesel::delete(oauthaccesstoken::table.filter(oauthaccesstoken::authorized_user_id.eq(robot_id))).execute(c)?;
    super::mirrors::forget_robot(c, robot_id)?;
    super::robot_tokens::delete_of_robot(c, robot_id)?;
    diesel::delete(robotaccount::table.filter(robotaccount::robot_id.eq(robot_id))).execute(c)?;
    diesel::delete(users::table.find(robot_id)).execute(c)?;
    Ok(())
}

/// Deletes every robot of a namespace (when the namespace goes away, so a
/// later namespace of the same name does not inherit them).
pub fn delete_all_of(c: &mut DbConn, namespace: &str) -> QueryResult<()> {
    for (account, _, _) in list(c, namespace, i64::MAX)? {
        delete(c, account.id)?;
    }
    Ok(())
}

/// The robot's direct repository roles, by repository name.
pub fn permissions(c: &mut DbConn, robot_id: i64) -> QueryResult<Vec<Grant>> {
    repositorypermission::table
        .inner_join(repository::table)
        .filter(repositorypermission::user_id.eq(robot_id))
        .order(repository::name.asc())
        .select((repository::name, repository::visibility, repositorypermission::role))
        .load(c)
}

/// (robot id, team name) for every team the robots are in.
pub fn teams_of(c: &mut DbConn, robot_ids: &[i64]) -> QueryResult<Vec<(i64, String)>> {
    teammember::table
        .inner_join(team::table)
        .filter(teammember::user_id.eq_any(robot_ids))
        .order(team::name.asc())
        .select((teammember::user_id, team::name))
        .load(c)
}

/// (robot id, repository name) for every direct role the robots hold.
pub fn repositories_of(c: &mut DbConn, robot_ids: &[i64]) -> QueryResult<Vec<(i64, String)>> {
    repositorypermission::table
        .inner_join(repository::table)
        .filter(repositorypermission::user_id.eq_any(robot_ids.iter().map(|id| Some(*id))))
        .order(repository::name.asc())
        .select((repositorypermission::user_id.assume_not_null(), repository::name))
        .load(c)
}
