//! Proxy-cache configuration (`/api/v1/organization/{org}/proxycache` and
//! `…/validateproxycache`, quay-api.md §1.3): the feature flag, who may read
//! and change it, one cache per organization, encrypted credentials, and
//! validation against a real (stand-in) upstream in each auth mode.

use serde_json::{json, Value};

use crate::helpers::RepoFixture;
use crate::proxy_upstream::{Auth, MockUpstream, PASSWORD, USER};

const CACHE: &str = "/organization/acme/proxycache";
const VALIDATE: &str = "/organization/acme/validateproxycache";
pub(crate) const PROXY_ON: &str =
    "FEATURE_PROXY_CACHE: true\nSSRF_ALLOWED_HOSTS: [\"127.0.0.1\"]\nSUPER_USERS: [root]\n";
const FAILED_LOGIN: &str = "Failed login to remote registry. Please verify entered details and try again.";

/// `owner` owns `acme`; `carol` is in its `readers` team; `bob` is in no
/// team; `root` is a superuser. Tokens carry every scope.
pub(crate) struct Org {
    pub f: RepoFixture,
    pub owner: String,
    pub carol: String,
    pub bob: String,
    pub root: String,
}

pub(crate) async fn org_with(config: &str) -> Org {
    let f = RepoFixture::with_config(config).await;
    let (owner_account, owner) = f.user("owner").await;
    let (_, carol) = f.user("carol").await;
    let (_, bob) = f.user("bob").await;
    let (_, root) = f.user("root").await;
    let org = f.org(&owner_account, "acme").await;
    f.team(&owner_account, &org, "readers", "member", &["carol"]).await;
    Org {
        f,
        owner,
        carol,
        bob,
        root,
    }
}

fn detail(v: &Value) -> &str {
    v["error_message"].as_str().unwrap_or_default()
}

#[actix_web::test]
async fn without_the_feature_every_proxy_cache_route_is_not_found() {
    let o = org_with("").await;
    let body = json!({"upstream_registry": "quay.io"});
    for (method, path, body) in [
        ("GET", CACHE, None),
        ("POST", CACHE, Some(body.clone())),
        ("DELETE", CACHE, None),
        ("POST", VALIDATE, Some(body)),
    ] {
        let (status, v) = o.f.call(method, path, Some(&o.owner), body).await;
        assert_eq!(status, 404, "{method} {path}: {v}");
    }
}

#[actix_web::test]
async fn an_admin_creates_reads_and_deletes_the_configuration() {
    let o = org_with(PROXY_ON).await;
    let (status, v) = o.f.call("GET", CACHE, Some(&o.owner), None).await;
    assert_eq!(
        (status, v),
        (
            200,
            json!({"upstream_registry": "", "expiration_s": "", "insecure": ""})
        )
    );

    let body = json!({"upstream_registry": "127.0.0.1:5000/library"});
    let (status, v) = o.f.call("POST", CACHE, Some(&o.owner), Some(body)).await;
    assert_eq!((status, v), (201, json!("Created")));
    let (status, v) = o.f.call("GET", CACHE, Some(&o.carol), None).await;
    assert_eq!(
        (status, v),
        (
            200,
            json!({"upstream_registry": "127.0.0.1:5000/library", "expiration_s": 86400, "insecure": false})
        )
    );

    let (status, v) = o.f.call("DELETE", CACHE, Some(&o.owner), None).await;
    assert_eq!((status, v), (201, json!("Deleted")));
    let (status, v) = o.f.call("DELETE", CACHE, Some(&o.owner), None).await;
    assert_eq!(status, 404, "{v}");
    let (_, v) = o.f.call("GET", CACHE, Some(&o.owner), None).await;
    assert_eq!(v["upstream_registry"], "");
}

#[actix_web::test]
async fn a_second_configuration_is_refused_and_credentials_need_a_new_one() {
    let o = org_with(PROXY_ON).await;
    let first = json!({"upstream_registry": "127.0.0.1:5000", "expiration_s": 3600, "insecure": true});
    assert_eq!(o.f.call("POST", CACHE, Some(&o.owner), Some(first)).await.0, 201);
    let with_credentials = json!({
        "upstream_registry": "127.0.0.1:5000",
        "upstream_registry_username": "u",
        "upstream_registry_password": "p",
    });
    let (status, v) =
        o.f.call("POST", CACHE, Some(&o.owner), Some(with_credentials.clone()))
            .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(detail(&v), "Proxy Cache Configuration already exists");
    let (_, v) = o.f.call("GET", CACHE, Some(&o.owner), None).await;
    assert_eq!(
        v,
        json!({"upstream_registry": "127.0.0.1:5000", "expiration_s": 3600, "insecure": true})
    );

    assert_eq!(o.f.call("DELETE", CACHE, Some(&o.owner), None).await.0, 201);
    assert_eq!(
        o.f.call("POST", CACHE, Some(&o.owner), Some(with_credentials)).await.0,
        201
    );
}

