//! HTTP handlers: thin adapters from requests to `service` calls.

pub mod auth;
pub mod health;
pub mod v1;
pub mod v2;
