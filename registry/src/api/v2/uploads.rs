use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::error::upload_range;
use super::{authorized, authorized_with_source, parse_digest, repo_name, OciError};
use crate::api::auth::{Action, Caller, Refusal};
use crate::api::body::body_stream;
use crate::oci::RepoName;
use crate::service::{MountOutcome, UploadStatus};
use crate::state::AppState;

#[derive(Deserialize)]
pub struct StartQuery {
    digest: Option<String>,
    mount: Option<String>,
    from: Option<String>,
}

#[derive(Deserialize)]
pub struct FinishQuery {
    digest: Option<String>,
}

fn session(repo: &RepoName, status: &UploadStatus, code: u16) -> HttpResponse {
    let mut res = HttpResponse::build(
        actix_web::http::StatusCode::from_u16(code).unwrap_or(actix_web::http::StatusCode::ACCEPTED),
    );
    res.insert_header(("Location", format!("/v2/{repo}/blobs/uploads/{}", status.uuid)))
        .insert_header(("Range", upload_range(status.offset)))
        .insert_header(("Docker-Upload-UUID", status.uuid.as_str()))
        .finish()
}

fn created(repo: &RepoName, digest: &str) -> HttpResponse {
    HttpResponse::Created()
        .insert_header(("Location", format!("/v2/{repo}/blobs/{digest}")))
        .insert_header(("Docker-Content-Digest", digest))
        .finish()
}

/// Whether the request carries a body (a final chunk on PUT).
fn has_body(req: &HttpRequest) -> bool {
    let headers = req.headers();
    let chunked = headers
        .get("Transfer-Encoding")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("chunked"));
    let length = headers
        .get("Content-Length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    chunked || length > 0
}

/// `POST …/blobs/uploads/`: a new session, a monolithic upload (`?digest=`)
/// or a cross-repository mount (`?mount=&from=`).
pub async fn start_upload(
    path: web::Path<String>,
    query: web::Query<StartQuery>,
    payload: web::Payload,
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, OciError> {
    let q = query.into_inner();
    // A bad source name means no mount, not a refused upload.
    let source = q.mount.as_ref().and(q.from.as_deref()).and_then(|f| repo_name(f).ok());
    let repo = authorized_with_source(&state, &caller, &path, Action::Push, source.as_ref()).await?;
    if let Some(mount) = q.mount {
        let digest = parse_digest(&mount)?;
        let mut from = None;
        if let Some(source) = source {
            // A source the caller cannot read means no mount; rights that
            // could not be checked are the failure they are.
            match state.auth.authorize(&caller, &source, Action::Pull).await {
                Ok(()) => from = Some(source),
                Err(Refusal::Failed(e)) => return Err(e.into()),
                Err(_) => {}
            }
        }
        return Ok(match state.registry.mount_blob(&repo, &digest, from.as_ref()).await? {
            MountOutcome::Mounted => created(&repo, &digest.to_string()),
            MountOutcome::Started(status) => session(&repo, &status, 202),
        });
    }
    if let Some(d) = q.digest {
        let digest = parse_digest(&d)?;
        let (pump, body) = body_stream(payload, u64::MAX);
        let (_, result) = futures_util::join!(pump, state.registry.put_blob(&repo, &digest, body));
        result?;
        return Ok(created(&repo, &digest.to_string()));
    }
    let status = state.registry.start_upload(&repo).await?;
    Ok(session(&repo, &status, 202))
}

pub async fn get_upload(
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, OciError> {
    let (name, uuid) = path.into_inner();
    let repo = authorized(&state, &caller, &name, Action::Push).await?;
    let status = state.registry.upload_status(&repo, &uuid).await?;
    Ok(session(&repo, &status, 204))
}

/// Parses `Content-Range: <start>-<end>` (also with a `bytes ` prefix).
fn content_range(req: &HttpRequest) -> Result<Option<(u64, u64)>, OciError> {
    let Some(value) = req.headers().get("Content-Range") else {
        return Ok(None);
    };
    let bad = || OciError::new(416, "BLOB_UPLOAD_INVALID", "malformed Content-Range");
    let text = value.to_str().map_err(|_| bad())?.trim();
    let text = text
        .strip_prefix("bytes")
        .map(|t| t.trim_start_matches([' ', '=']))
        .unwrap_or(text);
    let text = text.split('/').next().unwrap_or(text);
    let (a, b) = text.split_once('-').ok_or_else(bad)?;
    let (start, end) = (
        a.trim().parse::<u64>().map_err(|_| bad())?,
        b.trim().parse::<u64>().map_err(|_| bad())?,
    );
    if end < start {
        return Err(bad());
    }
    Ok(Some((start, end)))
}

/// `PATCH …/uploads/{uuid}`: appends a chunk (streamed, or with `Content-Range`).
pub async fn patch_upload(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, OciError> {
    let (name, uuid) = path.into_inner();
    let repo = authorized(&state, &caller, &name, Action::Push).await?;
    let with_location = |e: OciError| {
        e.header("Location", format!("/v2/{repo}/blobs/uploads/{uuid}"))
            .header("Docker-Upload-UUID", uuid.clone())
    };
    let range = content_range(&req).map_err(with_location)?;
    let (pump, body) = body_stream(payload, u64::MAX);
    let (_, result) = futures_util::join!(pump, state.registry.append_upload(&repo, &uuid, range, body));
    let status = result.map_err(|e| with_location(e.into()))?;
    Ok(session(&repo, &status, 202))
}

/// `PUT …/uploads/{uuid}?digest=`: the optional last chunk, then commit.
pub async fn put_upload(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    query: web::Query<FinishQuery>,
    payload: web::Payload,
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, OciError> {
    let (name, uuid) = path.into_inner();
    let repo = authorized(&state, &caller, &name, Action::Push).await?;
    let d = query.into_inner().digest.ok_or_else(|| {
        OciError::new(
            400,
            "BLOB_UPLOAD_INVALID",
            "digest parameter is required to complete an upload",
        )
    })?;
    let digest = parse_digest(&d)?;
    let with_location = |e: OciError| {
        e.header("Location", format!("/v2/{repo}/blobs/uploads/{uuid}"))
            .header("Docker-Upload-UUID", uuid.clone())
    };
    let range = content_range(&req).map_err(with_location)?;
    let result = if has_body(&req) {
        let (pump, body) = body_stream(payload, u64::MAX);
        let finishing = state.registry.finish_upload(&repo, &uuid, &digest, range, Some(body));
        futures_util::join!(pump, finishing).1
    } else {
        state.registry.finish_upload(&repo, &uuid, &digest, range, None).await
    };
    result.map_err(|e| with_location(e.into()))?;
    Ok(created(&repo, &digest.to_string()))
}

pub async fn delete_upload(
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, OciError> {
    let (name, uuid) = path.into_inner();
    let repo = authorized(&state, &caller, &name, Action::Push).await?;
    state.registry.cancel_upload(&repo, &uuid).await?;
    Ok(HttpResponse::NoContent().finish())
}
