//! Running builds: a build manager claims a waiting build, its builder
//! registers and reports, and a build that stops reporting is re-queued or
//! failed.
//!
//! Every transition is a conditional UPDATE on the phase the build is
//! expected to be in, reporting whether it changed the row, so of two
//! managers (or a manager and a cancelling user) exactly one wins.

use diesel::prelude::*;

use super::builds::{BuildRow, CANCELLED, WAITING};
use crate::db::schema::{repository, repositorybuild, users};
use crate::db::DbConn;

/// The phase of a build a manager claimed but whose builder has not
/// reported yet.
pub const SCHEDULED: &str = "build-scheduled";

/// The phases of a claimed build that has not finished.
pub const RUNNING: [&str; 5] = [SCHEDULED, "unpacking", "pulling", "building", "pushing"];

/// A waiting build and the namespace of its repository.
pub type WaitingBuild = (BuildRow, String);

/// The oldest waiting builds, with their repositories' namespaces.
pub fn waiting(c: &mut DbConn, limit: i64) -> QueryResult<Vec<WaitingBuild>> {
    repositorybuild::table
        .inner_join(repository::table.inner_join(users::table))
        .filter(repositorybuild::phase.eq(WAITING))
        .order(repositorybuild::id.asc())
        .limit(limit)
        .select((BuildRow::as_select(), users::username))
        .load(c)
}

/// Claims a waiting build for `manager`: phase `build-scheduled`, with the
/// hash of the job token its builder will present. False when the build is
/// no longer waiting (another manager took it, or it was cancelled).
pub fn claim(c: &mut DbConn, build_id: i64, manager: &str, token_hash: &str, now: i64) -> QueryResult<bool> {
    let n = diesel::update(
        repositorybuild::table
            .filter(repositorybuild::id.eq(build_id))
            .filter(repositorybuild::phase.eq(WAITING)),
    )
    .set((
        repositorybuild::phase.eq(SCHEDULED),
        repositorybuild::manager.eq(manager),
        repositorybuild::job_token_hash.eq(token_hash),
        repositorybuild::scheduled_ms.eq(now),
        repositorybuild::registered_ms.eq(None::<i64>),
        repositorybuild::heartbeat_ms.eq(None::<i64>),
        repositorybuild::log_sequence.eq(0),
    ))
    .execute(c)?;
    Ok(n == 1)
}

pub fn by_uuid(c: &mut DbConn, uuid: &str) -> QueryResult<Option<BuildRow>> {
    repositorybuild::table
        .filter(repositorybuild::uuid.eq(uuid))
        .select(BuildRow::as_select())
        .first(c)
        .optional()
}

/// A build's job token hash, when it was scheduled and when its builder
/// registered.
pub type JobAuth = (Option<String>, Option<i64>, Option<i64>);

pub fn job_of(c: &mut DbConn, build_id: i64) -> QueryResult<JobAuth> {
    repositorybuild::table
        .filter(repositorybuild::id.eq(build_id))
        .select((
            repositorybuild::job_token_hash,
            repositorybuild::scheduled_ms,
            repositorybuild::registered_ms,
        ))
        .first(c)
}

/// Records the builder's registration, once, while the build is scheduled.
pub fn register(c: &mut DbConn, build_id: i64, now: i64) -> QueryResult<bool> {
    let n = diesel::update(
        repositorybuild::table
            .filter(repositorybuild::id.eq(build_id))
            .filter(repositorybuild::phase.eq(SCHEDULED))
            .filter(repositorybuild::registered_ms.is_null()),
    )
    .set((
        repositorybuild::registered_ms.eq(now),
        repositorybuild::heartbeat_ms.eq(now),
    ))
    .execute(c)?;
    Ok(n == 1)
}

/// Refreshes the heartbeat of a running, registered build.
pub fn heartbeat(c: &mut DbConn, build_id: i64, now: i64) -> QueryResult<bool> {
    let n = diesel::update(
        repositorybuild::table
            .filter(repositorybuild::id.eq(build_id))
            .filter(repositorybuild::phase.eq_any(RUNNING))
            .filter(repositorybuild::registered_ms.is_not_null()),
    )
    .set(repositorybuild::heartbeat_ms.eq(now))
    .execute(c)?;
    Ok(n == 1)
}

/// Accepts the builder's log sequence number `seq` if it is above the last
/// one and returns the last one; `None` for a repeated or older number, or
/// a build that is not running.
pub fn advance_log_sequence(c: &mut DbConn, build_id: i64, seq: i64) -> QueryResult<Option<i64>> {
    let last: Option<i64> = repositorybuild::table
        .filter(repositorybuild::id.eq(build_id))
        .filter(repositorybuild::phase.eq_any(RUNNING))
        .select(repositorybuild::log_sequence)
        .first(c)
        .optional()?;
    let Some(last) = last.filter(|l| *l < seq) else {
        return Ok(None);
    };
    let n = diesel::update(
        repositorybuild::table
            .filter(repositorybuild::id.eq(build_id))
            .filter(repositorybuild::phase.eq_any(RUNNING))
            .filter(repositorybuild::log_sequence.eq(last)),
    )
    .set(repositorybuild::log_sequence.eq(seq))
    .execute(c)?;
    Ok((n == 1).then_some(last))
}

/// Gives back sequence number `seq` (its line could not be stored), so the
/// builder may send it again.
pub fn rewind_log_sequence(c: &mut DbConn, build_id: i64, seq: i64, last: i64) -> QueryResult<usize> {
    diesel::update(
        repositorybuild::table
            .filter(repositorybuild::id.eq(build_id))
            .filter(repositorybuild::log_sequence.eq(seq)),
    )
    .set(repositorybuild::log_sequence.eq(last))
    .execute(c)
}

