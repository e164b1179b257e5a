//! Teams of organizations, their members, and what organization membership
//! means: being in at least one of the organization's teams.

use diesel::prelude::*;

use crate::db::models::Account;
use crate::db::schema::{repository, repositorypermission, team, teammember, users};
use crate::db::DbConn;

/// A row of the `team` table.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = team)]
pub struct Team {
    pub id: i64,
    pub name: String,
    pub organization_id: i64,
    pub role: String,
    pub description: String,
}

/// A repository role as permission listings show it: (repository name,
/// visibility, role).
pub type Grant = (String, String, String);

pub fn find(c: &mut DbConn, org_id: i64, name: &str) -> QueryResult<Option<Team>> {
    team::table
        .filter(team::organization_id.eq(org_id))
        .filter(team::name.eq(name))
        .select(Team::as_select())
        .first(c)
        .optional()
}

/// Serializes changes to an organization's teams until the transaction
/// ends, so two admins cannot each remove "the other" admin team. SQLite
/// needs nothing: it has a single writer.
pub fn lock_org(c: &mut DbConn, org_id: i64) -> QueryResult<()> {
    match c {
        DbConn::Pg(pg) => users::table
            .find(org_id)
            .select(users::id)
            .for_update()
            .first::<i64>(pg)
            .map(drop),
        DbConn::Sqlite(_) => Ok(()),
    }
}

/// Changes a team's role and/or description.
pub fn update(c: &mut DbConn, team_id: i64, role: Option<&str>, description: Option<&str>) -> QueryResult<()> {
    if let Some(role) = role {
        diesel::update(team::table.find(team_id))
            .set(team::role.eq(role))
            .execute(c)?;
    }
    if let Some(description) = description {
        diesel::update(team::table.find(team_id))
            .set(team::description.eq(description))
            .execute(c)?;
    }
    Ok(())
}

/// Deletes a team with its memberships and repository roles.
pub fn delete(c: &mut DbConn, team_id: i64) -> QueryResult<()> {
    use crate::db::schema::{permissionprototype, teammemberinvite};
    diesel::delete(teammember::table.filter(teammember::team_id.eq(team_id))).execute(c)?;
    super::directory::remove_sync(c, team_id)?;
    diesel::delete(teammemberinvite::table.filter(teammemberinvite::team_id.eq(team_id))).execute(c)?;
    diesel::delete(permissionprototype::table.filter(permissionprototype::delegate_team_id.eq(team_id))).execute(c)?;
    diesel::delete(repositorypermission::table.filter(repositorypermission::team_id.eq(team_id))).execute(c)?;
    diesel::delete(team::table.find(team_id)).execute(c)?;
    Ok(())
}

/// Ids of the organization's admin teams.
pub fn admin_team_ids(c: &mut DbConn, org_id: i64) -> QueryResult<Vec<i64>> {
    team::table
        .filter(team::organization_id.eq(org_id))
        .filter(team::role.eq("admin"))
        .select(team::id)
        .load(c)
}

/// Ids of the organization's admin teams that `user_id` is in.
pub fn admin_team_ids_of(c: &mut DbConn, org_id: i64, user_id: i64) -> QueryResult<Vec<i64>> {
    teammember::table
        .inner_join(team::table)
        .filter(team::organization_id.eq(org_id))
        .filter(team::role.eq("admin"))
        .filter(teammember::user_id.eq(user_id))
        .select(team::id)
        .load(c)
}

/// Ids of the users (not robots) in any admin team of the organization.
pub fn admin_user_ids(c: &mut DbConn, org_id: i64) -> QueryResult<Vec<i64>> {
    teammember::table
        .inner_join(team::table)
        .inner_join(users::table)
        .filter(team::organization_id.eq(org_id))
        .filter(team::role.eq("admin"))
        .filter(users::robot.eq(false))
        .select(users::id)
        .distinct()
        .load(c)
}

/// Ids of the users (not robots) in the organization's admin teams other
/// than `team_id`.
pub fn admin_user_ids_outside(c: &mut DbConn, org_id: i64, team_id: i64) -> QueryResult<Vec<i64>> {
    teammember::table
        .inner_join(team::table)
        .inner_join(users::table)
        .filter(team::organization_id.eq(org_id))
        .filter(team::role.eq("admin"))
        .filter(team::id.ne(team_id))
        .filter(users::robot.eq(false))
        .select(users::id)
        .distinct()
        .load(c)
}

/// The team's members (users and robots) by name.
pub fn members(c: &mut DbConn, team_id: i64) -> QueryResult<Vec<Account>> {
    teammember::table
        .inner_join(users::table)
        .filter(teammember::team_id.eq(team_id))
        .order(users::username.asc())
        .select(Account::as_select())
        .load(c)
}

