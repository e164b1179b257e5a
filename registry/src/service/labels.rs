//! Manifest labels (quay-api.md §1.9): stored at push from the image config
//! and managed through `/api/v1/repository/{repo}/manifest/{digest}/labels`.
//!
//! Labels from a config are stored as written (Docker does not check their
//! keys); labels added through the API must have a valid, unreserved key.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::tags::TagPolicy;
use super::{Error, Registry};
use crate::db::queries::labels::{self as q, SOURCE_API, SOURCE_MANIFEST};
use crate::db::queries::repositories::RepositoryView;
use crate::db::queries::{self, manifests::find_visible};
use crate::db::DbConn;

pub use crate::db::queries::labels::LabelRow;

/// Key prefixes only the registry may use (Quay's
/// `DEFAULT_LABEL_KEY_RESERVED_PREFIXES`); `LABEL_KEY_RESERVED_PREFIXES` adds more.
pub const RESERVED_PREFIXES: [&str; 12] = [
    "com.docker.",
    "io.docker.",
    "org.dockerproject.",
    "org.opencontainers.",
    "io.cncf.",
    "io.kubernetes.",
    "io.k8s.",
    "io.quay",
    "com.coreos",
    "com.tectonic",
    "internal",
    "quay",
];

/// The label whose value sets a tag's expiry.
const EXPIRES_AFTER: &str = "quay.expires-after";
/// The label that makes tags immutable (with `FEATURE_IMMUTABLE_TAGS`).
const IMMUTABLE: &str = "quay.immutable";
const TEXT_PLAIN: &str = "text/plain";
const APPLICATION_JSON: &str = "application/json";

/// Config media types of container images, the configs that carry labels.
const IMAGE_CONFIGS: [&str; 2] = [
    "application/vnd.docker.container.image.v1+json",
    "application/vnd.oci.image.config.v1+json",
];

/// Label settings from `config.yaml`.
#[derive(Debug, Clone, Default)]
pub struct LabelPolicy {
    /// `LABEL_KEY_RESERVED_PREFIXES`, refused on top of [`RESERVED_PREFIXES`].
    pub reserved_prefixes: Vec<String>,
}

/// A label to add through the API; no media type means `text/plain`.
#[derive(Debug, Clone)]
pub struct NewLabel {
    pub key: String,
    pub value: String,
    pub media_type: Option<String>,
}

/// Quay's label key rule (quay-api.md §2.2): at most 255 of `a-z0-9.-`,
/// starting and ending alphanumeric, no two separators in a row.
fn valid_key(key: &str) -> bool {
    let b = key.as_bytes();
    let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let sep = |c: &u8| *c == b'-' || *c == b'.';
    !b.is_empty()
        && b.len() <= 255
        && b.first().is_some_and(alnum)
        && b.last().is_some_and(alnum)
        && b.iter().all(|c| alnum(c) || sep(c))
        && !b.windows(2).any(|w| sep(&w[0]) && sep(&w[1]))
}

/// What a manifest's labels do to the tags that start pointing at it.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct LabelEffects {
    /// `quay.expires-after`, clamped to the configured bounds.
    pub expiry_ms: Option<i64>,
    /// `quay.immutable=true` with `FEATURE_IMMUTABLE_TAGS`.
    pub immutable: bool,
}

impl LabelEffects {
    pub(super) fn of(labels: &[(String, String)], policy: &TagPolicy) -> LabelEffects {
        let value = |key: &str| labels.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
        let expiry_ms = value(EXPIRES_AFTER)
            .and_then(crate::config::parse_duration)
            .and_then(|d| i64::try_from(d.as_secs()).ok())
            .map(|s| s.clamp(policy.expiration_min_s, policy.expiration_max_s) * 1000);
        LabelEffects {
            expiry_ms,
            immutable: policy.immutable_tags && value(IMMUTABLE).is_some_and(|v| v.eq_ignore_ascii_case("true")),
        }
    }
}

