//! `/api/v1/repository/{repo}/tag/…` (quay-api.md §1.8), the time machine
//! (§3.2) and expiry by the `quay.expires-after` label, with the refused
//! case of every permission rule.

use futures_util::StreamExt as _;
use registry::oci::{Digest, Reference, RepoName};
use registry::service::Error;
use serde_json::{json, Value};

mod labels;
mod time_machine;

use crate::helpers::{image_manifest, random_bytes, sha256, RepoFixture, OCI_CONFIG, OCI_LAYER, OCI_MANIFEST};

/// A fixture with user `alice` (token returned) owning private `alice/app`.
async fn alice_app(config: &str) -> (RepoFixture, String) {
    let f = RepoFixture::with_config(config).await;
    let (_, alice) = f.user("alice").await;
    f.create_repo(&alice, "alice", "app", "private").await;
    (f, alice)
}

fn tags_of(body: &Value) -> Vec<Value> {
    body["tags"]
        .as_array()
        .unwrap_or_else(|| panic!("no tags in {body}"))
        .clone()
}

fn names_and_digests(body: &Value) -> Vec<(String, String)> {
    tags_of(body)
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap_or_default().to_owned(),
                t["manifest_digest"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Pushes an image whose config carries `labels` under `repo:tag` through
/// the services; returns the manifest digest.
async fn push_labeled(f: &RepoFixture, repo: &str, tag: &str, labels: Value) -> String {
    let config = json!({"architecture": "amd64", "os": "linux", "config": {"Labels": labels},
        "nonce": hex::encode(random_bytes(8))});
    push_with_config(f, repo, tag, config).await
}

/// Pushes a one-layer image with this config; returns the manifest digest.
async fn push_with_config(f: &RepoFixture, repo: &str, tag: &str, config: Value) -> String {
    let name: RepoName = repo.parse().expect("repository name");
    let config = serde_json::to_vec(&config).expect("config JSON");
    let layer = random_bytes(256);
    for blob in [&config, &layer] {
        let digest: Digest = sha256(blob).parse().expect("digest");
        let body = futures_util::stream::once(std::future::ready(Ok(bytes::Bytes::from(blob.clone())))).boxed();
        f.services.put_blob(&name, &digest, body).await.expect("blob push");
    }
    let manifest = image_manifest(
        OCI_MANIFEST,
        (OCI_CONFIG, &sha256(&config), config.len()),
        &[(OCI_LAYER, &sha256(&layer), layer.len())],
    );
    let reference = Reference::Tag(tag.parse().expect("tag"));
    f.services
        .put_manifest(&name, &reference, Some(OCI_MANIFEST), manifest.clone())
        .await
        .expect("manifest push");
    sha256(&manifest)
}

/// What a /v2 pull of `alice/app:tag` gets.
async fn pull(f: &RepoFixture, tag: &str) -> Result<String, Error> {
    let name: RepoName = "alice/app".parse().expect("repository name");
    let reference = Reference::Tag(tag.parse().expect("tag"));
    f.services.get_manifest(&name, &reference).await.map(|m| m.digest)
}

async fn v2_tags(f: &RepoFixture) -> Vec<String> {
    let name: RepoName = "alice/app".parse().expect("repository name");
    f.services.list_tags(&name, 100, None).await.expect("tag list").items
}

async fn alive_tag(f: &RepoFixture, token: &str, tag: &str) -> Value {
    let (status, body) = f
        .call(
            "GET",
            &format!("/repository/alice/app/tag/?specificTag={tag}&onlyActiveTags=true"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let tags = tags_of(&body);
    assert_eq!(tags.len(), 1, "one alive {tag} in {body}");
    tags[0].clone()
}

fn now_s() -> i64 {
    registry::now_ms() / 1000
}

/// Moves every lifetime end of `tag` back by `ms`, as if that much time had passed.
async fn age_tag(f: &RepoFixture, tag: &str, ms: i64) {
    use diesel::prelude::*;
    use registry::db::schema::tag as t;
    let name = tag.to_owned();
    f.services
        .db()
        .write(move |c| {
            diesel::update(t::table.filter(t::name.eq(name)))
                .set(t::lifetime_end_ms.eq(t::lifetime_end_ms - ms))
                .execute(c)?;
            Ok::<_, Error>(())
        })
        .await
        .expect("age the tag");
}

#[actix_web::test]
async fn history_lists_dead_and_alive_lifetimes_newest_first() {
    let (f, alice) = alice_app("").await;
    let first = f.push_tag("alice/app", "latest").await;
    let second = f.push_tag("alice/app", "latest").await;
    let (status, body) = f.call("GET", "/repository/alice/app/tag/", Some(&alice), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        names_and_digests(&body),
        vec![
            ("latest".to_owned(), second.clone()),
            ("latest".to_owned(), first.clone())
        ]
    );
    assert_eq!(
        (body["page"].clone(), body["has_additional"].clone()),
        (json!(1), json!(false))
    );
    let tags = tags_of(&body);
    let (alive, dead) = (&tags[0], &tags[1]);
    assert_eq!(alive["reversion"], false);
    assert_eq!(alive["is_manifest_list"], false);
    assert!(alive["size"].as_i64().unwrap_or(0) > 0, "{alive}");
    assert!(alive["start_ts"].as_i64().unwrap_or(0) >= now_s() - 60, "{alive}");
    assert!(
        alive["last_modified"].as_str().unwrap_or("").ends_with("-0000"),
        "{alive}"
    );
    assert!(
        alive.get("end_ts").is_none() && alive.get("expiration").is_none(),
        "{alive}"
    );
    assert!(
        dead["end_ts"].as_i64().is_some() && dead["expiration"].is_string(),
        "{dead}"
    );

    let (_, active) = f
        .call(
            "GET",
            "/repository/alice/app/tag/?onlyActiveTags=true",
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(names_and_digests(&active), vec![("latest".to_owned(), second)]);
}

#[actix_web::test]
async fn the_listing_filters_by_name_pages_and_refuses_bad_filters() {
    let (f, alice) = alice_app("").await;
    for tag in ["v1.0", "v1.1", "latest"] {
        f.push_tag("alice/app", tag).await;
    }
    let names = |body: &Value| {
        let mut n: Vec<String> = names_and_digests(body).into_iter().map(|(n, _)| n).collect();
        n.sort();
        n
    };
    let (_, like) = f
        .call(
            "GET",
            "/repository/alice/app/tag/?filter_tag_name=like:V1",
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(names(&like), ["v1.0", "v1.1"]);
    let (_, eq) = f
        .call(
            "GET",
            "/repository/alice/app/tag/?filter_tag_name=eq:v1.1",
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(names(&eq), ["v1.1"]);
    let (_, specific) = f
        .call(
            "GET",
            "/repository/alice/app/tag/?specificTag=latest",
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(names(&specific), ["latest"]);
    let (status, bad) = f
        .call(
            "GET",
            "/repository/alice/app/tag/?filter_tag_name=v1",
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(
        (status, bad["error_type"].clone()),
        (400, json!("invalid_request")),
        "{bad}"
    );

    let (_, p1) = f
        .call("GET", "/repository/alice/app/tag/?limit=2", Some(&alice), None)
        .await;
    assert_eq!((tags_of(&p1).len(), p1["has_additional"].clone()), (2, json!(true)));
    let (_, p2) = f
        .call("GET", "/repository/alice/app/tag/?limit=2&page=2", Some(&alice), None)
        .await;
    assert_eq!(
        (tags_of(&p2).len(), p2["page"].clone(), p2["has_additional"].clone()),
        (1, json!(2), json!(false))
    );
    let (_, clamped) = f
        .call("GET", "/repository/alice/app/tag/?limit=0&page=0", Some(&alice), None)
        .await;
    assert_eq!((tags_of(&clamped).len(), clamped["page"].clone()), (1, json!(1)));
}

#[actix_web::test]
async fn put_creates_and_moves_tags_to_known_manifests_only() {
    let (f, alice) = alice_app("").await;
    let one = f.push_tag("alice/app", "one").await;
    let two = f.push_tag("alice/app", "two").await;
    let put = |tag: &str, body: Value| {
        let path = format!("/repository/alice/app/tag/{tag}");
        let (f, alice) = (&f, &alice);
        async move { f.call("PUT", &path, Some(alice), Some(body)).await }
    };

    assert_eq!(
        put("stable", json!({"manifest_digest": one})).await,
        (201, json!("Updated"))
    );
    assert_eq!(pull(&f, "stable").await.expect("pull stable"), one);
    assert_eq!(put("stable", json!({"manifest_digest": two})).await.0, 201);
    assert_eq!(pull(&f, "stable").await.expect("pull moved stable"), two);
    let (_, history) = f
        .call(
            "GET",
            "/repository/alice/app/tag/?specificTag=stable",
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(
        names_and_digests(&history),
        vec![("stable".to_owned(), two), ("stable".to_owned(), one)]
    );

    let unknown = format!("sha256:{}", "0".repeat(64));
    let (status, body) = put("stable", json!({"manifest_digest": unknown})).await;
    assert_eq!(
        (status, body["error_type"].clone()),
        (404, json!("not_found")),
        "{body}"
    );
    let (status, body) = put("-bad", json!({"manifest_digest": unknown})).await;
    assert_eq!(status, 400, "{body}");
}

#[actix_web::test]
async fn expirations_are_set_clamped_refused_in_the_past_and_cleared() {
    let (f, alice) = alice_app("").await;
    f.push_tag("alice/app", "latest").await;
    let put = |body: Value| f.call("PUT", "/repository/alice/app/tag/latest", Some(&alice), Some(body));

    let in_a_day = now_s() + 86_400;
    assert_eq!(put(json!({"expiration": in_a_day})).await.0, 201);
    let tag = alive_tag(&f, &alice, "latest").await;
    assert_eq!(tag["end_ts"], in_a_day, "{tag}");
    assert!(tag["expiration"].is_string(), "{tag}");

    // Less than LABELED_EXPIRATION_MINIMUM (1h) after the start: raised to it.
    assert_eq!(put(json!({"expiration": now_s() + 10})).await.0, 201);
    let tag = alive_tag(&f, &alice, "latest").await;
    let start = tag["start_ts"].as_i64().expect("start_ts");
    assert!(
        (start + 3599..=start + 3600).contains(&tag["end_ts"].as_i64().unwrap_or(0)),
        "{tag}"
    );

    let (status, body) = put(json!({"expiration": now_s() - 5})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(put(json!({"expiration": null})).await.0, 201);
    let tag = alive_tag(&f, &alice, "latest").await;
    assert!(tag.get("end_ts").is_none(), "{tag}");

    let (status, body) = f
        .call(
            "PUT",
            "/repository/alice/app/tag/missing",
            Some(&alice),
            Some(json!({"expiration": in_a_day})),
        )
        .await;
    assert_eq!(status, 404, "{body}");
}

#[actix_web::test]
async fn a_tag_put_that_changes_nothing_is_400_and_changes_nothing() {
    let (f, alice) = alice_app("").await;
    let digest = f.push_tag("alice/app", "latest").await;
    let put = |body: Value| f.call("PUT", "/repository/alice/app/tag/latest", Some(&alice), Some(body));
    for body in [
        json!([]),
        json!("x"),
        Value::Null,
        json!(5),
        json!({}),
        json!({"manifest_digest": null}),
        json!({"unknown": 1}),
    ] {
        let (status, reply) = put(body.clone()).await;
        assert_eq!(
            (status, reply["error_type"].clone()),
            (400, json!("invalid_request")),
            "{body}: {reply}"
        );
    }
    let tag = alive_tag(&f, &alice, "latest").await;
    assert_eq!(tag["manifest_digest"], digest.as_str(), "{tag}");
    assert!(tag.get("end_ts").is_none(), "{tag}");
}

#[actix_web::test]
async fn an_expiration_beyond_the_maximum_is_refused_naming_the_limit() {
    let (f, alice) = alice_app("").await;
    f.push_tag("alice/app", "latest").await;
    let put = |body: Value| f.call("PUT", "/repository/alice/app/tag/latest", Some(&alice), Some(body));
    let max_s = 104 * 604_800;
    for expiration in [
        json!(1e308),
        json!(9_223_372_036_854_775_807_i64),
        json!(now_s() + max_s + 3600),
    ] {
        let (status, body) = put(json!({"expiration": expiration})).await;
        assert_eq!(status, 400, "{expiration}: {body}");
        let detail = body["detail"].as_str().unwrap_or_default();
        assert!(detail.contains("104 weeks"), "{expiration}: {body}");
    }
    let tag = alive_tag(&f, &alice, "latest").await;
    assert!(tag.get("end_ts").is_none(), "nothing was set: {tag}");

    let within = now_s() + max_s - 3600;
    assert_eq!(put(json!({"expiration": within})).await.0, 201);
    assert_eq!(alive_tag(&f, &alice, "latest").await["end_ts"], within);
}

#[actix_web::test]
async fn anonymous_and_read_only_callers_are_refused() {
    let (f, alice) = alice_app("").await;
    let digest = f.push_tag("alice/app", "latest").await;
    let (status, _) = f.call("GET", "/repository/alice/app/tag/", None, None).await;
    assert_eq!(status, 401);
    let (status, _) = f.call("DELETE", "/repository/alice/app/tag/latest", None, None).await;
    assert_eq!(status, 401);

    let (_, reader) = f.user("reader").await;
    let (status, body) = f
        .call(
            "PUT",
            "/repository/alice/app/permissions/user/reader",
            Some(&alice),
            Some(json!({"role": "read"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = f.call("GET", "/repository/alice/app/tag/", Some(&reader), None).await;
    assert_eq!(status, 200);
    let body = json!({"manifest_digest": digest});
    for (method, path) in [
        ("PUT", "/repository/alice/app/tag/other"),
        ("DELETE", "/repository/alice/app/tag/latest"),
        ("POST", "/repository/alice/app/tag/latest/restore"),
    ] {
        let (status, res) = f.call(method, path, Some(&reader), Some(body.clone())).await;
        assert_eq!(
            (status, res["error_type"].clone()),
            (403, json!("insufficient_scope")),
            "{method} {path}"
        );
    }
    assert_eq!(pull(&f, "latest").await.expect("still tagged"), digest);

    let (_, stranger) = f.user("stranger").await;
    let (status, _) = f.call("GET", "/repository/alice/app/tag/", Some(&stranger), None).await;
    assert_eq!(status, 403);
}

#[actix_web::test]
async fn read_only_and_stranger_callers_cannot_expire_tags_or_view_manifests() {
    let (f, alice) = alice_app("PERMANENTLY_DELETE_TAGS: true\n").await;
    let digest = f.push_tag("alice/app", "latest").await;
    let (_, reader) = f.user("reader").await;
    let (status, body) = f
        .call(
            "PUT",
            "/repository/alice/app/permissions/user/reader",
            Some(&alice),
            Some(json!({"role": "read"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, res) = f
        .call(
            "POST",
            "/repository/alice/app/tag/latest/expire",
            Some(&reader),
            Some(json!({})),
        )
        .await;
    assert_eq!((status, res["error_type"].clone()), (403, json!("insufficient_scope")));
    assert_eq!(pull(&f, "latest").await.expect("still tagged"), digest);

    let manifest = format!("/repository/alice/app/manifest/{digest}");
    let (status, _) = f.call("GET", &manifest, Some(&reader), None).await;
    assert_eq!(status, 200);
    let (_, stranger) = f.user("stranger").await;
    let (status, _) = f.call("GET", &manifest, Some(&stranger), None).await;
    assert_eq!(status, 403);
}
