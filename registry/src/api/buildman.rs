//! `/buildman/v1/builds/{uuid}/…`: what builders call on the build manager
//! (operator.md §3, as HTTP on the registry's own ports). Every call carries
//! the build's job token as `Authorization: Bearer`; answers are JSON, and
//! refusals Quay's error JSON (401 for a bad token, 400 for a build that is
//! not running any more, which tells the builder to stop).

use actix_web::guard::{self, GuardContext};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api::auth::bearer_token;
use crate::api::v1::ApiError;
use crate::service::builds::LogLine;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/buildman/v1/builds/{uuid}")
            .guard(guard::fn_guard(builds_enabled))
            .route("/register", web::post().to(register))
            .route("/heartbeat", web::post().to(heartbeat))
            .route("/logs", web::post().to(append_log))
            .route("/phase", web::post().to(set_phase))
            .route("/complete", web::post().to(complete)),
    );
}

fn builds_enabled(ctx: &GuardContext<'_>) -> bool {
    ctx.app_data::<web::Data<AppState>>()
        .is_some_and(|s| s.registry.settings().builds.enabled)
}

fn job_token(req: &HttpRequest) -> Result<String, ApiError> {
    req.headers()
        .get("Authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token)
        .map(|t| t.trim().to_owned())
        .ok_or_else(|| ApiError::unauthorized(true))
}

async fn register(
    state: web::Data<AppState>,
    req: HttpRequest,
    uuid: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let pack = state.registry.register_builder(&uuid, &job_token(&req)?).await?;
    Ok(HttpResponse::Ok().json(pack))
}

async fn heartbeat(
    state: web::Data<AppState>,
    req: HttpRequest,
    uuid: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    state.registry.builder_heartbeat(&uuid, &job_token(&req)?).await?;
    Ok(HttpResponse::Ok().json(json!({ "reply": true })))
}

#[derive(Deserialize)]
struct LogBody {
    sequence_number: i64,
    message: String,
    #[serde(rename = "type")]
    kind: Option<String>,
    data: Option<Value>,
}

async fn append_log(
    state: web::Data<AppState>,
    req: HttpRequest,
    uuid: web::Path<String>,
    body: web::Json<LogBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let line = LogLine {
        message: body.message,
        kind: body.kind,
        data: body.data,
    };
    let seq = body.sequence_number;
    state.registry.builder_log(&uuid, &job_token(&req)?, seq, line).await?;
    Ok(HttpResponse::Ok().json(json!({ "success": true, "sequence_number": seq })))
}

#[derive(Deserialize)]
struct PhaseBody {
    phase: String,
}

async fn set_phase(
    state: web::Data<AppState>,
    req: HttpRequest,
    uuid: web::Path<String>,
    body: web::Json<PhaseBody>,
) -> Result<HttpResponse, ApiError> {
    state
        .registry
        .builder_phase(&uuid, &job_token(&req)?, &body.phase)
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "success": true })))
}

#[derive(Deserialize)]
struct CompleteBody {
    /// The failure, if the build failed.
    error: Option<String>,
}

async fn complete(
    state: web::Data<AppState>,
    req: HttpRequest,
    uuid: web::Path<String>,
    body: web::Json<CompleteBody>,
) -> Result<HttpResponse, ApiError> {
    let error = body.into_inner().error;
    state.registry.builder_complete(&uuid, &job_token(&req)?, error).await?;
    Ok(HttpResponse::Ok().json(json!({ "success": true })))
}
