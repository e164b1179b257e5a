//! Logs and, with `FEATURE_OTEL_TRACING`, OpenTelemetry trace export.
//!
//! The serving and working roles read the configuration before logging
//! starts, so the OpenTelemetry layer is part of the subscriber from the
//! first line. Spans (each request's `request` span
//! and what runs inside it) go by OTLP over HTTP (protobuf) to
//! `OTEL_CONFIG.dt_api_url` + `/v1/traces` with `Authorization: Api-Token
//! <dt_api_token>` when both are set (Quay's keys), else to
//! `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/traces`, else to a Jaeger collector
//! at `http://jaeger:4318/v1/traces`. A request's W3C `traceparent` header
//! makes its span a child of the caller's.

use std::collections::HashMap;
use std::io::IsTerminal as _;
use std::sync::OnceLock;

use opentelemetry::propagation::{Extractor, TextMapPropagator as _};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::EnvFilter;

use crate::config::Config;

static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// Quay's default service name.
const SERVICE_NAME: &str = "quay";
const DEFAULT_ENDPOINT: &str = "http://jaeger:4318";

/// Sets up logging: `RUST_LOG` (default `info`), JSON lines with
/// `REGISTRY_LOG_FORMAT=json` (with the request's id and other span
/// fields), and trace export when `config` turns on `FEATURE_OTEL_TRACING`
/// (an exporter that cannot be made is an error: the process stops).
pub fn init(config: Option<&Config>) -> anyhow::Result<()> {
    let tracer = match config {
        Some(c) if c.feature("OTEL_TRACING", false) => Some(start_export(c)?),
        _ => None,
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,actix_server=warn".into());
    let base = tracing_subscriber::registry()
        .with(filter)
        .with(tracer.map(|t| tracing_opentelemetry::layer().with_tracer(t)));
    if std::env::var("REGISTRY_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json")) {
        base.with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_current_span(true)
                .with_span_list(false)
                .with_writer(std::io::stderr),
        )
        .init();
    } else {
        base.with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                // Colour codes only on a terminal: container logs are read as plain text.
                .with_ansi(std::io::stderr().is_terminal()),
        )
        .init();
    }
    if let Some((endpoint, _)) = config
        .filter(|_| PROVIDER.get().is_some())
        .map(|c| export_target(c, env_endpoint()))
    {
        tracing::info!(%endpoint, "exporting traces (FEATURE_OTEL_TRACING)");
    }
    Ok(())
}

fn env_endpoint() -> Option<String> {
    std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT")
        .ok()
        .filter(|v| !v.is_empty())
}

/// Where spans go and with which headers, from `OTEL_CONFIG` and the
/// standard OTLP environment variable.
pub fn export_target(config: &Config, env_endpoint: Option<String>) -> (String, HashMap<String, String>) {
    let otel = config.other.get("OTEL_CONFIG");
    let text = |key: &str| {
        otel.and_then(|o| o.get(key))
            .and_then(serde_yaml::Value::as_str)
            .map(str::to_owned)
    };
    match (text("dt_api_url"), text("dt_api_token")) {
        (Some(url), Some(token)) => (
            format!("{}/v1/traces", url.trim_end_matches('/')),
            HashMap::from([("Authorization".to_owned(), format!("Api-Token {token}"))]),
        ),
        _ => {
            let base = env_endpoint.unwrap_or_else(|| DEFAULT_ENDPOINT.to_owned());
            (format!("{}/v1/traces", base.trim_end_matches('/')), HashMap::new())
        }
    }
}

/// The service name spans carry (`OTEL_CONFIG.service_name`, else `quay`).
pub fn service_name(config: &Config) -> String {
    config
        .other
        .get("OTEL_CONFIG")
        .and_then(|o| o.get("service_name"))
        .and_then(serde_yaml::Value::as_str)
        .unwrap_or(SERVICE_NAME)
        .to_owned()
}

