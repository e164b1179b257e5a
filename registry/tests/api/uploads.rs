//! Pushing blobs: streamed, monolithic and chunked uploads, their status,
//! cancellation and the errors of each step.

use reqwest::StatusCode;

use crate::helpers::{
    assert_oci_error, header, header_of, random_bytes, repo, sha256, sha512, spawn_app, with_query, TestApp,
};

async fn patch(app: &TestApp, location: &str, chunk: &[u8], range: Option<(usize, usize)>) -> reqwest::Response {
    let mut req = app
        .client
        .patch(app.url(location))
        .header("Content-Type", "application/octet-stream")
        .body(chunk.to_vec());
    if let Some((start, end)) = range {
        req = req.header("Content-Range", format!("{start}-{end}"));
    }
    req.send().await.expect("PATCH")
}

/// `PUT <location>?digest=` with an optional last chunk.
pub(crate) async fn put(app: &TestApp, location: &str, digest: &str, body: Option<&[u8]>) -> reqwest::Response {
    let mut req = app
        .client
        .put(with_query(&app.url(location), &format!("digest={digest}")));
    if let Some(b) = body {
        req = req.header("Content-Type", "application/octet-stream").body(b.to_vec());
    }
    req.send().await.expect("PUT")
}

async fn assert_blob(app: &TestApp, repo: &str, digest: &str, data: &[u8]) {
    let res = app.get(&format!("/v2/{repo}/blobs/{digest}")).await;
    assert_eq!(res.status(), 200, "GET blob {digest}");
    assert_eq!(res.bytes().await.expect("blob").as_ref(), data, "bytes of {digest}");
}

fn assert_created(res: &reqwest::Response, repo: &str, digest: &str) {
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(header(res, "Location"), format!("/v2/{repo}/blobs/{digest}"));
    assert_eq!(header(res, "Docker-Content-Digest"), digest);
}

#[actix_web::test]
async fn starting_an_upload_is_202_with_location_uuid_and_empty_range() {
    let app = spawn_app().await;
    let repo = repo();
    let res = app
        .client
        .post(app.url(&format!("/v2/{repo}/blobs/uploads/")))
        .send()
        .await
        .expect("POST");
    assert_eq!(res.status(), 202);
    let uuid = header(&res, "Docker-Upload-UUID");
    assert_eq!(header(&res, "Location"), format!("/v2/{repo}/blobs/uploads/{uuid}"));
    let range = header(&res, "Range");
    assert!(["0-0", "bytes=0-0"].contains(&range.as_str()), "Range {range}");
}

#[actix_web::test]
async fn a_streamed_upload_is_a_patch_then_a_put_with_the_digest() {
    let app = spawn_app().await;
    let repo = repo();
    let data = random_bytes(70_000);
    let digest = sha256(&data);
    let location = app.start_upload(&repo).await;
    let res = patch(&app, &location, &data, None).await;
    assert_eq!(res.status(), 202);
    assert_eq!(header(&res, "Range"), "0-69999");
    let next = header(&res, "Location");
    let res = put(&app, &next, &digest, None).await;
    assert_created(&res, &repo, &digest);
    assert_blob(&app, &repo, &digest, &data).await;
}

#[actix_web::test]
async fn a_monolithic_post_with_digest_creates_the_blob_in_one_request() {
    let app = spawn_app().await;
    let repo = repo();
    let data = random_bytes(1234);
    let digest = sha256(&data);
    app.push_blob(&repo, b"repository exists").await;
    assert_eq!(app.get(&format!("/v2/{repo}/blobs/{digest}")).await.status(), 404);
    let res = app
        .client
        .post(app.url(&format!("/v2/{repo}/blobs/uploads/?digest={digest}")))
        .header("Content-Type", "application/octet-stream")
        .body(data.clone())
        .send()
        .await
        .expect("POST");
    assert_created(&res, &repo, &digest);
    assert_blob(&app, &repo, &digest, &data).await;
}

