//! Managed robot API tokens (`FEATURE_ROBOT_API_TOKENS`): the lifecycle
//! endpoints under `…/robots/{short}/tokens` and `…/mintable-scopes`, and
//! the `qro_` codes they mint, which log a robot in to the REST API and to
//! the registry within the token's scopes until revoked or expired.

use base64::Engine as _;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{age_sessions, grant_role, sign_in, Browser, Grantee, RepoFixture};
use crate::v1_logs::{logs, of_kind};

const FEATURE: &str = "FEATURE_ROBOT_API_TOKENS: true\n";
const ORG_TOKENS: &str = "/organization/acme/robots/ci/tokens";

/// A registry with robot tokens on: `alice` owns organization `acme`
/// (robot `acme+ci`, which may write to private `acme/app`, tag `v1`) and
/// has a robot of her own, `alice+mine`; `bob` is another user; `carol` is
/// a member of `acme` who is not an admin.
struct Setup {
    f: RepoFixture,
    /// Alice's all-scope OAuth token.
    alice_token: String,
    alice: Browser,
}

async fn setup(extra_yaml: &str) -> Setup {
    let f = RepoFixture::with_config(&format!("{FEATURE}{extra_yaml}")).await;
    let (alice, alice_token) = f.user("alice").await;
    f.user("bob").await;
    f.user("carol").await;
    let acme = f.org(&alice, "acme").await;
    f.robot(&acme, "ci").await;
    f.robot(&alice, "mine").await;
    f.team(&alice, &acme, "readers", "member", &["carol"]).await;
    f.create_repo(&alice_token, "acme", "app", "private").await;
    f.push_tag("acme/app", "v1").await;
    grant_role(&f.app, "acme/app", Grantee::Account("acme+ci"), "write").await;
    let alice = sign_in(&f.app, "alice", "password123").await;
    Setup { f, alice_token, alice }
}

/// `method /api/v1{path}` as a signed-in browser (anonymous when `None`);
/// the status and the JSON body (`null` when empty).
async fn as_browser(
    f: &RepoFixture,
    who: Option<&Browser>,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = f
        .app
        .client
        .request(method.clone(), f.app.url(&format!("/api/v1{path}")))
        .header("X-Requested-With", "XMLHttpRequest");
    if let Some(b) = who {
        req = req.header("Cookie", b.cookie_header()).header("X-CSRF-Token", &b.csrf);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let status = res.status().as_u16();
    let text = res.text().await.expect("response body");
    let value = match text.trim() {
        "" => Value::Null,
        t => serde_json::from_str(t).unwrap_or_else(|e| panic!("{method} {path}: {status} not JSON ({e}): {t}")),
    };
    (status, value)
}

/// Mints a token at `path` as `who`; panics unless 200. Returns the view.
async fn mint(f: &RepoFixture, who: &Browser, path: &str, body: Value) -> Value {
    let (status, created) = as_browser(f, Some(who), Method::POST, path, Some(body)).await;
    assert_eq!(status, 200, "POST {path}: {created}");
    created
}

fn code_of(created: &Value) -> String {
    created["token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token in {created}"))
        .to_owned()
}

fn basic(user: &str, secret: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}"));
    format!("Basic {encoded}")
}

/// `GET /v2/auth` for `scope` with Basic `user:secret`: the status and, on
/// success, the actions the token grants on the scope's repository.
async fn v2_auth(f: &RepoFixture, user: &str, secret: &str, scope: &str) -> (u16, Vec<String>) {
    let res = f
        .app
        .client
        .get(f.app.url(&format!("/v2/auth?service=registry&scope={scope}")))
        .header("Authorization", basic(user, secret))
        .send()
        .await
        .expect("GET /v2/auth");
    let status = res.status().as_u16();
    if status != 200 {
        return (status, Vec::new());
    }
    let body: Value = res.json().await.expect("token JSON");
    let jwt = body["token"].as_str().expect("token");
    let payload = jwt.split('.').nth(1).expect("JWT payload");
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("base64url payload"),
    )
    .expect("JSON claims");
    let actions = claims["access"][0]["actions"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    (status, actions)
}

/// Status of `GET /api/v1{path}` with `token` as bearer.
async fn bearer_get(f: &RepoFixture, token: &str, path: &str) -> u16 {
    f.call("GET", path, Some(token), None).await.0
}

