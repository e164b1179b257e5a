//! Links between users and their identity in an external directory
//! (`federatedlogin`), and teams that mirror a directory group (`teamsync`).

use diesel::prelude::*;

use crate::db::models::Account;
use crate::db::schema::{federatedlogin, team, teammember, teamsync, users};
use crate::db::DbConn;

/// A row of the `teamsync` table.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = teamsync)]
pub struct TeamSync {
    pub id: i64,
    pub team_id: i64,
    pub service: String,
    pub config: String,
    pub transaction_id: String,
    pub last_updated: Option<i64>,
}

/// The user linked to `ident` in `service`.
pub fn find_linked(c: &mut DbConn, service: &str, ident: &str) -> QueryResult<Option<Account>> {
    federatedlogin::table
        .inner_join(users::table)
        .filter(federatedlogin::service.eq(service))
        .filter(federatedlogin::service_ident.eq(ident))
        .select(Account::as_select())
        .first(c)
        .optional()
}

/// The identity of the user in `service`, if linked.
pub fn ident_of(c: &mut DbConn, service: &str, user_id: i64) -> QueryResult<Option<String>> {
    federatedlogin::table
        .filter(federatedlogin::service.eq(service))
        .filter(federatedlogin::user_id.eq(user_id))
        .select(federatedlogin::service_ident)
        .first(c)
        .optional()
}

pub fn link(c: &mut DbConn, user_id: i64, service: &str, ident: &str) -> QueryResult<()> {
    diesel::insert_into(federatedlogin::table)
        .values((
            federatedlogin::user_id.eq(user_id),
            federatedlogin::service.eq(service),
            federatedlogin::service_ident.eq(ident),
        ))
        .execute(c)
        .map(drop)
}

/// Forgets every external identity of a (deleted) user.
pub fn unlink_all(c: &mut DbConn, user_id: i64) -> QueryResult<()> {
    diesel::delete(federatedlogin::table.filter(federatedlogin::user_id.eq(user_id)))
        .execute(c)
        .map(drop)
}

pub fn sync_of(c: &mut DbConn, team_id: i64) -> QueryResult<Option<TeamSync>> {
    teamsync::table
        .filter(teamsync::team_id.eq(team_id))
        .select(TeamSync::as_select())
        .first(c)
        .optional()
}

/// Every team synced through `service`.
pub fn synced_through(c: &mut DbConn, service: &str) -> QueryResult<Vec<TeamSync>> {
    teamsync::table
        .filter(teamsync::service.eq(service))
        .order(teamsync::id.asc())
        .select(TeamSync::as_select())
        .load(c)
}

/// Ids of the organization's synced teams.
pub fn synced_team_ids(c: &mut DbConn, org_id: i64) -> QueryResult<Vec<i64>> {
    teamsync::table
        .inner_join(team::table)
        .filter(team::organization_id.eq(org_id))
        .select(teamsync::team_id)
        .load(c)
}

/// Makes the team mirror a group (replacing any earlier group); it is
/// synced at the next pass.
pub fn set_sync(c: &mut DbConn, team_id: i64, service: &str, config: &str) -> QueryResult<()> {
    remove_sync(c, team_id)?;
    diesel::insert_into(teamsync::table)
        .values((
            teamsync::team_id.eq(team_id),
            teamsync::service.eq(service),
            teamsync::config.eq(config),
        ))
        .execute(c)
        .map(drop)
}

pub fn remove_sync(c: &mut DbConn, team_id: i64) -> QueryResult<bool> {
    diesel::delete(teamsync::table.filter(teamsync::team_id.eq(team_id)))
        .execute(c)
        .map(|n| n > 0)
}

/// Synced teams of `service` never synced or last synced before
/// `cutoff_ms`, oldest first, with their team rows.
pub fn stale(
    c: &mut DbConn,
    service: &str,
    cutoff_ms: i64,
    limit: i64,
) -> QueryResult<Vec<(TeamSync, crate::db::queries::teams::Team)>> {
    teamsync::table
        .inner_join(team::table)
        .filter(teamsync::service.eq(service))
        .filter(
            teamsync::last_updated
                .is_null()
                .or(teamsync::last_updated.le(cutoff_ms)),
        )
        .order((teamsync::last_updated.asc(), teamsync::id.asc()))
        .limit(limit)
        .select((TeamSync::as_select(), crate::db::queries::teams::Team::as_select()))
        .load(c)
}

/// Records a finished pass if no other worker recorded one since this
/// pass read the row (same `transaction_id`); whether it did.
pub fn claim_pass(
    c: &mut DbConn,
    id: i64,
    seen_transaction: &str,
    new_transaction: &str,
    now: i64,
) -> QueryResult<bool> {
    diesel::update(
        teamsync::table
            .filter(teamsync::id.eq(id))
            .filter(teamsync::transaction_id.eq(seen_transaction)),
    )
    .set((
        teamsync::transaction_id.eq(new_transaction),
        teamsync::last_updated.eq(Some(now)),
    ))
    .execute(c)
    .map(|n| n == 1)
}

/// The team's members linked to `service`: (identity, user id).
pub fn linked_members(c: &mut DbConn, team_id: i64, service: &str) -> QueryResult<Vec<(String, i64)>> {
    teammember::table
        .inner_join(federatedlogin::table.on(federatedlogin::user_id.eq(teammember::user_id)))
        .filter(teammember::team_id.eq(team_id))
        .filter(federatedlogin::service.eq(service))
        .select((federatedlogin::service_ident, teammember::user_id))
        .load(c)
}

/// Removes the team's user members (robots stay) not in `keep`; how many.
pub fn remove_users_except(c: &mut DbConn, team_id: i64, keep: &[i64]) -> QueryResult<usize> {
    let robots = users::table.filter(users::robot.eq(true)).select(users::id);
    diesel::delete(
        teammember::table
            .filter(teammember::team_id.eq(team_id))
            .filter(teammember::user_id.ne_all(keep))
            .filter(teammember::user_id.ne_all(robots)),
    )
    .execute(c)
}

/// Whether the user is in the team.
pub fn is_member(c: &mut DbConn, team_id: i64, user_id: i64) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        teammember::table
            .filter(teammember::team_id.eq(team_id))
            .filter(teammember::user_id.eq(user_id)),
    ))
    .get_result(c)
}
