//! Namespace quotas: `/api/v1/organization/{org}/quota…`, `/api/v1/user/quota…`
//! and the superuser variants (quay-api.md §1.12). Served only with
//! `FEATURE_QUOTA_MANAGEMENT`; changing quotas and limits needs a superuser
//! (`super:user`), reading them a member of the organization, the user
//! themself or a superuser.

use super::doc::{self, Mount};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::shared::{action, find_org};
use super::{ApiCaller, ApiError};
use crate::db::models::Account;
use crate::service::quota::{human_size, parse_size, Quota, QuotaLimit, QuotaReport};
use crate::state::AppState;

mod namespace;

use namespace::{
    get_user_limit, get_user_quota, list_user_limits, list_user_quota, registry_size, su_create_quota, su_delete_quota,
    su_get_quota, su_list_quota, su_update_quota,
};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.mount(
        doc::resource("/organization/{org}/quota")
            .guard(quota_on)
            .route(doc::get().to(list_org_quota))
            .route(doc::post().to(create_org_quota)),
    )
    .mount(
        doc::resource("/organization/{org}/quota/{quota_id}")
            .guard(quota_on)
            .route(doc::get().to(get_org_quota))
            .route(doc::put().to(update_org_quota))
            .route(doc::delete().to(delete_org_quota)),
    )
    .mount(
        doc::resource("/organization/{org}/quota/{quota_id}/limit")
            .guard(quota_on)
            .route(doc::get().to(list_org_limits))
            .route(doc::post().to(create_org_limit)),
    )
    .mount(
        doc::resource("/organization/{org}/quota/{quota_id}/limit/{limit_id}")
            .guard(quota_on)
            .route(doc::get().to(get_org_limit))
            .route(doc::put().to(update_org_limit))
            .route(doc::delete().to(delete_org_limit)),
    )
    .mount(
        doc::resource("/user/quota")
            .guard(quota_on)
            .route(doc::get().to(list_user_quota)),
    )
    .mount(
        doc::resource("/user/quota/{quota_id}")
            .guard(quota_on)
            .route(doc::get().to(get_user_quota)),
    )
    .mount(
        doc::resource("/user/quota/{quota_id}/limit")
            .guard(quota_on)
            .route(doc::get().to(list_user_limits)),
    )
    .mount(
        doc::resource("/user/quota/{quota_id}/limit/{limit_id}")
            .guard(quota_on)
            .route(doc::get().to(get_user_limit)),
    )
    .mount(
        doc::resource(["/superuser/registrysize/", "/superuser/registrysize"])
            .guard(quota_on)
            .route(doc::get().internal().to(registry_size)),
    );
    // `{kind}` is one literal per resource, so nothing else under
    // `/superuser/` is taken for a quota path.
    for kind in ["users", "organization"] {
        cfg.mount(
            doc::resource(format!("/superuser/{{kind:{kind}}}/{{namespace}}/quota"))
                .guard(quota_on)
                .route(doc::get().to(su_list_quota))
                .route(doc::post().to(su_create_quota)),
        )
        .mount(
            doc::resource(format!("/superuser/{{kind:{kind}}}/{{namespace}}/quota/{{quota_id}}"))
                .guard(quota_on)
                .route(doc::get().to(su_get_quota))
                .route(doc::put().to(su_update_quota))
                .route(doc::delete().to(su_delete_quota)),
        );
    }
}

/// Whether `FEATURE_QUOTA_MANAGEMENT` is on: the quota API is mounted
/// (and documented) only then.
fn quota_on(ctx: &actix_web::guard::GuardContext<'_>) -> bool {
    super::shared::state_allows(ctx, |s| s.registry.quota_policy().enabled)
}

/// 404 unless `FEATURE_QUOTA_MANAGEMENT` is on.
pub(super) fn enabled(state: &AppState) -> Result<(), ApiError> {
    if state.registry.quota_policy().enabled {
        Ok(())
    } else {
        Err(ApiError::not_found("Not Found"))
    }
}

