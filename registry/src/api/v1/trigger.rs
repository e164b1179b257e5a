//! Build triggers (quay-api.md §1.15, with `FEATURE_BUILD_SUPPORT`): the
//! admin API under `/api/v1/repository/{repo}/trigger/…`. Every call needs
//! admin permission on the repository. Triggers are created and fed by the
//! routes of [`super::webhook`].

use actix_web::guard;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::build::{build_view, builds_enabled, require_normal};
use super::invite::link_base;
use super::logs::repo_action;
use super::repository::access;
use super::{ApiCaller, ApiError};
use crate::service::builds::{Build, Trigger};
use crate::service::repositories::RepositoryAccess;
use crate::service::Role;
use crate::state::AppState;

const BASE: &str = "/repository/{repo:.+}/trigger";

/// Builds listed when the client names no `limit`.
const DEFAULT_LIMIT: i64 = 5;

pub fn configure(cfg: &mut web::ServiceConfig) {
    let on = || guard::fn_guard(builds_enabled);
    cfg.service(
        web::resource(format!("{BASE}/{{uuid}}/activate"))
            .guard(on())
            .route(web::post().to(activate_trigger)),
    )
    .service(
        web::resource(format!("{BASE}/{{uuid}}/start"))
            .guard(on())
            .route(web::post().to(start_trigger)),
    )
    .service(
        web::resource(format!("{BASE}/{{uuid}}/builds"))
            .guard(on())
            .route(web::get().to(list_trigger_builds)),
    )
    .service(
        web::resource([format!("{BASE}/"), BASE.to_owned()])
            .guard(on())
            .route(web::get().to(list_triggers)),
    )
    .service(
        web::resource(format!("{BASE}/{{uuid}}"))
            .guard(on())
            .route(web::get().to(get_trigger))
            .route(web::put().to(update_trigger))
            .route(web::delete().to(delete_trigger)),
    );
}

#[derive(Deserialize)]
pub(super) struct RepoPath {
    pub(super) repo: String,
}

#[derive(Deserialize)]
struct TriggerPath {
    repo: String,
    uuid: String,
}

/// Quay's TriggerView. Inside a BuildView (`for_build`) it never names the
/// pull robot; the config is shown to admins only.
pub(super) fn trigger_view(t: &Trigger, can_admin: bool, for_build: bool) -> Value {
    let mut view = json!({
        "id": t.uuid,
        "service": t.service,
        "is_active": t.is_active(),
        "build_source": t.build_source(),
        "repository_url": null,
        "config": if can_admin { Value::Object(t.config.clone()) } else { json!({}) },
        "can_invoke": can_admin,
        "enabled": t.enabled,
        "disabled_reason": t.disabled_reason,
    });
    if let (false, true, Some(robot)) = (for_build, can_admin, &t.pull_robot) {
        view["pull_robot"] = json!({"name": robot, "kind": "user", "is_robot": true});
    }
    view
}

async fn admin(state: &AppState, caller: &ApiCaller, repo: &str) -> Result<RepositoryAccess, ApiError> {
    let acc = access(state, caller, repo, Role::Admin).await?;
    if acc.repo.kind != "image" {
        return Err(ApiError::not_found("Not Found"));
    }
    Ok(acc)
}

async fn list_triggers(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<RepoPath>,
) -> Result<HttpResponse, ApiError> {
    let acc = admin(&state, &caller, &path.repo).await?;
    let triggers = state.registry.list_triggers(&acc.repo).await?;
    let views: Vec<Value> = triggers.iter().map(|t| trigger_view(t, true, false)).collect();
    Ok(HttpResponse::Ok().json(json!({ "triggers": views })))
}

async fn get_trigger(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<TriggerPath>,
) -> Result<HttpResponse, ApiError> {
    let acc = admin(&state, &caller, &path.repo).await?;
    let trigger = state.registry.trigger(&acc.repo, &path.uuid).await?;
    Ok(HttpResponse::Ok().json(trigger_view(&trigger, true, false)))
}

#[derive(Deserialize)]
struct UpdateBody {
    enabled: bool,
}

fn trigger_metadata(t: &Trigger) -> Value {
    json!({"trigger_id": t.uuid, "service": t.service})
}

async fn update_trigger(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<TriggerPath>,
    body: web::Json<UpdateBody>,
) -> Result<HttpResponse, ApiError> {
    let acc = admin(&state, &caller, &path.repo).await?;
    require_normal(&acc.repo)?;
    let trigger = state
        .registry
        .set_trigger_enabled(&acc.repo, &path.uuid, body.enabled)
        .await?;
    let mut metadata = trigger_metadata(&trigger);
    metadata["enabled"] = json!(body.enabled);
    state
        .registry
        .log_action(repo_action("toggle_repo_trigger", &caller, &req, &acc.repo, metadata));
    Ok(HttpResponse::Ok().json(trigger_view(&trigger, true, false)))
}

