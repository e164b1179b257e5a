//! Sending queued deliveries. A pass claims due rows (a lease, so another
//! replica skips them), sends each without holding a transaction, then
//! records the outcome: success deletes the row and zeroes the failure
//! counter; a failure counts, and the row is retried with backoff until the
//! notification reaches [`MAX_FAILURES`] consecutive failures.

use std::time::Duration;

use serde_json::{json, Value};

use super::events::summary;
use super::ssrf::check_url;
use super::{NotificationPolicy, MAX_FAILURES};
use crate::db::queries::notifications::{self as q, NotificationRow, QueueRow};
use crate::db::queries::{accounts, namespace_notifications as nq};
use crate::service::mail::Mail;
use crate::service::{Error, Registry};

/// Rows one pass claims at most.
const BATCH: i64 = 50;
/// How long a claimed row stays invisible to other workers.
const LEASE_MS: i64 = 5 * 60 * 1000;
/// First retry delay; doubled per attempt, capped at [`MAX_BACKOFF_MS`].
const FIRST_BACKOFF_MS: i64 = 10_000;
const MAX_BACKOFF_MS: i64 = 10 * 60 * 1000;

/// What one delivery pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    pub delivered: usize,
    pub failed: usize,
    /// Rows dropped because their notification is gone or stopped.
    pub dropped: usize,
}

/// What a notification belongs to: a repository or a namespace (by id).
#[derive(Debug, Clone, Copy)]
pub(super) enum Owner {
    Repository(i64),
    Namespace(i64),
}

fn backoff_ms(attempts: i32) -> i64 {
    FIRST_BACKOFF_MS
        .saturating_mul(1_i64 << attempts.clamp(0, 16))
        .min(MAX_BACKOFF_MS)
}

impl Registry {
    /// Scans the event sources and sends what is due now.
    pub async fn deliver_notifications_once(&self) -> Result<DeliveryReport, Error> {
        self.scan_notification_sources().await?;
        self.deliver_notifications_at(crate::now_ms()).await
    }

    /// Sends the deliveries due at `now` (tests pass a later time to reach
    /// retries without waiting for their backoff).
    pub async fn deliver_notifications_at(&self, now: i64) -> Result<DeliveryReport, Error> {
        let claimed = self
            .db()
            .write(move |c| Ok::<_, Error>(q::claim_due(c, now, LEASE_MS, BATCH)?))
            .await?;
        let mut report = DeliveryReport::default();
        for row in claimed {
            let notification = self.queued_notification(&row).await?;
            match notification {
                Some((n, owner)) if n.number_of_failures < MAX_FAILURES => {
                    let outcome = self.send(&n, owner, &row.event_data).await;
                    self.record_outcome(&n, owner, &row, now, outcome.as_ref().err())
                        .await?;
                    match outcome {
                        Ok(()) => report.delivered += 1,
                        Err(e) => {
                            tracing::info!(notification = %n.uuid, method = %n.method, error = %e, "notification delivery failed");
                            report.failed += 1;
                        }
                    }
                }
                _ => {
                    let queue_id = row.id;
                    self.db()
                        .write(move |c| Ok::<_, Error>(q::finish(c, queue_id)?))
                        .await?;
                    report.dropped += 1;
                }
            }
        }
        Ok(report)
    }

    /// The notification a queued delivery is for, by the row's scope.
    async fn queued_notification(&self, row: &QueueRow) -> Result<Option<(NotificationRow, Owner)>, Error> {
        let id = row.notification_id;
        if row.scope == q::SCOPE_NAMESPACE {
            let found = self.db().read(move |c| Ok(nq::find_by_id(c, id)?)).await?;
            return Ok(found.map(|r| (super::namespace::as_delivery(&r), Owner::Namespace(r.namespace_id))));
        }
        let found = self.db().read(move |c| Ok(q::find_by_id(c, id)?)).await?;
        Ok(found.map(|n| {
            let owner = Owner::Repository(n.repository_id);
            (n, owner)
        }))
    }

    async fn record_outcome(
        &self,
        n: &NotificationRow,
        owner: Owner,
        row: &QueueRow,
        now: i64,
        error: Option<&String>,
    ) -> Result<(), Error> {
        let (id, queue_id, attempts) = (n.id, row.id, row.attempts + 1);
        let failures = if error.is_some() { n.number_of_failures + 1 } else { 0 };
        self.db()
            .write(move |c| {
                match owner {
                    Owner::Repository(_) => q::set_failures(c, id, failures, Some(now))?,
                    Owner::Namespace(_) => nq::set_failures(c, id, failures, Some(now))?,
                }
                if failures == 0 || failures >= MAX_FAILURES {
                    q::finish(c, queue_id)?;
                } else {
                    q::retry_later(c, queue_id, attempts, now.saturating_add(backoff_ms(attempts - 1)))?;
                }
                Ok::<_, Error>(())
            })
            .await
    }