pub fn is_member(c: &mut DbConn, team_id: i64, user_id: i64) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        teammember::table
            .filter(teammember::team_id.eq(team_id))
            .filter(teammember::user_id.eq(user_id)),
    ))
    .get_result(c)
}

/// Removes one membership; returns whether there was one.
pub fn remove_member(c: &mut DbConn, team_id: i64, user_id: i64) -> QueryResult<bool> {
    let n = diesel::delete(
        teammember::table
            .filter(teammember::team_id.eq(team_id))
            .filter(teammember::user_id.eq(user_id)),
    )
    .execute(c)?;
    Ok(n > 0)
}

/// The roles teams hold on repositories, by repository name.
pub fn permissions(c: &mut DbConn, team_id: i64) -> QueryResult<Vec<Grant>> {
    repositorypermission::table
        .inner_join(repository::table)
        .filter(repositorypermission::team_id.eq(team_id))
        .order(repository::name.asc())
        .select((repository::name, repository::visibility, repositorypermission::role))
        .load(c)
}

/// Every (member, team name) pair of the organization, by member name.
pub fn memberships(c: &mut DbConn, org_id: i64) -> QueryResult<Vec<(Account, String)>> {
    teammember::table
        .inner_join(team::table)
        .inner_join(users::table)
        .filter(team::organization_id.eq(org_id))
        .order((users::username.asc(), team::name.asc()))
        .select((Account::as_select(), team::name))
        .load(c)
}

/// The organization's teams in creation order, each with its number of
/// members and of repositories it has a role on.
pub fn with_counts(c: &mut DbConn, org_id: i64) -> QueryResult<Vec<(Team, i64, i64)>> {
    use std::collections::HashMap;
    let teams: Vec<Team> = team::table
        .filter(team::organization_id.eq(org_id))
        .order(team::id.asc())
        .select(Team::as_select())
        .load(c)?;
    let ids: Vec<i64> = teams.iter().map(|t| t.id).collect();
    let members: HashMap<i64, i64> = teammember::table
        .filter(teammember::team_id.eq_any(&ids))
        .group_by(teammember::team_id)
        .select((teammember::team_id, diesel::dsl::count_star()))
        .load::<(i64, i64)>(c)?
        .into_iter()
        .collect();
    let repos: HashMap<i64, i64> = repositorypermission::table
        .filter(repositorypermission::team_id.eq_any(&ids))
        .group_by(repositorypermission::team_id)
        .select((
            repositorypermission::team_id.assume_not_null(),
            diesel::dsl::count_star(),
        ))
        .load::<(i64, i64)>(c)?
        .into_iter()
        .collect();
    Ok(teams
        .into_iter()
        .map(|t| {
            let (m, r) = (
                members.get(&t.id).copied().unwrap_or(0),
                repos.get(&t.id).copied().unwrap_or(0),
            );
            (t, m, r)
        })
        .collect())
}

/// Names of the organization's teams that `user_id` is in.
pub fn team_names_of(c: &mut DbConn, org_id: i64, user_id: i64) -> QueryResult<Vec<String>> {
    teammember::table
        .inner_join(team::table)
        .filter(team::organization_id.eq(org_id))
        .filter(teammember::user_id.eq(user_id))
        .order(team::name.asc())
        .select(team::name)
        .load(c)
}

/// (account id, repository name) of every direct role in the
/// organization's repositories.
pub fn direct_repositories(c: &mut DbConn, org_id: i64) -> QueryResult<Vec<(i64, String)>> {
    repositorypermission::table
        .inner_join(repository::table)
        .filter(repository::namespace_user_id.eq(org_id))
        .filter(repositorypermission::user_id.is_not_null())
        .order(repository::name.asc())
        .select((repositorypermission::user_id.assume_not_null(), repository::name))
        .load(c)
}

/// Takes an account out of every team of the organization and drops its
/// direct roles on the organization's repositories.
pub fn remove_from_org(c: &mut DbConn, org_id: i64, user_id: i64) -> QueryResult<()> {
    let teams = team::table.filter(team::organization_id.eq(org_id)).select(team::id);
    diesel::delete(
        teammember::table
            .filter(teammember::user_id.eq(user_id))
            .filter(teammember::team_id.eq_any(teams)),
    )
    .execute(c)?;
    let repos = repository::table
        .filter(repository::namespace_user_id.eq(org_id))
        .select(repository::id);
    diesel::delete(
        repositorypermission::table
            .filter(repositorypermission::user_id.eq(user_id))
            .filter(repositorypermission::repository_id.eq_any(repos)),
    )
    .execute(c)?;
    Ok(())
}
