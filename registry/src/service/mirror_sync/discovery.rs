//! Finding the repositories of an organization mirror's source namespace,
//! as Quay's registry adapters do: a Quay source through its REST API
//! (`GET /api/v1/repository?namespace=…`, an API token as Bearer, pages by
//! `next_page`), a Harbor source through Harbor's
//! (`GET /api/v2.0/projects/{project}/repositories`, Basic auth, pages by
//! `Link`). The same endpoints answer the connection check. Every request
//! goes through the SSRF-guarded client of repository mirroring.

use std::time::Duration;

use reqwest::header::LINK;
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::connect::client;
use crate::db::queries::org_mirrors::OrgMirrorRow;
use crate::service::org_mirrors::{HARBOR, SSRF_REFUSED};
use crate::service::Registry;

/// Pages of a listing followed at most (a loop guard).
const MAX_PAGES: usize = 10_000;
const HARBOR_PAGE_SIZE: usize = 100;
const LIST_TIMEOUT: Duration = Duration::from_secs(30);
const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// A source registry's API, reachable and authorized as configured.
pub(super) struct SourceApi {
    client: reqwest::Client,
    base: String,
    harbor: bool,
    namespace: String,
    username: Option<String>,
    password: Option<String>,
}

impl Registry {
    /// The API of the mirror's source, after the SSRF check (repeated at
    /// every use, as DNS answers change). The error is Quay's message.
    pub(super) async fn source_api(&self, row: &OrgMirrorRow) -> Result<SourceApi, String> {
        let s = &row.settings;
        let (username, password) = self
            .unseal_credentials(row)
            .await
            .map_err(|_| "Failed to decrypt source registry credentials".to_owned())?;
        let base = s.external_registry_url.trim().trim_end_matches('/').to_owned();
        let ssrf = &self.settings().notifications.ssrf;
        let checked = crate::service::notifications::check_url(ssrf, &format!("{base}/"))
            .await
            .map_err(|reason| {
                tracing::info!(%reason, "org mirror source refused");
                SSRF_REFUSED.to_owned()
            })?;
        let config: Value = serde_json::from_str(&s.external_registry_config).unwrap_or_else(|_| json!({}));
        let verify_tls = config["verify_tls"].as_bool().unwrap_or(true);
        let client =
            client(verify_tls, &config["proxy"], &checked.host, &checked.addrs, ssrf).map_err(|e| e.to_string())?;
        Ok(SourceApi {
            client,
            base,
            harbor: s.external_registry_type == HARBOR,
            namespace: s.external_namespace.clone(),
            username: username.filter(|u| !u.is_empty()),
            password: password.filter(|p| !p.is_empty()),
        })
    }

    /// Quay's verify: whether the source answers for the namespace with
    /// these credentials, and a message.
    pub async fn verify_org_mirror(&self, row: &OrgMirrorRow) -> (bool, String) {
        match self.source_api(row).await {
            Ok(api) => api.test_connection().await,
            Err(message) => (false, message),
        }
    }
}

impl SourceApi {
    fn get(&self, path: &str, timeout: Duration) -> reqwest::RequestBuilder {
        let req = self.client.get(format!("{}{path}", self.base)).timeout(timeout);
        match (self.harbor, &self.username, &self.password) {
            (true, Some(u), Some(p)) => req.basic_auth(u, Some(p)),
            // Quay's API takes an API token, given as the password.
            (false, _, Some(token)) => req.bearer_auth(token),
            _ => req,
        }
    }

