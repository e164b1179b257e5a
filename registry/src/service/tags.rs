//! Tags as the REST API manages them (quay-api.md §1.8, §3.1, §3.2): the
//! history of tag lifetimes, creating and moving tags, expirations, deletion
//! into the time machine, restores and permanent expiry; plus the
//! `quay.expires-after` label applied when a tag starts.

use super::labels::{labels_of, LabelEffects};
use super::{Error, Registry};
use crate::db::queries::repositories::RepositoryView;
use crate::db::queries::tags::{self as q, HistoryQuery, NewTag};
use crate::oci::Tag;

pub use crate::db::queries::tags::{NameFilter, TagRow};

/// Tag expiry settings from `config.yaml`.
#[derive(Debug, Clone)]
pub struct TagPolicy {
    /// `LABELED_EXPIRATION_MINIMUM`/`_MAXIMUM` in seconds: the bounds of an
    /// expiry after a tag's start, by label or through the API.
    pub expiration_min_s: i64,
    pub expiration_max_s: i64,
    /// `PERMANENTLY_DELETE_TAGS`: tags may be pushed out of the time machine.
    pub permanently_delete: bool,
    /// `FEATURE_IMMUTABLE_TAGS`: the `quay.immutable` label makes tags immutable.
    pub immutable_tags: bool,
    /// `FEATURE_IMMUTABLE_TAGS_CAN_EXPIRE`: immutable tags may be given an expiry.
    pub immutable_tags_can_expire: bool,
    /// `FEATURE_AUTO_PRUNE`: auto-prune policies and their worker.
    pub auto_prune: bool,
}

impl Default for TagPolicy {
    fn default() -> Self {
        TagPolicy {
            expiration_min_s: 3600,
            expiration_max_s: 104 * 604_800,
            permanently_delete: false,
            immutable_tags: false,
            immutable_tags_can_expire: false,
            auto_prune: false,
        }
    }
}

/// What a tag listing asks for; `page` counts from 1.
#[derive(Debug, Clone, Default)]
pub struct TagListing {
    pub specific: Option<String>,
    pub filter: Option<NameFilter>,
    pub only_active: bool,
    pub page: i64,
    pub limit: i64,
}

/// One page of tag lifetimes.
#[derive(Debug, Clone)]
pub struct TagPage {
    pub tags: Vec<TagRow>,
    pub page: i64,
    pub has_additional: bool,
}

/// Which lifetime `…/expire` ends for good.
#[derive(Debug, Clone)]
pub struct ExpireTag {
    pub manifest_digest: Option<String>,
    pub is_alive: bool,
}

/// `seconds` in the largest whole unit: "104 weeks", "1 hour", "90 seconds".
fn duration_words(seconds: i64) -> String {
    let (n, unit) = [(604_800, "week"), (86_400, "day"), (3600, "hour"), (60, "minute")]
        .into_iter()
        .find(|(size, _)| seconds != 0 && seconds % size == 0)
        .map_or((seconds, "second"), |(size, unit)| (seconds / size, unit));
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

fn not_found(what: &str) -> Error {
    Error::NotFound(format!("{what} not found"))
}

/// What a change would do to an immutable tag, in Quay's refusal.
#[derive(Debug, Clone, Copy)]
pub(super) enum Change {
    Delete,
    Overwrite,
    Expire,
}

impl Change {
    fn verb(self) -> &'static str {
        match self {
            Change::Delete => "delete",
            Change::Overwrite => "overwrite",
            Change::Expire => "set expiration on",
        }
    }
}

/// Refuses `change` to an immutable tag's alive lifetime while
/// `FEATURE_IMMUTABLE_TAGS` is on (`enforce`); with it off, Quay lets
/// immutable tags change like others.
fn mutable(row: Option<&TagRow>, enforce: bool, change: Change) -> Result<(), Error> {
    match row {
        Some(r) if enforce && r.immutable => Err(immutable_error(&r.name, change)),
        _ => Ok(()),
    }
}

pub(super) fn immutable_error(name: &str, change: Change) -> Error {
    Error::TagImmutable(format!("Cannot {} immutable tag '{name}'", change.verb()))
}

/// The alive, listed lifetime of the tag if it is immutable and
/// `FEATURE_IMMUTABLE_TAGS` is on (`enforce`); with the feature off nothing
/// is read, as Quay then lets immutable tags change like others.
fn immutable_row(
    c: &mut crate::db::DbConn,
    repo_id: i64,
    name: &str,
    (now, enforce): (i64, bool),
) -> Result<Option<TagRow>, Error> {
    if !enforce {
        return Ok(None);
    }
    Ok(q::alive_row(c, repo_id, name, now)?.filter(|r| r.immutable))
}

