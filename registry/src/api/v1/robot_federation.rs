//! Robot identity federation: `/organization/{org}/robots/{short}/federation`
//! (GET/POST/DELETE; organization admins) and
//! `/user/robots/{short}/federation` (the user's own robots), and the token exchange `GET /oauth2/federation/robot/token`
//! (Basic auth: robot name and an external OIDC token) returning
//! `{"token": …}`, a short-lived password for the robot.

use super::doc::{self, Mount};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::shared::{action, admin_of};
use super::{ApiCaller, ApiError};
use crate::service::robot_federation::parse_federation_config;
use crate::service::{Error, Robot};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    for base in ["/organization/{org}/robots", "/user/robots"] {
        cfg.mount(
            doc::resource(format!("{base}/{{short}}/federation"))
                .route(doc::get().to(get_federation))
                .route(doc::post().to(set_federation))
                .route(doc::delete().to(delete_federation)),
        );
    }
}

pub fn configure_root(cfg: &mut web::ServiceConfig) {
    cfg.route("/oauth2/federation/robot/token", web::get().to(exchange_token));
}

/// The robot the path names with its namespace's name: an organization's,
/// if the caller administers it, or the calling user's own (`user:admin`).
async fn robot_of(
    state: &AppState,
    caller: &ApiCaller,
    req: &HttpRequest,
) -> Result<(Robot, String, String), ApiError> {
    let info = req.match_info();
    let short = info.get("short").unwrap_or_default().to_owned();
    let namespace = match info.get("org") {
        Some(org) => admin_of(state, caller, org).await?.1,
        None => caller.user_with("user:admin")?.clone(),
    };
    let robot = state.registry.robot(&namespace, &short).await?;
    Ok((robot, namespace.username, short))
}

async fn get_federation(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (robot, _, _) = robot_of(&state, &caller, &req).await?;
    let config = state.registry.robot_federation(&robot).await?;
    Ok(HttpResponse::Ok().json(config))
}

async fn set_federation(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let (robot, namespace, short) = robot_of(&state, &caller, &req).await?;
    let config = parse_federation_config(&body)?;
    state.registry.set_robot_federation(&robot, &config).await?;
    let metadata = json!({"config": config, "robot": short});
    let entry = action("create_robot_federation", &caller, &req).account_named(&namespace);
    state.registry.log_action(entry.metadata(metadata));
    Ok(HttpResponse::Ok().json(config))
}

async fn delete_federation(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (robot, namespace, short) = robot_of(&state, &caller, &req).await?;
    state.registry.set_robot_federation(&robot, &[]).await?;
    let entry = action("delete_robot_federation", &caller, &req).account_named(&namespace);
    state.registry.log_action(entry.metadata(json!({"robot": short})));
    Ok(HttpResponse::NoContent().finish())
}

/// Quay's answer to a failed exchange: 401 `{"error": …}`.
fn refused(message: &str) -> HttpResponse {
    HttpResponse::Unauthorized().json(json!({"error": message}))
}

async fn exchange_token(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let credentials = req
        .headers()
        .get("Authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(crate::api::auth::basic_credentials);
    let Some((username, token)) = credentials else {
        return Ok(refused("missing auth"));
    };
    let ip = crate::api::client_ip(&req);
    match state.registry.exchange_federated_token(&username, &token, ip).await {
        Ok(token) => Ok(HttpResponse::Ok().json(json!({"token": token}))),
        Err(Error::Unauthenticated(message)) => Ok(refused(&message)),
        Err(e) => Err(e.into()),
    }
}
