//! Default permissions (Quay's permission prototypes): repository roles an
//! organization grants to a user, robot or team whenever a repository is
//! created in it. A prototype with an activating user applies only to the
//! repositories that user creates; one without applies to every new one.
//! They are applied in the transaction that creates the repository.

use std::collections::HashSet;

use super::permissions::Role;
use super::teams::possible_member;
use super::{Error, Registry};
use crate::db::models::Account;
use crate::db::queries::permissions as perms;
use crate::db::queries::prototypes::{self as q, NewPrototype as NewRow};
use crate::db::queries::teams as tq;
use crate::db::DbConn;

/// Who a prototype grants its role to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DelegateKind {
    /// A user or a robot of the organization.
    User,
    Team,
}

impl DelegateKind {
    pub fn parse(s: &str) -> Result<DelegateKind, Error> {
        match s {
            "user" => Ok(DelegateKind::User),
            "team" => Ok(DelegateKind::Team),
            other => Err(Error::InvalidRequest(format!(
                "Invalid delegate kind `{other}`: must be user or team"
            ))),
        }
    }
}

/// A prototype to create.
#[derive(Debug, Clone)]
pub struct NewPrototype<'a> {
    pub role: &'a str,
    pub delegate_kind: DelegateKind,
    pub delegate_name: &'a str,
    pub activating_user: Option<&'a str>,
}

/// A user or robot named by a prototype.
#[derive(Debug, Clone)]
pub struct PrototypeUser {
    pub account: Account,
    /// Robots always count as members of their organization.
    pub is_org_member: bool,
}

#[derive(Debug, Clone)]
pub enum Delegate {
    User(PrototypeUser),
    Team(String),
}

/// A default permission of an organization.
#[derive(Debug, Clone)]
pub struct Prototype {
    pub uuid: String,
    pub role: String,
    pub delegate: Delegate,
    pub activating_user: Option<PrototypeUser>,
}

fn parse_role(role: &str) -> Result<Role, Error> {
    Role::parse(role)
        .ok_or_else(|| Error::InvalidRequest(format!("Invalid role `{role}`: must be one of read, write, admin")))
}

fn not_found() -> Error {
    Error::NotFound("Prototype not found".into())
}

impl Registry {
    /// The organization's prototypes, oldest first.
    pub async fn prototypes(&self, org: &Account) -> Result<Vec<Prototype>, Error> {
        let org_id = org.id;
        Ok(self
            .db()
            .read(move |c| {
                let rows = q::list(c, org_id)?;
                describe(c, org_id, rows)
            })
            .await?)
    }

    /// Creates a prototype. The delegate user may be a user or a robot of
    /// the organization, the team one of its teams; unknown names are 400.
    pub async fn create_prototype(&self, org: &Account, new: &NewPrototype<'_>) -> Result<Prototype, Error> {
        let role = parse_role(new.role)?;
        let activating = match new.activating_user {
            Some(name) => Some(self.prototype_account(org, name, "Unknown activating user").await?),
            None => None,
        };
        let (delegate_user, team_name) = match new.delegate_kind {
            DelegateKind::User => (
                Some(self.prototype_account(org, new.delegate_name, "Unknown user").await?),
                None,
            ),
            DelegateKind::Team => (None, Some(new.delegate_name.to_owned())),
        };
        let (org, uuid) = (org.clone(), uuid::Uuid::new_v4().to_string());
        self.db()
            .write(move |c| {
                let team_id = match team_name {
                    Some(name) => Some(tq::find(c, org.id, &name)?.map(|t| t.id).ok_or_else(|| {
                        Error::InvalidRequest(format!("Team '{name}' is not a team in org '{}'", org.username))
                    })?),
                    None => None,
                };
                q::insert(
                    c,
                    &NewRow {
                        uuid: &uuid,
                        org_id: org.id,
                        activating_user_id: activating.map(|a| a.id),
                        delegate_user_id: delegate_user.map(|a| a.id),
                        delegate_team_id: team_id,
                        role: role.as_str(),
                    },
                )?;
                one(c, org.id, &uuid)
            })
            .await
    }

