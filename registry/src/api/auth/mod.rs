//! Who calls the /v2 API and what they may do. Every /v2 handler asks the
//! [`Authorizer`] before it touches a repository.
//!
//! Credentials: a registry token from `/v2/auth` (`Bearer`), or Basic
//! credentials of a user, robot or `$oauthtoken` checked on the spot.

mod token;

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use async_trait::async_trait;
use base64::Engine as _;

pub use token::configure;

use crate::api::v2::OciError;
use crate::db::models::Account;
use crate::oci::RepoName;
use crate::service::{Claims, Error, Registry, Scopes};
use crate::state::AppState;

/// What a caller wants to do with a repository (the token scope actions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Pull,
    Push,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Pull => "pull",
            Action::Push => "push",
        }
    }
}

/// How the caller proved who it is.
#[derive(Debug, Clone, Default)]
pub enum Credential {
    #[default]
    Anonymous,
    /// A registry token: what it grants was decided when it was issued.
    Token(Claims),
    /// Basic credentials checked on this request (with the scopes of an
    /// OAuth token used as `$oauthtoken`).
    Account(Account, Option<Scopes>),
}

/// Where clients get tokens, for `WWW-Authenticate` challenges.
#[derive(Debug, Clone, Default)]
pub struct Realm {
    pub url: String,
    pub service: String,
}

/// The caller of a /v2 endpoint.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    pub credential: Credential,
    pub realm: Realm,
}

impl Caller {
    /// The account behind the credential, if any.
    pub async fn account(&self, registry: &Registry) -> Result<Option<Account>, OciError> {
        Ok(match &self.credential {
            Credential::Anonymous => None,
            Credential::Account(a, _) => Some(a.clone()),
            Credential::Token(c) if c.sub == "(anonymous)" => None,
            Credential::Token(c) => registry.account(&c.sub).await?.filter(|a| a.enabled),
        })
    }

    /// The performer for usage logs: the account id when the account is at
    /// hand, else the token's subject; neither for anonymous callers.
    pub fn performer(&self) -> (Option<i64>, Option<String>) {
        match &self.credential {
            Credential::Anonymous => (None, None),
            Credential::Account(a, _) => (Some(a.id), None),
            Credential::Token(c) if c.sub == "(anonymous)" => (None, None),
            Credential::Token(c) => (None, Some(c.sub.clone())),
        }
    }

    /// A 401 telling the client where to get a token for `scope`.
    pub fn challenge(&self, scope: Option<String>) -> OciError {
        let mut value = format!("Bearer realm=\"{}\",service=\"{}\"", self.realm.url, self.realm.service);
        if let Some(s) = scope {
            value.push_str(&format!(",scope=\"{s}\""));
        }
        OciError::new(
            401,
            "UNAUTHORIZED",
            "access to the requested resource is not authorized",
        )
        .header("WWW-Authenticate", value)
    }
}

/// The realm for this request: `SERVER_HOSTNAME` when configured, else the
/// host the client used.
fn realm(req: &HttpRequest, state: &AppState) -> Realm {
    let info = req.connection_info();
    let host = state.server_hostname.clone().unwrap_or_else(|| info.host().to_owned());
    let scheme = state.url_scheme.clone().unwrap_or_else(|| info.scheme().to_owned());
    Realm {
        url: format!("{scheme}://{host}/v2/auth"),
        service: host,
    }
}

/// The value of an `Authorization` header of `scheme` (case-insensitive).
fn with_scheme<'a>(header: &'a str, scheme: &str) -> Option<&'a str> {
    let (s, rest) = header.trim().split_once(' ')?;
    s.eq_ignore_ascii_case(scheme).then(|| rest.trim())
}

/// The token of `Authorization: Bearer …`.
pub fn bearer_token(header: &str) -> Option<&str> {
    with_scheme(header, "Bearer")
}

/// Decodes `Authorization: Basic …` into user and secret.
pub fn basic_credentials(header: &str) -> Option<(String, String)> {
    let encoded = with_scheme(header, "Basic")?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, secret) = text.split_once(':')?;
    Some((user.to_owned(), secret.to_owned()))
}

