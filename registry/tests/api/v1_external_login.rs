//! External login through an OpenID Connect provider (`<NAME>_LOGIN_CONFIG`,
//! `AUTHENTICATION_TYPE: OIDC`): `POST /api/v1/externallogin/{service}` and
//! `/oauth2/{service}/callback`, against the `oidc-provider-mock` PyPI
//! package run in the test (see `provider.rs`).

mod provider;
mod team_sync;

use reqwest::redirect::Policy;
use reqwest::Client;
use serde_json::{json, Value};

use crate::helpers::{spawn_app_with, TestApp};
use provider::{MockProvider, Proxy, Rewrite};

const SUB: &str = "0001-alice";

fn config(server: &str, oidc_auth: bool) -> String {
    let auth = if oidc_auth { "AUTHENTICATION_TYPE: OIDC\n" } else { "" };
    format!(
        "{auth}CORP_LOGIN_CONFIG:\n  OIDC_SERVER: {server}\n  CLIENT_ID: registry\n  CLIENT_SECRET: s3cret\n  \
         SERVICE_NAME: Corp SSO\n  LOGIN_SCOPES: [openid, profile, email]\n  DEBUGGING: true\n"
    )
}

async fn app_for(provider: &str) -> TestApp {
    spawn_app_with(&config(provider, true)).await
}

fn browser() -> Client {
    Client::builder().redirect(Policy::none()).build().expect("client")
}

fn query_param(url: &str, name: &str) -> String {
    url::Url::parse(url)
        .expect("a URL")
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("{url} has no {name}"))
}

/// A login the registry started: the provider URL and the state cookie.
struct Started {
    auth_url: String,
    cookie: String,
}

async fn start(app: &TestApp) -> Started {
    let res = browser()
        .post(app.url("/api/v1/externallogin/corp"))
        .json(&json!({"kind": "login"}))
        .send()
        .await
        .expect("POST externallogin");
    assert_eq!(res.status().as_u16(), 200);
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("_oauth_state="))
        .map(|v| v.split(';').next().unwrap_or_default().to_owned())
        .expect("a state cookie");
    let body: Value = res.json().await.expect("JSON");
    Started {
        auth_url: body["auth_url"].as_str().expect("auth_url").to_owned(),
        cookie,
    }
}

/// The provider's consent form, answered as user `sub`: the URL the
/// provider sends the browser back to.
async fn authorize(auth_url: &str, sub: &str) -> String {
    let res = browser()
        .post(auth_url)
        .form(&[("sub", sub)])
        .send()
        .await
        .expect("provider authorize");
    assert_eq!(res.status().as_u16(), 302, "the provider redirects back");
    res.headers()["location"].to_str().expect("location").to_owned()
}

struct Outcome {
    status: u16,
    location: Option<String>,
    session: Option<String>,
    body: String,
}

async fn callback(url: &str, cookie: Option<&str>) -> Outcome {
    let mut req = browser().get(url);
    if let Some(c) = cookie {
        req = req.header("Cookie", format!("_oauth_state={c}"));
    }
    let res = req.send().await.expect("callback");
    let session = crate::helpers::set_session_cookie(&res).filter(|s| !s.is_empty());
    Outcome {
        status: res.status().as_u16(),
        location: res
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        session,
        body: res.text().await.expect("body"),
    }
}

/// The whole browser flow as `sub`.
async fn login(app: &TestApp, sub: &str) -> Outcome {
    let started = start(app).await;
    let back = authorize(&started.auth_url, sub).await;
    callback(&back, Some(&started.cookie)).await
}

async fn whoami(app: &TestApp, session: &str) -> Value {
    let res = browser()
        .get(app.url("/api/v1/user/"))
        .header("Cookie", format!("session={session}"))
        .send()
        .await
        .expect("GET /api/v1/user/");
    assert_eq!(res.status().as_u16(), 200);
    res.json().await.expect("JSON")
}

async fn alice_provider(options: &[&str]) -> MockProvider {
    let provider = MockProvider::start(options).await;
    provider
        .set_user(
            SUB,
            json!({"preferred_username": "Alice.Smith@corp.example", "email": "alice@corp.example", "email_verified": true}),
        )
        .await;
    provider
}

fn assert_refused(outcome: &Outcome, status: u16, reason: &str) {
    assert_eq!(outcome.status, status, "{}", outcome.body);
    assert!(outcome.session.is_none(), "no session on a refused login");
    assert!(
        outcome.body.contains("There was an error logging in with Corp SSO"),
        "{}",
        outcome.body
    );
    assert!(outcome.body.contains(reason), "expected {reason:?} in {}", outcome.body);
}

