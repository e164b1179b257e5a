//! A client of an upstream registry's /v2 API (Docker registry token auth
//! or Basic auth), for proxy-cache organizations. Errors carry what the
//! caller may be told: status codes and hosts, never credentials.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, WWW_AUTHENTICATE};
use reqwest::{Method, Response, StatusCode};

use super::UpstreamTarget;
use crate::service::notifications::{check_host_literal, SsrfPolicy};

/// Longest wait for the next bytes of an answer: a blob may take long as a
/// whole, but an upstream silent this long is down.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the upstream could not be used.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// The upstream refused the credentials (or anonymous access).
    #[error("the upstream registry refused the credentials ({0})")]
    Unauthorized(String),
    /// The upstream answered with an unexpected status.
    #[error("the upstream registry answered {0}")]
    Status(StatusCode),
    /// The upstream could not be reached or answered nonsense.
    #[error("the upstream registry could not be reached: {0}")]
    Unreachable(String),
}

/// A connection to one upstream registry, authorized for one repository
/// (or for `/v2/` only when `repository` is `None`).
pub struct Upstream {
    client: reqwest::Client,
    base_url: String,
    credentials: Option<(String, String)>,
    repository: Option<String>,
    authorization: Option<HeaderValue>,
    /// Checks the token realm an upstream names before credentials go there.
    ssrf: SsrfPolicy,
}

/// The parameters of a `WWW-Authenticate` challenge (single challenge).
fn parse_challenge(value: &str) -> (String, Vec<(String, String)>) {
    let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
    let mut params = Vec::new();
    for part in rest.split(',') {
        if let Some((k, v)) = part.split_once('=') {
            params.push((k.trim().to_owned(), v.trim().trim_matches('"').to_owned()));
        }
    }
    (scheme.to_owned(), params)
}

fn transport(e: &reqwest::Error) -> UpstreamError {
    // Without the URL: it may carry a token endpoint's query.
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    UpstreamError::Unreachable(what.to_owned())
}

impl Upstream {
    /// Connects to the upstream and authorizes: nothing when `/v2/` answers
    /// 200, Basic when it asks for Basic, else a bearer token from the realm.
    pub async fn connect(
        target: &UpstreamTarget,
        credentials: Option<(String, String)>,
        repository: Option<String>,
    ) -> Result<Upstream, UpstreamError> {
        let mut upstream = Upstream::with_authorization(target, credentials, repository, None)?;
        upstream.authorize().await?;
        Ok(upstream)
    }

    /// A connection that uses an authorization obtained earlier (`None`:
    /// the upstream wanted none) without asking the upstream first; it
    /// authorizes again when the upstream refuses it.
    pub fn with_authorization(
        target: &UpstreamTarget,
        credentials: Option<(String, String)>,
        repository: Option<String>,
        authorization: Option<HeaderValue>,
    ) -> Result<Upstream, UpstreamError> {
        let builder = reqwest::Client::builder()
            .read_timeout(READ_TIMEOUT)
            .connect_timeout(Duration::from_secs(10));
        let mut builder = crate::service::notifications::guard_client(builder, &target.ssrf);
        for addr in &target.addrs {
            builder = builder.resolve(&target.host, *addr);
        }
        let client = builder.build().map_err(|e| transport(&e))?;
        Ok(Upstream {
            client,
            base_url: target.base_url.clone(),
            credentials,
            repository,
            authorization,
            ssrf: target.ssrf.clone(),
        })
    }

    /// The authorization in use, to be reused by later connections.
    pub fn authorization(&self) -> Option<&HeaderValue> {
        self.authorization.as_ref()
    }

    async fn authorize(&mut self) -> Result<(), UpstreamError> {
        self.authorization = None;
        let url = format!("{}/v2/", self.base_url);
        let resp = self.client.get(&url).send().await.map_err(|e| transport(&e))?;
        if resp.status().is_success() {
            return Ok(());
        }
        let challenge = resp
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let (scheme, params) = parse_challenge(&challenge);
        if scheme.eq_ignore_ascii_case("basic") {
            let Some((user, password)) = &self.credentials else {
                return Err(UpstreamError::Unauthorized("credentials required".into()));
            };
            self.authorization = Some(basic_header(user, password)?);
            return Ok(());
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(UpstreamError::Status(resp.status()));
        }
        self.fetch_token(&params).await
    }

