//! `/api/v1/repository/{repo}/build/…`, `/api/v1/filedrop/` and the
//! `/userfiles/{file_id}` upload (quay-api.md §1.14). The routes exist only
//! with `FEATURE_BUILD_SUPPORT`; otherwise they answer as unknown paths do.
//!
//! Listing and viewing builds needs read permission, requesting one write,
//! its logs write (or read with `FEATURE_READER_BUILD_LOGS`; see
//! [`super::build_logs`]), cancelling admin.

use super::doc::{self, Mount};
use actix_web::guard::{self};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::ErrorType;
use super::shared::{access, builds_enabled, int_param, link_base, repo_action, require_normal, BuildPath};
use super::views::build_view;
use super::{ApiCaller, ApiError};
use crate::api::body::{body_stream, BodyEnd};
use crate::service::builds::{Build, BuildInput, MAX_USERFILE_BYTES};
use crate::service::repositories::RepositoryAccess;
use crate::service::Role;
use crate::state::AppState;

const BASE: &str = "/repository/{repo:.+}/build";

/// Builds listed when the client names no `limit`.
const DEFAULT_LIMIT: i64 = 5;

pub fn configure(cfg: &mut web::ServiceConfig) {
    let on = || builds_enabled;
    cfg.mount(
        doc::resource(format!("{BASE}/{{uuid}}/status"))
            .guard(on())
            .route(doc::get().to(get_build)),
    )
    .mount(
        doc::resource(format!("{BASE}/{{uuid}}/logs"))
            .guard(on())
            .route(doc::get().to(super::build_logs::get_build_logs)),
    )
    .mount(
        doc::resource([format!("{BASE}/"), BASE.to_owned()])
            .guard(on())
            .route(doc::get().to(list_builds))
            .route(doc::post().to(request_build)),
    )
    .mount(
        doc::resource(format!("{BASE}/{{uuid}}"))
            .guard(on())
            .route(doc::get().to(get_build))
            .route(doc::delete().to(cancel_build)),
    )
    .mount(
        doc::resource(["/filedrop/", "/filedrop"])
            .guard(on())
            .route(doc::post().internal().to(create_filedrop)),
    );
}

/// Routes outside `/api/v1`: where a dropped file's bytes are uploaded and
/// read back (the `archive_url` of a build from a file).
pub fn configure_root(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/userfiles/{file_id}")
            .guard(guard::fn_guard(builds_enabled))
            .route(web::get().to(download_userfile))
            .route(web::put().to(upload_userfile)),
    )
    .service(
        web::resource("/buildlogs/{uuid}")
            .guard(guard::fn_guard(builds_enabled))
            .route(web::get().to(super::build_logs::download_build_logs)),
    );
}

#[derive(Deserialize)]
struct RepoPath {
    repo: String,
}

#[derive(Deserialize, schemars::JsonSchema)]
struct BuildBody {
    file_id: Option<String>,
    archive_url: Option<String>,
    subdirectory: Option<String>,
    dockerfile_path: Option<String>,
    context: Option<String>,
    pull_robot: Option<String>,
    docker_tags: Option<Vec<String>>,
}

