//! `GET /oauth2/github/callback/trigger/{repo}` (seed chapter 8, with
//! `FEATURE_BUILD_SUPPORT` and `FEATURE_GITHUB_BUILD`): where GitHub sends
//! the user back after they authorized the registry's OAuth application for
//! a repository's trigger. The code is exchanged for an access token, an
//! inactive GitHub trigger holding it is created for the signed-in admin,
//! and the browser goes on to the trigger's setup page, as in Quay.

use actix_web::guard::{self, GuardContext};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::error::ErrorType;
use super::shared::{link_base, require_normal, RepoPath};
use super::{ApiCaller, ApiError};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/oauth2/github/callback/trigger/{repo:.+}")
            .guard(guard::fn_guard(github_builds_enabled))
            .route(web::get().to(attach_github_trigger)),
    );
}

/// The route exists only when GitHub triggers are configured (and builds
/// are on): a 404 otherwise, as Quay's `route_show_if`.
fn github_builds_enabled(ctx: &GuardContext<'_>) -> bool {
    super::shared::state_allows(ctx, |s| s.registry.github().is_some())
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
}

async fn attach_github_trigger(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<RepoPath>,
    query: web::Query<CallbackQuery>,
) -> Result<HttpResponse, ApiError> {
    let (user, acc) = caller.web_repository_admin(&state, &req, &path.repo).await?;
    if acc.repo.kind != "image" {
        return Err(ApiError::new(
            501,
            ErrorType::InvalidRequest,
            "Build triggers cannot be created on application repositories",
        ));
    }
    require_normal(&acc.repo)?;
    let code = query
        .code
        .as_deref()
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ApiError::invalid_request("Missing required parameter: code"))?;
    let (namespace, repo) = (&acc.repo.namespace, &acc.repo.name);
    let redirect_uri = format!(
        "{}/oauth2/github/callback/trigger/{namespace}/{repo}",
        link_base(&req, &state)
    );
    let trigger = state
        .registry
        .create_github_trigger(&acc.repo, &user, code, &redirect_uri)
        .await?;
    let location = format!("/repository/{namespace}/{repo}/trigger/{}", trigger.uuid);
    Ok(HttpResponse::Found().insert_header(("Location", location)).finish())
}
