//! Service keys (`managedservicekey`): public JWKs of services that sign
//! their own JWTs, with the superuser approval that makes them trusted.

use diesel::prelude::*;

use crate::db::models::Account;
use crate::db::schema::{managedservicekey as k, users};
use crate::db::DbConn;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = k)]
pub struct ServiceKeyRow {
    pub kid: String,
    pub name: String,
    pub service: String,
    pub jwk_json: String,
    pub metadata_json: String,
    pub created_ms: i64,
    pub expiration_ms: Option<i64>,
    pub rotation_duration_s: Option<i64>,
    pub approver_id: Option<i64>,
    pub approval_type: Option<String>,
    pub approved_ms: Option<i64>,
    pub approval_notes: Option<String>,
}

/// A key row with its approver's account.
pub type KeyWithApprover = (ServiceKeyRow, Option<Account>);

pub fn insert(c: &mut DbConn, row: &ServiceKeyRow) -> QueryResult<()> {
    diesel::insert_into(k::table)
        .values((
            k::kid.eq(&row.kid),
            k::name.eq(&row.name),
            k::service.eq(&row.service),
            k::jwk_json.eq(&row.jwk_json),
            k::metadata_json.eq(&row.metadata_json),
            k::created_ms.eq(row.created_ms),
            k::expiration_ms.eq(row.expiration_ms),
            k::rotation_duration_s.eq(row.rotation_duration_s),
        ))
        .execute(c)
        .map(drop)
}

/// Every key, oldest first.
pub fn list(c: &mut DbConn) -> QueryResult<Vec<KeyWithApprover>> {
    k::table
        .left_join(users::table)
        .order(k::id.asc())
        .select((ServiceKeyRow::as_select(), Option::<Account>::as_select()))
        .load(c)
}

pub fn find(c: &mut DbConn, kid: &str) -> QueryResult<Option<KeyWithApprover>> {
    k::table
        .left_join(users::table)
        .filter(k::kid.eq(kid))
        .select((ServiceKeyRow::as_select(), Option::<Account>::as_select()))
        .first(c)
        .optional()
}

/// Records the approval of a key not approved yet; whether it was.
pub fn approve(c: &mut DbConn, kid: &str, approver: i64, kind: &str, notes: &str, now: i64) -> QueryResult<bool> {
    diesel::update(k::table.filter(k::kid.eq(kid)).filter(k::approval_type.is_null()))
        .set((
            k::approver_id.eq(approver),
            k::approval_type.eq(kind),
            k::approved_ms.eq(now),
            k::approval_notes.eq(notes),
        ))
        .execute(c)
        .map(|n| n > 0)
}

pub fn set_expiration(c: &mut DbConn, kid: &str, expiration_ms: Option<i64>) -> QueryResult<()> {
    diesel::update(k::table.filter(k::kid.eq(kid)))
        .set(k::expiration_ms.eq(expiration_ms))
        .execute(c)
        .map(drop)
}

pub fn set_name(c: &mut DbConn, kid: &str, name: &str) -> QueryResult<()> {
    diesel::update(k::table.filter(k::kid.eq(kid)))
        .set(k::name.eq(name))
        .execute(c)
        .map(drop)
}

pub fn set_metadata(c: &mut DbConn, kid: &str, metadata_json: &str) -> QueryResult<()> {
    diesel::update(k::table.filter(k::kid.eq(kid)))
        .set(k::metadata_json.eq(metadata_json))
        .execute(c)
        .map(drop)
}

pub fn delete(c: &mut DbConn, kid: &str) -> QueryResult<()> {
    diesel::delete(k::table.filter(k::kid.eq(kid))).execute(c).map(drop)
}
