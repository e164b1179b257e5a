//! `/api/v1/user/robots…` and `/api/v1/organization/{org}/robots…`: robot
//! accounts of the calling user (token with `user:admin`) or of an
//! organization (token with `org:admin`, caller an org admin; plain members
//! may list the robots without their tokens).

use super::doc::{self, Mount};
use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::ErrorType;
use super::shared::find_org;
use super::views::{avatar, format_date, grants_view};
use super::{ApiCaller, ApiError};
use crate::db::models::Account;
use crate::service::logs::LogEntry;
use crate::service::{CredentialFormat, NewRobot, Robot, RobotShortName, RobotUsage};
use crate::state::AppState;

/// Quay's limit on a robot creation body.
const MAX_BODY: usize = 1 << 20;

pub fn configure(cfg: &mut web::ServiceConfig) {
    for base in ["/user/robots", "/organization/{org}/robots"] {
        cfg.mount(doc::resource(base).route(doc::get().to(list_robots)))
            .mount(
                doc::resource(format!("{base}/{{short}}"))
                    .app_data(web::PayloadConfig::new(4 * MAX_BODY))
                    .route(doc::get().to(get_robot))
                    .route(doc::put().to(create_robot))
                    .route(doc::delete().to(delete_robot)),
            )
            .mount(doc::resource(format!("{base}/{{short}}/regenerate")).route(doc::post().to(regenerate_token)))
            .mount(doc::resource(format!("{base}/{{short}}/permissions")).route(doc::get().to(list_permissions)))
            .mount(
                doc::resource(format!("{base}/{{short}}/credentials/{{format}}"))
                    .route(doc::get().to(download_credentials)),
            );
    }
}

/// The namespace whose robots a request is about, and whether the caller
/// administers it. For `/user/robots` it is the caller's own namespace
/// (`user:admin`); for `/organization/{org}/robots` the caller must hold
/// `org:admin` and be a member of the organization.
struct Owner {
    namespace: Account,
    admin: bool,
    /// The calling user, the performer in usage logs.
    caller: Account,
}

/// Checked in its extractor; nothing to add to the operation's description.
impl super::doc::Describe for Owner {}

impl Owner {
    /// A usage-log entry in the namespace, performed by the caller.
    fn action(&self, kind: &'static str, req: &HttpRequest, metadata: Value) -> LogEntry {
        LogEntry::new(kind, Some(&self.caller), crate::api::client_ip(req))
            .account(self.namespace.id)
            .metadata(metadata)
    }

    /// The namespace, if the caller administers it; else 403.
    fn admin(&self) -> Result<&Account, ApiError> {
        if self.admin {
            Ok(&self.namespace)
        } else {
            Err(ApiError::unauthorized(false))
        }
    }

    async fn resolve(state: &AppState, caller: &ApiCaller, org: Option<&str>) -> Result<Owner, ApiError> {
        let Some(org) = org else {
            let user = caller.user_with("user:admin")?;
            return Ok(Owner {
                namespace: user.clone(),
                admin: true,
                caller: user.clone(),
            });
        };
        let user = caller.user_with("org:admin")?;
        let org = find_org(state, org).await?;
        let admin = state.registry.is_org_admin(user, &org).await?;
        let member = admin
            || state
                .registry
                .organizations_of(user)
                .await?
                .iter()
                .any(|(name, _)| *name == org.username);
        if !member {
            return Err(ApiError::unauthorized(false));
        }
        Ok(Owner {
            namespace: org,
            admin,
            caller: user.clone(),
        })
    }
}

impl FromRequest for Owner {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Owner, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let caller = ApiCaller::from_request(req, payload);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let org = req.match_info().get("org").map(str::to_owned);
        Box::pin(async move {
            let caller = caller.await?;
            let state = state.ok_or_else(|| ApiError::new(500, ErrorType::InternalError, "no application state"))?;
            Owner::resolve(&state, &caller, org.as_deref()).await
        })
    }
}

/// The robot's short name from the path (`{short}`).
fn short_name(req: &HttpRequest) -> String {
    req.match_info().get("short").unwrap_or_default().to_owned()
}

/// Quay's robot view; `usage` replaces the metadata in permission listings.
fn robot_view(r: &Robot, token: bool, usage: Option<&RobotUsage>) -> Value {
    let mut v = json!({
        "name": r.name(),
        "created": format_date(r.created_ms),
        "last_accessed": r.last_accessed_ms.map(format_date),
        "description": r.description,
    });
    match usage {
        Some(u) => {
            v["teams"] = u
                .teams
                .iter()
                .map(|t| json!({"name": t, "avatar": avatar(t, "team")}))
                .collect();
            v["repositories"] = json!(u.repositories);
        }
        None => v["unstructured_metadata"] = r.unstructured_metadata.clone(),
    }
    if token {
        v["token"] = json!(r.token);
    }
    v
}

