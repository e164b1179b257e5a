//! The repository-mirror sync (`FEATURE_REPO_MIRROR`): a pass claims the
//! mirrors that are due and copies the upstream tags their rule matches.
//!
//! A sync is claimed by a conditional UPDATE that marks the mirror SYNCING
//! under a fresh transaction id until a lease expires, so of any number of
//! workers on one database exactly one syncs a repository at a time. The
//! lease is extended before each tag; every write of a running sync names
//! its transaction id, so a cancelled sync (or one whose lease lapsed and
//! was taken over) learns it at the next tag and stops. Statuses, retries
//! and the next start date follow Quay's `release_mirror`.

mod connect;
mod copy;
mod discovery;
mod glob;
mod org;
mod org_repo;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{json, Value};

pub use glob::fnmatch;
pub use org::OrgMirrorPass;

use super::mirrors::SYNC_RETRIES;
use super::proxy_cache::UpstreamError;
use super::{Error, Registry};
use crate::db::queries::mirrors::{self as q, MirrorRow, Release};
use crate::oci::{Reference, RepoName};
use crate::service::logs::LogEntry;

/// Mirrors one pass considers at most.
const PASS_LIMIT: i64 = 20;
/// How long a claim outlives the per-tag time limit.
const LEASE_MARGIN_MS: i64 = 120_000;

/// Why a sync (or one tag of it) failed.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    /// Its text is shown to users (usage logs, status messages): a failure
    /// of the database or the blob store is named without its internals,
    /// which go to the registry's log only (the `Debug` form).
    #[error("{}", local_message(.0))]
    Local(#[from] Error),
    #[error("{0}")]
    Invalid(String),
    #[error("timed out after {0} s")]
    TimedOut(i64),
}

fn local_message(e: &Error) -> String {
    match e {
        Error::Db(_) => "the registry's database failed".into(),
        Error::Storage(_) => "the registry's blob storage failed".into(),
        other => other.to_string(),
    }
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MirrorPass {
    pub succeeded: usize,
    pub failed: usize,
    pub cancelled: usize,
    /// Blobs copied from upstreams, and their bytes.
    pub blobs: usize,
    pub bytes: u64,
}

/// How a claimed sync ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    Success,
    Failed,
    /// Cancelled through the API: the API already released the claim.
    Cancelled,
    /// The repository left the MIRROR state while syncing.
    Stopped,
    /// The claim lapsed and another worker holds it now.
    Lost,
}

/// A claimed sync: of a repository mirror (`row` is its configuration),
/// or of a repository an organization mirror discovered (`org` is set and
/// `row` carries the organization mirror's settings for it).
struct Claim {
    row: MirrorRow,
    transaction: String,
    repo: RepoName,
    robot: Option<String>,
    globs: Vec<String>,
    org: bool,
}

impl Claim {
    fn lease_until(&self) -> i64 {
        crate::now_ms() + self.row.settings.skopeo_timeout.max(1) * 1000 + LEASE_MARGIN_MS
    }

    fn pattern(&self) -> String {
        format!(
            "'{}' with tag pattern '{}'",
            self.row.settings.external_reference,
            self.globs.join(",")
        )
    }
}

/// The next start on the mirror's schedule after `now` (Quay: the start
/// date plus a whole number of intervals).
fn next_start(start: Option<i64>, interval_s: i64, now: i64) -> i64 {
    let interval = interval_s.max(1) * 1000;
    let elapsed = now - start.unwrap_or(now);
    now + interval - elapsed.rem_euclid(interval)
}

/// Quay's `release_mirror`: a failure keeps the start date (so the next
/// pass retries) until the retries run out; then, as after a success, the
/// next sync waits for the next interval with the retries restored.
fn release_for(row: &MirrorRow, success: bool, now: i64) -> Release {
    let s = &row.settings;
    release_after(
        success,
        row.sync_retries_remaining,
        s.sync_start_date,
        s.sync_interval,
        now,
    )
}

/// [`release_for`] from the parts of a schedule (organization mirrors and
/// their repositories release the same way).
fn release_after(success: bool, retries_left: i32, start: Option<i64>, interval_s: i64, now: i64) -> Release {
    let status = if success { q::SUCCESS } else { q::FAIL };
    let retries = if success {
        retries_left
    } else {
        (retries_left - 1).max(0)
    };
    if success || retries < 1 {
        Release {
            status,
            next_start: Some(next_start(start, interval_s, now)),
            retries: SYNC_RETRIES,
        }
    } else {
        Release {
            status,
            next_start: start.or(Some(now)),
            retries,
        }
    }
}

