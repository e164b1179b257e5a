//! Every endpoint of Quay's REST API, walked against our route table.
//!
//! `data/quay_endpoints.txt` is Quay's `/api/v1` endpoint list, extracted
//! from Quay's public source (`endpoints/api/*.py`; the commit of each file
//! is in its header). Each endpoint is called with sample path values (a
//! repository path holds a `/`, so greedy repository patterns get their
//! chance to swallow it) and must be answered by the route whose pattern is
//! the endpoint's own path, with the method served; an endpoint we do not
//! serve must be listed in `data/quay_endpoints_omitted.txt` with the
//! reason. At least 95% of the public, non-billing endpoint-methods must be
//! served.

use actix_web::{test, App};

use crate::helpers::spawn_app_with;

const ENDPOINTS: &str = include_str!("data/quay_endpoints.txt");
const OMITTED: &str = include_str!("data/quay_endpoints_omitted.txt");

#[derive(Debug, Clone)]
struct Endpoint {
    method: String,
    path: String,
    kind: String,
    features: Vec<String>,
}

fn endpoints() -> Vec<Endpoint> {
    ENDPOINTS
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            assert!(cols.len() >= 6, "malformed endpoint line: {l}");
            Endpoint {
                method: cols[0].to_owned(),
                path: cols[1].to_owned(),
                kind: cols[4].to_owned(),
                features: cols[5]
                    .split('+')
                    .filter(|f| f.starts_with("FEATURE_"))
                    .map(str::to_owned)
                    .collect(),
            }
        })
        .collect()
}

/// (method, path) → reason.
fn omitted() -> Vec<(String, String, String)> {
    OMITTED
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.splitn(3, '\t').collect();
            assert!(
                cols.len() == 3 && !cols[2].trim().is_empty(),
                "an omission needs a reason: {l}"
            );
            (cols[0].to_owned(), cols[1].to_owned(), cols[2].to_owned())
        })
        .collect()
}

/// A path pattern with every parameter (Quay's `{name}`, our
/// `{name:regex}`, braces nested or not) as `{}`, without a trailing `/`.
/// A parameter whose regex is one plain word matches only that word, so it
/// stands for the word itself.
fn normalize(pattern: &str) -> String {
    let mut out = String::new();
    let mut param = String::new();
    let mut depth = 0;
    for ch in pattern.chars() {
        match ch {
            '{' => {
                if depth > 0 {
                    param.push(ch);
                }
                depth += 1;
            }
            '}' => {
                depth -= 1;
                if depth == 0 {
                    match param.split_once(':') {
                        Some((_, word)) if !word.is_empty() && word.chars().all(|c| c.is_ascii_lowercase()) => {
                            out.push_str(word)
                        }
                        _ => out.push_str("{}"),
                    }
                    param.clear();
                } else {
                    param.push(ch);
                }
            }
            c if depth == 0 => out.push(c),
            c => param.push(c),
        }
    }
    out.trim_end_matches('/').to_owned()
}

/// The path with sample values: repositories are `namespace/name`.
fn sample(path: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("closing brace") + start;
        let value = match &rest[start + 1..end] {
            "repository" | "repo" => "samplens/samplerepo",
            "manifestref" | "manifest_digest" | "digest" => {
                "sha256:0000000000000000000000000000000000000000000000000000000000000000"
            }
            name if name.ends_with("uuid") => "00000000-0000-0000-0000-000000000000",
            _ => "sample",
        };
        out.push_str(value);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// The values `sample` puts into the path's parameters, in order.
fn sample_values(path: &str) -> Vec<String> {
    let filled = sample(path);
    let shape: Vec<&str> = path.split('/').collect();
    let mut values = Vec::new();
    let mut filled_parts = filled.split('/');
    for part in shape {
        let value = filled_parts.next().unwrap_or_default();
        if part.starts_with('{') {
            match value {
                "samplens" => values.push(format!("samplens/{}", filled_parts.next().unwrap_or_default())),
                v => values.push(v.to_owned()),
            }
        }
    }
    values
}

/// The literal segments of a path (what a one-word parameter may match).
fn literal_segments(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|p| !p.is_empty() && !p.starts_with('{'))
        .map(str::to_owned)
        .collect()
}

/// A request of `method` to `path` (POST and PUT with an empty JSON object).
fn request(method: &str, path: &str) -> test::TestRequest {
    let method = actix_web::http::Method::from_bytes(method.as_bytes()).expect("method");
    let req = test::TestRequest::default().method(method.clone()).uri(path);
    match method == actix_web::http::Method::POST || method == actix_web::http::Method::PUT {
        true => req.set_json(serde_json::json!({})),
        false => req,
    }
}

