//! Pull statistics (`FEATURE_IMAGE_PULL_STATS`; absent otherwise):
//! `GET /repository/{repo}/tag/{tag}/pull_statistics` and
//! `GET /repository/{repo}/manifest/{digest}/pull_statistics`, for callers
//! holding a role on the repository.

use super::doc::{self, Mount};
use actix_web::guard::GuardContext;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::shared::repo_path;
use super::views::format_date;
use super::{ApiCaller, ApiError};
use crate::oci::{Digest, Reference, RepoName};
use crate::service::repositories::RepositoryAccess;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    let on = || enabled;
    cfg.mount(
        doc::resource("/repository/{repo:.+}/tag/{tag}/pull_statistics")
            .guard(on())
            .route(doc::get().to(tag_statistics)),
    )
    .mount(
        doc::resource("/repository/{repo:.+}/manifest/{digest}/pull_statistics")
            .guard(on())
            .route(doc::get().to(manifest_statistics)),
    );
}

fn enabled(ctx: &GuardContext<'_>) -> bool {
    super::shared::state_allows(ctx, |s| s.registry.settings().pull_stats)
}

#[derive(Deserialize)]
struct TagPath {
    repo: String,
    tag: String,
}

#[derive(Deserialize)]
struct ManifestPath {
    repo: String,
    digest: String,
}

/// The repository whose counts are asked for, if the caller holds a role on it.
async fn counted(state: &AppState, caller: &ApiCaller, repo: &str) -> Result<(RepoName, RepositoryAccess), ApiError> {
    let name = repo_path(repo)?;
    let access = state
        .registry
        .pull_statistics_access(caller.user.as_ref(), &caller.scopes, &name)
        .await?;
    Ok((name, access))
}

fn date(ms: Option<i64>) -> serde_json::Value {
    ms.map_or(serde_json::Value::Null, |ms| json!(format_date(ms)))
}

async fn tag_statistics(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<TagPath>,
) -> Result<HttpResponse, ApiError> {
    let (name, access) = counted(&state, &caller, &path.repo).await?;
    let tag = path.tag.parse().map_err(|_| ApiError::not_found("Not Found"))?;
    let current = state.registry.get_manifest(&name, &Reference::Tag(tag)).await?;
    let tag_pulls = state
        .registry
        .pull_count(&access, Some(&path.tag), &current.digest)
        .await?;
    let manifest_pulls = state.registry.pull_count(&access, None, &current.digest).await?;
    Ok(HttpResponse::Ok().json(json!({
        "tag_name": path.tag,
        "tag_pull_count": tag_pulls.count,
        "last_tag_pull_date": date(tag_pulls.last_pull_ms),
        "current_manifest_digest": tag_pulls.manifest_digest.unwrap_or_else(|| current.digest.clone()),
        "manifest_pull_count": manifest_pulls.count,
        "last_manifest_pull_date": date(manifest_pulls.last_pull_ms),
    })))
}

async fn manifest_statistics(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<ManifestPath>,
) -> Result<HttpResponse, ApiError> {
    let (name, access) = counted(&state, &caller, &path.repo).await?;
    let digest: Digest = path.digest.parse().map_err(|_| ApiError::not_found("Not Found"))?;
    state.registry.get_manifest(&name, &Reference::Digest(digest)).await?;
    let pulls = state.registry.pull_count(&access, None, &path.digest).await?;
    Ok(HttpResponse::Ok().json(json!({
        "manifest_digest": path.digest,
        "manifest_pull_count": pulls.count,
        "last_manifest_pull_date": date(pulls.last_pull_ms),
    })))
}
