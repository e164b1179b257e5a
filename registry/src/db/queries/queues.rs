//! How many items wait in each work queue, for `/metrics`.

use diesel::prelude::*;

use crate::db::schema::{logexport, manifestsecuritystatus, notificationqueue, repositorybuild};
use crate::db::DbConn;

/// (queue name, items waiting) of the notification, build, security
/// indexing and usage-log export queues.
pub fn depths(c: &mut DbConn) -> QueryResult<Vec<(&'static str, i64)>> {
    let notifications: i64 = notificationqueue::table.count().get_result(c)?;
    let builds: i64 = repositorybuild::table
        .filter(repositorybuild::phase.eq(super::builds::WAITING))
        .count()
        .get_result(c)?;
    let secscan: i64 = manifestsecuritystatus::table
        .filter(manifestsecuritystatus::index_status.eq(super::secscan::QUEUED))
        .count()
        .get_result(c)?;
    let exports: i64 = logexport::table
        .filter(logexport::status.eq(super::log_exports::QUEUED))
        .count()
        .get_result(c)?;
    Ok(vec![
        ("notification", notifications),
        ("build", builds),
        ("secscan", secscan),
        ("log_export", exports),
    ])
}