/// Every feature Quay's endpoints are shown for (billing aside) switched on.
fn every_feature_yaml() -> String {
    let mut features: Vec<String> = endpoints()
        .iter()
        .flat_map(|e| e.features.clone())
        .filter(|f| f != "FEATURE_BILLING" && f != "FEATURE_RH_MARKETPLACE")
        .collect();
    features.sort();
    features.dedup();
    let mut yaml: String = features.iter().map(|f| format!("{f}: true\n")).collect();
    yaml.push_str("SECURITY_SCANNER_V4_ENDPOINT: http://127.0.0.1:9/\nFEATURE_BUILD_SUPPORT: true\nFEATURE_SUPERUSER_CONFIGDUMP: true\nBUILD_MANAGER: [ephemeral, {EXECUTORS: []}]\nPERMANENTLY_DELETE_TAGS: true\nSUPER_USERS: [admin]\n");
    yaml
}

/// The registry's routes with every feature on, as an in-process service.
async fn every_feature_app() -> (
    crate::helpers::TestApp,
    impl actix_web::dev::Service<actix_http::Request, Response = actix_web::dev::ServiceResponse, Error = actix_web::Error>,
) {
    let app = spawn_app_with(&every_feature_yaml()).await;
    let routes = app.routes();
    let svc = test::init_service(App::new().configure(move |cfg| routes.configure(cfg))).await;
    (app, svc)
}

/// Whether `method path` (a Quay-style or our path template) is answered
/// by the route whose pattern is that path, with the method served:
/// (ok, status, matched pattern, captured values, own route).
async fn answered(
    svc: &impl actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse,
        Error = actix_web::Error,
    >,
    method: &str,
    path: &str,
) -> (bool, u16, Option<String>, Vec<String>, bool) {
    let res = test::call_service(svc, request(method, &sample(path)).to_request()).await;
    let status = res.status().as_u16();
    // The pattern a path matches, guards aside; the values the route
    // that answered captured (only a route whose guards passed captures).
    let route = res.request().match_pattern();
    let captured: Vec<String> = res
        .request()
        .match_info()
        .iter()
        .map(|(_, v)| v.to_owned())
        .filter(|v| !literal_segments(path).contains(v))
        .collect();
    let own_route = match sample_values(path) {
        values if values.is_empty() => route.as_deref().map(normalize) == Some(normalize(path)) && status != 404,
        values => captured == values,
    };
    (own_route && status != 405, status, route, captured, own_route)
}

#[actix_web::test]
async fn every_quay_endpoint_is_served_by_its_own_route_or_left_out_with_a_reason() {
    let all = endpoints();
    let (_app, svc) = every_feature_app().await;

    let omitted = omitted();
    let is_omitted = |e: &Endpoint| omitted.iter().any(|(m, p, _)| *m == e.method && *p == e.path);
    let public: Vec<&Endpoint> = all.iter().filter(|e| e.kind == "public").collect();
    let (mut served, mut missing, mut misrouted, mut stale) = (0, Vec::new(), Vec::new(), Vec::new());
    for e in &all {
        let (ok, status, route, captured, own_route) = answered(&svc, &e.method, &e.path).await;
        if e.kind != "public" {
            continue;
        }
        match (ok, is_omitted(e)) {
            (true, false) => served += 1,
            (true, true) => stale.push(format!("{} {}", e.method, e.path)),
            (false, true) => {}
            (false, false) => match route {
                Some(r) if !own_route && !captured.is_empty() => {
                    misrouted.push(format!("{} {} answered by {r} ({status})", e.method, e.path))
                }
                _ => missing.push(format!("{} {} ({status}, route {route:?})", e.method, e.path)),
            },
        }
    }
    let coverage = served as f64 / public.len() as f64;
    eprintln!(
        "Quay /api/v1 public endpoint-methods: {} listed, {served} served ({:.1}%), {} left out with a reason",
        public.len(),
        coverage * 100.0,
        public.iter().filter(|e| is_omitted(e)).count()
    );
    let mut problems = Vec::new();
    if !misrouted.is_empty() {
        problems.push(format!("answered by another route:\n{}", misrouted.join("\n")));
    }
    if !missing.is_empty() {
        problems.push(format!(
            "neither served nor left out with a reason:\n{}",
            missing.join("\n")
        ));
    }
    if !stale.is_empty() {
        problems.push(format!("served but listed as left out:\n{}", stale.join("\n")));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
    assert!(
        coverage >= 0.95,
        "only {:.1}% of Quay's public endpoint-methods are served",
        coverage * 100.0
    );
}

#[::core::prelude::v1::test]
fn patterns_compare_by_shape_and_samples_fill_every_parameter() {
    assert_eq!(
        normalize("/api/v1/repository/{repo:.+}/tag/{tag}/"),
        "/api/v1/repository/{}/tag/{}"
    );
    assert_eq!(normalize("/api/v1/x/{d:[0-9]{2}}"), "/api/v1/x/{}");
    assert_eq!(
        normalize("/api/v1/superuser/{kind:users}/{ns}/quota"),
        "/api/v1/superuser/users/{}/quota"
    );
    assert_eq!(
        sample("/api/v1/repository/{repository}/tag/{tag}"),
        "/api/v1/repository/samplens/samplerepo/tag/sample"
    );
    assert_eq!(
        sample_values("/api/v1/repository/{repository}/tag/{tag}"),
        ["samplens/samplerepo", "sample"]
    );
    assert!(endpoints().len() > 200, "the endpoint list loads");
}

const METHODS: [&str; 4] = ["get", "post", "put", "delete"];

/// The (method, path) pairs of a discovery document.
fn documented(doc: &serde_json::Value) -> Vec<(String, String, bool)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for m in METHODS {
            if let Some(op) = item.get(m) {
                let internal = op.get("x-internal") == Some(&serde_json::json!(true));
                out.push((m.to_ascii_uppercase(), path.clone(), internal));
            }
        }
    }
    out
}

