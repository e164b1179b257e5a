//! Builds looked up by uuid alone, for superusers:
//! `/superuser/{uuid}/build`, `/superuser/{uuid}/status` and
//! `/superuser/{uuid}/logs` (when builds are on).

use actix_web::{guard, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::shared::{builds_enabled, int_param, link_base};
use super::views::build_view;
use super::{ApiCaller, ApiError};
use crate::service::builds::LogLine;
use crate::service::repositories::RepositoryAccess;
use crate::service::Role;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    let on = || guard::fn_guard(builds_enabled);
    cfg.service(
        web::resource(["/superuser/{uuid}/build", "/superuser/{uuid}/status"])
            .guard(on())
            .route(web::get().to(get_build)),
    )
    .service(
        web::resource("/superuser/{uuid}/logs")
            .guard(on())
            .route(web::get().to(get_logs)),
    );
}

/// The build's repository, seen by a superuser as its admin.
async fn superuser_access(state: &AppState, caller: &ApiCaller, uuid: &str) -> Result<RepositoryAccess, ApiError> {
    caller.fresh_login()?;
    caller.superuser(state)?;
    let repo = state.registry.build_repository(uuid).await?;
    Ok(RepositoryAccess {
        repo,
        role: Role::Admin,
    })
}

async fn get_build(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let acc = superuser_access(&state, &caller, &path).await?;
    let build = state.registry.build(&acc.repo, &path).await?;
    Ok(HttpResponse::Ok().json(build_view(&state, &req, &acc, &build)))
}

#[derive(Deserialize)]
struct LogsQuery {
    start: Option<String>,
}

async fn get_logs(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<LogsQuery>,
) -> Result<HttpResponse, ApiError> {
    let acc = superuser_access(&state, &caller, &path).await?;
    let start = int_param("start", query.start.as_deref())?.unwrap_or(0);
    let page = state.registry.build_logs(&acc.repo, &path, start).await?;
    let logs: Vec<_> = page.lines.iter().map(LogLine::to_json).collect();
    let mut body = json!({ "start": page.start, "total": page.total, "logs": logs });
    if page.archived {
        body["logs_url"] = json!(format!("{}/buildlogs/{}", link_base(&req, &state), path.as_str()));
    }
    Ok(HttpResponse::Ok().json(body))
}
