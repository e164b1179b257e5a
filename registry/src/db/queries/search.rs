//! Look-ups by name prefix for entity search and the search box: users,
//! robots, teams and namespaces. Names are stored lower-case, so callers
//! pass lower-case prefixes.

use diesel::prelude::*;

use super::escape_like;
use super::teams::Team;
use crate::db::schema::{robotaccount, team, teammember, users};
use crate::db::DbConn;

/// A user or robot an entity search found.
#[derive(Debug, Clone, Queryable)]
pub struct FoundUser {
    pub id: i64,
    pub username: String,
    pub robot: bool,
}

fn starts_with(prefix: &str) -> String {
    format!("{}%", escape_like(prefix))
}

/// Users (never organizations) named `prefix` exactly, or starting with it
/// unless `exact`; with `robot_namespace`, also that namespace's robots
/// whose short name starts with `prefix`. Robots first, then by name.
pub fn matching_users(
    c: &mut DbConn,
    prefix: &str,
    exact: bool,
    robot_namespace: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<FoundUser>> {
    let people = users::organization.eq(false).and(users::robot.eq(false));
    let mut q = users::table
        .select((users::id, users::username, users::robot))
        .order((users::robot.desc(), users::username.asc()))
        .limit(limit)
        .into_boxed();
    let name_cond: Box<dyn BoxableExpression<users::table, _, SqlType = diesel::sql_types::Bool>> = match exact {
        true => Box::new(users::username.eq(prefix.to_owned()).and(people)),
        false => Box::new(users::username.like(starts_with(prefix)).escape('\\').and(people)),
    };
    q = match robot_namespace {
        Some(ns) => {
            let robots = users::robot.eq(true).and(
                users::username
                    .like(starts_with(&format!("{ns}+{prefix}")))
                    .escape('\\'),
            );
            let robots = robots.and(users::id.eq_any(robotaccount::table.select(robotaccount::robot_id)));
            q.filter(name_cond.or(robots))
        }
        None => q.filter(name_cond),
    };
    q.load(c)
}

/// The organization's teams whose name starts with `prefix`.
pub fn matching_org_teams(c: &mut DbConn, org_id: i64, prefix: &str, limit: i64) -> QueryResult<Vec<Team>> {
    team::table
        .filter(team::organization_id.eq(org_id))
        .filter(team::name.like(starts_with(prefix)).escape('\\'))
        .order(team::name.asc())
        .limit(limit)
        .select(Team::as_select())
        .load(c)
}

/// Teams whose name starts with `prefix` that the user is in, or that
/// belong to an organization the user administers, with the
/// organization's name.
pub fn matching_teams_of(c: &mut DbConn, user_id: i64, prefix: &str, limit: i64) -> QueryResult<Vec<(Team, String)>> {
    let member_of = teammember::table
        .filter(teammember::user_id.eq(user_id))
        .select(teammember::team_id);
    // Loaded first: a subquery on `team` cannot sit in a query on `team`.
    let admin_of: Vec<i64> = orgs_administered_by(user_id).load(c)?;
    team::table
        .inner_join(users::table.on(users::id.eq(team::organization_id)))
        .filter(team::name.like(starts_with(prefix)).escape('\\'))
        .filter(team::id.eq_any(member_of).or(team::organization_id.eq_any(admin_of)))
        .order((team::name.asc(), users::username.asc()))
        .limit(limit)
        .select((Team::as_select(), users::username))
        .load(c)
}

/// The ids of the organizations the user administers (is in an admin team of).
#[diesel::dsl::auto_type]
fn orgs_administered_by(user_id: i64) -> _ {
    team::table
        .inner_join(teammember::table)
        .filter(teammember::user_id.eq(user_id))
        .filter(team::role.eq("admin"))
        .select(team::organization_id)
}

/// Robots of the user's namespace or of organizations the user
/// administers whose short name starts with `prefix`, by name.
pub fn matching_robots_of(
    c: &mut DbConn,
    user_id: i64,
    username: &str,
    prefix: &str,
    limit: i64,
) -> QueryResult<Vec<String>> {
    let admin_of: Vec<String> = users::table
        .filter(users::id.eq_any(orgs_administered_by(user_id)))
        .select(users::username)
        .load(c)?;
    // A robot is `namespace+short`, so one pattern per namespace.
    let robot_of = |ns: &str| {
        users::username
            .like(starts_with(&format!("{ns}+{prefix}")))
            .escape('\\')
    };
    let mut named: Box<dyn BoxableExpression<users::table, _, SqlType = diesel::sql_types::Bool>> =
        Box::new(robot_of(username));
    for ns in &admin_of {
        named = Box::new(named.or(robot_of(ns)));
    }
    users::table
        .filter(users::robot.eq(true))
        .filter(named)
        .order(users::username.asc())
        .limit(limit)
        .select(users::username)
        .load(c)
}