    async fn fetch_token(&mut self, params: &[(String, String)]) -> Result<(), UpstreamError> {
        let param = |k: &str| {
            params
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(k))
                .map(|(_, v)| v.clone())
        };
        let realm = param("realm").ok_or_else(|| UpstreamError::Unreachable("no token realm given".into()))?;
        let mut url = url::Url::parse(&realm).map_err(|_| UpstreamError::Unreachable("invalid token realm".into()))?;
        // The realm is the upstream's to name; an internal address there
        // would send credentials (and requests) inside the network.
        if let Some(host) = url.host_str() {
            let host_port = url
                .port_or_known_default()
                .map_or_else(|| host.to_owned(), |p| format!("{host}:{p}"));
            if check_host_literal(&self.ssrf, &host_port).is_err() {
                return Err(UpstreamError::Unreachable("the token realm is not allowed".into()));
            }
        }
        {
            let mut query = url.query_pairs_mut();
            if let Some(service) = param("service") {
                query.append_pair("service", &service);
            }
            if let Some(repo) = &self.repository {
                query.append_pair("scope", &format!("repository:{repo}:pull"));
            }
        }
        let mut req = self.client.get(url);
        if let Some((user, password)) = &self.credentials {
            req = req.basic_auth(user, Some(password));
        }
        let resp = req.send().await.map_err(|e| transport(&e))?;
        let status = resp.status();
        if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN)
            && self.credentials.is_none()
            && self.repository.is_none()
        {
            // Validation without a repository: anonymous pulls may still work.
            return Ok(());
        }
        if !status.is_success() {
            return Err(UpstreamError::Unauthorized(format!("token endpoint answered {status}")));
        }
        let body: serde_json::Value = resp
            .json()
            .await
            .map_err(|_| UpstreamError::Unreachable("token response is not JSON".into()))?;
        let token = body
            .get("token")
            .or_else(|| body.get("access_token"))
            .and_then(|t| t.as_str())
            .ok_or_else(|| UpstreamError::Unreachable("token response has no token".into()))?;
        let value = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| UpstreamError::Unreachable("token is not a header value".into()))?;
        self.authorization = Some(value);
        Ok(())
    }

    /// Sends a request to `path` (below `/v2/`), re-authorizing once on 401.
    /// Returns the response whatever its status.
    pub async fn send(&mut self, method: Method, path: &str, headers: HeaderMap) -> Result<Response, UpstreamError> {
        let mut retried = false;
        loop {
            let mut req = self
                .client
                .request(method.clone(), format!("{}/v2/{path}", self.base_url))
                .headers(headers.clone());
            if let Some(auth) = &self.authorization {
                req = req.header(AUTHORIZATION, auth.clone());
            }
            let resp = req.send().await.map_err(|e| transport(&e))?;
            if resp.status() != StatusCode::UNAUTHORIZED || retried {
                return Ok(resp);
            }
            retried = true;
            self.authorize().await?;
        }
    }

    /// Whether the configuration works: `Valid` when `/v2/` answers 200,
    /// `Anonymous` when it answers 401 without credentials configured.
    pub async fn validate(&mut self) -> Result<&'static str, UpstreamError> {
        let resp = self.send(Method::GET, "", HeaderMap::new()).await?;
        match resp.status() {
            s if s.is_success() => Ok("Valid"),
            StatusCode::UNAUTHORIZED if self.credentials.is_none() => Ok("Anonymous"),
            StatusCode::UNAUTHORIZED => Err(UpstreamError::Unauthorized("credentials refused".into())),
            s => Err(UpstreamError::Status(s)),
        }
    }
}

fn basic_header(user: &str, password: &str) -> Result<HeaderValue, UpstreamError> {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let mut value = HeaderValue::from_str(&format!("Basic {encoded}"))
        .map_err(|_| UpstreamError::Unauthorized("credentials are not a valid header".into()))?;
    value.set_sensitive(true);
    Ok(value)
}

/// Connections made with a caller's client (a repository mirror's: its
/// proxy, TLS verification and time limits).
impl Upstream {
    /// Like [`Upstream::connect`], over `client`, authorized to pull
    /// `repository`.
    pub async fn connect_with(
        client: reqwest::Client,
        base_url: &str,
        credentials: Option<(String, String)>,
        repository: &str,
        ssrf: &SsrfPolicy,
    ) -> Result<Upstream, UpstreamError> {
        let mut upstream = Upstream {
            client,
            base_url: base_url.to_owned(),
            credentials,
            repository: Some(repository.to_owned()),
            authorization: None,
            ssrf: ssrf.clone(),
        };
        upstream.authorize().await?;
        Ok(upstream)
    }
}

#[cfg(test)]
mod tests {
    use super::parse_challenge;

    #[test]
    fn bearer_challenges_are_parsed() {
        let (scheme, params) =
            parse_challenge(r#"Bearer realm="https://auth.example/token",service="registry.example""#);
        assert_eq!(scheme, "Bearer");
        assert_eq!(params[0], ("realm".to_owned(), "https://auth.example/token".to_owned()));
        assert_eq!(params[1], ("service".to_owned(), "registry.example".to_owned()));
    }

    #[test]
    fn basic_challenges_are_parsed() {
        let (scheme, _) = parse_challenge(r#"Basic realm="Registry Realm""#);
        assert_eq!(scheme, "Basic");
    }
}
