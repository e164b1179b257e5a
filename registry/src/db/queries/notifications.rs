//! Repository notifications, their delivery queue, the user inbox and
//! authorized emails (quay-api.md §1.11).
//!
//! Queue rows are claimed by setting `processing_expires_ms`; on PostgreSQL
//! the candidates are read `FOR UPDATE SKIP LOCKED`, so replicas never claim
//! the same row. SQLite has one writer.

use diesel::dsl::exists;
use diesel::prelude::*;

use super::repositories::MARKED_FOR_DELETION;
use crate::db::schema::{
    authorizedemail, notificationqueue, notificationsent, quotaevent, repository, repositorynotification,
    usernotification, users,
};
use crate::db::DbConn;
use crate::per_backend;

/// One repository notification.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = repositorynotification)]
pub struct NotificationRow {
    pub id: i64,
    pub uuid: String,
    pub repository_id: i64,
    pub event: String,
    pub method: String,
    pub title: Option<String>,
    pub config_json: String,
    pub event_config_json: String,
    pub number_of_failures: i32,
    pub last_ran_ms: Option<i64>,
    pub created_ms: i64,
}

/// A notification to store.
pub struct NewNotification<'a> {
    pub repository_id: i64,
    pub event: &'a str,
    pub method: &'a str,
    pub title: Option<&'a str>,
    pub config_json: &'a str,
    pub event_config_json: &'a str,
    pub now: i64,
}

pub fn insert(c: &mut DbConn, n: &NewNotification<'_>) -> QueryResult<NotificationRow> {
    let uuid = uuid::Uuid::new_v4().to_string();
    diesel::insert_into(repositorynotification::table)
        .values((
            repositorynotification::uuid.eq(&uuid),
            repositorynotification::repository_id.eq(n.repository_id),
            repositorynotification::event.eq(n.event),
            repositorynotification::method.eq(n.method),
            repositorynotification::title.eq(n.title),
            repositorynotification::config_json.eq(n.config_json),
            repositorynotification::event_config_json.eq(n.event_config_json),
            repositorynotification::created_ms.eq(n.now),
        ))
        .execute(c)?;
    repositorynotification::table
        .filter(repositorynotification::uuid.eq(&uuid))
        .select(NotificationRow::as_select())
        .first(c)
}

pub fn of_repository(c: &mut DbConn, repo_id: i64) -> QueryResult<Vec<NotificationRow>> {
    repositorynotification::table
        .filter(repositorynotification::repository_id.eq(repo_id))
        .order(repositorynotification::id.asc())
        .select(NotificationRow::as_select())
        .load(c)
}

pub fn find(c: &mut DbConn, repo_id: i64, uuid: &str) -> QueryResult<Option<NotificationRow>> {
    repositorynotification::table
        .filter(repositorynotification::repository_id.eq(repo_id))
        .filter(repositorynotification::uuid.eq(uuid))
        .select(NotificationRow::as_select())
        .first(c)
        .optional()
}

pub fn find_by_id(c: &mut DbConn, id: i64) -> QueryResult<Option<NotificationRow>> {
    repositorynotification::table
        .find(id)
        .select(NotificationRow::as_select())
        .first(c)
        .optional()
}

/// Deletes the notification with its pending deliveries; whether it existed.
pub fn delete(c: &mut DbConn, id: i64) -> QueryResult<bool> {
    diesel::delete(notificationqueue::table.filter(notificationqueue::notification_id.eq(id))).execute(c)?;
    diesel::delete(notificationsent::table.filter(notificationsent::notification_id.eq(id))).execute(c)?;
    diesel::delete(repositorynotification::table.find(id))
        .execute(c)
        .map(|n| n > 0)
}

/// Sets the consecutive-failure counter (0 on reset or success).
pub fn set_failures(c: &mut DbConn, id: i64, failures: i32, ran_ms: Option<i64>) -> QueryResult<()> {
    diesel::update(repositorynotification::table.find(id))
        .set((
            repositorynotification::number_of_failures.eq(failures),
            repositorynotification::last_ran_ms.eq(ran_ms),
        ))
        .execute(c)
        .map(drop)
}

/// The repository's notifications for `event` still delivering (fewer than
/// `max_failures` consecutive failures).
pub fn active_for(c: &mut DbConn, repo_id: i64, event: &str, max_failures: i32) -> QueryResult<Vec<NotificationRow>> {
    repositorynotification::table
        .inner_join(repository::table)
        .filter(repository::state.ne(MARKED_FOR_DELETION))
        .filter(repositorynotification::repository_id.eq(repo_id))
        .filter(repositorynotification::event.eq(event))
        .filter(repositorynotification::number_of_failures.lt(max_failures))
        .select(NotificationRow::as_select())
        .load(c)
}

