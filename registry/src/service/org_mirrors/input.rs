//! Request bodies of `/organization/{org}/mirror`, checked as Quay's JSON
//! schema and handler check them, with their messages.

use chrono::NaiveDateTime;
use serde_json::{Map, Value};

use super::{HARBOR, QUAY};
use crate::service::mirrors::Field;
use crate::service::Error;

/// Bounds of Quay's schema.
const MIN_INTERVAL_S: i64 = 60;
const MIN_TIMEOUT_S: i64 = 30;
const MAX_TIMEOUT_S: i64 = 3600;
pub(super) const DEFAULT_TIMEOUT_S: i64 = 300;
const MAX_NAMESPACE_LEN: usize = 255;

pub(super) fn invalid(m: impl Into<String>) -> Error {
    Error::InvalidRequest(m.into())
}

/// Python's `repr` of a JSON value, as jsonschema's messages show it.
fn repr(v: &Value) -> String {
    match v {
        Value::String(s) => format!("'{s}'"),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Null => "None".into(),
        other => other.to_string(),
    }
}

fn not_of_type(v: &Value, kind: &str) -> Error {
    invalid(format!("{} is not of type '{kind}'", repr(v)))
}

/// A create (`POST`) or update (`PUT`) body, checked as Quay's JSON schema
/// checks it; unknown fields are ignored.
#[derive(Debug, Clone, Default)]
pub struct OrgMirrorInput {
    pub is_enabled: Option<bool>,
    pub registry_type: Option<i32>,
    pub url: Option<String>,
    pub namespace: Option<String>,
    pub robot_username: Option<String>,
    pub visibility: Option<String>,
    pub sync_interval: Option<i64>,
    pub sync_start_date: Option<String>,
    pub username: Field<String>,
    pub password: Field<String>,
    pub registry_config: Option<Map<String, Value>>,
    pub repository_filters: Option<Vec<String>>,
    pub skopeo_timeout: Option<i64>,
}

struct Body<'a>(&'a Map<String, Value>);

impl Body<'_> {
    fn string(&self, key: &str) -> Result<Option<String>, Error> {
        match self.0.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(not_of_type(v, "string")),
        }
    }

    fn nullable(&self, key: &str) -> Result<Field<String>, Error> {
        match self.0.get(key) {
            None => Ok(Field::Absent),
            Some(Value::Null) => Ok(Field::Null),
            Some(Value::String(s)) => Ok(Field::Set(s.clone())),
            Some(v) => Err(invalid(format!("{} is not of type 'string', 'null'", repr(v)))),
        }
    }

    fn integer(&self, key: &str, min: i64, max: Option<i64>) -> Result<Option<i64>, Error> {
        let Some(v) = self.0.get(key) else { return Ok(None) };
        let n = v.as_i64().ok_or_else(|| not_of_type(v, "integer"))?;
        if n < min {
            return Err(invalid(format!("{n} is less than the minimum of {min}")));
        }
        if let Some(max) = max.filter(|m| n > *m) {
            return Err(invalid(format!("{n} is greater than the maximum of {max}")));
        }
        Ok(Some(n))
    }

    fn one_of(&self, key: &str, allowed: &[&str]) -> Result<Option<String>, Error> {
        let Some(s) = self.string(key)? else { return Ok(None) };
        if !allowed.contains(&s.as_str()) {
            let list = allowed.iter().map(|a| format!("'{a}'")).collect::<Vec<_>>().join(", ");
            return Err(invalid(format!("'{s}' is not one of [{list}]")));
        }
        Ok(Some(s))
    }
}

impl OrgMirrorInput {
    /// Reads a body; `create` applies the create schema (required fields,
    /// `external_registry_type`, the shape of `external_registry_config`).
    pub fn from_json(body: &Value, create: bool) -> Result<OrgMirrorInput, Error> {
        let map = body.as_object().ok_or_else(|| not_of_type(body, "object"))?;
        if create {
            for key in [
                "external_registry_type",
                "external_registry_url",
                "external_namespace",
                "robot_username",
                "visibility",
                "sync_interval",
                "sync_start_date",
            ] {
                if !map.contains_key(key) {
                    return Err(invalid(format!("'{key}' is a required property")));
                }
            }
        }
        let b = Body(map);
        let namespace = b.string("external_namespace")?;
        if let Some(n) = namespace.as_ref().filter(|n| n.chars().count() > MAX_NAMESPACE_LEN) {
            return Err(invalid(format!("'{n}' is too long")));
        }
        let registry_type = if create {
            b.one_of("external_registry_type", &["harbor", "quay"])?
                .map(|t| if t == "harbor" { HARBOR } else { QUAY })
        } else {
            None
        };
        let is_enabled = match map.get("is_enabled") {
            None => None,
            Some(Value::Bool(v)) => Some(*v),
            Some(v) => return Err(not_of_type(v, "boolean")),
        };
        Ok(OrgMirrorInput {
            is_enabled,
            registry_type,
            url: b.string("external_registry_url")?,
            namespace,
            robot_username: b.string("robot_username")?,
            visibility: b.one_of("visibility", &["public", "private"])?,
            sync_interval: b.integer("sync_interval", MIN_INTERVAL_S, None)?,
            sync_start_date: b.string("sync_start_date")?,
            username: b.nullable("external_registry_username")?,
            password: b.nullable("external_registry_password")?,
            registry_config: registry_config(map.get("external_registry_config"), create)?,
            repository_filters: filters(map.get("repository_filters"))?,
            skopeo_timeout: b.integer("skopeo_timeout", MIN_TIMEOUT_S, Some(MAX_TIMEOUT_S))?,
        })
    }
}

