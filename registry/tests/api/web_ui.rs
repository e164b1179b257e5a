//! The web UI's server side: the page shell on the UI's addresses, the
//! embedded assets with their security headers, and `/config`.

use serde_json::Value;

use crate::helpers::{spawn_app_with, RepoFixture};

#[actix_web::test]
async fn ui_pages_answer_with_the_shell_under_a_strict_content_security_policy() {
    let app = spawn_app_with("").await;
    for path in [
        "/",
        "/signin",
        "/repository",
        "/repository/acme/app",
        "/organization/acme",
        "/user/alice",
        "/superuser",
    ] {
        let res = app.client.get(app.url(path)).send().await.expect("GET page");
        assert_eq!(res.status().as_u16(), 200, "{path}");
        let csp = res.headers()["content-security-policy"]
            .to_str()
            .expect("csp")
            .to_owned();
        assert!(
            csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
            "{path}: {csp}"
        );
        assert_eq!(res.headers()["x-frame-options"], "DENY");
        let body = res.text().await.expect("body");
        assert!(
            body.contains("<script type=\"module\" src=\"/static/ui/app.js?v="),
            "{path}"
        );
        assert!(!body.contains("{{version}}"), "the asset version is filled in");
    }
}

#[actix_web::test]
async fn assets_are_served_with_their_types_and_revalidated_by_etag() {
    let app = spawn_app_with("").await;
    let res = app
        .client
        .get(app.url("/static/ui/app.js"))
        .send()
        .await
        .expect("GET asset");
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(res.headers()["content-type"], "text/javascript; charset=utf-8");
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    let etag = res.headers()["etag"].clone();
    let again = app
        .client
        .get(app.url("/static/ui/app.js"))
        .header("If-None-Match", etag)
        .send()
        .await
        .expect("GET asset again");
    assert_eq!(again.status().as_u16(), 304);
    let css = app
        .client
        .get(app.url("/static/ui/app.css"))
        .send()
        .await
        .expect("GET css");
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    for missing in [
        "/static/ui/nope.js",
        "/static/ui/../Cargo.toml",
        "/static/ui/views/../../mod.rs",
    ] {
        let res = app.client.get(app.url(missing)).send().await.expect("GET missing");
        assert_eq!(res.status().as_u16(), 404, "{missing}");
    }
}

#[actix_web::test]
async fn config_tells_features_and_whether_the_first_user_is_awaited_and_no_secrets() {
    let f = RepoFixture::with_config("FEATURE_USER_INITIALIZE: true\nREGISTRY_TITLE: Acme Registry\n").await;
    let get = || async {
        let res = f
            .app
            .client
            .get(f.app.url("/config"))
            .send()
            .await
            .expect("GET /config");
        assert_eq!(res.status().as_u16(), 200);
        res.json::<Value>().await.expect("json")
    };
    let before = get().await;
    assert_eq!(before["awaits_first_user"], true);
    assert_eq!(before["features"]["USER_INITIALIZE"], true);
    assert_eq!(before["features"]["BUILD_SUPPORT"], true);
    assert_eq!(before["config"]["REGISTRY_TITLE"], "Acme Registry");
    let text = before.to_string();
    for secret in ["SECRET_KEY", "DATABASE_SECRET_KEY", "DB_URI", "password"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    f.user("alice").await;
    assert_eq!(get().await["awaits_first_user"], false, "a user exists now");
}

#[actix_web::test]
async fn without_user_initialize_no_first_user_is_awaited() {
    let app = spawn_app_with("").await;
    let body: Value = app
        .client
        .get(app.url("/config"))
        .send()
        .await
        .expect("GET /config")
        .json()
        .await
        .expect("json");
    assert_eq!(body["awaits_first_user"], false);
}
