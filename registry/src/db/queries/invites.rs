//! SQL for pending team invitations (`teammemberinvite`): to an existing
//! user (`user_id`) or to an email address (`email`).

use diesel::prelude::*;

use crate::db::models::Account;
use crate::db::schema::{team, teammemberinvite as tmi, users};
use crate::db::DbConn;

/// A row of `teammemberinvite`.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = tmi)]
pub struct Invite {
    pub id: i64,
    pub user_id: Option<i64>,
    pub email: Option<String>,
    pub team_id: i64,
    pub inviter_id: i64,
    pub invite_token: String,
    pub created_ms: i64,
}

/// What a new invitation holds: a user or an email address.
pub struct NewInvite<'a> {
    pub user_id: Option<i64>,
    pub email: Option<&'a str>,
    pub team_id: i64,
    pub inviter_id: i64,
    pub token: &'a str,
    pub now: i64,
}

pub fn insert(c: &mut DbConn, i: &NewInvite<'_>) -> QueryResult<Invite> {
    diesel::insert_into(tmi::table)
        .values((
            tmi::user_id.eq(i.user_id),
            tmi::email.eq(i.email),
            tmi::team_id.eq(i.team_id),
            tmi::inviter_id.eq(i.inviter_id),
            tmi::invite_token.eq(i.token),
            tmi::created_ms.eq(i.now),
        ))
        .execute(c)?;
    find_by_token(c, i.token)?.ok_or(diesel::result::Error::NotFound)
}

pub fn find_by_token(c: &mut DbConn, token: &str) -> QueryResult<Option<Invite>> {
    tmi::table
        .filter(tmi::invite_token.eq(token))
        .select(Invite::as_select())
        .first(c)
        .optional()
}

/// The pending invitation of a user to a team.
pub fn find_for_user(c: &mut DbConn, team_id: i64, user_id: i64) -> QueryResult<Option<Invite>> {
    tmi::table
        .filter(tmi::team_id.eq(team_id))
        .filter(tmi::user_id.eq(user_id))
        .select(Invite::as_select())
        .first(c)
        .optional()
}

/// The pending invitation of an email address to a team.
pub fn find_for_email(c: &mut DbConn, team_id: i64, email: &str) -> QueryResult<Option<Invite>> {
    tmi::table
        .filter(tmi::team_id.eq(team_id))
        .filter(tmi::email.eq(email))
        .select(Invite::as_select())
        .first(c)
        .optional()
}

/// The team's pending invitations, oldest first, with the invited user
/// when there is one.
pub fn pending(c: &mut DbConn, team_id: i64) -> QueryResult<Vec<(Invite, Option<Account>)>> {
    tmi::table
        .left_join(users::table.on(users::id.nullable().eq(tmi::user_id)))
        .filter(tmi::team_id.eq(team_id))
        .order(tmi::id.asc())
        .select((Invite::as_select(), Option::<Account>::as_select()))
        .load(c)
}

pub fn delete(c: &mut DbConn, id: i64) -> QueryResult<()> {
    diesel::delete(tmi::table.find(id)).execute(c).map(drop)
}

/// Drops a user's invitations to a team; returns whether there were any.
pub fn delete_for_user(c: &mut DbConn, team_id: i64, user_id: i64) -> QueryResult<bool> {
    diesel::delete(
        tmi::table
            .filter(tmi::team_id.eq(team_id))
            .filter(tmi::user_id.eq(user_id)),
    )
    .execute(c)
    .map(|n| n > 0)
}

/// Drops the invitations to a team sent to `email`, whether to the address
/// itself or to the user who has it; returns whether there were any.
pub fn delete_for_email(c: &mut DbConn, team_id: i64, email: &str) -> QueryResult<bool> {
    let holders = users::table.filter(users::email.eq(email)).select(users::id.nullable());
    diesel::delete(
        tmi::table
            .filter(tmi::team_id.eq(team_id))
            .filter(tmi::email.eq(email).or(tmi::user_id.eq_any(holders))),
    )
    .execute(c)
    .map(|n| n > 0)
}

/// The live user (not an organization, robot or deleted account) with this
/// email address.
pub fn user_by_email(c: &mut DbConn, email: &str) -> QueryResult<Option<Account>> {
    users::table
        .filter(users::email.eq(email))
        .filter(users::organization.eq(false))
        .filter(users::robot.eq(false))
        .filter(users::username.not_like(super::accounts::DELETED_PATTERN))
        .order(users::id.asc())
        .select(Account::as_select())
        .first(c)
        .optional()
}

/// The names of a team and of its organization.
pub fn team_and_org(c: &mut DbConn, team_id: i64) -> QueryResult<(String, String)> {
    team::table
        .inner_join(users::table)
        .filter(team::id.eq(team_id))
        .select((team::name, users::username))
        .first(c)
}
