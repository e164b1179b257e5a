//! Managing quotas and limits, usage reports and the backfill.

use std::collections::HashMap;

use super::{check_limit, check_limit_bytes, limit_view, Quota, QuotaLimit, QuotaReport, REJECT};
use crate::db::queries;
use crate::service::{Error, Registry};

impl Registry {
    /// The namespace's quotas: its own, else the system default when one is
    /// configured.
    pub async fn namespace_quotas(&self, namespace_id: i64) -> Result<Vec<Quota>, Error> {
        let default_reject = self.quota_policy().default_reject_bytes;
        let (quota, limits) = self
            .db()
            .read(move |c| {
                let q = queries::quota::quota_of(c, namespace_id)?;
                let limits = match &q {
                    Some(q) => queries::quota::limits_of(c, &[q.id])?,
                    None => Vec::new(),
                };
                Ok((q, limits))
            })
            .await?;
        Ok(match quota {
            Some(q) => vec![Quota {
                id: q.id,
                limit_bytes: q.limit_bytes,
                limits: limits.into_iter().map(limit_view).collect(),
                default_config: false,
            }],
            None if default_reject > 0 => vec![Quota {
                id: 0,
                limit_bytes: default_reject,
                limits: vec![QuotaLimit {
                    id: 0,
                    kind: REJECT.to_owned(),
                    percent: 100,
                }],
                default_config: true,
            }],
            None => Vec::new(),
        })
    }

    /// One quota of the namespace, or 404.
    pub async fn namespace_quota(&self, namespace_id: i64, quota_id: i64) -> Result<Quota, Error> {
        self.namespace_quotas(namespace_id)
            .await?
            .into_iter()
            .find(|q| q.id == quota_id && !q.default_config)
            .ok_or_else(|| Error::NotFound("Quota not found".into()))
    }

    /// Creates the namespace's quota; a namespace has at most one.
    pub async fn create_quota(&self, namespace_id: i64, namespace: &str, limit_bytes: i64) -> Result<i64, Error> {
        check_limit_bytes(limit_bytes)?;
        let name = namespace.to_owned();
        self.db()
            .write(move |c| {
                if queries::quota::quota_of(c, namespace_id)?.is_some() {
                    return Err(Error::InvalidRequest(format!(
                        "Organization quota for '{name}' already exists"
                    )));
                }
                Ok(queries::quota::create_quota(c, namespace_id, limit_bytes)?)
            })
            .await
    }

    pub async fn update_quota(
        &self,
        namespace_id: i64,
        quota_id: i64,
        limit_bytes: Option<i64>,
    ) -> Result<Quota, Error> {
        self.namespace_quota(namespace_id, quota_id).await?;
        if let Some(limit) = limit_bytes {
            check_limit_bytes(limit)?;
            self.db()
                .write(move |c| Ok::<_, Error>(queries::quota::set_quota_limit(c, quota_id, limit)?))
                .await?;
        }
        self.namespace_quota(namespace_id, quota_id).await
    }

    pub async fn delete_quota(&self, namespace_id: i64, quota_id: i64) -> Result<(), Error> {
        self.namespace_quota(namespace_id, quota_id).await?;
        self.db()
            .write(move |c| Ok::<_, Error>(queries::quota::delete_quota(c, quota_id)?))
            .await
    }

    /// Adds a Warning or Reject limit at a percentage of the quota.
    pub async fn create_quota_limit(
        &self,
        namespace_id: i64,
        quota_id: i64,
        kind: &str,
        percent: i64,
    ) -> Result<(), Error> {
        let quota = self.namespace_quota(namespace_id, quota_id).await?;
        let (kind, percent) = check_limit(kind, percent)?;
        if quota.limits.iter().any(|l| l.kind == kind && l.percent == percent) {
            return Err(Error::InvalidRequest("Quota limit already exists".into()));
        }
        if kind == REJECT && quota.limits.iter().any(|l| l.kind == REJECT) {
            return Err(Error::InvalidRequest(
                "Only one quota limit of type 'Reject' allowed.".into(),
            ));
        }
        self.db()
            .write(move |c| Ok::<_, Error>(queries::quota::create_limit(c, quota_id, kind, percent)?))
            .await
    }

