//! Repository notifications (quay-api.md §1.11): an event of a repository
//! (`repo_push`, `quota_warning` …) delivered by a method (`webhook`,
//! `email`, `slack`, `quay_notification` …).
//!
//! Events queue one row per matching notification in `notificationqueue`
//! ([`events`]); a worker claims due rows and sends them ([`delivery`]),
//! retrying with backoff. After [`MAX_FAILURES`] consecutive failures a
//! notification stops firing until an admin resets it.

mod client_cert;
mod delivery;
mod emails;
mod events;
mod namespace;
mod ssrf;

use std::time::Duration;

use serde_json::Value;

use super::mail::Mailer;
use super::{Error, Registry};
use crate::config::Config;
use crate::db::models::Account;
use crate::db::queries::notifications::{self as q, NotificationRow};
use crate::db::queries::repositories::RepositoryView;
use crate::db::queries::{accounts as aq, teams as tq};
use crate::db::DbConn;
use diesel::QueryResult;

pub use client_cert::ClientIdentity;
pub(super) use delivery::post_checked;
pub use delivery::DeliveryReport;
pub use events::{sample_data, EVENTS};
pub use namespace::NAMESPACE_EVENTS;
pub use ssrf::{check_host_literal, check_url, check_url_form, guard_client, SsrfPolicy};

/// Consecutive failures after which a notification stops firing.
pub const MAX_FAILURES: i32 = 3;

/// The delivery methods.
pub const METHODS: [&str; 6] = ["quay_notification", "email", "webhook", "slack", "flowdock", "hipchat"];

const FLOWDOCK_API: &str = "https://api.flowdock.com/v1/messages/team_inbox/";
const HIPCHAT_API: &str = "https://api.hipchat.com/v2/room/";

/// Notification settings from `config.yaml`.
#[derive(Debug, Clone)]
pub struct NotificationPolicy {
    /// `SERVER_HOSTNAME`, for `docker_url` and `homepage` in payloads.
    pub server_hostname: String,
    /// `PREFERRED_URL_SCHEME`.
    pub url_scheme: String,
    /// Hosts webhooks may reach although they resolve to private addresses.
    pub ssrf: SsrfPolicy,
    pub mailer: Option<Mailer>,
    /// `NOTIFICATION_SEND_TIMEOUT` (seconds, default 10).
    pub timeout: Duration,
    /// Flowdock's team-inbox endpoint, followed by the flow token
    /// (`NOTIFICATION_FLOWDOCK_API_URL`, for tests and proxies).
    pub flowdock_api: String,
    /// HipChat's room endpoint, followed by `{room_id}/notification`
    /// (`NOTIFICATION_HIPCHAT_API_URL`).
    pub hipchat_api: String,
    /// Extra roots trusted for HTTPS receivers besides the built-in ones
    /// (`NOTIFICATION_CA_BUNDLE`, a PEM file).
    pub extra_roots: Vec<reqwest::Certificate>,
    /// Namespace quota notifications and their API (`FEATURE_QUOTA_NOTIFICATIONS`).
    pub namespace_notifications: bool,
}

impl Default for NotificationPolicy {
    fn default() -> Self {
        NotificationPolicy {
            server_hostname: "localhost:8080".into(),
            url_scheme: "http".into(),
            ssrf: SsrfPolicy::default(),
            mailer: None,
            timeout: Duration::from_secs(10),
            flowdock_api: FLOWDOCK_API.into(),
            hipchat_api: HIPCHAT_API.into(),
            extra_roots: Vec::new(),
            namespace_notifications: false,
        }
    }
}

