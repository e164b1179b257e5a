//! The OAuth 2 provider routes of organizations' applications, where Quay
//! serves them (outside `/api/v1`): `GET /oauth/authorize` (consent page,
//! or straight back to the application when the user already granted the
//! scopes), `POST /oauth/authorizeapp` and `/oauth/denyapp` (the consent
//! form), `POST /oauth/access_token` (code exchange),
//! `POST /oauth/authorize/assignuser` (an admin asks a user to authorize)
//! and `GET /oauth/localapp` (the token page of "Generate Token").
//!
//! The user is the bearer token's, else the browser session's; forms
//! posted with the session carry its CSRF token.

use std::collections::HashMap;

use actix_web::http::{header, StatusCode};
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use serde_json::json;

use super::oauth_pages::{self as pages, ConsentApp, ConsentForm};
use super::session::{csrf_in_form, csrf_refusal, policy};
use super::shared::link_base;
use super::{ApiCaller, ApiError};
use crate::db::models::Account;
use crate::service::oauth::{scope_info, CodeExchange, FlowError, Refusal, TOKEN_EXPIRES_IN_S};
use crate::service::{AssignmentRequest, Error};
use crate::state::AppState;

/// Quay's default `LOCAL_OAUTH_HANDLER`.
pub const DEFAULT_LOCAL_HANDLER: &str = "/oauth/localapp";

pub fn configure_root(cfg: &mut web::ServiceConfig) {
    cfg.route("/oauth/authorize", web::get().to(authorize))
        .route("/oauth/authorizeapp", web::post().to(authorize_app))
        .route("/oauth/denyapp", web::post().to(deny_app))
        .route("/oauth/authorize/assignuser", web::post().to(assign_user))
        .route("/oauth/access_token", web::post().to(access_token))
        .route(DEFAULT_LOCAL_HANDLER, web::get().to(local_app));
}

/// Query parameters, then urlencoded form fields (the query wins, as in
/// Flask's `request.values`).
struct Params(HashMap<String, String>);

