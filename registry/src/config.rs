//! `config.yaml` with Quay's field names. Unknown keys are accepted (Quay
//! configs carry many); known keys with a wrong type or value are refused
//! with a message naming the field.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_yaml::Value;

use crate::db::DbTarget;
use crate::storage::S3Config;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config is not valid YAML: {0}")]
    Yaml(String),
    #[error("{field}: {message}")]
    Field { field: String, message: String },
}

fn field_err(field: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Field {
        field: field.into(),
        message: message.into(),
    }
}

/// The fields of `config.yaml` the registry reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub struct Config {
    pub server_hostname: Option<String>,
    #[serde(default = "default_scheme")]
    pub preferred_url_scheme: String,
    pub db_uri: Option<String>,
    #[serde(default)]
    pub distributed_storage_config: BTreeMap<String, (String, BTreeMap<String, Value>)>,
    #[serde(default)]
    pub distributed_storage_preference: Vec<String>,
    #[serde(default = "default_temp_tag_expiration")]
    pub push_temp_tag_expiration_sec: i64,
    #[serde(default = "default_true")]
    pub create_private_repo_on_push: bool,
    #[serde(default = "default_page_size")]
    pub v2_pagination_size: usize,
    /// Age after which an untouched blob upload is removed.
    #[serde(default = "default_stale_upload")]
    pub stale_upload_expiration_sec: i64,
    /// No robot accounts may be created or log in (`ROBOTS_DISALLOW`).
    #[serde(default)]
    pub robots_disallow: bool,
    /// A push into a missing namespace creates it as an organization.
    #[serde(default)]
    pub create_namespace_on_push: bool,
    /// Usernames with superuser rights (`SUPER_USERS`).
    #[serde(default)]
    pub super_users: Vec<String>,
    /// GETs from browsers must carry `X-Requested-With: XMLHttpRequest`.
    #[serde(default = "default_true")]
    pub browser_api_calls_xhr_only: bool,
    /// Turns off the browser XHR rule, as in Quay.
    #[serde(default)]
    pub debugging: bool,
    /// How long a password sign-in counts as fresh for sensitive changes.
    #[serde(default = "default_fresh_login")]
    pub fresh_login_timeout: String,
    /// Lifetime of new app-specific tokens; none means they never expire.
    #[serde(default)]
    pub app_specific_token_expiration: Option<String>,
    /// Outgoing mail (invitations, notifications); mailing is on by default
    /// only when a server is configured.
    #[serde(default)]
    pub mail_server: Option<String>,
    #[serde(default = "default_mail_port")]
    pub mail_port: u16,
    #[serde(default)]
    pub mail_use_tls: bool,
    #[serde(default)]
    pub mail_username: Option<String>,
    #[serde(default)]
    pub mail_password: Option<String>,
    #[serde(default)]
    pub mail_default_sender: Option<String>,
    /// Label key prefixes the API refuses on top of Quay's defaults; each
    /// ends in a dot.
    #[serde(default)]
    pub label_key_reserved_prefixes: Vec<String>,
    /// Pulls are recorded in the usage logs (`pull_repo`); off spares the
    /// database one row per manifest GET.
    #[serde(default = "default_true")]
    pub action_log_pulls: bool,
    /// Every other key, kept so `FEATURE_*` flags and future fields are seen.
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
    /// The folder of the config file (Quay's config bundle), where
    /// certificates such as `ldap.crt` and `extra_ca_certs/` are found;
    /// `None` for a config not read from a file.
    #[serde(skip)]
    pub config_dir: Option<PathBuf>,
    /// The parsed text as written, for the superuser's config view.
    #[serde(skip)]
    pub source: Value,
}

fn default_scheme() -> String {
    "http".into()
}
fn default_temp_tag_expiration() -> i64 {
    3600
}
fn default_true() -> bool {
    true
}
fn default_page_size() -> usize {
    100
}
fn default_fresh_login() -> String {
    "10m".into()
}
fn default_mail_port() -> u16 {
    587
}
fn default_stale_upload() -> i64 {
    86_400
}

impl Default for Config {
    /// The embedded default: every field at its Quay default.
    fn default() -> Self {
        serde_yaml::from_value(Value::Mapping(Default::default())).expect("defaults deserialize")
    }
}

