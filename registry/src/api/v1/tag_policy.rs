//! Tag policies of organizations, repositories and the calling user:
//! `…/immutabilitypolicy/…` (FEATURE_IMMUTABLE_TAGS; organizations and
//! repositories) and `…/autoprunepolicy/…` (FEATURE_AUTO_PRUNE; also
//! `/user/autoprunepolicy/…`). Organization policies need an organization
//! admin (token scope `org:admin`), repository policies a repository admin,
//! user policies the user (`user:admin`). With the feature off, every path
//! is 404 as in Quay.

use super::doc::{self, Mount};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::shared::{access, action, admin_of, repo_action};
use super::{ApiCaller, ApiError};
use crate::service::autoprune::{AutoPruneInput, AutoPrunePolicy};
use crate::service::logs::LogEntry;
use crate::service::repositories::RepositoryView;
use crate::service::tag_policies::{ImmutabilityInput, ImmutabilityPolicy, Scope};
use crate::service::Role;
use crate::state::AppState;

const ORG: &str = "/organization/{orgname}";
const REPO: &str = "/repository/{repo:.+}";

pub fn configure(cfg: &mut web::ServiceConfig) {
    for base in [ORG, REPO] {
        let list = format!("{base}/immutabilitypolicy");
        cfg.mount(
            doc::resource([format!("{list}/"), list.clone()])
                .guard(immutability_on)
                .route(doc::get().to(list_immutability))
                .route(doc::post().to(create_immutability)),
        )
        .mount(
            doc::resource(format!("{list}/{{uuid}}"))
                .guard(immutability_on)
                .route(doc::get().to(get_immutability))
                .route(doc::put().to(update_immutability))
                .route(doc::delete().to(delete_immutability)),
        );
    }
    for base in [ORG, REPO, "/user"] {
        let list = format!("{base}/autoprunepolicy");
        cfg.mount(
            doc::resource([format!("{list}/"), list.clone()])
                .guard(autoprune_on)
                .route(doc::get().to(list_autoprune))
                .route(doc::post().to(create_autoprune)),
        )
        .mount(
            doc::resource(format!("{list}/{{uuid}}"))
                .guard(autoprune_on)
                .route(doc::get().to(get_autoprune))
                .route(doc::put().to(update_autoprune))
                .route(doc::delete().to(delete_autoprune)),
        );
    }
}

/// Whose policies a path names, once the caller may manage them.
struct Owner {
    scope: Scope,
    namespace: String,
    repo: Option<RepositoryView>,
}

impl Owner {
    /// A usage-log entry about this owner, with Quay's `namespace` (and,
    /// for repositories, `repo`) metadata.
    fn log(&self, kind: &'static str, caller: &ApiCaller, req: &HttpRequest, mut metadata: Value) -> LogEntry {
        match &self.repo {
            Some(repo) => repo_action(kind, caller, req, repo, metadata),
            None => {
                metadata["namespace"] = json!(self.namespace);
                action(kind, caller, req)
                    .account(self.scope.namespace_id)
                    .metadata(metadata)
            }
        }
    }

    /// Quay's auto-prune log kinds name the scope: one kind for
    /// repositories, another for namespaces.
    fn by_scope(&self, repository: &'static str, namespace: &'static str) -> &'static str {
        match self.repo {
            Some(_) => repository,
            None => namespace,
        }
    }
}

/// The owner named by the matched path: an organization, a repository or
/// the calling user.
async fn owner(state: &AppState, caller: &ApiCaller, req: &HttpRequest) -> Result<Owner, ApiError> {
    let info = req.match_info();
    if let Some(org) = info.get("orgname") {
        let (_, org) = admin_of(state, caller, org).await?;
        return Ok(Owner {
            scope: Scope {
                namespace_id: org.id,
                repository_id: None,
            },
            namespace: org.username,
            repo: None,
        });
    }
    if let Some(repo) = info.get("repo") {
        let repo = access(state, caller, repo, Role::Admin).await?.repo;
        return Ok(Owner {
            scope: Scope {
                namespace_id: repo.namespace_id,
                repository_id: Some(repo.id),
            },
            namespace: repo.namespace.clone(),
            repo: Some(repo),
        });
    }
    let user = caller.user_with("user:admin")?;
    Ok(Owner {
        scope: Scope {
            namespace_id: user.id,
            repository_id: None,
        },
        namespace: user.username.clone(),
        repo: None,
    })
}

