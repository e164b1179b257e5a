//! Repository mirroring (quay-api.md §1.13), behind `FEATURE_REPO_MIRROR`
//! (absent: these routes do not exist, as in Quay): the mirror
//! configuration, sync-now, sync-cancel and the repository state.
//! Every route needs repository admin.

use super::doc::{self, Mount};
use actix_web::guard::GuardContext;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::shared::{access, int_param, repo_action, truthy};
use super::{ApiCaller, ApiError};
use crate::service::mirror_health::{DetailPage, MAX_DETAIL_PAGE};
use crate::service::mirrors::{format_mirror_date, parse_state, status_name, MirrorChange, MirrorInput};
use crate::service::repositories::RepositoryView;
use crate::service::Role;
use crate::state::AppState;

const BASE: &str = "/repository/{repo:.+}/mirror";

pub fn configure(cfg: &mut web::ServiceConfig) {
    let on = || mirror_enabled;
    // Before the repository routes, which would take `mirror/health` for a
    // repository path.
    cfg.mount(
        doc::resource("/repository/mirror/health")
            .guard(on())
            .route(doc::get().to(mirror_health)),
    )
    .mount(
        doc::resource(format!("{BASE}/sync-now"))
            .guard(on())
            .route(doc::post().to(request_sync::<true>)),
    )
    .mount(
        doc::resource(format!("{BASE}/sync-cancel"))
            .guard(on())
            .route(doc::post().to(request_sync::<false>)),
    )
    .mount(
        doc::resource(BASE)
            .guard(on())
            .route(doc::get().to(get_mirror))
            .route(doc::post().to(create_mirror))
            .route(doc::put().to(update_mirror)),
    )
    .mount(
        doc::resource("/repository/{repo:.+}/changestate")
            .guard(on())
            .route(doc::put().to(change_state)),
    );
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct HealthParams {
    namespace: Option<String>,
    detailed: Option<String>,
    limit: Option<String>,
    offset: Option<String>,
}

/// `GET /repository/mirror/health`: every namespace's mirrors for a
/// superuser; one namespace's for its members (organization) or owner.
/// 200 when healthy, 503 when not.
async fn mirror_health(
    state: web::Data<AppState>,
    caller: ApiCaller,
    params: web::Query<HealthParams>,
) -> Result<HttpResponse, ApiError> {
    let refused = || ApiError::unauthorized(false);
    let user = caller.user.as_ref().ok_or_else(refused)?;
    let superuser = state.registry.is_superuser(user);
    match params.namespace.as_deref() {
        None if !superuser => return Err(refused()),
        None => {}
        Some(ns) => {
            let owner = state
                .registry
                .account(ns)
                .await?
                .ok_or_else(|| ApiError::not_found("Not Found"))?;
            let allowed = superuser
                || match owner.organization {
                    true => state.registry.is_org_member(user, &owner).await?,
                    false => owner.id == user.id,
                };
            if !allowed {
                return Err(refused());
            }
        }
    }
    let detail = match truthy(params.detailed.as_deref()) {
        true => Some(DetailPage {
            limit: usize::try_from(int_param("limit", params.limit.as_deref())?.unwrap_or(100).max(1)).unwrap_or(100),
            offset: usize::try_from(int_param("offset", params.offset.as_deref())?.unwrap_or(0).max(0)).unwrap_or(0),
        }),
        false => None,
    };
    let h = state
        .registry
        .mirror_health(params.namespace.as_deref(), detail)
        .await?;
    let now = format_mirror_date(crate::now_ms());
    let issues: Vec<Value> = h
        .issues
        .iter()
        .map(|(severity, message)| json!({"severity": severity, "message": message, "timestamp": now}))
        .collect();
    let mut repositories = json!({
        "total": h.total,
        "syncing": h.syncing,
        "completed": h.completed,
        "failed": h.failed,
        "never_run": h.never_run,
    });
    if let (Some((rows, more)), Some(page)) = (&h.details, detail) {
        repositories["details"] = rows
            .iter()
            .map(|d| {
                json!({
                    "namespace": d.namespace,
                    "repository": d.repository,
                    "sync_status": d.sync_status,
                    "is_enabled": true,
                    "last_sync": null,
                    "retries_remaining": d.retries_remaining,
                })
            })
            .collect();
        repositories["pagination"] = json!({
            "limit": page.limit.clamp(1, MAX_DETAIL_PAGE),
            "offset": page.offset,
            "has_more": more,
        });
    }
    let body = json!({
        "healthy": h.healthy,
        "workers": {"status": if h.healthy { "healthy" } else { "degraded" }},
        "repositories": repositories,
        "tags_pending": h.tags_pending,
        "last_check": now,
        "issues": issues,
    });
    let mut res = match h.healthy {
        true => HttpResponse::Ok(),
        false => HttpResponse::ServiceUnavailable(),
    };
    Ok(res
        .insert_header(("Cache-Control", "no-cache, no-store, must-revalidate"))
        .json(body))
}

fn mirror_enabled(ctx: &GuardContext<'_>) -> bool {
    super::shared::state_allows(ctx, |s| s.registry.settings().mirror.enabled)
}

/// A mirror's upstream username as both mirror APIs show it; one that
/// cannot be decrypted (e.g. after a key change) asks to be entered again.
pub(super) fn shown_username(username: &Option<Result<String, ()>>) -> Value {
    match username {
        None => Value::Null,
        Some(Ok(u)) => json!(u),
        Some(Err(())) => json!("(invalid. please re-enter)"),
    }
}

fn log_changes(
    state: &AppState,
    caller: &ApiCaller,
    req: &HttpRequest,
    repo: &RepositoryView,
    changes: Vec<MirrorChange>,
) {
    for c in changes {
        let metadata = json!({"changed": c.changed, "to": c.to});
        state
            .registry
            .log_action(repo_action("repo_mirror_config_changed", caller, req, repo, metadata));
    }
}

async fn get_mirror(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let granted = access(&state, &caller, &path, Role::Admin).await?;
    let mirror = state
        .registry
        .mirror(&granted.repo)
        .await?
        .ok_or_else(|| ApiError::not_found("Not Found"))?;
    let row = &mirror.row;
    Ok(HttpResponse::Ok().json(json!({
        "is_enabled": row.settings.is_enabled,
        "mirror_type": "PULL",
        "external_reference": row.settings.external_reference,
        "external_registry_username": shown_username(&mirror.username),
        "external_registry_config": mirror.external_registry_config(),
        "sync_interval": row.settings.sync_interval,
        "sync_start_date": row.settings.sync_start_date.and_then(format_mirror_date),
        "sync_expiration_date": row.sync_expiration_date.and_then(format_mirror_date),
        "sync_retries_remaining": row.sync_retries_remaining,
        "sync_status": status_name(row.sync_status),
        "root_rule": {"rule_kind": "tag_glob_csv", "rule_value": mirror.root_rule()},
        "robot_username": mirror.robot_username,
        "skopeo_timeout_interval": row.settings.skopeo_timeout,
        "sync_tags_done": row.sync_tags_done,
        "sync_tags_total": row.sync_tags_total,
    })))
}

async fn create_mirror(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let granted = access(&state, &caller, &path, Role::Admin).await?;
    let input = MirrorInput::from_json(&body)?;
    let repo = &granted.repo;
    match state.registry.create_mirror(repo, &input).await? {
        Some(changes) => {
            log_changes(&state, &caller, &req, repo, changes);
            Ok(HttpResponse::Created().finish())
        }
        None => Err(ApiError::new(
            409,
            super::error::ErrorType::InvalidRequest,
            format!(
                "Mirror configuration already exits for repository {}/{}",
                repo.namespace, repo.name
            ),
        )),
    }
}

async fn update_mirror(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let granted = access(&state, &caller, &path, Role::Admin).await?;
    let input = MirrorInput::from_json(&body)?;
    let changes = state.registry.update_mirror(&granted.repo, &input).await?;
    log_changes(&state, &caller, &req, &granted.repo, changes);
    Ok(HttpResponse::Created().finish())
}

/// `sync-now` (`START`) or `sync-cancel`: 204, or 404 when the mirror is
/// not in a state to take it (as Quay answers).
async fn request_sync<const START: bool>(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let granted = access(&state, &caller, &path, Role::Admin).await?;
    let (done, status) = if START {
        (state.registry.mirror_sync_now(&granted.repo).await?, "SYNC_NOW")
    } else {
        (state.registry.mirror_sync_cancel(&granted.repo).await?, "SYNC_CANCEL")
    };
    if !done {
        return Err(ApiError::not_found("Not Found"));
    }
    let change = MirrorChange {
        changed: "sync_status",
        to: json!(status),
    };
    log_changes(&state, &caller, &req, &granted.repo, vec![change]);
    Ok(HttpResponse::NoContent().finish())
}

async fn change_state(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let granted = access(&state, &caller, &path, Role::Admin).await?;
    let name = match body.get("state") {
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(ApiError::invalid_request("state: value is not of type 'string'")),
        None => return Err(ApiError::invalid_request("'state' is a required property")),
    };
    let new_state = parse_state(&name)
        .ok_or_else(|| ApiError::invalid_request(format!("{name} is not a valid Repository state.")))?;
    state.registry.set_repository_state(&granted.repo, new_state).await?;
    let metadata = json!({"state_changed": name});
    state
        .registry
        .log_action(repo_action("change_repo_state", &caller, &req, &granted.repo, metadata));
    Ok(HttpResponse::Ok().json(json!({"success": true})))
}
