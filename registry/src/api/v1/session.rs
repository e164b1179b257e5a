//! Browser sign-in with a session cookie: `/signin`, `/signin/verify`,
//! `/signout`, `GET /csrf_token`, and the guard every `/api/v1` request
//! passes: Quay's X-Requested-With rule for browser GETs, and the CSRF token
//! that writes authenticated by the cookie must carry (bearer tokens never
//! need one, and always win over the cookie).

use super::doc::{self, Mount};
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse, HttpResponseBuilder};
use futures_util::StreamExt as _;
use serde::Deserialize;
use serde_json::json;

use super::{ApiCaller, ApiError};
use crate::config::Config;
use crate::service::logs::LogEntry;
use crate::service::{random_token, Error, IssuedSession, Session, SignIn};
use crate::state::AppState;

/// The session cookie (Flask's name, which Quay keeps).
pub const SESSION_COOKIE: &str = "session";
const CSRF_HEADER: &str = "X-CSRF-Token";
const CSRF_FIELD: &str = "_csrf_token";
/// Where the UI finds the CSRF token of a session it was just given.
pub const NEXT_CSRF_HEADER: &str = "X-Next-CSRF-Token";
/// Largest form body searched for `_csrf_token`.
const FORM_LIMIT: usize = 64 * 1024;
const XHR_MESSAGE: &str = "API calls must be invoked with an X-Requested-With header if called from a browser";
const CSRF_MESSAGE: &str = "CSRF token was invalid or missing.";

/// The browser-facing rules from `config.yaml`.
#[derive(Debug, Clone)]
pub struct BrowserPolicy {
    /// `BROWSER_API_CALLS_XHR_ONLY` and not `DEBUGGING`.
    pub xhr_only: bool,
    /// `FRESH_LOGIN_TIMEOUT` in milliseconds.
    pub fresh_login_ms: i64,
    /// Cookies are `Secure` (`PREFERRED_URL_SCHEME: https`).
    pub secure_cookie: bool,
    /// `FEATURE_DIRECT_LOGIN`: users sign in with their password.
    pub direct_login: bool,
    /// `LOCAL_OAUTH_HANDLER`: the registry's own page that shows a token
    /// made by the implicit grant ("Generate Token").
    pub local_oauth_handler: String,
    /// `FEATURE_ASSIGN_OAUTH_TOKEN`: organization admins may ask other
    /// users to authorize an application.
    pub assign_oauth_tokens: bool,
}

impl BrowserPolicy {
    pub fn from_config(config: &Config) -> BrowserPolicy {
        BrowserPolicy {
            xhr_only: config.browser_api_calls_xhr_only && !config.debugging,
            fresh_login_ms: i64::try_from(config.fresh_login().as_millis()).unwrap_or(i64::MAX),
            secure_cookie: config.preferred_url_scheme == "https",
            direct_login: config.feature("DIRECT_LOGIN", true),
            local_oauth_handler: config
                .other
                .get("LOCAL_OAUTH_HANDLER")
                .and_then(serde_yaml::Value::as_str)
                .unwrap_or(super::oauth::DEFAULT_LOCAL_HANDLER)
                .to_owned(),
            assign_oauth_tokens: config.feature("ASSIGN_OAUTH_TOKEN", true),
        }
    }
}

impl Default for BrowserPolicy {
    fn default() -> Self {
        BrowserPolicy {
            xhr_only: true,
            fresh_login_ms: 600_000,
            secure_cookie: false,
            direct_login: true,
            local_oauth_handler: super::oauth::DEFAULT_LOCAL_HANDLER.to_owned(),
            assign_oauth_tokens: true,
        }
    }
}

/// The policy the application was built with (defaults when none).
pub fn policy(req: &HttpRequest) -> BrowserPolicy {
    req.app_data::<web::Data<BrowserPolicy>>()
        .map(|p| p.get_ref().clone())
        .unwrap_or_default()
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.mount(doc::resource("/signin").route(doc::post().internal().to(sign_in)))
        .mount(doc::resource("/signin/verify").route(doc::post().internal().to(verify)))
        .mount(doc::resource("/signout").route(doc::post().internal().to(sign_out)));
}