impl NotificationPolicy {
    pub fn from_config(config: &Config) -> NotificationPolicy {
        let text = |key: &str, default: &str| config.text_or(key, default);
        let allowed = match config.other.get("SSRF_ALLOWED_HOSTS") {
            Some(serde_yaml::Value::Sequence(items)) => {
                items.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect()
            }
            _ => Vec::new(),
        };
        NotificationPolicy {
            namespace_notifications: config.feature("QUOTA_NOTIFICATIONS", false),
            server_hostname: config
                .server_hostname
                .clone()
                .unwrap_or_else(|| "localhost:8080".into()),
            url_scheme: config.preferred_url_scheme.clone(),
            ssrf: SsrfPolicy { allowed_hosts: allowed },
            mailer: Mailer::from_config(config),
            timeout: Duration::from_secs(
                config
                    .other
                    .get("NOTIFICATION_SEND_TIMEOUT")
                    .and_then(serde_yaml::Value::as_u64)
                    .unwrap_or(10)
                    .max(1),
            ),
            flowdock_api: text("NOTIFICATION_FLOWDOCK_API_URL", FLOWDOCK_API),
            hipchat_api: text("NOTIFICATION_HIPCHAT_API_URL", HIPCHAT_API),
            extra_roots: extra_roots(config),
        }
    }
}

/// The certificates of `NOTIFICATION_CA_BUNDLE`; an unreadable bundle is
/// logged and trusts nothing extra.
fn extra_roots(config: &Config) -> Vec<reqwest::Certificate> {
    let Some(path) = config
        .other
        .get("NOTIFICATION_CA_BUNDLE")
        .and_then(serde_yaml::Value::as_str)
    else {
        return Vec::new();
    };
    match std::fs::read(path)
        .map_err(|e| e.to_string())
        .and_then(|pem| reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| e.to_string()))
    {
        Ok(roots) => roots,
        Err(e) => {
            tracing::error!(path, error = %e, "NOTIFICATION_CA_BUNDLE is unusable");
            Vec::new()
        }
    }
}

/// A notification as the API shows it.
#[derive(Debug, Clone)]
pub struct Notification {
    pub uuid: String,
    pub title: Option<String>,
    pub event: String,
    pub method: String,
    pub config: Value,
    pub event_config: Value,
    pub number_of_failures: i32,
}

impl From<NotificationRow> for Notification {
    fn from(r: NotificationRow) -> Notification {
        Notification {
            uuid: r.uuid,
            title: r.title,
            event: r.event,
            method: r.method,
            config: serde_json::from_str(&r.config_json).unwrap_or(Value::Null),
            event_config: serde_json::from_str(&r.event_config_json).unwrap_or(Value::Null),
            number_of_failures: r.number_of_failures,
        }
    }
}

/// What `POST …/notification/` asks for.
#[derive(Debug, Clone)]
pub struct NewNotification {
    pub event: String,
    pub method: String,
    pub config: Value,
    pub event_config: Value,
    pub title: Option<String>,
}

/// One entry of a user's inbox (`/api/v1/user/notifications`).
#[derive(Debug, Clone)]
pub struct InboxEntry {
    pub id: String,
    pub kind: String,
    pub created_ms: i64,
    pub metadata: Value,
    pub dismissed: bool,
}

impl From<q::InboxRow> for InboxEntry {
    fn from(r: q::InboxRow) -> InboxEntry {
        InboxEntry {
            id: r.uuid,
            kind: r.kind,
            created_ms: r.created_ms,
            metadata: serde_json::from_str(&r.metadata_json).unwrap_or(Value::Null),
            dismissed: r.dismissed,
        }
    }
}

/// An address allowed to receive a repository's notifications by email.
#[derive(Debug, Clone)]
pub struct AuthorizedEmail {
    pub email: String,
    pub confirmed: bool,
}

/// The accounts a `quay_notification` target delivers to: the user, the
/// admins of the repository's organization, or the team's members (robots
/// have no inbox). `ns` is the repository's namespace (id, name, is an
/// organization). The inner error says why the target does not resolve; the
/// same rules hold when a notification is created and when it is delivered.
pub(super) fn resolve_inbox_targets(
    c: &mut DbConn,
    (ns_id, ns_name, ns_is_org): (i64, &str, bool),
    target: &Value,
) -> QueryResult<Result<Vec<i64>, String>> {
    let field = |f: &str| target.get(f).and_then(Value::as_str).unwrap_or_default();
    let (kind, name) = (field("kind"), field("name"));
    Ok(match kind {
        "user" => match aq::find(c, name)? {
            Some(a) if !a.organization && !a.robot => Ok(vec![a.id]),
            _ => Err(format!("Unknown user '{name}'")),
        },
        "org" if ns_is_org && name == ns_name => Ok(tq::admin_user_ids(c, ns_id)?),
        "org" => Err(format!(
            "The target organization must be the repository's namespace '{ns_name}'"
        )),
        "team" if ns_is_org => match tq::find(c, ns_id, name)? {
            Some(t) => Ok(tq::members(c, t.id)?
                .iter()
                .filter(|a| !a.robot)
                .map(|a| a.id)
                .collect()),
            None => Err(format!("Unknown team '{name}' in organization '{ns_name}'")),
        },
        "team" => Err("Team targets need a repository of an organization".to_owned()),
        other => Err(format!("Unknown target kind '{other}'; expected user, team or org")),
    })
}

