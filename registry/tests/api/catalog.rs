//! `/v2/_catalog` and its pagination.

use serde_json::{json, Value};

use crate::helpers::{header, header_of, spawn_app};

#[actix_web::test]
async fn the_catalog_lists_every_repository_in_order_including_multi_segment_names() {
    let app = spawn_app().await;
    for repo in ["zoo/keeper", "acme/web", "acme/team/app", "acme/api"] {
        app.push_blob(repo, repo.as_bytes()).await;
    }
    let res = app.get("/v2/_catalog").await;
    assert_eq!(res.status(), 200);
    assert_eq!(header_of(res.headers(), "Link"), None);
    let body: Value = res.json().await.expect("catalog JSON");
    assert_eq!(
        body,
        json!({"repositories": ["acme/api", "acme/team/app", "acme/web", "zoo/keeper"]})
    );
}

#[actix_web::test]
async fn the_catalog_pages_with_n_last_and_link() {
    let app = spawn_app().await;
    let repos = ["ns/a", "ns/b", "ns/c", "ns/d", "ns/e"];
    for repo in repos {
        app.push_blob(repo, repo.as_bytes()).await;
    }
    let res = app.get("/v2/_catalog?n=2").await;
    assert_eq!(res.status(), 200);
    let link = header(&res, "Link");
    assert!(link.ends_with("; rel=\"next\""), "Link {link}");
    let body: Value = res.json().await.expect("JSON");
    assert_eq!(body["repositories"], json!(["ns/a", "ns/b"]));

    let mut seen = Vec::new();
    let mut next = Some("/v2/_catalog?n=2".to_owned());
    while let Some(path) = next {
        let res = app.get(&path).await;
        assert_eq!(res.status(), 200, "{path}");
        let link = header_of(res.headers(), "Link");
        let body: Value = res.json().await.expect("JSON");
        seen.extend(body["repositories"].as_array().expect("repositories").clone());
        next = link.map(|l| {
            l.split_once('<')
                .and_then(|(_, r)| r.split_once('>'))
                .expect("<url> in Link")
                .0
                .to_owned()
        });
    }
    assert_eq!(seen, repos.iter().map(|r| json!(r)).collect::<Vec<_>>());

    let body: Value = app.get("/v2/_catalog?last=ns/c").await.json().await.expect("JSON");
    assert_eq!(body["repositories"], json!(["ns/d", "ns/e"]));
}

#[actix_web::test]
async fn the_catalog_of_an_empty_registry_is_an_empty_list() {
    let app = spawn_app().await;
    let body: Value = app.get("/v2/_catalog").await.json().await.expect("JSON");
    assert_eq!(body, json!({"repositories": []}));
}
