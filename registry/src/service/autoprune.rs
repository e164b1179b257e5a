//! Auto-prune policies (FEATURE_AUTO_PRUNE) of namespaces and repositories,
//! and the pass that applies them. A `number_of_tags` policy keeps the
//! newest N alive tags its pattern covers; a `creation_date` policy deletes
//! the covered tags older than its age. Deletions take the same path as a
//! tag deletion through the API (into the time machine); immutable tags
//! are never pruned. Age policies run before count policies, as in Quay.

use regex::Regex;
use serde_json::{json, Value};

use super::logs::LogEntry;
use super::{Error, Registry};
use crate::db::queries::tag_policies::{self as q, AutoPruneFields, AutoPruneRow, Scope};
use crate::oci::Tag;

pub const NUMBER_OF_TAGS: &str = "number_of_tags";
pub const CREATION_DATE: &str = "creation_date";

/// Namespace tasks one pass takes at most (Quay's `AUTO_PRUNING_BATCH_SIZE`).
const BATCH: usize = 10;

/// One policy as the API shows it.
#[derive(Debug, Clone)]
pub struct AutoPrunePolicy {
    pub uuid: String,
    pub method: String,
    /// A count for `number_of_tags`, a duration text for `creation_date`.
    pub value: Value,
    pub tag_pattern: Option<String>,
    pub tag_pattern_matches: bool,
}

impl From<AutoPruneRow> for AutoPrunePolicy {
    fn from(r: AutoPruneRow) -> Self {
        let value = match r.method.as_str() {
            NUMBER_OF_TAGS => r.value.parse::<i64>().map_or_else(|_| json!(r.value), |n| json!(n)),
            _ => json!(r.value),
        };
        AutoPrunePolicy {
            uuid: r.uuid,
            method: r.method,
            value,
            tag_pattern: r.tag_pattern,
            tag_pattern_matches: r.tag_pattern_matches,
        }
    }
}

/// A policy as asked for, before validation (JSON values, as the value may
/// be a number or a text).
#[derive(Debug, Clone, Default)]
pub struct AutoPruneInput {
    pub method: Option<Value>,
    pub value: Option<Value>,
    pub tag_pattern: Option<Value>,
    pub tag_pattern_matches: Option<Value>,
}

/// A validated policy: method, value text, pattern, matches.
type Valid = (String, String, Option<String>, bool);

fn invalid(message: &str) -> Error {
    Error::InvalidRequest(message.to_owned())
}

/// Age in milliseconds of a `creation_date` value such as `7d`.
fn age_ms(value: &str) -> Option<i64> {
    let d = crate::config::parse_duration(value).filter(|d| !d.is_zero())?;
    i64::try_from(d.as_millis()).ok()
}

impl AutoPruneInput {
    fn validated(self) -> Result<Valid, Error> {
        let (Some(method), Some(value)) = (
            self.method.filter(|v| !v.is_null()),
            self.value.filter(|v| !v.is_null()),
        ) else {
            return Err(invalid("Missing the following parameters: method, value"));
        };
        let method = match method.as_str() {
            Some(m @ (NUMBER_OF_TAGS | CREATION_DATE)) => m.to_owned(),
            _ => return Err(invalid("Invalid method provided")),
        };
        let value = match (method.as_str(), &value) {
            (NUMBER_OF_TAGS, Value::Number(n)) => n.as_i64().filter(|n| *n > 0).map(|n| n.to_string()),
            (CREATION_DATE, Value::String(s)) => age_ms(s).map(|_| s.clone()),
            _ => None,
        }
        .ok_or_else(|| invalid("Invalid value given for method type"))?;
        let pattern = match self.tag_pattern {
            None | Some(Value::Null) => None,
            Some(Value::String(p)) if p.trim().is_empty() => return Err(invalid("tag_pattern cannot be empty")),
            Some(Value::String(p)) => {
                let p = p.trim().to_owned();
                Regex::new(&p).map_err(|e| Error::InvalidRequest(format!("Invalid regex pattern: {e}")))?;
                Some(p)
            }
            Some(_) => return Err(invalid("tag_pattern must be string")),
        };
        let matches = match self.tag_pattern_matches {
            None | Some(Value::Null) => true,
            Some(Value::Bool(b)) => b,
            Some(_) => return Err(invalid("tag_pattern_matches must be bool")),
        };
        Ok((method, value, pattern, matches))
    }
}

fn fields(v: &Valid) -> AutoPruneFields<'_> {
    AutoPruneFields {
        method: &v.0,
        value: &v.1,
        tag_pattern: v.2.as_deref(),
        tag_pattern_matches: v.3,
    }
}