fn invalid(message: impl Into<String>) -> Error {
    Error::InvalidRequest(message.into())
}

fn unknown_notification(uuid: &str) -> Error {
    invalid(format!("No repository notification found with uuid {uuid}"))
}

/// A non-empty string field of a method config.
fn required_text<'a>(config: &'a Value, field: &str, method: &str) -> Result<&'a str, Error> {
    config
        .get(field)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| invalid(format!("Missing or empty '{field}' in the {method} method config")))
}

impl Registry {
    fn notification_policy(&self) -> &NotificationPolicy {
        &self.settings().notifications
    }

    pub async fn create_notification(
        &self,
        repo: &RepositoryView,
        new: NewNotification,
    ) -> Result<Notification, Error> {
        events::validate_event(&new.event, &new.event_config)?;
        self.validate_method(repo, &new.method, &new.config).await?;
        let repo_id = repo.id;
        let row = self
            .db()
            .write(move |c| {
                Ok::<_, Error>(q::insert(
                    c,
                    &q::NewNotification {
                        repository_id: repo_id,
                        event: &new.event,
                        method: &new.method,
                        title: new.title.as_deref(),
                        config_json: &new.config.to_string(),
                        event_config_json: &new.event_config.to_string(),
                        now: crate::now_ms(),
                    },
                )?)
            })
            .await?;
        Ok(row.into())
    }

    /// Checks the method config of a repository notification: what every
    /// notification's must pass, and an email address must have been
    /// authorized for the repository.
    async fn validate_method(&self, repo: &RepositoryView, method: &str, config: &Value) -> Result<(), Error> {
        let ns = (repo.namespace_id, repo.namespace.clone(), repo.namespace_is_org);
        self.validate_method_config(ns, method, config).await?;
        if method != "email" {
            return Ok(());
        }
        let email = required_text(config, "email", method)?.to_owned();
        match self.authorized_email(repo, &email).await? {
            Some(a) if a.confirmed => Ok(()),
            _ => Err(invalid(format!(
                "The email address '{email}' has not been authorized to receive notifications for this repository"
            ))),
        }
    }

    /// Checks a method config of a notification of the namespace `ns`
    /// (account id, name, is an organization), for repository and
    /// namespace notifications alike.
    async fn validate_method_config(&self, ns: (i64, String, bool), method: &str, config: &Value) -> Result<(), Error> {
        if !config.is_object() {
            return Err(invalid("'config' must be an object"));
        }
        match method {
            "quay_notification" => self.inbox_targets(ns, config).await.map(drop),
            "email" => required_text(config, "email", method).map(drop),
            "webhook" | "slack" => {
                let url = required_text(config, "url", method)?;
                if let Some(t) = config.get("template").filter(|t| !t.is_null()) {
                    let text = t
                        .as_str()
                        .ok_or_else(|| invalid("The webhook 'template' must be a string"))?;
                    if !text.trim().is_empty() {
                        serde_json::from_str::<Value>(text)
                            .map_err(|e| invalid(format!("The webhook 'template' is not valid JSON: {e}")))?;
                    }
                }
                check_url_form(&self.notification_policy().ssrf, url).map_err(invalid)
            }
            "flowdock" => required_text(config, "flow_api_token", method).map(drop),
            "hipchat" => {
                required_text(config, "notification_token", method)?;
                config
                    .get("room_id")
                    .filter(|v| v.as_u64().is_some() || v.as_str().is_some_and(|s| !s.trim().is_empty()))
                    .map(drop)
                    .ok_or_else(|| invalid("Missing or empty 'room_id' in the hipchat method config"))
            }
            other => Err(invalid(format!(
                "Unknown notification method '{other}'; expected one of: {}",
                METHODS.join(", ")
            ))),
        }
    }

