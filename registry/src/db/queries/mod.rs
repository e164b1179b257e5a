//! Every SQL statement of the registry, grouped by table family. Functions
//! take a [`DbConn`](super::DbConn) and run inside whatever transaction the
//! caller opened with [`Db::write`](super::Db::write).

pub mod accounts;
pub mod applications;
pub mod apptokens;
pub mod blobs;
pub mod gc;
pub mod invites;
pub mod labels;
pub mod log_exports;
pub mod logs;
pub mod manifests;
pub mod notifications;
pub mod permissions;
pub mod prototypes;
pub mod quota;
pub mod repositories;
pub mod robots;
pub mod sessions;
pub mod stars;
pub mod tags;
pub mod teams;
pub mod uploads;

use diesel::result::{DatabaseErrorKind, Error};

/// Whether an insert failed only because the row exists already.
pub fn is_unique_violation(e: &Error) -> bool {
    matches!(e, Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _))
}
