//! Repositories as the REST API manages them: creation, listing, the
//! caller's access to one repository, and changes to it. Who holds which
//! role on a repository is in [`grants`].

mod grants;

pub use grants::{TeamGrant, UserGrant};

use super::permissions::Role;
use super::{Error, Registry, Scopes};
use crate::db::models::Account;
use crate::db::queries::repositories::{self as q, NewRepository as NewRow, PageFilter, Viewer};
use crate::db::queries::{self, permissions as perms};
use crate::db::DbError;
use crate::oci::RepoName;

pub use crate::db::queries::repositories::{RepositoryView, TagSummary};

/// Repositories per page of a listing (Quay's `REPOS_PER_PAGE`).
pub const REPOS_PER_PAGE: usize = 100;

/// Who may pull a repository without a grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    Public,
    Private,
}

impl Visibility {
    pub fn parse(s: &str) -> Option<Visibility> {
        match s {
            "public" => Some(Visibility::Public),
            "private" => Some(Visibility::Private),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Private => "private",
        }
    }
}

/// Quay's name of a `repository.state` value.
pub fn state_name(state: i32) -> &'static str {
    match state {
        0 => "NORMAL",
        1 => "READ_ONLY",
        2 => "MIRROR",
        3 => "MARKED_FOR_DELETION",
        4 => "ORG_MIRROR",
        _ => "UNKNOWN",
    }
}

/// The strongest repository role a token's scopes let it use, whatever
/// the user holds (`repo:admin` implies write, `repo:write` implies read).
pub fn scope_cap(scopes: &Scopes) -> Option<Role> {
    [
        ("repo:admin", Role::Admin),
        ("repo:write", Role::Write),
        ("repo:read", Role::Read),
    ]
    .into_iter()
    .find(|(s, _)| scopes.has(s))
    .map(|(_, r)| r)
}

/// 401 for anonymous callers, 403 for the others (Quay's `Unauthorized`).
pub(super) fn refused(caller: Option<&Account>) -> Error {
    match caller {
        None => Error::Unauthenticated("Requires authentication".into()),
        Some(_) => Error::Forbidden("Unauthorized".into()),
    }
}

/// A repository to create.
#[derive(Debug, Clone)]
pub struct NewRepository<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub visibility: Visibility,
    pub description: &'a str,
    pub kind: &'a str,
}

/// A repository and the role the caller uses on it.
#[derive(Debug, Clone)]
pub struct RepositoryAccess {
    pub repo: RepositoryView,
    pub role: Role,
}

/// What a repository listing asks for.
#[derive(Debug, Clone, Default)]
pub struct ListQuery<'a> {
    pub namespace: Option<&'a str>,
    pub public: bool,
    pub starred: bool,
    pub last_modified: bool,
    pub kind: &'a str,
    /// Continue after this repository id.
    pub after_id: Option<i64>,
}

/// One repository of a listing.
#[derive(Debug, Clone)]
pub struct ListedRepository {
    pub repo: RepositoryView,
    /// Newest tag push in Unix seconds, when asked for and there is a tag.
    pub last_modified_s: Option<i64>,
    /// Whether the caller starred it (always false for anonymous callers).
    pub is_starred: bool,
}

/// A page of a listing; `next_after` continues it.
#[derive(Debug, Clone, Default)]
pub struct RepositoryPage {
    pub items: Vec<ListedRepository>,
    pub next_after: Option<i64>,
}

/// How far back a repository's popularity counts its logged actions.
const POPULARITY_WINDOW_MS: i64 = 30 * 24 * 3600 * 1000;

impl Registry {
    /// Actions logged on each repository in the last 30 days (pulls, pushes,
    /// tag changes …): the `popularity` of repository listings.
    pub async fn repository_popularity(&self, repo_ids: &[i64]) -> Result<std::collections::HashMap<i64, i64>, Error> {
        let (ids, since) = (repo_ids.to_vec(), crate::now_ms() - POPULARITY_WINDOW_MS);
        Ok(self
            .db()
            .read(move |c| Ok(crate::db::queries::logs::action_counts(c, &ids, since)?))
            .await?
            .into_iter()
            .collect())
    }

