//! Service keys for superusers: `/superuser/keys[/{kid}]` and
//! `/superuser/approvedkeys/{kid}`, with Quay's `service_key_*` usage logs.

use super::doc::{self, Mount};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use super::shared::action;
use super::views::{format_date, managed_user};
use super::{ApiCaller, ApiError};
use crate::service::service_keys::{expiration_from_unix, valid_key_name, NewServiceKey, ServiceKey};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.mount(
        doc::resource("/superuser/keys")
            .route(doc::get().to(list_keys))
            .route(doc::post().to(create_key)),
    )
    .mount(
        doc::resource("/superuser/keys/{kid}")
            .route(doc::get().to(get_key))
            .route(doc::put().to(update_key))
            .route(doc::delete().to(delete_key)),
    )
    .mount(doc::resource("/superuser/approvedkeys/{kid}").route(doc::post().to(approve_key)));
}

fn key_view(state: &AppState, k: &ServiceKey) -> Value {
    let approval = k.approval.as_ref().map(|a| {
        json!({
            "approver": a.approver.as_ref().map(|u| managed_user(u, state.registry.is_superuser(u))),
            "approval_type": a.approval_type,
            "approved_date": format_date(a.approved_ms),
            "notes": a.notes,
        })
    });
    json!({
        "name": k.name,
        "kid": k.kid,
        "service": k.service,
        "jwk": k.jwk,
        "metadata": k.metadata,
        "created_date": format_date(k.created_ms),
        "expiration_date": k.expiration_ms.map(format_date),
        "rotation_duration": k.rotation_duration_s,
        "approval": approval,
    })
}

/// The key's identity for usage-log metadata.
fn log_metadata(k: &ServiceKey) -> Value {
    json!({
        "kid": k.kid,
        "service": k.service,
        "name": k.name,
        "expiration_date": k.expiration_ms.map(format_date),
    })
}

fn log(state: &AppState, (caller, req): (&ApiCaller, &HttpRequest), kind: &'static str, metadata: Value) {
    state.registry.log_action(action(kind, caller, req).metadata(metadata));
}

async fn list_keys(state: web::Data<AppState>, caller: ApiCaller) -> Result<HttpResponse, ApiError> {
    caller.superuser(&state)?;
    let keys = state.registry.service_keys().await?;
    let views: Vec<_> = keys.iter().map(|k| key_view(&state, k)).collect();
    Ok(HttpResponse::Ok().json(json!({"keys": views})))
}

/// An expiration field: a unix timestamp, or null (or "") for none.
fn expiration(value: &Value, past: &str) -> Result<Option<i64>, ApiError> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) if s.is_empty() => Ok(None),
        Value::Number(n) => Ok(Some(expiration_from_unix(n.as_f64().unwrap_or(f64::NAN), past)?)),
        Value::String(s) => match s.parse::<f64>() {
            Ok(n) => Ok(Some(expiration_from_unix(n, past)?)),
            Err(e) => Err(ApiError::invalid_request(format!("Invalid expiration date: {e}"))),
        },
        _ => Err(ApiError::invalid_request("Invalid expiration date")),
    }
}

fn key_name(value: Option<&Value>) -> Result<Option<String>, ApiError> {
    let name = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s,
        Some(_) => return Err(ApiError::invalid_request("name must be a string")),
    };
    if !valid_key_name(name) {
        return Err(ApiError::invalid_request(format!(
            "Invalid service key friendly name: {name}"
        )));
    }
    Ok(Some(name.clone()))
}

fn metadata_of(value: Option<&Value>) -> Result<Option<Map<String, Value>>, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m.clone())),
        Some(_) => Err(ApiError::invalid_request("metadata must be an object")),
    }
}

