//! App-specific tokens (`appspecificauthtoken`): `token_name` is the public
//! half of a token code, `token_secret_sha256` the hash of the secret half
//! and `token_secret_encrypted` that half encrypted (absent on tokens made
//! before it was kept).

use diesel::prelude::*;

use crate::db::models::Account;
use crate::db::schema::{appspecificauthtoken as t, users};
use crate::db::DbConn;

/// A token row without its secret.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = t)]
pub struct AppTokenRow {
    pub id: i64,
    pub uuid: String,
    pub user_id: i64,
    pub title: String,
    pub created_ms: i64,
    pub expiration_ms: Option<i64>,
    pub last_accessed_ms: Option<i64>,
}

/// What a new token row holds.
pub struct NewAppToken<'a> {
    pub uuid: &'a str,
    pub user_id: i64,
    pub title: &'a str,
    pub token_name: &'a str,
    pub secret_sha256: &'a str,
    pub secret_encrypted: &'a str,
    pub now: i64,
    pub expiration_ms: Option<i64>,
}

pub fn insert(c: &mut DbConn, n: &NewAppToken<'_>) -> QueryResult<()> {
    diesel::insert_into(t::table)
        .values((
            t::uuid.eq(n.uuid),
            t::user_id.eq(n.user_id),
            t::title.eq(n.title),
            t::token_name.eq(n.token_name),
            t::token_secret_sha256.eq(n.secret_sha256),
            t::token_secret_encrypted.eq(n.secret_encrypted),
            t::created_ms.eq(n.now),
            t::expiration_ms.eq(n.expiration_ms),
        ))
        .execute(c)
        .map(drop)
}

/// The user's tokens, oldest first; with `expiring_between`, only those
/// whose expiration falls in `(from, to]`.
pub fn list(c: &mut DbConn, user_id: i64, expiring_between: Option<(i64, i64)>) -> QueryResult<Vec<AppTokenRow>> {
    let mut q = t::table
        .filter(t::user_id.eq(user_id))
        .order(t::id.asc())
        .select(AppTokenRow::as_select())
        .into_boxed();
    if let Some((from, to)) = expiring_between {
        q = q.filter(t::expiration_ms.gt(from)).filter(t::expiration_ms.le(to));
    }
    q.load(c)
}

/// Every user's tokens with their owners' names, oldest first; with
/// `expiring_between`, only those whose expiration falls in `(from, to]`.
pub fn list_all(c: &mut DbConn, expiring_between: Option<(i64, i64)>) -> QueryResult<Vec<(AppTokenRow, String)>> {
    let mut q = t::table
        .inner_join(users::table)
        .order(t::id.asc())
        .select((AppTokenRow::as_select(), users::username))
        .into_boxed();
    if let Some((from, to)) = expiring_between {
        q = q.filter(t::expiration_ms.gt(from)).filter(t::expiration_ms.le(to));
    }
    q.load(c)
}

/// The user's token with this uuid.
pub fn find_of_user(c: &mut DbConn, user_id: i64, uuid: &str) -> QueryResult<Option<AppTokenRow>> {
    t::table
        .filter(t::user_id.eq(user_id))
        .filter(t::uuid.eq(uuid))
        .select(AppTokenRow::as_select())
        .first(c)
        .optional()
}

/// The user's token with this uuid, with its public half and its
/// encrypted secret half.
pub fn find_with_code_of_user(
    c: &mut DbConn,
    user_id: i64,
    uuid: &str,
) -> QueryResult<Option<(AppTokenRow, String, Option<String>)>> {
    t::table
        .filter(t::user_id.eq(user_id))
        .filter(t::uuid.eq(uuid))
        .select((AppTokenRow::as_select(), t::token_name, t::token_secret_encrypted))
        .first(c)
        .optional()
}

/// The token named `token_name`, its secret hash and its owner.
pub fn find_by_name(c: &mut DbConn, token_name: &str) -> QueryResult<Option<(AppTokenRow, String, Account)>> {
    t::table
        .inner_join(users::table)
        .filter(t::token_name.eq(token_name))
        .select((AppTokenRow::as_select(), t::token_secret_sha256, Account::as_select()))
        .first(c)
        .optional()
}

pub fn delete(c: &mut DbConn, id: i64) -> QueryResult<()> {
    diesel::delete(t::table.find(id)).execute(c).map(drop)
}

pub fn touch(c: &mut DbConn, id: i64, now: i64) -> QueryResult<()> {
    diesel::update(t::table.find(id))
        .set(t::last_accessed_ms.eq(now))
        .execute(c)
        .map(drop)
}
