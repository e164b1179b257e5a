//! `GET /discovery` (Quay's `endpoints/api/discovery.py`): the `/api/v1`
//! endpoints as a Swagger 2.0 document, made from the route table that
//! mounts them ([`super::doc::table`]), and `/api/v1/explorer`, a page that
//! browses and calls them. Anyone may read both.

use std::collections::{BTreeMap, BTreeSet};

use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::doc::{self, Endpoint, Mount, OperationDoc};
use crate::service::oauth_scopes::SCOPE_INFO;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.mount(doc::resource("/discovery").route(doc::get().to(discovery)));
}

/// The explorer page: a view of the web UI, mounted ahead of the API
/// scope (it is a page, not an API call, so the API's browser rule does not
/// apply to it).
pub fn configure_root(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/explorer", web::get().to(crate::ui::shell))
        .route("/api/v1/explorer/", web::get().to(crate::ui::shell));
}

#[derive(Deserialize, JsonSchema)]
struct DiscoveryParams {
    /// Whether to include internal APIs.
    internal: Option<String>,
}

async fn discovery(req: HttpRequest, state: web::Data<AppState>, params: web::Query<DiscoveryParams>) -> HttpResponse {
    let info = req.connection_info();
    let host = state.server_hostname.clone().unwrap_or_else(|| info.host().to_owned());
    let scheme = state.url_scheme.clone().unwrap_or_else(|| info.scheme().to_owned());
    let served: Vec<&Endpoint> = doc::table()
        .iter()
        .filter(|e| doc::serves(e, &req, &format!("/api/v1{}", sample_path(&e.patterns[0]))))
        .collect();
    HttpResponse::Ok().json(document(
        &served,
        &host,
        &scheme,
        super::shared::truthy(params.internal.as_deref()),
    ))
}

/// The Swagger 2.0 document of `endpoints` (the served ones), as Quay
/// shapes it.
pub fn document(endpoints: &[&Endpoint], host: &str, scheme: &str, internal: bool) -> Value {
    let mut gen = doc::generator();
    let mut paths: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    let mut operation_ids = BTreeSet::new();
    let mut tags = BTreeSet::new();
    for endpoint in endpoints {
        let pattern = &endpoint.patterns[0];
        let template = format!("/api/v1{}", swagger_path(pattern));
        for op in &endpoint.operations {
            if op.internal && !internal {
                continue;
            }
            let (tag, name) = handler_names(op.handler);
            let item = paths.entry(template.clone()).or_insert_with(|| {
                let mut item = Map::new();
                item.insert("x-name".into(), json!(format!("registry.api.v1.{tag}")));
                item.insert("x-path".into(), json!(template));
                item.insert("x-tag".into(), json!(tag));
                item
            });
            let method = op.method.as_str().to_ascii_lowercase();
            // The first resource serving a path and method answers it.
            if item.contains_key(&method) {
                continue;
            }
            tags.insert(tag.clone());
            let mut operation_id = camel_case(&name);
            let mut n = 2;
            while !operation_ids.insert(operation_id.clone()) {
                operation_id = format!("{}{n}", camel_case(&name));
                n += 1;
            }
            let mut described = OperationDoc::default();
            (op.describe)(&mut described, &mut gen);
            let mut parameters: Vec<Value> = path_params(pattern)
                .into_iter()
                .map(|name| json!({"name": name, "in": "path", "required": true, "type": "string", "description": ""}))
                .collect();
            for (name, schema, required) in described.query {
                parameters.push(query_param(&name, &schema, required));
            }
            if let Some(body) = described.body {
                let schema = match body {
                    Value::Object(_) => swagger_schema(body),
                    _ => doc::any_object(),
                };
                parameters.push(json!({
                    "name": "body", "in": "body", "required": true,
                    "description": "Request body contents.", "schema": schema,
                }));
            }
            let mut operation = json!({
                "operationId": operation_id,
                "description": "",
                "tags": [tag],
                "parameters": parameters,
                "responses": responses(&op.method),
            });
            if let Some(scope) = scope_of(&op.method, &template) {
                operation["security"] = json!([{"oauth2_implicit": [scope]}]);
            }
            if op.internal {
                operation["x-internal"] = json!(true);
            }
            item.insert(method, operation);
        }
    }
    paths.retain(|_, item| item.keys().any(|k| !k.starts_with("x-")));
    let mut definitions: Map<String, Value> = doc::definitions(gen)
        .into_iter()
        .map(|(name, schema)| (name, swagger_schema(schema)))
        .collect();
    definitions.insert("ApiError".into(), api_error());
    let scopes: Map<String, Value> = SCOPE_INFO
        .iter()
        .map(|s| (s.scope.to_owned(), json!(s.description)))
        .collect();
    json!({
        "swagger": "2.0",
        "host": host,
        "basePath": "/",
        "schemes": [scheme],
        "info": {
            "version": "v1",
            "title": "Quay-compatible registry API",
            "description": "This API allows you to perform many of the operations required to work with repositories, users, and organizations of this registry.",
        },
        "securityDefinitions": {
            "oauth2_implicit": {
                "type": "oauth2",
                "flow": "implicit",
                "authorizationUrl": format!("{scheme}://{host}/oauth/authorize"),
                "scopes": scopes,
            }
        },
        "paths": paths,
        "definitions": definitions,
        "tags": tags.iter().map(|t| json!({"name": t, "description": ""})).collect::<Vec<_>>(),
    })
}

