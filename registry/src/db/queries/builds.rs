//! Repository builds, their log lines and the user files that carry build
//! contexts (quay-api.md §1.14).
//!
//! A user file is claimed for upload by setting `uploaded_ms` where it is
//! still NULL, so of two concurrent uploads to one id only one proceeds.

use diesel::prelude::*;

use super::triggers::TriggerRow;
use crate::db::schema::{buildlogentry, repository, repositorybuild, repositorybuildtrigger, userfile, users};
use crate::db::DbConn;

/// The phase of a build nobody has claimed yet.
pub const WAITING: &str = "waiting";
/// The phase of a build cancelled before it ran.
pub const CANCELLED: &str = "cancelled";

/// One dropped file.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = userfile)]
pub struct UserFileRow {
    pub id: i64,
    pub uuid: String,
    pub owner_id: i64,
    pub mime_type: String,
    pub created_ms: i64,
    pub uploaded_ms: Option<i64>,
    pub size: Option<i64>,
    pub checksum: Option<String>,
}

/// One build request.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = repositorybuild)]
pub struct BuildRow {
    pub id: i64,
    pub uuid: String,
    pub repository_id: i64,
    pub phase: String,
    pub started_ms: i64,
    pub display_name: String,
    pub job_config_json: String,
    pub resource_key: Option<String>,
    pub pull_robot_id: Option<i64>,
    pub manual_user_id: Option<i64>,
    pub error: Option<String>,
    pub logs_archived: bool,
    pub heartbeat_ms: Option<i64>,
    pub retries_remaining: i32,
    pub trigger_id: Option<i64>,
    pub manager: Option<String>,
    pub scheduled_ms: Option<i64>,
    pub registered_ms: Option<i64>,
}

/// One log line of a build.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = buildlogentry)]
pub struct LogLineRow {
    pub seq: i64,
    pub message: String,
    pub kind: Option<String>,
    pub data_json: Option<String>,
}

pub fn insert_userfile(c: &mut DbConn, uuid: &str, owner_id: i64, mime_type: &str, now: i64) -> QueryResult<usize> {
    diesel::insert_into(userfile::table)
        .values((
            userfile::uuid.eq(uuid),
            userfile::owner_id.eq(owner_id),
            userfile::mime_type.eq(mime_type),
            userfile::created_ms.eq(now),
        ))
        .execute(c)
}

pub fn find_userfile(c: &mut DbConn, uuid: &str) -> QueryResult<Option<UserFileRow>> {
    userfile::table
        .filter(userfile::uuid.eq(uuid))
        .select(UserFileRow::as_select())
        .first(c)
        .optional()
}

/// Marks the file as being uploaded; false when it is unknown or an upload
/// already started.
pub fn claim_userfile_upload(c: &mut DbConn, uuid: &str, now: i64) -> QueryResult<bool> {
    let n = diesel::update(
        userfile::table
            .filter(userfile::uuid.eq(uuid))
            .filter(userfile::uploaded_ms.is_null()),
    )
    .set(userfile::uploaded_ms.eq(now))
    .execute(c)?;
    Ok(n == 1)
}

/// Records the stored bytes of a claimed upload.
pub fn finish_userfile_upload(c: &mut DbConn, uuid: &str, size: i64, checksum: &str) -> QueryResult<usize> {
    diesel::update(userfile::table.filter(userfile::uuid.eq(uuid)))
        .set((userfile::size.eq(size), userfile::checksum.eq(checksum)))
        .execute(c)
}

/// Gives a failed upload back, so it can be tried again.
pub fn release_userfile_upload(c: &mut DbConn, uuid: &str) -> QueryResult<usize> {
    diesel::update(
        userfile::table
            .filter(userfile::uuid.eq(uuid))
            .filter(userfile::size.is_null()),
    )
    .set(userfile::uploaded_ms.eq(None::<i64>))
    .execute(c)
}

/// A build to queue.
pub struct NewBuild<'a> {
    pub uuid: &'a str,
    pub repository_id: i64,
    pub started_ms: i64,
    pub display_name: &'a str,
    pub job_config_json: &'a str,
    pub resource_key: Option<&'a str>,
    pub pull_robot_id: Option<i64>,
    pub manual_user_id: Option<i64>,
    pub trigger_id: Option<i64>,
}