impl Registry {
    /// Syncs the mirrors that are due, one after another; each is claimed
    /// first, so passes on several replicas share the work.
    pub async fn run_mirrors_once(&self) -> Result<MirrorPass, Error> {
        let mut pass = MirrorPass::default();
        if !self.settings().mirror.enabled {
            return Ok(pass);
        }
        let now = crate::now_ms();
        let due = self.db().read(move |c| Ok(q::due_rows(c, now, PASS_LIMIT)?)).await?;
        for row in due {
            let Some(claim) = self.claim_mirror(row).await? else {
                continue;
            };
            let (ending, blobs, bytes) = self.sync_claimed(&claim).await;
            pass.blobs += blobs;
            pass.bytes += bytes;
            match ending {
                Ending::Success => pass.succeeded += 1,
                Ending::Failed => pass.failed += 1,
                Ending::Cancelled | Ending::Stopped => pass.cancelled += 1,
                Ending::Lost => {}
            }
        }
        Ok(pass)
    }

    async fn claim_mirror(&self, row: MirrorRow) -> Result<Option<Claim>, Error> {
        let transaction = uuid::Uuid::new_v4().simple().to_string();
        let (id, repo_id, robot_id) = (row.id, row.repository_id, row.settings.internal_robot_id);
        let lease = crate::now_ms() + row.settings.skopeo_timeout.max(1) * 1000 + LEASE_MARGIN_MS;
        let txn = transaction.clone();
        let found = self
            .db()
            .write(move |c| {
                if !q::claim(c, id, crate::now_ms(), lease, &txn)? {
                    return Ok::<_, Error>(None);
                }
                let view = crate::db::queries::repositories::find_view_by_id(c, repo_id)?;
                let robot = match robot_id {
                    Some(r) => q::username(c, r)?,
                    None => None,
                };
                Ok(view.map(|v| (v, robot)))
            })
            .await?;
        let Some((view, robot)) = found else { return Ok(None) };
        let repo = RepoName::new(&view.namespace, &view.name)
            .map_err(|_| Error::InvalidRequest(format!("invalid repository name {}/{}", view.namespace, view.name)))?;
        let globs = serde_json::from_str(&row.settings.root_rule).unwrap_or_default();
        Ok(Some(Claim {
            row,
            transaction,
            repo,
            robot,
            globs,
            org: false,
        }))
    }

