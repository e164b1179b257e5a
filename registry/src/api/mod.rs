//! HTTP handlers: thin adapters from requests to `service` calls.

pub mod auth;
pub mod body;
pub mod buildman;
pub mod health;
pub mod v1;
pub mod v2;

/// What a client is told while the database cannot be reached (503).
pub const DATABASE_UNAVAILABLE: &str = "the database is unavailable, retry later";

/// The `Retry-After` (seconds) of a 503 for an unreachable database.
pub const RETRY_AFTER_S: u64 = 5;

/// The client's address for usage logs: the proxy-reported one
/// (`Forwarded`/`X-Forwarded-For`) when present, else the peer's, without
/// a port.
pub fn client_ip(req: &actix_web::HttpRequest) -> Option<String> {
    let info = req.connection_info();
    let addr = info.realip_remote_addr()?;
    Some(match addr.parse::<std::net::SocketAddr>() {
        Ok(sa) => sa.ip().to_string(),
        Err(_) => addr.to_owned(),
    })
}

/// The `User-Agent` header, for usage-log metadata.
pub fn user_agent(req: &actix_web::HttpRequest) -> String {
    req.headers()
        .get("User-Agent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}
