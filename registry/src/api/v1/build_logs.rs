//! A build's logs: `GET /api/v1/repository/{repo}/build/{uuid}/logs?start=N`
//! (Quay's `{start, total, logs}`, plus Quay's `logs_url` once the build
//! ended and its logs were archived) and `GET /buildlogs/{uuid}`, the whole
//! log as a downloadable JSON file.
//!
//! Both need write permission on the repository, or read (or a public
//! repository) with `FEATURE_READER_BUILD_LOGS`. The download answers 403
//! to anyone else, and for unknown builds, as Quay does.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::ErrorType;
use super::shared::{access, int_param, link_base, BuildPath};
use super::{ApiCaller, ApiError};
use crate::service::builds::{LogLine, LogPage};
use crate::service::repositories::RepositoryAccess;
use crate::service::Role;
use crate::state::AppState;

#[derive(Deserialize, schemars::JsonSchema)]
pub(super) struct LogsQuery {
    start: Option<String>,
}

fn may_read_logs(state: &AppState, acc: &RepositoryAccess) -> bool {
    acc.role >= Role::Write || state.registry.settings().builds.reader_build_logs
}

pub(super) async fn get_build_logs(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<BuildPath>,
    query: web::Query<LogsQuery>,
) -> Result<HttpResponse, ApiError> {
    let acc = access(&state, &caller, &path.repo, Role::Read).await?;
    if !may_read_logs(&state, &acc) {
        return Err(ApiError::unauthorized(caller.user.is_none()));
    }
    let start = int_param("start", query.start.as_deref())?.unwrap_or(0);
    let page = state.registry.build_logs(&acc.repo, &path.uuid, start).await?;
    Ok(HttpResponse::Ok().json(logs_body(&state, &req, &path.uuid, &page)))
}

/// A page of build logs as Quay shows it; archived logs name their file.
pub(super) fn logs_body(state: &AppState, req: &HttpRequest, uuid: &str, page: &LogPage) -> Value {
    let logs: Vec<_> = page.lines.iter().map(LogLine::to_json).collect();
    let mut body = json!({ "start": page.start, "total": page.total, "logs": logs });
    if page.archived {
        body["logs_url"] = json!(format!("{}/buildlogs/{}", link_base(req, state), uuid));
    }
    body
}

fn forbidden() -> ApiError {
    ApiError::new(403, ErrorType::InsufficientScope, "Unauthorized")
}

/// `GET /buildlogs/{uuid}`: the whole log, live or archived, as a file.
pub(super) async fn download_build_logs(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    uuid: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let caller = caller.or_session(&state, &req).await?;
    let repo = state
        .registry
        .build_repository_path(&uuid)
        .await?
        .ok_or_else(forbidden)?;
    let acc = match access(&state, &caller, &repo, Role::Read).await {
        Ok(acc) if may_read_logs(&state, &acc) => acc,
        Err(e) if e.status.is_server_error() => return Err(e),
        _ => return Err(forbidden()),
    };
    let body = state.registry.build_log_file(&acc.repo, &uuid).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("Content-Disposition", format!("attachment; filename=\"{uuid}.json\"")))
        .body(body))
}
