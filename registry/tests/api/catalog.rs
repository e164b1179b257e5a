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

/// A cursor is a position, so a paging client always moves forward, even
/// with a cursor that names no repository.
#[actix_web::test]
async fn a_catalog_cursor_that_is_not_a_repository_name_still_pages_forward() {
    let app = spawn_app().await;
    for repo in ["acme/api", "admin/tool", "ns/a", "zoo/keeper"] {
        app.push_blob(repo, repo.as_bytes()).await;
    }
    for (cursor, expected) in [
        ("zzz", json!([])),
        ("admin", json!(["admin/tool", "ns/a", "zoo/keeper"])),
        ("admin/", json!(["admin/tool", "ns/a", "zoo/keeper"])),
        ("acme/b", json!(["admin/tool", "ns/a", "zoo/keeper"])),
        ("ns/a", json!(["zoo/keeper"])),
        ("0", json!(["acme/api", "admin/tool", "ns/a", "zoo/keeper"])),
    ] {
        let res = app.get(&format!("/v2/_catalog?last={cursor}")).await;
        assert_eq!(res.status(), 200, "last={cursor}");
        let body: Value = res.json().await.expect("JSON");
        assert_eq!(body["repositories"], expected, "last={cursor}");
    }
}

#[actix_web::test]
async fn a_negative_or_non_numeric_page_size_is_400() {
    let app = spawn_app().await;
    let repo = "ns/paged";
    app.push_image(repo, Some("v1")).await;
    for n in ["-1", "-100", "abc", "1.5"] {
        for path in [format!("/v2/{repo}/tags/list?n={n}"), format!("/v2/_catalog?n={n}")] {
            let res = app.get(&path).await;
            crate::helpers::assert_oci_error(res, 400, "PAGINATION_NUMBER_INVALID").await;
        }
    }
    let res = app.get(&format!("/v2/{repo}/tags/list?n=0")).await;
    assert_eq!(res.status(), 200, "n=0 is an empty page, not an error");
}

#[actix_web::test]
async fn the_catalog_of_an_empty_registry_is_an_empty_list() {
    let app = spawn_app().await;
    let body: Value = app.get("/v2/_catalog").await.json().await.expect("JSON");
    assert_eq!(body, json!({"repositories": []}));
}
