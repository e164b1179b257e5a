//! Streaming bodies, big blobs and requests that race each other.

use bytes::Bytes;
use futures_util::{future, stream};
use serde_json::json;

use crate::helpers::{
    header, image_manifest, random_bytes, repo, sha256, spawn_app, with_query, OCI_CONFIG, OCI_MANIFEST,
};

/// A request body sent with `Transfer-Encoding: chunked` (no Content-Length).
fn chunked_body(data: &[u8]) -> reqwest::Body {
    let pieces: Vec<Result<Bytes, std::io::Error>> =
        data.chunks(16 * 1024).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    reqwest::Body::wrap_stream(stream::iter(pieces))
}

#[actix_web::test]
async fn uploads_accept_chunked_transfer_encoding_bodies() {
    let app = spawn_app().await;
    let repo = repo();
    let data = random_bytes(200_000);
    let digest = sha256(&data);

    let location = app.start_upload(&repo).await;
    let res = app
        .client
        .patch(&location)
        .body(chunked_body(&data[..120_000]))
        .send()
        .await
        .expect("PATCH");
    assert_eq!(res.status(), 202);
    assert_eq!(header(&res, "Range"), "0-119999");
    let res = app
        .client
        .put(with_query(
            &app.url(&header(&res, "Location")),
            &format!("digest={digest}"),
        ))
        .body(chunked_body(&data[120_000..]))
        .send()
        .await
        .expect("PUT with a streamed last chunk");
    assert_eq!(res.status(), 201);

    let other = random_bytes(50_000);
    let other_digest = sha256(&other);
    let res = app
        .client
        .post(app.url(&format!("/v2/{repo}/blobs/uploads/?digest={other_digest}")))
        .body(chunked_body(&other))
        .send()
        .await
        .expect("streamed monolithic POST");
    assert_eq!(res.status(), 201);

    for (d, bytes) in [(&digest, &data), (&other_digest, &other)] {
        let res = app.get(&format!("/v2/{repo}/blobs/{d}")).await;
        assert_eq!(res.bytes().await.expect("blob").as_ref(), &bytes[..]);
    }
}

#[actix_web::test]
async fn a_blob_of_several_mebibytes_survives_a_chunked_upload_and_range_reads() {
    let app = spawn_app().await;
    let repo = repo();
    let data = random_bytes(13 * 1024 * 1024 + 321);
    let digest = sha256(&data);
    let mut location = app.start_upload(&repo).await;
    let mut offset = 0;
    for chunk in data.chunks(6 * 1024 * 1024) {
        let res = app
            .client
            .patch(&location)
            .header("Content-Range", format!("{offset}-{}", offset + chunk.len() - 1))
            .body(chunk.to_vec())
            .send()
            .await
            .expect("PATCH");
        assert_eq!(res.status(), 202, "chunk at {offset}");
        offset += chunk.len();
        location = app.url(&header(&res, "Location"));
    }
    let res = app
        .client
        .put(with_query(&location, &format!("digest={digest}")))
        .send()
        .await
        .expect("PUT");
    assert_eq!(res.status(), 201);
    let path = format!("/v2/{repo}/blobs/{digest}");
    let res = app.get(&path).await;
    assert_eq!(header(&res, "Content-Length"), data.len().to_string());
    assert!(
        res.bytes().await.expect("blob").as_ref() == &data[..],
        "whole blob differs"
    );
    let (start, end) = (6 * 1024 * 1024 - 10, 12 * 1024 * 1024 + 10);
    let res = app
        .client
        .get(app.url(&path))
        .header("Range", format!("bytes={start}-{end}"))
        .send()
        .await
        .expect("range GET");
    assert_eq!(res.status(), 206);
    assert!(
        res.bytes().await.expect("range").as_ref() == &data[start..=end],
        "range across chunks differs"
    );
}

#[actix_web::test]
async fn the_same_blob_pushed_concurrently_into_many_repositories_is_stored_once() {
    let app = spawn_app().await;
    let data = random_bytes(300_000);
    let repos: Vec<String> = (0..6).map(|_| repo()).collect();
    for repo in &repos {
        app.push_blob(repo, repo.as_bytes()).await;
    }
    let digests = future::join_all(repos.iter().map(|r| app.push_blob(r, &data))).await;
    let digest = digests[0].clone();
    for repo in &repos {
        let res = app.get(&format!("/v2/{repo}/blobs/{digest}")).await;
        assert_eq!(res.status(), 200, "{repo}");
        assert!(res.bytes().await.expect("blob").as_ref() == &data[..], "{repo}");
    }
    assert_eq!(app.stored_copies(&digest).await, 1);
    assert_eq!(app.stored_uploads().await, 0);
}

#[actix_web::test]
async fn concurrent_pushes_of_one_tag_all_succeed_and_the_tag_names_one_of_them() {
    let app = spawn_app().await;
    let repo = repo();
    let config = app.push_blob(&repo, b"{}").await;
    let manifests: Vec<Vec<u8>> = (0..6)
        .map(|i| {
            let mut m: serde_json::Value =
                serde_json::from_slice(&image_manifest(OCI_MANIFEST, (OCI_CONFIG, &config, 2), &[])).expect("JSON");
            m["annotations"] = json!({"n": i.to_string()});
            serde_json::to_vec(&m).expect("JSON")
        })
        .collect();
    let results = future::join_all(
        manifests
            .iter()
            .map(|m| app.put_manifest(&repo, "race", OCI_MANIFEST, m)),
    )
    .await;
    for res in results {
        let status = res.status();
        assert_eq!(status, 201, "{}", res.text().await.unwrap_or_default());
    }
    let res = app.get(&format!("/v2/{repo}/manifests/race")).await;
    let digest = header(&res, "Docker-Content-Digest");
    assert!(
        manifests.iter().any(|m| sha256(m) == digest),
        "tag points at a pushed manifest"
    );
    let tags: serde_json::Value = app
        .get(&format!("/v2/{repo}/tags/list"))
        .await
        .json()
        .await
        .expect("tags");
    assert_eq!(tags["tags"], json!(["race"]));
}

