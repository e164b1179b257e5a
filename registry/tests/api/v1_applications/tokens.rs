//! "Generate Token": minting, listing and revoking an application's
//! tokens, what scopes a caller may put in one, and that a minted token is
//! an ordinary OAuth token that never exceeds its user's rights.

use base64::Engine as _;
use serde_json::{json, Value};

use super::{client_id, world, world_with, APPS};

#[actix_web::test]
async fn a_minted_token_works_as_bearer_and_for_docker_login() {
    let w = world().await;
    let app = w.app("deployer").await;
    let (status, minted) = w.mint(&client_id(&app), &w.alice, "user:read repo:read").await;
    assert_eq!(status, 200, "{minted}");
    let token = minted["token"].as_str().expect("token").to_owned();
    assert_eq!(token.len(), 40);
    assert_eq!(minted["name"], "ci");
    assert_eq!(minted["scope"], "repo:read user:read");
    assert_eq!(minted["created_by"], "alice");
    assert_eq!(minted["last_accessed"], Value::Null);
    assert!(minted["uuid"].as_str().is_some_and(|u| !u.is_empty()), "{minted}");

    let (status, me) = w.f.call("GET", "/user/", Some(&token), None).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["username"], "alice");

    let basic = base64::engine::general_purpose::STANDARD.encode(format!("$oauthtoken:{token}"));
    let res = reqwest::Client::new()
        .get(w.f.app.url("/v2/auth?service=x"))
        .header("Authorization", format!("Basic {basic}"))
        .send()
        .await
        .expect("GET /v2/auth");
    assert_eq!(res.status(), 200, "docker login with $oauthtoken");

    // Using the token records when it was last used.
    let (status, list) =
        w.f.call(
            "GET",
            &format!("{APPS}/{}/tokens", client_id(&app)),
            Some(&w.alice),
            None,
        )
        .await;
    assert_eq!(status, 200, "{list}");
    let used = list["tokens"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["uuid"] == minted["uuid"]))
        .unwrap_or_else(|| panic!("minted token listed: {list}"));
    assert!(used["last_accessed"].is_string(), "{used}");
}

#[actix_web::test]
async fn the_token_list_shows_each_token_without_its_secret() {
    let w = world().await;
    let app = w.app("deployer").await;
    let id = client_id(&app);
    let first = w.minted(&id, "repo:read").await;
    let second = w.minted(&id, "repo:write").await;
    let (status, list) =
        w.f.call("GET", &format!("{APPS}/{id}/tokens"), Some(&w.alice), None)
            .await;
    assert_eq!(status, 200, "{list}");
    let tokens = list["tokens"].as_array().expect("tokens");
    assert_eq!(tokens.len(), 2, "{list}");
    for t in tokens {
        for field in [
            "uuid",
            "name",
            "scope",
            "expires_at",
            "created",
            "created_by",
            "last_accessed",
        ] {
            assert!(t.get(field).is_some(), "{field} missing in {t}");
        }
        assert!(t.get("token").is_none(), "{t}");
    }
    let text = list.to_string();
    assert!(
        !text.contains(&first[20..]) && !text.contains(&second[20..]),
        "secrets leak: {list}"
    );
    assert_eq!(tokens[0]["scope"], "repo:read");
    assert_eq!(tokens[1]["scope"], "repo:write");
}

#[actix_web::test]
async fn the_expiration_defaults_to_ten_years_and_is_capped_there() {
    let w = world().await;
    let app = w.app("deployer").await;
    let tokens = format!("{APPS}/{}/tokens", client_id(&app));
    let expires_s = |v: &Value| {
        let text = v["expires_at"].as_str().expect("expires_at");
        chrono::DateTime::parse_from_rfc2822(text)
            .unwrap_or_else(|e| panic!("{text}: {e}"))
            .timestamp()
    };
    let now = registry::now_ms() / 1000;
    let (_, default) = w.mint(&client_id(&app), &w.alice, "repo:read").await;
    let ten_years = 10 * 365 * 24 * 3600;
    assert!((expires_s(&default) - (now + ten_years)).abs() < 120, "{default}");

    let body = json!({"name": "short", "scope": "repo:read", "expiration": 3600});
    let (status, short) = w.f.call("POST", &tokens, Some(&w.alice), Some(body)).await;
    assert_eq!(status, 200, "{short}");
    assert!((expires_s(&short) - (now + 3600)).abs() < 120, "{short}");

    for expiration in [json!(0), json!(-5), json!(ten_years + 1), json!("soon")] {
        let body = json!({"name": "t", "scope": "repo:read", "expiration": expiration});
        let (status, res) = w.f.call("POST", &tokens, Some(&w.alice), Some(body)).await;
        assert_eq!(status, 400, "{expiration}: {res}");
    }
}

