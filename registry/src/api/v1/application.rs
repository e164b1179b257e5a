//! OAuth applications of organizations and their access tokens
//! (quay-api.md §1.3): `/organization/{org}/applications…` for organization
//! admins (token with `org:admin`, caller in an admin team, or a superuser
//! with full access), and the public `/app/{client_id}`.

use super::doc::{self, Mount};
use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::ErrorType;
use super::shared::{action, find_org};
use super::views::{avatar, format_date};
use super::{ApiCaller, ApiError};
use crate::db::models::Account;
use crate::service::{AppToken, Application, ApplicationInput, NewAppToken};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    const APP: &str = "/organization/{org}/applications/{client_id}";
    cfg.mount(
        doc::resource("/organization/{org}/applications")
            .route(doc::get().to(list_applications))
            .route(doc::post().to(create_application)),
    )
    .mount(
        doc::resource(APP)
            .route(doc::get().to(get_application))
            .route(doc::put().to(update_application))
            .route(doc::delete().to(delete_application)),
    )
    .mount(doc::resource(format!("{APP}/resetclientsecret")).route(doc::post().internal().to(reset_client_secret)))
    .mount(
        doc::resource(format!("{APP}/tokens"))
            .route(doc::get().to(list_tokens))
            .route(doc::post().to(create_token)),
    )
    .mount(doc::resource(format!("{APP}/tokens/{{uuid}}")).route(doc::delete().to(delete_token)))
    .mount(doc::resource("/app/{client_id}").route(doc::get().to(public_application)));
}

/// The organization of the path, administered by the caller: 401 for
/// anonymous callers, 403 without `org:admin` or admin rights, 404 for an
/// unknown organization.
struct AdminOrg {
    user: Account,
    org: Account,
    caller: ApiCaller,
}

/// Checked in its extractor; nothing to add to the operation's description.
impl super::doc::Describe for AdminOrg {}

impl AdminOrg {
    /// Logs `kind` about `app` in the organization, performed by the caller.
    fn log(&self, state: &AppState, kind: &'static str, req: &HttpRequest, app: &Application) {
        self.log_with(state, kind, req, app, json!({}));
    }

    /// Like [`AdminOrg::log`], with more metadata.
    fn log_with(
        &self,
        state: &AppState,
        kind: &'static str,
        req: &HttpRequest,
        app: &Application,
        mut metadata: Value,
    ) {
        metadata["application_name"] = json!(app.name);
        metadata["client_id"] = json!(app.client_id);
        let entry = action(kind, &self.caller, req).account(self.org.id).metadata(metadata);
        state.registry.log_action(entry);
    }

    async fn resolve(state: &AppState, caller: ApiCaller, org: &str) -> Result<AdminOrg, ApiError> {
        let user = caller.user_with("org:admin")?.clone();
        let org = find_org(state, org).await?;
        if !state.registry.is_org_admin(&user, &org).await? {
            return Err(ApiError::unauthorized(false));
        }
        Ok(AdminOrg { user, org, caller })
    }

    /// The organization's application named in the path, or 404.
    async fn application(&self, state: &AppState, client_id: &str) -> Result<Application, ApiError> {
        Ok(state.registry.org_application(&self.org, client_id).await?)
    }
}

impl FromRequest for AdminOrg {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<AdminOrg, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let caller = ApiCaller::from_request(req, payload);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let org = req.match_info().get("org").map(str::to_owned).unwrap_or_default();
        Box::pin(async move {
            let caller = caller.await?;
            let state = state.ok_or_else(|| ApiError::new(500, ErrorType::InternalError, "no application state"))?;
            AdminOrg::resolve(&state, caller, &org).await
        })
    }
}

/// The application's avatar: from its avatar email, else the organization's
/// email, else its name.
fn app_avatar(app: &Application, org_email: Option<&str>) -> Value {
    let seed = app.avatar_email.as_deref().or(org_email).unwrap_or(&app.name);
    let mut v = avatar(seed, "app");
    v["name"] = json!(app.name);
    v
}

/// The application as organization admins see it, secret included.
fn app_view(app: &Application, org: &Account) -> Value {
    json!({
        "name": app.name,
        "description": app.description,
        "application_uri": app.application_uri,
        "client_id": app.client_id,
        "client_secret": app.client_secret,
        "redirect_uri": app.redirect_uri,
        "avatar_email": app.avatar_email,
        "avatar": app_avatar(app, org.email.as_deref()),
    })
}

fn token_view(t: &AppToken) -> Value {
    json!({
        "uuid": t.uuid,
        "name": t.name,
        "scope": t.scope,
        "expires_at": format_date(t.expires_at_ms),
        "created": format_date(t.created_ms),
        "created_by": t.created_by,
        "last_accessed": t.last_accessed_ms.map(format_date),
    })
}

#[derive(Deserialize, schemars::JsonSchema)]
struct NewApplication {
    name: String,
    redirect_uri: Option<String>,
    application_uri: Option<String>,
    description: Option<String>,
    avatar_email: Option<String>,
}