/// Moves a running build to `phase` (with an error message for failures);
/// false when it is not running any more.
pub fn set_phase(c: &mut DbConn, build_id: i64, phase: &str, error: Option<&str>, now: i64) -> QueryResult<bool> {
    let n = diesel::update(
        repositorybuild::table
            .filter(repositorybuild::id.eq(build_id))
            .filter(repositorybuild::phase.eq_any(RUNNING)),
    )
    .set((
        repositorybuild::phase.eq(phase),
        repositorybuild::error.eq(error),
        repositorybuild::heartbeat_ms.eq(now),
    ))
    .execute(c)?;
    Ok(n == 1)
}

/// Cancels a running build; false when it is not running.
pub fn cancel_running(c: &mut DbConn, build_id: i64) -> QueryResult<bool> {
    let n = diesel::update(
        repositorybuild::table
            .filter(repositorybuild::id.eq(build_id))
            .filter(repositorybuild::phase.eq_any(RUNNING)),
    )
    .set(repositorybuild::phase.eq(CANCELLED))
    .execute(c)?;
    Ok(n == 1)
}

/// When a running build counts as stale: registered ones without a
/// heartbeat since `heartbeat`, unregistered ones scheduled before
/// `register`, and any scheduled before `machine` (`MACHINE_MAX_TIME`
/// ago), all in ms.
#[derive(Debug, Clone, Copy)]
pub struct Cutoffs {
    pub heartbeat: i64,
    pub register: i64,
    pub machine: i64,
}

/// The condition of [`Cutoffs`] on `repositorybuild` rows.
macro_rules! is_stale {
    ($cut:expr) => {
        repositorybuild::registered_ms
            .is_not_null()
            .and(repositorybuild::heartbeat_ms.lt($cut.heartbeat))
            .or(repositorybuild::registered_ms
                .is_null()
                .and(repositorybuild::scheduled_ms.lt($cut.register)))
            .or(repositorybuild::scheduled_ms.lt($cut.machine))
    };
}

/// Running builds whose builder went silent.
pub fn stale(c: &mut DbConn, cut: Cutoffs) -> QueryResult<Vec<BuildRow>> {
    repositorybuild::table
        .filter(repositorybuild::phase.eq_any(RUNNING))
        .filter(is_stale!(cut))
        .select(BuildRow::as_select())
        .load(c)
}

/// Re-queues a stale build (one retry fewer) if it has retries left, else
/// fails it as `internalerror`, provided it is still the same silent run.
/// A build past `MACHINE_MAX_TIME` is failed at once: it would only run
/// out of time again. `Some(true)` when re-queued, `Some(false)` when
/// failed, `None` when it reported or changed meanwhile.
pub fn requeue_or_fail(c: &mut DbConn, build: &BuildRow, cut: Cutoffs, message: &str) -> QueryResult<Option<bool>> {
    let same_run = repositorybuild::table
        .filter(repositorybuild::id.eq(build.id))
        .filter(repositorybuild::phase.eq_any(RUNNING))
        .filter(repositorybuild::scheduled_ms.eq(build.scheduled_ms.unwrap_or(0)))
        .filter(is_stale!(cut));
    if build.retries_remaining > 0 && !overdue(build, cut) {
        let n = diesel::update(same_run)
            .set((
                repositorybuild::phase.eq(WAITING),
                repositorybuild::retries_remaining.eq(build.retries_remaining - 1),
                repositorybuild::manager.eq(None::<String>),
                repositorybuild::job_token_hash.eq(None::<String>),
                repositorybuild::heartbeat_ms.eq(None::<i64>),
                repositorybuild::registered_ms.eq(None::<i64>),
            ))
            .execute(c)?;
        return Ok((n == 1).then_some(true));
    }
    let n = diesel::update(same_run)
        .set((
            repositorybuild::phase.eq("internalerror"),
            repositorybuild::retries_remaining.eq(0),
            repositorybuild::job_token_hash.eq(None::<String>),
            repositorybuild::error.eq(message),
        ))
        .execute(c)?;
    Ok((n == 1).then_some(false))
}

/// Whether a running build has run past `MACHINE_MAX_TIME`.
pub fn overdue(build: &BuildRow, cut: Cutoffs) -> bool {
    build.scheduled_ms.is_some_and(|at| at < cut.machine)
}

/// The phases of the builds with these ids.
pub fn phases(c: &mut DbConn, ids: &[i64]) -> QueryResult<Vec<(i64, String)>> {
    repositorybuild::table
        .filter(repositorybuild::id.eq_any(ids))
        .select((repositorybuild::id, repositorybuild::phase))
        .load(c)
}

/// The phases and job token hashes of the builds with these uuids.
pub fn attempts(c: &mut DbConn, uuids: &[String]) -> QueryResult<Vec<(String, String, Option<String>)>> {
    repositorybuild::table
        .filter(repositorybuild::uuid.eq_any(uuids))
        .select((
            repositorybuild::uuid,
            repositorybuild::phase,
            repositorybuild::job_token_hash,
        ))
        .load(c)
}

/// The repository (namespace, name, id) of a build.
pub fn repository_of(c: &mut DbConn, build_id: i64) -> QueryResult<(String, String, i64)> {
    repositorybuild::table
        .inner_join(repository::table.inner_join(users::table))
        .filter(repositorybuild::id.eq(build_id))
        .select((users::username, repository::name, repository::id))
        .first(c)
}
