//! Managed robot API tokens (`FEATURE_ROBOT_API_TOKENS`; when off, the
//! endpoints are not found): `/user/robots/{short}/…` for the caller's own
//! robots and `/organization/{org}/robots/{short}/…` for an organization's,
//! which only its admins manage. As in Quay, only a signed-in browser
//! session with a fresh login may list, mint or revoke them: no bearer
//! token (not even a robot's own) can mint more tokens.

use super::doc::{self, Mount};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use super::error::ErrorType;
use super::shared::{page_start, page_token};
use super::{ApiCaller, ApiError};
use crate::db::models::Account;
use crate::service::logs::LogEntry;
use crate::service::{NewRobotApiToken, RobotApiToken};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    for base in ["/user/robots/{short}", "/organization/{org}/robots/{short}"] {
        cfg.mount(doc::resource(format!("{base}/mintable-scopes")).route(doc::get().to(mintable_scopes)))
            .mount(
                doc::resource(format!("{base}/tokens"))
                    .route(doc::get().to(list_tokens))
                    .route(doc::post().to(create_token)),
            )
            .mount(doc::resource(format!("{base}/tokens/{{uuid}}")).route(doc::delete().to(revoke_token)));
    }
}

/// Quay's `datetime.isoformat() + "Z"`: microseconds only when non-zero.
fn iso_date(ms: i64) -> Option<String> {
    let d = chrono::DateTime::from_timestamp_millis(ms)?;
    let fraction = if ms.rem_euclid(1000) == 0 { "" } else { "%.6f" };
    Some(d.format(&format!("%Y-%m-%dT%H:%M:%S{fraction}Z")).to_string())
}

fn token_view(t: &RobotApiToken) -> Value {
    json!({
        "uuid": t.uuid,
        "name": t.name,
        "scope": t.scope,
        "expires_at": iso_date(t.expires_at_ms),
        "created": iso_date(t.created_ms),
        "created_by": t.created_by,
        "last_accessed": t.last_accessed_ms.and_then(iso_date),
    })
}

/// The robot a request is about, with the namespace it belongs to and the
/// signed-in user acting on it.
struct RobotOf {
    caller: ApiCaller,
    user: Account,
    namespace: Account,
    robot: Account,
}

impl RobotOf {
    /// 404 when the feature is off; 401 without a browser session or with
    /// a stale one; 403 unless the caller administers the organization
    /// (for organization robots); 404 for an unknown robot.
    async fn resolve(state: &AppState, caller: ApiCaller, req: &HttpRequest) -> Result<RobotOf, ApiError> {
        if !state.registry.robot_tokens_enabled() {
            return Err(ApiError::not_found("Not Found"));
        }
        let user = match (&caller.session, &caller.user) {
            (Some(_), Some(user)) if !user.robot => user.clone(),
            _ => {
                return Err(ApiError::new(
                    401,
                    ErrorType::InvalidToken,
                    "Method requires login and no valid login could be loaded.",
                ))
            }
        };
        caller.fresh_login()?;
        let namespace = match req.match_info().get("org") {
            None => user.clone(),
            Some(org) => {
                let org = state.registry.account(org).await?.filter(|a| a.organization);
                match org {
                    Some(org) if state.registry.is_org_admin(&user, &org).await? => org,
                    _ => return Err(ApiError::unauthorized(false)),
                }
            }
        };
        let short = req.match_info().get("short").unwrap_or_default();
        let robot = state
            .registry
            .account(&format!("{}+{short}", namespace.username))
            .await?
            .filter(|a| a.robot)
            .ok_or_else(|| ApiError::not_found("Not Found"))?;
        Ok(RobotOf {
            caller,
            user,
            namespace,
            robot,
        })
    }

    /// A usage-log entry in the robot's namespace, performed by the caller.
    fn action(&self, kind: &'static str, req: &HttpRequest, metadata: Value) -> LogEntry {
        LogEntry::new(kind, Some(&self.user), crate::api::client_ip(req))
            .account(self.namespace.id)
            .metadata(metadata)
    }
}

