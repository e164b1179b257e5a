//! Browser sessions (quay-api.md §0, §1.1): `/api/v1/signin`, `/signout`,
//! `/signin/verify`, `GET /csrf_token`, the session cookie on the API, the
//! CSRF rule for cookie writes, the X-Requested-With rule for browser GETs
//! and fresh logins for sensitive actions. Account changes through
//! `PUT /api/v1/user/` are in `v1_sessions/account.rs`.

mod account;

use reqwest::{Method, RequestBuilder, Response};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use crate::helpers::{
    age_sessions, api_user, assert_api_error, header, header_of, set_session_cookie, sign_in, spawn_app_with, Browser,
    TestApp,
};

const PASSWORD: &str = "password123";
const CHROME: &str =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";
const CSRF_ERROR: &str = "CSRF token was invalid or missing.";

/// A request to `path` (`/api/v1/...` or `/csrf_token`) carrying the
/// browser's cookie, but no CSRF token.
fn as_browser(app: &TestApp, method: Method, path: &str, browser: &Browser) -> RequestBuilder {
    app.client
        .request(method, app.url(path))
        .header("Cookie", browser.cookie_header())
}

async fn send(req: RequestBuilder) -> Response {
    req.send().await.expect("request")
}

async fn json_of(res: Response) -> Value {
    res.json().await.expect("JSON body")
}

async fn sign_in_response(app: &TestApp, username: &str, password: &str) -> Response {
    send(
        app.client
            .post(app.url("/api/v1/signin"))
            .json(&json!({"username": username, "password": password})),
    )
    .await
}

/// An app with user `alice` (password `password123`).
async fn app_with_alice(extra_yaml: &str) -> (TestApp, String) {
    let app = spawn_app_with(extra_yaml).await;
    let (_, token) = api_user(&app, "alice", "all").await;
    (app, token)
}

async fn create_org(req: RequestBuilder, name: &str) -> Response {
    send(req.json(&json!({"name": name}))).await
}

// --- signing in and out -------------------------------------------------------

#[actix_web::test]
async fn signing_in_gives_an_http_only_lax_session_cookie_and_its_csrf_token() {
    let (app, _) = app_with_alice("").await;
    let res = sign_in_response(&app, "alice", PASSWORD).await;
    assert_eq!(res.status(), 200);
    let set_cookie = header(&res, "Set-Cookie");
    for part in ["session=", "HttpOnly", "SameSite=Lax", "Path=/", "Max-Age="] {
        assert!(set_cookie.contains(part), "{part} in {set_cookie}");
    }
    assert!(!set_cookie.contains("Secure"), "plain http: {set_cookie}");
    let cookie = set_session_cookie(&res).expect("session cookie");
    assert!(cookie.len() >= 64, "at least 32 random bytes: {cookie}");
    assert!(!header(&res, "X-Next-CSRF-Token").is_empty());
    assert_eq!(json_of(res).await, json!({"success": true}));
}

#[actix_web::test]
async fn the_session_cookie_is_secure_when_the_preferred_scheme_is_https() {
    let (app, _) = app_with_alice("PREFERRED_URL_SCHEME: https\n").await;
    let res = sign_in_response(&app, "alice", PASSWORD).await;
    assert_eq!(res.status(), 200);
    assert!(header(&res, "Set-Cookie").contains("; Secure"));
}

#[actix_web::test]
async fn only_the_hash_of_the_session_id_is_stored() {
    use diesel::prelude::*;
    use registry::db::schema::usersession;

    let (app, _) = app_with_alice("").await;
    let browser = sign_in(&app, "alice", PASSWORD).await;
    let stored: Vec<String> = app
        .services_with_stale_age(86_400)
        .await
        .db()
        .read(|c| Ok(usersession::table.select(usersession::token_sha256).load(c)?))
        .await
        .expect("sessions");
    assert_eq!(stored, vec![hex::encode(Sha256::digest(browser.cookie.as_bytes()))]);
}

#[actix_web::test]
async fn a_wrong_password_or_unknown_user_is_refused_with_quays_sign_in_body() {
    let (app, _) = app_with_alice("").await;
    for (user, password) in [("alice", "wrong-password"), ("nobody", PASSWORD)] {
        let res = sign_in_response(&app, user, password).await;
        assert_eq!(res.status(), 403, "{user}");
        assert!(set_session_cookie(&res).is_none());
        assert_eq!(
            json_of(res).await,
            json!({"needsEmailVerification": false, "invalidCredentials": true, "message": "Invalid username or password"})
        );
    }
}

