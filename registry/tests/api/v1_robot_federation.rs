//! Robot identity federation: `/organization/{org}/robots/{short}/federation`,
//! `/user/robots/{short}/federation`
//! and the exchange of an external OIDC token at
//! `/oauth2/federation/robot/token`, against an issuer served in the test.

use std::net::TcpListener;

use actix_web::web;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};

use crate::helpers::{assert_api_error, RepoFixture};
use crate::v1_logs::{logs, of_kind};

const SUBJECT: &str = "repo:acme/app:ref:refs/heads/main";

/// An OIDC issuer on 127.0.0.1 publishing one P-256 key.
struct Issuer {
    url: String,
    key: rcgen::KeyPair,
    kid: String,
}

fn jwk_of(key: &rcgen::KeyPair, kid: &str) -> Value {
    let point = key.public_key_raw();
    json!({"kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": kid,
           "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..65])})
}

impl Issuer {
    fn start() -> Issuer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind issuer");
        let url = format!("http://127.0.0.1:{}", listener.local_addr().expect("addr").port());
        let key = rcgen::KeyPair::generate().expect("key pair");
        let kid = "test-key".to_owned();
        let discovery = json!({"issuer": url, "jwks_uri": format!("{url}/jwks")});
        let jwks = json!({"keys": [jwk_of(&key, &kid)]});
        let server = actix_web::HttpServer::new(move || {
            let (d, k) = (discovery.clone(), jwks.clone());
            actix_web::App::new()
                .route(
                    "/.well-known/openid-configuration",
                    web::get().to(move || {
                        let d = d.clone();
                        async move { web::Json(d) }
                    }),
                )
                .route(
                    "/jwks",
                    web::get().to(move || {
                        let k = k.clone();
                        async move { web::Json(k) }
                    }),
                )
        })
        .workers(1)
        .listen(listener)
        .expect("listen issuer")
        .run();
        actix_web::rt::spawn(server);
        Issuer { url, key, kid }
    }

    /// A token of this issuer for `subject`, signed with `key`.
    fn token_signed(&self, key: &rcgen::KeyPair, issuer: &str, subject: &str) -> String {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        let now = chrono::Utc::now().timestamp();
        let claims = json!({"iss": issuer, "sub": subject, "aud": "quay", "iat": now, "exp": now + 600});
        let encoding = jsonwebtoken::EncodingKey::from_ec_pem(key.serialize_pem().as_bytes()).expect("EC key");
        jsonwebtoken::encode(&header, &claims, &encoding).expect("sign")
    }

    fn token(&self, subject: &str) -> String {
        self.token_signed(&self.key, &self.url, subject)
    }
}

/// Organization `acme` (owner `owner`) with robot `acme+ci`; tokens of the
/// owner and of `joe`, who is not in the organization.
async fn fixture() -> (RepoFixture, String, String) {
    let f = RepoFixture::new().await;
    let (owner, owner_token) = f.user("owner").await;
    let (_, joe) = f.user("joe").await;
    let org = f.org(&owner, "acme").await;
    f.robot(&org, "ci").await;
    (f, owner_token, joe)
}

const PATH: &str = "/organization/acme/robots/ci/federation";

async fn exchange(f: &RepoFixture, robot: &str, token: &str) -> (u16, Value) {
    let res = f
        .app
        .client
        .get(f.app.url("/oauth2/federation/robot/token"))
        .basic_auth(robot, Some(token))
        .send()
        .await
        .expect("exchange");
    let status = res.status().as_u16();
    (status, res.json().await.expect("JSON body"))
}

async fn registry_login(f: &RepoFixture, robot: &str, password: &str) -> u16 {
    f.app
        .client
        .get(f.app.url("/v2/auth?service=registry&scope=repository:acme/app:pull"))
        .basic_auth(robot, Some(password))
        .send()
        .await
        .expect("/v2/auth")
        .status()
        .as_u16()
}

#[actix_web::test]
async fn an_org_admin_sets_reads_and_deletes_a_robots_federation() {
    let (f, owner, _) = fixture().await;
    let (status, empty) = f.call("GET", PATH, Some(&owner), None).await;
    assert_eq!((status, empty), (200, json!([])));

    let config = json!([{"issuer": "https://token.actions.githubusercontent.com", "subject": SUBJECT, "extra": 1}]);
    let (status, saved) = f.call("POST", PATH, Some(&owner), Some(config)).await;
    assert_eq!(status, 200, "{saved}");
    let expected = json!([{"issuer": "https://token.actions.githubusercontent.com", "subject": SUBJECT}]);
    assert_eq!(saved, expected);
    let (_, read) = f.call("GET", PATH, Some(&owner), None).await;
    assert_eq!(read, expected);

    let (status, _) = f.call("DELETE", PATH, Some(&owner), None).await;
    assert_eq!(status, 204);
    let (_, read) = f.call("GET", PATH, Some(&owner), None).await;
    assert_eq!(read, json!([]));

    let entries = logs(&f, "/organization/acme/logs", &owner).await;
    for kind in ["create_robot_federation", "delete_robot_federation"] {
        let found = of_kind(&entries, kind);
        assert_eq!(found.len(), 1, "{kind} in {entries:?}");
        assert_eq!(found[0]["metadata"]["robot"], "ci");
    }
}

#[actix_web::test]
async fn only_org_admins_touch_a_robots_federation() {
    let (f, owner, joe) = fixture().await;
    let config = json!([{"issuer": "https://issuer.example", "subject": "s"}]);
    let (status, _) = f.call("POST", PATH, Some(&owner), Some(config.clone())).await;
    assert_eq!(status, 200);
    use reqwest::Method as M;
    for (method, body) in [(M::GET, None), (M::POST, Some(json!([]))), (M::DELETE, None)] {
        let mut anonymous = f
            .app
            .client
            .request(method.clone(), f.app.url(&format!("/api/v1{PATH}")));
        let mut other = f
            .app
            .client
            .request(method, f.app.url(&format!("/api/v1{PATH}")))
            .bearer_auth(&joe);
        if let Some(b) = &body {
            anonymous = anonymous.json(b);
            other = other.json(b);
        }
        assert_api_error(anonymous.send().await.expect("send"), 401, "invalid_token").await;
        assert_api_error(other.send().await.expect("send"), 403, "insufficient_scope").await;
    }
    let (_, read) = f.call("GET", PATH, Some(&owner), None).await;
    assert_eq!(read, config, "unchanged");
}

#[actix_web::test]
async fn bad_federation_configs_are_refused() {
    let (f, owner, _) = fixture().await;
    for bad in [
        json!([{"issuer": "https://issuer.example"}]),
        json!([{"issuer": "issuer.example", "subject": "s"}]),
        json!([{"issuer": "https://i", "subject": "s"}, {"issuer": "https://i", "subject": "s"}]),
        json!({"issuer": "https://i", "subject": "s"}),
    ] {
        let res = f
            .app
            .client
            .post(f.app.url(&format!("/api/v1{PATH}")))
            .bearer_auth(&owner)
            .json(&bad)
            .send()
            .await
            .expect("send");
        assert_api_error(res, 400, "invalid_request").await;
    }
    let (status, _) = f
        .call("GET", "/organization/acme/robots/nobody/federation", Some(&owner), None)
        .await;
    assert_eq!(status, 400, "a missing robot is a 400, as in Quay");
}

#[actix_web::test]
async fn a_trusted_oidc_token_becomes_a_robot_password() {
    let issuer = Issuer::start();
    let (f, owner, _) = fixture().await;
    let config = json!([{"issuer": issuer.url, "subject": SUBJECT}]);
    let (status, _) = f.call("POST", PATH, Some(&owner), Some(config)).await;
    assert_eq!(status, 200);

    let (status, body) = exchange(&f, "acme+ci", &issuer.token(SUBJECT)).await;
    assert_eq!(status, 200, "{body}");
    let robot_token = body["token"].as_str().expect("token").to_owned();
    assert_eq!(registry_login(&f, "acme+ci", &robot_token).await, 200);
    assert_eq!(registry_login(&f, "acme+ci", "not-the-token").await, 401);

    let entries = logs(&f, "/organization/acme/logs", &owner).await;
    let exchanged = of_kind(&entries, "federated_robot_token_exchange");
    assert_eq!(exchanged.len(), 1, "{entries:?}");
    let exchanged = exchanged[0];
    assert_eq!(exchanged["metadata"]["subject"], SUBJECT);
    assert_eq!(exchanged["metadata"]["issuer"], issuer.url.as_str());
    assert_eq!(exchanged["ip"], "127.0.0.1");
    assert_eq!(exchanged["performer"]["name"], "acme+ci");
    assert_eq!(exchanged["metadata"]["robot"], "ci");
}

#[actix_web::test]
async fn untrusted_oidc_tokens_are_refused() {
    let issuer = Issuer::start();
    let (f, owner, _) = fixture().await;
    let (status, body) = exchange(&f, "acme+ci", &issuer.token(SUBJECT)).await;
    assert_eq!(
        (status, body["error"].clone()),
        (401, json!("Robot does not have federated login configured"))
    );

    let config = json!([{"issuer": issuer.url, "subject": SUBJECT}]);
    f.call("POST", PATH, Some(&owner), Some(config)).await;
    let (status, body) = exchange(&f, "acme+ci", &issuer.token("repo:evil/app:ref:refs/heads/main")).await;
    assert_eq!(
        (status, body["error"].clone()),
        (401, json!("Token does not match robot"))
    );

    let forged = rcgen::KeyPair::generate().expect("key");
    let (status, body) = exchange(&f, "acme+ci", &issuer.token_signed(&forged, &issuer.url, SUBJECT)).await;
    assert_eq!(status, 401, "a token not signed by the issuer: {body}");

    let (status, body) = exchange(
        &f,
        "acme+ci",
        &issuer.token_signed(&issuer.key, "https://other.example", SUBJECT),
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body["error"].as_str().is_some_and(|e| e.contains("not configured")),
        "{body}"
    );

    let (status, _) = exchange(&f, "owner", &issuer.token(SUBJECT)).await;
    assert_eq!(status, 401, "only robots federate");
    let (status, _) = exchange(&f, "acme+nobody", &issuer.token(SUBJECT)).await;
    assert_eq!(status, 401);
    let res = f
        .app
        .client
        .get(f.app.url("/oauth2/federation/robot/token"))
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), 401);

    f.call("DELETE", PATH, Some(&owner), None).await;
    let (status, _) = exchange(&f, "acme+ci", &issuer.token(SUBJECT)).await;
    assert_eq!(status, 401, "deleting the config stops the exchange");
}