/// Routes outside `/api/v1`, where Quay serves them.
pub fn configure_root(cfg: &mut web::ServiceConfig) {
    cfg.route("/csrf_token", web::get().to(csrf_token));
}

// --- cookies -----------------------------------------------------------------

/// The session cookie's value, if the request has one.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    cookie_value(headers, SESSION_COOKIE)
}

/// The value of the cookie `name`, if the request has one.
pub(super) fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.trim_matches('"').to_owned())
}

fn cookie(policy: &BrowserPolicy, value: &str, max_age_s: i64) -> String {
    let secure = if policy.secure_cookie { "; Secure" } else { "" };
    format!("{SESSION_COOKIE}={value}; Path=/; Max-Age={max_age_s}; HttpOnly; SameSite=Lax{secure}")
}

/// Gives the browser a session just started: the cookie and its CSRF token.
pub fn attach_session(res: &mut HttpResponseBuilder, policy: &BrowserPolicy, issued: &IssuedSession) {
    let max_age_s = ((issued.expires_ms - crate::now_ms()) / 1000).max(0);
    res.insert_header((header::SET_COOKIE, cookie(policy, &issued.cookie, max_age_s)))
        .insert_header((NEXT_CSRF_HEADER, issued.csrf_token.clone()))
        .insert_header((header::CACHE_CONTROL, "no-store"));
}

// --- the guard -----------------------------------------------------------------

/// `{"error": …}`, the body Quay's CSRF and XHR checks answer with.
fn refusal(status: u16, message: &str) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(status).unwrap_or(actix_web::http::StatusCode::BAD_REQUEST);
    HttpResponse::build(status).json(json!({"error": message}))
}

/// Whether the User-Agent is a web browser's (the families Quay's parser
/// reports as browsers); registry clients, curl and SDKs are not.
fn from_browser(headers: &HeaderMap) -> bool {
    const FAMILIES: [&str; 13] = [
        "mozilla/",
        "chrome/",
        "chromium/",
        "firefox/",
        "safari/",
        "webkit",
        "msie ",
        "trident/",
        "opera",
        "opr/",
        "edge/",
        "edg/",
        "seamonkey/",
    ];
    let ua = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    FAMILIES.iter().any(|f| ua.contains(f))
}

fn is_xhr(headers: &HeaderMap) -> bool {
    headers
        .get("X-Requested-With")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == "XMLHttpRequest")
}

fn has_bearer(headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::api::auth::bearer_token)
        .is_some()
}

/// Applies the XHR rule, resolves the session cookie (unless a bearer token
/// is sent) for [`ApiCaller`], and checks the CSRF token of cookie writes.
pub async fn browser_guard<B: MessageBody + 'static>(
    mut req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    let refuse = |req: ServiceRequest, res: HttpResponse| Ok(req.into_response(res).map_into_right_body());
    let xhr_only = policy(req.request()).xhr_only;
    // The discovery document reflects nothing of the request, and Swagger
    // UIs on other origins fetch it without the header.
    let exempt = req.path() == "/api/v1/discovery";
    if xhr_only && !exempt && req.method() == Method::GET && from_browser(req.headers()) && !is_xhr(req.headers()) {
        tracing::warn!(path = req.path(), "refused a browser API GET without X-Requested-With");
        return refuse(req, refusal(400, XHR_MESSAGE));
    }
    let cookie = session_cookie(req.headers()).filter(|_| !has_bearer(req.headers()));
    let state = req.app_data::<web::Data<AppState>>().cloned();
    if let (Some(cookie), Some(state)) = (cookie, state) {
        let session = match state.registry.session(&cookie).await {
            Ok(s) => s,
            Err(e) => return Ok(req.error_response(ApiError::from(e)).map_into_right_body()),
        };
        if let Some(session) = session {
            let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
            if !safe && !csrf_matches(&mut req, &session.csrf_token).await {
                tracing::warn!(
                    path = req.path(),
                    "refused a cookie-authenticated write without a valid CSRF token"
                );
                return refuse(req, refusal(403, CSRF_MESSAGE));
            }
            req.extensions_mut().insert(session);
        }
    }
    next.call(req).await.map(ServiceResponse::map_into_left_body)
}

