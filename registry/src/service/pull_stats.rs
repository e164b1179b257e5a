//! Pull statistics (`FEATURE_IMAGE_PULL_STATS`): how often each tag and
//! each manifest of a repository was pulled, and when last. A pull is
//! counted after it is served, never failing or slowing it; only callers
//! with a role on the repository (not the public) may read the counts, as
//! in Quay.

use super::permissions::Role;
use super::repositories::{refused, RepositoryAccess};
use super::{Error, Registry, Scopes};
use crate::db::models::Account;
use crate::db::queries::pull_stats as q;
use crate::db::queries::repositories as repos;
use crate::oci::{Reference, RepoName};

/// A count: pulls and the last pull in ms; `None` when never pulled.
#[derive(Debug, Clone, Default)]
pub struct PullCount {
    pub count: i64,
    pub last_pull_ms: Option<i64>,
    /// For a tag: the manifest it served last.
    pub manifest_digest: Option<String>,
}

impl From<Option<q::PullCount>> for PullCount {
    fn from(row: Option<q::PullCount>) -> Self {
        match row {
            Some((count, last, digest)) => PullCount {
                count,
                last_pull_ms: Some(last),
                manifest_digest: Some(digest),
            },
            None => PullCount::default(),
        }
    }
}

impl Registry {
    /// Counts a served pull of `reference` (which served `digest`) when
    /// `FEATURE_IMAGE_PULL_STATS` is on, in the background.
    pub fn record_pull(&self, repo: &RepoName, reference: &Reference, digest: &str) {
        if !self.settings().pull_stats {
            return;
        }
        let (ns, name, digest) = (repo.namespace().to_owned(), repo.name().to_owned(), digest.to_owned());
        let tag = match reference {
            Reference::Tag(t) => Some(t.to_string()),
            Reference::Digest(_) => None,
        };
        let registry = self.clone();
        actix_web::rt::spawn(async move {
            let now = crate::now_ms();
            let counted = registry
                .db()
                .write(move |c| {
                    let Some(repo) = repos::find(c, &ns, &name)? else {
                        return Ok(());
                    };
                    if let Some(tag) = &tag {
                        q::record(c, repo.id, q::TAG, tag, &digest, now)?;
                    }
                    q::record(c, repo.id, q::MANIFEST, &digest, &digest, now)?;
                    Ok::<_, Error>(())
                })
                .await;
            if let Err(e) = counted {
                tracing::warn!(error = %e, "a pull was not counted");
            }
        });
    }

    /// The repository, if the caller holds a role on it: reading it because
    /// it is public is not enough to read its pull counts.
    pub async fn pull_statistics_access(
        &self,
        caller: Option<&Account>,
        scopes: &Scopes,
        repo: &RepoName,
    ) -> Result<RepositoryAccess, Error> {
        let access = self.repository_access(caller, scopes, repo, Role::Read).await?;
        if access.repo.visibility == "public" {
            let held = self
                .granted_repository_role(caller, repo.namespace(), repo.name())
                .await?;
            if held.is_none() {
                return Err(refused(caller));
            }
        }
        Ok(access)
    }

    /// The pulls of a tag (by name) or a manifest (by digest).
    pub async fn pull_count(
        &self,
        access: &RepositoryAccess,
        tag: Option<&str>,
        digest: &str,
    ) -> Result<PullCount, Error> {
        let (repo_id, kind, name) = match tag {
            Some(t) => (access.repo.id, q::TAG, t.to_owned()),
            None => (access.repo.id, q::MANIFEST, digest.to_owned()),
        };
        let row = self.db().read(move |c| Ok(q::get(c, repo_id, kind, &name)?)).await?;
        Ok(PullCount::from(row))
    }
}
