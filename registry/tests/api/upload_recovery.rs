//! Uploads after a crash: claims left by a request that died with its
//! process, claims held by a live request, and hash states saved in an
//! earlier boot.

use diesel::prelude::*;
use registry::db::schema::blobupload;
use registry::service::claim_holder::Holder;

use crate::helpers::{assert_oci_error, header, random_bytes, repo, sha256, spawn_app, TestApp};
use crate::uploads::put;

async fn patch(app: &TestApp, location: &str, chunk: &[u8], start: usize) -> reqwest::Response {
    app.client
        .patch(app.url(location))
        .header("Content-Type", "application/octet-stream")
        .header("Content-Range", format!("{start}-{}", start + chunk.len() - 1))
        .body(chunk.to_vec())
        .send()
        .await
        .expect("PATCH")
}

/// Writes a claim on the upload as a request of `holder` would have left it,
/// its lease ending `lease_ms` from now.
async fn leave_claim(app: &TestApp, uuid: &str, holder: &Holder, lease_ms: i64) {
    let (u, h) = (uuid.to_owned(), holder.encode());
    let until = registry::now_ms() + lease_ms;
    app.server
        .db()
        .write(move |c| {
            diesel::update(blobupload::table.filter(blobupload::uuid.eq(&u)))
                .set((
                    blobupload::lock_token.eq(Some("a-request-that-never-finished")),
                    blobupload::lock_holder.eq(Some(h)),
                    blobupload::locked_until_ms.eq(Some(until)),
                ))
                .execute(c)?;
            Ok::<_, registry::service::Error>(())
        })
        .await
        .expect("leave a claim");
}

/// A PID no process has any more.
fn exited_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().expect("spawn true");
    let pid = child.id();
    child.wait().expect("wait");
    pid
}

/// Starts an upload holding the first 1000 of 3000 bytes; returns the data,
/// the Location and the upload's UUID.
async fn half_done_upload(app: &TestApp, repo: &str) -> (Vec<u8>, String, String) {
    let data = random_bytes(3000);
    let location = app.start_upload(repo).await;
    let res = patch(app, &location, &data[..1000], 0).await;
    assert_eq!(res.status(), 202);
    (data, header(&res, "Location"), header(&res, "Docker-Upload-UUID"))
}

#[actix_web::test]
async fn an_upload_a_live_request_is_writing_is_409_in_use_not_416() {
    let app = spawn_app().await;
    let repo = repo();
    let (data, location, uuid) = half_done_upload(&app, &repo).await;
    // This process is alive; so is the request, as far as anyone can tell.
    leave_claim(&app, &uuid, Holder::current(), 60_000).await;

    let res = patch(&app, &location, &data[1000..], 1000).await;
    let body = assert_oci_error(res, 409, "BLOB_UPLOAD_INVALID").await;
    let message = body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("in use by another request"), "{message}");
    let res = put(&app, &location, &sha256(&data), Some(&data[1000..])).await;
    assert_oci_error(res, 409, "BLOB_UPLOAD_INVALID").await;
    let res = app.get(&location).await;
    assert_eq!(res.status(), 204);
    assert_eq!(header(&res, "Range"), "0-999", "a refused request changes nothing");
}

#[actix_web::test]
async fn a_claim_of_a_holder_elsewhere_is_kept_until_its_lease_lapses() {
    let app = spawn_app().await;
    let repo = repo();
    let (data, location, uuid) = half_done_upload(&app, &repo).await;
    let elsewhere = Holder {
        host: "another-machine".into(),
        pid: exited_pid(),
        ..Holder::current().clone()
    };
    leave_claim(&app, &uuid, &elsewhere, 60_000).await;
    let res = patch(&app, &location, &data[1000..2000], 1000).await;
    assert_oci_error(res, 409, "BLOB_UPLOAD_INVALID").await;

    leave_claim(&app, &uuid, &elsewhere, -1).await;
    let res = patch(&app, &location, &data[1000..2000], 1000).await;
    assert_eq!(res.status(), 202, "a lapsed lease is taken");
    let res = put(&app, &location, &sha256(&data), Some(&data[2000..])).await;
    assert_eq!(res.status(), 201);
}

