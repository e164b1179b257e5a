//! The OAuth 2 provider routes (quay-api.md §1.3 "Generate Token"):
//! `/oauth/authorize`, `/oauth/authorizeapp`, `/oauth/denyapp`,
//! `/oauth/access_token`, with the refused case of every rule. Token
//! assignments are in `v1_oauth/assign.rs`.

mod assign;

use base64::Engine as _;
use reqwest::{Client, Response};
use serde_json::{json, Value};

use crate::helpers::{sign_in, Browser, RepoFixture};

const REDIRECT: &str = "https://app.example.com/cb";

/// acme (owned by alice) with application `deployer` redirecting under
/// [`REDIRECT`]; bob is a plain user; alice has a private repository.
struct World {
    f: RepoFixture,
    /// A client that does not follow redirects.
    web: Client,
    client_id: String,
    client_secret: String,
    alice: Browser,
    alice_token: String,
}

async fn world() -> World {
    let f = RepoFixture::new().await;
    let (alice_user, alice_token) = f.user("alice").await;
    f.user("bob").await;
    f.org(&alice_user, "acme").await;
    let body = json!({"name": "deployer", "redirect_uri": REDIRECT, "description": "Deploys <things>"});
    let (status, app) = f
        .call(
            "POST",
            "/organization/acme/applications",
            Some(&alice_token),
            Some(body),
        )
        .await;
    assert_eq!(status, 200, "{app}");
    f.create_repo(&alice_token, "alice", "app", "private").await;
    let alice = sign_in(&f.app, "alice", "password123").await;
    let web = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    World {
        client_id: app["client_id"].as_str().expect("client_id").to_owned(),
        client_secret: app["client_secret"].as_str().expect("secret").to_owned(),
        f,
        web,
        alice,
        alice_token,
    }
}

fn form_of(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

fn location(res: &Response) -> String {
    res.headers()
        .get("Location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("a Location header ({})", res.status()))
        .to_owned()
}

/// Decoded `name=value` pairs.
type Pairs = Vec<(String, String)>;

/// The parameters of a URL's query and fragment.
fn url_params(location: &str) -> (url::Url, Pairs, Pairs) {
    let url = url::Url::parse(location).expect("absolute Location");
    let q = url.query_pairs().into_owned().collect();
    let frag = url::form_urlencoded::parse(url.fragment().unwrap_or_default().as_bytes())
        .into_owned()
        .collect();
    (url, q, frag)
}

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

impl World {
    /// `GET /oauth/authorize` as `browser` (anonymous when `None`).
    async fn authorize(&self, browser: Option<&Browser>, pairs: &[(&str, &str)]) -> Response {
        let mut req = self
            .web
            .get(self.f.app.url(&format!("/oauth/authorize?{}", form_of(pairs))));
        if let Some(b) = browser {
            req = req.header("Cookie", b.cookie_header());
        }
        req.send().await.expect("GET /oauth/authorize")
    }

    /// Posts the form `pairs` to `path` as `browser`.
    async fn post_form(&self, path: &str, browser: Option<&Browser>, pairs: &[(&str, &str)]) -> Response {
        let mut req = self
            .web
            .post(self.f.app.url(path))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form_of(pairs));
        if let Some(b) = browser {
            req = req.header("Cookie", b.cookie_header());
        }
        req.send().await.expect("POST form")
    }

    /// The consent form's fields for `scope` and `response_type`.
    fn consent<'a>(&'a self, browser: &'a Browser, scope: &'a str, response_type: &'a str) -> Vec<(&'a str, &'a str)> {
        vec![
            ("client_id", self.client_id.as_str()),
            ("redirect_uri", REDIRECT),
            ("scope", scope),
            ("response_type", response_type),
            ("state", "s-123"),
            ("_csrf_token", browser.csrf.as_str()),
        ]
    }

    /// Approves `scope` as alice with the implicit grant; returns the token.
    async fn implicit_token(&self, scope: &str) -> String {
        let res = self
            .post_form(
                "/oauth/authorizeapp",
                Some(&self.alice),
                &self.consent(&self.alice, scope, "token"),
            )
            .await;
        assert_eq!(res.status(), 302);
        let (_, _, frag) = url_params(&location(&res));
        param(&frag, "access_token").expect("access_token").to_owned()
    }

    /// The tokens of the application, as its admin lists them.
    async fn app_tokens(&self) -> Vec<Value> {
        let path = format!("/organization/acme/applications/{}/tokens", self.client_id);
        let (status, body) = self.f.call("GET", &path, Some(&self.alice_token), None).await;
        assert_eq!(status, 200, "{body}");
        body["tokens"].as_array().expect("tokens").clone()
    }
}