#[actix_web::test]
async fn credentials_are_stored_encrypted_and_never_shown() {
    let o = org_with(PROXY_ON).await;
    let body = json!({
        "upstream_registry": "127.0.0.1:5000",
        "upstream_registry_username": "cache-user",
        "upstream_registry_password": "s3cret-pass",
    });
    assert_eq!(o.f.call("POST", CACHE, Some(&o.owner), Some(body)).await.0, 201);
    let (_, v) = o.f.call("GET", CACHE, Some(&o.owner), None).await;
    assert!(
        !v.to_string().contains("cache-user") && !v.to_string().contains("s3cret"),
        "{v}"
    );

    let org = o.f.services.account("acme").await.expect("lookup").expect("acme");
    let row =
        o.f.services
            .db()
            .read(move |c| Ok(registry::db::queries::proxy_cache::find(c, org.id)?))
            .await
            .expect("read config")
            .expect("config row");
    let (user, password) = (
        row.upstream_registry_username.expect("stored username"),
        row.upstream_registry_password.expect("stored password"),
    );
    assert!(
        !user.contains("cache-user") && !password.contains("s3cret-pass"),
        "stored in clear"
    );
    assert_eq!(o.f.services.decrypt_field(&user).await.expect("decrypt"), "cache-user");
    assert_eq!(
        o.f.services.decrypt_field(&password).await.expect("decrypt"),
        "s3cret-pass"
    );
}

#[actix_web::test]
async fn bad_upstreams_are_refused_with_a_clear_message() {
    let o = org_with("FEATURE_PROXY_CACHE: true\n").await;
    for bad in ["", "https://quay.io", "quay.io/Bad Name", "user@quay.io"] {
        let (status, v) =
            o.f.call("POST", CACHE, Some(&o.owner), Some(json!({"upstream_registry": bad})))
                .await;
        assert_eq!(status, 400, "{bad}: {v}");
        assert!(detail(&v).contains("Invalid upstream registry"), "{bad}: {v}");
    }
    for internal in ["127.0.0.1:5000", "localhost/library", "10.0.0.1"] {
        let (status, v) =
            o.f.call(
                "POST",
                CACHE,
                Some(&o.owner),
                Some(json!({"upstream_registry": internal})),
            )
            .await;
        assert_eq!(status, 400, "{internal}: {v}");
        assert_eq!(detail(&v), "The provided registry URL is not allowed", "{internal}");
    }
    let (status, v) = o.f.call("POST", CACHE, Some(&o.owner), Some(json!({}))).await;
    assert_eq!(status, 400, "missing upstream_registry: {v}");
    let body = json!({"upstream_registry": "quay.io", "expiration_s": 0});
    assert_eq!(o.f.call("POST", CACHE, Some(&o.owner), Some(body)).await.0, 400);
}

#[actix_web::test]
async fn only_members_read_and_only_admins_change_the_configuration() {
    let o = org_with(PROXY_ON).await;
    let body = json!({"upstream_registry": "127.0.0.1:5000"});
    let (status, _) = o.f.call("GET", CACHE, None, None).await;
    assert_eq!(status, 401);
    let (status, _) = o.f.call("GET", CACHE, Some(&o.bob), None).await;
    assert_eq!(status, 403, "a non-member reads");
    for token in [&o.carol, &o.bob, &o.root] {
        for (method, path) in [("POST", CACHE), ("DELETE", CACHE), ("POST", VALIDATE)] {
            let (status, v) = o.f.call(method, path, Some(token), Some(body.clone())).await;
            assert_eq!(status, 403, "{method} {path} by a non-admin: {v}");
        }
    }
    let (status, _) = o.f.call("POST", CACHE, None, Some(body.clone())).await;
    assert_eq!(status, 401);

    let owner = o.f.services.account("owner").await.expect("lookup").expect("owner");
    let read_only = o.f.token(&owner, "repo:read").await;
    let (status, _) = o.f.call("POST", CACHE, Some(&read_only), Some(body)).await;
    assert_eq!(status, 403, "a token without org:admin");
    assert_eq!(o.f.call("GET", CACHE, Some(&o.bob), None).await.0, 403);
    let (status, _) =
        o.f.call("GET", "/organization/nope/proxycache", Some(&o.owner), None)
            .await;
    assert_eq!(status, 404);
}