    async fn send(&self, n: &NotificationRow, owner: Owner, event_data: &str) -> Result<(), String> {
        let policy = &self.settings().notifications;
        let data: Value = serde_json::from_str(event_data).map_err(|e| format!("bad event data: {e}"))?;
        let config: Value = serde_json::from_str(&n.config_json).map_err(|e| format!("bad config: {e}"))?;
        let text = config_str(&config, "url");
        let message = summary(&n.event, &data);
        let title = n.title.clone().unwrap_or_else(|| message.clone());
        match n.method.as_str() {
            "webhook" => {
                let body = match config
                    .get("template")
                    .and_then(Value::as_str)
                    .filter(|t| !t.trim().is_empty())
                {
                    Some(t) => render_template(t, &data)?,
                    None => data.clone(),
                };
                let identity = if text.to_ascii_lowercase().starts_with("https:") {
                    let id = self.notification_client_identity().await.map_err(|e| e.to_string())?;
                    Some(reqwest::Identity::from_pem(id.identity_pem().as_bytes()).map_err(|e| e.to_string())?)
                } else {
                    None
                };
                post_checked(policy, &text, &body, identity).await
            }
            "slack" => {
                let body = json!({
                    "text": message,
                    "username": "quay",
                    "attachments": [{
                        "fallback": message,
                        "title": data["repository"],
                        "title_link": data["homepage"],
                        "text": message,
                        "color": color(&n.event),
                    }],
                });
                post_checked(policy, &text, &body, None).await
            }
            "flowdock" => {
                let url = format!("{}{}", policy.flowdock_api, config_str(&config, "flow_api_token"));
                let body = json!({
                    "source": "Quay",
                    "from_address": "support@quay.io",
                    "subject": title,
                    "content": message,
                    "from_name": data["namespace"],
                    "project": data["repository"].as_str().unwrap_or_default().replace(['/', '.'], " "),
                    "tags": [format!("#{}", n.event)],
                    "link": data["homepage"],
                });
                post(policy, &url, &body, None, None).await
            }
            "hipchat" => {
                let room = match &config["room_id"] {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                // Room and token are escaped, so neither can change the request.
                let mut url = url::Url::parse(&policy.hipchat_api).map_err(|e| format!("hipchat API URL: {e}"))?;
                url.path_segments_mut()
                    .map_err(|()| "hipchat API URL cannot take a path")?
                    .pop_if_empty()
                    .extend([room.as_str(), "notification"]);
                url.query_pairs_mut()
                    .append_pair("auth_token", &config_str(&config, "notification_token"));
                let url = url.to_string();
                let body = json!({"color": color(&n.event), "message": message, "notify": n.event.ends_with("failure") || n.event == "quota_error", "message_format": "text"});
                post(policy, &url, &body, None, None).await
            }
            "email" => {
                let mailer = policy.mailer.as_ref().ok_or("mailing is not configured")?;
                let to = config_str(&config, "email");
                let body = format!(
                    "{message}\n\n{}\n",
                    serde_json::to_string_pretty(&data).unwrap_or_default()
                );
                mailer
                    .send(&Mail {
                        to,
                        subject: title,
                        body,
                    })
                    .await
                    .map_err(|e| e.to_string())
            }
            "quay_notification" => self.deliver_to_inbox(n, owner, &config, &data).await,
            other => Err(format!("unknown method {other}")),
        }
    }

    /// Writes the event into the inbox of each target account.
    async fn deliver_to_inbox(
        &self,
        n: &NotificationRow,
        owner: Owner,
        config: &Value,
        data: &Value,
    ) -> Result<(), String> {
        let target = config.get("target").cloned().unwrap_or_default();
        let (event, metadata) = (n.event.clone(), data.to_string());
        self.db()
            .write(move |c| {
                let namespace = match owner {
                    Owner::Repository(repo_id) => q::namespace(c, repo_id)?,
                    Owner::Namespace(ns_id) => {
                        accounts::find_by_id(c, ns_id)?.map(|a| (a.id, a.username, a.organization))
                    }
                };
                let (ns_id, ns_name, ns_is_org) =
                    namespace.ok_or_else(|| Error::NotFound("the repository or namespace is gone".into()))?;
                let targets = super::resolve_inbox_targets(c, (ns_id, &ns_name, ns_is_org), &target)?
                    .map_err(Error::InvalidRequest)?;
                if targets.is_empty() {
                    return Err(Error::InvalidRequest("the notification target has no members".into()));
                }
                let now = crate::now_ms();
                for target in &targets {
                    q::insert_inbox(c, *target, &event, &metadata, now)?;
                }
                Ok(())
            })
            .await
            .map_err(|e: Error| e.to_string())
    }
}

fn config_str(config: &Value, field: &str) -> String {
    config[field].as_str().unwrap_or_default().trim().to_owned()
}

fn color(event: &str) -> &'static str {
    match event {
        "build_failure" | "quota_error" | "repo_mirror_sync_failed" | "vulnerability_found" => "red",
        "quota_warning" | "repo_image_expiry" | "build_cancelled" => "yellow",
        _ => "green",
    }
}