#[actix_web::test]
async fn a_monolithic_put_after_post_creates_config_and_layer_blobs() {
    let app = spawn_app().await;
    let repo = repo();
    for data in [br#"{"architecture":"amd64","os":"linux"}"#.to_vec(), random_bytes(9000)] {
        let digest = sha256(&data);
        let location = app.start_upload(&repo).await;
        let res = put(&app, &location, &digest, Some(&data)).await;
        assert_created(&res, &repo, &digest);
        assert_blob(&app, &repo, &digest, &data).await;
    }
}

#[actix_web::test]
async fn an_empty_blob_can_be_pushed_and_pulled() {
    let app = spawn_app().await;
    let repo = repo();
    let digest = app.push_blob(&repo, b"").await;
    assert_eq!(
        digest,
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    let res = app.head(&format!("/v2/{repo}/blobs/{digest}")).await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "Content-Length"), "0");
    assert_blob(&app, &repo, &digest, b"").await;
}

#[actix_web::test]
async fn a_blob_addressed_by_sha512_can_be_pushed_and_pulled() {
    let app = spawn_app().await;
    let repo = repo();
    let data = random_bytes(4096);
    let digest = sha512(&data);
    let res = app
        .client
        .post(app.url(&format!("/v2/{repo}/blobs/uploads/?digest={digest}")))
        .body(data.clone())
        .send()
        .await
        .expect("POST");
    assert_created(&res, &repo, &digest);
    let location = app.start_upload(&repo).await;
    let res = patch(&app, &location, &data[..1000], Some((0, 999))).await;
    assert_eq!(res.status(), 202);
    let res = put(&app, &header(&res, "Location"), &digest, Some(&data[1000..])).await;
    assert_created(&res, &repo, &digest);
    assert_blob(&app, &repo, &digest, &data).await;
}

/// The conformance suite's chunked upload, step by step.
#[actix_web::test]
async fn a_chunked_upload_refuses_out_of_order_and_retried_chunks_with_416() {
    let app = spawn_app().await;
    let repo = repo();
    let data = random_bytes(12_000);
    let (first, second) = data.split_at(5000);
    let digest = sha256(&data);
    let location = app.start_upload(&repo).await;

    let res = patch(&app, &location, second, Some((5000, 11_999))).await;
    assert_eq!(
        header_of(res.headers(), "Range").as_deref(),
        Some("0-0"),
        "nothing received yet"
    );
    assert_oci_error(res, 416, "BLOB_UPLOAD_INVALID").await;

    let res = patch(&app, &location, first, Some((0, 4999))).await;
    assert_eq!(res.status(), 202);
    assert_eq!(header(&res, "Range"), "0-4999");
    let location = header(&res, "Location");

    let res = patch(&app, &location, first, Some((0, 4999))).await;
    assert_eq!(header(&res, "Range"), "0-4999", "a 416 says where the upload stands");
    assert_oci_error(res, 416, "BLOB_UPLOAD_INVALID").await;

    let res = app.get(&location).await;
    assert_eq!(res.status(), 204);
    assert_eq!(header(&res, "Range"), "0-4999");
    assert_eq!(app.url(&header(&res, "Location")), app.url(&location));

    let res = patch(&app, &location, second, Some((5000, 11_999))).await;
    assert_eq!(res.status(), 202);
    assert_eq!(header(&res, "Range"), "0-11999");
    let res = put(&app, &header(&res, "Location"), &digest, None).await;
    assert_created(&res, &repo, &digest);
    assert_blob(&app, &repo, &digest, &data).await;
}

/// After a refused out-of-order chunk, a closing PUT whose `Content-Range`
/// does not start where the upload ends is refused like such a PATCH: 416
/// with the upload's `Range`, and the upload stays usable.
#[actix_web::test]
async fn a_closing_put_whose_content_range_leaves_a_gap_is_416_with_the_range() {
    let app = spawn_app().await;
    let repo = repo();
    let data = random_bytes(3000);
    let digest = sha256(&data);
    let location = app.start_upload(&repo).await;
    let res = patch(&app, &location, &data[..1000], Some((0, 999))).await;
    assert_eq!(res.status(), 202);
    let location = header(&res, "Location");
    let res = patch(&app, &location, &data[2000..], Some((2000, 2999))).await;
    assert_oci_error(res, 416, "BLOB_UPLOAD_INVALID").await;

    let res = app
        .client
        .put(with_query(&app.url(&location), &format!("digest={digest}")))
        .header("Content-Type", "application/octet-stream")
        .header("Content-Range", "2000-2999")
        .body(data[2000..].to_vec())
        .send()
        .await
        .expect("PUT");
    assert_eq!(header(&res, "Range"), "0-999");
    assert_eq!(app.url(&header(&res, "Location")), app.url(&location));
    assert!(location.ends_with(&header(&res, "Docker-Upload-UUID")));
    assert_oci_error(res, 416, "BLOB_UPLOAD_INVALID").await;

    let res = put(&app, &location, &digest, Some(&data[1000..])).await;
    assert_created(&res, &repo, &digest);
    assert_blob(&app, &repo, &digest, &data).await;
}

