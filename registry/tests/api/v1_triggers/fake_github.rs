//! A small stand-in for github.com and api.github.com, served on loopback
//! by the test: the OAuth token endpoint and the REST calls GitHub triggers
//! make (user, orgs, repos, branches, tags, commits, deploy keys, hooks).
//! It records every request it gets, so tests assert what the registry
//! sent to GitHub.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::{json, Value};

pub const CLIENT_ID: &str = "gh-client";
pub const CLIENT_SECRET: &str = "gh-secret";
/// The code the fake accepts, and the token it gives for it.
pub const GOOD_CODE: &str = "good-code";
pub const ACCESS_TOKEN: &str = "gho_fake_access_token";
pub const DEPLOY_KEY_ID: i64 = 4242;
pub const HOOK_ID: i64 = 777;
/// The key id made before the hook of `octo-org/nohooks` is refused.
pub const ORPHAN_KEY_ID: i64 = 4243;
pub const HEAD: &str = "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c";
pub const TAG_HEAD: &str = "9049f1265b7d61be4a8904a9a27120d2064dab3b";
pub const SSH_URL: &str = "git@github.com:octo-org/hello-app.git";

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: String,
    pub authorization: Option<String>,
    pub accept: Option<String>,
    pub body: String,
}

impl Recorded {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{} {} body is JSON: {e}", self.method, self.path))
    }

    /// A form field of the body.
    pub fn form(&self, key: &str) -> Option<String> {
        url::form_urlencoded::parse(self.body.as_bytes())
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
    }
}

/// The running fake.
pub struct FakeGithub {
    /// `http://127.0.0.1:<port>`
    pub base: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
    handle: actix_web::dev::ServerHandle,
}

impl FakeGithub {
    pub async fn start() -> FakeGithub {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fake GitHub");
        let port = listener.local_addr().expect("address").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let shared = web::Data::new(requests.clone());
        let server = HttpServer::new(move || App::new().app_data(shared.clone()).default_service(web::to(handle)))
            .workers(1)
            .listen(listener)
            .expect("listen")
            .run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        FakeGithub {
            base: format!("http://127.0.0.1:{port}"),
            requests,
            handle,
        }
    }

    /// Stops answering: GitHub is down from here on.
    pub async fn stop(&self) {
        self.handle.stop(false).await;
    }

    /// The config keys that point GitHub triggers at this fake.
    pub fn config(&self) -> String {
        github_config(&self.base)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().expect("requests").clone()
    }

    /// The requests of `method` to `path`.
    pub fn received(&self, method: &str, path: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == method && r.path == path)
            .collect()
    }

    /// The one request of `method` to `path`.
    pub fn one(&self, method: &str, path: &str) -> Recorded {
        let found = self.received(method, path);
        assert_eq!(found.len(), 1, "one {method} {path} in {:#?}", self.requests());
        found[0].clone()
    }
}

/// The config keys of GitHub triggers whose endpoints are at `base`.
pub fn github_config(base: &str) -> String {
    format!(
        "FEATURE_GITHUB_BUILD: true\nGITHUB_TRIGGER_CONFIG:\n  CLIENT_ID: {CLIENT_ID}\n  CLIENT_SECRET: {CLIENT_SECRET}\n  GITHUB_ENDPOINT: {base}/\n  API_ENDPOINT: {base}/api/\n"
    )
}

async fn handle(req: HttpRequest, body: web::Bytes, log: web::Data<Arc<Mutex<Vec<Recorded>>>>) -> HttpResponse {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let recorded = Recorded {
        method: req.method().to_string(),
        path: req.path().to_owned(),
        query: req.query_string().to_owned(),
        authorization: header("Authorization"),
        accept: header("Accept"),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    log.lock().expect("requests").push(recorded.clone());
    let (status, answer) = respond(&recorded);
    let mut res = HttpResponse::build(actix_web::http::StatusCode::from_u16(status).expect("status"));
    match answer {
        Value::Null => res.finish(),
        v => res.json(v),
    }
}

fn not_found() -> (u16, Value) {
    (
        404,
        json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}),
    )
}

