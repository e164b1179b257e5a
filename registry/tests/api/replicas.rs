//! Two registry processes on one database and one blob store: what one
//! starts, the other continues (a second replica, or a restart).

use crate::helpers::{header, random_bytes, repo, sha256, spawn_app, with_query};

#[actix_web::test]
async fn an_upload_started_on_one_instance_is_finished_on_another() {
    let app = spawn_app().await;
    let other = app.spawn_replica().await;
    let repo = repo();
    let data = random_bytes(30_000);
    let digest = sha256(&data);
    let location = app.start_upload(&repo).await;
    let path = location.strip_prefix(&app.address).expect("local Location").to_owned();

    let res = app
        .client
        .patch(&location)
        .header("Content-Range", "0-9999")
        .body(data[..10_000].to_vec())
        .send()
        .await
        .expect("PATCH on the first instance");
    assert_eq!(res.status(), 202);

    let res = app
        .client
        .get(format!("{other}{path}"))
        .send()
        .await
        .expect("GET status");
    assert_eq!(res.status(), 204, "the second instance knows the upload");
    assert_eq!(header(&res, "Range"), "0-9999");

    let res = app
        .client
        .patch(format!("{other}{path}"))
        .header("Content-Range", "10000-19999")
        .body(data[10_000..20_000].to_vec())
        .send()
        .await
        .expect("PATCH on the second instance");
    assert_eq!(res.status(), 202);
    assert_eq!(header(&res, "Range"), "0-19999");

    let res = app
        .client
        .put(with_query(&location, &format!("digest={digest}")))
        .body(data[20_000..].to_vec())
        .send()
        .await
        .expect("PUT on the first instance");
    assert_eq!(res.status(), 201);

    for address in [&app.address, &other] {
        let res = app
            .client
            .get(format!("{address}/v2/{repo}/blobs/{digest}"))
            .send()
            .await
            .expect("GET blob");
        assert_eq!(res.status(), 200, "{address}");
        assert_eq!(res.bytes().await.expect("blob").as_ref(), &data[..], "{address}");
    }
}

#[actix_web::test]
async fn an_image_pushed_through_one_instance_is_pulled_through_another() {
    let app = spawn_app().await;
    let other = app.spawn_replica().await;
    let repo = repo();
    let image = app.push_image(&repo, Some("shared")).await;
    let res = app
        .client
        .get(format!("{other}/v2/{repo}/manifests/shared"))
        .send()
        .await
        .expect("GET manifest");
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "Docker-Content-Digest"), image.digest);
    assert_eq!(res.bytes().await.expect("manifest").as_ref(), &image.manifest[..]);
    let res = app
        .client
        .get(format!("{other}/v2/{repo}/blobs/{}", image.layer_digest))
        .send()
        .await
        .expect("GET layer");
    assert_eq!(res.bytes().await.expect("layer").as_ref(), &image.layer[..]);
    let res = app
        .client
        .head(format!("{other}/v2/{repo}/blobs/{}", image.config_digest))
        .send()
        .await
        .expect("HEAD config");
    assert_eq!(res.status(), 200);
}