#[actix_web::test]
async fn concurrent_chunks_for_one_upload_never_both_succeed_at_the_same_offset() {
    let app = spawn_app().await;
    let repo = repo();
    let location = app.start_upload(&repo).await;
    let size = 3 * 1024 * 1024;
    let chunks: Vec<Vec<u8>> = (0..4).map(|_| random_bytes(size)).collect();
    let results = future::join_all(chunks.iter().map(|c| {
        app.client
            .patch(&location)
            .header("Content-Range", format!("0-{}", size - 1))
            .body(c.clone())
            .send()
    }))
    .await;
    let mut accepted = Vec::new();
    for (i, res) in results.into_iter().enumerate() {
        let res = res.expect("PATCH");
        match res.status().as_u16() {
            202 => accepted.push(i),
            // 409 while the winner is still writing, 416 once it is done.
            409 | 416 => {}
            other => panic!("chunk {i}: unexpected {other}"),
        }
    }
    assert_eq!(accepted.len(), 1, "exactly one chunk at offset 0 wins: {accepted:?}");
    let winner = &chunks[accepted[0]];
    let res = app.get(&location).await;
    assert_eq!(header(&res, "Range"), format!("0-{}", size - 1));
    let digest = sha256(winner);
    let res = app
        .client
        .put(with_query(&location, &format!("digest={digest}")))
        .send()
        .await
        .expect("PUT");
    assert_eq!(res.status(), 201);
    let res = app.get(&format!("/v2/{repo}/blobs/{digest}")).await;
    let stored = res.bytes().await.expect("blob");
    let whose = match chunks.iter().position(|c| c[..] == stored[..]) {
        Some(i) => format!("exactly the bytes of losing chunk {i}"),
        None => "a mix of the racing chunks".to_owned(),
    };
    assert!(
        stored.as_ref() == &winner[..],
        "blob {digest} (chunk {} won) holds bytes hashing to {}: {whose}",
        accepted[0],
        sha256(&stored)
    );
}

#[actix_web::test]
async fn concurrent_first_pushes_into_one_new_namespace_all_succeed() {
    let app = spawn_app().await;
    let repos: Vec<String> = (0..6).map(|i| format!("fresh/app-{i}")).collect();
    let data: Vec<Vec<u8>> = (0..6).map(|_| random_bytes(1000)).collect();
    let results = future::join_all(repos.iter().zip(&data).map(|(repo, bytes)| {
        app.client
            .post(app.url(&format!("/v2/{repo}/blobs/uploads/?digest={}", sha256(bytes))))
            .body(bytes.clone())
            .send()
    }))
    .await;
    let mut wrong = Vec::new();
    for (repo, res) in repos.iter().zip(results) {
        let res = res.expect("POST");
        if res.status() != 201 {
            wrong.push(format!(
                "{repo}: {} {}",
                res.status(),
                res.text().await.unwrap_or_default()
            ));
        }
    }
    assert!(wrong.is_empty(), "failed first pushes:\n{}", wrong.join("\n"));
}

#[actix_web::test]
async fn concurrent_pushes_of_one_blob_into_one_repository_all_succeed() {
    let app = spawn_app().await;
    let repo = repo();
    app.push_blob(&repo, b"the repository exists").await;
    let data = random_bytes(200_000);
    let digest = sha256(&data);
    let results = future::join_all((0..6).map(|_| {
        app.client
            .post(app.url(&format!("/v2/{repo}/blobs/uploads/?digest={digest}")))
            .body(data.clone())
            .send()
    }))
    .await;
    let mut wrong = Vec::new();
    for res in results {
        let res = res.expect("POST");
        if res.status() != 201 {
            wrong.push(format!("{} {}", res.status(), res.text().await.unwrap_or_default()));
        }
    }
    assert!(wrong.is_empty(), "failed pushes:\n{}", wrong.join("\n"));
    let res = app.get(&format!("/v2/{repo}/blobs/{digest}")).await;
    assert!(res.bytes().await.expect("blob").as_ref() == &data[..]);
    assert_eq!(app.stored_copies(&digest).await, 1);
}

#[actix_web::test]
async fn concurrent_first_pushes_into_one_new_repository_of_an_organization_all_succeed() {
    let app = spawn_app().await;
    // The namespace exists (an organization made by the first push); the
    // repository does not, and every request races to create it.
    app.push_blob("crew/seed", b"the organization exists").await;
    for round in 0..4 {
        let repo = format!("crew/new-{round}");
        let data: Vec<Vec<u8>> = (0..8).map(|_| random_bytes(1000)).collect();
        let results = future::join_all(data.iter().map(|bytes| {
            app.client
                .post(app.url(&format!("/v2/{repo}/blobs/uploads/?digest={}", sha256(bytes))))
                .body(bytes.clone())
                .send()
        }))
        .await;
        let mut wrong = Vec::new();
        for res in results {
            let res = res.expect("POST");
            if res.status() != 201 {
                wrong.push(format!("{} {}", res.status(), res.text().await.unwrap_or_default()));
            }
        }
        assert!(
            wrong.is_empty(),
            "failed first pushes into {repo}:\n{}",
            wrong.join("\n")
        );
    }
}