/// The repository actions a registry token of `/v2/auth` grants, logging
/// in as `$oauthtoken` with `token`.
async fn v2_actions(w: &World, token: &str, scope: &str) -> Value {
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("$oauthtoken:{token}"));
    let res = w
        .web
        .get(w.f.app.url(&format!("/v2/auth?service=registry&scope={scope}")))
        .header("Authorization", format!("Basic {basic}"))
        .send()
        .await
        .expect("GET /v2/auth");
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.expect("token JSON");
    let jwt = body["token"].as_str().expect("token");
    let payload = jwt.split('.').nth(1).expect("JWT payload");
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("base64url"),
    )
    .expect("claims JSON");
    claims["access"][0]["actions"].clone()
}

#[actix_web::test]
async fn the_implicit_grant_asks_consent_then_gives_a_token_that_works_on_the_api_and_v2() {
    let w = world().await;
    let ask = [
        ("client_id", w.client_id.as_str()),
        ("redirect_uri", REDIRECT),
        ("scope", "repo:read user:read"),
        ("response_type", "token"),
        ("state", "s-123"),
    ];
    let res = w.authorize(Some(&w.alice), &ask).await;
    assert_eq!(res.status(), 200);
    assert!(res.headers()["Content-Type"]
        .to_str()
        .expect("type")
        .starts_with("text/html"));
    let page = res.text().await.expect("page");
    assert!(page.contains("action=\"/oauth/authorizeapp\""), "{page}");
    assert!(
        page.contains(&format!("value=\"{}\"", w.alice.csrf)),
        "the session's CSRF token"
    );
    assert!(page.contains("Deploys &lt;things&gt;"), "escaped: {page}");
    assert!(page.contains("data-scope=\"repo:read\"") && page.contains("data-scope=\"user:read\""));
    assert!(w.app_tokens().await.is_empty(), "nothing granted before consent");

    let mut fields = w.consent(&w.alice, "repo:read user:read", "token");
    fields.retain(|(k, _)| *k != "_csrf_token");
    let res = w.post_form("/oauth/authorizeapp", Some(&w.alice), &fields).await;
    assert_eq!(res.status(), 403, "no CSRF token, no grant");

    let res = w
        .post_form(
            "/oauth/authorizeapp",
            Some(&w.alice),
            &w.consent(&w.alice, "repo:read user:read", "token"),
        )
        .await;
    assert_eq!(res.status(), 302);
    let (url, query, frag) = url_params(&location(&res));
    assert_eq!(
        format!("{}://{}{}", url.scheme(), url.host_str().expect("host"), url.path()),
        REDIRECT
    );
    assert_eq!(param(&query, "state"), Some("s-123"));
    let token = param(&frag, "access_token").expect("access_token in the fragment");
    assert_eq!(token.len(), 40);
    assert_eq!(param(&frag, "token_type"), Some("Bearer"));
    assert_eq!(param(&frag, "expires_in"), Some("315576000"));
    assert_eq!(param(&frag, "scope"), Some("repo:read user:read"));
    assert_eq!(param(&frag, "state"), Some("s-123"));

    let (status, me) = w.f.call("GET", "/user/", Some(token), None).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["username"], "alice");
    let (status, _) =
        w.f.call("POST", "/organization/", Some(token), Some(json!({"name": "nope"})))
            .await;
    assert_eq!(status, 403, "a repo:read user:read token cannot create organizations");
    assert_eq!(
        v2_actions(&w, token, "repository:alice/app:pull,push").await,
        json!(["pull"])
    );
    let tokens = w.app_tokens().await;
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0]["created_by"], "alice");

    // Already granted: straight back to the application, a new token.
    let res = w.authorize(Some(&w.alice), &ask).await;
    assert_eq!(res.status(), 302);
    let (_, _, frag) = url_params(&location(&res));
    assert_ne!(param(&frag, "access_token"), Some(token));
    assert_eq!(w.app_tokens().await.len(), 2);
}

