//! `/api/v1/repository/{repo}/notification/…`, `/api/v1/user/notifications`,
//! authorized emails (quay-api.md §1.11). Notifications and authorized
//! emails need admin on the repository; the inbox is the caller's own.

use super::doc::{self, Mount};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::shared::{access, repo_action};
use super::views::{format_date, notification_view};
use super::{ApiCaller, ApiError};
use crate::service::notifications::{InboxEntry, NewNotification, Notification};
use crate::service::Role;
use crate::state::AppState;

const BASE: &str = "/repository/{repo:.+}/notification";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.mount(doc::resource(format!("{BASE}/{{uuid}}/test")).route(doc::post().to(test_notification)))
        .mount(
            doc::resource([format!("{BASE}/"), BASE.to_owned()])
                .route(doc::get().to(list_notifications))
                .route(doc::post().to(create_notification)),
        )
        .mount(
            doc::resource(format!("{BASE}/{{uuid}}"))
                .route(doc::get().to(get_notification))
                .route(doc::delete().to(delete_notification))
                .route(doc::post().to(reset_notification)),
        )
        .mount(
            doc::resource("/repository/{repo:.+}/authorizedemail/{email}")
                .route(doc::get().internal().to(get_authorized_email))
                .route(doc::post().internal().to(authorize_email)),
        )
        .mount(doc::resource("/user/notifications").route(doc::get().internal().to(list_inbox)))
        .mount(
            doc::resource("/user/notifications/{uuid}")
                .route(doc::get().internal().to(get_inbox_entry))
                .route(doc::put().internal().to(update_inbox_entry)),
        );
}

/// Routes outside `/api/v1`: the link mailed to confirm an authorized email.
pub fn configure_root(cfg: &mut web::ServiceConfig) {
    cfg.route("/authrepoemail", web::get().to(confirm_email));
}

#[derive(Deserialize)]
struct RepoPath {
    repo: String,
}

#[derive(Deserialize)]
struct NotificationPath {
    repo: String,
    uuid: String,
}

#[derive(Deserialize)]
struct EmailPath {
    repo: String,
    email: String,
}

#[derive(Deserialize, schemars::JsonSchema)]
struct NewNotificationBody {
    event: String,
    method: String,
    config: Value,
    #[serde(rename = "eventConfig")]
    event_config: Value,
    title: Option<String>,
}

/// Logs `kind` about the notification with Quay's metadata.
fn log_notification(
    state: &AppState,
    (caller, req): (&ApiCaller, &HttpRequest),
    kind: &'static str,
    repo: &crate::service::repositories::RepositoryView,
    n: &Notification,
) {
    let metadata = json!({"event": n.event, "method": n.method, "notification_id": n.uuid});
    state
        .registry
        .log_action(repo_action(kind, caller, req, repo, metadata));
}

async fn create_notification(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<RepoPath>,
    body: web::Json<NewNotificationBody>,
) -> Result<HttpResponse, ApiError> {
    let repo = access(&state, &caller, &path.repo, Role::Admin).await?.repo;
    let b = body.into_inner();
    let new = NewNotification {
        event: b.event,
        method: b.method,
        config: b.config,
        event_config: b.event_config,
        title: b.title.filter(|t| !t.trim().is_empty()),
    };
    let created = state.registry.create_notification(&repo, new).await?;
    log_notification(&state, (&caller, &req), "add_repo_notification", &repo, &created);
    Ok(HttpResponse::Created().json(notification_view(&created)))
}

async fn list_notifications(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<RepoPath>,
) -> Result<HttpResponse, ApiError> {
    let repo = access(&state, &caller, &path.repo, Role::Admin).await?.repo;
    let list = state.registry.list_notifications(&repo).await?;
    let views: Vec<Value> = list.iter().map(notification_view).collect();
    Ok(HttpResponse::Ok().json(json!({ "notifications": views })))
}

async fn get_notification(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<NotificationPath>,
) -> Result<HttpResponse, ApiError> {
    let repo = access(&state, &caller, &path.repo, Role::Admin).await?.repo;
    let n = state.registry.notification(&repo, &path.uuid).await?;
    Ok(HttpResponse::Ok().json(notification_view(&n)))
}

