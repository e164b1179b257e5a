//! Live build logs in Redis (`BUILDLOGS_REDIS`), with Quay's key layout:
//! the list `builds/<uuid>/logs` of JSON entries `{message, type?, data?}`
//! (kept 7 days after the last line) and `builds/<uuid>/status`.
//!
//! The connection is made on first use and dropped after any failure, so a
//! Redis that was down is used again as soon as it answers. Connecting and
//! answering are bounded (1 s and 2 s, as Quay's client), so a dead Redis
//! turns into a prompt `Unavailable` instead of a hung request.

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, ConnectionAddr, IntoConnectionInfo, RedisConnectionInfo};
use serde_yaml::{Mapping, Value};
use tokio::sync::Mutex;

use crate::config::{Config, ConfigError};
use crate::service::Error;

const FIELD: &str = "BUILDLOGS_REDIS";

/// How long a build's log list lives after its last line (Quay: 7 days).
const LOGS_TTL_S: i64 = 7 * 24 * 3600;
/// How long the status key lives once the logs are archived (Quay: 1 day).
const STATUS_TTL_S: i64 = 24 * 3600;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);

/// `BUILDLOGS_REDIS`: `{host, port, password, username, db, ssl}`; Quay's
/// other redis-py keyword arguments are accepted and not used.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisSettings {
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<String>,
    pub db: i64,
    pub ssl: bool,
}

impl std::fmt::Debug for RedisSettings {
    /// Keeps the password out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("db", &self.db)
            .field("ssl", &self.ssl)
            .finish()
    }
}

fn err(message: impl Into<String>) -> ConfigError {
    ConfigError::Field {
        field: FIELD.into(),
        message: message.into(),
    }
}

fn optional_text(map: &Mapping, key: &str) -> Result<Option<String>, ConfigError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(err(format!("{key} must be text"))),
    }
}

impl RedisSettings {
    /// The settings, when `BUILDLOGS_REDIS` names a host.
    pub fn from_config(config: &Config) -> Result<Option<RedisSettings>, ConfigError> {
        let map = match config.other.get(FIELD) {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Mapping(m)) => m,
            Some(_) => return Err(err("must be a mapping such as {host: redis, port: 6379}")),
        };
        let Some(host) = optional_text(map, "host")? else {
            return Err(err("host is required"));
        };
        let port = match map.get("port") {
            None | Some(Value::Null) => 6379,
            Some(v) => v
                .as_u64()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                .and_then(|p| u16::try_from(p).ok())
                .filter(|p| *p > 0)
                .ok_or_else(|| err("port must be a TCP port number"))?,
        };
        let db = match map.get("db") {
            None | Some(Value::Null) => 0,
            Some(v) => v
                .as_i64()
                .filter(|n| *n >= 0)
                .ok_or_else(|| err("db must be a database number"))?,
        };
        let ssl = match map.get("ssl") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(err("ssl must be true or false")),
        };
        Ok(Some(RedisSettings {
            host,
            port,
            username: optional_text(map, "username")?,
            password: optional_text(map, "password")?,
            db,
            ssl,
        }))
    }
}

fn unavailable(e: &redis::RedisError) -> Error {
    tracing::warn!(error = %e, "build logs Redis failed");
    Error::Unavailable("The build logs store (Redis) is unavailable; retry later".into())
}

/// A client for the live logs in Redis.
pub struct RedisLogs {
    client: Client,
    conn: Mutex<Option<MultiplexedConnection>>,
}

impl std::fmt::Debug for RedisLogs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLogs").finish_non_exhaustive()
    }
}

fn logs_key(uuid: &str) -> String {
    format!("builds/{uuid}/logs")
}

fn status_key(uuid: &str) -> String {
    format!("builds/{uuid}/status")
}

impl RedisLogs {
    /// Prepares the client; connects on first use.
    pub fn new(s: &RedisSettings) -> Result<RedisLogs, ConfigError> {
        let addr = if s.ssl {
            ConnectionAddr::TcpTls {
                host: s.host.clone(),
                port: s.port,
                insecure: false,
                tls_params: None,
            }
        } else {
            ConnectionAddr::Tcp(s.host.clone(), s.port)
        };
        let mut redis = RedisConnectionInfo::default().set_db(s.db);
        if let Some(u) = &s.username {
            redis = redis.set_username(u);
        }
        if let Some(p) = &s.password {
            redis = redis.set_password(p);
        }
        let info = addr
            .into_connection_info()
            .map_err(|e| err(e.to_string()))?
            .set_redis_settings(redis);
        let client = Client::open(info).map_err(|e| err(e.to_string()))?;
        Ok(RedisLogs {
            client,
            conn: Mutex::new(None),
        })
    }

