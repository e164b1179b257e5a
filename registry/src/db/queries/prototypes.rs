//! SQL for default permissions (`permissionprototype`): the repository roles
//! an organization hands out whenever a repository is created in it.

use diesel::prelude::*;

use crate::db::models::Account;
use crate::db::schema::{permissionprototype as pp, team, users};
use crate::db::DbConn;

/// A row of `permissionprototype`: exactly one of the delegates is set.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = pp)]
pub struct Prototype {
    pub id: i64,
    pub uuid: String,
    pub org_id: i64,
    pub activating_user_id: Option<i64>,
    pub delegate_user_id: Option<i64>,
    pub delegate_team_id: Option<i64>,
    pub role: String,
}

/// What a new prototype holds.
pub struct NewPrototype<'a> {
    pub uuid: &'a str,
    pub org_id: i64,
    pub activating_user_id: Option<i64>,
    pub delegate_user_id: Option<i64>,
    pub delegate_team_id: Option<i64>,
    pub role: &'a str,
}

/// The organization's prototypes, oldest first.
pub fn list(c: &mut DbConn, org_id: i64) -> QueryResult<Vec<Prototype>> {
    pp::table
        .filter(pp::org_id.eq(org_id))
        .order(pp::id.asc())
        .select(Prototype::as_select())
        .load(c)
}

pub fn find(c: &mut DbConn, org_id: i64, uuid: &str) -> QueryResult<Option<Prototype>> {
    pp::table
        .filter(pp::org_id.eq(org_id))
        .filter(pp::uuid.eq(uuid))
        .select(Prototype::as_select())
        .first(c)
        .optional()
}

pub fn insert(c: &mut DbConn, p: &NewPrototype<'_>) -> QueryResult<()> {
    diesel::insert_into(pp::table)
        .values((
            pp::uuid.eq(p.uuid),
            pp::org_id.eq(p.org_id),
            pp::activating_user_id.eq(p.activating_user_id),
            pp::delegate_user_id.eq(p.delegate_user_id),
            pp::delegate_team_id.eq(p.delegate_team_id),
            pp::role.eq(p.role),
        ))
        .execute(c)
        .map(drop)
}

pub fn set_role(c: &mut DbConn, id: i64, role: &str) -> QueryResult<()> {
    diesel::update(pp::table.find(id))
        .set(pp::role.eq(role))
        .execute(c)
        .map(drop)
}

/// Deletes one prototype; returns whether it existed.
pub fn delete(c: &mut DbConn, org_id: i64, uuid: &str) -> QueryResult<bool> {
    diesel::delete(pp::table.filter(pp::org_id.eq(org_id)).filter(pp::uuid.eq(uuid)))
        .execute(c)
        .map(|n| n > 0)
}

/// The prototypes that apply when `creator_id` creates a repository in the
/// organization: those without an activating user, and the creator's own.
pub fn applicable(c: &mut DbConn, org_id: i64, creator_id: i64) -> QueryResult<Vec<Prototype>> {
    pp::table
        .filter(pp::org_id.eq(org_id))
        .filter(
            pp::activating_user_id
                .is_null()
                .or(pp::activating_user_id.eq(creator_id)),
        )
        .order(pp::id.asc())
        .select(Prototype::as_select())
        .load(c)
}

/// The accounts with these ids.
pub fn accounts(c: &mut DbConn, ids: &[i64]) -> QueryResult<Vec<Account>> {
    users::table
        .filter(users::id.eq_any(ids.to_vec()))
        .select(Account::as_select())
        .load(c)
}

/// (id, name) of the teams with these ids.
pub fn team_names(c: &mut DbConn, ids: &[i64]) -> QueryResult<Vec<(i64, String)>> {
    team::table
        .filter(team::id.eq_any(ids.to_vec()))
        .select((team::id, team::name))
        .load(c)
}