#[actix_web::test]
async fn the_endpoints_are_not_found_when_the_feature_is_off() {
    let f = RepoFixture::new().await;
    let (alice, _) = f.user("alice").await;
    f.robot(&alice, "mine").await;
    let browser = sign_in(&f.app, "alice", "password123").await;
    for (method, path) in [
        (Method::GET, "/user/robots/mine/mintable-scopes"),
        (Method::GET, "/user/robots/mine/tokens"),
        (Method::POST, "/user/robots/mine/tokens"),
        (Method::DELETE, "/user/robots/mine/tokens/some-uuid"),
    ] {
        let body = (method == Method::POST).then(|| json!({"name": "ci", "scope": "repo:read"}));
        let (status, _) = as_browser(&f, Some(&browser), method.clone(), path, body).await;
        assert_eq!(status, 404, "{method} {path}");
    }
}

#[actix_web::test]
async fn anonymous_callers_and_bearer_tokens_are_refused_with_401() {
    let s = setup("").await;
    let paths = [
        (Method::GET, "/organization/acme/robots/ci/mintable-scopes"),
        (Method::GET, ORG_TOKENS),
        (Method::POST, ORG_TOKENS),
        (Method::DELETE, "/organization/acme/robots/ci/tokens/some-uuid"),
        (Method::GET, "/user/robots/mine/tokens"),
        (Method::POST, "/user/robots/mine/tokens"),
    ];
    for (method, path) in paths {
        let body = (method == Method::POST).then(|| json!({"name": "ci", "scope": "repo:read"}));
        let (status, err) = as_browser(&s.f, None, method.clone(), path, body.clone()).await;
        assert_eq!(status, 401, "anonymous {method} {path}: {err}");
        // Only a browser session mints tokens: not even the admin's own
        // all-scope OAuth token may.
        let (status, err) = s.f.call(method.as_str(), path, Some(&s.alice_token), body).await;
        assert_eq!(status, 401, "bearer {method} {path}: {err}");
        assert_eq!(
            err["error_message"],
            "Method requires login and no valid login could be loaded."
        );
    }
}

#[actix_web::test]
async fn another_user_and_a_member_who_is_not_admin_are_refused_with_403() {
    let s = setup("").await;
    let created = mint(&s.f, &s.alice, ORG_TOKENS, json!({"name": "ci", "scope": "repo:read"})).await;
    let delete_path = format!("{ORG_TOKENS}/{}", created["uuid"].as_str().expect("uuid"));
    for who in ["bob", "carol"] {
        let browser = sign_in(&s.f.app, who, "password123").await;
        for (method, path) in [
            (Method::GET, "/organization/acme/robots/ci/mintable-scopes"),
            (Method::GET, ORG_TOKENS),
            (Method::POST, ORG_TOKENS),
            (Method::DELETE, delete_path.as_str()),
        ] {
            let body = (method == Method::POST).then(|| json!({"name": "x", "scope": "repo:read"}));
            let (status, err) = as_browser(&s.f, Some(&browser), method.clone(), path, body).await;
            assert_eq!(status, 403, "{who}: {method} {path}: {err}");
        }
    }
    // Bob's own robots are his: alice's robot is not found under /user.
    let bob = sign_in(&s.f.app, "bob", "password123").await;
    let (status, _) = as_browser(&s.f, Some(&bob), Method::GET, "/user/robots/mine/tokens", None).await;
    assert_eq!(status, 404);
    // The token is untouched by the refused revocations.
    let (_, listed) = as_browser(&s.f, Some(&s.alice), Method::GET, ORG_TOKENS, None).await;
    assert_eq!(listed["tokens"].as_array().map(Vec::len), Some(1), "{listed}");
}

