//! Blobs pulled through a proxy-cache organization: streamed to the client
//! while they are cached, verified before they are kept, cached once
//! however many clients ask, and cached even when the client goes away.

use reqwest::StatusCode;

use crate::helpers::{header, random_bytes, sha256};
use crate::proxy_pull::{body_of, get, pull, setup, upstream_image};
use crate::proxy_upstream::Auth;

#[actix_web::test]
async fn a_blob_reaches_the_client_while_the_upstream_is_still_sending_it() {
    let (o, up) = setup(Auth::Anonymous).await;
    let image = upstream_image(&up, "app", "latest", 256 * 1024);
    body_of(get(&o, "carol", "acme/app/manifests/latest").await).await;
    let layer = &image.blobs[1];
    let digest = sha256(layer);
    let (release, finished) = up.hold_blob(&digest, 64 * 1024);

    let mut res = get(&o, "carol", &format!("acme/app/blobs/{digest}")).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.content_length(), Some(layer.len() as u64));
    let mut received = Vec::new();
    while received.len() < 64 * 1024 {
        let chunk = res
            .chunk()
            .await
            .expect("chunk")
            .expect("more bytes before the upstream finished");
        received.extend_from_slice(&chunk);
    }
    assert!(
        !finished.load(std::sync::atomic::Ordering::SeqCst),
        "the upstream already sent everything"
    );
    release.notify_one();
    while let Some(chunk) = res.chunk().await.expect("chunk") {
        received.extend_from_slice(&chunk);
    }
    assert_eq!(&received, layer);
    assert!(finished.load(std::sync::atomic::Ordering::SeqCst));

    up.take_requests();
    let again = get(&o, "carol", &format!("acme/app/blobs/{digest}")).await;
    assert_eq!(&body_of(again).await, layer);
    assert!(up.take_requests().is_empty(), "the blob was not cached");
}

#[actix_web::test]
async fn a_blob_whose_bytes_do_not_match_its_digest_is_not_cached() {
    let (o, up) = setup(Auth::Anonymous).await;
    let image = upstream_image(&up, "app", "latest", 4096);
    body_of(get(&o, "carol", "acme/app/manifests/latest").await).await;
    let digest = sha256(&image.blobs[1]);
    up.corrupt_blob(&digest, &random_bytes(4096));
    let res = get(&o, "carol", &format!("acme/app/blobs/{digest}")).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.bytes().await.is_err(), "a corrupt body was delivered whole");
    assert_eq!(o.f.app.stored_copies(&digest).await, 0);
    assert_eq!(o.f.app.stored_uploads().await, 0);
}

#[actix_web::test]
async fn concurrent_pulls_of_a_missing_blob_all_get_it_and_it_is_stored_once() {
    let (o, up) = setup(Auth::Anonymous).await;
    let image = upstream_image(&up, "app", "latest", 512 * 1024);
    body_of(get(&o, "carol", "acme/app/manifests/latest").await).await;
    let digest = sha256(&image.blobs[1]);
    let path = format!("acme/app/blobs/{digest}");
    let pulls = (0..4).map(|_| async { body_of(get(&o, "carol", &path).await).await });
    for body in futures_util::future::join_all(pulls).await {
        assert_eq!(body, image.blobs[1]);
    }
    assert_eq!(o.f.app.stored_copies(&digest).await, 1);
    assert_eq!(o.f.app.stored_uploads().await, 0);
}

#[actix_web::test]
async fn a_head_of_an_uncached_blob_answers_its_size() {
    let (o, up) = setup(Auth::Anonymous).await;
    let image = upstream_image(&up, "app", "latest", 777);
    body_of(get(&o, "carol", "acme/app/manifests/latest").await).await;
    let res = pull(
        &o,
        reqwest::Method::HEAD,
        Some("carol"),
        &format!("acme/app/blobs/{}", sha256(&image.blobs[1])),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, "Content-Length"), "777");
}

#[actix_web::test]
async fn a_client_that_goes_away_does_not_stop_the_blob_being_cached() {
    let (o, up) = setup(Auth::Anonymous).await;
    let image = upstream_image(&up, "app", "latest", 256 * 1024);
    body_of(get(&o, "carol", "acme/app/manifests/latest").await).await;
    let layer = &image.blobs[1];
    let digest = sha256(layer);
    let (release, _) = up.hold_blob(&digest, 64 * 1024);

    let mut res = get(&o, "carol", &format!("acme/app/blobs/{digest}")).await;
    let first = res.chunk().await.expect("chunk").expect("first bytes");
    assert!(!first.is_empty());
    drop(res);
    release.notify_one();

    // The copy goes on without the client: wait until it is committed and
    // its upload is gone.
    while o.f.app.stored_copies(&digest).await == 0 || o.f.app.stored_uploads().await > 0 {
        tokio::task::yield_now().await;
    }
    up.take_requests();
    let again = get(&o, "carol", &format!("acme/app/blobs/{digest}")).await;
    assert_eq!(&body_of(again).await, layer);
    assert!(up.take_requests().is_empty(), "the blob was fetched twice");
}

#[actix_web::test]
async fn a_blob_redirect_to_a_local_address_is_not_followed() {
    // Only 127.0.0.1 is allowed; a redirect to `localhost` (the same
    // server) is refused by the SSRF check, and the client is told clearly.
    let (o, up) = setup(Auth::Anonymous).await;
    let image = upstream_image(&up, "app", "latest", 4096);
    body_of(get(&o, "carol", "acme/app/manifests/latest").await).await;
    let digest = sha256(&image.blobs[1]);
    up.redirect_blobs_to(&format!("http://{}", up.host.replace("127.0.0.1", "localhost")));
    up.take_requests();
    let res = get(&o, "carol", &format!("acme/app/blobs/{digest}")).await;
    let status = res.status();
    let body: serde_json::Value = res.json().await.unwrap_or_default();
    assert!(
        status.is_server_error() && status != StatusCode::INTERNAL_SERVER_ERROR,
        "{status}: {body}"
    );
    assert!(body["errors"][0]["code"].is_string(), "an OCI error: {body}");
    let requests = up.take_requests();
    assert_eq!(requests.len(), 1, "the redirect was followed: {requests:?}");
    assert_eq!(o.f.app.stored_copies(&digest).await, 0);
}
