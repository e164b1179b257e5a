//! The OAuth 2 authorization flows of organizations' applications
//! (`/oauth/authorize`, `/oauth/access_token`): which redirect URIs an
//! application may use, the implicit grant (a token straight away), the
//! code grant (a one-time code the application exchanges with its secret),
//! and what a user may grant. Callers found the signed-in user.
//!
//! Tokens are ordinary OAuth access tokens (40 characters: a 20-character
//! public name and a 20-character secret stored hashed) that name their
//! application, so deleting it revokes them. Codes follow the same split.

use super::accounts::{constant_time_eq, sha256_hex};
use super::{random_token, Error, Registry, Scopes};
use crate::db::models::Account;
use crate::db::queries::accounts as accounts_q;
use crate::db::queries::oauth::{self as q, NewCode};

pub use super::applications::Application;
pub use super::oauth_scopes::{scope_info, ScopeInfo, SCOPE_INFO};

/// The lifetime Quay gives tokens of the flows, in seconds (10 × 365.25 days).
pub const TOKEN_EXPIRES_IN_S: i64 = 315_576_000;
/// How long a code may wait for its exchange.
const CODE_LIFETIME_MS: i64 = 10 * 60 * 1000;
/// Length of each half of a code.
const CODE_HALF: usize = 20;

/// Why a flow step is refused, as an OAuth 2 error code (RFC 6749 §4.1.2.1,
/// §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    InvalidRequest,
    UnauthorizedClient,
    AccessDenied,
    InvalidScope,
    InvalidClient,
    InvalidGrant,
    UnsupportedResponseType,
    UnsupportedGrantType,
}

impl Refusal {
    pub fn code(self) -> &'static str {
        match self {
            Refusal::InvalidRequest => "invalid_request",
            Refusal::UnauthorizedClient => "unauthorized_client",
            Refusal::AccessDenied => "access_denied",
            Refusal::InvalidScope => "invalid_scope",
            Refusal::InvalidClient => "invalid_client",
            Refusal::InvalidGrant => "invalid_grant",
            Refusal::UnsupportedResponseType => "unsupported_response_type",
            Refusal::UnsupportedGrantType => "unsupported_grant_type",
        }
    }
}

/// A refused step, or a failure of the registry itself.
#[derive(Debug)]
pub enum FlowError {
    Refused(Refusal),
    Failed(Error),
}

impl From<Error> for FlowError {
    fn from(e: Error) -> FlowError {
        FlowError::Failed(e)
    }
}

impl From<crate::db::DbError> for FlowError {
    fn from(e: crate::db::DbError) -> FlowError {
        FlowError::Failed(e.into())
    }
}

impl From<Refusal> for FlowError {
    fn from(r: Refusal) -> FlowError {
        FlowError::Refused(r)
    }
}

/// The scopes of a request: known, and at least one.
pub(super) fn requested_scopes(scope: &str) -> Result<Scopes, Refusal> {
    match Scopes::parse(scope) {
        Ok(s) if s != Scopes::default() => Ok(s),
        _ => Err(Refusal::InvalidScope),
    }
}

/// Whether `redirect_uri` is one the application may be sent back to: the
/// registry's own token page (`local_handler`, an absolute URL), or a URL
/// under the application's registered redirect URI with the same scheme
/// and host, no credentials, no `..` or `@` in the path and no
/// percent-escapes past the registered prefix (as Quay checks it).
pub fn redirect_allowed(app: &Application, redirect_uri: &str, local_handler: &str) -> bool {
    if redirect_uri == local_handler {
        return true;
    }
    if app.redirect_uri.is_empty() || redirect_uri.is_empty() {
        return false;
    }
    let (Ok(registered), Ok(given)) = (url::Url::parse(&app.redirect_uri), url::Url::parse(redirect_uri)) else {
        return false;
    };
    let authority = |u: &url::Url| (u.host_str().map(str::to_owned), u.port_or_known_default());
    if registered.scheme() != given.scheme() || authority(&registered) != authority(&given) {
        return false;
    }
    if !given.username().is_empty() || given.password().is_some() {
        return false;
    }
    // Past the registered prefix no escape is allowed, so encoded
    // traversal (`%2e%2e`) is refused with the rest.
    let path = given.path();
    if path.contains("..") || path.contains('@') {
        return false;
    }
    match path.strip_prefix(registered.path()) {
        Some(rest) => !rest.contains('%'),
        None => false,
    }
}

