//! `/api/v1/organization/{org}/applications…` and `/api/v1/app/{client_id}`:
//! OAuth applications of organizations and the tokens "Generate Token"
//! mints for them (quay-api.md §1.3), with the refused case of every rule.

use serde_json::{json, Value};

use crate::helpers::RepoFixture;

mod tokens;

/// `acme` owned by alice (admin), with bob in a plain member team.
struct World {
    f: RepoFixture,
    alice: String,
    bob: String,
}

async fn world_with(extra_yaml: &str) -> World {
    let f = RepoFixture::with_config(extra_yaml).await;
    let (alice_user, alice) = f.user("alice").await;
    let (_, bob) = f.user("bob").await;
    let acme = f.org(&alice_user, "acme").await;
    f.team(&alice_user, &acme, "devs", "member", &["bob"]).await;
    World { f, alice, bob }
}

async fn world() -> World {
    world_with("").await
}

const APPS: &str = "/organization/acme/applications";

impl World {
    /// Registers an application in acme as alice; returns its view.
    async fn app(&self, name: &str) -> Value {
        let (status, app) = self
            .f
            .call("POST", APPS, Some(&self.alice), Some(json!({"name": name})))
            .await;
        assert_eq!(status, 200, "{app}");
        app
    }

    /// Mints a token of `scope` for the application with `token`.
    async fn mint(&self, client_id: &str, token: &str, scope: &str) -> (u16, Value) {
        let body = json!({"name": "ci", "scope": scope});
        self.f
            .call("POST", &format!("{APPS}/{client_id}/tokens"), Some(token), Some(body))
            .await
    }

    /// Mints a token of `scope` as alice; returns the 40-character token.
    async fn minted(&self, client_id: &str, scope: &str) -> String {
        let (status, body) = self.mint(client_id, &self.alice, scope).await;
        assert_eq!(status, 200, "{body}");
        body["token"].as_str().expect("token").to_owned()
    }
}

fn client_id(app: &Value) -> String {
    app["client_id"].as_str().expect("client_id").to_owned()
}

#[actix_web::test]
async fn an_org_admin_registers_an_application_and_sees_its_secret() {
    let w = world().await;
    let body = json!({
        "name": "deployer",
        "description": "ships things",
        "redirect_uri": "https://deployer.example.com/callback",
        "application_uri": "https://deployer.example.com",
        "avatar_email": "deployer@example.com",
    });
    let (status, app) = w.f.call("POST", APPS, Some(&w.alice), Some(body)).await;
    assert_eq!(status, 200, "{app}");
    assert_eq!(app["name"], "deployer");
    assert_eq!(app["description"], "ships things");
    assert_eq!(app["redirect_uri"], "https://deployer.example.com/callback");
    assert_eq!(app["application_uri"], "https://deployer.example.com");
    assert_eq!(app["avatar_email"], "deployer@example.com");
    assert_eq!(app["avatar"]["kind"], "app");
    assert_eq!(app["client_id"].as_str().map(str::len), Some(20), "{app}");
    assert_eq!(app["client_secret"].as_str().map(str::len), Some(40), "{app}");

    let (status, list) = w.f.call("GET", APPS, Some(&w.alice), None).await;
    assert_eq!(status, 200);
    assert_eq!(list, json!({"applications": [app.clone()]}));
    let (status, one) =
        w.f.call("GET", &format!("{APPS}/{}", client_id(&app)), Some(&w.alice), None)
            .await;
    assert_eq!((status, one), (200, app));
}

#[actix_web::test]
async fn optional_fields_default_to_empty() {
    let w = world().await;
    let app = w.app("bare").await;
    assert_eq!(app["description"], "");
    assert_eq!(app["redirect_uri"], "");
    assert_eq!(app["application_uri"], "");
    assert_eq!(app["avatar_email"], Value::Null);
}