#[actix_web::test]
async fn the_code_grant_exchanges_a_code_once_and_only_with_the_right_secret() {
    let w = world().await;
    let res = w
        .post_form(
            "/oauth/authorizeapp",
            Some(&w.alice),
            &w.consent(&w.alice, "repo:read", "code"),
        )
        .await;
    assert_eq!(res.status(), 302);
    let (_, query, frag) = url_params(&location(&res));
    assert!(frag.is_empty(), "no token in the redirect of the code grant");
    assert_eq!(param(&query, "state"), Some("s-123"));
    let code = param(&query, "code").expect("code").to_owned();
    assert!(w.app_tokens().await.is_empty());

    let exchange = |secret: &str, redirect: &str, code: &str| {
        vec![
            ("grant_type".to_owned(), "authorization_code".to_owned()),
            ("client_id".to_owned(), w.client_id.clone()),
            ("client_secret".to_owned(), secret.to_owned()),
            ("code".to_owned(), code.to_owned()),
            ("redirect_uri".to_owned(), redirect.to_owned()),
        ]
    };
    let post = |pairs: Vec<(String, String)>| {
        let form: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let body = form_of(&form);
        let req = w
            .web
            .post(w.f.app.url("/oauth/access_token"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body);
        async move {
            let res = req.send().await.expect("POST /oauth/access_token");
            let status = res.status().as_u16();
            (status, res.json::<Value>().await.expect("JSON"))
        }
    };
    let wrong_secret = "x".repeat(40);
    assert_eq!(
        post(exchange(&wrong_secret, REDIRECT, &code)).await,
        (400, json!({"error": "invalid_client"}))
    );
    let other_redirect = format!("{REDIRECT}/other");
    let (status, body) = post(exchange(&w.client_secret, &other_redirect, &code)).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));
    let mut bad_grant = exchange(&w.client_secret, REDIRECT, &code);
    bad_grant[0].1 = "password".into();
    assert_eq!(post(bad_grant).await.1["error"], "unsupported_grant_type");
    assert!(w.app_tokens().await.is_empty(), "refused exchanges grant nothing");

    let (status, body) = post(exchange(&w.client_secret, REDIRECT, &code)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "repo:read");
    assert_eq!(body["expires_in"], 315_576_000);
    let token = body["access_token"].as_str().expect("access_token");
    assert_eq!(
        v2_actions(&w, token, "repository:alice/app:pull").await,
        json!(["pull"])
    );
    let (status, _) = w.f.call("GET", "/user/", Some(token), None).await;
    assert_eq!(status, 403, "repo:read does not read the user");

    let (status, body) = post(exchange(&w.client_secret, REDIRECT, &code)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "a code works once"
    );
    assert_eq!(w.app_tokens().await.len(), 1);
}

#[actix_web::test]
async fn redirects_outside_the_applications_uri_are_refused() {
    let w = world().await;
    for evil in [
        "https://evil.example.com/cb",
        "http://app.example.com/cb",
        "https://app.example.com/elsewhere",
        "https://app.example.com/cb/../admin",
    ] {
        let ask = [
            ("client_id", w.client_id.as_str()),
            ("redirect_uri", evil),
            ("scope", "repo:read"),
            ("response_type", "token"),
        ];
        let res = w.authorize(Some(&w.alice), &ask).await;
        assert_eq!(res.status(), 302, "{evil}");
        let (url, query, frag) = url_params(&location(&res));
        assert_eq!(url.host_str(), Some("app.example.com"), "to the registered URI: {url}");
        assert_eq!(param(&query, "error"), Some("redirect_uri_mismatch"));
        assert!(frag.is_empty());

        let mut fields = w.consent(&w.alice, "repo:read", "token");
        fields[1] = ("redirect_uri", evil);
        let res = w.post_form("/oauth/authorizeapp", Some(&w.alice), &fields).await;
        assert_eq!(res.status(), 400, "{evil}");
        assert_eq!(
            res.json::<Value>().await.expect("JSON"),
            json!({"error": "invalid_request"})
        );
    }
    assert!(w.app_tokens().await.is_empty());

    // The registry's own token page is always allowed.
    let local = w.f.app.url("/oauth/localapp");
    let mut fields = w.consent(&w.alice, "repo:read", "token");
    fields[1] = ("redirect_uri", &local);
    let res = w.post_form("/oauth/authorizeapp", Some(&w.alice), &fields).await;
    assert_eq!(res.status(), 302);
    assert!(location(&res).starts_with(&format!("{local}?scope=repo%3Aread")));
}

#[actix_web::test]
async fn an_unknown_client_id_is_refused() {
    let w = world().await;
    let ask = [
        ("client_id", "nosuchclient"),
        ("redirect_uri", REDIRECT),
        ("scope", "repo:read"),
    ];
    assert_eq!(w.authorize(Some(&w.alice), &ask).await.status(), 404);
    let mut fields = w.consent(&w.alice, "repo:read", "token");
    fields[0] = ("client_id", "nosuchclient");
    let res = w.post_form("/oauth/authorizeapp", Some(&w.alice), &fields).await;
    assert_eq!(res.status(), 400);
    assert_eq!(
        res.json::<Value>().await.expect("JSON"),
        json!({"error": "unauthorized_client"})
    );
}

