//! SQL for stars: repositories a user starred.

use diesel::prelude::*;

use crate::db::schema::star;
use crate::db::DbConn;

/// Drops every star of a repository (when it is deleted).
pub fn remove_all_of_repository(c: &mut DbConn, repository_id: i64) -> QueryResult<usize> {
    diesel::delete(star::table.filter(star::repository_id.eq(repository_id))).execute(c)
}