#[actix_web::test]
async fn a_member_who_is_not_an_admin_cannot_list_or_create_applications() {
    let w = world().await;
    let app = w.app("deployer").await;
    let (status, _) = w.f.call("GET", APPS, Some(&w.bob), None).await;
    assert_eq!(status, 403);
    let (status, _) =
        w.f.call("POST", APPS, Some(&w.bob), Some(json!({"name": "mine"})))
            .await;
    assert_eq!(status, 403);
    let one = format!("{APPS}/{}", client_id(&app));
    for (method, path) in [
        ("GET", one.clone()),
        ("DELETE", one.clone()),
        ("POST", format!("{one}/resetclientsecret")),
        ("GET", format!("{one}/tokens")),
    ] {
        assert_eq!(
            w.f.call(method, &path, Some(&w.bob), None).await.0,
            403,
            "{method} {path}"
        );
    }
    let (_, list) = w.f.call("GET", APPS, Some(&w.alice), None).await;
    assert_eq!(
        list["applications"].as_array().map(Vec::len),
        Some(1),
        "nothing was created"
    );
}

#[actix_web::test]
async fn anonymous_callers_are_asked_to_authenticate() {
    let w = world().await;
    let app = w.app("deployer").await;
    let (status, body) = w.f.call("GET", APPS, None, None).await;
    assert_eq!(status, 401);
    assert_eq!(body["error_type"], "invalid_token");
    assert_eq!(w.f.call("POST", APPS, None, Some(json!({"name": "x"}))).await.0, 401);
    let tokens = format!("{APPS}/{}/tokens", client_id(&app));
    assert_eq!(w.f.call("GET", &tokens, None, None).await.0, 401);
}

#[actix_web::test]
async fn a_token_without_the_org_admin_scope_is_refused() {
    let w = world().await;
    let alice = w.f.services.account("alice").await.expect("lookup").expect("alice");
    let narrow = w.f.token(&alice, "user:admin repo:admin").await;
    assert_eq!(w.f.call("GET", APPS, Some(&narrow), None).await.0, 403);
}

#[actix_web::test]
async fn an_outsider_or_an_unknown_organization_is_refused() {
    let w = world().await;
    let (_, carol) = w.f.user("carol").await;
    assert_eq!(w.f.call("GET", APPS, Some(&carol), None).await.0, 403);
    let (status, _) =
        w.f.call("GET", "/organization/nowhere/applications", Some(&w.alice), None)
            .await;
    assert_eq!(status, 404);
}

#[actix_web::test]
async fn an_unknown_client_id_is_not_found() {
    let w = world().await;
    let missing = format!("{APPS}/{}", "X".repeat(20));
    for (method, path, body) in [
        ("GET", missing.clone(), None),
        (
            "PUT",
            missing.clone(),
            Some(json!({"name": "x", "redirect_uri": "", "application_uri": ""})),
        ),
        ("DELETE", missing.clone(), None),
        ("POST", format!("{missing}/resetclientsecret"), None),
        ("GET", format!("{missing}/tokens"), None),
        (
            "POST",
            format!("{missing}/tokens"),
            Some(json!({"name": "t", "scope": "repo:read"})),
        ),
    ] {
        let (status, body) = w.f.call(method, &path, Some(&w.alice), body).await;
        assert_eq!(status, 404, "{method} {path}: {body}");
        assert_eq!(body["error_type"], "not_found");
    }
    assert_eq!(
        w.f.call("GET", &format!("/app/{}", "X".repeat(20)), None, None).await.0,
        404
    );
}

#[actix_web::test]
async fn another_organizations_application_is_not_found_through_this_one() {
    let w = world().await;
    let alice = w.f.services.account("alice").await.expect("lookup").expect("alice");
    w.f.org(&alice, "other").await;
    let (status, app) =
        w.f.call(
            "POST",
            "/organization/other/applications",
            Some(&w.alice),
            Some(json!({"name": "elsewhere"})),
        )
        .await;
    assert_eq!(status, 200, "{app}");
    let path = format!("{APPS}/{}", client_id(&app));
    assert_eq!(w.f.call("GET", &path, Some(&w.alice), None).await.0, 404);
    assert_eq!(w.f.call("DELETE", &path, Some(&w.alice), None).await.0, 404);
}

