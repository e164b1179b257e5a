//! `/api/v1/user/`, `/api/v1/users/{username}` and first-user initialization.

use super::doc::{self, Mount};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::error::ErrorType;
use super::session::{attach_session, policy};
use super::shared::action;
use super::views::{avatar, public_user};
use super::{ApiCaller, ApiError};
use crate::db::models::Account;
use crate::service::logs::LogEntry;
use crate::service::UserUpdate;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.mount(
        doc::resource(["/user/", "/user"])
            .route(doc::get().to(get_user))
            .route(doc::post().internal().to(create_user))
            .route(doc::put().internal().to(update_user))
            .route(doc::delete().internal().to(delete_user)),
    )
    .mount(doc::resource("/user/initialize").route(doc::post().to(initialize)))
    .mount(doc::resource("/users/{username}").route(doc::get().to(get_public_user)));
}

async fn user_view(state: &AppState, u: &Account) -> Result<serde_json::Value, ApiError> {
    let orgs = state.registry.organizations_of(u).await?;
    let superuser = state.registry.is_superuser(u);
    let mut v = json!({
        "anonymous": false,
        "username": u.username,
        "avatar": avatar(&u.username, "user"),
        "email": u.email,
        "verified": u.verified,
        "can_create_repo": true,
        "is_me": true,
        "tag_expiration_s": u.removed_tag_expiration_s,
        "has_password_set": u.password_hash.is_some(),
        "organizations": orgs.iter().map(|(name, admin)| json!({
            "name": name,
            "avatar": avatar(name, "org"),
            "is_org_admin": admin,
            "can_create_repo": true,
            "public": false,
        })).collect::<Vec<_>>(),
        "logins": [],
        "prompts": [],
    });
    if superuser {
        v["super_user"] = json!(true);
    }
    if let Some((quotas, report)) = super::quota::namespace_fields(state, u.id).await? {
        v["quotas"] = quotas;
        v["quota_report"] = report;
    }
    Ok(v)
}

