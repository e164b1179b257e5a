//! External login through OpenID Connect providers (Quay's
//! `<NAME>_LOGIN_CONFIG`): the authorization URL a browser is sent to, and
//! the callback that exchanges the code, verifies the ID token with the
//! provider's published keys and signs the linked account in.
//!
//! The state (CSRF) and nonce of a login in progress travel in a cookie
//! signed with the registry's token key, so any replica can finish a login
//! another one started. A provider user is linked to an account by
//! `(service id, sub)` in `federatedlogin`; the first login creates the
//! account (unless `FEATURE_USER_CREATION` is off), later ones reuse it.

mod provider;
pub mod settings;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

pub use provider::{issuer_keys, Claims};
pub use settings::{providers, OidcProvider};

use super::accounts::check_name;
use super::directory::usernames;
use super::{Error, Registry};
use crate::db::models::Account;
use crate::db::queries::accounts::{self as aq, NewAccount};
use crate::db::queries::directory as q;

/// How long a browser has to come back from the provider.
pub const STATE_TTL_S: i64 = 600;
const STATE_ISSUER: &str = "external-login";

/// A login just started: where to send the browser, and the cookie value
/// that must come back with it.
#[derive(Debug, Clone)]
pub struct LoginStart {
    pub auth_url: String,
    pub state_cookie: String,
}

/// What the state cookie holds.
#[derive(Serialize, Deserialize)]
struct PendingLogin {
    iss: String,
    exp: i64,
    svc: String,
    state: String,
    nonce: String,
    redirect_uri: String,
}

fn refused(message: impl Into<String>) -> Error {
    Error::Unauthenticated(message.into())
}

/// What the provider says of a user, reduced to what an account needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalUser {
    pub sub: String,
    pub username: String,
    pub email: Option<String>,
}

/// Quay's reading of the claims: the username from the configured claim,
/// else `preferred_username`, `unique_name`, `upn`, then `sub`, cut at an
/// `@`; the email from the configured verified-email claim, else `email`
/// when `email_verified` is true.
pub fn external_user(provider: &OidcProvider, claims: &Claims) -> Result<ExternalUser, Error> {
    let text = |name: &str| claims.get(name).and_then(serde_json::Value::as_str).map(str::to_owned);
    let sub = text("sub").ok_or_else(|| refused("The OIDC token has no `sub` claim"))?;
    let email = match &provider.verified_email_claim {
        Some(claim) => text(claim),
        None => {
            text("email").filter(|_| claims.get("email_verified").and_then(serde_json::Value::as_bool) == Some(true))
        }
    };
    let username = match &provider.username_claim {
        Some(claim) => text(claim),
        None => text("preferred_username")
            .or_else(|| text("unique_name"))
            .or_else(|| text("upn")),
    }
    .unwrap_or_else(|| sub.clone());
    let username = username.split('@').next().unwrap_or_default().to_owned();
    Ok(ExternalUser { sub, username, email })
}

/// The groups the provider puts in the configured group claim (a list of
/// names, or a single name); none when the claim is absent.
pub fn groups_of(provider: &OidcProvider, claims: &Claims) -> Vec<String> {
    match claims.get(&provider.group_claim) {
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .filter_map(serde_json::Value::as_str)
            .map(str::to_owned)
            .collect(),
        Some(serde_json::Value::String(one)) => vec![one.clone()],
        _ => Vec::new(),
    }
}

impl Registry {
    /// The configured provider with this service id.
    pub fn login_provider(&self, id: &str) -> Option<&OidcProvider> {
        self.settings().external_logins.iter().find(|p| p.id == id)
    }