pub fn insert_build(c: &mut DbConn, b: &NewBuild<'_>) -> QueryResult<usize> {
    diesel::insert_into(repositorybuild::table)
        .values((
            repositorybuild::uuid.eq(b.uuid),
            repositorybuild::repository_id.eq(b.repository_id),
            repositorybuild::started_ms.eq(b.started_ms),
            repositorybuild::display_name.eq(b.display_name),
            repositorybuild::job_config_json.eq(b.job_config_json),
            repositorybuild::resource_key.eq(b.resource_key),
            repositorybuild::pull_robot_id.eq(b.pull_robot_id),
            repositorybuild::manual_user_id.eq(b.manual_user_id),
            repositorybuild::trigger_id.eq(b.trigger_id),
        ))
        .execute(c)
}

/// A build with the name of its pull robot and its trigger, if any.
pub type BuildWithRobot = (BuildRow, Option<String>, Option<TriggerRow>);

/// Builds joined to the name of their pull robot.
macro_rules! builds_with_robot {
    () => {
        repositorybuild::table
            .left_join(users::table.on(repositorybuild::pull_robot_id.eq(users::id.nullable())))
            .select((BuildRow::as_select(), users::username.nullable()))
    };
}

/// Adds each build's trigger.
fn with_triggers(c: &mut DbConn, rows: Vec<(BuildRow, Option<String>)>) -> QueryResult<Vec<BuildWithRobot>> {
    let ids: Vec<i64> = rows.iter().filter_map(|(b, _)| b.trigger_id).collect();
    let triggers: Vec<TriggerRow> = if ids.is_empty() {
        Vec::new()
    } else {
        repositorybuildtrigger::table
            .filter(repositorybuildtrigger::id.eq_any(&ids))
            .select(TriggerRow::as_select())
            .load(c)?
    };
    Ok(rows
        .into_iter()
        .map(|(b, robot)| {
            let trigger = b
                .trigger_id
                .and_then(|id| triggers.iter().find(|t| t.id == id).cloned());
            (b, robot, trigger)
        })
        .collect())
}

