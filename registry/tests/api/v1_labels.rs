//! Manifest labels through /api/v1 and from image configs at push.
//! (quay-api.md §1.9): labels recorded from the image config (and shared by
//! an index's children), the label API with its refusals and permission
//! rules, the `quay.immutable` label and garbage collection of labels.

use futures_util::StreamExt as _;
use registry::oci::{Digest, Reference, RepoName};
use registry::service::GcOptions;
use serde_json::{json, Value};

use crate::helpers::{
    assert_oci_error, grant_role, header, image_manifest, index_manifest, random_bytes, sha256, Grantee, RepoFixture,
    OCI_CONFIG, OCI_INDEX, OCI_LAYER, OCI_MANIFEST,
};

/// An OCI image whose config carries `labels`, as (manifest, config, layer).
fn labeled_image(labels: Value) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let config = json!({"architecture": "amd64", "os": "linux", "config": {"Labels": labels},
        "nonce": hex::encode(random_bytes(8))});
    let config = serde_json::to_vec(&config).expect("config JSON");
    let layer = random_bytes(256);
    let manifest = image_manifest(
        OCI_MANIFEST,
        (OCI_CONFIG, &sha256(&config), config.len()),
        &[(OCI_LAYER, &sha256(&layer), layer.len())],
    );
    (manifest, config, layer)
}

/// Pushes an image with these config labels through the services under
/// `reference` (a tag or, when `None`, its digest); returns its digest.
async fn push_labeled(f: &RepoFixture, repo: &str, tag: Option<&str>, labels: Value) -> String {
    let name: RepoName = repo.parse().expect("repository name");
    let (manifest, config, layer) = labeled_image(labels);
    for blob in [&config, &layer] {
        let digest: Digest = sha256(blob).parse().expect("digest");
        let body = futures_util::stream::once(std::future::ready(Ok(bytes::Bytes::from(blob.clone())))).boxed();
        f.services.put_blob(&name, &digest, body).await.expect("blob push");
    }
    let digest = sha256(&manifest);
    let reference = match tag {
        Some(t) => Reference::Tag(t.parse().expect("tag")),
        None => Reference::Digest(digest.parse().expect("digest")),
    };
    f.services
        .put_manifest(&name, &reference, Some(OCI_MANIFEST), manifest)
        .await
        .expect("manifest push");
    digest
}

/// A fixture with user `alice` (token returned) owning private `alice/app`.
async fn alice_app(config: &str) -> (RepoFixture, String) {
    let f = RepoFixture::with_config(config).await;
    let (_, alice) = f.user("alice").await;
    f.create_repo(&alice, "alice", "app", "private").await;
    (f, alice)
}

fn labels_path(digest: &str) -> String {
    format!("/repository/alice/app/manifest/{digest}/labels")
}

/// The (key, value, source_type, media_type) of every listed label, sorted.
fn label_tuples(body: &Value) -> Vec<(String, String, String, String)> {
    let mut all: Vec<_> = body["labels"]
        .as_array()
        .unwrap_or_else(|| panic!("no labels in {body}"))
        .iter()
        .map(|l| {
            let s = |k: &str| l[k].as_str().unwrap_or_default().to_owned();
            (s("key"), s("value"), s("source_type"), s("media_type"))
        })
        .collect();
    all.sort();
    all
}

fn from_config(key: &str, value: &str) -> (String, String, String, String) {
    (key.into(), value.into(), "manifest".into(), "text/plain".into())
}

