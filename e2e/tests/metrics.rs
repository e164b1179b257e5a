//! Prometheus metrics on their own listener (Quay's port 9091; the tests
//! give each registry a free port): after a push and a pull with skopeo the
//! request counters, latency histograms and byte counters show them, the
//! garbage collector's passes are counted, queue depths and database pool
//! use are there, and the registry's own port does not serve them. Each
//! request has an id (the client's `X-Request-ID` or a new one), answered
//! back and carried by the request's log lines, which are JSON with
//! `REGISTRY_LOG_FORMAT=json`.

use std::time::{Duration, Instant};

use e2e::process::skopeo_with as skopeo;
use e2e::{backend_tests, unique_name, Registry, TestEnv};

backend_tests!(
    a_push_and_a_pull_show_in_the_metrics,
    requests_carry_an_id_into_json_logs,
    request_spans_are_exported_to_an_otlp_collector_under_the_callers_trace,
);

const USER: &str = "admin";
const PASSWORD: &str = "admin-Passw0rd";

fn scrape(reg: &Registry) -> (String, String) {
    let res = reqwest::blocking::get(reg.metrics_url()).expect("GET /metrics");
    assert_eq!(res.status().as_u16(), 200);
    let kind = res
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (kind, res.text().expect("metrics text"))
}

/// The value of the sample `name{labels}` (labels as written, in order).
fn value(text: &str, sample: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(sample)
            .and_then(|rest| rest.trim().split(' ').next()?.parse().ok())
    })
}

