//! The organization-mirror pass (`FEATURE_ORG_MIRROR`), in Quay's two
//! phases: discovery claims the configurations that are due, lists the
//! source namespace's repositories, keeps those the filters match and
//! schedules them; then each discovered repository that is due is claimed
//! and synced into a repository of the organization (created in state
//! ORG_MIRROR, with the configured visibility) by the repository-mirror
//! copy (`sync_tags`), all its tags.

use std::collections::HashSet;

use serde_json::json;

use super::{glob, release_after};
use crate::db::queries::mirrors::{self as mq, Release, CANCEL, SYNC_NOW};
use crate::db::queries::org_mirror_repos as rq;
use crate::db::queries::org_mirrors::{self as q, OrgMirrorRow};
use crate::oci::RepoName;
use crate::service::logs::LogEntry;
use crate::service::mirrors::SYNC_RETRIES;
use crate::service::{Error, Registry};

/// Configurations and repositories one pass considers at most.
const PASS_LIMIT: i64 = 20;
/// How long a discovery claim lasts (Quay's 30 minutes).
const DISCOVERY_LEASE_MS: i64 = 30 * 60 * 1000;

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrgMirrorPass {
    /// Discoveries that listed the source, failed, or carried a cancel.
    pub discovered: usize,
    pub discovery_failed: usize,
    pub cancels: usize,
    /// Local repositories created.
    pub created: usize,
    /// Repository syncs by ending.
    pub succeeded: usize,
    pub failed: usize,
    pub cancelled: usize,
    pub blobs: usize,
    pub bytes: u64,
}

/// `host[:port]/namespace/name` of a discovered repository (Quay's
/// `_build_external_reference`: the URL without its scheme).
pub(super) fn external_reference(row: &OrgMirrorRow, name: &str) -> String {
    let url = row.settings.external_registry_url.trim().trim_end_matches('/');
    let host = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .unwrap_or(url);
    format!("{host}/{}/{name}", row.settings.external_namespace)
}

impl Registry {
    /// Runs the discoveries and then the repository syncs that are due;
    /// every one is claimed first, so replicas share the work.
    pub async fn run_org_mirrors_once(&self) -> Result<OrgMirrorPass, Error> {
        let mut pass = OrgMirrorPass::default();
        if !self.org_mirror_enabled() {
            return Ok(pass);
        }
        let now = crate::now_ms();
        let due = self.db().read(move |c| Ok(q::due_configs(c, now, PASS_LIMIT)?)).await?;
        for row in due {
            self.discover(row, &mut pass).await?;
        }
        let now = crate::now_ms();
        let (due, configs) = self
            .db()
            .read(move |c| {
                let due = rq::due_repos(c, now, PASS_LIMIT)?;
                let ids: Vec<i64> = due.iter().map(|r| r.org_mirror_config_id).collect();
                Ok((due, q::find_by_ids(c, &ids)?))
            })
            .await?;
        for repo in due {
            if let Some(config) = configs.iter().find(|c| c.id == repo.org_mirror_config_id) {
                self.sync_org_repo(config, repo, &mut pass).await?;
            }
        }
        Ok(pass)
    }

    async fn discover(&self, row: OrgMirrorRow, pass: &mut OrgMirrorPass) -> Result<(), Error> {
        let txn = uuid::Uuid::new_v4().simple().to_string();
        let (id, t) = (row.id, txn.clone());
        let claimed = self
            .db()
            .write(move |c| {
                let now = crate::now_ms();
                Ok::<_, Error>(q::claim_config(c, id, now, now + DISCOVERY_LEASE_MS, &t)?)
            })
            .await?;
        if !claimed {
            return Ok(());
        }
        let org = self.account_name_of(row.organization_id).await?;
        if row.sync_status == CANCEL {
            self.carry_cancel(&row, &org, &txn).await?;
            pass.cancels += 1;
            return Ok(());
        }
        self.org_log(
            &row,
            &org,
            "org_mirror_sync_started",
            format!("Starting repository discovery for organization '{org}'"),
        );
        let listed = match self.source_api(&row).await {
            Ok(api) => api.list_repositories().await,
            Err(e) => Err(e),
        };
        let now = crate::now_ms();
        let (start, interval) = (row.settings.sync_start_date, row.settings.sync_interval);
        let names = match listed {
            Ok(names) => names,
            Err(message) => {
                tracing::info!(organization = %org, error = %message, "org mirror discovery failed");
                let message = format!("Failed to fetch repositories from source: {message}");
                self.org_log(&row, &org, "org_mirror_sync_failed", message);
                let release = release_after(false, row.sync_retries_remaining, start, interval, now);
                self.release_org_config(id, &txn, release).await?;
                pass.discovery_failed += 1;
                return Ok(());
            }
        };
        self.record_discovery(&row, &org, names, now).await?;
        let release = release_after(true, row.sync_retries_remaining, start, interval, now);
        self.release_org_config(id, &txn, release).await?;
        pass.discovered += 1;
        Ok(())
    }