/// Whether the request carries the session's CSRF token: as query or form
/// field `_csrf_token`, else as header `X-CSRF-Token` (Quay's order).
async fn csrf_matches(req: &mut ServiceRequest, expected: &str) -> bool {
    let mut found = url::form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k == CSRF_FIELD)
        .map(|(_, v)| v.into_owned());
    if found.is_none() {
        found = form_field(req, CSRF_FIELD).await;
    }
    if found.is_none() {
        found = req
            .headers()
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
    }
    found.is_some_and(|f| !f.is_empty() && crate::service::constant_time_eq(f.as_bytes(), expected.as_bytes()))
}

/// A field of an urlencoded form body, read and put back for the handler.
async fn form_field(req: &mut ServiceRequest, name: &str) -> Option<String> {
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return None;
    }
    let mut payload = std::mem::replace(req.parts_mut().1, Payload::None);
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.ok()?;
        if body.len() + chunk.len() > FORM_LIMIT {
            return None;
        }
        body.extend_from_slice(&chunk);
    }
    let body = body.freeze();
    let value = url::form_urlencoded::parse(&body)
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned());
    req.set_payload(Payload::from(body));
    value
}

/// Whether a web form posted with the session carries its CSRF token: as
/// field `_csrf_token` (`form_value`, query or body), else as header
/// `X-CSRF-Token`. For the web routes outside `/api/v1`.
pub(super) fn csrf_in_form(req: &HttpRequest, form_value: Option<&str>, expected: &str) -> bool {
    let found = form_value.map(str::to_owned).or_else(|| {
        req.headers()
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    });
    found.is_some_and(|f| !f.is_empty() && crate::service::constant_time_eq(f.as_bytes(), expected.as_bytes()))
}

/// Quay's refusal of a form without the session's CSRF token.
pub(super) fn csrf_refusal() -> HttpResponse {
    refusal(403, CSRF_MESSAGE)
}

// --- handlers ------------------------------------------------------------------

#[derive(Deserialize, schemars::JsonSchema)]
struct SignInBody {
    username: String,
    password: String,
}

/// Quay's refused sign-in: 403 with what went wrong.
fn sign_in_refused(needs_verification: bool, message: Option<&str>) -> HttpResponse {
    HttpResponse::Forbidden().json(json!({
        "needsEmailVerification": needs_verification,
        "invalidCredentials": !needs_verification,
        "message": message,
    }))
}

async fn sign_in(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<SignInBody>,
) -> Result<HttpResponse, ApiError> {
    let policy = policy(&req);
    if !policy.direct_login {
        return Err(ApiError::not_found("Not Found"));
    }
    let outcome = state.registry.sign_in(&body.username, &body.password).await;
    if let Err(e @ (Error::Db(_) | Error::Storage(_))) = outcome {
        // Not a failed sign-in: the credentials could not be checked.
        return Err(e.into());
    }
    let (kind, message) = match &outcome {
        Ok(SignIn::Started(_)) => ("login_success", None),
        Ok(SignIn::NeedsVerification) => ("login_failure", Some("email not verified".to_owned())),
        Err(e) => ("login_failure", Some(e.to_string())),
    };
    let mut metadata =
        json!({"type": "quayauth", "useragent": crate::api::user_agent(&req), "username": body.username});
    if let Some(m) = message {
        metadata["message"] = json!(m);
    }
    let performer = matches!(outcome, Ok(SignIn::Started(_))).then_some(body.username.as_str());
    let entry = LogEntry::new(kind, None, crate::api::client_ip(&req))
        .performer_named(performer)
        .account_named(&body.username)
        .metadata(metadata);
    state.registry.log_action(entry);
    match outcome {
        Ok(SignIn::Started(issued)) => {
            let mut res = HttpResponse::Ok();
            attach_session(&mut res, &policy, &issued);
            Ok(res.json(json!({"success": true})))
        }
        Ok(SignIn::NeedsVerification) => Ok(sign_in_refused(true, None)),
        Err(Error::Unauthenticated(m)) => Ok(sign_in_refused(false, Some(&m))),
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize, schemars::JsonSchema)]
struct VerifyBody {
    password: String,
}