    /// Creates a repository for `caller`, who must be allowed to create in
    /// the namespace. A creator who is not the namespace owner (a member of
    /// an organization's creator team, say) gets a direct admin grant.
    pub async fn create_repository(&self, caller: &Account, new: &NewRepository<'_>) -> Result<RepositoryView, Error> {
        let Some(ns) = self.account(new.namespace).await? else {
            return Err(refused(Some(caller)));
        };
        if !self.can_create_in(caller, &ns).await? {
            return Err(refused(Some(caller)));
        }
        let name = RepoName::new(&ns.username, new.name)
            .map_err(|_| Error::InvalidRequest("Invalid repository name".into()))?;
        let exists = || Error::InvalidRequest("Repository already exists".into());
        let (visibility, description, kind) = (new.visibility, new.description.to_owned(), new.kind.to_owned());
        let (ns_id, creator, now) = (ns.id, (caller.id != ns.id).then_some(caller.id), crate::now_ms());
        let created = self
            .db()
            .write(move |c| {
                if q::find(c, name.namespace(), name.name())?.is_some() {
                    return Err(exists());
                }
                let row = NewRow {
                    namespace_id: ns_id,
                    name: name.name(),
                    visibility: visibility.as_str(),
                    description: &description,
                    kind: &kind,
                    now,
                };
                let id = q::insert(c, &row)?;
                if let Some(creator) = creator {
                    perms::set_user_role(c, id, creator, Role::Admin.as_str())?;
                    super::prototypes::apply(c, ns_id, creator, id)?;
                }
                q::find_view(c, name.namespace(), name.name())?.ok_or_else(exists)
            })
            .await;
        match created {
            Err(Error::Db(DbError::Query(e))) if queries::is_unique_violation(&e) => Err(exists()),
            other => other,
        }
    }

    /// The repository, if the caller may use it with role `need`. Anonymous
    /// callers are refused with 401, others with 403; a missing repository
    /// is 404 only for those who administer its namespace (so nobody else
    /// learns which private names exist).
    pub async fn repository_access(
        &self,
        caller: Option<&Account>,
        scopes: &Scopes,
        repo: &RepoName,
        need: Role,
    ) -> Result<RepositoryAccess, Error> {
        let cap = scope_cap(scopes);
        let (ns, name) = (repo.namespace().to_owned(), repo.name().to_owned());
        let view = self.db().read(move |c| Ok(q::find_view(c, &ns, &name)?)).await?;
        let acting = caller.filter(|_| cap.is_some());
        let held = match (&view, acting) {
            (Some(_), Some(user)) => self.repository_role(Some(user), repo.namespace(), repo.name()).await?,
            _ => None,
        };
        let public = view.as_ref().filter(|v| v.visibility == "public").map(|_| Role::Read);
        let role = public.max(held.min(cap));
        match (view, role) {
            (Some(repo), Some(role)) if role >= need => Ok(RepositoryAccess { repo, role }),
            (None, _) if self.administers_namespace(acting, repo.namespace()).await? => {
                Err(Error::NotFound("Repository not found".into()))
            }
            _ => Err(refused(caller)),
        }
    }

    /// Whether the account owns or administers the namespace (or is a
    /// superuser with full access).
    pub(super) async fn administers_namespace(&self, caller: Option<&Account>, namespace: &str) -> Result<bool, Error> {
        let Some(user) = caller else { return Ok(false) };
        if user.username == namespace || self.full_access(user) {
            return Ok(true);
        }
        let (ns, id) = (namespace.to_owned(), user.id);
        let roles = self
            .db()
            .read(move |c| match queries::accounts::find(c, &ns)? {
                Some(org) if org.organization => Ok(perms::org_roles(c, org.id, id)?),
                _ => Ok(Vec::new()),
            })
            .await?;
        Ok(roles.iter().any(|r| r == "admin"))
    }

    fn full_access(&self, user: &Account) -> bool {
        self.settings().accounts.superusers_full_access && self.is_superuser(user)
    }

    /// A page of the repositories the caller may read. Tokens without a
    /// `repo:` scope are refused; anonymous callers see public ones only,
    /// and only when they ask for `public`. With `starred`, the caller's
    /// starred repositories that it may still read, whatever the namespace.
    pub async fn list_repositories(
        &self,
        caller: Option<&Account>,
        scopes: &Scopes,
        query: &ListQuery<'_>,
    ) -> Result<RepositoryPage, Error> {
        let Some(viewer) = self.list_viewer(caller, scopes, query)? else {
            return Ok(RepositoryPage::default());
        };
        let filter = PageFilter {
            namespace: query.namespace.filter(|_| !query.starred).map(str::to_owned),
            kind: query.kind.to_owned(),
            starred_by: caller.filter(|_| query.starred).map(|u| u.id),
            after_id: query.after_id.unwrap_or(0),
            text: None,
        };
        self.repository_page(viewer, filter, caller.map(|u| u.id), query.last_modified)
            .await
    }