impl FromRequest for Caller {
    type Error = OciError;
    type Future = Pin<Box<dyn Future<Output = Result<Caller, OciError>>>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let header = req
            .headers()
            .get("Authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let realm = state.as_ref().map(|s| realm(req, s)).unwrap_or_default();
        Box::pin(async move {
            let mut caller = Caller {
                credential: Credential::Anonymous,
                realm,
            };
            let (Some(state), Some(header)) = (state, header) else {
                return Ok(caller);
            };
            caller.credential = if let Some(token) = bearer_token(&header) {
                match state.registry.verify_registry_token(token.trim()).await {
                    Ok(claims) => Credential::Token(claims),
                    Err(e) if refuses_credentials(&e) => return Err(caller.challenge(None)),
                    Err(e) => return Err(e.into()),
                }
            } else if let Some((user, secret)) = basic_credentials(&header) {
                if user == "$token" {
                    return match state.registry.verify_registry_token(secret.trim()).await {
                        Ok(claims) => Ok(Caller {
                            credential: Credential::Token(claims),
                            ..caller
                        }),
                        Err(e) if refuses_credentials(&e) => Err(caller.challenge(None)),
                        Err(e) => Err(e.into()),
                    };
                }
                match state.registry.login(&user, &secret).await {
                    Ok((account, scopes)) => Credential::Account(account, scopes),
                    Err(e) if refuses_credentials(&e) => return Err(caller.challenge(None)),
                    Err(e) => return Err(e.into()),
                }
            } else {
                return Err(caller.challenge(None));
            };
            Ok(caller)
        })
    }
}

/// Whether `e` is a verdict on the credentials (answered with a 401
/// challenge) rather than a failure to check them, such as the database
/// being down, which the client must see as such and never as a wrong
/// password. Too many failed attempts is its own answer (429).
pub fn refuses_credentials(e: &Error) -> bool {
    matches!(
        e,
        Error::Unauthenticated(_) | Error::Forbidden(_) | Error::NotFound(_) | Error::InvalidRequest(_)
    )
}

/// Why a request was refused.
#[derive(Debug)]
pub enum Refusal {
    /// No or insufficient credentials: the client should get a token (401).
    Unauthenticated,
    /// Authenticated but not allowed (403).
    Denied,
    /// The rights could not be checked (e.g. the database is down).
    Failed(Error),
}

/// Decides whether a caller may act on a repository.
#[async_trait(?Send)]
pub trait Authorizer: Send + Sync {
    async fn authorize(&self, caller: &Caller, repo: &RepoName, action: Action) -> Result<(), Refusal>;
}

/// Quay's rules: a token carries what it grants; Basic credentials and
/// anonymous callers get what their roles allow.
pub struct RegistryAuthorizer {
    pub registry: Registry,
}

#[async_trait(?Send)]
impl Authorizer for RegistryAuthorizer {
    async fn authorize(&self, caller: &Caller, repo: &RepoName, action: Action) -> Result<(), Refusal> {
        let wanted = [action.as_str().to_owned()];
        match &caller.credential {
            Credential::Token(claims) => {
                let name = repo.to_string();
                let granted = claims.access.iter().any(|a| {
                    a.kind == "repository"
                        && a.name == name
                        && a.actions
                            .iter()
                            .any(|x| x == action.as_str() || x == "*" || (action == Action::Pull && x == "push"))
                });
                if granted || (action == Action::Pull && self.anyone_may(repo, &wanted).await?) {
                    return Ok(());
                }
                Err(Refusal::Unauthenticated)
            }
            Credential::Account(a, scopes) => {
                match self
                    .registry
                    .grantable(Some(a), scopes.as_ref(), repo, &wanted, false)
                    .await
                {
                    Ok(g) if !g.is_empty() => Ok(()),
                    Err(e) if !refuses_credentials(&e) => Err(Refusal::Failed(e)),
                    _ => Err(Refusal::Denied),
                }
            }
            Credential::Anonymous => match self.anyone_may(repo, &wanted).await? {
                true => Ok(()),
                false => Err(Refusal::Unauthenticated),
            },
        }
    }
}

impl RegistryAuthorizer {
    /// Whether an anonymous caller may do `wanted` (pull a public
    /// repository); a token that does not name the repository allows no
    /// less. Rights that could not be checked are a failure, not a no.
    async fn anyone_may(&self, repo: &RepoName, wanted: &[String]) -> Result<bool, Refusal> {
        match self.registry.grantable(None, None, repo, wanted, false).await {
            Ok(g) => Ok(!g.is_empty()),
            Err(e) if !refuses_credentials(&e) => Err(Refusal::Failed(e)),
            Err(_) => Ok(false),
        }
    }
}
