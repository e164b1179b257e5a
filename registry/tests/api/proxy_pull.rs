//! Manifest pulls through a proxy-cache organization (quay-api.md §2.3)
//! against the stand-in upstream: misses fetch and cache, hits ask the
//! upstream only whether the tag moved, a down upstream leaves the cached
//! copy served, only members pull, and cached tags expire `expiration_s`
//! after their last pull. Blobs: `proxy_blobs`; quotas: `proxy_quota`.

use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{
    assert_oci_error, header, image_manifest, index_manifest, random_bytes, sha256, OCI_CONFIG, OCI_INDEX, OCI_LAYER,
    OCI_MANIFEST,
};
use crate::proxy_upstream::{Auth, MockUpstream, PASSWORD, USER};
use crate::v1_proxycache::{org_with, Org, PROXY_ON};

const WEEK_S: i64 = 7 * 86_400;

/// An image in the upstream: its manifest digest, manifest, and blobs
/// (config first).
pub(crate) struct UpImage {
    pub digest: String,
    pub manifest: Vec<u8>,
    pub blobs: Vec<Vec<u8>>,
}

/// Puts an image with one layer of `layer_size` random bytes in `repo`
/// under `tag`.
pub(crate) fn upstream_image(up: &MockUpstream, repo: &str, tag: &str, layer_size: usize) -> UpImage {
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","n":"{}"}}"#,
        hex(&random_bytes(8))
    )
    .into_bytes();
    let layer = random_bytes(layer_size);
    let manifest = image_manifest(
        OCI_MANIFEST,
        (OCI_CONFIG, &up.put_blob(&config), config.len()),
        &[(OCI_LAYER, &up.put_blob(&layer), layer.len())],
    );
    let digest = up.put_manifest(repo, tag, OCI_MANIFEST, &manifest);
    UpImage {
        digest,
        manifest,
        blobs: vec![config, layer],
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `acme` as a cache of the stand-in (with `extra` in the POST body).
async fn cache_of(o: &Org, up: &MockUpstream, extra: Value) {
    let mut body = json!({"upstream_registry": up.host, "insecure": true, "expiration_s": WEEK_S});
    for (k, v) in extra.as_object().into_iter().flatten() {
        body[k] = v.clone();
    }
    let (status, v) =
        o.f.call("POST", "/organization/acme/proxycache", Some(&o.owner), Some(body))
            .await;
    assert_eq!(status, 201, "{v}");
}

pub(crate) async fn setup(mode: Auth) -> (Org, MockUpstream) {
    setup_with(PROXY_ON, mode, json!({})).await
}

pub(crate) async fn setup_with(config: &str, mode: Auth, extra: Value) -> (Org, MockUpstream) {
    let o = org_with(config).await;
    let up = MockUpstream::start(mode);
    cache_of(&o, &up, extra).await;
    (o, up)
}

/// `GET` (or `HEAD`) of `/v2/{path}` as `user` (password `password123`).
pub(crate) async fn pull(o: &Org, method: reqwest::Method, user: Option<&str>, path: &str) -> Response {
    let mut req = o.f.app.client.request(method, o.f.app.url(&format!("/v2/{path}")));
    if let Some(u) = user {
        req = req.basic_auth(u, Some("password123"));
    }
    req.header("Accept", format!("{OCI_MANIFEST}, {OCI_INDEX}"))
        .send()
        .await
        .expect("pull")
}

pub(crate) async fn get(o: &Org, user: &str, path: &str) -> Response {
    pull(o, reqwest::Method::GET, Some(user), path).await
}

pub(crate) async fn body_of(res: Response) -> Vec<u8> {
    assert_eq!(res.status(), StatusCode::OK, "{}", res.url());
    res.bytes().await.expect("body").to_vec()
}

fn manifest_requests(requests: &[String]) -> Vec<String> {
    requests.iter().filter(|r| r.contains("/manifests/")).cloned().collect()
}

fn manifest_gets(requests: &[String]) -> usize {
    requests
        .iter()
        .filter(|r| r.starts_with("GET ") && r.contains("/manifests/"))
        .count()
}

/// The cached tag's `end_ts` as the tag API shows it.
pub(crate) async fn end_ts(o: &Org, repo: &str, tag: &str) -> Option<i64> {
    let (status, v) =
        o.f.call(
            "GET",
            &format!("/repository/{repo}/tag/?specificTag={tag}&onlyActiveTags=true"),
            Some(&o.owner),
            None,
        )
        .await;
    assert_eq!(status, 200, "{v}");
    v["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .find(|t| t["name"] == tag)
        .map(|t| t["end_ts"].as_i64().expect("cached tags expire"))
}

fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

#[actix_web::test]
async fn a_member_pulls_through_and_the_second_pull_only_asks_the_upstream_for_the_digest() {
    let (o, up) = setup(Auth::Anonymous).await;
    let image = upstream_image(&up, "app", "latest", 512);

    let res = get(&o, "carol", "acme/app/manifests/latest").await;
    assert_eq!(header(&res, "Docker-Content-Digest"), image.digest);
    assert_eq!(header(&res, "Content-Type"), OCI_MANIFEST);
    assert_eq!(body_of(res).await, image.manifest);
    assert_eq!(manifest_gets(&up.take_requests()), 1);

    let res = get(&o, "carol", "acme/app/manifests/latest").await;
    assert_eq!(body_of(res).await, image.manifest);
    let requests = up.take_requests();
    assert_eq!(requests, vec!["HEAD app/manifests/latest".to_owned()]);

    for blob in &image.blobs {
        let res = get(&o, "carol", &format!("acme/app/blobs/{}", sha256(blob))).await;
        assert_eq!(&body_of(res).await, blob);
    }
    // Cached blobs are served from storage.
    up.take_requests();
    let res = get(&o, "carol", &format!("acme/app/blobs/{}", sha256(&image.blobs[1]))).await;
    assert_eq!(body_of(res).await, image.blobs[1]);
    assert!(up.take_requests().is_empty());

    let (status, repo) = o.f.call("GET", "/repository/acme/app", Some(&o.owner), None).await;
    assert_eq!(status, 200, "{repo}");
    assert_eq!(repo["is_public"], false);
    let (status, v) = o.f.call("GET", "/repository/acme/app", Some(&o.carol), None).await;
    assert_eq!(status, 200, "the puller can read the created repository: {v}");
}

#[actix_web::test]
async fn a_moved_upstream_tag_is_fetched_again() {
    let (o, up) = setup(Auth::Anonymous).await;
    let first = upstream_image(&up, "app", "latest", 64);
    assert_eq!(
        body_of(get(&o, "carol", "acme/app/manifests/latest").await).await,
        first.manifest
    );
    let second = upstream_image(&up, "app", "latest", 64);
    up.take_requests();
    let res = get(&o, "carol", "acme/app/manifests/latest").await;
    assert_eq!(header(&res, "Docker-Content-Digest"), second.digest);
    assert_eq!(body_of(res).await, second.manifest);
    assert_eq!(manifest_gets(&up.take_requests()), 1);
    // The first image is still there by digest (its tag lifetime ended, as
    // with a push that moves a tag).
    let (status, v) =
        o.f.call(
            "GET",
            "/repository/acme/app/tag/?specificTag=latest",
            Some(&o.owner),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let digests: Vec<&str> = v["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .filter_map(|t| t["manifest_digest"].as_str())
        .collect();
    assert!(
        digests.contains(&first.digest.as_str()) && digests.contains(&second.digest.as_str()),
        "{v}"
    );
}

#[actix_web::test]
async fn a_down_upstream_leaves_the_cached_copy_served_and_refuses_what_is_not_cached() {
    let (o, up) = setup(Auth::Anonymous).await;
    let image = upstream_image(&up, "app", "latest", 64);
    upstream_image(&up, "app", "other", 64);
    assert_eq!(
        body_of(get(&o, "carol", "acme/app/manifests/latest").await).await,
        image.manifest
    );
    let end_before = end_ts(&o, "acme/app", "latest").await;

    up.set_down(true);
    let res = get(&o, "carol", "acme/app/manifests/latest").await;
    assert_eq!(header(&res, "Docker-Content-Digest"), image.digest);
    assert_eq!(body_of(res).await, image.manifest);
    assert_eq!(
        end_ts(&o, "acme/app", "latest").await,
        end_before,
        "a copy the upstream did not confirm is not renewed"
    );

    let res = get(&o, "carol", "acme/app/manifests/other").await;
    let v = assert_oci_error(res, 503, "UNAVAILABLE").await;
    let message = v["errors"][0]["message"].as_str().unwrap_or_default().to_owned();
    assert!(message.contains(&up.host) && message.contains("503"), "{message}");

    // A blob not yet cached cannot be served either.
    let res = get(&o, "carol", &format!("acme/app/blobs/{}", sha256(&image.blobs[1]))).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);

    // Once the cached tag is gone, nothing is served.
    let (status, v) =
        o.f.call("DELETE", "/repository/acme/app/tag/latest", Some(&o.owner), None)
            .await;
    assert_eq!(status, 204, "{v}");
    let res = get(&o, "carol", "acme/app/manifests/latest").await;
    assert_oci_error(res, 503, "UNAVAILABLE").await;
}

#[actix_web::test]
async fn an_image_missing_upstream_is_manifest_unknown_and_creates_no_repository() {
    let (o, _up) = setup(Auth::Anonymous).await;
    let res = get(&o, "carol", "acme/nothing/manifests/latest").await;
    let v = assert_oci_error(res, 404, "MANIFEST_UNKNOWN").await;
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("may not exist in the upstream registry"),
        "{v}"
    );
    let (status, _) = o.f.call("GET", "/repository/acme/nothing", Some(&o.owner), None).await;
    assert_eq!(status, 404);
}

#[actix_web::test]
async fn basic_and_token_upstreams_are_pulled_with_the_configured_credentials() {
    for mode in [Auth::Basic, Auth::Token] {
        let (o, up) = setup_with(
            PROXY_ON,
            mode,
            json!({"upstream_registry_username": USER, "upstream_registry_password": PASSWORD}),
        )
        .await;
        let image = upstream_image(&up, "team/app", "v1", 128);
        assert_eq!(
            body_of(get(&o, "carol", "acme/team/app/manifests/v1").await).await,
            image.manifest
        );
        let first = up.take_requests();
        assert!(first.contains(&"GET /v2/".to_owned()), "{first:?}");
        // The authorization is kept: a hit costs the upstream one HEAD.
        let again = get(&o, "carol", "acme/team/app/manifests/v1").await;
        assert_eq!(body_of(again).await, image.manifest);
        assert_eq!(up.take_requests(), vec!["HEAD team/app/manifests/v1".to_owned()]);
        let layer = get(&o, "carol", &format!("acme/team/app/blobs/{}", sha256(&image.blobs[1]))).await;
        assert_eq!(body_of(layer).await, image.blobs[1]);
    }
}

#[actix_web::test]
async fn wrong_upstream_credentials_are_a_clear_refusal() {
    let (o, up) = setup_with(
        PROXY_ON,
        Auth::Token,
        json!({"upstream_registry_username": USER, "upstream_registry_password": "nope"}),
    )
    .await;
    upstream_image(&up, "app", "latest", 16);
    let res = get(&o, "carol", "acme/app/manifests/latest").await;
    let v = assert_oci_error(res, 404, "MANIFEST_UNKNOWN").await;
    assert!(v.to_string().contains("credentials"), "{v}");
    assert!(!v.to_string().contains("nope"));
}

#[actix_web::test]
async fn a_namespace_in_the_upstream_registry_prefixes_the_upstream_repository() {
    let o = org_with(PROXY_ON).await;
    let up = MockUpstream::start(Auth::Anonymous);
    let body = json!({"upstream_registry": format!("{}/library", up.host), "insecure": true});
    let (status, v) =
        o.f.call("POST", "/organization/acme/proxycache", Some(&o.owner), Some(body))
            .await;
    assert_eq!(status, 201, "{v}");
    let image = upstream_image(&up, "library/alpine", "3", 32);
    assert_eq!(
        body_of(get(&o, "carol", "acme/alpine/manifests/3").await).await,
        image.manifest
    );
    assert_eq!(
        manifest_requests(&up.take_requests()),
        vec!["GET library/alpine/manifests/3".to_owned()]
    );
}

#[actix_web::test]
async fn a_manifest_list_is_cached_and_its_children_come_by_digest() {
    let (o, up) = setup(Auth::Anonymous).await;
    let amd = upstream_image(&up, "app", "amd", 64);
    let arm = upstream_image(&up, "app", "arm", 64);
    let index = index_manifest(
        OCI_INDEX,
        &[
            (OCI_MANIFEST, &amd.digest, amd.manifest.len()),
            (OCI_MANIFEST, &arm.digest, arm.manifest.len()),
        ],
    );
    let index_digest = up.put_manifest("app", "multi", OCI_INDEX, &index);

    let res = get(&o, "carol", "acme/app/manifests/multi").await;
    assert_eq!(header(&res, "Docker-Content-Digest"), index_digest);
    assert_eq!(body_of(res).await, index);
    let res = get(&o, "carol", &format!("acme/app/manifests/{}", arm.digest)).await;
    assert_eq!(body_of(res).await, arm.manifest);
    let layer = get(&o, "carol", &format!("acme/app/blobs/{}", sha256(&arm.blobs[1]))).await;
    assert_eq!(body_of(layer).await, arm.blobs[1]);

    // Both are cached now: by digest, the upstream is not asked at all.
    up.set_down(true);
    up.take_requests();
    let res = get(&o, "carol", &format!("acme/app/manifests/{}", arm.digest)).await;
    assert_eq!(body_of(res).await, arm.manifest);
    let res = get(&o, "carol", &format!("acme/app/manifests/{index_digest}")).await;
    assert_eq!(body_of(res).await, index);
    assert!(up.take_requests().is_empty());
}

#[actix_web::test]
async fn a_pull_by_digest_is_cached_and_then_served_without_the_upstream() {
    let (o, up) = setup(Auth::Anonymous).await;
    let image = upstream_image(&up, "app", "latest", 64);
    let path = format!("acme/app/manifests/{}", image.digest);
    assert_eq!(body_of(get(&o, "carol", &path).await).await, image.manifest);
    assert_eq!(manifest_gets(&up.take_requests()), 1);
    assert_eq!(body_of(get(&o, "carol", &path).await).await, image.manifest);
    assert!(up.take_requests().is_empty());
}

#[actix_web::test]
async fn only_members_of_the_organization_pull_through() {
    let (o, up) = setup(Auth::Anonymous).await;
    upstream_image(&up, "app", "latest", 16);
    let res = get(&o, "bob", "acme/app/manifests/latest").await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = pull(&o, reqwest::Method::GET, None, "acme/app/manifests/latest").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(up.take_requests().is_empty(), "a refused pull reached the upstream");
    let (status, _) = o.f.call("GET", "/repository/acme/app", Some(&o.owner), None).await;
    assert_eq!(status, 404);

    // A registry token for a member carries pull; for others it does not.
    for (user, granted) in [("carol", true), ("bob", false)] {
        let res =
            o.f.app
                .client
                .get(o.f.app.url("/v2/auth?service=registry&scope=repository:acme/app:pull"))
                .basic_auth(user, Some("password123"))
                .send()
                .await
                .expect("token");
        let token: Value = res.json().await.expect("token JSON");
        let res =
            o.f.app
                .client
                .get(o.f.app.url("/v2/acme/app/manifests/latest"))
                .bearer_auth(token["token"].as_str().expect("token"))
                .send()
                .await
                .expect("pull");
        assert_eq!(res.status().is_success(), granted, "{user}: {}", res.status());
    }
}

#[actix_web::test]
async fn every_confirmed_pull_renews_the_cached_tags_expiry() {
    let (o, up) = setup(Auth::Anonymous).await;
    upstream_image(&up, "app", "latest", 16);
    let before = now_s();
    body_of(get(&o, "carol", "acme/app/manifests/latest").await).await;
    let end = end_ts(&o, "acme/app", "latest").await.expect("cached tag");
    assert!((before + WEEK_S..=now_s() + WEEK_S).contains(&end), "{end}");

    let soon = now_s() + 7200;
    let (status, v) =
        o.f.call(
            "PUT",
            "/repository/acme/app/tag/latest",
            Some(&o.owner),
            Some(json!({"expiration": soon})),
        )
        .await;
    assert!(status < 300, "{status} {v}");
    assert_eq!(end_ts(&o, "acme/app", "latest").await, Some(soon));

    let before = now_s();
    body_of(get(&o, "carol", "acme/app/manifests/latest").await).await;
    let end = end_ts(&o, "acme/app", "latest").await.expect("cached tag");
    assert!((before + WEEK_S..=now_s() + WEEK_S).contains(&end), "{end}");
}

#[actix_web::test]
async fn pulls_are_logged_with_the_upstream_and_whether_the_cache_answered() {
    let (o, up) = setup(Auth::Anonymous).await;
    upstream_image(&up, "app", "latest", 16);
    for _ in 0..2 {
        body_of(get(&o, "carol", "acme/app/manifests/latest").await).await;
    }
    let logs = crate::v1_logs::logs(&o.f, "/repository/acme/app/logs", &o.owner).await;
    let mut pulls: Vec<(String, String)> = crate::v1_logs::of_kind(&logs, "pull_repo")
        .iter()
        .map(|l| {
            assert_eq!(crate::v1_logs::performer(l), "carol");
            assert_eq!(l["metadata"]["tag"], "latest");
            assert_eq!(l["metadata"]["proxy_cache"]["upstream_registry"], up.host.as_str());
            let outcome = l["metadata"]["proxy_cache"]["cache"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            (l["metadata"]["repo"].as_str().unwrap_or_default().to_owned(), outcome)
        })
        .collect();
    pulls.sort();
    assert_eq!(
        pulls,
        vec![
            ("app".to_owned(), "hit".to_owned()),
            ("app".to_owned(), "miss".to_owned())
        ]
    );
}

#[actix_web::test]
async fn an_unreachable_upstream_is_named_in_the_error() {
    let o = org_with(PROXY_ON).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let host = format!("127.0.0.1:{}", closed.local_addr().expect("addr").port());
    drop(closed);
    let body = json!({"upstream_registry": host, "insecure": true});
    let (status, v) =
        o.f.call("POST", "/organization/acme/proxycache", Some(&o.owner), Some(body))
            .await;
    assert_eq!(status, 201, "{v}");
    let res = get(&o, "carol", "acme/app/manifests/latest").await;
    let v = assert_oci_error(res, 503, "UNAVAILABLE").await;
    let message = v["errors"][0]["message"].as_str().unwrap_or_default().to_owned();
    assert!(
        message.contains(&host) && message.contains("could not be reached"),
        "{message}"
    );
}
