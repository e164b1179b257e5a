//! SQL for OAuth applications of organizations and the access tokens
//! minted for them (`oauthaccesstoken.application_client_id`).

use diesel::prelude::*;

use crate::db::schema::{oauthaccesstoken, oauthapplication, users};
use crate::db::DbConn;

/// An `oauthapplication` row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = oauthapplication)]
pub struct Application {
    pub id: i64,
    pub client_id: String,
    pub client_secret: String,
    pub organization_id: i64,
    pub name: String,
    pub redirect_uri: String,
    pub application_uri: String,
    pub description: String,
    pub avatar_email: Option<String>,
    pub created_ms: i64,
}

/// The fields an organization admin sets on an application.
#[derive(Debug, Clone, Insertable, AsChangeset)]
#[diesel(table_name = oauthapplication, treat_none_as_null = true)]
pub struct ApplicationFields {
    pub name: String,
    pub redirect_uri: String,
    pub application_uri: String,
    pub description: String,
    pub avatar_email: Option<String>,
}

/// The applications of an organization, oldest first.
pub fn list_of_org(c: &mut DbConn, org_id: i64) -> QueryResult<Vec<Application>> {
    oauthapplication::table
        .filter(oauthapplication::organization_id.eq(org_id))
        .order(oauthapplication::id.asc())
        .select(Application::as_select())
        .load(c)
}

/// An application by client id, with the name of its organization.
pub fn find(c: &mut DbConn, client_id: &str) -> QueryResult<Option<(Application, String)>> {
    oauthapplication::table
        .inner_join(users::table)
        .filter(oauthapplication::client_id.eq(client_id))
        .filter(users::enabled.eq(true))
        .select((Application::as_select(), users::username))
        .first(c)
        .optional()
}

pub fn insert(
    c: &mut DbConn,
    org_id: i64,
    client_id: &str,
    client_secret: &str,
    fields: &ApplicationFields,
    now: i64,
) -> QueryResult<()> {
    diesel::insert_into(oauthapplication::table)
        .values((
            oauthapplication::client_id.eq(client_id),
            oauthapplication::client_secret.eq(client_secret),
            oauthapplication::organization_id.eq(org_id),
            oauthapplication::created_ms.eq(now),
            fields,
        ))
        .execute(c)
        .map(drop)
}

pub fn update(c: &mut DbConn, id: i64, fields: &ApplicationFields) -> QueryResult<()> {
    super::unless_nothing_to_change(diesel::update(oauthapplication::table.find(id)).set(fields).execute(c)).map(drop)
}

pub fn set_secret(c: &mut DbConn, id: i64, client_secret: &str) -> QueryResult<()> {
    diesel::update(oauthapplication::table.find(id))
        .set(oauthapplication::client_secret.eq(client_secret))
        .execute(c)
        .map(drop)
}

/// Deletes an application and revokes every token, code and assignment
/// made for it.
pub fn delete(c: &mut DbConn, id: i64, client_id: &str) -> QueryResult<()> {
    super::oauth::delete_of_application(c, id)?;
    diesel::delete(oauthaccesstoken::table.filter(oauthaccesstoken::application_client_id.eq(client_id))).execute(c)?;
    diesel::delete(oauthapplication::table.find(id)).execute(c).map(drop)
}

/// A token of an application as its listing shows it (never the secret).
#[derive(Debug, Clone, Queryable)]
pub struct AppToken {
    pub uuid: String,
    pub name: String,
    pub scope: String,
    pub expires_at_ms: i64,
    pub created_ms: i64,
    pub created_by: String,
    pub last_accessed_ms: Option<i64>,
}

type TokenColumns = (
    oauthaccesstoken::uuid,
    oauthaccesstoken::display_name,
    oauthaccesstoken::scope,
    oauthaccesstoken::expires_at_ms,
    oauthaccesstoken::created_ms,
    users::username,
    oauthaccesstoken::last_accessed_ms,
);

const TOKEN_COLUMNS: TokenColumns = (
    oauthaccesstoken::uuid,
    oauthaccesstoken::display_name,
    oauthaccesstoken::scope,
    oauthaccesstoken::expires_at_ms,
    oauthaccesstoken::created_ms,
    users::username,
    oauthaccesstoken::last_accessed_ms,
);

/// The application's tokens that have not expired at `now`, oldest first.
pub fn active_tokens(c: &mut DbConn, client_id: &str, now: i64) -> QueryResult<Vec<AppToken>> {
    oauthaccesstoken::table
        .inner_join(users::table)
        .filter(oauthaccesstoken::application_client_id.eq(client_id))
        .filter(oauthaccesstoken::expires_at_ms.gt(now))
        .order(oauthaccesstoken::id.asc())
        .select(TOKEN_COLUMNS)
        .load(c)
}

/// How many tokens of the application have not expired at `now`.
pub fn count_active_tokens(c: &mut DbConn, client_id: &str, now: i64) -> QueryResult<i64> {
    oauthaccesstoken::table
        .filter(oauthaccesstoken::application_client_id.eq(client_id))
        .filter(oauthaccesstoken::expires_at_ms.gt(now))
        .count()
        .get_result(c)
}

/// A token by its public name (the first half of the token).
pub fn token_by_name(c: &mut DbConn, token_name: &str) -> QueryResult<Option<AppToken>> {
    oauthaccesstoken::table
        .inner_join(users::table)
        .filter(oauthaccesstoken::token_name.eq(token_name))
        .select(TOKEN_COLUMNS)
        .first(c)
        .optional()
}

/// Deletes one token of the application; returns how many rows went.
pub fn delete_token(c: &mut DbConn, client_id: &str, uuid: &str) -> QueryResult<usize> {
    diesel::delete(
        oauthaccesstoken::table
            .filter(oauthaccesstoken::application_client_id.eq(client_id))
            .filter(oauthaccesstoken::uuid.eq(uuid)),
    )
    .execute(c)
}

/// Serializes token minting for one application until the transaction
/// ends, so the active-token cap holds. SQLite needs nothing: it has a
/// single writer.
pub fn lock(c: &mut DbConn, id: i64) -> QueryResult<()> {
    match c {
        DbConn::Pg(pg) => oauthapplication::table
            .find(id)
            .select(oauthapplication::id)
            .for_update()
            .first::<i64>(pg)
            .map(drop),
        DbConn::Sqlite(_) => Ok(()),
    }
}
