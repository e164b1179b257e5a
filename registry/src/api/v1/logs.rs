//! `/api/v1/…/logs` and `…/aggregatelogs` (quay-api.md §1.10): usage logs
//! of a repository, an organization, the calling user, or (superusers) of
//! the whole registry.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{NaiveDate, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use super::repository::{access, page_start, page_token};
use super::team::admin_of;
use super::views::{avatar, format_date};
use super::{ApiCaller, ApiError};
use crate::service::logs::{AggregatedCount, LogAccount, LogEntry, LogQuery, LoggedAction};
use crate::service::repositories::RepositoryView;
use crate::service::Role;
use crate::state::AppState;

const DAY_MS: i64 = 86_400_000;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/repository/{repo:.+}/logs", web::get().to(repo_logs))
        .route("/repository/{repo:.+}/aggregatelogs", web::get().to(repo_aggregate))
        .route("/organization/{org}/logs", web::get().to(org_logs))
        .route("/organization/{org}/aggregatelogs", web::get().to(org_aggregate))
        .route("/user/logs", web::get().to(user_logs))
        .route("/user/aggregatelogs", web::get().to(user_aggregate))
        .route("/superuser/logs", web::get().to(superuser_logs))
        .route("/superuser/aggregatelogs", web::get().to(superuser_aggregate));
}

#[derive(Deserialize)]
pub(super) struct LogParams {
    starttime: Option<String>,
    endtime: Option<String>,
    performer: Option<String>,
    next_page: Option<String>,
}