fn exchange(r: &Recorded) -> (u16, Value) {
    let good = r.form("code").as_deref() == Some(GOOD_CODE)
        && r.form("client_id").as_deref() == Some(CLIENT_ID)
        && r.form("client_secret").as_deref() == Some(CLIENT_SECRET);
    if good {
        (
            200,
            json!({"access_token": ACCESS_TOKEN, "token_type": "bearer", "scope": "repo,read:org"}),
        )
    } else {
        (
            200,
            json!({
                "error": "bad_verification_code",
                "error_description": "The code passed is incorrect or expired.",
                "error_uri": "https://docs.github.com/apps/troubleshooting",
            }),
        )
    }
}

fn repo(name: &str) -> Value {
    json!({
        "name": name,
        "full_name": format!("octo-org/{name}"),
        "description": "Hello",
        "private": false,
        "pushed_at": "2026-11-30T17:12:45Z",
        "html_url": format!("https://github.com/octo-org/{name}"),
        "ssh_url": format!("git@github.com:octo-org/{name}.git"),
        "default_branch": "main",
    })
}

fn person(login: &str) -> Value {
    json!({"login": login, "avatar_url": format!("https://avatars.example/{login}"), "html_url": format!("https://github.com/{login}")})
}

fn respond(r: &Recorded) -> (u16, Value) {
    if r.path == "/login/oauth/access_token" && r.method == "POST" {
        return exchange(r);
    }
    let Some(api) = r.path.strip_prefix("/api/") else {
        return not_found();
    };
    if r.authorization.as_deref() != Some(&format!("token {ACCESS_TOKEN}")) {
        return (401, json!({"message": "Bad credentials"}));
    }
    let commit = |sha: &str| json!({"sha": sha});
    match (r.method.as_str(), api) {
        ("GET", "user") => (
            200,
            json!({"login": "octocat", "name": "The Octocat", "avatar_url": "https://avatars.example/octocat",
                   "html_url": "https://github.com/octocat", "plan": {"private_repos": 10}}),
        ),
        ("GET", "user/orgs") => (
            200,
            json!([{"login": "octo-org", "avatar_url": "https://avatars.example/octo-org"}]),
        ),
        ("GET", "user/repos") => (
            200,
            json!([{"name": "dotfiles", "full_name": "octocat/dotfiles", "description": null,
            "private": true, "pushed_at": null, "html_url": "https://github.com/octocat/dotfiles"}]),
        ),
        ("GET", "orgs/octo-org/repos") => (200, json!([repo("hello-app")])),
        ("GET", "repos/octo-org/hello-app" | "repos/octo-org/locked" | "repos/octo-org/nohooks") => {
            (200, repo(api.rsplit('/').next().unwrap_or_default()))
        }
        ("GET", "repos/octo-org/hello-app/branches") => (
            200,
            json!([{"name": "develop", "commit": commit(TAG_HEAD)}, {"name": "main", "commit": commit(HEAD)}]),
        ),
        ("GET", "repos/octo-org/hello-app/branches/main") => (200, json!({"name": "main", "commit": commit(HEAD)})),
        ("GET", "repos/octo-org/hello-app/tags") => (200, json!([{"name": "v1.0", "commit": commit(TAG_HEAD)}])),
        ("GET", path) if path.starts_with("repos/octo-org/hello-app/commits/") => {
            let sha = path.rsplit('/').next().unwrap_or_default();
            (
                200,
                json!({
                    "sha": sha,
                    "html_url": format!("https://github.com/octo-org/hello-app/commit/{sha}"),
                    "commit": {"message": "Update README.md", "committer": {"date": "2026-11-30T17:12:45Z"}},
                    "author": person("octocat"),
                    "committer": person("web-flow"),
                }),
            )
        }
        ("POST", "repos/octo-org/hello-app/keys") => (201, json!({"id": DEPLOY_KEY_ID, "read_only": true})),
        ("POST", "repos/octo-org/nohooks/keys") => (201, json!({"id": ORPHAN_KEY_ID, "read_only": true})),
        ("POST", "repos/octo-org/locked/keys") => (
            422,
            json!({"message": "Validation Failed", "errors": [{"resource": "PublicKey", "code": "custom",
                   "field": "key", "message": "key is already in use"}]}),
        ),
        ("POST", "repos/octo-org/hello-app/hooks") => (201, json!({"id": HOOK_ID, "events": ["push"]})),
        ("POST", "repos/octo-org/nohooks/hooks") => (403, json!({"message": "Must have admin rights to Repository."})),
        ("DELETE", path) if path.starts_with("repos/octo-org/") => (204, Value::Null),
        _ => not_found(),
    }
}