#[actix_web::test]
async fn a_chunked_upload_may_send_its_last_chunk_with_the_put() {
    let app = spawn_app().await;
    let repo = repo();
    let data = random_bytes(3 * 1024 + 17);
    let digest = sha256(&data);
    let mut location = app.start_upload(&repo).await;
    for (i, chunk) in data[..3072].chunks(1024).enumerate() {
        let res = patch(&app, &location, chunk, Some((i * 1024, i * 1024 + 1023))).await;
        assert_eq!(res.status(), 202, "chunk {i}");
        location = header(&res, "Location");
    }
    let res = put(&app, &location, &digest, Some(&data[3072..])).await;
    assert_created(&res, &repo, &digest);
    assert_blob(&app, &repo, &digest, &data).await;
}

#[actix_web::test]
async fn a_digest_mismatch_is_400_digest_invalid_and_nothing_is_stored() {
    let app = spawn_app().await;
    let repo = repo();
    let data = random_bytes(2000);
    let claimed = sha256(b"not these bytes");
    let actual = sha256(&data);

    let location = app.start_upload(&repo).await;
    let res = patch(&app, &location, &data, None).await;
    assert_eq!(res.status(), 202);
    assert_oci_error(put(&app, &location, &claimed, None).await, 400, "DIGEST_INVALID").await;

    let res = app
        .client
        .post(app.url(&format!("/v2/{repo}/blobs/uploads/?digest={claimed}")))
        .body(data.clone())
        .send()
        .await
        .expect("POST");
    assert_oci_error(res, 400, "DIGEST_INVALID").await;

    for digest in [&claimed, &actual] {
        let path = format!("/v2/{repo}/blobs/{digest}");
        assert_eq!(app.head(&path).await.status(), 404, "HEAD {digest}");
        assert_oci_error(app.get(&path).await, 404, "BLOB_UNKNOWN").await;
        assert_eq!(app.stored_copies(digest).await, 0, "stored copies of {digest}");
    }
    assert_eq!(app.stored_uploads().await, 0, "the failed uploads left bytes behind");
}

#[actix_web::test]
async fn a_put_without_digest_is_400_and_the_upload_can_still_finish() {
    let app = spawn_app().await;
    let repo = repo();
    let data = random_bytes(500);
    let location = app.start_upload(&repo).await;
    assert_eq!(patch(&app, &location, &data, None).await.status(), 202);
    let res = app.client.put(&location).send().await.expect("PUT");
    assert_oci_error(res, 400, "BLOB_UPLOAD_INVALID").await;
    let digest = sha256(&data);
    assert_created(&put(&app, &location, &digest, None).await, &repo, &digest);
}

#[actix_web::test]
async fn a_put_with_a_malformed_digest_is_400_digest_invalid() {
    let app = spawn_app().await;
    let repo = repo();
    let location = app.start_upload(&repo).await;
    for digest in ["sha256:abc", "nothex", "sha256:ZZZZ"] {
        assert_oci_error(put(&app, &location, digest, Some(b"x")).await, 400, "DIGEST_INVALID").await;
    }
}