#[actix_web::test]
async fn superusers_with_full_access_manage_any_configuration() {
    let o = org_with(&format!("{PROXY_ON}FEATURE_SUPERUSERS_FULL_ACCESS: true\n")).await;
    let body = json!({"upstream_registry": "127.0.0.1:5000"});
    assert_eq!(o.f.call("POST", CACHE, Some(&o.root), Some(body)).await.0, 201);
    assert_eq!(o.f.call("GET", CACHE, Some(&o.root), None).await.0, 200);
    assert_eq!(o.f.call("DELETE", CACHE, Some(&o.root), None).await.0, 201);
}

async fn validate(o: &Org, upstream: &MockUpstream, credentials: Option<(&str, &str)>) -> (u16, Value) {
    let mut body = json!({"upstream_registry": upstream.host, "insecure": true});
    if let Some((u, p)) = credentials {
        body["upstream_registry_username"] = json!(u);
        body["upstream_registry_password"] = json!(p);
    }
    o.f.call("POST", VALIDATE, Some(&o.owner), Some(body)).await
}

#[actix_web::test]
async fn validation_answers_valid_for_an_open_upstream() {
    let o = org_with(PROXY_ON).await;
    let upstream = MockUpstream::start(Auth::Anonymous);
    assert_eq!(validate(&o, &upstream, None).await, (202, json!("Valid")));
}

#[actix_web::test]
async fn validation_logs_in_to_a_token_auth_upstream() {
    let o = org_with(PROXY_ON).await;
    let upstream = MockUpstream::start(Auth::Token);
    assert_eq!(
        validate(&o, &upstream, Some((USER, PASSWORD))).await,
        (202, json!("Valid"))
    );
    assert_eq!(validate(&o, &upstream, None).await, (202, json!("Anonymous")));
    let (status, v) = validate(&o, &upstream, Some((USER, "wrong"))).await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(detail(&v), FAILED_LOGIN);
    assert!(!v.to_string().contains("wrong"), "the password is echoed: {v}");
}

#[actix_web::test]
async fn validation_logs_in_to_a_basic_auth_upstream() {
    let o = org_with(PROXY_ON).await;
    let upstream = MockUpstream::start(Auth::Basic);
    assert_eq!(
        validate(&o, &upstream, Some((USER, PASSWORD))).await,
        (202, json!("Valid"))
    );
    for credentials in [Some((USER, "wrong")), None] {
        let (status, v) = validate(&o, &upstream, credentials).await;
        assert_eq!(status, 400, "{v}");
        assert_eq!(detail(&v), FAILED_LOGIN);
    }
}

#[actix_web::test]
async fn validation_of_an_unreachable_upstream_fails_clearly() {
    let o = org_with(PROXY_ON).await;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let body = json!({"upstream_registry": format!("127.0.0.1:{port}"), "insecure": true});
    let (status, v) = o.f.call("POST", VALIDATE, Some(&o.owner), Some(body)).await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(detail(&v), FAILED_LOGIN);
}

#[actix_web::test]
async fn a_token_realm_at_a_local_address_gets_no_credentials() {
    // Only 127.0.0.1 is allowed; the upstream names `localhost` (the same
    // server) as its token realm, which the SSRF check refuses.
    let o = org_with(PROXY_ON).await;
    let upstream = MockUpstream::start(Auth::Token);
    upstream.set_realm_host(&upstream.host.replace("127.0.0.1", "localhost"));
    upstream.take_requests();
    let (status, v) = validate(&o, &upstream, Some((USER, PASSWORD))).await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(detail(&v), FAILED_LOGIN);
    let requests = upstream.take_requests();
    assert!(
        !requests.iter().any(|r| r.contains("/token")),
        "the realm was contacted: {requests:?}"
    );
}

#[actix_web::test]
async fn an_upstream_that_does_not_resolve_is_stored_and_fails_validation_as_a_failed_login() {
    // `.invalid` never resolves (RFC 2606): not a forbidden host, just an
    // unreachable one, so it is stored as Quay stores it, and validation
    // says the login failed rather than that the URL is not allowed.
    let o = org_with("FEATURE_PROXY_CACHE: true\n").await;
    let body = json!({"upstream_registry": "registry.invalid/library"});
    let (status, v) = o.f.call("POST", VALIDATE, Some(&o.owner), Some(body.clone())).await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(detail(&v), FAILED_LOGIN);
    let (status, v) = o.f.call("POST", CACHE, Some(&o.owner), Some(body)).await;
    assert_eq!(status, 201, "{v}");
    let (status, v) = o.f.call("GET", CACHE, Some(&o.owner), None).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["upstream_registry"], "registry.invalid/library");
}