/// Refuses ending an immutable tag's alive lifetime.
pub(super) fn refuse_immutable(
    c: &mut crate::db::DbConn,
    repo_id: i64,
    name: &str,
    now: i64,
    enforce: bool,
) -> Result<(), Error> {
    match immutable_row(c, repo_id, name, (now, enforce))? {
        Some(r) => Err(immutable_error(&r.name, Change::Delete)),
        None => Ok(()),
    }
}

/// Whether a /v2 push leaves an immutable tag as it is (it points at the
/// pushed manifest already); moving it elsewhere is refused.
pub(super) fn immutable_unchanged(
    c: &mut crate::db::DbConn,
    repo_id: i64,
    name: &str,
    manifest_id: i64,
    (now, enforce): (i64, bool),
) -> Result<bool, Error> {
    match immutable_row(c, repo_id, name, (now, enforce))? {
        Some(r) if r.manifest_id == manifest_id => Ok(true),
        Some(r) => Err(immutable_error(&r.name, Change::Overwrite)),
        None => Ok(false),
    }
}

/// Makes a tag that just started immutable when a label or an
/// immutability policy says so (both only with `FEATURE_IMMUTABLE_TAGS`);
/// its expiry goes unless immutable tags may expire.
pub(super) fn apply_immutability(
    c: &mut crate::db::DbConn,
    repo_id: i64,
    name: &str,
    by_label: bool,
    policy: &TagPolicy,
) -> Result<(), Error> {
    if !policy.immutable_tags || !(by_label || super::tag_policies::covered_by_policy(c, repo_id, name)?) {
        return Ok(());
    }
    let clear_end = !policy.immutable_tags_can_expire;
    crate::db::queries::tag_policies::set_immutable(c, repo_id, name, (true, clear_end), crate::now_ms())?;
    Ok(())
}

impl Registry {
    /// A page of the repository's tag lifetimes, newest start first.
    pub async fn tag_history(&self, repo: &RepositoryView, l: TagListing) -> Result<TagPage, Error> {
        let page = l.page.max(1);
        let limit = l.limit.clamp(1, 100);
        let query = HistoryQuery {
            repo_id: repo.id,
            specific: l.specific,
            filter: l.filter,
            only_active: l.only_active,
            offset: (page - 1).saturating_mul(limit),
            limit: limit + 1,
            now: crate::now_ms(),
        };
        let mut tags = self.db().read(move |c| Ok(q::history(c, &query)?)).await?;
        let has_additional = tags.len() > usize::try_from(limit).unwrap_or(usize::MAX);
        tags.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(TagPage {
            tags,
            page,
            has_additional,
        })
    }

    /// Creates or moves a tag to a manifest the repository still holds
    /// (alive, or within the time machine); restores mark the new lifetime
    /// as a reversion. Returns whether an alive tag was moved.
    pub async fn retarget_tag(
        &self,
        repo: &RepositoryView,
        tag: &Tag,
        digest: &str,
        reversion: bool,
    ) -> Result<bool, Error> {
        let (repo_id, d, now) = (repo.id, digest.to_owned(), crate::now_ms());
        let window_ms = repo.tag_expiration_s.saturating_mul(1000);
        let manifest_id = self
            .db()
            .read(move |c| {
                let found = crate::db::queries::manifests::id_of(c, repo_id, &d)?;
                Ok(match found {
                    Some(id) if q::manifest_held_since(c, repo_id, id, now - window_ms)? => Some(id),
                    _ => None,
                })
            })
            .await?
            .ok_or_else(|| not_found("Manifest"))?;
        let policy = self.settings().tags.clone();
        let name = tag.to_string();
        self.db()
            .write(move |c| {
                crate::db::queries::repositories::lock(c, repo_id)?;
                let now = crate::now_ms();
                let previous = q::alive_row(c, repo_id, &name, now)?;
                mutable(previous.as_ref(), policy.immutable_tags, Change::Overwrite)?;
                let effects = LabelEffects::of(&labels_of(c, manifest_id)?, &policy);
                let new = NewTag {
                    repository_id: repo_id,
                    name: &name,
                    manifest_id,
                    now,
                    hidden: false,
                    end: effects.expiry_ms.map(|e| now + e),
                };
                q::retarget(c, &new, reversion)?;
                apply_immutability(c, repo_id, &name, effects.immutable, &policy)?;
                Ok::<_, Error>(previous.is_some())
            })
            .await
    }

