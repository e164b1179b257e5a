//! Repository roles granted directly or through teams.

use diesel::prelude::*;

use crate::db::models::Account;
use crate::db::schema::{repositorypermission, team, teammember, users};
use crate::db::DbConn;

/// Roles the account holds on the repository: its own and its teams'.
pub fn roles_on(c: &mut DbConn, repo_id: i64, account_id: i64) -> QueryResult<Vec<String>> {
    let mut roles: Vec<String> = repositorypermission::table
        .filter(repositorypermission::repository_id.eq(repo_id))
        .filter(repositorypermission::user_id.eq(account_id))
        .select(repositorypermission::role)
        .load(c)?;
    let via_teams: Vec<String> = repositorypermission::table
        .inner_join(teammember::table.on(teammember::team_id.nullable().eq(repositorypermission::team_id)))
        .filter(repositorypermission::repository_id.eq(repo_id))
        .filter(teammember::user_id.eq(account_id))
        .select(repositorypermission::role)
        .load(c)?;
    roles.extend(via_teams);
    Ok(roles)
}

/// Organization-level roles (member, creator, admin) of the account's teams.
pub fn org_roles(c: &mut DbConn, org_id: i64, account_id: i64) -> QueryResult<Vec<String>> {
    teammember::table
        .inner_join(team::table)
        .filter(team::organization_id.eq(org_id))
        .filter(teammember::user_id.eq(account_id))
        .select(team::role)
        .load(c)
}

/// Grants (or changes) a direct role of a user or robot.
pub fn set_user_role(c: &mut DbConn, repo_id: i64, account_id: i64, role: &str) -> QueryResult<()> {
    let row = (
        repositorypermission::repository_id.eq(repo_id),
        repositorypermission::user_id.eq(account_id),
        repositorypermission::role.eq(role),
    );
    crate::per_backend!(c, |c| diesel::insert_into(repositorypermission::table)
        .values(row)
        .on_conflict((repositorypermission::repository_id, repositorypermission::user_id))
        .do_update()
        .set(repositorypermission::role.eq(role))
        .execute(c))
    .map(drop)
}

/// Direct grants of users and robots on a repository, by account name.
pub fn user_grants(c: &mut DbConn, repo_id: i64) -> QueryResult<Vec<(Account, String)>> {
    repositorypermission::table
        .inner_join(users::table.on(users::id.nullable().eq(repositorypermission::user_id)))
        .filter(repositorypermission::repository_id.eq(repo_id))
        .order(users::username.asc())
        .select((Account::as_select(), repositorypermission::role))
        .load(c)
}

/// The direct role of one account on a repository.
pub fn user_grant(c: &mut DbConn, repo_id: i64, account_id: i64) -> QueryResult<Option<String>> {
    repositorypermission::table
        .filter(repositorypermission::repository_id.eq(repo_id))
        .filter(repositorypermission::user_id.eq(account_id))
        .select(repositorypermission::role)
        .first(c)
        .optional()
}

/// Removes an account's direct role; returns whether there was one.
pub fn remove_user_grant(c: &mut DbConn, repo_id: i64, account_id: i64) -> QueryResult<bool> {
    diesel::delete(
        repositorypermission::table
            .filter(repositorypermission::repository_id.eq(repo_id))
            .filter(repositorypermission::user_id.eq(account_id)),
    )
    .execute(c)
    .map(|n| n > 0)
}

/// Team grants on a repository as (team name, role), by team name.
pub fn team_grants(c: &mut DbConn, repo_id: i64) -> QueryResult<Vec<(String, String)>> {
    repositorypermission::table
        .inner_join(team::table)
        .filter(repositorypermission::repository_id.eq(repo_id))
        .order(team::name.asc())
        .select((team::name, repositorypermission::role))
        .load(c)
}

/// The role a team holds on a repository.
pub fn team_grant(c: &mut DbConn, repo_id: i64, team_id: i64) -> QueryResult<Option<String>> {
    repositorypermission::table
        .filter(repositorypermission::repository_id.eq(repo_id))
        .filter(repositorypermission::team_id.eq(team_id))
        .select(repositorypermission::role)
        .first(c)
        .optional()
}

/// Grants (or changes) a team's role.
pub fn set_team_role(c: &mut DbConn, repo_id: i64, team_id: i64, role: &str) -> QueryResult<()> {
    let row = (
        repositorypermission::repository_id.eq(repo_id),
        repositorypermission::team_id.eq(team_id),
        repositorypermission::role.eq(role),
    );
    crate::per_backend!(c, |c| diesel::insert_into(repositorypermission::table)
        .values(row)
        .on_conflict((repositorypermission::repository_id, repositorypermission::team_id))
        .do_update()
        .set(repositorypermission::role.eq(role))
        .execute(c))
    .map(drop)
}

/// Removes a team's role; returns whether there was one.
pub fn remove_team_grant(c: &mut DbConn, repo_id: i64, team_id: i64) -> QueryResult<bool> {
    diesel::delete(
        repositorypermission::table
            .filter(repositorypermission::repository_id.eq(repo_id))
            .filter(repositorypermission::team_id.eq(team_id)),
    )
    .execute(c)
    .map(|n| n > 0)
}

/// The id of the organization's team `name`.
pub fn team_in(c: &mut DbConn, org_id: i64, name: &str) -> QueryResult<Option<i64>> {
    team::table
        .filter(team::organization_id.eq(org_id))
        .filter(team::name.eq(name))
        .select(team::id)
        .first(c)
        .optional()
}

/// Which of `account_ids` are in some team of the organization.
pub fn org_members_among(c: &mut DbConn, org_id: i64, account_ids: &[i64]) -> QueryResult<Vec<i64>> {
    teammember::table
        .inner_join(team::table)
        .filter(team::organization_id.eq(org_id))
        .filter(teammember::user_id.eq_any(account_ids.to_vec()))
        .select(teammember::user_id)
        .distinct()
        .load(c)
}

/// Removes every grant on a repository (it is being deleted).
pub fn remove_all_grants(c: &mut DbConn, repo_id: i64) -> QueryResult<usize> {
    diesel::delete(repositorypermission::table.filter(repositorypermission::repository_id.eq(repo_id))).execute(c)
}
