use actix_web::body::SizedStream;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::stream;

use super::{authorized, parse_digest, OciError};
use crate::api::auth::{Action, Caller};
use crate::service::{BlobRange, Error};
use crate::state::AppState;

/// Parses `Range: bytes=a-b` / `bytes=a-` / `bytes=-n`; anything else is
/// ignored and the whole blob is served, as HTTP allows.
fn parse_range(req: &HttpRequest) -> Option<BlobRange> {
    let spec = req
        .headers()
        .get("Range")?
        .to_str()
        .ok()?
        .trim()
        .strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    match (a.trim(), b.trim()) {
        ("", n) => n.parse().ok().map(BlobRange::Suffix),
        (s, "") => Some(BlobRange::From {
            start: s.parse().ok()?,
            end: None,
        }),
        (s, e) => Some(BlobRange::From {
            start: s.parse().ok()?,
            end: Some(e.parse().ok()?),
        }),
    }
}

pub async fn get_blob(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, OciError> {
    let (name, digest) = path.into_inner();
    let repo = authorized(&state, &caller, &name, Action::Pull).await?;
    let digest = parse_digest(&digest)?;
    let blob = match state.registry.open_blob(&repo, &digest, parse_range(&req)).await {
        // Only a miss asks whether the repository is a proxy cache's.
        Err(Error::BlobUnknown) => state.registry.pull_through_blob(&repo, &digest).await?,
        other => other?,
    };
    let mut res = match &blob.range {
        Some(r) => {
            let mut res = HttpResponse::PartialContent();
            res.insert_header((
                "Content-Range",
                format!("bytes {}-{}/{}", r.start, r.end - 1, blob.size),
            ));
            res
        }
        None => HttpResponse::Ok(),
    };
    let len = blob.range.as_ref().map_or(blob.size, |r| r.end - r.start);
    Ok(res
        .content_type("application/octet-stream")
        .insert_header(("Docker-Content-Digest", digest.to_string()))
        .insert_header(("Accept-Ranges", "bytes"))
        .body(SizedStream::new(len, blob.body)))
}

pub async fn head_blob(
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, OciError> {
    let (name, digest) = path.into_inner();
    let repo = authorized(&state, &caller, &name, Action::Pull).await?;
    let digest = parse_digest(&digest)?;
    let size = state.registry.stat_blob(&repo, &digest).await?;
    let empty = stream::empty::<Result<bytes::Bytes, std::io::Error>>();
    Ok(HttpResponse::Ok()
        .content_type("application/octet-stream")
        .insert_header(("Docker-Content-Digest", digest.to_string()))
        .insert_header(("Accept-Ranges", "bytes"))
        .body(SizedStream::new(size, empty)))
}

/// Blobs are removed only by garbage collection, as in Quay.
pub async fn delete_blob(
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, OciError> {
    let (name, digest) = path.into_inner();
    authorized(&state, &caller, &name, Action::Push).await?;
    parse_digest(&digest)?;
    Err(OciError::unsupported(
        "blob deletion is not supported; unreferenced blobs are garbage collected",
    ))
}
