//! Helpers the /api/v1 handler modules share: repository and organization
//! look-ups with permission checks, usage-log entries, paging, request
//! parameters and path shapes.

use actix_web::guard::GuardContext;
use actix_web::{web, HttpRequest};
use chrono::NaiveDate;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::ErrorType;
use super::{ApiCaller, ApiError};
use crate::db::models::Account;
use crate::oci::RepoName;
use crate::service::logs::LogEntry;
use crate::service::repositories::{state_name, RepositoryAccess, RepositoryView};
use crate::service::{Role, Team};
use crate::state::AppState;

/// The repository of a URL path; a malformed one is a 400.
pub(super) fn repo_path(raw: &str) -> Result<RepoName, ApiError> {
    raw.parse::<RepoName>()
        .map_err(|_| ApiError::invalid_request("Invalid repository name"))
}

/// The repository at `raw` if the caller may use it with role `need`.
pub(super) async fn access(
    state: &AppState,
    caller: &ApiCaller,
    raw: &str,
    need: Role,
) -> Result<RepositoryAccess, ApiError> {
    let name = repo_path(raw)?;
    Ok(state
        .registry
        .repository_access(caller.user.as_ref(), &caller.scopes, &name, need)
        .await?)
}

/// Quay's `truthy_bool` for query flags.
pub(super) fn truthy(v: Option<&str>) -> bool {
    v.is_some_and(|s| {
        !matches!(
            s.to_ascii_lowercase().as_str(),
            "" | "false" | "0" | "no" | "off" | "null"
        )
    })
}

/// The opaque `next_page` token for continuing after a repository id.
pub(super) fn page_token(after_id: i64) -> String {
    hex::encode(json!({"after_id": after_id}).to_string())
}

/// The repository id a `next_page` token continues after; a token that
/// does not decode restarts at the first page, as in Quay.
pub(super) fn page_start(token: Option<&str>) -> Option<i64> {
    let bytes = hex::decode(token?).ok()?;
    serde_json::from_slice::<Value>(&bytes).ok()?["after_id"].as_i64()
}

/// The calling user and the organization it administers: 401 for anonymous
/// callers, 403 for a token without `org:admin` or a caller who is not an
/// admin of the organization, 404 for an unknown organization.
pub(super) async fn admin_of<'a>(
    state: &AppState,
    caller: &'a ApiCaller,
    org: &str,
) -> Result<(&'a Account, Account), ApiError> {
    let user = caller.user_with("org:admin")?;
    let org = find_org(state, org).await?;
    if !state.registry.is_org_admin(user, &org).await? {
        return Err(ApiError::unauthorized(false));
    }
    Ok((user, org))
}

pub(super) async fn team_of(state: &AppState, org: &Account, name: &str) -> Result<Team, ApiError> {
    state
        .registry
        .team(org, name)
        .await?
        .ok_or_else(|| ApiError::not_found("Team not found"))
}

/// The organization by name, or 404.
pub(super) async fn find_org(state: &AppState, name: &str) -> Result<Account, ApiError> {
    match state.registry.account(name).await? {
        Some(a) if a.organization && a.enabled => Ok(a),
        _ => Err(ApiError::not_found("Organization not found")),
    }
}

/// `scheme://host` of the registry as clients reach it: `SERVER_HOSTNAME`
/// when configured, else the host of this request.
pub(super) fn link_base(req: &HttpRequest, state: &AppState) -> String {
    let info = req.connection_info();
    let host = state.server_hostname.clone().unwrap_or_else(|| info.host().to_owned());
    let scheme = state.url_scheme.clone().unwrap_or_else(|| info.scheme().to_owned());
    format!("{scheme}://{host}")
}

/// A usage-log entry of `kind` performed by the API caller from the
/// request's address.
pub(super) fn action(kind: &'static str, caller: &ApiCaller, req: &HttpRequest) -> LogEntry {
    LogEntry::new(kind, caller.user.as_ref(), crate::api::client_ip(req))
}