#[actix_web::test]
async fn token_names_and_scopes_are_validated() {
    let w = world().await;
    let app = w.app("deployer").await;
    let tokens = format!("{APPS}/{}/tokens", client_id(&app));
    for body in [
        json!({"name": "", "scope": "repo:read"}),
        json!({"name": "n".repeat(256), "scope": "repo:read"}),
        json!({"name": "t", "scope": "repo:read root:all"}),
        json!({"name": "t", "scope": ""}),
        json!({"name": "t"}),
        json!({"scope": "repo:read"}),
    ] {
        let (status, res) = w.f.call("POST", &tokens, Some(&w.alice), Some(body.clone())).await;
        assert_eq!(status, 400, "{body}: {res}");
        assert_eq!(res["error_type"], "invalid_request", "{body}: {res}");
    }
    let body = json!({"name": "n".repeat(255), "scope": "repo:read,user:read"});
    assert_eq!(w.f.call("POST", &tokens, Some(&w.alice), Some(body)).await.0, 200);
}

#[actix_web::test]
async fn a_deleted_token_is_refused_at_once() {
    let w = world().await;
    let app = w.app("deployer").await;
    let id = client_id(&app);
    let (_, minted) = w.mint(&id, &w.alice, "user:read").await;
    let token = minted["token"].as_str().expect("token");
    assert_eq!(w.f.call("GET", "/user/", Some(token), None).await.0, 200);
    let path = format!("{APPS}/{id}/tokens/{}", minted["uuid"].as_str().expect("uuid"));
    assert_eq!(
        w.f.call("DELETE", &path, Some(&w.bob), None).await.0,
        403,
        "only admins delete"
    );
    assert_eq!(w.f.call("DELETE", &path, Some(&w.alice), None).await.0, 204);
    let (status, body) = w.f.call("GET", "/user/", Some(token), None).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(w.f.call("DELETE", &path, Some(&w.alice), None).await.0, 404);
    let (_, list) =
        w.f.call("GET", &format!("{APPS}/{id}/tokens"), Some(&w.alice), None)
            .await;
    assert_eq!(list, json!({"tokens": []}));
}

#[actix_web::test]
async fn a_member_cannot_mint_org_admin_tokens() {
    let w = world().await;
    let app = w.app("deployer").await;
    let (status, body) = w.mint(&client_id(&app), &w.bob, "org:admin").await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = w.mint(&client_id(&app), &w.alice, "org:admin").await;
    assert_eq!(status, 200, "the admin may: {body}");
    let token = body["token"].as_str().expect("token");
    let (status, _) = w.f.call("GET", APPS, Some(token), None).await;
    assert_eq!(status, 200, "an org:admin token administers the org");
}

#[actix_web::test]
async fn a_non_superuser_cannot_mint_super_user_tokens() {
    let w = world_with("SUPER_USERS: [root]").await;
    let app = w.app("deployer").await;
    let (status, body) = w.mint(&client_id(&app), &w.alice, "super:user").await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error_type"], "insufficient_scope");

    // A superuser who administers the organization may.
    let (root, root_token) = w.f.user("root").await;
    let alice = w.f.services.account("alice").await.expect("lookup").expect("alice");
    let acme = w.f.services.account("acme").await.expect("lookup").expect("acme");
    w.f.team(&alice, &acme, "admins", "admin", &[&root.username]).await;
    let (status, body) = w.mint(&client_id(&app), &root_token, "super:user").await;
    assert_eq!(status, 200, "{body}");
    let token = body["token"].as_str().expect("token");
    let (status, users) = w.f.call("GET", "/superuser/users/", Some(token), None).await;
    assert_eq!(status, 200, "{users}");
}

