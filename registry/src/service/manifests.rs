//! Manifests and tags: push checks what a manifest references, stores the
//! bytes as sent, and points the tag at it.

use std::collections::BTreeSet;

use super::labels::{LabelEffects, PushLabels};
use super::{Error, Registry};
use crate::db::queries::{self, manifests::NewManifest, tags::NewTag};
use crate::db::DbError;
use crate::oci::manifest::{self, ManifestError, ParsedManifest};
use crate::oci::{media, Digest, Reference, RepoName};

/// A manifest as stored: the exact bytes and the media type they came with.
#[derive(Debug, Clone)]
pub struct StoredManifest {
    pub digest: String,
    pub media_type: String,
    pub bytes: Vec<u8>,
}

/// What a successful manifest push reports back.
#[derive(Debug, Clone)]
pub struct PutManifest {
    pub digest: Digest,
    pub subject: Option<Digest>,
}

/// Attempts for a push that lost a race with a concurrent push of the same tag.
const PUSH_ATTEMPTS: usize = 3;

impl Registry {
    /// The manifest a tag or digest names in the repository.
    pub async fn get_manifest(&self, repo: &RepoName, reference: &Reference) -> Result<StoredManifest, Error> {
        let repo_id = self.repo_id(repo).await?;
        let now = crate::now_ms();
        let r = reference.clone();
        let row = self
            .db()
            .read(move |c| {
                Ok(match &r {
                    Reference::Tag(t) => queries::manifests::find_by_tag(c, repo_id, t.as_str(), now)?,
                    Reference::Digest(d) => queries::manifests::find_visible(c, repo_id, &d.to_string(), now)?,
                })
            })
            .await?;
        let Some(row) = row else {
            return Err(match reference {
                Reference::Tag(t) if self.tag_recently_deleted(repo_id, t.as_str()).await? => Error::TagExpired,
                _ => Error::ManifestUnknown,
            });
        };
        Ok(StoredManifest {
            digest: row.digest,
            media_type: row.media_type,
            bytes: row.manifest_bytes,
        })
    }

    /// Whether the tag died within its namespace's time-machine window.
    async fn tag_recently_deleted(&self, repo_id: i64, tag: &str) -> Result<bool, Error> {
        let (t, now) = (tag.to_owned(), crate::now_ms());
        Ok(self
            .db()
            .read(move |c| Ok(queries::tags::dead_within_window(c, repo_id, &t, now)?))
            .await?)
    }

