//! Organization-level mirroring (`FEATURE_ORG_MIRROR`; without it every
//! route is a 404): `/organization/{org}/mirror` (configuration),
//! `…/sync-now`, `…/sync-cancel`, `…/verify` and `…/repositories`. Every
//! route needs an admin of the organization with an `org:admin` token.

use super::doc::{self, Mount};
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{TimeZone, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use super::shared::{action, admin_of};
use super::{ApiCaller, ApiError};
use crate::db::models::Account;
use crate::service::mirrors::status_name;
use crate::service::org_mirrors::{registry_type_name, OrgMirrorInput, OrgMirrorView};
use crate::state::AppState;

const BASE: &str = "/organization/{org}/mirror";
/// Quay's page sizes of the repository listing.
const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 500;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.mount(doc::resource(format!("{BASE}/sync-now")).route(doc::post().to(request::<true>)))
        .mount(doc::resource(format!("{BASE}/sync-cancel")).route(doc::post().to(request::<false>)))
        .mount(doc::resource(format!("{BASE}/verify")).route(doc::post().to(verify)))
        .mount(doc::resource(format!("{BASE}/repositories")).route(doc::get().to(repositories)))
        .mount(
            doc::resource(BASE)
                .route(doc::get().to(get_mirror))
                .route(doc::post().to(create_mirror))
                .route(doc::put().to(update_mirror))
                .route(doc::delete().to(delete_mirror)),
        );
}

/// The organization the caller administers, when the feature is on.
async fn admin_org(state: &AppState, caller: &ApiCaller, org: &str) -> Result<Account, ApiError> {
    if !state.registry.org_mirror_enabled() {
        return Err(ApiError::not_found("Not Found"));
    }
    Ok(admin_of(state, caller, org).await?.1)
}

async fn mirror_of(state: &AppState, org: &Account) -> Result<OrgMirrorView, ApiError> {
    Ok(state.registry.existing_org_mirror(org).await?)
}

/// Quay's `isoformat() + "Z"` of a UTC time (microseconds only when set).
fn iso(ms: Option<i64>) -> Value {
    let Some(d) = ms.and_then(|ms| Utc.timestamp_millis_opt(ms).single()) else {
        return Value::Null;
    };
    let format = if d.timestamp_subsec_millis() == 0 {
        "%Y-%m-%dT%H:%M:%SZ"
    } else {
        "%Y-%m-%dT%H:%M:%S%.6fZ"
    };
    json!(d.format(format).to_string())
}

fn log(state: &AppState, caller: &ApiCaller, req: &HttpRequest, org: &Account, kind: &'static str, metadata: Value) {
    state
        .registry
        .log_action(action(kind, caller, req).account(org.id).metadata(metadata));
}

async fn get_mirror(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let org = admin_org(&state, &caller, &path).await?;
    let m = mirror_of(&state, &org).await?;
    let (row, s) = (&m.row, &m.row.settings);
    Ok(HttpResponse::Ok().json(json!({
        "is_enabled": s.is_enabled,
        "external_registry_type": registry_type_name(s.external_registry_type),
        "external_registry_url": s.external_registry_url,
        "external_namespace": s.external_namespace,
        "external_registry_username": super::mirror::shown_username(&m.username),
        "has_external_registry_password": s.external_registry_password.is_some(),
        "external_registry_config": m.external_registry_config(),
        "repository_filters": m.repository_filters(),
        "robot_username": m.robot_username,
        "visibility": s.visibility,
        "sync_interval": s.sync_interval,
        "sync_start_date": iso(s.sync_start_date),
        "sync_expiration_date": iso(row.sync_expiration_date),
        "sync_status": status_name(row.sync_status),
        "sync_retries_remaining": row.sync_retries_remaining,
        "skopeo_timeout": s.skopeo_timeout,
        "creation_date": iso(Some(row.creation_date)),
    })))
}