/// The repository's builds, newest first, started at or after `since_ms`.
pub fn of_repository(
    c: &mut DbConn,
    repo_id: i64,
    since_ms: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<BuildWithRobot>> {
    let mut q = builds_with_robot!()
        .filter(repositorybuild::repository_id.eq(repo_id))
        .order((repositorybuild::started_ms.desc(), repositorybuild::id.desc()))
        .limit(limit)
        .into_boxed();
    if let Some(since) = since_ms {
        q = q.filter(repositorybuild::started_ms.ge(since));
    }
    let rows = q.load(c)?;
    with_triggers(c, rows)
}

pub fn find(c: &mut DbConn, repo_id: i64, uuid: &str) -> QueryResult<Option<BuildWithRobot>> {
    let row = builds_with_robot!()
        .filter(repositorybuild::repository_id.eq(repo_id))
        .filter(repositorybuild::uuid.eq(uuid))
        .first(c)
        .optional()?;
    Ok(with_triggers(c, row.into_iter().collect())?.pop())
}

/// The repository of the build with this uuid.
pub fn repository_of(c: &mut DbConn, uuid: &str) -> QueryResult<Option<i64>> {
    repositorybuild::table
        .filter(repositorybuild::uuid.eq(uuid))
        .select(repositorybuild::repository_id)
        .first(c)
        .optional()
}

/// The builds queued by the trigger, newest first.
pub fn of_trigger(c: &mut DbConn, trigger_id: i64, limit: i64) -> QueryResult<Vec<BuildWithRobot>> {
    let rows = builds_with_robot!()
        .filter(repositorybuild::trigger_id.eq(trigger_id))
        .order((repositorybuild::started_ms.desc(), repositorybuild::id.desc()))
        .limit(limit)
        .load(c)?;
    with_triggers(c, rows)
}

/// The build with its pull robot's name and its trigger.
pub fn find_by_id(c: &mut DbConn, build_id: i64) -> QueryResult<Option<BuildWithRobot>> {
    let row = builds_with_robot!()
        .filter(repositorybuild::id.eq(build_id))
        .first(c)
        .optional()?;
    Ok(with_triggers(c, row.into_iter().collect())?.pop())
}

/// Cancels the build if it is still waiting; false otherwise.
pub fn cancel_waiting(c: &mut DbConn, build_id: i64) -> QueryResult<bool> {
    let n = diesel::update(
        repositorybuild::table
            .filter(repositorybuild::id.eq(build_id))
            .filter(repositorybuild::phase.eq(WAITING)),
    )
    .set(repositorybuild::phase.eq(CANCELLED))
    .execute(c)?;
    Ok(n == 1)
}

/// Cancels every unfinished build of the repository (it is being deleted);
/// the managers of running ones then stop their builders.
pub fn cancel_unfinished_of_repository(c: &mut DbConn, repo_id: i64) -> QueryResult<usize> {
    let unfinished: Vec<&str> = [WAITING].into_iter().chain(super::build_jobs::RUNNING).collect();
    diesel::update(
        repositorybuild::table
            .filter(repositorybuild::repository_id.eq(repo_id))
            .filter(repositorybuild::phase.eq_any(unfinished)),
    )
    .set(repositorybuild::phase.eq(CANCELLED))
    .execute(c)
}

/// The number of log lines of the build and those from position `start`
/// on (positions count from 0 without gaps).
pub fn log_lines(c: &mut DbConn, build_id: i64, start: i64) -> QueryResult<(i64, Vec<LogLineRow>)> {
    let total = buildlogentry::table
        .filter(buildlogentry::build_id.eq(build_id))
        .count()
        .get_result(c)?;
    let lines = buildlogentry::table
        .filter(buildlogentry::build_id.eq(build_id))
        .filter(buildlogentry::seq.ge(start))
        .order(buildlogentry::seq.asc())
        .select(LogLineRow::as_select())
        .load(c)?;
    Ok((total, lines))
}

/// Appends a log line at the next position.
pub fn append_log_line(
    c: &mut DbConn,
    build_id: i64,
    message: &str,
    kind: Option<&str>,
    data_json: Option<&str>,
) -> QueryResult<i64> {
    let last: Option<i64> = buildlogentry::table
        .filter(buildlogentry::build_id.eq(build_id))
        .select(diesel::dsl::max(buildlogentry::seq))
        .first(c)?;
    let seq = last.map_or(0, |s| s + 1);
    diesel::insert_into(buildlogentry::table)
        .values((
            buildlogentry::build_id.eq(build_id),
            buildlogentry::seq.eq(seq),
            buildlogentry::message.eq(message),
            buildlogentry::kind.eq(kind),
            buildlogentry::data_json.eq(data_json),
        ))
        .execute(c)?;
    Ok(seq)
}

/// The phases of builds that have ended.
pub const ENDED: [&str; 5] = ["complete", "error", "internalerror", "cancelled", "expired"];

/// Ended builds whose logs are not archived yet, oldest first.
pub fn ended_unarchived(c: &mut DbConn, limit: i64) -> QueryResult<Vec<i64>> {
    repositorybuild::table
        .filter(repositorybuild::phase.eq_any(ENDED))
        .filter(repositorybuild::logs_archived.eq(false))
        .order(repositorybuild::id.asc())
        .limit(limit)
        .select(repositorybuild::id)
        .load(c)
}

/// Marks the build's logs archived; false when they already were.
pub fn mark_logs_archived(c: &mut DbConn, build_id: i64) -> QueryResult<bool> {
    let n = diesel::update(
        repositorybuild::table
            .filter(repositorybuild::id.eq(build_id))
            .filter(repositorybuild::logs_archived.eq(false)),
    )
    .set(repositorybuild::logs_archived.eq(true))
    .execute(c)?;
    Ok(n == 1)
}

/// Deletes the build's log lines (once they are archived).
pub fn delete_log_lines(c: &mut DbConn, build_id: i64) -> QueryResult<usize> {
    diesel::delete(buildlogentry::table.filter(buildlogentry::build_id.eq(build_id))).execute(c)
}

/// The builds of the namespace's repositories that are waiting or running
/// (Quay's alive build queue items).
pub fn count_unfinished_in_namespace(c: &mut DbConn, namespace_id: i64) -> QueryResult<i64> {
    let unfinished: Vec<&str> = [WAITING].into_iter().chain(super::build_jobs::RUNNING).collect();
    repositorybuild::table
        .inner_join(repository::table)
        .filter(repository::namespace_user_id.eq(namespace_id))
        .filter(repositorybuild::phase.eq_any(unfinished))
        .count()
        .get_result(c)
}