    /// Stores a manifest under a tag or its digest.
    pub async fn put_manifest(
        &self,
        repo: &RepoName,
        reference: &Reference,
        content_type: Option<&str>,
        bytes: Vec<u8>,
    ) -> Result<PutManifest, Error> {
        let digest = match reference {
            Reference::Digest(d) => {
                let actual = Digest::of(d.algorithm(), &bytes);
                if actual != *d {
                    return Err(Error::DigestInvalid);
                }
                actual
            }
            Reference::Tag(_) => Digest::sha256_of(&bytes),
        };
        let parsed = manifest::parse(content_type, &bytes).map_err(|e| match e {
            ManifestError::Unsupported(m) => Error::ManifestUnsupported(m),
            ManifestError::Invalid(m) => Error::ManifestInvalid(m),
        })?;
        let repo_id = self.repo_id(repo).await?;
        let subject = parsed.subject.clone();
        // Read before the transaction: storage is slow and the config is
        // needed only when the manifest turns out to be new.
        let config_labels = self.config_labels(&bytes).await;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let job = PushJob {
                repo_id,
                digest: digest.to_string(),
                tag: match reference {
                    Reference::Tag(t) => Some(t.to_string()),
                    Reference::Digest(_) => None,
                },
                parsed: parsed.clone(),
                bytes: bytes.clone(),
                temp_expiry_ms: self.settings().push_temp_tag_expiration_s * 1000,
                config_labels: config_labels.clone(),
                tag_policy: self.settings().tags.clone(),
                quota: *self.quota_policy(),
            };
            match self.db().write(move |c| job.run(c)).await {
                Err(Error::Db(DbError::Query(e)))
                    if attempt < PUSH_ATTEMPTS
                        && (queries::is_unique_violation(&e) || queries::is_transient_conflict(&e)) =>
                {
                    continue
                }
                Err(Error::QuotaExceeded) => {
                    self.record_quota_refusal(repo_id).await;
                    return Err(Error::QuotaExceeded);
                }
                Err(e) => return Err(e),
                Ok(()) => {
                    if let Reference::Tag(t) = reference {
                        self.notify_push(repo, repo_id, t.as_str()).await;
                    }
                    return Ok(PutManifest { digest, subject });
                }
            }
        }
    }

    /// Deletes a tag, or every tag of a manifest when given its digest.
    /// Returns the listed tags that ended, for the usage log.
    pub async fn delete_manifest(&self, repo: &RepoName, reference: &Reference) -> Result<Vec<String>, Error> {
        let repo_id = self.repo_id(repo).await?;
        let now = crate::now_ms();
        let reference = reference.clone();
        let enforce = self.settings().tags.immutable_tags;
        self.db()
            .write(move |c| {
                let found = match &reference {
                    Reference::Tag(t) => {
                        super::tags::refuse_immutable(c, repo_id, t.as_str(), now, enforce)?;
                        queries::tags::end(c, repo_id, t.as_str(), now)?.then(|| vec![t.to_string()])
                    }
                    Reference::Digest(d) => delete_by_digest(c, repo_id, &d.to_string(), (now, enforce))?,
                };
                found.ok_or(Error::ManifestUnknown)
            })
            .await
    }
}

/// Ends every tag of the manifest and detaches a visible referrer from its
/// subject (which otherwise keeps showing and holding it); returns the
/// listed tags that ended, or `None` when there was nothing to delete.
fn delete_by_digest(
    c: &mut crate::db::DbConn,
    repo_id: i64,
    digest: &str,
    (now, enforce): (i64, bool),
) -> Result<Option<Vec<String>>, Error> {
    let Some(id) = queries::manifests::id_of(c, repo_id, digest)? else {
        return Ok(None);
    };
    if enforce {
        if let Some(name) = queries::tags::immutable_for_manifest(c, repo_id, id, now)? {
            return Err(super::tags::immutable_error(&name, super::tags::Change::Delete));
        }
    }
    let visible = queries::manifests::find_visible(c, repo_id, digest, now)?.is_some();
    let ended = queries::tags::end_all_for_manifest(c, repo_id, id, now)?;
    let detached = visible && queries::manifests::detach_subject(c, id)?;
    let listed: Vec<String> = ended
        .iter()
        .filter(|(_, hidden)| !hidden)
        .map(|(n, _)| n.clone())
        .collect();
    Ok((!ended.is_empty() || detached).then_some(listed))
}

/// One manifest push, run inside a write transaction.
struct PushJob {
    repo_id: i64,
    digest: String,
    tag: Option<String>,
    parsed: ParsedManifest,
    bytes: Vec<u8>,
    temp_expiry_ms: i64,
    /// The image config's labels, recorded when the manifest is new.
    config_labels: Vec<(String, String)>,
    /// How labels act on the pushed tag.
    tag_policy: super::tags::TagPolicy,
    quota: super::quota::QuotaPolicy,
}

