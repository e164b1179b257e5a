//! Global messages: `GET /messages` (anyone), `POST /messages` and
//! `DELETE /message/{uuid}` (superusers, fresh login).

use super::doc::{self, Mount};
use actix_web::{web, HttpResponse};
use serde_json::{json, Value};

use super::{ApiCaller, ApiError};
use crate::service::GlobalMessage;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.mount(
        doc::resource("/messages")
            .route(doc::get().to(list_messages))
            .route(doc::post().to(create_message)),
    )
    .mount(doc::resource("/message/{uuid}").route(doc::delete().to(delete_message)));
}

fn message_view(m: &GlobalMessage) -> Value {
    json!({
        "uuid": m.uuid,
        "content": m.content,
        "severity": m.severity,
        "media_type": m.media_type,
    })
}

async fn list_messages(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let messages = state.registry.global_messages().await?;
    Ok(HttpResponse::Ok().json(json!({"messages": messages.iter().map(message_view).collect::<Vec<_>>()})))
}

/// `message.<field>` of the body as a string; else a 400 naming it.
fn field<'a>(message: &'a Value, name: &str) -> Result<&'a str, ApiError> {
    match message.get(name) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(ApiError::invalid_request(format!("message.{name} must be a string"))),
        None => Err(ApiError::invalid_request(format!("'{name}' is a required property"))),
    }
}

async fn create_message(
    state: web::Data<AppState>,
    caller: ApiCaller,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    caller.fresh_login()?;
    caller.superuser(&state)?;
    let message = body
        .get("message")
        .filter(|m| m.is_object())
        .ok_or_else(|| ApiError::invalid_request("'message' is a required property"))?;
    let (content, media_type, severity) = (
        field(message, "content")?,
        field(message, "media_type")?,
        field(message, "severity")?,
    );
    state
        .registry
        .create_global_message(content, media_type, severity)
        .await?;
    Ok(HttpResponse::Created().finish())
}

async fn delete_message(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.fresh_login()?;
    caller.superuser(&state)?;
    state.registry.delete_global_message(&path).await?;
    Ok(HttpResponse::NoContent().finish())
}
