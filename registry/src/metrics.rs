//! Prometheus metrics, served on their own listener (`--metrics-listen`,
//! Quay's port 9091) at `/metrics`: requests by route family and status
//! with their latency, bytes pushed and pulled, uploads in progress,
//! garbage collection, queue depths, worker failures, database pool use
//! and storage errors. Counters live in one process-wide [`METRICS`];
//! queue depths and pool use are read when scraped.

use std::sync::LazyLock;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry as Prom;

use crate::service::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    pub route: &'static str,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NameLabel {
    pub name: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolLabels {
    pub pool: &'static str,
    pub state: &'static str,
}

type Latency = Family<RequestLabels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 1 ms … about 33 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

pub struct Metrics {
    pub requests: Family<RequestLabels, Counter>,
    pub request_duration: Latency,
    pub pushed_bytes: Counter,
    pub pulled_bytes: Counter,
    pub uploads_in_progress: Gauge,
    pub gc_passes: Counter,
    pub gc_manifests_deleted: Counter,
    pub gc_blobs_deleted: Counter,
    pub gc_reclaimed_bytes: Counter,
    pub worker_failures: Family<NameLabel, Counter>,
    pub storage_errors: Counter,
    pub queue_depth: Family<NameLabel, Gauge>,
    pub db_pool: Family<PoolLabels, Gauge>,
    registry: Prom,
}

pub static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

impl Metrics {
    fn new() -> Metrics {
        let mut m = Metrics {
            requests: Family::default(),
            request_duration: Family::new_with_constructor(latency_histogram),
            pushed_bytes: Counter::default(),
            pulled_bytes: Counter::default(),
            uploads_in_progress: Gauge::default(),
            gc_passes: Counter::default(),
            gc_manifests_deleted: Counter::default(),
            gc_blobs_deleted: Counter::default(),
            gc_reclaimed_bytes: Counter::default(),
            worker_failures: Family::default(),
            storage_errors: Counter::default(),
            queue_depth: Family::default(),
            db_pool: Family::default(),
            registry: Prom::default(),
        };
        let r = &mut m.registry;
        r.register(
            "quay_request",
            "HTTP requests by route family, method and status",
            m.requests.clone(),
        );
        r.register(
            "quay_request_duration_seconds",
            "Time to answer HTTP requests, by route family, method and status",
            m.request_duration.clone(),
        );
        r.register(
            "quay_registry_image_pushed_bytes",
            "Bytes of blobs pushed",
            m.pushed_bytes.clone(),
        );
        r.register(
            "quay_registry_image_pulled_bytes",
            "Bytes of blobs pulled",
            m.pulled_bytes.clone(),
        );
        r.register(
            "quay_uploads_in_progress",
            "Blob upload requests being received now",
            m.uploads_in_progress.clone(),
        );
        r.register(
            "quay_gc_iterations",
            "Garbage-collection passes run",
            m.gc_passes.clone(),
        );
        r.register(
            "quay_gc_manifests_deleted",
            "Manifests deleted by garbage collection",
            m.gc_manifests_deleted.clone(),
        );
        r.register(
            "quay_gc_storage_blobs_deleted",
            "Blobs deleted by garbage collection",
            m.gc_blobs_deleted.clone(),
        );
        r.register(
            "quay_gc_reclaimed_bytes",
            "Bytes of storage freed by garbage collection",
            m.gc_reclaimed_bytes.clone(),
        );
        r.register(
            "quay_worker_failures",
            "Failed passes of background workers, by worker",
            m.worker_failures.clone(),
        );
        r.register(
            "quay_storage_errors",
            "Blob storage operations that failed",
            m.storage_errors.clone(),
        );
        r.register(
            "quay_queue_items_available",
            "Items waiting in each queue",
            m.queue_depth.clone(),
        );
        r.register(
            "quay_db_pool_connections",
            "Database pool connections by pool (reader, writer) and state (idle, in_use)",
            m.db_pool.clone(),
        );
        m
    }

    /// A failed pass of the background worker `name`.
    pub fn worker_failed(&self, name: &'static str) {
        self.worker_failures.get_or_create(&NameLabel { name }).inc();
    }

    /// Records a finished garbage-collection pass.
    pub fn gc_pass(&self, manifests: usize, blobs: usize, bytes: u64) {
        self.gc_passes.inc();
        self.gc_manifests_deleted.inc_by(manifests as u64);
        self.gc_blobs_deleted.inc_by(blobs as u64);
        self.gc_reclaimed_bytes.inc_by(bytes);
    }
}

/// The route family of a path, for labels that stay few.
pub fn route_family(method: &str, path: &str) -> &'static str {
    if let Some(rest) = path.strip_prefix("/v2/") {
        return if rest.is_empty() {
            "v2_base"
        } else if rest == "_catalog" {
            "v2_catalog"
        } else if rest.contains("/blobs/uploads") {
            "v2_blob_upload"
        } else if rest.contains("/blobs/") {
            "v2_blob"
        } else if rest.contains("/manifests/") {
            "v2_manifest"
        } else if rest.ends_with("/tags/list") {
            "v2_tags"
        } else if rest.contains("/referrers/") {
            "v2_referrers"
        } else {
            "v2_other"
        };
    }
    if path == "/v2" {
        return "v2_base";
    }
    if path.starts_with("/api/v1/") {
        return if method == "GET" { "api_v1_read" } else { "api_v1_write" };
    }
    if path.starts_with("/v1/") {
        return "v1";
    }
    if path.starts_with("/health") {
        return "health";
    }
    if path.starts_with("/static/") {
        return "static";
    }
    if path.starts_with("/oauth") || path.starts_with("/signin") || path.starts_with("/csrf_token") {
        return "session";
    }
    if path.starts_with("/buildlogs") || path.starts_with("/webhooks") || path.starts_with("/secscan") {
        return "hooks";
    }
    "web"
}

