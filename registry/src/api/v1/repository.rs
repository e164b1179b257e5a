//! `/api/v1/repository…`: create, list, view, describe, delete and change
//! the visibility of repositories (quay-api.md §1.6).
//!
//! Repository paths hold `/` (`ns/a/b`), so the catch-all route
//! `/repository/{repo:.+}` refuses paths that continue with a sub-resource
//! word; those belong to the more specific routes of other modules.

use super::doc::{self, Mount};
use actix_web::guard::GuardContext;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::shared::{access, page_start, page_token, repo_action, truthy};
use super::views::format_date;
use super::{ApiCaller, ApiError};
use crate::service::repositories::{
    state_name, ListQuery, ListedRepository, NewRepository, RepositoryAccess, RepositoryView, TagSummary, Visibility,
};
use crate::service::Role;
use crate::state::AppState;

/// Path words that start a sub-resource after a repository path
/// (`/repository/{repo}/<word>/…`), in every API family.
const SUBRESOURCES: &[&str] = &[
    "authorizedemail",
    "autoprunepolicy",
    "build",
    "changestate",
    "changetrust",
    "changevisibility",
    "immutabilitypolicy",
    "logs",
    "aggregatelogs",
    "exportlogs",
    "manifest",
    "mirror",
    "notification",
    "permissions",
    "signatures",
    "tag",
    "tokens",
    "trigger",
    "image",
];

/// Most tags a repository view lists (Quay's `max_tags`).
const MAX_TAGS: usize = 500;
/// Days of (empty) action statistics a view with `includeStats` carries.
const STATS_DAYS: i64 = 91;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.mount(
        doc::resource(["/repository", "/repository/"])
            .route(doc::get().to(list_repos))
            .route(doc::post().to(create_repo)),
    )
    .mount(doc::resource("/repository/{repo:.+}/changevisibility").route(doc::post().to(change_visibility)))
    .mount(
        doc::resource("/repository/{repo:.+}/signatures")
            .guard(signing_enabled)
            .route(doc::get().to(signatures)),
    )
    .mount(
        doc::resource("/repository/{repo:.+}/changetrust")
            .guard(signing_enabled)
            .route(doc::post().to(change_trust)),
    )
    .mount(
        doc::resource("/repository/{repo:.+}")
            .guard(names_only_a_repository)
            .route(doc::get().to(get_repo))
            .route(doc::put().to(update_repo))
            .route(doc::delete().to(delete_repo)),
    );
}

/// Whether the path after `/repository/` is a repository path alone: no
/// sub-resource word after the namespace and first name segment.
fn names_only_a_repository(ctx: &GuardContext<'_>) -> bool {
    let path = ctx.head().uri.path();
    let rest = path.split_once("/repository/").map_or("", |(_, r)| r);
    !rest.split('/').skip(2).any(|s| SUBRESOURCES.contains(&s))
}

/// `FEATURE_SIGNING`: the content-trust endpoints exist.
fn signing_enabled(ctx: &GuardContext<'_>) -> bool {
    super::shared::state_allows(ctx, |s| s.registry.settings().signing)
}

/// Why trust cannot be turned on: Docker Content Trust needs a Notary (TUF)
/// server, which this registry does not run.
const NO_CONTENT_TRUST: &str = "Content trust (Docker Notary/TUF signing) is not supported by this registry; \
     sign images with cosign, whose signatures are served through the referrers API";

