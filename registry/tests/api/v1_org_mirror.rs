//! Organization-level mirroring (`FEATURE_ORG_MIRROR`): who may use the
//! routes, Quay's validation and shapes, the connection check against a
//! stand-in Quay source, and worker passes that discover the source
//! namespace's repositories and mirror their tags.

use serde_json::{json, Value};

use crate::helpers::*;
use crate::mirror_upstream::{Auth, MirrorUpstream, UpImage, PASSWORD, USER};
use crate::v1_logs::logs;

/// The feature on, the stand-in source on loopback allowed, and no
/// background passes: the tests run them.
const CONFIG: &str = "FEATURE_ORG_MIRROR: true\nSSRF_ALLOWED_HOSTS: [\"127.0.0.1\"]\nREPO_MIRROR_INTERVAL: 0\n";
const MIRROR: &str = "/organization/orga/mirror";

/// Organization `orga` (owner `owner`, member `carol`), robot `orga+robot`,
/// another organization `orgb` with robot `orgb+robot`, and a source.
struct Org {
    fx: RepoFixture,
    owner: String,
    carol: String,
    up: MirrorUpstream,
}

impl Org {
    async fn new(auth: Auth) -> Org {
        Org::with_config(auth, CONFIG).await
    }

    async fn with_config(auth: Auth, config: &str) -> Org {
        let fx = RepoFixture::with_config(config).await;
        let (owner_account, owner) = fx.user("owner").await;
        let (_, carol) = fx.user("carol").await;
        let org = fx.org(&owner_account, "orga").await;
        fx.robot(&org, "robot").await;
        fx.team(&owner_account, &org, "readers", "member", &["carol"]).await;
        let other = fx.org(&owner_account, "orgb").await;
        fx.robot(&other, "robot").await;
        Org {
            fx,
            owner,
            carol,
            up: MirrorUpstream::start(auth),
        }
    }

    /// A mirror of the source's `upstream` namespace, due now.
    fn body(&self) -> Value {
        json!({
            "external_registry_type": "quay",
            "external_registry_url": format!("http://{}", self.up.host),
            "external_namespace": "upstream",
            "robot_username": "orga+robot",
            "visibility": "private",
            "sync_interval": 3600,
            "sync_start_date": "2021-08-06T11:11:39Z",
            "external_registry_username": USER,
            "external_registry_password": PASSWORD,
            "external_registry_config": {"verify_tls": false},
        })
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.fx.call(method, path, Some(&self.owner), body).await
    }

    async fn configure(&self, body: Value) {
        let (status, v) = self.call("POST", MIRROR, Some(body)).await;
        assert_eq!(status, 201, "{v}");
    }

    async fn view(&self) -> Value {
        let (status, v) = self.call("GET", MIRROR, None).await;
        assert_eq!(status, 200, "{v}");
        v
    }

    async fn pass(&self) -> registry::service::mirror_sync::OrgMirrorPass {
        self.fx.services.run_org_mirrors_once().await.expect("org mirror pass")
    }

    async fn listing(&self, query: &str) -> Value {
        let (status, v) = self.call("GET", &format!("{MIRROR}/repositories{query}"), None).await;
        assert_eq!(status, 200, "{v}");
        v
    }

