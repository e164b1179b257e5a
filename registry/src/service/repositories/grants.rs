//! Who holds which role on a repository: direct grants to users and robots,
//! and grants to teams of the repository's organization. The namespace
//! owner and organization admins hold admin implicitly and need no grant.

use super::RepositoryView;
use crate::db::models::Account;
use crate::db::queries::{accounts, permissions as perms};
use crate::db::DbConn;
use crate::service::permissions::Role;
use crate::service::{Error, Registry};

/// A direct grant to a user or robot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserGrant {
    pub name: String,
    pub role: Role,
    pub is_robot: bool,
    /// For repositories of organizations: whether the account belongs to
    /// it (robots of the organization always do).
    pub is_org_member: Option<bool>,
}

/// A grant to a team.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamGrant {
    pub name: String,
    pub role: Role,
}

fn no_user_grant() -> Error {
    Error::InvalidRequest("User does not have permission for repo.".into())
}

fn no_team_grant() -> Error {
    Error::InvalidRequest("Team does not have permission for repo.".into())
}

fn owner_grant(repo: &RepositoryView, username: &str) -> Result<(), Error> {
    match username == repo.namespace {
        true => Err(Error::InvalidRequest("Namespace owner must always be admin.".into())),
        false => Ok(()),
    }
}

fn role_of(stored: &str) -> Result<Role, Error> {
    Role::parse(stored).ok_or_else(|| Error::InvalidRequest(format!("Unknown stored role: {stored}")))
}

/// The grant views of `rows`, with organization membership when the
/// repository belongs to an organization.
fn user_grant_views(
    c: &mut DbConn,
    repo: &RepositoryView,
    rows: Vec<(Account, String)>,
) -> Result<Vec<UserGrant>, Error> {
    let members = match repo.namespace_is_org {
        true => perms::org_members_among(
            c,
            repo.namespace_id,
            &rows.iter().map(|(a, _)| a.id).collect::<Vec<_>>(),
        )?,
        false => Vec::new(),
    };
    rows.into_iter()
        .map(|(a, role)| {
            Ok(UserGrant {
                role: role_of(&role)?,
                is_robot: a.robot,
                is_org_member: repo.namespace_is_org.then(|| a.robot || members.contains(&a.id)),
                name: a.username,
            })
        })
        .collect()
}

/// The organization's team `name`, if the repository has an organization.
fn team_id(c: &mut DbConn, repo: &RepositoryView, name: &str) -> Result<Option<i64>, Error> {
    match repo.namespace_is_org {
        true => Ok(perms::team_in(c, repo.namespace_id, name)?),
        false => Ok(None),
    }
}

impl Registry {
    /// Every direct user and robot grant on the repository, by name.
    pub async fn user_grants(&self, repo: &RepositoryView) -> Result<Vec<UserGrant>, Error> {
        let repo = repo.clone();
        self.db()
            .read(move |c| {
                let rows = perms::user_grants(c, repo.id)?;
                Ok(user_grant_views(c, &repo, rows))
            })
            .await?
    }

    /// The direct grant of one user or robot.
    pub async fn user_grant(&self, repo: &RepositoryView, username: &str) -> Result<UserGrant, Error> {
        let (repo, username) = (repo.clone(), username.to_owned());
        self.db().read(move |c| Ok(user_grant_in(c, &repo, &username))).await?
    }

    /// Grants `role` to a user or to a robot of the repository's namespace.
    pub async fn grant_user(&self, repo: &RepositoryView, username: &str, role: Role) -> Result<UserGrant, Error> {
        owner_grant(repo, username)?;
        let (repo, username) = (repo.clone(), username.to_owned());
        self.db()
            .write(move |c| {
                let account = match accounts::find(c, &username)? {
                    Some(a) if !a.organization => a,
                    _ => return Err(Error::InvalidRequest(format!("Invalid username: {username}"))),
                };
                if account.robot && username.split_once('+').map(|(ns, _)| ns) != Some(repo.namespace.as_str()) {
                    return Err(Error::InvalidRequest(format!(
                        "Cannot add robot {username} under namespace {}",
                        repo.namespace
                    )));
                }
                perms::set_user_role(c, repo.id, account.id, role.as_str())?;
                user_grant_in(c, &repo, &username)
            })
            .await
    }

