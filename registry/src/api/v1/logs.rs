//! `/api/v1/…/logs` and `…/aggregatelogs` (quay-api.md §1.10): usage logs
//! of a repository, an organization, the calling user, or (superusers) of
//! the whole registry.

use super::doc::{self, Mount};
use actix_web::{web, HttpResponse};
use serde_json::{json, Value};

use super::shared::{admin_of, page_start, page_token, range, repo_scope, LogParams, Range};
use super::views::{format_date, log_view};
use super::{ApiCaller, ApiError};
use crate::service::logs::{AggregatedCount, LogQuery};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.mount(doc::resource("/repository/{repo:.+}/logs").route(doc::get().to(repo_logs)))
        .mount(doc::resource("/repository/{repo:.+}/aggregatelogs").route(doc::get().to(repo_aggregate)))
        .mount(doc::resource("/organization/{org}/logs").route(doc::get().to(org_logs)))
        .mount(doc::resource("/organization/{org}/aggregatelogs").route(doc::get().to(org_aggregate)))
        .mount(doc::resource("/user/logs").route(doc::get().to(user_logs)))
        .mount(doc::resource("/user/aggregatelogs").route(doc::get().to(user_aggregate)))
        .mount(doc::resource("/superuser/logs").route(doc::get().to(superuser_logs)))
        .mount(doc::resource("/superuser/aggregatelogs").route(doc::get().internal().to(superuser_aggregate)));
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

fn aggregate_view(c: &AggregatedCount) -> Value {
    json!({"kind": c.kind, "count": c.count, "datetime": format_date(c.day_ms)})
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
