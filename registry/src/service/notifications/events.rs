//! The events, their configs and payloads, and queueing them: repository
//! events ([`Registry::notify`]), pushes, and the sources a worker scans
//! (recorded quota events, tags about to expire).

use serde_json::{json, Value};

use super::{invalid, NotificationPolicy, MAX_FAILURES};
use diesel::QueryResult;

use crate::db::queries::notifications::{self as q, NotificationRow, SCOPE_NAMESPACE, SCOPE_REPOSITORY};
use crate::db::DbConn;
use crate::oci::RepoName;
use crate::service::{Error, Registry};

/// Every event a notification can subscribe to.
pub const EVENTS: [&str; 13] = [
    "repo_push",
    "build_queued",
    "build_start",
    "build_success",
    "build_failure",
    "build_cancelled",
    "vulnerability_found",
    "repo_mirror_sync_started",
    "repo_mirror_sync_success",
    "repo_mirror_sync_failed",
    "repo_image_expiry",
    "quota_warning",
    "quota_error",
];

const VULN_LEVELS: [&str; 6] = ["Critical", "High", "Medium", "Low", "Negligible", "Unknown"];

fn is_build(event: &str) -> bool {
    event.starts_with("build_")
}

/// Checks the event name and its config: `ref-regex` (a regex) for builds,
/// `level` (0–5 or a severity name) for vulnerabilities, `days` (≥ 1) for
/// image expiry.
pub(super) fn validate_event(event: &str, config: &Value) -> Result<(), Error> {
    if !EVENTS.contains(&event) {
        return Err(invalid(format!(
            "Unknown notification event '{event}'; expected one of: {}",
            EVENTS.join(", ")
        )));
    }
    if !config.is_object() {
        return Err(invalid("'eventConfig' must be an object"));
    }
    match event {
        e if is_build(e) => match config.get("ref-regex") {
            None | Some(Value::Null) => Ok(()),
            Some(Value::String(r)) => regex::Regex::new(r)
                .map(drop)
                .map_err(|e| invalid(format!("Invalid 'ref-regex': {e}"))),
            Some(_) => Err(invalid("'ref-regex' must be a string")),
        },
        "vulnerability_found" => vuln_level(config.get("level"))
            .map(drop)
            .ok_or_else(|| invalid("'level' must be 0-5 or one of Critical, High, Medium, Low, Negligible, Unknown")),
        "repo_image_expiry" => expiry_days(config)
            .map(drop)
            .ok_or_else(|| invalid("'days' must be a whole number of days, at least 1")),
        _ => Ok(()),
    }
}

fn vuln_level(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n.as_u64().filter(|n| *n <= 5),
        Value::String(s) => s.parse::<u64>().ok().filter(|n| *n <= 5).or_else(|| {
            VULN_LEVELS
                .iter()
                .position(|l| l.eq_ignore_ascii_case(s))
                .map(|p| p as u64)
        }),
        _ => None,
    }
}

fn expiry_days(config: &Value) -> Option<i64> {
    let days = config.get("days")?;
    days.as_i64()
        .or_else(|| days.as_str().and_then(|s| s.trim().parse().ok()))
        .filter(|d| (1..=3650).contains(d))
}

/// Whether event data passes the notification's event config.
fn matches(row: &NotificationRow, data: &Value) -> bool {
    let config: Value = serde_json::from_str(&row.event_config_json).unwrap_or(Value::Null);
    match row.event.as_str() {
        e if is_build(e) => match config
            .get("ref-regex")
            .and_then(Value::as_str)
            .filter(|r| !r.is_empty())
        {
            None => true,
            Some(r) => ref_matches(r, data),
        },
        "vulnerability_found" => {
            let wanted = vuln_level(config.get("level")).unwrap_or(5);
            let found = data
                .pointer("/vulnerability/priority")
                .and_then(|p| vuln_level(Some(p)))
                .unwrap_or(5);
            found <= wanted
        }
        _ => true,
    }
}

/// Quay's `ref-regex` filter of build events: a build without a git ref
/// (a manual build) never matches, and the expression must match at the
/// start of the ref (Python's `re.match`); an invalid one matches nothing.
fn ref_matches(regex: &str, data: &Value) -> bool {
    let Some(git_ref) = data.pointer("/trigger_metadata/ref").and_then(Value::as_str) else {
        return false;
    };
    regex::Regex::new(&format!("^(?:{regex})")).is_ok_and(|re| re.is_match(git_ref))
}

