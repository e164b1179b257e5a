//! The user's own quota views and the superuser's quota endpoints for any
//! user or organization, plus the registry size.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::{
    create_quota, delete_quota, enabled, get_limit, get_quota, list_limits, list_quota, update_quota, QuotaBody,
};
use crate::api::v1::{ApiCaller, ApiError};
use crate::db::models::Account;
use crate::state::AppState;

/// The signed-in user, who may read their own quotas.
fn own(state: &AppState, caller: &ApiCaller) -> Result<Account, ApiError> {
    enabled(state)?;
    Ok(caller.user_with("user:admin")?.clone())
}

pub(super) async fn list_user_quota(state: web::Data<AppState>, caller: ApiCaller) -> Result<HttpResponse, ApiError> {
    let user = own(&state, &caller)?;
    list_quota(&state, user.id).await
}

pub(super) async fn get_user_quota(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let user = own(&state, &caller)?;
    get_quota(&state, user.id, &path).await
}

pub(super) async fn list_user_limits(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let user = own(&state, &caller)?;
    list_limits(&state, user.id, &path).await
}

pub(super) async fn get_user_limit(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let user = own(&state, &caller)?;
    get_limit(&state, user.id, &path.0, &path.1).await
}

/// `GET /superuser/registrysize/`: the bytes of every distinct blob stored.
pub(super) async fn registry_size(state: web::Data<AppState>, caller: ApiCaller) -> Result<HttpResponse, ApiError> {
    enabled(&state)?;
    caller.superuser(&state)?;
    let size = state.registry.registry_size().await?;
    Ok(HttpResponse::Ok().json(json!({
        "size_bytes": size,
        "last_ran": crate::now_ms() / 1000,
        "running": false,
        "queued": false,
    })))
}

/// The user (`users`) or organization (`organization`) a superuser manages.
pub(super) async fn su_namespace(
    state: &AppState,
    caller: &ApiCaller,
    kind: &str,
    name: &str,
) -> Result<Account, ApiError> {
    enabled(state)?;
    caller.superuser(state)?;
    let want_org = match kind {
        "users" => false,
        "organization" => true,
        _ => return Err(ApiError::not_found("Not Found")),
    };
    match state.registry.account(name).await? {
        Some(a) if a.organization == want_org && !a.robot && a.enabled => Ok(a),
        _ if want_org => Err(ApiError::not_found("Organization not found")),
        _ => Err(ApiError::not_found("User not found")),
    }
}

pub(super) async fn su_list_quota(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let ns = su_namespace(&state, &caller, &path.0, &path.1).await?;
    list_quota(&state, ns.id).await
}

pub(super) async fn su_create_quota(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Json<QuotaBody>,
) -> Result<HttpResponse, ApiError> {
    let ns = su_namespace(&state, &caller, &path.0, &path.1).await?;
    create_quota(&state, (&caller, &req), &ns, &body).await
}

pub(super) async fn su_get_quota(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let ns = su_namespace(&state, &caller, &path.0, &path.1).await?;
    get_quota(&state, ns.id, &path.2).await
}

pub(super) async fn su_update_quota(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
    body: web::Json<QuotaBody>,
) -> Result<HttpResponse, ApiError> {
    let ns = su_namespace(&state, &caller, &path.0, &path.1).await?;
    update_quota(&state, (&caller, &req), &ns, &path.2, &body).await
}

pub(super) async fn su_delete_quota(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let ns = su_namespace(&state, &caller, &path.0, &path.1).await?;
    delete_quota(&state, (&caller, &req), &ns, &path.2).await
}
