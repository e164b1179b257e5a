//! SQL for the OAuth authorization flows: authorization codes of the code
//! grant (`oauthauthorizationcode`), the scopes a user already granted an
//! application (its live access tokens), and token assignments
//! (`oauthassignedtoken`).

use diesel::prelude::*;

use super::applications::Application;
use crate::db::schema::{
    oauthaccesstoken, oauthapplication, oauthassignedtoken, oauthauthorizationcode as code, users,
};
use crate::db::DbConn;

/// A new authorization code's row.
pub struct NewCode<'a> {
    pub application_id: i64,
    pub user_id: i64,
    pub code_name: &'a str,
    pub secret_sha256: &'a str,
    pub scope: &'a str,
    pub redirect_uri: &'a str,
    pub now: i64,
}

pub fn insert_code(c: &mut DbConn, n: &NewCode<'_>) -> QueryResult<()> {
    diesel::insert_into(code::table)
        .values((
            code::application_id.eq(n.application_id),
            code::user_id.eq(n.user_id),
            code::code_name.eq(n.code_name),
            code::code_secret_sha256.eq(n.secret_sha256),
            code::scope.eq(n.scope),
            code::redirect_uri.eq(n.redirect_uri),
            code::created_ms.eq(n.now),
        ))
        .execute(c)
        .map(drop)
}

/// An authorization code as issued.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = code)]
pub struct CodeRow {
    pub id: i64,
    pub user_id: i64,
    pub code_secret_sha256: String,
    pub scope: String,
    pub redirect_uri: String,
    pub created_ms: i64,
}

/// The application's code named `code_name`.
pub fn find_code(c: &mut DbConn, application_id: i64, code_name: &str) -> QueryResult<Option<CodeRow>> {
    code::table
        .filter(code::application_id.eq(application_id))
        .filter(code::code_name.eq(code_name))
        .select(CodeRow::as_select())
        .first(c)
        .optional()
}

/// Deletes a code; whether it was still there (a code is used once).
pub fn delete_code(c: &mut DbConn, id: i64) -> QueryResult<bool> {
    diesel::delete(code::table.find(id)).execute(c).map(|n| n > 0)
}

/// The scope strings of the user's live tokens of the application.
pub fn granted_scopes(c: &mut DbConn, client_id: &str, user_id: i64, now: i64) -> QueryResult<Vec<String>> {
    oauthaccesstoken::table
        .filter(oauthaccesstoken::application_client_id.eq(client_id))
        .filter(oauthaccesstoken::authorized_user_id.eq(user_id))
        .filter(oauthaccesstoken::expires_at_ms.gt(now))
        .select(oauthaccesstoken::scope)
        .load(c)
}

/// A new token assignment's row.
pub struct NewAssignment<'a> {
    pub uuid: &'a str,
    pub user_id: i64,
    pub application_id: i64,
    pub redirect_uri: &'a str,
    pub scope: &'a str,
    pub response_type: &'a str,
    pub now: i64,
}

pub fn insert_assignment(c: &mut DbConn, n: &NewAssignment<'_>) -> QueryResult<()> {
    diesel::insert_into(oauthassignedtoken::table)
        .values((
            oauthassignedtoken::uuid.eq(n.uuid),
            oauthassignedtoken::assigned_user_id.eq(n.user_id),
            oauthassignedtoken::application_id.eq(n.application_id),
            oauthassignedtoken::redirect_uri.eq(n.redirect_uri),
            oauthassignedtoken::scope.eq(n.scope),
            oauthassignedtoken::response_type.eq(n.response_type),
            oauthassignedtoken::created_ms.eq(n.now),
        ))
        .execute(c)
        .map(drop)
}

/// A token assignment.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = oauthassignedtoken)]
pub struct AssignmentRow {
    pub id: i64,
    pub uuid: String,
    pub redirect_uri: Option<String>,
    pub scope: String,
    pub response_type: Option<String>,
}

/// The user's assignments with their applications and the applications'
/// organizations, oldest first.
pub fn assignments_of(c: &mut DbConn, user_id: i64) -> QueryResult<Vec<(AssignmentRow, Application, String)>> {
    oauthassignedtoken::table
        .inner_join(oauthapplication::table.inner_join(users::table))
        .filter(oauthassignedtoken::assigned_user_id.eq(user_id))
        .order(oauthassignedtoken::id.asc())
        .select((AssignmentRow::as_select(), Application::as_select(), users::username))
        .load(c)
}

/// The user's assignment `uuid` of the application, if any.
pub fn assignment_of(
    c: &mut DbConn,
    user_id: i64,
    uuid: &str,
    application_id: Option<i64>,
) -> QueryResult<Option<AssignmentRow>> {
    let mut q = oauthassignedtoken::table
        .filter(oauthassignedtoken::assigned_user_id.eq(user_id))
        .filter(oauthassignedtoken::uuid.eq(uuid))
        .select(AssignmentRow::as_select())
        .into_boxed();
    if let Some(app) = application_id {
        q = q.filter(oauthassignedtoken::application_id.eq(app));
    }
    q.first(c).optional()
}

pub fn delete_assignment(c: &mut DbConn, id: i64) -> QueryResult<()> {
    diesel::delete(oauthassignedtoken::table.find(id)).execute(c).map(drop)
}

/// Removes the codes and assignments of an application being deleted.
pub fn delete_of_application(c: &mut DbConn, application_id: i64) -> QueryResult<()> {
    diesel::delete(code::table.filter(code::application_id.eq(application_id))).execute(c)?;
    diesel::delete(oauthassignedtoken::table.filter(oauthassignedtoken::application_id.eq(application_id)))
        .execute(c)
        .map(drop)
}

/// Removes the codes and assignments of a user being deleted, and those of
/// the applications of an organization being deleted.
pub fn delete_of_account(c: &mut DbConn, account_id: i64) -> QueryResult<()> {
    let apps = oauthapplication::table
        .filter(oauthapplication::organization_id.eq(account_id))
        .select(oauthapplication::id);
    diesel::delete(code::table.filter(code::user_id.eq(account_id).or(code::application_id.eq_any(apps))))
        .execute(c)?;
    let apps = oauthapplication::table
        .filter(oauthapplication::organization_id.eq(account_id))
        .select(oauthapplication::id);
    diesel::delete(
        oauthassignedtoken::table.filter(
            oauthassignedtoken::assigned_user_id
                .eq(account_id)
                .or(oauthassignedtoken::application_id.eq_any(apps)),
        ),
    )
    .execute(c)
    .map(drop)
}