async fn mintable_scopes(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let of = RobotOf::resolve(&state, caller, &req).await?;
    let scopes = state.registry.mintable_robot_scopes(&of.user, &of.caller.scopes);
    Ok(HttpResponse::Ok().json(json!({ "scopes": scopes })))
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct ListQuery {
    next_page: Option<String>,
}

async fn list_tokens(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let of = RobotOf::resolve(&state, caller, &req).await?;
    let (tokens, next) = state
        .registry
        .robot_api_tokens(&of.robot, page_start(q.next_page.as_deref()))
        .await?;
    let mut body = json!({ "tokens": tokens.iter().map(token_view).collect::<Vec<_>>() });
    if let Some(id) = next {
        body["next_page"] = json!(page_token(id));
    }
    Ok(HttpResponse::Ok().json(body))
}

/// Quay's JSON-schema message for a field of the wrong type.
fn not_of_type(value: &Value, kind: &str) -> ApiError {
    ApiError::invalid_request(format!("{value} is not of type '{kind}'"))
}

/// A required string field of the body.
fn required_str<'a>(body: &'a Map<String, Value>, field: &str) -> Result<&'a str, ApiError> {
    match body.get(field) {
        None => Err(ApiError::invalid_request(format!("'{field}' is a required property"))),
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(not_of_type(other, "string")),
    }
}

/// The `NewRobotToken` body: `name` (1–255 characters), `scope`, and an
/// optional `expiration` in seconds (a number, at least 1). Other fields
/// are ignored.
fn parse_new_token(raw: &[u8]) -> Result<(String, String, Option<f64>), ApiError> {
    let body: Value =
        serde_json::from_slice(raw).map_err(|e| ApiError::invalid_request(format!("Invalid JSON body: {e}")))?;
    let Value::Object(body) = body else {
        return Err(not_of_type(&body, "object"));
    };
    let name = required_str(&body, "name")?;
    let name_len = name.chars().count();
    if name_len == 0 {
        return Err(ApiError::invalid_request("'' is too short"));
    }
    if name_len > crate::service::robot_tokens::MAX_NAME_LEN {
        return Err(ApiError::invalid_request(format!("'{name}' is too long")));
    }
    let scope = required_str(&body, "scope")?;
    let expiration = match body.get("expiration") {
        None => None,
        Some(v @ Value::Number(n)) => {
            let seconds = n.as_f64().ok_or_else(|| not_of_type(v, "number"))?;
            if seconds < 1.0 {
                return Err(ApiError::invalid_request(format!("{v} is less than the minimum of 1")));
            }
            Some(seconds)
        }
        Some(other) => return Err(not_of_type(other, "number")),
    };
    Ok((name.to_owned(), scope.to_owned(), expiration))
}

async fn create_token(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let of = RobotOf::resolve(&state, caller, &req).await?;
    let (name, scope, expiration_s) = parse_new_token(&body)?;
    let new = NewRobotApiToken {
        name: &name,
        scope: &scope,
        expiration_s,
    };
    let (token, code) = state
        .registry
        .create_robot_api_token(&of.robot, &of.user, &of.caller.scopes, &new)
        .await?;
    let lifetime_s = (token.expires_at_ms - token.created_ms) / 1000;
    let metadata = json!({
        "robot": of.robot.username,
        "api_token_uuid": token.uuid,
        "scope": token.scope,
        "token_display_name": token.name,
        "expiration": lifetime_s,
    });
    state
        .registry
        .log_action(of.action("create_robot_api_token", &req, metadata));
    let mut view = token_view(&token);
    view["token"] = json!(code);
    Ok(HttpResponse::Ok().json(view))
}

async fn revoke_token(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let of = RobotOf::resolve(&state, caller, &req).await?;
    let uuid = req.match_info().get("uuid").unwrap_or_default().to_owned();
    state.registry.revoke_robot_api_token(&of.robot, &uuid).await?;
    let metadata = json!({"robot": of.robot.username, "api_token_uuid": uuid});
    state
        .registry
        .log_action(of.action("revoke_robot_api_token", &req, metadata));
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_look_like_python_isoformat_with_z() {
        assert_eq!(iso_date(0).as_deref(), Some("1970-01-01T00:00:00Z"));
        assert_eq!(iso_date(1_500).as_deref(), Some("1970-01-01T00:00:01.500000Z"));
    }

    #[test]
    fn new_token_bodies_are_checked_like_quay_schema() {
        let ok = parse_new_token(br#"{"name":"ci","scope":"repo:read","expiration":3600,"x":1}"#);
        assert!(matches!(ok, Ok((n, s, Some(e))) if n == "ci" && s == "repo:read" && e == 3600.0));
        for bad in [
            &br#"{"scope":"repo:read"}"#[..],
            br#"{"name":"","scope":"repo:read"}"#,
            br#"{"name":"ci"}"#,
            br#"{"name":1,"scope":"repo:read"}"#,
            br#"{"name":"ci","scope":"repo:read","expiration":0}"#,
            br#"{"name":"ci","scope":"repo:read","expiration":true}"#,
            br#"{"name":"ci","scope":"repo:read","expiration":"60"}"#,
            br#"[]"#,
        ] {
            assert!(parse_new_token(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
