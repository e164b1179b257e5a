//! A Quay-compatible container image registry.
//!
//! Layers, top to bottom: `api` (HTTP handlers, actix) calls `service` (business
//! rules, framework-free), which calls `db::queries` (all SQL) and `storage`
//! (blob bytes). Nothing calls upward. `oci` holds the wire formats shared by all.

pub mod api;
pub mod config;
pub mod db;
pub mod oci;
pub mod service;
pub mod startup;
pub mod state;
pub mod storage;
pub mod tls;
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
