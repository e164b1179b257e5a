//! Tag immutability (quay-api.md §3.1): the per-tag flag and the
//! immutability policies of namespaces and repositories. A policy makes the
//! alive tags whose names match its pattern (from the start of the name, as
//! Quay's `re.match`) immutable when it is saved, and every tag pushed or
//! moved later whose name matches; `tagPatternMatches: false` inverts the
//! match.

use regex::Regex;

use super::{Error, Registry};
use crate::db::queries::repositories::RepositoryView;
use crate::db::queries::tag_policies::{self as q, ImmutabilityRow};
use crate::oci::Tag;

pub use crate::db::queries::tag_policies::Scope;

/// Longest tag pattern a policy may hold.
const MAX_PATTERN_LEN: usize = 256;

/// One immutability policy as the API shows it.
#[derive(Debug, Clone)]
pub struct ImmutabilityPolicy {
    pub uuid: String,
    pub tag_pattern: String,
    pub tag_pattern_matches: bool,
}

impl From<ImmutabilityRow> for ImmutabilityPolicy {
    fn from(r: ImmutabilityRow) -> Self {
        ImmutabilityPolicy {
            uuid: r.uuid,
            tag_pattern: r.tag_pattern,
            tag_pattern_matches: r.tag_pattern_matches,
        }
    }
}

/// A policy to save: the pattern (surrounding blanks are dropped) and
/// whether matching (true) or non-matching names become immutable.
#[derive(Debug, Clone)]
pub struct ImmutabilityInput {
    pub tag_pattern: Option<String>,
    pub tag_pattern_matches: bool,
}

impl ImmutabilityInput {
    fn validated(self) -> Result<(String, bool), Error> {
        let pattern = self.tag_pattern.map(|p| p.trim().to_owned()).unwrap_or_default();
        if pattern.is_empty() {
            return Err(invalid("tag_pattern is required and must be a non-empty string"));
        }
        if pattern.chars().count() > MAX_PATTERN_LEN {
            return Err(invalid("tag_pattern must be 256 characters or less"));
        }
        Regex::new(&pattern).map_err(|e| invalid(format!("Invalid regex pattern: {e}")))?;
        Ok((pattern, self.tag_pattern_matches))
    }
}

fn invalid(message: impl Into<String>) -> Error {
    Error::InvalidRequest(message.into())
}

/// A policy's pattern anchored at the start of the name (Quay's
/// `re.match`); `None` when it does not compile, so it covers nothing.
fn anchored(pattern: &str) -> Option<Regex> {
    Regex::new(&format!("^(?:{pattern})")).ok()
}

/// Whether a policy of the repository or its namespace covers the tag.
pub(super) fn covered_by_policy(c: &mut crate::db::DbConn, repo_id: i64, name: &str) -> Result<bool, Error> {
    let policies = q::immutability_for_repository(c, repo_id)?;
    Ok(policies
        .iter()
        .any(|p| anchored(&p.tag_pattern).is_some_and(|re| re.is_match(name) == p.tag_pattern_matches)))
}

/// Makes the alive, mutable tags of the scope that the policy covers
/// immutable; returns how many.
fn apply_to_existing(
    c: &mut crate::db::DbConn,
    scope: Scope,
    (pattern, matches): (&str, bool),
    keep_expiry: bool,
) -> Result<usize, Error> {
    let Some(re) = anchored(pattern) else { return Ok(0) };
    let ids: Vec<i64> = q::mutable_alive_tags(c, scope, crate::now_ms())?
        .into_iter()
        .filter(|(_, _, name)| re.is_match(name) == matches)
        .map(|(id, _, _)| id)
        .collect();
    Ok(q::make_immutable(c, &ids, keep_expiry)?)
}

fn duplicate(c: &mut crate::db::DbConn, scope: Scope, pattern: &str, except: Option<&str>) -> Result<(), Error> {
    let taken = q::immutability_list(c, scope)?
        .iter()
        .any(|p| p.tag_pattern == pattern && Some(p.uuid.as_str()) != except);
    match taken {
        true => Err(invalid("A policy with the same tag_pattern already exists")),
        false => Ok(()),
    }
}