/// The OAuth scope an operation asks for, by API family as Quay's
/// decorators assign them: repository reads `repo:read`, writes
/// `repo:write`, repository settings `repo:admin`, creation `repo:create`,
/// organizations `org:admin`, the caller's own account `user:read` /
/// `user:admin`, the superuser panel `super:user`.
pub fn scope_of(method: &Method, path: &str) -> Option<&'static str> {
    let rest = path.strip_prefix("/api/v1/")?;
    let read = method == Method::GET;
    let first = rest.split('/').next().unwrap_or_default();
    let scope = match first {
        "superuser" | "superusers" => "super:user",
        "repository" => {
            if rest.trim_end_matches('/') == "repository" {
                if read {
                    "repo:read"
                } else {
                    "repo:create"
                }
            } else {
                let sub = rest
                    .strip_prefix("repository/{repo}")
                    .unwrap_or_default()
                    .trim_start_matches('/');
                let word = sub.split('/').next().unwrap_or_default();
                let admin = [
                    "permissions",
                    "notification",
                    "tokens",
                    "trigger",
                    "mirror",
                    "autoprunepolicy",
                    "immutabilitypolicy",
                    "changevisibility",
                    "changetrust",
                    "logs",
                    "aggregatelogs",
                    "exportlogs",
                    "proxycache",
                ];
                match (read, word) {
                    (_, w) if admin.contains(&w) => "repo:admin",
                    (_, "") if *method == Method::DELETE => "repo:admin",
                    (true, _) => "repo:read",
                    (false, _) => "repo:write",
                }
            }
        }
        "organization" | "team" | "prototype" => "org:admin",
        "user" | "users" | "star" => match read {
            true => "user:read",
            false => "user:admin",
        },
        _ => return None,
    };
    let scope = match (first, read) {
        // Anyone may look at an organization's public face.
        ("organization", true) if rest.matches('/').count() <= 1 => return None,
        _ => scope,
    };
    Some(scope)
}

fn responses(method: &Method) -> Value {
    let error = |d: &str| json!({"description": d, "schema": {"$ref": "#/definitions/ApiError"}});
    let mut r = json!({
        "400": error("Bad Request"),
        "401": error("Session required"),
        "403": error("Unauthorized access"),
        "404": error("Not found"),
    });
    let (code, text) = match *method {
        Method::DELETE => ("204", "Deleted"),
        Method::POST => ("201", "Successful creation"),
        _ => ("200", "Successful invocation"),
    };
    r[code] = json!({ "description": text });
    r
}

fn api_error() -> Value {
    json!({
        "type": "object",
        "properties": {
            "status": {"type": "integer", "description": "Status code of the response."},
            "type": {"type": "string", "description": "Reference to the type of the error."},
            "detail": {"type": "string", "description": "Details about the specific instance of the error."},
            "title": {"type": "string", "description": "Unique error code to identify the type of error."},
            "error_message": {"type": "string", "description": "Deprecated; alias for detail"},
            "error_type": {"type": "string", "description": "Deprecated; alias for detail"},
        },
        "required": ["status", "type", "title"],
    })
}

/// A query parameter from its JSON schema (Swagger 2.0 takes primitive
/// types and arrays of them).
fn query_param(name: &str, schema: &Value, required: bool) -> Value {
    let schema = swagger_schema(schema.clone());
    let kind = schema.get("type").and_then(Value::as_str).unwrap_or("string");
    let kind = match kind {
        "string" | "integer" | "number" | "boolean" | "array" => kind,
        _ => "string",
    };
    let mut p = json!({
        "name": name, "in": "query", "required": required, "type": kind,
        "description": schema.get("description").cloned().unwrap_or(json!("")),
    });
    for key in [
        "enum",
        "format",
        "default",
        "minimum",
        "maximum",
        "pattern",
        "maxLength",
        "minLength",
    ] {
        if let Some(v) = schema.get(key).filter(|v| !v.is_null()) {
            p[key] = v.clone();
        }
    }
    if kind == "array" {
        let items = schema
            .get("items")
            .and_then(|i| i.get("type"))
            .cloned()
            .unwrap_or(json!("string"));
        p["items"] = json!({ "type": items });
        p["collectionFormat"] = json!("multi");
    }
    p
}