/// A pushed manifest, for recording its labels.
pub(super) struct PushLabels<'a> {
    pub repo_id: i64,
    pub manifest_id: i64,
    /// The push created the manifest row (an existing one keeps its labels).
    pub created: bool,
    pub is_list: bool,
    /// The image config's labels (none for lists).
    pub config: &'a [(String, String)],
    /// The list's children, as (digest, id).
    pub children: &'a [(String, i64)],
    pub now: i64,
}

/// Records the labels of a newly created manifest: its config's, or for a
/// list those every child has with the same value. Returns the manifest's
/// labels as (key, value).
pub(super) fn record_at_push(c: &mut DbConn, p: &PushLabels<'_>) -> Result<Vec<(String, String)>, Error> {
    if !p.created {
        return Ok(labels_of(c, p.manifest_id)?);
    }
    let labels = match p.is_list {
        true => shared_by_children(c, p.children)?,
        false => p.config.to_vec(),
    };
    for (key, value) in &labels {
        let row = q::NewLabel {
            repository_id: p.repo_id,
            manifest_id: p.manifest_id,
            key,
            value,
            media_type: TEXT_PLAIN,
            source_type: SOURCE_MANIFEST,
            now: p.now,
        };
        q::insert(c, &row)?;
    }
    Ok(labels)
}

/// The manifest's labels as (key, value).
pub(super) fn labels_of(c: &mut DbConn, manifest_id: i64) -> diesel::QueryResult<Vec<(String, String)>> {
    Ok(q::of_manifest(c, manifest_id)?
        .into_iter()
        .map(|l| (l.key, l.value))
        .collect())
}

/// The config labels every one of the children has.
fn shared_by_children(c: &mut DbConn, children: &[(String, i64)]) -> diesel::QueryResult<Vec<(String, String)>> {
    let ids: BTreeSet<i64> = children.iter().map(|(_, id)| *id).collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut holders: BTreeMap<(String, String), BTreeSet<i64>> = BTreeMap::new();
    for (manifest, key, value) in q::from_configs_of(c, &ids.iter().copied().collect::<Vec<_>>())? {
        holders.entry((key, value)).or_default().insert(manifest);
    }
    Ok(holders
        .into_iter()
        .filter(|(_, held_by)| *held_by == ids)
        .map(|(label, _)| label)
        .collect())
}

fn manifest_not_found() -> Error {
    Error::NotFound("Manifest not found".into())
}

fn label_not_found() -> Error {
    Error::NotFound("Label not found".into())
}

