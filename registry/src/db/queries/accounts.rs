//! Users, organizations and robots (all rows of the `user` table), teams and
//! OAuth access tokens.

use diesel::prelude::*;

use crate::db::models::Account;
use crate::db::schema::{oauthaccesstoken, team, teammember, users};
use crate::db::DbConn;

/// Names of deleted namespaces (`deleted+<uuid>`): user and organization
/// names never contain `+`, so these never collide with or list as real ones.
pub const DELETED_PATTERN: &str = "deleted+%";

/// What a new account row holds.
pub struct NewAccount<'a> {
    pub username: &'a str,
    pub email: Option<&'a str>,
    pub password_hash: Option<&'a str>,
    pub organization: bool,
    pub robot: bool,
    pub verified: bool,
    /// The time-machine window (`removed_tag_expiration_s`).
    pub tag_expiration_s: i64,
    pub now: i64,
}

pub fn find(c: &mut DbConn, username: &str) -> QueryResult<Option<Account>> {
    users::table
        .filter(users::username.eq(username))
        .select(Account::as_select())
        .first(c)
        .optional()
}

pub fn find_by_id(c: &mut DbConn, id: i64) -> QueryResult<Option<Account>> {
    users::table.find(id).select(Account::as_select()).first(c).optional()
}

/// Whether another account already uses this email address.
/// The accounts with these ids (missing ones are skipped).
pub fn find_by_ids(c: &mut DbConn, ids: &[i64]) -> QueryResult<Vec<Account>> {
    users::table
        .filter(users::id.eq_any(ids.to_vec()))
        .select(Account::as_select())
        .load(c)
}

pub fn email_taken(c: &mut DbConn, email: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(users::table.filter(users::email.eq(email)))).get_result(c)
}

/// Inserts an account; the caller checked the name is free.
pub fn insert(c: &mut DbConn, a: &NewAccount<'_>) -> QueryResult<Account> {
    diesel::insert_into(users::table)
        .values((
            users::uuid.eq(uuid::Uuid::new_v4().to_string()),
            users::username.eq(a.username),
            users::email.eq(a.email),
            users::password_hash.eq(a.password_hash),
            users::organization.eq(a.organization),
            users::robot.eq(a.robot),
            users::verified.eq(a.verified),
            users::creation_date.eq(a.now),
            users::removed_tag_expiration_s.eq(a.tag_expiration_s),
        ))
        .execute(c)?;
    find(c, a.username)?.ok_or(diesel::result::Error::NotFound)
}

/// Whether any user (not organization, not robot) exists.
pub fn any_user(c: &mut DbConn) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        users::table
            .filter(users::organization.eq(false))
            .filter(users::robot.eq(false)),
    ))
    .get_result(c)
}

/// Users (not organizations or robots) by name, optionally only enabled ones.
pub fn list_users(c: &mut DbConn, include_disabled: bool, limit: i64) -> QueryResult<Vec<Account>> {
    let mut q = users::table
        .filter(users::organization.eq(false))
        .filter(users::robot.eq(false))
        .filter(users::username.not_like(DELETED_PATTERN))
        .order(users::username.asc())
        .limit(limit)
        .select(Account::as_select())
        .into_boxed();
    if !include_disabled {
        q = q.filter(users::enabled.eq(true));
    }
    q.load(c)
}

pub fn list_organizations(c: &mut DbConn, limit: i64) -> QueryResult<Vec<Account>> {
    users::table
        .filter(users::organization.eq(true))
        .filter(users::username.not_like(DELETED_PATTERN))
        .order(users::username.asc())
        .limit(limit)
        .select(Account::as_select())
        .load(c)
}

/// The fields a superuser or the user may change.
#[derive(Debug, Default, Clone, AsChangeset)]
#[diesel(table_name = users)]
pub struct AccountChanges {
    pub email: Option<Option<String>>,
    pub password_hash: Option<Option<String>>,
    pub enabled: Option<bool>,
    pub superuser: Option<bool>,
    pub invalid_login_attempts: Option<i32>,
    pub last_invalid_login_ms: Option<Option<i64>>,
    pub removed_tag_expiration_s: Option<i64>,
}