/// `GET /repository/{repo}/signatures`: the signed tags of a repository
/// with content trust on; trust is never on here, so readers get 404 as
/// Quay answers for an unsigned repository.
async fn signatures(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    access(&state, &caller, &path, Role::Read).await?;
    Err(ApiError::not_found("Not Found"))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct ChangeTrust {
    trust_enabled: Option<bool>,
}

/// `POST /repository/{repo}/changetrust` (repository admins): turning
/// trust off is what it already is; turning it on is refused.
async fn change_trust(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<ChangeTrust>,
) -> Result<HttpResponse, ApiError> {
    let granted = access(&state, &caller, &path, Role::Admin).await?;
    match body.trust_enabled {
        None => Err(ApiError::invalid_request("'trust_enabled' is a required property")),
        Some(true) => Err(ApiError::invalid_request(NO_CONTENT_TRUST)),
        Some(false) => {
            let metadata =
                json!({"repo": granted.repo.name, "namespace": granted.repo.namespace, "trust_enabled": false});
            state
                .registry
                .log_action(repo_action("change_repo_trust", &caller, &req, &granted.repo, metadata));
            Ok(HttpResponse::Ok().json(json!({"success": true})))
        }
    }
}

fn parse_visibility(s: &str) -> Result<Visibility, ApiError> {
    Visibility::parse(s).ok_or_else(|| ApiError::invalid_request(format!("'{s}' is not one of ['public', 'private']")))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct NewRepo {
    repository: String,
    visibility: String,
    description: String,
    namespace: Option<String>,
    repo_kind: Option<String>,
}

async fn create_repo(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    body: web::Json<NewRepo>,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user_with("repo:create")?;
    let visibility = parse_visibility(&body.visibility)?;
    let kind = match body.repo_kind.as_deref() {
        None | Some("image") => "image",
        Some(other) => {
            return Err(ApiError::invalid_request(format!(
                "Repository kind {other} is not supported"
            )))
        }
    };
    let new = NewRepository {
        namespace: body.namespace.as_deref().unwrap_or(&user.username),
        name: &body.repository,
        visibility,
        description: &body.description,
        kind,
    };
    let repo = state.registry.create_repository(user, &new).await?;
    state
        .registry
        .log_action(repo_action("create_repo", &caller, &req, &repo, json!({})));
    Ok(HttpResponse::Created().json(json!({"namespace": repo.namespace, "name": repo.name, "kind": repo.kind})))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct ListParams {
    namespace: Option<String>,
    public: Option<String>,
    starred: Option<String>,
    last_modified: Option<String>,
    popularity: Option<String>,
    repo_kind: Option<String>,
    next_page: Option<String>,
}

async fn list_repos(
    state: web::Data<AppState>,
    caller: ApiCaller,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, ApiError> {
    let namespace = params.namespace.as_deref().filter(|n| !n.is_empty());
    let (public, starred) = (truthy(params.public.as_deref()), truthy(params.starred.as_deref()));
    if namespace.is_none() && !public && !starred {
        return Err(ApiError::invalid_request(
            "namespace, starred or public are required for this API call",
        ));
    }
    let query = ListQuery {
        namespace,
        public,
        starred,
        last_modified: truthy(params.last_modified.as_deref()),
        kind: params.repo_kind.as_deref().unwrap_or("image"),
        after_id: page_start(params.next_page.as_deref()),
    };
    let page = state
        .registry
        .list_repositories(caller.user.as_ref(), &caller.scopes, &query)
        .await?;
    let popularity = truthy(params.popularity.as_deref());
    let signed_in = caller.user.is_some();
    let mut repositories: Vec<Value> = page
        .items
        .iter()
        .map(|r| listed_view(r, query.last_modified, popularity, signed_in))
        .collect();
    if popularity {
        let repo_ids: Vec<i64> = page.items.iter().map(|r| r.repo.id).collect();
        let counts = state.registry.repository_popularity(&repo_ids).await?;
        for (view, r) in repositories.iter_mut().zip(&page.items) {
            view["popularity"] = json!(counts.get(&r.repo.id).copied().unwrap_or(0) as f64);
        }
    }
    if state.registry.quota_policy().enabled {
        let repo_ids: Vec<i64> = page.items.iter().map(|r| r.repo.id).collect();
        let mut namespace_ids: Vec<i64> = page.items.iter().map(|r| r.repo.namespace_id).collect();
        namespace_ids.sort_unstable();
        namespace_ids.dedup();
        let sizes = state.registry.repository_sizes(&repo_ids).await?;
        let reports = state.registry.quota_reports(&namespace_ids).await?;
        for (view, r) in repositories.iter_mut().zip(&page.items) {
            view["quota_report"] = json!({
                "quota_bytes": sizes.get(&r.repo.id).copied().unwrap_or(0),
                "configured_quota": reports.get(&r.repo.namespace_id).and_then(|q| q.configured_quota),
            });
        }
    }
    let mut body = json!({ "repositories": repositories });
    if let Some(after) = page.next_after {
        body["next_page"] = json!(page_token(after));
    }
    Ok(HttpResponse::Ok().json(body))
}

/// One entry of a repository listing.
fn listed_view(r: &ListedRepository, last_modified: bool, popularity: bool, signed_in: bool) -> Value {
    let mut v = json!({
        "namespace": r.repo.namespace,
        "name": r.repo.name,
        "description": r.repo.description,
        "is_public": r.repo.visibility == "public",
        "kind": r.repo.kind,
        "state": state_name(r.repo.state),
    });
    if last_modified {
        v["last_modified"] = json!(r.last_modified_s);
    }
    if popularity {
        // Filled in from the usage logs by `list_repos`.
        v["popularity"] = json!(0.0);
    }
    if signed_in {
        v["is_starred"] = json!(r.is_starred);
    }
    v
}

#[derive(Deserialize, schemars::JsonSchema)]
struct ViewParams {
    #[serde(rename = "includeTags")]
    include_tags: Option<String>,
    #[serde(rename = "includeStats")]
    include_stats: Option<String>,
}

async fn get_repo(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<String>,
    params: web::Query<ViewParams>,
) -> Result<HttpResponse, ApiError> {
    let RepositoryAccess { repo, role } = access(&state, &caller, &path, Role::Read).await?;
    let mut view = repo_view(&repo, role);
    if let Some(user) = &caller.user {
        view["is_starred"] = json!(state.registry.is_starred(user, repo.id).await?);
    }
    if params.include_tags.as_deref().is_none_or(|v| truthy(Some(v))) {
        let tags = state.registry.repository_tags(&repo, MAX_TAGS).await?;
        let map: Map<String, Value> = tags.iter().map(|t| (t.name.clone(), tag_view(t))).collect();
        view["tags"] = Value::Object(map);
    }
    if truthy(params.include_stats.as_deref()) {
        view["stats"] = empty_stats(crate::now_ms());
    }
    Ok(HttpResponse::Ok().json(view))
}

/// Quay's view of one repository, without tags.
fn repo_view(repo: &RepositoryView, role: Role) -> Value {
    let is_public = repo.visibility == "public";
    json!({
        "namespace": repo.namespace,
        "name": repo.name,
        "kind": repo.kind,
        "description": repo.description,
        "is_public": is_public,
        "is_organization": repo.namespace_is_org,
        "is_starred": false,
        "status_token": "",
        "trust_enabled": false,
        "tag_expiration_s": repo.tag_expiration_s,
        "is_free_account": true,
        "state": state_name(repo.state),
        "can_write": role >= Role::Write && repo.state == 0,
        "can_admin": role >= Role::Admin,
    })
}

fn tag_view(t: &TagSummary) -> Value {
    let mut v = json!({
        "name": t.name,
        "size": t.size,
        "manifest_digest": t.manifest_digest,
    });
    if t.lifetime_start_ms > 0 {
        v["last_modified"] = json!(format_date(t.lifetime_start_ms));
    }
    if let Some(end) = t.lifetime_end_ms {
        v["expiration"] = json!(format_date(end));
    }
    v
}

/// Quay fills the days without recorded actions with zero counts; no
/// actions are recorded yet, so every day is zero.
fn empty_stats(now_ms: i64) -> Value {
    let today = now_ms.div_euclid(86_400_000);
    Value::Array(
        (1..=STATS_DAYS)
            .map(|d| json!({"date": super::views::format_day((today - d) * 86_400_000), "count": 0}))
            .collect(),
    )
}

#[derive(Deserialize, schemars::JsonSchema)]
struct RepoUpdate {
    description: String,
}

async fn update_repo(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<String>,
    body: web::Json<RepoUpdate>,
) -> Result<HttpResponse, ApiError> {
    let granted = access(&state, &caller, &path, Role::Write).await?;
    state
        .registry
        .set_repository_description(&granted.repo, &body.description)
        .await?;
    Ok(HttpResponse::Ok().json(json!({"success": true})))
}

async fn delete_repo(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let granted = access(&state, &caller, &path, Role::Admin).await?;
    state.registry.delete_repository(&granted.repo).await?;
    state
        .registry
        .log_action(repo_action("delete_repo", &caller, &req, &granted.repo, json!({})));
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, schemars::JsonSchema)]
struct ChangeVisibility {
    visibility: String,
}

async fn change_visibility(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<ChangeVisibility>,
) -> Result<HttpResponse, ApiError> {
    let granted = access(&state, &caller, &path, Role::Admin).await?;
    let visibility = parse_visibility(&body.visibility)?;
    state
        .registry
        .set_repository_visibility(&granted.repo, visibility)
        .await?;
    let metadata = json!({"visibility": body.visibility});
    state.registry.log_action(repo_action(
        "change_repo_visibility",
        &caller,
        &req,
        &granted.repo,
        metadata,
    ));
    Ok(HttpResponse::Ok().json(json!({"success": true})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip_and_bad_ones_restart() {
        assert_eq!(page_start(Some(&page_token(42))), Some(42));
        assert_eq!(page_start(Some("not a token")), None);
        assert_eq!(page_start(None), None);
    }

    #[test]
    fn quay_truthy_flags() {
        assert!(truthy(Some("true")) && truthy(Some("1")) && truthy(Some("True")));
        assert!(!truthy(Some("false")) && !truthy(Some("0")) && !truthy(Some("")) && !truthy(None));
    }
}