    async fn connection(&self) -> Result<MultiplexedConnection, Error> {
        let mut cached = self.conn.lock().await;
        if let Some(c) = cached.as_ref() {
            return Ok(c.clone());
        }
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT));
        let conn = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|e| unavailable(&e))?;
        *cached = Some(conn.clone());
        Ok(conn)
    }

    /// Runs a pipeline; a failure drops the connection so the next call
    /// connects again.
    async fn run<T: redis::FromRedisValue>(&self, pipe: &redis::Pipeline) -> Result<T, Error> {
        let mut conn = self.connection().await?;
        match pipe.query_async(&mut conn).await {
            Ok(v) => Ok(v),
            Err(e) => {
                *self.conn.lock().await = None;
                Err(unavailable(&e))
            }
        }
    }

    /// Appends one JSON entry to the build's log list.
    pub async fn append(&self, uuid: &str, entry: &str) -> Result<(), Error> {
        let key = logs_key(uuid);
        let mut pipe = redis::pipe();
        pipe.rpush(&key, entry).ignore().expire(&key, LOGS_TTL_S).ignore();
        self.run::<()>(&pipe).await
    }

    /// The number of entries and the entries from `start` on.
    pub async fn read(&self, uuid: &str, start: i64) -> Result<(i64, Vec<String>), Error> {
        let key = logs_key(uuid);
        let start = isize::try_from(start).unwrap_or(isize::MAX);
        let mut pipe = redis::pipe();
        pipe.atomic().llen(&key).lrange(&key, start, -1);
        self.run(&pipe).await
    }

    /// Removes the live copy once it is archived; the status key expires.
    pub async fn delete(&self, uuid: &str) -> Result<(), Error> {
        let mut pipe = redis::pipe();
        pipe.del(logs_key(uuid))
            .ignore()
            .expire(status_key(uuid), STATUS_TTL_S)
            .ignore();
        self.run::<()>(&pipe).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(yaml: &str) -> Result<Option<RedisSettings>, ConfigError> {
        RedisSettings::from_config(&Config::parse(yaml).expect("config"))
    }

    #[test]
    fn quays_buildlogs_redis_keys_are_read_with_defaults() {
        assert_eq!(settings("{}").expect("ok"), None);
        let s = settings("BUILDLOGS_REDIS: {host: redis.local}")
            .expect("ok")
            .expect("some");
        assert_eq!((s.host.as_str(), s.port, s.db, s.ssl), ("redis.local", 6379, 0, false));
        let s = settings("BUILDLOGS_REDIS: {host: r, port: 6380, password: pw, db: 2, ssl: true, socket_timeout: 5}")
            .expect("ok")
            .expect("some");
        assert_eq!(
            (s.port, s.password.as_deref(), s.db, s.ssl),
            (6380, Some("pw"), 2, true)
        );
        assert!(!format!("{s:?}").contains("pw"), "the password is not shown");
    }

    #[test]
    fn bad_buildlogs_redis_values_are_refused_naming_the_field() {
        for yaml in [
            "BUILDLOGS_REDIS: redis",
            "BUILDLOGS_REDIS: {port: 6379}",
            "BUILDLOGS_REDIS: {host: r, port: 0}",
            "BUILDLOGS_REDIS: {host: r, port: many}",
            "BUILDLOGS_REDIS: {host: r, ssl: maybe}",
            "BUILDLOGS_REDIS: {host: r, db: -1}",
        ] {
            let on = format!("FEATURE_BUILD_SUPPORT: true\n{yaml}");
            let e = Config::parse(&on).expect_err(yaml);
            assert!(e.to_string().contains(FIELD), "{yaml}: {e}");
            let off = format!("FEATURE_BUILD_SUPPORT: false\n{yaml}");
            assert!(Config::parse(&off).is_ok(), "unused without builds: {yaml}");
        }
    }
}
