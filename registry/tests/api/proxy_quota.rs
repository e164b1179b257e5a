//! A proxy-cache organization with a quota: room for a new image is made by
//! expiring the least recently pulled tags; an image larger than the whole
//! quota is refused.

use serde_json::json;

use crate::helpers::assert_oci_error;
use crate::proxy_pull::{body_of, end_ts, get, setup_with, upstream_image};
use crate::proxy_upstream::Auth;
use crate::v1_proxycache::Org;

const PROXY_QUOTA: &str =
    "FEATURE_PROXY_CACHE: true\nFEATURE_QUOTA_MANAGEMENT: true\nSSRF_ALLOWED_HOSTS: [\"127.0.0.1\"]\nSUPER_USERS: [root]\n";

async fn set_quota(o: &Org, limit_bytes: i64) {
    let (status, v) =
        o.f.call(
            "POST",
            "/organization/acme/quota",
            Some(&o.root),
            Some(json!({"limit_bytes": limit_bytes})),
        )
        .await;
    assert_eq!(status, 201, "{v}");
}

#[actix_web::test]
async fn a_full_quota_expires_the_least_recently_pulled_tags_first() {
    let (o, up) = setup_with(PROXY_QUOTA, Auth::Anonymous, json!({})).await;
    set_quota(&o, 10_000).await;
    upstream_image(&up, "one", "latest", 4000);
    upstream_image(&up, "two", "latest", 4000);
    upstream_image(&up, "three", "latest", 4000);
    for repo in ["one", "two"] {
        body_of(get(&o, "carol", &format!("acme/{repo}/manifests/latest")).await).await;
    }
    // `one` is pulled again, so `two` is now the least recently pulled.
    body_of(get(&o, "carol", "acme/one/manifests/latest").await).await;
    body_of(get(&o, "carol", "acme/three/manifests/latest").await).await;
    assert!(end_ts(&o, "acme/one", "latest").await.is_some());
    assert_eq!(end_ts(&o, "acme/two", "latest").await, None, "two was not expired");
    assert!(end_ts(&o, "acme/three", "latest").await.is_some());
}

#[actix_web::test]
async fn an_image_larger_than_the_quota_is_refused() {
    let (o, up) = setup_with(PROXY_QUOTA, Auth::Anonymous, json!({})).await;
    set_quota(&o, 1000).await;
    upstream_image(&up, "big", "latest", 4000);
    let res = get(&o, "carol", "acme/big/manifests/latest").await;
    let v = assert_oci_error(res, 403, "DENIED").await;
    let message = v["errors"][0]["message"].as_str().unwrap_or_default().to_owned();
    assert!(message.starts_with("Quota has been exceeded on namespace"), "{message}");
    assert!(message.contains("larger than"), "{message}");
}
