//! `/api/v1/repository/{repo}/tag/…`: tag history, create/move, expiration,
//! delete, restore and permanent expiry (quay-api.md §1.8, §3.1, §3.2).
//! Reading needs read on the repository, every change write.

use super::doc::{self, Mount};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::shared::{access, repo_action, require_normal_state, truthy};
use super::views::format_date;
use super::{ApiCaller, ApiError};
use crate::oci::{media, Tag};
use crate::service::repositories::RepositoryView;
use crate::service::tags::{ExpireTag, NameFilter, TagListing, TagRow};
use crate::service::Role;
use crate::state::AppState;

const BASE: &str = "/repository/{repo:.+}/tag";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.mount(doc::resource([format!("{BASE}/"), BASE.to_owned()]).route(doc::get().to(list_tags)))
        .mount(doc::resource(format!("{BASE}/{{tag}}/restore")).route(doc::post().to(restore_tag)))
        .mount(doc::resource(format!("{BASE}/{{tag}}/expire")).route(doc::post().to(expire_tag)))
        .mount(
            doc::resource(format!("{BASE}/{{tag}}"))
                .route(doc::put().to(put_tag))
                .route(doc::delete().to(delete_tag)),
        );
}

#[derive(Deserialize)]
struct TagPath {
    repo: String,
    tag: String,
}

impl TagPath {
    fn tag(&self) -> Result<Tag, ApiError> {
        self.tag
            .parse()
            .map_err(|_| ApiError::invalid_request("Invalid tag name"))
    }
}

#[derive(Deserialize, schemars::JsonSchema)]
struct ListParams {
    #[serde(rename = "specificTag")]
    specific_tag: Option<String>,
    filter_tag_name: Option<String>,
    #[serde(rename = "onlyActiveTags")]
    only_active_tags: Option<String>,
    limit: Option<String>,
    page: Option<String>,
}

fn int_param(value: Option<&str>, name: &str, default: i64) -> Result<i64, ApiError> {
    match value {
        None | Some("") => Ok(default),
        Some(v) => v
            .trim()
            .parse()
            .map_err(|_| ApiError::invalid_request(format!("{name}: invalid literal for int(): {v}"))),
    }
}

fn name_filter(value: Option<&str>) -> Result<Option<NameFilter>, ApiError> {
    let Some(v) = value.filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    match v.split_once(':') {
        Some(("like", text)) => Ok(Some(NameFilter::Like(text.to_owned()))),
        Some(("eq", name)) => Ok(Some(NameFilter::Eq(name.to_owned()))),
        _ => Err(ApiError::invalid_request(
            "Invalid filter_tag_name: must start with 'like:' or 'eq:'",
        )),
    }
}

/// Quay's TagView of one lifetime.
fn tag_view(t: &TagRow) -> Value {
    let is_list = [media::DOCKER_LIST, media::OCI_INDEX].contains(&t.media_type.as_str());
    let mut v = json!({
        "name": t.name,
        "reversion": t.reversion,
        "manifest_digest": t.manifest_digest,
        "is_manifest_list": is_list,
        "size": t.size,
        "immutable": t.immutable,
    });
    if t.lifetime_start_ms > 0 {
        v["start_ts"] = json!(t.lifetime_start_ms / 1000);
        v["last_modified"] = json!(format_date(t.lifetime_start_ms));
    }
    if let Some(end) = t.lifetime_end_ms.filter(|e| *e > 0) {
        v["end_ts"] = json!(end / 1000);
        v["expiration"] = json!(format_date(end));
    }
    v
}

