//! OAuth applications of organizations and the access tokens minted for
//! them ("Generate Token"). Callers checked that the user administers the
//! organization; this module checks the inputs and what a token may carry.
//!
//! A minted token is an ordinary OAuth access token (the format of
//! `issue_access_token`, verified by `authenticate_token`) that also names
//! its application, so deleting the application revokes it.

use super::accounts::sha256_hex;
use super::{random_token, Error, Registry, Scopes};
use crate::db::models::Account;
use crate::db::queries::accounts::{self as accounts_q, NewToken};
use crate::db::queries::applications::{self as q, ApplicationFields};

pub use crate::db::queries::applications::{AppToken, Application};

/// Tokens an application may have alive at once.
pub const MAX_ACTIVE_TOKENS: i64 = 100;
/// The longest (and default) lifetime of a minted token: ten years.
pub const MAX_TOKEN_LIFETIME_S: i64 = 10 * 365 * 24 * 3600;

const MAX_NAME_CHARS: usize = 255;
const MAX_URI_CHARS: usize = 2048;
const MAX_DESCRIPTION_CHARS: usize = 4096;

/// What an organization admin sets on an application.
#[derive(Debug, Clone, Default)]
pub struct ApplicationInput {
    pub name: String,
    pub redirect_uri: String,
    pub application_uri: String,
    pub description: String,
    pub avatar_email: Option<String>,
}

/// A token to mint for an application.
#[derive(Debug, Clone)]
pub struct NewAppToken<'a> {
    pub name: &'a str,
    /// Space- or comma-separated OAuth scopes.
    pub scope: &'a str,
    /// Lifetime in seconds; ten years when absent.
    pub expiration_s: Option<i64>,
}

fn check_name(name: &str, what: &str) -> Result<(), Error> {
    if name.trim().is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(Error::InvalidRequest(format!(
            "The {what} name must be 1 to {MAX_NAME_CHARS} characters"
        )));
    }
    Ok(())
}

/// An empty URI is allowed (not set); any other must be absolute http(s).
fn check_uri(uri: &str, field: &str) -> Result<(), Error> {
    if uri.is_empty() {
        return Ok(());
    }
    let bad = || Error::InvalidRequest(format!("Invalid {field}: must be an absolute http or https URL"));
    if uri.chars().count() > MAX_URI_CHARS {
        return Err(bad());
    }
    let url = url::Url::parse(uri).map_err(|_| bad())?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(bad());
    }
    Ok(())
}

/// Quay takes any text as the avatar email (it only seeds the avatar
/// hash); only the column's length is enforced.
fn check_avatar_email(email: &str) -> Result<(), Error> {
    if email.chars().count() > MAX_NAME_CHARS {
        return Err(Error::InvalidRequest(format!(
            "The avatar_email must be at most {MAX_NAME_CHARS} characters"
        )));
    }
    Ok(())
}

impl ApplicationInput {
    /// The checked row fields; an empty `avatar_email` means none.
    fn into_fields(self) -> Result<ApplicationFields, Error> {
        check_name(&self.name, "application")?;
        check_uri(&self.redirect_uri, "redirect_uri")?;
        check_uri(&self.application_uri, "application_uri")?;
        if self.description.chars().count() > MAX_DESCRIPTION_CHARS {
            return Err(Error::InvalidRequest(format!(
                "The description must be at most {MAX_DESCRIPTION_CHARS} characters"
            )));
        }
        let avatar_email = self.avatar_email.filter(|e| !e.is_empty());
        if let Some(e) = &avatar_email {
            check_avatar_email(e)?;
        }
        Ok(ApplicationFields {
            name: self.name,
            redirect_uri: self.redirect_uri,
            application_uri: self.application_uri,
            description: self.description,
            avatar_email,
        })
    }
}

fn not_found() -> Error {
    Error::NotFound("Application not found".into())
}

