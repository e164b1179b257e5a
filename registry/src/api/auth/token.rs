//! `GET /v2/auth`: the token endpoint docker, podman and skopeo log in with.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::{basic_credentials, Caller};
use crate::api::v2::OciError;
use crate::service::{Access, Error, ScopeRequest};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/v2/auth", web::get().to(issue_token));
}

/// Issues a token for the requested scopes, down-scoped to what the caller
/// may do (never refused for missing rights). Bad credentials are 401.
async fn issue_token(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, OciError> {
    let mut service = None;
    let mut scopes = Vec::new();
    for (k, v) in url::form_urlencoded::parse(req.query_string().as_bytes()) {
        match k.as_ref() {
            "service" => service = Some(v.into_owned()),
            "scope" => scopes.extend(v.split(' ').filter(|s| !s.is_empty()).map(str::to_owned)),
            _ => {}
        }
    }
    let header = req.headers().get("Authorization").and_then(|v| v.to_str().ok());
    let (account, oauth_scopes) = match header.and_then(basic_credentials) {
        Some((user, secret)) => match state.registry.login(&user, &secret).await {
            Ok((a, scopes)) => (Some(a), scopes),
            Err(e @ Error::TooManyAttempts(_)) => return Err(e.into()),
            Err(e) => return Err(OciError::new(401, "UNAUTHORIZED", e.to_string())),
        },
        None if header.is_some() => return Err(OciError::new(401, "UNAUTHORIZED", "unsupported credentials")),
        None => (None, None),
    };
    if account.is_none() && scopes.is_empty() {
        let caller = Caller {
            realm: super::realm(&req, &state),
            ..Caller::default()
        };
        return Err(caller.challenge(None));
    }
    let mut access = Vec::new();
    for scope in &scopes {
        let request = ScopeRequest::parse(scope).map_err(|e| OciError::new(400, "INVALID_REQUEST", e.to_string()))?;
        let actions = state
            .registry
            .grantable(account.as_ref(), oauth_scopes.as_ref(), &request.repo, &request.actions)
            .await?;
        access.push(Access {
            kind: "repository".into(),
            name: request.repo.to_string(),
            actions,
        });
    }
    let service = service.unwrap_or_else(|| super::realm(&req, &state).service);
    let token = state
        .registry
        .issue_registry_token(account.as_ref(), &service, access)
        .await?;
    Ok(HttpResponse::Ok().json(json!({"token": token, "access_token": token})))
}
