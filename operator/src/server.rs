//! Health and metrics endpoints of the operator process.
//!
//! One actix-web app serves `/healthz` (liveness: the process answers),
//! `/readyz` (readiness: the controllers started, or this replica is a
//! standby waiting for the leader lease) and `/metrics` (Prometheus text).
//! It listens on the metrics address (default `0.0.0.0:8080`) and the probe
//! address (default `0.0.0.0:8081`), like Quay's operator; every route is
//! served on both, and equal addresses are bound once.

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use actix_web::{web, App, HttpResponse, HttpServer};
use futures_util::Future;

use crate::controller::Metrics;

/// What the endpoints report, shared with the controllers.
#[derive(Default)]
pub struct State {
    /// Reconcile metrics.
    pub metrics: Arc<Metrics>,
    ready: AtomicBool,
}

impl State {
    /// Marks the process ready (controllers running, or standing by).
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Relaxed);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }
}

/// Mounts the three routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics));
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().body("ok")
}

async fn readyz(state: web::Data<State>) -> HttpResponse {
    if state.is_ready() {
        HttpResponse::Ok().body("ok")
    } else {
        HttpResponse::ServiceUnavailable().body("controllers not started")
    }
}

async fn metrics(state: web::Data<State>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(state.metrics.encode())
}

/// Parses `host:port`, accepting Go's `:port` for all interfaces.
pub fn parse_addr(addr: &str) -> Result<SocketAddr, std::net::AddrParseError> {
    match addr.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}").parse(),
        None => addr.parse(),
    }
}

/// Binds every distinct address.
pub fn bind(addrs: &[SocketAddr]) -> std::io::Result<Vec<TcpListener>> {
    let mut unique: Vec<SocketAddr> = Vec::new();
    for addr in addrs {
        if !unique.contains(addr) {
            unique.push(*addr);
        }
    }
    unique.iter().map(TcpListener::bind).collect()
}

/// Serves until `shutdown` resolves. actix's own signal handling is off:
/// the process handles SIGTERM once, for all its tasks.
pub async fn run(
    listeners: Vec<TcpListener>,
    state: Arc<State>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let data = web::Data::from(state);
    let mut server = HttpServer::new(move || App::new().app_data(data.clone()).configure(configure))
        .workers(1)
        .disable_signals()
        .shutdown_timeout(5);
    for listener in listeners {
        server = server.listen(listener)?;
    }
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(async move {
        shutdown.await;
        handle.stop(true).await;
    });
    server.await
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test as atest;

    async fn get(state: Arc<State>, path: &str) -> (u16, String) {
        let app = atest::init_service(App::new().app_data(web::Data::from(state)).configure(configure)).await;
        let resp = atest::call_service(&app, atest::TestRequest::get().uri(path).to_request()).await;
        let status = resp.status().as_u16();
        let body = atest::read_body(resp).await;
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[actix_web::test]
    async fn readiness_waits_for_the_controllers() {
        let state = Arc::new(State::default());
        assert_eq!(get(state.clone(), "/healthz").await.0, 200);
        assert_eq!(get(state.clone(), "/readyz").await.0, 503);
        state.set_ready();
        assert_eq!(get(state, "/readyz").await.0, 200);
    }

    #[actix_web::test]
    async fn metrics_are_served_as_prometheus_text() {
        let state = Arc::new(State::default());
        drop(state.metrics.reconcile_started());
        let (status, body) = get(state, "/metrics").await;
        assert_eq!(status, 200);
        assert!(body.contains("quay_operator_reconciliations_total 1"), "{body}");
        assert!(body.ends_with("# EOF\n"), "{body}");
    }

    #[test]
    fn go_style_addresses_mean_all_interfaces() {
        assert_eq!(
            parse_addr(":8081").expect("valid"),
            "0.0.0.0:8081".parse().expect("valid")
        );
        assert_eq!(
            parse_addr("127.0.0.1:9").expect("valid"),
            "127.0.0.1:9".parse().expect("valid")
        );
    }
}
