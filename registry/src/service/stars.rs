//! Stars: repositories a user marked to find again. A star stays when the
//! user loses read access, but listings only show the repositories the user
//! may still read; deleting a repository removes its stars.

use super::permissions::Role;
use super::repositories::{scope_cap, RepositoryPage};
use super::{Error, Registry, Scopes};
use crate::db::models::Account;
use crate::db::queries::repositories::PageFilter;
use crate::db::queries::{repositories as repos, stars as q};
use crate::oci::RepoName;

impl Registry {
    /// Stars a repository the user may read with these scopes (which must
    /// include a `repo:` one, as in Quay); starring twice is fine. Unreadable or unknown repositories are refused as
    /// `repository_access` refuses them.
    pub async fn star_repository(&self, user: &Account, scopes: &Scopes, repo: &RepoName) -> Result<(), Error> {
        if scope_cap(scopes).is_none() {
            return Err(Error::Forbidden("Starring needs a repo: scope".into()));
        }
        let granted = self.repository_access(Some(user), scopes, repo, Role::Read).await?;
        let (user_id, repo_id, now) = (user.id, granted.repo.id, crate::now_ms());
        self.db()
            .write(move |c| Ok::<_, Error>(q::add(c, user_id, repo_id, now)?))
            .await
    }

    /// Removes the user's star; a repository that is unknown or not starred
    /// is not an error (so nothing is learned about private names).
    pub async fn unstar_repository(&self, user: &Account, repo: &RepoName) -> Result<(), Error> {
        let (user_id, ns, name) = (user.id, repo.namespace().to_owned(), repo.name().to_owned());
        self.db()
            .write(move |c| {
                if let Some(r) = repos::find(c, &ns, &name)? {
                    q::remove(c, user_id, r.id)?;
                }
                Ok::<_, Error>(())
            })
            .await
    }

    /// A page of the user's starred repositories that the user may still
    /// read, after repository id `after_id`.
    pub async fn starred_repositories(&self, user: &Account, after_id: Option<i64>) -> Result<RepositoryPage, Error> {
        let filter = PageFilter {
            namespace: None,
            kind: "image".to_owned(),
            starred_by: Some(user.id),
            after_id: after_id.unwrap_or(0),
            text: None,
        };
        self.repository_page(self.reader(user, true), filter, Some(user.id), false)
            .await
    }

    /// Whether the user starred the repository.
    pub async fn is_starred(&self, user: &Account, repository_id: i64) -> Result<bool, Error> {
        let user_id = user.id;
        let starred = self
            .db()
            .read(move |c| Ok(q::starred_among(c, user_id, &[repository_id])?))
            .await?;
        Ok(!starred.is_empty())
    }
}