fn uuid_of(req: &HttpRequest) -> String {
    req.match_info().get("uuid").unwrap_or_default().to_owned()
}

fn body_object(body: &Value) -> Result<&serde_json::Map<String, Value>, ApiError> {
    body.as_object()
        .ok_or_else(|| ApiError::invalid_request("the request body must be a JSON object"))
}

// Immutability policies.

/// Whether `FEATURE_IMMUTABLE_TAGS` is on (its API is mounted only then).
fn immutability_on(ctx: &actix_web::guard::GuardContext<'_>) -> bool {
    super::shared::state_allows(ctx, |s| s.registry.settings().tags.immutable_tags)
}

/// Whether `FEATURE_AUTO_PRUNE` is on (its API is mounted only then).
fn autoprune_on(ctx: &actix_web::guard::GuardContext<'_>) -> bool {
    super::shared::state_allows(ctx, |s| s.registry.settings().tags.auto_prune)
}

/// With its feature off, a policy path is absent, as in Quay.
fn enabled(feature: bool) -> Result<(), ApiError> {
    match feature {
        true => Ok(()),
        false => Err(ApiError::not_found("Not Found")),
    }
}

fn immutability_enabled(state: &AppState) -> Result<(), ApiError> {
    enabled(state.registry.settings().tags.immutable_tags)
}

fn immutability_view(p: &ImmutabilityPolicy) -> Value {
    json!({"uuid": p.uuid, "tagPattern": p.tag_pattern, "tagPatternMatches": p.tag_pattern_matches})
}

/// `tagPattern` (a string) and `tagPatternMatches` (a boolean, default true).
fn immutability_input(body: &Value) -> Result<ImmutabilityInput, ApiError> {
    let body = body_object(body)?;
    let tag_pattern = match body.get("tagPattern") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            return Err(ApiError::invalid_request(
                "tag_pattern is required and must be a non-empty string",
            ))
        }
    };
    let tag_pattern_matches = match body.get("tagPatternMatches") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(ApiError::invalid_request("tag_pattern_matches must be a boolean")),
    };
    Ok(ImmutabilityInput {
        tag_pattern,
        tag_pattern_matches,
    })
}

fn pattern_metadata(p: &ImmutabilityPolicy) -> Value {
    json!({"tag_pattern": p.tag_pattern, "tag_pattern_matches": p.tag_pattern_matches})
}

/// Logs the tags a saved policy made immutable, as Quay does (no performer).
fn log_marked(state: &AppState, owner: &Owner, req: &HttpRequest, p: &ImmutabilityPolicy, count: usize) {
    if count == 0 {
        return;
    }
    let mut metadata = pattern_metadata(p);
    metadata["count"] = json!(count);
    metadata["namespace"] = json!(owner.namespace);
    let entry = LogEntry::new("tags_made_immutable_by_policy", None, crate::api::client_ip(req));
    let entry = match &owner.repo {
        Some(repo) => {
            metadata["repo"] = json!(repo.name);
            entry.repository(repo.namespace_id, repo.id)
        }
        None => entry.account(owner.scope.namespace_id),
    };
    state.registry.log_action(entry.metadata(metadata));
}

async fn list_immutability(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    immutability_enabled(&state)?;
    let owner = owner(&state, &caller, &req).await?;
    let policies = state.registry.immutability_policies(owner.scope).await?;
    let views: Vec<Value> = policies.iter().map(immutability_view).collect();
    Ok(HttpResponse::Ok().json(json!({ "policies": views })))
}

async fn get_immutability(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    immutability_enabled(&state)?;
    let owner = owner(&state, &caller, &req).await?;
    let policy = state.registry.immutability_policy(owner.scope, &uuid_of(&req)).await?;
    Ok(HttpResponse::Ok().json(immutability_view(&policy)))
}

async fn create_immutability(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    immutability_enabled(&state)?;
    let owner = owner(&state, &caller, &req).await?;
    let input = immutability_input(&body)?;
    let (policy, marked) = state.registry.create_immutability_policy(owner.scope, input).await?;
    let entry = owner.log("create_immutability_policy", &caller, &req, pattern_metadata(&policy));
    state.registry.log_action(entry);
    log_marked(&state, &owner, &req, &policy, marked);
    Ok(HttpResponse::Created().json(json!({"uuid": policy.uuid})))
}