    /// The provider's authorization URL for a browser that comes back to
    /// `redirect_uri`, and the state cookie to give that browser.
    pub async fn start_external_login(&self, provider: &OidcProvider, redirect_uri: &str) -> Result<LoginStart, Error> {
        let discovery = provider::discover(provider).await?;
        let pending = PendingLogin {
            iss: STATE_ISSUER.into(),
            exp: crate::now_ms() / 1000 + STATE_TTL_S,
            svc: provider.id.clone(),
            state: super::random_token(32),
            nonce: super::random_token(32),
            redirect_uri: redirect_uri.to_owned(),
        };
        let mut url = url::Url::parse(&discovery.authorization_endpoint)
            .map_err(|e| Error::Unavailable(format!("The provider's authorization endpoint is not a URL: {e}")))?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &provider.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair(
                "scope",
                &discovery
                    .login_scopes(provider, self.settings().accounts.mailing)
                    .join(" "),
            )
            .append_pair("state", &pending.state)
            .append_pair("nonce", &pending.nonce);
        let key = self.signing_key().await?;
        let state_cookie = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &pending,
            &EncodingKey::from_secret(&key),
        )
        .map_err(|e| Error::InvalidRequest(format!("cannot sign the login state: {e}")))?;
        Ok(LoginStart {
            auth_url: url.into(),
            state_cookie,
        })
    }

    /// Finishes a login at the callback: checks the state against the
    /// browser's cookie, exchanges the code, verifies the ID token and
    /// returns the linked account (created on first login).
    pub async fn finish_external_login(
        &self,
        provider: &OidcProvider,
        code: &str,
        state: &str,
        state_cookie: Option<&str>,
    ) -> Result<Account, Error> {
        let pending = self.pending_login(state_cookie).await?;
        if pending.svc != provider.id || !super::accounts::constant_time_eq(pending.state.as_bytes(), state.as_bytes())
        {
            return Err(Error::InvalidRequest(
                "Invalid state: this login was not started in this browser (CSRF check failed)".into(),
            ));
        }
        if code.is_empty() {
            return Err(Error::InvalidRequest(
                "Missing `code` in the provider's redirect".into(),
            ));
        }
        let discovery = provider::discover(provider).await?;
        let claims = provider::exchange(provider, &discovery, code, &pending.redirect_uri, &pending.nonce).await?;
        let user = external_user(provider, &claims)?;
        if self.settings().accounts.mailing && user.email.is_none() {
            return Err(refused(
                "A verified email address is required to login with this service",
            ));
        }
        let account = self.link_external_user(provider, &user).await?;
        if !account.enabled {
            return Err(refused("Could not login. Account may be disabled"));
        }
        self.sync_oidc_groups(&account, &groups_of(provider, &claims)).await?;
        Ok(account)
    }

    async fn pending_login(&self, state_cookie: Option<&str>) -> Result<PendingLogin, Error> {
        let expired = || {
            Error::InvalidRequest(
                "The login request was not started in this browser or has expired; please try again".into(),
            )
        };
        let cookie = state_cookie.filter(|c| !c.is_empty()).ok_or_else(expired)?;
        let key = self.signing_key().await?;
        let mut v = Validation::new(Algorithm::HS256);
        v.validate_aud = false;
        v.leeway = 0;
        v.set_issuer(&[STATE_ISSUER]);
        jsonwebtoken::decode::<PendingLogin>(cookie, &DecodingKey::from_secret(&key), &v)
            .map(|d| d.claims)
            .map_err(|_| expired())
    }

    /// The account linked to the provider user, else a new one.
    async fn link_external_user(&self, provider: &OidcProvider, user: &ExternalUser) -> Result<Account, Error> {
        let policy = &self.settings().accounts;
        let (service, service_name) = (provider.id.clone(), provider.name.clone());
        let (creation, now, window_s) = (policy.user_creation, crate::now_ms(), policy.default_tag_expiration_s);
        let user = user.clone();
        self.db()
            .write(move |c| {
                if let Some(existing) = q::find_linked(c, &service, &user.sub)? {
                    return Ok(existing);
                }
                if !creation {
                    return Err(refused("User creation is disabled. Please contact your administrator"));
                }
                if let Some(e) = &user.email {
                    if aq::email_taken(c, e)? {
                        return Err(refused(format!(
                            "The e-mail address {e} is already associated with an existing account. \
                             Please log in with your username and password and associate your \
                             {service_name} account to use it in the future."
                        )));
                    }
                }
                let mut chosen = None;
                for name in usernames(&user.username) {
                    if check_name(&name, "username").is_ok() && aq::find(c, &name)?.is_none() {
                        chosen = Some(name);
                        break;
                    }
                }
                let name = chosen
                    .ok_or_else(|| refused("Unable to pick a username. Please report this to your administrator."))?;
                let account = aq::insert(
                    c,
                    &NewAccount {
                        username: &name,
                        email: user.email.as_deref(),
                        password_hash: None,
                        organization: false,
                        robot: false,
                        verified: true,
                        tag_expiration_s: window_s,
                        now,
                    },
                )?;
                q::link(c, account.id, &service, &user.sub)?;
                tracing::info!(username = %account.username, service = %service, "account created for external login");
                Ok::<_, Error>(account)
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn provider(extra: &str) -> OidcProvider {
        let text = format!(
            "CORP_LOGIN_CONFIG:\n  OIDC_SERVER: https://sso.example.com\n  CLIENT_ID: q\n  CLIENT_SECRET: s\n{extra}"
        );
        let config = crate::config::Config::parse(&text).expect("valid");
        providers(&config).expect("valid").remove(0)
    }

    fn claims(value: serde_json::Value) -> Claims {
        serde_json::from_value(value).expect("an object")
    }

    #[test]
    fn claims_are_read_as_quay_reads_them() {
        let p = provider("");
        let u = external_user(
            &p,
            &claims(json!({"sub": "123", "preferred_username": "alice@corp", "email": "a@corp.com", "email_verified": true})),
        )
        .expect("valid");
        assert_eq!(
            (u.sub.as_str(), u.username.as_str(), u.email.as_deref()),
            ("123", "alice", Some("a@corp.com"))
        );
        let u = external_user(&p, &claims(json!({"sub": "123", "upn": "bob", "email": "b@corp.com"}))).expect("valid");
        assert_eq!((u.username.as_str(), u.email), ("bob", None));
        let u = external_user(&p, &claims(json!({"sub": "carol"}))).expect("valid");
        assert_eq!(u.username, "carol");
        let p = provider("  PREFERRED_USERNAME_CLAIM_NAME: login\n  VERIFIED_EMAIL_CLAIM_NAME: mail\n");
        let u = external_user(&p, &claims(json!({"sub": "1", "login": "dave", "mail": "d@corp.com"}))).expect("valid");
        assert_eq!((u.username.as_str(), u.email.as_deref()), ("dave", Some("d@corp.com")));
        assert!(external_user(&p, &claims(json!({"login": "x"}))).is_err());
    }

    #[test]
    fn groups_come_from_the_configured_claim() {
        let p = provider("");
        assert_eq!(
            groups_of(&p, &claims(json!({"groups": ["devs", 3, "ops"]}))),
            ["devs", "ops"]
        );
        assert_eq!(groups_of(&p, &claims(json!({"groups": "devs"}))), ["devs"]);
        assert!(groups_of(&p, &claims(json!({"roles": ["devs"]}))).is_empty());
        let p = provider("  PREFERRED_GROUP_CLAIM_NAME: roles\n");
        assert_eq!(
            groups_of(&p, &claims(json!({"roles": ["devs"], "groups": ["ops"]}))),
            ["devs"]
        );
    }
}
