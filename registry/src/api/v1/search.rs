//! Search (Quay's `endpoints/api/search.py`): `GET /entities/{prefix}`
//! (user, robot, team and organization pickers; clients also use it to check
//! that a user exists), `GET /find/all` (the search box) and
//! `GET /find/repositories` (repository search, paged).

use super::doc::{self, Mount};
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::shared::truthy;
use super::views::avatar;
use super::{ApiCaller, ApiError};
use crate::db::queries::repositories::RepositoryView;
use crate::service::search::{Entity, EntityQuery, HitKind, NamespaceRef, SEARCH_PAGE_SIZE};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.mount(doc::resource("/entities/{prefix}").route(doc::get().to(entities)))
        .mount(doc::resource("/find/all").route(doc::get().to(find_all)))
        .mount(doc::resource("/find/repositories").route(doc::get().to(find_repositories)));
}

#[derive(Deserialize, schemars::JsonSchema)]
struct EntityParams {
    namespace: Option<String>,
    #[serde(rename = "includeTeams")]
    include_teams: Option<String>,
    #[serde(rename = "includeOrgs")]
    include_orgs: Option<String>,
}

async fn entities(
    state: web::Data<AppState>,
    caller: ApiCaller,
    prefix: web::Path<String>,
    params: web::Query<EntityParams>,
) -> Result<HttpResponse, ApiError> {
    let query = EntityQuery {
        prefix: &prefix,
        namespace: params.namespace.as_deref().unwrap_or(""),
        include_teams: truthy(params.include_teams.as_deref()),
        include_orgs: truthy(params.include_orgs.as_deref()),
    };
    let found = state.registry.search_entities(caller.user.as_ref(), &query).await?;
    let results: Vec<Value> = found.iter().map(entity_view).collect();
    Ok(HttpResponse::Ok().json(json!({ "results": results })))
}

fn entity_view(e: &Entity) -> Value {
    match e {
        Entity::Team { name } => json!({
            "name": name, "kind": "team", "is_org_member": true, "avatar": avatar(name, "team"),
        }),
        Entity::User {
            name,
            robot,
            org_member,
        } => {
            let mut v = json!({
                "name": name, "kind": "user", "is_robot": robot, "avatar": avatar(name, "user"),
            });
            if let Some(member) = org_member {
                v["is_org_member"] = json!(member);
            }
            v
        }
        Entity::Org { name } => json!({
            "name": name, "kind": "org", "is_org_member": true, "avatar": avatar(name, "org"),
        }),
    }
}

#[derive(Deserialize, schemars::JsonSchema)]
struct SearchParams {
    query: Option<String>,
    page: Option<String>,
}

/// A user or organization as search results show it.
fn namespace_view(ns: &NamespaceRef, score: f64) -> Value {
    let (title, kind, href) = match ns.organization {
        true => ("org", "organization", format!("/organization/{}", ns.name)),
        false => ("user", "user", format!("/user/{}", ns.name)),
    };
    json!({
        "title": title,
        "kind": kind,
        "avatar": avatar(&ns.name, if ns.organization { "org" } else { "user" }),
        "name": ns.name,
        "score": score,
        "href": href,
    })
}

fn repository_view(repo: &RepositoryView, score: f64) -> Value {
    let owner = NamespaceRef {
        name: repo.namespace.clone(),
        organization: repo.namespace_is_org,
    };
    json!({
        "kind": "repository",
        "title": "repo",
        "namespace": namespace_view(&owner, 1.0),
        "name": repo.name,
        "description": repo.description,
        "is_public": repo.visibility == "public",
        "score": score,
        "href": format!("/repository/{}/{}", repo.namespace, repo.name),
    })
}

async fn find_all(
    state: web::Data<AppState>,
    caller: ApiCaller,
    params: web::Query<SearchParams>,
) -> Result<HttpResponse, ApiError> {
    let query = params.query.as_deref().unwrap_or("");
    let hits = state
        .registry
        .search_all(caller.user.as_ref(), &caller.scopes, query)
        .await?;
    let username = caller.user.as_ref().map(|u| u.username.as_str());
    let results: Vec<Value> = hits
        .iter()
        .map(|hit| match &hit.kind {
            HitKind::Team { name, organization } => json!({
                "kind": "team",
                "name": name,
                "organization": namespace_view(organization, 1.0),
                "avatar": avatar(name, "team"),
                "score": hit.score,
                "href": format!("/organization/{}/teams/{}", organization.name, name),
            }),
            HitKind::Robot { name, short_name } => {
                let owner = name.split_once('+').map_or("", |(ns, _)| ns);
                let href = match Some(owner) == username {
                    true => format!("/user/{owner}?tab=robots&showRobot={name}"),
                    false => format!("/organization/{owner}?tab=robots&showRobot={name}"),
                };
                json!({
                    "title": "robot",
                    "kind": "robot",
                    "avatar": null,
                    "name": name,
                    "short_name": short_name,
                    "score": hit.score,
                    "href": href,
                })
            }
            HitKind::Repository(repo) => repository_view(repo, hit.score),
            HitKind::Namespace(ns) => namespace_view(ns, hit.score),
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "results": results })))
}

async fn find_repositories(
    state: web::Data<AppState>,
    caller: ApiCaller,
    params: web::Query<SearchParams>,
) -> Result<HttpResponse, ApiError> {
    let page = match params.page.as_deref() {
        None | Some("") => 1,
        Some(raw) => raw
            .parse::<i64>()
            .map_err(|_| ApiError::invalid_request("page: invalid literal for int()"))?,
    };
    let query = params.query.as_deref().unwrap_or("");
    let found = state
        .registry
        .search_repositories(caller.user.as_ref(), query, page)
        .await?;
    let results: Vec<Value> = found
        .items
        .iter()
        .map(|hit| {
            let mut v = repository_view(&hit.repo, 4.0);
            if let Some(s) = hit.last_modified_s {
                v["last_modified"] = json!(s);
            }
            v["stars"] = json!(hit.stars);
            v["popularity"] = json!(hit.popularity as f64);
            v
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "results": results,
        "has_additional": found.has_additional,
        "page": found.page,
        "page_size": SEARCH_PAGE_SIZE,
        "start_index": found.start_index,
    })))
}
