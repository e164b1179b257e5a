//! The superuser's read-only view of the configuration
//! (`GET /api/v1/superuser/config`, `FEATURE_SUPERUSER_CONFIGDUMP`): the
//! config as written and the process environment, with every secret
//! masked: values under secret-looking names, and passwords inside URLs.

use serde_json::{Map, Value};

use crate::config::Config;

/// What replaces a secret.
pub const MASK: &str = "********";

const SECRET_WORDS: [&str; 9] = [
    "password",
    "passwd",
    "secret",
    "token",
    "credential",
    "private",
    "passphrase",
    "key",
    // Pre-shared keys, e.g. `SECURITY_SCANNER_V4_PSK`.
    "psk",
];

/// The masked configuration and environment, made once at start.
#[derive(Debug, Clone)]
pub struct ConfigDump {
    pub config: Value,
    pub env: Value,
}

impl ConfigDump {
    pub fn of(config: &Config) -> ConfigDump {
        let raw = serde_json::to_value(&config.source).unwrap_or(Value::Null);
        let env: Map<String, Value> = std::env::vars().map(|(k, v)| (k, Value::String(v))).collect();
        ConfigDump {
            config: masked(raw),
            env: masked(Value::Object(env)),
        }
    }
}

/// Whether a field name says its value is a secret (`DB_URI` and the like
/// are handled by masking URL passwords instead).
fn is_secret_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SECRET_WORDS.iter().any(|w| lower.contains(w)) && !lower.ends_with("prefixes")
}

/// A URL with its password masked; other strings unchanged.
fn mask_url_password(text: String) -> String {
    match url::Url::parse(&text) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some(MASK));
            u.to_string()
        }
        _ => text,
    }
}

/// `value` with secrets masked, recursively.
pub fn masked(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let v = if is_secret_name(&k) && !v.is_null() {
                        Value::String(MASK.into())
                    } else {
                        masked(v)
                    };
                    (k, v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(masked).collect()),
        Value::String(s) => Value::String(mask_url_password(s)),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn secrets_are_masked_at_any_depth_and_in_urls() {
        let config = json!({
            "SERVER_HOSTNAME": "quay.example",
            "DB_URI": "postgresql://quay:hunter2@db:5432/quay",
            "MAIL_PASSWORD": "p",
            "SECRET_KEY": "s",
            "DISTRIBUTED_STORAGE_CONFIG": {"s3": ["S3Storage", {"s3_access_key": "a", "s3_secret_key": "b", "s3_bucket": "x"}]},
            "FEATURE_PROXY_CACHE": true,
            "SECURITY_SCANNER_V4_PSK": "c2Nhbm5lcg==",
        });
        let out = masked(config);
        assert_eq!(out["SERVER_HOSTNAME"], "quay.example");
        assert_eq!(out["DB_URI"], "postgresql://quay:********@db:5432/quay");
        assert_eq!(out["MAIL_PASSWORD"], MASK);
        assert_eq!(out["SECRET_KEY"], MASK);
        assert_eq!(out["DISTRIBUTED_STORAGE_CONFIG"]["s3"][1]["s3_access_key"], MASK);
        assert_eq!(out["DISTRIBUTED_STORAGE_CONFIG"]["s3"][1]["s3_secret_key"], MASK);
        assert_eq!(out["DISTRIBUTED_STORAGE_CONFIG"]["s3"][1]["s3_bucket"], "x");
        assert_eq!(out["FEATURE_PROXY_CACHE"], true);
        assert_eq!(out["SECURITY_SCANNER_V4_PSK"], MASK);
        assert!(!out.to_string().contains("hunter2"));
    }
}
