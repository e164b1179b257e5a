//! Storing what a proxy-cache pull fetched: the repository (created on the
//! first pull), the manifest with placeholder rows for its blobs, and the
//! tag, all ending `expiration_s` after the pull.

use super::pull::{Fetched, ProxyCache};
use crate::db::models::Account;
use crate::db::queries::{self, manifests::NewManifest, proxy_cache as q, tags::NewTag};
use crate::db::{DbConn, DbError};
use crate::oci::manifest::{self, ParsedManifest};
use crate::oci::{media, Reference, RepoName};
use crate::service::manifests::StoredManifest;
use crate::service::quota::QuotaPolicy;
use crate::service::{Error, Registry, Role};

/// Attempts to store a manifest that lost a race with a concurrent pull.
const CACHE_ATTEMPTS: usize = 3;

impl Registry {
    /// Creates a cached repository (private, as Quay's
    /// `CREATE_PRIVATE_REPO_ON_PULL_THROUGH` default); the puller reads it.
    pub(super) async fn create_cached_repository(
        &self,
        repo: &RepoName,
        puller: Option<&Account>,
    ) -> Result<i64, Error> {
        let (ns, name, now) = (repo.namespace().to_owned(), repo.name().to_owned(), crate::now_ms());
        let window_s = self.settings().accounts.default_tag_expiration_s;
        let puller_id = puller.map(|p| p.id);
        self.db()
            .write(move |c| {
                let existed = queries::repositories::find(c, &ns, &name)?.is_some();
                let r = queries::repositories::ensure(c, &ns, &name, "private", now, window_s)?;
                if let Some(id) = puller_id.filter(|id| !existed && *id != r.namespace_user_id) {
                    queries::permissions::set_user_role(c, r.id, id, Role::Read.as_str())?;
                }
                Ok::<_, Error>(r.id)
            })
            .await
    }

    /// Stores an upstream manifest with placeholders for its blobs (their
    /// bytes come on the first pull) and points the tag at it, or, pulled
    /// by digest, holds it with a hidden tag; both end `expiration_s` from
    /// now. Makes room in the organization's quota first.
    pub(super) async fn cache_manifest(
        &self,
        cache: &ProxyCache,
        repo_id: i64,
        reference: &Reference,
        fetched: Fetched,
    ) -> Result<StoredManifest, Error> {
        let is_index = [media::OCI_INDEX, media::DOCKER_LIST].contains(&fetched.parsed.media_type.as_str());
        if !is_index {
            self.make_room(cache.row.organization_id, fetched.parsed.layers_size)
                .await?;
        }
        let job = CacheJob {
            repo_id,
            digest: fetched.digest.to_string(),
            blob_sizes: manifest::blob_sizes(&fetched.bytes),
            tag: match reference {
                Reference::Tag(t) => Some(t.to_string()),
                Reference::Digest(_) => None,
            },
            end_ms: crate::now_ms().saturating_add(cache.expiry_ms()),
            // The room was made above; the quota's Reject limit is not
            // what decides for a cache.
            quota: QuotaPolicy {
                verify: false,
                ..*self.quota_policy()
            },
            stored: StoredManifest {
                digest: fetched.digest.to_string(),
                media_type: fetched.parsed.media_type.clone(),
                bytes: fetched.bytes,
            },
            parsed: fetched.parsed,
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let job = job.clone();
            match self.db().write(move |c| job.run(c)).await {
                // A concurrent pull of the same image committed first.
                Err(Error::Db(DbError::Query(e)))
                    if attempt < CACHE_ATTEMPTS
                        && (queries::is_unique_violation(&e) || queries::is_transient_conflict(&e)) => {}
                other => return other,
            }
        }
    }
}

/// One cached manifest, stored inside a write transaction.
#[derive(Clone)]
struct CacheJob {
    repo_id: i64,
    digest: String,
    blob_sizes: Vec<(String, i64)>,
    tag: Option<String>,
    end_ms: i64,
    quota: QuotaPolicy,
    stored: StoredManifest,
    parsed: ParsedManifest,
}

impl CacheJob {
    fn run(self, c: &mut DbConn) -> Result<StoredManifest, Error> {
        queries::repositories::lock(c, self.repo_id)?;
        let now = crate::now_ms();
        let p = &self.parsed;
        let (manifest_id, created) = queries::manifests::insert(
            c,
            &NewManifest {
                repository_id: self.repo_id,
                digest: &self.digest,
                media_type: &p.media_type,
                bytes: &self.stored.bytes,
                config_media_type: p.config_media_type.as_deref(),
                artifact_type: p.artifact_type.as_deref(),
                subject: p.subject.as_ref().map(ToString::to_string).as_deref(),
                layers_size: p.layers_size,
                now,
            },
        )?;
        if created {
            self.link_placeholders(c, manifest_id, now)?;
        }
        match &self.tag {
            Some(name) => queries::tags::retarget(
                c,
                &NewTag {
                    repository_id: self.repo_id,
                    name,
                    manifest_id,
                    now,
                    hidden: false,
                    end: Some(self.end_ms),
                },
                false,
            )?,
            None => {
                let name = format!("$temp-{}", uuid::Uuid::new_v4());
                queries::tags::retarget(
                    c,
                    &NewTag {
                        repository_id: self.repo_id,
                        name: &name,
                        manifest_id,
                        now,
                        hidden: true,
                        end: Some(self.end_ms),
                    },
                    false,
                )?;
                self.link_parents(c, manifest_id, now)?;
            }
        }
        Ok(self.stored)
    }

    /// Blob rows (placeholders until their bytes are fetched), counted in
    /// the quota; and the children already cached, for an index.
    fn link_placeholders(&self, c: &mut DbConn, manifest_id: i64, now: i64) -> Result<(), Error> {
        let mut blob_ids = Vec::with_capacity(self.parsed.blobs.len());
        for digest in &self.parsed.blobs {
            let d = digest.to_string();
            let size = self.blob_sizes.iter().find(|(b, _)| *b == d).map_or(0, |(_, s)| *s);
            let (blob, _) = queries::blobs::ensure_row(c, &d, size, now)?;
            if !blob_ids.contains(&blob.id) {
                blob_ids.push(blob.id);
            }
        }
        crate::service::quota::account_push(c, &self.quota, self.repo_id, &blob_ids, now)?;
        queries::manifests::link_blobs(c, self.repo_id, manifest_id, &blob_ids)?;
        let children: Vec<String> = self.parsed.children.iter().map(ToString::to_string).collect();
        let ids: Vec<i64> = queries::manifests::ids_in_repo(c, self.repo_id, &children)?
            .into_iter()
            .map(|(_, id)| id)
            .collect();
        queries::manifests::link_children(c, self.repo_id, manifest_id, &ids)?;
        Ok(())
    }

    /// Links a child pulled by digest to the cached indexes that list it,
    /// so it lives as long as they do.
    fn link_parents(&self, c: &mut DbConn, manifest_id: i64, now: i64) -> Result<(), Error> {
        for (parent_id, bytes, media_type) in q::held_indexes(c, self.repo_id, now)? {
            let lists_it = manifest::parse(Some(&media_type), &bytes)
                .is_ok_and(|p| p.children.iter().any(|d| d.to_string() == self.digest));
            if lists_it && !q::is_child(c, parent_id, manifest_id)? {
                queries::manifests::link_children(c, self.repo_id, parent_id, &[manifest_id])?;
            }
        }
        Ok(())
    }
}