fn same(row: &AutoPruneRow, v: &Valid) -> bool {
    (&row.method, &row.value, &row.tag_pattern, row.tag_pattern_matches) == (&v.0, &v.1, &v.2, v.3)
}

fn duplicate_error(scope: Scope) -> Error {
    let what = if scope.repository_id.is_some() {
        "repository"
    } else {
        "namespace"
    };
    Error::InvalidRequest(format!(
        "Existing policy with same values for this {what}, duplicate policies are not permitted"
    ))
}

fn policy_not_found() -> Error {
    Error::NotFound("Not Found".into())
}

impl Registry {
    /// The auto-prune policies of exactly this scope.
    pub async fn autoprune_policies(&self, scope: Scope) -> Result<Vec<AutoPrunePolicy>, Error> {
        let rows = self.db().read(move |c| Ok(q::autoprune_list(c, scope)?)).await?;
        Ok(rows.into_iter().map(AutoPrunePolicy::from).collect())
    }

    /// One policy of the scope, or 404.
    pub async fn autoprune_policy(&self, scope: Scope, uuid: &str) -> Result<AutoPrunePolicy, Error> {
        self.autoprune_policies(scope)
            .await?
            .into_iter()
            .find(|p| p.uuid == uuid)
            .ok_or_else(policy_not_found)
    }

    /// Saves a policy (an identical one of the scope is refused) and queues
    /// its namespace for pruning.
    pub async fn create_autoprune_policy(&self, scope: Scope, input: AutoPruneInput) -> Result<AutoPrunePolicy, Error> {
        let valid = input.validated()?;
        let uuid = uuid::Uuid::new_v4().to_string();
        let saved = valid.clone();
        let id = uuid.clone();
        self.db()
            .write(move |c| {
                if q::autoprune_list(c, scope)?.iter().any(|r| same(r, &saved)) {
                    return Err(duplicate_error(scope));
                }
                q::autoprune_insert(c, scope, &id, &fields(&saved))?;
                Ok(q::ensure_task(c, scope.namespace_id)?)
            })
            .await?;
        Ok(AutoPrunePolicy::from(AutoPruneRow {
            uuid,
            repository_id: scope.repository_id,
            method: valid.0,
            value: valid.1,
            tag_pattern: valid.2,
            tag_pattern_matches: valid.3,
        }))
    }

    /// Changes a policy of the scope.
    pub async fn update_autoprune_policy(
        &self,
        scope: Scope,
        uuid: &str,
        input: AutoPruneInput,
    ) -> Result<AutoPrunePolicy, Error> {
        let uuid = uuid.to_owned();
        if !self.autoprune_policies(scope).await?.iter().any(|p| p.uuid == uuid) {
            return Err(policy_not_found());
        }
        let valid = input.validated()?;
        let saved = valid.clone();
        let id = uuid.clone();
        self.db()
            .write(move |c| match q::autoprune_update(c, scope, &id, &fields(&saved))? {
                true => Ok(q::ensure_task(c, scope.namespace_id)?),
                false => Err(policy_not_found()),
            })
            .await?;
        Ok(AutoPrunePolicy::from(AutoPruneRow {
            uuid,
            repository_id: scope.repository_id,
            method: valid.0,
            value: valid.1,
            tag_pattern: valid.2,
            tag_pattern_matches: valid.3,
        }))
    }

    /// Deletes a policy of the scope.
    pub async fn delete_autoprune_policy(&self, scope: Scope, uuid: &str) -> Result<(), Error> {
        let uuid = uuid.to_owned();
        self.db()
            .write(move |c| match q::autoprune_delete(c, scope, &uuid)? {
                true => Ok(()),
                false => Err(policy_not_found()),
            })
            .await
    }

    /// Prunes the namespaces whose task last ran at least `min_interval_ms`
    /// ago (up to a batch); returns how many tags were pruned. A claimed
    /// task is marked in the database first, so replicas never prune one
    /// namespace at once.
    pub async fn run_autoprune_once(&self, min_interval_ms: i64) -> Result<usize, Error> {
        let mut pruned = 0;
        for _ in 0..BATCH {
            let now = crate::now_ms();
            let due_before = now.saturating_sub(min_interval_ms);
            let Some(namespace_id) = self
                .db()
                .write(move |c| Ok::<_, Error>(q::claim_task(c, now, due_before)?))
                .await?
            else {
                break;
            };
            let status = match self.prune_namespace(namespace_id).await {
                Ok(n) => {
                    pruned += n;
                    "success".to_owned()
                }
                Err(e) => {
                    tracing::warn!(error = %e, namespace_id, "auto-prune of a namespace failed");
                    format!("failure: {e}")
                }
            };
            self.db()
                .write(move |c| Ok::<_, Error>(q::finish_task(c, namespace_id, &status)?))
                .await?;
        }
        Ok(pruned)
    }