async fn create_mirror(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let org = admin_org(&state, &caller, &path).await?;
    let input = OrgMirrorInput::from_json(&body, true)?;
    let m = state.registry.create_org_mirror(&org, &input).await?;
    let s = &m.row.settings;
    let metadata = json!({
        "external_registry_type": registry_type_name(s.external_registry_type),
        "external_registry_url": s.external_registry_url,
        "external_namespace": s.external_namespace,
        "sync_interval": s.sync_interval,
        "robot_username": m.robot_username,
    });
    log(&state, &caller, &req, &org, "org_mirror_enabled", metadata);
    Ok(HttpResponse::Created().finish())
}

async fn update_mirror(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let org = admin_org(&state, &caller, &path).await?;
    let input = OrgMirrorInput::from_json(&body, false)?;
    let old = state.registry.update_org_mirror(&org, &input).await?;
    let s = &old.row.settings;
    let new_reference = format!(
        "{}/{}",
        input.url.as_deref().unwrap_or(&s.external_registry_url),
        input.namespace.as_deref().unwrap_or(&s.external_namespace)
    );
    let fields: Vec<&String> = body.as_object().map(|m| m.keys().collect()).unwrap_or_default();
    let metadata = json!({
        "updated_fields": fields,
        "old_external_reference": old.external_reference(),
        "external_reference": new_reference,
    });
    log(&state, &caller, &req, &org, "org_mirror_config_changed", metadata);
    Ok(HttpResponse::Ok().finish())
}

async fn delete_mirror(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let org = admin_org(&state, &caller, &path).await?;
    let deleted = state.registry.delete_org_mirror(&org).await?;
    let metadata = json!({"external_reference": deleted.external_reference()});
    log(&state, &caller, &req, &org, "org_mirror_disabled", metadata);
    Ok(HttpResponse::NoContent().finish())
}

/// Sync-now (`START`) or sync-cancel: 204; 404 without a mirror; 400 when
/// it syncs already (sync-now) or is cancelled already (sync-cancel).
async fn request<const START: bool>(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let org = admin_org(&state, &caller, &path).await?;
    let (done, m) = state.registry.org_mirror_request(&org, START).await?;
    let (kind, refusal) = if START {
        (
            "org_mirror_sync_now_requested",
            "Cannot trigger sync: mirror is currently syncing",
        )
    } else {
        (
            "org_mirror_sync_cancelled",
            "Cannot cancel: mirror is already cancelled",
        )
    };
    if !done {
        return Err(ApiError::invalid_request(refusal));
    }
    let metadata = json!({"external_reference": m.external_reference()});
    log(&state, &caller, &req, &org, kind, metadata);
    Ok(HttpResponse::NoContent().finish())
}

async fn verify(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let org = admin_org(&state, &caller, &path).await?;
    let m = mirror_of(&state, &org).await?;
    let (success, message) = state.registry.verify_org_mirror(&m.row).await;
    Ok(HttpResponse::Ok().json(json!({"success": success, "message": message})))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct PageQuery {
    page: Option<String>,
    limit: Option<String>,
}

async fn repositories(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let org = admin_org(&state, &caller, &path).await?;
    let m = mirror_of(&state, &org).await?;
    // As Flask's `type=int`: an unreadable value is the default.
    let int = |v: &Option<String>, default: i64| v.as_deref().and_then(|s| s.parse().ok()).unwrap_or(default);
    let page = int(&query.page, 1).max(1);
    let limit = match int(&query.limit, DEFAULT_LIMIT).min(MAX_LIMIT) {
        l if l < 1 => DEFAULT_LIMIT,
        l => l,
    };
    let listed = state.registry.org_mirror_repositories(&m, page, limit).await?;
    let repositories: Vec<Value> = listed
        .repositories
        .iter()
        .map(|r| {
            json!({
                "name": r.repository_name,
                "sync_status": status_name(r.sync_status),
                "discovery_date": iso(Some(r.discovery_date)),
                "last_sync_date": iso(r.last_sync_date),
                "status_message": r.status_message,
                "quay_repository": r.repository_id.map(|_| format!("{}/{}", org.username, r.repository_name)),
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "repositories": repositories,
        "page": page,
        "limit": limit,
        "total": listed.total,
        "has_next": page.saturating_mul(limit) < listed.total,
    })))
}
