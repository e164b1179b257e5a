//! `GET /api/v1/repository/{repo}/manifest/{digest}/security`: a manifest's
//! security scan (quay-api.md §1.9) with Quay's `status` (`queued`,
//! `scanned`, `failed`, `unsupported`, `manifest_layer_too_large`) and,
//! once scanned, the vulnerability report in `data`. Basic credentials
//! work here too, as in Quay, for registry clients. 404 unless
//! `FEATURE_SECURITY_SCANNER` is on; 503 when the scanner cannot give the
//! report.

use super::doc::{self, Mount};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::error::ErrorType;
use super::shared::access;
use super::{ApiCaller, ApiError};
use crate::service::Role;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.mount(doc::resource("/repository/{repo:.+}/manifest/{digest}/security").route(doc::get().to(get_security)));
}

/// `POST /secscan/notification`, outside `/api/v1`: Clair's notifier
/// webhook, `{"notification_id", "callback"}`, signed with the pre-shared
/// key when one is set. The notification is read from Clair and handled in
/// the background; Clair delivers it again until it is.
pub fn configure_root(cfg: &mut web::ServiceConfig) {
    cfg.route("/secscan/notification", web::post().to(clair_notification));
}

#[derive(Deserialize)]
struct NotificationBody {
    notification_id: String,
}

async fn clair_notification(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    if !state.registry.settings().secscan.enabled() {
        return Err(ApiError::not_found("Not Found"));
    }
    let bearer = req
        .headers()
        .get("Authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(crate::api::auth::bearer_token)
        .map(str::trim);
    if !state.registry.security_webhook_signed(bearer) {
        return Err(ApiError::new(
            401,
            ErrorType::InvalidToken,
            "The notification is not signed with the scanner's key",
        ));
    }
    let parsed: NotificationBody = serde_json::from_slice(&body)
        .map_err(|_| ApiError::invalid_request("Expected {\"notification_id\": …} from the scanner"))?;
    let id = parsed.notification_id.trim().to_owned();
    if id.is_empty() || id.len() > 200 {
        return Err(ApiError::invalid_request("notification_id must be given"));
    }
    let registry = state.registry.clone();
    actix_web::rt::spawn(async move {
        match registry.process_security_notification(&id).await {
            Ok(n) => tracing::info!(notification = %id, queued = n, "handled security scanner notification"),
            Err(e) => {
                tracing::warn!(notification = %id, error = %e, "security scanner notification not handled; the scanner delivers it again")
            }
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body("Okay"))
}

#[derive(Deserialize)]
struct SecurityPath {
    repo: String,
    digest: String,
}

/// `?vulnerabilities=` and `?raw=` change nothing: Clair v4 always reports
/// vulnerabilities, and the raw report is not offered.
async fn get_security(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<SecurityPath>,
) -> Result<HttpResponse, ApiError> {
    if !state.registry.settings().secscan.enabled() {
        return Err(ApiError::not_found("Not Found"));
    }
    let caller = caller.or_basic(&state, &req).await?;
    let repo = access(&state, &caller, &path.repo, Role::Read).await?.repo;
    let info = state.registry.manifest_security(repo.id, &path.digest).await?;
    Ok(HttpResponse::Ok().json(json!({"status": info.status, "data": info.data})))
}