/// The base payload (`repository, namespace, name, docker_url, homepage`)
/// with the event's fields.
pub(super) fn payload(policy: &NotificationPolicy, namespace: &str, name: &str, fields: Value) -> Value {
    let mut base = json!({
        "repository": format!("{namespace}/{name}"),
        "namespace": namespace,
        "name": name,
        "docker_url": format!("{}/{namespace}/{name}", policy.server_hostname),
        "homepage": format!("{}://{}/repository/{namespace}/{name}", policy.url_scheme, policy.server_hostname),
    });
    if let (Some(b), Value::Object(extra)) = (base.as_object_mut(), fields) {
        b.extend(extra);
    }
    base
}

/// The quota events of `kind` recorded in a namespace since a
/// notification was made (Quay's quota warnings and errors).
pub(super) struct RecordedQuotaEvents<'a> {
    pub namespace_id: i64,
    pub kind: &'a str,
    pub since: i64,
}

impl RecordedQuotaEvents<'_> {
    /// Queues each event not yet sent as a delivery of the notification
    /// `(scope, id)`, its payload made by `base` from the event's fields;
    /// how many were queued.
    pub(super) fn queue(
        &self,
        c: &mut DbConn,
        (scope, id): (&str, i64),
        base: impl Fn(Value) -> Value,
    ) -> QueryResult<usize> {
        // Namespace notifications' sent keys carry their scope, so they
        // never meet a repository notification's of the same id.
        let key_prefix = match scope {
            SCOPE_NAMESPACE => format!("{SCOPE_NAMESPACE}:"),
            _ => String::new(),
        };
        let now = crate::now_ms();
        let mut queued = 0;
        for (event_id, used, limit, at) in q::quota_events_since(c, self.namespace_id, self.kind, self.since)? {
            if !q::mark_sent(c, id, &format!("{key_prefix}quotaevent:{event_id}"), now)? {
                continue;
            }
            let percent = if limit > 0 { used.saturating_mul(100) / limit } else { 0 };
            let fields =
                json!({"usage_bytes": used, "limit_bytes": limit, "quota_percent": percent, "event_time_ms": at});
            q::enqueue_in(c, scope, id, &base(fields).to_string(), now)?;
            queued += 1;
        }
        Ok(queued)
    }
}

/// The event-specific fields of a sample event (`…/notification/{uuid}/test`).
pub fn sample_data(event: &str) -> Value {
    let build = |extra: Value| {
        let mut b = json!({
            "build_id": "296ec063-5f86-4706-a469-f0a400bf9df2",
            "build_name": "some-fake-build",
            "docker_tags": ["latest", "foo", "bar"],
            "trigger_id": "1245634",
            "trigger_kind": "GitHub",
            "trigger_metadata": {"default_branch": "master", "ref": "refs/heads/somebranch", "commit": "42d4a62c53350993ea41069e9f2cfdefb0df097d"},
        });
        if let (Some(b), Value::Object(e)) = (b.as_object_mut(), extra) {
            b.extend(e);
        }
        b
    };
    match event {
        "repo_push" => json!({"updated_tags": ["latest", "foo"]}),
        "build_queued" | "build_start" | "build_success" | "build_cancelled" => build(json!({})),
        "build_failure" => build(json!({"error_message": "This is a fake error message"})),
        "vulnerability_found" => json!({
            "tags": ["latest", "prod"],
            "vulnerability": {"id": "CVE-FAKE-CVE", "description": "A futurist vulnerability", "link": "https://security-tracker.debian.org/tracker/CVE-FAKE-CVE", "priority": "Critical", "has_fix": true},
        }),
        "repo_mirror_sync_failed" => json!({"message": "TEST NOTIFICATION", "tags": ["latest"]}),
        e if e.starts_with("repo_mirror_sync") => json!({"message": "TEST NOTIFICATION", "tags": ["latest"]}),
        "repo_image_expiry" => json!({"tags": ["latest", "v1"], "expiring_in": "7 days"}),
        "quota_warning" | "quota_error" => json!({"usage_bytes": 900, "limit_bytes": 1000, "quota_percent": 90}),
        _ => json!({}),
    }
}