    async fn release_org_config(&self, id: i64, txn: &str, release: Release) -> Result<(), Error> {
        let txn = txn.to_owned();
        let held = self
            .db()
            .write(move |c| Ok::<_, Error>(q::release_config(c, id, &txn, release)?))
            .await?;
        if !held {
            tracing::info!(config = id, "org mirror discovery claim was released by someone else");
        }
        Ok(())
    }

    pub(super) async fn account_name_of(&self, id: i64) -> Result<String, Error> {
        Ok(self
            .db()
            .read(move |c| Ok(mq::username(c, id)?))
            .await?
            .unwrap_or_default())
    }

    /// A usage-log entry of the organization, with Quay's metadata.
    pub(super) fn org_log(&self, row: &OrgMirrorRow, org: &str, kind: &'static str, message: String) {
        self.org_entry(row, org, kind, None, message);
    }

    pub(super) fn org_entry(
        &self,
        row: &OrgMirrorRow,
        org: &str,
        kind: &'static str,
        repo: Option<&RepoName>,
        message: String,
    ) {
        let metadata = json!({
            "message": message,
            "org_mirror_config_id": row.id,
            "external_registry_url": row.settings.external_registry_url,
            "external_namespace": row.settings.external_namespace,
        });
        let mut entry = LogEntry::new(kind, None, None).account_named(org).metadata(metadata);
        if let Some(r) = repo {
            entry = entry.repository_named(r);
        }
        self.log_action(entry);
    }

    /// Carries a cancel to the configuration's repositories (running syncs
    /// see it and stop); the configuration waits for a sync-now.
    async fn carry_cancel(&self, row: &OrgMirrorRow, org: &str, txn: &str) -> Result<(), Error> {
        let id = row.id;
        let n = self
            .db()
            .write(move |c| Ok::<_, Error>(rq::propagate(c, id, CANCEL, crate::now_ms(), 0)?))
            .await?;
        let message = format!("Sync cancelled: {n} repos set to cancelled");
        self.org_log(row, org, "org_mirror_sync_failed", message);
        let release = Release {
            status: CANCEL,
            next_start: None,
            retries: 0,
        };
        self.release_org_config(id, txn, release).await
    }

    /// Lists the names the filters keep and schedules them: all at once
    /// after a sync-now, the new ones after a scheduled discovery.
    async fn record_discovery(&self, row: &OrgMirrorRow, org: &str, names: Vec<String>, now: i64) -> Result<(), Error> {
        let filters: Vec<String> = serde_json::from_str(&row.settings.repository_filters).unwrap_or_default();
        let mut seen = HashSet::new();
        let kept: Vec<String> = names
            .into_iter()
            .filter(|name| filters.is_empty() || glob::matches_any(name, &filters))
            .filter(|name| seen.insert(name.clone()))
            .collect();
        let (id, total, requested) = (row.id, kept.len(), row.sync_status == SYNC_NOW);
        let added = self
            .db()
            .write(move |c| {
                let added = rq::add_discovered(c, id, &kept, now)?;
                if requested {
                    rq::propagate(c, id, SYNC_NOW, now, SYNC_RETRIES)?;
                } else {
                    rq::schedule_new(c, id, now, SYNC_RETRIES)?;
                }
                Ok::<_, Error>(added)
            })
            .await?;
        let message = format!("Discovery completed: {total} repos discovered, {added} new");
        self.org_log(row, org, "org_mirror_sync_success", message);
        Ok(())
    }
}