fn policy_not_found() -> Error {
    Error::NotFound("Not Found".into())
}

impl Registry {
    /// The immutability policies of exactly this scope.
    pub async fn immutability_policies(&self, scope: Scope) -> Result<Vec<ImmutabilityPolicy>, Error> {
        let rows = self.db().read(move |c| Ok(q::immutability_list(c, scope)?)).await?;
        Ok(rows.into_iter().map(ImmutabilityPolicy::from).collect())
    }

    /// One policy of the scope, or 404.
    pub async fn immutability_policy(&self, scope: Scope, uuid: &str) -> Result<ImmutabilityPolicy, Error> {
        self.immutability_policies(scope)
            .await?
            .into_iter()
            .find(|p| p.uuid == uuid)
            .ok_or_else(policy_not_found)
    }

    /// Saves a new policy and applies it to the alive tags of its scope;
    /// returns the policy and how many tags it made immutable.
    pub async fn create_immutability_policy(
        &self,
        scope: Scope,
        input: ImmutabilityInput,
    ) -> Result<(ImmutabilityPolicy, usize), Error> {
        let (pattern, matches) = input.validated()?;
        let keep_expiry = self.settings().tags.immutable_tags_can_expire;
        let uuid = uuid::Uuid::new_v4().to_string();
        let policy = ImmutabilityPolicy {
            uuid: uuid.clone(),
            tag_pattern: pattern.clone(),
            tag_pattern_matches: matches,
        };
        let marked = self
            .db()
            .write(move |c| {
                duplicate(c, scope, &pattern, None)?;
                q::immutability_insert(c, scope, &uuid, &pattern, matches)?;
                apply_to_existing(c, scope, (&pattern, matches), keep_expiry)
            })
            .await?;
        Ok((policy, marked))
    }

    /// Changes a policy and applies it to the alive tags of its scope;
    /// returns the policy and how many tags it made immutable.
    pub async fn update_immutability_policy(
        &self,
        scope: Scope,
        uuid: &str,
        input: ImmutabilityInput,
    ) -> Result<(ImmutabilityPolicy, usize), Error> {
        let (pattern, matches) = input.validated()?;
        let keep_expiry = self.settings().tags.immutable_tags_can_expire;
        let policy = ImmutabilityPolicy {
            uuid: uuid.to_owned(),
            tag_pattern: pattern.clone(),
            tag_pattern_matches: matches,
        };
        let uuid = uuid.to_owned();
        let marked = self
            .db()
            .write(move |c| {
                duplicate(c, scope, &pattern, Some(&uuid))?;
                if !q::immutability_update(c, scope, &uuid, &pattern, matches)? {
                    return Err(policy_not_found());
                }
                apply_to_existing(c, scope, (&pattern, matches), keep_expiry)
            })
            .await?;
        Ok((policy, marked))
    }

    /// Deletes a policy; tags it made immutable stay so.
    pub async fn delete_immutability_policy(&self, scope: Scope, uuid: &str) -> Result<(), Error> {
        let uuid = uuid.to_owned();
        self.db()
            .write(move |c| match q::immutability_delete(c, scope, &uuid)? {
                true => Ok(()),
                false => Err(policy_not_found()),
            })
            .await
    }

    /// Sets or clears the immutable flag of an alive tag; returns the
    /// previous value. Making a tag immutable clears its expiry unless
    /// `FEATURE_IMMUTABLE_TAGS_CAN_EXPIRE` allows immutable tags to expire.
    pub async fn set_tag_immutable(&self, repo: &RepositoryView, tag: &Tag, immutable: bool) -> Result<bool, Error> {
        let keep_expiry = self.settings().tags.immutable_tags_can_expire;
        let (repo_id, name, now) = (repo.id, tag.to_string(), crate::now_ms());
        self.db()
            .write(move |c| {
                q::set_immutable(c, repo_id, &name, (immutable, immutable && !keep_expiry), now)?
                    .ok_or_else(|| Error::NotFound("Tag not found".into()))
            })
            .await
    }
}
