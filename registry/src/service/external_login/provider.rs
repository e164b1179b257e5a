//! Talking to an OpenID Connect provider: discovery, the code exchange at
//! its token endpoint, ID token verification with its JSON Web Key Set, and
//! its userinfo endpoint. A provider that cannot be reached is
//! [`Error::Unavailable`]; one that answers with something unusable is
//! [`Error::Unauthenticated`].

use std::time::Duration;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;

use super::settings::OidcProvider;
use crate::service::Error;

/// The claims of an ID token or a userinfo answer.
pub type Claims = serde_json::Map<String, Value>;

const TIMEOUT: Duration = Duration::from_secs(10);
/// Quay's allowance for clock differences with the provider.
const CLOCK_SKEW_S: u64 = 30;
/// Signature algorithms accepted for ID tokens (never `none` or a shared
/// secret).
const ALGORITHMS: [Algorithm; 6] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::ES384,
];

/// The parts of the discovery document the login uses.
#[derive(Debug, Deserialize)]
pub(super) struct Discovery {
    issuer: Option<String>,
    pub(super) authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    userinfo_endpoint: Option<String>,
    scopes_supported: Option<Vec<String>>,
}

impl Discovery {
    /// Quay's scopes: `LOGIN_SCOPES` (else the defaults: `openid`,
    /// `profile` with a userinfo endpoint, `email` with mailing) kept to
    /// those the provider supports.
    pub(super) fn login_scopes(&self, provider: &OidcProvider, mailing: bool) -> Vec<String> {
        let mut defaults = vec!["openid".to_owned()];
        if self.userinfo_endpoint.is_some() {
            defaults.push("profile".into());
        }
        if mailing {
            defaults.push("email".into());
        }
        let supported = self.scopes_supported.clone().unwrap_or_else(|| defaults.clone());
        let wanted = provider.scopes.clone().unwrap_or_else(|| supported.clone());
        let scopes: Vec<String> = wanted.into_iter().filter(|s| supported.contains(s)).collect();
        if scopes.is_empty() {
            vec!["openid".into()]
        } else {
            scopes
        }
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    id_token: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

fn client() -> Result<reqwest::Client, Error> {
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .build()
        .map_err(|e| Error::Unavailable(format!("cannot make an HTTP client: {e}")))
}

/// Fetches JSON from the provider called `name`: unreachable, a 5xx or
/// an unreadable answer is [`Error::Unavailable`], another non-2xx status
/// is `what` refused.
async fn get_json<T: serde::de::DeserializeOwned>(
    name: &str,
    req: reqwest::RequestBuilder,
    what: &str,
) -> Result<T, Error> {
    let res = req
        .send()
        .await
        .map_err(|e| Error::Unavailable(format!("Could not reach {name}: {e}")))?;
    let status = res.status();
    if status.is_server_error() {
        return Err(Error::Unavailable(format!("{name} answered {status} for {what}")));
    }
    if !status.is_success() {
        return Err(Error::Unauthenticated(format!(
            "Got non-2XX response for {what}: {}",
            status.as_u16()
        )));
    }
    res.json()
        .await
        .map_err(|e| Error::Unavailable(format!("Could not parse the {what} answer of {name}: {e}")))
}

/// The provider's discovery document.
pub(super) async fn discover(provider: &OidcProvider) -> Result<Discovery, Error> {
    let client = client()?;
    get_json(&provider.name, client.get(provider.discovery_url()), "OIDC discovery").await
}

/// The JSON Web Key Set an OpenID issuer publishes, found through its
/// discovery document (the issuers robot federation trusts).
pub async fn issuer_keys(issuer: &str) -> Result<JwkSet, Error> {
    #[derive(Deserialize)]
    struct KeysAt {
        jwks_uri: String,
    }
    let client = client()?;
    let url = format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'));
    let discovery: KeysAt = get_json(issuer, client.get(url), "OIDC discovery").await?;
    get_json(issuer, client.get(&discovery.jwks_uri), "the OIDC keys").await
}

/// Exchanges the code and returns the verified user claims: the ID token's,
/// merged with the userinfo endpoint's when the provider has one.
pub(super) async fn exchange(
    provider: &OidcProvider,
    discovery: &Discovery,
    code: &str,
    redirect_uri: &str,
    nonce: &str,
) -> Result<Claims, Error> {
    let client = client()?;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("client_id", &provider.client_id),
        ("client_secret", &provider.client_secret),
    ];
    let req = client
        .post(&discovery.token_endpoint)
        .header(reqwest::header::ACCEPT, "application/json")
        .form(&form);
    let answer: TokenAnswer = get_json(&provider.name, req, "code exchange").await?;
    if let Some(error) = answer.error {
        return Err(Error::Unauthenticated(answer.error_description.unwrap_or(error)));
    }
    let access_token = answer
        .access_token
        .ok_or_else(|| Error::Unauthenticated("Missing `access_token` in OIDC response".into()))?;
    let id_token = answer
        .id_token
        .ok_or_else(|| Error::Unauthenticated("Missing `id_token` in OIDC response".into()))?;
    let keys: JwkSet = get_json(&provider.name, client.get(&discovery.jwks_uri), "the OIDC keys").await?;
    let issuer = provider
        .issuer
        .clone()
        .or_else(|| discovery.issuer.clone())
        .unwrap_or_else(|| provider.server.clone());
    let mut claims = verify_id_token(&id_token, &keys, &issuer, &provider.client_id, nonce)?;
    if let Some(endpoint) = &discovery.userinfo_endpoint {
        let info: Claims = get_json(
            &provider.name,
            client.get(endpoint).bearer_auth(&access_token),
            "user info",
        )
        .await?;
        if info.get("sub") != claims.get("sub") {
            return Err(Error::Unauthenticated(
                "Mismatch in `sub` returned by OIDC user info endpoint".into(),
            ));
        }
        claims.extend(info);
    }
    if claims.get("impersonated").and_then(Value::as_bool) == Some(true) {
        return Err(Error::Unauthenticated(
            "Requests from impersonated principals are not supported".into(),
        ));
    }
    Ok(claims)
}

/// Checks the ID token's signature with the provider's keys, its issuer,
/// audience (our client id), lifetime and nonce.
pub fn verify_id_token(
    token: &str,
    keys: &JwkSet,
    issuer: &str,
    client_id: &str,
    nonce: &str,
) -> Result<Claims, Error> {
    let invalid = |e: &dyn std::fmt::Display| Error::Unauthenticated(format!("Could not decode OIDC token: {e}"));
    let header = jsonwebtoken::decode_header(token).map_err(|e| invalid(&e))?;
    if !ALGORITHMS.contains(&header.alg) {
        return Err(invalid(&format!("algorithm {:?} is not accepted", header.alg)));
    }
    let jwk = match &header.kid {
        Some(kid) => keys.find(kid),
        None if keys.keys.len() == 1 => keys.keys.first(),
        None => None,
    }
    .ok_or_else(|| invalid(&"no published key matches the token"))?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| invalid(&e))?;
    let mut v = Validation::new(header.alg);
    v.leeway = CLOCK_SKEW_S;
    v.set_audience(&[client_id]);
    v.set_issuer(&[issuer]);
    v.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
    let claims = jsonwebtoken::decode::<Claims>(token, &key, &v)
        .map_err(|e| invalid(&e))?
        .claims;
    if claims.get("nonce").and_then(Value::as_str) != Some(nonce) {
        return Err(invalid(&"the nonce does not match this login"));
    }
    Ok(claims)
}