/// What a restart after `kill -9` during a PATCH leaves: a claim whose
/// holder process is gone (or whose machine rebooted). The next request takes
/// it over at once, from where the upload ends.
#[actix_web::test]
async fn a_claim_left_by_a_process_that_is_gone_is_taken_over_at_once() {
    let app = spawn_app().await;
    let me = Holder::current();
    let gone = [
        Holder {
            pid: exited_pid(),
            ..me.clone()
        },
        Holder {
            boot_id: "an-earlier-boot".into(),
            ..me.clone()
        },
    ];
    for holder in gone {
        let repo = repo();
        let (data, location, uuid) = half_done_upload(&app, &repo).await;
        leave_claim(&app, &uuid, &holder, 60_000).await;
        let res = patch(&app, &location, &data[1000..2000], 1000).await;
        assert_eq!(res.status(), 202, "PATCH after {holder:?} died");
        assert_eq!(header(&res, "Range"), "0-1999");

        leave_claim(&app, &uuid, &holder, 60_000).await;
        let digest = sha256(&data);
        let res = put(&app, &header(&res, "Location"), &digest, Some(&data[2000..])).await;
        assert_eq!(res.status(), 201, "PUT after {holder:?} died");
        let res = app.get(&format!("/v2/{repo}/blobs/{digest}")).await;
        assert_eq!(res.bytes().await.expect("blob").as_ref(), &data[..]);
    }
}

/// A chunk's bytes and progress are saved without waiting for the disk, so a
/// hash state saved before a machine crash (another boot) is not trusted: the
/// upload is hashed again from storage when it completes. Bytes the crash lost
/// then fail the digest check instead of becoming a corrupt blob, and bytes
/// that survived complete as usual.
#[actix_web::test]
async fn an_upload_saved_in_an_earlier_boot_is_hashed_again_and_lost_bytes_are_refused() {
    use futures_util::stream;

    let app = spawn_app().await;
    for lost in [false, true] {
        let repo = repo();
        let data = random_bytes(5000);
        let digest = sha256(&data);
        let location = app.start_upload(&repo).await;
        let res = patch(&app, &location, &data, 0).await;
        assert_eq!(res.status(), 202);
        let uuid = header(&res, "Docker-Upload-UUID");
        let u = uuid.clone();
        app.server
            .db()
            .write(move |c| {
                let state: Option<Vec<u8>> = blobupload::table
                    .filter(blobupload::uuid.eq(&u))
                    .select(blobupload::sha_state)
                    .first(c)?;
                let state = state.expect("a saved hash state");
                let newline = state.iter().position(|b| *b == b'\n').expect("state names its boot");
                let earlier = [&b"an-earlier-boot"[..], &state[newline..]].concat();
                diesel::update(blobupload::table.filter(blobupload::uuid.eq(&u)))
                    .set(blobupload::sha_state.eq(Some(earlier)))
                    .execute(c)?;
                Ok::<_, registry::service::Error>(())
            })
            .await
            .expect("age the saved state");
        if lost {
            // What the disk kept of the chunk: zeros.
            let zeros: registry::storage::ByteStream<'static> =
                Box::pin(stream::once(async move { Ok(bytes::Bytes::from(vec![0u8; 5000])) }));
            let n = app
                .server
                .store()
                .append_upload(&uuid, 0, zeros)
                .await
                .expect("overwrite");
            assert_eq!(n, 5000);
        }
        let res = put(&app, &location, &digest, None).await;
        if lost {
            assert_oci_error(res, 400, "DIGEST_INVALID").await;
            assert_eq!(app.head(&format!("/v2/{repo}/blobs/{digest}")).await.status(), 404);
            assert_eq!(app.stored_copies(&digest).await, 0, "no corrupt blob is stored");
        } else {
            assert_eq!(res.status(), 201);
            let res = app.get(&format!("/v2/{repo}/blobs/{digest}")).await;
            assert_eq!(res.bytes().await.expect("blob").as_ref(), &data[..]);
        }
    }
}
