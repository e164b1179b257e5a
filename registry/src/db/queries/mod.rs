//! Every SQL statement of the registry, grouped by table family. Functions
//! take a [`DbConn`](super::DbConn) and run inside whatever transaction the
//! caller opened with [`Db::write`](super::Db::write).

pub mod accounts;
pub mod applications;
pub mod apptokens;
pub mod blobs;
pub mod build_jobs;
pub mod builds;
pub mod directory;
pub mod gc;
pub mod invites;
pub mod labels;
pub mod log_exports;
pub mod logs;
pub mod manifests;
pub mod messages;
pub mod mirrors;
pub mod namespace_notifications;
pub mod notifications;
pub mod oauth;
pub mod org_mirror_repos;
pub mod org_mirrors;
pub mod permissions;
pub mod prototypes;
pub mod proxy_cache;
pub mod pull_stats;
pub mod queues;
pub mod quota;
pub mod repositories;
pub mod robot_tokens;
pub mod robots;
pub mod search;
pub mod secscan;
pub mod service_keys;
pub mod sessions;
pub mod stars;
pub mod tag_policies;
pub mod tags;
pub mod teams;
pub mod triggers;
pub mod uploads;

use diesel::result::{DatabaseErrorKind, Error};

/// `text` with LIKE's wildcards escaped (patterns use `\\` as the escape).
pub fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

diesel::define_sql_function! {
    /// `lower()` of a nullable text column.
    #[sql_name = "lower"]
    fn lower_nullable(x: diesel::sql_types::Nullable<diesel::sql_types::Text>) -> diesel::sql_types::Nullable<diesel::sql_types::Text>;
}

/// An update whose changeset sets nothing changes nothing: diesel refuses
/// to build such a query, so it counts as done without touching a row.
pub fn unless_nothing_to_change(r: Result<usize, Error>) -> Result<usize, Error> {
    match r {
        Err(Error::QueryBuilderError(e)) if e.is::<diesel::result::EmptyChangeset>() => Ok(0),
        other => other,
    }
}

/// Whether an insert failed only because the row exists already.
pub fn is_unique_violation(e: &Error) -> bool {
    matches!(e, Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _))
}

/// A transaction the database rolled back because it collided with a
/// concurrent one (PostgreSQL serialization failure or deadlock victim);
/// running it again is the remedy.
pub fn is_transient_conflict(e: &Error) -> bool {
    match e {
        Error::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => true,
        Error::DatabaseError(DatabaseErrorKind::Unknown, info) => info.message().starts_with("deadlock detected"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db_error(kind: DatabaseErrorKind, message: &str) -> Error {
        Error::DatabaseError(kind, Box::new(message.to_owned()))
    }

    #[test]
    fn deadlocks_and_serialization_failures_are_transient_and_nothing_else() {
        assert!(is_transient_conflict(&db_error(
            DatabaseErrorKind::Unknown,
            "deadlock detected"
        )));
        assert!(is_transient_conflict(&db_error(
            DatabaseErrorKind::SerializationFailure,
            "could not serialize access"
        )));
        assert!(!is_transient_conflict(&db_error(
            DatabaseErrorKind::Unknown,
            "syntax error"
        )));
        assert!(!is_transient_conflict(&db_error(
            DatabaseErrorKind::UniqueViolation,
            "duplicate key"
        )));
        assert!(!is_transient_conflict(&Error::NotFound));
    }
}
