//! `GET /v2/`: the version check every client starts with.

use crate::helpers::{assert_oci_error, header, header_of, repo, spawn_app};

#[actix_web::test]
async fn version_check_answers_200_with_the_distribution_api_header() {
    let app = spawn_app().await;
    for path in ["/v2/", "/v2"] {
        let res = app.get(path).await;
        assert_eq!(res.status(), 200, "{path}");
        assert_eq!(
            header(&res, "Docker-Distribution-API-Version"),
            "registry/2.0",
            "{path}"
        );
    }
}

#[actix_web::test]
async fn error_responses_also_carry_the_distribution_api_header() {
    let app = spawn_app().await;
    let res = app.get(&format!("/v2/{}/manifests/latest", repo())).await;
    assert_eq!(
        header_of(res.headers(), "Docker-Distribution-API-Version").as_deref(),
        Some("registry/2.0")
    );
    assert_oci_error(res, 404, "NAME_UNKNOWN").await;
}

#[actix_web::test]
async fn an_unknown_v2_endpoint_is_a_404_with_an_oci_error_body() {
    let app = spawn_app().await;
    let res = app.get("/v2/test/repo/no-such-endpoint").await;
    assert_eq!(res.status(), 404);
    let body: serde_json::Value = res.json().await.expect("JSON error body");
    crate::helpers::assert_oci_error_body(&body, "unknown endpoint");
}
