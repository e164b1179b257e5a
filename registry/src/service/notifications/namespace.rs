//! Namespace (quota) notifications (`FEATURE_QUOTA_NOTIFICATIONS`): an
//! organization's or user's `quota_warning` / `quota_error`, delivered by
//! the same methods and queue as repository notifications.

use serde_json::{json, Value};

use super::events::{sample_data, RecordedQuotaEvents};
use super::{invalid, NewNotification, Notification, MAX_FAILURES};
use crate::db::models::Account;
use crate::db::queries::accounts;
use crate::db::queries::namespace_notifications::{self as nq, NamespaceNotificationRow, NewNamespaceNotification};
use crate::db::queries::notifications::{self as q, NotificationRow, SCOPE_NAMESPACE};
use crate::service::{Error, Registry};

/// The events a namespace notification may subscribe to.
pub const NAMESPACE_EVENTS: [&str; 2] = ["quota_error", "quota_warning"];

impl From<NamespaceNotificationRow> for Notification {
    fn from(r: NamespaceNotificationRow) -> Notification {
        Notification {
            uuid: r.uuid,
            title: r.title,
            event: r.event,
            method: r.method,
            config: serde_json::from_str(&r.config_json).unwrap_or_else(|_| json!({})),
            event_config: serde_json::from_str(&r.event_config_json).unwrap_or_else(|_| json!({})),
            number_of_failures: r.number_of_failures,
        }
    }
}

/// The row in the shape the delivery code sends; a namespace notification
/// has no repository, so `repository_id` is unused (the delivery's owner
/// names the namespace).
pub(super) fn as_delivery(r: &NamespaceNotificationRow) -> NotificationRow {
    NotificationRow {
        id: r.id,
        uuid: r.uuid.clone(),
        repository_id: 0,
        event: r.event.clone(),
        method: r.method.clone(),
        title: r.title.clone(),
        config_json: r.config_json.clone(),
        event_config_json: r.event_config_json.clone(),
        number_of_failures: r.number_of_failures,
        last_ran_ms: r.last_ran_ms,
        created_ms: r.created_ms,
    }
}

fn not_found() -> Error {
    Error::NotFound("Not Found".into())
}

/// The base payload of a namespace event.
fn payload(namespace: &str, fields: Value) -> Value {
    let mut base = json!({"namespace": namespace});
    if let (Some(b), Value::Object(extra)) = (base.as_object_mut(), fields) {
        b.extend(extra);
    }
    base
}

impl Registry {
    /// Adds a namespace notification after Quay's checks: a quota event, a
    /// known method, and a config that method can use.
    pub async fn create_namespace_notification(
        &self,
        ns: &Account,
        new: NewNotification,
    ) -> Result<Notification, Error> {
        if !NAMESPACE_EVENTS.contains(&new.event.as_str()) {
            return Err(invalid(format!(
                "Invalid event '{}'. Must be one of: {}",
                new.event,
                NAMESPACE_EVENTS.join(", ")
            )));
        }
        let owner = (ns.id, ns.username.clone(), ns.organization);
        self.validate_method_config(owner, &new.method, &new.config).await?;
        let (uuid, ns_id) = (uuid::Uuid::new_v4().to_string(), ns.id);
        let u = uuid.clone();
        let row = self
            .db()
            .write(move |c| {
                nq::insert(
                    c,
                    &NewNamespaceNotification {
                        uuid: &u,
                        namespace_id: ns_id,
                        event: &new.event,
                        method: &new.method,
                        title: new.title.as_deref(),
                        config_json: &new.config.to_string(),
                        event_config_json: &new.event_config.to_string(),
                        now: crate::now_ms(),
                    },
                )?;
                Ok::<_, Error>(nq::find(c, ns_id, &u)?)
            })
            .await?;
        row.map(Notification::from).ok_or_else(not_found)
    }

    pub async fn namespace_notifications(&self, ns: &Account) -> Result<Vec<Notification>, Error> {
        let id = ns.id;
        let rows = self.db().read(move |c| Ok(nq::of_namespace(c, id)?)).await?;
        Ok(rows.into_iter().map(Notification::from).collect())
    }

    async fn namespace_notification_row(&self, ns: &Account, uuid: &str) -> Result<NamespaceNotificationRow, Error> {
        let (id, uuid) = (ns.id, uuid.to_owned());
        let row = self.db().read(move |c| Ok(nq::find(c, id, &uuid)?)).await?;
        row.ok_or_else(not_found)
    }

    pub async fn namespace_notification(&self, ns: &Account, uuid: &str) -> Result<Notification, Error> {
        Ok(self.namespace_notification_row(ns, uuid).await?.into())
    }

    /// Deletes the notification; returns what it was.
    pub async fn delete_namespace_notification(&self, ns: &Account, uuid: &str) -> Result<Notification, Error> {
        let row = self.namespace_notification_row(ns, uuid).await?;
        let id = row.id;
        self.db().write(move |c| Ok::<_, Error>(nq::delete(c, id)?)).await?;
        Ok(row.into())
    }

    /// Zeroes the failure counter so a stopped notification fires again.
    pub async fn reset_namespace_notification(&self, ns: &Account, uuid: &str) -> Result<Notification, Error> {
        let row = self.namespace_notification_row(ns, uuid).await?;
        let (id, ran) = (row.id, row.last_ran_ms);
        self.db()
            .write(move |c| Ok::<_, Error>(nq::set_failures(c, id, 0, ran)?))
            .await?;
        Ok(row.into())
    }

    /// Queues a delivery of the event's sample payload.
    pub async fn test_namespace_notification(&self, ns: &Account, uuid: &str) -> Result<(), Error> {
        let row = self.namespace_notification_row(ns, uuid).await?;
        let text = payload(&ns.username, sample_data(&row.event)).to_string();
        self.db()
            .write(move |c| Ok::<_, Error>(q::enqueue_in(c, SCOPE_NAMESPACE, row.id, &text, crate::now_ms())?))
            .await
    }

    /// Queues each recorded quota event once per namespace notification
    /// subscribed to it; returns how many were queued.
    pub(super) async fn queue_namespace_quota_events(&self) -> Result<usize, Error> {
        if !self.settings().notifications.namespace_notifications {
            return Ok(0);
        }
        let rows = self
            .db()
            .read(|c| {
                let mut rows = nq::active_everywhere(c, "quota_warning", MAX_FAILURES)?;
                rows.extend(nq::active_everywhere(c, "quota_error", MAX_FAILURES)?);
                Ok(rows)
            })
            .await?;
        // Most registries have none, and this runs every scan: no write then.
        if rows.is_empty() {
            return Ok(0);
        }
        self.db()
            .write(move |c| {
                let mut queued = 0;
                for row in rows {
                    let Some(ns) = accounts::find_by_id(c, row.namespace_id)? else {
                        continue;
                    };
                    let source = RecordedQuotaEvents {
                        namespace_id: row.namespace_id,
                        kind: &row.event,
                        since: row.created_ms,
                    };
                    queued += source.queue(c, (SCOPE_NAMESPACE, row.id), |fields| payload(&ns.username, fields))?;
                }
                Ok::<_, Error>(queued)
            })
            .await
    }
}
