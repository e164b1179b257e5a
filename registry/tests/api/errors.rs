//! Refused requests: bad names, and the OCI error body every refusal carries.

use reqwest::Method;
use serde_json::Value;

use crate::helpers::{header_of, image_manifest, oci_error_shape, repo, sha256, spawn_app, OCI_CONFIG, OCI_MANIFEST};

#[actix_web::test]
async fn an_invalid_repository_name_is_400_name_invalid() {
    let app = spawn_app().await;
    let too_long = format!("ns/{}", "a".repeat(256));
    let names = [
        "Upper/Case",
        "ns/Upper",
        "a/short-namespace",
        "ns/-leading-dash",
        "ns/trailing/",
        too_long.as_str(),
    ];
    let mut wrong = Vec::new();
    for name in names {
        let requests = [
            (Method::GET, format!("/v2/{name}/manifests/latest")),
            (Method::GET, format!("/v2/{name}/tags/list")),
            (Method::GET, format!("/v2/{name}/blobs/{}", sha256(b"x"))),
            (Method::POST, format!("/v2/{name}/blobs/uploads/")),
        ];
        for (method, path) in requests {
            let res = app
                .client
                .request(method.clone(), app.url(&path))
                .send()
                .await
                .expect("request");
            let status = res.status().as_u16();
            let body: Value = res.json().await.unwrap_or_default();
            let code = body["errors"][0]["code"]
                .as_str()
                .unwrap_or("<no OCI error>")
                .to_owned();
            if (status, code.as_str()) != (400, "NAME_INVALID") {
                wrong.push(format!("{method} {path} -> {status} {code}"));
            }
        }
    }
    assert!(wrong.is_empty(), "expected 400 NAME_INVALID:\n{}", wrong.join("\n"));
}

struct Case {
    method: Method,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    status: u16,
    code: Option<&'static str>,
}

fn case(method: Method, path: String, status: u16, code: Option<&'static str>) -> Case {
    Case {
        method,
        path,
        headers: Vec::new(),
        body: Vec::new(),
        status,
        code,
    }
}

#[actix_web::test]
async fn every_error_answer_has_an_oci_error_body() {
    let app = spawn_app().await;
    let repo = repo();
    let image = app.push_image(&repo, Some("latest")).await;
    let upload = app.start_upload(&repo).await;
    let missing = sha256(b"missing");
    let broken = image_manifest(OCI_MANIFEST, (OCI_CONFIG, &missing, 7), &[]);
    let manifest = |reference: &str, content_type: &str, body: Vec<u8>, status, code| Case {
        method: Method::PUT,
        path: format!("/v2/{repo}/manifests/{reference}"),
        headers: vec![("Content-Type", content_type.to_owned())],
        body,
        status,
        code: Some(code),
    };
    let mut cases = vec![
        case(
            Method::GET,
            format!("/v2/{repo}/blobs/{missing}"),
            404,
            Some("BLOB_UNKNOWN"),
        ),
        case(
            Method::GET,
            format!("/v2/{repo}/manifests/nope"),
            404,
            Some("MANIFEST_UNKNOWN"),
        ),
        case(
            Method::GET,
            "/v2/nobody/nothing/tags/list".into(),
            404,
            Some("NAME_UNKNOWN"),
        ),
        case(
            Method::GET,
            format!("/v2/{repo}/blobs/uploads/{}", uuid::Uuid::new_v4()),
            404,
            Some("BLOB_UPLOAD_UNKNOWN"),
        ),
        case(
            Method::DELETE,
            format!("/v2/{repo}/blobs/{}", image.layer_digest),
            405,
            Some("UNSUPPORTED"),
        ),
        case(
            Method::GET,
            format!("/v2/{repo}/manifests/sha256:totallywrong"),
            400,
            Some("DIGEST_INVALID"),
        ),
        case(
            Method::GET,
            "/v2/a/short-namespace/tags/list".into(),
            400,
            Some("NAME_INVALID"),
        ),
        case(Method::PUT, upload.clone(), 400, Some("BLOB_UPLOAD_INVALID")),
        manifest(".bad", OCI_MANIFEST, image.manifest.clone(), 400, "TAG_INVALID"),
        manifest("t", OCI_MANIFEST, broken, 400, "MANIFEST_BLOB_UNKNOWN"),
        manifest("t", OCI_MANIFEST, b"{".to_vec(), 400, "MANIFEST_INVALID"),
        manifest(
            "t",
            "text/plain",
            b"{\"schemaVersion\":2}".to_vec(),
            415,
            "MANIFEST_INVALID",
        ),
        manifest(&missing, OCI_MANIFEST, image.manifest.clone(), 400, "DIGEST_INVALID"),
    ];
    let mut out_of_order = case(Method::PATCH, upload.clone(), 416, Some("BLOB_UPLOAD_INVALID"));
    out_of_order.headers.push(("Content-Range", "10-19".into()));
    out_of_order.body = vec![0; 10];
    cases.push(out_of_order);
    let mut bad_range = case(
        Method::GET,
        format!("/v2/{repo}/blobs/{}", image.layer_digest),
        416,
        None,
    );
    bad_range.headers.push(("Range", "bytes=999999-".into()));
    cases.push(bad_range);

    let mut wrong = Vec::new();
    for c in cases {
        let mut req = app.client.request(c.method.clone(), app.url(&c.path)).body(c.body);
        for (k, v) in &c.headers {
            req = req.header(*k, v);
        }
        let res = req.send().await.expect("request");
        let what = format!("{} {}", c.method, c.path);
        let status = res.status().as_u16();
        let content_type = header_of(res.headers(), "Content-Type").unwrap_or_default();
        let body = res.bytes().await.expect("body");
        let value: Value = serde_json::from_slice(&body).unwrap_or_default();
        let shaped = oci_error_shape(&value).is_ok();
        let code = value["errors"][0]["code"].as_str().unwrap_or("<none>");
        let code_ok = c.code.is_none_or(|want| want == code);
        if status != c.status || !content_type.starts_with("application/json") || !shaped || !code_ok {
            wrong.push(format!(
                "{what}: want {} {:?}, got {status} {code} ({content_type}) {}",
                c.status,
                c.code,
                String::from_utf8_lossy(&body)
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "refusals without the expected OCI error:\n{}",
        wrong.join("\n")
    );
}
