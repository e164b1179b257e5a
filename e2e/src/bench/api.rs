//! Minimal OCI distribution (/v2) client: uploads, manifests, blob reads, and the
//! registry-token login (user sign-up, `/v2/auth`) our registry requires.
//!
//! Every unexpected answer becomes an error naming the request, the expected and the received status.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use reqwest::header::HeaderValue;
use reqwest::{header, Client, Method, RequestBuilder, Response, StatusCode};
use sha2::{Digest, Sha256};
use url::Url;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

pub fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

pub fn http_client() -> Result<Client> {
    Ok(Client::builder()
        .no_proxy()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(120))
        .pool_max_idle_per_host(64)
        .build()?)
}

#[derive(Clone)]
pub struct Api {
    pub client: Client,
    pub base: Url,
    /// `Authorization` value sent with every /v2 request (None: anonymous).
    pub auth: Option<HeaderValue>,
}

async fn expect(resp: Response, what: &str, want: StatusCode) -> Result<Response> {
    if resp.status() == want {
        return Ok(resp);
    }
    let status = resp.status();
    let headers = format!("{:?}", resp.headers());
    let body = resp.text().await.unwrap_or_default();
    let body: String = body.chars().take(400).collect();
    bail!("{what}: expected {want}, got {status}; headers {headers}; body {body:?}")
}

impl Api {
    pub fn new(client: Client, base: &str) -> Result<Self> {
        Ok(Self {
            client,
            base: Url::parse(base)?,
            auth: None,
        })
    }

    /// A request carrying the `Authorization` header, if any.
    fn request(&self, method: Method, url: Url) -> RequestBuilder {
        let rb = self.client.request(method, url);
        match &self.auth {
            Some(v) => rb.header(header::AUTHORIZATION, v.clone()),
            None => rb,
        }
    }

    /// The `Authorization` header as `Name: value` lines, for the load generator.
    pub fn auth_headers(&self) -> Vec<String> {
        self.auth
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(|v| format!("Authorization: {v}"))
            .collect()
    }

    /// `POST /api/v1/user/` (sign-up) → 200.
    pub async fn create_user(&self, username: &str, password: &str, email: &str) -> Result<()> {
        let url = self.url("/api/v1/user/")?;
        let what = format!("POST {url} (create user {username})");
        let resp = self
            .client
            .post(url)
            .json(&serde_json::json!({"username": username, "password": password, "email": email}))
            .send()
            .await
            .with_context(|| what.clone())?;
        expect(resp, &what, StatusCode::OK).await?;
        Ok(())
    }

    /// `POST /api/v1/user/initialize` (needs `FEATURE_USER_INITIALIZE` and an empty registry) → 200;
    /// returns the API access token (all scopes) issued with the first user.
    #[allow(dead_code, reason = "used by proxy_bench and ui_bench only")]
    pub async fn initialize_first_user(&self, username: &str, password: &str, email: &str) -> Result<String> {
        let url = self.url("/api/v1/user/initialize")?;
        let what = format!("POST {url} (first user {username}, with an access token)");
        let resp = self
            .client
            .post(url)
            .json(&serde_json::json!({
                "username": username,
                "password": password,
                "email": email,
                "access_token": true,
            }))
            .send()
            .await
            .with_context(|| what.clone())?;
        let resp = expect(resp, &what, StatusCode::OK).await?;
        let body: serde_json::Value = resp.json().await.with_context(|| format!("{what}: body"))?;
        let token = body["access_token"]
            .as_str()
            .filter(|t| !t.is_empty())
            .with_context(|| format!("{what}: no access_token in {body}"))?;
        Ok(token.to_string())
    }

    /// Logs in like docker/podman: `GET /v2/` → 401 with a Bearer challenge, then
    /// `GET <realm>?service=<service>&scope=repository:<repo>:pull,push` with Basic credentials.
    /// Returns the registry token (a JWT).
    pub async fn registry_token(&self, username: &str, password: &str, repo: &str) -> Result<String> {
        self.registry_token_scopes(username, password, &[format!("repository:{repo}:pull,push")])
            .await
    }