fn a_push_and_a_pull_show_in_the_metrics(env: TestEnv) {
    let reg = Registry::start_with(
        &env,
        &format!("FEATURE_USER_INITIALIZE: true\nSUPER_USERS: [{USER}]\nGARBAGE_COLLECTION_FREQUENCY: 1\n"),
        false,
    );
    reg.initialize_user(USER, PASSWORD);
    let (kind, before) = scrape(&reg);
    assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
    assert!(before.ends_with("# EOF\n"));
    let pushed_before = value(&before, "quay_registry_image_pushed_bytes_total").unwrap_or(0.0);

    let (pushed, image, auth) =
        e2e::skopeo::push_new_as(&reg, (USER, PASSWORD), &format!("{USER}/metered"), "v1", 256 * 1024);
    pushed.ok();
    let (host, auth) = (reg.host(), auth.display().to_string());
    let target = format!("docker://{host}/{USER}/metered:v1");
    let out = reg.scratch(&unique_name("pulled")).join("dir");
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        "--authfile",
        &auth,
        &target,
        &format!("dir:{}", out.display()),
    ])
    .ok();
    let layer = std::fs::metadata(out.join(image.layer_digest.trim_start_matches("sha256:")))
        .expect("pulled layer")
        .len() as f64;

    // Garbage collection runs every second; wait until a pass is counted.
    let deadline = Instant::now() + Duration::from_secs(60);
    let text = loop {
        let (_, text) = scrape(&reg);
        if value(&text, "quay_gc_iterations_total").unwrap_or(0.0) >= 1.0 {
            break text;
        }
        assert!(Instant::now() < deadline, "no garbage-collection pass counted:\n{text}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let pushed = value(&text, "quay_registry_image_pushed_bytes_total").expect("pushed bytes") - pushed_before;
    assert!(pushed >= layer, "pushed {pushed} bytes, the layer alone is {layer}");
    let pulled = value(&text, "quay_registry_image_pulled_bytes_total").expect("pulled bytes");
    assert!(pulled >= layer, "pulled {pulled} bytes, the layer alone is {layer}");
    let manifests_put = value(
        &text,
        "quay_request_total{method=\"PUT\",route=\"v2_manifest\",status=\"201\"}",
    );
    assert_eq!(manifests_put, Some(1.0), "{text}");
    assert!(
        value(
            &text,
            "quay_request_duration_seconds_count{method=\"PUT\",route=\"v2_manifest\",status=\"201\"}"
        ) == Some(1.0),
        "{text}"
    );
    assert!(
        value(
            &text,
            "quay_request_total{method=\"GET\",route=\"v2_blob\",status=\"200\"}"
        )
        .unwrap_or(0.0)
            >= 1.0,
        "{text}"
    );
    assert_eq!(value(&text, "quay_uploads_in_progress"), Some(0.0), "{text}");
    for queue in ["notification", "build", "secscan", "log_export"] {
        assert!(
            value(&text, &format!("quay_queue_items_available{{name=\"{queue}\"}}")).is_some(),
            "{queue}: {text}"
        );
    }
    let open: f64 = ["idle", "in_use"]
        .iter()
        .filter_map(|s| {
            value(
                &text,
                &format!("quay_db_pool_connections{{pool=\"reader\",state=\"{s}\"}}"),
            )
        })
        .sum();
    assert!(open >= 1.0, "reader pool: {text}");

    // The registry's own port does not serve them.
    let main = reqwest::blocking::get(reg.url("/metrics")).expect("GET /metrics on the main port");
    assert_eq!(main.status().as_u16(), 404);
}

fn requests_carry_an_id_into_json_logs(env: TestEnv) {
    let reg = Registry::start_with_env(&env, "", false, &[("REGISTRY_LOG_FORMAT", "json".to_owned())]);
    let http = reqwest::blocking::Client::new();
    let echoed = http
        .get(reg.url("/v2/"))
        .header("X-Request-ID", "e2e-trace-0001")
        .send()
        .expect("GET /v2/");
    assert_eq!(echoed.headers()["x-request-id"], "e2e-trace-0001");
    let made = http.get(reg.url("/v2/")).send().expect("GET /v2/");
    let id = made.headers()["x-request-id"].to_str().expect("id").to_owned();
    assert_eq!(id.len(), 36, "a new UUID: {id}");
    let unsafe_id = http
        .get(reg.url("/v2/"))
        .header("X-Request-ID", "no spaces allowed")
        .send()
        .expect("GET /v2/");
    assert_ne!(unsafe_id.headers()["x-request-id"], "no spaces allowed");

    // A request that logs: a browser's API read without X-Requested-With.
    let refused = http
        .get(reg.url("/api/v1/user/"))
        .header("User-Agent", "Mozilla/5.0 (X11; Linux x86_64)")
        .header("X-Request-ID", "e2e-trace-0002")
        .send()
        .expect("GET /api/v1/user/");
    assert_eq!(refused.status().as_u16(), 400);
    let deadline = Instant::now() + Duration::from_secs(30);
    let line = loop {
        let log = reg.log();
        if let Some(l) = log.lines().find(|l| l.contains("e2e-trace-0002")) {
            break l.to_owned();
        }
        assert!(Instant::now() < deadline, "no log line carries the request id:\n{log}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let entry: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    assert_eq!(entry["level"], "WARN", "{entry}");
    assert_eq!(entry["span"]["id"], "e2e-trace-0002", "{entry}");
    assert!(
        entry["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("X-Requested-With")),
        "{entry}"
    );
    for l in reg.log().lines().filter(|l| l.starts_with('{')) {
        serde_json::from_str::<serde_json::Value>(l).unwrap_or_else(|e| panic!("a log line is not JSON ({e}): {l}"));
    }
}

/// Whether `needle` occurs in `haystack`.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// `FEATURE_OTEL_TRACING` with Quay's `OTEL_CONFIG` keys: the request spans
/// reach an OTLP/HTTP collector (a loopback receiver here) at
/// `dt_api_url/v1/traces` with the `Api-Token` header, named by
/// `service_name`, and a request's `traceparent` makes its span part of the
/// caller's trace. Without the feature nothing is sent.
fn request_spans_are_exported_to_an_otlp_collector_under_the_callers_trace(env: TestEnv) {
    let collector = e2e::loopback::LoopbackHttp::start();
    let reg = Registry::start_with(
        &env,
        &format!(
            "FEATURE_OTEL_TRACING: true\nOTEL_CONFIG:\n  service_name: registry-e2e\n  dt_api_url: {}\n  dt_api_token: otel-secret\n",
            collector.url("")
        ),
        false,
    );
    let trace_id = "0af7651916cd43dd8448eb211c80319c";
    let res = reqwest::blocking::Client::new()
        .get(reg.url("/api/v1/discovery"))
        .header("traceparent", format!("00-{trace_id}-b7ad6b7169203331-01"))
        .send()
        .expect("GET /api/v1/discovery");
    assert_eq!(res.status().as_u16(), 200);
    let id_bytes: Vec<u8> = (0..trace_id.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&trace_id[i..i + 2], 16).expect("hex"))
        .collect();
    let export = collector.wait_for("the request's span", Duration::from_secs(60), |r| {
        r.method == "POST" && r.path == "/v1/traces" && contains(&r.body, &id_bytes)
    });
    assert_eq!(export.authorization.as_deref(), Some("Api-Token otel-secret"));
    assert!(
        contains(&export.body, b"registry-e2e"),
        "the service name is on the spans"
    );
    assert!(
        contains(&export.body, b"/api/v1/discovery"),
        "the span carries the request path"
    );

    // Refused: without the feature the same configuration exports nothing.
    let quiet = e2e::loopback::LoopbackHttp::start();
    let off = Registry::start_with(
        &env,
        &format!(
            "OTEL_CONFIG:\n  dt_api_url: {}\n  dt_api_token: otel-secret\n",
            quiet.url("")
        ),
        false,
    );
    let res = reqwest::blocking::get(off.url("/api/v1/discovery")).expect("GET");
    assert_eq!(res.status().as_u16(), 200);
    drop(off);
    assert!(
        quiet.received().is_empty(),
        "nothing is exported with FEATURE_OTEL_TRACING off"
    );
}
