//! The repository phase of organization mirroring: a discovered
//! repository that is due is claimed, its local repository made (state
//! ORG_MIRROR, the configured visibility, the mirror robot as creator) and
//! every upstream tag copied by the repository-mirror sync (`sync_tags`),
//! with the claim, cancel and release rules of Quay's org mirror worker.

use serde_json::json;

use super::org::{external_reference, OrgMirrorPass};
use super::{release_after, Claim, Ending, SyncError};
use crate::db::queries::mirrors::{self as mq, MirrorRow, MirrorSettings, Release, CANCEL};
use crate::db::queries::org_mirror_repos::{self as rq, OrgRepoRow};
use crate::db::queries::org_mirrors::{OrgMirrorRow, ORG_MIRROR_STATE};
use crate::db::queries::{permissions, repositories};
use crate::oci::RepoName;
use crate::service::logs::LogEntry;
use crate::service::{Error, Registry};

/// How long a repository claim outlives the per-tag time limit.
const LEASE_MARGIN_MS: i64 = 120_000;

impl Registry {
    /// Claims and syncs one discovered repository.
    pub(super) async fn sync_org_repo(
        &self,
        config: &OrgMirrorRow,
        repo: OrgRepoRow,
        pass: &mut OrgMirrorPass,
    ) -> Result<(), Error> {
        let txn = uuid::Uuid::new_v4().simple().to_string();
        let lease = crate::now_ms() + config.settings.skopeo_timeout.max(1) * 1000 + LEASE_MARGIN_MS;
        let (id, t) = (repo.id, txn.clone());
        let claimed = self
            .db()
            .write(move |c| Ok::<_, Error>(rq::claim_repo(c, id, crate::now_ms(), lease, &t)?))
            .await?;
        if !claimed {
            return Ok(());
        }
        let outcome = self.run_org_repo_sync(config, &repo, &txn, pass).await?;
        let Some((ending, status_message)) = outcome else {
            return Ok(());
        };
        match ending {
            Ending::Success => pass.succeeded += 1,
            Ending::Failed => pass.failed += 1,
            Ending::Cancelled | Ending::Stopped => pass.cancelled += 1,
            Ending::Lost => {}
        }
        match ending {
            Ending::Success | Ending::Failed => {
                let ok = ending == Ending::Success;
                self.release_org_repo(config, &repo, &txn, ok, status_message).await
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

    /// Creates the local repository if needed and copies every tag; the
    /// ending and the status message. `None` when the local repository
    /// cannot be made (the claim is released as failed).
    async fn run_org_repo_sync(
        &self,
        config: &OrgMirrorRow,
        repo: &OrgRepoRow,
        txn: &str,
        pass: &mut OrgMirrorPass,
    ) -> Result<Option<(Ending, Option<String>)>, Error> {
        let (org_id, robot_id) = (config.organization_id, config.settings.internal_robot_id);
        let (org, robot) = self
            .db()
            .read(move |c| {
                let org = mq::username(c, org_id)?.unwrap_or_default();
                let robot = robot_id.map(|r| mq::username(c, r)).transpose()?.flatten();
                Ok((org, robot))
            })
            .await?;
        let reference = external_reference(config, &repo.repository_name);
        let made = match RepoName::new(&org, &repo.repository_name) {
            Ok(n) => self
                .ensure_org_mirror_repository(config, repo, &n, pass)
                .await
                .map(|id| (n, id)),
            Err(_) => Err(Error::InvalidRequest("invalid repository name".into())),
        };
        let (name, local_id) = match made {
            Ok(made) => made,
            Err(e) => {
                tracing::warn!(repository = %repo.repository_name, error = ?e, "org mirror repository cannot be made");
                let message = format!("Failed to create local repository for '{}'", repo.repository_name);
                self.org_log(config, &org, "org_mirror_sync_failed", message.clone());
                self.release_org_repo(config, repo, txn, false, Some(message)).await?;
                pass.failed += 1;
                return Ok(None);
            }
        };
        let started = format!("Starting sync for '{reference}'");
        self.org_entry(config, &org, "org_mirror_sync_started", Some(&name), started);
        let claim = Claim {
            row: synthetic_row(config, repo, local_id, reference.clone()),
            transaction: txn.to_owned(),
            repo: name.clone(),
            robot,
            globs: vec!["*".into()],
            org: true,
        };
        let outcome = self.sync_tags(&claim).await;
        if let Err(e) = &outcome {
            tracing::info!(repository = %name, error = ?e, "org mirror repository sync failed");
        }
        if let Ok((_, _, _, blobs, bytes)) = &outcome {
            pass.blobs += blobs;
            pass.bytes += bytes;
        }
        let (kind, message, status_message, ending) = summary(&reference, outcome);
        self.org_entry(config, &org, kind, Some(&name), message);
        Ok(Some((ending, status_message)))
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
                Ok::<_, Error>(rq::release_repo(
                    c,
                    id,
                    &txn,
                    release,
                    message.as_deref(),
                    crate::now_ms(),
                )?)
            })
            .await?;
        if !held {
            tracing::info!(
                org_mirror_repository = id,
                "org mirror repository claim was released by someone else"
            );
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
                if let Some(found) = linked
                    .map(|r| repositories::find_view_by_id(c, r))
                    .transpose()?
                    .flatten()
                {
                    return Ok::<_, Error>((found.id, false));
                }
                if let Some(existing) = repositories::find(c, &ns, &short)? {
                    rq::link_repository(c, id, existing.id)?;
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
                rq::link_repository(c, id, repo_id)?;
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
            tracing::info!(
                organization = org,
                repository = name.name(),
                "created org mirror repository"
            );
        }
        Ok(repo_id)
    }

    /// Extends an organization-mirror repository claim; `Some` when the
    /// sync must stop (cancelled, configuration deleted, claim lost).
    pub(super) async fn org_repo_progress(&self, claim: &Claim) -> Result<Option<Ending>, Error> {
        let (id, txn, lease) = (claim.row.id, claim.transaction.clone(), claim.lease_until());
        let held = self
            .db()
            .write(move |c| Ok::<_, Error>(rq::progress_repo(c, id, &txn, lease)?))
            .await?;
        if held {
            return Ok(None);
        }
        let status = self.db().read(move |c| Ok(rq::repo_status(c, id)?)).await?;
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

type SyncOutcome = Result<(Ending, Vec<String>, Vec<String>, usize, u64), SyncError>;

/// The log kind and message, the status message and the ending of a
/// repository sync, in Quay's words.
fn summary(reference: &str, outcome: SyncOutcome) -> (&'static str, String, Option<String>, Ending) {
    match outcome {
        Ok((Ending::Success, _, tags, ..)) => (
            "org_mirror_sync_success",
            format!("Successfully synced '{reference}': {} tags", tags.len()),
            None,
            Ending::Success,
        ),
        Ok((Ending::Failed, failed, tags, ..)) => {
            let counts = format!("{}/{} tags failed", failed.len(), tags.len());
            (
                "org_mirror_sync_failed",
                format!("Sync failed for '{reference}': {counts}"),
                Some(format!("Sync failed: {counts}")),
                Ending::Failed,
            )
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
    }
}