#[actix_web::test]
async fn bad_names_uris_and_overlong_emails_are_invalid_requests() {
    let w = world().await;
    let long = "n".repeat(256);
    for body in [
        json!({"name": ""}),
        json!({"name": "   "}),
        json!({"name": long}),
        json!({"name": "x", "redirect_uri": "not a url"}),
        json!({"name": "x", "redirect_uri": "javascript:alert(1)"}),
        json!({"name": "x", "application_uri": "/relative/path"}),
        json!({"name": "x", "application_uri": "ftp://files.example.com"}),
        json!({"name": "x", "avatar_email": "e".repeat(256)}),
        json!({"description": "no name"}),
        json!({"name": 7}),
    ] {
        let (status, res) = w.f.call("POST", APPS, Some(&w.alice), Some(body.clone())).await;
        assert_eq!(status, 400, "{body}: {res}");
        assert_eq!(res["error_type"], "invalid_request", "{body}: {res}");
    }
    let (_, list) = w.f.call("GET", APPS, Some(&w.alice), None).await;
    assert_eq!(list, json!({"applications": []}));
}

#[actix_web::test]
async fn any_avatar_email_text_is_accepted_as_quay_does() {
    let w = world().await;
    for email in ["nobody", "deploy bot", "ops@localhost"] {
        let body = json!({"name": "x", "avatar_email": email});
        let (status, app) = w.f.call("POST", APPS, Some(&w.alice), Some(body)).await;
        assert_eq!(status, 200, "{email}: {app}");
        assert_eq!(app["avatar_email"], email);
        let update = json!({"name": "x", "redirect_uri": "", "application_uri": "", "avatar_email": email});
        let path = format!("{APPS}/{}", client_id(&app));
        let (status, app) = w.f.call("PUT", &path, Some(&w.alice), Some(update)).await;
        assert_eq!(status, 200, "{email}: {app}");
        assert_eq!(app["avatar_email"], email);
    }
}

#[actix_web::test]
async fn put_replaces_the_fields_and_requires_name_and_both_uris() {
    let w = world().await;
    let app = w.app("deployer").await;
    let path = format!("{APPS}/{}", client_id(&app));
    for partial in [
        json!({"name": "renamed", "redirect_uri": "https://a.example.com"}),
        json!({"name": "renamed", "application_uri": "https://a.example.com"}),
        json!({"redirect_uri": "", "application_uri": ""}),
    ] {
        let (status, _) = w.f.call("PUT", &path, Some(&w.alice), Some(partial.clone())).await;
        assert_eq!(status, 400, "{partial}");
    }
    let bad = json!({"name": "renamed", "redirect_uri": "nope", "application_uri": ""});
    assert_eq!(w.f.call("PUT", &path, Some(&w.alice), Some(bad)).await.0, 400);

    let body = json!({
        "name": "renamed",
        "redirect_uri": "https://a.example.com/cb",
        "application_uri": "https://a.example.com",
        "description": "new words",
    });
    let (status, updated) = w.f.call("PUT", &path, Some(&w.alice), Some(body)).await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["name"], "renamed");
    assert_eq!(updated["redirect_uri"], "https://a.example.com/cb");
    assert_eq!(updated["description"], "new words");
    assert_eq!(updated["client_id"], app["client_id"]);
    assert_eq!(updated["client_secret"], app["client_secret"]);
    let (_, again) = w.f.call("GET", &path, Some(&w.alice), None).await;
    assert_eq!(again, updated);
    assert_eq!(
        w.f.call("PUT", &path, Some(&w.bob), Some(again.clone())).await.0,
        403,
        "a plain member cannot edit it"
    );
}

