//! A database that cannot be reached is a 503 with `Retry-After` on both
//! APIs, whatever the request was checking (even credentials), and the
//! driver's message, which names hosts and ports, never reaches the client.

use actix_web::body::MessageBody;
use actix_web::{HttpResponse, ResponseError};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use registry::api::auth::{refuses_credentials, Refusal};
use registry::api::v1::ApiError;
use registry::api::v2::OciError;
use registry::db::DbError;
use registry::Error;
use serde_json::Value;

const DRIVER_TEXT: &str = "connection to server at \"127.0.0.1\", port 5432 failed: Connection refused";

fn unreachable() -> Error {
    Error::Db(DbError::Connection(DRIVER_TEXT.into()))
}

fn closed_mid_query() -> Error {
    Error::Db(DbError::Query(DieselError::DatabaseError(
        DatabaseErrorKind::ClosedConnection,
        Box::new(DRIVER_TEXT.to_owned()),
    )))
}

fn parts(res: HttpResponse) -> (u16, Option<String>, Value) {
    let status = res.status().as_u16();
    let retry_after = res
        .headers()
        .get("Retry-After")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bytes = res.into_body().try_into_bytes().unwrap_or_default();
    let body = serde_json::from_slice(&bytes).expect("JSON body");
    (status, retry_after, body)
}

#[test]
fn an_unreachable_database_is_a_v2_503_unavailable_with_retry_after_and_no_driver_text() {
    for error in [unreachable(), closed_mid_query()] {
        let (status, retry_after, body) = parts(OciError::from(error).error_response());
        assert_eq!(status, 503, "{body}");
        assert!(retry_after.is_some_and(|s| s.parse::<u64>().is_ok()));
        assert_eq!(body["errors"][0]["code"], "UNAVAILABLE", "{body}");
        let text = body.to_string();
        assert!(text.contains("retry later"), "{text}");
        assert!(
            !text.contains("127.0.0.1") && !text.contains("5432") && !text.contains("refused"),
            "{text}"
        );
    }
}

#[test]
fn an_unreachable_database_is_an_api_503_in_quays_error_shape_with_retry_after_and_no_driver_text() {
    for error in [unreachable(), closed_mid_query()] {
        let api = ApiError::from(error);
        let (status, retry_after, body) = parts(api.response_on("http://registry.example"));
        assert_eq!(status, 503, "{body}");
        assert!(retry_after.is_some_and(|s| s.parse::<u64>().is_ok()));
        assert_eq!(body["status"], 503, "{body}");
        assert_eq!(body["title"], body["error_type"], "{body}");
        assert_eq!(body["detail"], body["error_message"], "{body}");
        let text = body.to_string();
        assert!(
            !text.contains("127.0.0.1") && !text.contains("5432") && !text.contains("refused"),
            "{text}"
        );
    }
}

#[test]
fn other_database_errors_are_500_without_their_text_on_both_apis() {
    let error = || Error::Db(DbError::Migration(DRIVER_TEXT.into()));
    let (status, _, body) = parts(OciError::from(error()).error_response());
    assert_eq!(status, 500, "{body}");
    assert!(!body.to_string().contains("127.0.0.1"), "{body}");
    let (status, _, body) = parts(ApiError::from(error()).response_on(""));
    assert_eq!(status, 500, "{body}");
    assert!(!body.to_string().contains("127.0.0.1"), "{body}");
}

#[test]
fn a_database_failure_while_checking_credentials_is_not_a_refusal_of_them() {
    assert!(!refuses_credentials(&unreachable()));
    assert!(!refuses_credentials(&closed_mid_query()));
    assert!(refuses_credentials(&Error::Unauthenticated(
        "Invalid username or password".into()
    )));
    assert!(!refuses_credentials(&Error::TooManyAttempts(10)));
    let (status, _, body) = parts(OciError::from(Refusal::Failed(unreachable())).error_response());
    assert_eq!(status, 503, "{body}");
    let (status, _, _) = parts(OciError::from(Refusal::Unauthenticated).error_response());
    assert_eq!(status, 401);
}

#[actix_web::test]
async fn a_disk_under_the_warning_threshold_makes_health_warning_a_503() {
    // No disk is 100% free, so a threshold of 1 always warns; the instance
    // check, with its own threshold, stays healthy.
    let app = crate::helpers::spawn_app_with("DISKSPACE_HEALTH_WARNING_THRESHOLD: 1.0\n").await;
    let res = app
        .client
        .get(app.url("/health/warning"))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status().as_u16(), 503);
    let body: Value = res.json().await.expect("JSON");
    assert_eq!(body["data"]["services"]["disk_space_warning"], false, "{body}");
    assert_eq!(body["status_code"], 503);
    let res = app
        .client
        .get(app.url("/health/instance"))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status().as_u16(), 200);
}

#[actix_web::test]
async fn the_health_endpoints_report_each_service_in_quays_shape() {
    // The warning threshold is 0 so a busy test machine's disk cannot warn.
    let app = crate::helpers::spawn_app_with("DISKSPACE_HEALTH_WARNING_THRESHOLD: 0.0\n").await;
    for (path, services) in [
        (
            "/health/instance",
            &[
                "auth",
                "database",
                "disk_space",
                "registry_gunicorn",
                "service_key",
                "web_gunicorn",
            ][..],
        ),
        ("/health/endtoend", &["auth", "database", "disk_space", "storage"][..]),
        ("/health/warning", &["disk_space_warning"][..]),
    ] {
        let res = app.client.get(app.url(path)).send().await.expect("request");
        assert_eq!(res.status().as_u16(), 200, "{path}");
        let body: Value = res.json().await.expect("JSON");
        assert_eq!(body["status_code"], 200, "{path}: {body}");
        assert_eq!(body["data"]["is_testing"], false, "{path}: {body}");
        assert_eq!(body["data"]["notes"], serde_json::json!([]), "{path}: {body}");
        for name in services {
            assert_eq!(body["data"]["services"][name], true, "{path} {name}: {body}");
        }
    }
}