impl Params {
    fn of(req: &HttpRequest, body: &[u8]) -> Params {
        let mut map = HashMap::new();
        let form = url::form_urlencoded::parse(body);
        for (k, v) in url::form_urlencoded::parse(req.query_string().as_bytes()).chain(form) {
            map.entry(k.into_owned()).or_insert_with(|| v.into_owned());
        }
        Params(map)
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A parameter the request must carry; its name when missing.
    fn required(&self, name: &'static str) -> Result<&str, &'static str> {
        self.get(name).filter(|v| !v.is_empty()).ok_or(name)
    }
}

/// Quay's refusal of a request without a required parameter.
fn missing(name: &str) -> HttpResponse {
    json_error(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        Some(&format!("Missing parameter: {name}")),
    )
}

fn json_error(status: StatusCode, code: &str, description: Option<&str>) -> HttpResponse {
    let mut body = json!({"error": code});
    if let Some(d) = description {
        body["error_description"] = json!(d);
    }
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(body)
}

fn redirect(location: &str) -> HttpResponse {
    HttpResponse::Found()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// `base` with `pairs` added to its query (absent values left out).
fn with_query(base: &str, pairs: &[(&str, Option<&str>)]) -> String {
    let Ok(mut url) = url::Url::parse(base) else {
        return base.to_owned();
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in pairs {
            if let Some(v) = v {
                q.append_pair(k, v);
            }
        }
    }
    url.to_string()
}

/// Back to the application with an OAuth error.
fn redirect_error(redirect_uri: &str, code: &str, state: Option<&str>) -> HttpResponse {
    redirect(&with_query(redirect_uri, &[("error", Some(code)), ("state", state)]))
}

/// The signed-in user of a web route (bearer token, else the session
/// cookie), with the session's CSRF token when signed in by cookie.
async fn web_caller(state: &AppState, req: &HttpRequest) -> Result<(Option<Account>, Option<String>), ApiError> {
    let caller = ApiCaller::extract(req).await?.or_session(state, req).await?;
    let csrf = caller.session.as_ref().map(|s| s.csrf_token.clone());
    Ok((caller.user, csrf))
}

/// The absolute URL of the registry's own token page.
fn local_handler_url(req: &HttpRequest, state: &AppState) -> String {
    format!("{}{}", link_base(req, state), policy(req).local_oauth_handler)
}

/// One authorization request, as `/oauth/authorize` and the consent form
/// carry it.
struct FlowRequest<'a> {
    client_id: &'a str,
    redirect_uri: &'a str,
    scope: &'a str,
    response_type: &'a str,
    state: Option<&'a str>,
    assignment_uuid: Option<&'a str>,
}

impl<'a> FlowRequest<'a> {
    fn of(p: &'a Params) -> Result<FlowRequest<'a>, &'static str> {
        Ok(FlowRequest {
            client_id: p.required("client_id")?,
            redirect_uri: p.required("redirect_uri")?,
            scope: p.required("scope")?,
            response_type: p.get("response_type").filter(|v| !v.is_empty()).unwrap_or("code"),
            state: p.get("state"),
            assignment_uuid: p.get("assignment_uuid").filter(|v| !v.is_empty()),
        })
    }
}

/// Grants what the request asks to the user and sends them back to the
/// application: a token in the fragment (implicit grant, RFC 6749 §4.2.2,
/// with Quay's `scope` query parameter too) or a code in the query.
async fn grant(
    state: &AppState,
    app: &crate::service::Application,
    user: &Account,
    f: &FlowRequest<'_>,
) -> Result<HttpResponse, ApiError> {
    let outcome = match f.response_type {
        "token" => state
            .registry
            .grant_token(app, user, f.scope)
            .await
            .map(|(token, scopes)| {
                let scope = scopes.to_string();
                let base = with_query(f.redirect_uri, &[("scope", Some(&scope)), ("state", f.state)]);
                let fragment = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("access_token", &token)
                    .append_pair("token_type", "Bearer")
                    .append_pair("expires_in", &TOKEN_EXPIRES_IN_S.to_string())
                    .append_pair("scope", &scope)
                    .extend_pairs(f.state.map(|s| ("state", s)))
                    .finish();
                (format!("{base}#{fragment}"), Some(scopes))
            }),
        "code" => state
            .registry
            .grant_code(app, user, f.scope, f.redirect_uri)
            .await
            .map(|(code, scopes)| {
                let scope = scopes.to_string();
                let pairs = [
                    ("code", Some(code.as_str())),
                    ("scope", Some(&scope)),
                    ("state", f.state),
                ];
                (with_query(f.redirect_uri, &pairs), None)
            }),
        _ => Err(FlowError::Refused(Refusal::UnsupportedResponseType)),
    };
    match outcome {
        Ok((location, granted)) => {
            if let (Some(uuid), Some(scopes)) = (f.assignment_uuid, granted) {
                state
                    .registry
                    .fulfil_assignment(user, uuid, app, f.redirect_uri, &scopes)
                    .await?;
            }
            Ok(redirect(&location))
        }
        Err(FlowError::Refused(r)) => Ok(redirect_error(f.redirect_uri, r.code(), f.state)),
        Err(FlowError::Failed(e)) => Err(e.into()),
    }
}

/// `GET /oauth/authorize`.
async fn authorize(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let p = Params::of(&req, &[]);
    let f = match FlowRequest::of(&p) {
        Ok(f) => f,
        Err(name) => return Ok(missing(name)),
    };
    let Some((app, org)) = state.registry.oauth_application(f.client_id).await? else {
        return Err(ApiError::not_found("Not Found"));
    };
    if !crate::service::oauth::redirect_allowed(&app, f.redirect_uri, &local_handler_url(&req, &state)) {
        // Quay sends the mismatch to the application's registered URI.
        if url::Url::parse(&app.redirect_uri).is_err() {
            return Ok(json_error(StatusCode::BAD_REQUEST, "invalid_request", None));
        }
        return Ok(redirect_error(&app.redirect_uri, "redirect_uri_mismatch", f.state));
    }
    let (user, csrf) = web_caller(&state, &req).await?;
    if let Some(user) = &user {
        if state.registry.already_granted(&app, user, f.scope).await? {
            return grant(&state, &app, user, &f).await;
        }
    }
    let scopes = scope_info(f.scope);
    if scopes.is_empty() {
        return Err(ApiError::not_found("Not Found"));
    }
    let Some(user) = user else {
        return Ok(pages::message(
            StatusCode::UNAUTHORIZED,
            "Sign in required",
            "Sign in to the registry, then open this authorization link again.",
        ));
    };
    let form = ConsentForm {
        client_id: f.client_id,
        redirect_uri: f.redirect_uri,
        scope: f.scope,
        response_type: f.response_type,
        state: f.state,
        assignment_uuid: f.assignment_uuid,
        csrf_token: csrf.as_deref().unwrap_or_default(),
    };
    let consent = ConsentApp {
        name: &app.name,
        description: &app.description,
        url: &app.application_uri,
        organization: &org.username,
        username: &user.username,
    };
    Ok(pages::consent(&consent, &scopes, &form))
}

/// The signed-in user of a posted form, which must carry the session's
/// CSRF token; the refusal otherwise (401 anonymous, 403 without the
/// token). A bearer token has no session, so it posts no form, as in Quay:
/// else a token of narrow scopes could grant itself wider ones.
async fn form_user(state: &AppState, req: &HttpRequest, p: &Params) -> Result<Result<Account, HttpResponse>, ApiError> {
    let (user, csrf) = web_caller(state, req).await?;
    let Some(user) = user else {
        return Ok(Err(actix_web::ResponseError::error_response(&ApiError::unauthorized(
            true,
        ))));
    };
    match csrf {
        Some(expected) if csrf_in_form(req, p.get("_csrf_token"), &expected) => Ok(Ok(user)),
        _ => Ok(Err(csrf_refusal())),
    }
}

/// `POST /oauth/authorizeapp`: the user approved the consent form.
async fn authorize_app(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let p = Params::of(&req, &body);
    let user = match form_user(&state, &req, &p).await? {
        Ok(u) => u,
        Err(res) => return Ok(res),
    };
    let mut f = match FlowRequest::of(&p) {
        Ok(f) => f,
        Err(name) => return Ok(missing(name)),
    };
    if p.get("response_type").is_none_or(str::is_empty) {
        f.response_type = "token";
    }
    let Some((app, _)) = state.registry.oauth_application(f.client_id).await? else {
        return Ok(json_error(StatusCode::BAD_REQUEST, "unauthorized_client", None));
    };
    if !crate::service::oauth::redirect_allowed(&app, f.redirect_uri, &local_handler_url(&req, &state)) {
        return Ok(json_error(StatusCode::BAD_REQUEST, "invalid_request", None));
    }
    grant(&state, &app, &user, &f).await
}

/// `POST /oauth/denyapp`: the user refused; back to the application.
async fn deny_app(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    let p = Params::of(&req, &body);
    if let Err(res) = form_user(&state, &req, &p).await? {
        return Ok(res);
    }
    let (Some(client_id), Some(redirect_uri)) = (p.get("client_id"), p.get("redirect_uri")) else {
        return Ok(json_error(StatusCode::BAD_REQUEST, "invalid_request", None));
    };
    let allowed = match state.registry.oauth_application(client_id).await? {
        Some((app, _)) => crate::service::oauth::redirect_allowed(&app, redirect_uri, &local_handler_url(&req, &state)),
        None => false,
    };
    if !allowed {
        return Ok(json_error(StatusCode::BAD_REQUEST, "invalid_request", None));
    }
    Ok(redirect_error(redirect_uri, "authorization_denied", p.get("state")))
}

/// `POST /oauth/access_token`: an application trades a code for a token.
/// The client may authenticate with Basic credentials instead of fields.
async fn access_token(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let p = Params::of(&req, &body);
    let basic = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::api::auth::basic_credentials);
    if p.get("grant_type") != Some("authorization_code") {
        return Ok(json_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", None));
    }
    let client_id = basic.as_ref().map(|(id, _)| id.as_str()).or(p.get("client_id"));
    let client_secret = basic.as_ref().map(|(_, s)| s.as_str()).or(p.get("client_secret"));
    let (Some(client_id), Some(code), Some(redirect_uri)) = (client_id, p.get("code"), p.get("redirect_uri")) else {
        return Ok(json_error(StatusCode::BAD_REQUEST, "invalid_request", None));
    };
    let exchange = CodeExchange {
        client_id,
        client_secret: client_secret.unwrap_or_default(),
        code,
        redirect_uri,
        scope: p.get("scope"),
    };
    match state.registry.exchange_code(&exchange).await {
        Ok((token, scopes)) => Ok(HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::PRAGMA, "no-cache"))
            .json(json!({
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": TOKEN_EXPIRES_IN_S,
                "scope": scopes.to_string(),
                "refresh_token": null,
            }))),
        Err(FlowError::Refused(r)) => Ok(json_error(StatusCode::BAD_REQUEST, r.code(), None)),
        Err(FlowError::Failed(e)) => Err(e.into()),
    }
}