#[actix_web::test]
async fn repeated_wrong_passwords_are_throttled_with_retry_after() {
    let (app, _) = app_with_alice("").await;
    for _ in 0..6 {
        sign_in_response(&app, "alice", "wrong-password").await;
    }
    let res = sign_in_response(&app, "alice", PASSWORD).await;
    assert_eq!(res.status(), 429);
    let after: u64 = header(&res, "Retry-After").parse().expect("seconds");
    assert!(after >= 1);
}

#[actix_web::test]
async fn a_disabled_user_cannot_sign_in_and_loses_its_sessions() {
    let (app, _) = app_with_alice("").await;
    let browser = sign_in(&app, "alice", PASSWORD).await;
    let services = app.services_with_stale_age(86_400).await;
    let alice = services.account("alice").await.expect("lookup").expect("alice");
    let disable = registry::service::UserUpdate {
        enabled: Some(false),
        ..Default::default()
    };
    services.update_user(&alice, disable).await.expect("disable alice");

    let res = sign_in_response(&app, "alice", PASSWORD).await;
    assert_eq!(res.status(), 403);
    assert_eq!(json_of(res).await["invalidCredentials"], true);
    let res = send(as_browser(&app, Method::GET, "/api/v1/user/", &browser)).await;
    assert_api_error(res, 401, "invalid_token").await;
}