#[actix_web::test]
async fn resetting_the_client_secret_replaces_it() {
    let w = world().await;
    let app = w.app("deployer").await;
    let path = format!("{APPS}/{}/resetclientsecret", client_id(&app));
    let (status, reset) = w.f.call("POST", &path, Some(&w.alice), None).await;
    assert_eq!(status, 200, "{reset}");
    assert_eq!(reset["client_id"], app["client_id"]);
    assert_eq!(reset["client_secret"].as_str().map(str::len), Some(40));
    assert_ne!(reset["client_secret"], app["client_secret"]);
}

#[actix_web::test]
async fn anyone_sees_the_public_view_of_an_application_without_secrets() {
    let w = world().await;
    let body = json!({"name": "deployer", "description": "ships", "application_uri": "https://d.example.com"});
    let (_, app) = w.f.call("POST", APPS, Some(&w.alice), Some(body)).await;
    let (status, public) = w.f.call("GET", &format!("/app/{}", client_id(&app)), None, None).await;
    assert_eq!(status, 200, "{public}");
    assert_eq!(public["name"], "deployer");
    assert_eq!(public["description"], "ships");
    assert_eq!(public["uri"], "https://d.example.com");
    assert_eq!(public["avatar"]["kind"], "app");
    assert_eq!(public["organization"]["name"], "acme");
    assert_eq!(public["organization"]["avatar"]["kind"], "org");
    let text = public.to_string();
    let secret = app["client_secret"].as_str().expect("secret");
    assert!(
        public.get("client_secret").is_none() && !text.contains(secret),
        "{public}"
    );
}

#[actix_web::test]
async fn deleting_an_application_revokes_its_tokens() {
    let w = world().await;
    let app = w.app("deployer").await;
    let id = client_id(&app);
    let token = w.minted(&id, "user:read").await;
    assert_eq!(w.f.call("GET", "/user/", Some(&token), None).await.0, 200);
    assert_eq!(
        w.f.call("DELETE", &format!("{APPS}/{id}"), Some(&w.bob), None).await.0,
        403
    );
    assert_eq!(
        w.f.call("DELETE", &format!("{APPS}/{id}"), Some(&w.alice), None)
            .await
            .0,
        204
    );
    assert_eq!(w.f.call("GET", "/user/", Some(&token), None).await.0, 401);
    assert_eq!(
        w.f.call("GET", &format!("{APPS}/{id}"), Some(&w.alice), None).await.0,
        404
    );
    assert_eq!(w.f.call("GET", &format!("/app/{id}"), None, None).await.0, 404);
    assert_eq!(
        w.f.call("GET", "/user/", Some(&w.alice), None).await.0,
        200,
        "other tokens live on"
    );
}

#[actix_web::test]
async fn deleting_the_organization_removes_its_applications_and_their_tokens() {
    let w = world().await;
    let app = w.app("deployer").await;
    let id = client_id(&app);
    let token = w.minted(&id, "user:read").await;
    assert_eq!(
        w.f.call("DELETE", "/organization/acme", Some(&w.alice), None).await.0,
        204
    );
    assert_eq!(w.f.call("GET", &format!("/app/{id}"), None, None).await.0, 404);
    assert_eq!(w.f.call("GET", "/user/", Some(&token), None).await.0, 401);
}

#[actix_web::test]
async fn a_superuser_with_full_access_manages_any_organizations_applications() {
    let w = world_with("SUPER_USERS: [root]\nFEATURE_SUPERUSERS_FULL_ACCESS: true").await;
    let app = w.app("deployer").await;
    let (_, root) = w.f.user("root").await;
    let (status, list) = w.f.call("GET", APPS, Some(&root), None).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["applications"][0]["client_id"], app["client_id"]);
}

#[actix_web::test]
async fn a_superuser_without_full_access_is_refused_like_anyone() {
    let w = world_with("SUPER_USERS: [root]").await;
    let (_, root) = w.f.user("root").await;
    assert_eq!(w.f.call("GET", APPS, Some(&root), None).await.0, 403);
}
