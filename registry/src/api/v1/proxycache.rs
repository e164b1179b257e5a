//! Proxy-cache configuration of organizations (`FEATURE_PROXY_CACHE`):
//! `/organization/{org}/proxycache` and `/organization/{org}/validateproxycache`.
//! Members may read it; organization admins (and superusers with
//! `FEATURE_SUPERUSERS_FULL_ACCESS`) create, delete and validate it with a
//! token carrying `org:admin`. Without the feature every route is a 404.

use super::doc::{self, Mount};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::shared::{action, admin_of, find_org};
use super::{ApiCaller, ApiError};
use crate::service::proxy_cache::{ProxyCacheConfig, ProxyCacheInput};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.mount(
        doc::resource("/organization/{org}/proxycache")
            .route(doc::get().to(get_proxy_cache))
            .route(doc::post().to(create_proxy_cache))
            .route(doc::delete().to(delete_proxy_cache)),
    )
    .mount(doc::resource("/organization/{org}/validateproxycache").route(doc::post().to(validate_proxy_cache)));
}

#[derive(Deserialize, schemars::JsonSchema)]
struct ProxyCacheBody {
    upstream_registry: String,
    upstream_registry_username: Option<String>,
    upstream_registry_password: Option<String>,
    expiration_s: Option<i64>,
    insecure: Option<bool>,
}

impl From<ProxyCacheBody> for ProxyCacheInput {
    fn from(b: ProxyCacheBody) -> Self {
        ProxyCacheInput {
            upstream_registry: b.upstream_registry,
            username: b.upstream_registry_username,
            password: b.upstream_registry_password,
            expiration_s: b.expiration_s,
            insecure: b.insecure.unwrap_or(false),
        }
    }
}

fn enabled(state: &AppState) -> Result<(), ApiError> {
    if state.registry.proxy_cache_enabled() {
        Ok(())
    } else {
        Err(ApiError::not_found("Not Found"))
    }
}

/// Quay's view: empty strings when the organization has no configuration.
fn config_view(config: Option<&ProxyCacheConfig>) -> serde_json::Value {
    match config {
        Some(c) => json!({
            "upstream_registry": c.upstream_registry,
            "expiration_s": c.expiration_s,
            "insecure": c.insecure,
        }),
        None => json!({"upstream_registry": "", "expiration_s": "", "insecure": ""}),
    }
}

async fn get_proxy_cache(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    enabled(&state)?;
    let user = caller.user.as_ref().ok_or_else(|| ApiError::unauthorized(true))?;
    let org = find_org(&state, &path).await?;
    if !state.registry.is_org_member(user, &org).await? {
        return Err(ApiError::unauthorized(false));
    }
    let config = state.registry.proxy_cache_config(&org).await?;
    Ok(HttpResponse::Ok().json(config_view(config.as_ref())))
}

async fn create_proxy_cache(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<ProxyCacheBody>,
) -> Result<HttpResponse, ApiError> {
    enabled(&state)?;
    let (_, org) = admin_of(&state, &caller, &path).await?;
    let config = state
        .registry
        .create_proxy_cache(&org, &body.into_inner().into())
        .await?;
    let entry = action("create_proxy_cache_config", &caller, &req)
        .account(org.id)
        .metadata(json!({"upstream_registry": config.upstream_registry}));
    state.registry.log_action(entry);
    Ok(HttpResponse::Created().json("Created"))
}

async fn delete_proxy_cache(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    enabled(&state)?;
    let (_, org) = admin_of(&state, &caller, &path).await?;
    if !state.registry.delete_proxy_cache(&org).await? {
        return Err(ApiError::not_found("Not Found"));
    }
    let entry = action("delete_proxy_cache_config", &caller, &req).account(org.id);
    state.registry.log_action(entry);
    // Quay answers a deletion with 201 "Deleted".
    Ok(HttpResponse::Created().json("Deleted"))
}

async fn validate_proxy_cache(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<String>,
    body: web::Json<ProxyCacheBody>,
) -> Result<HttpResponse, ApiError> {
    enabled(&state)?;
    admin_of(&state, &caller, &path).await?;
    let answer = state.registry.validate_proxy_cache(&body.into_inner().into()).await?;
    Ok(HttpResponse::Accepted().json(answer))
}