    /// Removes the direct grant of a user or robot.
    pub async fn revoke_user(&self, repo: &RepositoryView, username: &str) -> Result<(), Error> {
        owner_grant(repo, username)?;
        let (repo_id, username) = (repo.id, username.to_owned());
        self.db()
            .write(move |c| {
                let account = accounts::find(c, &username)?.ok_or_else(no_user_grant)?;
                match perms::remove_user_grant(c, repo_id, account.id)? {
                    true => Ok(()),
                    false => Err(no_user_grant()),
                }
            })
            .await
    }

    /// Every team grant on the repository, by team name.
    pub async fn team_grants(&self, repo: &RepositoryView) -> Result<Vec<TeamGrant>, Error> {
        let id = repo.id;
        let rows = self.db().read(move |c| Ok(perms::team_grants(c, id)?)).await?;
        rows.into_iter()
            .map(|(name, role)| {
                Ok(TeamGrant {
                    role: role_of(&role)?,
                    name,
                })
            })
            .collect()
    }

    /// The grant of one team of the repository's organization.
    pub async fn team_grant(&self, repo: &RepositoryView, team: &str) -> Result<TeamGrant, Error> {
        let (repo, team) = (repo.clone(), team.to_owned());
        self.db().read(move |c| Ok(team_grant_in(c, &repo, team))).await?
    }

    /// Grants `role` to a team of the repository's organization.
    pub async fn grant_team(&self, repo: &RepositoryView, team: &str, role: Role) -> Result<TeamGrant, Error> {
        let (repo, team) = (repo.clone(), team.to_owned());
        self.db()
            .write(move |c| {
                let Some(id) = team_id(c, &repo, &team)? else {
                    return Err(Error::InvalidRequest(format!(
                        "No team {team} in organization {}",
                        repo.namespace
                    )));
                };
                perms::set_team_role(c, repo.id, id, role.as_str())?;
                Ok(TeamGrant { name: team, role })
            })
            .await
    }

    /// Removes a team's grant.
    pub async fn revoke_team(&self, repo: &RepositoryView, team: &str) -> Result<(), Error> {
        let (repo, team) = (repo.clone(), team.to_owned());
        self.db()
            .write(move |c| {
                let id = team_id(c, &repo, &team)?.ok_or_else(no_team_grant)?;
                match perms::remove_team_grant(c, repo.id, id)? {
                    true => Ok(()),
                    false => Err(no_team_grant()),
                }
            })
            .await
    }

    /// The roles a user holds on the repository directly and through its
    /// teams; 404 when the user is unknown or holds none.
    pub async fn transitive_roles(&self, repo: &RepositoryView, username: &str) -> Result<Vec<Role>, Error> {
        let (repo_id, username) = (repo.id, username.to_owned());
        let roles = self
            .db()
            .read(move |c| match accounts::find(c, &username)? {
                Some(a) => Ok(perms::roles_on(c, repo_id, a.id)?),
                None => Ok(Vec::new()),
            })
            .await?;
        let roles: Vec<Role> = roles.iter().filter_map(|r| Role::parse(r)).collect();
        match roles.is_empty() {
            true => Err(Error::NotFound("Not Found".into())),
            false => Ok(roles),
        }
    }
}

/// The direct grant of `username`, or "User does not have permission".
fn user_grant_in(c: &mut DbConn, repo: &RepositoryView, username: &str) -> Result<UserGrant, Error> {
    let account = accounts::find(c, username)?.ok_or_else(no_user_grant)?;
    let role = perms::user_grant(c, repo.id, account.id)?.ok_or_else(no_user_grant)?;
    user_grant_views(c, repo, vec![(account, role)])?
        .pop()
        .ok_or_else(no_user_grant)
}

/// The grant of the organization's team `team`, or "Team does not have permission".
fn team_grant_in(c: &mut DbConn, repo: &RepositoryView, team: String) -> Result<TeamGrant, Error> {
    let id = team_id(c, repo, &team)?.ok_or_else(no_team_grant)?;
    let role = perms::team_grant(c, repo.id, id)?.ok_or_else(no_team_grant)?;
    Ok(TeamGrant {
        role: role_of(&role)?,
        name: team,
    })
}