fn registry_config(v: Option<&Value>, create: bool) -> Result<Option<Map<String, Value>>, Error> {
    let Some(v) = v else { return Ok(None) };
    let Value::Object(config) = v else {
        return Err(not_of_type(v, "object"));
    };
    if create {
        if let Some(t) = config.get("verify_tls").filter(|t| !t.is_boolean()) {
            return Err(not_of_type(t, "boolean"));
        }
        match config.get("proxy") {
            None | Some(Value::Object(_)) => {}
            Some(p) => return Err(not_of_type(p, "object")),
        }
        if let Some(Value::Object(p)) = config.get("proxy") {
            for key in ["https_proxy", "http_proxy", "no_proxy"] {
                if let Some(v) = p.get(key).filter(|v| !v.is_string() && !v.is_null()) {
                    return Err(invalid(format!("{} is not of type 'string', 'null'", repr(v))));
                }
            }
        }
    }
    Ok(Some(config.clone()))
}

fn filters(v: Option<&Value>) -> Result<Option<Vec<String>>, Error> {
    match v {
        None => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map(str::to_owned).ok_or_else(|| not_of_type(i, "string")))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(other) => Err(not_of_type(other, "array")),
    }
}

/// Quay's `%Y-%m-%dT%H:%M:%SZ`, in milliseconds.
pub(super) fn parse_start(s: &str) -> Result<i64, Error> {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%SZ")
        .map(|d| d.and_utc().timestamp_millis())
        .map_err(|_| invalid("Invalid sync_start_date format. Use ISO 8601: YYYY-MM-DDTHH:MM:SSZ"))
}

/// Quay's `validate_external_registry_url` checks of form: an http(s) URL
/// with a host and no credentials. The host itself is checked by the
/// registry's SSRF rules.
pub(super) fn check_url_form(raw: &str) -> Result<url::Url, Error> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(invalid("External registry URL is required"));
    }
    let parsed = match url::Url::parse(raw) {
        Ok(u) => u,
        Err(url::ParseError::RelativeUrlWithoutBase) => {
            return Err(invalid("Invalid URL scheme '': only HTTP and HTTPS are allowed"))
        }
        Err(url::ParseError::EmptyHost) => return Err(invalid("URL must include a hostname")),
        Err(_) => return Err(invalid("Invalid URL format")),
    };
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(invalid(format!(
            "Invalid URL scheme '{}': only HTTP and HTTPS are allowed",
            parsed.scheme()
        )));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(invalid("URLs with embedded credentials are not allowed"));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(invalid("URL must include a hostname"));
    }
    Ok(parsed)
}

/// `scheme://host[:port]` of a checked URL, the part the SSRF rules judge.
pub fn url_authority(u: &url::Url) -> String {
    match u.port() {
        Some(p) => format!("{}:{p}", u.host_str().unwrap_or_default()),
        None => u.host_str().unwrap_or_default().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn urls_need_http_a_host_and_no_credentials() {
        assert!(check_url_form("https://quay.io").is_ok());
        assert!(check_url_form("http://127.0.0.1:5000/").is_ok());
        let message = |u: &str| match check_url_form(u) {
            Err(Error::InvalidRequest(m)) => m,
            other => panic!("{u}: {other:?}"),
        };
        assert_eq!(message(""), "External registry URL is required");
        assert_eq!(
            message("ftp://quay.io"),
            "Invalid URL scheme 'ftp': only HTTP and HTTPS are allowed"
        );
        assert_eq!(
            message("quay.io"),
            "Invalid URL scheme '': only HTTP and HTTPS are allowed"
        );
        assert_eq!(
            message("https://u:p@quay.io"),
            "URLs with embedded credentials are not allowed"
        );
    }

    #[test]
    fn schema_messages_are_jsonschemas() {
        let err = |v: Value| match OrgMirrorInput::from_json(&v, false) {
            Err(Error::InvalidRequest(m)) => m,
            other => panic!("{v}: {other:?}"),
        };
        assert_eq!(err(json!({"sync_interval": 59})), "59 is less than the minimum of 60");
        assert_eq!(
            err(json!({"skopeo_timeout": 3601})),
            "3601 is greater than the maximum of 3600"
        );
        assert_eq!(
            err(json!({"visibility": "secret"})),
            "'secret' is not one of ['public', 'private']"
        );
        assert_eq!(err(json!({"is_enabled": "yes"})), "'yes' is not of type 'boolean'");
    }
}
