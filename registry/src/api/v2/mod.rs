//! The OCI distribution API under `/v2`.

mod base;
mod blobs;
pub mod error;
mod manifests;
mod tags;
mod uploads;

use actix_web::middleware::DefaultHeaders;
use actix_web::{web, HttpResponse};

pub use error::OciError;

use crate::api::auth::{Action, Caller, Credential, Refusal};
use crate::oci::{Digest, RepoName};
use crate::service::mirrors::PushState;
use crate::state::AppState;

/// A repository path of any depth; validated by `RepoName`, so a bad name is
/// a 400 NAME_INVALID rather than an unknown endpoint.
const NAME: &str = "{name:.+}";

pub fn configure(cfg: &mut web::ServiceConfig) {
    let scope = web::scope("/v2")
        .wrap(DefaultHeaders::new().add(("Docker-Distribution-API-Version", "registry/2.0")))
        .route("/", web::get().to(ping))
        .route("/", web::head().to(ping))
        .route("", web::get().to(ping))
        .route("/_catalog", web::get().to(tags::catalog))
        .route(&format!("/{NAME}/tags/list"), web::get().to(tags::list_tags))
        .route(&format!("/{NAME}/referrers/{{digest}}"), web::get().to(tags::referrers))
        .service(
            web::resource(format!("/{NAME}/manifests/{{reference}}"))
                .route(web::get().to(manifests::get_manifest))
                .route(web::head().to(manifests::head_manifest))
                .route(web::put().to(manifests::put_manifest))
                .route(web::delete().to(manifests::delete_manifest)),
        )
        .service(
            web::resource([format!("/{NAME}/blobs/uploads/"), format!("/{NAME}/blobs/uploads")])
                .route(web::post().to(uploads::start_upload)),
        )
        .service(
            web::resource(format!("/{NAME}/blobs/uploads/{{uuid}}"))
                .route(web::get().to(uploads::get_upload))
                .route(web::patch().to(uploads::patch_upload))
                .route(web::put().to(uploads::put_upload))
                .route(web::delete().to(uploads::delete_upload)),
        )
        .service(
            web::resource(format!("/{NAME}/blobs/{{digest}}"))
                .route(web::get().to(blobs::get_blob))
                .route(web::head().to(blobs::head_blob))
                .route(web::delete().to(blobs::delete_blob)),
        )
        .default_service(web::to(not_found));
    cfg.service(scope);
}

/// `GET /v2/`: 200 for an authenticated caller, else a challenge that
/// tells clients where to log in.
async fn ping(caller: Caller) -> Result<HttpResponse, OciError> {
    match caller.credential {
        Credential::Anonymous => Err(caller.challenge(None)),
        _ => Ok(base::ping()),
    }
}

async fn not_found() -> Result<HttpResponse, OciError> {
    Err(OciError::new(404, "NAME_UNKNOWN", "no such /v2 endpoint"))
}

/// Parses the repository path of a URL.
fn repo_name(name: &str) -> Result<RepoName, OciError> {
    Ok(name.parse::<RepoName>()?)
}

fn parse_digest(s: &str) -> Result<Digest, OciError> {
    Ok(s.parse::<Digest>()?)
}

/// Parses the name and asks the access policy; the seam every handler uses.
/// A permitted push into a missing repository creates it for the pusher.
async fn authorized(state: &AppState, caller: &Caller, name: &str, action: Action) -> Result<RepoName, OciError> {
    authorized_with_source(state, caller, name, action, None).await
}

/// As [`authorized`]; the 401 challenge also asks for pull access to
/// `source` (the `from` of a cross-repository mount), so that the client
/// gets one token for both repositories and the mount can happen.
async fn authorized_with_source(
    state: &AppState,
    caller: &Caller,
    name: &str,
    action: Action,
    source: Option<&RepoName>,
) -> Result<RepoName, OciError> {
    let repo = repo_name(name)?;
    match state.auth.authorize(caller, &repo, action).await {
        Ok(()) => {}
        Err(Refusal::Unauthenticated) => {
            let actions = match action {
                Action::Pull => "pull",
                Action::Push => "pull,push",
            };
            let mut scope = format!("repository:{repo}:{actions}");
            if let Some(from) = source.filter(|from| **from != repo) {
                scope.push_str(&format!(" repository:{from}:pull"));
            }
            return Err(caller.challenge(Some(scope)));
        }
        Err(refusal) => return Err(refusal.into()),
    }
    if action != Action::Push {
        return Ok(repo);
    }
    // Only callers who could push learn that the organization is a cache.
    state.registry.refuse_proxy_cache_push(repo.namespace()).await?;
    // One look-up gives the repository's state and whether it exists; the
    // pusher's account is only looked up when a repository must be created.
    if !repository_exists_for_push(state, caller, &repo).await? {
        let pusher = caller.account(&state.registry).await?;
        state
            .registry
            .ensure_repository_for_push(&repo, pusher.as_ref())
            .await?;
        // No client address here: the seam does not see the request.
        let metadata = serde_json::json!({"repo": repo.name(), "namespace": repo.namespace()});
        let entry = crate::service::logs::LogEntry::new("create_repo", pusher.as_ref(), None)
            .repository_named(&repo)
            .metadata(metadata);
        state.registry.log_action(entry);
    }
    Ok(repo)
}

/// Quay's refusals of writes by repository state: none into a READ_ONLY
/// repository, and into a MIRROR repository only by its mirror robot.
/// Returns whether the repository exists.
async fn repository_exists_for_push(state: &AppState, caller: &Caller, repo: &RepoName) -> Result<bool, OciError> {
    let pusher = match &caller.credential {
        Credential::Account(a, _) => Some(a.username.as_str()),
        Credential::Token(c) => Some(c.sub.as_str()),
        Credential::Anonymous => None,
    };
    match state.registry.push_state(repo, pusher).await? {
        PushState::Missing => Ok(false),
        PushState::Allowed | PushState::MirrorRobot => Ok(true),
        PushState::ReadOnly => Err(OciError::new(405, "DENIED", format!("{repo} is in read-only mode."))),
        PushState::Mirror => Err(OciError::new(
            405,
            "DENIED",
            format!("Repository {repo} is a mirror. Mirrored repositories cannot be modified directly."),
        )),
    }
}