    /// Runs one claimed sync to its end and releases the claim; the ending
    /// and the blobs and bytes copied.
    async fn sync_claimed(&self, claim: &Claim) -> (Ending, usize, u64) {
        let started = crate::now_ms();
        self.mirror_event(claim, "repo_mirror_sync_started", "start", claim.pattern(), json!({}))
            .await;
        let result = self.sync_tags(claim).await;
        let now = crate::now_ms();
        let (ending, failed_tags, tags, blobs, bytes) = match result {
            Ok(r) => r,
            Err(e) => {
                tracing::info!(repository = %claim.repo, error = ?e, "mirror sync failed");
                let message = format!("{}: {e}", claim.pattern());
                self.release_claim(claim, release_for(&claim.row, false, now)).await;
                self.mirror_event(claim, "repo_mirror_sync_failed", "end", message, json!({"tags": ""}))
                    .await;
                return (Ending::Failed, 0, 0);
            }
        };
        let listed = tags.join(", ");
        match ending {
            Ending::Success | Ending::Failed => {
                let success = ending == Ending::Success;
                self.release_claim(claim, release_for(&claim.row, success, now)).await;
                let (kind, message) = if success {
                    ("repo_mirror_sync_success", claim.pattern())
                } else if failed_tags.len() < tags.len() {
                    ("repo_mirror_sync_failed", format!("{}: PARTIAL SYNC", claim.pattern()))
                } else {
                    ("repo_mirror_sync_failed", claim.pattern())
                };
                let shown = if tags.is_empty() && success {
                    "No tags matched".to_owned()
                } else {
                    tags.iter()
                        .map(|t| {
                            if failed_tags.contains(t) {
                                format!("{t}(FAILED)")
                            } else {
                                t.clone()
                            }
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                self.mirror_event(claim, kind, "end", message, json!({"tags": shown}))
                    .await;
            }
            Ending::Cancelled | Ending::Stopped => {
                if ending == Ending::Stopped {
                    let release = Release {
                        status: q::CANCEL,
                        next_start: Some(next_start(
                            claim.row.settings.sync_start_date,
                            claim.row.settings.sync_interval,
                            now,
                        )),
                        retries: SYNC_RETRIES,
                    };
                    self.release_claim(claim, release).await;
                }
                self.mirror_event(
                    claim,
                    "repo_mirror_sync_failed",
                    "Cancelled",
                    claim.pattern(),
                    json!({"tags": listed}),
                )
                .await;
            }
            Ending::Lost => {
                tracing::warn!(repository = %claim.repo, "mirror sync lost its claim to another worker");
            }
        }
        tracing::info!(
            repository = %claim.repo,
            ending = ?ending,
            blobs,
            bytes,
            took_ms = now - started,
            "mirror sync ended"
        );
        (ending, blobs, bytes)
    }

    async fn release_claim(&self, claim: &Claim, release: Release) {
        let (id, txn) = (claim.row.id, claim.transaction.clone());
        match self
            .db()
            .write(move |c| Ok::<_, Error>(q::release(c, id, &txn, release)?))
            .await
        {
            Ok(true) => {}
            Ok(false) => tracing::info!(repository = %claim.repo, "mirror claim was released by someone else"),
            Err(e) => {
                tracing::warn!(repository = %claim.repo, error = %e, "releasing a mirror claim failed; it expires with its lease")
            }
        }
    }

    /// Lists, filters and copies the tags; deletes local tags the upstream
    /// no longer has. The ending, the failed and the matching tags, and
    /// the blobs and bytes copied.
    async fn sync_tags(&self, claim: &Claim) -> Result<(Ending, Vec<String>, Vec<String>, usize, u64), SyncError> {
        let limit_s = claim.row.settings.skopeo_timeout.max(1);
        let limit = Duration::from_secs(limit_s.unsigned_abs());
        let mut source = tokio::time::timeout(limit, self.mirror_source(&claim.row))
            .await
            .map_err(|_| SyncError::TimedOut(limit_s))??;
        let all = tokio::time::timeout(limit, source.tags())
            .await
            .map_err(|_| SyncError::TimedOut(limit_s))??;
        let tags: Vec<String> = all
            .into_iter()
            .filter(|t| glob::matches_any(t, &claim.globs))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let total = i32::try_from(tags.len()).unwrap_or(i32::MAX);
        let repo_id = claim.row.repository_id;
        let local: BTreeMap<String, String> = self
            .db()
            .read(move |c| Ok(q::alive_tags(c, repo_id, crate::now_ms())?))
            .await
            .map_err(Error::from)?
            .into_iter()
            .collect();
        let (mut failed, mut blobs, mut bytes) = (Vec::new(), 0, 0);
        for (done, tag) in tags.iter().enumerate() {
            let done = i32::try_from(done).unwrap_or(i32::MAX);
            if let Some(stop) = self.mirror_progress(claim, done, total).await? {
                return Ok((stop, failed, tags, blobs, bytes));
            }
            let copy = self.copy_tag(&mut source, &claim.repo, tag, local.get(tag).map(String::as_str));
            match tokio::time::timeout(limit, copy).await {
                Ok(Ok(c)) if c.unchanged => {}
                Ok(Ok(c)) => {
                    blobs += c.blobs;
                    bytes += c.bytes;
                    let message = format!(
                        "Source '{}:{tag}' successful sync",
                        claim.row.settings.external_reference
                    );
                    self.mirror_log(
                        claim,
                        "repo_mirror_sync_tag_success",
                        "finish",
                        message,
                        json!({"tag": tag}),
                    );
                }
                result => {
                    let error = match result {
                        Ok(Err(e)) => e,
                        _ => SyncError::TimedOut(limit_s),
                    };
                    tracing::info!(repository = %claim.repo, tag, error = ?error, "mirroring a tag failed");
                    let message = format!(
                        "Source '{}:{tag}' failed to sync: {error}",
                        claim.row.settings.external_reference
                    );
                    self.mirror_log(
                        claim,
                        "repo_mirror_sync_tag_failed",
                        "finish",
                        message,
                        json!({"tag": tag}),
                    );
                    failed.push(tag.clone());
                }
            }
        }
        if let Some(stop) = self.mirror_progress(claim, total, total).await? {
            return Ok((stop, failed, tags, blobs, bytes));
        }
        // Organization mirrors keep tags the upstream dropped, as Quay's do.
        if !claim.org {
            self.delete_obsolete_tags(claim, &tags, local.keys()).await?;
        }
        let ending = if failed.is_empty() {
            Ending::Success
        } else {
            Ending::Failed
        };
        Ok((ending, failed, tags, blobs, bytes))
    }

    /// Records progress and extends the claim; `Some` when the sync must
    /// stop (cancelled, repository no longer a mirror, claim lost).
    async fn mirror_progress(&self, claim: &Claim, done: i32, total: i32) -> Result<Option<Ending>, Error> {
        if claim.org {
            return self.org_repo_progress(claim).await;
        }
        let (id, txn, lease) = (claim.row.id, claim.transaction.clone(), claim.lease_until());
        let held = self
            .db()
            .write(move |c| Ok::<_, Error>(q::progress(c, id, &txn, (done, total), lease)?))
            .await?;
        if held {
            return Ok(None);
        }
        let status = self.db().read(move |c| Ok(q::status(c, id)?)).await?;
        Ok(Some(match status {
            Some(q::CANCEL) | None => Ending::Cancelled,
            Some(q::SYNCING) if self.mirror_claim_held(claim).await? => Ending::Stopped,
            _ => Ending::Lost,
        }))
    }

    async fn mirror_claim_held(&self, claim: &Claim) -> Result<bool, Error> {
        let repo_id = claim.row.repository_id;
        let row = self.db().read(move |c| Ok(q::find(c, repo_id)?)).await?;
        Ok(row.is_some_and(|r| r.sync_transaction_id == claim.transaction))
    }

    /// Deletes the local tags that are not among the upstream's matching
    /// tags (Quay's `delete_obsolete_tags`: pushes into a mirror are the
    /// mirror's own, so every other tag is stale).
    async fn delete_obsolete_tags<'a>(
        &self,
        claim: &Claim,
        tags: &[String],
        local: impl Iterator<Item = &'a String>,
    ) -> Result<(), SyncError> {
        // `tags` is sorted.
        for name in local.filter(|l| tags.binary_search(l).is_err()) {
            let Ok(tag) = name.parse() else { continue };
            match self.delete_manifest(&claim.repo, &Reference::Tag(tag)).await {
                Ok(_) | Err(Error::ManifestUnknown) => {}
                Err(e) => return Err(e.into()),
            }
            tracing::info!(repository = %claim.repo, tag = name, "mirror deleted a tag the upstream no longer has");
        }
        Ok(())
    }

    /// A usage-log entry of the sync, with Quay's metadata.
    fn mirror_log(&self, claim: &Claim, kind: &'static str, verb: &str, message: String, extra: Value) {
        // Organization mirrors log per repository sync, not per tag.
        if claim.org {
            return;
        }
        let mut metadata = json!({
            "verb": verb,
            "namespace": claim.repo.namespace(),
            "repo": claim.repo.name(),
            "message": message,
            "tag": null,
            "tags": null,
        });
        if let (Some(m), Value::Object(e)) = (metadata.as_object_mut(), extra) {
            m.extend(e);
        }
        let entry = LogEntry::new(kind, None, None)
            .performer_named(claim.robot.as_deref())
            .repository_named(&claim.repo)
            .metadata(metadata);
        self.log_action(entry);
    }

    /// A usage-log entry and the repository notifications of its kind.
    async fn mirror_event(&self, claim: &Claim, kind: &'static str, verb: &str, message: String, extra: Value) {
        self.mirror_log(claim, kind, verb, message.clone(), extra);
        if let Err(e) = self
            .notify(claim.row.repository_id, kind, json!({"message": message}))
            .await
        {
            tracing::warn!(repository = %claim.repo, error = %e, event = kind, "could not queue mirror notifications");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{next_start, Error, SyncError};
    use crate::db::DbError;
    use crate::storage::StorageError;

    #[test]
    fn local_failures_are_shown_without_their_internals() {
        let db = SyncError::from(Error::Db(DbError::Connection(
            "/var/lib/registry/db.sqlite locked".into(),
        )));
        assert_eq!(db.to_string(), "the registry's database failed");
        let io = std::io::Error::other("/var/lib/registry/blobs/sha256/ab: permission denied");
        let storage = SyncError::from(Error::Storage(StorageError::Io(io)));
        assert_eq!(storage.to_string(), "the registry's blob storage failed");
        assert!(format!("{db:?}").contains("db.sqlite"), "the log keeps the detail");
        let refused = SyncError::from(Error::ManifestInvalid("no layers".into()));
        assert_eq!(refused.to_string(), "manifest invalid: no layers");
    }

    #[test]
    fn the_next_start_stays_on_the_schedule() {
        let start = 1_000_000;
        // 90 s after a start with a 60 s interval: the slot at 120 s.
        assert_eq!(next_start(Some(start), 60, start + 90_000), start + 120_000);
        assert_eq!(next_start(Some(start), 60, start), start + 60_000);
        assert_eq!(next_start(None, 60, start), start + 60_000);
        // A start in the future still gives a time after now.
        assert!(next_start(Some(start + 500_000), 60, start) > start);
    }
}