pub fn quota_view(q: &Quota, default_exists: bool) -> Value {
    json!({
        "id": q.id,
        "limit_bytes": q.limit_bytes,
        "limit": human_size(q.limit_bytes),
        "default_config": q.default_config,
        "limits": q.limits.iter().map(limit_view).collect::<Vec<_>>(),
        "default_config_exists": default_exists,
    })
}

fn limit_view(l: &QuotaLimit) -> Value {
    json!({"id": l.id, "type": l.kind, "limit_percent": l.percent})
}

pub fn report_view(r: &QuotaReport) -> Value {
    let status = if r.counted { "complete" } else { "waiting" };
    json!({
        "quota_bytes": r.quota_bytes,
        "configured_quota": r.configured_quota,
        "running_backfill": status,
        "backfill_status": status,
    })
}

/// `quotas` and `quota_report` of a namespace view, when quotas are on.
pub async fn namespace_fields(state: &AppState, namespace_id: i64) -> Result<Option<(Value, Value)>, ApiError> {
    if !state.registry.quota_policy().enabled {
        return Ok(None);
    }
    let default_exists = state.registry.quota_policy().default_reject_bytes > 0;
    let quotas = state.registry.namespace_quotas(namespace_id).await?;
    let reports = state.registry.quota_reports(&[namespace_id]).await?;
    let report = reports.get(&namespace_id).map(report_view).unwrap_or(Value::Null);
    let quotas: Vec<Value> = quotas.iter().map(|q| quota_view(q, default_exists)).collect();
    Ok(Some((json!(quotas), report)))
}

/// Adds `quotas` and `quota_report` to each namespace view (by id), when
/// quotas are on.
pub async fn add_namespace_fields(state: &AppState, views: &mut [(i64, &mut Value)]) -> Result<(), ApiError> {
    for (id, view) in views.iter_mut() {
        if let Some((quotas, report)) = namespace_fields(state, *id).await? {
            view["quotas"] = quotas;
            view["quota_report"] = report;
        }
    }
    Ok(())
}

/// A quota or limit id from the path; anything else is an unknown one.
fn id(text: &str) -> Result<i64, ApiError> {
    text.parse().map_err(|_| ApiError::not_found("Quota not found"))
}

#[derive(Deserialize, schemars::JsonSchema)]
pub(super) struct QuotaBody {
    limit_bytes: Option<serde_json::Number>,
    limit: Option<String>,
}

impl QuotaBody {
    /// The limit in bytes from `limit_bytes` or a `limit` like "10 GiB".
    fn bytes(&self) -> Result<Option<i64>, ApiError> {
        match (&self.limit_bytes, &self.limit) {
            (Some(n), _) => n
                .as_i64()
                .filter(|n| *n > 0)
                .map(Some)
                .ok_or_else(|| ApiError::invalid_request("limit_bytes must be a positive whole number of bytes")),
            (None, Some(text)) => parse_size(text).filter(|n| *n > 0).map(Some).ok_or_else(|| {
                ApiError::invalid_request(format!("Invalid limit '{text}': use a size such as \"10 GiB\""))
            }),
            (None, None) => Ok(None),
        }
    }

    fn required(&self) -> Result<i64, ApiError> {
        self.bytes()?
            .ok_or_else(|| ApiError::invalid_request("One of limit_bytes or limit is required"))
    }
}

#[derive(Deserialize, schemars::JsonSchema)]
struct LimitBody {
    #[serde(rename = "type")]
    kind: Option<String>,
    threshold_percent: Option<i64>,
}

/// The organization, if the caller may read its quotas (a member or a
/// superuser).
async fn readable_org(state: &AppState, caller: &ApiCaller, org: &str) -> Result<Account, ApiError> {
    enabled(state)?;
    let user = caller
        .user_with("user:read")
        .or_else(|_| caller.user_with("org:admin"))?;
    let org = find_org(state, org).await?;
    if state.registry.is_superuser(user) && caller.scopes.has("super:user") {
        return Ok(org);
    }
    let member = state
        .registry
        .organizations_of(user)
        .await?
        .iter()
        .any(|(n, _)| *n == org.username);
    if member || state.registry.is_org_admin(user, &org).await? {
        Ok(org)
    } else {
        Err(ApiError::unauthorized(false))
    }
}

