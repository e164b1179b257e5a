//! GitHub as a build trigger's git host (`FEATURE_GITHUB_BUILD`, seed
//! chapter 8): the OAuth application of `GITHUB_TRIGGER_CONFIG` and a small
//! client of GitHub's REST API, which triggers use with the access token a
//! user granted them.
//!
//! Failures are kept apart: GitHub unreachable is [`Failure::Unreachable`]
//! (the caller answers 503), GitHub answering with an error is
//! [`Failure::Refused`] with GitHub's own message (the caller answers 400
//! with Quay's message). Neither carries a token or a response body.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use super::Error;
use crate::config::{Config, ConfigError};

/// The config key of the GitHub OAuth application for triggers.
pub const GITHUB_TRIGGER_CONFIG: &str = "GITHUB_TRIGGER_CONFIG";
const DEFAULT_GITHUB: &str = "https://github.com/";
const DEFAULT_API: &str = "https://api.github.com/";
/// Quay's timeout for GitHub calls is 5 s; the API can be slower to create hooks.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Connection attempts of a code exchange, as Quay makes them.
const EXCHANGE_ATTEMPTS: usize = 3;

/// `GITHUB_TRIGGER_CONFIG`, validated.
#[derive(Debug, Clone)]
pub struct GithubSettings {
    pub client_id: String,
    client_secret: SecretString,
    /// `GITHUB_ENDPOINT`, ending in `/`: where users authorize and codes
    /// are exchanged, and the base of repository web URLs.
    pub github_endpoint: String,
    /// `API_ENDPOINT`, ending in `/`.
    pub api_endpoint: String,
    /// `REGISTRY_TITLE`, which names the deploy key on GitHub.
    pub registry_title: String,
}

fn field_err(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Field {
        field: format!("{GITHUB_TRIGGER_CONFIG}.{key}"),
        message: message.into(),
    }
}

/// An endpoint URL with a trailing slash, so paths join onto it.
fn endpoint(map: &serde_yaml::Mapping, key: &str, default: impl FnOnce() -> String) -> Result<String, ConfigError> {
    let raw = match map.get(key) {
        None | Some(serde_yaml::Value::Null) => default(),
        Some(serde_yaml::Value::String(s)) => s.trim().to_owned(),
        Some(_) => return Err(field_err(key, "must be a URL string")),
    };
    let valid = (raw.starts_with("http://") || raw.starts_with("https://")) && url::Url::parse(&raw).is_ok();
    if !valid {
        return Err(field_err(key, "must start with http:// or https://"));
    }
    Ok(if raw.ends_with('/') { raw } else { format!("{raw}/") })
}

fn required_text(map: &serde_yaml::Mapping, key: &str) -> Result<String, ConfigError> {
    match map.get(key) {
        Some(serde_yaml::Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
        Some(serde_yaml::Value::Number(n)) => Ok(n.to_string()),
        None | Some(serde_yaml::Value::Null) => Err(field_err(key, "is required")),
        Some(_) => Err(field_err(key, "must be a non-empty string")),
    }
}

impl GithubSettings {
    /// The settings when `FEATURE_GITHUB_BUILD` is on; an error naming the
    /// field when `GITHUB_TRIGGER_CONFIG` is missing or malformed then.
    pub fn from_config(config: &Config) -> Result<Option<GithubSettings>, ConfigError> {
        if !config.feature("GITHUB_BUILD", false) {
            return Ok(None);
        }
        let map = match config.other.get(GITHUB_TRIGGER_CONFIG) {
            Some(serde_yaml::Value::Mapping(m)) => m,
            None | Some(serde_yaml::Value::Null) => return Err(ConfigError::Field {
                field: GITHUB_TRIGGER_CONFIG.into(),
                message:
                    "is required with FEATURE_GITHUB_BUILD (CLIENT_ID and CLIENT_SECRET of a GitHub OAuth application)"
                        .into(),
            }),
            Some(_) => {
                return Err(ConfigError::Field {
                    field: GITHUB_TRIGGER_CONFIG.into(),
                    message: "must be a mapping with CLIENT_ID and CLIENT_SECRET".into(),
                })
            }
        };
        let client_id = required_text(map, "CLIENT_ID")?;
        let client_secret = SecretString::from(required_text(map, "CLIENT_SECRET")?);
        let github_endpoint = endpoint(map, "GITHUB_ENDPOINT", || DEFAULT_GITHUB.into())?;
        // GitHub Enterprise serves its API under /api/v3/ of its own host.
        let api_endpoint = endpoint(map, "API_ENDPOINT", || {
            if github_endpoint == DEFAULT_GITHUB {
                DEFAULT_API.into()
            } else {
                format!("{github_endpoint}api/v3/")
            }
        })?;
        let registry_title = match config.other.get("REGISTRY_TITLE") {
            Some(serde_yaml::Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
            _ => "Quay".into(),
        };
        Ok(Some(GithubSettings {
            client_id,
            client_secret,
            github_endpoint,
            api_endpoint,
            registry_title,
        }))
    }
}

/// Why a GitHub call gave nothing usable.
#[derive(Debug)]
pub(super) enum Failure {
    /// No answer (connection refused, timeout, TLS failure).
    Unreachable,
    /// An error status; `message` is GitHub's `message`, `detail` the
    /// first of its `errors[].message`.
    Refused {
        status: u16,
        message: Option<String>,
        detail: Option<String>,
    },
}

impl std::fmt::Display for Failure {
    /// For the server log: the status and GitHub's message, nothing sent.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Unreachable => f.write_str("GitHub could not be reached"),
            Failure::Refused { status, message, .. } => {
                write!(
                    f,
                    "GitHub answered {status}: {}",
                    message.as_deref().unwrap_or("no message")
                )
            }
        }
    }
}

