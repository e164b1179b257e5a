//! Namespace (quota) notifications (`namespacenotification`); their
//! deliveries share `notificationqueue` with scope `namespace`.

use diesel::prelude::*;

use super::notifications::SCOPE_NAMESPACE;
use crate::db::schema::{namespacenotification as n, notificationqueue, notificationsent};
use crate::db::DbConn;

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = n)]
pub struct NamespaceNotificationRow {
    pub id: i64,
    pub uuid: String,
    pub namespace_id: i64,
    pub event: String,
    pub method: String,
    pub title: Option<String>,
    pub config_json: String,
    pub event_config_json: String,
    pub number_of_failures: i32,
    pub last_ran_ms: Option<i64>,
    pub created_ms: i64,
}

pub struct NewNamespaceNotification<'a> {
    pub uuid: &'a str,
    pub namespace_id: i64,
    pub event: &'a str,
    pub method: &'a str,
    pub title: Option<&'a str>,
    pub config_json: &'a str,
    pub event_config_json: &'a str,
    pub now: i64,
}

pub fn insert(c: &mut DbConn, new: &NewNamespaceNotification<'_>) -> QueryResult<()> {
    diesel::insert_into(n::table)
        .values((
            n::uuid.eq(new.uuid),
            n::namespace_id.eq(new.namespace_id),
            n::event.eq(new.event),
            n::method.eq(new.method),
            n::title.eq(new.title),
            n::config_json.eq(new.config_json),
            n::event_config_json.eq(new.event_config_json),
            n::created_ms.eq(new.now),
        ))
        .execute(c)
        .map(drop)
}

/// The namespace's notifications, oldest first.
pub fn of_namespace(c: &mut DbConn, namespace_id: i64) -> QueryResult<Vec<NamespaceNotificationRow>> {
    n::table
        .filter(n::namespace_id.eq(namespace_id))
        .order(n::id.asc())
        .select(NamespaceNotificationRow::as_select())
        .load(c)
}

pub fn find(c: &mut DbConn, namespace_id: i64, uuid: &str) -> QueryResult<Option<NamespaceNotificationRow>> {
    n::table
        .filter(n::namespace_id.eq(namespace_id))
        .filter(n::uuid.eq(uuid))
        .select(NamespaceNotificationRow::as_select())
        .first(c)
        .optional()
}

pub fn find_by_id(c: &mut DbConn, id: i64) -> QueryResult<Option<NamespaceNotificationRow>> {
    n::table
        .find(id)
        .select(NamespaceNotificationRow::as_select())
        .first(c)
        .optional()
}

/// Deletes the notification with its pending deliveries and sent marks.
pub fn delete(c: &mut DbConn, id: i64) -> QueryResult<()> {
    diesel::delete(
        notificationqueue::table
            .filter(notificationqueue::notification_id.eq(id))
            .filter(notificationqueue::scope.eq(SCOPE_NAMESPACE)),
    )
    .execute(c)?;
    diesel::delete(
        notificationsent::table
            .filter(notificationsent::notification_id.eq(id))
            .filter(notificationsent::dedupe_key.like(format!("{SCOPE_NAMESPACE}:%"))),
    )
    .execute(c)?;
    diesel::delete(n::table.find(id)).execute(c).map(drop)
}

pub fn set_failures(c: &mut DbConn, id: i64, failures: i32, ran_ms: Option<i64>) -> QueryResult<()> {
    diesel::update(n::table.find(id))
        .set((n::number_of_failures.eq(failures), n::last_ran_ms.eq(ran_ms)))
        .execute(c)
        .map(drop)
}

/// Every namespace notification for `event` still delivering.
pub fn active_everywhere(c: &mut DbConn, event: &str, max_failures: i32) -> QueryResult<Vec<NamespaceNotificationRow>> {
    n::table
        .filter(n::event.eq(event))
        .filter(n::number_of_failures.lt(max_failures))
        .select(NamespaceNotificationRow::as_select())
        .load(c)
}