/// Checks the password again so sensitive actions count as a fresh login.
/// A caller without a session (bearer token) is given one, as in Quay.
async fn verify(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: ApiCaller,
    body: web::Json<VerifyBody>,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user_with("user:admin")?;
    let checked = match &caller.session {
        Some(s) => state.registry.refresh_session(s, &body.password).await,
        None => state.registry.confirm_password(user, &body.password).await,
    };
    match checked {
        Err(Error::Unauthenticated(m)) => {
            return Ok(HttpResponse::Forbidden().json(json!({"message": m, "invalidCredentials": true})));
        }
        Err(e) => return Err(e.into()),
        Ok(()) => {}
    }
    let mut res = HttpResponse::Ok();
    match &caller.session {
        Some(s) => {
            res.insert_header((NEXT_CSRF_HEADER, s.csrf_token.clone()));
        }
        None => {
            let issued = state.registry.start_session(user).await?;
            attach_session(&mut res, &policy(&req), &issued);
        }
    }
    Ok(res.json(json!({"success": true})))
}

/// Ends this browser's session and clears its cookie.
async fn sign_out(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    if let Some(cookie) = session_cookie(req.headers()) {
        state.registry.end_session(&cookie).await?;
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::SET_COOKIE, cookie(&policy(&req), "", 0)))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({"success": true})))
}

/// `GET /csrf_token`: the session's CSRF token. Calls without a session
/// need none; they get a random one so the UI's flow is the same.
async fn csrf_token(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let session: Option<Session> = match session_cookie(req.headers()) {
        Some(c) => state.registry.session(&c).await?,
        None => None,
    };
    let token = session.map_or_else(|| random_token(64), |s| s.csrf_token);
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({"csrf_token": token})))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn browsers_are_told_apart_from_registry_clients() {
        for ua in [
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
            "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
            "Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 6.1; Trident/4.0)",
            "Opera/9.80 (Windows NT 6.0) Presto/2.12.388 Version/12.14",
        ] {
            let h = headers(&[("user-agent", ua)]);
            assert!(from_browser(&h), "{ua}");
        }
        for ua in [
            "curl/8.5.0",
            "containers/5.29.0 (github.com/containers/image)",
            "docker/24.0.7 go/go1.20.10 git-commit/311b9ff kernel/6.5 os/linux arch/amd64",
            "python-requests/2.31.0",
            "",
        ] {
            let h = headers(&[("user-agent", ua)]);
            assert!(!from_browser(&h), "{ua}");
        }
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let h = headers(&[("cookie", "a=1; session=abc; b=2")]);
        assert_eq!(session_cookie(&h).as_deref(), Some("abc"));
        let h = headers(&[("cookie", "sessionx=1")]);
        assert_eq!(session_cookie(&h), None);
    }

    #[test]
    fn session_cookies_are_http_only_lax_and_secure_on_https() {
        let mut p = BrowserPolicy::default();
        let c = cookie(&p, "v", 60);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Lax") && c.contains("Path=/"));
        assert!(!c.contains("Secure"));
        p.secure_cookie = true;
        assert!(cookie(&p, "v", 60).ends_with("; Secure"));
    }
}