    fn registry_name(&self) -> &'static str {
        if self.harbor {
            "Harbor"
        } else {
            "Quay"
        }
    }

    fn request_error(&self, e: &reqwest::Error) -> String {
        if e.is_timeout() {
            format!("Connection to {} timed out", self.base)
        } else {
            format!(
                "Failed to connect to {} registry at {}",
                self.registry_name(),
                self.base
            )
        }
    }

    /// The namespace's repository names, without the namespace.
    pub async fn list_repositories(&self) -> Result<Vec<String>, String> {
        let mut names = Vec::new();
        let mut next: Option<String> = None;
        for page in 1..=MAX_PAGES {
            let req = if self.harbor {
                self.get(
                    &format!("/api/v2.0/projects/{}/repositories", self.namespace),
                    LIST_TIMEOUT,
                )
                .query(&[("page", page.to_string()), ("page_size", HARBOR_PAGE_SIZE.to_string())])
            } else {
                let mut query = vec![("namespace", self.namespace.clone())];
                if self.password.is_none() {
                    query.push(("public", "true".into()));
                }
                if let Some(token) = next.take() {
                    query.push(("next_page", token));
                }
                self.get("/api/v1/repository", LIST_TIMEOUT).query(&query)
            };
            let resp = req.send().await.map_err(|e| self.request_error(&e))?;
            self.check_listing_status(resp.status())?;
            let has_next = resp
                .headers()
                .get(LINK)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|l| l.contains("rel=\"next\""));
            let body: Value = resp
                .json()
                .await
                .map_err(|_| format!("{} API returned an unreadable listing", self.registry_name()))?;
            if self.harbor {
                let Some(items) = body.as_array().filter(|a| !a.is_empty()) else {
                    break;
                };
                names.extend(
                    items
                        .iter()
                        .filter_map(|r| r["name"].as_str())
                        .map(|full| full.split_once('/').map_or(full, |(_, name)| name).to_owned()),
                );
                if !has_next {
                    break;
                }
            } else {
                if let Some(items) = body["repositories"].as_array() {
                    names.extend(items.iter().filter_map(|r| r["name"].as_str()).map(str::to_owned));
                }
                match body["next_page"].as_str().filter(|t| !t.is_empty()) {
                    Some(token) => next = Some(token.to_owned()),
                    None => break,
                }
            }
        }
        Ok(names)
    }

    fn check_listing_status(&self, status: StatusCode) -> Result<(), String> {
        let (what, ns) = if self.harbor {
            ("Project", &self.namespace)
        } else {
            ("Namespace", &self.namespace)
        };
        match status.as_u16() {
            200..=299 => Ok(()),
            401 => Err("Authentication failed: invalid credentials".into()),
            403 => Err(format!("Access forbidden to {} '{ns}'", what.to_lowercase())),
            404 => Err(format!("{what} '{ns}' not found on {} registry", self.registry_name())),
            300..=399 => Err(format!("Registry returned redirect ({})", status.as_u16())),
            code => Err(format!("{} API returned error: {code}", self.registry_name())),
        }
    }

    /// Quay's `test_connection` of each adapter.
    pub async fn test_connection(&self) -> (bool, String) {
        let ns = &self.namespace;
        let path = if self.harbor {
            format!("/api/v2.0/projects/{ns}")
        } else {
            format!("/api/v1/organization/{ns}")
        };
        let status = match self.get(&path, CHECK_TIMEOUT).send().await {
            Ok(r) => r.status().as_u16(),
            Err(e) if e.is_timeout() => return (false, "Connection timed out".into()),
            Err(e) => return (false, format!("Connection error: {e}")),
        };
        match (status, self.harbor) {
            (200, _) => (true, "Connection successful".into()),
            (401, _) => (false, "Authentication failed".into()),
            (403, true) => (false, "Access forbidden - check permissions".into()),
            (404, true) => (false, format!("Project '{ns}' not found")),
            // The namespace may be a user's rather than an organization.
            (404, false) => match self.get(&format!("/api/v1/users/{ns}"), CHECK_TIMEOUT).send().await {
                Ok(r) if r.status() == StatusCode::OK => (true, "Connection successful".into()),
                _ => (false, format!("Namespace '{ns}' not found")),
            },
            (code, _) => (false, format!("Unexpected response: {code}")),
        }
    }
}