    pub async fn quota_limit(&self, namespace_id: i64, quota_id: i64, limit_id: i64) -> Result<QuotaLimit, Error> {
        self.namespace_quota(namespace_id, quota_id)
            .await?
            .limits
            .into_iter()
            .find(|l| l.id == limit_id)
            .ok_or_else(|| Error::NotFound("Quota limit not found".into()))
    }

    pub async fn update_quota_limit(
        &self,
        namespace_id: i64,
        quota_id: i64,
        limit_id: i64,
        kind: Option<&str>,
        percent: Option<i64>,
    ) -> Result<Quota, Error> {
        let current = self.quota_limit(namespace_id, quota_id, limit_id).await?;
        let (kind, percent) = check_limit(
            kind.unwrap_or(&current.kind),
            percent.unwrap_or(i64::from(current.percent)),
        )?;
        let quota = self.namespace_quota(namespace_id, quota_id).await?;
        if kind == REJECT && quota.limits.iter().any(|l| l.kind == REJECT && l.id != limit_id) {
            return Err(Error::InvalidRequest(
                "Only one quota limit of type 'Reject' allowed.".into(),
            ));
        }
        self.db()
            .write(move |c| Ok::<_, Error>(queries::quota::update_limit(c, limit_id, kind, percent)?))
            .await?;
        self.namespace_quota(namespace_id, quota_id).await
    }

    pub async fn delete_quota_limit(&self, namespace_id: i64, quota_id: i64, limit_id: i64) -> Result<(), Error> {
        self.quota_limit(namespace_id, quota_id, limit_id).await?;
        self.db()
            .write(move |c| Ok::<_, Error>(queries::quota::delete_limit(c, limit_id)?))
            .await
    }

    /// Usage reports of these namespaces.
    pub async fn quota_reports(&self, namespace_ids: &[i64]) -> Result<HashMap<i64, QuotaReport>, Error> {
        let default_reject = self.quota_policy().default_reject_bytes;
        let ids = namespace_ids.to_vec();
        let (sizes, quotas) = self
            .db()
            .read(move |c| {
                Ok((
                    queries::quota::namespace_sizes(c, &ids)?,
                    queries::quota::quotas_of(c, &ids)?,
                ))
            })
            .await?;
        let sizes: HashMap<i64, i64> = sizes.into_iter().collect();
        let quotas: HashMap<i64, i64> = quotas.into_iter().map(|q| (q.namespace_id, q.limit_bytes)).collect();
        Ok(namespace_ids
            .iter()
            .map(|id| {
                let configured = quotas
                    .get(id)
                    .copied()
                    .or((default_reject > 0).then_some(default_reject));
                (
                    *id,
                    QuotaReport {
                        quota_bytes: sizes.get(id).copied().unwrap_or(0),
                        configured_quota: configured,
                        counted: sizes.contains_key(id),
                    },
                )
            })
            .collect())
    }

    /// Bytes each of these repositories uses (counted ones only).
    pub async fn repository_sizes(&self, repo_ids: &[i64]) -> Result<HashMap<i64, i64>, Error> {
        let ids = repo_ids.to_vec();
        Ok(self
            .db()
            .read(move |c| Ok(queries::quota::repository_sizes(c, &ids)?))
            .await?
            .into_iter()
            .collect())
    }

    /// Bytes of every distinct blob the registry stores.
    pub async fn registry_size(&self) -> Result<i64, Error> {
        Ok(self.db().read(|c| Ok(queries::quota::registry_size(c)?)).await?)
    }

    /// Counts namespaces and repositories that have no counted size yet;
    /// returns how many namespaces it counted. Safe to run anywhere at once.
    pub async fn backfill_quota(&self) -> Result<usize, Error> {
        if !self.quota_policy().enabled {
            return Ok(0);
        }
        let mut counted = 0;
        let mut after = 0;
        loop {
            let batch = self
                .db()
                .read(move |c| Ok(queries::quota::namespaces_to_backfill(c, after, 100)?))
                .await?;
            let Some(last) = batch.last().copied() else { break };
            after = last;
            for namespace_id in batch {
                let now = crate::now_ms();
                self.db()
                    .write(move |c| {
                        queries::quota::lock_namespace_size(c, namespace_id, true, now)?;
                        for repo in queries::quota::repositories_to_backfill(c, namespace_id)? {
                            queries::quota::ensure_repository_size(c, repo, now)?;
                        }
                        Ok::<_, Error>(())
                    })
                    .await?;
                counted += 1;
            }
        }
        Ok(counted)
    }
}