    /// Checks that a `quay_notification` config names a target that resolves
    /// in the namespace `ns`.
    async fn inbox_targets(&self, ns: (i64, String, bool), config: &Value) -> Result<Vec<i64>, Error> {
        let target = config.get("target").filter(|t| t.is_object()).cloned().ok_or_else(|| {
            invalid("The quay_notification method config needs 'target': {\"kind\": user|team|org, \"name\": …}")
        })?;
        let (ns_id, ns_name, ns_is_org) = ns;
        let resolved = self
            .db()
            .read(move |c| Ok(resolve_inbox_targets(c, (ns_id, &ns_name, ns_is_org), &target)?))
            .await?;
        resolved.map_err(invalid)
    }

    pub async fn list_notifications(&self, repo: &RepositoryView) -> Result<Vec<Notification>, Error> {
        let repo_id = repo.id;
        let rows = self.db().read(move |c| Ok(q::of_repository(c, repo_id)?)).await?;
        Ok(rows.into_iter().map(Notification::from).collect())
    }

    async fn notification_row(&self, repo: &RepositoryView, uuid: &str) -> Result<NotificationRow, Error> {
        let (repo_id, id) = (repo.id, uuid.to_owned());
        self.db()
            .read(move |c| Ok(q::find(c, repo_id, &id)?))
            .await?
            .ok_or_else(|| unknown_notification(uuid))
    }

    pub async fn notification(&self, repo: &RepositoryView, uuid: &str) -> Result<Notification, Error> {
        self.notification_row(repo, uuid).await.map(Notification::from)
    }

    pub async fn delete_notification(&self, repo: &RepositoryView, uuid: &str) -> Result<(), Error> {
        let row = self.notification_row(repo, uuid).await?;
        self.db().write(move |c| Ok::<_, Error>(q::delete(c, row.id)?)).await?;
        Ok(())
    }

    /// Sets the failure counter back to 0, so a stopped notification fires again.
    pub async fn reset_notification(&self, repo: &RepositoryView, uuid: &str) -> Result<(), Error> {
        let row = self.notification_row(repo, uuid).await?;
        self.db()
            .write(move |c| Ok::<_, Error>(q::set_failures(c, row.id, 0, row.last_ran_ms)?))
            .await
    }

    /// Queues a delivery of the event's sample payload.
    pub async fn test_notification(&self, repo: &RepositoryView, uuid: &str) -> Result<(), Error> {
        let row = self.notification_row(repo, uuid).await?;
        let data = events::payload(
            self.notification_policy(),
            &repo.namespace,
            &repo.name,
            sample_data(&row.event),
        );
        let text = data.to_string();
        self.db()
            .write(move |c| Ok::<_, Error>(q::enqueue(c, row.id, &text, crate::now_ms())?))
            .await
    }

    /// The caller's inbox, newest first.
    pub async fn user_inbox(&self, user: &Account) -> Result<Vec<InboxEntry>, Error> {
        let id = user.id;
        let rows = self.db().read(move |c| Ok(q::inbox(c, id)?)).await?;
        Ok(rows.into_iter().map(InboxEntry::from).collect())
    }

    /// One entry of the user's own inbox; another user's entry is not found.
    pub async fn inbox_entry(&self, user: &Account, uuid: &str) -> Result<InboxEntry, Error> {
        let (id, entry) = (user.id, uuid.to_owned());
        self.db()
            .read(move |c| Ok(q::inbox_entry(c, id, &entry)?))
            .await?
            .map(InboxEntry::from)
            .ok_or_else(|| Error::NotFound(format!("No notification {uuid}")))
    }

    pub async fn dismiss_inbox_entry(&self, user: &Account, uuid: &str, dismissed: bool) -> Result<(), Error> {
        let (id, entry) = (user.id, uuid.to_owned());
        let found = self
            .db()
            .write(move |c| Ok::<_, Error>(q::set_dismissed(c, id, &entry, dismissed)?))
            .await?;
        if found {
            Ok(())
        } else {
            Err(Error::NotFound(format!("No notification {uuid}")))
        }
    }
}