async fn get_user(state: web::Data<AppState>, caller: ApiCaller) -> Result<HttpResponse, ApiError> {
    let user = caller.user_with("user:read")?;
    Ok(HttpResponse::Ok().json(user_view(&state, user).await?))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct NewUser {
    username: String,
    password: String,
    email: Option<String>,
}

/// Sign-up (`FEATURE_USER_CREATION`); superusers may always create users.
/// Someone signing up is signed in at once (unless the email address must
/// be verified first), as in Quay.
async fn create_user(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: ApiCaller,
    body: web::Json<NewUser>,
) -> Result<HttpResponse, ApiError> {
    // Accounts of a directory are made by signing in, as in Quay.
    if state.registry.directory().is_some() {
        return Err(ApiError::not_found("Not Found"));
    }
    let by_superuser = caller.superuser(&state).is_ok();
    if !state.registry.settings().accounts.user_creation && !by_superuser {
        return Err(ApiError::new(
            403,
            ErrorType::InsufficientScope,
            "User creation is disabled. Please contact your administrator",
        ));
    }
    let user = state
        .registry
        .create_user(&body.username, &body.password, body.email.as_deref())
        .await?;
    let entry = LogEntry::new(
        "user_create",
        caller.user.as_ref().or(Some(&user)),
        crate::api::client_ip(&req),
    )
    .account(user.id)
    .metadata(json!({"username": user.username}));
    state.registry.log_action(entry);
    let mut res = HttpResponse::Ok();
    if caller.user.is_none() && user.verified {
        let issued = state.registry.start_session(&user).await?;
        attach_session(&mut res, &policy(&req), &issued);
    }
    Ok(res.json(user_view(&state, &user).await?))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct Changes {
    password: Option<String>,
    email: Option<String>,
    tag_expiration_s: Option<i64>,
    username: Option<String>,
}

/// Changes the caller's own account. A new password ends every session of
/// the user; a browser changing it is signed in again with a new session.
async fn update_user(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: ApiCaller,
    body: web::Json<Changes>,
) -> Result<HttpResponse, ApiError> {
    let mut user = caller.user_with("user:admin")?.clone();
    caller.fresh_login()?;
    let b = body.into_inner();
    let new_password = b.password.is_some();
    if new_password || b.email.as_ref().is_some_and(|e| Some(e) != user.email.as_ref()) {
        let update = UserUpdate {
            password: b.password,
            email: b.email,
            ..UserUpdate::default()
        };
        let before = user;
        user = state.registry.update_user(&before, update).await?;
        log_own_changes(&state, (&caller, &req), &before, &user, new_password);
    }
    if let Some(seconds) = b.tag_expiration_s {
        user = state.registry.set_tag_expiration(&user, seconds).await?;
        let entry = action("change_user_tag_expiration", &caller, &req)
            .account(user.id)
            .metadata(json!({"username": user.username, "tag_expiration": seconds}));
        state.registry.log_action(entry);
    }
    if let Some(name) = b.username.filter(|n| *n != user.username) {
        let old = user.username.clone();
        user = state.registry.rename_user(&user, &name).await?;
        let entry = action("user_change_name", &caller, &req)
            .account(user.id)
            .metadata(json!({"old_username": old, "username": user.username}));
        state.registry.log_action(entry);
    }
    let mut res = HttpResponse::Ok();
    if new_password && caller.session.is_some() {
        let issued = state.registry.start_session(&user).await?;
        attach_session(&mut res, &policy(&req), &issued);
    }
    Ok(res.json(user_view(&state, &user).await?))
}

/// Logs a user's change of their own password or email, with Quay's kinds.
fn log_own_changes(
    state: &AppState,
    (caller, req): (&ApiCaller, &HttpRequest),
    before: &Account,
    after: &Account,
    password: bool,
) {
    if password {
        let entry = action("user_change_password", caller, req)
            .account(after.id)
            .metadata(json!({"username": after.username}));
        state.registry.log_action(entry);
    }
    if before.email != after.email {
        let metadata = json!({"username": after.username, "old_email": before.email, "email": after.email});
        let entry = action("user_change_email", caller, req)
            .account(after.id)
            .metadata(metadata);
        state.registry.log_action(entry);
    }
}

/// Deletes the caller's own account (a sensitive action: fresh login).
async fn delete_user(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user_with("user:admin")?;
    caller.fresh_login()?;
    state.registry.delete_namespace(user).await?;
    let entry = action("user_delete", &caller, &req)
        .account(user.id)
        .metadata(json!({"username": user.username}));
    state.registry.log_action(entry);
    Ok(HttpResponse::NoContent().finish())
}

async fn get_public_user(state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    match state.registry.account(&path).await? {
        Some(u) if !u.organization && !u.robot && u.enabled => {
            Ok(HttpResponse::Ok().json(public_user(&u, state.registry.is_superuser(&u))))
        }
        _ => Err(ApiError::not_found("User not found")),
    }
}

#[derive(Deserialize, schemars::JsonSchema)]
struct Initialize {
    username: String,
    password: String,
    email: Option<String>,
    #[serde(default)]
    access_token: bool,
}

/// `POST /api/v1/user/initialize`: the first user of an empty registry,
/// signed in at once as in Quay.
async fn initialize(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<Initialize>,
) -> Result<HttpResponse, ApiError> {
    let (user, token) = state
        .registry
        .initialize_first_user(&body.username, &body.password, body.email.as_deref(), body.access_token)
        .await?;
    let mut v = json!({"username": user.username, "email": user.email});
    if let Some(t) = token {
        v["access_token"] = json!(t);
    }
    let issued = state.registry.start_session(&user).await?;
    let mut res = HttpResponse::Ok();
    attach_session(&mut res, &policy(&req), &issued);
    Ok(res.json(v))
}