#[actix_web::test]
async fn a_stale_session_needs_a_fresh_login_and_unknown_robots_are_404() {
    let s = setup("").await;
    let (status, _) = as_browser(
        &s.f,
        Some(&s.alice),
        Method::GET,
        "/organization/acme/robots/nope/tokens",
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = as_browser(
        &s.f,
        Some(&s.alice),
        Method::GET,
        "/user/robots/nope/mintable-scopes",
        None,
    )
    .await;
    assert_eq!(status, 404);
    age_sessions(&s.f.app, "alice").await;
    let body = json!({"name": "ci", "scope": "repo:read"});
    let (status, err) = as_browser(&s.f, Some(&s.alice), Method::POST, ORG_TOKENS, Some(body)).await;
    assert_eq!(status, 401, "{err}");
    assert_eq!(err["error_type"], "fresh_login_required");
}

#[actix_web::test]
async fn bad_token_requests_are_400_with_a_reason() {
    let s = setup("").await;
    let long = "n".repeat(256);
    let cases = [
        (json!({"scope": "repo:read"}), "'name' is a required property"),
        (json!({"name": "", "scope": "repo:read"}), "'' is too short"),
        (json!({"name": "   ", "scope": "repo:read"}), "'name' cannot be empty"),
        (json!({"name": long, "scope": "repo:read"}), "is too long"),
        (json!({"name": 5, "scope": "repo:read"}), "is not of type 'string'"),
        (json!({"name": "ci"}), "'scope' is a required property"),
        (json!({"name": "ci", "scope": "repo:nope"}), "Invalid scope: repo:nope"),
        (
            json!({"name": "ci", "scope": "direct_user_login"}),
            "Invalid scope: direct_user_login",
        ),
        (json!({"name": "ci", "scope": " , "}), "Invalid scope:  , "),
        (
            json!({"name": "ci", "scope": "repo:read", "expiration": 0}),
            "less than the minimum of 1",
        ),
        (
            json!({"name": "ci", "scope": "repo:read", "expiration": "60"}),
            "is not of type 'number'",
        ),
        (
            json!({"name": "ci", "scope": "repo:read", "expiration": true}),
            "is not of type 'number'",
        ),
    ];
    for (body, reason) in cases {
        let (status, err) = as_browser(&s.f, Some(&s.alice), Method::POST, ORG_TOKENS, Some(body.clone())).await;
        assert_eq!(status, 400, "{body}: {err}");
        let message = err["error_message"].as_str().unwrap_or_default();
        assert!(message.contains(reason), "{body}: {message:?} lacks {reason:?}");
    }
    // A scope the creator may not mint is refused, not a bad request.
    let body = json!({"name": "ci", "scope": "repo:read super:user"});
    let (status, err) = as_browser(&s.f, Some(&s.alice), Method::POST, ORG_TOKENS, Some(body)).await;
    assert_eq!(status, 403, "{err}");
    let (_, listed) = as_browser(&s.f, Some(&s.alice), Method::GET, ORG_TOKENS, None).await;
    assert_eq!(listed, json!({"tokens": []}));
}

#[actix_web::test]
async fn mintable_scopes_follow_quay_order_and_only_superusers_get_super_user() {
    let s = setup("SUPER_USERS: [admin]\n").await;
    let (status, scopes) = as_browser(
        &s.f,
        Some(&s.alice),
        Method::GET,
        "/user/robots/mine/mintable-scopes",
        None,
    )
    .await;
    assert_eq!(status, 200);
    let expected = [
        "repo:read",
        "repo:write",
        "repo:admin",
        "repo:create",
        "user:read",
        "org:admin",
        "user:admin",
    ];
    assert_eq!(scopes, json!({"scopes": expected}));

    let (admin, _) = s.f.user("admin").await;
    s.f.robot(&admin, "bot").await;
    let browser = sign_in(&s.f.app, "admin", "password123").await;
    let (_, scopes) = as_browser(
        &s.f,
        Some(&browser),
        Method::GET,
        "/user/robots/bot/mintable-scopes",
        None,
    )
    .await;
    let all = [
        "repo:read",
        "repo:write",
        "repo:admin",
        "repo:create",
        "user:read",
        "org:admin",
        "super:user",
        "user:admin",
    ];
    assert_eq!(scopes, json!({"scopes": all}));
    let created = mint(
        &s.f,
        &browser,
        "/user/robots/bot/tokens",
        json!({"name": "su", "scope": "super:user"}),
    )
    .await;
    assert_eq!(created["scope"], "super:user");
}

#[actix_web::test]
async fn a_token_is_shown_once_listed_without_its_secret_and_revoked_with_204() {
    let s = setup("").await;
    let body =
        json!({"name": "  CI robot token ", "scope": "repo:read,repo:write repo:read", "expiration": 3600, "extra": 1});
    let created = mint(&s.f, &s.alice, ORG_TOKENS, body).await;
    let code = code_of(&created);
    assert!(code.starts_with("qro_") && code.len() == 64, "{code}");
    assert_eq!(created["name"], "CI robot token");
    assert_eq!(created["scope"], "repo:read repo:write");
    assert_eq!(created["created_by"], "alice");
    assert_eq!(created["last_accessed"], Value::Null);
    let date = |v: &Value| {
        let text = v.as_str().unwrap_or_else(|| panic!("not a date: {v}"));
        assert!(text.ends_with('Z'), "{text}");
        chrono::NaiveDateTime::parse_from_str(text.trim_end_matches('Z'), "%Y-%m-%dT%H:%M:%S%.f")
            .unwrap_or_else(|e| panic!("{text}: {e}"))
    };
    let lifetime = date(&created["expires_at"]) - date(&created["created"]);
    assert_eq!(lifetime.num_seconds(), 3600, "{created}");

    let (status, listed) = as_browser(&s.f, Some(&s.alice), Method::GET, ORG_TOKENS, None).await;
    assert_eq!(status, 200);
    let mut expected = created.clone();
    expected.as_object_mut().map(|o| o.remove("token"));
    assert_eq!(listed, json!({"tokens": [expected]}));

    let path = format!("{ORG_TOKENS}/{}", created["uuid"].as_str().expect("uuid"));
    let (status, _) = as_browser(&s.f, Some(&s.alice), Method::DELETE, &path, None).await;
    assert_eq!(status, 204);
    let (status, _) = as_browser(&s.f, Some(&s.alice), Method::DELETE, &path, None).await;
    assert_eq!(status, 404, "a revoked token is gone");
    let (_, listed) = as_browser(&s.f, Some(&s.alice), Method::GET, ORG_TOKENS, None).await;
    assert_eq!(listed, json!({"tokens": []}));

    let entries = logs(&s.f, "/organization/acme/logs", &s.alice_token).await;
    let minted = of_kind(&entries, "create_robot_api_token");
    assert_eq!(minted.len(), 1, "{entries:?}");
    let m = &minted[0]["metadata"];
    assert_eq!(m["robot"], "acme+ci");
    assert_eq!(m["api_token_uuid"], created["uuid"]);
    assert_eq!(
        (m["scope"].as_str(), m["expiration"].as_i64()),
        (Some("repo:read repo:write"), Some(3600))
    );
    assert_eq!(m["token_display_name"], "CI robot token");
    let revoked = of_kind(&entries, "revoke_robot_api_token");
    assert_eq!(revoked.len(), 1, "{entries:?}");
    assert_eq!(revoked[0]["metadata"]["api_token_uuid"], created["uuid"]);
    assert!(
        !entries.iter().any(|e| e.to_string().contains(&code)),
        "the code is never logged"
    );
}

#[actix_web::test]
async fn lifetimes_default_to_thirty_days_and_are_cut_to_ninety() {
    let s = setup("").await;
    let days = |v: &Value| {
        let parse = |f: &str| {
            chrono::NaiveDateTime::parse_from_str(
                v[f].as_str().expect("date").trim_end_matches('Z'),
                "%Y-%m-%dT%H:%M:%S%.f",
            )
            .expect("ISO date")
        };
        (parse("expires_at") - parse("created")).num_seconds()
    };
    let default = mint(
        &s.f,
        &s.alice,
        "/user/robots/mine/tokens",
        json!({"name": "a", "scope": "repo:read"}),
    )
    .await;
    assert_eq!(days(&default), 30 * 86_400);
    let long = json!({"name": "b", "scope": "repo:read", "expiration": 1e9});
    let capped = mint(&s.f, &s.alice, "/user/robots/mine/tokens", long).await;
    assert_eq!(days(&capped), 90 * 86_400);
}

#[actix_web::test]
async fn a_minted_token_logs_the_robot_in_with_exactly_its_scopes() {
    let s = setup("").await;
    let read = code_of(&mint(&s.f, &s.alice, ORG_TOKENS, json!({"name": "r", "scope": "repo:read"})).await);
    let write = code_of(&mint(&s.f, &s.alice, ORG_TOKENS, json!({"name": "w", "scope": "repo:write"})).await);
    let scope = "repository:acme/app:pull,push";
    // The robot may write to acme/app, but a read token only pulls.
    assert_eq!(
        v2_auth(&s.f, "acme+ci", &read, scope).await,
        (200, vec!["pull".to_owned()])
    );
    assert_eq!(
        v2_auth(&s.f, "acme+ci", &write, scope).await,
        (200, vec!["pull".to_owned(), "push".to_owned()])
    );
    // The code is this robot's password only.
    assert_eq!(v2_auth(&s.f, "alice+mine", &read, scope).await.0, 401);
    // Basic credentials straight on /v2.
    let res =
        s.f.app
            .client
            .get(s.f.app.url("/v2/acme/app/manifests/v1"))
            .header("Accept", "application/vnd.oci.image.manifest.v1+json")
            .header("Authorization", basic("acme+ci", &read))
            .send()
            .await
            .expect("GET manifest");
    assert_eq!(res.status(), 200);

    // On the REST API it is a bearer token of the robot, within its scopes.
    assert_eq!(bearer_get(&s.f, &read, "/repository/acme/app").await, 200);
    let user_only = code_of(&mint(&s.f, &s.alice, ORG_TOKENS, json!({"name": "u", "scope": "user:read"})).await);
    assert_eq!(bearer_get(&s.f, &user_only, "/repository/acme/app").await, 403);
    // Nor does `user:admin` let the robot make robots of its own.
    let admin = code_of(&mint(&s.f, &s.alice, ORG_TOKENS, json!({"name": "a", "scope": "user:admin"})).await);
    assert_eq!(s.f.call("PUT", "/user/robots/sub", Some(&admin), None).await.0, 403);
    // A robot token cannot mint more tokens.
    let (status, _) =
        s.f.call(
            "POST",
            ORG_TOKENS,
            Some(&read),
            Some(json!({"name": "x", "scope": "repo:read"})),
        )
        .await;
    assert_eq!(status, 401);

    // last_accessed records the use.
    let (_, listed) = as_browser(&s.f, Some(&s.alice), Method::GET, ORG_TOKENS, None).await;
    let used = listed["tokens"]
        .as_array()
        .expect("tokens")
        .iter()
        .find(|t| t["name"] == "r")
        .expect("token r");
    assert!(used["last_accessed"].is_string(), "{used}");
}

/// Moves the expiry of every token of `robot` into the past.
async fn expire_tokens(f: &RepoFixture, robot: &str) {
    use diesel::prelude::*;
    use registry::db::schema::{apitoken, users};

    let name = robot.to_owned();
    f.services
        .db()
        .write(move |c| {
            let id: i64 = users::table
                .filter(users::username.eq(&name))
                .select(users::id)
                .first(c)?;
            diesel::update(apitoken::table.filter(apitoken::subject_user_id.eq(id)))
                .set(apitoken::expires_at_ms.eq(1))
                .execute(c)?;
            Ok::<_, registry::service::Error>(())
        })
        .await
        .expect("expire the tokens");
}

#[actix_web::test]
async fn revoked_and_expired_tokens_no_longer_log_in() {
    let s = setup("").await;
    let scope = "repository:acme/app:pull";
    let created = mint(&s.f, &s.alice, ORG_TOKENS, json!({"name": "r", "scope": "repo:read"})).await;
    let code = code_of(&created);
    assert_eq!(v2_auth(&s.f, "acme+ci", &code, scope).await.0, 200);
    let path = format!("{ORG_TOKENS}/{}", created["uuid"].as_str().expect("uuid"));
    assert_eq!(
        as_browser(&s.f, Some(&s.alice), Method::DELETE, &path, None).await.0,
        204
    );
    assert_eq!(v2_auth(&s.f, "acme+ci", &code, scope).await.0, 401);
    assert_eq!(bearer_get(&s.f, &code, "/repository/acme/app").await, 401);

    let code = code_of(&mint(&s.f, &s.alice, ORG_TOKENS, json!({"name": "e", "scope": "repo:read"})).await);
    assert_eq!(v2_auth(&s.f, "acme+ci", &code, scope).await.0, 200);
    expire_tokens(&s.f, "acme+ci").await;
    assert_eq!(v2_auth(&s.f, "acme+ci", &code, scope).await.0, 401);
    assert_eq!(bearer_get(&s.f, &code, "/repository/acme/app").await, 401);
    // Expired tokens are still listed (until revoked), as in Quay.
    let (_, listed) = as_browser(&s.f, Some(&s.alice), Method::GET, ORG_TOKENS, None).await;
    assert_eq!(listed["tokens"].as_array().map(Vec::len), Some(1), "{listed}");
    // The robot's own token still works: tokens do not replace it.
    let robot =
        s.f.services
            .robot(&s.f.services.account("acme").await.expect("db").expect("acme"), "ci")
            .await;
    let robot = robot.expect("robot");
    assert_eq!(v2_auth(&s.f, "acme+ci", &robot.token, scope).await.0, 200);
}

#[actix_web::test]
async fn tokens_stop_working_when_the_feature_is_turned_off() {
    let s = setup("").await;
    let code = code_of(&mint(&s.f, &s.alice, ORG_TOKENS, json!({"name": "r", "scope": "repo:read"})).await);
    let on = s.f.app.services_with_yaml(FEATURE).await;
    assert!(on.login("acme+ci", &code).await.is_ok());
    let off = s.f.app.services_with_yaml("FEATURE_ROBOT_API_TOKENS: false\n").await;
    assert!(off.login("acme+ci", &code).await.is_err());
    assert!(off.authenticate_bearer(&code).await.is_err());
}

#[actix_web::test]
async fn deleting_the_robot_removes_its_tokens() {
    let s = setup("").await;
    let code = code_of(&mint(&s.f, &s.alice, ORG_TOKENS, json!({"name": "r", "scope": "repo:read"})).await);
    let (status, _) =
        s.f.call("DELETE", "/organization/acme/robots/ci", Some(&s.alice_token), None)
            .await;
    assert_eq!(status, 204);
    assert_eq!(v2_auth(&s.f, "acme+ci", &code, "repository:acme/app:pull").await.0, 401);
    {
        use diesel::prelude::*;
        use registry::db::schema::apitoken;
        let left: i64 =
            s.f.services
                .db()
                .read(|c| Ok(apitoken::table.count().get_result::<i64>(c)?))
                .await
                .expect("count tokens");
        assert_eq!(left, 0);
    }
    // A new robot of the same name starts without tokens.
    let (status, _) =
        s.f.call("PUT", "/organization/acme/robots/ci", Some(&s.alice_token), None)
            .await;
    assert_eq!(status, 201);
    let (_, listed) = as_browser(&s.f, Some(&s.alice), Method::GET, ORG_TOKENS, None).await;
    assert_eq!(listed, json!({"tokens": []}));
    assert_eq!(v2_auth(&s.f, "acme+ci", &code, "repository:acme/app:pull").await.0, 401);
}

#[actix_web::test]
async fn the_active_token_limit_counts_live_tokens_only() {
    let s = setup("API_TOKEN_MAXIMUM_TOKEN_COUNT: 1\n").await;
    let path = "/user/robots/mine/tokens";
    let first = mint(&s.f, &s.alice, path, json!({"name": "a", "scope": "repo:read"})).await;
    let (status, err) = as_browser(
        &s.f,
        Some(&s.alice),
        Method::POST,
        path,
        Some(json!({"name": "b", "scope": "repo:read"})),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        err["error_message"],
        "Token limit reached: maximum 1 non-expired tokens per robot"
    );
    let revoke = format!("{path}/{}", first["uuid"].as_str().expect("uuid"));
    assert_eq!(
        as_browser(&s.f, Some(&s.alice), Method::DELETE, &revoke, None).await.0,
        204
    );
    mint(&s.f, &s.alice, path, json!({"name": "c", "scope": "repo:read"})).await;
    expire_tokens(&s.f, "alice+mine").await;
    mint(&s.f, &s.alice, path, json!({"name": "d", "scope": "repo:read"})).await;
}

#[actix_web::test]
async fn listings_page_by_fifty_newest_first() {
    let s = setup("").await;
    let path = "/user/robots/mine/tokens";
    for i in 0..51 {
        mint(
            &s.f,
            &s.alice,
            path,
            json!({"name": format!("t{i}"), "scope": "repo:read"}),
        )
        .await;
    }
    let (_, first) = as_browser(&s.f, Some(&s.alice), Method::GET, path, None).await;
    let names = |v: &Value| -> Vec<String> {
        v["tokens"]
            .as_array()
            .expect("tokens")
            .iter()
            .map(|t| t["name"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let page = names(&first);
    assert_eq!((page.len(), page[0].as_str()), (50, "t50"));
    let next = first["next_page"].as_str().expect("next_page");
    let (_, second) = as_browser(
        &s.f,
        Some(&s.alice),
        Method::GET,
        &format!("{path}?next_page={next}"),
        None,
    )
    .await;
    assert_eq!(names(&second), vec!["t0".to_owned()]);
    assert!(second.get("next_page").is_none(), "{second}");
}