/// Quay's `truthy_bool`: anything but false, 0, null or empty is true.
fn truthy(value: Option<&str>, default: bool) -> bool {
    value.map_or(default, |v| {
        !matches!(v, "false" | "False" | "FALSE" | "0" | "" | "null")
    })
}

#[derive(Deserialize, schemars::JsonSchema)]
struct ListQuery {
    permissions: Option<String>,
    token: Option<String>,
    limit: Option<i64>,
}

/// Lists the robots; only admins see tokens and permissions.
async fn list_robots(
    state: web::Data<AppState>,
    owner: Owner,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let token = owner.admin && truthy(q.token.as_deref(), true);
    let permissions = owner.admin && truthy(q.permissions.as_deref(), false);
    let robots = state.registry.robots(&owner.namespace, q.limit).await?;
    let usage = match permissions {
        true => Some(state.registry.robots_usage(&robots).await?),
        false => None,
    };
    let empty = RobotUsage::default();
    let views: Vec<Value> = robots
        .iter()
        .map(|r| {
            let u = usage.as_ref().map(|u| u.get(&r.account.id).unwrap_or(&empty));
            robot_view(r, token, u)
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "robots": views })))
}

async fn get_robot(state: web::Data<AppState>, owner: Owner, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let robot = state.registry.robot(owner.admin()?, &short_name(&req)).await?;
    Ok(HttpResponse::Ok().json(robot_view(&robot, true, None)))
}

#[derive(Deserialize, Default)]
struct RobotBody {
    description: Option<String>,
    unstructured_metadata: Option<Value>,
}

/// The optional creation body: empty means defaults.
fn parse_body(body: &[u8]) -> Result<RobotBody, ApiError> {
    if body.len() > MAX_BODY {
        return Err(ApiError::invalid_request("Request body is too large"));
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(RobotBody::default());
    }
    serde_json::from_slice(body).map_err(|e| ApiError::invalid_request(format!("Invalid request body: {e}")))
}

async fn create_robot(
    state: web::Data<AppState>,
    owner: Owner,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let namespace = owner.admin()?;
    let short = RobotShortName::parse(&short_name(&req))?;
    let body = parse_body(&body)?;
    let new = NewRobot {
        description: body.description,
        unstructured_metadata: body.unstructured_metadata,
    };
    let robot = state.registry.create_robot(namespace, &short, new).await?;
    let metadata = json!({
        "robot": short_name(&req),
        "description": robot.description,
        "unstructured_metadata": robot.unstructured_metadata,
    });
    state.registry.log_action(owner.action("create_robot", &req, metadata));
    Ok(HttpResponse::Created().json(robot_view(&robot, true, None)))
}

async fn delete_robot(state: web::Data<AppState>, owner: Owner, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    state.registry.delete_robot(owner.admin()?, &short_name(&req)).await?;
    let metadata = json!({"robot": short_name(&req)});
    state.registry.log_action(owner.action("delete_robot", &req, metadata));
    Ok(HttpResponse::NoContent().finish())
}

async fn regenerate_token(
    state: web::Data<AppState>,
    owner: Owner,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let robot = state
        .registry
        .regenerate_robot_token(owner.admin()?, &short_name(&req))
        .await?;
    let metadata = json!({"robot": short_name(&req)});
    state
        .registry
        .log_action(owner.action("regenerate_robot_token", &req, metadata));
    let mut view = robot_view(&robot, true, None);
    if let Some(v) = view.as_object_mut() {
        v.remove("unstructured_metadata");
    }
    Ok(HttpResponse::Ok().json(view))
}

async fn list_permissions(
    state: web::Data<AppState>,
    owner: Owner,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let robot = state.registry.robot(owner.admin()?, &short_name(&req)).await?;
    let grants = state.registry.robot_permissions(&robot).await?;
    Ok(HttpResponse::Ok().json(grants_view(&grants)))
}

/// The robot's credentials as a file for a client: a Kubernetes pull
/// Secret, a Docker `config.json`, or a `docker`/`podman login` line, for
/// the registry host (`SERVER_HOSTNAME`, else the host the caller used).
async fn download_credentials(
    state: web::Data<AppState>,
    owner: Owner,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let name = req.match_info().get("format").unwrap_or_default();
    let format = CredentialFormat::parse(name).ok_or_else(|| {
        ApiError::not_found(format!(
            "Unknown credentials format {name:?}; expected one of {}",
            CredentialFormat::NAMES
        ))
    })?;
    let robot = state.registry.robot(owner.admin()?, &short_name(&req)).await?;
    let host = state
        .server_hostname
        .clone()
        .unwrap_or_else(|| req.connection_info().host().to_owned());
    let file = robot.credentials(&host, format);
    Ok(HttpResponse::Ok()
        .content_type(file.content_type)
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{}\"", file.filename),
        ))
        .body(file.body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truthy_follows_quay() {
        assert!(truthy(Some("true"), false) && truthy(Some("1"), false) && truthy(None, true));
        assert!(!truthy(Some("false"), true) && !truthy(Some("0"), true) && !truthy(None, false));
    }
}
