//! A small blocking HTTP client for the distribution API that answers
//! `401 WWW-Authenticate: Bearer …` challenges the way docker clients do:
//! fetch a token from the realm (with Basic credentials when the registry has
//! a test account) and retry once.

use std::sync::Mutex;
use std::time::Duration;

use regex::Regex;
use reqwest::blocking::Client;
use reqwest::header::{HeaderMap, AUTHORIZATION, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};

use crate::Registry;

pub struct Http {
    client: Client,
    base: String,
    creds: Option<(String, String)>,
    token: Mutex<Option<String>>,
}

/// A buffered response.
#[derive(Debug)]
pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("response is not JSON ({e}): {}", self.text()))
    }

    /// Panics with the body unless the status is `expected`.
    pub fn expect_status(self, expected: u16, what: &str) -> Response {
        assert_eq!(
            self.status.as_u16(),
            expected,
            "{what}: unexpected status; headers {:?}; body {}",
            self.headers,
            self.text()
        );
        self
    }
}

pub struct Req<'a> {
    http: &'a Http,
    method: Method,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    scopes: Vec<String>,
}

impl Req<'_> {
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn body(mut self, body: Vec<u8>) -> Self {
        self.body = Some(body);
        self
    }

    /// An extra token scope (e.g. `repository:ns/src:pull` for a mount).
    pub fn scope(mut self, scope: &str) -> Self {
        self.scopes.push(scope.to_string());
        self
    }

    pub fn send(self) -> Response {
        let first = self.attempt(self.http.current_token().as_deref());
        if first.status != StatusCode::UNAUTHORIZED {
            return first;
        }
        let Some(challenge) = first.header(WWW_AUTHENTICATE.as_str()) else {
            return first;
        };
        if challenge.trim_start().to_ascii_lowercase().starts_with("basic") {
            return match &self.http.creds {
                Some((u, p)) => self.attempt_basic(u, p),
                None => first,
            };
        }
        match self.http.fetch_token(&challenge, &self.scopes) {
            Some(token) => self.attempt(Some(&token)),
            None => first,
        }
    }

    fn builder(&self) -> reqwest::blocking::RequestBuilder {
        let mut b = self.http.client.request(self.method.clone(), &self.url);
        for (k, v) in &self.headers {
            b = b.header(k, v);
        }
        if let Some(body) = &self.body {
            b = b.body(body.clone());
        }
        b
    }

    fn attempt(&self, token: Option<&str>) -> Response {
        let mut b = self.builder();
        if let Some(t) = token {
            b = b.header(AUTHORIZATION, format!("Bearer {t}"));
        }
        finish(b, &self.method, &self.url)
    }

    fn attempt_basic(&self, user: &str, password: &str) -> Response {
        finish(self.builder().basic_auth(user, Some(password)), &self.method, &self.url)
    }
}

fn finish(b: reqwest::blocking::RequestBuilder, method: &Method, url: &str) -> Response {
    let resp = b.send().unwrap_or_else(|e| panic!("{method} {url} failed: {e}"));
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp
        .bytes()
        .unwrap_or_else(|e| panic!("{method} {url}: reading body: {e}"))
        .to_vec();
    Response { status, headers, body }
}

impl Http {
    pub fn new(registry: &Registry) -> Http {
        Http {
            client: Client::builder()
                .timeout(Duration::from_secs(120))
                .build()
                .expect("http client"),
            base: registry.url(""),
            creds: registry.creds.clone(),
            token: Mutex::new(None),
        }
    }

    /// `path_or_url` is either absolute or a path on the registry (a
    /// relative `Location` header works too).
    pub fn request(&self, method: Method, path_or_url: &str) -> Req<'_> {
        Req {
            http: self,
            method,
            url: self.resolve(path_or_url),
            headers: Vec::new(),
            body: None,
            scopes: Vec::new(),
        }
    }

    pub fn get(&self, p: &str) -> Req<'_> {
        self.request(Method::GET, p)
    }

    pub fn head(&self, p: &str) -> Req<'_> {
        self.request(Method::HEAD, p)
    }

    pub fn post(&self, p: &str) -> Req<'_> {
        self.request(Method::POST, p)
    }

    pub fn patch(&self, p: &str) -> Req<'_> {
        self.request(Method::PATCH, p)
    }

    pub fn put(&self, p: &str) -> Req<'_> {
        self.request(Method::PUT, p)
    }

    pub fn delete(&self, p: &str) -> Req<'_> {
        self.request(Method::DELETE, p)
    }

    pub fn resolve(&self, path_or_url: &str) -> String {
        if path_or_url.starts_with("http://") || path_or_url.starts_with("https://") {
            path_or_url.to_string()
        } else {
            format!("{}{path_or_url}", self.base)
        }
    }

    /// The bearer token the last challenge was answered with, for requests
    /// made outside this client (raw sockets).
    pub fn token(&self) -> Option<String> {
        self.current_token()
    }

    fn current_token(&self) -> Option<String> {
        self.token.lock().ok().and_then(|t| t.clone())
    }

    fn fetch_token(&self, challenge: &str, extra_scopes: &[String]) -> Option<String> {
        let params = challenge_params(challenge);
        let realm = params.iter().find(|(k, _)| k == "realm")?.1.clone();
        let mut query: Vec<(String, String)> = params
            .iter()
            .filter(|(k, _)| k == "service" || k == "scope")
            .cloned()
            .collect();
        query.extend(extra_scopes.iter().map(|s| ("scope".to_string(), s.clone())));
        let mut b = self.client.get(&realm).query(&query);
        if let Some((u, p)) = &self.creds {
            b = b.basic_auth(u, Some(p));
        }
        let resp = finish(b, &Method::GET, &realm);
        if !resp.status.is_success() {
            eprintln!(
                "token request to {realm} {query:?} answered {}: {}",
                resp.status,
                resp.text()
            );
            return None;
        }
        let v = resp.json();
        let token = v
            .get("token")
            .or_else(|| v.get("access_token"))
            .and_then(|t| t.as_str())?
            .to_string();
        if let Ok(mut slot) = self.token.lock() {
            *slot = Some(token.clone());
        }
        Some(token)
    }
}

/// `key="value"` pairs of a `WWW-Authenticate` challenge.
pub fn challenge_params(challenge: &str) -> Vec<(String, String)> {
    let re = Regex::new(r#"([A-Za-z_]+)="([^"]*)""#).expect("static regex");
    re.captures_iter(challenge)
        .map(|c| (c[1].to_ascii_lowercase(), c[2].to_string()))
        .collect()
}

/// `url` with `key=value` appended to its query string.
pub fn with_query(url: &str, key: &str, value: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{key}={value}")
}

#[cfg(test)]
mod tests {
    use super::{challenge_params, with_query};

    #[test]
    fn bearer_challenges_are_split_into_parameters() {
        let p = challenge_params(r#"Bearer realm="http://h:1/v2/auth",service="h:1",scope="repository:a/b:pull,push""#);
        assert_eq!(p[0], ("realm".into(), "http://h:1/v2/auth".into()));
        assert_eq!(p[1], ("service".into(), "h:1".into()));
        assert_eq!(p[2], ("scope".into(), "repository:a/b:pull,push".into()));
    }

    #[test]
    fn query_parameters_are_appended_after_existing_ones() {
        assert_eq!(with_query("/u/1", "digest", "d"), "/u/1?digest=d");
        assert_eq!(with_query("/u/1?_state=x", "digest", "d"), "/u/1?_state=x&digest=d");
    }
}
