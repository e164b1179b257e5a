//! External (OpenID Connect) login as Quay's UI drives it: `POST
//! /api/v1/externallogin/{service_id}` answers the provider's authorization
//! URL and gives the browser the login's state cookie; the provider sends
//! the browser back to `/oauth2/{service_id}/callback`, which signs the
//! linked account in with a session cookie and redirects to `/`. A failed
//! login is an HTML page: 503 when the provider cannot be reached, else 400.

use super::doc::{self, Mount};
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use html_escape::encode_text;
use serde::Deserialize;
use serde_json::json;

use super::session::{attach_session, cookie_value, policy};
use super::shared::link_base;
use super::ApiError;
use crate::service::external_login::STATE_TTL_S;
use crate::service::Error;
use crate::state::AppState;

/// The cookie holding the state and nonce of a login in progress.
pub const STATE_COOKIE: &str = "_oauth_state";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.mount(doc::resource("/externallogin/{service_id}").route(doc::post().internal().to(external_login_url)));
}

pub fn configure_root(cfg: &mut web::ServiceConfig) {
    cfg.route("/oauth2/{service_id}/callback", web::get().to(callback))
        .route("/oauth2/{service_id}/callback", web::post().to(callback));
}

#[derive(Deserialize, schemars::JsonSchema)]
struct GetLogin {
    kind: Option<String>,
}

fn state_cookie(value: &str, max_age_s: i64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{STATE_COOKIE}={value}; Path=/oauth2/; Max-Age={max_age_s}; HttpOnly; SameSite=Lax{secure}")
}

async fn external_login_url(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<GetLogin>,
) -> Result<HttpResponse, ApiError> {
    let service_id = path.into_inner();
    match body.kind.as_deref() {
        Some("login") => {}
        Some("attach" | "cli") => {
            return Err(ApiError::invalid_request(
                "Only the `login` kind of external login is supported",
            ))
        }
        _ => return Err(ApiError::invalid_request("`kind` must be one of login, attach, cli")),
    }
    let provider = state
        .registry
        .login_provider(&service_id)
        .ok_or_else(|| ApiError::invalid_request(format!("Unknown login service `{service_id}`")))?;
    let redirect_uri = format!("{}/oauth2/{}/callback", link_base(&req, &state), provider.id);
    let started = state.registry.start_external_login(provider, &redirect_uri).await?;
    Ok(HttpResponse::Ok()
        .insert_header((
            header::SET_COOKIE,
            state_cookie(&started.state_cookie, STATE_TTL_S, policy(&req).secure_cookie),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({"auth_url": started.auth_url})))
}

#[derive(Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// Quay's "ologinerror" page: what failed, and a way back.
fn error_page(req: &HttpRequest, service_name: &str, error: &Error) -> HttpResponse {
    let (status, message) = match error {
        Error::Unavailable(m) => (actix_web::http::StatusCode::SERVICE_UNAVAILABLE, m.clone()),
        Error::Unauthenticated(m) | Error::InvalidRequest(m) | Error::NotFound(m) => {
            (actix_web::http::StatusCode::BAD_REQUEST, m.clone())
        }
        other => {
            tracing::warn!(error = %other, "external login failed");
            (
                actix_web::http::StatusCode::BAD_REQUEST,
                "Could not load user data. The token may have expired".to_owned(),
            )
        }
    };
    tracing::info!(service = %service_name, status = status.as_u16(), message = %message, "external login refused");
    let (name, message) = (encode_text(service_name), encode_text(&message));
    let html = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Login with {name} failed</title></head>\
         <body><h1>There was an error logging in with {name}.</h1><p class=\"error-message\">{message}</p>\
         <p><a href=\"/signin\">Return to sign in</a></p></body></html>\n"
    );
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::SET_COOKIE, state_cookie("", 0, policy(req).secure_cookie)))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(html)
}

async fn callback(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<Callback>,
) -> HttpResponse {
    let service_id = path.into_inner();
    let Some(provider) = state.registry.login_provider(&service_id) else {
        return error_page(
            &req,
            &service_id,
            &Error::NotFound(format!("Unknown login service `{service_id}`")),
        );
    };
    if let Some(error) = &query.error {
        let message = query.error_description.clone().unwrap_or_else(|| error.clone());
        return error_page(&req, &provider.name, &Error::Unauthenticated(message));
    }
    let cookie = cookie_value(req.headers(), STATE_COOKIE);
    let code = query.code.as_deref().unwrap_or_default();
    let given_state = query.state.as_deref().unwrap_or_default();
    let signed_in = match state
        .registry
        .finish_external_login(provider, code, given_state, cookie.as_deref())
        .await
    {
        Ok(account) => state.registry.start_session(&account).await.map(|s| (account, s)),
        Err(e) => Err(e),
    };
    match signed_in {
        Ok((account, issued)) => {
            let ip = crate::api::client_ip(&req);
            state.registry.log_action(
                crate::service::logs::LogEntry::new("login_success", Some(&account), ip)
                    .metadata(json!({"type": "oauth", "service": provider.id})),
            );
            let policy = policy(&req);
            let mut res = HttpResponse::Found();
            attach_session(&mut res, &policy, &issued);
            res.append_header((header::SET_COOKIE, state_cookie("", 0, policy.secure_cookie)))
                .insert_header((header::LOCATION, "/"))
                .finish()
        }
        Err(e) => error_page(&req, &provider.name, &e),
    }
}
