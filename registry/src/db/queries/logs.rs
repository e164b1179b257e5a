//! SQL for usage logs (`logentry3`).

use diesel::prelude::*;

use crate::db::schema::{logentry3, users};
use crate::db::DbConn;

/// A log row to insert.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = logentry3)]
pub struct NewLogRow {
    pub kind: String,
    pub account_id: Option<i64>,
    pub performer_id: Option<i64>,
    pub repository_id: Option<i64>,
    pub datetime_ms: i64,
    pub ip: Option<String>,
    pub metadata_json: String,
}

/// A stored log row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = logentry3)]
pub struct LogRow {
    pub id: i64,
    pub kind: String,
    pub account_id: Option<i64>,
    pub performer_id: Option<i64>,
    pub repository_id: Option<i64>,
    pub datetime_ms: i64,
    pub ip: Option<String>,
    pub metadata_json: String,
}

/// Which rows a listing reads: all given conditions hold.
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    pub account_id: Option<i64>,
    pub repository_id: Option<i64>,
    pub performer_id: Option<i64>,
    /// Inclusive lower bound of `datetime_ms`.
    pub start_ms: i64,
    /// Exclusive upper bound of `datetime_ms`.
    pub end_ms: i64,
}

/// Inserts the rows: one statement on PostgreSQL; one per row on SQLite,
/// whose batch insert with NULLs opens a nested transaction of its own.
pub fn insert_all(c: &mut DbConn, rows: &[NewLogRow]) -> QueryResult<usize> {
    match c {
        DbConn::Pg(c) => diesel::insert_into(logentry3::table).values(rows).execute(c),
        DbConn::Sqlite(c) => rows.iter().try_fold(0, |n, row| {
            Ok(n + diesel::insert_into(logentry3::table).values(row).execute(c)?)
        }),
    }
}

type Backend = <DbConn as diesel::Connection>::Backend;

fn filtered(f: &LogFilter) -> logentry3::BoxedQuery<'static, Backend> {
    let mut q = logentry3::table
        .filter(logentry3::datetime_ms.ge(f.start_ms))
        .filter(logentry3::datetime_ms.lt(f.end_ms))
        .into_boxed();
    if let Some(id) = f.account_id {
        q = q.filter(logentry3::account_id.eq(id));
    }
    if let Some(id) = f.repository_id {
        q = q.filter(logentry3::repository_id.eq(id));
    }
    if let Some(id) = f.performer_id {
        q = q.filter(logentry3::performer_id.eq(id));
    }
    q
}

/// Up to `limit` matching rows, newest first, with ids below `before_id`.
pub fn page(c: &mut DbConn, f: &LogFilter, before_id: Option<i64>, limit: i64) -> QueryResult<Vec<LogRow>> {
    let mut q = filtered(f);
    if let Some(id) = before_id {
        q = q.filter(logentry3::id.lt(id));
    }
    q.order(logentry3::id.desc())
        .limit(limit)
        .select(LogRow::as_select())
        .load(c)
}

/// Kind and time of every matching row, for counts per day and kind.
pub fn kinds_and_times(c: &mut DbConn, f: &LogFilter) -> QueryResult<Vec<(String, i64)>> {
    filtered(f).select((logentry3::kind, logentry3::datetime_ms)).load(c)
}

/// Username, robot and organization flags of the accounts among `ids`.
pub fn account_names(c: &mut DbConn, ids: &[i64]) -> QueryResult<Vec<(i64, String, bool, bool)>> {
    users::table
        .filter(users::id.eq_any(ids.to_vec()))
        .select((users::id, users::username, users::robot, users::organization))
        .load(c)
}

/// The id of the account named `username`.
pub fn account_id(c: &mut DbConn, username: &str) -> QueryResult<Option<i64>> {
    users::table
        .filter(users::username.eq(username))
        .select(users::id)
        .first(c)
        .optional()
}

/// Deletes rows older than `before_ms`, at most `limit` of them.
pub fn delete_older_than(c: &mut DbConn, before_ms: i64, limit: i64) -> QueryResult<usize> {
    let ids: Vec<i64> = logentry3::table
        .filter(logentry3::datetime_ms.lt(before_ms))
        .select(logentry3::id)
        .limit(limit)
        .load(c)?;
    if ids.is_empty() {
        return Ok(0);
    }
    diesel::delete(logentry3::table.filter(logentry3::id.eq_any(ids))).execute(c)
}

/// Logged actions per repository since `since_ms`, as (repository id, count).
pub fn action_counts(c: &mut DbConn, repo_ids: &[i64], since_ms: i64) -> QueryResult<Vec<(i64, i64)>> {
    let rows: Vec<(Option<i64>, i64)> = logentry3::table
        .filter(logentry3::repository_id.eq_any(repo_ids.to_vec()))
        .filter(logentry3::datetime_ms.ge(since_ms))
        .group_by(logentry3::repository_id)
        .select((logentry3::repository_id, diesel::dsl::count_star()))
        .load(c)?;
    Ok(rows.into_iter().filter_map(|(id, n)| Some((id?, n))).collect())
}
