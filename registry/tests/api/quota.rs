//! Namespace quotas: counting, limits API, enforcement on push.

use base64::Engine as _;
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

use crate::gc::{after_window, gc_at};
use crate::helpers::{
    assert_oci_error, image_manifest, random_bytes, sha256, RepoFixture, OCI_CONFIG, OCI_LAYER, OCI_MANIFEST,
};

pub(crate) const MIB: i64 = 1024 * 1024;
pub(crate) const QUOTA_ON: &str = "FEATURE_QUOTA_MANAGEMENT: true\nSUPER_USERS: [admin]\n";

/// A registry with quotas on, superuser `admin`, user `owner` who owns
/// organization `acme`, and a /v2 client logged in as `owner`.
pub(crate) struct Quotas {
    pub(crate) fx: RepoFixture,
    pub(crate) admin: String,
    pub(crate) owner: String,
    pub(crate) org_id: i64,
    pub(crate) v2: Client,
}

impl Quotas {
    pub(crate) async fn new() -> Quotas {
        Quotas::with_config(QUOTA_ON).await
    }

    pub(crate) async fn with_config(yaml: &str) -> Quotas {
        let fx = RepoFixture::with_config(yaml).await;
        let (_, admin) = fx.user("admin").await;
        let (owner_account, owner) = fx.user("owner").await;
        let org = fx.org(&owner_account, "acme").await;
        let v2 = v2_client(&owner);
        Quotas {
            admin,
            owner,
            org_id: org.id,
            v2,
            fx,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        self.fx.app.url(path)
    }

    /// Pushes a blob in one request; returns the response.
    pub(crate) async fn push_blob(&self, repo: &str, data: &[u8]) -> reqwest::Response {
        self.v2
            .post(self.url(&format!("/v2/{repo}/blobs/uploads/?digest={}", sha256(data))))
            .header("Content-Type", "application/octet-stream")
            .body(data.to_vec())
            .send()
            .await
            .expect("blob push")
    }

    /// Pushes an image of these layers (plus a small unique config) under
    /// `tag`; returns the manifest PUT's response and the config's bytes.
    pub(crate) async fn push_image(&self, repo: &str, tag: &str, layers: &[&[u8]]) -> (reqwest::Response, Vec<u8>) {
        let config =
            serde_json::to_vec(&json!({"architecture": "amd64", "os": "linux", "nonce": hex::encode(random_bytes(8))}))
                .expect("config JSON");
        for blob in std::iter::once(config.as_slice()).chain(layers.iter().copied()) {
            let res = self.push_blob(repo, blob).await;
            let status = res.status();
            let body = res.text().await.unwrap_or_default();
            assert_eq!(status, StatusCode::CREATED, "pushing a blob to {repo}: {body}");
        }
        let digests: Vec<(String, usize)> = layers.iter().map(|l| (sha256(l), l.len())).collect();
        let layer_refs: Vec<(&str, &str, usize)> = digests.iter().map(|(d, n)| (OCI_LAYER, d.as_str(), *n)).collect();
        let manifest = image_manifest(OCI_MANIFEST, (OCI_CONFIG, &sha256(&config), config.len()), &layer_refs);
        let res = self
            .v2
            .put(self.url(&format!("/v2/{repo}/manifests/{tag}")))
            .header("Content-Type", OCI_MANIFEST)
            .body(manifest)
            .send()
            .await
            .expect("manifest push");
        (res, config)
    }

    /// Pushes an image that must be accepted; returns the config's size.
    pub(crate) async fn push_ok(&self, repo: &str, tag: &str, layers: &[&[u8]]) -> i64 {
        let (res, config) = self.push_image(repo, tag, layers).await;
        let status = res.status();
        let body = res.text().await.unwrap_or_default();
        assert_eq!(status, StatusCode::CREATED, "pushing {repo}:{tag}: {body}");
        config.len() as i64
    }

    pub(crate) async fn org_view(&self) -> Value {
        let (status, view) = self.fx.call("GET", "/organization/acme", Some(&self.owner), None).await;
        assert_eq!(status, 200, "{view}");
        view
    }

    pub(crate) async fn org_usage(&self) -> i64 {
        self.org_view().await["quota_report"]["quota_bytes"]
            .as_i64()
            .expect("quota_bytes")
    }

    /// `quota_report.quota_bytes` of each repository of acme, by name.
    pub(crate) async fn repo_usage(&self) -> Vec<(String, i64)> {
        let (status, body) = self
            .fx
            .call("GET", "/repository?namespace=acme", Some(&self.owner), None)
            .await;
        assert_eq!(status, 200, "{body}");
        let mut out: Vec<(String, i64)> = body["repositories"]
            .as_array()
            .expect("repositories")
            .iter()
            .map(|r| {
                (
                    r["name"].as_str().expect("name").to_owned(),
                    r["quota_report"]["quota_bytes"].as_i64().expect("quota_bytes"),
                )
            })
            .collect();
        out.sort();
        out
    }

    /// Creates acme's quota of `limit_bytes` as the superuser; returns its id.
    pub(crate) async fn create_quota(&self, limit_bytes: i64) -> i64 {
        let (status, body) = self
            .fx
            .call(
                "POST",
                "/organization/acme/quota",
                Some(&self.admin),
                Some(json!({"limit_bytes": limit_bytes})),
            )
            .await;
        assert_eq!((status, body), (201, json!("Created")));
        let (_, list) = self
            .fx
            .call("GET", "/organization/acme/quota", Some(&self.admin), None)
            .await;
        list[0]["id"].as_i64().expect("quota id")
    }

    pub(crate) async fn add_limit(&self, quota_id: i64, kind: &str, percent: i64) {
        let (status, body) = self
            .fx
            .call(
                "POST",
                &format!("/organization/acme/quota/{quota_id}/limit"),
                Some(&self.admin),
                Some(json!({"type": kind, "threshold_percent": percent})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
}

/// A client logged in on /v2 with `$oauthtoken` and an access token.
fn v2_client(token: &str) -> Client {
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("$oauthtoken:{token}"));
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Basic {basic}").parse().expect("header value"),
    );
    Client::builder().default_headers(headers).build().expect("client")
}

#[actix_web::test]
async fn a_blob_counts_once_per_repository_and_once_per_namespace() {
    let q = Quotas::new().await;
    let shared = random_bytes(40_000);
    let only_one = random_bytes(10_000);
    let only_two = random_bytes(7_000);
    let c1 = q.push_ok("acme/one", "v1", &[&shared, &only_one]).await;
    // The same layers again under another tag add only the new config.
    let c2 = q.push_ok("acme/one", "v2", &[&shared, &only_one]).await;
    let c3 = q.push_ok("acme/two", "v1", &[&shared, &only_two]).await;
    let (s, o1, o2) = (shared.len() as i64, only_one.len() as i64, only_two.len() as i64);
    assert_eq!(
        q.repo_usage().await,
        vec![("one".into(), s + o1 + c1 + c2), ("two".into(), s + o2 + c3)]
    );
    assert_eq!(q.org_usage().await, s + o1 + o2 + c1 + c2 + c3);
    // A tag pointed at content already counted changes nothing.
    let (status, body) =
        q.fx.call("GET", "/repository/acme/one/tag/?specificTag=v1", Some(&q.owner), None)
            .await;
    assert_eq!(status, 200, "{body}");
    let digest = body["tags"][0]["manifest_digest"].as_str().expect("digest").to_owned();
    let (status, body) =
        q.fx.call(
            "PUT",
            "/repository/acme/one/tag/again",
            Some(&q.owner),
            Some(json!({"manifest_digest": digest})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(q.org_usage().await, s + o1 + o2 + c1 + c2 + c3);
}

#[actix_web::test]
async fn garbage_collection_lowers_the_usage() {
    let q = Quotas::new().await;
    let shared = random_bytes(30_000);
    let gone = random_bytes(20_000);
    let c1 = q.push_ok("acme/app", "keep", &[&shared]).await;
    let c2 = q.push_ok("acme/app", "drop", &[&shared, &gone]).await;
    let c3 = q.push_ok("acme/other", "drop", &[&gone]).await;
    let (s, g) = (shared.len() as i64, gone.len() as i64);
    assert_eq!(q.org_usage().await, s + g + c1 + c2 + c3);
    for repo in ["acme/app", "acme/other"] {
        let res =
            q.v2.delete(q.url(&format!("/v2/{repo}/manifests/drop")))
                .send()
                .await
                .expect("request");
        assert_eq!(res.status(), StatusCode::ACCEPTED);
    }
    // Deleted tags stay counted while they can be restored.
    assert_eq!(q.org_usage().await, s + g + c1 + c2 + c3);
    let report = gc_at(&q.fx.services, after_window()).await;
    assert_eq!(report.manifests.len(), 2, "{report:?}");
    assert_eq!(q.org_usage().await, s + c1);
    assert_eq!(q.repo_usage().await, vec![("app".into(), s + c1), ("other".into(), 0)]);
}

#[actix_web::test]
async fn quays_documented_sequence_works() {
    let q = Quotas::new().await;
    // Create a 10 MiB quota and view it.
    let id = q.create_quota(10 * MIB).await;
    let (status, list) = q.fx.call("GET", "/organization/acme/quota", Some(&q.admin), None).await;
    assert_eq!(status, 200);
    assert_eq!(
        list,
        json!([{"id": id, "limit_bytes": 10 * MIB, "limit": "10.0 MiB", "default_config": false,
                "limits": [], "default_config_exists": false}])
    );
    // A second quota for the same organization is refused.
    let (status, body) =
        q.fx.call(
            "POST",
            "/organization/acme/quota",
            Some(&q.admin),
            Some(json!({"limit": "5 GiB"})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["detail"].as_str().unwrap_or_default().contains("already exists"),
        "{body}"
    );
    // Raise it to 100 MiB.
    let (status, view) =
        q.fx.call(
            "PUT",
            &format!("/organization/acme/quota/{id}"),
            Some(&q.admin),
            Some(json!({"limit_bytes": 100 * MIB})),
        )
        .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["limit"], "100.0 MiB");
    // Push images and see the consumption in the repository list.
    let first = random_bytes(30 * MIB as usize);
    let c1 = q.push_ok("acme/app", "v1", &[&first]).await;
    assert_eq!(q.repo_usage().await, vec![("app".into(), 30 * MIB + c1)]);
    let (status, body) =
        q.fx.call("GET", "/repository?namespace=acme", Some(&q.owner), None)
            .await;
    assert_eq!(status, 200);
    assert_eq!(body["repositories"][0]["quota_report"]["configured_quota"], 100 * MIB);
    // An 80 % Reject and a 50 % Warning limit.
    q.add_limit(id, "Reject", 80).await;
    q.add_limit(id, "Warning", 50).await;
    let (status, limits) =
        q.fx.call(
            "GET",
            &format!("/organization/acme/quota/{id}/limit"),
            Some(&q.owner),
            None,
        )
        .await;
    assert_eq!(status, 200, "{limits}");
    let mut kinds: Vec<(String, i64)> = limits
        .as_array()
        .expect("limits")
        .iter()
        .map(|l| {
            (
                l["type"].as_str().expect("present").to_owned(),
                l["limit_percent"].as_i64().expect("present"),
            )
        })
        .collect();
    kinds.sort();
    assert_eq!(kinds, vec![("Reject".into(), 80), ("Warning".into(), 50)]);
    // Crossing 50 % is let through and recorded as a warning.
    let second = random_bytes(25 * MIB as usize);
    let c2 = q.push_ok("acme/app", "v2", &[&second]).await;
    let used = 55 * MIB + c1 + c2;
    assert_eq!(q.org_usage().await, used);
    let events = q.fx.services.quota_events(q.org_id).await.expect("events");
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!((events[0].0.as_str(), events[0].2), ("quota_warning", 50 * MIB));
    // The next push over 80 % is refused and nothing of it is kept.
    let third = random_bytes(30 * MIB as usize);
    let res = q.push_blob("acme/app", &third).await;
    let body = assert_oci_error(res, 403, "DENIED").await;
    assert!(
        body.to_string().contains("Quota has been exceeded on namespace"),
        "{body}"
    );
    assert_eq!(q.fx.app.stored_copies(&sha256(&third)).await, 0);
    let res =
        q.v2.head(q.url(&format!("/v2/acme/app/blobs/{}", sha256(&third))))
            .send()
            .await
            .expect("request");
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(q.org_usage().await, used);
    let events = q.fx.services.quota_events(q.org_id).await.expect("events");
    assert_eq!(events.last().map(|e| e.0.as_str()), Some("quota_error"), "{events:?}");
    // Pulls are never blocked.
    let res =
        q.v2.get(q.url("/v2/acme/app/manifests/v2"))
            .header("Accept", OCI_MANIFEST)
            .send()
            .await
            .expect("request");
    assert_eq!(res.status(), StatusCode::OK);
    let res =
        q.v2.get(q.url(&format!("/v2/acme/app/blobs/{}", sha256(&second))))
            .send()
            .await
            .expect("request");
    assert_eq!(res.status(), StatusCode::OK);
    // Small blobs still fit; a manifest that would cross the limit is refused.
    let a = random_bytes(13 * MIB as usize);
    let b = random_bytes(13 * MIB as usize);
    let (res, _) = q.push_image("acme/app", "v3", &[&a, &b]).await;
    assert_oci_error(res, 403, "DENIED").await;
    let res =
        q.v2.get(q.url("/v2/acme/app/manifests/v3"))
            .header("Accept", OCI_MANIFEST)
            .send()
            .await
            .expect("request");
    assert_eq!(res.status(), StatusCode::NOT_FOUND, "a refused push leaves no tag");
    assert_eq!(q.org_usage().await, used);
    // Lowering the quota below the usage refuses even starting an upload.
    let (status, _) =
        q.fx.call(
            "PUT",
            &format!("/organization/acme/quota/{id}"),
            Some(&q.admin),
            Some(json!({"limit": "50 MiB"})),
        )
        .await;
    assert_eq!(status, 200);
    let res =
        q.v2.post(q.url("/v2/acme/app/blobs/uploads/"))
            .send()
            .await
            .expect("request");
    assert_oci_error(res, 403, "DENIED").await;
    // Other namespaces are not affected.
    q.push_ok("owner/mine", "v1", &[&random_bytes(1000)]).await;
}

#[actix_web::test]
async fn concurrent_pushes_sharing_layers_count_each_blob_once() {
    let q = Quotas::new().await;
    let shared = random_bytes(50_000);
    // The namespace gets its counted size before the race.
    let c0 = q.push_ok("acme/seed", "v1", &[&random_bytes(100)]).await;
    let mut pushes = Vec::new();
    for i in 0..6 {
        let repo = format!("acme/r{}", i % 3);
        let tag = format!("t{i}");
        let layer = shared.clone();
        let q = &q;
        pushes.push(async move { q.push_ok(&repo, &tag, &[&layer]).await });
    }
    let configs: Vec<i64> = futures_util::future::join_all(pushes).await;
    assert_eq!(q.org_usage().await, 100 + c0 + 50_000 + configs.iter().sum::<i64>());
    let usage = q.repo_usage().await;
    for (name, bytes) in usage.iter().filter(|(n, _)| n.starts_with('r')) {
        let i: usize = name[1..].parse().expect("present");
        assert_eq!(*bytes, 50_000 + configs[i] + configs[i + 3], "{name}");
    }
}

#[actix_web::test]
async fn deleting_an_organization_reclaims_its_storage_and_usage() {
    let q = Quotas::new().await;
    let kept = random_bytes(9_000);
    let only_here = random_bytes(11_000);
    // Another namespace shares one layer; it must survive.
    q.push_ok("owner/app", "v1", &[&kept]).await;
    q.push_ok("acme/app", "v1", &[&kept, &only_here]).await;
    q.push_ok("acme/tool", "v1", &[&only_here]).await;
    assert!(q.org_usage().await > 20_000);
    let (status, body) = q.fx.call("DELETE", "/organization/acme", Some(&q.owner), None).await;
    assert_eq!(status, 204, "{body}");
    let report = gc_at(&q.fx.services, after_window()).await;
    assert_eq!(report.manifests.len(), 2, "{report:?}");
    assert_eq!(
        q.fx.app.stored_copies(&sha256(&only_here)).await,
        0,
        "bytes of the deleted organization are gone"
    );
    assert_eq!(q.fx.app.stored_copies(&sha256(&kept)).await, 1, "shared bytes stay");
    let reports = q.fx.services.quota_reports(&[q.org_id]).await.expect("reports");
    assert_eq!(reports[&q.org_id].quota_bytes, 0, "{:?}", reports[&q.org_id]);
    let res =
        q.v2.get(q.url("/v2/owner/app/manifests/v1"))
            .header("Accept", OCI_MANIFEST)
            .send()
            .await
            .expect("request");
    assert_eq!(res.status(), StatusCode::OK);
}