impl Registry {
    /// The organization's applications.
    pub async fn applications_of(&self, org: &Account) -> Result<Vec<Application>, Error> {
        let org_id = org.id;
        Ok(self.db().read(move |c| Ok(q::list_of_org(c, org_id)?)).await?)
    }

    /// Registers an application with a fresh client id (20 characters) and
    /// secret (40).
    pub async fn create_application(&self, org: &Account, input: ApplicationInput) -> Result<Application, Error> {
        let fields = input.into_fields()?;
        let (org_id, client_id, secret, now) = (org.id, random_token(20), random_token(40), crate::now_ms());
        self.db()
            .write(move |c| {
                q::insert(c, org_id, &client_id, &secret, &fields, now)?;
                q::find(c, &client_id)?.map(|(a, _)| a).ok_or_else(not_found)
            })
            .await
    }

    /// Any application by client id, with its organization's name.
    pub async fn application(&self, client_id: &str) -> Result<(Application, String), Error> {
        let id = client_id.to_owned();
        self.db()
            .read(move |c| Ok(q::find(c, &id)?))
            .await?
            .ok_or_else(not_found)
    }

    /// The organization's application by client id; another organization's
    /// is not found.
    pub async fn org_application(&self, org: &Account, client_id: &str) -> Result<Application, Error> {
        match self.application(client_id).await? {
            (app, _) if app.organization_id == org.id => Ok(app),
            _ => Err(not_found()),
        }
    }

    pub async fn update_application(&self, app: &Application, input: ApplicationInput) -> Result<Application, Error> {
        let fields = input.into_fields()?;
        let (id, client_id) = (app.id, app.client_id.clone());
        self.db()
            .write(move |c| {
                q::update(c, id, &fields)?;
                q::find(c, &client_id)?.map(|(a, _)| a).ok_or_else(not_found)
            })
            .await
    }

    /// Gives the application a new client secret; the old one stops working.
    pub async fn reset_client_secret(&self, app: &Application) -> Result<Application, Error> {
        let (id, secret) = (app.id, random_token(40));
        self.db()
            .write(move |c| Ok::<_, Error>(q::set_secret(c, id, &secret)?))
            .await?;
        Ok(self.application(&app.client_id).await?.0)
    }

    /// Deletes the application and revokes its tokens.
    pub async fn delete_application(&self, app: &Application) -> Result<(), Error> {
        let (id, client_id) = (app.id, app.client_id.clone());
        self.db()
            .write(move |c| Ok::<_, Error>(q::delete(c, id, &client_id)?))
            .await
    }

    /// The application's tokens that have not expired.
    pub async fn application_tokens(&self, app: &Application) -> Result<Vec<AppToken>, Error> {
        let (client_id, now) = (app.client_id.clone(), crate::now_ms());
        Ok(self
            .db()
            .read(move |c| Ok(q::active_tokens(c, &client_id, now)?))
            .await?)
    }