/// The organization, if the caller is a superuser (who alone changes quotas).
async fn managed_org(state: &AppState, caller: &ApiCaller, org: &str) -> Result<Account, ApiError> {
    enabled(state)?;
    caller.superuser(state)?;
    find_org(state, org).await
}

async fn list_org_quota(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let org = readable_org(&state, &caller, &path).await?;
    list_quota(&state, org.id).await
}

pub(super) async fn list_quota(state: &AppState, namespace_id: i64) -> Result<HttpResponse, ApiError> {
    let default_exists = state.registry.quota_policy().default_reject_bytes > 0;
    let quotas = state.registry.namespace_quotas(namespace_id).await?;
    let views: Vec<Value> = quotas.iter().map(|q| quota_view(q, default_exists)).collect();
    Ok(HttpResponse::Ok().json(views))
}

pub(super) async fn get_quota(state: &AppState, namespace_id: i64, quota_id: &str) -> Result<HttpResponse, ApiError> {
    let default_exists = state.registry.quota_policy().default_reject_bytes > 0;
    let quota = state.registry.namespace_quota(namespace_id, id(quota_id)?).await?;
    Ok(HttpResponse::Ok().json(quota_view(&quota, default_exists)))
}

/// Who changes a quota, for the usage log.
pub(super) type By<'a> = (&'a ApiCaller, &'a HttpRequest);

/// Logs a quota change with Quay's `org_*_quota` kinds and metadata.
fn log_quota(state: &AppState, by: By<'_>, kind: &'static str, namespace: &Account, bytes: Option<i64>) {
    let mut metadata = json!({"namespace": namespace.username});
    if let Some(b) = bytes {
        metadata["limit_bytes"] = json!(b);
        metadata["limit"] = json!(human_size(b));
    }
    let entry = action(kind, by.0, by.1).account(namespace.id).metadata(metadata);
    state.registry.log_action(entry);
}

/// Logs a limit change with Quay's `org_*_quota_limit` kinds and metadata.
fn log_limit(state: &AppState, by: By<'_>, kind: &'static str, namespace: &Account, limit: Value) {
    let mut metadata = json!({"namespace": namespace.username});
    if let (Some(m), Value::Object(l)) = (metadata.as_object_mut(), limit) {
        m.extend(l);
    }
    let entry = action(kind, by.0, by.1).account(namespace.id).metadata(metadata);
    state.registry.log_action(entry);
}

pub(super) async fn create_quota(
    state: &AppState,
    by: By<'_>,
    namespace: &Account,
    body: &QuotaBody,
) -> Result<HttpResponse, ApiError> {
    let bytes = body.required()?;
    state
        .registry
        .create_quota(namespace.id, &namespace.username, bytes)
        .await?;
    log_quota(state, by, "org_create_quota", namespace, Some(bytes));
    Ok(HttpResponse::Created().json("Created"))
}

pub(super) async fn update_quota(
    state: &AppState,
    by: By<'_>,
    namespace: &Account,
    quota_id: &str,
    body: &QuotaBody,
) -> Result<HttpResponse, ApiError> {
    let default_exists = state.registry.quota_policy().default_reject_bytes > 0;
    let quota = state
        .registry
        .update_quota(namespace.id, id(quota_id)?, body.bytes()?)
        .await?;
    log_quota(state, by, "org_change_quota", namespace, Some(quota.limit_bytes));
    Ok(HttpResponse::Ok().json(quota_view(&quota, default_exists)))
}

pub(super) async fn delete_quota(
    state: &AppState,
    by: By<'_>,
    namespace: &Account,
    quota_id: &str,
) -> Result<HttpResponse, ApiError> {
    state.registry.delete_quota(namespace.id, id(quota_id)?).await?;
    log_quota(state, by, "org_delete_quota", namespace, None);
    Ok(HttpResponse::NoContent().finish())
}

async fn create_org_quota(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<QuotaBody>,
) -> Result<HttpResponse, ApiError> {
    let org = managed_org(&state, &caller, &path).await?;
    create_quota(&state, (&caller, &req), &org, &body).await
}