/// A Quay duration such as `10m`, `2w` or `3600s` (`^[0-9]+(w|d|h|m|s)$`).
pub fn parse_duration(text: &str) -> Option<std::time::Duration> {
    let text = text.trim();
    let unit = text.chars().last()?;
    let number: u64 = text[..text.len() - unit.len_utf8()].parse().ok()?;
    let seconds = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        'w' => 604_800,
        _ => return None,
    };
    number.checked_mul(seconds).map(std::time::Duration::from_secs)
}

/// Which blob store to use, resolved from the storage fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageChoice {
    Local(PathBuf),
    S3(S3Config),
}

impl std::fmt::Display for StorageChoice {
    /// Shows where blobs go without credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StorageChoice::Local(p) => write!(f, "local folder {}", p.display()),
            StorageChoice::S3(s) => write!(
                f,
                "S3 bucket {} at {} prefix {:?}",
                s.bucket,
                s.endpoint.as_deref().unwrap_or("AWS"),
                s.prefix
            ),
        }
    }
}

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut config = Config::parse(&text)?;
        config.config_dir = path.parent().map(Path::to_path_buf);
        // Certificates beside the config are read now that the folder is known.
        crate::service::directory::validate_config(&config)?;
        Ok(config)
    }

    /// Parses and validates config text.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let value: Value = serde_yaml::from_str(text).map_err(|e| ConfigError::Yaml(e.to_string()))?;
        let value = match value {
            Value::Null => Value::Mapping(Default::default()),
            Value::Mapping(m) => Value::Mapping(m),
            _ => {
                return Err(ConfigError::Yaml(
                    "the top level must be a mapping of field names".into(),
                ))
            }
        };
        let mut config: Config = serde_path_to_error::deserialize(value.clone()).map_err(|e| {
            let path = e.path().to_string();
            field_err(path, e.into_inner().to_string())
        })?;
        config.validate()?;
        config.source = value;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        for (key, value) in &self.other {
            if key.starts_with("FEATURE_") && !value.is_bool() {
                return Err(field_err(key, "must be true or false"));
            }
        }
        if !matches!(self.preferred_url_scheme.as_str(), "http" | "https") {
            return Err(field_err("PREFERRED_URL_SCHEME", "must be http or https"));
        }
        if let Some(uri) = &self.db_uri {
            DbTarget::parse(uri).map_err(|m| field_err("DB_URI", m))?;
        }
        self.validate_durations()?;
        if self.label_key_reserved_prefixes.iter().any(|p| !p.ends_with('.')) {
            return Err(field_err(
                "LABEL_KEY_RESERVED_PREFIXES",
                "every prefix must end in a dot",
            ));
        }
        if parse_duration(&self.fresh_login_timeout).is_none() {
            return Err(field_err("FRESH_LOGIN_TIMEOUT", "must be a duration such as 10m"));
        }
        if let Some(d) = &self.app_specific_token_expiration {
            if parse_duration(d).is_none() {
                return Err(field_err(
                    "APP_SPECIFIC_TOKEN_EXPIRATION",
                    "must be a duration such as 30d",
                ));
            }
        }
        if self
            .other
            .get("DEFAULT_SYSTEM_REJECT_QUOTA_BYTES")
            .is_some_and(|v| v.as_i64().is_none_or(|n| n < 0))
        {
            return Err(field_err(
                "DEFAULT_SYSTEM_REJECT_QUOTA_BYTES",
                "must be a number of bytes, 0 for none",
            ));
        }
        if self.other.get("QUOTA_BACKFILL").is_some_and(|v| !v.is_bool()) {
            return Err(field_err("QUOTA_BACKFILL", "must be true or false"));
        }
        if self
            .other
            .get("SSRF_ALLOWED_HOSTS")
            .is_some_and(|v| !v.as_sequence().is_some_and(|s| s.iter().all(Value::is_string)))
        {
            return Err(field_err("SSRF_ALLOWED_HOSTS", "must be a list of host names"));
        }
        if self
            .other
            .get("NOTIFICATION_SEND_TIMEOUT")
            .is_some_and(|v| v.as_u64().is_none_or(|n| n == 0))
        {
            return Err(field_err(
                "NOTIFICATION_SEND_TIMEOUT",
                "must be a number of seconds, at least 1",
            ));
        }
        if self.other.get("NOTIFICATION_CA_BUNDLE").is_some_and(|v| !v.is_string()) {
            return Err(field_err("NOTIFICATION_CA_BUNDLE", "must be the path of a PEM file"));
        }
        if self.push_temp_tag_expiration_sec < 0 {
            return Err(field_err("PUSH_TEMP_TAG_EXPIRATION_SEC", "must not be negative"));
        }
        for key in ["GARBAGE_COLLECTION_FREQUENCY", "NOTIFICATION_WORKER_INTERVAL"] {
            if self.other.contains_key(key) && self.seconds(key).is_none() {
                return Err(field_err(key, "must be a whole number of seconds"));
            }
        }
        for key in crate::service::builds::THRESHOLD_KEYS {
            if self
                .other
                .get(key)
                .is_some_and(|v| !crate::service::builds::valid_threshold(v))
            {
                return Err(field_err(key, "must be a whole number of builds, or null for never"));
            }
        }
        crate::service::builds::BuildManagerSettings::from_config(self)?;
        crate::service::builds::validate_config(self)?;
        crate::service::directory::validate_config(self)?;
        self.storage(Path::new("."))?;
        Ok(())
    }

    /// The tag lifecycle and log retention fields (durations, a list of
    /// durations, a flag) and the robot API token limit.
    fn validate_durations(&self) -> Result<(), ConfigError> {
        let is_duration = |v: &Value| v.as_str().and_then(parse_duration).is_some();
        for key in [
            "DEFAULT_TAG_EXPIRATION",
            "LABELED_EXPIRATION_MINIMUM",
            "LABELED_EXPIRATION_MAXIMUM",
            "ACTION_LOG_ROTATION_THRESHOLD",
        ] {
            if self.other.get(key).is_some_and(|v| !is_duration(v)) {
                return Err(field_err(key, "must be a duration such as 2w"));
            }
        }
        if let Some(options) = self.other.get("TAG_EXPIRATION_OPTIONS") {
            if !options.as_sequence().is_some_and(|items| items.iter().all(is_duration)) {
                return Err(field_err(
                    "TAG_EXPIRATION_OPTIONS",
                    "must be a list of durations such as 1d",
                ));
            }
        }
        if self
            .other
            .get("API_TOKEN_MAXIMUM_TOKEN_COUNT")
            .is_some_and(|v| !v.is_null() && v.as_u64().is_none())
        {
            return Err(field_err(
                "API_TOKEN_MAXIMUM_TOKEN_COUNT",
                "must be a whole number of tokens",
            ));
        }
        if self.other.get("PERMANENTLY_DELETE_TAGS").is_some_and(|v| !v.is_bool()) {
            return Err(field_err("PERMANENTLY_DELETE_TAGS", "must be true or false"));
        }
        Ok(())
    }

    /// A field holding whole seconds, as a number or a numeric string
    /// (validated at load); `None` when absent.
    pub fn seconds(&self, key: &str) -> Option<u64> {
        let v = self.other.get(key)?;
        v.as_u64().or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
    }

    /// Whether a `FEATURE_*` flag is on, with its default when absent.
    /// A text setting of `config.yaml`, or `default` when absent or not text.
    pub fn text_or(&self, key: &str, default: &str) -> String {
        self.other
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or(default)
            .to_owned()
    }

    /// A yes/no setting of `config.yaml`, or `default` when absent.
    pub fn flag_or(&self, key: &str, default: bool) -> bool {
        self.other.get(key).and_then(Value::as_bool).unwrap_or(default)
    }

    pub fn feature(&self, name: &str, default: bool) -> bool {
        self.other
            .get(&format!("FEATURE_{name}"))
            .and_then(Value::as_bool)
            .unwrap_or(default)
    }

    /// Whether mail can be sent: `FEATURE_MAILING`, on by default when
    /// `MAIL_SERVER` is set.
    pub fn mailing(&self) -> bool {
        self.feature("MAILING", self.mail_server.is_some()) && self.mail_server.is_some()
    }

    /// `FRESH_LOGIN_TIMEOUT` as a duration (validated at load).
    pub fn fresh_login(&self) -> std::time::Duration {
        parse_duration(&self.fresh_login_timeout).unwrap_or(std::time::Duration::from_secs(600))
    }

    /// The database, defaulting to SQLite in the data directory.
    pub fn database(&self, data_dir: &Path) -> Result<DbTarget, ConfigError> {
        match &self.db_uri {
            Some(uri) => DbTarget::parse(uri).map_err(|m| field_err("DB_URI", m)),
            None => Ok(DbTarget::Sqlite(data_dir.join("registry.db"))),
        }
    }

    /// The preferred storage location, defaulting to a folder in the data directory.
    pub fn storage(&self, data_dir: &Path) -> Result<StorageChoice, ConfigError> {
        const FIELD: &str = "DISTRIBUTED_STORAGE_CONFIG";
        if self.distributed_storage_config.is_empty() {
            return Ok(StorageChoice::Local(data_dir.join("blobs")));
        }
        let name = match self.distributed_storage_preference.first() {
            Some(n) => n.clone(),
            None => self
                .distributed_storage_config
                .keys()
                .next()
                .cloned()
                .unwrap_or_default(),
        };
        let (driver, params) = self.distributed_storage_config.get(&name).ok_or_else(|| {
            field_err(
                "DISTRIBUTED_STORAGE_PREFERENCE",
                format!("location `{name}` is not in {FIELD}"),
            )
        })?;
        let at = |key: &str| format!("{FIELD}.{name}.{key}");
        let text = |keys: &[&str]| -> Result<Option<String>, ConfigError> {
            for k in keys {
                match params.get(*k) {
                    None | Some(Value::Null) => continue,
                    Some(Value::String(s)) => return Ok(Some(s.clone())),
                    Some(Value::Number(n)) => return Ok(Some(n.to_string())),
                    Some(_) => return Err(field_err(at(k), "must be a string")),
                }
            }
            Ok(None)
        };
        match driver.as_str() {
            "LocalStorage" => {
                let path = text(&["storage_path"])?.ok_or_else(|| field_err(at("storage_path"), "is required"))?;
                Ok(StorageChoice::Local(PathBuf::from(path)))
            }
            "S3Storage" | "RadosGWStorage" => {
                let bucket =
                    text(&["s3_bucket", "bucket_name"])?.ok_or_else(|| field_err(at("s3_bucket"), "is required"))?;
                let secure = match params.get("is_secure") {
                    None | Some(Value::Null) => true,
                    Some(Value::Bool(b)) => *b,
                    Some(_) => return Err(field_err(at("is_secure"), "must be true or false")),
                };
                let port = match params.get("port") {
                    None | Some(Value::Null) => None,
                    Some(Value::Number(n)) => Some(
                        n.as_u64()
                            .filter(|p| *p <= 65535)
                            .ok_or_else(|| field_err(at("port"), "must be a port number"))?,
                    ),
                    Some(Value::String(s)) => Some(
                        s.parse::<u16>()
                            .map(u64::from)
                            .map_err(|_| field_err(at("port"), "must be a port number"))?,
                    ),
                    Some(_) => return Err(field_err(at("port"), "must be a port number")),
                };
                let endpoint = text(&["host", "hostname"])?.map(|host| {
                    let scheme = if secure { "https" } else { "http" };
                    match port {
                        Some(p) => format!("{scheme}://{host}:{p}"),
                        None => format!("{scheme}://{host}"),
                    }
                });
                Ok(StorageChoice::S3(S3Config {
                    endpoint,
                    bucket,
                    prefix: text(&["storage_path"])?.unwrap_or_default(),
                    access_key: text(&["s3_access_key", "access_key"])?,
                    secret_key: text(&["s3_secret_key", "secret_key"])?,
                    region: text(&["s3_region", "region"])?.unwrap_or_else(|| "us-east-1".into()),
                }))
            }
            other => Err(field_err(
                format!("{FIELD}.{name}"),
                format!("unknown storage driver `{other}` (supported: LocalStorage, S3Storage, RadosGWStorage)"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_follow_quay_syntax() {
        assert_eq!(parse_duration("10m"), Some(std::time::Duration::from_secs(600)));
        assert_eq!(parse_duration("2w"), Some(std::time::Duration::from_secs(1_209_600)));
        assert_eq!(parse_duration("0s"), Some(std::time::Duration::ZERO));
        assert_eq!(parse_duration("10"), None);
        assert_eq!(parse_duration("m"), None);
        assert_eq!(parse_duration("-1h"), None);
        assert!(Config::parse("FRESH_LOGIN_TIMEOUT: soon").is_err());
        assert!(!Config::default().mailing());
        assert!(Config::parse("MAIL_SERVER: 127.0.0.1").expect("valid config").mailing());
        assert!(!Config::parse("MAIL_SERVER: 127.0.0.1\nFEATURE_MAILING: false")
            .expect("valid config")
            .mailing());
    }

    #[test]
    fn empty_config_means_embedded_defaults() {
        let c = Config::parse("").expect("empty is fine");
        assert_eq!(
            c.database(Path::new("d")).ok(),
            Some(DbTarget::Sqlite("d/registry.db".into()))
        );
        assert_eq!(
            c.storage(Path::new("d")).ok(),
            Some(StorageChoice::Local("d/blobs".into()))
        );
    }

    #[test]
    fn quay_s3_storage_is_understood() {
        let c = Config::parse(
            "DISTRIBUTED_STORAGE_CONFIG:\n  s3:\n    - S3Storage\n    - host: 127.0.0.1\n      port: 9000\n      is_secure: false\n      s3_bucket: b\n      storage_path: /registry\n      s3_access_key: k\n      s3_secret_key: s\nDISTRIBUTED_STORAGE_PREFERENCE: [s3]\nSOME_UNKNOWN_KEY: 5\nFEATURE_PROXY_CACHE: true\n",
        )
        .expect("valid");
        let StorageChoice::S3(s3) = c.storage(Path::new(".")).expect("storage") else {
            panic!("expected S3")
        };
        assert_eq!(s3.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!((s3.bucket.as_str(), s3.prefix.as_str()), ("b", "/registry"));
        assert!(c.feature("PROXY_CACHE", false));
    }

    #[test]
    fn bad_fields_are_named_in_the_error() {
        let cases = [
            ("DB_URI: mysql://x\n", "DB_URI"),
            ("DB_URI: [1, 2]\n", "DB_URI"),
            ("FEATURE_X: maybe\n", "FEATURE_X"),
            ("PUSH_TEMP_TAG_EXPIRATION_SEC: soon\n", "PUSH_TEMP_TAG_EXPIRATION_SEC"),
            ("DEFAULT_TAG_EXPIRATION: forever\n", "DEFAULT_TAG_EXPIRATION"),
            ("LABELED_EXPIRATION_MAXIMUM: 3\n", "LABELED_EXPIRATION_MAXIMUM"),
            ("TAG_EXPIRATION_OPTIONS: [1d, soon]\n", "TAG_EXPIRATION_OPTIONS"),
            ("PERMANENTLY_DELETE_TAGS: maybe\n", "PERMANENTLY_DELETE_TAGS"),
            ("DEFAULT_SYSTEM_REJECT_QUOTA_BYTES: lots\n", "DEFAULT_SYSTEM_REJECT_QUOTA_BYTES"),
            ("DEFAULT_SYSTEM_REJECT_QUOTA_BYTES: -5\n", "DEFAULT_SYSTEM_REJECT_QUOTA_BYTES"),
            ("QUOTA_BACKFILL: sometimes\n", "QUOTA_BACKFILL"),
            ("GARBAGE_COLLECTION_FREQUENCY: often\n", "GARBAGE_COLLECTION_FREQUENCY"),
            ("NOTIFICATION_WORKER_INTERVAL: -1\n", "NOTIFICATION_WORKER_INTERVAL"),
            ("NOTIFICATION_WORKER_INTERVAL: [10]\n", "NOTIFICATION_WORKER_INTERVAL"),
            ("ACTION_LOG_ROTATION_THRESHOLD: 30\n", "ACTION_LOG_ROTATION_THRESHOLD"),
            ("ACTION_LOG_ROTATION_THRESHOLD: a month\n", "ACTION_LOG_ROTATION_THRESHOLD"),
            ("ACTION_LOG_PULLS: sometimes\n", "ACTION_LOG_PULLS"),
            ("LABEL_KEY_RESERVED_PREFIXES: [com.example]\n", "LABEL_KEY_RESERVED_PREFIXES"),
            ("DISTRIBUTED_STORAGE_CONFIG:\n  x: [FancyStorage, {}]\n", "DISTRIBUTED_STORAGE_CONFIG.x"),
            ("DISTRIBUTED_STORAGE_CONFIG:\n  x: [LocalStorage, {storage_path: /d}]\nDISTRIBUTED_STORAGE_PREFERENCE: [y]\n", "DISTRIBUTED_STORAGE_PREFERENCE"),
        ];
        for (text, field) in cases {
            let err = Config::parse(text).expect_err(text).to_string();
            assert!(err.starts_with(field), "{text:?} gave {err:?}");
        }
        assert!(matches!(Config::parse("a: [b"), Err(ConfigError::Yaml(_))));
    }
}

#[cfg(test)]
mod sample_tests {
    use super::*;

    #[test]
    fn the_sample_configs_are_valid() {
        for text in [
            include_str!("../../config/config.yaml"),
            include_str!("../../config/config-postgres-s3.yaml"),
        ] {
            Config::parse(text).expect("sample config is valid");
        }
    }
}