/// `POST /oauth/authorize/assignuser?username&client_id&redirect_uri&scope&response_type`:
/// an admin of the application's organization asks `username` to
/// authorize it (`FEATURE_ASSIGN_OAUTH_TOKEN`).
async fn assign_user(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    let policy = policy(&req);
    if !policy.assign_oauth_tokens {
        return Err(ApiError::not_found("Not Found"));
    }
    let p = Params::of(&req, &body);
    let admin = match form_user(&state, &req, &p).await? {
        Ok(u) => u,
        Err(res) => return Ok(res),
    };
    let f = match FlowRequest::of(&p) {
        Ok(f) => f,
        Err(name) => return Ok(missing(name)),
    };
    let username = match p.required("username") {
        Ok(u) => u,
        Err(name) => return Ok(missing(name)),
    };
    let Some((app, org)) = state.registry.oauth_application(f.client_id).await? else {
        return Err(ApiError::not_found("Not Found"));
    };
    if !state.registry.is_org_admin(&admin, &org).await? {
        return Err(ApiError::unauthorized(false));
    }
    let local = local_handler_url(&req, &state);
    let request = AssignmentRequest {
        username,
        redirect_uri: f.redirect_uri,
        scope: f.scope,
        response_type: p.get("response_type").unwrap_or("token"),
        local_handler: &local,
    };
    match state.registry.assign_token(&app, &request).await {
        Ok(_) => {}
        Err(FlowError::Refused(r)) => return Ok(json_error(StatusCode::BAD_REQUEST, r.code(), None)),
        Err(FlowError::Failed(Error::NotFound(m))) => return Err(ApiError::not_found(m)),
        Err(FlowError::Failed(e)) => return Err(e.into()),
    }
    const DONE: &str = "Token assigned successfully";
    if p.get("format") == Some("json") {
        return Ok(HttpResponse::Ok().json(json!({"message": DONE})));
    }
    Ok(pages::message(
        StatusCode::OK,
        DONE,
        &format!("{username} can now authorize {}.", app.name),
    ))
}

/// `GET /oauth/localapp`: the token page "Generate Token" redirects to.
async fn local_app(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let (user, _) = web_caller(&state, &req).await?;
    if user.is_none() {
        return Err(ApiError::unauthorized(true));
    }
    let p = Params::of(&req, &[]);
    if p.get("scope").is_none_or(str::is_empty) {
        return Ok(pages::message(
            StatusCode::OK,
            "Authorization canceled",
            "Authorization canceled",
        ));
    }
    Ok(pages::generated_token())
}