async fn discovery(
    svc: &impl actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse,
        Error = actix_web::Error,
    >,
    query: &str,
) -> serde_json::Value {
    let req = test::TestRequest::get()
        .uri(&format!("/api/v1/discovery{query}"))
        .to_request();
    test::call_and_read_body_json(svc, req).await
}

/// The discovery document against the routes actually mounted: each
/// operation it lists is answered by the route of its own path with the
/// method served, and each of Quay's endpoints this registry serves is
/// listed, marked internal exactly when Quay's is.
#[actix_web::test]
async fn the_discovery_document_lists_exactly_the_mounted_routes() {
    let (_app, svc) = every_feature_app().await;
    let doc = discovery(&svc, "?internal=true").await;
    let listed = documented(&doc);
    assert!(listed.len() > 200, "the document lists {} operations", listed.len());

    let mut unserved = Vec::new();
    for (method, path, _) in &listed {
        let (ok, status, route, _, _) = answered(&svc, method, path).await;
        if !ok {
            unserved.push(format!("{method} {path} ({status}, route {route:?})"));
        }
    }
    assert!(
        unserved.is_empty(),
        "documented but not served by their own route:\n{}",
        unserved.join("\n")
    );

    let mut unlisted = Vec::new();
    let mut mislabelled = Vec::new();
    for e in endpoints()
        .iter()
        .filter(|e| e.kind == "public" || e.kind == "internal")
    {
        if !answered(&svc, &e.method, &e.path).await.0 {
            continue;
        }
        match listed
            .iter()
            .find(|(m, p, _)| *m == e.method && normalize(p) == normalize(&e.path))
        {
            None => unlisted.push(format!("{} {}", e.method, e.path)),
            Some((_, _, internal)) if *internal != (e.kind == "internal") => {
                mislabelled.push(format!("{} {} (Quay: {})", e.method, e.path, e.kind))
            }
            Some(_) => {}
        }
    }
    assert!(
        unlisted.is_empty(),
        "served but not in the document:\n{}",
        unlisted.join("\n")
    );
    assert!(
        mislabelled.is_empty(),
        "internal flag differs from Quay's:\n{}",
        mislabelled.join("\n")
    );

    // Without `internal=true` the internal operations are left out.
    let public = documented(&discovery(&svc, "").await);
    assert_eq!(
        public.len(),
        listed.iter().filter(|(_, _, internal)| !internal).count(),
        "the public document is the internal one without its internal operations"
    );
    assert!(public.iter().all(|(_, _, internal)| !internal));
}

/// A resource whose feature is off is neither served nor documented.
#[actix_web::test]
async fn switched_off_features_are_not_documented() {
    let app = spawn_app_with("").await;
    let routes = app.routes();
    let svc = test::init_service(App::new().configure(move |cfg| routes.configure(cfg))).await;
    let off = documented(&discovery(&svc, "?internal=true").await);
    let (_app, svc_on) = every_feature_app().await;
    let on = documented(&discovery(&svc_on, "?internal=true").await);
    let mirror = |list: &[(String, String, bool)]| list.iter().any(|(_, p, _)| p == "/api/v1/repository/{repo}/mirror");
    assert!(
        mirror(&on),
        "the mirror API is documented when FEATURE_REPO_MIRROR is on"
    );
    assert!(!mirror(&off), "the mirror API is not documented when it is off");
    assert!(on.len() > off.len());
    let mut unserved = Vec::new();
    for (method, path, _) in &off {
        if !answered(&svc, method, path).await.0 {
            unserved.push(format!("{method} {path}"));
        }
    }
    assert!(
        unserved.is_empty(),
        "documented with features off but not served:\n{}",
        unserved.join("\n")
    );
}
