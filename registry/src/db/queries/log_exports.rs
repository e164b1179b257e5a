//! SQL for requested usage-log exports (`logexport`), a queue worked off
//! by the export worker. Claiming reads the candidates `FOR UPDATE SKIP
//! LOCKED` on PostgreSQL and leases them, so replicas never take the same
//! export twice.

use diesel::prelude::*;

use crate::db::schema::{logexport, repository, users};
use crate::db::DbConn;

/// Waiting for the worker.
pub const QUEUED: &str = "queued";
/// Written to storage; the link works until `expires_ms`.
pub const SUCCESS: &str = "success";
/// Given up; the requester was told.
pub const FAILED: &str = "failed";
/// Past its link's lifetime; the file is deleted.
pub const EXPIRED: &str = "expired";

/// An export to insert.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = logexport)]
pub struct NewLogExport {
    pub uuid: String,
    pub requester_id: i64,
    pub account_id: Option<i64>,
    pub repository_id: Option<i64>,
    pub start_ms: i64,
    pub end_ms: i64,
    pub callback_url: Option<String>,
    pub callback_email: Option<String>,
    pub status: String,
    pub available_after_ms: i64,
    pub created_ms: i64,
    pub link_base: String,
}

/// A stored export.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = logexport)]
pub struct LogExportRow {
    pub id: i64,
    pub uuid: String,
    pub requester_id: i64,
    pub account_id: Option<i64>,
    pub repository_id: Option<i64>,
    pub start_ms: i64,
    pub end_ms: i64,
    pub callback_url: Option<String>,
    pub callback_email: Option<String>,
    pub status: String,
    pub storage_key: Option<String>,
    pub expires_ms: Option<i64>,
    pub attempts: i32,
    pub link_base: String,
}

pub fn insert(c: &mut DbConn, row: &NewLogExport) -> QueryResult<()> {
    diesel::insert_into(logexport::table).values(row).execute(c).map(drop)
}

pub fn find(c: &mut DbConn, uuid: &str) -> QueryResult<Option<LogExportRow>> {
    logexport::table
        .filter(logexport::uuid.eq(uuid))
        .select(LogExportRow::as_select())
        .first(c)
        .optional()
}

/// Claims up to `limit` queued exports due at `now` and not held by
/// another worker, for `lease_ms`.
pub fn claim_due(c: &mut DbConn, now: i64, lease_ms: i64, limit: i64) -> QueryResult<Vec<LogExportRow>> {
    macro_rules! due {
        () => {
            logexport::table
                .filter(logexport::status.eq(QUEUED))
                .filter(logexport::available_after_ms.le(now))
                .filter(
                    logexport::processing_expires_ms
                        .is_null()
                        .or(logexport::processing_expires_ms.lt(now)),
                )
                .order(logexport::id.asc())
                .limit(limit)
                .select(LogExportRow::as_select())
        };
    }
    let rows: Vec<LogExportRow> = match c {
        DbConn::Pg(pg) => due!().for_update().skip_locked().load(pg)?,
        DbConn::Sqlite(_) => due!().load(c)?,
    };
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    diesel::update(logexport::table.filter(logexport::id.eq_any(&ids)))
        .set(logexport::processing_expires_ms.eq(now.saturating_add(lease_ms)))
        .execute(c)?;
    Ok(rows)
}

/// Records a written export: its storage key and when its link expires.
pub fn succeed(c: &mut DbConn, id: i64, storage_key: &str, expires_ms: i64) -> QueryResult<()> {
    diesel::update(logexport::table.find(id))
        .set((
            logexport::status.eq(SUCCESS),
            logexport::storage_key.eq(storage_key),
            logexport::expires_ms.eq(expires_ms),
            logexport::processing_expires_ms.eq(None::<i64>),
        ))
        .execute(c)
        .map(drop)
}

pub fn fail(c: &mut DbConn, id: i64, attempts: i32) -> QueryResult<()> {
    diesel::update(logexport::table.find(id))
        .set((
            logexport::status.eq(FAILED),
            logexport::attempts.eq(attempts),
            logexport::processing_expires_ms.eq(None::<i64>),
        ))
        .execute(c)
        .map(drop)
}

/// Puts an export that failed back for another try at `available_after`.
pub fn retry_later(c: &mut DbConn, id: i64, attempts: i32, available_after: i64) -> QueryResult<()> {
    diesel::update(logexport::table.find(id))
        .set((
            logexport::attempts.eq(attempts),
            logexport::available_after_ms.eq(available_after),
            logexport::processing_expires_ms.eq(None::<i64>),
        ))
        .execute(c)
        .map(drop)
}

/// Id and storage key of up to `limit` written exports whose links
/// expired before `now`.
pub fn expired(c: &mut DbConn, now: i64, limit: i64) -> QueryResult<Vec<(i64, Option<String>)>> {
    logexport::table
        .filter(logexport::status.eq(SUCCESS))
        .filter(logexport::expires_ms.lt(now))
        .order(logexport::id.asc())
        .limit(limit)
        .select((logexport::id, logexport::storage_key))
        .load(c)
}

pub fn mark_expired(c: &mut DbConn, id: i64) -> QueryResult<()> {
    diesel::update(logexport::table.find(id))
        .set((logexport::status.eq(EXPIRED), logexport::storage_key.eq(None::<String>)))
        .execute(c)
        .map(drop)
}

/// A named shared secret, if it exists (created by
/// [`crate::db::queries::accounts::service_key`]).
/// The username of an account.
pub fn account_name(c: &mut DbConn, id: i64) -> QueryResult<Option<String>> {
    users::table.find(id).select(users::username).first(c).optional()
}

/// The name (without namespace) of a repository.
pub fn repository_name(c: &mut DbConn, id: i64) -> QueryResult<Option<String>> {
    repository::table.find(id).select(repository::name).first(c).optional()
}
