//! App-specific tokens: `/user/apptoken[/{uuid}]` (`FEATURE_APP_SPECIFIC_TOKENS`;
//! when off, the endpoints are not found). Creating a token and reading one
//! token show its `token_code` (not for tokens made before codes were kept);
//! the list never does, as in Quay.

use super::doc::{self, Mount};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::shared::action;
use super::views::format_date;
use super::{ApiCaller, ApiError};
use crate::db::models::Account;
use crate::service::AppSpecificToken;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.mount(
        doc::resource(["/user/apptoken", "/user/apptoken/"])
            .route(doc::get().to(list_tokens))
            .route(doc::post().to(create_token)),
    )
    .mount(
        doc::resource("/user/apptoken/{uuid}")
            .route(doc::get().to(get_token))
            .route(doc::delete().to(revoke_token)),
    )
    .mount(doc::resource("/superuser/apptokens").route(doc::get().to(list_all_tokens)));
}

fn token_view(t: &AppSpecificToken) -> Value {
    json!({
        "uuid": t.uuid,
        "title": t.title,
        "last_accessed": t.last_accessed_ms.map(format_date),
        "created": format_date(t.created_ms),
        "expiration": t.expiration_ms.map(format_date),
    })
}

/// The caller with `user:admin`, or 404 when the feature is off.
fn owner<'a>(state: &AppState, caller: &'a ApiCaller) -> Result<&'a Account, ApiError> {
    if !state.registry.settings().accounts.app_specific_tokens {
        return Err(ApiError::not_found("Not Found"));
    }
    caller.user_with("user:admin")
}

#[derive(Deserialize, schemars::JsonSchema)]
struct ListQuery {
    #[serde(default)]
    expiring: Option<String>,
}

async fn list_tokens(
    state: web::Data<AppState>,
    caller: ApiCaller,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let user = owner(&state, &caller)?;
    let expiring = q
        .expiring
        .as_deref()
        .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "yes" | "on"));
    let tokens = state.registry.app_tokens(user, expiring).await?;
    Ok(HttpResponse::Ok().json(json!({
        "tokens": tokens.iter().map(token_view).collect::<Vec<_>>(),
        "only_expiring": expiring,
    })))
}

/// Every user's tokens, without codes, for superusers.
async fn list_all_tokens(
    state: web::Data<AppState>,
    caller: ApiCaller,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    if !state.registry.settings().accounts.app_specific_tokens {
        return Err(ApiError::not_found("Not Found"));
    }
    caller.superuser(&state)?;
    let expiring = super::shared::truthy(q.expiring.as_deref());
    let tokens = state.registry.all_app_tokens(expiring).await?;
    let views: Vec<_> = tokens
        .iter()
        .map(|(t, owner)| {
            let mut v = token_view(t);
            v["owner"] = json!(owner);
            v
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({"tokens": views, "only_expiring": expiring})))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct NewToken {
    title: String,
}

async fn create_token(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    body: web::Json<NewToken>,
) -> Result<HttpResponse, ApiError> {
    let user = owner(&state, &caller)?;
    caller.fresh_login()?;
    let (token, code) = state.registry.create_app_token(user, &body.title).await?;
    let metadata = json!({"app_specific_token_title": token.title, "app_specific_token": token.uuid});
    let entry = action("create_app_specific_token", &caller, &req)
        .account(user.id)
        .metadata(metadata);
    state.registry.log_action(entry);
    let mut view = token_view(&token);
    view["token_code"] = json!(code);
    Ok(HttpResponse::Ok().json(json!({"token": view})))
}

async fn get_token(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let user = owner(&state, &caller)?;
    caller.fresh_login()?;
    let (token, code) = state.registry.app_token_with_code(user, &path).await?;
    let mut view = token_view(&token);
    if let Some(code) = code {
        view["token_code"] = json!(code);
    }
    Ok(HttpResponse::Ok().json(json!({"token": view})))
}

async fn revoke_token(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let user = owner(&state, &caller)?;
    caller.fresh_login()?;
    state.registry.revoke_app_token(user, &path).await?;
    let entry = action("revoke_app_specific_token", &caller, &req)
        .account(user.id)
        .metadata(json!({"app_specific_token": path.as_str()}));
    state.registry.log_action(entry);
    Ok(HttpResponse::NoContent().finish())
}
