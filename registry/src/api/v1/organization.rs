//! `/api/v1/organization/…`: create, view and delete organizations.

use super::doc::{self, Mount};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::shared::{action, find_org};
use super::views::{avatar, org_team_view};
use super::{ApiCaller, ApiError};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.mount(doc::resource(["/organization/", "/organization"]).route(doc::post().to(create_org)))
        .mount(
            doc::resource("/organization/{org}")
                .route(doc::get().to(get_org))
                .route(doc::put().to(update_org))
                .route(doc::delete().to(delete_org)),
        );
}

#[derive(Deserialize, schemars::JsonSchema)]
struct NewOrg {
    name: String,
    email: Option<String>,
    contact_email: Option<String>,
}

async fn create_org(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    body: web::Json<NewOrg>,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user_with("user:admin")?;
    let email = body.email.as_deref().or(body.contact_email.as_deref());
    let org = state.registry.create_organization(user, &body.name, email).await?;
    let entry = action("org_create", &caller, &req)
        .account(org.id)
        .metadata(json!({"namespace": org.username, "email": org.email}));
    state.registry.log_action(entry);
    Ok(HttpResponse::Created().json("Created"))
}

async fn get_org(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let org = find_org(&state, &path).await?;
    let mut view = json!({
        "name": org.username,
        "avatar": avatar(&org.username, "org"),
        "is_admin": false,
        "is_member": false,
    });
    if let Some(user) = caller
        .user
        .as_ref()
        .filter(|_| caller.scopes.has("user:read") || caller.scopes.has("org:admin"))
    {
        let admin = state.registry.is_org_admin(user, &org).await?;
        let member = admin
            || state
                .registry
                .organizations_of(user)
                .await?
                .iter()
                .any(|(n, _)| *n == org.username);
        view["is_admin"] = json!(admin);
        view["is_member"] = json!(member);
        // As in Quay: members see the teams (by name, and in creation order).
        if member {
            let teams = state.registry.org_teams(&org, user, admin).await?;
            view["teams"] = teams
                .iter()
                .map(|t| (t.team.name.clone(), org_team_view(t)))
                .collect::<serde_json::Map<String, Value>>()
                .into();
            view["ordered_teams"] = json!(teams.iter().map(|t| t.team.name.as_str()).collect::<Vec<_>>());
        }
        if member || (state.registry.is_superuser(user) && caller.scopes.has("super:user")) {
            if let Some((quotas, report)) = super::quota::namespace_fields(&state, org.id).await? {
                view["quotas"] = quotas;
                view["quota_report"] = report;
            }
        }
        if admin {
            view["email"] = json!(org.email);
            view["tag_expiration_s"] = json!(org.removed_tag_expiration_s);
        }
    }
    Ok(HttpResponse::Ok().json(view))
}

async fn delete_org(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user_with("org:admin")?;
    let org = find_org(&state, &path).await?;
    if !state.registry.is_org_admin(user, &org).await? {
        return Err(ApiError::unauthorized(false));
    }
    caller.fresh_login()?;
    state.registry.delete_namespace(&org).await?;
    let entry = action("org_delete", &caller, &req)
        .account(org.id)
        .metadata(json!({"namespace": org.username}));
    state.registry.log_action(entry);
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, schemars::JsonSchema)]
struct OrgUpdate {
    tag_expiration_s: Option<i64>,
    email: Option<String>,
}

/// Changes an organization's settings: its contact `email` (refused when
/// another account uses it, as in Quay) and its time-machine window
/// (`tag_expiration_s`, one of `TAG_EXPIRATION_OPTIONS`).
async fn update_org(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<OrgUpdate>,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user_with("org:admin")?;
    let mut org = find_org(&state, &path).await?;
    if !state.registry.is_org_admin(user, &org).await? {
        return Err(ApiError::unauthorized(false));
    }
    if let Some(email) = body.email.as_deref().filter(|e| Some(*e) != org.email.as_deref()) {
        let old_email = org.email.clone();
        let update = crate::service::UserUpdate {
            email: Some(email.to_owned()),
            ..Default::default()
        };
        org = state.registry.update_user(&org, update).await?;
        let entry = action("org_change_email", &caller, &req)
            .account(org.id)
            .metadata(json!({"namespace": org.username, "email": email, "old_email": old_email}));
        state.registry.log_action(entry);
    }
    if let Some(seconds) = body.tag_expiration_s {
        org = state.registry.set_tag_expiration(&org, seconds).await?;
        let entry = action("org_change_tag_expiration", &caller, &req)
            .account(org.id)
            .metadata(json!({"namespace": org.username, "tag_expiration": seconds}));
        state.registry.log_action(entry);
    }
    Ok(HttpResponse::Ok().json(json!({
        "name": org.username,
        "avatar": avatar(&org.username, "org"),
        "is_admin": true,
        "is_member": true,
        "email": org.email,
        "tag_expiration_s": org.removed_tag_expiration_s,
    })))
}