/// Which rows the caller asks for, before the scope is added.
pub(super) struct Range {
    pub(super) start_ms: i64,
    pub(super) end_ms: i64,
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

fn parse_day(s: Option<&str>) -> Option<i64> {
    let day = NaiveDate::parse_from_str(s?.trim(), "%m/%d/%Y").ok()?;
    Some(day.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis())
}

/// The scope a listing reads, as a query over `range`.
fn query(range: &Range, p: &LogParams, account_id: Option<i64>, repository_id: Option<i64>) -> LogQuery {
    LogQuery {
        account_id,
        repository_id,
        performer: p.performer.clone().filter(|s| !s.is_empty()),
        start_ms: range.start_ms,
        end_ms: range.end_ms,
    }
}

pub(super) async fn repo_scope(state: &AppState, caller: &ApiCaller, raw: &str) -> Result<(i64, i64), ApiError> {
    let granted = access(state, caller, raw, Role::Admin).await?;
    Ok((granted.repo.namespace_id, granted.repo.id))
}

async fn repo_logs(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<String>,
    p: web::Query<LogParams>,
) -> Result<HttpResponse, ApiError> {
    let (ns, repo) = repo_scope(&state, &caller, &path).await?;
    let r = range(&p)?;
    logs_response(&state, &r, query(&r, &p, Some(ns), Some(repo)), &p, false).await
}

async fn repo_aggregate(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<String>,
    p: web::Query<LogParams>,
) -> Result<HttpResponse, ApiError> {
    let (ns, repo) = repo_scope(&state, &caller, &path).await?;
    let r = range(&p)?;
    aggregate_response(&state, query(&r, &p, Some(ns), Some(repo))).await
}

async fn org_logs(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<String>,
    p: web::Query<LogParams>,
) -> Result<HttpResponse, ApiError> {
    let (_, org) = admin_of(&state, &caller, &path).await?;
    let r = range(&p)?;
    logs_response(&state, &r, query(&r, &p, Some(org.id), None), &p, false).await
}

async fn org_aggregate(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<String>,
    p: web::Query<LogParams>,
) -> Result<HttpResponse, ApiError> {
    let (_, org) = admin_of(&state, &caller, &path).await?;
    let r = range(&p)?;
    aggregate_response(&state, query(&r, &p, Some(org.id), None)).await
}

async fn user_logs(
    state: web::Data<AppState>,
    caller: ApiCaller,
    p: web::Query<LogParams>,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user_with("user:admin")?;
    let r = range(&p)?;
    logs_response(&state, &r, query(&r, &p, Some(user.id), None), &p, false).await
}

async fn user_aggregate(
    state: web::Data<AppState>,
    caller: ApiCaller,
    p: web::Query<LogParams>,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user_with("user:admin")?;
    let r = range(&p)?;
    aggregate_response(&state, query(&r, &p, Some(user.id), None)).await
}

async fn superuser_logs(
    state: web::Data<AppState>,
    caller: ApiCaller,
    p: web::Query<LogParams>,
) -> Result<HttpResponse, ApiError> {
    caller.superuser(&state)?;
    let r = range(&p)?;
    logs_response(&state, &r, query(&r, &p, None, None), &p, true).await
}

async fn superuser_aggregate(
    state: web::Data<AppState>,
    caller: ApiCaller,
    p: web::Query<LogParams>,
) -> Result<HttpResponse, ApiError> {
    caller.superuser(&state)?;
    let r = range(&p)?;
    aggregate_response(&state, query(&r, &p, None, None)).await
}

async fn logs_response(
    state: &AppState,
    r: &Range,
    q: LogQuery,
    p: &LogParams,
    include_namespace: bool,
) -> Result<HttpResponse, ApiError> {
    let page = state.registry.list_logs(q, page_start(p.next_page.as_deref())).await?;
    let logs: Vec<Value> = page.logs.iter().map(|l| log_view(l, include_namespace)).collect();
    let mut body = json!({
        "start_time": format_date(r.start_ms),
        "end_time": format_date(r.end_ms),
        "logs": logs,
    });
    if let Some(before) = page.next_before {
        body["next_page"] = json!(page_token(before));
    }
    Ok(HttpResponse::Ok().json(body))
}

async fn aggregate_response(state: &AppState, q: LogQuery) -> Result<HttpResponse, ApiError> {
    let counts = state.registry.aggregate_logs(q).await?;
    let aggregated: Vec<Value> = counts.iter().map(aggregate_view).collect();
    Ok(HttpResponse::Ok().json(json!({ "aggregated": aggregated })))
}

/// Quay's LogEntry view; superuser listings also name the namespace.
pub(super) fn log_view(l: &LoggedAction, include_namespace: bool) -> Value {
    let metadata: Value = serde_json::from_str(&l.row.metadata_json).unwrap_or_else(|_| json!({}));
    let mut v = json!({
        "kind": l.row.kind,
        "metadata": metadata,
        "ip": l.row.ip,
        "datetime": format_date(l.row.datetime_ms),
    });
    if let Some(p) = &l.performer {
        v["performer"] = json!({
            "kind": "user",
            "name": p.username,
            "is_robot": p.robot,
            "avatar": avatar(&p.username, if p.robot { "robot" } else { "user" }),
        });
    }
    if include_namespace {
        if let Some(ns) = &l.namespace {
            v["namespace"] = namespace_view(ns);
        }
    }
    v
}

fn namespace_view(ns: &LogAccount) -> Value {
    let kind = if ns.organization { "org" } else { "user" };
    json!({"kind": kind, "name": ns.username, "avatar": avatar(&ns.username, kind)})
}

fn aggregate_view(c: &AggregatedCount) -> Value {
    json!({"kind": c.kind, "count": c.count, "datetime": format_date(c.day_ms)})
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_utc_midnight_and_the_end_day_is_inclusive() {
        let p = LogParams {
            starttime: Some("02/28/2024".into()),
            endtime: Some("02/29/2024".into()),
            performer: None,
            next_page: None,
        };
        let r = range(&p).expect("valid range");
        assert_eq!(format_date(r.start_ms), "Wed, 28 Feb 2024 00:00:00 -0000");
        assert_eq!(format_date(r.end_ms), "Fri, 01 Mar 2024 00:00:00 -0000");
    }

    #[test]
    fn an_end_before_the_start_is_refused() {
        let p = LogParams {
            starttime: Some("03/10/2024".into()),
            endtime: Some("03/01/2024".into()),
            performer: None,
            next_page: None,
        };
        assert!(range(&p).is_err());
    }
}
