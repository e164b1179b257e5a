//! `/user/assignedauthorization[/{uuid}]` (`FEATURE_ASSIGN_OAUTH_TOKEN`):
//! the applications organization admins asked the user to authorize.

use super::doc::{self, Mount};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::session::policy;
use super::views::avatar;
use super::{ApiCaller, ApiError};
use crate::db::models::Account;
use crate::service::oauth::scope_info;
use crate::service::Assignment;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.mount(doc::resource("/user/assignedauthorization").route(doc::get().internal().to(list_assigned)))
        .mount(doc::resource("/user/assignedauthorization/{uuid}").route(doc::delete().internal().to(delete_assigned)));
}

/// The caller with `user:admin`, or 404 when the feature is off.
fn owner<'a>(req: &HttpRequest, caller: &'a ApiCaller) -> Result<&'a Account, ApiError> {
    if !policy(req).assign_oauth_tokens {
        return Err(ApiError::not_found("Not Found"));
    }
    caller.user_with("user:admin")
}

fn assignment_view(a: &Assignment) -> Value {
    let app = &a.application;
    let mut app_avatar = avatar(app.avatar_email.as_deref().unwrap_or(&app.name), "app");
    app_avatar["name"] = json!(app.name);
    let scopes: Vec<Value> = scope_info(&a.row.scope)
        .iter()
        .map(|s| {
            json!({
                "scope": s.scope,
                "title": s.title,
                "description": s.description,
                "icon": s.icon,
                "dangerous": s.dangerous,
            })
        })
        .collect();
    json!({
        "application": {
            "name": app.name,
            "clientId": app.client_id,
            "description": app.description,
            "url": app.application_uri,
            "avatar": app_avatar,
            "organization": {"name": a.organization, "avatar": avatar(&a.organization, "org")},
        },
        "uuid": a.row.uuid,
        "redirectUri": a.row.redirect_uri,
        "scopes": scopes,
        "responseType": a.row.response_type,
    })
}

async fn list_assigned(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: ApiCaller,
) -> Result<HttpResponse, ApiError> {
    let user = owner(&req, &caller)?;
    let assignments = state.registry.assignments(user).await?;
    let views: Vec<Value> = assignments.iter().map(assignment_view).collect();
    Ok(HttpResponse::Ok().json(json!({ "authorizations": views })))
}

async fn delete_assigned(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: ApiCaller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let user = owner(&req, &caller)?;
    state.registry.delete_assignment(user, &path).await?;
    Ok(HttpResponse::NoContent().finish())
}
