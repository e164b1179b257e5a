//! Starred repositories (quay-api.md §1.1): `/user/starred` lists, stars
//! and unstars the calling user's repositories (token with `user:admin`;
//! starring also needs a `repo:` scope, as reading the repository does).

use super::doc::{self, Mount};
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::shared::{page_start, page_token, repo_path};
use super::{ApiCaller, ApiError};
use crate::oci::RepoName;
use crate::service::repositories::ListedRepository;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.mount(
        doc::resource(["/user/starred", "/user/starred/"])
            .route(doc::get().to(list_starred))
            .route(doc::post().to(star)),
    )
    .mount(doc::resource("/user/starred/{repo:.+}").route(doc::delete().to(unstar)));
}

#[derive(Deserialize, schemars::JsonSchema)]
struct PageParams {
    next_page: Option<String>,
}

fn starred_view(r: &ListedRepository) -> Value {
    json!({
        "namespace": r.repo.namespace,
        "name": r.repo.name,
        "description": r.repo.description,
        "is_public": r.repo.visibility == "public",
    })
}

async fn list_starred(
    state: web::Data<AppState>,
    caller: ApiCaller,
    params: web::Query<PageParams>,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user_with("user:admin")?;
    let page = state
        .registry
        .starred_repositories(user, page_start(params.next_page.as_deref()))
        .await?;
    let repositories: Vec<Value> = page.items.iter().map(starred_view).collect();
    let mut body = json!({ "repositories": repositories });
    if let Some(after) = page.next_after {
        body["next_page"] = json!(page_token(after));
    }
    Ok(HttpResponse::Ok().json(body))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct NewStar {
    namespace: String,
    repository: String,
}

async fn star(
    state: web::Data<AppState>,
    caller: ApiCaller,
    body: web::Json<NewStar>,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user_with("user:admin")?;
    let repo = RepoName::new(&body.namespace, &body.repository)
        .map_err(|_| ApiError::invalid_request("Invalid repository name"))?;
    state.registry.star_repository(user, &caller.scopes, &repo).await?;
    Ok(HttpResponse::Created().json(json!({"namespace": body.namespace, "repository": body.repository})))
}

async fn unstar(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user_with("user:admin")?;
    let repo = repo_path(&path)?;
    state.registry.unstar_repository(user, &repo).await?;
    Ok(HttpResponse::NoContent().finish())
}