impl PushJob {
    fn run(&self, c: &mut crate::db::DbConn) -> Result<(), Error> {
        queries::repositories::lock(c, self.repo_id)?;
        let now = crate::now_ms();
        let p = &self.parsed;
        let blob_digests: Vec<String> = p
            .blobs
            .iter()
            .map(ToString::to_string)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let blobs = queries::blobs::ids_in_repo(c, self.repo_id, &blob_digests)?;
        if let Some(missing) = blob_digests.iter().find(|d| !blobs.iter().any(|(f, _)| f == *d)) {
            return Err(Error::ManifestBlobUnknown(missing.clone()));
        }
        // Held until commit, so garbage collection cannot delete them meanwhile.
        let held = queries::gc::hold_blobs(c, &blobs.iter().map(|(_, id)| *id).collect::<Vec<_>>())?;
        if let Some((missing, _)) = blobs.iter().find(|(_, id)| !held.contains(id)) {
            return Err(Error::ManifestBlobUnknown(missing.clone()));
        }
        let child_digests: Vec<String> = p
            .children
            .iter()
            .map(ToString::to_string)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let children = queries::manifests::ids_in_repo(c, self.repo_id, &child_digests)?;
        if let Some(missing) = child_digests.iter().find(|d| !children.iter().any(|(f, _)| f == *d)) {
            return Err(Error::ManifestInvalid(format!(
                "manifest references unknown manifest {missing}"
            )));
        }
        let subject = p.subject.as_ref().map(ToString::to_string);
        let (manifest_id, created) = queries::manifests::insert(
            c,
            &NewManifest {
                repository_id: self.repo_id,
                digest: &self.digest,
                media_type: &p.media_type,
                bytes: &self.bytes,
                config_media_type: p.config_media_type.as_deref(),
                artifact_type: p.artifact_type.as_deref(),
                subject: subject.as_deref(),
                layers_size: p.layers_size,
                now,
            },
        )?;
        if created {
            let blob_ids: Vec<i64> = blobs.iter().map(|(_, id)| *id).collect();
            super::quota::account_push(c, &self.quota, self.repo_id, &blob_ids, now)?;
            queries::manifests::link_blobs(c, self.repo_id, manifest_id, &blob_ids)?;
            let child_ids: Vec<i64> = children.iter().map(|(_, id)| *id).collect();
            queries::manifests::link_children(c, self.repo_id, manifest_id, &child_ids)?;
        } else if let Some(s) = subject.as_deref() {
            queries::manifests::attach_subject(c, manifest_id, s)?;
        }
        let effects = self.record_labels(c, manifest_id, created, &children, now)?;
        if let Some(t) = &self.tag {
            let enforce = self.tag_policy.immutable_tags;
            if super::tags::immutable_unchanged(c, self.repo_id, t, manifest_id, (now, enforce))? {
                return Ok(());
            }
        }
        let hidden_name;
        let (name, hidden, end) = match &self.tag {
            Some(t) => (t.as_str(), false, effects.expiry_ms.map(|e| now + e)),
            None => {
                hidden_name = format!("$temp-{}", uuid::Uuid::new_v4());
                // Held until something references it; a referrer is then
                // held by its subject (see `db::queries::gc`).
                (hidden_name.as_str(), true, Some(now + self.temp_expiry_ms))
            }
        };
        queries::tags::set(
            c,
            &NewTag {
                repository_id: self.repo_id,
                name,
                manifest_id,
                now,
                hidden,
                end,
            },
        )?;
        if !hidden {
            super::tags::apply_immutability(c, self.repo_id, name, effects.immutable, &self.tag_policy)?;
        }
        Ok(())
    }

    /// Stores a new manifest's labels; returns what the manifest's labels
    /// do to the pushed tag.
    fn record_labels(
        &self,
        c: &mut crate::db::DbConn,
        manifest_id: i64,
        created: bool,
        children: &[(String, i64)],
        now: i64,
    ) -> Result<LabelEffects, Error> {
        let labels = super::labels::record_at_push(
            c,
            &PushLabels {
                repo_id: self.repo_id,
                manifest_id,
                created,
                is_list: [media::DOCKER_LIST, media::OCI_INDEX].contains(&self.parsed.media_type.as_str()),
                config: &self.config_labels,
                children,
                now,
            },
        )?;
        Ok(LabelEffects::of(&labels, &self.tag_policy))
    }
}