/// The keys a Swagger 2.0 schema object may hold (besides `x-…`).
const SCHEMA_KEYS: &[&str] = &[
    "$ref",
    "format",
    "title",
    "description",
    "default",
    "multipleOf",
    "maximum",
    "exclusiveMaximum",
    "minimum",
    "exclusiveMinimum",
    "maxLength",
    "minLength",
    "pattern",
    "maxItems",
    "minItems",
    "uniqueItems",
    "maxProperties",
    "minProperties",
    "required",
    "enum",
    "additionalProperties",
    "type",
    "items",
    "allOf",
    "properties",
    "readOnly",
    "example",
];

/// A JSON schema (draft 7, as schemars writes it) in Swagger 2.0's subset:
/// a nullable type is its type with `x-nullable`, a choice with one
/// non-null branch is that branch, `const` is a one-value `enum`, and
/// keywords Swagger 2.0 lacks are left out.
pub fn swagger_schema(schema: Value) -> Value {
    let Value::Object(mut map) = schema else {
        return doc::any_object();
    };
    let mut nullable = false;
    if let Some(Value::Array(types)) = map.get("type").cloned() {
        let real: Vec<&Value> = types.iter().filter(|t| t.as_str() != Some("null")).collect();
        nullable = real.len() < types.len();
        match real.as_slice() {
            [one] => {
                map.insert("type".into(), (*one).clone());
            }
            _ => {
                map.remove("type");
            }
        }
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(branches)) = map.remove(key) {
            let real: Vec<Value> = branches
                .into_iter()
                .filter(|b| b.get("type").and_then(Value::as_str) != Some("null"))
                .collect();
            if let [one] = real.as_slice() {
                if let Value::Object(inner) = swagger_schema(one.clone()) {
                    for (k, v) in inner {
                        map.entry(k).or_insert(v);
                    }
                }
            }
            nullable = true;
        }
    }
    if let Some(v) = map.remove("const") {
        map.insert("enum".into(), json!([v]));
    }
    if map.get("nullable") == Some(&json!(true)) {
        nullable = true;
    }
    let mut out = Map::new();
    for (key, value) in map {
        let known = SCHEMA_KEYS.contains(&key.as_str()) || key.starts_with("x-");
        if !known || (key == "default" && value.is_null()) {
            continue;
        }
        let value = match key.as_str() {
            "properties" => match value {
                Value::Object(props) => Value::Object(props.into_iter().map(|(k, v)| (k, swagger_schema(v))).collect()),
                other => other,
            },
            "items" | "additionalProperties" if value.is_object() => swagger_schema(value),
            "allOf" => match value {
                Value::Array(all) => Value::Array(all.into_iter().map(swagger_schema).collect()),
                other => other,
            },
            _ => value,
        };
        out.insert(key, value);
    }
    if out.contains_key("$ref") {
        // Swagger 2.0 ignores siblings of a reference.
        out.retain(|k, _| k == "$ref");
    } else if nullable {
        out.insert("x-nullable".into(), json!(true));
    }
    Value::Object(out)
}

/// The module (the document's tag) and function name of a handler path
/// such as `registry::api::v1::quota::namespace::list_org_quota` or
/// `registry::api::v1::mirror::request_sync<true>`.
fn handler_names(handler: &str) -> (String, String) {
    let base = handler.split('<').next().unwrap_or(handler);
    let after = base.split("::v1::").nth(1).unwrap_or(base);
    let parts: Vec<&str> = after.split("::").collect();
    let tag = parts.first().copied().unwrap_or("api").to_owned();
    let name = parts.last().copied().unwrap_or("call").to_owned();
    (tag, name)
}

fn camel_case(snake: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in snake.chars() {
        match c {
            '_' => upper = true,
            c if upper => {
                out.extend(c.to_uppercase());
                upper = false;
            }
            c => out.push(c),
        }
    }
    out
}

/// The parts of a pattern: literal text and `{name:regex}` parameters.
enum Part {
    Text(String),
    Param(String, Option<String>),
}

fn parts(pattern: &str) -> Vec<Part> {
    let mut out = Vec::new();
    let (mut text, mut param, mut depth) = (String::new(), String::new(), 0);
    for ch in pattern.chars() {
        match ch {
            '{' => {
                if depth == 0 {
                    out.push(Part::Text(std::mem::take(&mut text)));
                } else {
                    param.push(ch);
                }
                depth += 1;
            }
            '}' => {
                depth -= 1;
                if depth == 0 {
                    let p = std::mem::take(&mut param);
                    out.push(match p.split_once(':') {
                        Some((name, re)) => Part::Param(name.to_owned(), Some(re.to_owned())),
                        None => Part::Param(p, None),
                    });
                } else {
                    param.push(ch);
                }
            }
            c if depth == 0 => text.push(c),
            c => param.push(c),
        }
    }
    out.push(Part::Text(text));
    out
}