#[actix_web::test]
async fn a_token_cannot_grant_scopes_the_calling_token_lacks() {
    let w = world().await;
    let app = w.app("deployer").await;
    let alice = w.f.services.account("alice").await.expect("lookup").expect("alice");
    let narrow = w.f.token(&alice, "org:admin").await;
    let (status, body) = w.mint(&client_id(&app), &narrow, "repo:write").await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = w.mint(&client_id(&app), &narrow, "org:admin").await;
    assert_eq!(status, 200, "{body}");
}

#[actix_web::test]
async fn a_minted_repo_read_token_cannot_push_or_create_a_repository() {
    let w = world().await;
    w.f.create_repo(&w.alice, "acme", "app", "private").await;
    w.f.push_tag("acme/app", "v1").await;
    let app = w.app("deployer").await;
    let token = w.minted(&client_id(&app), "repo:read").await;

    let (status, view) = w.f.call("GET", "/repository/acme/app", Some(&token), None).await;
    assert_eq!(status, 200, "it reads: {view}");
    assert_eq!(view["can_write"], false);
    let body = json!({"namespace": "acme", "repository": "new", "visibility": "private", "description": ""});
    assert_eq!(w.f.call("POST", "/repository", Some(&token), Some(body)).await.0, 403);
    let desc = json!({"description": "changed"});
    assert_eq!(
        w.f.call("PUT", "/repository/acme/app", Some(&token), Some(desc))
            .await
            .0,
        403
    );

    let basic = base64::engine::general_purpose::STANDARD.encode(format!("$oauthtoken:{token}"));
    let res = reqwest::Client::new()
        .get(w.f.app.url("/v2/auth?service=x&scope=repository:acme/app:pull,push"))
        .header("Authorization", format!("Basic {basic}"))
        .send()
        .await
        .expect("GET /v2/auth");
    assert_eq!(res.status(), 200);
    let jwt: Value = res.json().await.expect("token JSON");
    let claims = jwt["token"].as_str().and_then(|t| t.split('.').nth(1)).expect("JWT");
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(claims)
            .expect("claims base64"),
    )
    .expect("claims JSON");
    assert_eq!(claims["access"][0]["actions"], json!(["pull"]), "{claims}");

    let res = reqwest::Client::new()
        .post(w.f.app.url("/v2/acme/app/blobs/uploads/"))
        .header("Authorization", format!("Basic {basic}"))
        .send()
        .await
        .expect("POST upload");
    assert!(
        res.status() == 401 || res.status() == 403,
        "push with a repo:read token: {}",
        res.status()
    );
}

#[actix_web::test]
async fn a_minted_token_never_exceeds_the_users_own_rights() {
    let w = world().await;
    let (_, carol) = w.f.user("carol").await;
    w.f.create_repo(&carol, "carol", "secret", "private").await;
    let app = w.app("deployer").await;
    let token = w.minted(&client_id(&app), "repo:admin repo:create").await;
    assert_eq!(
        w.f.call("GET", "/repository/carol/secret", Some(&token), None).await.0,
        403
    );
    let body = json!({"namespace": "carol", "repository": "mine", "visibility": "private", "description": ""});
    assert_eq!(w.f.call("POST", "/repository", Some(&token), Some(body)).await.0, 403);
    assert_eq!(
        w.f.call("DELETE", "/repository/carol/secret", Some(&token), None)
            .await
            .0,
        403
    );
}

#[actix_web::test]
async fn an_application_holds_at_most_one_hundred_active_tokens() {
    let w = world().await;
    let app = w.app("deployer").await;
    let id = client_id(&app);
    let mut last = Value::Null;
    for _ in 0..registry::service::MAX_ACTIVE_TOKENS {
        let (status, body) = w.mint(&id, &w.alice, "repo:read").await;
        assert_eq!(status, 200, "{body}");
        last = body;
    }
    let (status, body) = w.mint(&id, &w.alice, "repo:read").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error_type"], "invalid_request");
    let path = format!("{APPS}/{id}/tokens/{}", last["uuid"].as_str().expect("uuid"));
    assert_eq!(w.f.call("DELETE", &path, Some(&w.alice), None).await.0, 204);
    assert_eq!(
        w.mint(&id, &w.alice, "repo:read").await.0,
        200,
        "room again after a delete"
    );
}
