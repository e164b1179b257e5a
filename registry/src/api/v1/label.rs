//! `/api/v1/repository/{repo}/manifest/{digest}/labels` (quay-api.md §1.9).
//! Reading needs read on the repository, adding and deleting write.

use super::doc::{self, Mount};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::shared::{access, repo_action, require_normal_state};
use super::{ApiCaller, ApiError};
use crate::service::{LabelRow, NewLabel, Role};
use crate::state::AppState;

const BASE: &str = "/repository/{repo:.+}/manifest/{digest}/labels";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.mount(
        doc::resource(BASE)
            .route(doc::get().to(list_labels))
            .route(doc::post().to(add_label)),
    )
    .mount(
        doc::resource(format!("{BASE}/{{labelid}}"))
            .route(doc::get().to(get_label))
            .route(doc::delete().to(delete_label)),
    );
}

#[derive(Deserialize)]
struct ManifestPath {
    repo: String,
    digest: String,
}

#[derive(Deserialize)]
struct LabelPath {
    repo: String,
    digest: String,
    labelid: String,
}

#[derive(Deserialize, schemars::JsonSchema)]
struct ListParams {
    filter: Option<String>,
}

#[derive(Deserialize, schemars::JsonSchema)]
struct LabelBody {
    key: String,
    value: String,
    media_type: Option<String>,
}

fn label_view(l: &LabelRow) -> Value {
    json!({
        "id": l.uuid,
        "key": l.key,
        "value": l.value,
        "source_type": l.source_type,
        "media_type": l.media_type,
    })
}

async fn list_labels(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<ManifestPath>,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, ApiError> {
    let repo = access(&state, &caller, &path.repo, Role::Read).await?.repo;
    let prefix = params.filter.as_deref().filter(|f| !f.is_empty());
    let labels = state.registry.manifest_labels(&repo, &path.digest, prefix).await?;
    let labels: Vec<Value> = labels.iter().map(label_view).collect();
    Ok(HttpResponse::Ok().json(json!({ "labels": labels })))
}

/// Logs `kind` about the label with Quay's metadata.
fn log_label(
    state: &AppState,
    (caller, req): (&ApiCaller, &HttpRequest),
    kind: &'static str,
    repo: &crate::service::repositories::RepositoryView,
    digest: &str,
    l: &LabelRow,
) {
    let metadata = json!({"id": l.uuid, "key": l.key, "value": l.value, "manifest_digest": digest});
    state
        .registry
        .log_action(repo_action(kind, caller, req, repo, metadata));
}

async fn add_label(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<ManifestPath>,
    body: web::Json<LabelBody>,
) -> Result<HttpResponse, ApiError> {
    let repo = access(&state, &caller, &path.repo, Role::Write).await?.repo;
    require_normal_state(&repo)?;
    let body = body.into_inner();
    let new = NewLabel {
        key: body.key,
        value: body.value,
        media_type: body.media_type,
    };
    let label = state.registry.add_manifest_label(&repo, &path.digest, new).await?;
    log_label(
        &state,
        (&caller, &req),
        "manifest_label_add",
        &repo,
        &path.digest,
        &label,
    );
    let location = format!(
        "/api/v1/repository/{}/manifest/{}/labels/{}",
        path.repo, path.digest, label.uuid
    );
    Ok(HttpResponse::Created()
        .insert_header(("Location", location))
        .json(json!({ "label": label_view(&label) })))
}

async fn get_label(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<LabelPath>,
) -> Result<HttpResponse, ApiError> {
    let repo = access(&state, &caller, &path.repo, Role::Read).await?.repo;
    let label = state
        .registry
        .manifest_label(&repo, &path.digest, &path.labelid)
        .await?;
    Ok(HttpResponse::Ok().json(label_view(&label)))
}

async fn delete_label(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<LabelPath>,
) -> Result<HttpResponse, ApiError> {
    let repo = access(&state, &caller, &path.repo, Role::Write).await?.repo;
    require_normal_state(&repo)?;
    let label = state
        .registry
        .delete_manifest_label(&repo, &path.digest, &path.labelid)
        .await?;
    log_label(
        &state,
        (&caller, &req),
        "manifest_label_delete",
        &repo,
        &path.digest,
        &label,
    );
    Ok(HttpResponse::NoContent().finish())
}