/// Every active notification for `event` in any repository, with the
/// repository's namespace id.
pub fn active_everywhere(c: &mut DbConn, event: &str, max_failures: i32) -> QueryResult<Vec<(NotificationRow, i64)>> {
    repositorynotification::table
        .inner_join(repository::table)
        .filter(repository::state.ne(MARKED_FOR_DELETION))
        .filter(repositorynotification::event.eq(event))
        .filter(repositorynotification::number_of_failures.lt(max_failures))
        .select((NotificationRow::as_select(), repository::namespace_user_id))
        .load(c)
}

/// Records that `key` was delivered for the notification; false when it
/// was already.
pub fn mark_sent(c: &mut DbConn, notification_id: i64, key: &str, now: i64) -> QueryResult<bool> {
    per_backend!(c, |c| diesel::insert_into(notificationsent::table)
        .values((
            notificationsent::notification_id.eq(notification_id),
            notificationsent::dedupe_key.eq(key),
            notificationsent::created_ms.eq(now),
        ))
        .on_conflict((notificationsent::notification_id, notificationsent::dedupe_key))
        .do_nothing()
        .execute(c))
    .map(|n| n > 0)
}

/// Quota events of `kind` in the namespace recorded at or after `since`,
/// as (id, bytes used, threshold bytes, time ms).
pub fn quota_events_since(
    c: &mut DbConn,
    namespace_id: i64,
    kind: &str,
    since: i64,
) -> QueryResult<Vec<(i64, i64, i64, i64)>> {
    quotaevent::table
        .filter(quotaevent::namespace_user_id.eq(namespace_id))
        .filter(quotaevent::kind.eq(kind))
        .filter(quotaevent::created_ms.ge(since))
        .order(quotaevent::id.asc())
        .select((
            quotaevent::id,
            quotaevent::size_bytes,
            quotaevent::limit_bytes,
            quotaevent::created_ms,
        ))
        .load(c)
}

/// One pending delivery.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = notificationqueue)]
pub struct QueueRow {
    pub id: i64,
    pub notification_id: i64,
    pub event_data: String,
    pub attempts: i32,
}

pub fn enqueue(c: &mut DbConn, notification_id: i64, event_data: &str, now: i64) -> QueryResult<()> {
    diesel::insert_into(notificationqueue::table)
        .values((
            notificationqueue::notification_id.eq(notification_id),
            notificationqueue::event_data.eq(event_data),
            notificationqueue::available_after_ms.eq(now),
            notificationqueue::created_ms.eq(now),
        ))
        .execute(c)
        .map(drop)
}

/// Claims up to `limit` deliveries due at `now` and not held by another
/// worker, for `lease_ms`.
pub fn claim_due(c: &mut DbConn, now: i64, lease_ms: i64, limit: i64) -> QueryResult<Vec<QueueRow>> {
    macro_rules! due {
        () => {
            notificationqueue::table
                .filter(notificationqueue::available_after_ms.le(now))
                .filter(
                    notificationqueue::processing_expires_ms
                        .is_null()
                        .or(notificationqueue::processing_expires_ms.lt(now)),
                )
                .order(notificationqueue::id.asc())
                .limit(limit)
                .select(QueueRow::as_select())
        };
    }
    let rows: Vec<QueueRow> = match c {
        DbConn::Pg(pg) => due!().for_update().skip_locked().load(pg)?,
        DbConn::Sqlite(_) => due!().load(c)?,
    };
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    diesel::update(notificationqueue::table.filter(notificationqueue::id.eq_any(&ids)))
        .set(notificationqueue::processing_expires_ms.eq(now.saturating_add(lease_ms)))
        .execute(c)?;
    Ok(rows)
}

pub fn finish(c: &mut DbConn, queue_id: i64) -> QueryResult<()> {
    diesel::delete(notificationqueue::table.find(queue_id))
        .execute(c)
        .map(drop)
}

/// Puts a failed delivery back for another try at `available_after`.
pub fn retry_later(c: &mut DbConn, queue_id: i64, attempts: i32, available_after: i64) -> QueryResult<()> {
    diesel::update(notificationqueue::table.find(queue_id))
        .set((
            notificationqueue::attempts.eq(attempts),
            notificationqueue::available_after_ms.eq(available_after),
            notificationqueue::processing_expires_ms.eq(None::<i64>),
        ))
        .execute(c)
        .map(drop)
}

/// One inbox entry.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = usernotification)]
pub struct InboxRow {
    pub uuid: String,
    pub kind: String,
    pub metadata_json: String,
    pub dismissed: bool,
    pub created_ms: i64,
}

