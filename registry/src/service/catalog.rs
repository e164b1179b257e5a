//! Content discovery: tag lists, the catalog and referrers.

use serde_json::{json, Value};

use super::{Error, Registry};
use crate::db::models::Account;
use crate::db::queries;

/// Repositories read per round while filtering the catalog.
const CATALOG_BATCH: i64 = 200;
use crate::oci::{Digest, RepoName};

/// One page of names, and whether more follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub items: Vec<String>,
    pub more: bool,
}

fn page_of(mut items: Vec<String>, n: usize) -> Page {
    let more = items.len() > n;
    items.truncate(n);
    Page { items, more }
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX - 1) + 1
}

impl Registry {
    /// Alive tags in lexical order after `last`, at most `n`.
    pub async fn list_tags(&self, repo: &RepoName, n: usize, last: Option<String>) -> Result<Page, Error> {
        let repo_id = self.repo_id(repo).await?;
        let now = crate::now_ms();
        let items = self
            .db()
            .read(move |c| Ok(queries::tags::page(c, repo_id, last.as_deref(), limit(n), now)?))
            .await?;
        Ok(page_of(items, n))
    }

    /// Repositories the account can read, as `namespace/name`, at most `n`,
    /// all sorted after the cursor `last`. The cursor is a position, not a
    /// name that must exist: `ns/name` continues after that repository, and a
    /// bare `ns` with the first repository of that namespace (or the next one).
    pub async fn catalog(&self, who: &Account, n: usize, last: Option<String>) -> Result<Page, Error> {
        let mut visible = Vec::new();
        let mut after = last.map(|l| match l.split_once('/') {
            Some((ns, name)) => (ns.to_owned(), name.to_owned()),
            None => (l, String::new()),
        });
        loop {
            let from = after.clone();
            let batch = self
                .db()
                .read(move |c| {
                    let from = from.as_ref().map(|(ns, name)| (ns.as_str(), name.as_str()));
                    Ok(queries::repositories::page(c, from, CATALOG_BATCH)?)
                })
                .await?;
            let exhausted = batch.len() < usize::try_from(CATALOG_BATCH).unwrap_or(usize::MAX);
            for (ns, name) in batch {
                if self.repository_role(Some(who), &ns, &name).await?.is_some() {
                    visible.push(format!("{ns}/{name}"));
                }
                after = Some((ns, name));
                if visible.len() > n {
                    return Ok(page_of(visible, n));
                }
            }
            if exhausted {
                return Ok(page_of(visible, n));
            }
        }
    }

    /// Descriptors of the manifests whose subject is `subject`, optionally
    /// only those of one artifact type. An unknown repository has none.
    pub async fn referrers(
        &self,
        repo: &RepoName,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Value>, Error> {
        let repo_id = match self.repo_id(repo).await {
            Ok(id) => id,
            Err(Error::NameUnknown) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let (s, now) = (subject.to_string(), crate::now_ms());
        let rows = self
            .db()
            .read(move |c| Ok(queries::manifests::referrers(c, repo_id, &s, now)?))
            .await?;
        Ok(rows
            .into_iter()
            .filter(|m| artifact_type.is_none() || m.artifact_type.as_deref() == artifact_type)
            .map(|m| {
                let annotations = serde_json::from_slice::<Value>(&m.manifest_bytes)
                    .ok()
                    .and_then(|v| v.get("annotations").cloned());
                let mut d = json!({
                    "mediaType": m.media_type,
                    "digest": m.digest,
                    "size": m.manifest_bytes.len(),
                });
                if let Some(a) = m.artifact_type {
                    d["artifactType"] = Value::String(a);
                }
                if let Some(a) = annotations.filter(Value::is_object) {
                    d["annotations"] = a;
                }
                d
            })
            .collect())
    }
}
