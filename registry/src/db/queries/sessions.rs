//! Browser sessions (`usersession`): the cookie's SHA-256, its owner, its
//! CSRF token and when the owner last typed the password.

use diesel::prelude::*;

use crate::db::models::Account;
use crate::db::schema::{users, usersession};
use crate::db::DbConn;

/// A session row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = usersession)]
pub struct SessionRow {
    pub id: i64,
    pub user_id: i64,
    pub csrf_token: String,
    pub created_ms: i64,
    pub fresh_login_ms: i64,
    pub expires_ms: i64,
}

/// What a new session row holds.
pub struct NewSession<'a> {
    pub token_sha256: &'a str,
    pub user_id: i64,
    pub csrf_token: &'a str,
    pub now: i64,
    pub expires_ms: i64,
}

pub fn insert(c: &mut DbConn, s: &NewSession<'_>) -> QueryResult<()> {
    diesel::insert_into(usersession::table)
        .values((
            usersession::token_sha256.eq(s.token_sha256),
            usersession::user_id.eq(s.user_id),
            usersession::csrf_token.eq(s.csrf_token),
            usersession::created_ms.eq(s.now),
            usersession::fresh_login_ms.eq(s.now),
            usersession::expires_ms.eq(s.expires_ms),
        ))
        .execute(c)
        .map(drop)
}

/// The session whose cookie hashes to `token_sha256`, with its owner.
pub fn find(c: &mut DbConn, token_sha256: &str) -> QueryResult<Option<(SessionRow, Account)>> {
    usersession::table
        .inner_join(users::table)
        .filter(usersession::token_sha256.eq(token_sha256))
        .select((SessionRow::as_select(), Account::as_select()))
        .first(c)
        .optional()
}

/// Records a password check now.
pub fn set_fresh(c: &mut DbConn, id: i64, now: i64) -> QueryResult<()> {
    diesel::update(usersession::table.find(id))
        .set(usersession::fresh_login_ms.eq(now))
        .execute(c)
        .map(drop)
}

/// Deletes one session; whether it existed.
pub fn delete(c: &mut DbConn, token_sha256: &str) -> QueryResult<bool> {
    diesel::delete(usersession::table.filter(usersession::token_sha256.eq(token_sha256)))
        .execute(c)
        .map(|n| n > 0)
}

/// Deletes every session of a user (password changed, signed out everywhere).
pub fn delete_all_of(c: &mut DbConn, user_id: i64) -> QueryResult<usize> {
    diesel::delete(usersession::table.filter(usersession::user_id.eq(user_id))).execute(c)
}

/// Deletes a user's sessions that ended before `now`.
pub fn delete_expired_of(c: &mut DbConn, user_id: i64, now: i64) -> QueryResult<usize> {
    diesel::delete(
        usersession::table
            .filter(usersession::user_id.eq(user_id))
            .filter(usersession::expires_ms.le(now)),
    )
    .execute(c)
}