/// A parameter whose regex is one plain word matches only that word.
fn fixed_word(re: &Option<String>) -> Option<&str> {
    re.as_deref()
        .filter(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase()))
}

/// The pattern with each parameter replaced: a one-word parameter by its
/// word, any other by `value(name, regex)`.
fn fill(pattern: &str, value: impl Fn(&str, Option<&str>) -> String) -> String {
    parts(pattern)
        .into_iter()
        .map(|p| match p {
            Part::Text(t) => t,
            Part::Param(name, re) => match fixed_word(&re) {
                Some(word) => word.to_owned(),
                None => value(&name, re.as_deref()),
            },
        })
        .collect()
}

/// The Swagger path template of a pattern: `{name:regex}` → `{name}`.
pub fn swagger_path(pattern: &str) -> String {
    fill(pattern, |name, _| format!("{{{name}}}"))
}

fn path_params(pattern: &str) -> Vec<String> {
    parts(pattern)
        .into_iter()
        .filter_map(|p| match p {
            Part::Param(name, re) if fixed_word(&re).is_none() => Some(name),
            _ => None,
        })
        .collect()
}

/// The pattern with a sample value in each parameter (a repository is
/// `namespace/name`), to ask a resource's guards whether it is served.
pub fn sample_path(pattern: &str) -> String {
    fill(pattern, |name, re| match re == Some(".+") || name == "repo" {
        true => "samplens/samplerepo".to_owned(),
        false => "sample".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_become_templates_and_samples() {
        assert_eq!(
            swagger_path("/repository/{repo:.+}/tag/{tag}/"),
            "/repository/{repo}/tag/{tag}/"
        );
        assert_eq!(
            swagger_path("/superuser/{kind:users}/{ns}/quota"),
            "/superuser/users/{ns}/quota"
        );
        assert_eq!(swagger_path("/x/{d:[0-9]{2}}"), "/x/{d}");
        assert_eq!(path_params("/repository/{repo:.+}/tag/{tag}/"), vec!["repo", "tag"]);
        assert_eq!(
            sample_path("/repository/{repo:.+}/tag/{tag}"),
            "/repository/samplens/samplerepo/tag/sample"
        );
    }

    #[test]
    fn handler_paths_name_tag_and_operation() {
        assert_eq!(
            handler_names("registry::api::v1::mirror::request_sync<true>"),
            ("mirror".to_owned(), "request_sync".to_owned())
        );
        assert_eq!(
            handler_names("registry::api::v1::quota::namespace::list_org_quota"),
            ("quota".to_owned(), "list_org_quota".to_owned())
        );
        assert_eq!(camel_case("list_org_quota"), "listOrgQuota");
    }

    #[test]
    fn schemas_are_reduced_to_swagger_two() {
        let s = swagger_schema(json!({
            "type": "object",
            "properties": {
                "a": {"type": ["string", "null"]},
                "b": {"anyOf": [{"$ref": "#/definitions/B"}, {"type": "null"}]},
                "c": {"const": "x"},
            },
            "$schema": "http://json-schema.org/draft-07/schema#",
        }));
        assert_eq!(
            s,
            json!({"type": "object", "properties": {
                "a": {"type": "string", "x-nullable": true},
                "b": {"$ref": "#/definitions/B"},
                "c": {"enum": ["x"]},
            }})
        );
    }

    #[test]
    fn scopes_follow_the_api_family() {
        assert_eq!(
            scope_of(&Method::GET, "/api/v1/repository/{repo}/tag/"),
            Some("repo:read")
        );
        assert_eq!(
            scope_of(&Method::PUT, "/api/v1/repository/{repo}/tag/{tag}"),
            Some("repo:write")
        );
        assert_eq!(
            scope_of(&Method::DELETE, "/api/v1/repository/{repo}"),
            Some("repo:admin")
        );
        assert_eq!(
            scope_of(&Method::GET, "/api/v1/repository/{repo}/permissions/user/"),
            Some("repo:admin")
        );
        assert_eq!(scope_of(&Method::POST, "/api/v1/repository"), Some("repo:create"));
        assert_eq!(scope_of(&Method::GET, "/api/v1/superuser/users/"), Some("super:user"));
        assert_eq!(scope_of(&Method::GET, "/api/v1/discovery"), None);
    }
}