#[derive(Deserialize, schemars::JsonSchema)]
struct ApplicationUpdate {
    name: String,
    redirect_uri: String,
    application_uri: String,
    description: Option<String>,
    avatar_email: Option<String>,
}

async fn list_applications(state: web::Data<AppState>, admin: AdminOrg) -> Result<HttpResponse, ApiError> {
    let apps = state.registry.applications_of(&admin.org).await?;
    let views: Vec<Value> = apps.iter().map(|a| app_view(a, &admin.org)).collect();
    Ok(HttpResponse::Ok().json(json!({ "applications": views })))
}

async fn create_application(
    state: web::Data<AppState>,
    admin: AdminOrg,
    req: HttpRequest,
    body: web::Json<NewApplication>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let input = ApplicationInput {
        name: body.name,
        redirect_uri: body.redirect_uri.unwrap_or_default(),
        application_uri: body.application_uri.unwrap_or_default(),
        description: body.description.unwrap_or_default(),
        avatar_email: body.avatar_email,
    };
    let app = state.registry.create_application(&admin.org, input).await?;
    admin.log(&state, "create_application", &req, &app);
    Ok(HttpResponse::Ok().json(app_view(&app, &admin.org)))
}

async fn get_application(
    state: web::Data<AppState>,
    admin: AdminOrg,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let app = admin.application(&state, &path.1).await?;
    Ok(HttpResponse::Ok().json(app_view(&app, &admin.org)))
}

async fn update_application(
    state: web::Data<AppState>,
    admin: AdminOrg,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Json<ApplicationUpdate>,
) -> Result<HttpResponse, ApiError> {
    let app = admin.application(&state, &path.1).await?;
    let body = body.into_inner();
    let input = ApplicationInput {
        name: body.name,
        redirect_uri: body.redirect_uri,
        application_uri: body.application_uri,
        description: body.description.unwrap_or_default(),
        avatar_email: body.avatar_email,
    };
    let app = state.registry.update_application(&app, input).await?;
    admin.log(&state, "update_application", &req, &app);
    Ok(HttpResponse::Ok().json(app_view(&app, &admin.org)))
}

async fn delete_application(
    state: web::Data<AppState>,
    admin: AdminOrg,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let app = admin.application(&state, &path.1).await?;
    state.registry.delete_application(&app).await?;
    admin.log(&state, "delete_application", &req, &app);
    Ok(HttpResponse::NoContent().finish())
}

async fn reset_client_secret(
    state: web::Data<AppState>,
    admin: AdminOrg,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let app = admin.application(&state, &path.1).await?;
    let app = state.registry.reset_client_secret(&app).await?;
    admin.log(&state, "reset_application_client_secret", &req, &app);
    Ok(HttpResponse::Ok().json(app_view(&app, &admin.org)))
}

async fn list_tokens(
    state: web::Data<AppState>,
    admin: AdminOrg,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let app = admin.application(&state, &path.1).await?;
    let tokens = state.registry.application_tokens(&app).await?;
    let views: Vec<Value> = tokens.iter().map(token_view).collect();
    Ok(HttpResponse::Ok().json(json!({ "tokens": views })))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct NewToken {
    name: String,
    scope: String,
    expiration: Option<i64>,
}

async fn create_token(
    state: web::Data<AppState>,
    admin: AdminOrg,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Json<NewToken>,
) -> Result<HttpResponse, ApiError> {
    // A session must have checked the password recently to mint a
    // long-lived credential, as for app-specific tokens.
    admin.caller.fresh_login()?;
    let app = admin.application(&state, &path.1).await?;
    let new = NewAppToken {
        name: &body.name,
        scope: &body.scope,
        expiration_s: body.expiration,
    };
    let (token, secret) = state
        .registry
        .mint_application_token(&app, &admin.org, &admin.user, &admin.caller.scopes, &new)
        .await?;
    let mut view = token_view(&token);
    let metadata = json!({
        "application": app.name,
        "assigned_user": admin.user.username,
        "assigning_user": admin.user.username,
        "token_name": body.name,
        "scope": body.scope,
        "token_uuid": token.uuid,
    });
    admin.log_with(&state, "oauth_token_assigned", &req, &app, metadata);
    view["token"] = json!(secret);
    Ok(HttpResponse::Ok().json(view))
}

async fn delete_token(
    state: web::Data<AppState>,
    admin: AdminOrg,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let app = admin.application(&state, &path.1).await?;
    state.registry.revoke_application_token(&app, &path.2).await?;
    admin.log_with(&state, "oauth_token_revoked", &req, &app, json!({"token_uuid": path.2}));
    Ok(HttpResponse::NoContent().finish())
}

/// What anyone may learn about an application (Quay's `/app/{client_id}`).
async fn public_application(state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let (app, org_name) = state.registry.application(&path).await?;
    let org = state.registry.account(&org_name).await?;
    let org_email = org.as_ref().and_then(|o| o.email.as_deref());
    Ok(HttpResponse::Ok().json(json!({
        "name": app.name,
        "description": app.description,
        "uri": app.application_uri,
        "avatar": app_avatar(&app, org_email),
        "organization": {"name": org_name, "avatar": avatar(&org_name, "org")},
    })))
}