#[actix_web::test]
async fn an_oidc_login_creates_the_account_and_a_session_that_works() {
    let provider = alice_provider(&[]).await;
    let app = app_for(&provider.url).await;
    let started = start(&app).await;
    for (name, value) in [
        ("client_id", "registry"),
        ("response_type", "code"),
        ("scope", "openid profile email"),
    ] {
        assert_eq!(query_param(&started.auth_url, name), value);
    }
    assert_eq!(
        query_param(&started.auth_url, "redirect_uri"),
        app.url("/oauth2/corp/callback")
    );
    assert!(started
        .auth_url
        .starts_with(&format!("{}/oauth2/authorize?", provider.url)));

    let back = authorize(&started.auth_url, SUB).await;
    let outcome = callback(&back, Some(&started.cookie)).await;
    assert_eq!(outcome.status, 302, "{}", outcome.body);
    assert_eq!(outcome.location.as_deref(), Some("/"));
    let me = whoami(&app, &outcome.session.expect("a session cookie")).await;
    assert_eq!(me["username"], "alice.smith");
    assert_eq!(me["email"], "alice@corp.example");
}

#[actix_web::test]
async fn a_second_login_reuses_the_linked_account() {
    let provider = alice_provider(&[]).await;
    let app = app_for(&provider.url).await;
    let first = login(&app, SUB).await;
    assert_eq!(first.status, 302, "{}", first.body);
    provider
        .set_user(
            SUB,
            json!({"preferred_username": "someone-else", "email": "alice@corp.example", "email_verified": true}),
        )
        .await;
    let second = login(&app, SUB).await;
    assert_eq!(second.status, 302, "{}", second.body);
    let me = whoami(&app, &second.session.expect("a session")).await;
    assert_eq!(me["username"], "alice.smith");
    assert!(app.server.account("someone-else").await.expect("lookup").is_none());

    // Another provider user whose name is taken gets the next free one.
    provider
        .set_user(
            "0002-other",
            json!({"preferred_username": "alice.smith", "email": "a2@corp.example", "email_verified": true}),
        )
        .await;
    let other = login(&app, "0002-other").await;
    let me = whoami(&app, &other.session.expect("a session")).await;
    assert_eq!(me["username"], "alice.smith1");
}

#[actix_web::test]
async fn a_callback_with_a_wrong_or_missing_state_is_refused() {
    let provider = alice_provider(&[]).await;
    let app = app_for(&provider.url).await;
    let started = start(&app).await;
    let back = authorize(&started.auth_url, SUB).await;
    let state = query_param(&back, "state");
    let forged = back.replace(&state, "forged-state");
    assert_refused(
        &callback(&forged, Some(&started.cookie)).await,
        400,
        "CSRF check failed",
    );
    assert_refused(&callback(&back, None).await, 400, "not started in this browser");
    let other = start(&app).await;
    assert_refused(&callback(&back, Some(&other.cookie)).await, 400, "CSRF check failed");
    assert_refused(
        &callback(&back, Some("not-a-token")).await,
        400,
        "not started in this browser",
    );
    assert!(app.server.account("alice.smith").await.expect("lookup").is_none());
}

#[actix_web::test]
async fn a_tampered_id_token_is_refused() {
    let provider = alice_provider(&[]).await;
    let proxy = Proxy::start(&provider.url);
    let app = app_for(&proxy.url).await;
    proxy.rewrite(Rewrite::Tamper);
    assert_refused(&login(&app, SUB).await, 400, "InvalidSignature");
    proxy.rewrite(Rewrite::Nothing);
    assert_eq!(login(&app, SUB).await.status, 302, "the untouched token is accepted");
}

#[actix_web::test]
async fn an_expired_id_token_is_refused() {
    let provider = alice_provider(&["-e", "-300"]).await;
    let app = app_for(&provider.url).await;
    assert_refused(&login(&app, SUB).await, 400, "ExpiredSignature");
    assert!(app.server.account("alice.smith").await.expect("lookup").is_none());
}

/// A validly signed ID token from the provider (through the proxy) for
/// `client_id` with `nonce`.
async fn id_token_for(proxy: &Proxy, client_id: &str, nonce: &str) -> String {
    let redirect_uri = "http://127.0.0.1:9/elsewhere";
    let mut auth = url::Url::parse(&format!("{}/oauth2/authorize", proxy.url)).expect("URL");
    auth.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid")
        .append_pair("state", "x")
        .append_pair("nonce", nonce);
    let back = authorize(auth.as_str(), SUB).await;
    let code = query_param(&back, "code");
    let answer: Value = browser()
        .post(format!("{}/oauth2/token", proxy.url))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect_uri),
            ("client_id", client_id),
            ("client_secret", "any"),
        ])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("JSON");
    answer["id_token"].as_str().expect("id_token").to_owned()
}