/// The tracer whose spans go to the collector of `config`. A collector
/// that is down later only loses spans (the exporter logs it).
fn start_export(config: &Config) -> anyhow::Result<opentelemetry_sdk::trace::SdkTracer> {
    let (endpoint, headers) = export_target(config, env_endpoint());
    // A blocking client runs its own runtime, which may not be made (or
    // dropped) on the server's: it is built on a thread of its own and
    // lives as long as the process.
    let client = std::thread::spawn(|| {
        reqwest::blocking::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
    })
    .join()
    .map_err(|_| anyhow::anyhow!("FEATURE_OTEL_TRACING: the export client could not be made"))?
    .map_err(|e| anyhow::anyhow!("FEATURE_OTEL_TRACING: {e}"))?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(ExportClient(client))
        .with_endpoint(endpoint.clone())
        .with_headers(headers)
        .build()
        .map_err(|e| anyhow::anyhow!("FEATURE_OTEL_TRACING: cannot export to {endpoint}: {e}"))?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(service_name(config))
        .build();
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build();
    let tracer = provider.tracer("registry");
    let _ = PROVIDER.set(provider);
    Ok(tracer)
}

/// The OTLP exporter's HTTP client: the registry's own reqwest (rustls
/// with ring), blocking, as the batch exporter runs on its own thread.
#[derive(Debug)]
struct ExportClient(reqwest::blocking::Client);

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for ExportClient {
    async fn send_bytes(
        &self,
        request: opentelemetry_http::Request<opentelemetry_http::Bytes>,
    ) -> Result<opentelemetry_http::Response<opentelemetry_http::Bytes>, opentelemetry_http::HttpError> {
        let (parts, body) = request.into_parts();
        let mut call = self.0.request(parts.method, parts.uri.to_string()).body(body.to_vec());
        for (name, value) in &parts.headers {
            call = call.header(name, value);
        }
        let res = call.send()?;
        let mut out = opentelemetry_http::Response::builder().status(res.status());
        for (name, value) in res.headers() {
            out = out.header(name, value);
        }
        Ok(out.body(res.bytes()?)?)
    }
}

/// Sends the spans still waiting (at exit).
pub fn shutdown() {
    if let Some(provider) = PROVIDER.get() {
        if let Err(e) = provider.shutdown() {
            eprintln!("trace export did not finish: {e}");
        }
    }
}

/// The caller's trace context from a request's `traceparent` header.
pub fn remote_parent(headers: &actix_web::http::header::HeaderMap) -> Option<opentelemetry::Context> {
    PROVIDER.get()?;
    struct Headers<'a>(&'a actix_web::http::header::HeaderMap);
    impl Extractor for Headers<'_> {
        fn get(&self, key: &str) -> Option<&str> {
            self.0.get(key).and_then(|v| v.to_str().ok())
        }
        fn keys(&self) -> Vec<&str> {
            self.0.keys().map(|k| k.as_str()).collect()
        }
    }
    Some(TraceContextPropagator::new().extract(&Headers(headers)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quays_keys_choose_the_collector() {
        let config = Config::parse(
            "OTEL_CONFIG:\n  service_name: registry-a\n  dt_api_url: https://dt.example/api/v2/otlp/\n  dt_api_token: t0k\n",
        )
        .expect("config");
        let (url, headers) = export_target(&config, Some("http://ignored:4318".into()));
        assert_eq!(url, "https://dt.example/api/v2/otlp/v1/traces");
        assert_eq!(headers["Authorization"], "Api-Token t0k");
        assert_eq!(service_name(&config), "registry-a");

        let plain = Config::parse("FEATURE_OTEL_TRACING: true\n").expect("config");
        assert_eq!(export_target(&plain, None).0, "http://jaeger:4318/v1/traces");
        assert_eq!(
            export_target(&plain, Some("http://otel:4318/".into())).0,
            "http://otel:4318/v1/traces"
        );
        assert_eq!(service_name(&plain), "quay");
    }
}