async fn list_tags(
    state: web::Data<AppState>,
    caller: ApiCaller,
    repo: web::Path<String>,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, ApiError> {
    let repo = access(&state, &caller, &repo, Role::Read).await?.repo;
    let listing = TagListing {
        specific: params.specific_tag.clone().filter(|s| !s.is_empty()),
        filter: name_filter(params.filter_tag_name.as_deref())?,
        only_active: truthy(params.only_active_tags.as_deref()),
        page: int_param(params.page.as_deref(), "page", 1)?,
        limit: int_param(params.limit.as_deref(), "limit", 50)?,
    };
    let page = state.registry.tag_history(&repo, listing).await?;
    let tags: Vec<Value> = page.tags.iter().map(tag_view).collect();
    Ok(HttpResponse::Ok().json(json!({"tags": tags, "page": page.page, "has_additional": page.has_additional})))
}

/// The expiration a PUT asks for: `Some(None)` clears it; a time not in
/// the future is refused.
fn requested_expiration(body: &Value) -> Result<Option<Option<i64>>, ApiError> {
    let Some(value) = body.get("expiration") else {
        return Ok(None);
    };
    if value.is_null() {
        return Ok(Some(None));
    }
    let seconds = value
        .as_f64()
        .ok_or_else(|| ApiError::invalid_request("expiration must be a Unix timestamp or null"))?;
    // Whole seconds, as Quay's datetime conversion keeps them.
    let at_ms = (seconds.trunc() * 1000.0) as i64;
    if at_ms <= crate::now_ms() {
        return Err(ApiError::invalid_request("Expiration must be in the future"));
    }
    Ok(Some(Some(at_ms)))
}

/// Whether a PUT body asks for a change: an object with `expiration`
/// (a time, or null to clear it), a `manifest_digest` to point the tag at
/// or `immutable`. Anything else would answer "Updated" for a change not made.
fn changes_something(body: &Value) -> bool {
    body.as_object().is_some_and(|o| {
        o.contains_key("expiration")
            || o.contains_key("immutable")
            || o.get("manifest_digest").is_some_and(|d| !d.is_null())
    })
}

/// The immutability a PUT asks for. Setting it needs write access (checked
/// already), clearing it admin access, as in Quay; it needs
/// `FEATURE_IMMUTABLE_TAGS`.
fn requested_immutability(
    state: &AppState,
    caller: &ApiCaller,
    role: Role,
    body: &Value,
) -> Result<Option<bool>, ApiError> {
    let Some(value) = body.get("immutable") else {
        return Ok(None);
    };
    let immutable = value
        .as_bool()
        .ok_or_else(|| ApiError::invalid_request("immutable must be a boolean"))?;
    if !state.registry.settings().tags.immutable_tags {
        return Err(ApiError::invalid_request(
            "Tag immutability is not enabled (FEATURE_IMMUTABLE_TAGS)",
        ));
    }
    if !immutable && role < Role::Admin {
        return Err(ApiError::unauthorized(caller.user.is_none()));
    }
    Ok(Some(immutable))
}

/// The manifest a PUT points the tag at, if any.
fn requested_digest(body: &Value) -> Result<Option<&str>, ApiError> {
    body.get("manifest_digest")
        .filter(|d| !d.is_null())
        .map(|d| {
            d.as_str()
                .ok_or_else(|| ApiError::invalid_request("manifest_digest must be a string"))
        })
        .transpose()
}

async fn change_immutability(
    state: &AppState,
    caller: &ApiCaller,
    req: &HttpRequest,
    (repo, tag): (&RepositoryView, &Tag),
    immutable: bool,
) -> Result<(), ApiError> {
    let previous = state.registry.set_tag_immutable(repo, tag, immutable).await?;
    if previous != immutable {
        let username = caller.user.as_ref().map(|u| u.username.clone());
        let metadata = json!({"username": username, "tag": tag.to_string(), "immutable": immutable});
        let entry = repo_action("change_tag_immutability", caller, req, repo, metadata);
        state.registry.log_action(entry);
    }
    Ok(())
}

async fn put_tag(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<TagPath>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let tag = path.tag()?;
    let access = access(&state, &caller, &path.repo, Role::Write).await?;
    let repo = access.repo;
    require_normal_state(&repo)?;
    if !changes_something(&body) {
        return Err(ApiError::invalid_request(
            "the request body must be a JSON object with manifest_digest, expiration or immutable",
        ));
    }
    // Every part is checked before any change is made.
    let immutability = requested_immutability(&state, &caller, access.role, &body)?;
    let expiration = requested_expiration(&body)?;
    let digest = requested_digest(&body)?;
    // Unlocking comes before the other changes, locking after them.
    if immutability == Some(false) {
        change_immutability(&state, &caller, &req, (&repo, &tag), false).await?;
    }
    let username = caller.user.as_ref().map(|u| u.username.clone());
    if let Some(expiration) = expiration {
        state.registry.change_tag_expiration(&repo, &tag, expiration).await?;
        let metadata = json!({
            "username": username,
            "tag": tag.to_string(),
            "expiration_date": expiration.map(format_date),
        });
        let entry = repo_action("change_tag_expiration", &caller, &req, &repo, metadata);
        state.registry.log_action(entry);
    }
    if let Some(digest) = digest {
        let moved = state.registry.retarget_tag(&repo, &tag, digest, false).await?;
        let kind = if moved { "move_tag" } else { "create_tag" };
        let metadata = json!({"username": username, "tag": tag.to_string(), "manifest_digest": digest});
        state
            .registry
            .log_action(repo_action(kind, &caller, &req, &repo, metadata));
    }
    if immutability == Some(true) {
        change_immutability(&state, &caller, &req, (&repo, &tag), true).await?;
    }
    Ok(HttpResponse::Created().json("Updated"))
}

async fn delete_tag(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<TagPath>,
) -> Result<HttpResponse, ApiError> {
    let tag = path.tag()?;
    let repo = access(&state, &caller, &path.repo, Role::Write).await?.repo;
    require_normal_state(&repo)?;
    state.registry.delete_tag(&repo, &tag).await?;
    let username = caller.user.as_ref().map(|u| u.username.clone());
    let metadata = json!({"username": username, "tag": tag.to_string()});
    state
        .registry
        .log_action(repo_action("delete_tag", &caller, &req, &repo, metadata));
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, schemars::JsonSchema)]
struct RestoreBody {
    manifest_digest: String,
}