/// A one-line description of an event for chat and mail methods.
pub(super) fn summary(event: &str, data: &Value) -> String {
    let repo = data["repository"].as_str().unwrap_or_default();
    let list = |field: &str| {
        data[field]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "))
            .unwrap_or_default()
    };
    let build = data["build_id"].as_str().unwrap_or_default();
    match event {
        "repo_push" => format!("Repository {repo} has been pushed with tags: {}", list("updated_tags")),
        "build_queued" => format!("Build {build} of {repo} has been queued"),
        "build_start" => format!("Build {build} of {repo} has started"),
        "build_success" => format!("Build {build} of {repo} has completed"),
        "build_failure" => format!(
            "Build {build} of {repo} has failed: {}",
            data["error_message"].as_str().unwrap_or("")
        ),
        "build_cancelled" => format!("Build {build} of {repo} was cancelled"),
        "vulnerability_found" => format!(
            "A {} vulnerability {} was found in {repo}",
            data.pointer("/vulnerability/priority")
                .and_then(Value::as_str)
                .unwrap_or("new"),
            data.pointer("/vulnerability/id")
                .and_then(Value::as_str)
                .unwrap_or_default()
        ),
        "repo_mirror_sync_started" => format!("Mirror of {repo} started syncing"),
        "repo_mirror_sync_success" => format!("Mirror of {repo} synced"),
        "repo_mirror_sync_failed" => format!(
            "Mirror of {repo} failed to sync: {}",
            data["message"].as_str().unwrap_or("")
        ),
        "repo_image_expiry" => format!(
            "Tags {} of {repo} expire in {}",
            list("tags"),
            data["expiring_in"].as_str().unwrap_or("")
        ),
        "quota_warning" => format!(
            "Namespace {} crossed its quota warning limit",
            data["namespace"].as_str().unwrap_or("")
        ),
        "quota_error" => format!(
            "Namespace {} reached its quota limit; pushes are refused",
            data["namespace"].as_str().unwrap_or("")
        ),
        other => format!("{other} on {repo}"),
    }
}

impl Registry {
    /// Queues `event` with these fields for every notification of the
    /// repository that subscribes to it and still fires; returns how many.
    /// Builds, mirrors and scanners call this with their payload fields.
    pub async fn notify(&self, repo_id: i64, event: &'static str, fields: Value) -> Result<usize, Error> {
        // A read first: most repositories have no notifications, and pushes
        // should not queue for the (SQLite: single) writer for nothing.
        let found = self
            .db()
            .read(move |c| {
                let rows = q::active_for(c, repo_id, event, MAX_FAILURES)?;
                if rows.is_empty() {
                    return Ok(None);
                }
                Ok(q::repository_names(c, repo_id)?.map(|names| (rows, names)))
            })
            .await?;
        let Some((rows, (ns, name))) = found else { return Ok(0) };
        let mut data = payload(&self.settings().notifications, &ns, &name, fields);
        // Quay links build events to the build's page.
        if let (true, Some(build)) = (is_build(event), data["build_id"].as_str().map(str::to_owned)) {
            let page = format!("{}/build/{build}", data["homepage"].as_str().unwrap_or_default());
            data["homepage"] = json!(page);
        }
        let ids: Vec<i64> = rows.iter().filter(|r| matches(r, &data)).map(|r| r.id).collect();
        let text = data.to_string();
        self.db()
            .write(move |c| {
                let now = crate::now_ms();
                for id in &ids {
                    q::enqueue(c, *id, &text, now)?;
                }
                Ok::<_, Error>(ids.len())
            })
            .await
    }

    /// `repo_push` after a tag push; a failure is logged, never the push's.
    pub(crate) async fn notify_push(&self, repo: &RepoName, repo_id: i64, tag: &str) {
        let fields = json!({"updated_tags": [tag]});
        if let Err(e) = self.notify(repo_id, "repo_push", fields).await {
            tracing::warn!(error = %e, repository = %repo, "could not queue repo_push notifications");
        }
    }

    /// Turns new recorded quota events and tags about to expire into
    /// deliveries, each once per notification; returns how many were queued.
    pub async fn scan_notification_sources(&self) -> Result<usize, Error> {
        Ok(self.queue_quota_events().await?
            + self.queue_namespace_quota_events().await?
            + self.queue_image_expiry().await?)
    }

