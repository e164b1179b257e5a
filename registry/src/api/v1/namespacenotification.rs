//! Namespace (quota) notifications (`FEATURE_QUOTA_NOTIFICATIONS`; else not
//! found): `/organization/{org}/notifications[/{uuid}[/test]]` for
//! organization admins and `/user/namespacenotifications[/{uuid}[/test]]`
//! for the user's own namespace. POST on one notification resets its
//! failure counter.

use super::doc::{self, Mount};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::shared::{action, admin_of};
use super::views::notification_view;
use super::{ApiCaller, ApiError};
use crate::db::models::Account;
use crate::service::notifications::{NewNotification, Notification};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    for base in ["/organization/{org}/notifications", "/user/namespacenotifications"] {
        cfg.mount(
            doc::resource(base)
                .guard(enabled)
                .route(doc::get().to(list_notifications))
                .route(doc::post().to(create_notification)),
        )
        .mount(
            doc::resource(format!("{base}/{{uuid}}"))
                .guard(enabled)
                .route(doc::get().to(get_notification))
                .route(doc::delete().to(delete_notification))
                .route(doc::post().to(reset_notification)),
        )
        .mount(
            doc::resource(format!("{base}/{{uuid}}/test"))
                .guard(enabled)
                .route(doc::post().to(test_notification)),
        );
    }
}

/// Whether namespace notifications are on (their API is mounted only then).
fn enabled(ctx: &actix_web::guard::GuardContext<'_>) -> bool {
    super::shared::state_allows(ctx, |s| s.registry.settings().notifications.namespace_notifications)
}

/// The namespace of the request: the organization the caller administers,
/// or the caller's own (`user:admin`); 404 when the feature is off.
async fn namespace(state: &AppState, caller: &ApiCaller, req: &HttpRequest) -> Result<Account, ApiError> {
    if !state.registry.settings().notifications.namespace_notifications {
        return Err(ApiError::not_found("Not Found"));
    }
    match req.match_info().get("org") {
        Some(org) => Ok(admin_of(state, caller, org).await?.1),
        None => Ok(caller.user_with("user:admin")?.clone()),
    }
}

fn uuid_of(req: &HttpRequest) -> String {
    req.match_info().get("uuid").unwrap_or_default().to_owned()
}

/// Logs `kind` about the notification in its namespace.
fn log(
    state: &AppState,
    (caller, req): (&ApiCaller, &HttpRequest),
    kind: &'static str,
    ns: &Account,
    n: &Notification,
) {
    let metadata = json!({"namespace": ns.username, "notification_id": n.uuid, "event": n.event, "method": n.method});
    state
        .registry
        .log_action(action(kind, caller, req).account(ns.id).metadata(metadata));
}

async fn list_notifications(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let ns = namespace(&state, &caller, &req).await?;
    let list = state.registry.namespace_notifications(&ns).await?;
    Ok(HttpResponse::Ok().json(json!({"notifications": list.iter().map(notification_view).collect::<Vec<_>>()})))
}

/// The create body: `event`, `method`, `config` and `eventConfig` are required.
fn new_notification(body: &Value) -> Result<NewNotification, ApiError> {
    let required = |k: &str| {
        body.get(k)
            .ok_or_else(|| ApiError::invalid_request(format!("'{k}' is a required property")))
    };
    let text = |k: &str| {
        required(k)?
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| ApiError::invalid_request(format!("'{k}' must be a string")))
    };
    let object = |k: &str| match required(k)? {
        v @ Value::Object(_) => Ok(v.clone()),
        _ => Err(ApiError::invalid_request(format!("'{k}' must be an object"))),
    };
    Ok(NewNotification {
        event: text("event")?,
        method: text("method")?,
        config: object("config")?,
        event_config: object("eventConfig")?,
        title: body.get("title").and_then(Value::as_str).map(str::to_owned),
    })
}

async fn create_notification(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let ns = namespace(&state, &caller, &req).await?;
    let created = state
        .registry
        .create_namespace_notification(&ns, new_notification(&body)?)
        .await?;
    log(&state, (&caller, &req), "create_namespace_notification", &ns, &created);
    Ok(HttpResponse::Created().json(notification_view(&created)))
}

async fn get_notification(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let ns = namespace(&state, &caller, &req).await?;
    let found = state.registry.namespace_notification(&ns, &uuid_of(&req)).await?;
    Ok(HttpResponse::Ok().json(notification_view(&found)))
}

async fn delete_notification(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let ns = namespace(&state, &caller, &req).await?;
    let deleted = state
        .registry
        .delete_namespace_notification(&ns, &uuid_of(&req))
        .await?;
    log(&state, (&caller, &req), "delete_namespace_notification", &ns, &deleted);
    Ok(HttpResponse::NoContent().finish())
}

async fn reset_notification(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let ns = namespace(&state, &caller, &req).await?;
    let reset = state.registry.reset_namespace_notification(&ns, &uuid_of(&req)).await?;
    log(&state, (&caller, &req), "reset_namespace_notification", &ns, &reset);
    Ok(HttpResponse::NoContent().finish())
}

async fn test_notification(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let ns = namespace(&state, &caller, &req).await?;
    state.registry.test_namespace_notification(&ns, &uuid_of(&req)).await?;
    Ok(HttpResponse::Ok().json(json!({})))
}
