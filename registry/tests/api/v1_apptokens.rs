//! App-specific tokens (quay-api.md §1.1, §2.1): `/api/v1/user/apptoken`
//! and `docker login` as `$app` with the token code.

use base64::Engine as _;
use reqwest::Response;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use crate::helpers::{api_token, sha256, RepoFixture};

/// Creates a token titled `title` with `token`; returns the `token` object.
async fn create(f: &RepoFixture, token: &str, title: &str) -> Value {
    let (status, body) = f
        .call("POST", "/user/apptoken", Some(token), Some(json!({"title": title})))
        .await;
    assert_eq!(status, 200, "creating app token {title}: {body}");
    body["token"].clone()
}

fn basic(user: &str, secret: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}"));
    format!("Basic {encoded}")
}

/// `GET /v2/auth` for `scope` with Basic `$app` + `code`.
async fn v2_auth(f: &RepoFixture, code: &str, scope: &str) -> Response {
    f.app
        .client
        .get(f.app.url(&format!("/v2/auth?service=registry&scope={scope}")))
        .header("Authorization", basic("$app", code))
        .send()
        .await
        .expect("GET /v2/auth")
}

/// A registry with user `alice` (all-scope API token) and her private
/// repository `alice/app` holding tag `v1`.
async fn fixture(extra_yaml: &str) -> (RepoFixture, String) {
    let f = RepoFixture::with_config(extra_yaml).await;
    let (_, token) = f.user("alice").await;
    f.create_repo(&token, "alice", "app", "private").await;
    f.push_tag("alice/app", "v1").await;
    (f, token)
}

fn is_rfc_2822(date: &Value) -> bool {
    date.as_str()
        .is_some_and(|d| chrono::DateTime::parse_from_rfc2822(d).is_ok())
}

#[actix_web::test]
async fn a_new_token_shows_its_120_character_code_and_reading_it_shows_it_again() {
    let (f, token) = fixture("").await;
    let created = create(&f, &token, "CI pipeline").await;
    let code = created["token_code"].as_str().expect("token_code");
    assert_eq!(code.len(), 120);
    assert_eq!(created["title"], "CI pipeline");
    assert!(is_rfc_2822(&created["created"]), "{created}");
    assert_eq!(created["expiration"], Value::Null, "no APP_SPECIFIC_TOKEN_EXPIRATION");
    assert_eq!(created["last_accessed"], Value::Null);
    let uuid = created["uuid"].as_str().expect("uuid");

    let (status, list) = f.call("GET", "/user/apptoken", Some(&token), None).await;
    assert_eq!(status, 200);
    assert_eq!(list["only_expiring"], false);
    let tokens = list["tokens"].as_array().expect("tokens");
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0]["uuid"], uuid);
    assert!(tokens[0].get("token_code").is_none(), "no secrets in lists: {list}");

    let (status, one) = f
        .call("GET", &format!("/user/apptoken/{uuid}"), Some(&token), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(one["token"]["title"], "CI pipeline");
    assert_eq!(one["token"]["token_code"], code, "the owner sees the same code again");
}

#[actix_web::test]
async fn the_secret_half_is_stored_hashed_and_encrypted_never_in_clear() {
    use diesel::prelude::*;
    use registry::db::schema::appspecificauthtoken as t;

    let (f, token) = fixture("").await;
    let code = create(&f, &token, "ci").await["token_code"]
        .as_str()
        .expect("code")
        .to_owned();
    let (name, secret_hash, encrypted): (String, String, Option<String>) = f
        .services
        .db()
        .read(|c| {
            Ok(t::table
                .select((t::token_name, t::token_secret_sha256, t::token_secret_encrypted))
                .first(c)?)
        })
        .await
        .expect("token row");
    assert_eq!(name, code[..60]);
    assert_eq!(secret_hash, hex::encode(Sha256::digest(&code.as_bytes()[60..])));
    let encrypted = encrypted.expect("an encrypted copy");
    assert!(encrypted.starts_with("v0$$"), "Quay's field format: {encrypted}");
    assert!(!encrypted.contains(&code[60..]));
    let decrypted = f.services.decrypt_field(&encrypted).await.expect("decrypts");
    assert_eq!(decrypted, code[60..]);
}