    async fn queue_quota_events(&self) -> Result<usize, Error> {
        let rows = self
            .db()
            .read(|c| {
                let mut rows = q::active_everywhere(c, "quota_warning", MAX_FAILURES)?;
                rows.extend(q::active_everywhere(c, "quota_error", MAX_FAILURES)?);
                Ok(rows)
            })
            .await?;
        // Most registries have none, and this runs every scan: no write then.
        if rows.is_empty() {
            return Ok(0);
        }
        let policy = self.settings().notifications.clone();
        self.db()
            .write(move |c| {
                let mut queued = 0;
                for (row, ns_id) in rows {
                    let Some((ns, name)) = q::repository_names(c, row.repository_id)? else {
                        continue;
                    };
                    let source = RecordedQuotaEvents {
                        namespace_id: ns_id,
                        kind: &row.event,
                        since: row.created_ms,
                    };
                    queued += source.queue(c, (SCOPE_REPOSITORY, row.id), |fields| {
                        payload(&policy, &ns, &name, fields)
                    })?;
                }
                Ok::<_, Error>(queued)
            })
            .await
    }

    async fn queue_image_expiry(&self) -> Result<usize, Error> {
        let rows = self
            .db()
            .read(|c| Ok(q::active_everywhere(c, "repo_image_expiry", MAX_FAILURES)?))
            .await?;
        let days = |r: &NotificationRow| {
            serde_json::from_str::<Value>(&r.event_config_json)
                .ok()
                .and_then(|v| expiry_days(&v))
                .unwrap_or(7)
        };
        let Some(widest) = rows.iter().map(|(r, _)| days(r)).max() else {
            return Ok(0);
        };
        let expiring = self.tags_expiring_within(widest).await?;
        let now = crate::now_ms();
        let mut planned = Vec::new();
        for (row, _) in &rows {
            let until = now.saturating_add(days(row).saturating_mul(86_400_000));
            let tags: Vec<(String, i64)> = expiring
                .iter()
                .filter(|(repo, _, end)| *repo == row.repository_id && *end <= until)
                .map(|(_, tag, end)| (tag.clone(), *end))
                .collect();
            if !tags.is_empty() {
                planned.push((row.clone(), days(row), tags));
            }
        }
        let policy = self.settings().notifications.clone();
        self.db()
            .write(move |c| {
                let mut queued = 0;
                for (row, days, tags) in planned {
                    let mut fresh = Vec::new();
                    for (tag, end) in tags {
                        if q::mark_sent(c, row.id, &format!("tag:{tag}:{end}"), now)? {
                            fresh.push(tag);
                        }
                    }
                    let Some((ns, name)) = q::repository_names(c, row.repository_id)? else {
                        continue;
                    };
                    if fresh.is_empty() {
                        continue;
                    }
                    let fields = json!({"tags": fresh, "expiring_in": format!("{days} days")});
                    q::enqueue(c, row.id, &payload(&policy, &ns, &name, fields).to_string(), now)?;
                    queued += 1;
                }
                Ok::<_, Error>(queued)
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::ref_matches;

    #[test]
    fn ref_regex_matches_from_the_start_of_the_ref_as_pythons_re_match() {
        let data = |r: &str| json!({"trigger_metadata": {"ref": r}});
        assert!(ref_matches("refs/heads/main", &data("refs/heads/main")));
        assert!(ref_matches("refs/heads/.*", &data("refs/heads/feature/x")));
        assert!(
            ref_matches("refs/heads/m", &data("refs/heads/main")),
            "a prefix is enough"
        );
        assert!(
            !ref_matches("heads/main", &data("refs/heads/main")),
            "anchored at the start"
        );
        assert!(!ref_matches("refs/tags/.*|refs/heads/rel", &data("x/refs/heads/rel")));
        assert!(ref_matches("refs/tags/.*|refs/heads/rel", &data("refs/heads/release")));
        assert!(
            !ref_matches("refs/(", &data("refs/heads/main")),
            "an invalid regex matches nothing"
        );
    }

    #[test]
    fn a_build_without_a_git_ref_never_matches_a_ref_regex() {
        assert!(!ref_matches(".*", &json!({"trigger_metadata": {}})));
        assert!(!ref_matches(".*", &json!({"build_id": "x"})));
    }
}