async fn delete_notification(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<NotificationPath>,
) -> Result<HttpResponse, ApiError> {
    let repo = access(&state, &caller, &path.repo, Role::Admin).await?.repo;
    let n = state.registry.notification(&repo, &path.uuid).await?;
    state.registry.delete_notification(&repo, &path.uuid).await?;
    log_notification(&state, (&caller, &req), "delete_repo_notification", &repo, &n);
    Ok(HttpResponse::NoContent().finish())
}

async fn reset_notification(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<NotificationPath>,
) -> Result<HttpResponse, ApiError> {
    let repo = access(&state, &caller, &path.repo, Role::Admin).await?.repo;
    let n = state.registry.notification(&repo, &path.uuid).await?;
    state.registry.reset_notification(&repo, &path.uuid).await?;
    log_notification(&state, (&caller, &req), "reset_repo_notification", &repo, &n);
    Ok(HttpResponse::NoContent().finish())
}

async fn test_notification(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<NotificationPath>,
) -> Result<HttpResponse, ApiError> {
    let repo = access(&state, &caller, &path.repo, Role::Admin).await?.repo;
    state.registry.test_notification(&repo, &path.uuid).await?;
    Ok(HttpResponse::Ok().json(json!({})))
}

fn email_view(repo: &str, email: &str, confirmed: bool) -> Value {
    json!({ "email": email, "repository": repo, "confirmed": confirmed })
}

async fn get_authorized_email(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<EmailPath>,
) -> Result<HttpResponse, ApiError> {
    let repo = access(&state, &caller, &path.repo, Role::Admin).await?.repo;
    let found = state
        .registry
        .authorized_email(&repo, &path.email)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("'{}' is not authorized for this repository", path.email)))?;
    let name = format!("{}/{}", repo.namespace, repo.name);
    Ok(HttpResponse::Ok().json(email_view(&name, &found.email, found.confirmed)))
}

async fn authorize_email(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<EmailPath>,
) -> Result<HttpResponse, ApiError> {
    let repo = access(&state, &caller, &path.repo, Role::Admin).await?.repo;
    let auth = state.registry.authorize_email(&repo, &path.email).await?;
    let name = format!("{}/{}", repo.namespace, repo.name);
    Ok(HttpResponse::Ok().json(email_view(&name, &auth.email, auth.confirmed)))
}

#[derive(Deserialize)]
struct ConfirmQuery {
    code: String,
}

/// The mailed confirmation link; the code itself is the credential.
async fn confirm_email(state: web::Data<AppState>, query: web::Query<ConfirmQuery>) -> Result<HttpResponse, ApiError> {
    let (repo, email) = state.registry.confirm_authorized_email(&query.code).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body(format!(
            "{email} will now receive notifications for repository {repo}.\n"
        )))
}

fn inbox_view(e: &InboxEntry) -> Value {
    json!({
        "id": e.id,
        "kind": e.kind,
        "created": format_date(e.created_ms),
        "metadata": e.metadata,
        "dismissed": e.dismissed,
    })
}

async fn list_inbox(state: web::Data<AppState>, caller: ApiCaller) -> Result<HttpResponse, ApiError> {
    let user = caller.user_with("user:admin")?;
    let entries = state.registry.user_inbox(user).await?;
    let views: Vec<Value> = entries.iter().map(inbox_view).collect();
    Ok(HttpResponse::Ok().json(json!({ "notifications": views })))
}

async fn get_inbox_entry(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user_with("user:admin")?;
    let entry = state.registry.inbox_entry(user, &path).await?;
    Ok(HttpResponse::Ok().json(inbox_view(&entry)))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct DismissBody {
    dismissed: bool,
}

async fn update_inbox_entry(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<String>,
    body: web::Json<DismissBody>,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user_with("user:admin")?;
    state.registry.dismiss_inbox_entry(user, &path, body.dismissed).await?;
    let entry = state.registry.inbox_entry(user, &path).await?;
    Ok(HttpResponse::Ok().json(inbox_view(&entry)))
}
