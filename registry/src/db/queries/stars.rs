//! SQL for stars: repositories a user starred.

use diesel::prelude::*;

use crate::db::schema::star;
use crate::db::DbConn;
use crate::per_backend;

/// Stars the repository for the user; starring twice changes nothing.
pub fn add(c: &mut DbConn, user_id: i64, repository_id: i64, now: i64) -> QueryResult<()> {
    let row = (
        star::user_id.eq(user_id),
        star::repository_id.eq(repository_id),
        star::created_ms.eq(now),
    );
    per_backend!(c, |c| diesel::insert_into(star::table)
        .values(row)
        .on_conflict((star::user_id, star::repository_id))
        .do_nothing()
        .execute(c))
    .map(drop)
}

/// Removes the user's star from the repository, if any.
pub fn remove(c: &mut DbConn, user_id: i64, repository_id: i64) -> QueryResult<usize> {
    diesel::delete(
        star::table
            .filter(star::user_id.eq(user_id))
            .filter(star::repository_id.eq(repository_id)),
    )
    .execute(c)
}

/// Which of `repository_ids` the user starred.
pub fn starred_among(c: &mut DbConn, user_id: i64, repository_ids: &[i64]) -> QueryResult<Vec<i64>> {
    star::table
        .filter(star::user_id.eq(user_id))
        .filter(star::repository_id.eq_any(repository_ids.to_vec()))
        .select(star::repository_id)
        .load(c)
}

/// Drops every star of a repository (when it is deleted).
pub fn remove_all_of_repository(c: &mut DbConn, repository_id: i64) -> QueryResult<usize> {
    diesel::delete(star::table.filter(star::repository_id.eq(repository_id))).execute(c)
}

/// Stars per repository, as (repository id, count); unstarred ones absent.
pub fn counts(c: &mut DbConn, repository_ids: &[i64]) -> QueryResult<Vec<(i64, i64)>> {
    star::table
        .filter(star::repository_id.eq_any(repository_ids.to_vec()))
        .group_by(star::repository_id)
        .select((star::repository_id, diesel::dsl::count_star()))
        .load(c)
}