pub fn update(c: &mut DbConn, id: i64, changes: &AccountChanges) -> QueryResult<()> {
    super::unless_nothing_to_change(diesel::update(users::table.find(id)).set(changes).execute(c)).map(drop)
}

/// Renames an account (organizations, by a superuser).
pub fn rename(c: &mut DbConn, id: i64, new_name: &str) -> QueryResult<()> {
    diesel::update(users::table.find(id))
        .set(users::username.eq(new_name))
        .execute(c)
        .map(drop)
}

/// Creates a team in an organization; returns its id.
pub fn insert_team(c: &mut DbConn, org_id: i64, name: &str, role: &str, description: &str) -> QueryResult<i64> {
    diesel::insert_into(team::table)
        .values((
            team::organization_id.eq(org_id),
            team::name.eq(name),
            team::role.eq(role),
            team::description.eq(description),
        ))
        .execute(c)?;
    team::table
        .filter(team::organization_id.eq(org_id))
        .filter(team::name.eq(name))
        .select(team::id)
        .first(c)
}

pub fn add_team_member(c: &mut DbConn, team_id: i64, user_id: i64) -> QueryResult<()> {
    diesel::insert_into(teammember::table)
        .values((teammember::team_id.eq(team_id), teammember::user_id.eq(user_id)))
        .execute(c)
        .map(drop)
}

/// Organizations the user belongs to through any team, with whether one of
/// those teams is an admin team.
pub fn organizations_of(c: &mut DbConn, user_id: i64) -> QueryResult<Vec<(String, bool)>> {
    let rows: Vec<(String, String)> = teammember::table
        .inner_join(team::table.inner_join(users::table))
        .filter(teammember::user_id.eq(user_id))
        .filter(users::enabled.eq(true))
        .filter(users::username.not_like(DELETED_PATTERN))
        .select((users::username, team::role))
        .load(c)?;
    let mut orgs: Vec<(String, bool)> = Vec::new();
    for (org, role) in rows {
        match orgs.iter_mut().find(|(o, _)| *o == org) {
            Some(entry) => entry.1 |= role == "admin",
            None => orgs.push((org, role == "admin")),
        }
    }
    orgs.sort();
    Ok(orgs)
}

/// A new OAuth access token's row.
pub struct NewToken<'a> {
    pub user_id: i64,
    pub client_id: Option<&'a str>,
    pub display_name: &'a str,
    pub scope: &'a str,
    pub token_name: &'a str,
    pub secret_sha256: &'a str,
    pub expires_at_ms: i64,
    pub now: i64,
}

pub fn insert_token(c: &mut DbConn, t: &NewToken<'_>) -> QueryResult<()> {
    diesel::insert_into(oauthaccesstoken::table)
        .values((
            oauthaccesstoken::uuid.eq(uuid::Uuid::new_v4().to_string()),
            oauthaccesstoken::authorized_user_id.eq(t.user_id),
            oauthaccesstoken::application_client_id.eq(t.client_id),
            oauthaccesstoken::display_name.eq(t.display_name),
            oauthaccesstoken::scope.eq(t.scope),
            oauthaccesstoken::token_name.eq(t.token_name),
            oauthaccesstoken::token_secret_sha256.eq(t.secret_sha256),
            oauthaccesstoken::expires_at_ms.eq(t.expires_at_ms),
            oauthaccesstoken::created_ms.eq(t.now),
        ))
        .execute(c)
        .map(drop)
}

/// An OAuth access token row with its owner.
pub struct TokenRow {
    pub id: i64,
    pub secret_sha256: String,
    pub scope: String,
    pub expires_at_ms: i64,
    pub last_accessed_ms: Option<i64>,
    pub user: Account,
}