    /// Like [`Api::registry_token`], asking for every scope in `scopes` (one `scope` parameter each).
    pub async fn registry_token_scopes(&self, username: &str, password: &str, scopes: &[String]) -> Result<String> {
        let url = self.url("/v2/")?;
        let what = format!("GET {url} (anonymous, expecting a Bearer challenge)");
        let resp = self.client.get(url).send().await.with_context(|| what.clone())?;
        let resp = expect(resp, &what, StatusCode::UNAUTHORIZED).await?;
        let challenge = resp
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .with_context(|| format!("{what}: no WWW-Authenticate header"))?
            .to_string();
        let (realm, service) = parse_bearer_challenge(&challenge)
            .with_context(|| format!("{what}: unexpected WWW-Authenticate {challenge:?}"))?;
        let mut token_url = Url::parse(&realm).with_context(|| format!("{what}: bad realm {realm:?}"))?;
        {
            let mut q = token_url.query_pairs_mut();
            q.append_pair("service", &service);
            for scope in scopes {
                q.append_pair("scope", scope);
            }
        }
        let what = format!("GET {token_url} (Basic {username})");
        let resp = self
            .client
            .get(token_url)
            .basic_auth(username, Some(password))
            .send()
            .await
            .with_context(|| what.clone())?;
        let resp = expect(resp, &what, StatusCode::OK).await?;
        let body: serde_json::Value = resp.json().await.with_context(|| what.clone())?;
        let token = body
            .get("token")
            .or_else(|| body.get("access_token"))
            .and_then(|t| t.as_str())
            .filter(|t| !t.is_empty())
            .with_context(|| format!("{what}: no token in {body}"))?;
        Ok(token.to_string())
    }

    /// Sends `Authorization: Bearer <token>` on every /v2 request from now on.
    pub fn set_bearer(&mut self, token: &str) -> Result<()> {
        let mut v = HeaderValue::from_str(&format!("Bearer {token}")).context("token is not a valid header value")?;
        v.set_sensitive(true);
        self.auth = Some(v);
        Ok(())
    }

    pub fn url(&self, path: &str) -> Result<Url> {
        Ok(self.base.join(path)?)
    }

    fn location(&self, resp: &Response, what: &str) -> Result<Url> {
        let loc = resp
            .headers()
            .get(header::LOCATION)
            .with_context(|| format!("{what}: no Location header"))?
            .to_str()
            .with_context(|| format!("{what}: Location not ASCII"))?;
        // Relative locations resolve against the request URL.
        resp.url()
            .join(loc)
            .with_context(|| format!("{what}: bad Location {loc:?}"))
    }

    /// POST /v2/<repo>/blobs/uploads/ → 202 with Location.
    pub async fn start_upload(&self, repo: &str) -> Result<Url> {
        let url = self.url(&format!("/v2/{repo}/blobs/uploads/"))?;
        let what = format!("POST {url}");
        let resp = self
            .request(Method::POST, url)
            .body(Vec::new())
            .send()
            .await
            .with_context(|| what.clone())?;
        let resp = expect(resp, &what, StatusCode::ACCEPTED).await?;
        self.location(&resp, &what)
    }

    async fn finish_upload(&self, loc: Url, digest: &str, body: Bytes) -> Result<()> {
        let mut url = loc;
        url.query_pairs_mut().append_pair("digest", digest);
        let what = format!("PUT {url} ({} byte body)", body.len());
        let resp = self
            .request(Method::PUT, url)
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .body(body)
            .send()
            .await
            .with_context(|| what.clone())?;
        let resp = expect(resp, &what, StatusCode::CREATED).await?;
        check_digest_header(&resp, &what, digest)
    }

    /// POST + PUT ?digest= carrying the whole blob.
    pub async fn push_monolithic(&self, repo: &str, data: Bytes, digest: &str) -> Result<()> {
        let loc = self.start_upload(repo).await?;
        self.finish_upload(loc, digest, data).await
    }

    /// PUT /v2/<repo>/manifests/<reference>; returns the digest.
    pub async fn put_manifest(&self, repo: &str, reference: &str, body: Bytes) -> Result<String> {
        let digest = sha256_digest(&body);
        let url = self.url(&format!("/v2/{repo}/manifests/{reference}"))?;
        let what = format!("PUT {url} (OCI manifest {digest})");
        let resp = self
            .request(Method::PUT, url)
            .header(header::CONTENT_TYPE, OCI_MANIFEST)
            .body(body)
            .send()
            .await
            .with_context(|| what.clone())?;
        let resp = expect(resp, &what, StatusCode::CREATED).await?;
        check_digest_header(&resp, &what, &digest)?;
        Ok(digest)
    }