async fn update_immutability(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    immutability_enabled(&state)?;
    let owner = owner(&state, &caller, &req).await?;
    let input = immutability_input(&body)?;
    let (policy, marked) = state
        .registry
        .update_immutability_policy(owner.scope, &uuid_of(&req), input)
        .await?;
    let entry = owner.log("update_immutability_policy", &caller, &req, pattern_metadata(&policy));
    state.registry.log_action(entry);
    log_marked(&state, &owner, &req, &policy, marked);
    Ok(HttpResponse::NoContent().finish())
}

async fn delete_immutability(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    immutability_enabled(&state)?;
    let owner = owner(&state, &caller, &req).await?;
    let uuid = uuid_of(&req);
    state.registry.delete_immutability_policy(owner.scope, &uuid).await?;
    let entry = owner.log(
        "delete_immutability_policy",
        &caller,
        &req,
        json!({"policy_uuid": uuid}),
    );
    state.registry.log_action(entry);
    Ok(HttpResponse::Ok().json(json!({ "uuid": uuid })))
}

// Auto-prune policies.

fn autoprune_enabled(state: &AppState) -> Result<(), ApiError> {
    enabled(state.registry.settings().tags.auto_prune)
}

fn autoprune_view(p: &AutoPrunePolicy) -> Value {
    json!({
        "uuid": p.uuid,
        "method": p.method,
        "value": p.value,
        "tagPattern": p.tag_pattern,
        "tagPatternMatches": p.tag_pattern_matches,
    })
}

fn autoprune_input(body: &Value) -> Result<AutoPruneInput, ApiError> {
    let body = body_object(body)?;
    Ok(AutoPruneInput {
        method: body.get("method").cloned(),
        value: body.get("value").cloned(),
        tag_pattern: body.get("tagPattern").cloned(),
        tag_pattern_matches: body.get("tagPatternMatches").cloned(),
    })
}

fn autoprune_metadata(p: &AutoPrunePolicy) -> Value {
    json!({
        "method": p.method,
        "value": p.value,
        "tag_pattern": p.tag_pattern,
        "tag_pattern_matches": p.tag_pattern_matches,
    })
}

async fn list_autoprune(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    autoprune_enabled(&state)?;
    let owner = owner(&state, &caller, &req).await?;
    let policies = state.registry.autoprune_policies(owner.scope).await?;
    let views: Vec<Value> = policies.iter().map(autoprune_view).collect();
    Ok(HttpResponse::Ok().json(json!({ "policies": views })))
}

async fn get_autoprune(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    autoprune_enabled(&state)?;
    let owner = owner(&state, &caller, &req).await?;
    let policy = state.registry.autoprune_policy(owner.scope, &uuid_of(&req)).await?;
    Ok(HttpResponse::Ok().json(autoprune_view(&policy)))
}

async fn create_autoprune(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    autoprune_enabled(&state)?;
    let owner = owner(&state, &caller, &req).await?;
    let input = autoprune_input(&body)?;
    let policy = state.registry.create_autoprune_policy(owner.scope, input).await?;
    let kind = owner.by_scope(
        "create_repository_autoprune_policy",
        "create_namespace_autoprune_policy",
    );
    let entry = owner.log(kind, &caller, &req, autoprune_metadata(&policy));
    state.registry.log_action(entry);
    Ok(HttpResponse::Created().json(json!({"uuid": policy.uuid})))
}

async fn update_autoprune(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    autoprune_enabled(&state)?;
    let owner = owner(&state, &caller, &req).await?;
    let input = autoprune_input(&body)?;
    let policy = state
        .registry
        .update_autoprune_policy(owner.scope, &uuid_of(&req), input)
        .await?;
    let kind = owner.by_scope(
        "update_repository_autoprune_policy",
        "update_namespace_autoprune_policy",
    );
    let entry = owner.log(kind, &caller, &req, autoprune_metadata(&policy));
    state.registry.log_action(entry);
    Ok(HttpResponse::NoContent().finish())
}

async fn delete_autoprune(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    autoprune_enabled(&state)?;
    let owner = owner(&state, &caller, &req).await?;
    let uuid = uuid_of(&req);
    state.registry.delete_autoprune_policy(owner.scope, &uuid).await?;
    let kind = owner.by_scope(
        "delete_repository_autoprune_policy",
        "delete_namespace_autoprune_policy",
    );
    let entry = owner.log(kind, &caller, &req, json!({"policy_uuid": uuid}));
    state.registry.log_action(entry);
    Ok(HttpResponse::Ok().json(json!({ "uuid": uuid })))
}
