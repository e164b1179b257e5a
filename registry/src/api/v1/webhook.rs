//! Routes of build triggers outside `/api/v1` (quay-api.md §1.15, with
//! `FEATURE_BUILD_SUPPORT`): the web route `/customtrigger/setup/{repo}`
//! that creates a custom-git trigger, and the webhook
//! `/webhooks/push/trigger/{uuid}` that git servers post pushes to, which
//! authenticates with the trigger's write token as `$token`.

use actix_web::guard;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::json;

use super::shared::{builds_enabled, require_normal, RepoPath};
use super::views::build_log_metadata;
use super::{ApiCaller, ApiError};
use crate::service::builds::PushOutcome;
use crate::service::logs::LogEntry;
use crate::service::repositories::RepositoryView;
use crate::state::AppState;

/// Largest push payload accepted (GitHub sends up to 25 MB; pushes of
/// many commits are large).
const MAX_PAYLOAD_BYTES: usize = 25 << 20;

pub fn configure(cfg: &mut web::ServiceConfig) {
    let on = || guard::fn_guard(builds_enabled);
    cfg.service(
        web::resource("/customtrigger/setup/{repo:.+}")
            .guard(on())
            .route(web::get().to(setup_custom_trigger)),
    )
    .service(
        web::resource([
            "/webhooks/push/trigger/{uuid}",
            "/webhooks/push/{repo:.+}/trigger/{uuid}",
        ])
        .guard(on())
        .app_data(web::PayloadConfig::new(MAX_PAYLOAD_BYTES))
        .route(web::post().to(push_webhook)),
    );
}

/// `GET /customtrigger/setup/{repo}`: creates an inactive custom-git
/// trigger connected to the signed-in admin and redirects to its setup
/// page, as Quay's web route does.
async fn setup_custom_trigger(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<RepoPath>,
) -> Result<HttpResponse, ApiError> {
    let (user, acc) = caller.web_repository_admin(&state, &req, &path.repo).await?;
    require_normal(&acc.repo)?;
    let trigger = state.registry.create_custom_trigger(&acc.repo, &user).await?;
    let location = format!(
        "/repository/{}/{}/trigger/{}",
        acc.repo.namespace, acc.repo.name, trigger.uuid
    );
    Ok(HttpResponse::Found().insert_header(("Location", location)).finish())
}

/// A webhook refusal, with Quay's `{"message": …}` body.
fn refusal(status: u16, message: &str) -> HttpResponse {
    let code = actix_web::http::StatusCode::from_u16(status).unwrap_or(actix_web::http::StatusCode::BAD_REQUEST);
    HttpResponse::build(code).json(json!({ "message": message }))
}

/// The password of `Authorization: Basic $token:<code>`.
fn token_code(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get("Authorization")?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let (user, code) = std::str::from_utf8(&decoded).ok()?.split_once(':')?;
    (user == "$token").then(|| code.to_owned())
}

#[derive(Deserialize)]
struct HookPath {
    uuid: String,
}

/// `POST /webhooks/push/trigger/{uuid}`: a push to the trigger's git
/// repository. Answers "Okay" when a build was queued or the push skipped.
async fn push_webhook(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<HookPath>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let Some((trigger, repo)) = state.registry.webhook_trigger(&path.uuid).await? else {
        return Ok(refusal(404, "Not Found"));
    };
    if !token_code(&req).is_some_and(|code| trigger.token_matches(&code)) {
        return Ok(refusal(403, "Forbidden"));
    }
    if let Some(refused) = hook_refusal(&repo) {
        return Ok(refused);
    }
    match state.registry.push_to_trigger(&repo, &trigger, &body).await {
        Ok(PushOutcome::Skipped) => {}
        Ok(PushOutcome::Queued(build)) => {
            let mut metadata = build_log_metadata(&build);
            metadata["repo"] = json!(repo.name);
            metadata["namespace"] = json!(repo.namespace);
            let entry = LogEntry::new("build_dockerfile", None, crate::api::client_ip(&req))
                .repository(repo.namespace_id, repo.id)
                .metadata(metadata);
            state.registry.log_action(entry);
        }
        Err(crate::service::Error::InvalidRequest(m)) => return Ok(refusal(400, &m)),
        Err(e) => return Err(e.into()),
    }
    Ok(HttpResponse::Ok().content_type("text/html; charset=utf-8").body("Okay"))
}

fn hook_refusal(repo: &RepositoryView) -> Option<HttpResponse> {
    if repo.kind != "image" {
        return Some(refusal(
            501,
            "Build triggers cannot be invoked on application repositories",
        ));
    }
    if repo.state != 0 {
        return Some(refusal(503, "Repository is currently in read only or mirror mode"));
    }
    None
}