#[actix_web::test]
async fn anonymous_callers_are_asked_to_sign_in_and_cannot_authorize() {
    let w = world().await;
    let ask = [
        ("client_id", w.client_id.as_str()),
        ("redirect_uri", REDIRECT),
        ("scope", "repo:read"),
    ];
    let res = w.authorize(None, &ask).await;
    assert_eq!(res.status(), 401);
    assert!(res.text().await.expect("page").contains("Sign in"));
    let fields = w.consent(&w.alice, "repo:read", "token");
    for path in ["/oauth/authorizeapp", "/oauth/denyapp"] {
        assert_eq!(w.post_form(path, None, &fields).await.status(), 401, "{path}");
    }
    assert!(w.app_tokens().await.is_empty());
}

#[actix_web::test]
async fn scopes_the_user_cannot_hold_or_unknown_scopes_are_refused() {
    let w = world().await;
    let bob = sign_in(&w.f.app, "bob", "password123").await;
    let res = w
        .post_form(
            "/oauth/authorizeapp",
            Some(&bob),
            &w.consent(&bob, "repo:read super:user", "token"),
        )
        .await;
    assert_eq!(res.status(), 302);
    let (_, query, frag) = url_params(&location(&res));
    assert_eq!(
        param(&query, "error"),
        Some("access_denied"),
        "no super:user for a non-superuser"
    );
    assert!(frag.is_empty());

    let res = w
        .post_form(
            "/oauth/authorizeapp",
            Some(&bob),
            &w.consent(&bob, "repo:read repo:bogus", "token"),
        )
        .await;
    let (_, query, _) = url_params(&location(&res));
    assert_eq!(param(&query, "error"), Some("invalid_scope"));
    let ask = [
        ("client_id", w.client_id.as_str()),
        ("redirect_uri", REDIRECT),
        ("scope", "repo:bogus"),
    ];
    assert_eq!(
        w.authorize(Some(&bob), &ask).await.status(),
        404,
        "nothing known to ask for"
    );
    assert!(w.app_tokens().await.is_empty());
}

#[actix_web::test]
async fn denying_sends_the_user_back_with_an_error_and_no_token() {
    let w = world().await;
    let res = w
        .post_form(
            "/oauth/denyapp",
            Some(&w.alice),
            &w.consent(&w.alice, "repo:read", "token"),
        )
        .await;
    assert_eq!(res.status(), 302);
    let (_, query, frag) = url_params(&location(&res));
    assert_eq!(param(&query, "error"), Some("authorization_denied"));
    assert_eq!(param(&query, "state"), Some("s-123"));
    assert!(frag.is_empty());
    let mut fields = w.consent(&w.alice, "repo:read", "token");
    fields.retain(|(k, _)| *k != "_csrf_token");
    assert_eq!(
        w.post_form("/oauth/denyapp", Some(&w.alice), &fields).await.status(),
        403
    );
    assert!(w.app_tokens().await.is_empty());
}

#[actix_web::test]
async fn deleting_the_application_revokes_flow_tokens() {
    let w = world().await;
    let token = w.implicit_token("user:read").await;
    assert_eq!(w.f.call("GET", "/user/", Some(&token), None).await.0, 200);
    let path = format!("/organization/acme/applications/{}", w.client_id);
    assert_eq!(w.f.call("DELETE", &path, Some(&w.alice_token), None).await.0, 204);
    assert_eq!(w.f.call("GET", "/user/", Some(&token), None).await.0, 401);
}

#[actix_web::test]
async fn a_bearer_token_cannot_post_the_consent_form_to_widen_its_scopes() {
    let w = world().await;
    let narrow = w.implicit_token("repo:read").await;
    let before = w.app_tokens().await.len();
    let fields = [
        ("client_id", w.client_id.as_str()),
        ("redirect_uri", REDIRECT),
        ("scope", "repo:read user:admin"),
        ("response_type", "token"),
    ];
    let res = w
        .web
        .post(w.f.app.url("/oauth/authorizeapp"))
        .bearer_auth(&narrow)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form_of(&fields))
        .send()
        .await
        .expect("POST /oauth/authorizeapp");
    assert_eq!(res.status(), 403, "a token has no session to post a form with");
    assert_eq!(w.app_tokens().await.len(), before, "nothing granted");
}