    /// GET a manifest with the OCI Accept header and check its digest.
    pub async fn check_manifest(&self, repo: &str, reference: &str, digest: &str) -> Result<()> {
        let url = self.url(&format!("/v2/{repo}/manifests/{reference}"))?;
        let what = format!("GET {url} (Accept: {OCI_MANIFEST})");
        let resp = self
            .request(Method::GET, url)
            .header(header::ACCEPT, OCI_MANIFEST)
            .send()
            .await
            .with_context(|| what.clone())?;
        let resp = expect(resp, &what, StatusCode::OK).await?;
        let ct = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body = resp.bytes().await.with_context(|| what.clone())?;
        let got = sha256_digest(&body);
        if got != digest {
            bail!("{what}: body digest {got}, expected {digest}");
        }
        if ct != OCI_MANIFEST {
            bail!("{what}: Content-Type {ct:?}, expected {OCI_MANIFEST:?}");
        }
        Ok(())
    }

    /// GET a blob, streaming; returns the byte count (must equal `len`).
    /// With `verify`, also hashes the body and compares with `digest`.
    pub async fn get_blob(&self, repo: &str, digest: &str, len: u64, verify: bool) -> Result<u64> {
        let url = self.url(&format!("/v2/{repo}/blobs/{digest}"))?;
        let what = format!("GET {url}");
        let resp = self
            .request(Method::GET, url)
            .send()
            .await
            .with_context(|| what.clone())?;
        let mut resp = expect(resp, &what, StatusCode::OK).await?;
        let mut n = 0u64;
        let mut hasher = verify.then(Sha256::new);
        while let Some(chunk) = resp.chunk().await.with_context(|| what.clone())? {
            n += chunk.len() as u64;
            if let Some(h) = hasher.as_mut() {
                h.update(&chunk);
            }
        }
        if n != len {
            bail!("{what}: got {n} bytes, expected {len}");
        }
        if let Some(h) = hasher {
            let got = format!("sha256:{}", hex::encode(h.finalize()));
            if got != digest {
                bail!("{what}: body digest {got}, expected {digest}");
            }
        }
        Ok(n)
    }
}

/// `Bearer realm="…",service="…"[,scope="…"]` → (realm, service).
fn parse_bearer_challenge(v: &str) -> Option<(String, String)> {
    let rest = v
        .trim()
        .strip_prefix("Bearer ")
        .or_else(|| v.trim().strip_prefix("bearer "))?;
    let (mut realm, mut service) = (None, None);
    let mut s = rest.trim();
    while !s.is_empty() {
        let (key, after) = s.split_once('=')?;
        let key = key.trim().trim_start_matches(',').trim();
        let (value, after) = match after.strip_prefix('"') {
            Some(q) => {
                let (val, after) = q.split_once('"')?;
                (val, after)
            }
            None => after.split_once(',').unwrap_or((after, "")),
        };
        match key {
            "realm" => realm = Some(value.to_string()),
            "service" => service = Some(value.to_string()),
            _ => {}
        }
        s = after.trim_start_matches(',').trim();
    }
    Some((realm?, service.unwrap_or_default()))
}

fn check_digest_header(resp: &Response, what: &str, digest: &str) -> Result<()> {
    match resp
        .headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
    {
        Some(d) if d == digest => Ok(()),
        Some(d) => bail!("{what}: Docker-Content-Digest {d:?}, expected {digest:?}"),
        None => bail!("{what}: no Docker-Content-Digest header"),
    }
}

/// Builds an OCI image manifest for the given config and layers (digest, size).
pub fn oci_manifest(config: (&str, usize), layers: &[(&str, usize)]) -> Bytes {
    let layers: Vec<serde_json::Value> = layers
        .iter()
        .map(|(d, s)| serde_json::json!({"mediaType": OCI_LAYER, "digest": d, "size": s}))
        .collect();
    let m = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config.0, "size": config.1},
        "layers": layers,
    });
    Bytes::from(serde_json::to_vec(&m).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_challenge() {
        let v = r#"Bearer realm="http://127.0.0.1:5000/v2/auth",service="127.0.0.1:5000""#;
        assert_eq!(
            parse_bearer_challenge(v),
            Some(("http://127.0.0.1:5000/v2/auth".into(), "127.0.0.1:5000".into()))
        );
        let v = r#"Bearer realm="https://h/v2/auth", service="h", scope="repository:a/b:pull,push""#;
        assert_eq!(
            parse_bearer_challenge(v),
            Some(("https://h/v2/auth".into(), "h".into()))
        );
        assert_eq!(parse_bearer_challenge(r#"Basic realm="x""#), None);
    }
}
