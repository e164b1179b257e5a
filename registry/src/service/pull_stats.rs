//! Pull statistics (`FEATURE_IMAGE_PULL_STATS`): how often each tag and
//! each manifest of a repository was pulled, and when last. A pull is
//! counted after it is served, never failing or slowing it; only callers
//! with a role on the repository (not the public) may read the counts, as
//! in Quay.

use std::collections::HashMap;

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

/// Pulls counted in memory since the last flush, by (namespace, repository,
/// kind, tag or digest): a pull costs a map update, and the database sees
/// one statement per distinct tag or manifest per flush, as Quay's Redis
/// counters and their flush worker do.
#[derive(Default)]
pub(super) struct PendingPulls {
    counts: std::sync::Mutex<HashMap<PullKey, Pending>>,
    /// A flush started by [`Registry::record_pull`] is running.
    flushing: std::sync::atomic::AtomicBool,
    /// No flush is started by pulls before this time (ms), after one failed.
    quiet_until_ms: std::sync::atomic::AtomicI64,
    /// Pulls of new tags or manifests not counted because the map was full.
    dropped: std::sync::atomic::AtomicU64,
}

type PullKey = (String, String, &'static str, String);

struct Pending {
    count: i64,
    last_ms: i64,
    digest: String,
}

/// A flush is started at once when this many distinct tags and manifests
/// wait, so memory stays bounded between timed flushes.
const MAX_PENDING: usize = 10_000;
/// While the database cannot take them, at most this many distinct tags and
/// manifests are kept; pulls of others are not counted (and logged).
const HARD_CAP: usize = 100_000;
/// After a failed flush, pulls start no other for this long.
const FLUSH_BACKOFF_MS: i64 = 1_000;

impl PendingPulls {
    fn add(&self, key: PullKey, digest: &str, now: i64) -> usize {
        let mut counts = self.counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if counts.len() >= HARD_CAP && !counts.contains_key(&key) {
            if self.dropped.fetch_add(1, std::sync::atomic::Ordering::Relaxed) == 0 {
                tracing::warn!("pull counts cannot be written and {HARD_CAP} are waiting; pulls of other tags are not counted until they are");
            }
            return counts.len();
        }
        let entry = counts.entry(key).or_insert_with(|| Pending {
            count: 0,
            last_ms: now,
            digest: digest.to_owned(),
        });
        entry.count += 1;
        entry.last_ms = now;
        digest.clone_into(&mut entry.digest);
        counts.len()
    }

    fn take(&self) -> HashMap<PullKey, Pending> {
        std::mem::take(&mut *self.counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}

impl Registry {
    /// Counts a served pull of `reference` (which served `digest`) when
    /// `FEATURE_IMAGE_PULL_STATS` is on: in memory, written by the next
    /// [`flush_pull_counts`](Self::flush_pull_counts).
    pub fn record_pull(&self, repo: &RepoName, reference: &Reference, digest: &str) {
        if !self.settings().pull_stats {
            return;
        }
        let (ns, name, now) = (repo.namespace().to_owned(), repo.name().to_owned(), crate::now_ms());
        let pending = &self.inner.pulls;
        if let Reference::Tag(t) = reference {
            pending.add((ns.clone(), name.clone(), q::TAG, t.to_string()), digest, now);
        }
        let waiting = pending.add((ns, name, q::MANIFEST, digest.to_owned()), digest, now);
        let quiet = now < pending.quiet_until_ms.load(std::sync::atomic::Ordering::Relaxed);
        // One flush at a time: a database that is down is tried once per
        // backoff, not by every pull.
        if waiting >= MAX_PENDING && !quiet && !pending.flushing.swap(true, std::sync::atomic::Ordering::AcqRel) {
            let registry = self.clone();
            actix_web::rt::spawn(async move {
                if !registry.flush_pull_counts().await {
                    let until = crate::now_ms() + FLUSH_BACKOFF_MS;
                    registry
                        .inner
                        .pulls
                        .quiet_until_ms
                        .store(until, std::sync::atomic::Ordering::Relaxed);
                }
                registry
                    .inner
                    .pulls
                    .flushing
                    .store(false, std::sync::atomic::Ordering::Release);
            });
        }
    }

    /// Writes the pulls counted in memory, in one transaction; on a database
    /// failure they are kept for the next flush. Whether they were written.
    pub async fn flush_pull_counts(&self) -> bool {
        let counts = self.inner.pulls.take();
        if counts.is_empty() {
            return true;
        }
        let counts = std::sync::Arc::new(counts);
        let batch = counts.clone();
        let written = self
            .db()
            .write(move |c| {
                let mut ids: HashMap<(String, String), Option<i64>> = HashMap::new();
                for ((ns, name, kind, key), p) in batch.iter() {
                    let id = match ids.get(&(ns.clone(), name.clone())) {
                        Some(id) => *id,
                        None => {
                            let id = repos::find(c, ns, name)?.map(|r| r.id);
                            ids.insert((ns.clone(), name.clone()), id);
                            id
                        }
                    };
                    if let Some(id) = id {
                        q::record(c, id, kind, key, &p.digest, p.count, p.last_ms)?;
                    }
                }
                Ok::<_, Error>(())
            })
            .await;
        let Err(e) = written else {
            self.inner.pulls.dropped.store(0, std::sync::atomic::Ordering::Relaxed);
            return true;
        };
        tracing::warn!(error = %e, "pull counts not written; kept for the next flush");
        if let Ok(counts) = std::sync::Arc::try_unwrap(counts) {
            let mut pending = self
                .inner
                .pulls
                .counts
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for (key, p) in counts {
                let entry = pending.entry(key).or_insert(Pending {
                    count: 0,
                    last_ms: p.last_ms,
                    digest: p.digest.clone(),
                });
                entry.count += p.count;
                entry.last_ms = entry.last_ms.max(p.last_ms);
            }
        }
        false
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
        self.flush_pull_counts().await;
        let row = self.db().read(move |c| Ok(q::get(c, repo_id, kind, &name)?)).await?;
        Ok(PullCount::from(row))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: usize) -> PullKey {
        ("ns".into(), "repo".into(), q::MANIFEST, format!("sha256:{i}"))
    }

    #[test]
    fn pending_pulls_stop_growing_at_the_hard_cap_but_known_ones_keep_counting() {
        let pending = PendingPulls::default();
        for i in 0..HARD_CAP {
            pending.add(key(i), "d", 1);
        }
        assert_eq!(
            pending.add(key(HARD_CAP + 1), "d", 2),
            HARD_CAP,
            "a new key is not kept"
        );
        assert_eq!(pending.dropped.load(std::sync::atomic::Ordering::Relaxed), 1);
        pending.add(key(7), "d", 3);
        let counts = pending.take();
        assert_eq!(counts.len(), HARD_CAP);
        assert_eq!(counts[&key(7)].count, 2, "a kept key still counts");
        assert!(!counts.contains_key(&key(HARD_CAP + 1)));
    }
}