async fn restore_tag(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<TagPath>,
    body: web::Json<RestoreBody>,
) -> Result<HttpResponse, ApiError> {
    let tag = path.tag()?;
    let repo = access(&state, &caller, &path.repo, Role::Write).await?.repo;
    require_normal_state(&repo)?;
    state
        .registry
        .retarget_tag(&repo, &tag, &body.manifest_digest, true)
        .await?;
    let username = caller.user.as_ref().map(|u| u.username.clone());
    let metadata = json!({"username": username, "tag": tag.to_string(), "manifest_digest": body.manifest_digest});
    state
        .registry
        .log_action(repo_action("revert_tag", &caller, &req, &repo, metadata));
    Ok(HttpResponse::Ok().json(json!({})))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct ExpireBody {
    manifest_digest: Option<String>,
    is_alive: Option<bool>,
}

async fn expire_tag(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<TagPath>,
    body: Option<web::Json<ExpireBody>>,
) -> Result<HttpResponse, ApiError> {
    if !state.registry.settings().tags.permanently_delete {
        return Err(ApiError::not_found("Not Found"));
    }
    let tag = path.tag()?;
    let repo = access(&state, &caller, &path.repo, Role::Write).await?.repo;
    let (manifest_digest, is_alive) = body.map_or((None, None), |b| (b.0.manifest_digest, b.0.is_alive));
    let request = ExpireTag {
        manifest_digest,
        is_alive: is_alive.unwrap_or(true),
    };
    state.registry.expire_tag(&repo, &tag, request).await?;
    Ok(HttpResponse::Ok().json(json!({})))
}