async fn list(f: &RepoFixture, token: &str, digest: &str, query: &str) -> Value {
    let (status, body) = f
        .call("GET", &format!("{}{query}", labels_path(digest)), Some(token), None)
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

#[actix_web::test]
async fn labels_of_the_image_config_are_listed_after_push() {
    let (f, alice) = alice_app("").await;
    // An empty key and a NUL character (which PostgreSQL text cannot hold) are skipped.
    let labels = json!({"com.example.team": "core", "Maintainer": "alice@example.com", "": "ignored",
        "com.example.nul": "a\u{0}b"});
    let digest = push_labeled(&f, "alice/app", Some("latest"), labels).await;
    let body = list(&f, &alice, &digest, "").await;
    assert_eq!(
        label_tuples(&body),
        [
            from_config("Maintainer", "alice@example.com"),
            from_config("com.example.team", "core")
        ]
    );
    let id = body["labels"][0]["id"].as_str().expect("label id");
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{body}");
    let (status, one) = f
        .call("GET", &format!("{}/{id}", labels_path(&digest)), Some(&alice), None)
        .await;
    assert_eq!((status, &one), (200, &body["labels"][0]));
}

#[actix_web::test]
async fn an_index_carries_the_labels_all_its_children_share() {
    let (f, alice) = alice_app("").await;
    let amd = push_labeled(&f, "alice/app", None, json!({"a": "1", "b": "2", "c": "3"})).await;
    let arm = push_labeled(&f, "alice/app", None, json!({"a": "1", "b": "9", "d": "3"})).await;
    let index = index_manifest(OCI_INDEX, &[(OCI_MANIFEST, &amd, 100), (OCI_MANIFEST, &arm, 100)]);
    let name: RepoName = "alice/app".parse().expect("repository name");
    let reference = Reference::Tag("multi".parse().expect("tag"));
    f.services
        .put_manifest(&name, &reference, Some(OCI_INDEX), index.clone())
        .await
        .expect("index push");
    let body = list(&f, &alice, &sha256(&index), "").await;
    assert_eq!(label_tuples(&body), [from_config("a", "1")]);
    let body = list(&f, &alice, &amd, "").await;
    assert_eq!(label_tuples(&body).len(), 3, "a child keeps its own labels: {body}");
}

#[actix_web::test]
async fn an_expiry_label_all_children_share_expires_the_index_tag() {
    let (f, alice) = alice_app("").await;
    let labels = json!({"quay.expires-after": "2h"});
    let amd = push_labeled(&f, "alice/app", None, labels.clone()).await;
    let arm = push_labeled(&f, "alice/app", None, labels).await;
    let index = index_manifest(OCI_INDEX, &[(OCI_MANIFEST, &amd, 100), (OCI_MANIFEST, &arm, 100)]);
    let name: RepoName = "alice/app".parse().expect("repository name");
    let reference = Reference::Tag("multi".parse().expect("tag"));
    f.services
        .put_manifest(&name, &reference, Some(OCI_INDEX), index)
        .await
        .expect("index push");
    let (status, body) = f
        .call(
            "GET",
            "/repository/alice/app/tag/?specificTag=multi&onlyActiveTags=true",
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let tag = &body["tags"][0];
    let (start, end) = (tag["start_ts"].as_i64().expect("start"), tag["end_ts"].as_i64());
    assert!(
        end.is_some_and(|e| (start + 7199..=start + 7200).contains(&e)),
        "{body}"
    );
}

#[actix_web::test]
async fn labels_are_added_read_filtered_and_deleted_through_the_api() {
    let (f, alice) = alice_app("").await;
    let digest = push_labeled(
        &f,
        "alice/app",
        Some("latest"),
        json!({"com.example.from-config": "yes"}),
    )
    .await;
    let path = labels_path(&digest);
    let res = f
        .app
        .client
        .post(f.app.url(&format!("/api/v1{path}")))
        .bearer_auth(&alice)
        .json(&json!({"key": "com.example.owner", "value": "alice", "media_type": null}))
        .send()
        .await
        .expect("POST label");
    assert_eq!(res.status(), 201);
    let location = header(&res, "Location");
    let added: Value = res.json().await.expect("label JSON");
    let label = &added["label"];
    assert_eq!(
        (
            label["key"].clone(),
            label["value"].clone(),
            label["source_type"].clone(),
            label["media_type"].clone()
        ),
        (
            json!("com.example.owner"),
            json!("alice"),
            json!("api"),
            json!("text/plain")
        )
    );
    let id = label["id"].as_str().expect("label id").to_owned();
    assert_eq!(location, format!("/api/v1{path}/{id}"));

    let json_label = json!({"key": "com.example.build", "value": "{\"n\": 7}", "media_type": "application/json"});
    let (status, body) = f.call("POST", &path, Some(&alice), Some(json_label)).await;
    assert_eq!(
        (status, body["label"]["media_type"].clone()),
        (201, json!("application/json")),
        "{body}"
    );

    let all = list(&f, &alice, &digest, "").await;
    assert_eq!(label_tuples(&all).len(), 3, "{all}");
    let filtered = list(&f, &alice, &digest, "?filter=com.example.b").await;
    assert_eq!(
        label_tuples(&filtered),
        [(
            "com.example.build".into(),
            "{\"n\": 7}".into(),
            "api".into(),
            "application/json".into()
        )]
    );

    let (status, one) = f.call("GET", &format!("{path}/{id}"), Some(&alice), None).await;
    assert_eq!((status, one["key"].clone()), (200, json!("com.example.owner")));
    let (status, _) = f.call("DELETE", &format!("{path}/{id}"), Some(&alice), None).await;
    assert_eq!(status, 204);
    let (status, _) = f.call("GET", &format!("{path}/{id}"), Some(&alice), None).await;
    assert_eq!(status, 404);
    let (status, _) = f.call("DELETE", &format!("{path}/{id}"), Some(&alice), None).await;
    assert_eq!(status, 404);

    let from_config_id = filter_id(&list(&f, &alice, &digest, "?filter=com.example.from").await);
    let (status, body) = f
        .call("DELETE", &format!("{path}/{from_config_id}"), Some(&alice), None)
        .await;
    assert_eq!(status, 400, "a label from the config cannot be deleted: {body}");
}

fn filter_id(body: &Value) -> String {
    let labels = body["labels"].as_array().expect("labels");
    assert_eq!(labels.len(), 1, "{body}");
    labels[0]["id"].as_str().expect("id").to_owned()
}

#[actix_web::test]
async fn reserved_prefixes_bad_keys_and_bad_media_types_are_refused() {
    let (f, alice) = alice_app("LABEL_KEY_RESERVED_PREFIXES: [com.example.]\n").await;
    let digest = push_labeled(&f, "alice/app", Some("latest"), json!({})).await;
    let refused = [
        json!({"key": "quay.expires-after", "value": "2h", "media_type": null}),
        json!({"key": "com.docker.thing", "value": "x", "media_type": null}),
        json!({"key": "org.opencontainers.image.title", "value": "x", "media_type": null}),
        json!({"key": "internal.x", "value": "x", "media_type": null}),
        json!({"key": "com.example.configured", "value": "x", "media_type": null}),
        json!({"key": "Upper", "value": "x", "media_type": null}),
        json!({"key": "a..b", "value": "x", "media_type": null}),
        json!({"key": "-a", "value": "x", "media_type": null}),
        json!({"key": "a".repeat(256), "value": "x", "media_type": null}),
        json!({"key": "good", "value": "x", "media_type": "text/html"}),
        json!({"key": "good", "value": "not json", "media_type": "application/json"}),
        json!({"key": "good", "media_type": null}),
        json!({"key": "good", "value": "a\u{0}b", "media_type": null}),
        json!({"value": "x", "media_type": null}),
    ];
    for body in refused {
        let (status, res) = f
            .call("POST", &labels_path(&digest), Some(&alice), Some(body.clone()))
            .await;
        assert_eq!(
            (status, res["error_type"].clone()),
            (400, json!("invalid_request")),
            "{body}: {res}"
        );
    }
    let body = list(&f, &alice, &digest, "").await;
    assert!(label_tuples(&body).is_empty(), "{body}");
    let ok = json!({"key": "org.example.fine", "value": "x", "media_type": "text/plain"});
    let (status, _) = f.call("POST", &labels_path(&digest), Some(&alice), Some(ok)).await;
    assert_eq!(status, 201);
}

#[actix_web::test]
async fn an_unknown_manifest_or_label_is_not_found() {
    let (f, alice) = alice_app("").await;
    let digest = push_labeled(&f, "alice/app", Some("latest"), json!({"a": "b"})).await;
    let unknown = format!("sha256:{}", "4".repeat(64));
    let body = json!({"key": "k", "value": "v", "media_type": null});
    let missing_label = format!("{}/{}", labels_path(&digest), uuid::Uuid::new_v4());
    let cases = [
        ("GET", labels_path(&unknown), None),
        ("POST", labels_path(&unknown), Some(body)),
        (
            "GET",
            format!("{}/{}", labels_path(&unknown), uuid::Uuid::new_v4()),
            None,
        ),
        ("GET", missing_label.clone(), None),
        ("DELETE", missing_label, None),
    ];
    for (method, path, body) in cases {
        let (status, res) = f.call(method, &path, Some(&alice), body).await;
        assert_eq!(status, 404, "{method} {path}: {res}");
    }
}

#[actix_web::test]
async fn readers_cannot_change_labels_and_anonymous_callers_must_sign_in() {
    let (f, alice) = alice_app("").await;
    let (_, bob) = f.user("bob").await;
    grant_role(&f.app, "alice/app", Grantee::Account("bob"), "read").await;
    let digest = push_labeled(&f, "alice/app", Some("latest"), json!({})).await;
    let path = labels_path(&digest);
    let new = json!({"key": "com.example.k", "value": "v", "media_type": null});
    let (status, body) = f.call("POST", &path, Some(&alice), Some(new.clone())).await;
    assert_eq!(status, 201, "{body}");
    let label = format!("{path}/{}", body["label"]["id"].as_str().expect("id"));

    assert_eq!(f.call("GET", &path, Some(&bob), None).await.0, 200);
    assert_eq!(f.call("GET", &label, Some(&bob), None).await.0, 200);
    let (status, res) = f.call("POST", &path, Some(&bob), Some(new.clone())).await;
    assert_eq!(
        (status, res["error_type"].clone()),
        (403, json!("insufficient_scope")),
        "{res}"
    );
    assert_eq!(f.call("DELETE", &label, Some(&bob), None).await.0, 403);

    for (method, p, body) in [
        ("GET", &path, None),
        ("GET", &label, None),
        ("POST", &path, Some(new)),
        ("DELETE", &label, None),
    ] {
        let (status, res) = f.call(method, p, None, body).await;
        assert_eq!(status, 401, "anonymous {method} {p}: {res}");
    }
    assert_eq!(label_tuples(&list(&f, &alice, &digest, "").await).len(), 1);
}

/// A /v2 request as `alice` (Basic, `$oauthtoken` and her access token).
fn v2(f: &RepoFixture, token: &str, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
    f.app
        .client
        .request(method, f.app.url(&format!("/v2/alice/app/{path}")))
        .basic_auth("$oauthtoken", Some(token))
}

/// Pushes `manifest` over /v2 under `reference`, its blobs first.
async fn put_v2(
    f: &RepoFixture,
    token: &str,
    reference: &str,
    image: &(Vec<u8>, Vec<u8>, Vec<u8>),
) -> reqwest::Response {
    let (manifest, config, layer) = image;
    for blob in [config, layer] {
        let res = v2(
            f,
            token,
            reqwest::Method::POST,
            &format!("blobs/uploads/?digest={}", sha256(blob)),
        )
        .header("Content-Type", "application/octet-stream")
        .body(blob.clone())
        .send()
        .await
        .expect("blob push");
        assert_eq!(res.status(), 201, "blob push");
    }
    v2(f, token, reqwest::Method::PUT, &format!("manifests/{reference}"))
        .header("Content-Type", OCI_MANIFEST)
        .body(manifest.clone())
        .send()
        .await
        .expect("manifest push")
}

/// Pushes an image with these config labels over /v2; returns the status
/// of the manifest PUT and the manifest digest.
async fn push_v2(f: &RepoFixture, token: &str, tag: &str, labels: Value) -> (u16, String) {
    let image = labeled_image(labels);
    let res = put_v2(f, token, tag, &image).await;
    (res.status().as_u16(), sha256(&image.0))
}

async fn pulled(f: &RepoFixture, tag: &str) -> String {
    let name: RepoName = "alice/app".parse().expect("repository name");
    f.services
        .get_manifest(&name, &Reference::Tag(tag.parse().expect("tag")))
        .await
        .expect("the tag pulls")
        .digest
}

async fn tag_immutable(f: &RepoFixture, token: &str, tag: &str) -> Value {
    let (status, body) = f
        .call(
            "GET",
            &format!("/repository/alice/app/tag/?specificTag={tag}&onlyActiveTags=true"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["tags"][0]["immutable"].clone()
}

#[actix_web::test]
async fn the_immutable_label_makes_tags_immutable_when_the_feature_is_on() {
    let (f, alice) = alice_app("FEATURE_IMMUTABLE_TAGS: true\n").await;
    let (status, frozen) = push_v2(&f, &alice, "v1", json!({"quay.immutable": "true"})).await;
    assert_eq!(status, 201);
    assert_eq!(tag_immutable(&f, &alice, "v1").await, json!(true));
    let (status, other) = push_v2(&f, &alice, "other", json!({})).await;
    assert_eq!(status, 201);
    assert_eq!(tag_immutable(&f, &alice, "other").await, json!(false));

    let (status, res) = f
        .call(
            "PUT",
            "/repository/alice/app/tag/v1",
            Some(&alice),
            Some(json!({"manifest_digest": other})),
        )
        .await;
    assert_eq!(
        (status, res["error_type"].clone()),
        (409, json!("tag_immutable")),
        "{res}"
    );

    let res = put_v2(&f, &alice, "v1", &labeled_image(json!({}))).await;
    assert_oci_error(res, 409, "TAG_IMMUTABLE").await;
    for reference in ["v1", frozen.as_str()] {
        let res = v2(&f, &alice, reqwest::Method::DELETE, &format!("manifests/{reference}"))
            .send()
            .await
            .expect("DELETE manifest");
        assert_oci_error(res, 409, "TAG_IMMUTABLE").await;
    }
    assert_eq!(pulled(&f, "v1").await, frozen);
    let (status, _) = push_v2(&f, &alice, "other", json!({})).await;
    assert_eq!(status, 201, "mutable tags still move");

    // Pointing another tag at the labelled manifest makes that tag immutable too.
    let (status, res) = f
        .call(
            "PUT",
            "/repository/alice/app/tag/copy",
            Some(&alice),
            Some(json!({"manifest_digest": frozen})),
        )
        .await;
    assert_eq!(status, 201, "{res}");
    assert_eq!(tag_immutable(&f, &alice, "copy").await, json!(true));
}

#[actix_web::test]
async fn without_the_feature_the_immutable_label_changes_nothing() {
    let (f, alice) = alice_app("").await;
    assert_eq!(
        push_v2(&f, &alice, "v1", json!({"quay.immutable": "true"})).await.0,
        201
    );
    assert_eq!(tag_immutable(&f, &alice, "v1").await, json!(false));
    let (status, replacement) = push_v2(&f, &alice, "v1", json!({})).await;
    assert_eq!(status, 201);
    assert_eq!(pulled(&f, "v1").await, replacement);
}

async fn label_rows(f: &RepoFixture) -> i64 {
    use diesel::prelude::*;
    use registry::db::schema::label;
    f.services
        .db()
        .read(|c| Ok(label::table.count().get_result::<i64>(c)?))
        .await
        .expect("count labels")
}

#[actix_web::test]
async fn garbage_collection_deletes_an_unreferenced_manifest_with_its_labels() {
    let (f, alice) = alice_app("").await;
    let kept = push_labeled(&f, "alice/app", Some("kept"), json!({"a": "1"})).await;
    let gone = push_labeled(&f, "alice/app", Some("gone"), json!({"a": "1", "b": "2"})).await;
    let new = json!({"key": "com.example.k", "value": "v", "media_type": null});
    assert_eq!(
        f.call("POST", &labels_path(&gone), Some(&alice), Some(new)).await.0,
        201
    );
    assert_eq!(label_rows(&f).await, 4);
    let (status, _) = f
        .call("DELETE", "/repository/alice/app/tag/gone", Some(&alice), None)
        .await;
    assert_eq!(status, 204);
    let opts = GcOptions {
        dry_run: false,
        now_ms: Some(registry::now_ms() + 15 * 24 * 3600 * 1000),
    };
    let report = f.services.collect_garbage(opts).await.expect("gc pass");
    assert_eq!(report.manifests, [gone]);
    assert_eq!(label_rows(&f).await, 1);
    let body = list(&f, &alice, &kept, "").await;
    assert_eq!(label_tuples(&body), [from_config("a", "1")]);
}
