//! Pulling blobs: HEAD/GET, their headers, range requests, repository
//! scoping, deletion (refused, as in Quay) and content-addressed storage.

use crate::helpers::{assert_oci_error, header, header_of, random_bytes, repo, sha256, spawn_app};

#[actix_web::test]
async fn head_and_get_of_a_missing_blob_are_404_blob_unknown() {
    let app = spawn_app().await;
    let repo = repo();
    app.push_blob(&repo, b"something else").await;
    let path = format!("/v2/{repo}/blobs/{}", sha256(b"never pushed"));
    assert_eq!(app.head(&path).await.status(), 404);
    assert_oci_error(app.get(&path).await, 404, "BLOB_UNKNOWN").await;
}

#[actix_web::test]
async fn head_of_a_pushed_blob_reports_digest_length_and_range_support() {
    let app = spawn_app().await;
    let repo = repo();
    let data = random_bytes(3000);
    let digest = app.push_blob(&repo, &data).await;
    let res = app.head(&format!("/v2/{repo}/blobs/{digest}")).await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "Docker-Content-Digest"), digest);
    assert_eq!(header(&res, "Content-Length"), "3000");
    assert_eq!(header(&res, "Accept-Ranges"), "bytes");
    assert!(res.bytes().await.expect("HEAD body").is_empty());
}

#[actix_web::test]
async fn get_of_a_pushed_blob_returns_its_bytes_with_digest_and_length() {
    let app = spawn_app().await;
    let repo = repo();
    let data = random_bytes(5000);
    let digest = app.push_blob(&repo, &data).await;
    let res = app.get(&format!("/v2/{repo}/blobs/{digest}")).await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "Docker-Content-Digest"), digest);
    assert_eq!(header(&res, "Content-Length"), "5000");
    assert_eq!(header(&res, "Content-Type"), "application/octet-stream");
    assert_eq!(header(&res, "Accept-Ranges"), "bytes");
    assert_eq!(res.bytes().await.expect("blob body").as_ref(), &data[..]);
}

#[actix_web::test]
async fn a_range_request_returns_206_with_the_asked_bytes() {
    let app = spawn_app().await;
    let repo = repo();
    let data = random_bytes(4000);
    let digest = app.push_blob(&repo, &data).await;
    let url = app.url(&format!("/v2/{repo}/blobs/{digest}"));
    let cases = [
        ("bytes=500-1499", 500..1500, "bytes 500-1499/4000"),
        ("bytes=3000-", 3000..4000, "bytes 3000-3999/4000"),
        ("bytes=-100", 3900..4000, "bytes 3900-3999/4000"),
        ("bytes=3500-9999", 3500..4000, "bytes 3500-3999/4000"),
    ];
    for (range, want, content_range) in cases {
        let res = app.client.get(&url).header("Range", range).send().await.expect("GET");
        assert_eq!(res.status(), 206, "{range}");
        assert_eq!(header(&res, "Content-Range"), content_range, "{range}");
        assert_eq!(header(&res, "Content-Length"), want.len().to_string(), "{range}");
        assert_eq!(header(&res, "Docker-Content-Digest"), digest, "{range}");
        let body = res.bytes().await.expect("range body");
        assert_eq!(body.as_ref(), &data[want], "{range}");
    }
}

#[actix_web::test]
async fn a_range_beyond_the_blob_is_416_with_the_blob_size() {
    let app = spawn_app().await;
    let repo = repo();
    let digest = app.push_blob(&repo, &random_bytes(1000)).await;
    let url = app.url(&format!("/v2/{repo}/blobs/{digest}"));
    for range in ["bytes=1000-", "bytes=5000-6000"] {
        let res = app.client.get(&url).header("Range", range).send().await.expect("GET");
        assert_eq!(res.status(), 416, "{range}");
        assert_eq!(
            header_of(res.headers(), "Content-Range").as_deref(),
            Some("bytes */1000")
        );
    }
    // A client falling back to a plain GET gets the whole blob.
    let res = app.get(&format!("/v2/{repo}/blobs/{digest}")).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.bytes().await.expect("body").len(), 1000);
}

#[actix_web::test]
async fn a_blob_of_another_repository_is_not_served() {
    let app = spawn_app().await;
    let (mine, other) = (repo(), repo());
    app.push_blob(&mine, b"mine").await;
    let digest = app.push_blob(&other, b"only in the other repository").await;
    let path = format!("/v2/{mine}/blobs/{digest}");
    assert_eq!(app.head(&path).await.status(), 404);
    assert_oci_error(app.get(&path).await, 404, "BLOB_UNKNOWN").await;
}

#[actix_web::test]
async fn deleting_a_blob_is_405_unsupported_and_the_blob_stays() {
    let app = spawn_app().await;
    let repo = repo();
    let data = random_bytes(100);
    let digest = app.push_blob(&repo, &data).await;
    let path = format!("/v2/{repo}/blobs/{digest}");
    assert_oci_error(app.delete(&path).await, 405, "UNSUPPORTED").await;
    let res = app.get(&path).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.bytes().await.expect("body").as_ref(), &data[..]);
}

#[actix_web::test]
async fn the_same_blob_pushed_into_two_repositories_is_stored_once() {
    let app = spawn_app().await;
    let (first, second) = (repo(), repo());
    let data = random_bytes(10_000);
    let digest = app.push_blob(&first, &data).await;
    app.push_blob(&second, &data).await;
    let upload = app.start_upload(&second).await;
    let res = app
        .client
        .put(crate::helpers::with_query(&upload, &format!("digest={digest}")))
        .body(data.clone())
        .send()
        .await
        .expect("PUT");
    assert_eq!(res.status(), 201);
    for repo in [&first, &second] {
        let res = app.get(&format!("/v2/{repo}/blobs/{digest}")).await;
        assert_eq!(res.bytes().await.expect("body").as_ref(), &data[..]);
    }
    assert_eq!(app.stored_copies(&digest).await, 1, "one stored object for {digest}");
    assert_eq!(app.stored_uploads().await, 0, "no upload leftovers");
}
