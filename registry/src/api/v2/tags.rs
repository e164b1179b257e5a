//! Tag list, catalog and referrers.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::{authorized, parse_digest, OciError};
use crate::api::auth::{Action, Caller};
use crate::oci::media;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct PageQuery {
    n: Option<String>,
    last: Option<String>,
}

/// The page size asked for, at most `max`; 100 when absent. A negative or
/// non-numeric `n` is refused rather than read as an empty page.
fn page_size(n: Option<&str>, max: usize) -> Result<usize, OciError> {
    match n {
        None | Some("") => Ok(100.min(max)),
        Some(s) => s
            .parse::<u64>()
            .map(|v| usize::try_from(v).unwrap_or(usize::MAX).min(max))
            .map_err(|_| {
                OciError::new(
                    400,
                    "PAGINATION_NUMBER_INVALID",
                    "invalid number of results requested: n must be a whole number, 0 or more",
                )
            }),
    }
}

fn next_link(path: &str, n: usize, last: &str) -> String {
    let last: String = url::form_urlencoded::byte_serialize(last.as_bytes()).collect();
    format!("<{path}?n={n}&last={last}>; rel=\"next\"")
}

pub async fn list_tags(
    path: web::Path<String>,
    query: web::Query<PageQuery>,
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, OciError> {
    let repo = authorized(&state, &caller, &path, Action::Pull).await?;
    let n = page_size(query.n.as_deref(), state.max_page)?;
    let page = state.registry.list_tags(&repo, n, query.last.clone()).await?;
    let mut res = HttpResponse::Ok();
    if page.more {
        if let Some(last) = page.items.last() {
            res.insert_header(("Link", next_link(&format!("/v2/{repo}/tags/list"), n, last)));
        }
    }
    Ok(res.json(json!({"name": repo.to_string(), "tags": page.items})))
}

pub async fn catalog(
    query: web::Query<PageQuery>,
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, OciError> {
    let n = page_size(query.n.as_deref(), state.max_page)?;
    let last = query.last.clone().filter(|l| !l.is_empty());
    let Some(account) = caller.account(&state.registry).await? else {
        return Ok(HttpResponse::Ok().json(json!({"repositories": []})));
    };
    let page = state.registry.catalog(&account, n, last).await?;
    let mut res = HttpResponse::Ok();
    if page.more {
        if let Some(last) = page.items.last() {
            res.insert_header(("Link", next_link("/v2/_catalog", n, last)));
        }
    }
    Ok(res.json(json!({"repositories": page.items})))
}

#[derive(Deserialize)]
pub struct ReferrersQuery {
    #[serde(rename = "artifactType")]
    artifact_type: Option<String>,
}

pub async fn referrers(
    path: web::Path<(String, String)>,
    query: web::Query<ReferrersQuery>,
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, OciError> {
    let (name, digest) = path.into_inner();
    let repo = authorized(&state, &caller, &name, Action::Pull).await?;
    let subject = parse_digest(&digest)?;
    let filter = query.artifact_type.as_deref().filter(|a| !a.is_empty());
    let manifests = state.registry.referrers(&repo, &subject, filter).await?;
    let mut res = HttpResponse::Ok();
    res.content_type(media::OCI_INDEX);
    if filter.is_some() {
        res.insert_header(("OCI-Filters-Applied", "artifactType"));
    }
    Ok(res.body(json!({"schemaVersion": 2, "mediaType": media::OCI_INDEX, "manifests": manifests}).to_string()))
}