    /// Changes only the role of a prototype.
    pub async fn set_prototype_role(&self, org: &Account, uuid: &str, role: &str) -> Result<Prototype, Error> {
        let role = parse_role(role)?;
        let (org_id, uuid) = (org.id, uuid.to_owned());
        self.db()
            .write(move |c| {
                let row = q::find(c, org_id, &uuid)?.ok_or_else(not_found)?;
                q::set_role(c, row.id, role.as_str())?;
                one(c, org_id, &uuid)
            })
            .await
    }

    pub async fn delete_prototype(&self, org: &Account, uuid: &str) -> Result<(), Error> {
        let (org_id, uuid) = (org.id, uuid.to_owned());
        self.db()
            .write(move |c| match q::delete(c, org_id, &uuid)? {
                true => Ok(()),
                false => Err(not_found()),
            })
            .await
    }

    /// A user, or a robot of the organization, that a prototype may name.
    async fn prototype_account(&self, org: &Account, name: &str, unknown: &str) -> Result<Account, Error> {
        let account =
            possible_member(self.account(name).await?).ok_or_else(|| Error::InvalidRequest(unknown.to_owned()))?;
        if account.robot && !account.username.starts_with(&format!("{}+", org.username)) {
            return Err(Error::InvalidRequest(format!(
                "Robot '{}' does not belong to organization '{}'",
                account.username, org.username
            )));
        }
        Ok(account)
    }
}

/// The prototype `uuid` as the API shows it.
fn one(c: &mut DbConn, org_id: i64, uuid: &str) -> Result<Prototype, Error> {
    let row = q::find(c, org_id, uuid)?.ok_or_else(not_found)?;
    describe(c, org_id, vec![row])?.pop().ok_or_else(not_found)
}

/// Rows with their users' and teams' names and membership.
fn describe(c: &mut DbConn, org_id: i64, rows: Vec<q::Prototype>) -> Result<Vec<Prototype>, crate::db::DbError> {
    let user_ids: Vec<i64> = rows
        .iter()
        .flat_map(|r| [r.activating_user_id, r.delegate_user_id])
        .flatten()
        .collect();
    let team_ids: Vec<i64> = rows.iter().filter_map(|r| r.delegate_team_id).collect();
    let accounts = q::accounts(c, &user_ids)?;
    let members = perms::org_members_among(c, org_id, &user_ids)?;
    let teams = q::team_names(c, &team_ids)?;
    let user = |id: Option<i64>| {
        let account = accounts.iter().find(|a| Some(a.id) == id)?.clone();
        let is_org_member = account.robot || members.contains(&account.id);
        Some(PrototypeUser { account, is_org_member })
    };
    Ok(rows
        .iter()
        .filter_map(|r| {
            let delegate = match r.delegate_team_id {
                Some(t) => Delegate::Team(teams.iter().find(|(id, _)| *id == t)?.1.clone()),
                None => Delegate::User(user(r.delegate_user_id)?),
            };
            Some(Prototype {
                uuid: r.uuid.clone(),
                role: r.role.clone(),
                delegate,
                activating_user: user(r.activating_user_id),
            })
        })
        .collect())
}

/// Grants the organization's default permissions on a repository that
/// `creator_id` (not the namespace itself) just created. Prototypes for the
/// creator win over general ones, then the stronger role; the creator keeps
/// the admin role it already has.
pub(super) fn apply(c: &mut DbConn, org_id: i64, creator_id: i64, repo_id: i64) -> diesel::QueryResult<()> {
    let mut rows = q::applicable(c, org_id, creator_id)?;
    rows.sort_by_key(|r| {
        let strength = Role::parse(&r.role);
        (
            std::cmp::Reverse(r.activating_user_id.is_some()),
            std::cmp::Reverse(strength),
        )
    });
    let (mut users, mut teams) = (HashSet::new(), HashSet::new());
    for row in rows {
        let Some(role) = Role::parse(&row.role) else { continue };
        match (row.delegate_user_id, row.delegate_team_id) {
            (Some(user), _) if user != creator_id && users.insert(user) => {
                perms::set_user_role(c, repo_id, user, role.as_str())?;
            }
            (None, Some(team)) if teams.insert(team) => perms::set_team_role(c, repo_id, team, role.as_str())?,
            _ => {}
        }
    }
    Ok(())
}
