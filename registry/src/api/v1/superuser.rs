//! `/api/v1/superuser/…`: user and organization management for superusers.

use super::doc::{self, Mount};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::shared::{action, find_org};
use super::views::{avatar, managed_user};
use super::{ApiCaller, ApiError};
use crate::db::models::Account;
use crate::service::{random_token, UserUpdate};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.mount(
        doc::resource(["/superuser/users/", "/superuser/users"])
            .route(doc::get().to(list_users))
            .route(doc::post().to(create_user)),
    )
    .mount(
        doc::resource("/superuser/users/{name}")
            .route(doc::get().to(get_user))
            .route(doc::put().to(update_user))
            .route(doc::delete().to(delete_user)),
    )
    .mount(
        doc::resource(["/superuser/organizations/", "/superuser/organizations"])
            .route(doc::get().internal().to(list_orgs)),
    )
    .mount(
        doc::resource("/superuser/config")
            .guard(config_dump_enabled)
            .route(doc::get().to(dump_config)),
    )
    .mount(
        doc::resource("/superuser/organizations/{name}")
            .route(doc::put().to(rename_org))
            .route(doc::delete().to(delete_org)),
    );
}

#[derive(Deserialize, schemars::JsonSchema)]
struct ListQuery {
    disabled: Option<bool>,
    limit: Option<i64>,
}

fn limit(q: &ListQuery) -> Result<i64, ApiError> {
    match q.limit {
        Some(n) if !(1..=100).contains(&n) => Err(ApiError::invalid_request("limit must be between 1 and 100")),
        Some(n) => Ok(n),
        None => Ok(i64::MAX),
    }
}

async fn list_users(
    state: web::Data<AppState>,
    caller: ApiCaller,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.superuser(&state)?;
    let users = state
        .registry
        .list_users(q.disabled.unwrap_or(true), limit(&q)?)
        .await?;
    let mut views: Vec<_> = users
        .iter()
        .map(|u| managed_user(u, state.registry.is_superuser(u)))
        .collect();
    let mut pairs: Vec<_> = users.iter().map(|u| u.id).zip(views.iter_mut()).collect();
    super::quota::add_namespace_fields(&state, &mut pairs).await?;
    Ok(HttpResponse::Ok().json(json!({"users": views})))
}

/// Logs an action of the superuser `me` on `target`'s namespace, with
/// Quay's `superuser` metadata.
fn log_by_superuser(
    state: &AppState,
    (caller, req): (&ApiCaller, &HttpRequest),
    kind: &'static str,
    target: &Account,
    mut metadata: Value,
) {
    if let Some(me) = &caller.user {
        metadata["superuser"] = json!(me.username);
    }
    let entry = action(kind, caller, req).account(target.id).metadata(metadata);
    state.registry.log_action(entry);
}

#[derive(Deserialize, schemars::JsonSchema)]
struct NewUser {
    username: String,
    email: Option<String>,
}

/// Creates a user with a generated 32-character password, returned once.
async fn create_user(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    body: web::Json<NewUser>,
) -> Result<HttpResponse, ApiError> {
    caller.superuser(&state)?;
    caller.fresh_login()?;
    if state.registry.directory().is_some() {
        return Err(ApiError::invalid_request(
            "Cannot create a user in a non-database auth system",
        ));
    }
    let password = random_token(32).to_uppercase();
    let user = state
        .registry
        .create_user(&body.username, &password, body.email.as_deref())
        .await?;
    let metadata = json!({"username": user.username, "email": user.email});
    log_by_superuser(&state, (&caller, &req), "user_create", &user, metadata);
    Ok(HttpResponse::Ok().json(json!({
        "username": user.username,
        "email": user.email,
        "password": password,
        "encrypted_password": password,
    })))
}

async fn find_user(state: &AppState, name: &str) -> Result<Account, ApiError> {
    match state.registry.account(name).await? {
        Some(a) if !a.organization && !a.robot && !a.username.starts_with("deleted+") => Ok(a),
        _ => Err(ApiError::not_found("User not found")),
    }
}