/// An entry about a repository, with Quay's `repo`/`namespace` metadata
/// merged into `metadata`.
pub(super) fn repo_action(
    kind: &'static str,
    caller: &ApiCaller,
    req: &HttpRequest,
    repo: &RepositoryView,
    mut metadata: Value,
) -> LogEntry {
    metadata["repo"] = json!(repo.name);
    metadata["namespace"] = json!(repo.namespace);
    action(kind, caller, req)
        .repository(repo.namespace_id, repo.id)
        .metadata(metadata)
}

/// Whether the application state of a request satisfies `on` (the guards
/// that mount an API family only while its feature is on).
pub(super) fn state_allows(ctx: &GuardContext<'_>, on: impl FnOnce(&AppState) -> bool) -> bool {
    ctx.app_data::<web::Data<AppState>>().is_some_and(|s| on(s))
}

pub(super) fn builds_enabled(ctx: &GuardContext<'_>) -> bool {
    state_allows(ctx, |s| s.registry.settings().builds.enabled)
}

/// Builds run only in image repositories that accept pushes.
pub(super) fn require_normal(repo: &RepositoryView) -> Result<(), ApiError> {
    if repo.kind != "image" {
        return Err(ApiError::invalid_request(
            "Builds are only supported for image repositories",
        ));
    }
    require_normal_state(repo)
}

/// Quay's refusal of changes to a READ_ONLY or MIRROR repository's content
/// through the API (tags, labels, builds, triggers): 503.
pub(super) fn require_normal_state(repo: &RepositoryView) -> Result<(), ApiError> {
    if repo.state != 0 {
        return Err(ApiError::new(
            503,
            ErrorType::ReadOnly,
            format!("Repository is in read only or mirror mode: {}", state_name(repo.state)),
        ));
    }
    Ok(())
}

pub(super) fn int_param(name: &str, raw: Option<&str>) -> Result<Option<i64>, ApiError> {
    raw.map(|v| {
        v.trim()
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| ApiError::invalid_request(format!("Invalid value for {name}: {v}")))
    })
    .transpose()
}

#[derive(Deserialize)]
pub(super) struct BuildPath {
    pub(super) repo: String,
    pub(super) uuid: String,
}

#[derive(Deserialize)]
pub(super) struct RepoPath {
    pub(super) repo: String,
}

/// Quay's `MM/DD/YYYY` (UTC) bounds: the end day is inclusive; a missing
/// or unreadable start is 24 hours ago and a missing end is now, plus a day.
pub(super) fn range(p: &LogParams) -> Result<Range, ApiError> {
    let now = Utc::now().timestamp_millis();
    let start_ms = parse_day(p.starttime.as_deref()).unwrap_or(now - DAY_MS);
    let end_ms = parse_day(p.endtime.as_deref()).unwrap_or(now) + DAY_MS;
    if end_ms < start_ms {
        return Err(ApiError::invalid_request("Invalid time span selected"));
    }
    Ok(Range { start_ms, end_ms })
}

pub(super) async fn repo_scope(state: &AppState, caller: &ApiCaller, raw: &str) -> Result<(i64, i64), ApiError> {
    let granted = access(state, caller, raw, Role::Admin).await?;
    Ok((granted.repo.namespace_id, granted.repo.id))
}

#[derive(Deserialize, schemars::JsonSchema)]
pub(super) struct LogParams {
    pub(super) starttime: Option<String>,
    pub(super) endtime: Option<String>,
    pub(super) performer: Option<String>,
    pub(super) next_page: Option<String>,
}

const DAY_MS: i64 = 86_400_000;

/// Which rows the caller asks for, before the scope is added.
pub(super) struct Range {
    pub(super) start_ms: i64,
    pub(super) end_ms: i64,
}

fn parse_day(s: Option<&str>) -> Option<i64> {
    let day = NaiveDate::parse_from_str(s?.trim(), "%m/%d/%Y").ok()?;
    Some(day.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis())
}
