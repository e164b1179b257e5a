use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde_json::json;

use super::{authorized, OciError};
use crate::api::auth::{Action, Caller};
use crate::oci::{Digest, Reference, RepoName, Tag};
use crate::service::logs::LogEntry;
use crate::state::AppState;

/// Largest manifest accepted, as in Distribution.
const MAX_MANIFEST_BYTES: usize = 4 << 20;

fn reference(s: &str) -> Result<Reference, OciError> {
    if s.contains(':') {
        Ok(Reference::Digest(s.parse::<Digest>()?))
    } else {
        Ok(Reference::Tag(s.parse::<Tag>()?))
    }
}

/// The reference of a read or delete: a name that cannot be a tag names no
/// manifest (404, as Distribution and Quay answer), while a malformed
/// digest stays a 400.
fn existing_reference(s: &str) -> Result<Reference, OciError> {
    if s.contains(':') {
        return reference(s);
    }
    s.parse::<Tag>()
        .map(Reference::Tag)
        .map_err(|_| OciError::new(404, "MANIFEST_UNKNOWN", "manifest unknown"))
}

/// Serves a manifest; a GET (not a HEAD) is logged as `pull_repo`, as in Quay.
pub async fn get_manifest(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, OciError> {
    let (name, r) = path.into_inner();
    let repo = authorized(&state, &caller, &name, Action::Pull).await?;
    let reference = existing_reference(&r)?;
    let (m, cached) = match state.registry.proxy_cache_of(&repo).await? {
        None => (state.registry.get_manifest(&repo, &reference).await?, None),
        Some(cache) => {
            let puller = caller.account(&state.registry).await?;
            let pulled = state
                .registry
                .pull_through_manifest(&cache, &repo, &reference, puller.as_ref())
                .await?;
            let metadata = json!({"upstream_registry": cache.upstream(), "cache": pulled.outcome.as_str()});
            (pulled.manifest, Some(metadata))
        }
    };
    if req.method() == actix_web::http::Method::GET {
        state.registry.record_pull(&repo, &reference, &m.digest);
    }
    if req.method() == actix_web::http::Method::GET && state.registry.settings().log_pulls {
        let mut entry = registry_action("pull_repo", &req, &caller, &repo, &reference);
        if let Some(metadata) = cached {
            entry.metadata["proxy_cache"] = metadata;
        }
        state.registry.log_action(entry);
    }
    Ok(HttpResponse::Ok()
        .content_type(m.media_type)
        .insert_header(("Docker-Content-Digest", m.digest))
        .body(m.bytes))
}

pub async fn head_manifest(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, OciError> {
    get_manifest(req, path, state, caller).await
}

/// A `pull_repo`/`push_repo` entry with Quay's metadata; ids are resolved
/// by the log writer so the request reads nothing more.
fn registry_action(kind: &'static str, req: &HttpRequest, caller: &Caller, repo: &RepoName, r: &Reference) -> LogEntry {
    let mut metadata = json!({
        "repo": repo.name(),
        "namespace": repo.namespace(),
        "user-agent": crate::api::user_agent(req),
    });
    match r {
        Reference::Tag(t) => metadata["tag"] = json!(t.to_string()),
        Reference::Digest(d) => metadata["manifest_digest"] = json!(d.to_string()),
    }
    let (id, name) = caller.performer();
    if id.is_none() && name.is_none() {
        metadata["public"] = json!(true);
    }
    let mut entry = LogEntry::new(kind, None, crate::api::client_ip(req))
        .performer_named(name.as_deref())
        .repository_named(repo)
        .metadata(metadata);
    entry.performer_id = id;
    entry
}

pub async fn put_manifest(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    mut payload: web::Payload,
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, OciError> {
    let (name, r) = path.into_inner();
    let repo = authorized(&state, &caller, &name, Action::Push).await?;
    let reference = reference(&r)?;
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| OciError::new(400, "MANIFEST_INVALID", format!("reading manifest: {e}")))?;
        if body.len() + chunk.len() > MAX_MANIFEST_BYTES {
            return Err(OciError::new(413, "SIZE_INVALID", "manifest is larger than 4 MiB"));
        }
        body.extend_from_slice(&chunk);
    }
    let content_type = req.headers().get("Content-Type").and_then(|v| v.to_str().ok());
    let pushed = state
        .registry
        .put_manifest(&repo, &reference, content_type, body)
        .await?;
    state
        .registry
        .log_action(registry_action("push_repo", &req, &caller, &repo, &reference));
    let digest = pushed.digest.to_string();
    let mut res = HttpResponse::Created();
    res.insert_header(("Location", format!("/v2/{repo}/manifests/{digest}")))
        .insert_header(("Docker-Content-Digest", digest));
    if let Some(subject) = pushed.subject {
        res.insert_header(("OCI-Subject", subject.to_string()));
    }
    Ok(res.finish())
}

/// Deletes by tag or digest; each tag that ends is logged as `delete_tag`
/// (with the digest when deleted by digest), as in Quay.
pub async fn delete_manifest(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, OciError> {
    let (name, r) = path.into_inner();
    let repo = authorized(&state, &caller, &name, Action::Push).await?;
    let reference = existing_reference(&r)?;
    let ended = state.registry.delete_manifest(&repo, &reference).await?;
    for tag in ended {
        let mut entry = registry_action("delete_tag", &req, &caller, &repo, &reference);
        entry.metadata["tag"] = json!(tag);
        if let Reference::Digest(d) = &reference {
            entry.metadata["digest"] = json!(d.to_string());
        }
        state.registry.log_action(entry);
    }
    Ok(HttpResponse::Accepted().finish())
}
