//! Teams of organizations and organization membership. An organization holds
//! users (and its own robots) only through its teams; a team's role
//! (`member` < `creator` < `admin`) is what its members may do in the
//! organization. The organization always keeps an admin team with at least
//! one user in it, and nobody takes away their own last admin team.
//!
//! Adding a user who is not yet in the organization may instead invite
//! them (`FEATURE_MAILING` with `FEATURE_REQUIRE_TEAM_INVITE`): see
//! [`invites`](super::invites).

use std::collections::{BTreeMap, HashSet};

use super::accounts::check_name;
use super::{Error, Registry};
use crate::db::models::Account;
use crate::db::queries::accounts as aq;
use crate::db::queries::invites as iq;
use crate::db::queries::is_unique_violation;
use crate::db::queries::teams::{self as q, Grant};
use crate::db::{DbConn, DbError};

/// A team's organization-level role, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TeamRole {
    Member,
    Creator,
    Admin,
}

impl TeamRole {
    pub fn parse(s: &str) -> Result<TeamRole, Error> {
        match s {
            "member" => Ok(TeamRole::Member),
            "creator" => Ok(TeamRole::Creator),
            "admin" => Ok(TeamRole::Admin),
            other => Err(Error::InvalidRequest(format!(
                "Invalid role `{other}`: must be one of member, creator, admin"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TeamRole::Member => "member",
            TeamRole::Creator => "creator",
            TeamRole::Admin => "admin",
        }
    }
}

/// A validated team name (the username rule, 2–255 characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamName(String);

impl TeamName {
    pub fn parse(name: &str) -> Result<TeamName, Error> {
        check_name(name, "team")?;
        Ok(TeamName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A team of an organization.
#[derive(Debug, Clone)]
pub struct Team {
    pub id: i64,
    pub name: String,
    pub role: String,
    pub description: String,
}

/// A team as its organization's view lists it.
#[derive(Debug, Clone)]
pub struct TeamSummary {
    pub team: Team,
    pub member_count: i64,
    pub repo_count: i64,
    pub can_view: bool,
    /// The team mirrors a directory group (team syncing).
    pub is_synced: bool,
}

impl From<q::Team> for Team {
    fn from(t: q::Team) -> Team {
        Team {
            id: t.id,
            name: t.name,
            role: t.role,
            description: t.description,
        }
    }
}

/// A repository role as the permission listings show it.
#[derive(Debug, Clone)]
pub struct RepoGrant {
    pub repository: String,
    pub public: bool,
    pub role: String,
}

impl From<Grant> for RepoGrant {
    fn from((repository, visibility, role): Grant) -> RepoGrant {
        RepoGrant {
            repository,
            public: visibility == "public",
            role,
        }
    }
}

/// A member of an organization: its teams there and the organization's
/// repositories it holds a direct role on.
#[derive(Debug, Clone)]
pub struct OrgMember {
    pub account: Account,
    pub teams: Vec<String>,
    pub repositories: Vec<String>,
}

/// What changing or dropping an admin team must not do: leave the
/// organization without an admin team, take away the caller's last admin
/// team, or leave no user in any remaining admin team.
fn guard_admin_loss(c: &mut DbConn, org: &Account, team: &q::Team, by_id: i64) -> Result<(), Error> {
    if team.role != "admin" {
        return Ok(());
    }
    if q::admin_team_ids(c, org.id)?.len() <= 1 {
        return Err(Error::InvalidRequest(format!(
            "Cannot remove or demote team '{}': it is the last admin team of organization '{}'",
            team.name, org.username
        )));
    }
    if q::admin_team_ids_of(c, org.id, by_id)? == [team.id] {
        return Err(Error::InvalidRequest(format!(
            "Cannot remove or demote team '{}' because calling user would no longer have admin on org '{}'",
            team.name, org.username
        )));
    }
    if q::admin_user_ids_outside(c, org.id, team.id)?.is_empty() {
        return Err(Error::InvalidRequest(format!(
            "Cannot remove or demote team '{}': no other admin team of organization '{}' has a user in it",
            team.name, org.username
        )));
    }
    Ok(())
}

/// Refuses to take the organization's last admin user out of an admin team.
fn guard_last_admin(c: &mut DbConn, org_id: i64, team: &Team, account: &Account) -> Result<(), Error> {
    if team.role == "admin" && !account.robot && q::admin_user_ids(c, org_id)? == [account.id] {
        return Err(Error::InvalidRequest(
            "Cannot remove user as they are the only organization admin".into(),
        ));
    }
    Ok(())
}

/// Puts an account in a team it is not in yet.
pub(super) fn join_team(c: &mut DbConn, team_id: i64, team_name: &str, account: &Account) -> Result<(), Error> {
    if q::is_member(c, team_id, account.id)? {
        return Err(already_member(account, team_name));
    }
    Ok(aq::add_team_member(c, team_id, account.id)?)
}

fn already_member(account: &Account, team_name: &str) -> Error {
    Error::InvalidRequest(format!(
        "User '{}' is already a member of team '{team_name}'",
        account.username
    ))
}

/// Users and robots can be members; organizations cannot, nor deleted
/// accounts (kept under a `deleted+…` name, which no live user can have).
pub(super) fn possible_member(account: Option<Account>) -> Option<Account> {
    account.filter(|a| !a.organization && (a.robot || !a.username.contains('+')))
}

fn unknown_team(org: &Account, name: &str) -> Error {
    Error::InvalidRequest(format!("Team '{name}' is not a team in org '{}'", org.username))
}

impl Registry {
    /// The organization's teams in creation order, with their member and
    /// repository counts, and whether `viewer` may view each one (an admin
    /// of the organization, `viewer_is_admin`, views all; a member the
    /// teams they are in).
    pub async fn org_teams(
        &self,
        org: &Account,
        viewer: &Account,
        viewer_is_admin: bool,
    ) -> Result<Vec<TeamSummary>, Error> {
        let (org_id, viewer_id) = (org.id, viewer.id);
        let (rows, mine, synced) = self
            .db()
            .read(move |c| {
                Ok((
                    q::with_counts(c, org_id)?,
                    q::team_names_of(c, org_id, viewer_id)?,
                    crate::db::queries::directory::synced_team_ids(c, org_id)?,
                ))
            })
            .await?;
        Ok(rows
            .into_iter()
            .map(|(t, member_count, repo_count)| TeamSummary {
                can_view: viewer_is_admin || mine.contains(&t.name),
                is_synced: synced.contains(&t.id),
                team: Team::from(t),
                member_count,
                repo_count,
            })
            .collect())
    }

    /// The organization's team by name.
    pub async fn team(&self, org: &Account, name: &str) -> Result<Option<Team>, Error> {
        let (org_id, name) = (org.id, name.to_owned());
        let row = self.db().read(move |c| Ok(q::find(c, org_id, &name)?)).await?;
        Ok(row.map(Team::from))
    }

    /// Creates the team, or changes its role and description. Returns the
    /// team and whether it was created.
    pub async fn put_team(
        &self,
        by: &Account,
        org: &Account,
        name: &TeamName,
        role: TeamRole,
        description: Option<&str>,
    ) -> Result<(Team, bool), Error> {
        let attempt = || {
            let (org, name, by_id) = (org.clone(), name.as_str().to_owned(), by.id);
            let description = description.map(str::to_owned);
            self.db().write(move |c| {
                q::lock_org(c, org.id)?;
                let Some(team) = q::find(c, org.id, &name)? else {
                    let desc = description.as_deref().unwrap_or_default();
                    aq::insert_team(c, org.id, &name, role.as_str(), desc)?;
                    let created = q::find(c, org.id, &name)?.ok_or(diesel::result::Error::NotFound)?;
                    return Ok::<_, Error>((Team::from(created), true));
                };
                let new_role = (team.role != role.as_str()).then_some(role.as_str());
                if new_role.is_some() {
                    guard_admin_loss(c, &org, &team, by_id)?;
                }
                q::update(c, team.id, new_role, description.as_deref())?;
                let updated = q::find(c, org.id, &name)?.ok_or(diesel::result::Error::NotFound)?;
                Ok((Team::from(updated), false))
            })
        };
        match attempt().await {
            // Created concurrently by someone else: now it is an update.
            Err(Error::Db(DbError::Query(e))) if is_unique_violation(&e) => attempt().await,
            other => other,
        }
    }

    /// Deletes a team with its memberships and repository roles.
    pub async fn delete_team(&self, by: &Account, org: &Account, name: &str) -> Result<(), Error> {
        let (org, name, by_id) = (org.clone(), name.to_owned(), by.id);
        self.db()
            .write(move |c| {
                q::lock_org(c, org.id)?;
                let team = q::find(c, org.id, &name)?.ok_or_else(|| unknown_team(&org, &name))?;
                guard_admin_loss(c, &org, &team, by_id)?;
                Ok(q::delete(c, team.id)?)
            })
            .await
    }

    /// Whether the user is in the team.
    pub async fn is_team_member(&self, team: &Team, user: &Account) -> Result<bool, Error> {
        let (team_id, user_id) = (team.id, user.id);
        Ok(self.db().read(move |c| Ok(q::is_member(c, team_id, user_id)?)).await?)
    }

    /// The team's members (users and robots) by name.
    pub async fn team_members(&self, team: &Team) -> Result<Vec<Account>, Error> {
        let team_id = team.id;
        Ok(self.db().read(move |c| Ok(q::members(c, team_id)?)).await?)
    }

    /// Who may join the organization's teams: a user, or one of its robots.
    pub(super) async fn team_candidate(&self, org: &Account, member: &str) -> Result<Account, Error> {
        let Some(account) = possible_member(self.account(member).await?) else {
            return Err(Error::InvalidRequest("Unknown user".into()));
        };
        if account.robot && !account.username.starts_with(&format!("{}+", org.username)) {
            return Err(Error::InvalidRequest(
                "Cannot add the specified robot to this team, as it is not a member of the organization".into(),
            ));
        }
        Ok(account)
    }

    /// Adds a user, or a robot of the organization itself, to the team.
    pub async fn add_team_member(&self, org: &Account, team: &Team, member: &str) -> Result<Account, Error> {
        let account = self.team_candidate(org, member).await?;
        self.join(team, account).await
    }

    /// Puts a checked candidate (see `team_candidate`) in the team.
    pub(super) async fn join(&self, team: &Team, account: Account) -> Result<Account, Error> {
        let (team_id, team_name, joining) = (team.id, team.name.clone(), account.clone());
        let result = self
            .db()
            .write(move |c| join_team(c, team_id, &team_name, &joining))
            .await;
        match result {
            Err(Error::Db(DbError::Query(e))) if is_unique_violation(&e) => Err(already_member(&account, &team.name)),
            other => other.map(|()| account),
        }
    }

    /// Takes a user or robot out of the team, or withdraws their pending
    /// invitation to it. Nobody removes themselves from their only admin
    /// team, and nobody removes the organization's last admin user.
    pub async fn remove_team_member(
        &self,
        by: &Account,
        org: &Account,
        team: &Team,
        member: &str,
    ) -> Result<(), Error> {
        let Some(account) = possible_member(self.account(member).await?) else {
            return Err(Error::NotFound("Unknown user".into()));
        };
        let (org_id, team, by_id) = (org.id, team.clone(), by.id);
        self.db()
            .write(move |c| {
                q::lock_org(c, org_id)?;
                if iq::delete_for_user(c, team.id, account.id)? {
                    return Ok(());
                }
                if !q::is_member(c, team.id, account.id)? {
                    return Err(Error::InvalidRequest(format!(
                        "User {} does not belong to team {}",
                        account.username, team.name
                    )));
                }
                if account.id == by_id && q::admin_team_ids_of(c, org_id, by_id)? == [team.id] {
                    return Err(Error::InvalidRequest(
                        "User cannot remove themselves from their only admin team.".into(),
                    ));
                }
                guard_last_admin(c, org_id, &team, &account)?;
                q::remove_member(c, team.id, account.id)?;
                Ok(())
            })
            .await
    }

    /// The team's repository roles.
    pub async fn team_permissions(&self, team: &Team) -> Result<Vec<RepoGrant>, Error> {
        let team_id = team.id;
        let rows = self.db().read(move |c| Ok(q::permissions(c, team_id)?)).await?;
        Ok(rows.into_iter().map(RepoGrant::from).collect())
    }

    /// The organization's members (users in any of its teams, no robots) by name.
    pub async fn org_members(&self, org: &Account) -> Result<Vec<OrgMember>, Error> {
        let org_id = org.id;
        let (memberships, direct) = self
            .db()
            .read(move |c| Ok((q::memberships(c, org_id)?, q::direct_repositories(c, org_id)?)))
            .await?;
        let mut members: BTreeMap<String, OrgMember> = BTreeMap::new();
        for (account, team) in memberships.into_iter().filter(|(a, _)| !a.robot) {
            members
                .entry(account.username.clone())
                .or_insert_with(|| OrgMember {
                    account,
                    teams: Vec::new(),
                    repositories: Vec::new(),
                })
                .teams
                .push(team);
        }
        for member in members.values_mut() {
            let id = member.account.id;
            member.repositories = direct
                .iter()
                .filter(|(a, _)| *a == id)
                .map(|(_, r)| r.clone())
                .collect();
        }
        Ok(members.into_values().collect())
    }

    /// Outside collaborators: accounts in none of the organization's teams
    /// holding a direct role on one of its repositories, by name, with
    /// those repositories (`teams` stays empty).
    pub async fn org_collaborators(&self, org: &Account) -> Result<Vec<OrgMember>, Error> {
        let org_id = org.id;
        let (memberships, direct) = self
            .db()
            .read(move |c| Ok((q::memberships(c, org_id)?, q::direct_repositories(c, org_id)?)))
            .await?;
        let members: HashSet<i64> = memberships.iter().map(|(a, _)| a.id).collect();
        let mut outside: BTreeMap<i64, Vec<String>> = BTreeMap::new();
        for (id, repo) in direct.into_iter().filter(|(id, _)| !members.contains(id)) {
            outside.entry(id).or_default().push(repo);
        }
        let ids: Vec<i64> = outside.keys().copied().collect();
        let accounts = self
            .db()
            .read(move |c| Ok(crate::db::queries::accounts::find_by_ids(c, &ids)?))
            .await?;
        // Robots are never collaborators, as in Quay.
        let mut found: Vec<OrgMember> = accounts
            .into_iter()
            .filter(|account| !account.robot)
            .map(|account| OrgMember {
                repositories: outside.remove(&account.id).unwrap_or_default(),
                teams: Vec::new(),
                account,
            })
            .collect();
        found.sort_by(|a, b| a.account.username.cmp(&b.account.username));
        Ok(found)
    }

    /// One member of the organization: a user in one of its teams, or one of
    /// its robots. `None` for anyone else.
    pub async fn org_member(&self, org: &Account, name: &str) -> Result<Option<OrgMember>, Error> {
        let Some(account) = possible_member(self.account(name).await?) else {
            return Ok(None);
        };
        let (org_id, id) = (org.id, account.id);
        let (teams, direct) = self
            .db()
            .read(move |c| Ok((q::team_names_of(c, org_id, id)?, q::direct_repositories(c, org_id)?)))
            .await?;
        let own_robot = account.robot && account.username.starts_with(&format!("{}+", org.username));
        if teams.is_empty() && !own_robot {
            return Ok(None);
        }
        let repositories = direct.into_iter().filter(|(a, _)| *a == id).map(|(_, r)| r).collect();
        Ok(Some(OrgMember {
            account,
            teams,
            repositories,
        }))
    }

    /// Removes a user from every team of the organization and drops its
    /// direct roles on the organization's repositories. The last admin stays.
    pub async fn remove_org_member(&self, org: &Account, name: &str) -> Result<(), Error> {
        let Some(account) = possible_member(self.account(name).await?).filter(|a| !a.robot) else {
            return Err(Error::NotFound("Unknown user".into()));
        };
        let org_id = org.id;
        self.db()
            .write(move |c| {
                q::lock_org(c, org_id)?;
                if q::admin_user_ids(c, org_id)? == [account.id] {
                    return Err(Error::InvalidRequest(
                        "Cannot remove user as they are the only organization admin".into(),
                    ));
                }
                Ok(q::remove_from_org(c, org_id, account.id)?)
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn team_roles_parse_and_order() {
        assert_eq!(TeamRole::parse("creator").map(TeamRole::as_str).ok(), Some("creator"));
        assert!(TeamRole::parse("owner").is_err());
        assert!(TeamRole::Member < TeamRole::Creator && TeamRole::Creator < TeamRole::Admin);
    }

    #[test]
    fn team_names_follow_the_username_rule() {
        assert!(TeamName::parse("build-bots").is_ok());
        assert!(TeamName::parse("Owners").is_err());
        assert!(TeamName::parse("x").is_err());
    }
}
