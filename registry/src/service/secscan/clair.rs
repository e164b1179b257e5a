//! The Clair v4 HTTP API, as Quay calls it: the indexer's state, indexing a
//! manifest, and its vulnerability report. With a pre-shared key every
//! request carries a short-lived HS256 JWT (`iss: quay`), as Clair's PSK
//! authentication expects.

use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

/// How long indexing one manifest may take (Clair fetches every layer).
const INDEX_TIMEOUT: Duration = Duration::from_secs(600);
/// How long the other calls may take.
const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Lifetime of the JWT on each request.
const JWT_TTL_S: i64 = 300;

/// Why a call to Clair failed.
#[derive(Debug, thiserror::Error)]
pub enum ClairError {
    /// Clair could not be reached, timed out or failed (5xx): try again later.
    #[error("the security scanner cannot be reached: {0}")]
    Unavailable(String),
    /// Clair refused what was sent (400): retrying the same will not help.
    #[error("the security scanner refused the request: {0}")]
    Refused(String),
    /// Clair answered with something that is not its API's shape.
    #[error("the security scanner gave an unexpected answer: {0}")]
    Unexpected(String),
}

#[derive(Clone)]
pub struct Clair {
    endpoint: String,
    psk: Option<Vec<u8>>,
    http: reqwest::Client,
}

impl std::fmt::Debug for Clair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clair")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl Clair {
    pub fn new(endpoint: &str, psk: Option<Vec<u8>>) -> Clair {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Clair {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            psk,
            http,
        }
    }

    fn token(&self) -> Option<String> {
        let key = self.psk.as_ref()?;
        let claims = json!({"iss": "quay", "exp": crate::now_ms() / 1000 + JWT_TTL_S});
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(key)).ok()
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        timeout: Duration,
    ) -> Result<Option<(Value, Option<String>)>, ClairError> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.endpoint))
            .timeout(timeout);
        if let Some(token) = self.token() {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let res = req.send().await.map_err(|e| ClairError::Unavailable(short(&e)))?;
        let status = res.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let etag = res
            .headers()
            .get(reqwest::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().trim_matches('"').to_owned());
        let text = res.text().await.map_err(|e| ClairError::Unavailable(short(&e)))?;
        if status == reqwest::StatusCode::BAD_REQUEST {
            return Err(ClairError::Refused(text.chars().take(300).collect()));
        }
        if !status.is_success() {
            return Err(ClairError::Unavailable(format!("HTTP {}", status.as_u16())));
        }
        let value: Value = serde_json::from_str(&text).map_err(|e| ClairError::Unexpected(e.to_string()))?;
        Ok(Some((value, etag)))
    }

    /// The indexer's state: a new value means earlier indexing may be stale.
    pub async fn index_state(&self) -> Result<String, ClairError> {
        let (v, _) = self
            .call(reqwest::Method::GET, "/indexer/api/v1/index_state", None, READ_TIMEOUT)
            .await?
            .ok_or_else(|| ClairError::Unexpected("no index_state endpoint".into()))?;
        v.get("state")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| ClairError::Unexpected("index_state without a state".into()))
    }

    /// Indexes a manifest (`{"hash", "layers": [{"hash", "uri", "headers"}]}`);
    /// returns the index report and the indexer state it was made under.
    pub async fn index(&self, manifest: &Value) -> Result<(Value, String), ClairError> {
        let (report, etag) = self
            .call(
                reqwest::Method::POST,
                "/indexer/api/v1/index_report",
                Some(manifest),
                INDEX_TIMEOUT,
            )
            .await?
            .ok_or_else(|| ClairError::Unexpected("no index_report endpoint".into()))?;
        if !report.get("state").is_some_and(Value::is_string) {
            return Err(ClairError::Unexpected("index report without a state".into()));
        }
        Ok((report, etag.unwrap_or_default()))
    }

    /// The vulnerability report of an indexed manifest; `None` when Clair
    /// does not know it (any more).
    pub async fn vulnerability_report(&self, digest: &str) -> Result<Option<Value>, ClairError> {
        let path = format!("/matcher/api/v1/vulnerability_report/{digest}");
        let found = self.call(reqwest::Method::GET, &path, None, READ_TIMEOUT).await?;
        match found {
            Some((v, _)) if v.get("packages").is_some_and(Value::is_object) => Ok(Some(v)),
            Some(_) => Err(ClairError::Unexpected("vulnerability report without packages".into())),
            None => Ok(None),
        }
    }
}

impl Clair {
    /// One page of a notification's entries (`next` from the previous page).
    pub async fn notification_page(&self, id: &str, next: Option<&str>) -> Result<Option<Value>, ClairError> {
        let id: String = url::form_urlencoded::byte_serialize(id.as_bytes()).collect();
        let mut path = format!("/notifier/api/v1/notification/{id}");
        if let Some(next) = next {
            let next: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
            path.push_str(&format!("?next={next}"));
        }
        Ok(self
            .call(reqwest::Method::GET, &path, None, READ_TIMEOUT)
            .await?
            .map(|(v, _)| v))
    }

    /// Marks a notification handled, so Clair stops delivering it.
    pub async fn delete_notification(&self, id: &str) -> Result<(), ClairError> {
        let id: String = url::form_urlencoded::byte_serialize(id.as_bytes()).collect();
        let path = format!("/notifier/api/v1/notification/{id}");
        match self.call(reqwest::Method::DELETE, &path, None, READ_TIMEOUT).await {
            Ok(_) | Err(ClairError::Unexpected(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Whether `token` is a JWT signed with the pre-shared key (Clair signs
    /// its webhook deliveries with it); true when no key is configured.
    pub fn verifies(&self, token: Option<&str>) -> bool {
        let Some(key) = &self.psk else { return true };
        let Some(token) = token else { return false };
        let mut v = jsonwebtoken::Validation::new(Algorithm::HS256);
        v.set_required_spec_claims(&["exp"]);
        v.validate_aud = false;
        jsonwebtoken::decode::<Value>(token, &jsonwebtoken::DecodingKey::from_secret(key), &v).is_ok()
    }
}

/// A reqwest error without the URL (which may hold the endpoint's secrets).
fn short(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else if e.is_body() || e.is_decode() {
        "the answer could not be read".into()
    } else {
        "the request failed".into()
    }
}
