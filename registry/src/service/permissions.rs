//! Effective repository permissions: the strongest of namespace ownership,
//! organization admin team, team and direct repository roles, public
//! visibility (read) and superuser rights.

use super::{Error, Registry};
use crate::db::models::Account;
use crate::db::queries::{self, permissions as q};

/// A repository role, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Read,
    Write,
    Admin,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "read" => Some(Role::Read),
            "write" => Some(Role::Write),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Write => "write",
            Role::Admin => "admin",
        }
    }
}

impl Registry {
    /// The caller's role on `namespace/name`, `None` when it has none (or the
    /// repository does not exist).
    pub async fn repository_role(
        &self,
        caller: Option<&Account>,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Role>, Error> {
        self.role_on(caller, namespace, name, true).await
    }

    /// The role granted to the caller on `namespace/name` (owner, admin,
    /// direct or team role), not counting what being public gives everyone.
    pub async fn granted_repository_role(
        &self,
        caller: Option<&Account>,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Role>, Error> {
        self.role_on(caller, namespace, name, false).await
    }

    async fn role_on(
        &self,
        caller: Option<&Account>,
        namespace: &str,
        name: &str,
        count_public: bool,
    ) -> Result<Option<Role>, Error> {
        let (ns, n) = (namespace.to_owned(), name.to_owned());
        let caller_id = caller.map(|c| c.id);
        let full_access =
            self.settings().accounts.superusers_full_access && caller.is_some_and(|c| self.is_superuser(c));
        self.db()
            .read(move |c| {
                let Some(repo) = queries::repositories::find(c, &ns, &n)? else {
                    return Ok(None);
                };
                let mut best = (count_public && repo.visibility == "public").then_some(Role::Read);
                let Some(id) = caller_id else { return Ok(best) };
                if full_access || repo.namespace_user_id == id {
                    return Ok(Some(Role::Admin));
                }
                if q::org_roles(c, repo.namespace_user_id, id)?
                    .iter()
                    .any(|r| r == "admin")
                {
                    return Ok(Some(Role::Admin));
                }
                for r in q::roles_on(c, repo.id, id)?.iter().filter_map(|r| Role::parse(r)) {
                    best = best.max(Some(r));
                }
                Ok(best)
            })
            .await
            .map_err(Error::from)
    }

    /// Whether the caller may create repositories in `namespace`: its own
    /// (users, not robots), an organization where it is in an admin or
    /// creator team, or anywhere as a superuser with full access.
    pub async fn can_create_in(&self, caller: &Account, namespace: &Account) -> Result<bool, Error> {
        if self.settings().accounts.superusers_full_access && self.is_superuser(caller) {
            return Ok(true);
        }
        if !namespace.organization {
            return Ok(namespace.id == caller.id && !caller.robot && !self.is_restricted_user(caller).await?);
        }
        let (org, id) = (namespace.id, caller.id);
        let roles = self.db().read(move |c| Ok(q::org_roles(c, org, id)?)).await?;
        Ok(roles.iter().any(|r| r == "admin" || r == "creator"))
    }
}

impl Registry {
    /// Creates `repo` (private unless `CREATE_PRIVATE_REPO_ON_PUSH` is off)
    /// for `creator`, who gets a direct admin role when it does not own the
    /// namespace; the organization's default permissions are granted in the
    /// same transaction. The caller checked `can_create_in`.
    pub async fn create_repository_as(&self, repo: &crate::oci::RepoName, creator: &Account) -> Result<(), Error> {
        let visibility = if self.settings().create_private_repo_on_push {
            "private"
        } else {
            "public"
        };
        let (ns, name, creator_id, now) = (
            repo.namespace().to_owned(),
            repo.name().to_owned(),
            creator.id,
            crate::now_ms(),
        );
        let window_s = self.settings().accounts.default_tag_expiration_s;
        self.db()
            .write(move |c| {
                let existed = queries::repositories::find(c, &ns, &name)?.is_some();
                let r = queries::repositories::ensure(c, &ns, &name, visibility, now, window_s)?;
                if r.namespace_user_id != creator_id {
                    q::set_user_role(c, r.id, creator_id, Role::Admin.as_str())?;
                    if !existed {
                        super::prototypes::apply(c, r.namespace_user_id, creator_id, r.id)?;
                    }
                }
                Ok::<_, Error>(())
            })
            .await
    }
}