pub fn insert_inbox(c: &mut DbConn, target_id: i64, kind: &str, metadata_json: &str, now: i64) -> QueryResult<()> {
    diesel::insert_into(usernotification::table)
        .values((
            usernotification::uuid.eq(uuid::Uuid::new_v4().to_string()),
            usernotification::target_id.eq(target_id),
            usernotification::kind.eq(kind),
            usernotification::metadata_json.eq(metadata_json),
            usernotification::created_ms.eq(now),
        ))
        .execute(c)
        .map(drop)
}

/// Deletes the target's entries of `kind`.
pub fn delete_inbox_kind(c: &mut DbConn, target_id: i64, kind: &str) -> QueryResult<()> {
    diesel::delete(
        usernotification::table
            .filter(usernotification::target_id.eq(target_id))
            .filter(usernotification::kind.eq(kind)),
    )
    .execute(c)
    .map(drop)
}

pub fn inbox(c: &mut DbConn, target_id: i64) -> QueryResult<Vec<InboxRow>> {
    usernotification::table
        .filter(usernotification::target_id.eq(target_id))
        .order(usernotification::id.desc())
        .select(InboxRow::as_select())
        .load(c)
}

/// The target's entry `uuid`, if it has one.
pub fn inbox_entry(c: &mut DbConn, target_id: i64, uuid: &str) -> QueryResult<Option<InboxRow>> {
    usernotification::table
        .filter(usernotification::target_id.eq(target_id))
        .filter(usernotification::uuid.eq(uuid))
        .select(InboxRow::as_select())
        .first(c)
        .optional()
}

/// Sets `dismissed` on the target's entry; whether there was one.
pub fn set_dismissed(c: &mut DbConn, target_id: i64, uuid: &str, dismissed: bool) -> QueryResult<bool> {
    diesel::update(
        usernotification::table
            .filter(usernotification::target_id.eq(target_id))
            .filter(usernotification::uuid.eq(uuid)),
    )
    .set(usernotification::dismissed.eq(dismissed))
    .execute(c)
    .map(|n| n > 0)
}

/// The repository's authorization row for `email`: (code, confirmed).
pub fn authorized_email(c: &mut DbConn, repo_id: i64, email: &str) -> QueryResult<Option<(String, bool)>> {
    authorizedemail::table
        .filter(authorizedemail::repository_id.eq(repo_id))
        .filter(authorizedemail::email.eq(email))
        .select((authorizedemail::code, authorizedemail::confirmed))
        .first(c)
        .optional()
}

/// Adds a pending authorization unless one exists; returns the row's
/// (code, confirmed).
pub fn ensure_authorized_email(c: &mut DbConn, repo_id: i64, email: &str, code: &str) -> QueryResult<(String, bool)> {
    let present = authorizedemail::table
        .filter(authorizedemail::repository_id.eq(repo_id))
        .filter(authorizedemail::email.eq(email));
    if !diesel::select(exists(present)).get_result::<bool>(c)? {
        diesel::insert_into(authorizedemail::table)
            .values((
                authorizedemail::repository_id.eq(repo_id),
                authorizedemail::email.eq(email),
                authorizedemail::code.eq(code),
            ))
            .execute(c)?;
    }
    authorized_email(c, repo_id, email).map(|r| r.unwrap_or_else(|| (code.to_owned(), false)))
}

/// Confirms the authorization with this code; its (repository id, email).
pub fn confirm_email(c: &mut DbConn, code: &str) -> QueryResult<Option<(i64, String)>> {
    let found: Option<(i64, i64, String)> = authorizedemail::table
        .filter(authorizedemail::code.eq(code))
        .select((
            authorizedemail::id,
            authorizedemail::repository_id,
            authorizedemail::email,
        ))
        .first(c)
        .optional()?;
    let Some((id, repo_id, email)) = found else {
        return Ok(None);
    };
    diesel::update(authorizedemail::table.find(id))
        .set(authorizedemail::confirmed.eq(true))
        .execute(c)?;
    Ok(Some((repo_id, email)))
}

/// The repository's (namespace, name).
pub fn repository_names(c: &mut DbConn, repo_id: i64) -> QueryResult<Option<(String, String)>> {
    repository::table
        .inner_join(users::table.on(users::id.eq(repository::namespace_user_id)))
        .filter(repository::id.eq(repo_id))
        .select((users::username, repository::name))
        .first(c)
        .optional()
}

/// The repository's namespace: (account id, name, is an organization).
pub fn namespace(c: &mut DbConn, repo_id: i64) -> QueryResult<Option<(i64, String, bool)>> {
    repository::table
        .inner_join(users::table.on(users::id.eq(repository::namespace_user_id)))
        .filter(repository::id.eq(repo_id))
        .select((users::id, users::username, users::organization))
        .first(c)
        .optional()
}