    /// A page of what `filter` selects among the repositories `viewer`
    /// reads, each marked starred or not for `stars_of`.
    pub(super) async fn repository_page(
        &self,
        viewer: Viewer,
        filter: PageFilter,
        stars_of: Option<i64>,
        with_last_modified: bool,
    ) -> Result<RepositoryPage, Error> {
        let (limit, now) = (i64::try_from(REPOS_PER_PAGE + 1).unwrap_or(i64::MAX), crate::now_ms());
        let (rows, more, pushed, starred) = self
            .db()
            .read(move |c| {
                let mut rows = q::visible_page(c, viewer, &filter, limit)?;
                let more = rows.len() > REPOS_PER_PAGE;
                rows.truncate(REPOS_PER_PAGE);
                let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
                let pushed = match with_last_modified {
                    true => q::last_tag_push_ms(c, &ids, now)?,
                    false => Vec::new(),
                };
                let starred = match stars_of {
                    Some(user) => queries::stars::starred_among(c, user, &ids)?,
                    None => Vec::new(),
                };
                Ok((rows, more, pushed, starred))
            })
            .await?;
        let next_after = more.then(|| rows.last().map(|r| r.id)).flatten();
        let items = rows
            .into_iter()
            .map(|repo| {
                let pushed_ms = pushed.iter().find(|(id, _)| *id == repo.id).and_then(|(_, ms)| *ms);
                ListedRepository {
                    is_starred: starred.contains(&repo.id),
                    last_modified_s: pushed_ms.map(|ms| ms.div_euclid(1000)),
                    repo,
                }
            })
            .collect();
        Ok(RepositoryPage { items, next_after })
    }

    /// Whose repositories a listing shows; `None` when it is empty anyway.
    fn list_viewer(
        &self,
        caller: Option<&Account>,
        scopes: &Scopes,
        query: &ListQuery<'_>,
    ) -> Result<Option<Viewer>, Error> {
        if caller.is_some() && scope_cap(scopes).is_none() {
            return Err(refused(caller));
        }
        if query.starred && caller.is_none() {
            return Err(Error::InvalidRequest(
                "Starred repositories require a signed-in user".into(),
            ));
        }
        Ok(match caller {
            Some(u) => Some(self.reader(u, query.public || query.starred)),
            None if query.public => Some(Viewer::Public),
            None => None,
        })
    }

    /// The repositories `user` reads; with `public`, every public one too.
    pub(super) fn reader(&self, user: &Account, public: bool) -> Viewer {
        match self.full_access(user) {
            true => Viewer::Everyone,
            false => Viewer::Account { id: user.id, public },
        }
    }

    /// The repository's alive, listed tags, newest first, at most `limit`.
    pub async fn repository_tags(&self, repo: &RepositoryView, limit: usize) -> Result<Vec<TagSummary>, Error> {
        let (id, now, limit) = (repo.id, crate::now_ms(), i64::try_from(limit).unwrap_or(i64::MAX));
        Ok(self
            .db()
            .read(move |c| Ok(q::tag_summaries(c, id, now, limit)?))
            .await?)
    }

    pub async fn set_repository_description(&self, repo: &RepositoryView, description: &str) -> Result<(), Error> {
        let (id, d) = (repo.id, description.to_owned());
        self.db()
            .write(move |c| Ok::<_, Error>(q::set_description(c, id, &d)?))
            .await
    }

    pub async fn set_repository_visibility(&self, repo: &RepositoryView, visibility: Visibility) -> Result<(), Error> {
        let id = repo.id;
        self.db()
            .write(move |c| Ok::<_, Error>(q::set_visibility(c, id, visibility.as_str())?))
            .await
    }

    /// Deletes a repository as Quay does: renamed to a name no push can
    /// produce and marked for deletion, so its name is free at once and
    /// neither /v2 nor the API finds it; its content is reclaimed later.
    /// Its grants go at once, so no team or robot listing shows it, and its
    /// queued builds are cancelled, so none runs, and its build triggers
    /// deleted, so no push queues another, and its mirror removed, so no
    /// sync writes into it.
    pub async fn delete_repository(&self, repo: &RepositoryView) -> Result<(), Error> {
        let id = repo.id;
        let tombstone = format!("{}+deleted+{}", repo.name, uuid::Uuid::new_v4().simple());
        self.db()
            .write(move |c| {
                perms::remove_all_grants(c, id)?;
                crate::db::queries::stars::remove_all_of_repository(c, id)?;
                crate::db::queries::pull_stats::delete_of_repository(c, id)?;
                crate::db::queries::builds::cancel_unfinished_of_repository(c, id)?;
                crate::db::queries::triggers::delete_of_repository(c, id)?;
                crate::db::queries::mirrors::delete_of_repository(c, id)?;
                Ok::<_, Error>(q::mark_for_deletion(c, id, &tombstone)?)
            })
            .await
    }
}
