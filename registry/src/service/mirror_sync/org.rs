//! The organization-mirror pass (`FEATURE_ORG_MIRROR`), in Quay's two
//! phases: discovery claims the configurations that are due, lists the
//! source namespace's repositories, keeps those the filters match and
//! schedules them; then each discovered repository that is due is claimed
//! and synced into a repository of the organization (created in state
//! ORG_MIRROR, with the configured visibility) by the repository-mirror
//! copy (`sync_tags`), all its tags.

use serde_json::json;

use super::{glob, release_after, Claim, Ending};
use crate::db::queries::mirrors::{self as mq, MirrorRow, MirrorSettings, Release, CANCEL, SYNC_NOW};
use crate::db::queries::org_mirrors::{self as q, OrgMirrorRow, OrgRepoRow, ORG_MIRROR_STATE};
use crate::db::queries::{permissions, repositories};
use crate::oci::RepoName;
use crate::service::logs::LogEntry;
use crate::service::mirrors::SYNC_RETRIES;
use crate::service::{Error, Registry};

/// Configurations and repositories one pass considers at most.
const PASS_LIMIT: i64 = 20;
/// How long a discovery claim lasts (Quay's 30 minutes).
const DISCOVERY_LEASE_MS: i64 = 30 * 60 * 1000;
/// How long a repository claim outlives the per-tag time limit.
const LEASE_MARGIN_MS: i64 = 120_000;

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
fn external_reference(row: &OrgMirrorRow, name: &str) -> String {
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
        let due = self.db().read(move |c| Ok(q::due_repos(c, now, PASS_LIMIT)?)).await?;
        for repo in due {
            self.sync_org_repo(repo, &mut pass).await?;
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
            let n = self
                .db()
                .write(move |c| Ok::<_, Error>(q::propagate(c, id, CANCEL, crate::now_ms(), 0)?))
                .await?;
            self.org_log(&row, &org, "org_mirror_sync_failed", format!("Sync cancelled: {n} repos set to cancelled"));
            let release = Release {
                status: CANCEL,
                next_start: None,
                retries: 0,
            };
            self.release_org_config(id, &txn, release).await?;
            pass.cancels += 1;
            return Ok(());
        }
        self.org_log(
            &row,
            &org,
            "org_mirror_sync_started",
            format!("Starting repository discovery for organization '{org}'"),
        );
        let listed = match self.source_api(&row.settings).await {
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
        let filters: Vec<String> = serde_json::from_str(&row.settings.repository_filters).unwrap_or_default();
        let mut kept: Vec<String> = Vec::new();
        for name in names {
            if (filters.is_empty() || glob::matches_any(&name, &filters)) && !kept.contains(&name) {
                kept.push(name);
            }
        }
        let (total, requested) = (kept.len(), row.sync_status == SYNC_NOW);
        let added = self
            .db()
            .write(move |c| {
                let added = q::add_discovered(c, id, &kept, now)?;
                if requested {
                    q::propagate(c, id, SYNC_NOW, now, SYNC_RETRIES)?;
                } else {
                    q::schedule_new(c, id, now, SYNC_RETRIES)?;
                }
                Ok::<_, Error>(added)
            })
            .await?;
        self.org_log(
            &row,
            &org,
            "org_mirror_sync_success",
            format!("Discovery completed: {total} repos discovered, {added} new"),
        );
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

    async fn account_name_of(&self, id: i64) -> Result<String, Error> {
        Ok(self
            .db()
            .read(move |c| Ok(mq::username(c, id)?))
            .await?
            .unwrap_or_default())
    }

    /// A usage-log entry of the organization, with Quay's metadata.
    fn org_log(&self, row: &OrgMirrorRow, org: &str, kind: &'static str, message: String) {
        self.org_entry(row, org, kind, None, message);
    }

    fn org_entry(&self, row: &OrgMirrorRow, org: &str, kind: &'static str, repo: Option<&RepoName>, message: String) {
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

    /// Claims and syncs one discovered repository.
    async fn sync_org_repo(&self, repo: OrgRepoRow, pass: &mut OrgMirrorPass) -> Result<(), Error> {
        let Some(config) = self
            .db()
            .read({
                let id = repo.org_mirror_config_id;
                move |c| Ok(q::find_by_id(c, id)?)
            })
            .await?
        else {
            return Ok(());
        };
        let txn = uuid::Uuid::new_v4().simple().to_string();
        let lease = crate::now_ms() + config.settings.skopeo_timeout.max(1) * 1000 + LEASE_MARGIN_MS;
        let (id, t) = (repo.id, txn.clone());
        let claimed = self
            .db()
            .write(move |c| Ok::<_, Error>(q::claim_repo(c, id, crate::now_ms(), lease, &t)?))
            .await?;
        if !claimed {
            return Ok(());
        }
        let org = self.account_name_of(config.organization_id).await?;
        let reference = external_reference(&config, &repo.repository_name);
        let name = RepoName::new(&org, &repo.repository_name);
        let local = match &name {
            Ok(n) => self.ensure_org_mirror_repository(&config, &repo, n, pass).await,
            Err(_) => Err(Error::InvalidRequest("invalid repository name".into())),
        };
        let (Ok(name), Ok(local_id)) = (name, local) else {
            let message = format!("Failed to create local repository for '{}'", repo.repository_name);
            self.org_log(&config, &org, "org_mirror_sync_failed", message.clone());
            self.release_org_repo(&config, &repo, &txn, false, Some(message)).await?;
            pass.failed += 1;
            return Ok(());
        };
        let robot = match config.settings.internal_robot_id {
            Some(r) => self.db().read(move |c| Ok(mq::username(c, r)?)).await?,
            None => None,
        };
        self.org_entry(
            &config,
            &org,
            "org_mirror_sync_started",
            Some(&name),
            format!("Starting sync for '{reference}'"),
        );
        let claim = Claim {
            row: synthetic_row(&config, &repo, local_id, reference.clone()),
            transaction: txn.clone(),
            repo: name.clone(),
            robot,
            globs: vec!["*".into()],
            org: true,
        };
        let outcome = self.sync_tags(&claim).await;
        let (kind, message, status_message, ending) = match outcome {
            Ok((ending @ (Ending::Success | Ending::Failed), failed, tags, blobs, bytes)) => {
                pass.blobs += blobs;
                pass.bytes += bytes;
                if ending == Ending::Success {
                    let m = format!("Successfully synced '{reference}': {} tags", tags.len());
                    ("org_mirror_sync_success", m, None, ending)
                } else {
                    let summary = format!("{}/{} tags failed", failed.len(), tags.len());
                    let m = format!("Sync failed for '{reference}': {summary}");
                    ("org_mirror_sync_failed", m, Some(format!("Sync failed: {summary}")), ending)
                }
            }
            Ok((ending, ..)) => (
                "org_mirror_sync_cancelled",
                format!("Sync cancelled for '{reference}'"),
                None,
                ending,
            ),
            Err(e) => {
                let m = format!("Failed to list tags for '{reference}': {e}");
                ("org_mirror_sync_failed", m.clone(), Some(m), Ending::Failed)
            }
        };
        self.org_entry(&config, &org, kind, Some(&name), message);
        match ending {
            Ending::Success => pass.succeeded += 1,
            Ending::Failed => pass.failed += 1,
            Ending::Cancelled | Ending::Stopped => pass.cancelled += 1,
            Ending::Lost => {}
        }
        match ending {
            Ending::Success | Ending::Failed => {
                let ok = ending == Ending::Success;
                self.release_org_repo(&config, &repo, &txn, ok, status_message).await
            }
            Ending::Cancelled | Ending::Stopped => {
                let release = Release {
                    status: CANCEL,
                    next_start: None,
                    retries: 0,
                };
                self.write_org_repo_release(repo.id, &txn, release, None).await
            }
            Ending::Lost => Ok(()),
        }
    }

    async fn release_org_repo(
        &self,
        config: &OrgMirrorRow,
        repo: &OrgRepoRow,
        txn: &str,
        success: bool,
        message: Option<String>,
    ) -> Result<(), Error> {
        let release = release_after(
            success,
            repo.sync_retries_remaining,
            repo.sync_start_date,
            config.settings.sync_interval,
            crate::now_ms(),
        );
        self.write_org_repo_release(repo.id, txn, release, message).await
    }

    async fn write_org_repo_release(
        &self,
        id: i64,
        txn: &str,
        release: Release,
        message: Option<String>,
    ) -> Result<(), Error> {
        let txn = txn.to_owned();
        let held = self
            .db()
            .write(move |c| {
                Ok::<_, Error>(q::release_repo(c, id, &txn, release, message.as_deref(), crate::now_ms())?)
            })
            .await?;
        if !held {
            tracing::info!(org_mirror_repository = id, "org mirror repository claim was released by someone else");
        }
        Ok(())
    }

    /// The local repository of a discovered one: linked, found by name, or
    /// created in state ORG_MIRROR with the configured visibility and the
    /// mirror robot as its creator (admin), as Quay's worker does.
    async fn ensure_org_mirror_repository(
        &self,
        config: &OrgMirrorRow,
        repo: &OrgRepoRow,
        name: &RepoName,
        pass: &mut OrgMirrorPass,
    ) -> Result<i64, Error> {
        let (id, linked, org_id) = (repo.id, repo.repository_id, config.organization_id);
        let (ns, short) = (name.namespace().to_owned(), name.name().to_owned());
        let visibility = config.settings.visibility.clone();
        let robot = config.settings.internal_robot_id;
        let (repo_id, created) = self
            .db()
            .write(move |c| {
                if let Some(found) = linked.map(|r| repositories::find_view_by_id(c, r)).transpose()?.flatten() {
                    return Ok::<_, Error>((found.id, false));
                }
                if let Some(existing) = repositories::find(c, &ns, &short)? {
                    q::link_repository(c, id, existing.id)?;
                    return Ok((existing.id, false));
                }
                let new = repositories::NewRepository {
                    namespace_id: org_id,
                    name: &short,
                    visibility: &visibility,
                    description: "",
                    kind: "image",
                    now: crate::now_ms(),
                };
                let repo_id = repositories::insert(c, &new)?;
                mq::set_repository_state(c, repo_id, ORG_MIRROR_STATE)?;
                if let Some(r) = robot {
                    permissions::set_user_role(c, repo_id, r, "admin")?;
                }
                q::link_repository(c, id, repo_id)?;
                Ok((repo_id, true))
            })
            .await?;
        if created {
            pass.created += 1;
            let org = name.namespace();
            let metadata = json!({
                "external_reference": external_reference(config, name.name()),
                "visibility": config.settings.visibility,
                "via_org_mirror": true,
            });
            let entry = LogEntry::new("org_mirror_repo_created", None, None)
                .repository_named(name)
                .metadata(metadata);
            self.log_action(entry);
            tracing::info!(organization = org, repository = name.name(), "created org mirror repository");
        }
        Ok(repo_id)
    }

    /// Extends an organization-mirror repository claim; `Some` when the
    /// sync must stop (cancelled, configuration deleted, claim lost).
    pub(super) async fn org_repo_progress(&self, claim: &Claim) -> Result<Option<Ending>, Error> {
        let (id, txn, lease) = (claim.row.id, claim.transaction.clone(), claim.lease_until());
        let held = self
            .db()
            .write(move |c| Ok::<_, Error>(q::progress_repo(c, id, &txn, lease)?))
            .await?;
        if held {
            return Ok(None);
        }
        let status = self.db().read(move |c| Ok(q::repo_status(c, id)?)).await?;
        Ok(Some(match status {
            Some(CANCEL) | None => Ending::Cancelled,
            _ => Ending::Lost,
        }))
    }
}

/// The repository-mirror view of a discovered repository's sync: the
/// organization mirror's source, credentials, TLS and proxy settings and
/// time limit; every tag.
fn synthetic_row(config: &OrgMirrorRow, repo: &OrgRepoRow, local_id: i64, reference: String) -> MirrorRow {
    let s = &config.settings;
    MirrorRow {
        id: repo.id,
        repository_id: local_id,
        settings: MirrorSettings {
            is_enabled: true,
            internal_robot_id: s.internal_robot_id,
            external_reference: reference,
            external_registry_username: s.external_registry_username.clone(),
            external_registry_password: s.external_registry_password.clone(),
            external_registry_config: s.external_registry_config.clone(),
            sync_interval: s.sync_interval,
            sync_start_date: repo.sync_start_date,
            root_rule: json!(["*"]).to_string(),
            skopeo_timeout: s.skopeo_timeout,
        },
        sync_expiration_date: None,
        sync_retries_remaining: repo.sync_retries_remaining,
        sync_status: repo.sync_status,
        sync_transaction_id: String::new(),
        sync_tags_done: 0,
        sync_tags_total: 0,
    }
}