async fn get_user(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.superuser(&state)?;
    let user = find_user(&state, &path).await?;
    Ok(HttpResponse::Ok().json(managed_user(&user, state.registry.is_superuser(&user))))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct Changes {
    password: Option<String>,
    email: Option<String>,
    enabled: Option<bool>,
    superuser: Option<bool>,
}

/// Another superuser can only be changed by itself.
fn guard_other_superuser(state: &AppState, caller: &Account, target: &Account) -> Result<(), ApiError> {
    if state.registry.is_superuser(target) && caller.id != target.id {
        return Err(ApiError::invalid_request("Cannot modify or delete another superuser"));
    }
    Ok(())
}

async fn update_user(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<Changes>,
) -> Result<HttpResponse, ApiError> {
    let me = caller.superuser(&state)?;
    caller.fresh_login()?;
    let before = find_user(&state, &path).await?;
    guard_other_superuser(&state, me, &before)?;
    let b = body.into_inner();
    let new_password = b.password.is_some();
    let update = UserUpdate {
        password: b.password,
        email: b.email,
        enabled: b.enabled,
        superuser: b.superuser,
    };
    let user = state.registry.update_user(&before, update).await?;
    log_user_changes(&state, (&caller, &req), &before, &user, new_password);
    Ok(HttpResponse::Ok().json(managed_user(&user, state.registry.is_superuser(&user))))
}

/// Logs what a superuser changed on a user, with Quay's kinds.
fn log_user_changes(
    state: &AppState,
    by: (&ApiCaller, &HttpRequest),
    before: &Account,
    after: &Account,
    password: bool,
) {
    let name = json!({"username": after.username});
    if password {
        log_by_superuser(state, by, "user_change_password", after, name.clone());
    }
    if before.email != after.email {
        let metadata = json!({"username": after.username, "old_email": before.email, "email": after.email});
        log_by_superuser(state, by, "user_change_email", after, metadata);
    }
    if before.enabled != after.enabled {
        let kind = if after.enabled { "user_enable" } else { "user_disable" };
        log_by_superuser(state, by, kind, after, name);
    }
}

async fn delete_user(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let me = caller.superuser(&state)?;
    caller.fresh_login()?;
    let user = find_user(&state, &path).await?;
    guard_other_superuser(&state, me, &user)?;
    state.registry.delete_namespace(&user).await?;
    let metadata = json!({"username": user.username});
    log_by_superuser(&state, (&caller, &req), "user_delete", &user, metadata);
    Ok(HttpResponse::NoContent().finish())
}

async fn list_orgs(
    state: web::Data<AppState>,
    caller: ApiCaller,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.superuser(&state)?;
    let orgs = state.registry.list_organizations(limit(&q)?).await?;
    let enabled: Vec<_> = orgs.iter().filter(|o| o.enabled).collect();
    let mut views: Vec<_> = enabled
        .iter()
        .map(|o| json!({"name": o.username, "email": o.email, "avatar": avatar(&o.username, "org")}))
        .collect();
    let mut pairs: Vec<_> = enabled.iter().map(|o| o.id).zip(views.iter_mut()).collect();
    super::quota::add_namespace_fields(&state, &mut pairs).await?;
    Ok(HttpResponse::Ok().json(json!({"organizations": views})))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct Rename {
    name: String,
}

async fn rename_org(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<Rename>,
) -> Result<HttpResponse, ApiError> {
    caller.superuser(&state)?;
    caller.fresh_login()?;
    let org = find_org(&state, &path).await?;
    state.registry.rename_organization(&org, &body.name).await?;
    let metadata = json!({"old_name": org.username, "new_name": body.name});
    log_by_superuser(&state, (&caller, &req), "org_change_name", &org, metadata);
    Ok(HttpResponse::Ok().json(json!({"name": body.name, "avatar": avatar(&body.name, "org")})))
}

async fn delete_org(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.superuser(&state)?;
    caller.fresh_login()?;
    let org = find_org(&state, &path).await?;
    state.registry.delete_namespace(&org).await?;
    let metadata = json!({"namespace": org.username});
    log_by_superuser(&state, (&caller, &req), "org_delete", &org, metadata);
    Ok(HttpResponse::NoContent().finish())
}

/// Whether `FEATURE_SUPERUSER_CONFIGDUMP` is on (the dump is kept).
fn config_dump_enabled(ctx: &actix_web::guard::GuardContext<'_>) -> bool {
    super::shared::state_allows(ctx, |s| s.config_dump.is_some())
}

/// The configuration and environment with secrets masked
/// (`FEATURE_SUPERUSER_CONFIGDUMP`; else not found).
async fn dump_config(state: web::Data<AppState>, caller: ApiCaller) -> Result<HttpResponse, ApiError> {
    let Some(dump) = &state.config_dump else {
        return Err(ApiError::not_found("Not Found"));
    };
    caller.fresh_login()?;
    caller.superuser(&state)?;
    Ok(HttpResponse::Ok().json(json!({
        "config": dump.config,
        "env": dump.env,
        "warning": "Secrets are masked. This view is read-only: the configuration is changed in config.yaml.",
        "schema": {"type": "object"},
    })))
}
