//! Build triggers (quay-api.md §1.15, with `FEATURE_BUILD_SUPPORT`): the
//! admin API under `/api/v1/repository/{repo}/trigger/…`. Every call needs
//! admin permission on the repository. Triggers are created and fed by the
//! routes of [`super::webhook`] and [`super::github_trigger`]; the helpers
//! the UI sets a GitHub trigger up with (`namespaces`, `sources`,
//! `fields/{field}`) ask GitHub through the service.

use super::doc::{self, Mount};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::shared::{access, builds_enabled, link_base, repo_action, require_normal, RepoPath};
use super::views::{build_log_metadata, build_view, trigger_view};
use super::{ApiCaller, ApiError};
use crate::service::builds::{RunParameters, Trigger};
use crate::service::repositories::RepositoryAccess;
use crate::service::Role;
use crate::state::AppState;

const BASE: &str = "/repository/{repo:.+}/trigger";

/// Builds listed when the client names no `limit`.
const DEFAULT_LIMIT: i64 = 5;

pub fn configure(cfg: &mut web::ServiceConfig) {
    let on = || builds_enabled;
    cfg.mount(
        doc::resource(format!("{BASE}/{{uuid}}/namespaces"))
            .guard(on())
            .route(doc::get().internal().to(list_trigger_namespaces)),
    )
    .mount(
        doc::resource(format!("{BASE}/{{uuid}}/sources"))
            .guard(on())
            .route(doc::post().internal().to(list_trigger_sources))
            .route(doc::get().to(list_trigger_sources_by_query)),
    )
    .mount(
        doc::resource(format!("{BASE}/{{uuid}}/fields/{{field}}"))
            .guard(on())
            .route(doc::post().internal().to(list_trigger_field_values)),
    )
    .mount(
        doc::resource(format!("{BASE}/{{uuid}}/activate"))
            .guard(on())
            .route(doc::post().to(activate_trigger)),
    )
    .mount(
        doc::resource(format!("{BASE}/{{uuid}}/start"))
            .guard(on())
            .route(doc::post().to(start_trigger)),
    )
    .mount(
        doc::resource(format!("{BASE}/{{uuid}}/builds"))
            .guard(on())
            .route(doc::get().to(list_trigger_builds)),
    )
    .mount(
        doc::resource([format!("{BASE}/"), BASE.to_owned()])
            .guard(on())
            .route(doc::get().to(list_triggers)),
    )
    .mount(
        doc::resource(format!("{BASE}/{{uuid}}"))
            .guard(on())
            .route(doc::get().to(get_trigger))
            .route(doc::put().to(update_trigger))
            .route(doc::delete().to(delete_trigger)),
    );
}

#[derive(Deserialize)]
struct TriggerPath {
    repo: String,
    uuid: String,
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
    let views: Vec<Value> = triggers.iter().map(|t| trigger_view(&state, t, true, false)).collect();
    Ok(HttpResponse::Ok().json(json!({ "triggers": views })))
}

async fn get_trigger(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<TriggerPath>,
) -> Result<HttpResponse, ApiError> {
    let acc = admin(&state, &caller, &path.repo).await?;
    let trigger = state.registry.trigger(&acc.repo, &path.uuid).await?;
    Ok(HttpResponse::Ok().json(trigger_view(&state, &trigger, true, false)))
}

#[derive(Deserialize, schemars::JsonSchema)]
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
    Ok(HttpResponse::Ok().json(trigger_view(&state, &trigger, true, false)))
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

#[derive(Deserialize, schemars::JsonSchema)]
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
    Ok(HttpResponse::Ok().json(trigger_view(&state, &t, true, false)))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct StartBody {
    commit_sha: Option<String>,
    branch_name: Option<String>,
    refs: Option<Value>,
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
    let body = body.into_inner();
    let run = RunParameters {
        commit_sha: body.commit_sha,
        branch_name: body.branch_name,
        refs: body.refs,
    };
    let build = state.registry.start_trigger(&acc.repo, user, &path.uuid, &run).await?;
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

#[derive(Deserialize, schemars::JsonSchema)]
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

/// The signed-in caller of a helper: Quay lets only the trigger's connected
/// user list what their GitHub token reaches.
fn helper_user(caller: &ApiCaller) -> Result<&crate::db::models::Account, ApiError> {
    caller.user.as_ref().ok_or_else(|| ApiError::unauthorized(true))
}

async fn list_trigger_namespaces(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<TriggerPath>,
) -> Result<HttpResponse, ApiError> {
    let acc = admin(&state, &caller, &path.repo).await?;
    let user = helper_user(&caller)?;
    let namespaces = state.registry.trigger_namespaces(&acc.repo, user, &path.uuid).await?;
    Ok(HttpResponse::Ok().json(json!({ "namespaces": namespaces })))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct SourcesBody {
    namespace: Option<String>,
}

async fn sources_response(
    state: &AppState,
    caller: &ApiCaller,
    path: &TriggerPath,
    namespace: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    let acc = admin(state, caller, &path.repo).await?;
    require_normal(&acc.repo)?;
    let user = helper_user(caller)?;
    let namespace = namespace
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::invalid_request("Missing required parameter: namespace"))?;
    let sources = state
        .registry
        .trigger_sources(&acc.repo, user, &path.uuid, namespace)
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "sources": sources })))
}

/// `POST …/sources` with `{"namespace": …}`, as Quay's UI asks.
async fn list_trigger_sources(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<TriggerPath>,
    body: web::Json<SourcesBody>,
) -> Result<HttpResponse, ApiError> {
    sources_response(&state, &caller, &path, body.namespace.as_deref()).await
}

/// `GET …/sources?namespace=…`, the same for clients that ask by query.
async fn list_trigger_sources_by_query(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<TriggerPath>,
    query: web::Query<SourcesBody>,
) -> Result<HttpResponse, ApiError> {
    sources_response(&state, &caller, &path, query.namespace.as_deref()).await
}

#[derive(Deserialize)]
struct FieldPath {
    repo: String,
    uuid: String,
    field: String,
}

/// `POST …/fields/{field}`; the body, when an object, is the config being
/// set up and overrides the trigger's.
async fn list_trigger_field_values(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<FieldPath>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let acc = admin(&state, &caller, &path.repo).await?;
    require_normal(&acc.repo)?;
    let config = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(m)) if !m.is_empty() => Some(m),
        _ => None,
    };
    let values = state
        .registry
        .trigger_field_values(&acc.repo, &path.uuid, &path.field, config)
        .await?
        .ok_or_else(|| ApiError::not_found("Not Found"))?;
    Ok(HttpResponse::Ok().json(json!({ "values": values })))
}
