//! A real OpenID Connect provider for the external-login tests: the
//! `oidc-provider-mock` PyPI package (a Flask app issuing RS256-signed ID
//! tokens), run from the Python venv `e2e/run` makes (`E2E_VENV`), and a
//! proxy in front of it that can swap or tamper with the ID token the token
//! endpoint answers.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{web, HttpRequest, HttpResponse};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::Value;

/// `oidc-provider-mock` on a free 127.0.0.1 port; stopped when dropped.
pub struct MockProvider {
    pub url: String,
    child: Child,
}

fn venv_python() -> String {
    let venv = std::env::var("E2E_VENV").unwrap_or_default();
    let python = format!("{venv}/bin/python");
    assert!(
        !venv.is_empty() && std::path::Path::new(&python).is_file(),
        "the external-login tests run the PyPI package oidc-provider-mock from the Python venv that \
         e2e/run creates: set E2E_VENV to that venv (e2e/run exports it)"
    );
    python
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl MockProvider {
    /// Starts the provider with extra command-line options (such as
    /// `["-e", "-300"]`: ID tokens that expired five minutes ago).
    pub async fn start(options: &[&str]) -> MockProvider {
        let port = free_port();
        let child = Command::new(venv_python())
            .args([
                "-W",
                "ignore",
                "-m",
                "oidc_provider_mock",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .args(options)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start oidc-provider-mock (is it installed in E2E_VENV?)");
        let provider = MockProvider {
            url: format!("http://127.0.0.1:{port}"),
            child,
        };
        provider.wait_until_serving().await;
        provider
    }

    async fn wait_until_serving(&self) {
        let discovery = format!("{}/.well-known/openid-configuration", self.url);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(res) = reqwest::get(&discovery).await {
                if res.status().is_success() {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "oidc-provider-mock did not start on {}",
                self.url
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Gives the provider's user `sub` these claims.
    pub async fn set_user(&self, sub: &str, claims: Value) {
        let res = reqwest::Client::new()
            .put(format!("{}/users/{sub}", self.url))
            .json(&claims)
            .send()
            .await
            .expect("PUT /users");
        assert_eq!(res.status().as_u16(), 204, "setting the claims of {sub}");
    }
}

impl Drop for MockProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the proxy does to the `id_token` of token endpoint answers.
#[derive(Clone, Default)]
pub enum Rewrite {
    #[default]
    Nothing,
    /// Changes a claim, leaving the signature as it was.
    Tamper,
    /// Answers this (validly signed) token instead.
    Replace(String),
}

/// A proxy in front of a provider; the provider sees the proxy's address
/// as its own (`Host`), so discovery and `iss` name the proxy.
pub struct Proxy {
    pub url: String,
    rewrite: Arc<Mutex<Rewrite>>,
}

struct ProxyState {
    upstream: String,
    host: String,
    client: reqwest::Client,
    rewrite: Arc<Mutex<Rewrite>>,
}

fn tamper(token: &str) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("base64")).expect("JSON");
    claims["sub"] = Value::from("mallory");
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{}.{payload}.{}", parts[0], parts[2])
}

async fn forward(req: HttpRequest, body: web::Bytes, state: web::Data<ProxyState>) -> HttpResponse {
    let path = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let method = reqwest::Method::from_bytes(req.method().as_str().as_bytes()).expect("method");
    let mut upstream = state
        .client
        .request(method, format!("{}{path}", state.upstream))
        .header("Host", &state.host)
        .body(body.to_vec());
    for name in ["content-type", "authorization", "accept"] {
        if let Some(v) = req.headers().get(name).and_then(|v| v.to_str().ok()) {
            upstream = upstream.header(name, v);
        }
    }
    let res = upstream.send().await.expect("provider reachable through the proxy");
    let status = res.status().as_u16();
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("text/plain")
        .to_owned();
    let location = res
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut bytes = res.bytes().await.expect("provider body").to_vec();
    let rewrite = state.rewrite.lock().expect("lock").clone();
    if req.path() == "/oauth2/token" && status == 200 {
        let mut answer: Value = serde_json::from_slice(&bytes).expect("token JSON");
        let token = answer["id_token"].as_str().unwrap_or_default().to_owned();
        answer["id_token"] = Value::from(match rewrite {
            Rewrite::Nothing => token,
            Rewrite::Tamper => tamper(&token),
            Rewrite::Replace(other) => other,
        });
        bytes = answer.to_string().into_bytes();
    }
    let mut out = HttpResponse::build(actix_web::http::StatusCode::from_u16(status).expect("status"));
    out.content_type(content_type);
    if let Some(l) = location {
        out.insert_header(("location", l));
    }
    out.body(bytes)
}

impl Proxy {
    pub fn start(upstream: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let host = format!("127.0.0.1:{}", listener.local_addr().expect("addr").port());
        let rewrite = Arc::new(Mutex::new(Rewrite::Nothing));
        let state = web::Data::new(ProxyState {
            upstream: upstream.to_owned(),
            host: host.clone(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            rewrite: rewrite.clone(),
        });
        let server = actix_web::HttpServer::new(move || {
            actix_web::App::new()
                .app_data(state.clone())
                .default_service(web::to(forward))
        })
        .workers(1)
        .listen(listener)
        .expect("listen proxy")
        .run();
        actix_web::rt::spawn(server);
        Proxy {
            url: format!("http://{host}"),
            rewrite,
        }
    }

    pub fn rewrite(&self, rewrite: Rewrite) {
        *self.rewrite.lock().expect("lock") = rewrite;
    }
}