async fn delete_trigger(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<TriggerPath>,
) -> Result<HttpResponse, ApiError> {
    let acc = admin(&state, &caller, &path.repo).await?;
    require_normal(&acc.repo)?;
    let trigger = state.registry.delete_trigger(&acc.repo, &path.uuid).await?;
    if trigger.is_active() {
        let metadata = trigger_metadata(&trigger);
        state
            .registry
            .log_action(repo_action("delete_repo_trigger", &caller, &req, &acc.repo, metadata));
    }
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
struct ActivateBody {
    config: Value,
    pull_robot: Option<String>,
}

async fn activate_trigger(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<TriggerPath>,
    body: web::Json<ActivateBody>,
) -> Result<HttpResponse, ApiError> {
    let acc = admin(&state, &caller, &path.repo).await?;
    require_normal(&acc.repo)?;
    let user = caller.user.as_ref().ok_or_else(|| ApiError::unauthorized(true))?;
    let base = link_base(&req, &state);
    let (scheme, host) = base.split_once("://").unwrap_or(("https", base.as_str()));
    let body = body.into_inner();
    let activated = state
        .registry
        .activate_trigger(
            &acc.repo,
            user,
            &path.uuid,
            body.config,
            body.pull_robot.as_deref(),
            (scheme, host),
        )
        .await?;
    let t = activated.trigger;
    let stored = state.registry.trigger(&acc.repo, &t.uuid).await?;
    let mut metadata = trigger_metadata(&t);
    metadata["pull_robot"] = json!(t.pull_robot);
    metadata["config"] = Value::Object(stored.config);
    state
        .registry
        .log_action(repo_action("setup_repo_trigger", &caller, &req, &acc.repo, metadata));
    Ok(HttpResponse::Ok().json(trigger_view(&t, true, false)))
}

/// The usage-log metadata of a queued build, as Quay writes it.
pub(super) fn build_log_metadata(build: &Build) -> Value {
    let mut metadata = json!({
        "build_id": build.uuid,
        "docker_tags": build.job.docker_tags,
        "is_manual": build.job.is_manual,
        "manual_user": build.job.manual_user,
    });
    if let Some(t) = &build.trigger {
        metadata["trigger_id"] = json!(t.uuid);
        metadata["trigger_kind"] = json!(t.service);
        metadata["trigger_metadata"] = build.job.trigger_metadata.clone();
    }
    metadata
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StartBody {
    commit_sha: Option<String>,
    #[serde(rename = "branch_name")]
    _branch_name: Option<String>,
    #[serde(rename = "refs")]
    _refs: Option<Value>,
}

async fn start_trigger(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<TriggerPath>,
    body: web::Json<StartBody>,
) -> Result<HttpResponse, ApiError> {
    let acc = admin(&state, &caller, &path.repo).await?;
    require_normal(&acc.repo)?;
    let user = caller.user.as_ref().ok_or_else(|| ApiError::unauthorized(true))?;
    let build = state
        .registry
        .start_trigger(&acc.repo, user, &path.uuid, body.commit_sha.as_deref())
        .await?;
    let metadata = build_log_metadata(&build);
    state
        .registry
        .log_action(repo_action("build_dockerfile", &caller, &req, &acc.repo, metadata));
    let location = format!(
        "/api/v1/repository/{}/{}/build/{}/status",
        acc.repo.namespace, acc.repo.name, build.uuid
    );
    Ok(HttpResponse::Created()
        .insert_header(("Location", location))
        .json(build_view(&state, &req, &acc, &build)))
}

#[derive(Deserialize)]
struct BuildsQuery {
    limit: Option<String>,
}

async fn list_trigger_builds(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<TriggerPath>,
    query: web::Query<BuildsQuery>,
) -> Result<HttpResponse, ApiError> {
    let acc = admin(&state, &caller, &path.repo).await?;
    let limit = match query.limit.as_deref() {
        None => DEFAULT_LIMIT,
        Some(raw) => raw
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| ApiError::invalid_request(format!("Invalid value for limit: {raw}")))?,
    };
    let builds = state.registry.trigger_builds(&acc.repo, &path.uuid, limit).await?;
    let views: Vec<Value> = builds.iter().map(|b| build_view(&state, &req, &acc, b)).collect();
    Ok(HttpResponse::Ok().json(json!({ "builds": views })))
}