impl Registry {
    /// The `Labels` of the image config a manifest names; none for lists,
    /// artifacts (other config types are not read) or an unreadable config.
    pub(super) async fn config_labels(&self, manifest_bytes: &[u8]) -> Vec<(String, String)> {
        let Ok(manifest) = serde_json::from_slice::<Value>(manifest_bytes) else {
            return Vec::new();
        };
        let is_image = manifest["config"]["mediaType"]
            .as_str()
            .is_some_and(|t| IMAGE_CONFIGS.contains(&t));
        let config = match is_image {
            true => self.image_config(&manifest).await.unwrap_or(Value::Null),
            false => Value::Null,
        };
        config["config"]["Labels"]
            .as_object()
            .map(|labels| {
                labels
                    .iter()
                    .filter(|(k, _)| !k.is_empty())
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    // PostgreSQL text cannot hold NUL; such a label is not recorded.
                    .filter(|(k, v)| !k.contains('\0') && !v.contains('\0'))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The labels of a visible manifest whose key starts with `prefix`.
    pub async fn manifest_labels(
        &self,
        repo: &RepositoryView,
        digest: &str,
        prefix: Option<&str>,
    ) -> Result<Vec<LabelRow>, Error> {
        let (repo_id, d, now) = (repo.id, digest.to_owned(), crate::now_ms());
        let labels = self
            .db()
            .read(move |c| match find_visible(c, repo_id, &d, now)? {
                Some(m) => Ok(Some(q::of_manifest(c, m.id)?)),
                None => Ok(None),
            })
            .await?
            .ok_or_else(manifest_not_found)?;
        Ok(labels
            .into_iter()
            .filter(|l| prefix.is_none_or(|p| l.key.starts_with(p)))
            .collect())
    }

    /// One label of a visible manifest.
    pub async fn manifest_label(&self, repo: &RepositoryView, digest: &str, uuid: &str) -> Result<LabelRow, Error> {
        let (repo_id, d, u, now) = (repo.id, digest.to_owned(), uuid.to_owned(), crate::now_ms());
        self.db()
            .read(move |c| match find_visible(c, repo_id, &d, now)? {
                Some(m) => Ok(Some(q::find(c, m.id, &u)?.ok_or_else(label_not_found))),
                None => Ok(None),
            })
            .await?
            .ok_or_else(manifest_not_found)?
    }

    /// Checks a label the API adds: key rule, reserved prefixes, media type.
    fn check_new_label(&self, l: &NewLabel) -> Result<&'static str, Error> {
        if !valid_key(&l.key) {
            return Err(Error::InvalidRequest(format!("Key `{}` is invalid or reserved", l.key)));
        }
        if l.value.contains('\0') {
            return Err(Error::InvalidRequest(
                "Label value may not contain NUL characters".into(),
            ));
        }
        let extra = &self.settings().labels.reserved_prefixes;
        if RESERVED_PREFIXES.iter().any(|p| l.key.starts_with(p)) || extra.iter().any(|p| l.key.starts_with(p.as_str()))
        {
            return Err(Error::InvalidRequest("Label has a reserved prefix".into()));
        }
        match l.media_type.as_deref() {
            None | Some(TEXT_PLAIN) => Ok(TEXT_PLAIN),
            Some(APPLICATION_JSON) if serde_json::from_str::<Value>(&l.value).is_ok() => Ok(APPLICATION_JSON),
            Some(APPLICATION_JSON) => Err(Error::InvalidRequest("Label value is not valid JSON".into())),
            Some(other) => Err(Error::InvalidRequest(format!(
                "'{other}' is not one of ['text/plain', 'application/json', None]"
            ))),
        }
    }

    /// Adds a label (source `api`) to a visible manifest.
    pub async fn add_manifest_label(
        &self,
        repo: &RepositoryView,
        digest: &str,
        l: NewLabel,
    ) -> Result<LabelRow, Error> {
        let media_type = self.check_new_label(&l)?;
        let (repo_id, d) = (repo.id, digest.to_owned());
        self.db()
            .write(move |c| {
                let now = crate::now_ms();
                let m = find_visible(c, repo_id, &d, now)?.ok_or_else(manifest_not_found)?;
                let row = q::NewLabel {
                    repository_id: repo_id,
                    manifest_id: m.id,
                    key: &l.key,
                    value: &l.value,
                    media_type,
                    source_type: SOURCE_API,
                    now,
                };
                let uuid = q::insert(c, &row)?;
                q::find(c, m.id, &uuid)?.ok_or_else(label_not_found)
            })
            .await
    }

    /// Deletes a label added through the API; those from the config or the
    /// registry cannot be deleted.
    /// Deletes an API label; returns it, for the usage log.
    pub async fn delete_manifest_label(
        &self,
        repo: &RepositoryView,
        digest: &str,
        uuid: &str,
    ) -> Result<LabelRow, Error> {
        let (repo_id, d, u) = (repo.id, digest.to_owned(), uuid.to_owned());
        self.db()
            .write(move |c| {
                let m = find_visible(c, repo_id, &d, crate::now_ms())?.ok_or_else(manifest_not_found)?;
                let label = q::find(c, m.id, &u)?.ok_or_else(label_not_found)?;
                if label.source_type != SOURCE_API {
                    return Err(Error::InvalidRequest("Cannot delete immutable label".into()));
                }
                queries::labels::delete(c, m.id, &u)?;
                Ok(label)
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::valid_key;

    #[test]
    fn label_keys_follow_quays_rule() {
        for good in ["a", "ab", "com.example.key", "a-b.c9", "0"] {
            assert!(valid_key(good), "{good}");
        }
        let long = "a".repeat(256);
        for bad in ["", "A", "-a", "a-", "a..b", "a.-b", "a_b", "a b", long.as_str()] {
            assert!(!valid_key(bad), "{bad}");
        }
    }
}
