//! `GET /v2/auth`: the token endpoint docker, podman and skopeo log in with.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::{basic_credentials, refuses_credentials, Caller};
use crate::api::v2::OciError;
use crate::db::models::Account;
use crate::service::logs::LogEntry;
use crate::service::{Access, Error, ScopeRequest};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/v2/auth", web::get().to(issue_token));
}

/// `login_success` or `login_failure` of a registry client, as in Quay's
/// `v2auth` audit entries; the namespace is the user's, or the robot's owner.
fn login_entry<T>(req: &HttpRequest, username: &str, outcome: &Result<(Account, T), Error>) -> LogEntry {
    let useragent = crate::api::user_agent(req);
    let ip = crate::api::client_ip(req);
    let (kind, name) = match username {
        "$oauthtoken" => ("oauth", None),
        "$app" => ("app_specific_token", None),
        n if n.contains('+') => ("robot", n.split('+').next()),
        n => ("user", Some(n)),
    };
    match outcome {
        Ok((a, _)) => {
            let owner = if a.robot {
                a.username.split('+').next()
            } else {
                Some(a.username.as_str())
            };
            let entry = LogEntry::new("login_success", Some(a), ip).metadata(json!({
                "type": "v2auth",
                "useragent": useragent,
                "kind": kind,
                "username": a.username,
            }));
            match owner {
                Some(o) => entry.account_named(o),
                None => entry,
            }
        }
        Err(e) => {
            let entry = LogEntry::new("login_failure", None, ip).metadata(json!({
                "type": "v2auth",
                "useragent": useragent,
                "kind": kind,
                "username": username,
                "message": e.to_string(),
            }));
            match name {
                Some(n) => entry.account_named(n),
                None => entry,
            }
        }
    }
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
    if let Some(("$token", secret)) = header
        .and_then(basic_credentials)
        .as_ref()
        .map(|(u, s)| (u.as_str(), s.as_str()))
    {
        return reissue(&req, &state, secret, service, &scopes).await;
    }
    let (account, oauth_scopes) = match header.and_then(basic_credentials) {
        Some((user, secret)) => {
            let outcome = state.registry.login(&user, &secret).await;
            // A login that could not be checked is no failed login.
            if !matches!(&outcome, Err(Error::Db(_) | Error::Storage(_) | Error::Unavailable(_))) {
                state.registry.log_action(login_entry(&req, &user, &outcome));
            }
            match outcome {
                Ok((a, scopes)) => (Some(a), scopes),
                Err(e) if refuses_credentials(&e) => return Err(OciError::new(401, "UNAUTHORIZED", e.to_string())),
                Err(e) => return Err(e.into()),
            }
        }
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
            .grantable(
                account.as_ref(),
                oauth_scopes.as_ref(),
                &request.repo,
                &request.actions,
                true,
            )
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

/// A registry token presented as the password of `$token` (a builder's push
/// token): the new token grants what the presented one grants of the
/// requested scopes, nothing more.
async fn reissue(
    req: &HttpRequest,
    state: &AppState,
    secret: &str,
    service: Option<String>,
    scopes: &[String],
) -> Result<HttpResponse, OciError> {
    let claims = match state.registry.verify_registry_token(secret).await {
        Ok(c) => c,
        Err(e) if refuses_credentials(&e) => return Err(OciError::new(401, "UNAUTHORIZED", e.to_string())),
        Err(e) => return Err(e.into()),
    };
    let mut access = Vec::new();
    for scope in scopes {
        let request = ScopeRequest::parse(scope).map_err(|e| OciError::new(400, "INVALID_REQUEST", e.to_string()))?;
        let name = request.repo.to_string();
        let held: Vec<&String> = claims
            .access
            .iter()
            .filter(|a| a.kind == "repository" && a.name == name)
            .flat_map(|a| &a.actions)
            .collect();
        let actions = request.actions.into_iter().filter(|a| held.contains(&a)).collect();
        access.push(Access {
            kind: "repository".into(),
            name,
            actions,
        });
    }
    let account = state.registry.account(&claims.sub).await?.filter(|a| a.enabled);
    let service = service.unwrap_or_else(|| super::realm(req, state).service);
    let token = state
        .registry
        .issue_registry_token(account.as_ref(), &service, access)
        .await?;
    Ok(HttpResponse::Ok().json(json!({"token": token, "access_token": token})))
}
