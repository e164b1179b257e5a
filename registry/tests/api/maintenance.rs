//! Background upkeep that clients only see through its effects.

use reqwest::StatusCode;

use crate::helpers::{assert_oci_error, random_bytes, spawn_app};

#[actix_web::test]
async fn abandoned_uploads_are_removed_after_the_configured_age_and_fresh_ones_stay() {
    let app = spawn_app().await;
    let abandoned = app.start_upload("maint/app").await;
    let res = app
        .client
        .patch(&abandoned)
        .header("Content-Range", "0-1023")
        .body(random_bytes(1024))
        .send()
        .await
        .expect("PATCH");
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    assert!(app.stored_uploads().await >= 1, "the upload holds bytes in storage");

    // With the default age (a day) nothing is old enough.
    assert_eq!(
        app.services_with_stale_age(86_400)
            .await
            .clean_stale_uploads()
            .await
            .expect("clean"),
        0
    );
    assert_eq!(
        app.client.get(&abandoned).send().await.expect("GET").status(),
        StatusCode::NO_CONTENT
    );

    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let removed = app
        .services_with_stale_age(0)
        .await
        .clean_stale_uploads()
        .await
        .expect("clean");
    assert_eq!(removed, 1);
    let res = app.client.get(&abandoned).send().await.expect("GET");
    assert_oci_error(res, 404, "BLOB_UPLOAD_UNKNOWN").await;
    assert_eq!(app.stored_uploads().await, 0, "the upload's bytes are gone too");
}
