//! A Quay-compatible container image registry.
//!
//! Layers, top to bottom: `api` (HTTP handlers, actix) calls `service` (business
//! rules, framework-free), which calls `db::queries` (all SQL) and `storage`
//! (blob bytes). Nothing calls upward. `oci` holds the wire formats shared by all.

pub mod api;
pub mod builder;
pub mod config;
pub mod config_dump;
pub mod db;
pub mod metrics;
pub mod oci;
pub mod service;
pub mod startup;
pub mod state;
pub mod storage;
pub mod telemetry;
pub mod tls;
pub mod ui;
pub mod worker;

pub use service::Error;

/// Result alias for the service layer.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Milliseconds since the Unix epoch, the time unit of every stored timestamp.
pub fn now_ms() -> i64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A stored timestamp as Quay prints dates: RFC 2822 in UTC, e.g.
/// `Wed, 02 Oct 2002 13:00:00 -0000`.
pub fn format_date(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.format("%a, %d %b %Y %H:%M:%S -0000").to_string())
        .unwrap_or_default()
}