async fn create_key(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    caller.fresh_login()?;
    let me = caller.superuser(&state)?;
    let service = match body.get("service") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(_) => return Err(ApiError::invalid_request("service must be a non-empty string")),
        None => return Err(ApiError::invalid_request("'service' is a required property")),
    };
    let expires = body
        .get("expiration")
        .ok_or_else(|| ApiError::invalid_request("'expiration' is a required property"))?;
    let expiration_ms = expiration(expires, "Expiration date cannot be in the past")?;
    let name = key_name(body.get("name"))?.unwrap_or_default();
    let mut metadata = metadata_of(body.get("metadata"))?.unwrap_or_default();
    metadata.insert("created_by".into(), json!("Quay Superuser Panel"));
    metadata.insert("creator".into(), json!(me.username));
    metadata.insert("ip".into(), json!(crate::api::client_ip(&req)));
    let notes = body.get("notes").and_then(Value::as_str).unwrap_or_default().to_owned();
    let new = NewServiceKey {
        service,
        name,
        metadata: Value::Object(metadata),
        expiration_ms,
    };
    let generated = state.registry.generate_service_key(new).await?;
    let key = &generated.key;
    state.registry.approve_service_key(&key.kid, me, &notes).await?;
    let mut metadata = log_metadata(key);
    metadata["preshared"] = json!(true);
    metadata["auto_approved"] = json!(true);
    log(&state, (&caller, &req), "service_key_create", metadata.clone());
    log(&state, (&caller, &req), "service_key_approve", metadata);
    Ok(HttpResponse::Ok().json(json!({
        "kid": key.kid,
        "name": key.name,
        "service": key.service,
        "public_key": generated.public_pem,
        "private_key": generated.private_pem,
    })))
}

async fn get_key(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.superuser(&state)?;
    let key = state.registry.service_key(&path).await?;
    Ok(HttpResponse::Ok().json(key_view(&state, &key)))
}

async fn update_key(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    caller.fresh_login()?;
    caller.superuser(&state)?;
    let key = state.registry.service_key(&path).await?;
    let name = key_name(body.get("name"))?;
    let patch = metadata_of(body.get("metadata"))?;
    let mut metadata = log_metadata(&key);
    if let Some(n) = &name {
        metadata["name"] = json!(n);
    }
    if let Some(value) = body.get("expiration") {
        let expiration_ms = expiration(value, "Cannot have an expiration date in the past")?;
        metadata["old_expiration_date"] = metadata["expiration_date"].take();
        metadata["expiration_date"] = json!(expiration_ms.map(format_date));
        log(&state, (&caller, &req), "service_key_extend", metadata.clone());
        state
            .registry
            .set_service_key_expiration(&key.kid, expiration_ms)
            .await?;
    }
    if body.get("name").is_some() || body.get("metadata").is_some() {
        // Quay merges new metadata into the key's.
        let merged = patch.map(|p| {
            let mut m = key.metadata.as_object().cloned().unwrap_or_default();
            m.extend(p);
            Value::Object(m)
        });
        state.registry.update_service_key(&key.kid, name, merged).await?;
        log(&state, (&caller, &req), "service_key_modify", metadata);
    }
    let updated = state.registry.service_key(&key.kid).await?;
    Ok(HttpResponse::Ok().json(key_view(&state, &updated)))
}

async fn delete_key(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.fresh_login()?;
    caller.superuser(&state)?;
    let key = state.registry.delete_service_key(&path).await?;
    let mut metadata = log_metadata(&key);
    metadata["created_date"] = json!(format_date(key.created_ms));
    log(&state, (&caller, &req), "service_key_delete", metadata);
    Ok(HttpResponse::NoContent().finish())
}

async fn approve_key(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<String>,
    body: Option<web::Json<Value>>,
) -> Result<HttpResponse, ApiError> {
    caller.fresh_login()?;
    let me = caller.superuser(&state)?;
    let notes = body
        .as_ref()
        .and_then(|b| b.get("notes"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if let Some(key) = state.registry.approve_service_key(&path, me, &notes).await? {
        log(&state, (&caller, &req), "service_key_approve", log_metadata(&key));
    }
    Ok(HttpResponse::Created().finish())
}