impl Failure {
    /// Quay's answer: GitHub's first detailed error, else `default`; 503
    /// when GitHub could not be reached.
    pub(super) fn into_error(self, default: impl Into<String>) -> Error {
        match self {
            Failure::Unreachable => unreachable_error(),
            Failure::Refused { detail, .. } => Error::InvalidRequest(detail.unwrap_or_else(|| default.into())),
        }
    }
}

pub(super) fn unreachable_error() -> Error {
    Error::Unavailable("Request to the GitHub API failed: GitHub could not be reached".into())
}

/// GitHub's API and OAuth endpoints for triggers.
#[derive(Debug, Clone)]
pub struct GithubClient {
    pub settings: GithubSettings,
    http: reqwest::Client,
}

impl GithubClient {
    pub fn new(settings: GithubSettings) -> Result<GithubClient, ConfigError> {
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("registry/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ConfigError::Field {
                field: GITHUB_TRIGGER_CONFIG.into(),
                message: format!("cannot make an HTTP client: {e}"),
            })?;
        Ok(GithubClient { settings, http })
    }

    /// The web URL of a repository `owner/name`.
    pub fn repository_url(&self, full_name: &str) -> String {
        format!("{}{full_name}", self.settings.github_endpoint)
    }

    /// Exchanges an OAuth code for an access token, as Quay does; GitHub's
    /// refusal is a 400 with its description.
    pub async fn exchange_code(&self, code: &str, redirect_uri: &str) -> Result<SecretString, Error> {
        let url = format!("{}login/oauth/access_token", self.settings.github_endpoint);
        let form = [
            ("client_id", self.settings.client_id.as_str()),
            ("client_secret", self.settings.client_secret.expose_secret()),
            ("code", code),
            ("grant_type", "authorization_code"),
            ("redirect_uri", redirect_uri),
        ];
        let mut response = None;
        for _ in 0..EXCHANGE_ATTEMPTS {
            let sent = self
                .http
                .post(&url)
                .header("Accept", "application/json")
                .form(&form)
                .send()
                .await;
            match sent {
                Ok(r) => {
                    response = Some(r);
                    break;
                }
                Err(e) if e.is_connect() => tracing::debug!("GitHub code exchange: connection failed, retrying"),
                Err(e) => {
                    tracing::warn!(error = %e.without_url(), "GitHub code exchange failed");
                    break;
                }
            }
        }
        let Some(response) = response else {
            return Err(Error::Unavailable(
                "Received too many ConnectionErrors during code exchange".into(),
            ));
        };
        let status = response.status().as_u16();
        if status / 100 != 2 {
            return Err(Error::InvalidRequest(format!(
                "Got non-2XX response for code exchange: {status}"
            )));
        }
        let body: Value = response
            .json()
            .await
            .map_err(|_| Error::InvalidRequest("Got non-JSON response for code exchange".into()))?;
        if let Some(error) = body.get("error") {
            let message = body["error_description"].as_str().or(error.as_str()).unwrap_or("error");
            return Err(Error::InvalidRequest(message.to_owned()));
        }
        match body["access_token"].as_str() {
            Some(token) if !token.is_empty() => Ok(SecretString::from(token.to_owned())),
            _ => Err(Error::InvalidRequest("Missing `access_token` in OAuth response".into())),
        }
    }

    fn api(&self, method: reqwest::Method, path: &str, token: &SecretString) -> reqwest::RequestBuilder {
        let url = format!("{}{}", self.settings.api_endpoint, path.trim_start_matches('/'));
        self.http
            .request(method, url)
            .header("Accept", "application/vnd.github+json")
            .header("Authorization", format!("token {}", token.expose_secret()))
    }

    async fn call(&self, request: reqwest::RequestBuilder) -> Result<Value, Failure> {
        let response = request.send().await.map_err(|e| {
            tracing::warn!(error = %e.without_url(), "GitHub API unreachable");
            Failure::Unreachable
        })?;
        let status = response.status().as_u16();
        // An empty body (204) reads as null.
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status / 100 == 2 {
            return Ok(body);
        }
        let failure = Failure::Refused {
            status,
            message: body["message"].as_str().map(str::to_owned),
            detail: body["errors"][0]["message"].as_str().map(str::to_owned),
        };
        tracing::info!(%failure, "GitHub API refused a call");
        Err(failure)
    }

    pub(super) async fn get(&self, token: &SecretString, path: &str) -> Result<Value, Failure> {
        self.call(self.api(reqwest::Method::GET, path, token)).await
    }

    pub(super) async fn post(&self, token: &SecretString, path: &str, body: &Value) -> Result<Value, Failure> {
        self.call(self.api(reqwest::Method::POST, path, token).json(body)).await
    }

    pub(super) async fn delete(&self, token: &SecretString, path: &str) -> Result<(), Failure> {
        self.call(self.api(reqwest::Method::DELETE, path, token))
            .await
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(yaml: &str) -> Result<Option<GithubSettings>, ConfigError> {
        let config: Config = serde_yaml::from_str(yaml).expect("config YAML");
        GithubSettings::from_config(&config)
    }

    fn field_of(e: ConfigError) -> String {
        match e {
            ConfigError::Field { field, .. } => field,
            other => panic!("not a field error: {other}"),
        }
    }

    #[test]
    fn the_trigger_config_is_read_only_with_the_feature_on() {
        assert!(settings("GITHUB_TRIGGER_CONFIG: 3\n").expect("ignored").is_none());
        let s = settings("FEATURE_GITHUB_BUILD: true\nGITHUB_TRIGGER_CONFIG: {CLIENT_ID: id, CLIENT_SECRET: secret}\n")
            .expect("valid")
            .expect("on");
        assert_eq!(s.client_id, "id");
        assert_eq!(s.github_endpoint, "https://github.com/");
        assert_eq!(s.api_endpoint, "https://api.github.com/");
        assert_eq!(s.registry_title, "Quay");
        assert!(!format!("{s:?}").contains("secret\""), "the secret is not shown: {s:?}");
    }

    #[test]
    fn loading_a_config_with_the_feature_on_and_no_trigger_config_fails_naming_it() {
        let e = Config::parse("FEATURE_BUILD_SUPPORT: true\nFEATURE_GITHUB_BUILD: true\n").expect_err("refused");
        assert_eq!(field_of(e), GITHUB_TRIGGER_CONFIG);
        let ok = "FEATURE_BUILD_SUPPORT: true\nFEATURE_GITHUB_BUILD: true\nGITHUB_TRIGGER_CONFIG: {CLIENT_ID: a, CLIENT_SECRET: b}\n";
        Config::parse(ok).expect("valid");
    }

    #[test]
    fn enterprise_endpoints_default_their_api_to_api_v3() {
        let s = settings(
            "FEATURE_GITHUB_BUILD: true\nGITHUB_TRIGGER_CONFIG: {CLIENT_ID: a, CLIENT_SECRET: b, GITHUB_ENDPOINT: 'https://ghe.example.com'}\n",
        )
        .expect("valid")
        .expect("on");
        assert_eq!(s.github_endpoint, "https://ghe.example.com/");
        assert_eq!(s.api_endpoint, "https://ghe.example.com/api/v3/");
    }

    #[test]
    fn malformed_trigger_configs_name_the_key() {
        let on = "FEATURE_GITHUB_BUILD: true\n";
        let cases = [
            ("", "GITHUB_TRIGGER_CONFIG"),
            ("GITHUB_TRIGGER_CONFIG: [a]\n", "GITHUB_TRIGGER_CONFIG"),
            (
                "GITHUB_TRIGGER_CONFIG: {CLIENT_SECRET: b}\n",
                "GITHUB_TRIGGER_CONFIG.CLIENT_ID",
            ),
            (
                "GITHUB_TRIGGER_CONFIG: {CLIENT_ID: a, CLIENT_SECRET: ''}\n",
                "GITHUB_TRIGGER_CONFIG.CLIENT_SECRET",
            ),
            (
                "GITHUB_TRIGGER_CONFIG: {CLIENT_ID: a, CLIENT_SECRET: b, GITHUB_ENDPOINT: 'github.com'}\n",
                "GITHUB_TRIGGER_CONFIG.GITHUB_ENDPOINT",
            ),
            (
                "GITHUB_TRIGGER_CONFIG: {CLIENT_ID: a, CLIENT_SECRET: b, API_ENDPOINT: [x]}\n",
                "GITHUB_TRIGGER_CONFIG.API_ENDPOINT",
            ),
        ];
        for (yaml, field) in cases {
            let e = settings(&format!("{on}{yaml}")).expect_err(yaml);
            assert_eq!(field_of(e), field, "{yaml}");
        }
    }
}