#[actix_web::test]
async fn a_cancelled_upload_is_404_blob_upload_unknown_afterwards() {
    let app = spawn_app().await;
    let repo = repo();
    let location = app.start_upload(&repo).await;
    assert_eq!(patch(&app, &location, b"some bytes", None).await.status(), 202);
    assert_eq!(app.delete(&location).await.status(), 204);
    assert_oci_error(app.get(&location).await, 404, "BLOB_UPLOAD_UNKNOWN").await;
    assert_oci_error(patch(&app, &location, b"more", None).await, 404, "BLOB_UPLOAD_UNKNOWN").await;
    let digest = sha256(b"some bytes");
    assert_oci_error(put(&app, &location, &digest, None).await, 404, "BLOB_UPLOAD_UNKNOWN").await;
    assert_oci_error(app.delete(&location).await, 404, "BLOB_UPLOAD_UNKNOWN").await;
    assert_eq!(app.stored_uploads().await, 0);
}

#[actix_web::test]
async fn an_unknown_upload_is_404_blob_upload_unknown() {
    let app = spawn_app().await;
    let repo = repo();
    app.push_blob(&repo, b"repository exists").await;
    let location = format!("/v2/{repo}/blobs/uploads/{}", uuid::Uuid::new_v4());
    assert_oci_error(app.get(&location).await, 404, "BLOB_UPLOAD_UNKNOWN").await;
    assert_oci_error(patch(&app, &location, b"x", None).await, 404, "BLOB_UPLOAD_UNKNOWN").await;
}

#[actix_web::test]
async fn an_upload_cannot_be_continued_through_another_repository() {
    let app = spawn_app().await;
    let (mine, other) = (repo(), repo());
    app.push_blob(&other, b"other exists").await;
    let location = app.start_upload(&mine).await;
    let uuid = location.rsplit('/').next().expect("uuid").to_owned();
    let foreign = format!("/v2/{other}/blobs/uploads/{uuid}");
    assert_oci_error(app.get(&foreign).await, 404, "BLOB_UPLOAD_UNKNOWN").await;
    assert_oci_error(patch(&app, &foreign, b"x", None).await, 404, "BLOB_UPLOAD_UNKNOWN").await;
    assert_eq!(app.get(&location).await.status(), 204, "the upload itself is intact");
}

#[actix_web::test]
async fn a_finished_upload_is_404_blob_upload_unknown_afterwards() {
    let app = spawn_app().await;
    let repo = repo();
    let data = random_bytes(100);
    let location = app.start_upload(&repo).await;
    let res = put(&app, &location, &sha256(&data), Some(&data)).await;
    assert_eq!(res.status(), 201);
    assert_oci_error(app.get(&location).await, 404, "BLOB_UPLOAD_UNKNOWN").await;
    assert_oci_error(patch(&app, &location, b"late", None).await, 404, "BLOB_UPLOAD_UNKNOWN").await;
}

/// Distribution answers 416 when `Content-Range` and the body disagree, so
/// client and registry never disagree about where the upload stands.
#[actix_web::test]
async fn a_chunk_shorter_than_its_content_range_is_refused_with_416() {
    let app = spawn_app().await;
    let repo = repo();
    let location = app.start_upload(&repo).await;
    let res = patch(&app, &location, &random_bytes(500), Some((0, 999))).await;
    assert_eq!(res.status(), 416, "500 bytes sent for a 1000-byte range");
    let res = app.get(&location).await;
    assert_eq!(header(&res, "Range"), "0-0", "nothing was appended");
}

#[actix_web::test]
async fn an_upload_id_that_is_not_a_session_never_reaches_storage() {
    let app = spawn_app().await;
    let repo = repo();
    app.push_blob(&repo, b"repository exists").await;
    let data = b"payload";
    for id in ["..%2F..%2Fregistry.db", "..%2Fuploads", "not-a-uuid"] {
        let location = format!("/v2/{repo}/blobs/uploads/{id}");
        assert_oci_error(app.get(&location).await, 404, "BLOB_UPLOAD_UNKNOWN").await;
        assert_oci_error(patch(&app, &location, data, None).await, 404, "BLOB_UPLOAD_UNKNOWN").await;
        let res = put(&app, &location, &sha256(data), Some(data)).await;
        assert_oci_error(res, 404, "BLOB_UPLOAD_UNKNOWN").await;
        assert_oci_error(app.delete(&location).await, 404, "BLOB_UPLOAD_UNKNOWN").await;
    }
    if let crate::helpers::Backend::SqliteFs = app.backend {
        assert!(app.data_dir.join("registry.db").exists(), "the database file is intact");
    }
}