/// Middleware: counts and times every request; counts pulled blob bytes
/// and blob upload requests in flight.
pub async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let method = req.method().as_str().to_owned();
    let route = route_family(&method, req.path());
    let start = Instant::now();
    let uploading = route == "v2_blob_upload" && method != "GET" && method != "HEAD";
    if uploading {
        METRICS.uploads_in_progress.inc();
    }
    let res = next.call(req).await;
    if uploading {
        METRICS.uploads_in_progress.dec();
    }
    let status = match &res {
        Ok(r) => r.status().as_u16(),
        Err(e) => e.as_response_error().status_code().as_u16(),
    };
    if let (Ok(r), "v2_blob", "GET") = (&res, route, method.as_str()) {
        if r.status().is_success() {
            // Blob bodies are sized (a file, a range or an object of known length).
            if let actix_web::body::BodySize::Sized(len) = r.response().body().size() {
                METRICS.pulled_bytes.inc_by(len);
            }
        }
    }
    let labels = RequestLabels { method, route, status };
    METRICS.requests.get_or_create(&labels).inc();
    METRICS
        .request_duration
        .get_or_create(&labels)
        .observe(start.elapsed().as_secs_f64());
    res
}

/// The request id header: taken from the client (or a proxy in front)
/// when it is a short token, else made here; sent back on the response
/// and carried by every log line of the request (the `request` span).
pub const REQUEST_ID: &str = "X-Request-ID";

fn usable_request_id(v: &str) -> bool {
    !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

/// Middleware: gives each request an id, logs within it carry it.
pub async fn request_id(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    use tracing::Instrument as _;
    let id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| usable_request_id(v))
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
    let span = tracing::info_span!("request", id = %id, method = %req.method(), path = %req.path());
    if let Some(parent) = crate::telemetry::remote_parent(req.headers()) {
        use tracing_opentelemetry::OpenTelemetrySpanExt as _;
        let _ = span.set_parent(parent);
    }
    let mut res = next.call(req).instrument(span).await?;
    if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&id) {
        res.headers_mut()
            .insert(actix_web::http::header::HeaderName::from_static("x-request-id"), value);
    }
    Ok(res)
}

/// The metrics text, with queue depths and pool use read now.
pub async fn render(registry: &Registry) -> String {
    match registry.queue_depths().await {
        Ok(depths) => {
            for (name, n) in depths {
                METRICS.queue_depth.get_or_create(&NameLabel { name }).set(n);
            }
        }
        Err(e) => tracing::debug!(error = %e, "queue depths not read for /metrics"),
    }
    for (pool, size, idle) in registry.db().pool_use() {
        METRICS
            .db_pool
            .get_or_create(&PoolLabels { pool, state: "idle" })
            .set(i64::from(idle));
        METRICS
            .db_pool
            .get_or_create(&PoolLabels { pool, state: "in_use" })
            .set(i64::from(size.saturating_sub(idle)));
    }
    let mut out = String::new();
    if prometheus_client::encoding::text::encode(&mut out, &METRICS.registry).is_err() {
        out.clear();
    }
    out
}

async fn metrics(registry: web::Data<Registry>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(render(&registry).await)
}

/// The metrics listener's routes.
pub fn configure(cfg: &mut web::ServiceConfig, registry: Registry) {
    cfg.app_data(web::Data::new(registry))
        .route("/metrics", web::get().to(metrics));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_fall_into_few_route_families() {
        assert_eq!(route_family("GET", "/v2/"), "v2_base");
        assert_eq!(route_family("PATCH", "/v2/a/b/blobs/uploads/123"), "v2_blob_upload");
        assert_eq!(route_family("GET", "/v2/a/b/c/blobs/sha256:1"), "v2_blob");
        assert_eq!(route_family("PUT", "/v2/a/b/manifests/latest"), "v2_manifest");
        assert_eq!(route_family("GET", "/v2/a/b/tags/list"), "v2_tags");
        assert_eq!(route_family("GET", "/api/v1/repository"), "api_v1_read");
        assert_eq!(route_family("DELETE", "/api/v1/repository/a/b"), "api_v1_write");
        assert_eq!(route_family("GET", "/repository/a/b"), "web");
    }

    #[test]
    fn request_ids_from_clients_are_kept_only_when_they_are_plain_tokens() {
        assert!(usable_request_id("3f2c9a10-aaaa-bbbb-cccc-0123456789ab"));
        assert!(usable_request_id("req_42.a:b"));
        assert!(!usable_request_id(""));
        assert!(!usable_request_id("has space"));
        assert!(!usable_request_id("new\nline"));
        assert!(!usable_request_id(&"x".repeat(129)));
    }

    #[test]
    fn counters_show_in_the_text_with_their_labels() {
        METRICS.worker_failed("test_worker");
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &METRICS.registry).expect("encode");
        assert!(
            out.contains("quay_worker_failures_total{name=\"test_worker\"}"),
            "{out}"
        );
        assert!(out.contains("# TYPE quay_request_duration_seconds histogram"), "{out}");
        assert!(out.ends_with("# EOF\n"), "{out}");
    }
}