impl Registry {
    /// The application with this client id and its organization, if both
    /// exist (a disabled organization's applications do not).
    pub async fn oauth_application(&self, client_id: &str) -> Result<Option<(Application, Account)>, Error> {
        let (app, org_name) = match self.application(client_id).await {
            Ok(found) => found,
            Err(Error::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(self.account(&org_name).await?.map(|org| (app, org)))
    }

    /// Whether the user's live tokens of the application already carry
    /// every scope of `scope` (then no consent is asked again).
    pub async fn already_granted(&self, app: &Application, user: &Account, scope: &str) -> Result<bool, Error> {
        let Ok(wanted) = requested_scopes(scope) else {
            return Ok(false);
        };
        let (client_id, user_id, now) = (app.client_id.clone(), user.id, crate::now_ms());
        let granted = self
            .db()
            .read(move |c| Ok(q::granted_scopes(c, &client_id, user_id, now)?))
            .await?;
        let granted = Scopes::parse(&granted.join(" ")).unwrap_or_default();
        Ok(crate::service::SCOPES_ALL
            .iter()
            .all(|s| !wanted.has(s) || granted.has(s)))
    }

    /// The scopes the user may grant: known ones, at least one, and
    /// `super:user` only by a superuser. (A scope only narrows what the
    /// user may do; `org:admin` covers the organizations the user
    /// administers, whichever they are.)
    fn grantable_scopes(&self, user: &Account, scope: &str) -> Result<Scopes, Refusal> {
        let scopes = requested_scopes(scope)?;
        if scopes.has("super:user") && !self.is_superuser(user) {
            return Err(Refusal::AccessDenied);
        }
        if user.organization || user.robot || !user.enabled {
            return Err(Refusal::AccessDenied);
        }
        Ok(scopes)
    }

    /// Implicit grant: a token of `scope` for the user and the
    /// application. Returns the 40-character token and its scopes.
    pub async fn grant_token(
        &self,
        app: &Application,
        user: &Account,
        scope: &str,
    ) -> Result<(String, Scopes), FlowError> {
        let scopes = self.grantable_scopes(user, scope)?;
        let token = self.insert_flow_token(app, user.id, &scopes).await?;
        Ok((token, scopes))
    }

    async fn insert_flow_token(&self, app: &Application, user_id: i64, scopes: &Scopes) -> Result<String, Error> {
        self.mint_access_token(user_id, Some(&app.client_id), scopes, "", TOKEN_EXPIRES_IN_S * 1000)
            .await
    }

    /// Code grant, first step: a one-time code for the user, `scope` and
    /// `redirect_uri`, which the application exchanges within ten minutes.
    pub async fn grant_code(
        &self,
        app: &Application,
        user: &Account,
        scope: &str,
        redirect_uri: &str,
    ) -> Result<(String, Scopes), FlowError> {
        let scopes = self.grantable_scopes(user, scope)?;
        let (name, secret) = (random_token(CODE_HALF), random_token(CODE_HALF));
        let (hash, scope_text, redirect) = (sha256_hex(&secret), scopes.to_string(), redirect_uri.to_owned());
        let (app_id, user_id, now, code_name) = (app.id, user.id, crate::now_ms(), name.clone());
        self.db()
            .write(move |c| {
                let row = NewCode {
                    application_id: app_id,
                    user_id,
                    code_name: &code_name,
                    secret_sha256: &hash,
                    scope: &scope_text,
                    redirect_uri: &redirect,
                    now,
                };
                Ok::<_, Error>(q::insert_code(c, &row)?)
            })
            .await?;
        Ok((format!("{name}{secret}"), scopes))
    }

    /// Code grant, second step: the application proves itself with its
    /// secret and trades the code (used once, with the same redirect URI
    /// and, when given, the same scopes) for a token of the code's user.
    pub async fn exchange_code(&self, exchange: &CodeExchange<'_>) -> Result<(String, Scopes), FlowError> {
        let app = match self.oauth_application(exchange.client_id).await? {
            Some((app, _)) if constant_time_eq(app.client_secret.as_bytes(), exchange.client_secret.as_bytes()) => app,
            _ => return Err(Refusal::InvalidClient.into()),
        };
        if exchange.code.len() != CODE_HALF * 2 || !exchange.code.is_ascii() {
            return Err(Refusal::InvalidGrant.into());
        }
        let (name, secret) = exchange.code.split_at(CODE_HALF);
        let (app_id, code_name) = (app.id, name.to_owned());
        let row = self
            .db()
            .read(move |c| Ok(q::find_code(c, app_id, &code_name)?))
            .await?
            .ok_or(Refusal::InvalidGrant)?;
        let fresh = crate::now_ms() - row.created_ms <= CODE_LIFETIME_MS;
        let secret_ok = constant_time_eq(row.code_secret_sha256.as_bytes(), sha256_hex(secret).as_bytes());
        if !fresh || !secret_ok || row.redirect_uri != exchange.redirect_uri {
            return Err(Refusal::InvalidGrant.into());
        }
        let scopes = Scopes::parse(&row.scope).map_err(|_| Refusal::InvalidGrant)?;
        if let Some(asked) = exchange.scope.filter(|s| !s.trim().is_empty()) {
            if Scopes::parse(asked).map_err(|_| Refusal::InvalidScope)? != scopes {
                return Err(Refusal::InvalidGrant.into());
            }
        }
        let id = row.id;
        if !self.db().write(move |c| Ok::<_, Error>(q::delete_code(c, id)?)).await? {
            return Err(Refusal::InvalidGrant.into());
        }
        let user_id = row.user_id;
        let user = self.db().read(move |c| Ok(accounts_q::find_by_id(c, user_id)?)).await?;
        let user = match user {
            Some(u) if u.enabled => u,
            _ => return Err(Refusal::InvalidGrant.into()),
        };
        let token = self.insert_flow_token(&app, user.id, &scopes).await?;
        Ok((token, scopes))
    }
}

/// What an application sends to exchange a code.
#[derive(Debug, Clone)]
pub struct CodeExchange<'a> {
    pub client_id: &'a str,
    pub client_secret: &'a str,
    pub code: &'a str,
    pub redirect_uri: &'a str,
    pub scope: Option<&'a str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(redirect_uri: &str) -> Application {
        Application {
            id: 1,
            client_id: "c".into(),
            client_secret: "s".into(),
            organization_id: 1,
            name: "a".into(),
            redirect_uri: redirect_uri.into(),
            application_uri: String::new(),
            description: String::new(),
            avatar_email: None,
            created_ms: 0,
        }
    }

    #[test]
    fn redirects_must_stay_under_the_registered_uri() {
        let local = "http://registry.local/oauth/localapp";
        let a = app("https://app.example.com/cb");
        for ok in [
            "https://app.example.com/cb",
            "https://app.example.com/cb/deeper?x=1",
            "https://app.example.com:443/cb",
            local,
        ] {
            assert!(redirect_allowed(&a, ok, local), "{ok}");
        }
        for bad in [
            "http://app.example.com/cb",
            "https://evil.example.com/cb",
            "https://app.example.com.evil.com/cb",
            "https://app.example.com/other",
            "https://user:pw@app.example.com/cb",
            "https://app.example.com/cb/../admin",
            "https://app.example.com/cb/%2e%2e/admin",
            "https://app.example.com/cb/@evil",
            "https://app.example.com/cb%2F..",
            "",
            "not a url",
        ] {
            assert!(!redirect_allowed(&a, bad, local), "{bad}");
        }
        assert!(!redirect_allowed(&app(""), "https://app.example.com/cb", local));
    }
}