async fn request_build(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<RepoPath>,
    body: web::Json<BuildBody>,
) -> Result<HttpResponse, ApiError> {
    let acc = access(&state, &caller, &path.repo, Role::Write).await?;
    require_normal(&acc.repo)?;
    let user = caller.user.as_ref().ok_or_else(|| ApiError::unauthorized(true))?;
    let b = body.into_inner();
    let input = BuildInput {
        file_id: b.file_id,
        archive_url: b.archive_url,
        subdirectory: b.subdirectory,
        dockerfile_path: b.dockerfile_path,
        context: b.context,
        pull_robot: b.pull_robot,
        docker_tags: b.docker_tags,
    };
    let build = state.registry.request_build(&acc.repo, user, input).await?;
    let mut metadata = json!({
        "build_id": build.uuid,
        "docker_tags": build.job.docker_tags,
        "is_manual": true,
        "manual_user": user.username,
    });
    match (&build.resource_key, &build.job.archive_url) {
        (Some(file), _) => metadata["fileid"] = json!(file),
        (None, Some(url)) => metadata["archive_url"] = json!(url),
        (None, None) => {}
    }
    state
        .registry
        .log_action(repo_action("build_dockerfile", &caller, &req, &acc.repo, metadata));
    let location = format!(
        "/api/v1/repository/{}/{}/build/{}/status",
        acc.repo.namespace, acc.repo.name, build.uuid
    );
    Ok(HttpResponse::Created()
        .insert_header(("Location", location))
        .json(build_view(&state, &req, &acc, &build)))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct ListQuery {
    limit: Option<String>,
    since: Option<String>,
}

async fn list_builds(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<RepoPath>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let acc = access(&state, &caller, &path.repo, Role::Read).await?;
    let limit = int_param("limit", query.limit.as_deref())?.unwrap_or(DEFAULT_LIMIT);
    let since_ms = int_param("since", query.since.as_deref())?.map(|s| s.saturating_mul(1000));
    let builds = state.registry.list_builds(&acc.repo, limit, since_ms).await?;
    let views: Vec<Value> = builds.iter().map(|b| build_view(&state, &req, &acc, b)).collect();
    Ok(HttpResponse::Ok().json(json!({ "builds": views })))
}

/// `/superuser/{build_uuid}/build`, `…/status` and `…/logs`: any build, for
/// superusers. After the superuser routes, so `/superuser/users/…` stays
/// theirs; build ids are UUIDs.
pub fn configure_superuser(cfg: &mut web::ServiceConfig) {
    const UUID: &str = "{uuid:[0-9a-fA-F-]{36}}";
    cfg.mount(doc::resource(format!("/superuser/{UUID}/build")).route(doc::get().to(su_get_build)))
        .mount(doc::resource(format!("/superuser/{UUID}/status")).route(doc::get().to(su_get_build)))
        .mount(doc::resource(format!("/superuser/{UUID}/logs")).route(doc::get().to(su_build_logs)));
}

/// The build and its repository, for a superuser (who holds every role).
async fn su_build(state: &AppState, caller: &ApiCaller, uuid: &str) -> Result<(RepositoryAccess, Build), ApiError> {
    caller.superuser(state)?;
    let repo = state.registry.build_repository(uuid).await?;
    let build = state.registry.build(&repo, uuid).await?;
    Ok((
        RepositoryAccess {
            repo,
            role: Role::Admin,
        },
        build,
    ))
}

async fn su_get_build(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    uuid: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (acc, build) = su_build(&state, &caller, &uuid).await?;
    Ok(HttpResponse::Ok().json(build_view(&state, &req, &acc, &build)))
}

async fn su_build_logs(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    uuid: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (acc, _) = su_build(&state, &caller, &uuid).await?;
    let page = state.registry.build_logs(&acc.repo, &uuid, 0).await?;
    Ok(HttpResponse::Ok().json(super::build_logs::logs_body(&state, &req, &uuid, &page)))
}

async fn get_build(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<BuildPath>,
) -> Result<HttpResponse, ApiError> {
    let acc = access(&state, &caller, &path.repo, Role::Read).await?;
    let build = state.registry.build(&acc.repo, &path.uuid).await?;
    Ok(HttpResponse::Ok().json(build_view(&state, &req, &acc, &build)))
}

async fn cancel_build(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<BuildPath>,
) -> Result<HttpResponse, ApiError> {
    let acc = access(&state, &caller, &path.repo, Role::Admin).await?;
    require_normal(&acc.repo)?;
    state.registry.cancel_build(&acc.repo, &path.uuid).await?;
    let metadata = json!({ "build_uuid": path.uuid });
    state
        .registry
        .log_action(repo_action("cancel_build", &caller, &req, &acc.repo, metadata));
    Ok(HttpResponse::Created().json("Okay"))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct FileDropBody {
    #[serde(rename = "mimeType")]
    mime_type: String,
}

async fn create_filedrop(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    body: web::Json<FileDropBody>,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user.as_ref().ok_or_else(|| ApiError::unauthorized(true))?;
    let file_id = state.registry.create_userfile(user, &body.mime_type).await?;
    let url = format!("{}/userfiles/{file_id}", link_base(&req, &state));
    Ok(HttpResponse::Ok().json(json!({ "url": url, "file_id": file_id })))
}

fn too_large() -> ApiError {
    ApiError::new(
        413,
        ErrorType::InvalidRequest,
        format!("File is larger than {MAX_USERFILE_BYTES} bytes"),
    )
}

/// `PUT /userfiles/{file_id}`: the one upload of an issued file id; the
/// unguessable id is the credential, as in Quay.
async fn upload_userfile(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let declared = req
        .headers()
        .get("Content-Length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_USERFILE_BYTES) {
        return Err(too_large());
    }
    state.registry.claim_userfile(&path).await?;
    let (pump, body) = body_stream(payload, MAX_USERFILE_BYTES);
    let (end, stored) = futures_util::join!(pump, state.registry.store_userfile(&path, body));
    match end {
        BodyEnd::TooLarge => return Err(too_large()),
        BodyEnd::Failed(e) => return Err(ApiError::invalid_request(format!("Upload failed: {e}"))),
        BodyEnd::Passed => stored?,
    }
    Ok(HttpResponse::Ok().json("Okay"))
}

/// `GET /userfiles/{file_id}`: an uploaded file, as an attachment. Always
/// `application/octet-stream`, so no upload is ever rendered as a page of
/// the registry's origin.
async fn download_userfile(state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let body = state.registry.open_userfile(&path).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/octet-stream")
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("Content-Disposition", format!("attachment; filename=\"{path}\"")))
        .streaming(body))
}
