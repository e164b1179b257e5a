//! `/api/v1/repository/{repo}/manifest/{digest}`: one manifest with its
//! layers (quay-api.md §1.9). Needs read on the repository.

use super::doc::{self, Mount};
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::shared::access;
use super::views::format_date;
use super::{ApiCaller, ApiError};
use crate::service::manifest_view::LayerView;
use crate::service::Role;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.mount(doc::resource("/repository/{repo:.+}/manifest/{digest}").route(doc::get().to(get_manifest)));
}

#[derive(Deserialize)]
struct ManifestPath {
    repo: String,
    digest: String,
}

/// An RFC 3339 time from an image config as Quay's RFC 2822 date.
fn rfc2822(created: &str) -> Option<String> {
    chrono::DateTime::parse_from_rfc3339(created)
        .ok()
        .map(|d| format_date(d.timestamp_millis()))
}

fn layer_view(l: &LayerView) -> Value {
    json!({
        "index": l.index,
        "compressed_size": l.compressed_size,
        "is_remote": !l.urls.is_empty(),
        "urls": if l.urls.is_empty() { Value::Null } else { json!(l.urls) },
        "command": l.command,
        "comment": l.comment,
        "author": l.author,
        "blob_digest": l.blob_digest,
        "created_datetime": l.created.as_deref().and_then(rfc2822),
    })
}

async fn get_manifest(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<ManifestPath>,
) -> Result<HttpResponse, ApiError> {
    let repo = access(&state, &caller, &path.repo, Role::Read).await?.repo;
    let m = state.registry.manifest_view(&repo, &path.digest).await?;
    let layers = m
        .layers
        .as_ref()
        .map(|ls| ls.iter().map(layer_view).collect::<Vec<_>>());
    Ok(HttpResponse::Ok().json(json!({
        "digest": m.digest,
        "is_manifest_list": m.is_manifest_list,
        "manifest_data": String::from_utf8_lossy(&m.bytes),
        "config_media_type": m.config_media_type,
        "layers_compressed_size": m.layers_compressed_size,
        "layers": layers,
    })))
}