    async fn statuses(&self) -> Vec<(String, String)> {
        let listing = self.listing("").await;
        listing["repositories"]
            .as_array()
            .expect("repositories")
            .iter()
            .map(|r| {
                (
                    r["name"].as_str().unwrap_or_default().to_owned(),
                    r["sync_status"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    /// Alive tags of `orga/<name>`: name → manifest digest.
    async fn tags(&self, name: &str) -> Vec<(String, String)> {
        let path = format!("/repository/orga/{name}/tag/?onlyActiveTags=true&limit=100");
        let (status, v) = self.call("GET", &path, None).await;
        assert_eq!(status, 200, "{v}");
        let mut tags: Vec<(String, String)> = v["tags"]
            .as_array()
            .expect("tags")
            .iter()
            .map(|t| {
                (
                    t["name"].as_str().unwrap_or_default().to_owned(),
                    t["manifest_digest"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        tags.sort();
        tags
    }

    async fn verify(&self) -> Value {
        let (status, v) = self.call("POST", &format!("{MIRROR}/verify"), None).await;
        assert_eq!(status, 200, "{v}");
        v
    }
}

fn pair(tag: &str, image: &UpImage) -> (String, String) {
    (tag.to_owned(), image.digest.clone())
}

#[actix_web::test]
async fn without_the_feature_every_org_mirror_route_is_not_found() {
    let o = Org::with_config(Auth::Anonymous, "SSRF_ALLOWED_HOSTS: [\"127.0.0.1\"]\n").await;
    for (method, sub) in [
        ("GET", ""),
        ("POST", ""),
        ("PUT", ""),
        ("DELETE", ""),
        ("POST", "/sync-now"),
        ("POST", "/sync-cancel"),
        ("POST", "/verify"),
        ("GET", "/repositories"),
    ] {
        let (status, v) = o.call(method, &format!("{MIRROR}{sub}"), Some(o.body())).await;
        assert_eq!(status, 404, "{method} {sub}: {v}");
    }
}

#[actix_web::test]
async fn only_organization_admins_use_the_routes() {
    let o = Org::new(Auth::Anonymous).await;
    o.configure(o.body()).await;
    let (_, bob) = o.fx.user("bob").await;
    let routes = [
        ("GET", ""),
        ("POST", ""),
        ("PUT", ""),
        ("DELETE", ""),
        ("POST", "/sync-now"),
        ("POST", "/sync-cancel"),
        ("POST", "/verify"),
        ("GET", "/repositories"),
    ];
    for (method, sub) in routes {
        let path = format!("{MIRROR}{sub}");
        let (status, v) = o.fx.call(method, &path, None, Some(o.body())).await;
        assert_eq!(status, 401, "anonymous {method} {sub}: {v}");
        for token in [&o.carol, &bob] {
            let (status, v) = o.fx.call(method, &path, Some(token), Some(o.body())).await;
            assert_eq!(status, 403, "non-admin {method} {sub}: {v}");
        }
    }
    let owner = o.fx.services.account("owner").await.expect("lookup").expect("owner");
    let read_only = o.fx.token(&owner, "repo:read").await;
    let (status, _) = o.fx.call("GET", MIRROR, Some(&read_only), None).await;
    assert_eq!(status, 403, "a token without org:admin");
    let (status, _) = o.call("GET", "/organization/nope/mirror", None).await;
    assert_eq!(status, 404);
    // Nothing the refused callers sent changed the configuration.
    assert_eq!(o.view().await["sync_status"], json!("NEVER_RUN"));
}

#[actix_web::test]
async fn create_answers_quays_validation_messages() {
    let o = Org::new(Auth::Anonymous).await;
    let with = |key: &str, value: Value| {
        let mut b = o.body();
        b[key] = value;
        b
    };
    let without = |key: &str| {
        let mut b = o.body();
        b.as_object_mut().expect("object").remove(key);
        b
    };
    let cases = [
        (
            without("external_namespace"),
            "'external_namespace' is a required property",
        ),
        (
            with("external_registry_type", json!("docker")),
            "'docker' is not one of ['harbor', 'quay']",
        ),
        (
            with("visibility", json!("secret")),
            "'secret' is not one of ['public', 'private']",
        ),
        (with("sync_interval", json!(59)), "59 is less than the minimum of 60"),
        (with("sync_interval", json!("1h")), "'1h' is not of type 'integer'"),
        (with("skopeo_timeout", json!(29)), "29 is less than the minimum of 30"),
        (
            with("skopeo_timeout", json!(3601)),
            "3601 is greater than the maximum of 3600",
        ),
        (with("external_namespace", json!("n".repeat(256))), "is too long"),
        (
            with("robot_username", json!("orga+ghost")),
            "Invalid robot account: orga+ghost",
        ),
        (
            with("robot_username", json!("orgb+robot")),
            "Robot account must belong to the organization",
        ),
        (
            with("sync_start_date", json!("2021-08-06 11:11")),
            "Invalid sync_start_date format. Use ISO 8601: YYYY-MM-DDTHH:MM:SSZ",
        ),
        (
            with("external_registry_url", json!("ftp://quay.io")),
            "Invalid URL scheme 'ftp': only HTTP and HTTPS are allowed",
        ),
        (
            with("external_registry_url", json!("https://u:p@quay.io")),
            "URLs with embedded credentials are not allowed",
        ),
        (
            with("external_registry_url", json!("http://10.1.2.3:5000")),
            "The provided registry URL is not allowed",
        ),
    ];
    for (body, message) in cases {
        let (status, v) = o.call("POST", MIRROR, Some(body.clone())).await;
        assert_eq!(status, 400, "{body}: {v}");
        let detail = v["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(message), "{body}: {detail:?} should say {message:?}");
    }
    assert_eq!(o.call("GET", MIRROR, None).await.0, 404, "nothing was created");

    o.configure(o.body()).await;
    let (status, v) = o.call("POST", MIRROR, Some(o.body())).await;
    assert_eq!(status, 400);
    assert_eq!(
        v["detail"],
        json!("Mirror configuration already exists for this organization")
    );

    // An organization holding repositories cannot be mirrored.
    o.fx.create_repo(&o.owner, "orgb", "app", "private").await;
    let mut body = o.body();
    body["robot_username"] = json!("orgb+robot");
    let (status, v) = o.call("POST", "/organization/orgb/mirror", Some(body)).await;
    assert_eq!(status, 400);
    assert!(
        v["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("already contains repositories"),
        "{v}"
    );
}

#[actix_web::test]
async fn an_admin_creates_reads_updates_and_deletes_the_configuration() {
    let o = Org::new(Auth::Anonymous).await;
    let mut body = o.body();
    body["repository_filters"] = json!(["app*"]);
    body["unknown_field"] = json!("ignored");
    o.configure(body).await;
    let v = o.view().await;
    let expected = json!({
        "is_enabled": true,
        "external_registry_type": "quay",
        "external_registry_url": format!("http://{}", o.up.host),
        "external_namespace": "upstream",
        "external_registry_username": USER,
        "has_external_registry_password": true,
        "external_registry_config": {"verify_tls": false},
        "repository_filters": ["app*"],
        "robot_username": "orga+robot",
        "visibility": "private",
        "sync_interval": 3600,
        "sync_start_date": "2021-08-06T11:11:39Z",
        "sync_expiration_date": null,
        "sync_status": "NEVER_RUN",
        "sync_retries_remaining": 3,
        "skopeo_timeout": 300,
    });
    for (key, value) in expected.as_object().expect("object") {
        assert_eq!(&v[key], value, "{key} in {v}");
    }
    assert!(v["creation_date"].as_str().is_some_and(|d| d.ends_with('Z')), "{v}");
    assert!(
        v.get("external_registry_password").is_none(),
        "the password is never shown"
    );

    // Stored encrypted.
    let org = o.fx.services.account("orga").await.expect("lookup").expect("orga");
    let stored = o.fx.services.org_mirror(&org).await.expect("read").expect("mirror");
    let sealed = stored
        .row
        .settings
        .external_registry_password
        .clone()
        .expect("password");
    assert_ne!(sealed, PASSWORD);
    assert!(!sealed.contains(PASSWORD));

    let update = json!({
        "is_enabled": false,
        "visibility": "public",
        "sync_interval": 7200,
        "external_registry_password": "",
        "repository_filters": [],
        "skopeo_timeout": 600,
    });
    let (status, v) = o.call("PUT", MIRROR, Some(update)).await;
    assert_eq!(status, 200, "{v}");
    let v = o.view().await;
    assert_eq!(v["is_enabled"], json!(false));
    assert_eq!(v["visibility"], json!("public"));
    assert_eq!(v["sync_interval"], json!(7200));
    assert_eq!(
        v["has_external_registry_password"],
        json!(false),
        "an empty password clears it"
    );
    assert_eq!(v["external_registry_username"], json!(USER), "the username stays");
    assert_eq!(v["repository_filters"], json!([]));
    assert_eq!(v["skopeo_timeout"], json!(600));

    let (status, v) = o.call("PUT", MIRROR, Some(json!({"sync_interval": 10}))).await;
    assert_eq!(
        (status, v["detail"].clone()),
        (400, json!("10 is less than the minimum of 60"))
    );
    let (status, v) = o
        .call("PUT", MIRROR, Some(json!({"robot_username": "orgb+robot"})))
        .await;
    assert_eq!(status, 400);
    assert_eq!(v["detail"], json!("Robot account must belong to the organization"));

    let (status, _) = o.call("DELETE", MIRROR, None).await;
    assert_eq!(status, 204);
    assert_eq!(o.call("GET", MIRROR, None).await.0, 404);
    assert_eq!(o.call("DELETE", MIRROR, None).await.0, 404);
    assert_eq!(o.call("PUT", MIRROR, Some(json!({"is_enabled": true}))).await.0, 404);

    o.fx.services.flush_logs().await;
    let entries = logs(&o.fx, "/organization/orga/logs", &o.owner).await;
    for kind in ["org_mirror_enabled", "org_mirror_config_changed", "org_mirror_disabled"] {
        assert!(entries.iter().any(|e| e["kind"] == json!(kind)), "{kind} logged");
    }
}

#[actix_web::test]
async fn verify_logs_in_to_the_source() {
    let o = Org::new(Auth::Token).await;
    let app = o.up.image(&[]);
    o.up.tag("upstream/app", "v1", &app);
    o.configure(o.body()).await;
    assert_eq!(
        o.verify().await,
        json!({"success": true, "message": "Connection successful"})
    );

    let (status, _) = o
        .call("PUT", MIRROR, Some(json!({"external_registry_password": "wrong"})))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        o.verify().await,
        json!({"success": false, "message": "Authentication failed"})
    );

    let update = json!({"external_registry_password": PASSWORD, "external_namespace": "nobody"});
    assert_eq!(o.call("PUT", MIRROR, Some(update)).await.0, 200);
    assert_eq!(
        o.verify().await,
        json!({"success": false, "message": "Namespace 'nobody' not found"})
    );
}

#[actix_web::test]
async fn a_pass_discovers_the_namespace_and_mirrors_every_tag() {
    let o = Org::new(Auth::Token).await;
    let (v1, v2, web) = (o.up.image(&[]), o.up.image(&[]), o.up.image(&[]));
    o.up.tag("upstream/app", "v1", &v1);
    o.up.tag("upstream/app", "v2", &v2);
    o.up.tag("upstream/web", "latest", &web);
    o.up.tag("elsewhere/app", "v9", &web);
    o.configure(o.body()).await;
    assert_eq!(
        o.listing("").await["total"],
        json!(0),
        "nothing is discovered before a pass"
    );

    let pass = o.pass().await;
    assert_eq!(
        (pass.discovered, pass.created, pass.succeeded, pass.failed),
        (1, 2, 2, 0),
        "{pass:?}"
    );
    assert_eq!(o.tags("app").await, vec![pair("v1", &v1), pair("v2", &v2)]);
    assert_eq!(o.tags("web").await, vec![pair("latest", &web)]);

    let (status, repo) = o.call("GET", "/repository/orga/app", None).await;
    assert_eq!(status, 200, "{repo}");
    assert_eq!(repo["state"], json!("ORG_MIRROR"));
    assert_eq!(repo["is_public"], json!(false));

    let view = o.view().await;
    assert_eq!(view["sync_status"], json!("SUCCESS"));
    let listing = o.listing("").await;
    assert_eq!(listing["total"], json!(2));
    let first = &listing["repositories"][0];
    assert_eq!(first["name"], json!("app"));
    assert_eq!(first["sync_status"], json!("SUCCESS"));
    assert_eq!(first["quay_repository"], json!("orga/app"));
    assert_eq!(first["status_message"], Value::Null);
    assert!(first["last_sync_date"].as_str().is_some(), "{first}");
    assert!(first["discovery_date"].as_str().is_some(), "{first}");

    // Nothing is due again before the interval.
    let blobs = o.up.blob_gets();
    assert_eq!(o.pass().await, Default::default());
    assert_eq!(o.up.blob_gets(), blobs);

    // Pushes by anyone but the mirror robot are refused.
    let owner_push = o.fx.app.client.put(o.fx.app.url("/v2/orga/app/manifests/x"));
    let res = owner_push
        .basic_auth("owner", Some("password123"))
        .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
        .body("{}")
        .send()
        .await
        .expect("push");
    let refusal = assert_oci_error(res, 405, "DENIED").await;
    assert!(refusal.to_string().contains("is a mirror"), "{refusal}");

    o.fx.services.flush_logs().await;
    let entries = logs(&o.fx, "/organization/orga/logs", &o.owner).await;
    for kind in [
        "org_mirror_sync_started",
        "org_mirror_sync_success",
        "org_mirror_repo_created",
    ] {
        assert!(entries.iter().any(|e| e["kind"] == json!(kind)), "{kind} logged");
    }
}

#[actix_web::test]
async fn filters_keep_only_matching_repositories() {
    let o = Org::new(Auth::Anonymous).await;
    let image = o.up.image(&[]);
    for repo in ["app-one", "app-two", "web"] {
        o.up.tag(&format!("upstream/{repo}"), "v1", &image);
    }
    let mut body = o.body();
    body["repository_filters"] = json!(["app-*"]);
    o.configure(body).await;
    let pass = o.pass().await;
    assert_eq!(pass.created, 2, "{pass:?}");
    assert_eq!(
        o.statuses().await,
        vec![
            ("app-one".into(), "SUCCESS".into()),
            ("app-two".into(), "SUCCESS".into())
        ]
    );
    let (status, _) = o.call("GET", "/repository/orga/web", None).await;
    assert_eq!(status, 404, "a filtered-out repository is not created");
}

#[actix_web::test]
async fn a_failed_discovery_keeps_the_start_and_spends_a_retry() {
    let o = Org::new(Auth::Token).await;
    o.up.tag("upstream/app", "v1", &o.up.image(&[]));
    let mut body = o.body();
    body["external_registry_password"] = json!("wrong");
    o.configure(body).await;
    let pass = o.pass().await;
    assert_eq!((pass.discovery_failed, pass.created), (1, 0), "{pass:?}");
    let view = o.view().await;
    assert_eq!(view["sync_status"], json!("FAIL"));
    assert_eq!(view["sync_retries_remaining"], json!(2));
    assert_eq!(view["sync_start_date"], json!("2021-08-06T11:11:39Z"));
    assert_eq!(o.listing("").await["total"], json!(0));
}

#[actix_web::test]
async fn sync_now_and_cancel_move_the_status_and_reach_the_repositories() {
    let o = Org::new(Auth::Anonymous).await;
    let (one, two) = (o.up.image(&[]), o.up.image(&[]));
    o.up.tag("upstream/app", "v1", &one);
    o.up.tag("upstream/web", "v1", &one);
    o.configure(o.body()).await;
    o.pass().await;
    assert_eq!(o.view().await["sync_status"], json!("SUCCESS"));

    let (status, v) = o.call("POST", &format!("{MIRROR}/sync-cancel"), None).await;
    assert_eq!(status, 204, "{v}");
    let view = o.view().await;
    assert_eq!(view["sync_status"], json!("CANCEL"));
    assert_eq!(view["sync_retries_remaining"], json!(0));
    let (status, v) = o.call("POST", &format!("{MIRROR}/sync-cancel"), None).await;
    assert_eq!(status, 400);
    assert_eq!(v["detail"], json!("Cannot cancel: mirror is already cancelled"));

    // The next pass carries the cancel to the repositories, and syncs none.
    let pass = o.pass().await;
    assert_eq!((pass.cancels, pass.succeeded), (1, 0), "{pass:?}");
    assert_eq!(
        o.statuses().await,
        vec![("app".into(), "CANCEL".into()), ("web".into(), "CANCEL".into())]
    );
    assert_eq!(
        o.pass().await,
        Default::default(),
        "cancelled mirrors wait for sync-now"
    );

    o.up.tag("upstream/app", "v2", &two);
    let (status, v) = o.call("POST", &format!("{MIRROR}/sync-now"), None).await;
    assert_eq!(status, 204, "{v}");
    let view = o.view().await;
    assert_eq!(view["sync_status"], json!("SYNC_NOW"));
    assert_eq!(view["sync_retries_remaining"], json!(1));
    let pass = o.pass().await;
    assert_eq!((pass.discovered, pass.succeeded), (1, 2), "{pass:?}");
    assert_eq!(o.tags("app").await, vec![pair("v1", &one), pair("v2", &two)]);
    assert_eq!(o.view().await["sync_status"], json!("SUCCESS"));

    o.fx.services.flush_logs().await;
    let entries = logs(&o.fx, "/organization/orga/logs", &o.owner).await;
    for kind in ["org_mirror_sync_cancelled", "org_mirror_sync_now_requested"] {
        assert!(entries.iter().any(|e| e["kind"] == json!(kind)), "{kind} logged");
    }
}

#[actix_web::test]
async fn the_repository_listing_is_paged_by_name() {
    let o = Org::new(Auth::Anonymous).await;
    let image = o.up.image(&[]);
    for repo in ["c", "a", "b"] {
        o.up.tag(&format!("upstream/{repo}"), "v1", &image);
    }
    o.configure(o.body()).await;
    o.pass().await;
    assert!(
        o.up.api_listings() >= 2,
        "the source's listing was followed over its pages"
    );

    let first = o.listing("?limit=2").await;
    assert_eq!((first["page"].clone(), first["limit"].clone()), (json!(1), json!(2)));
    assert_eq!(
        (first["total"].clone(), first["has_next"].clone()),
        (json!(3), json!(true))
    );
    let names: Vec<&str> = first["repositories"]
        .as_array()
        .expect("repositories")
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert_eq!(names, ["a", "b"]);
    let second = o.listing("?limit=2&page=2").await;
    assert_eq!(second["repositories"][0]["name"], json!("c"));
    assert_eq!(second["has_next"], json!(false));

    // Out-of-range values fall back as in Quay.
    let fallback = o.listing("?limit=0&page=-3").await;
    assert_eq!(
        (fallback["page"].clone(), fallback["limit"].clone()),
        (json!(1), json!(100))
    );
    assert_eq!(o.listing("?limit=9999").await["limit"], json!(500));
    assert_eq!(o.listing("?limit=abc").await["limit"], json!(100));
}

#[actix_web::test]
async fn deleting_a_mirrored_repository_its_robot_or_the_organization_leaves_a_consistent_mirror() {
    let o = Org::new(Auth::Anonymous).await;
    let image = o.up.image(&[]);
    o.up.tag("upstream/app", "v1", &image);
    o.up.tag("upstream/web", "v1", &image);
    o.configure(o.body()).await;
    o.pass().await;

    let (status, v) = o.call("DELETE", "/repository/orga/app", None).await;
    assert_eq!(status, 204, "{v}");
    let listing = o.listing("").await;
    let app = &listing["repositories"][0];
    assert_eq!(app["name"], json!("app"));
    assert_eq!(
        app["quay_repository"],
        Value::Null,
        "unlinked from the deleted repository"
    );

    let (status, v) = o.call("DELETE", "/organization/orga/robots/robot", None).await;
    assert_eq!(status, 204, "{v}");
    assert_eq!(o.view().await["robot_username"], Value::Null);

    let (status, v) = o.call("DELETE", "/organization/orga", None).await;
    assert_eq!(status, 204, "{v}");
    assert_eq!(o.call("GET", MIRROR, None).await.0, 404);
}
