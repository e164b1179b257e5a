//! `/api/v1/repository/{repo}/permissions/…`: direct repository grants to
//! users, robots and teams (quay-api.md §1.7). Every endpoint needs admin
//! on the repository.

use super::doc::{self, Mount};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::shared::{access, repo_action};
use super::views::avatar;
use super::{ApiCaller, ApiError};
use crate::service::repositories::{RepositoryView, TeamGrant, UserGrant};
use crate::service::{Error, Registry, Role};
use crate::state::AppState;

const BASE: &str = "/repository/{repo:.+}/permissions";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.mount(doc::resource([format!("{BASE}/user/"), format!("{BASE}/user")]).route(doc::get().to(list_user_grants)))
        .mount(doc::resource([format!("{BASE}/team/"), format!("{BASE}/team")]).route(doc::get().to(list_team_grants)))
        .mount(doc::resource(format!("{BASE}/user/{{username}}/transitive")).route(doc::get().to(transitive_roles)))
        .mount(
            doc::resource(format!("{BASE}/user/{{username}}"))
                .route(doc::get().to(get_grant::<UserGrantee>))
                .route(doc::put().to(put_grant::<UserGrantee>))
                .route(doc::delete().to(delete_grant::<UserGrantee>)),
        )
        .mount(
            doc::resource(format!("{BASE}/team/{{team}}"))
                .route(doc::get().to(get_grant::<TeamGrantee>))
                .route(doc::put().to(put_grant::<TeamGrantee>))
                .route(doc::delete().to(delete_grant::<TeamGrantee>)),
        );
}

#[derive(Deserialize)]
struct RolePath {
    repo: String,
    #[serde(alias = "team")]
    username: String,
}

#[derive(Deserialize, schemars::JsonSchema)]
struct NewRole {
    role: String,
}

impl NewRole {
    fn parse(&self) -> Result<Role, ApiError> {
        Role::parse(&self.role).ok_or_else(|| {
            ApiError::invalid_request(format!("'{}' is not one of ['read', 'write', 'admin']", self.role))
        })
    }
}

/// The repository if the caller administers it.
async fn administered(state: &AppState, caller: &ApiCaller, repo: &str) -> Result<RepositoryView, ApiError> {
    Ok(access(state, caller, repo, Role::Admin).await?.repo)
}

fn user_grant_view(g: &UserGrant) -> Value {
    let mut v = json!({
        "role": g.role.as_str(),
        "name": g.name,
        "is_robot": g.is_robot,
        "avatar": avatar(&g.name, if g.is_robot { "robot" } else { "user" }),
    });
    if let Some(member) = g.is_org_member {
        v["is_org_member"] = json!(member);
    }
    v
}

fn team_grant_view(g: &TeamGrant) -> Value {
    json!({"role": g.role.as_str(), "name": g.name, "avatar": avatar(&g.name, "team")})
}

async fn list_user_grants(
    state: web::Data<AppState>,
    caller: ApiCaller,
    repo: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let repo = administered(&state, &caller, &repo).await?;
    let grants = state.registry.user_grants(&repo).await?;
    let map: Map<String, Value> = grants.iter().map(|g| (g.name.clone(), user_grant_view(g))).collect();
    Ok(HttpResponse::Ok().json(json!({ "permissions": map })))
}

async fn list_team_grants(
    state: web::Data<AppState>,
    caller: ApiCaller,
    repo: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let repo = administered(&state, &caller, &repo).await?;
    let grants = state.registry.team_grants(&repo).await?;
    let map: Map<String, Value> = grants.iter().map(|g| (g.name.clone(), team_grant_view(g))).collect();
    Ok(HttpResponse::Ok().json(json!({ "permissions": map })))
}

async fn transitive_roles(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<RolePath>,
) -> Result<HttpResponse, ApiError> {
    let repo = administered(&state, &caller, &path.repo).await?;
    let roles = state.registry.transitive_roles(&repo, &path.username).await?;
    let roles: Vec<Value> = roles.iter().map(|r| json!({"role": r.as_str()})).collect();
    Ok(HttpResponse::Ok().json(json!({ "permissions": roles })))
}

/// The user (or robot) and team grant endpoints differ only in these
/// service calls and views; the handlers below are generic over them.
trait Grantee {
    /// The metadata field naming the grantee in usage logs.
    const FIELD: &'static str;
    async fn get(r: &Registry, repo: &RepositoryView, name: &str) -> Result<Value, Error>;
    async fn grant(r: &Registry, repo: &RepositoryView, name: &str, role: Role) -> Result<Value, Error>;
    async fn revoke(r: &Registry, repo: &RepositoryView, name: &str) -> Result<(), Error>;
}

/// `…/permissions/user/{username}`: users and robots.
struct UserGrantee;

impl Grantee for UserGrantee {
    const FIELD: &'static str = "username";
    async fn get(r: &Registry, repo: &RepositoryView, name: &str) -> Result<Value, Error> {
        Ok(user_grant_view(&r.user_grant(repo, name).await?))
    }
    async fn grant(r: &Registry, repo: &RepositoryView, name: &str, role: Role) -> Result<Value, Error> {
        Ok(user_grant_view(&r.grant_user(repo, name, role).await?))
    }
    async fn revoke(r: &Registry, repo: &RepositoryView, name: &str) -> Result<(), Error> {
        r.revoke_user(repo, name).await
    }
}

/// `…/permissions/team/{team}`.
struct TeamGrantee;

impl Grantee for TeamGrantee {
    const FIELD: &'static str = "team";
    async fn get(r: &Registry, repo: &RepositoryView, name: &str) -> Result<Value, Error> {
        Ok(team_grant_view(&r.team_grant(repo, name).await?))
    }
    async fn grant(r: &Registry, repo: &RepositoryView, name: &str, role: Role) -> Result<Value, Error> {
        Ok(team_grant_view(&r.grant_team(repo, name, role).await?))
    }
    async fn revoke(r: &Registry, repo: &RepositoryView, name: &str) -> Result<(), Error> {
        r.revoke_team(repo, name).await
    }
}

async fn get_grant<G: Grantee>(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<RolePath>,
) -> Result<HttpResponse, ApiError> {
    let repo = administered(&state, &caller, &path.repo).await?;
    let view = G::get(&state.registry, &repo, &path.username).await?;
    Ok(HttpResponse::Ok().json(view))
}

async fn put_grant<G: Grantee>(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<RolePath>,
    body: web::Json<NewRole>,
) -> Result<HttpResponse, ApiError> {
    let repo = administered(&state, &caller, &path.repo).await?;
    let role = body.parse()?;
    let view = G::grant(&state.registry, &repo, &path.username, role).await?;
    let metadata = json!({G::FIELD: path.username, "role": role.as_str()});
    state
        .registry
        .log_action(repo_action("change_repo_permission", &caller, &req, &repo, metadata));
    Ok(HttpResponse::Ok().json(view))
}

async fn delete_grant<G: Grantee>(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<RolePath>,
) -> Result<HttpResponse, ApiError> {
    let repo = administered(&state, &caller, &path.repo).await?;
    G::revoke(&state.registry, &repo, &path.username).await?;
    let metadata = json!({G::FIELD: path.username});
    state
        .registry
        .log_action(repo_action("delete_repo_permission", &caller, &req, &repo, metadata));
    Ok(HttpResponse::NoContent().finish())
}
