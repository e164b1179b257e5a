//! Token assignments: `POST /oauth/authorize/assignuser` by an
//! organization admin and `/api/v1/user/assignedauthorization` for the
//! assigned user, who then authorizes the application themselves.

use serde_json::{json, Value};

use super::{form_of as query, location, param, url_params, world, World, REDIRECT};
use crate::helpers::{sign_in, Browser};

impl World {
    /// `POST /oauth/authorize/assignuser` as `browser`, CSRF token in the
    /// header as the UI sends it.
    async fn assign(&self, browser: Option<&Browser>, username: &str, scope: &str) -> reqwest::Response {
        let q = query(&[
            ("username", username),
            ("client_id", &self.client_id),
            ("redirect_uri", REDIRECT),
            ("scope", scope),
            ("response_type", "token"),
            ("format", "json"),
        ]);
        let mut req = self
            .web
            .post(self.f.app.url(&format!("/oauth/authorize/assignuser?{q}")));
        if let Some(b) = browser {
            req = req.header("Cookie", b.cookie_header()).header("X-CSRF-Token", &b.csrf);
        }
        req.send().await.expect("POST assignuser")
    }
}

#[actix_web::test]
async fn an_admin_assigns_a_token_the_user_then_authorizes_once() {
    let w = world().await;
    let res = w.assign(Some(&w.alice), "bob", "repo:read").await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json::<Value>().await.expect("JSON"),
        json!({"message": "Token assigned successfully"})
    );
    assert!(w.app_tokens().await.is_empty(), "assigning grants nothing yet");

    let bob_token =
        w.f.token(&w.f.services.account("bob").await.expect("db").expect("bob"), "all")
            .await;
    let (status, inbox) = w.f.call("GET", "/user/notifications", Some(&bob_token), None).await;
    assert_eq!(status, 200, "{inbox}");
    assert!(inbox.to_string().contains("assigned_authorization"), "{inbox}");
    let (status, list) =
        w.f.call("GET", "/user/assignedauthorization", Some(&bob_token), None)
            .await;
    assert_eq!(status, 200, "{list}");
    let entries = list["authorizations"].as_array().expect("authorizations");
    assert_eq!(entries.len(), 1);
    let entry = &entries[0];
    assert_eq!(entry["application"]["clientId"], w.client_id.as_str());
    assert_eq!(entry["application"]["organization"]["name"], "acme");
    assert_eq!(entry["redirectUri"], REDIRECT);
    assert_eq!(entry["responseType"], "token");
    assert_eq!(entry["scopes"][0]["scope"], "repo:read");
    let uuid = entry["uuid"].as_str().expect("uuid").to_owned();
    let (_, inbox) = w.f.call("GET", "/user/notifications", Some(&bob_token), None).await;
    assert!(!inbox.to_string().contains("assigned_authorization"), "read: {inbox}");

    let bob = sign_in(&w.f.app, "bob", "password123").await;
    let mut fields = w.consent(&bob, "repo:read", "token");
    fields.push(("assignment_uuid", &uuid));
    let res = w.post_form("/oauth/authorizeapp", Some(&bob), &fields).await;
    assert_eq!(res.status(), 302);
    let (_, _, frag) = url_params(&location(&res));
    let token = param(&frag, "access_token").expect("token for bob");
    let tokens = w.app_tokens().await;
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0]["created_by"], "bob", "the token is bob's, not the admin's");
    let (status, _) = w.f.call("GET", "/repository?namespace=bob", Some(token), None).await;
    assert_eq!(status, 200);
    let (_, list) =
        w.f.call("GET", "/user/assignedauthorization", Some(&bob_token), None)
            .await;
    assert_eq!(list, json!({"authorizations": []}), "fulfilled");
}

#[actix_web::test]
async fn only_admins_of_the_applications_organization_may_assign() {
    let w = world().await;
    w.f.user("carol").await;
    let carol = sign_in(&w.f.app, "carol", "password123").await;
    assert_eq!(w.assign(Some(&carol), "bob", "repo:read").await.status(), 403);
    assert_eq!(w.assign(None, "bob", "repo:read").await.status(), 401);
    assert_eq!(w.assign(Some(&w.alice), "nobody", "repo:read").await.status(), 404);
    assert_eq!(
        w.assign(Some(&w.alice), "acme", "repo:read").await.status(),
        404,
        "not a user"
    );
    let res = w.assign(Some(&w.alice), "bob", "repo:bogus").await;
    assert_eq!(res.status(), 400);
    assert_eq!(
        res.json::<Value>().await.expect("JSON"),
        json!({"error": "invalid_scope"})
    );
    let no_csrf = w
        .web
        .post(w.f.app.url(&format!(
            "/oauth/authorize/assignuser?{}",
            query(&[
                ("username", "bob"),
                ("client_id", &w.client_id),
                ("redirect_uri", REDIRECT),
                ("scope", "repo:read")
            ])
        )))
        .header("Cookie", w.alice.cookie_header())
        .send()
        .await
        .expect("POST");
    assert_eq!(no_csrf.status(), 403);
    let bob_token =
        w.f.token(&w.f.services.account("bob").await.expect("db").expect("bob"), "all")
            .await;
    let (_, list) =
        w.f.call("GET", "/user/assignedauthorization", Some(&bob_token), None)
            .await;
    assert_eq!(list, json!({"authorizations": []}));
}

#[actix_web::test]
async fn users_see_and_delete_only_their_own_assignments() {
    let w = world().await;
    assert_eq!(w.assign(Some(&w.alice), "bob", "repo:read").await.status(), 200);
    let bob_token =
        w.f.token(&w.f.services.account("bob").await.expect("db").expect("bob"), "all")
            .await;
    let (_, list) =
        w.f.call("GET", "/user/assignedauthorization", Some(&bob_token), None)
            .await;
    let uuid = list["authorizations"][0]["uuid"].as_str().expect("uuid").to_owned();
    let path = format!("/user/assignedauthorization/{uuid}");
    let (_, alice_list) =
        w.f.call("GET", "/user/assignedauthorization", Some(&w.alice_token), None)
            .await;
    assert_eq!(alice_list, json!({"authorizations": []}));
    assert_eq!(w.f.call("DELETE", &path, Some(&w.alice_token), None).await.0, 404);
    assert_eq!(w.f.call("DELETE", &path, None, None).await.0, 401);
    assert_eq!(w.f.call("DELETE", &path, Some(&bob_token), None).await.0, 204);
    let (_, list) =
        w.f.call("GET", "/user/assignedauthorization", Some(&bob_token), None)
            .await;
    assert_eq!(list, json!({"authorizations": []}));
}

#[actix_web::test]
async fn with_the_feature_off_assignments_are_not_found() {
    let f = crate::helpers::RepoFixture::with_config("FEATURE_ASSIGN_OAUTH_TOKEN: false\n").await;
    let (_, token) = f.user("alice").await;
    let (status, _) = f.call("GET", "/user/assignedauthorization", Some(&token), None).await;
    assert_eq!(status, 404);
    let res = f
        .app
        .client
        .post(f.app.url("/oauth/authorize/assignuser?username=x"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("POST");
    assert_eq!(res.status(), 404);
}
