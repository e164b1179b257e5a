//! `POST /api/v1/…/exportlogs` (quay-api.md §1.10, `FEATURE_LOG_EXPORT`)
//! and the signed download link `GET /exportedlogs/{export_id}` the
//! export worker sends to the requester.

use super::doc::{self, Mount};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::ErrorType;
use super::shared::{admin_of, link_base, range, repo_scope, LogParams};
use super::views::log_view;
use super::{ApiCaller, ApiError};
use crate::service::log_export::{ExportLinkError, ExportRequest};
use crate::service::logs::LoggedAction;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.mount(doc::resource("/repository/{repo:.+}/exportlogs").route(doc::post().to(export_repo_logs)))
        .mount(doc::resource("/organization/{org}/exportlogs").route(doc::post().to(export_org_logs)))
        .mount(doc::resource("/user/exportlogs").route(doc::post().to(export_user_logs)));
}

/// The download route, outside `/api/v1` like Quay's.
pub fn configure_root(cfg: &mut web::ServiceConfig) {
    cfg.route("/exportedlogs/{export_id}", web::get().to(download_export));
}

/// An exported entry: exactly as the logs API lists it.
pub fn entry_view(l: &LoggedAction) -> Value {
    log_view(l, false)
}

#[derive(Deserialize, schemars::JsonSchema)]
struct ExportBody {
    callback_url: Option<String>,
    callback_email: Option<String>,
}

/// Disabled features answer as if the endpoint did not exist.
fn enabled(state: &AppState) -> Result<(), ApiError> {
    if state.registry.settings().log_export.enabled {
        Ok(())
    } else {
        Err(ApiError::not_found("Not Found"))
    }
}

/// Queues the export of `account_id`'s (and `repository_id`'s) logs in the
/// requested range; answers `{"export_id"}`.
async fn queue_export(
    state: &AppState,
    req: &HttpRequest,
    requester_id: i64,
    account_id: i64,
    repository_id: Option<i64>,
    p: &LogParams,
    body: ExportBody,
) -> Result<HttpResponse, ApiError> {
    let r = range(p)?;
    let export_id = state
        .registry
        .request_log_export(ExportRequest {
            requester_id,
            account_id,
            repository_id,
            start_ms: r.start_ms,
            end_ms: r.end_ms,
            callback_url: body.callback_url,
            callback_email: body.callback_email,
            link_base: link_base(req, state),
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "export_id": export_id })))
}

async fn export_repo_logs(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: ApiCaller,
    path: web::Path<String>,
    p: web::Query<LogParams>,
    body: web::Json<ExportBody>,
) -> Result<HttpResponse, ApiError> {
    enabled(&state)?;
    let (ns, repo) = repo_scope(&state, &caller, &path).await?;
    let requester = caller.user.as_ref().ok_or_else(|| ApiError::unauthorized(true))?;
    queue_export(&state, &req, requester.id, ns, Some(repo), &p, body.into_inner()).await
}

async fn export_org_logs(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: ApiCaller,
    path: web::Path<String>,
    p: web::Query<LogParams>,
    body: web::Json<ExportBody>,
) -> Result<HttpResponse, ApiError> {
    enabled(&state)?;
    let (user, org) = admin_of(&state, &caller, &path).await?;
    queue_export(&state, &req, user.id, org.id, None, &p, body.into_inner()).await
}

async fn export_user_logs(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: ApiCaller,
    p: web::Query<LogParams>,
    body: web::Json<ExportBody>,
) -> Result<HttpResponse, ApiError> {
    enabled(&state)?;
    let user = caller.user_with("user:admin")?;
    queue_export(&state, &req, user.id, user.id, None, &p, body.into_inner()).await
}

#[derive(Deserialize)]
struct LinkParams {
    expires: Option<i64>,
    signature: Option<String>,
}

/// Streams an export's JSON while its signed link is valid: 403 for a bad
/// or missing signature, 410 once expired, 404 when the file is gone.
async fn download_export(
    state: web::Data<AppState>,
    path: web::Path<String>,
    q: web::Query<LinkParams>,
) -> Result<HttpResponse, ApiError> {
    enabled(&state)?;
    let export_id = path.into_inner();
    let refused = |e: ExportLinkError| match e {
        ExportLinkError::BadSignature => ApiError::new(403, ErrorType::InvalidSignature, e.to_string()),
        ExportLinkError::Expired => ApiError::new(410, ErrorType::LinkExpired, e.to_string()),
        ExportLinkError::Gone => ApiError::not_found(e.to_string()),
        ExportLinkError::Internal(e) => e.into(),
    };
    let (Some(expires), Some(signature)) = (q.expires, q.signature.as_deref()) else {
        return Err(refused(ExportLinkError::BadSignature));
    };
    let body = state
        .registry
        .open_log_export_at(&export_id, expires, signature, crate::now_ms())
        .await
        .map_err(refused)?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"exported-logs-{export_id}.json\""),
        ))
        .streaming(body))
}