    /// Mints a token of the application for `user`, calling with a token of
    /// `caller_scopes`. Every requested scope must be one the caller's own
    /// token carries and the user may hold: `super:user` only superusers,
    /// `org:admin` only admins of the application's organization. Returns
    /// the token's view and the 40-character token, shown once.
    pub async fn mint_application_token(
        &self,
        app: &Application,
        org: &Account,
        user: &Account,
        caller_scopes: &Scopes,
        new: &NewAppToken<'_>,
    ) -> Result<(AppToken, String), Error> {
        check_name(new.name, "token")?;
        let scopes = self.mintable_scopes(org, user, caller_scopes, new.scope).await?;
        let lifetime_s = new.expiration_s.unwrap_or(MAX_TOKEN_LIFETIME_S);
        if !(1..=MAX_TOKEN_LIFETIME_S).contains(&lifetime_s) {
            return Err(Error::InvalidRequest(format!(
                "expiration must be 1 to {MAX_TOKEN_LIFETIME_S} seconds"
            )));
        }
        let (name, secret) = (random_token(20), random_token(20));
        let hash = sha256_hex(&secret);
        let (app_id, client_id, display, scope) =
            (app.id, app.client_id.clone(), new.name.to_owned(), scopes.to_string());
        let (user_id, now, token_name) = (user.id, crate::now_ms(), name.clone());
        let view = self
            .db()
            .write(move |c| {
                q::lock(c, app_id)?;
                if q::count_active_tokens(c, &client_id, now)? >= MAX_ACTIVE_TOKENS {
                    return Err(Error::InvalidRequest(format!(
                        "This application already has {MAX_ACTIVE_TOKENS} active tokens; delete one first"
                    )));
                }
                let row = NewToken {
                    user_id,
                    client_id: Some(&client_id),
                    display_name: &display,
                    scope: &scope,
                    token_name: &token_name,
                    secret_sha256: &hash,
                    expires_at_ms: now + lifetime_s * 1000,
                    now,
                };
                accounts_q::insert_token(c, &row)?;
                q::token_by_name(c, &token_name)?.ok_or_else(not_found)
            })
            .await?;
        Ok((view, format!("{name}{secret}")))
    }

    /// The requested scopes, if the caller may give them all to a token.
    async fn mintable_scopes(
        &self,
        org: &Account,
        user: &Account,
        caller_scopes: &Scopes,
        requested: &str,
    ) -> Result<Scopes, Error> {
        let scopes = Scopes::parse(requested)?;
        if scopes == Scopes::default() {
            return Err(Error::InvalidRequest("At least one scope is required".into()));
        }
        let refuse = |s: &str| Error::Forbidden(format!("You may not grant scope {s}"));
        for s in super::SCOPES_ALL.iter().filter(|s| scopes.has(s)) {
            if !caller_scopes.has(s) {
                return Err(refuse(s));
            }
        }
        if scopes.has("super:user") && !self.is_superuser(user) {
            return Err(refuse("super:user"));
        }
        if scopes.has("org:admin") && !self.is_org_admin(user, org).await? {
            return Err(refuse("org:admin"));
        }
        Ok(scopes)
    }

    /// Revokes one of the application's tokens; it fails at once.
    pub async fn revoke_application_token(&self, app: &Application, uuid: &str) -> Result<(), Error> {
        let (client_id, uuid) = (app.client_id.clone(), uuid.to_owned());
        let removed = self
            .db()
            .write(move |c| Ok::<_, Error>(q::delete_token(c, &client_id, &uuid)?))
            .await?;
        match removed {
            0 => Err(Error::NotFound("Token not found".into())),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_must_be_absolute_http_or_empty() {
        assert!(check_uri("", "redirect_uri").is_ok());
        assert!(check_uri("https://app.example.com/cb", "redirect_uri").is_ok());
        assert!(check_uri("http://localhost:8080", "redirect_uri").is_ok());
        for bad in [
            "not a url",
            "/relative",
            "javascript:alert(1)",
            "ftp://x.example.com",
            "http://",
        ] {
            assert!(check_uri(bad, "redirect_uri").is_err(), "{bad}");
        }
    }

    #[test]
    fn any_avatar_email_text_up_to_255_characters_is_accepted() {
        for ok in [
            "app@example.com",
            "not-an-email",
            "a b@c",
            "x@localhost",
            &"é".repeat(255),
        ] {
            assert!(check_avatar_email(ok).is_ok(), "{ok}");
        }
        assert!(check_avatar_email(&"x".repeat(256)).is_err());
    }

    #[test]
    fn names_are_one_to_255_characters() {
        assert!(check_name("x", "application").is_ok());
        assert!(check_name(&"é".repeat(255), "application").is_ok());
        assert!(check_name("", "application").is_err());
        assert!(check_name("   ", "application").is_err());
        assert!(check_name(&"x".repeat(256), "application").is_err());
    }
}