    /// Applies the namespace's policies (to every repository in the normal
    /// state) and each repository's own; drops the task when none is left.
    async fn prune_namespace(&self, namespace_id: i64) -> Result<usize, Error> {
        let (policies, repos) = self
            .db()
            .read(move |c| {
                Ok((
                    q::autoprune_of_namespace(c, namespace_id)?,
                    q::normal_repositories(c, namespace_id)?,
                ))
            })
            .await?;
        if policies.is_empty() {
            self.db()
                .write(move |c| Ok::<_, Error>(q::delete_task(c, namespace_id)?))
                .await?;
            return Ok(0);
        }
        let mut pruned = 0;
        for repo_id in repos {
            let applying: Vec<&AutoPruneRow> = policies
                .iter()
                .filter(|p| p.repository_id.is_none_or(|r| r == repo_id))
                .collect();
            if !applying.is_empty() {
                pruned += self.prune_repository(repo_id, &applying).await?;
            }
        }
        Ok(pruned)
    }

    /// Deletes the repository's tags its policies select.
    async fn prune_repository(&self, repo_id: i64, policies: &[&AutoPruneRow]) -> Result<usize, Error> {
        let now = crate::now_ms();
        let (view, tags) = self
            .db()
            .read(move |c| {
                Ok((
                    crate::db::queries::repositories::find_view_by_id(c, repo_id)?,
                    q::alive_tags_newest_first(c, repo_id, now)?,
                ))
            })
            .await?;
        let Some(view) = view else { return Ok(0) };
        let mut pruned = 0;
        for name in select_tags(&tags, policies, now) {
            let Ok(tag) = name.parse::<Tag>() else { continue };
            match self.delete_tag(&view, &tag).await {
                Ok(()) => {}
                Err(Error::TagImmutable(_) | Error::NotFound(_)) => continue,
                Err(e) => return Err(e),
            }
            pruned += 1;
            let metadata = json!({
                "performer": "autoprune worker",
                "namespace": view.namespace,
                "repo": view.name,
                "tag": name,
            });
            self.log_action(
                LogEntry::new("autoprune_tag_delete", None, None)
                    .repository(view.namespace_id, view.id)
                    .metadata(metadata),
            );
        }
        Ok(pruned)
    }
}

/// Whether a policy's pattern covers a tag (a search anywhere in the name,
/// as Quay's database regex); no pattern covers every tag, one that does
/// not compile none. The pattern is compiled once per policy.
fn covers(policy: &AutoPruneRow) -> impl Fn(&str) -> bool {
    let re = policy.tag_pattern.as_deref().map(Regex::new);
    let matches = policy.tag_pattern_matches;
    move |name| match &re {
        None => true,
        Some(Ok(re)) => re.is_match(name) == matches,
        Some(Err(_)) => false,
    }
}

/// The mutable tags the policies prune, from alive tags listed newest first
/// as (name, start, immutable): age policies first, then count policies
/// over the tags left.
fn select_tags(tags: &[(String, i64, bool)], policies: &[&AutoPruneRow], now: i64) -> Vec<String> {
    let mut gone = vec![false; tags.len()];
    for p in policies.iter().filter(|p| p.method == CREATION_DATE) {
        let Some(age) = age_ms(&p.value) else { continue };
        let covered_name = covers(p);
        for (i, (name, start, _)) in tags.iter().enumerate() {
            if now - start > age && covered_name(name) {
                gone[i] = true;
            }
        }
    }
    for p in policies.iter().filter(|p| p.method == NUMBER_OF_TAGS) {
        let Ok(keep) = p.value.parse::<usize>() else { continue };
        let covered_name = covers(p);
        let covered: Vec<usize> = (0..tags.len())
            .filter(|i| !gone[*i] && covered_name(&tags[*i].0))
            .collect();
        for i in covered.into_iter().skip(keep) {
            gone[i] = true;
        }
    }
    tags.iter()
        .zip(gone)
        .filter(|((_, _, immutable), gone)| *gone && !immutable)
        .map(|((name, _, _), _)| name.clone())
        .collect()
}