/// Applies a webhook template: every `${path.to.field}` in the template's
/// strings is replaced by that field of the event (a whole-string
/// placeholder keeps the field's JSON type).
fn render_template(template: &str, data: &Value) -> Result<Value, String> {
    fn lookup<'a>(data: &'a Value, path: &str) -> Option<&'a Value> {
        path.split('.').try_fold(data, |v, key| match v {
            Value::Array(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)),
            other => other.get(key),
        })
    }
    fn fill(v: &Value, data: &Value) -> Value {
        match v {
            Value::String(s) => {
                if let Some(path) = s.strip_prefix("${").and_then(|r| r.strip_suffix('}')) {
                    if !path.contains("${") {
                        return lookup(data, path).cloned().unwrap_or(Value::Null);
                    }
                }
                let mut out = String::new();
                let mut rest = s.as_str();
                while let Some(start) = rest.find("${") {
                    out.push_str(&rest[..start]);
                    let after = &rest[start + 2..];
                    let Some(end) = after.find('}') else {
                        out.push_str(&rest[start..]);
                        rest = "";
                        break;
                    };
                    match lookup(data, &after[..end]) {
                        Some(Value::String(t)) => out.push_str(t),
                        Some(other) => out.push_str(&other.to_string()),
                        None => {}
                    }
                    rest = &after[end + 1..];
                }
                out.push_str(rest);
                Value::String(out)
            }
            Value::Array(items) => Value::Array(items.iter().map(|i| fill(i, data)).collect()),
            Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), fill(v, data))).collect()),
            other => other.clone(),
        }
    }
    let parsed: Value = serde_json::from_str(template).map_err(|e| format!("bad template: {e}"))?;
    Ok(fill(&parsed, data))
}

/// POSTs to a user-given URL after the SSRF check, connecting only to the
/// addresses the check approved.
pub(in crate::service) async fn post_checked(
    policy: &NotificationPolicy,
    url: &str,
    body: &Value,
    identity: Option<reqwest::Identity>,
) -> Result<(), String> {
    let checked = check_url(&policy.ssrf, url).await?;
    let pin = checked.addrs.first().map(|a| (checked.host.clone(), *a));
    post(policy, checked.url.as_str(), body, pin, identity).await
}

async fn post(
    policy: &NotificationPolicy,
    url: &str,
    body: &Value,
    pin: Option<(String, std::net::SocketAddr)>,
    identity: Option<reqwest::Identity>,
) -> Result<(), String> {
    let mut builder = reqwest::Client::builder()
        .timeout(policy.timeout)
        .connect_timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("registry/", env!("CARGO_PKG_VERSION")));
    if let Some((host, addr)) = pin {
        builder = builder.resolve(&host, addr);
    }
    if let Some(identity) = identity {
        builder = builder.identity(identity);
    }
    for root in &policy.extra_roots {
        builder = builder.add_root_certificate(root.clone());
    }
    let client = builder.build().map_err(|e| e.to_string())?;
    let res = client.post(url).json(body).send().await.map_err(|e| {
        if e.is_timeout() {
            format!("timed out after {:?}", policy.timeout)
        } else {
            e.to_string()
        }
    })?;
    if res.status().is_success() {
        Ok(())
    } else {
        Err(format!("{url} answered {}", res.status()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_fields_and_keep_types() {
        let data = json!({"repository": "a/b", "updated_tags": ["latest", "v1"]});
        let out = render_template(
            r#"{"text": "pushed ${repository}: ${updated_tags.0}", "tags": "${updated_tags}"}"#,
            &data,
        )
        .expect("renders");
        assert_eq!(out, json!({"text": "pushed a/b: latest", "tags": ["latest", "v1"]}));
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff_ms(0), 10_000);
        assert_eq!(backoff_ms(1), 20_000);
        assert_eq!(backoff_ms(20), MAX_BACKOFF_MS);
    }
}