#[actix_web::test]
async fn signing_out_ends_the_session_and_clears_the_cookie() {
    let (app, _) = app_with_alice("").await;
    let browser = sign_in(&app, "alice", PASSWORD).await;
    let res =
        send(as_browser(&app, Method::POST, "/api/v1/signout", &browser).header("X-CSRF-Token", &browser.csrf)).await;
    assert_eq!(res.status(), 200);
    let cleared = header(&res, "Set-Cookie");
    assert!(
        cleared.starts_with("session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    assert_eq!(json_of(res).await, json!({"success": true}));

    let res = send(as_browser(&app, Method::GET, "/api/v1/user/", &browser)).await;
    assert_api_error(res, 401, "invalid_token").await;
}

#[actix_web::test]
async fn signing_up_signs_the_new_user_in() {
    let app = spawn_app_with("").await;
    let body = json!({"username": "carol", "password": PASSWORD, "email": "carol@example.com"});
    let res = send(app.client.post(app.url("/api/v1/user/")).json(&body)).await;
    assert_eq!(res.status(), 200);
    let browser = Browser {
        cookie: set_session_cookie(&res).expect("signed in"),
        csrf: header(&res, "X-Next-CSRF-Token"),
    };
    let res = send(as_browser(&app, Method::GET, "/api/v1/user/", &browser)).await;
    assert_eq!(json_of(res).await["username"], "carol");
}

// --- the cookie on the API ----------------------------------------------------

#[actix_web::test]
async fn the_session_cookie_authenticates_with_every_user_scope_on_any_replica() {
    let (app, _) = app_with_alice("").await;
    let browser = sign_in(&app, "alice", PASSWORD).await;
    let replica = app.spawn_replica().await;
    for base in [app.address.clone(), replica] {
        let res = send(
            app.client
                .get(format!("{base}/api/v1/user/"))
                .header("Cookie", browser.cookie_header()),
        )
        .await;
        assert_eq!(res.status(), 200, "{base}");
        assert_eq!(json_of(res).await["username"], "alice");
    }
    let res = create_org(
        as_browser(&app, Method::POST, "/api/v1/organization/", &browser).header("X-CSRF-Token", &browser.csrf),
        "acme",
    )
    .await;
    assert_eq!(res.status(), 201, "user:admin comes with the session");
}

#[actix_web::test]
async fn an_unknown_cookie_is_anonymous() {
    let (app, _) = app_with_alice("").await;
    let stranger = Browser {
        cookie: "ab".repeat(32),
        csrf: String::new(),
    };
    let res = send(as_browser(&app, Method::GET, "/api/v1/user/", &stranger)).await;
    assert_api_error(res, 401, "invalid_token").await;
}

#[actix_web::test]
async fn a_cookie_write_without_or_with_a_wrong_csrf_token_is_forbidden() {
    let (app, _) = app_with_alice("").await;
    let browser = sign_in(&app, "alice", PASSWORD).await;
    let attempts = [
        as_browser(&app, Method::POST, "/api/v1/organization/", &browser),
        as_browser(&app, Method::POST, "/api/v1/organization/", &browser).header("X-CSRF-Token", "wrong"),
        as_browser(&app, Method::POST, "/api/v1/organization/?_csrf_token=wrong", &browser),
    ];
    for req in attempts {
        let res = create_org(req, "acme").await;
        assert_eq!(res.status(), 403);
        assert_eq!(json_of(res).await, json!({"error": CSRF_ERROR}));
    }
    let res = send(as_browser(&app, Method::GET, "/api/v1/organization/acme", &browser)).await;
    assert_eq!(res.status(), 404, "nothing was created");
}

#[actix_web::test]
async fn the_csrf_token_may_come_as_header_query_or_form_field() {
    let (app, _) = app_with_alice("").await;
    let browser = sign_in(&app, "alice", PASSWORD).await;
    let res = create_org(
        as_browser(&app, Method::POST, "/api/v1/organization/", &browser).header("X-CSRF-Token", &browser.csrf),
        "one",
    )
    .await;
    assert_eq!(res.status(), 201);
    let path = format!("/api/v1/organization/?_csrf_token={}", browser.csrf);
    let res = create_org(as_browser(&app, Method::POST, &path, &browser), "two").await;
    assert_eq!(res.status(), 201);
    let res = send(
        as_browser(&app, Method::POST, "/api/v1/signout", &browser)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(format!("_csrf_token={}", browser.csrf)),
    )
    .await;
    assert_eq!(res.status(), 200, "form field");
}

#[actix_web::test]
async fn bearer_tokens_win_over_the_cookie_and_need_no_csrf_token() {
    let (app, alice_token) = app_with_alice("").await;
    let (_, bob_token) = api_user(&app, "bob", "all").await;
    let browser = sign_in(&app, "alice", PASSWORD).await;

    let res = send(as_browser(&app, Method::GET, "/api/v1/user/", &browser).bearer_auth(&bob_token)).await;
    assert_eq!(json_of(res).await["username"], "bob");
    let res = create_org(
        as_browser(&app, Method::POST, "/api/v1/organization/", &browser).bearer_auth(&alice_token),
        "acme",
    )
    .await;
    assert_eq!(res.status(), 201);
    let res = send(as_browser(&app, Method::GET, "/api/v1/user/", &browser).bearer_auth("x".repeat(40))).await;
    assert_api_error(res, 401, "invalid_token").await;
}

#[actix_web::test]
async fn csrf_token_returns_the_sessions_token() {
    let (app, _) = app_with_alice("").await;
    let browser = sign_in(&app, "alice", PASSWORD).await;
    let res = send(as_browser(&app, Method::GET, "/csrf_token", &browser)).await;
    assert_eq!(res.status(), 200);
    assert_eq!(json_of(res).await, json!({"csrf_token": browser.csrf}));
    let res = send(app.client.get(app.url("/csrf_token"))).await;
    let anonymous = json_of(res).await;
    assert!(anonymous["csrf_token"]
        .as_str()
        .is_some_and(|t| !t.is_empty() && t != browser.csrf));
}

// --- X-Requested-With -----------------------------------------------------------

async fn get_user_as(app: &TestApp, user_agent: Option<&str>, xhr: bool) -> Response {
    let mut req = app.client.get(app.url("/api/v1/user/"));
    if let Some(ua) = user_agent {
        req = req.header("User-Agent", ua);
    }
    if xhr {
        req = req.header("X-Requested-With", "XMLHttpRequest");
    }
    send(req).await
}

#[actix_web::test]
async fn browser_gets_without_x_requested_with_are_refused() {
    let app = spawn_app_with("").await;
    for ua in [
        CHROME,
        "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15",
        "Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 6.1; Trident/4.0)",
    ] {
        let res = get_user_as(&app, Some(ua), false).await;
        assert_eq!(res.status(), 400, "{ua}");
        assert_eq!(
            json_of(res).await,
            json!({"error": "API calls must be invoked with an X-Requested-With header if called from a browser"})
        );
    }
    let res = get_user_as(&app, Some(CHROME), true).await;
    assert_api_error(res, 401, "invalid_token").await;
}

#[actix_web::test]
async fn registry_clients_and_browser_writes_are_not_subject_to_the_xhr_rule() {
    let (app, _) = app_with_alice("").await;
    for ua in [
        Some("curl/8.5.0"),
        Some("containers/5.29.0 (github.com/containers/image)"),
        None,
    ] {
        let res = get_user_as(&app, ua, false).await;
        assert_eq!(res.status(), 401, "{ua:?}");
    }
    let res = send(
        app.client
            .post(app.url("/api/v1/signin"))
            .header("User-Agent", CHROME)
            .json(&json!({"username": "alice", "password": PASSWORD})),
    )
    .await;
    assert_eq!(res.status(), 200);
}

#[actix_web::test]
async fn debugging_or_the_flag_off_allows_browser_gets() {
    for yaml in ["DEBUGGING: true\n", "BROWSER_API_CALLS_XHR_ONLY: false\n"] {
        let app = spawn_app_with(yaml).await;
        let res = get_user_as(&app, Some(CHROME), false).await;
        assert_eq!(res.status(), 401, "{yaml}");
    }
}

// --- fresh login ----------------------------------------------------------------

/// Deletes organization `org` as the browser (with its CSRF token).
async fn delete_org(app: &TestApp, browser: &Browser, org: &str) -> Response {
    let path = format!("/api/v1/organization/{org}");
    send(as_browser(app, Method::DELETE, &path, browser).header("X-CSRF-Token", &browser.csrf)).await
}

#[actix_web::test]
async fn stale_sessions_need_a_fresh_login_which_signin_verify_renews() {
    let (app, token) = app_with_alice("").await;
    let res = create_org(
        app.client.post(app.url("/api/v1/organization/")).bearer_auth(&token),
        "acme",
    )
    .await;
    assert_eq!(res.status(), 201);
    let browser = sign_in(&app, "alice", PASSWORD).await;
    age_sessions(&app, "alice").await;

    let body = assert_api_error(delete_org(&app, &browser, "acme").await, 401, "fresh_login_required").await;
    assert_eq!(body["detail"], "The action requires a fresh login to succeed.");

    let verify = |password: &str| {
        as_browser(&app, Method::POST, "/api/v1/signin/verify", &browser)
            .header("X-CSRF-Token", &browser.csrf)
            .json(&json!({"password": password}))
    };
    let res = send(verify("wrong-password")).await;
    assert_eq!(res.status(), 403);
    assert_eq!(json_of(res).await["invalidCredentials"], true);
    let res = send(verify(PASSWORD)).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        header_of(res.headers(), "X-Next-CSRF-Token"),
        Some(browser.csrf.clone())
    );
    assert_eq!(json_of(res).await, json!({"success": true}));

    assert_eq!(delete_org(&app, &browser, "acme").await.status(), 204);
}

#[actix_web::test]
async fn bearer_tokens_never_need_a_fresh_login() {
    let (app, token) = app_with_alice("").await;
    let res = create_org(
        app.client.post(app.url("/api/v1/organization/")).bearer_auth(&token),
        "acme",
    )
    .await;
    assert_eq!(res.status(), 201);
    sign_in(&app, "alice", PASSWORD).await;
    age_sessions(&app, "alice").await;
    let res = send(
        app.client
            .delete(app.url("/api/v1/organization/acme"))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(res.status(), 204);
}

#[actix_web::test]
async fn sensitive_actions_of_a_stale_session_are_refused() {
    let (app, _) = app_with_alice("SUPER_USERS: [alice]\n").await;
    api_user(&app, "bob", "all").await;
    let browser = sign_in(&app, "alice", PASSWORD).await;
    age_sessions(&app, "alice").await;
    let attempts = [
        (Method::PUT, "/api/v1/user/", json!({"password": "new-password-1"})),
        (Method::PUT, "/api/v1/user/", json!({"email": "new@example.com"})),
        (Method::DELETE, "/api/v1/user/", Value::Null),
        (Method::POST, "/api/v1/user/apptoken", json!({"title": "ci"})),
        (Method::POST, "/api/v1/superuser/users/", json!({"username": "dave"})),
        (Method::PUT, "/api/v1/superuser/users/bob", json!({"enabled": false})),
        (Method::DELETE, "/api/v1/superuser/users/bob", Value::Null),
    ];
    for (method, path, body) in attempts {
        let mut req = as_browser(&app, method.clone(), path, &browser).header("X-CSRF-Token", &browser.csrf);
        if !body.is_null() {
            req = req.json(&body);
        }
        let res = send(req).await;
        assert_eq!(res.status(), 401, "{method} {path}");
        assert_eq!(
            json_of(res).await["error_type"],
            "fresh_login_required",
            "{method} {path}"
        );
    }
    let res = send(as_browser(&app, Method::GET, "/api/v1/superuser/users/", &browser)).await;
    assert_eq!(res.status(), 200, "reads need no fresh login");
}