/// The token and its owner by the token's public name.
pub fn find_token(c: &mut DbConn, token_name: &str) -> QueryResult<Option<TokenRow>> {
    let row = oauthaccesstoken::table
        .inner_join(users::table)
        .filter(oauthaccesstoken::token_name.eq(token_name))
        .select((
            oauthaccesstoken::id,
            oauthaccesstoken::token_secret_sha256,
            oauthaccesstoken::scope,
            oauthaccesstoken::expires_at_ms,
            oauthaccesstoken::last_accessed_ms,
            Account::as_select(),
        ))
        .first::<(i64, String, String, i64, Option<i64>, Account)>(c)
        .optional()?;
    Ok(row.map(
        |(id, secret_sha256, scope, expires_at_ms, last_accessed_ms, user)| TokenRow {
            id,
            secret_sha256,
            scope,
            expires_at_ms,
            last_accessed_ms,
            user,
        },
    ))
}

/// Records that the access token was used at `now`.
pub fn touch_token(c: &mut DbConn, id: i64, now: i64) -> QueryResult<()> {
    diesel::update(oauthaccesstoken::table.find(id))
        .set(oauthaccesstoken::last_accessed_ms.eq(now))
        .execute(c)
        .map(drop)
}

/// Drops an account's team memberships, sessions, tokens, OAuth codes and
/// assignments, stars, pending invitations and (for organizations)
/// applications and default permissions.
pub fn remove_memberships_and_tokens(c: &mut DbConn, id: i64) -> QueryResult<()> {
    use crate::db::schema::{
        appspecificauthtoken, oauthapplication, permissionprototype, star, teammemberinvite, usersession,
    };
    diesel::delete(teammember::table.filter(teammember::user_id.eq(id))).execute(c)?;
    diesel::delete(oauthaccesstoken::table.filter(oauthaccesstoken::authorized_user_id.eq(id))).execute(c)?;
    diesel::delete(usersession::table.filter(usersession::user_id.eq(id))).execute(c)?;
    diesel::delete(appspecificauthtoken::table.filter(appspecificauthtoken::user_id.eq(id))).execute(c)?;
    diesel::delete(star::table.filter(star::user_id.eq(id))).execute(c)?;
    super::directory::unlink_all(c, id)?;
    diesel::delete(teammemberinvite::table.filter(teammemberinvite::user_id.eq(id))).execute(c)?;
    diesel::delete(
        permissionprototype::table.filter(
            permissionprototype::org_id
                .eq(id)
                .or(permissionprototype::delegate_user_id.eq(id))
                .or(permissionprototype::activating_user_id.eq(id)),
        ),
    )
    .execute(c)?;
    super::oauth::delete_of_account(c, id)?;
    let apps = oauthapplication::table
        .filter(oauthapplication::organization_id.eq(id))
        .select(oauthapplication::client_id.nullable());
    diesel::delete(oauthaccesstoken::table.filter(oauthaccesstoken::application_client_id.eq_any(apps))).execute(c)?;
    diesel::delete(oauthapplication::table.filter(oauthapplication::organization_id.eq(id))).execute(c)?;
    Ok(())
}

/// The named shared secret, if it was created.
pub fn find_service_key(c: &mut DbConn, name: &str) -> QueryResult<Option<String>> {
    use crate::db::schema::servicekey;
    servicekey::table
        .find(name)
        .select(servicekey::secret)
        .first(c)
        .optional()
}

/// The named shared secret, created with `fresh` when missing (first writer wins).
pub fn service_key(c: &mut DbConn, name: &str, fresh: &str, now: i64) -> QueryResult<String> {
    use crate::db::schema::servicekey;
    let row = (
        servicekey::name.eq(name),
        servicekey::secret.eq(fresh),
        servicekey::created_ms.eq(now),
    );
    crate::per_backend!(c, |c| diesel::insert_into(servicekey::table)
        .values(row)
        .on_conflict(servicekey::name)
        .do_nothing()
        .execute(c))?;
    servicekey::table.find(name).select(servicekey::secret).first(c)
}