#[actix_web::test]
async fn an_id_token_for_another_client_or_login_is_refused() {
    let provider = alice_provider(&[]).await;
    let proxy = Proxy::start(&provider.url);
    let app = app_for(&proxy.url).await;

    let started = start(&app).await;
    let nonce = query_param(&started.auth_url, "nonce");
    let foreign = id_token_for(&proxy, "another-client", &nonce).await;
    proxy.rewrite(Rewrite::Replace(foreign));
    let back = authorize(&started.auth_url, SUB).await;
    assert_refused(&callback(&back, Some(&started.cookie)).await, 400, "InvalidAudience");

    proxy.rewrite(Rewrite::Nothing);
    let replayed = id_token_for(&proxy, "registry", "an-earlier-login").await;
    proxy.rewrite(Rewrite::Replace(replayed));
    assert_refused(&login(&app, SUB).await, 400, "the nonce does not match this login");
    assert!(app.server.account("alice.smith").await.expect("lookup").is_none());
}

#[actix_web::test]
async fn an_unreachable_provider_is_a_503_page_not_a_500() {
    let provider = alice_provider(&[]).await;
    let app = app_for(&provider.url).await;
    let started = start(&app).await;
    let back = authorize(&started.auth_url, SUB).await;
    drop(provider);
    assert_refused(
        &callback(&back, Some(&started.cookie)).await,
        503,
        "Could not reach Corp SSO",
    );

    let res = browser()
        .post(app.url("/api/v1/externallogin/corp"))
        .json(&json!({"kind": "login"}))
        .send()
        .await
        .expect("POST externallogin");
    assert_eq!(res.status().as_u16(), 503);
    let body: Value = res.json().await.expect("JSON");
    assert_eq!(body["error_type"], "downstream_issue", "{body}");
}

#[actix_web::test]
async fn unknown_services_kinds_and_provider_errors_are_refused() {
    let provider = alice_provider(&[]).await;
    let app = app_for(&provider.url).await;
    for (path, body) in [
        ("/api/v1/externallogin/nope", json!({"kind": "login"})),
        ("/api/v1/externallogin/corp", json!({"kind": "bogus"})),
        ("/api/v1/externallogin/corp", json!({})),
    ] {
        let res = browser().post(app.url(path)).json(&body).send().await.expect("POST");
        assert_eq!(res.status().as_u16(), 400, "{path} {body}");
    }
    let unknown = callback(&app.url("/oauth2/nope/callback?code=x&state=y"), None).await;
    assert_eq!(unknown.status, 400);
    let denied = callback(&app.url("/oauth2/corp/callback?error=access_denied"), None).await;
    assert_refused(&denied, 400, "access_denied");
}

async fn v2_login(app: &TestApp, username: &str, password: &str) -> u16 {
    browser()
        .get(app.url("/v2/auth?service=registry"))
        .basic_auth(username, Some(password))
        .send()
        .await
        .expect("/v2/auth")
        .status()
        .as_u16()
}

#[actix_web::test]
async fn under_oidc_passwords_sign_no_user_in_but_robots_and_tokens_do() {
    let provider = alice_provider(&[]).await;
    let app = app_for(&provider.url).await;
    let carol = app
        .server
        .create_user("carol", "password123", Some("carol@example.com"))
        .await
        .expect("user");
    let res = browser()
        .post(app.url("/api/v1/signin"))
        .json(&json!({"username": "carol", "password": "password123"}))
        .send()
        .await
        .expect("signin");
    assert_ne!(res.status().as_u16(), 200);
    assert!(crate::helpers::set_session_cookie(&res).is_none());
    assert!(res.text().await.expect("body").contains("external identity provider"));
    assert_eq!(v2_login(&app, "carol", "password123").await, 401);

    let org = app.server.create_organization(&carol, "acme", None).await.expect("org");
    let short = registry::service::RobotShortName::parse("ci").expect("name");
    let robot = app
        .server
        .create_robot(
            &org,
            &short,
            registry::service::NewRobot {
                description: None,
                unstructured_metadata: None,
            },
        )
        .await
        .expect("robot");
    assert_eq!(v2_login(&app, "acme+ci", &robot.token).await, 200);
    let (_, app_token) = app.server.create_app_token(&carol, "podman").await.expect("app token");
    assert_eq!(v2_login(&app, "$app", &app_token).await, 200);
    let oauth = app
        .server
        .issue_access_token(&carol, &registry::service::Scopes::all(), "cli")
        .await
        .expect("token");
    assert_eq!(v2_login(&app, "$oauthtoken", &oauth).await, 200);
}

#[actix_web::test]
async fn with_database_auth_users_may_also_sign_in_through_a_provider() {
    let provider = alice_provider(&[]).await;
    let app = spawn_app_with(&config(&provider.url, false)).await;
    app.server
        .create_user("dave", "password123", Some("dave@example.com"))
        .await
        .expect("user");
    let res = browser()
        .post(app.url("/api/v1/signin"))
        .json(&json!({"username": "dave", "password": "password123"}))
        .send()
        .await
        .expect("signin");
    assert_eq!(res.status().as_u16(), 200);
    let outcome = login(&app, SUB).await;
    assert_eq!(outcome.status, 302, "{}", outcome.body);
}