#[actix_web::test]
async fn a_token_kept_only_as_a_hash_still_logs_in_but_its_code_is_not_shown() {
    use diesel::prelude::*;
    use registry::db::schema::appspecificauthtoken as t;

    let (f, token) = fixture("").await;
    let created = create(&f, &token, "old").await;
    let code = created["token_code"].as_str().expect("code").to_owned();
    let uuid = created["uuid"].as_str().expect("uuid").to_owned();
    // A row from before codes were kept encrypted.
    f.services
        .db()
        .write(|c| {
            diesel::update(t::table)
                .set(t::token_secret_encrypted.eq(None::<String>))
                .execute(c)?;
            Ok::<_, registry::service::Error>(())
        })
        .await
        .expect("clear the encrypted copy");
    let (status, one) = f
        .call("GET", &format!("/user/apptoken/{uuid}"), Some(&token), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(one["token"]["title"], "old");
    assert!(one["token"].get("token_code").is_none(), "{one}");
    let res = v2_auth(&f, &code, "repository:alice/app:pull").await;
    assert_eq!(res.status(), 200, "still logs in");
}

#[actix_web::test]
async fn the_token_logs_in_as_app_with_the_users_pull_and_push_rights() {
    let (f, token) = fixture("").await;
    let code = create(&f, &token, "ci").await["token_code"]
        .as_str()
        .expect("code")
        .to_owned();
    let res = v2_auth(&f, &code, "repository:alice/app:pull,push").await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.expect("token JSON");
    let jwt = body["token"].as_str().expect("token");

    let res = f
        .app
        .client
        .get(f.app.url("/v2/alice/app/manifests/v1"))
        .header("Accept", crate::helpers::OCI_MANIFEST)
        .bearer_auth(jwt)
        .send()
        .await
        .expect("pull");
    assert_eq!(res.status(), 200, "pull with the $app token");
    let blob = b"pushed with an app token".to_vec();
    let digest = sha256(&blob);
    let res = f
        .app
        .client
        .post(f.app.url(&format!("/v2/alice/app/blobs/uploads/?digest={digest}")))
        .header("Content-Type", "application/octet-stream")
        .bearer_auth(jwt)
        .body(blob)
        .send()
        .await
        .expect("push");
    assert_eq!(res.status(), 201, "push with the $app token");

    let res = f
        .app
        .client
        .get(f.app.url("/v2/alice/app/manifests/v1"))
        .header("Accept", crate::helpers::OCI_MANIFEST)
        .header("Authorization", basic("$app", &code))
        .send()
        .await
        .expect("pull with Basic");
    assert_eq!(res.status(), 200, "Basic $app on /v2");

    let (_, list) = f.call("GET", "/user/apptoken", Some(&token), None).await;
    assert!(is_rfc_2822(&list["tokens"][0]["last_accessed"]), "{list}");
}

#[actix_web::test]
async fn a_wrong_or_revoked_token_is_refused() {
    let (f, token) = fixture("").await;
    let created = create(&f, &token, "ci").await;
    let code = created["token_code"].as_str().expect("code").to_owned();
    let uuid = created["uuid"].as_str().expect("uuid").to_owned();
    let wrong = format!("{}{}", &code[..60], "x".repeat(60));
    assert_eq!(v2_auth(&f, &wrong, "repository:alice/app:pull").await.status(), 401);

    let (status, _) = f
        .call("DELETE", &format!("/user/apptoken/{uuid}"), Some(&token), None)
        .await;
    assert_eq!(status, 204);
    assert_eq!(v2_auth(&f, &code, "repository:alice/app:pull").await.status(), 401);
    let (status, _) = f
        .call("DELETE", &format!("/user/apptoken/{uuid}"), Some(&token), None)
        .await;
    assert_eq!(status, 404);
}

/// Moves the expiration of every app token to `ms`.
async fn set_expiration(f: &RepoFixture, ms: i64) {
    use diesel::prelude::*;
    use registry::db::schema::appspecificauthtoken as t;

    f.services
        .db()
        .write(move |c| {
            diesel::update(t::table).set(t::expiration_ms.eq(ms)).execute(c)?;
            Ok::<_, registry::service::Error>(())
        })
        .await
        .expect("set the expiration");
}

#[actix_web::test]
async fn tokens_expire_after_app_specific_token_expiration() {
    let (f, token) = fixture("APP_SPECIFIC_TOKEN_EXPIRATION: 10d\n").await;
    let created = create(&f, &token, "ci").await;
    let expiration = created["expiration"].as_str().expect("an expiration date");
    let expires = chrono::DateTime::parse_from_rfc2822(expiration).expect("RFC 2822");
    let days = (expires.timestamp() - chrono::Utc::now().timestamp()) / 86_400;
    assert!((9..=10).contains(&days), "{expiration}");
    let (_, list) = f.call("GET", "/user/apptoken?expiring=true", Some(&token), None).await;
    assert_eq!(list["only_expiring"], true);
    assert_eq!(list["tokens"], json!([]), "10 days is not soon");

    set_expiration(&f, registry::now_ms() + 3600 * 1000).await;
    let (_, list) = f.call("GET", "/user/apptoken?expiring=true", Some(&token), None).await;
    assert_eq!(list["tokens"].as_array().map(Vec::len), Some(1), "{list}");

    set_expiration(&f, registry::now_ms() - 1000).await;
    let code = created["token_code"].as_str().expect("code");
    assert_eq!(v2_auth(&f, code, "repository:alice/app:pull").await.status(), 401);
}

#[actix_web::test]
async fn another_users_token_is_not_found() {
    let (f, alice) = fixture("").await;
    let (_, bob) = f.user("bob").await;
    let uuid = create(&f, &alice, "ci").await["uuid"]
        .as_str()
        .expect("uuid")
        .to_owned();
    for method in ["GET", "DELETE"] {
        let (status, _) = f
            .call(method, &format!("/user/apptoken/{uuid}"), Some(&bob), None)
            .await;
        assert_eq!(status, 404, "{method}");
    }
    let (_, list) = f.call("GET", "/user/apptoken", Some(&bob), None).await;
    assert_eq!(list["tokens"], json!([]));
    let (status, _) = f
        .call("GET", &format!("/user/apptoken/{uuid}"), Some(&alice), None)
        .await;
    assert_eq!(status, 200, "still there for alice");
}

#[actix_web::test]
async fn a_disabled_users_tokens_are_refused() {
    let (f, token) = fixture("").await;
    let code = create(&f, &token, "ci").await["token_code"]
        .as_str()
        .expect("code")
        .to_owned();
    let alice = f.services.account("alice").await.expect("lookup").expect("alice");
    let disable = registry::service::UserUpdate {
        enabled: Some(false),
        ..Default::default()
    };
    f.services.update_user(&alice, disable).await.expect("disable");
    assert_eq!(v2_auth(&f, &code, "repository:alice/app:pull").await.status(), 401);
}

#[actix_web::test]
async fn the_endpoints_need_the_user_admin_scope_and_a_title() {
    let (f, token) = fixture("").await;
    let alice = f.services.account("alice").await.expect("lookup").expect("alice");
    let reader = api_token(&f.app, &alice, "user:read").await;
    for (method, body) in [("GET", None), ("POST", Some(json!({"title": "ci"})))] {
        let (status, _) = f.call(method, "/user/apptoken", Some(&reader), body.clone()).await;
        assert_eq!(status, 403, "{method} with user:read");
        let (status, _) = f.call(method, "/user/apptoken", None, body).await;
        assert_eq!(status, 401, "{method} anonymous");
    }
    let (status, body) = f
        .call("POST", "/user/apptoken", Some(&token), Some(json!({"title": " "})))
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = f.call("POST", "/user/apptoken", Some(&token), Some(json!({}))).await;
    assert_eq!(status, 400);
}

#[actix_web::test]
async fn with_the_feature_off_the_endpoints_and_app_logins_are_gone() {
    let (f, token) = fixture("FEATURE_APP_SPECIFIC_TOKENS: false\n").await;
    for (method, path) in [
        ("GET", "/user/apptoken"),
        ("POST", "/user/apptoken"),
        ("GET", "/user/apptoken/x"),
    ] {
        let (status, _) = f.call(method, path, Some(&token), Some(json!({"title": "ci"}))).await;
        assert_eq!(status, 404, "{method} {path}");
    }
    let alice = f.services.account("alice").await.expect("lookup").expect("alice");
    let (_, code) = f
        .services
        .create_app_token(&alice, "made earlier")
        .await
        .expect("token");
    assert_eq!(v2_auth(&f, &code, "repository:alice/app:pull").await.status(), 401);
}