    /// Sets or clears (`None`) the end of a tag's alive lifetime; the
    /// offset after its start is clamped to the configured bounds.
    pub async fn change_tag_expiration(
        &self,
        repo: &RepositoryView,
        tag: &Tag,
        expiration_ms: Option<i64>,
    ) -> Result<(), Error> {
        let policy = self.settings().tags.clone();
        let now = crate::now_ms();
        if expiration_ms.is_some_and(|at| at.saturating_sub(now) > policy.expiration_max_s.saturating_mul(1000)) {
            return Err(Error::InvalidRequest(format!(
                "Expiration must be at most {} from now (LABELED_EXPIRATION_MAXIMUM)",
                duration_words(policy.expiration_max_s)
            )));
        }
        let (repo_id, name) = (repo.id, tag.to_string());
        self.db()
            .write(move |c| {
                let row = q::alive_row(c, repo_id, &name, now)?.ok_or_else(|| not_found("Tag"))?;
                if expiration_ms.is_some() && !policy.immutable_tags_can_expire {
                    mutable(Some(&row), policy.immutable_tags, Change::Expire)?;
                }
                let end = expiration_ms.map(|at| {
                    let offset = (at - row.lifetime_start_ms)
                        .clamp(policy.expiration_min_s * 1000, policy.expiration_max_s * 1000);
                    row.lifetime_start_ms + offset
                });
                Ok::<_, Error>(q::set_end(c, row.id, end)?)
            })
            .await
    }

    /// Ends a tag's alive lifetime now; it stays restorable within the
    /// namespace's time machine window.
    pub async fn delete_tag(&self, repo: &RepositoryView, tag: &Tag) -> Result<(), Error> {
        let (repo_id, name) = (repo.id, tag.to_string());
        let enforce = self.settings().tags.immutable_tags;
        self.db()
            .write(move |c| {
                let now = crate::now_ms();
                refuse_immutable(c, repo_id, &name, now, enforce)?;
                match q::end(c, repo_id, &name, now)? {
                    true => Ok(()),
                    false => Err(not_found("Tag")),
                }
            })
            .await
    }

    /// Moves the end of matching lifetimes to `now − window`, so they can
    /// neither be restored nor keep their manifest from garbage collection.
    pub async fn expire_tag(&self, repo: &RepositoryView, tag: &Tag, e: ExpireTag) -> Result<(), Error> {
        if !e.is_alive && e.manifest_digest.is_none() {
            return Err(Error::InvalidRequest(
                "manifest_digest is required to expire a dead tag".into(),
            ));
        }
        let (repo_id, name) = (repo.id, tag.to_string());
        let window_ms = repo.tag_expiration_s.saturating_mul(1000);
        let enforce = self.settings().tags.immutable_tags;
        self.db()
            .write(move |c| {
                let now = crate::now_ms();
                let target = now - window_ms;
                let rows = match e.is_alive {
                    true => q::alive_row(c, repo_id, &name, now)?.into_iter().collect(),
                    false => q::dead_rows_since(c, repo_id, &name, target, now)?,
                };
                let rows: Vec<TagRow> = rows
                    .into_iter()
                    .filter(|r| e.manifest_digest.as_ref().is_none_or(|d| *d == r.manifest_digest))
                    .collect();
                if rows.is_empty() {
                    return Err(not_found("Tag"));
                }
                if e.is_alive {
                    rows.iter()
                        .try_for_each(|r| mutable(Some(r), enforce, Change::Delete))?;
                }
                for row in &rows {
                    let end = q::free_end_before(c, repo_id, &name, row.id, target)?;
                    q::set_end(c, row.id, Some(end))?;
                }
                Ok(())
            })
            .await
    }

    /// Alive, listed tags that expire within `days`, as (repository id,
    /// tag, end ms): the source of `repo_image_expiry` notifications.
    pub async fn tags_expiring_within(&self, days: i64) -> Result<Vec<(i64, String, i64)>, Error> {
        let now = crate::now_ms();
        let until = now.saturating_add(days.saturating_mul(86_400_000));
        Ok(self.db().read(move |c| Ok(q::expiring_between(c, now, until)?)).await?)
    }
}