#[actix_web::test]
async fn users_federate_their_own_robots_only() {
    let issuer = Issuer::start();
    let (f, _, joe) = fixture().await;
    let joe_account = f.services.account("joe").await.expect("lookup").expect("joe");
    f.robot(&joe_account, "deploy").await;
    let path = "/user/robots/deploy/federation";
    let config = json!([{"issuer": issuer.url, "subject": SUBJECT}]);
    let (status, saved) = f.call("POST", path, Some(&joe), Some(config)).await;
    assert_eq!(status, 200, "{saved}");
    let (_, read) = f.call("GET", path, Some(&joe), None).await;
    assert_eq!(read[0]["subject"], SUBJECT);

    // The exchange works for a user's robot as for an organization's.
    let (status, body) = exchange(&f, "joe+deploy", &issuer.token(SUBJECT)).await;
    assert_eq!(status, 200, "{body}");

    // The owner of `acme` has no robot `deploy` in their own namespace, and
    // nobody reaches anybody's robots anonymously.
    let owner_account = f.services.account("owner").await.expect("lookup").expect("owner");
    let owner = f.token(&owner_account, "all").await;
    let (status, _) = f.call("GET", path, Some(&owner), None).await;
    assert_eq!(status, 400, "another user's robot is not theirs");
    let (status, _) = f.call("GET", path, None, None).await;
    assert_eq!(status, 401);
    let (status, _) = f.call("DELETE", path, Some(&joe), None).await;
    assert_eq!(status, 204);
}

#[actix_web::test]
async fn an_issuer_that_cannot_be_reached_is_a_503_not_a_refusal() {
    let issuer = Issuer::start();
    let down = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://127.0.0.1:{}", listener.local_addr().expect("addr").port())
    };
    let (f, owner, _) = fixture().await;
    let config = json!([{"issuer": down, "subject": SUBJECT}]);
    assert_eq!(f.call("POST", PATH, Some(&owner), Some(config)).await.0, 200);
    let token = issuer.token_signed(&issuer.key, &down, SUBJECT);
    let (status, body) = exchange(&f, "acme+ci", &token).await;
    assert_eq!(status, 503, "{body}");
}
