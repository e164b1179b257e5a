//! Content discovery: the tag list and its pagination.

use serde_json::{json, Value};

use crate::helpers::{assert_oci_error, header, header_of, repo, spawn_app, TestApp};

/// Pushes one image and tags it with every name.
async fn tag_all(app: &TestApp, repo: &str, tags: &[&str]) {
    let image = app.push_image(repo, Some(tags[0])).await;
    for tag in &tags[1..] {
        let res = app
            .put_manifest(repo, tag, crate::helpers::OCI_MANIFEST, &image.manifest)
            .await;
        assert_eq!(res.status(), 201, "tag {tag}");
    }
}

async fn list(app: &TestApp, path: &str) -> (Value, Option<String>) {
    let res = app.get(path).await;
    assert_eq!(res.status(), 200, "GET {path}");
    let link = header_of(res.headers(), "Link");
    (res.json().await.expect("tag list JSON"), link)
}

#[actix_web::test]
async fn the_tag_list_names_the_repository_and_its_tags_in_lexical_order() {
    let app = spawn_app().await;
    let repo = repo();
    tag_all(&app, &repo, &["zeta", "alpha", "Beta", "1.0", "latest", "alpha-2"]).await;
    let (body, link) = list(&app, &format!("/v2/{repo}/tags/list")).await;
    assert_eq!(
        body,
        json!({"name": repo, "tags": ["1.0", "Beta", "alpha", "alpha-2", "latest", "zeta"]})
    );
    assert_eq!(link, None, "one page needs no Link");
}

#[actix_web::test]
async fn n_limits_the_count_and_link_points_at_the_next_page() {
    let app = spawn_app().await;
    let repo = repo();
    tag_all(&app, &repo, &["e", "d", "c", "b", "a"]).await;
    let res = app.get(&format!("/v2/{repo}/tags/list?n=2")).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        header(&res, "Link"),
        format!("</v2/{repo}/tags/list?n=2&last=b>; rel=\"next\"")
    );
    let body: Value = res.json().await.expect("JSON");
    assert_eq!(body["tags"], json!(["a", "b"]));

    let mut seen = Vec::new();
    let mut next = Some(format!("/v2/{repo}/tags/list?n=2"));
    while let Some(path) = next {
        let (body, link) = list(&app, &path).await;
        let page = body["tags"].as_array().expect("tags").clone();
        assert!(page.len() <= 2, "page {path} has {}", page.len());
        seen.extend(page);
        next = link.map(|l| {
            let target = l
                .split_once('<')
                .and_then(|(_, r)| r.split_once('>'))
                .expect("<url> in Link");
            target.0.to_owned()
        });
    }
    assert_eq!(seen, vec![json!("a"), json!("b"), json!("c"), json!("d"), json!("e")]);
}

#[actix_web::test]
async fn last_starts_the_list_after_the_given_tag() {
    let app = spawn_app().await;
    let repo = repo();
    tag_all(&app, &repo, &["a", "b", "c", "d"]).await;
    let (body, link) = list(&app, &format!("/v2/{repo}/tags/list?last=b")).await;
    assert_eq!(body["tags"], json!(["c", "d"]));
    assert_eq!(link, None);
    let (body, _) = list(&app, &format!("/v2/{repo}/tags/list?n=1&last=a")).await;
    assert_eq!(body["tags"], json!(["b"]));
    let (body, _) = list(&app, &format!("/v2/{repo}/tags/list?last=bb")).await;
    assert_eq!(body["tags"], json!(["c", "d"]), "last need not be an existing tag");
    let (body, link) = list(&app, &format!("/v2/{repo}/tags/list?last=d")).await;
    assert_eq!(body["tags"], json!([]));
    assert_eq!(link, None);
}

#[actix_web::test]
async fn n_equal_to_the_remaining_count_gives_no_link() {
    let app = spawn_app().await;
    let repo = repo();
    tag_all(&app, &repo, &["a", "b", "c"]).await;
    let (body, link) = list(&app, &format!("/v2/{repo}/tags/list?n=3")).await;
    assert_eq!(body["tags"], json!(["a", "b", "c"]));
    assert_eq!(link, None);
}

#[actix_web::test]
async fn the_tag_list_of_an_unknown_repository_is_404_name_unknown() {
    let app = spawn_app().await;
    let res = app.get(&format!("/v2/{}/tags/list", repo())).await;
    assert_oci_error(res, 404, "NAME_UNKNOWN").await;
}

#[actix_web::test]
async fn n_of_zero_returns_no_tags() {
    let app = spawn_app().await;
    let repo = repo();
    tag_all(&app, &repo, &["a", "b"]).await;
    let (body, _) = list(&app, &format!("/v2/{repo}/tags/list?n=0")).await;
    assert_eq!(body["tags"], json!([]));
}

#[actix_web::test]
async fn a_page_size_above_the_maximum_is_clamped_to_100_not_refused() {
    let app = spawn_app().await;
    let repo = repo();
    let names: Vec<String> = (0..105).map(|i| format!("t{i:03}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    tag_all(&app, &repo, &refs).await;
    let (body, link) = list(&app, &format!("/v2/{repo}/tags/list?n=1000")).await;
    let tags = body["tags"].as_array().expect("tags");
    assert_eq!(tags.len(), 100);
    assert_eq!(tags[99], json!("t099"));
    assert_eq!(
        link,
        Some(format!("</v2/{repo}/tags/list?n=100&last=t099>; rel=\"next\""))
    );
    let (body, _) = list(&app, &format!("/v2/{repo}/tags/list")).await;
    assert_eq!(
        body["tags"].as_array().expect("tags").len(),
        100,
        "the default page is 100"
    );
}