async fn get_org_quota(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let org = readable_org(&state, &caller, &path.0).await?;
    get_quota(&state, org.id, &path.1).await
}

async fn update_org_quota(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Json<QuotaBody>,
) -> Result<HttpResponse, ApiError> {
    let org = managed_org(&state, &caller, &path.0).await?;
    update_quota(&state, (&caller, &req), &org, &path.1, &body).await
}

async fn delete_org_quota(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let org = managed_org(&state, &caller, &path.0).await?;
    delete_quota(&state, (&caller, &req), &org, &path.1).await
}

async fn list_org_limits(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let org = readable_org(&state, &caller, &path.0).await?;
    list_limits(&state, org.id, &path.1).await
}

pub(super) async fn list_limits(state: &AppState, namespace_id: i64, quota_id: &str) -> Result<HttpResponse, ApiError> {
    let quota = state.registry.namespace_quota(namespace_id, id(quota_id)?).await?;
    let views: Vec<Value> = quota.limits.iter().map(limit_view).collect();
    Ok(HttpResponse::Ok().json(views))
}

pub(super) async fn get_limit(
    state: &AppState,
    namespace_id: i64,
    quota_id: &str,
    limit_id: &str,
) -> Result<HttpResponse, ApiError> {
    let limit = state
        .registry
        .quota_limit(namespace_id, id(quota_id)?, id(limit_id)?)
        .await?;
    Ok(HttpResponse::Ok().json(limit_view(&limit)))
}

async fn create_org_limit(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Json<LimitBody>,
) -> Result<HttpResponse, ApiError> {
    let org = managed_org(&state, &caller, &path.0).await?;
    let (Some(kind), Some(percent)) = (&body.kind, body.threshold_percent) else {
        return Err(ApiError::invalid_request("type and threshold_percent are required"));
    };
    let quota_id = id(&path.1)?;
    state
        .registry
        .create_quota_limit(org.id, quota_id, kind, percent)
        .await?;
    let limit = json!({"quota_id": quota_id, "type": kind, "threshold_percent": percent});
    log_limit(&state, (&caller, &req), "org_create_quota_limit", &org, limit);
    Ok(HttpResponse::Created().json("Created"))
}

async fn get_org_limit(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let org = readable_org(&state, &caller, &path.0).await?;
    get_limit(&state, org.id, &path.1, &path.2).await
}

async fn update_org_limit(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
    body: web::Json<LimitBody>,
) -> Result<HttpResponse, ApiError> {
    let org = managed_org(&state, &caller, &path.0).await?;
    let default_exists = state.registry.quota_policy().default_reject_bytes > 0;
    let (quota_id, limit_id) = (id(&path.1)?, id(&path.2)?);
    let before = state.registry.quota_limit(org.id, quota_id, limit_id).await?;
    let quota = state
        .registry
        .update_quota_limit(org.id, quota_id, limit_id, body.kind.as_deref(), body.threshold_percent)
        .await?;
    if let Some(after) = quota.limits.iter().find(|l| l.id == limit_id) {
        let limit = json!({
            "quota_id": quota_id,
            "limit_id": limit_id,
            "type": after.kind,
            "threshold_percent": after.percent,
            "previous_type": before.kind,
            "previous_threshold_percent": before.percent,
        });
        log_limit(&state, (&caller, &req), "org_change_quota_limit", &org, limit);
    }
    Ok(HttpResponse::Ok().json(quota_view(&quota, default_exists)))
}

async fn delete_org_limit(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let org = managed_org(&state, &caller, &path.0).await?;
    let (quota_id, limit_id) = (id(&path.1)?, id(&path.2)?);
    let gone = state.registry.quota_limit(org.id, quota_id, limit_id).await?;
    state.registry.delete_quota_limit(org.id, quota_id, limit_id).await?;
    let limit = json!({
        "quota_id": quota_id,
        "limit_id": limit_id,
        "type": gone.kind,
        "threshold_percent": gone.percent,
    });
    log_limit(&state, (&caller, &req), "org_delete_quota_limit", &org, limit);
    Ok(HttpResponse::NoContent().finish())
}
